//! [`NodeConfig`]: everything a node reads from its TOML file (`tuning/shoal.toml` lists every
//! key with its default).
//!
//! The file has five sections: `[node]` (addresses, data directory, identity, seeds),
//! `[shards]` (how many cores serve and how they are pinned), `[limits]` (what one client may
//! ask of the node), `[engine]` (each shard's [`EngineConfig`]) and `[cluster]` (replication
//! and failure detection). Every key is optional; a missing key takes its default, a
//! misspelt one is an error that names it.
//!
//! The struct keeps plain Rust types; keys whose default depends on another key (`""` for
//! `http`, `internode` and `node_id`, `0` for `shard_port_base` and `count`) are `Option`s or
//! zeros, and accessor methods ([`NodeConfig::http_addr`], [`NodeConfig::shard_count`], ...)
//! resolve them.
//!
//! # Memory
//!
//! A node's memory is mostly its shards' memtables and block caches:
//! `shards × (memtables_total_bytes + block_cache_bytes)`, reported by
//! [`NodeConfig::memory_budget_bytes`]. The defaults (48 MiB of memtables and a 128 MiB cache
//! a shard) put a 2-core laptop at 2 × 176 MiB = 352 MiB, which leaves room under 512 MiB
//! resident for SSTable indexes and bloom filters (about 1.25 bytes a key at 10 bits), the
//! commit log's buffers and connection buffers (316 MiB peak, measured through the
//! benchmark's load and workloads A, B and C). A big host raises them through a profile
//! (`tuning/profiles/`).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use crate::{BlockCompression, CommitLogSync, EngineConfig};

/// Port of the HTTP endpoint (health, metrics) when `node.http` is `""`.
pub const HTTP_PORT_DEFAULT: u16 = 7480;
/// Port of the DynamoDB-compatible API when `dynamodb.listen` is `""` (DynamoDB Local's).
pub const DYNAMODB_PORT_DEFAULT: u16 = 8000;
/// Port of cluster traffic when `node.internode` is `""`.
pub const INTERNODE_PORT_DEFAULT: u16 = 7470;
/// The most shards a node runs.
pub const SHARDS_MAX: usize = 1024;
/// The smallest `limits.frame_bytes_max`: a frame must hold any request's key and expressions.
pub const FRAME_BYTES_MIN: usize = 64 << 10;
/// The largest `limits.frame_bytes_max`.
pub const FRAME_BYTES_MAX: usize = 1 << 30;
/// The most virtual nodes a node may own on the ring.
pub const VNODES_MAX: u32 = 4096;
/// The highest replication factor.
pub const REPLICATION_FACTOR_MAX: u32 = 16;

const _: () = assert!(FRAME_BYTES_MIN < FRAME_BYTES_MAX);

/// A node's whole configuration. Parse with [`NodeConfig::from_toml_str`] or
/// [`NodeConfig::from_file`], which also [`NodeConfig::validate`].
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// `[node]`: addresses, storage and identity.
    pub node: NodeSection,
    /// `[shards]`: cores and pinning.
    pub shards: ShardSection,
    /// `[limits]`: per-request and per-connection limits.
    pub limits: LimitSection,
    /// `[engine]`: the storage engine of each shard.
    pub engine: EngineSection,
    /// `[cluster]`: replication and failure detection.
    pub cluster: ClusterSection,
    /// `[dynamodb]`: the DynamoDB-compatible HTTP API.
    pub dynamodb: DynamoSection,
}

/// `[node]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSection {
    /// Native protocol address; its host is the node's address. Default `127.0.0.1:7400`.
    pub listen: SocketAddr,
    /// Shard `i` also listens on `listen host:(shard_port_base + i)`, so shard-aware clients
    /// reach the owning core directly. 0 means the listen port + 1. Default 7401.
    pub shard_port_base: u16,
    /// Health and metrics over HTTP; `""` (`None`) means the listen host, port 7480.
    #[serde(deserialize_with = "empty_as_none")]
    pub http: Option<SocketAddr>,
    /// Cluster traffic; `""` (`None`) means the listen host, port 7470.
    #[serde(deserialize_with = "empty_as_none")]
    pub internode: Option<SocketAddr>,
    /// Where shards keep their commit logs and SSTables (one subdirectory each). Default
    /// `./shoal-data`.
    pub data_dir: PathBuf,
    /// The node's identity in the cluster; `""` means the listen address. Set it when the
    /// address may change or is a wildcard. Default `""`.
    pub node_id: String,
    /// Internode addresses (`host:port`) of nodes to join through. Default none (a cluster
    /// of one).
    pub seeds: Vec<String>,
    /// Virtual nodes (ring positions) this node owns: more spread load more evenly over
    /// nodes at the cost of a larger ring. Default 16.
    pub vnodes: u32,
}

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 7400)),
            shard_port_base: 7401,
            http: None,
            internode: None,
            data_dir: PathBuf::from("./shoal-data"),
            node_id: String::new(),
            seeds: Vec::new(),
            vnodes: 16,
        }
    }
}

