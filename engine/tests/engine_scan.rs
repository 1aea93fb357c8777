//! Scans page through tombstone-heavy ranges instead of materialising them.
#![allow(clippy::unwrap_used)]

mod harness;

use std::ops::Bound;

use harness::{doc, env_usize, key, World, TABLE};
use shoal_engine::query::SCAN_EXAMINED_MAX;
use shoal_engine::runtime::run_test;
use shoal_engine::types::key::{partition_items_prefix, prefix_successor};
use shoal_engine::types::Row;
use shoal_engine::ScanRange;

#[test]
fn a_partition_of_tombstones_is_read_page_by_page() {
    let rows = env_usize("SHOAL_TEST_SCALE", 3000).max(3 * SCAN_EXAMINED_MAX) as u64;
    run_test(move || async move {
        let world = World::memory();
        let engine = world.open().await;
        let k = |i: u64| key("big", Some(&format!("{i:08}")));
        // Timestamps of "now": the tombstones stay within their grace period, so compactions
        // (which run as the tiny test memtables flush) must keep them.
        let now = world.clock.now_micros();
        for i in 0..rows {
            let row = Row::put_item(now + i, doc(&[("v", i as i64)]), 0);
            engine.write(TABLE, &k(i), row).await.unwrap();
        }
        // Delete all but every 1000th row after a flush, so the tombstones and the values they
        // shadow start in different sources.
        engine.flush().await.unwrap();
        for i in (0..rows).filter(|i| i % 1000 != 0) {
            engine.write(TABLE, &k(i), Row::delete_item(now + rows + i)).await.unwrap();
        }
        let pk = key("big", None);
        let prefix = partition_items_prefix(pk.token, &pk.partition);
        let upper = Bound::Excluded(prefix_successor(&prefix).unwrap());
        let mut range =
            ScanRange { lower: Bound::Included(prefix), upper, reverse: false, limit: 50 };
        let (mut pages, mut found) = (0, Vec::new());
        loop {
            let page = engine.scan(TABLE, &range).await.unwrap();
            pages += 1;
            found.extend(page.items.iter().map(|(item, _)| item.clone()));
            match page.resume_after {
                Some(resume) => range.lower = Bound::Excluded(resume),
                None => break,
            }
        }
        let want: Vec<_> = (0..rows).filter(|i| i % 1000 == 0).map(k).collect();
        assert_eq!(found, want, "exactly the live rows, in order");
        let min_pages = rows as usize / SCAN_EXAMINED_MAX;
        assert!(
            pages >= min_pages,
            "{pages} pages: each examines at most {SCAN_EXAMINED_MAX} rows"
        );
        engine.close().await.unwrap();
    });
}
