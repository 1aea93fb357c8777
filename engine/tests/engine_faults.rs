//! Disk faults and corruption, on the memory disk: flipped bits in SSTables and the commit
//! log are detected (never returned as data), a failed fdatasync stops writes for good, a full
//! disk is an error that loses nothing, and a power cut keeps every acknowledged write.
#![allow(clippy::unwrap_used)]

mod harness;

use std::cell::RefCell;
use std::rc::Rc;

use harness::{
    doc, env_usize, items_updated_in_a_second_file, key, read_trigger_budget, World, TABLE,
};
use shoal_engine::io::{FaultOp, OpenMode};
use shoal_engine::manifest::sstable_path;
use shoal_engine::runtime::{run_test, spawn, Queue};
use shoal_engine::types::Row;
use shoal_engine::Error;

async fn write_n(engine: &shoal_engine::Engine, from: u64, count: u64) {
    for i in from..from + count {
        let k = key(&format!("p{}", i % 5), Some(&format!("{i:08}")));
        engine.write(TABLE, &k, Row::put_item(i + 1, doc(&[("v", i as i64)]), 0)).await.unwrap();
    }
}

#[test]
fn a_flipped_bit_in_an_sstable_block_is_a_checksum_error() {
    run_test(|| async {
        let world = World::memory();
        let engine = world.open().await;
        write_n(&engine, 0, 50).await;
        engine.flush().await.unwrap();
        let id = engine.table_files(TABLE).unwrap()[0].id;
        let path = sstable_path(world.dir(), id);
        engine.close().await.unwrap();
        // Byte 10 lies in the first data block.
        world.disk.as_memory().unwrap().flip_bit(&path, 10);
        let engine = world.open().await;
        let mut errors = 0;
        for i in 0..50_u64 {
            let k = key(&format!("p{}", i % 5), Some(&format!("{i:08}")));
            match engine.get(TABLE, &k).await {
                Ok(Some(got)) => assert_eq!(got, doc(&[("v", i as i64)]), "never wrong data"),
                Ok(None) => panic!("item {i} vanished instead of failing"),
                Err(Error::ChecksumMismatch { path: bad, offset, .. }) => {
                    assert_eq!(bad, path);
                    assert_eq!(offset, 0, "names the block's offset");
                    errors += 1;
                }
                Err(other) => panic!("unexpected error {other}"),
            }
        }
        assert!(errors > 0, "the corrupt block was read and detected");
    });
}

#[test]
fn a_flipped_bit_in_the_commit_log_is_detected_and_never_replayed() {
    run_test(|| async {
        let world = World::memory();
        let engine = world.open().await;
        write_n(&engine, 0, 20).await;
        engine.close().await.unwrap();
        let mem = world.disk.as_memory().unwrap().clone();
        let log_dir = world.dir().join("commitlog");
        // The last segment holding records (a segment prepared ahead holds only zeros).
        let mut path = None;
        for name in world.disk.list(&log_dir).await.unwrap() {
            if !name.ends_with(".log") {
                continue;
            }
            let candidate = log_dir.join(&name);
            let file = world.disk.open(&candidate, OpenMode::ReadOnly).await.unwrap();
            if file.read_at(0, 8).await.unwrap().iter().any(|b| *b != 0) {
                path = Some(candidate);
            }
        }
        let path = path.expect("a segment holds the records");
        // Inside the 10th record or so: everything from there on is a torn tail.
        mem.flip_bit(&path, 300);
        let (engine, report) = shoal_engine::Engine::open(
            world.disk.clone(),
            world.dir(),
            world.config.clone(),
            world.clock.clone(),
        )
        .await
        .unwrap();
        let (torn, offset) = report.torn_tail.expect("the flipped bit is reported");
        assert_eq!(torn, path);
        assert!(offset <= 300, "cut at or before the damage: {offset}");
        assert!(report.replayed_records < 20, "records after the damage are not replayed");
        for i in 0..report.replayed_records {
            let k = key(&format!("p{}", i % 5), Some(&format!("{i:08}")));
            assert_eq!(engine.get(TABLE, &k).await.unwrap(), Some(doc(&[("v", i as i64)])));
        }
    });
}