/// `[shards]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShardSection {
    /// Shards (cores serving data); 0 means one per available CPU, or one per CPU of `pin`
    /// when it is a list. Default 0.
    pub count: usize,
    /// Which CPU each shard's thread is pinned to. Default `"none"`.
    pub pin: CpuPin,
    /// Microseconds an idle shard spins before parking its thread. Spinning answers the
    /// next request without a wake-up (several µs), but burns the core: only for dedicated,
    /// pinned cores. Default 0.
    pub spin_before_park_us: u64,
}

/// How shard threads are pinned to CPUs: `"none"`, `"auto"` or a list of CPU numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "CpuPinToml")]
pub enum CpuPin {
    /// The OS schedules shard threads anywhere. Right for laptops and shared hosts.
    #[default]
    None,
    /// Shard `i` runs on CPU `i`: no migrations, warm caches.
    Auto,
    /// Shard `i` runs on the `i`-th listed CPU (e.g. one per physical core, or avoiding the
    /// CPUs that take NVMe and network interrupts).
    Cpus(Vec<usize>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CpuPinToml {
    Word(String),
    Cpus(Vec<usize>),
}

impl TryFrom<CpuPinToml> for CpuPin {
    type Error = String;

    fn try_from(toml: CpuPinToml) -> Result<Self, String> {
        match toml {
            CpuPinToml::Word(word) if word == "none" => Ok(CpuPin::None),
            CpuPinToml::Word(word) if word == "auto" => Ok(CpuPin::Auto),
            CpuPinToml::Word(word) => {
                Err(format!("expected \"none\", \"auto\" or a list of CPU numbers, got {word:?}"))
            }
            CpuPinToml::Cpus(cpus) => Ok(CpuPin::Cpus(cpus)),
        }
    }
}

/// `[limits]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSection {
    /// Largest protocol frame accepted; a bigger length prefix closes the connection.
    /// Default 4 MiB.
    pub frame_bytes_max: usize,
    /// Client connections the node accepts; more are refused. Default 1024.
    pub connections_max: usize,
    /// Pipelined requests in flight on one connection; past it the node stops reading that
    /// connection (backpressure). Default 128.
    pub inflight_per_connection: usize,
    /// Largest item, encoded; must be less than `frame_bytes_max`. Default 409600 (DynamoDB's
    /// 400 KB).
    pub item_bytes_max: usize,
    /// Requests not answered within this fail with a timeout. Default 5000.
    pub request_timeout_ms: u64,
}

impl Default for LimitSection {
    fn default() -> Self {
        LimitSection {
            frame_bytes_max: 4 << 20,
            connections_max: 1024,
            inflight_per_connection: 128,
            item_bytes_max: 409_600,
            request_timeout_ms: 5000,
        }
    }
}

/// How the commit log syncs, as written in the file (`"batch"` or `"periodic"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitLogSyncMode {
    /// [`CommitLogSync::Batch`]: acknowledge after fdatasync.
    #[default]
    Batch,
    /// [`CommitLogSync::Periodic`] every `commitlog_sync_interval_ms`.
    Periodic,
}

/// The compaction strategy of tables created without one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompactionChoice {
    /// Size-tiered: least write amplification, more tables per read. For write-heavy tables.
    #[default]
    SizeTiered,
    /// Leveled: at most one table per level per read, more rewriting. For read-heavy tables.
    Leveled,
}

