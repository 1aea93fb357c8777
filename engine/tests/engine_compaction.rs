//! Compaction's clean-up: shadowed versions, expired cells and old tombstones are dropped, and
//! nothing deleted comes back.
#![allow(clippy::unwrap_used)]

mod harness;

use harness::{doc, items_updated_in_a_second_file, key, read_trigger_budget, World, TABLE};
use shoal_engine::runtime::run_test;
use shoal_engine::types::Row;
use shoal_engine::{CompactionStrategy, TableOptions};

const SECOND_US: u64 = 1_000_000;

#[test]
fn compaction_purges_overwrites_expired_cells_and_old_tombstones() {
    run_test(|| async {
        let mut world = World::memory();
        world.config = world.config.clone().tombstone_grace_secs(60);
        let engine = world.open().await;
        let now_us = world.clock.now_micros();
        let k = |i: u64| key("p", Some(&format!("{i:04}")));
        // 100 items written three times each, in three files.
        for round in 0..3 {
            for i in 0..100 {
                let row = Row::put_item(now_us + round * 1000 + i, doc(&[("v", round as i64)]), 0);
                engine.write(TABLE, &k(i), row).await.unwrap();
            }
            engine.flush().await.unwrap();
        }
        // Items 0..20 deleted, 20..40 expire in 5 s.
        for i in 0..20 {
            engine.write(TABLE, &k(i), Row::delete_item(now_us + 10_000 + i)).await.unwrap();
        }
        let expires = world.clock.now_ms() + 5_000;
        for i in 20..40 {
            let row = Row::put_item(now_us + 10_000 + i, doc(&[("v", 9)]), expires);
            engine.write(TABLE, &k(i), row).await.unwrap();
        }
        engine.flush().await.unwrap();
        engine.compact_table_fully(TABLE).await.unwrap();
        let files = engine.table_files(TABLE).unwrap();
        assert_eq!(files.len(), 1, "a major compaction leaves one file");
        assert_eq!(files[0].entries, 100, "one version per item, tombstones kept within grace");

        // Within the grace period tombstones stay; the expired cells are not expired yet.
        assert_eq!(engine.get(TABLE, &k(25)).await.unwrap(), Some(doc(&[("v", 9)])));
        world.clock.advance_ms(6_000);
        assert_eq!(engine.get(TABLE, &k(25)).await.unwrap(), None, "expired on read");

        // Past the grace period, a compaction drops tombstones and expired cells entirely.
        world.clock.advance_ms(120_000);
        engine
            .write(TABLE, &k(999), Row::put_item(now_us + SECOND_US, doc(&[("v", 1)]), 0))
            .await
            .unwrap();
        engine.flush().await.unwrap();
        engine.compact_table_fully(TABLE).await.unwrap();
        let after = engine.table_files(TABLE).unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].entries, 61, "60 live items and the new one: the rest was purged");
        for i in 0..40 {
            assert_eq!(engine.get(TABLE, &k(i)).await.unwrap(), None, "item {i} stays gone");
        }
        for i in 40..100 {
            assert_eq!(engine.get(TABLE, &k(i)).await.unwrap(), Some(doc(&[("v", 2)])));
        }
        let metrics = engine.metrics();
        assert!(metrics.write_amplification() > 1.0);
        engine.close().await.unwrap();
    });
}

