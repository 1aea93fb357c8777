//! [`Client`]: requests in, responses out, with routing, deadlines and retries in between.
//!
//! A request's life: pick a target ([`crate::routing`]), build its header (consistency,
//! deadline, and a client timestamp for every write), then attempt it on a pooled connection
//! under the deadline. A retryable failure of an idempotent request is attempted again after
//! a backoff, up to [`ClientConfig::retries`] times; a failure to connect is retried for any
//! request, since nothing was sent.
//!
//! A keyed request in a cluster of several nodes goes to its key's first replica, on the
//! port of the shard that owns the key there. Each node's shard map is fetched from that
//! node the first time a request needs it and cached; a node that cannot be reached is
//! skipped for [`NODE_DOWN_PAUSE`] (its later replicas, then a seed, take its requests) and
//! its map is fetched again afterwards. The ring is refreshed from the cluster every
//! [`RING_REFRESH_INTERVAL`] in the background, and soon after a connection failure or an
//! `Unavailable` answer.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shoal_net::{
    ClusterInfo, Request, RequestEnvelope, RequestHeader, Response, ResponseBody, Status,
};
use shoal_types::partitioner::token;

use crate::config::{ClientConfig, RequestOptions};
use crate::error::ClientError;
use crate::pool::Pools;
use crate::retry::backoff;
use crate::routing::{
    partition_value, query_partition, single_partition, Keyed, ShardMap, TableKeys, Topology,
};

/// How often the client asks the cluster for its ring, in the background.
pub(crate) const RING_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// The fewest time between two refreshes caused by failures.
const RING_REFRESH_MIN_GAP: Duration = Duration::from_secs(1);
/// How long a node that could not be reached is skipped before it is tried again.
pub(crate) const NODE_DOWN_PAUSE: Duration = Duration::from_secs(1);

/// Where the attempts of one request go.
enum Target {
    /// A seed's main address, the next one round-robin for every attempt.
    Main,
    /// Always this address.
    Fixed(String),
    /// The owning shard's address; a seed's main address after a connection failure.
    Shard(String),
    /// The owning shard of the first replica of `token` that can be reached; after a
    /// connection failure the next replica's, then a seed's main address.
    Replicas {
        /// The key's token.
        token: u64,
        /// The replicas' node addresses, primary first.
        nodes: Vec<String>,
    },
}

/// What the client knows of one node of the ring.
#[derive(Clone, Debug)]
enum NodeState {
    /// Its cluster info arrived: its shard map, `None` if the client cannot use it (requests
    /// then go to the node's main address).
    Known(Option<Arc<ShardMap>>),
    /// It could not be reached; skipped until then.
    Down(Instant),
}

