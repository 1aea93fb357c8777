//! [`Client`]: requests in, responses out, with routing, deadlines and retries in between.
//!
//! A request's life: pick a target ([`crate::routing`]), build its header (consistency,
//! deadline, and a client timestamp for unconditional writes), then attempt it on a pooled
//! connection under the deadline. A retryable failure of an idempotent request is attempted
//! again after a backoff, up to [`ClientConfig::retries`] times; a failure to connect is
//! retried for any request, since nothing was sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shoal_net::{
    ClusterInfo, Request, RequestEnvelope, RequestHeader, Response, ResponseBody, Status,
};

use crate::config::{ClientConfig, RequestOptions};
use crate::error::ClientError;
use crate::pool::Pools;
use crate::retry::backoff;
use crate::routing::{partition_value, single_partition, ShardMap, TableKeys};

/// Where the attempts of one request go.
enum Target {
    /// A seed's main address, the next one round-robin for every attempt.
    Main,
    /// Always this address.
    Fixed(String),
    /// The owning shard's address; a seed's main address after a connection failure.
    Shard(String),
}

struct Inner {
    config: ClientConfig,
    pools: Pools,
    next_host: AtomicUsize,
    /// The shard map of the last node asked for its cluster info, if this client can use it.
    shards: RwLock<Option<Arc<ShardMap>>>,
    tables: TableKeys,
}

/// A connection to a Shoal cluster, for tokio applications.
///
/// Cheap to clone (an [`Arc`] inside) and `Send + Sync`: share one client among all tasks;
/// its connections are pipelined, so concurrent requests share them.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("hosts", &self.inner.config.hosts).finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the first seed in `config.hosts` that answers and fetches its cluster
    /// info (the shard map used for shard-aware routing).
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] if `config.hosts` is empty; otherwise the last
    /// seed's failure.
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        if config.hosts.is_empty() {
            return Err(ClientError::InvalidArgument("ClientConfig::hosts is empty".to_owned()));
        }
        let hosts = config.hosts.clone();
        let client = Client {
            inner: Arc::new(Inner {
                config,
                pools: Pools::new(),
                next_host: AtomicUsize::new(0),
                shards: RwLock::new(None),
                tables: TableKeys::default(),
            }),
        };
        let mut last_error = None;
        for host in hosts {
            match client.cluster_info_from(&host).await {
                Ok(_) => return Ok(client),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| ClientError::InvalidArgument("no hosts".to_owned())))
    }

    /// Sends `request` with the config's defaults. See [`Client::request_with`].
    ///
    /// # Errors
    /// As [`Client::request_with`].
    pub async fn request(&self, request: Request) -> Result<Response, ClientError> {
        self.request_with(request, RequestOptions::default()).await
    }

    /// Sends `request` and returns the server's response if its status is [`Status::Ok`].
    ///
    /// # Errors
    /// [`ClientError::Server`] for any other status; connection, timeout and protocol
    /// errors after the retries allowed; [`ClientError::InvalidArgument`] for a key without
    /// its table's partition key attribute (when the client knows the schema).
    pub async fn request_with(
        &self,
        request: Request,
        options: RequestOptions,
    ) -> Result<Response, ClientError> {
        let timeout = options.timeout.unwrap_or(self.inner.config.request_timeout);
        let target = self.route(&request).await?;
        let header = self.header(&request, &options, timeout);
        let envelope = RequestEnvelope { header, request };
        let result = self.execute(target, &envelope, timeout).await;
        self.learn(&envelope.request, &result);
        result
    }

    /// The cluster info of a seed node; also refreshes the shard map routing uses.
    ///
    /// # Errors
    /// As [`Client::request_with`], or [`ClientError::Protocol`] for another body.
    pub async fn cluster_info(&self) -> Result<ClusterInfo, ClientError> {
        let host = self.main_address();
        self.cluster_info_from(&host).await
    }

    async fn cluster_info_from(&self, host: &str) -> Result<ClusterInfo, ClientError> {
        let timeout = self.inner.config.request_timeout;
        let request = Request::ClusterInfo;
        let header = self.header(&request, &RequestOptions::default(), timeout);
        let envelope = RequestEnvelope { header, request };
        let response = self.execute(Target::Fixed(host.to_owned()), &envelope, timeout).await?;
        let ResponseBody::ClusterInfo(info) = response.body else {
            return Err(unexpected("cluster info", &response.body));
        };
        let shards = ShardMap::from_cluster_info(&info, host).map(Arc::new);
        *self.inner.shards.write().unwrap_or_else(std::sync::PoisonError::into_inner) = shards;
        Ok(info)
    }

    /// Where `request` goes: its partition's shard when shard-aware routing applies.
    async fn route(&self, request: &Request) -> Result<Target, ClientError> {
        if !self.inner.config.shard_aware {
            return Ok(Target::Main);
        }
        let shards =
            self.inner.shards.read().map_or_else(|e| e.into_inner().clone(), |s| s.clone());
        let (Some(shards), Some((table, key))) = (shards, single_partition(request)) else {
            return Ok(Target::Main);
        };
        let Some(name) = self.partition_key_name(table).await else { return Ok(Target::Main) };
        let partition = partition_value(table, key, &name)?;
        Ok(shards.address_of(&partition).map_or(Target::Main, |a| Target::Shard(a.to_owned())))
    }

    /// The partition key attribute of `table`, described once and cached. `None` if the
    /// description fails: the request then goes to a seed, which reports the real problem.
    async fn partition_key_name(&self, table: &str) -> Option<String> {
        if let Some(name) = self.inner.tables.get(table) {
            return Some(name);
        }
        let timeout = self.inner.config.request_timeout;
        let request = Request::DescribeTable { name: table.to_owned() };
        let header = self.header(&request, &RequestOptions::default(), timeout);
        let envelope = RequestEnvelope { header, request };
        let result = self.execute(Target::Main, &envelope, timeout).await;
        self.learn(&envelope.request, &result);
        self.inner.tables.get(table)
    }

    /// Updates the table-key cache from a request's outcome.
    fn learn(&self, request: &Request, result: &Result<Response, ClientError>) {
        let tables = &self.inner.tables;
        match (request, result) {
            (_, Ok(Response { body: ResponseBody::Table(description), .. })) => {
                tables.insert(&description.spec.name, &description.spec.partition_key.name);
            }
            (Request::DropTable { name, .. }, Ok(_)) => tables.forget(name),
            (_, Err(ClientError::Server { status: Status::UnknownTable, .. })) => {
                if let Some(table) = table_of(request) {
                    tables.forget(table);
                }
            }
            _ => {}
        }
    }

    fn header(
        &self,
        request: &Request,
        options: &RequestOptions,
        timeout: Duration,
    ) -> RequestHeader {
        let timestamp_micros = options.timestamp_micros.unwrap_or_else(|| {
            if needs_client_timestamp(request) {
                now_micros()
            } else {
                0
            }
        });
        RequestHeader {
            consistency: options.consistency.unwrap_or(self.inner.config.consistency),
            coordinator: 0,
            timestamp_micros,
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX).max(1),
            hops: 0,
        }
    }

    /// The next seed, round-robin.
    fn main_address(&self) -> String {
        let hosts = &self.inner.config.hosts;
        let index = self.inner.next_host.fetch_add(1, Ordering::Relaxed);
        // `connect` refused an empty host list, and the config is never changed after.
        hosts.get(index % hosts.len().max(1)).cloned().unwrap_or_default()
    }

    /// Attempts `envelope` until it succeeds, fails for good, or runs out of retries.
    async fn execute(
        &self,
        target: Target,
        envelope: &RequestEnvelope,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let config = &self.inner.config;
        let idempotent = envelope.request.is_idempotent(&envelope.header);
        let mut address = match &target {
            Target::Main => self.main_address(),
            Target::Fixed(address) | Target::Shard(address) => address.clone(),
        };
        let mut retry = 0;
        loop {
            let error = match tokio::time::timeout(timeout, self.attempt(&address, envelope)).await
            {
                Ok(Ok(response)) => return Ok(response),
                Ok(Err(error)) => error,
                Err(_) => ClientError::Timeout { after: timeout },
            };
            // A failed connect sent nothing, so any request may try again.
            let never_sent = matches!(error, ClientError::Connect { .. });
            if !error.is_retryable() || !(idempotent || never_sent) || retry >= config.retries {
                return Err(error);
            }
            tokio::time::sleep(backoff(config.retry_backoff, retry)).await;
            retry += 1;
            let connection_failed =
                matches!(error, ClientError::Connect { .. } | ClientError::Connection { .. });
            address = match &target {
                Target::Fixed(address) => address.clone(),
                Target::Shard(address) if !connection_failed => address.clone(),
                Target::Shard(_) | Target::Main => self.main_address(),
            };
        }
    }

    /// One attempt on a pooled connection to `address`.
    async fn attempt(
        &self,
        address: &str,
        envelope: &RequestEnvelope,
    ) -> Result<Response, ClientError> {
        let connection = self.inner.pools.connection(address, &self.inner.config).await?;
        let response = connection.call(envelope).await?;
        if response.status != Status::Ok {
            return Err(ClientError::Server { status: response.status, message: response.message });
        }
        Ok(response)
    }
}

