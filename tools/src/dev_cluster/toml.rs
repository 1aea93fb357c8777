//! A [`NodeConfig`] written back as TOML text, every key included, so the file `dev-cluster`
//! leaves in `DIR/nodeK/shoal.toml` says exactly how that node runs (and restarts it alone
//! with `shoal server --config`).
//!
//! `NodeConfig` only implements `Deserialize`; this is the other direction, by hand. The
//! structs are destructured field by field, so a key added to `shoal-tuning` fails to compile
//! here until it is written too; a test reads the text back and compares.

use std::fmt::Write as _;

use shoal_tuning::{
    BlockCompression, ClusterSection, CommitLogSyncMode, CompactionChoice, ConsistencyLevel,
    CpuPin, DynamoAuth, DynamoSection, EngineSection, LimitSection, NodeConfig, NodeSection,
    ShardSection,
};

use crate::error::CliError;

/// The whole configuration as TOML, sections in `tuning/shoal.toml`'s order.
///
/// # Errors
/// An internal error if the data directory is not UTF-8 (TOML strings are).
pub fn config_toml(config: &NodeConfig) -> Result<String, CliError> {
    let NodeConfig { node, shards, limits, engine, cluster, dynamodb } = config;
    let mut text = String::new();
    node_section(&mut text, node)?;
    shard_section(&mut text, shards);
    limit_section(&mut text, limits);
    engine_section(&mut text, engine);
    cluster_section(&mut text, cluster);
    dynamodb_section(&mut text, dynamodb);
    Ok(text)
}

fn node_section(text: &mut String, node: &NodeSection) -> Result<(), CliError> {
    let NodeSection { listen, shard_port_base, http, internode, data_dir, node_id, seeds, vnodes } =
        node;
    let Some(data_dir) = data_dir.to_str() else {
        return Err(CliError::internal(format!(
            "the data directory {} is not UTF-8, which a TOML file cannot hold",
            data_dir.display()
        )));
    };
    let optional = |address: &Option<std::net::SocketAddr>| {
        string(&address.map(|a| a.to_string()).unwrap_or_default())
    };
    let seeds: Vec<String> = seeds.iter().map(|s| string(s)).collect();
    text.push_str("[node]\n");
    key(text, "listen", string(&listen.to_string()));
    key(text, "shard_port_base", shard_port_base);
    key(text, "http", optional(http));
    key(text, "internode", optional(internode));
    key(text, "data_dir", string(data_dir));
    key(text, "node_id", string(node_id));
    key(text, "seeds", format!("[{}]", seeds.join(", ")));
    key(text, "vnodes", vnodes);
    Ok(())
}

fn shard_section(text: &mut String, shards: &ShardSection) {
    let ShardSection { count, pin, spin_before_park_us } = shards;
    let pin = match pin {
        CpuPin::None => string("none"),
        CpuPin::Auto => string("auto"),
        CpuPin::Cpus(cpus) => {
            let cpus: Vec<String> = cpus.iter().map(ToString::to_string).collect();
            format!("[{}]", cpus.join(", "))
        }
    };
    text.push_str("\n[shards]\n");
    key(text, "count", count);
    key(text, "pin", pin);
    key(text, "spin_before_park_us", spin_before_park_us);
}

fn limit_section(text: &mut String, limits: &LimitSection) {
    let LimitSection {
        frame_bytes_max,
        connections_max,
        inflight_per_connection,
        item_bytes_max,
        request_timeout_ms,
    } = limits;
    text.push_str("\n[limits]\n");
    key(text, "frame_bytes_max", frame_bytes_max);
    key(text, "connections_max", connections_max);
    key(text, "inflight_per_connection", inflight_per_connection);
    key(text, "item_bytes_max", item_bytes_max);
    key(text, "request_timeout_ms", request_timeout_ms);
}

