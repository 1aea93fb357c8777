//! Staged writes (`Engine::stage_write`): placed in the commit log, shown by `staged_row`
//! to read-modify-writes, invisible to reads until `finish`, gone from `staged_row` once
//! finished or dropped, and durable in log order.
#![allow(clippy::unwrap_used)]

mod harness;

use harness::{key, World, TABLE};
use shoal_engine::runtime::run_test;
use shoal_engine::types::{Row, Value};

fn set(ts: u64, name: &str, value: i64) -> Row {
    Row::set_attrs(ts, [(name.to_string(), Value::N(value.into()))], 0)
}

fn on_both(body: fn(World) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>) {
    run_test(move || body(World::memory()));
    run_test(move || body(World::glommio()));
}

#[test]
fn staged_writes_show_in_staged_row_only_until_they_finish() {
    on_both(|world| {
        Box::pin(async move {
            let engine = world.open().await;
            let item = key("p", Some("s"));
            let other = key("p", Some("t"));
            // A decision and the one after it, the second staged before the first is durable.
            let first = engine.stage_write(TABLE, &item, set(10, "a", 1)).await.unwrap();
            let second = engine.stage_write(TABLE, &item, set(11, "b", 2)).await.unwrap();
            assert_eq!(
                engine.staged_row(TABLE, &item),
                Some(Row::merge(set(10, "a", 1), set(11, "b", 2))),
                "the next decision sees both"
            );
            assert_eq!(engine.staged_row(TABLE, &other), None, "only the staged key");
            assert_eq!(engine.get_row(TABLE, &item).await.unwrap(), None, "reads wait for finish");

            let (a, b) = futures_lite::future::zip(first.finish(), second.finish()).await;
            a.unwrap();
            b.unwrap();
            assert_eq!(
                engine.get_row(TABLE, &item).await.unwrap(),
                Some(Row::merge(set(10, "a", 1), set(11, "b", 2)))
            );
            assert_eq!(engine.staged_row(TABLE, &item), None, "finished writes leave it");
            engine.close().await.unwrap();

            // Both were durable: they come back from the log.
            let engine = world.open().await;
            assert_eq!(
                engine.get_row(TABLE, &item).await.unwrap(),
                Some(Row::merge(set(10, "a", 1), set(11, "b", 2)))
            );
            engine.close().await.unwrap();
        })
    });
}

#[test]
fn a_dropped_staged_write_leaves_staged_row_and_its_record_stays_in_the_log() {
    on_both(|world| {
        Box::pin(async move {
            let engine = world.open().await;
            let item = key("q", None);
            let kept = engine.stage_write(TABLE, &item, set(5, "a", 1)).await.unwrap();
            let dropped = engine.stage_write(TABLE, &item, set(6, "b", 2)).await.unwrap();
            drop(dropped);
            assert_eq!(
                engine.staged_row(TABLE, &item),
                Some(Row::merge(set(5, "a", 1), set(6, "b", 2)))
            );
            kept.finish().await.unwrap();
            assert_eq!(engine.staged_row(TABLE, &item), None);
            // Not applied here, as the caller never finished it; the log still holds it.
            assert_eq!(engine.get_row(TABLE, &item).await.unwrap(), Some(set(5, "a", 1)));
            // Later writes go on (the dropped write released its hold on the log).
            engine.write(TABLE, &item, set(7, "c", 3)).await.unwrap();
            engine.close().await.unwrap();

            let engine = world.open().await;
            let expected = Row::merge(Row::merge(set(5, "a", 1), set(6, "b", 2)), set(7, "c", 3));
            assert_eq!(engine.get_row(TABLE, &item).await.unwrap(), Some(expected), "replayed");
            engine.close().await.unwrap();
        })
    });
}

/// The value of attribute "n" in a row (0 if absent).
fn count_of(row: Option<&Row>) -> i64 {
    let value = row.and_then(|r| r.live_attributes(0)).and_then(|mut a| a.remove("n"));
    match value {
        Some(Value::N(n)) => n.to_string().parse().unwrap(),
        _ => 0,
    }
}

#[test]
fn increments_decided_under_a_lock_lose_nothing_and_share_fdatasyncs() {
    on_both(|world| {
        Box::pin(async move {
            let engine = world.open().await;
            let counter = key("counter", None);
            let lock = std::rc::Rc::new(shoal_engine::runtime::AsyncLock::default());
            let (tasks, per_task) = (16, 20);
            let flushes_before = engine.log_stats().flushes;
            let mut running = Vec::new();
            for _ in 0..tasks {
                let (engine, lock, counter) = (engine.clone(), lock.clone(), counter.clone());
                running.push(shoal_engine::runtime::spawn(
                    shoal_engine::runtime::Queue::Foreground,
                    async move {
                        for _ in 0..per_task {
                            // The server's read-modify-write: decide under the lock on the
                            // stored row with the staged writes on top, stage, unlock, finish.
                            let guard = lock.lock().await;
                            // Staged rows first: one finishing during the read leaves them.
                            let staged = engine.staged_row(TABLE, &counter);
                            let mut row = engine.get_row(TABLE, &counter).await.unwrap();
                            if let Some(staged) = staged {
                                row = Some(row.map_or(staged.clone(), |r| Row::merge(r, staged)));
                            }
                            let ts = row.as_ref().and_then(Row::max_ts).unwrap_or(0) + 1;
                            let next = count_of(row.as_ref()) + 1;
                            let staged = engine.stage_write(TABLE, &counter, set(ts, "n", next));
                            let staged = staged.await.unwrap();
                            drop(guard);
                            staged.finish().await.unwrap();
                        }
                    },
                ));
            }
            for task in running {
                task.join().await.unwrap();
            }
            let total = (tasks * per_task) as i64;
            let row = engine.get_row(TABLE, &counter).await.unwrap();
            assert_eq!(count_of(row.as_ref()), total, "no increment lost");
            let flushes = engine.log_stats().flushes - flushes_before;
            // Holding the lock through each fdatasync would take one flush per increment.
            assert!(
                flushes * 4 <= total as u64,
                "{total} increments took {flushes} flushes: decisions did not share them"
            );
            engine.close().await.unwrap();
        })
    });
}