/// The table a request names, if any.
fn table_of(request: &Request) -> Option<&str> {
    match request {
        Request::CreateTable { spec, .. } => Some(&spec.name),
        Request::DescribeTable { name } | Request::DropTable { name, .. } => Some(name),
        Request::GetItem { table, .. }
        | Request::PutItem { table, .. }
        | Request::DeleteItem { table, .. }
        | Request::UpdateItem { table, .. }
        | Request::BatchGet { table, .. }
        | Request::BatchWrite { table, .. } => Some(table),
        Request::Query(query) => Some(&query.table),
        Request::Scan(scan) => Some(&scan.table),
        Request::ReplicaWrite { table, .. } | Request::ReplicaRead { table, .. } => {
            Some(&table.name)
        }
        Request::ListTables
        | Request::ClusterInfo
        | Request::Gossip { .. }
        | Request::SchemaPush { .. }
        | Request::NodeStatus => None,
    }
}

/// Unconditional puts and deletes and batch writes: a client timestamp makes them
/// idempotent, so they can be retried. Other writes keep the coordinator's timestamp.
fn needs_client_timestamp(request: &Request) -> bool {
    matches!(
        request,
        Request::PutItem { condition: None, .. }
            | Request::DeleteItem { condition: None, .. }
            | Request::BatchWrite { .. }
    )
}

fn now_micros() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX)
}

/// The error for a response whose body does not fit its request.
pub(crate) fn unexpected(expected: &str, body: &ResponseBody) -> ClientError {
    let found = match body {
        ResponseBody::Empty => "an empty body",
        ResponseBody::Table(_) => "a table description",
        ResponseBody::Tables(_) => "a table list",
        ResponseBody::Item(_) => "an item",
        ResponseBody::Batch(_) => "batch results",
        ResponseBody::Page(_) => "a page",
        ResponseBody::ClusterInfo(_) => "cluster info",
        ResponseBody::Row { .. } => "a replica row",
        ResponseBody::Gossip(_) => "gossip state",
        ResponseBody::Schema(_) => "a schema",
        ResponseBody::Nodes(_) => "node states",
    };
    ClientError::Protocol(format!("expected {expected} in the response, found {found}"))
}
