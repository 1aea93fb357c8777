//! Results as people read them (tables on stdout) and as scripts read them (the `--out`
//! JSON, whose schema is in the crate README).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::metrics::ShardRate;
use crate::stats::{OpStats, Stats};
use crate::workload::OpKind;

/// Latency summary in microseconds.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Percentiles {
    /// Smallest sample.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

impl Percentiles {
    /// The summary of `histogram` (nanosecond samples), in µs; zeros when empty.
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        if histogram.is_empty() {
            return Percentiles { min: 0.0, p50: 0.0, p90: 0.0, p99: 0.0, p999: 0.0, max: 0.0 };
        }
        let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0;
        Percentiles {
            min: us(histogram.min()),
            p50: us(histogram.value_at_quantile(0.5)),
            p90: us(histogram.value_at_quantile(0.9)),
            p99: us(histogram.value_at_quantile(0.99)),
            p999: us(histogram.value_at_quantile(0.999)),
            max: us(histogram.max()),
        }
    }
}

/// One operation kind's results.
#[derive(Clone, Debug, Serialize)]
pub struct OpReport {
    /// Successful operations.
    pub count: u64,
    /// Failed operations by kind.
    pub errors: BTreeMap<String, u64>,
    /// Successful operations per second.
    pub throughput: f64,
    /// Latency of successful operations (from the intended start in open loop).
    pub latency_us: Percentiles,
    /// Service time (from the send); open loop only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_us: Option<Percentiles>,
}

impl OpReport {
    /// The report of `op` over `elapsed`.
    pub fn of(op: &OpStats, elapsed: Duration, open_loop: bool) -> OpReport {
        let secs = elapsed.as_secs_f64().max(1e-9);
        OpReport {
            count: op.count(),
            errors: op.errors.clone(),
            throughput: (op.count() as f64 / secs * 10.0).round() / 10.0,
            latency_us: Percentiles::of(&op.latency),
            service_us: open_loop.then(|| Percentiles::of(&op.service)),
        }
    }
}

/// The whole `--out` document.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `shoal` or `redis`.
    pub target: String,
    /// `load`, `a` ... `f`.
    pub workload: String,
    /// `closed` or `open`.
    pub mode: String,
    /// Measured wall time.
    pub duration_s: f64,
    /// Successful operations per second, all kinds.
    pub throughput: f64,
    /// Per operation kind that ran (or failed).
    pub ops: BTreeMap<String, OpReport>,
    /// Per server shard, from the nodes' metrics (Shoal only; empty otherwise).
    pub per_shard: Vec<ShardRate>,
    /// The settings of the run.
    pub config: serde_json::Value,
}

impl Report {
    /// The per-kind section of `stats`.
    pub fn ops_of(stats: &Stats, elapsed: Duration, open_loop: bool) -> BTreeMap<String, OpReport> {
        OpKind::ALL
            .iter()
            .map(|k| (k, stats.get(*k)))
            .filter(|(_, op)| op.count() > 0 || op.error_count() > 0)
            .map(|(k, op)| (k.name().to_owned(), OpReport::of(op, elapsed, open_loop)))
            .collect()
    }
}

/// The table header line.
const HEADER: &str = "op        count     ops/s   min_us   p50_us   p90_us   p99_us \
                      p99.9_us    max_us  errors";

fn row(name: &str, op: &OpReport) -> String {
    let l = &op.latency_us;
    let errors: Vec<String> = op.errors.iter().map(|(k, n)| format!("{k}={n}")).collect();
    format!(
        "{name:<6} {:>9} {:>9.0} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1}  {}",
        op.count,
        op.throughput,
        l.min,
        l.p50,
        l.p90,
        l.p99,
        l.p999,
        l.max,
        if errors.is_empty() { "0".to_owned() } else { errors.join(",") }
    )
}

/// Prints one interval's table (`since_start` labels it).
pub fn print_interval(since_start: Duration, length: Duration, stats: &Stats) {
    println!("[{:>6.1}s] interval of {:.1}s", since_start.as_secs_f64(), length.as_secs_f64());
    print_ops(&Report::ops_of(stats, length, false));
}

/// Prints a table of operation reports.
pub fn print_ops(ops: &BTreeMap<String, OpReport>) {
    println!("{HEADER}");
    for (name, op) in ops {
        println!("{}", row(name, op));
    }
}

/// Prints the final report.
pub fn print_report(report: &Report) {
    println!(
        "== {} workload {} ({} loop): {:.1} s, {:.0} ops/s in total",
        report.target, report.workload, report.mode, report.duration_s, report.throughput
    );
    print_ops(&report.ops);
    for (name, op) in &report.ops {
        if let Some(s) = &op.service_us {
            println!(
                "{name:<6} service time (from send): p50 {:.1} p99 {:.1} p99.9 {:.1} max {:.1} us",
                s.p50, s.p99, s.p999, s.max
            );
        }
    }
    if !report.per_shard.is_empty() {
        println!("per shard (server metrics):");
        for s in &report.per_shard {
            println!("  {} shard {}: {:.0} ops/s", s.node, s.shard, s.ops_per_sec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_in_microseconds() {
        let mut stats = Stats::default();
        for us in 1..=1000u64 {
            let d = Duration::from_micros(us);
            stats.record(OpKind::Read, d, d);
        }
        let ops = Report::ops_of(&stats, Duration::from_secs(2), false);
        let read = &ops["read"];
        assert_eq!(read.count, 1000);
        assert_eq!(read.throughput, 500.0);
        assert!((read.latency_us.p50 - 500.0).abs() < 1.0);
        assert!((read.latency_us.max - 1000.0).abs() < 1.0);
        assert!(!ops.contains_key("update"));
    }
}
