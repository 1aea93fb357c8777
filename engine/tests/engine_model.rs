//! Model-based test: random sequences of put / update / delete / partition delete / get / scan /
//! flush / compact / reopen (with a power cut) / clock moves, against a `BTreeMap` model, on
//! both disks. Every answer must match the model.
#![allow(clippy::unwrap_used)]

mod harness;

use std::collections::BTreeMap;
use std::ops::Bound;

use harness::{env_usize, key, World, TABLE};
use proptest::prelude::*;
use shoal_engine::runtime::run_test;
use shoal_engine::types::key::{partition_items_prefix, prefix_successor};
use shoal_engine::types::{ItemKey, Row, Value};
use shoal_engine::{CompactionStrategy, Engine, ScanRange, TableOptions};

const PARTITIONS: [&str; 3] = ["p0", "p1", "p2"];
const SORTS: [&str; 5] = ["a", "b", "c", "d", "e"];
const ATTRS: [&str; 3] = ["x", "y", "z"];

#[derive(Clone, Debug)]
enum Op {
    Put { p: usize, s: usize, attrs: Vec<(usize, i64)>, ttl_ms: Option<u64> },
    Update { p: usize, s: usize, attr: usize, value: i64 },
    Remove { p: usize, s: usize, attr: usize },
    Delete { p: usize, s: usize },
    DeletePartition { p: usize },
    Get { p: usize, s: usize },
    Scan { p: usize, reverse: bool, limit: usize },
    Flush,
    Compact,
    Reopen,
    Advance { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..PARTITIONS.len();
    let s = 0..SORTS.len();
    let attrs = prop::collection::vec((0..ATTRS.len(), -5_i64..5), 0..3);
    prop_oneof![
        6 => (p.clone(), s.clone(), attrs, prop::option::weighted(0.2, 1_u64..50))
            .prop_map(|(p, s, attrs, ttl_ms)| Op::Put { p, s, attrs, ttl_ms }),
        3 => (p.clone(), s.clone(), 0..ATTRS.len(), -5_i64..5)
            .prop_map(|(p, s, attr, value)| Op::Update { p, s, attr, value }),
        1 => (p.clone(), s.clone(), 0..ATTRS.len()).prop_map(|(p, s, attr)| Op::Remove { p, s, attr }),
        2 => (p.clone(), s.clone()).prop_map(|(p, s)| Op::Delete { p, s }),
        1 => p.clone().prop_map(|p| Op::DeletePartition { p }),
        4 => (p.clone(), s.clone()).prop_map(|(p, s)| Op::Get { p, s }),
        2 => (p, any::<bool>(), 1_usize..7).prop_map(|(p, reverse, limit)| Op::Scan { p, reverse, limit }),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        1 => (1_u64..40).prop_map(|ms| Op::Advance { ms }),
    ]
}

/// Attribute → (value, expiry ms; 0 = never).
type ModelItem = BTreeMap<String, (Value, u64)>;

#[derive(Default)]
struct Model {
    items: BTreeMap<ItemKey, ModelItem>,
}

impl Model {
    fn live(&self, key: &ItemKey, now_ms: u64) -> Option<BTreeMap<String, Value>> {
        let item = self.items.get(key)?;
        let live: BTreeMap<_, _> = item
            .iter()
            .filter(|(_, (_, exp))| *exp == 0 || *exp > now_ms)
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect();
        (!live.is_empty()).then_some(live)
    }
}

fn n(v: i64) -> Value {
    Value::N(v.into())
}

async fn apply(engine: &mut Engine, world: &World, model: &mut Model, ts: &mut u64, op: &Op) {
    *ts += 10;
    let now_ms = world.clock.now_ms();
    match op {
        Op::Put { p, s, attrs, ttl_ms } => {
            let k = key(PARTITIONS[*p], Some(SORTS[*s]));
            let expiry = ttl_ms.map_or(0, |t| now_ms + t);
            let doc: BTreeMap<String, Value> =
                attrs.iter().map(|(a, v)| (ATTRS[*a].to_string(), n(*v))).collect();
            engine.write(TABLE, &k, Row::put_item(*ts, doc.clone(), expiry)).await.unwrap();
            model.items.insert(k, doc.into_iter().map(|(a, v)| (a, (v, expiry))).collect());
        }
        Op::Update { p, s, attr, value } => {
            let k = key(PARTITIONS[*p], Some(SORTS[*s]));
            let set = [(ATTRS[*attr].to_string(), n(*value))];
            engine.write(TABLE, &k, Row::set_attrs(*ts, set.clone(), 0)).await.unwrap();
            model.items.entry(k).or_default().insert(set[0].0.clone(), (set[0].1.clone(), 0));
        }
        Op::Remove { p, s, attr } => {
            let k = key(PARTITIONS[*p], Some(SORTS[*s]));
            engine
                .write(TABLE, &k, Row::remove_attrs(*ts, [ATTRS[*attr].to_string()]))
                .await
                .unwrap();
            if let Some(item) = model.items.get_mut(&k) {
                item.remove(ATTRS[*attr]);
            }
        }
        Op::Delete { p, s } => {
            let k = key(PARTITIONS[*p], Some(SORTS[*s]));
            engine.write(TABLE, &k, Row::delete_item(*ts)).await.unwrap();
            model.items.remove(&k);
        }
        Op::DeletePartition { p } => {
            let k = key(PARTITIONS[*p], None);
            engine.delete_partition(TABLE, k.token, &k.partition, *ts).await.unwrap();
            model.items.retain(|item, _| item.partition != k.partition);
        }
        Op::Get { p, s } => {
            let k = key(PARTITIONS[*p], Some(SORTS[*s]));
            let got = engine.get(TABLE, &k).await.unwrap();
            assert_eq!(got, model.live(&k, now_ms), "get {k:?}");
            // The encoded read (transcoded when one SSTable holds the row) says the same.
            let encoded = engine.get_encoded(TABLE, &k).await.unwrap();
            let expected = model.live(&k, now_ms).map(|attributes| {
                let mut out = Vec::new();
                shoal_types::value::encode_item_map(&attributes, &mut out);
                out
            });
            assert_eq!(encoded, expected, "get_encoded {k:?}");
        }
        Op::Scan { p, reverse, limit } => {
            check_scan(engine, model, now_ms, *p, *reverse, *limit).await
        }
        Op::Flush => engine.flush().await.unwrap(),
        Op::Compact => {
            engine.flush().await.unwrap();
            engine.compact_table_fully(TABLE).await.unwrap();
        }
        Op::Reopen => {
            engine.clone().close().await.unwrap();
            // A power cut on the memory disk: only fdatasynced bytes survive, and every
            // acknowledged write must be among them.
            if let Some(mem) = world.disk.as_memory() {
                mem.power_cut();
            }
            *engine = world.open().await;
        }
        Op::Advance { ms } => world.clock.advance_ms(*ms),
    }
}

/// Pages through one partition with `limit`-item pages and compares with the model.
async fn check_scan(
    engine: &Engine,
    model: &Model,
    now_ms: u64,
    p: usize,
    reverse: bool,
    limit: usize,
) {
    let pk = key(PARTITIONS[p], None);
    let prefix = partition_items_prefix(pk.token, &pk.partition);
    let (mut lower, mut upper) =
        (Bound::Included(prefix.clone()), Bound::Excluded(prefix_successor(&prefix).unwrap()));
    let mut got = Vec::new();
    loop {
        let range = ScanRange { lower: lower.clone(), upper: upper.clone(), reverse, limit };
        let page = engine.scan(TABLE, &range).await.unwrap();
        assert!(page.items.len() <= limit);
        got.extend(page.items);
        match page.resume_after {
            Some(resume) if reverse => upper = Bound::Excluded(resume),
            Some(resume) => lower = Bound::Excluded(resume),
            None => break,
        }
    }
    let mut want: Vec<_> = model
        .items
        .keys()
        .filter(|k| k.partition == pk.partition)
        .filter_map(|k| model.live(k, now_ms).map(|attrs| (k.clone(), attrs)))
        .collect();
    if reverse {
        want.reverse();
    }
    assert_eq!(got, want, "scan of {} reverse={reverse}", PARTITIONS[p]);
}

fn run_ops(make_world: fn() -> World, ops: Vec<Op>, strategy: CompactionStrategy) {
    run_test(move || async move {
        let world = make_world();
        let mut engine = world.open().await;
        engine.drop_table(TABLE).await.unwrap();
        engine.create_table(TABLE, TableOptions { strategy }).await.unwrap();
        let mut model = Model::default();
        let mut ts = 1_000;
        for op in &ops {
            apply(&mut engine, &world, &mut model, &mut ts, op).await;
        }
        for p in 0..PARTITIONS.len() {
            check_scan(&engine, &model, world.clock.now_ms(), p, false, 100).await;
        }
        engine.close().await.unwrap();
    });
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(env_usize("SHOAL_PROPTEST_CASES", 24) as u32)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn memory_disk_size_tiered_matches_model(ops in prop::collection::vec(op(), 1..120)) {
        run_ops(World::memory, ops, CompactionStrategy::SizeTiered);
    }

    #[test]
    fn memory_disk_leveled_matches_model(ops in prop::collection::vec(op(), 1..120)) {
        run_ops(World::memory, ops, CompactionStrategy::Leveled);
    }

    #[test]
    fn glommio_disk_matches_model(ops in prop::collection::vec(op(), 1..80)) {
        run_ops(World::glommio, ops, CompactionStrategy::SizeTiered);
    }
}

/// Enough writes to pass the tiny test memtable many times: automatic flushes and
/// compactions run in the background while the model is checked.
#[test]
fn background_flush_and_compaction_keep_every_write() {
    let count = env_usize("SHOAL_TEST_SCALE", 3000);
    for make_world in [World::memory as fn() -> World, World::glommio] {
        run_test(move || async move {
            let world = make_world();
            let engine = world.open().await;
            let big = "v".repeat(100);
            for i in 0..count {
                let k = key(&format!("p{}", i % 37), Some(&format!("s{i:06}")));
                let doc = [("v".to_string(), Value::S(format!("{big}{i}")))];
                engine.write(TABLE, &k, Row::put_item(10 + i as u64, doc, 0)).await.unwrap();
            }
            engine.flush().await.unwrap();
            engine.compact_now().await.unwrap();
            let metrics = engine.metrics();
            assert!(metrics.flushes.get() > 3, "tiny memtables flushed often");
            assert!(metrics.compactions.get() >= 1, "size-tiered compaction ran");
            for i in (0..count).step_by(7) {
                let k = key(&format!("p{}", i % 37), Some(&format!("s{i:06}")));
                let got = engine.get(TABLE, &k).await.unwrap().expect("written");
                assert_eq!(got["v"], Value::S(format!("{big}{i}")));
            }
            engine.close().await.unwrap();
            let engine = world.open().await;
            let k = key("p0", Some("s000000"));
            assert!(engine.get(TABLE, &k).await.unwrap().is_some(), "survives reopen");
            engine.close().await.unwrap();
        });
    }
}