/// `[engine]`: each shard's storage engine. The fields mirror [`EngineConfig`] (see there for
/// each trade-off), with node defaults sized for a laptop (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSection {
    /// [`EngineConfig::memtable_bytes`]. Default 16 MiB.
    pub memtable_bytes: usize,
    /// [`EngineConfig::memtables_total_bytes`]. Default 48 MiB.
    pub memtables_total_bytes: usize,
    /// [`EngineConfig::block_cache_bytes`]. Default 128 MiB.
    pub block_cache_bytes: usize,
    /// [`EngineConfig::block_bytes`]. Default 4096.
    pub block_bytes: usize,
    /// [`EngineConfig::bloom_bits_per_key`]. Default 10.
    pub bloom_bits_per_key: u32,
    /// [`EngineConfig::compression`]: `"lz4"` or `"none"`. Default `"lz4"`.
    #[serde(deserialize_with = "compression_from_name")]
    pub compression: BlockCompression,
    /// [`EngineConfig::commitlog_segment_bytes`]. Default 32 MiB.
    pub commitlog_segment_bytes: u64,
    /// [`EngineConfig::commitlog_sync`]: `"batch"` or `"periodic"`. Default `"batch"`.
    pub commitlog_sync: CommitLogSyncMode,
    /// Milliseconds between syncs in periodic mode (ignored in batch mode). Default 10.
    pub commitlog_sync_interval_ms: u64,
    /// [`EngineConfig::sstable_target_bytes`]. Default 16 MiB.
    pub sstable_target_bytes: u64,
    /// [`EngineConfig::tombstone_grace_secs`]. Default 864000 (10 days).
    pub tombstone_grace_secs: u64,
    /// [`EngineConfig::size_tiered_min_threshold`]. Default 4.
    pub size_tiered_min_threshold: usize,
    /// [`EngineConfig::leveled_base_bytes`]. Default 64 MiB.
    pub leveled_base_bytes: u64,
    /// [`EngineConfig::leveled_l0_trigger`]. Default 4.
    pub leveled_l0_trigger: usize,
    /// Strategy of tables created without one. Default `"size_tiered"`.
    pub compaction_strategy: CompactionChoice,
    /// Compaction I/O budget of a shard in bytes a second, so compaction cannot starve
    /// foreground reads of device bandwidth; 0 means unthrottled. Default 0.
    pub compaction_bytes_per_sec: u64,
}

impl Default for EngineSection {
    fn default() -> Self {
        let engine = EngineConfig::default();
        EngineSection {
            memtable_bytes: 16 << 20,
            memtables_total_bytes: 48 << 20,
            block_cache_bytes: 128 << 20,
            block_bytes: engine.block_bytes,
            bloom_bits_per_key: engine.bloom_bits_per_key,
            compression: engine.compression,
            commitlog_segment_bytes: engine.commitlog_segment_bytes,
            commitlog_sync: CommitLogSyncMode::Batch,
            commitlog_sync_interval_ms: 10,
            sstable_target_bytes: engine.sstable_target_bytes,
            tombstone_grace_secs: engine.tombstone_grace_secs,
            size_tiered_min_threshold: engine.size_tiered_min_threshold,
            leveled_base_bytes: engine.leveled_base_bytes,
            leveled_l0_trigger: engine.leveled_l0_trigger,
            compaction_strategy: CompactionChoice::SizeTiered,
            compaction_bytes_per_sec: 0,
        }
    }
}

/// A request's consistency level when the request does not choose one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsistencyLevel {
    /// One replica answers.
    One,
    /// A majority of replicas answer: reads see quorum writes.
    #[default]
    Quorum,
    /// Every replica answers.
    All,
}

/// `[cluster]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSection {
    /// `"ONE"`, `"QUORUM"` or `"ALL"`. Default `"QUORUM"`.
    pub default_consistency: ConsistencyLevel,
    /// Replicas of tables created without a replication factor. Default 3.
    pub default_replication_factor: u32,
    /// Milliseconds between gossip rounds. Default 1000.
    pub gossip_interval_ms: u64,
    /// Phi accrual failure detector: a peer is down once phi exceeds this. Lower detects
    /// failures sooner and misfires more under load. Default 8.0.
    pub phi_threshold: f64,
    /// Hints (writes kept for a replica that was down) older than this are dropped; repair
    /// must then fix the replica. Shorter than `engine.tombstone_grace_secs`, so a replay
    /// never resurrects purged data. Default 10800 (3 h, Cassandra's).
    pub hint_window_secs: u64,
    /// Chance that a read at ONE also checks (and repairs) the other replicas in the
    /// background. Default 0.1.
    pub read_repair_chance: f64,
    /// Deadline of one request to another node when the client's allows more. Default 2000.
    pub internode_timeout_ms: u64,
    /// Allows the HTTP fault hooks (`/debug/faults`) that drop or delay messages to chosen
    /// nodes. For tests only. Default false.
    pub fault_injection: bool,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            default_consistency: ConsistencyLevel::Quorum,
            default_replication_factor: 3,
            gossip_interval_ms: 1000,
            phi_threshold: 8.0,
            hint_window_secs: 10_800,
            read_repair_chance: 0.1,
            internode_timeout_ms: 2000,
            fault_injection: false,
        }
    }
}