#[test]
fn leveled_tables_keep_levels_disjoint_and_data_intact() {
    run_test(|| async {
        let world = World::memory();
        let engine = world.open().await;
        engine.drop_table(TABLE).await.unwrap();
        let options = TableOptions { strategy: CompactionStrategy::Leveled };
        engine.create_table(TABLE, options).await.unwrap();
        let value = "x".repeat(300);
        for i in 0..3000_u64 {
            let k = key(&format!("p{}", i % 50), Some(&format!("{i:06}")));
            let row = Row::put_item(
                i + 1,
                [("v".to_string(), shoal_engine::types::Value::S(value.clone()))],
                0,
            );
            engine.write(TABLE, &k, row).await.unwrap();
        }
        engine.flush().await.unwrap();
        engine.compact_now().await.unwrap();
        let files = engine.table_files(TABLE).unwrap();
        assert!(files.iter().any(|f| f.level >= 1), "data reached level 1: {files:?}");
        assert!(
            files.iter().filter(|f| f.level == 0).count() < world.config.leveled_l0_trigger,
            "level 0 was drained"
        );
        for i in (0..3000_u64).step_by(13) {
            let k = key(&format!("p{}", i % 50), Some(&format!("{i:06}")));
            assert!(engine.get(TABLE, &k).await.unwrap().is_some(), "item {i}");
        }
        engine.close().await.unwrap();
    });
}

/// A tombstone past its grace period must survive a compaction that does not include the
/// older file holding the value it deletes; otherwise the value would come back.
#[test]
fn an_old_tombstone_is_kept_while_a_file_outside_the_compaction_may_hold_its_victim() {
    run_test(|| async {
        let mut world = World::memory();
        // Memtables large enough that only the explicit flushes below make files.
        world.config = world.config.clone().memtable_bytes(8 << 20).memtables_total_bytes(32 << 20);
        let engine = world.open().await;
        let k = |i: u64| key("p", Some(&format!("{i:05}")));
        // One big file (about 2 MiB of incompressible values) holding items 0..2000.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..2000 {
            let noise: String = (0..1024)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    char::from(b'a' + (seed % 26) as u8)
                })
                .collect();
            let v = shoal_engine::types::Value::S(noise);
            engine
                .write(TABLE, &k(i), Row::put_item(10 + i, [("v".to_string(), v)], 0))
                .await
                .unwrap();
        }
        engine.flush().await.unwrap();
        // Four small files; the first deletes item 5 (its tombstone is long past grace, as the
        // test's timestamps are tiny next to the clock).
        engine.write(TABLE, &k(5), Row::delete_item(100_000)).await.unwrap();
        for f in 0..4_u64 {
            let row = Row::put_item(200_000 + f, doc(&[("v", f as i64)]), 0);
            engine.write(TABLE, &k(50_000 + f), row).await.unwrap();
            engine.flush().await.unwrap();
        }
        // The compactor (started by the flushes) merges the four similar small files only.
        engine.compact_now().await.unwrap();
        let files = engine.table_files(TABLE).unwrap();
        assert_eq!(files.len(), 2, "the four small files merged, the big one alone: {files:?}");
        assert_eq!(engine.get(TABLE, &k(5)).await.unwrap(), None, "item 5 stays deleted");
        assert!(engine.get(TABLE, &k(6)).await.unwrap().is_some());
        // A full compaction sees both and may now drop tombstone and value together.
        engine.compact_table_fully(TABLE).await.unwrap();
        assert_eq!(engine.get(TABLE, &k(5)).await.unwrap(), None);
        assert_eq!(engine.table_files(TABLE).unwrap()[0].entries, 2000 - 1 + 4);
        engine.close().await.unwrap();
    });
}