#[test]
fn a_failed_fdatasync_stops_writes_but_not_reads() {
    run_test(|| async {
        let world = World::memory();
        let engine = world.open().await;
        write_n(&engine, 0, 10).await;
        world.disk.as_memory().unwrap().fail_after(FaultOp::Sync, 0);
        let k = key("p0", Some("late"));
        let err =
            engine.write(TABLE, &k, Row::put_item(99, doc(&[("v", 1)]), 0)).await.unwrap_err();
        assert!(matches!(err, Error::WritesStopped { .. }), "{err}");
        // The disk works again, but the engine does not pretend the lost sync succeeded.
        let again =
            engine.write(TABLE, &k, Row::put_item(100, doc(&[("v", 1)]), 0)).await.unwrap_err();
        assert!(matches!(again, Error::WritesStopped { .. }), "{again}");
        assert!(engine.failure().unwrap().contains("fdatasync"));
        let k0 = key("p0", Some("00000000"));
        assert_eq!(engine.get(TABLE, &k0).await.unwrap(), Some(doc(&[("v", 0)])));
    });
}

#[test]
fn a_full_disk_is_an_error_and_loses_nothing_acknowledged() {
    run_test(|| async {
        let world = World::memory();
        let engine = world.open().await;
        let mem = world.disk.as_memory().unwrap().clone();
        write_n(&engine, 0, 30).await;
        mem.set_capacity(Some(mem.used_bytes()));
        let mut acknowledged = 30;
        let mut failed = None;
        for i in 30..5000_u64 {
            let k = key(&format!("p{}", i % 5), Some(&format!("{i:08}")));
            match engine.write(TABLE, &k, Row::put_item(i + 1, doc(&[("v", i as i64)]), 0)).await {
                Ok(()) => acknowledged += 1,
                Err(error) => {
                    failed = Some(error);
                    break;
                }
            }
        }
        let failed = failed.expect("the disk filled up");
        assert!(failed.to_string().contains("disk full"), "{failed}");
        engine.close().await.ok();
        mem.power_cut();
        let engine = world.open().await;
        for i in 0..acknowledged {
            let k = key(&format!("p{}", i % 5), Some(&format!("{i:08}")));
            assert_eq!(
                engine.get(TABLE, &k).await.unwrap(),
                Some(doc(&[("v", i as i64)])),
                "write {i}"
            );
        }
    });
}

