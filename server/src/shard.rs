//! One shard: a core's engine, catalog copy, end of the mesh, clock and locks.
//!
//! Everything here lives on its core (`Rc`, `RefCell`, no locks between threads); only
//! [`NodeContext`] is shared between cores, and it holds settings, atomics and the ring.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use shoal_engine::runtime::{AsyncLock, AsyncLockGuard, Notify};
use shoal_engine::{Engine, EngineConfig};
use shoal_net::{Compaction, Consistency};

use crate::catalog::Catalog;
use crate::membership::{ClusterView, Membership};
use crate::mesh::Mesh;
use crate::metrics::ShardMetrics;
use crate::peers::{Faults, Peers};

/// Lock stripes per shard for read-modify-write operations (conditions, updates).
pub const LOCK_STRIPES: usize = 256;

/// The node's settings, resolved from the config file and flags.
#[derive(Clone, Debug)]
pub struct Settings {
    /// This node's id.
    pub node_id: u64,
    /// Native-protocol address (every shard accepts on it).
    pub listen: SocketAddr,
    /// Shard `i` also accepts on `shard_addrs[i]`.
    pub shard_addrs: Vec<SocketAddr>,
    /// Health and metrics.
    pub http: SocketAddr,
    /// Data directory; shard `i` uses `shard-{i}` inside it.
    pub data_dir: PathBuf,
    /// CPU of each shard, if pinned.
    pub cpus: Vec<Option<usize>>,
    /// Idle shards spin this long before parking (0 = park at once).
    pub spin_before_park: Duration,
    /// Largest frame body accepted.
    pub frame_bytes_max: usize,
    /// Open client connections per node.
    pub connections_max: usize,
    /// Pipelined requests in flight per connection before reading stops.
    pub inflight_per_connection: usize,
    /// Largest item (encoded attributes).
    pub item_bytes_max: usize,
    /// Deadline of a request that sets none.
    pub request_timeout: Duration,
    /// Engine settings of each shard.
    pub engine: EngineConfig,
    /// Consistency of requests that ask for the default.
    pub default_consistency: Consistency,
    /// Compaction of tables that do not choose.
    pub default_compaction: Compaction,
    /// Vnodes of this node on the ring.
    pub vnodes: u32,
    /// Seed nodes' internode addresses.
    pub seeds: Vec<String>,
    /// This node's internode address.
    pub internode: SocketAddr,
    /// Milliseconds between gossip rounds.
    pub gossip_interval_ms: u64,
    /// Failure-detector threshold.
    pub phi_threshold: f64,
    /// Hints older than this are dropped.
    pub hint_window: Duration,
    /// Chance that a read at ONE repairs in the background.
    pub read_repair_chance: f64,
    /// Deadline of one internode request.
    pub internode_timeout: Duration,
    /// Whether the HTTP fault hooks are on.
    pub fault_injection: bool,
    /// The DynamoDB-compatible API, if it is on.
    pub dynamodb: Option<crate::dynamo_http::DynamoSettings>,
}

/// What all shards of the node share.
pub struct NodeContext {
    /// Settings.
    pub settings: Settings,
    /// The cluster as gossip last saw it (shard 0 publishes, every shard reads).
    pub view: RwLock<Arc<ClusterView>>,
    /// Test hooks of the internode transport.
    pub faults: Arc<Faults>,
    /// Metrics of each shard.
    pub metrics: Vec<Arc<ShardMetrics>>,
    /// Set when the node is stopping.
    pub stop: AtomicBool,
    /// Shards that serve requests.
    pub ready: AtomicUsize,
    /// Open connections on the node.
    pub connections: AtomicUsize,
    /// The first fatal shard error.
    pub failure: Mutex<Option<String>>,
}

impl NodeContext {
    /// True once every shard serves.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) == self.settings.shard_addrs.len()
    }

    /// True when the node is stopping.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// The current cluster view.
    pub fn view(&self) -> Arc<ClusterView> {
        self.view.read().map(|v| v.clone()).unwrap_or_default()
    }

    /// Replaces the cluster view.
    pub fn publish_view(&self, view: ClusterView) {
        crate::membership::install(self, view);
    }

    /// Records a fatal error and stops the node.
    pub fn fail(&self, reason: String) {
        if let Ok(mut failure) = self.failure.lock() {
            failure.get_or_insert(reason);
        }
        self.stop.store(true, Ordering::Release);
    }
}

/// One core's share of the node.
pub struct Shard {
    /// Shard number.
    pub id: usize,
    /// Shards on the node.
    pub count: usize,
    /// Shared context.
    pub node: Arc<NodeContext>,
    /// This core's engine.
    pub engine: Engine,
    /// This core's copy of the schema.
    pub catalog: RefCell<Catalog>,
    /// Channels to the other shards (none with one shard).
    pub mesh: Option<Mesh>,
    /// This shard's metrics.
    pub metrics: Arc<ShardMetrics>,
    /// Connections to other nodes.
    pub peers: Option<Peers>,
    /// Gossip (shard 0 only).
    pub membership: RefCell<Option<Rc<Membership>>>,
    locks: Vec<AsyncLock>,
    hlc: Cell<u64>,
    catalog_ready: Cell<bool>,
    catalog_notify: Notify,
}

impl Shard {
    /// A shard around an open engine.
    pub fn new(id: usize, node: Arc<NodeContext>, engine: Engine, mesh: Option<Mesh>) -> Shard {
        let count = node.settings.shard_addrs.len();
        let metrics = node.metrics.get(id).cloned().unwrap_or_default();
        let peers = Some(Peers::new(
            node.settings.listen.ip(),
            node.faults.clone(),
            node.settings.frame_bytes_max,
        ));
        Shard {
            id,
            count,
            node,
            engine,
            catalog: RefCell::new(Catalog::default()),
            mesh,
            metrics,
            peers,
            membership: RefCell::new(None),
            locks: (0..LOCK_STRIPES).map(|_| AsyncLock::default()).collect(),
            hlc: Cell::new(0),
            catalog_ready: Cell::new(false),
            catalog_notify: Notify::default(),
        }
    }

    /// Marks the catalog as received (start-up waits for it before serving).
    pub fn catalog_loaded(&self) {
        self.catalog_ready.set(true);
        self.catalog_notify.notify_all();
    }

    /// Waits until the catalog arrived from shard 0.
    pub async fn wait_catalog(&self) {
        while !self.catalog_ready.get() {
            self.catalog_notify.wait().await;
        }
    }

    /// A write timestamp (µs): the client's if it chose one, else the shard's hybrid clock,
    /// which never goes backwards and never repeats, even if the wall clock steps back.
    pub fn timestamp(&self, requested: u64) -> u64 {
        let now = self.engine.clock().now_micros();
        let ts = if requested != 0 { requested } else { now.max(self.hlc.get() + 1) };
        self.hlc.set(self.hlc.get().max(ts));
        ts
    }

    /// Moves the hybrid clock past a timestamp seen from another node, so this shard's next
    /// writes order after it even if its wall clock is behind.
    pub fn observe_timestamp(&self, ts: u64) {
        self.hlc.set(self.hlc.get().max(ts));
    }

    /// Locks the stripe of an item key (its encoding), for a read-modify-write.
    pub async fn lock_key(&self, key: &[u8]) -> AsyncLockGuard {
        let stripe = (xxhash_rust::xxh3::xxh3_64(key) % LOCK_STRIPES as u64) as usize;
        let lock = self.locks.get(stripe).expect("stripe below LOCK_STRIPES");
        lock.lock().await
    }
}
