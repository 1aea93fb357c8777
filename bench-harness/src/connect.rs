//! Opening the client tasks' connections, and creating Shoal's tables before a load (the
//! DynamoDB target's are created by [`crate::dynamo::ensure_tables`]).

use std::time::Duration;

use shoal_client::{
    Client, ClientConfig, ClientError, Compaction, KeyAttribute, KeyType, TableSpec,
};

use crate::driver::{
    Consistencies, Driver, Layout, Record, RedisDriver, ShoalDriver, ATTR_BUCKET, ATTR_KEY,
    TABLE_PLAIN, TABLE_SORTED,
};
use crate::dynamo::{DynamoDriver, DynamoSettings};

/// The system under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// Shoal, through `shoal-client` (token- and shard-aware).
    Shoal,
    /// Redis, through RESP.
    Redis,
    /// A DynamoDB-compatible HTTP endpoint (Shoal's DynamoDB listener, dynalite, ...).
    Dynamo,
}

impl TargetKind {
    /// Its name in the CLI and the JSON output.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Shoal => "shoal",
            TargetKind::Redis => "redis",
            TargetKind::Dynamo => "dynamodb",
        }
    }
}

/// How to reach the target.
#[derive(Clone, Debug)]
pub struct ConnectConfig {
    /// The system.
    pub target: TargetKind,
    /// Seeds (Shoal) or the server (Redis, first entry), as `host:port`.
    pub hosts: Vec<String>,
    /// Record shape and layout.
    pub record: Record,
    /// Consistency per operation type (Shoal).
    pub consistency: Consistencies,
    /// Deadline of one operation.
    pub timeout: Duration,
    /// Client tasks.
    pub concurrency: usize,
    /// Shoal `Client`s shared round-robin by the tasks (each has its own pipelined
    /// connections, one per shard); 0 = one per task, so no two tasks share a connection.
    pub shoal_clients: usize,
    /// Retries of idempotent requests inside the Shoal client (0: every failure counts).
    pub retries: u32,
    /// Signing and consistency of the DynamoDB target (required by it, ignored otherwise).
    pub dynamo: Option<DynamoSettings>,
}

/// One driver per client task.
///
/// # Errors
/// A message naming the address that could not be reached.
pub async fn connect_drivers(config: &ConnectConfig) -> Result<Vec<Driver>, String> {
    let mut drivers = Vec::with_capacity(config.concurrency);
    match config.target {
        TargetKind::Redis => {
            let address = config.hosts.first().ok_or("no --hosts")?;
            for _ in 0..config.concurrency {
                let d = RedisDriver::connect(address, config.record, config.timeout)
                    .await
                    .map_err(|e| format!("cannot connect to redis at {address}: {e}"))?;
                drivers.push(Driver::Redis(d));
            }
        }
        TargetKind::Dynamo => {
            let settings = config.dynamo.as_ref().ok_or("no DynamoDB settings")?;
            if config.hosts.is_empty() {
                return Err("no --hosts".to_owned());
            }
            // Task i talks to host i mod hosts: connections spread evenly over the nodes.
            for (_, address) in (0..config.concurrency).zip(config.hosts.iter().cycle()) {
                let d =
                    DynamoDriver::connect(address, settings.clone(), config.record, config.timeout)
                        .await
                        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
                drivers.push(Driver::Dynamo(d));
            }
        }
        TargetKind::Shoal => {
            let clients = if config.shoal_clients == 0 {
                config.concurrency
            } else {
                config.shoal_clients.min(config.concurrency)
            };
            let mut pool = Vec::with_capacity(clients);
            for _ in 0..clients.max(1) {
                pool.push(shoal_client(config).await.map_err(|e| e.to_string())?);
            }
            for i in 0..config.concurrency {
                let client = pool.get(i % pool.len()).cloned().ok_or("no client")?;
                let driver = ShoalDriver::new(client, config.record, config.consistency);
                // Each client's connections and table facts are ready before the run, not
                // fetched by its first operations, which would otherwise measure that
                // set-up (in open loop, as lateness of everything scheduled after them).
                if i < pool.len() {
                    driver.warm_up().await;
                }
                drivers.push(Driver::Shoal(driver));
            }
        }
    }
    Ok(drivers)
}

/// A Shoal client for `config`.
///
/// # Errors
/// As [`Client::connect`].
pub async fn shoal_client(config: &ConnectConfig) -> Result<Client, ClientError> {
    Client::connect(ClientConfig {
        hosts: config.hosts.clone(),
        consistency: config.consistency.read,
        request_timeout: config.timeout,
        retries: config.retries,
        ..ClientConfig::default()
    })
    .await
}

/// Creates the table of `layout` if it does not exist, with `replication_factor` replicas.
///
/// # Errors
/// As [`Client::create_table`].
pub async fn create_table(
    client: &Client,
    layout: Layout,
    replication_factor: u8,
) -> Result<(), ClientError> {
    let key = |name: &str| KeyAttribute { name: name.to_owned(), key_type: KeyType::S };
    let (name, partition_key, sort_key) = match layout {
        Layout::Plain => (TABLE_PLAIN, key(ATTR_KEY), None),
        Layout::Sorted => (TABLE_SORTED, key(ATTR_BUCKET), Some(key(ATTR_KEY))),
    };
    let spec = TableSpec {
        name: name.to_owned(),
        partition_key,
        sort_key,
        replication_factor,
        compaction: Compaction::default(),
        default_ttl_secs: 0,
        ttl_attribute: None,
        options: Default::default(),
    };
    client.create_table(spec, true).await.map(|_| ())
}