#[test]
fn a_power_cut_during_concurrent_writes_keeps_every_acknowledged_write() {
    let writers = 16;
    let per_writer = env_usize("SHOAL_TEST_SCALE", 3000) as u64 / 16;
    run_test(move || async move {
        let world = World::memory();
        let engine = world.open().await;
        let acked = Rc::new(RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for w in 0..writers {
            let (engine, acked) = (engine.clone(), acked.clone());
            tasks.push(spawn(Queue::Foreground, async move {
                for n in 0..per_writer {
                    let i = w * 1_000_000 + n;
                    let k = key(&format!("p{}", i % 7), Some(&format!("{i:08}")));
                    if engine
                        .write(TABLE, &k, Row::put_item(i + 1, doc(&[("v", i as i64)]), 0))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    acked.borrow_mut().push(i);
                }
            }));
        }
        // Cut power once a third of the writes are acknowledged, mid-flight.
        let target = (writers * per_writer / 3) as usize;
        while acked.borrow().len() < target {
            shoal_engine::runtime::sleep(std::time::Duration::from_micros(200)).await;
        }
        let mem = world.disk.as_memory().unwrap().clone();
        mem.set_dead(true);
        let snapshot: Vec<u64> = acked.borrow().clone();
        for task in tasks {
            task.join().await;
        }
        engine.close().await.ok();
        mem.power_cut();
        let engine = world.open().await;
        for i in snapshot {
            let k = key(&format!("p{}", i % 7), Some(&format!("{i:08}")));
            assert_eq!(
                engine.get(TABLE, &k).await.unwrap(),
                Some(doc(&[("v", i as i64)])),
                "write {i} lost"
            );
        }
    });
}

/// SSTable writes fail (the log's do not): flushes fail, memtables fill, and writers get
/// `FlushFailing` instead of hanging; once the disk recovers, flushes and writes resume and
/// nothing acknowledged is lost.
#[test]
fn failing_flushes_refuse_writes_then_recover() {
    run_test(|| async {
        let world = World::memory();
        let engine = world.open().await;
        let mem = world.disk.as_memory().unwrap().clone();
        mem.fail_writes_to(Some(".sst"));
        let mut acknowledged = 0_u64;
        let refused = loop {
            let i = acknowledged;
            let k = key(&format!("p{}", i % 5), Some(&format!("{i:08}")));
            match engine.write(TABLE, &k, Row::put_item(i + 1, doc(&[("v", i as i64)]), 0)).await {
                Ok(()) => acknowledged += 1,
                Err(error) => break error,
            }
            assert!(acknowledged < 100_000, "memtables are bounded, so writes must be refused");
        };
        assert!(matches!(refused, Error::FlushFailing { .. }), "{refused}");
        assert!(refused.to_string().contains("write_at"), "names the failure: {refused}");
        mem.fail_writes_to(None);
        // The flusher retries on its own; wait (with a deadline) until writes are taken again.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let k = key("p0", Some("after"));
        loop {
            match engine.write(TABLE, &k, Row::put_item(10_000_000, doc(&[("v", 1)]), 0)).await {
                Ok(()) => break,
                Err(Error::FlushFailing { .. }) if std::time::Instant::now() < deadline => {
                    shoal_engine::runtime::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(other) => panic!("writes did not resume: {other}"),
            }
        }
        engine.flush().await.unwrap();
        for i in 0..acknowledged {
            let k = key(&format!("p{}", i % 5), Some(&format!("{i:08}")));
            assert_eq!(engine.get(TABLE, &k).await.unwrap(), Some(doc(&[("v", i as i64)])));
        }
        engine.close().await.unwrap();
    });
}

#[test]
fn a_failed_read_triggered_merge_waits_for_reads_to_pay_for_it_again() {
    run_test(|| async {
        let world = World::memory();
        let engine = world.open().await;
        let mem = world.disk.as_memory().unwrap().clone();
        let k = items_updated_in_a_second_file(&engine, 100, 100).await;
        let budget = read_trigger_budget(&engine);
        let expected = |i: u64| Some(doc(&[("v", 1), ("w", i as i64)]));
        let read_the_budget = || async {
            for n in 0..budget {
                assert_eq!(engine.get(TABLE, &k(n % 100)).await.unwrap(), expected(n % 100));
            }
        };

        // SSTable writes fail: the merge the reads trigger fails, and is not tried again on
        // the reads that follow (compact_now finds no work, where a retry would fail again).
        mem.fail_writes_to(Some(".sst"));
        read_the_budget().await;
        engine.compact_now().await.unwrap();
        assert_eq!(engine.get(TABLE, &k(3)).await.unwrap(), expected(3));
        engine.compact_now().await.expect("no merge before reads pay for it again");
        assert_eq!(engine.table_files(TABLE).unwrap().len(), 2);
        assert!(
            engine.metrics().last_compaction_error.borrow().is_some(),
            "the failure is reported"
        );

        // The disk recovers; once reads have paid again, the merge runs.
        mem.clear_faults();
        read_the_budget().await;
        engine.compact_now().await.unwrap();
        assert_eq!(engine.table_files(TABLE).unwrap().len(), 1);
        for i in 0..100 {
            assert_eq!(engine.get(TABLE, &k(i)).await.unwrap(), expected(i));
        }
        engine.close().await.unwrap();
    });
}