fn engine_section(text: &mut String, engine: &EngineSection) {
    let EngineSection {
        memtable_bytes,
        memtables_total_bytes,
        block_cache_bytes,
        block_bytes,
        bloom_bits_per_key,
        compression,
        commitlog_segment_bytes,
        commitlog_sync,
        commitlog_sync_interval_ms,
        sstable_target_bytes,
        tombstone_grace_secs,
        size_tiered_min_threshold,
        leveled_base_bytes,
        leveled_l0_trigger,
        compaction_strategy,
        compaction_bytes_per_sec,
    } = engine;
    let compression = match compression {
        BlockCompression::Lz4 => "lz4",
        BlockCompression::None => "none",
    };
    let commitlog_sync = match commitlog_sync {
        CommitLogSyncMode::Batch => "batch",
        CommitLogSyncMode::Periodic => "periodic",
    };
    let compaction_strategy = match compaction_strategy {
        CompactionChoice::SizeTiered => "size_tiered",
        CompactionChoice::Leveled => "leveled",
    };
    text.push_str("\n[engine]\n");
    key(text, "memtable_bytes", memtable_bytes);
    key(text, "memtables_total_bytes", memtables_total_bytes);
    key(text, "block_cache_bytes", block_cache_bytes);
    key(text, "block_bytes", block_bytes);
    key(text, "bloom_bits_per_key", bloom_bits_per_key);
    key(text, "compression", string(compression));
    key(text, "commitlog_segment_bytes", commitlog_segment_bytes);
    key(text, "commitlog_sync", string(commitlog_sync));
    key(text, "commitlog_sync_interval_ms", commitlog_sync_interval_ms);
    key(text, "sstable_target_bytes", sstable_target_bytes);
    key(text, "tombstone_grace_secs", tombstone_grace_secs);
    key(text, "size_tiered_min_threshold", size_tiered_min_threshold);
    key(text, "leveled_base_bytes", leveled_base_bytes);
    key(text, "leveled_l0_trigger", leveled_l0_trigger);
    key(text, "compaction_strategy", string(compaction_strategy));
    key(text, "compaction_bytes_per_sec", compaction_bytes_per_sec);
}

fn cluster_section(text: &mut String, cluster: &ClusterSection) {
    let ClusterSection {
        default_consistency,
        default_replication_factor,
        gossip_interval_ms,
        phi_threshold,
        hint_window_secs,
        read_repair_chance,
        internode_timeout_ms,
        fault_injection,
    } = cluster;
    text.push_str("\n[cluster]\n");
    key(text, "default_consistency", string(level(*default_consistency)));
    key(text, "default_replication_factor", default_replication_factor);
    key(text, "gossip_interval_ms", gossip_interval_ms);
    key(text, "phi_threshold", float(*phi_threshold));
    key(text, "hint_window_secs", hint_window_secs);
    key(text, "read_repair_chance", float(*read_repair_chance));
    key(text, "internode_timeout_ms", internode_timeout_ms);
    key(text, "fault_injection", fault_injection);
}

fn level(consistency: ConsistencyLevel) -> &'static str {
    match consistency {
        ConsistencyLevel::One => "ONE",
        ConsistencyLevel::Quorum => "QUORUM",
        ConsistencyLevel::All => "ALL",
    }
}

fn dynamodb_section(text: &mut String, dynamodb: &DynamoSection) {
    let DynamoSection {
        listen,
        auth,
        access_keys,
        read_consistency,
        consistent_read_consistency,
        write_consistency,
        region,
        request_bytes_max,
        idle_timeout_ms,
    } = dynamodb;
    let auth = match auth {
        DynamoAuth::AllowAnyKey => "allow-any-key",
        DynamoAuth::Keys => "keys",
    };
    let keys: Vec<String> = access_keys
        .iter()
        .map(|k| format!("{{ id = {}, secret = {} }}", string(&k.id), string(&k.secret)))
        .collect();
    text.push_str("\n[dynamodb]\n");
    key(text, "listen", string(listen));
    key(text, "auth", string(auth));
    key(text, "access_keys", format!("[{}]", keys.join(", ")));
    key(text, "read_consistency", string(level(*read_consistency)));
    key(text, "consistent_read_consistency", string(level(*consistent_read_consistency)));
    key(text, "write_consistency", string(level(*write_consistency)));
    key(text, "region", string(region));
    key(text, "request_bytes_max", request_bytes_max);
    key(text, "idle_timeout_ms", idle_timeout_ms);
}