#[test]
fn items_past_their_expiry_attribute_are_purged_and_later_writes_survive() {
    run_test(|| async {
        let mut world = World::memory();
        world.config = world.config.clone().tombstone_grace_secs(60);
        let engine = world.open().await;
        engine.set_expiry_attribute(TABLE, Some("expires_at".into())).unwrap();
        let now_us = world.clock.now_micros();
        let now_secs = (world.clock.now_ms() / 1000) as i64;
        let k = |i: u64| key("p", Some(&format!("{i:04}")));
        // 0..10 expired an hour ago, 10..20 expire in an hour, 20..30 carry a text value
        // (never expires), 30..40 have no expiry attribute.
        for i in 0..40u64 {
            let expiry = match i / 10 {
                0 => Some(harness_number(now_secs - 3600)),
                1 => Some(harness_number(now_secs + 3600)),
                2 => Some(shoal_engine::types::Value::S("soon".into())),
                _ => None,
            };
            let mut attrs = doc(&[("v", i as i64)]);
            if let Some(expiry) = expiry {
                attrs.insert("expires_at".into(), expiry);
            }
            engine.write(TABLE, &k(i), Row::put_item(now_us + i, attrs, 0)).await.unwrap();
        }
        engine.flush().await.unwrap();
        // Item 5 is put again after it expired: that write is a new item and survives.
        let rewrite = Row::put_item(now_us + 1000, doc(&[("v", 55)]), 0);
        engine.write(TABLE, &k(5), rewrite).await.unwrap();
        engine.flush().await.unwrap();
        engine.compact_table_fully(TABLE).await.unwrap();
        assert_eq!(engine.metrics().expired_items.get(), 9, "items 0..10 but 5 expired");
        for i in 0..10 {
            let got = engine.get(TABLE, &k(i)).await.unwrap();
            if i == 5 {
                assert_eq!(got, Some(doc(&[("v", 55)])), "the later write survives alone");
            } else {
                assert_eq!(got, None, "item {i} expired and was purged");
            }
        }
        for i in 10..40 {
            assert!(engine.get(TABLE, &k(i)).await.unwrap().is_some(), "item {i} is kept");
        }
        // Past the grace period the expired items leave no trace at all.
        world.clock.advance_ms(120_000);
        let extra = Row::put_item(now_us + 200 * SECOND_US, doc(&[("v", 1)]), 0);
        engine.write(TABLE, &k(999), extra).await.unwrap();
        engine.flush().await.unwrap();
        engine.compact_table_fully(TABLE).await.unwrap();
        let files = engine.table_files(TABLE).unwrap();
        assert_eq!(files.iter().map(|f| f.entries).sum::<u64>(), 32, "31 kept and one new");
        engine.close().await.unwrap();
    });
}

fn harness_number(v: i64) -> shoal_engine::types::Value {
    shoal_engine::types::Value::N(shoal_engine::types::Number::from(v))
}

#[test]
fn reads_of_items_in_two_files_merge_them_once_they_cost_more_than_the_merge() {
    run_test(|| async {
        let world = World::memory();
        let engine = world.open().await;
        // Items 0..100 have rows in both files; 100..200 only in the first.
        let k = items_updated_in_a_second_file(&engine, 200, 100).await;
        let budget = read_trigger_budget(&engine);
        let expected = |i: u64| Some(doc(&[("v", i64::from(i < 100)), ("w", i as i64)]));

        // Items in one file alone cost no extra probe, however often they are read.
        for _ in 0..3 {
            for i in 100..200 {
                assert_eq!(engine.get(TABLE, &k(i)).await.unwrap(), expected(i));
            }
        }
        engine.compact_now().await.unwrap();
        assert_eq!(engine.table_files(TABLE).unwrap().len(), 2, "no merge for single-file reads");

        // Each read of an updated item probes both files: one short of the budget, no merge.
        for n in 0..budget - 1 {
            assert_eq!(engine.get(TABLE, &k(n % 100)).await.unwrap(), expected(n % 100));
        }
        engine.compact_now().await.unwrap();
        assert_eq!(engine.table_files(TABLE).unwrap().len(), 2, "below the budget");
        // The read that reaches it merges the files, and nothing is lost.
        assert!(engine.get_encoded(TABLE, &k(7)).await.unwrap().is_some());
        engine.compact_now().await.unwrap();
        let merged = engine.table_files(TABLE).unwrap();
        assert_eq!(merged.len(), 1, "one file after the read-triggered merge");
        assert_eq!(merged[0].entries, 200);
        for i in 0..200 {
            assert_eq!(engine.get(TABLE, &k(i)).await.unwrap(), expected(i));
        }
        engine.close().await.unwrap();
    });
}
