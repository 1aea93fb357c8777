//! Hinted handoff: a write meant for a replica that is down or did not answer is kept, on
//! the coordinating shard, in the engine table [`HINTS_TABLE_ID`] (so it is as durable as any
//! write: commit log, memtable, SSTable), and replayed when gossip sees the replica up.
//!
//! A hint's key is (token = target node id, partition = the node id as 8 bytes, sort = the
//! hint's time and a sequence number), so one node's hints are one partition, in time order.
//! Hints older than `hint_window` are dropped at replay (then repair must fix the replica);
//! the window is shorter than the tombstone grace period, so a replay never brings back
//! data that compaction has already purged. Hints never count toward a consistency level.

use std::ops::Bound;
use std::time::Duration;

use bytes::Bytes;
use shoal_engine::runtime::{sleep, yield_if_needed};
use shoal_engine::ScanRange;
use shoal_net::{Request, RequestHeader, Status, TableRef};
use shoal_types::key::{partition_items_prefix, prefix_successor, KeyValue};
use shoal_types::{ItemKey, Number, Row, Value};

use crate::shard::Shard;

/// The engine table of hints on every shard (never a user table: user ids count up from 1).
pub const HINTS_TABLE_ID: u32 = u32::MAX;

fn partition(node: u64) -> KeyValue {
    KeyValue::B(Bytes::copy_from_slice(&node.to_be_bytes()))
}

/// Stores a hint for `node`: merge `row` under `key` into `table` when it is back.
pub async fn store(shard: &Shard, node: u64, table: &TableRef, key: &[u8], row: &Row) {
    let now = shard.engine.clock().now_micros();
    let seq = shard.timestamp(0);
    let mut sort = Vec::with_capacity(16);
    sort.extend_from_slice(&now.to_be_bytes());
    sort.extend_from_slice(&seq.to_be_bytes());
    let hint_key = ItemKey {
        token: node,
        partition: partition(node),
        sort: Some(KeyValue::B(Bytes::from(sort))),
    };
    let attrs = [
        ("table".to_string(), Value::S(table.name.clone())),
        (
            "created".to_string(),
            Value::N(Number::from(i64::try_from(table.created_micros).unwrap_or(i64::MAX))),
        ),
        ("key".to_string(), Value::B(Bytes::copy_from_slice(key))),
        ("row".to_string(), Value::B(Bytes::from(row.to_bytes()))),
        ("at".to_string(), Value::N(Number::from(i64::try_from(now).unwrap_or(i64::MAX)))),
    ];
    let result = shard.engine.write(HINTS_TABLE_ID, &hint_key, Row::put_item(seq, attrs, 0)).await;
    match result {
        Ok(()) => {
            shard.metrics.hints_stored.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Err(e) => {
            tracing::warn!(node, error = %e, "cannot store a hint; repair must fix the replica")
        }
    }
}

fn number(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::N(n)) => n.to_string().parse().unwrap_or(0),
        _ => 0,
    }
}

/// Replays (or drops, past the window) every hint for `node`; stops at the first failure.
/// Returns how many were delivered.
async fn replay_node(shard: &Shard, node: u64, address: &str) -> usize {
    let Some(peers) = &shard.peers else { return 0 };
    let prefix = partition_items_prefix(node, &partition(node));
    let upper = prefix_successor(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
    let mut lower = Bound::Included(prefix);
    let window = shard.node.settings.hint_window;
    let timeout = shard.node.settings.internode_timeout;
    let mut delivered = 0;
    loop {
        let range =
            ScanRange { lower: lower.clone(), upper: upper.clone(), reverse: false, limit: 100 };
        let Ok(page) = shard.engine.scan(HINTS_TABLE_ID, &range).await else { return delivered };
        if page.items.is_empty() && page.resume_after.is_none() {
            return delivered;
        }
        for (hint_key, attrs) in page.items {
            let at = number(attrs.get("at"));
            let age = shard.engine.clock().now_micros().saturating_sub(at);
            let expired = Duration::from_micros(age) > window;
            if !expired {
                let (Some(Value::S(name)), Some(Value::B(key)), Some(Value::B(row))) =
                    (attrs.get("table"), attrs.get("key"), attrs.get("row"))
                else {
                    continue;
                };
                let request = Request::ReplicaWrite {
                    table: TableRef {
                        name: name.clone(),
                        created_micros: number(attrs.get("created")),
                    },
                    key: key.to_vec(),
                    row: row.to_vec(),
                };
                match peers.call(address, RequestHeader::default(), request, timeout).await {
                    Ok(r) if r.status == Status::Ok || r.status == Status::UnknownTable => {
                        delivered += 1;
                    }
                    _ => return delivered,
                }
            }
            let ts = shard.timestamp(0);
            if shard.engine.write(HINTS_TABLE_ID, &hint_key, Row::delete_item(ts)).await.is_err() {
                return delivered;
            }
            yield_if_needed().await;
        }
        match page.resume_after {
            Some(key) => lower = Bound::Excluded(key),
            None => return delivered,
        }
    }
}

/// Every second: replays hints to every node that is up.
pub async fn replay_loop(shard: std::rc::Rc<Shard>) {
    while !shard.node.stopping() {
        sleep(Duration::from_millis(shard.node.settings.gossip_interval_ms.clamp(50, 1000))).await;
        let view = shard.node.view();
        for (id, endpoint) in &view.endpoints {
            if *id == shard.node.settings.node_id || !view.is_up(*id) {
                continue;
            }
            let delivered = replay_node(&shard, *id, &endpoint.internode).await;
            if delivered > 0 {
                shard
                    .metrics
                    .hints_replayed
                    .fetch_add(delivered as u64, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(node = id, delivered, "hints replayed");
            }
        }
    }
}