/// How the DynamoDB API authenticates requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DynamoAuth {
    /// Any well-formed Signature V4 is accepted, whatever its key (DynamoDB Local's way):
    /// for development on a trusted machine.
    #[default]
    AllowAnyKey,
    /// Signatures are verified against `access_keys`.
    Keys,
}

/// An access key the DynamoDB API accepts when `auth = "keys"`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    /// Access key id (what clients send in the signature's credential).
    pub id: String,
    /// Its secret.
    pub secret: String,
}

/// `[dynamodb]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DynamoSection {
    /// `host:port` of the listener; `""` means the listen host, port 8000; `"off"` disables
    /// it. Default `""`.
    pub listen: String,
    /// `"allow-any-key"` or `"keys"`. Default `"allow-any-key"`.
    pub auth: DynamoAuth,
    /// Keys accepted when `auth = "keys"`.
    pub access_keys: Vec<AccessKey>,
    /// Consistency of reads without `ConsistentRead` (DynamoDB's eventually consistent
    /// reads). Default `"ONE"`.
    pub read_consistency: ConsistencyLevel,
    /// Consistency of reads with `ConsistentRead: true`. Default `"QUORUM"`.
    pub consistent_read_consistency: ConsistencyLevel,
    /// Consistency of writes. Default `"QUORUM"`.
    pub write_consistency: ConsistencyLevel,
    /// Region named in table ARNs. Default `"ddblocal"`.
    pub region: String,
    /// Largest request body in bytes (DynamoDB's batch limits fit). Default 16 MiB.
    pub request_bytes_max: usize,
    /// A connection with no request for this long is closed, and so is one whose started
    /// request does not arrive whole within it, so idle or slow clients cannot hold the
    /// node's connections (shared with the native protocol). SDKs reconnect. Default 60000.
    pub idle_timeout_ms: u64,
}

impl Default for DynamoSection {
    fn default() -> Self {
        DynamoSection {
            listen: String::new(),
            auth: DynamoAuth::AllowAnyKey,
            access_keys: Vec::new(),
            read_consistency: ConsistencyLevel::One,
            consistent_read_consistency: ConsistencyLevel::Quorum,
            write_consistency: ConsistencyLevel::Quorum,
            region: "ddblocal".to_string(),
            request_bytes_max: 16 << 20,
            idle_timeout_ms: 60_000,
        }
    }
}

impl NodeConfig {
    /// The DynamoDB API's address, or `None` when `dynamodb.listen` is `"off"` (or does not
    /// parse, which [`NodeConfig::validate`] rules out).
    pub fn dynamodb_addr(&self) -> Option<SocketAddr> {
        match self.dynamodb.listen.as_str() {
            "" => Some(SocketAddr::new(self.node.listen.ip(), DYNAMODB_PORT_DEFAULT)),
            "off" => None,
            text => text.parse().ok(),
        }
    }

    /// The native protocol address (`node.listen`).
    pub fn listen_addr(&self) -> SocketAddr {
        self.node.listen
    }

    /// Shard `shard`'s own address: the listen host, port `shard_port_base + shard` (or
    /// listen port + 1 + shard when `shard_port_base` is 0). `None` past port 65535, which
    /// [`NodeConfig::validate`] rules out for an explicit `shards.count`.
    pub fn shard_addr(&self, shard: usize) -> Option<SocketAddr> {
        let base = match self.node.shard_port_base {
            0 => u32::from(self.node.listen.port()) + 1,
            base => u32::from(base),
        };
        let port = u16::try_from(base + u32::try_from(shard).ok()?).ok()?;
        Some(SocketAddr::new(self.node.listen.ip(), port))
    }

