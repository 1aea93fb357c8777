//! Shared helpers of the engine's scenario tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use shoal_engine::clock::Clock;
use shoal_engine::io::Disk;
use shoal_engine::types::{ItemKey, KeyValue, Value};
use shoal_engine::{Engine, EngineConfig, TableOptions};

/// The table every scenario uses.
pub const TABLE: u32 = 1;

/// A number from the environment, or `default` (test sizes come from here, so CI stays fast).
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A stable token for a partition key (tests do not need the node's hash).
pub fn token_of(partition: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(partition.as_bytes())
}

/// The key of item (`partition`, `sort`).
pub fn key(partition: &str, sort: Option<&str>) -> ItemKey {
    ItemKey {
        token: token_of(partition),
        partition: KeyValue::S(partition.to_string()),
        sort: sort.map(|s| KeyValue::S(s.to_string())),
    }
}

/// A one-attribute document.
pub fn doc(pairs: &[(&str, i64)]) -> BTreeMap<String, Value> {
    pairs.iter().map(|(k, v)| (k.to_string(), Value::N((*v).into()))).collect()
}

/// Which disk a scenario runs on.
#[derive(Clone)]
pub struct World {
    pub disk: Disk,
    pub dir: PathBuf,
    pub clock: Clock,
    pub config: EngineConfig,
    _tempdir: Option<std::sync::Arc<tempfile::TempDir>>,
}

impl World {
    pub fn memory() -> World {
        World {
            disk: Disk::memory(),
            dir: PathBuf::from("/mem/engine"),
            clock: Clock::manual(1_700_000_000_000),
            config: EngineConfig::for_tests(),
            _tempdir: None,
        }
    }

    pub fn glommio() -> World {
        let tempdir = tempfile::tempdir().unwrap();
        World {
            disk: Disk::glommio(),
            dir: tempdir.path().join("engine"),
            clock: Clock::manual(1_700_000_000_000),
            config: EngineConfig::for_tests(),
            _tempdir: Some(std::sync::Arc::new(tempdir)),
        }
    }

    /// The real disk at a directory the caller owns (the crash test's child and parent).
    pub fn glommio_at(dir: PathBuf) -> World {
        World {
            disk: Disk::glommio(),
            dir,
            clock: Clock::System,
            config: EngineConfig::for_tests(),
            _tempdir: None,
        }
    }

    pub async fn open(&self) -> Engine {
        let (engine, _) =
            Engine::open(self.disk.clone(), &self.dir, self.config.clone(), self.clock.clone())
                .await
                .unwrap();
        if !engine.tables().contains(&TABLE) {
            engine.create_table(TABLE, TableOptions::default()).await.unwrap();
        }
        engine
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Items ("p", "0000") onwards: `count` put with `v` = 0 and `w` = i, flushed, then the first
/// `updated` of them set to `v` = 1 and flushed again, so that those have a row in both of the
/// table's files, as hot items updated since their last compaction do. Returns the key of
/// item i.
pub async fn items_updated_in_a_second_file(
    engine: &Engine,
    count: u64,
    updated: u64,
) -> impl Fn(u64) -> ItemKey {
    use shoal_engine::types::Row;
    let k = |i: u64| key("p", Some(&format!("{i:04}")));
    for i in 0..count {
        let row = Row::put_item(i + 1, doc(&[("v", 0), ("w", i as i64)]), 0);
        engine.write(TABLE, &k(i), row).await.unwrap();
    }
    engine.flush().await.unwrap();
    for i in 0..updated {
        let row = Row::set_attrs(count + 1 + i, doc(&[("v", 1)]), 0);
        engine.write(TABLE, &k(i), row).await.unwrap();
    }
    engine.flush().await.unwrap();
    assert_eq!(engine.table_files(TABLE).unwrap().len(), 2, "one file per flush");
    k
}

/// Extra SSTable probes a table's files take before reads trigger a merge of them.
pub fn read_trigger_budget(engine: &Engine) -> u64 {
    let bytes: u64 = engine.table_files(TABLE).unwrap().iter().map(|f| f.file_bytes).sum();
    bytes / shoal_engine::compaction::READ_TRIGGER_BYTES_PER_PROBE
}
