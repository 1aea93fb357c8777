//! Node metrics: one slot of atomic counters per shard, written only by its shard (relaxed
//! stores, no contention) and read by the HTTP endpoint on any core.
//!
//! Rendered in the Prometheus text format; every name starts with `shoal_`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Operations counted separately (the `op` label), at their `Request::op_index`: every kind
/// of request, internode ones included.
pub use shoal_net::OP_NAMES as OPS;

/// Latency histogram bucket bounds, in µs (Prometheus `le`, rendered in seconds).
pub const LATENCY_BUCKETS_US: [u64; 14] = [
    50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 500_000, 1_000_000,
    5_000_000,
];

/// Per-operation counters of one shard.
#[derive(Default)]
pub struct OpMetrics {
    requests: AtomicU64,
    errors: AtomicU64,
    latency_sum_us: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len()],
}

/// The counters and gauges of one shard.
#[derive(Default)]
pub struct ShardMetrics {
    ops: [OpMetrics; OPS.len()],
    /// Requests this shard sent to another core because it does not own them.
    pub cross_core_forwards: AtomicU64,
    /// Requests executed here that another core forwarded.
    pub cross_core_received: AtomicU64,
    /// Requests decoded and not yet answered on this shard's connections.
    pub inflight: AtomicU64,
    /// Open client connections on this shard.
    pub connections: AtomicU64,
    /// Frames refused (malformed, oversized, bad checksum).
    pub bad_frames: AtomicU64,
    /// Socket writes of responses (each carries every response ready at the time).
    pub response_writes: AtomicU64,
    /// Probe wake-ups later than each of [`crate::stalls::DELAY_THRESHOLDS_MS`].
    pub scheduling_delays: [AtomicU64; crate::stalls::DELAY_THRESHOLDS_MS.len()],
    /// Probe wake-ups measured.
    pub scheduling_probes: AtomicU64,
    /// Hints stored for replicas that were down or slow.
    pub hints_stored: AtomicU64,
    /// Hints delivered to replicas that came back.
    pub hints_replayed: AtomicU64,
    /// Stale replicas written back by read repair.
    pub read_repairs: AtomicU64,
    /// Requests refused because too few replicas were alive.
    pub unavailable: AtomicU64,
    /// DynamoDB API requests answered.
    pub dynamodb_requests: AtomicU64,
    /// DynamoDB API requests answered with a 4xx (the client's error).
    pub dynamodb_client_errors: AtomicU64,
    /// DynamoDB API requests answered with a 5xx (unavailable, timeout, internal).
    pub dynamodb_server_errors: AtomicU64,
    /// Items compaction purged because their TTL attribute had passed.
    pub ttl_expired_items: AtomicU64,
    /// Engine gauges, copied from the engine once a second.
    pub memtable_bytes: AtomicU64,
    /// SSTables of all tables.
    pub sstables: AtomicU64,
    /// Bytes stored: SSTable files and memtables (the `load` gossip reports).
    pub stored_bytes: AtomicU64,
    /// Engine counters, copied likewise.
    pub engine_writes: AtomicU64,
    /// Point reads.
    pub engine_reads: AtomicU64,
    /// Flushes done.
    pub flushes: AtomicU64,
    /// Compactions done.
    pub compactions: AtomicU64,
    /// Bytes compaction wrote.
    pub compaction_write_bytes: AtomicU64,
    /// Block cache hits.
    pub cache_hits: AtomicU64,
    /// Block cache misses.
    pub cache_misses: AtomicU64,
    /// Block cache bytes in use.
    pub cache_bytes: AtomicU64,
    /// Commit-log records appended.
    pub commitlog_appends: AtomicU64,
    /// Commit-log writes with their fdatasync (group commits): appends ÷ syncs is the batch.
    pub commitlog_syncs: AtomicU64,
    /// Commit-log segment files that could not be prepared ahead (usually a full disk).
    pub commitlog_prepare_failures: AtomicU64,
}

/// The index of the operation named `name` in [`OPS`].
fn op_position(name: &str) -> Option<usize> {
    OPS.iter().position(|o| *o == name)
}