    /// The HTTP (health, metrics) address: `node.http`, or the listen host on port
    /// [`HTTP_PORT_DEFAULT`].
    pub fn http_addr(&self) -> SocketAddr {
        self.node.http.unwrap_or(SocketAddr::new(self.node.listen.ip(), HTTP_PORT_DEFAULT))
    }

    /// The cluster traffic address: `node.internode`, or the listen host on port
    /// [`INTERNODE_PORT_DEFAULT`].
    pub fn internode_addr(&self) -> SocketAddr {
        self.node
            .internode
            .unwrap_or(SocketAddr::new(self.node.listen.ip(), INTERNODE_PORT_DEFAULT))
    }

    /// The node's identity: `node.node_id`, or the listen address as text.
    pub fn node_id(&self) -> String {
        if self.node.node_id.is_empty() {
            self.node.listen.to_string()
        } else {
            self.node.node_id.clone()
        }
    }

    /// How many shards to run on a host with `available_cpus` CPUs: `shards.count`, else the
    /// length of a `pin` list, else one per CPU (at least one).
    pub fn shard_count(&self, available_cpus: usize) -> usize {
        match (&self.shards.count, &self.shards.pin) {
            (0, CpuPin::Cpus(cpus)) => cpus.len(),
            (0, _) => available_cpus.clamp(1, SHARDS_MAX),
            (count, _) => *count,
        }
    }

    /// The CPU shard `shard`'s thread is pinned to, or `None` to leave it to the OS.
    pub fn cpu_for_shard(&self, shard: usize) -> Option<usize> {
        match &self.shards.pin {
            CpuPin::None => None,
            CpuPin::Auto => Some(shard),
            CpuPin::Cpus(cpus) => cpus.get(shard).copied(),
        }
    }

    /// Each shard's engine configuration, from `[engine]`.
    pub fn engine_config(&self) -> EngineConfig {
        let e = &self.engine;
        let sync = match e.commitlog_sync {
            CommitLogSyncMode::Batch => CommitLogSync::Batch,
            CommitLogSyncMode::Periodic => {
                CommitLogSync::Periodic { interval_ms: e.commitlog_sync_interval_ms }
            }
        };
        EngineConfig::default()
            .memtable_bytes(e.memtable_bytes)
            .memtables_total_bytes(e.memtables_total_bytes)
            .block_cache_bytes(e.block_cache_bytes)
            .block_bytes(e.block_bytes)
            .bloom_bits_per_key(e.bloom_bits_per_key)
            .compression(e.compression)
            .commitlog_segment_bytes(e.commitlog_segment_bytes)
            .commitlog_sync(sync)
            .sstable_target_bytes(e.sstable_target_bytes)
            .tombstone_grace_secs(e.tombstone_grace_secs)
            .size_tiered_min_threshold(e.size_tiered_min_threshold)
            .leveled_base_bytes(e.leveled_base_bytes)
            .leveled_l0_trigger(e.leveled_l0_trigger)
            .compaction_bytes_per_sec(e.compaction_bytes_per_sec)
    }

    /// Memtables and block caches of all shards on a host with `available_cpus` CPUs: the
    /// bulk of the node's memory (see the module docs for what comes on top).
    pub fn memory_budget_bytes(&self, available_cpus: usize) -> u64 {
        let per_shard =
            self.engine.memtables_total_bytes.saturating_add(self.engine.block_cache_bytes);
        let total = per_shard.saturating_mul(self.shard_count(available_cpus));
        u64::try_from(total).unwrap_or(u64::MAX)
    }
}

fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    let addr = text.parse().map_err(|e| {
        serde::de::Error::custom(format!("{text:?} is not an IP:port address ({e})"))
    })?;
    Ok(Some(addr))
}

fn compression_from_name<'de, D: Deserializer<'de>>(d: D) -> Result<BlockCompression, D::Error> {
    let name = String::deserialize(d)?;
    match name.as_str() {
        "lz4" => Ok(BlockCompression::Lz4),
        "none" => Ok(BlockCompression::None),
        _ => Err(serde::de::Error::unknown_variant(&name, &["lz4", "none"])),
    }
}

mod load;
mod validate;

#[cfg(test)]
mod tests;
