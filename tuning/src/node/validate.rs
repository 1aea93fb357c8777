//! [`NodeConfig::validate`]: ranges of single keys first, then how keys relate.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::net::SocketAddr;

use crate::node::{
    CommitLogSyncMode, CpuPin, FRAME_BYTES_MAX, FRAME_BYTES_MIN, REPLICATION_FACTOR_MAX,
    SHARDS_MAX, VNODES_MAX,
};
use crate::{ConfigError, NodeConfig};

/// The largest spin before parking: spinning longer than this saves nothing over a wake-up.
const SPIN_BEFORE_PARK_US_MAX: u64 = 100_000;
/// The longest request timeout: one hour.
const REQUEST_TIMEOUT_MS_MAX: u64 = 3_600_000;

impl NodeConfig {
    /// Checks every key's range and how keys relate, then the engine's own checks
    /// ([`crate::EngineConfig::validate`]).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] whose field is the dotted key (`limits.frame_bytes_max`) and whose
    /// reason gives the allowed range and the value found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_node()?;
        self.validate_shards()?;
        self.validate_limits()?;
        self.validate_engine()?;
        self.validate_cluster()?;
        self.validate_dynamodb()?;
        self.validate_ports()
    }

    fn validate_dynamodb(&self) -> Result<(), ConfigError> {
        let d = &self.dynamodb;
        if d.auth == super::DynamoAuth::Keys && d.access_keys.is_empty() {
            return Err(ConfigError::new(
                "dynamodb.access_keys",
                "auth = \"keys\" needs at least one [[dynamodb.access_keys]] entry",
            ));
        }
        for (index, key) in d.access_keys.iter().enumerate() {
            if key.id.is_empty() || key.secret.is_empty() {
                let reason = "id and secret must not be empty";
                return Err(ConfigError::new(format!("dynamodb.access_keys[{index}]"), reason));
            }
        }
        if !(64 << 10..=1 << 30).contains(&d.request_bytes_max) {
            let reason = format!("must be 64 KiB to 1 GiB, got {}", d.request_bytes_max);
            return Err(ConfigError::new("dynamodb.request_bytes_max", reason));
        }
        if !(100..=3_600_000).contains(&d.idle_timeout_ms) {
            let reason = format!("must be 100 to 3600000 ms, got {}", d.idle_timeout_ms);
            return Err(ConfigError::new("dynamodb.idle_timeout_ms", reason));
        }
        if d.region.is_empty() {
            return Err(ConfigError::new("dynamodb.region", "must not be empty"));
        }
        Ok(())
    }

    fn validate_node(&self) -> Result<(), ConfigError> {
        let node = &self.node;
        if node.node_id.is_empty() && node.listen.ip().is_unspecified() {
            return Err(ConfigError::new(
                "node.node_id",
                format!("must be set when node.listen is a wildcard address ({})", node.listen),
            ));
        }
        if node.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("node.data_dir", "must not be empty"));
        }
        for (index, seed) in node.seeds.iter().enumerate() {
            let port = seed.rsplit_once(':').filter(|(host, _)| !host.is_empty());
            if port.and_then(|(_, port)| port.parse::<u16>().ok()).is_none() {
                let reason = format!("must be host:port, got {seed:?}");
                return Err(ConfigError::new(format!("node.seeds[{index}]"), reason));
            }
        }
        in_range("node.vnodes", node.vnodes, 1, VNODES_MAX)
    }

    fn validate_shards(&self) -> Result<(), ConfigError> {
        let shards = &self.shards;
        in_range("shards.count", shards.count, 0, SHARDS_MAX)?;
        in_range(
            "shards.spin_before_park_us",
            shards.spin_before_park_us,
            0,
            SPIN_BEFORE_PARK_US_MAX,
        )?;
        if shards.spin_before_park_us > 0 && shards.pin == CpuPin::None {
            // glommio spins only on an executor bound to a CPU; unpinned, the setting would
            // be dropped without a word.
            let reason = "spinning needs pinned shards: set shards.pin to \"auto\" or a CPU list";
            return Err(ConfigError::new("shards.spin_before_park_us", reason));
        }
        let CpuPin::Cpus(cpus) = &shards.pin else {
            return Ok(());
        };
        if cpus.is_empty() || cpus.len() > SHARDS_MAX {
            let reason = format!("a CPU list must hold 1 to {SHARDS_MAX} CPUs, got {}", cpus.len());
            return Err(ConfigError::new("shards.pin", reason));
        }
        if shards.count != 0 && shards.count != cpus.len() {
            let reason = format!(
                "lists {} CPUs for shards.count = {} shards; list one CPU per shard",
                cpus.len(),
                shards.count
            );
            return Err(ConfigError::new("shards.pin", reason));
        }
        if cpus.iter().collect::<BTreeSet<_>>().len() != cpus.len() {
            return Err(ConfigError::new(
                "shards.pin",
                "lists a CPU twice; give each shard its own",
            ));
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let limits = &self.limits;
        in_range(
            "limits.frame_bytes_max",
            limits.frame_bytes_max,
            FRAME_BYTES_MIN,
            FRAME_BYTES_MAX,
        )?;
        in_range("limits.connections_max", limits.connections_max, 1, 1 << 20)?;
        in_range("limits.inflight_per_connection", limits.inflight_per_connection, 1, 1 << 16)?;
        in_range(
            "limits.request_timeout_ms",
            limits.request_timeout_ms,
            1,
            REQUEST_TIMEOUT_MS_MAX,
        )?;
        if limits.item_bytes_max < 1024 || limits.item_bytes_max >= limits.frame_bytes_max {
            let reason = format!(
                "must be at least 1024 and less than limits.frame_bytes_max ({}), got {}",
                limits.frame_bytes_max, limits.item_bytes_max
            );
            return Err(ConfigError::new("limits.item_bytes_max", reason));
        }
        Ok(())
    }

    fn validate_engine(&self) -> Result<(), ConfigError> {
        let engine = &self.engine;
        if engine.commitlog_sync == CommitLogSyncMode::Periodic {
            let interval = engine.commitlog_sync_interval_ms;
            in_range("engine.commitlog_sync_interval_ms", interval, 1, 60_000)?;
        }
        self.engine_config().validate().map_err(|e| e.in_section("engine"))
    }

    fn validate_cluster(&self) -> Result<(), ConfigError> {
        let cluster = &self.cluster;
        let rf = cluster.default_replication_factor;
        in_range("cluster.default_replication_factor", rf, 1, REPLICATION_FACTOR_MAX)?;
        in_range("cluster.gossip_interval_ms", cluster.gossip_interval_ms, 10, 60_000)?;
        let phi = cluster.phi_threshold;
        if !(1.0..=64.0).contains(&phi) {
            let reason = format!("must be 1.0 to 64.0, got {phi}");
            return Err(ConfigError::new("cluster.phi_threshold", reason));
        }
        let chance = cluster.read_repair_chance;
        if !(0.0..=1.0).contains(&chance) {
            let reason = format!("must be 0.0 to 1.0, got {chance}");
            return Err(ConfigError::new("cluster.read_repair_chance", reason));
        }
        in_range("cluster.internode_timeout_ms", cluster.internode_timeout_ms, 10, 600_000)?;
        let grace = self.engine.tombstone_grace_secs;
        if cluster.hint_window_secs >= grace {
            let reason = format!(
                "must be shorter than engine.tombstone_grace_secs ({grace}), got {}: a hint \
                 replayed after its tombstones were purged would resurrect deleted data",
                cluster.hint_window_secs
            );
            return Err(ConfigError::new("cluster.hint_window_secs", reason));
        }
        Ok(())
    }

    /// The listen, HTTP and internode addresses, and the shard ports when the count is known,
    /// must not collide.
    fn validate_ports(&self) -> Result<(), ConfigError> {
        let listen = self.dynamodb.listen.as_str();
        if !matches!(listen, "" | "off") && listen.parse::<std::net::SocketAddr>().is_err() {
            let reason = format!("expected \"host:port\", \"\" or \"off\", got {listen:?}");
            return Err(ConfigError::new("dynamodb.listen", reason));
        }
        let mut named = vec![
            ("node.listen", self.listen_addr()),
            ("node.http", self.http_addr()),
            ("node.internode", self.internode_addr()),
        ];
        if let Some(addr) = self.dynamodb_addr() {
            named.push(("dynamodb.listen", addr));
        }
        for (index, (field, addr)) in named.iter().enumerate() {
            let earlier = named.iter().take(index);
            if let Some((other, _)) = earlier.clone().find(|(_, a)| collide(*a, *addr)) {
                let reason = format!("{addr} is also {other}");
                return Err(ConfigError::new(*field, reason));
            }
        }
        let count = match (&self.shards.pin, self.shards.count) {
            (CpuPin::Cpus(cpus), 0) => cpus.len(),
            (_, count) => count,
        };
        if count == 0 {
            return Ok(());
        }
        let Some(last) = self.shard_addr(count - 1) else {
            let reason = format!("shard {} would listen past port 65535", count - 1);
            return Err(ConfigError::new("node.shard_port_base", reason));
        };
        let shard_ports = self.shard_addr(0).map_or(0, |a| a.port())..=last.port();
        for (field, addr) in named {
            if addr.ip() == last.ip() && shard_ports.contains(&addr.port()) {
                let reason =
                    format!("port {} is also a shard's (shard ports {shard_ports:?})", addr.port());
                return Err(ConfigError::new(field, reason));
            }
        }
        Ok(())
    }
}

/// Two addresses that cannot both be bound: the same port on the same or a wildcard IP.
fn collide(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn in_range<T: PartialOrd + Display>(
    field: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::new(field, format!("must be at least {min}, got {value}")));
    }
    if value > max {
        return Err(ConfigError::new(field, format!("must be at most {max}, got {value}")));
    }
    Ok(())
}