fn key(text: &mut String, name: &str, value: impl std::fmt::Display) {
    // Writing to a String cannot fail.
    let _ = writeln!(text, "{name} = {value}");
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
pub fn string(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04X}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A TOML float: always with a fraction or an exponent, `inf` and `nan` spelt TOML's way.
pub fn float(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // Debug prints the shortest text that reads back as the same f64.
    let text = format!("{value:?}");
    if text.contains(['.', 'e', 'E']) {
        text
    } else {
        format!("{text}.0")
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn the_defaults_read_back_unchanged() {
        let config = NodeConfig::default();
        let text = config_toml(&config).unwrap();
        assert_eq!(NodeConfig::from_toml_str(&text).unwrap(), config);
    }

    #[test]
    fn every_changed_key_reads_back() {
        let mut config = NodeConfig::default();
        config.node.listen = SocketAddr::from(([127, 0, 0, 9], 9400));
        config.node.shard_port_base = 9401;
        config.node.http = Some(SocketAddr::from(([127, 0, 0, 9], 9480)));
        config.node.internode = Some(SocketAddr::from(([127, 0, 0, 9], 9470)));
        config.node.data_dir = PathBuf::from("/tmp/a \"quoted\" \\ dir\tx");
        config.node.node_id = "n9".to_owned();
        config.node.seeds = vec!["127.0.0.9:9470".to_owned(), "127.0.0.10:9470".to_owned()];
        config.node.vnodes = 8;
        config.shards.count = 3;
        config.shards.pin = CpuPin::Cpus(vec![1, 2, 3]);
        config.shards.spin_before_park_us = 5;
        config.limits.frame_bytes_max = 1 << 21;
        config.limits.connections_max = 7;
        config.limits.inflight_per_connection = 9;
        config.limits.item_bytes_max = 1 << 20;
        config.limits.request_timeout_ms = 1234;
        config.engine.memtable_bytes = 1 << 20;
        config.engine.compression = BlockCompression::None;
        config.engine.commitlog_sync = CommitLogSyncMode::Periodic;
        config.engine.commitlog_sync_interval_ms = 3;
        config.engine.compaction_strategy = CompactionChoice::Leveled;
        config.engine.compaction_bytes_per_sec = 1 << 20;
        config.cluster.default_consistency = ConsistencyLevel::One;
        config.cluster.default_replication_factor = 2;
        config.cluster.gossip_interval_ms = 100;
        config.cluster.phi_threshold = 5.5;
        config.cluster.hint_window_secs = 60;
        config.cluster.read_repair_chance = 0.0;
        config.cluster.internode_timeout_ms = 500;
        config.cluster.fault_injection = true;
        config.dynamodb.listen = "127.0.0.9:9000".to_owned();
        config.dynamodb.auth = DynamoAuth::Keys;
        config.dynamodb.access_keys =
            vec![shoal_tuning::AccessKey { id: "k\"1".to_owned(), secret: "s".to_owned() }];
        config.dynamodb.read_consistency = ConsistencyLevel::Quorum;
        config.dynamodb.consistent_read_consistency = ConsistencyLevel::All;
        config.dynamodb.write_consistency = ConsistencyLevel::One;
        config.dynamodb.region = "eu-west-3".to_owned();
        config.dynamodb.request_bytes_max = 1 << 20;
        config.dynamodb.idle_timeout_ms = 250;
        let text = config_toml(&config).unwrap();
        assert_eq!(NodeConfig::from_toml_str(&text).unwrap(), config, "{text}");
        config.shards.pin = CpuPin::Auto;
        let text = config_toml(&config).unwrap();
        assert_eq!(NodeConfig::from_toml_str(&text).unwrap(), config, "{text}");
    }

    #[test]
    fn floats_and_strings_are_toml() {
        assert_eq!(float(8.0), "8.0");
        assert_eq!(float(0.1), "0.1");
        assert_eq!(float(1e300), "1e300");
        assert_eq!(float(f64::INFINITY), "inf");
        assert_eq!(float(f64::NAN), "nan");
        assert_eq!(string("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"");
    }
}
