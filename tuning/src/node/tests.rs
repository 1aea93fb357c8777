use std::net::SocketAddr;

use crate::{
    BlockCompression, CommitLogSync, CompactionChoice, ConfigError, CpuPin, EngineConfig,
    NodeConfig,
};

const DEFAULT_FILE: &str = include_str!("../../shoal.toml");
const NVME_PROFILE: &str = include_str!("../../profiles/nvme-many-core.toml");

fn parse_error(text: &str) -> ConfigError {
    NodeConfig::from_toml_str(text).unwrap_err()
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn the_documented_file_is_exactly_the_default() {
    assert_eq!(NodeConfig::from_toml_str(DEFAULT_FILE).unwrap(), NodeConfig::default());
    assert_eq!(NodeConfig::from_toml_str("").unwrap(), NodeConfig::default());
}

#[test]
fn defaults_validate_and_fit_a_laptop() {
    let config = NodeConfig::default();
    config.validate().unwrap();
    config.engine_config().validate().unwrap();
    assert_eq!(config.shard_count(2), 2);
    // 2 × (48 MiB + 128 MiB): leaves 160 MiB of 512 MiB for indexes, filters and buffers.
    assert_eq!(config.memory_budget_bytes(2), 352 << 20);
}

#[test]
fn nvme_profile_parses_and_validates() {
    let config = NodeConfig::from_toml_str(NVME_PROFILE).unwrap();
    assert_eq!(config.shard_count(64), 32);
    assert_eq!(config.cpu_for_shard(31), Some(31));
    assert_eq!(config.engine.compaction_strategy, CompactionChoice::Leveled);
    assert_eq!(config.engine_config().block_cache_bytes, 4 << 30);
    assert_eq!(config.node_id(), "10.0.0.11:7400");
    let budget_gib = config.memory_budget_bytes(64) >> 30;
    assert!((128..=160).contains(&budget_gib), "{budget_gib} GiB");
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    let err = parse_error("[node]\nvnodes = 8\n\n[limits]\nframe_byts_max = 1\n");
    assert_eq!(err.field, "limits.frame_byts_max");
    assert_eq!(err.line_column, Some((5, 1)));
    assert!(err.reason.starts_with("unknown field `frame_byts_max`"), "{err}");
    assert!(err.to_string().starts_with("config line 5, column 1: limits.frame_byts_max: "));

    let err = parse_error("[limitz]\nframe_bytes_max = 1\n");
    assert_eq!(err.field, "limitz", "{err}");
    assert!(err.reason.contains("unknown field `limitz`"), "{err}");
}

#[test]
fn bad_values_name_their_key() {
    let err = parse_error("[engine]\nblock_bytes = 4096\ncompression = \"zstd\"\n");
    assert_eq!(err.field, "engine.compression", "{err}");
    assert_eq!(err.line_column, Some((3, 15)));
    assert!(err.reason.contains("zstd") && err.reason.contains("lz4"), "{err}");

    let err = parse_error("[limits]\nconnections_max = \"many\"\n");
    assert_eq!(err.field, "limits.connections_max", "{err}");

    let err = parse_error("[node]\nseeds = [\n  \"10.0.0.1:7470\",\n  7,\n]\n");
    assert_eq!(err.field, "node.seeds[1]", "{err}");
    assert_eq!(err.line_column, Some((4, 3)));

    let err = parse_error("[node]\nhttp = \"localhost\"\n");
    assert_eq!(err.field, "node.http", "{err}");

    let err = parse_error("[shards]\npin = \"all\"\n");
    assert_eq!(err.field, "shards.pin", "{err}");
    assert!(err.reason.contains(r#"got "all""#), "{err}");

    let err = parse_error("[cluster]\ndefault_consistency = \"quorum\"\n");
    assert_eq!(err.field, "cluster.default_consistency", "{err}");
}

#[test]
fn range_errors_name_the_file_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shoal.toml");
    std::fs::write(&path, "[limits]\nframe_bytes_max = 12\n").unwrap();
    let err = NodeConfig::from_file(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}:2:1: limits.frame_bytes_max: must be at least 65536, got 12", path.display())
    );
    let missing = dir.path().join("missing.toml");
    let err = NodeConfig::from_file(&missing).unwrap_err();
    assert!(err.to_string().starts_with(&format!("{}: cannot read", missing.display())));
}

#[test]
fn spinning_without_pinned_shards_is_refused() {
    let err = parse_error("[shards]\nspin_before_park_us = 50\n");
    assert_eq!(err.field, "shards.spin_before_park_us");
    assert!(err.reason.contains("shards.pin"), "{err}");
    let pinned = "[shards]\npin = \"auto\"\nspin_before_park_us = 50\n";
    assert_eq!(NodeConfig::from_toml_str(pinned).unwrap().shards.spin_before_park_us, 50);
}

#[test]
fn syntax_errors_have_a_position() {
    let err = parse_error("[node]\nvnodes = = 3\n");
    assert_eq!(err.line_column.map(|(line, _)| line), Some(2), "{err}");
}

#[test]
fn engine_errors_are_named_in_the_engine_section() {
    let err = parse_error("[engine]\nblock_bytes = 10\n");
    assert_eq!(err.field, "engine.block_bytes");
    assert_eq!(err.line_column, Some((2, 1)));
    assert_eq!(err.reason, "must be 512 B to 1 MiB, got 10");
    let err =
        parse_error("[engine]\ncommitlog_sync = \"periodic\"\ncommitlog_sync_interval_ms = 0\n");
    assert_eq!(err.field, "engine.commitlog_sync_interval_ms");
}

#[test]
fn engine_section_maps_onto_engine_config() {
    let text = "[engine]\nmemtable_bytes = 1048576\nmemtables_total_bytes = 4194304\n\
                compression = \"none\"\ncommitlog_sync = \"periodic\"\n\
                commitlog_sync_interval_ms = 25\n";
    let engine = NodeConfig::from_toml_str(text).unwrap().engine_config();
    let expected = EngineConfig::default()
        .memtable_bytes(1 << 20)
        .memtables_total_bytes(4 << 20)
        .block_cache_bytes(128 << 20)
        .compression(BlockCompression::None)
        .commitlog_sync(CommitLogSync::Periodic { interval_ms: 25 });
    assert_eq!(engine, expected);
}

#[test]
fn addresses_resolve_from_the_listen_host() {
    let config =
        NodeConfig::from_toml_str("[node]\nlisten = \"10.1.2.3:9000\"\nshard_port_base = 0\n")
            .unwrap();
    assert_eq!(config.listen_addr(), addr("10.1.2.3:9000"));
    assert_eq!(config.shard_addr(0), Some(addr("10.1.2.3:9001")));
    assert_eq!(config.shard_addr(3), Some(addr("10.1.2.3:9004")));
    assert_eq!(config.shard_addr(70_000), None);
    assert_eq!(config.http_addr(), addr("10.1.2.3:7480"));
    assert_eq!(config.internode_addr(), addr("10.1.2.3:7470"));
    assert_eq!(config.node_id(), "10.1.2.3:9000");

    let defaults = NodeConfig::default();
    assert_eq!(defaults.shard_addr(1), Some(addr("127.0.0.1:7402")));
    let text = "[node]\nhttp = \"0.0.0.0:8080\"\ninternode = \"127.0.0.1:9999\"\nnode_id = \"a\"\n";
    let config = NodeConfig::from_toml_str(text).unwrap();
    assert_eq!(config.http_addr(), addr("0.0.0.0:8080"));
    assert_eq!(config.internode_addr(), addr("127.0.0.1:9999"));
    assert_eq!(config.node_id(), "a");
}

#[test]
fn colliding_addresses_are_refused() {
    let err = parse_error("[node]\nhttp = \"127.0.0.1:7400\"\n");
    assert_eq!(err.field, "node.http");
    assert_eq!(err.reason, "127.0.0.1:7400 is also node.listen");
    let err = parse_error("[node]\ninternode = \"0.0.0.0:7480\"\n");
    assert_eq!(err.field, "node.internode");
    let err = parse_error("[node]\nhttp = \"127.0.0.1:7403\"\n[shards]\ncount = 4\n");
    assert_eq!(err.field, "node.http", "{err}");
    let err = parse_error("[node]\nshard_port_base = 65530\n[shards]\ncount = 8\n");
    assert_eq!(err.field, "node.shard_port_base", "{err}");
}

#[test]
fn node_keys_are_checked() {
    let err = parse_error("[node]\nlisten = \"0.0.0.0:7400\"\n");
    assert_eq!(err.field, "node.node_id");
    NodeConfig::from_toml_str("[node]\nlisten = \"0.0.0.0:7400\"\nnode_id = \"n1\"\n").unwrap();
    let err = parse_error("[node]\nseeds = [\"10.0.0.1:7470\", \"10.0.0.2\"]\n");
    assert_eq!(err.field, "node.seeds[1]");
    assert_eq!(err.reason, r#"must be host:port, got "10.0.0.2""#);
    let err = parse_error("[node]\nvnodes = 0\n");
    assert_eq!(err.to_string(), "config line 2, column 1: node.vnodes: must be at least 1, got 0");
    let err = parse_error("[cluster]\nphi_threshold = 0.5\n");
    assert_eq!(err.field, "cluster.phi_threshold");
    let err = parse_error("[limits]\nitem_bytes_max = 4194304\n");
    assert_eq!(err.field, "limits.item_bytes_max");
}

#[test]
fn dynamodb_keys_are_checked() {
    let default = NodeConfig::default();
    assert_eq!(default.dynamodb_addr(), Some("127.0.0.1:8000".parse().unwrap()));
    let off = NodeConfig::from_toml_str("[dynamodb]\nlisten = \"off\"\n").unwrap();
    assert_eq!(off.dynamodb_addr(), None);
    let err = parse_error("[dynamodb]\nlisten = \"nowhere\"\n");
    assert_eq!(err.field, "dynamodb.listen");
    let err = parse_error("[dynamodb]\nlisten = \"127.0.0.1:7400\"\n");
    assert_eq!(err.field, "dynamodb.listen", "collides with node.listen");
    let err = parse_error("[dynamodb]\nauth = \"keys\"\n");
    assert_eq!(err.field, "dynamodb.access_keys");
    let keys = NodeConfig::from_toml_str(
        "[dynamodb]\nauth = \"keys\"\naccess_keys = [{ id = \"a\", secret = \"b\" }]\n",
    )
    .unwrap();
    assert_eq!(keys.dynamodb.access_keys.len(), 1);
    let err = parse_error("[dynamodb]\nauth = \"open\"\n");
    assert!(err.to_string().contains("dynamodb"), "{err}");
}

#[test]
fn shard_count_and_pinning() {
    let none = NodeConfig::default();
    assert_eq!((none.shard_count(0), none.shard_count(8)), (1, 8));
    assert_eq!(none.cpu_for_shard(0), None);

    let listed = NodeConfig::from_toml_str("[shards]\npin = [2, 4, 6]\n").unwrap();
    assert_eq!(listed.shards.pin, CpuPin::Cpus(vec![2, 4, 6]));
    assert_eq!(listed.shard_count(64), 3);
    assert_eq!(listed.cpu_for_shard(1), Some(4));
    assert_eq!(listed.cpu_for_shard(3), None);

    let auto = NodeConfig::from_toml_str("[shards]\ncount = 4\npin = \"auto\"\n").unwrap();
    assert_eq!((auto.shard_count(64), auto.cpu_for_shard(3)), (4, Some(3)));

    let err = parse_error("[shards]\ncount = 2\npin = [0, 1, 2]\n");
    assert_eq!(err.field, "shards.pin");
    let err = parse_error("[shards]\npin = [0, 0]\n");
    assert_eq!(err.field, "shards.pin");
    let err = parse_error("[shards]\npin = []\n");
    assert_eq!(err.field, "shards.pin");
}
