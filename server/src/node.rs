//! Starting and stopping a node: one thread and glommio executor per shard, a mesh between
//! them, listeners, and signal handling on the main thread.
//!
//! # Start-up order (each shard)
//! 1. Join the mesh (every shard must, before any cross-core message); the mesh's peer id
//!    is the shard id.
//! 2. Open its engine in `data_dir/shard-{id}` (replaying its commit log).
//! 3. Shard 0 loads the schema and sends it to every shard; others wait for it.
//! 4. Listen: the shared native port (SO_REUSEPORT: the kernel spreads connections over
//!    shards), the shard's own port, and on shard 0 the HTTP port.
//! 5. Count itself ready; `/health` answers 200 once all are.
//!
//! # Shutdown (SIGTERM or SIGINT)
//! Every shard stops accepting, flushes its memtables and closes its engine (syncing the
//! commit log); then the process exits 0. A fatal shard error stops the node with a message
//! and a non-zero exit.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use glommio::channels::channel_mesh::MeshBuilder;
use glommio::net::TcpListener;

use shoal_cluster::node_id_from_address;
use shoal_dynamo::http::Limits;
use shoal_dynamo::sigv4::AuthMode;
use shoal_dynamo::ApiConfig;
use shoal_engine::clock::Clock;
use shoal_engine::io::Disk;
use shoal_engine::runtime::{run_on_new_executor_with, sleep, spawn, Queue};
use shoal_engine::Engine;
use shoal_net::{Compaction, Consistency, Endpoint, MemberStatus};
use shoal_tuning::{CompactionChoice, ConsistencyLevel, DynamoAuth, NodeConfig};

use crate::conn;
use crate::dynamo_http::{self, DynamoSettings};
use crate::error::ServerError;
use crate::hints;
use crate::http;
use crate::membership::{ClusterView, Membership};
use crate::mesh::{Mesh, MeshMessage, CHANNEL_CAPACITY};
use crate::metrics::ShardMetrics;
use crate::peers::Faults;
use crate::router;
use crate::schema;
use crate::shard::{NodeContext, Settings, Shard};