impl ShardMetrics {
    /// Counts one request of operation `op` (its `Request::op_index`) that took `elapsed`.
    pub fn record(&self, op: usize, elapsed: Duration, failed: bool) {
        debug_assert!(op < OPS.len(), "operation index {op} past OP_NAMES");
        let Some(m) = self.ops.get(op) else { return };
        m.requests.fetch_add(1, Relaxed);
        if failed {
            m.errors.fetch_add(1, Relaxed);
        }
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        m.latency_sum_us.fetch_add(us, Relaxed);
        let bucket = LATENCY_BUCKETS_US.iter().position(|b| us <= *b);
        if let Some(b) = bucket.and_then(|b| m.buckets.get(b)) {
            b.fetch_add(1, Relaxed);
        }
    }

    /// One probe's lateness (see [`crate::stalls`]).
    pub fn record_scheduling_delay(&self, late: Duration) {
        self.scheduling_probes.fetch_add(1, Relaxed);
        for i in crate::stalls::thresholds_passed(late) {
            if let Some(count) = self.scheduling_delays.get(i) {
                count.fetch_add(1, Relaxed);
            }
        }
    }

    /// Requests of `op` counted so far.
    pub fn requests(&self, op: &str) -> u64 {
        op_position(op).and_then(|i| self.ops.get(i)).map_or(0, |m| m.requests.load(Relaxed))
    }
}