struct Inner {
    config: ClientConfig,
    pools: Pools,
    next_host: AtomicUsize,
    /// The shard map of the last node asked for its cluster info, if this client can use it.
    /// Routes keyed requests when the ring names at most one node.
    shards: RwLock<Option<Arc<ShardMap>>>,
    /// The ring of the last node asked for its cluster info.
    topology: RwLock<Arc<Topology>>,
    /// What the client knows of each node of the ring, by native address.
    nodes: Mutex<HashMap<String, NodeState>>,
    /// When a refresh caused by a failure last started.
    last_refresh: Mutex<Option<Instant>>,
    /// The last timestamp this client gave a write (µs since the epoch).
    last_timestamp: AtomicU64,
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
    /// info (the shard map and ring used for routing). With shard-aware routing on, a
    /// background task refreshes the ring every 10 s while any clone of the client lives.
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
                topology: RwLock::new(Arc::new(Topology::default())),
                nodes: Mutex::new(HashMap::new()),
                last_refresh: Mutex::new(None),
                last_timestamp: AtomicU64::new(0),
                tables: TableKeys::default(),
            }),
        };
        let mut last_error = None;
        for host in hosts {
            match client.cluster_info_from(&host).await {
                Ok(_) => {
                    if client.inner.config.shard_aware {
                        tokio::spawn(refresh_periodically(Arc::downgrade(&client.inner)));
                    }
                    return Ok(client);
                }
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

    /// Prepares, before any traffic, what the first requests would otherwise wait for:
    /// the routing facts of `tables`, each node's shard map, and a connection in every
    /// connection slot of every shard (of the seed alone when routing is off). Unreachable
    /// nodes are skipped, and marked down as a request would mark them; an unknown table
    /// is left to the first request to report. Returns the number of connections open
    /// afterwards.
    pub async fn warm_up(&self, tables: &[&str]) -> usize {
        for table in tables {
            self.table_key(table).await;
        }
        let mut addresses = Vec::new();
        if self.inner.config.shard_aware {
            let topology = self.topology();
            if topology.is_multi_node() {
                for node in topology.nodes() {
                    if self.node_address(node, 0).await.is_none() {
                        continue;
                    }
                    match lock(&self.inner.nodes).get(node) {
                        Some(NodeState::Known(Some(map))) => {
                            addresses.extend(map.addresses().iter().cloned());
                        }
                        Some(NodeState::Known(None)) => addresses.push(node.clone()),
                        Some(NodeState::Down(_)) | None => {}
                    }
                }
            } else if let Some(map) = self.seed_shard_map() {
                addresses.extend(map.addresses().iter().cloned());
            }
        }
        if addresses.is_empty() {
            addresses.clone_from(&self.inner.config.hosts);
        }
        let mut open = 0;
        for address in addresses {
            open += self.inner.pools.open_all(&address, &self.inner.config).await;
        }
        open
    }

    fn seed_shard_map(&self) -> Option<Arc<ShardMap>> {
        self.inner.shards.read().map_or_else(|e| e.into_inner().clone(), |s| s.clone())
    }

    /// The cluster info of a seed node; also refreshes the shard map and ring routing uses.
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
        self.adopt(&info, host);
        Ok(info)
    }

    /// The cluster info of the node at `address`, asked once (no retry).
    async fn cluster_info_once(&self, address: &str) -> Result<ClusterInfo, ClientError> {
        let timeout = self.inner.config.request_timeout;
        let request = Request::ClusterInfo;
        let header = self.header(&request, &RequestOptions::default(), timeout);
        let envelope = RequestEnvelope { header, request };
        let response = match tokio::time::timeout(timeout, self.attempt(address, &envelope)).await {
            Ok(result) => result?,
            Err(_) => return Err(ClientError::Timeout { after: timeout }),
        };
        match response.body {
            ResponseBody::ClusterInfo(info) => Ok(info),
            other => Err(unexpected("cluster info", &other)),
        }
    }

    /// Takes the shard map and ring of `info`, which the node at `from` sent.
    fn adopt(&self, info: &ClusterInfo, from: &str) {
        let shards = ShardMap::from_cluster_info(info, from).map(Arc::new);
        *self.inner.shards.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            shards.clone();
        let topology = Topology::from_ring(&info.ring);
        // The node's own entry in the ring: the owner of its first vnode token (derived
        // from its id), or the address it was reached at.
        let own = shoal_cluster::vnode_tokens(info.node_id, 1)
            .first()
            .and_then(|t| topology.owner_of_vnode(*t))
            .or_else(|| topology.nodes().iter().find(|n| *n == from).map(String::as_str))
            .map(str::to_owned);
        let mut nodes = lock(&self.inner.nodes);
        nodes.retain(|address, _| topology.nodes().contains(address));
        if let Some(own) = own {
            nodes.insert(own, NodeState::Known(shards));
        }
        drop(nodes);
        *self.inner.topology.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Arc::new(topology);
    }

    fn topology(&self) -> Arc<Topology> {
        self.inner.topology.read().map_or_else(|e| Arc::clone(&e.into_inner()), |t| Arc::clone(&t))
    }

    /// Asks a seed, else any node of the ring, for the cluster info, and adopts the first
    /// answer.
    async fn refresh(&self) {
        let mut candidates = vec![self.main_address()];
        candidates.extend(self.topology().nodes().iter().cloned());
        for address in candidates {
            if self.is_down(&address) {
                continue;
            }
            if let Ok(info) = self.cluster_info_once(&address).await {
                self.adopt(&info, &address);
                return;
            }
        }
    }

    /// Starts a refresh in the background, unless one started less than
    /// [`RING_REFRESH_MIN_GAP`] ago or routing does not use the ring.
    fn refresh_soon(&self) {
        if !self.inner.config.shard_aware || !self.topology().is_multi_node() {
            return;
        }
        {
            let mut last = lock(&self.inner.last_refresh);
            if last.is_some_and(|at| at.elapsed() < RING_REFRESH_MIN_GAP) {
                return;
            }
            *last = Some(Instant::now());
        }
        let client = self.clone();
        tokio::spawn(async move { client.refresh().await });
    }

    fn is_down(&self, node: &str) -> bool {
        matches!(lock(&self.inner.nodes).get(node), Some(NodeState::Down(until)) if *until > Instant::now())
    }

    /// Notes that `node` could not be reached: skipped for a while, its map fetched again
    /// afterwards (it may come back with other ports).
    fn node_failed(&self, node: &str) {
        let until = Instant::now() + NODE_DOWN_PAUSE;
        lock(&self.inner.nodes).insert(node.to_owned(), NodeState::Down(until));
    }

    /// The address to send a request for `token` to on `node`: its owning shard's port, or
    /// the node's main address when its shard map is unusable. Fetches the node's cluster
    /// info the first time. `None` if the node is (or just turned out to be) unreachable.
    async fn node_address(&self, node: &str, token: u64) -> Option<String> {
        let state = lock(&self.inner.nodes).get(node).cloned();
        match state {
            Some(NodeState::Known(map)) => return Some(shard_address(map.as_deref(), node, token)),
            Some(NodeState::Down(until)) if until > Instant::now() => return None,
            Some(NodeState::Down(_)) | None => {}
        }
        match self.cluster_info_once(node).await {
            Ok(info) => {
                let map = ShardMap::from_cluster_info(&info, node).map(Arc::new);
                let address = shard_address(map.as_deref(), node, token);
                lock(&self.inner.nodes).insert(node.to_owned(), NodeState::Known(map));
                Some(address)
            }
            Err(error) if error.is_retryable() => {
                self.node_failed(node);
                self.refresh_soon();
                None
            }
            // The node answered, but not with a map: it forwards what it is sent.
            Err(_) => Some(node.to_owned()),
        }
    }

    /// The first of `nodes` that can be reached, removed from the queue, with the address to
    /// use on it.
    async fn next_replica(
        &self,
        nodes: &mut VecDeque<String>,
        token: u64,
    ) -> Option<(String, String)> {
        while let Some(node) = nodes.pop_front() {
            if let Some(address) = self.node_address(&node, token).await {
                return Some((node, address));
            }
        }
        None
    }

    /// Where `request` goes: its partition's first replica and shard when routing applies.
    async fn route(&self, request: &Request) -> Result<Target, ClientError> {
        if !self.inner.config.shard_aware {
            return Ok(Target::Main);
        }
        let Some((table, keyed)) = single_partition(request) else { return Ok(Target::Main) };
        let Some(schema) = self.table_key(table).await else { return Ok(Target::Main) };
        let partition = match keyed {
            Keyed::Item(key) => partition_value(table, key, &schema.partition_key)?,
            Keyed::Query(query) => match query_partition(query, &schema.partition_key) {
                Some(partition) => partition,
                None => return Ok(Target::Main),
            },
        };
        let token = token(&partition);
        let topology = self.topology();
        if topology.is_multi_node() {
            let nodes = topology.replicas(token, schema.replication_factor);
            return Ok(Target::Replicas { token, nodes });
        }
        Ok(self
            .seed_shard_map()
            .and_then(|s| s.address_of_token(token).map(|a| Target::Shard(a.to_owned())))
            .unwrap_or(Target::Main))
    }

    /// The routing facts of `table`, described once and cached. `None` if the description
    /// fails: the request then goes to a seed, which reports the real problem.
    async fn table_key(&self, table: &str) -> Option<crate::routing::TableKey> {
        if let Some(key) = self.inner.tables.get(table) {
            return Some(key);
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
                let spec = &description.spec;
                tables.insert(&spec.name, &spec.partition_key.name, spec.replication_factor);
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
            if is_write(request) {
                self.next_timestamp()
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

    /// A write timestamp greater than every one this client gave before.
    fn next_timestamp(&self) -> u64 {
        next_after(&self.inner.last_timestamp, now_micros())
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
        // For `Target::Replicas`: the replicas not tried yet, and the one being tried.
        let mut replicas = VecDeque::new();
        let mut node: Option<String> = None;
        let mut address = match &target {
            Target::Main => self.main_address(),
            Target::Fixed(address) | Target::Shard(address) => address.clone(),
            Target::Replicas { token, nodes } => {
                replicas.extend(nodes.iter().cloned());
                match self.next_replica(&mut replicas, *token).await {
                    Some((replica, address)) => {
                        node = Some(replica);
                        address
                    }
                    None => self.main_address(),
                }
            }
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
            let connection_failed =
                matches!(error, ClientError::Connect { .. } | ClientError::Connection { .. });
            if connection_failed {
                if let Some(failed) = node.take() {
                    self.node_failed(&failed);
                }
            }
            if connection_failed || error.status() == Some(Status::Unavailable) {
                self.refresh_soon();
            }
            if !error.is_retryable() || !(idempotent || never_sent) {
                return Err(error);
            }
            // An unreachable replica: the next one at once, without using up a retry.
            if let (true, Target::Replicas { token, .. }) = (never_sent, &target) {
                if let Some((replica, next)) = self.next_replica(&mut replicas, *token).await {
                    node = Some(replica);
                    address = next;
                    continue;
                }
            }
            if retry >= config.retries {
                return Err(error);
            }
            tokio::time::sleep(backoff(config.retry_backoff, retry)).await;
            retry += 1;
            address = match &target {
                Target::Fixed(address) => address.clone(),
                Target::Shard(_) | Target::Replicas { .. } if !connection_failed => address,
                Target::Replicas { token, .. } => {
                    match self.next_replica(&mut replicas, *token).await {
                        Some((replica, next)) => {
                            node = Some(replica);
                            next
                        }
                        None => self.main_address(),
                    }
                }
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

/// Refreshes the ring every [`RING_REFRESH_INTERVAL`] until the client is dropped.
async fn refresh_periodically(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(RING_REFRESH_INTERVAL).await;
        let Some(inner) = inner.upgrade() else { return };
        Client { inner }.refresh().await;
    }
}

/// The address for `token` on `node`, given the node's shard map.
fn shard_address(map: Option<&ShardMap>, node: &str, token: u64) -> String {
    map.and_then(|m| m.address_of_token(token)).unwrap_or(node).to_owned()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a single read or replacement: a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The table a request names, if any.
fn table_of(request: &Request) -> Option<&str> {
    match request {
        Request::CreateTable { spec, .. } => Some(&spec.name),
        Request::AlterTable { table } => Some(&table.spec.name),
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

/// The item writes, conditional or not: each gets a client timestamp (see the crate docs,
/// "Write ordering"). Schema changes keep the node's.
fn is_write(request: &Request) -> bool {
    matches!(
        request,
        Request::PutItem { .. }
            | Request::DeleteItem { .. }
            | Request::UpdateItem { .. }
            | Request::BatchWrite { .. }
    )
}

/// Sets `last` to `max(now, last + 1)` and returns it: strictly increasing whatever `now`
/// does, and `now` itself whenever the clock is ahead of every earlier stamp.
fn next_after(last: &AtomicU64, now: u64) -> u64 {
    let mut current = last.load(Ordering::Relaxed);
    loop {
        let next = now.max(current.saturating_add(1));
        match last.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(actual) => current = actual,
        }
    }
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
        ResponseBody::Item(_) | ResponseBody::EncodedItem(_) => "an item",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_increase_when_the_clock_stands_still_or_goes_back() {
        let last = AtomicU64::new(0);
        assert_eq!(next_after(&last, 1_000), 1_000);
        let stamps: Vec<u64> = (0..1000).map(|_| next_after(&last, 1_000)).collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(stamps.first(), Some(&1_001));
        assert_eq!(next_after(&last, 5), 2_001, "a clock that went back does not reorder");
        assert_eq!(next_after(&last, 9_000), 9_000, "a clock ahead is taken as is");
    }

    #[test]
    fn timestamps_are_distinct_across_threads() {
        let last = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let last = Arc::clone(&last);
                std::thread::spawn(move || {
                    (0..1000).map(|_| next_after(&last, 7)).collect::<Vec<u64>>()
                })
            })
            .collect();
        let mut all: Vec<u64> =
            threads.into_iter().flat_map(|t| t.join().unwrap_or_default()).collect::<Vec<_>>();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4000);
    }

    #[test]
    fn every_item_write_is_stamped() {
        let put = |condition: Option<&str>| Request::PutItem {
            table: "t".into(),
            item: shoal_net::Item::new(),
            condition: condition.map(str::to_owned),
            placeholders: Default::default(),
            ttl_secs: 0,
            return_values: shoal_net::ReturnValues::None,
        };
        assert!(is_write(&put(None)));
        assert!(is_write(&put(Some("attribute_not_exists(pk)"))));
        assert!(is_write(&Request::BatchWrite { table: "t".into(), ops: Vec::new() }));
        assert!(!is_write(&Request::ListTables));
        assert!(!is_write(&Request::DescribeTable { name: "t".into() }));
    }
}