/// Resolves the config into settings.
///
/// # Errors
/// An invalid config, or shard ports past 65535.
pub fn settings(config: &NodeConfig) -> Result<Settings, ServerError> {
    config.validate().map_err(|e| ServerError::Config(e.to_string()))?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let count = config.shard_count(cpus);
    let shard_addrs = (0..count)
        .map(|i| {
            config.shard_addr(i).ok_or_else(|| {
                ServerError::Config(format!("node.shard_port_base: shard {i}'s port is past 65535"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let node_id_text = config.node_id();
    Ok(Settings {
        node_id: node_id_from_address(&node_id_text),
        listen: config.listen_addr(),
        shard_addrs,
        http: config.http_addr(),
        data_dir: config.node.data_dir.clone(),
        cpus: (0..count).map(|i| config.cpu_for_shard(i)).collect(),
        spin_before_park: Duration::from_micros(config.shards.spin_before_park_us),
        frame_bytes_max: config.limits.frame_bytes_max,
        connections_max: config.limits.connections_max,
        inflight_per_connection: config.limits.inflight_per_connection,
        item_bytes_max: config.limits.item_bytes_max,
        request_timeout: Duration::from_millis(config.limits.request_timeout_ms),
        engine: config.engine_config(),
        default_consistency: consistency(config.cluster.default_consistency),
        default_compaction: match config.engine.compaction_strategy {
            CompactionChoice::SizeTiered => Compaction::SizeTiered,
            CompactionChoice::Leveled => Compaction::Leveled,
        },
        vnodes: config.node.vnodes,
        seeds: config.node.seeds.clone(),
        internode: config.internode_addr(),
        gossip_interval_ms: config.cluster.gossip_interval_ms,
        phi_threshold: config.cluster.phi_threshold,
        hint_window: Duration::from_secs(config.cluster.hint_window_secs),
        read_repair_chance: config.cluster.read_repair_chance,
        internode_timeout: Duration::from_millis(config.cluster.internode_timeout_ms),
        fault_injection: config.cluster.fault_injection,
        dynamodb: dynamodb_settings(config),
    })
}

fn consistency(level: ConsistencyLevel) -> Consistency {
    match level {
        ConsistencyLevel::One => Consistency::One,
        ConsistencyLevel::Quorum => Consistency::Quorum,
        ConsistencyLevel::All => Consistency::All,
    }
}

/// The DynamoDB API's settings, or `None` when `dynamodb.listen` is "off".
fn dynamodb_settings(config: &NodeConfig) -> Option<DynamoSettings> {
    let addr = config.dynamodb_addr()?;
    let d = &config.dynamodb;
    let auth = match d.auth {
        DynamoAuth::AllowAnyKey => AuthMode::AllowAnyKey,
        DynamoAuth::Keys => {
            AuthMode::Keys(d.access_keys.iter().map(|k| (k.id.clone(), k.secret.clone())).collect())
        }
    };
    let api = ApiConfig {
        auth,
        read: consistency(d.read_consistency),
        consistent_read: consistency(d.consistent_read_consistency),
        write: consistency(d.write_consistency),
        replication_factor: u8::try_from(config.cluster.default_replication_factor).unwrap_or(3),
        region: d.region.clone(),
    };
    let limits = Limits { body_bytes_max: d.request_bytes_max, ..Limits::default() };
    let idle_timeout = Duration::from_millis(d.idle_timeout_ms);
    Some(DynamoSettings { addr, api, limits, idle_timeout })
}

/// Blocks SIGTERM and SIGINT in this thread (and the threads it starts), so the main thread
/// can wait for them with `sigtimedwait`.
fn block_signals() -> libc::sigset_t {
    // SAFETY: plain libc calls on a local, initialised signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Waits up to `timeout` for a blocked signal of `set`; returns it.
fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(1),
        tv_nsec: libc::c_long::from(i32::try_from(timeout.subsec_nanos()).unwrap_or(0)),
    };
    // SAFETY: `set` is initialised; a null info pointer is allowed.
    let signal = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (signal > 0).then_some(signal)
}

/// Structured logs to stderr; `RUST_LOG` filters them (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Runs a node until SIGTERM or SIGINT, then shuts it down cleanly.
///
/// # Errors
/// A bad config, a port in use, a data directory that cannot be opened, or a fatal error in
/// a shard.
pub fn run(config: NodeConfig) -> Result<(), ServerError> {
    init_logging();
    let settings = settings(&config)?;
    let signals = block_signals();
    let node = start(settings)?;
    loop {
        if let Some(signal) = wait_signal(&signals, Duration::from_millis(100)) {
            tracing::info!(signal, "stopping: flushing memtables and closing engines");
            break;
        }
        if node.context.stopping() {
            break;
        }
    }
    node.stop()
}

/// A running node.
pub struct RunningNode {
    /// What the shards share.
    pub context: Arc<NodeContext>,
    threads: Vec<std::thread::JoinHandle<Result<(), ServerError>>>,
}

impl RunningNode {
    /// Stops every shard and waits for them; returns the first error.
    ///
    /// # Errors
    /// A shard's failure.
    pub fn stop(self) -> Result<(), ServerError> {
        self.context.stop.store(true, Ordering::Release);
        let mut first = None;
        for thread in self.threads {
            let result = thread
                .join()
                .unwrap_or_else(|_| Err(ServerError::Shard("a shard thread panicked".into())));
            if let Err(e) = result {
                first.get_or_insert(e);
            }
        }
        if let Some(reason) = self.context.failure.lock().ok().and_then(|f| f.clone()) {
            first.get_or_insert(ServerError::Shard(reason));
        }
        match first {
            Some(e) => Err(e),
            None => {
                tracing::info!("stopped");
                Ok(())
            }
        }
    }
}

/// This node's gossip state at start-up (`generation`: the start time in µs, so a restart
/// is always newer).
fn own_endpoint(settings: &Settings, generation: u64) -> Endpoint {
    Endpoint {
        node_id: settings.node_id,
        address: settings.listen.to_string(),
        internode: settings.internode.to_string(),
        generation,
        version: 0,
        // Joining until every shard serves; then Normal (see the end of `shard_main`).
        status: MemberStatus::Joining,
        shards: u32::try_from(settings.shard_addrs.len()).unwrap_or(1),
        vnodes: settings.vnodes,
        schema_version: 0,
        load_bytes: 0,
        http: settings.http.to_string(),
    }
}

/// Starts every shard; returns once they run (not necessarily ready).
///
/// # Errors
/// Thread creation.
pub fn start(settings: Settings) -> Result<RunningNode, ServerError> {
    let count = settings.shard_addrs.len();
    let view = ClusterView::single(own_endpoint(&settings, 0));
    let context = Arc::new(NodeContext {
        metrics: (0..count).map(|_| Arc::new(ShardMetrics::default())).collect(),
        settings,
        view: std::sync::RwLock::new(Arc::new(view)),
        faults: Arc::new(Faults::default()),
        stop: AtomicBool::new(false),
        ready: AtomicUsize::new(0),
        connections: AtomicUsize::new(0),
        failure: Mutex::new(None),
    });
    tracing::info!(
        listen = %context.settings.listen,
        http = %context.settings.http,
        shards = count,
        data_dir = %context.settings.data_dir.display(),
        "starting node"
    );
    let mesh = (count > 1).then(|| MeshBuilder::<MeshMessage, _>::full(count, CHANNEL_CAPACITY));
    let mut threads = Vec::with_capacity(count);
    for id in 0..count {
        let context = context.clone();
        let mesh = mesh.clone();
        let cpu = context.settings.cpus.get(id).copied().flatten();
        let spin = Some(context.settings.spin_before_park);
        let thread = std::thread::Builder::new()
            .name(format!("shoal-shard-{id}"))
            .spawn(move || {
                let ctx = context.clone();
                let result =
                    run_on_new_executor_with(&format!("shard-{id}"), cpu, spin, move || {
                        shard_main(id, ctx, mesh)
                    })
                    .map_err(|e| ServerError::Shard(format!("shard thread {id}: executor: {e}")))
                    .and_then(|r| r);
                if let Err(e) = &result {
                    tracing::error!(thread = id, error = %e, "shard failed");
                    context.fail(e.to_string());
                }
                result
            })
            .map_err(|e| ServerError::Shard(format!("cannot start shard thread: {e}")))?;
        threads.push(thread);
    }
    Ok(RunningNode { context, threads })
}

fn bind(what: &str, addr: std::net::SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr).map_err(|e| ServerError::Bind {
        what: what.to_string(),
        address: addr.to_string(),
        reason: e.to_string(),
    })
}

async fn shard_main(
    thread: usize,
    node: Arc<NodeContext>,
    mesh: Option<glommio::channels::channel_mesh::FullMesh<MeshMessage>>,
) -> Result<(), ServerError> {
    // The mesh numbers its peers by executor id once all have joined, whatever order the
    // threads started in; the shard takes that number, so a mesh peer id and a shard id are
    // always the same thing.
    let (id, mesh, streams) = match mesh {
        Some(builder) => {
            let (senders, mut receivers) = builder.join().await.map_err(|e| {
                ServerError::Shard(format!("shard thread {thread}: cannot join the mesh: {e}"))
            })?;
            let id = senders.peer_id();
            (id, Some(Mesh::new(senders)), Mesh::take_streams(&mut receivers))
        }
        None => (0, None, Vec::new()),
    };
    let dir: PathBuf = node.settings.data_dir.join(format!("shard-{id}"));
    // A node whose data directory is new has never been part of a ring.
    let fresh = !dir.join("MANIFEST").exists();
    std::fs::create_dir_all(&dir).map_err(|e| {
        ServerError::Shard(format!("shard {id}: cannot create {}: {e}", dir.display()))
    })?;
    let (engine, report) =
        Engine::open(Disk::glommio(), &dir, node.settings.engine.clone(), Clock::System)
            .await
            .map_err(|e| {
                ServerError::Shard(format!(
                    "shard {id}: cannot open the engine in {}: {e}",
                    dir.display()
                ))
            })?;
    if let Some((file, offset)) = &report.torn_tail {
        tracing::warn!(shard = id, file = %file.display(), offset, "cut a torn commit-log tail");
    }
    tracing::info!(shard = id, thread, replayed = report.replayed_records, "engine open");

    let shard = Rc::new(Shard::new(id, node.clone(), engine.clone(), mesh));
    for (_, stream) in streams {
        let shard = shard.clone();
        spawn(Queue::Foreground, async move {
            while let Some(message) = stream.recv().await {
                router::handle_mesh_message(&shard, message);
            }
        });
    }

    if !shard.engine.tables().contains(&hints::HINTS_TABLE_ID) {
        shard
            .engine
            .create_table(hints::HINTS_TABLE_ID, shoal_engine::TableOptions::default())
            .await
            .map_err(|e| {
                ServerError::Shard(format!("shard {id}: cannot create the hints table: {e}"))
            })?;
    }
    if id == 0 {
        let generation = shard.engine.clock().now_micros();
        let membership = Rc::new(Membership::new(
            own_endpoint(&node.settings, generation),
            node.settings.gossip_interval_ms,
            node.settings.phi_threshold,
        ));
        *shard.membership.borrow_mut() = Some(membership);
        schema::bootstrap(&shard).await.map_err(|e| {
            ServerError::Shard(format!("shard 0: cannot load the schema: {}", e.message))
        })?;
        if fresh {
            refuse_joining_a_ring_with_data(&shard).await?;
        }
        shard.catalog_loaded();
    } else {
        // Shard 0 may fail before it sends the catalog; then stop instead of waiting forever.
        let stopped = async {
            while !node.stopping() {
                sleep(Duration::from_millis(20)).await;
            }
        };
        futures_lite::future::or(shard.wait_catalog(), stopped).await;
        if node.stopping() {
            return Ok(());
        }
    }

    let main = bind("native protocol", node.settings.listen)?;
    let own_addr = node
        .settings
        .shard_addrs
        .get(id)
        .copied()
        .ok_or_else(|| ServerError::Shard(format!("shard {id} has no address")))?;
    let own = bind("shard port", own_addr)?;
    let internode = bind("internode", node.settings.internode)?;
    spawn(Queue::Foreground, conn::accept_loop(shard.clone(), main));
    spawn(Queue::Foreground, conn::accept_loop(shard.clone(), own));
    spawn(Queue::Foreground, conn::accept_loop(shard.clone(), internode));
    if let Some(dynamodb) = &node.settings.dynamodb {
        let listener = bind("DynamoDB API", dynamodb.addr)?;
        let settings = Rc::new(dynamodb.clone());
        spawn(Queue::Foreground, dynamo_http::accept_loop(shard.clone(), listener, settings));
    }
    spawn(Queue::Foreground, hints::replay_loop(shard.clone()));
    let membership = shard.membership.borrow().clone();
    if let Some(membership) = membership {
        membership.set_schema_version(schema::schema_version_of(&shard));
        membership.publish(&shard);
        spawn(Queue::Foreground, membership.run(shard.clone()));
    }
    if id == 0 {
        let listener = bind("http", node.settings.http)?;
        spawn(Queue::Foreground, http::serve(shard.clone(), listener));
    }
    spawn(Queue::Foreground, refresh_gauges(shard.clone()));
    spawn(Queue::Foreground, crate::stalls::probe_loop(shard.clone()));
    node.ready.fetch_add(1, Ordering::AcqRel);
    if node.is_ready() {
        tracing::info!(listen = %node.settings.listen, "node ready");
    }
    if let Some(membership) = shard.membership.borrow().clone() {
        // Shard 0 announces Normal once every shard serves.
        let node = node.clone();
        spawn(Queue::Foreground, async move {
            while !node.is_ready() && !node.stopping() {
                sleep(Duration::from_millis(5)).await;
            }
            membership.set_status(MemberStatus::Normal);
        });
    }

    while !node.stopping() {
        sleep(Duration::from_millis(20)).await;
    }
    node.ready.fetch_sub(1, Ordering::AcqRel);
    let membership = shard.membership.borrow().clone();
    if let Some(membership) = membership {
        // Tell peers at once, so they stop sending here before the failure detector would.
        membership.set_status(MemberStatus::Leaving);
        membership.gossip_once(&shard).await;
    }
    let flushed = engine.flush().await;
    if let Err(e) = &flushed {
        tracing::warn!(shard = id, error = %e, "flush at shutdown failed; the commit log keeps the writes");
    }
    if let Some(mesh) = &shard.mesh {
        mesh.close();
    }
    engine
        .close()
        .await
        .map_err(|e| ServerError::Shard(format!("shard {id}: closing the engine: {e}")))
}

/// A new node may form a ring with others that are new too, but may not join one that holds
/// data: it would own ranges whose data it lacks, and without bootstrap (streaming) nothing
/// would give it that data. The seeds are asked for their schema; any table means data.
async fn refuse_joining_a_ring_with_data(shard: &Rc<Shard>) -> Result<(), ServerError> {
    let Some(peers) = &shard.peers else { return Ok(()) };
    let me = shard.node.settings.internode.to_string();
    for seed in shard.node.settings.seeds.iter().filter(|s| **s != me) {
        let request = shoal_net::Request::SchemaPush { tables: Vec::new() };
        let timeout = Duration::from_millis(500);
        let Ok(response) =
            peers.call(seed, shoal_net::RequestHeader::default(), request, timeout).await
        else {
            continue; // a seed that is down says nothing
        };
        if let shoal_net::ResponseBody::Schema(tables) = response.body {
            if let Some((table, _)) = tables.iter().find(|(_, dropped)| !dropped) {
                return Err(ServerError::Shard(format!(
                    "this node's data directory is new, and the cluster at seed {seed} already \
                     holds data (table {:?}): joining a ring that holds data needs bootstrap \
                     (streaming its ranges to the new node), which Shoal does not have yet. Start \
                     new nodes together on an empty cluster, or restart this node with its old \
                     data directory",
                    table.spec.name
                )));
            }
        }
    }
    Ok(())
}

/// Copies engine gauges into the shard's metrics once a second.
async fn refresh_gauges(shard: Rc<Shard>) {
    use std::sync::atomic::Ordering::Relaxed;
    while !shard.node.stopping() {
        let m = &shard.metrics;
        let e = shard.engine.metrics();
        let (memtables, _) = shard.engine.memory_bytes();
        m.memtable_bytes.store(memtables as u64, Relaxed);
        let files: Vec<_> = shard
            .engine
            .tables()
            .into_iter()
            .filter_map(|t| shard.engine.table_files(t).ok())
            .flatten()
            .collect();
        m.sstables.store(files.len() as u64, Relaxed);
        let file_bytes: u64 = files.iter().map(|f| f.file_bytes).sum();
        m.stored_bytes.store(file_bytes + memtables as u64, Relaxed);
        m.engine_writes.store(e.writes.get(), Relaxed);
        m.engine_reads.store(e.reads.get(), Relaxed);
        m.flushes.store(e.flushes.get(), Relaxed);
        m.compactions.store(e.compactions.get(), Relaxed);
        m.ttl_expired_items.store(e.expired_items.get(), Relaxed);
        m.compaction_write_bytes.store(e.compaction_write_bytes.get(), Relaxed);
        let cache = shard.engine.cache_stats();
        m.cache_hits.store(cache.hits, Relaxed);
        m.cache_misses.store(cache.misses, Relaxed);
        m.cache_bytes.store(cache.bytes as u64, Relaxed);
        let log = shard.engine.log_stats();
        m.commitlog_appends.store(log.appends, Relaxed);
        m.commitlog_syncs.store(log.flushes, Relaxed);
        m.commitlog_prepare_failures.store(log.prepare_failures, Relaxed);
        sleep(Duration::from_secs(1)).await;
    }
}