/// Renders every shard's metrics.
pub fn render(shards: &[std::sync::Arc<ShardMetrics>], ready: bool) -> String {
    let mut out = String::with_capacity(16 << 10);
    let _ = writeln!(out, "# HELP shoal_up 1 once every shard serves requests.");
    let _ = writeln!(out, "# TYPE shoal_up gauge");
    let _ = writeln!(out, "shoal_up {}", u8::from(ready));
    let _ = writeln!(out, "# HELP shoal_shards Shards (cores) of this node.");
    let _ = writeln!(out, "# TYPE shoal_shards gauge");
    let _ = writeln!(out, "shoal_shards {}", shards.len());

    let counter = |out: &mut String,
                   name: &str,
                   help: &str,
                   kind: &str,
                   get: &dyn Fn(&ShardMetrics) -> u64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (i, s) in shards.iter().enumerate() {
            let _ = writeln!(out, "{name}{{shard=\"{i}\"}} {}", get(s));
        }
    };
    counter(
        &mut out,
        "shoal_cross_core_forwards_total",
        "Requests forwarded to the owning core.",
        "counter",
        &|s| s.cross_core_forwards.load(Relaxed),
    );
    counter(
        &mut out,
        "shoal_cross_core_received_total",
        "Requests executed for another core.",
        "counter",
        &|s| s.cross_core_received.load(Relaxed),
    );
    counter(
        &mut out,
        "shoal_inflight_requests",
        "Requests in flight (the shard's queue depth).",
        "gauge",
        &|s| s.inflight.load(Relaxed),
    );
    counter(&mut out, "shoal_connections", "Open client connections.", "gauge", &|s| {
        s.connections.load(Relaxed)
    });
    counter(
        &mut out,
        "shoal_bad_frames_total",
        "Frames refused: malformed, oversized or corrupt.",
        "counter",
        &|s| s.bad_frames.load(Relaxed),
    );
    let name = "shoal_scheduling_delays_total";
    let _ = writeln!(
        out,
        "# HELP {name} Wake-ups of the shard's probe task (every {} ms) that came later than \
         over_ms: how long ready foreground work waited for the core.",
        crate::stalls::PROBE_PERIOD.as_millis()
    );
    let _ = writeln!(out, "# TYPE {name} counter");
    for (i, s) in shards.iter().enumerate() {
        for (ms, count) in crate::stalls::DELAY_THRESHOLDS_MS.iter().zip(&s.scheduling_delays) {
            let _ =
                writeln!(out, "{name}{{shard=\"{i}\",over_ms=\"{ms}\"}} {}", count.load(Relaxed));
        }
    }
    counter(
        &mut out,
        "shoal_scheduling_probes_total",
        "Wake-ups of the shard's probe task measured.",
        "counter",
        &|s| s.scheduling_probes.load(Relaxed),
    );
    counter(
        &mut out,
        "shoal_response_writes_total",
        "Socket writes of responses (each carries every response ready then).",
        "counter",
        &|s| s.response_writes.load(Relaxed),
    );
    counter(
        &mut out,
        "shoal_hints_stored_total",
        "Hints stored for down or slow replicas.",
        "counter",
        &|s| s.hints_stored.load(Relaxed),
    );
    counter(
        &mut out,
        "shoal_hints_replayed_total",
        "Hints delivered to replicas that came back.",
        "counter",
        &|s| s.hints_replayed.load(Relaxed),
    );
    counter(
        &mut out,
        "shoal_read_repairs_total",
        "Stale replicas repaired on reads.",
        "counter",
        &|s| s.read_repairs.load(Relaxed),
    );
    counter(
        &mut out,
        "shoal_unavailable_total",
        "Requests refused for lack of live replicas.",
        "counter",
        &|s| s.unavailable.load(Relaxed),
    );
    counter(
        &mut out,
        "shoal_dynamodb_requests_total",
        "DynamoDB API requests answered.",
        "counter",
        &|s| s.dynamodb_requests.load(Relaxed),
    );
    counter(
        &mut out,
        "shoal_dynamodb_client_errors_total",
        "DynamoDB API requests answered with a 4xx error.",
        "counter",
        &|s| s.dynamodb_client_errors.load(Relaxed),
    );
    counter(
        &mut out,
        "shoal_dynamodb_server_errors_total",
        "DynamoDB API requests answered with a 5xx error.",
        "counter",
        &|s| s.dynamodb_server_errors.load(Relaxed),
    );
    counter(
        &mut out,
        "shoal_ttl_expired_items_total",
        "Items compaction found past their TTL attribute.",
        "counter",
        &|s| s.ttl_expired_items.load(Relaxed),
    );
    counter(&mut out, "shoal_memtable_bytes", "Bytes in memtables.", "gauge", &|s| {
        s.memtable_bytes.load(Relaxed)
    });
    counter(&mut out, "shoal_stored_bytes", "Bytes in SSTables and memtables.", "gauge", &|s| {
        s.stored_bytes.load(Relaxed)
    });
    counter(&mut out, "shoal_sstables", "Live SSTables.", "gauge", &|s| s.sstables.load(Relaxed));
    counter(
        &mut out,
        "shoal_engine_writes_total",
        "Rows written to the engine.",
        "counter",
        &|s| s.engine_writes.load(Relaxed),
    );
    counter(&mut out, "shoal_engine_reads_total", "Point reads in the engine.", "counter", &|s| {
        s.engine_reads.load(Relaxed)
    });
    counter(&mut out, "shoal_flushes_total", "Memtable flushes.", "counter", &|s| {
        s.flushes.load(Relaxed)
    });
    counter(&mut out, "shoal_commitlog_appends_total", "Commit-log records.", "counter", &|s| {
        s.commitlog_appends.load(Relaxed)
    });
    counter(
        &mut out,
        "shoal_commitlog_syncs_total",
        "Commit-log group commits (one write and one fdatasync each).",
        "counter",
        &|s| s.commitlog_syncs.load(Relaxed),
    );
    counter(
        &mut out,
        "shoal_commitlog_prepare_failures_total",
        "Commit-log segment files that could not be prepared ahead (a full disk, usually).",
        "counter",
        &|s| s.commitlog_prepare_failures.load(Relaxed),
    );
    counter(&mut out, "shoal_compactions_total", "Compactions.", "counter", &|s| {
        s.compactions.load(Relaxed)
    });
    counter(
        &mut out,
        "shoal_compaction_write_bytes_total",
        "Bytes written by compaction.",
        "counter",
        &|s| s.compaction_write_bytes.load(Relaxed),
    );
    counter(&mut out, "shoal_cache_hits_total", "Block cache hits.", "counter", &|s| {
        s.cache_hits.load(Relaxed)
    });
    counter(&mut out, "shoal_cache_misses_total", "Block cache misses.", "counter", &|s| {
        s.cache_misses.load(Relaxed)
    });
    counter(&mut out, "shoal_cache_bytes", "Block cache bytes in use.", "gauge", &|s| {
        s.cache_bytes.load(Relaxed)
    });

    let _ = writeln!(out, "# HELP shoal_requests_total Requests by operation.");
    let _ = writeln!(out, "# TYPE shoal_requests_total counter");
    for (i, s) in shards.iter().enumerate() {
        for (op, m) in OPS.iter().zip(&s.ops) {
            let _ = writeln!(
                out,
                "shoal_requests_total{{shard=\"{i}\",op=\"{op}\"}} {}",
                m.requests.load(Relaxed)
            );
        }
    }
    let _ = writeln!(out, "# HELP shoal_request_errors_total Requests that failed, by operation.");
    let _ = writeln!(out, "# TYPE shoal_request_errors_total counter");
    for (i, s) in shards.iter().enumerate() {
        for (op, m) in OPS.iter().zip(&s.ops) {
            let _ = writeln!(
                out,
                "shoal_request_errors_total{{shard=\"{i}\",op=\"{op}\"}} {}",
                m.errors.load(Relaxed)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP shoal_request_duration_seconds Request latency on the node, by operation."
    );
    let _ = writeln!(out, "# TYPE shoal_request_duration_seconds histogram");
    for op_i in 0..OPS.len() {
        let op = OPS.get(op_i).copied().unwrap_or("");
        let mut cumulative = 0u64;
        for (b, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
            cumulative += shards
                .iter()
                .filter_map(|s| s.ops.get(op_i).and_then(|m| m.buckets.get(b)))
                .map(|c| c.load(Relaxed))
                .sum::<u64>();
            let le = *bound as f64 / 1e6;
            let _ = writeln!(
                out,
                "shoal_request_duration_seconds_bucket{{op=\"{op}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let count: u64 =
            shards.iter().filter_map(|s| s.ops.get(op_i)).map(|m| m.requests.load(Relaxed)).sum();
        let sum: u64 = shards
            .iter()
            .filter_map(|s| s.ops.get(op_i))
            .map(|m| m.latency_sum_us.load(Relaxed))
            .sum();
        let _ = writeln!(
            out,
            "shoal_request_duration_seconds_bucket{{op=\"{op}\",le=\"+Inf\"}} {count}"
        );
        let _ =
            writeln!(out, "shoal_request_duration_seconds_sum{{op=\"{op}\"}} {}", sum as f64 / 1e6);
        let _ = writeln!(out, "shoal_request_duration_seconds_count{{op=\"{op}\"}} {count}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let shard = Arc::new(ShardMetrics::default());
        let get = op("get");
        shard.record(get, Duration::from_micros(70), false);
        shard.record(get, Duration::from_micros(3_000), true);
        shard.cross_core_forwards.fetch_add(5, Relaxed);
        let text = render(&[shard], true);
        assert!(text.contains("shoal_requests_total{shard=\"0\",op=\"get\"} 2"));
        assert!(text.contains("shoal_request_errors_total{shard=\"0\",op=\"get\"} 1"));
        assert!(text.contains("shoal_request_duration_seconds_bucket{op=\"get\",le=\"0.0001\"} 1"));
        assert!(text.contains("shoal_request_duration_seconds_bucket{op=\"get\",le=\"0.005\"} 2"));
        assert!(text.contains("shoal_cross_core_forwards_total{shard=\"0\"} 5"));
        assert!(text.lines().all(|l| l.starts_with('#') || l.starts_with("shoal_")));
    }

    fn op(name: &str) -> usize {
        op_position(name).expect("a known operation")
    }

    /// Internode requests are counted under their own names (they were once counted as
    /// `create_table`, which hid replica latency and inflated table creations).
    #[test]
    fn replica_requests_have_their_own_label() {
        let shard = Arc::new(ShardMetrics::default());
        shard.record(op("replica_write"), Duration::from_millis(600), false);
        shard.record(op("replica_read"), Duration::from_micros(80), false);
        let text = render(std::slice::from_ref(&shard), true);
        assert!(text.contains("shoal_requests_total{shard=\"0\",op=\"replica_write\"} 1"));
        assert!(text.contains("shoal_requests_total{shard=\"0\",op=\"create_table\"} 0"));
        assert!(text
            .contains("shoal_request_duration_seconds_bucket{op=\"replica_write\",le=\"0.5\"} 0"));
        assert_eq!(shard.requests("replica_read"), 1);
        assert_eq!(shard.requests("no_such_op"), 0);
    }
}
