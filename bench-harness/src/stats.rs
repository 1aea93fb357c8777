//! Latency histograms and error counts per operation kind, and how they merge.
//!
//! Every client task records into its own [`Stats`] (behind an uncontended mutex); the
//! reporter drains each task's stats every interval with [`Stats::drain_into`] and merges
//! them, so an interval's table and the final totals come from the same samples. Latencies
//! are recorded in nanoseconds in an HdrHistogram with 3 significant digits (relative error
//! ≤ 0.1 %), from 1 ns to [`LATENCY_NS_MAX`]; slower samples saturate at the maximum.
//! Failed operations are counted by kind of error and never enter a latency histogram.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::workload::OpKind;

/// Largest latency a histogram tracks exactly: one hour.
pub const LATENCY_NS_MAX: u64 = 3_600_000_000_000;
/// Significant digits of every histogram.
const SIGNIFICANT_DIGITS: u8 = 3;

/// A fresh latency histogram.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts; failing here is a bug.
    #[expect(clippy::unwrap_used, reason = "constant, valid bounds")]
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, SIGNIFICANT_DIGITS).unwrap()
}

/// Samples of one operation kind.
#[derive(Clone, Debug)]
pub struct OpStats {
    /// Latency of successful operations (from the intended start in open-loop mode).
    pub latency: Histogram<u64>,
    /// Service time of successful operations (from the moment the request was sent);
    /// equal to `latency` in closed-loop mode.
    pub service: Histogram<u64>,
    /// Failed operations by kind of error.
    pub errors: BTreeMap<String, u64>,
}

impl Default for OpStats {
    fn default() -> OpStats {
        OpStats { latency: new_histogram(), service: new_histogram(), errors: BTreeMap::new() }
    }
}

impl OpStats {
    /// Successful operations.
    pub fn count(&self) -> u64 {
        self.latency.len()
    }

    /// Failed operations, all kinds.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn is_empty(&self) -> bool {
        // `record` fills both histograms, so they are empty together.
        debug_assert_eq!(self.latency.len(), self.service.len());
        self.latency.is_empty() && self.errors.is_empty()
    }

    fn merge(&mut self, other: &OpStats) {
        // An add walks all ~34k counters of a histogram, and most kinds stay empty in a
        // workload (B has no inserts, scans or read-modify-writes).
        if other.is_empty() {
            return;
        }
        // Same bounds on both sides, so `add` cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        for (kind, n) in &other.errors {
            *self.errors.entry(kind.clone()).or_insert(0) += n;
        }
    }

    fn reset(&mut self) {
        // Zeroing touches every page of the counters; an empty one is zero already.
        if self.is_empty() {
            return;
        }
        self.latency.reset();
        self.service.reset();
        self.errors.clear();
    }
}

/// Samples of every operation kind.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    read: OpStats,
    update: OpStats,
    insert: OpStats,
    scan: OpStats,
    rmw: OpStats,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

impl Stats {
    /// The samples of `kind`.
    pub fn get(&self, kind: OpKind) -> &OpStats {
        match kind {
            OpKind::Read => &self.read,
            OpKind::Update => &self.update,
            OpKind::Insert => &self.insert,
            OpKind::Scan => &self.scan,
            OpKind::ReadModifyWrite => &self.rmw,
        }
    }

    fn get_mut(&mut self, kind: OpKind) -> &mut OpStats {
        match kind {
            OpKind::Read => &mut self.read,
            OpKind::Update => &mut self.update,
            OpKind::Insert => &mut self.insert,
            OpKind::Scan => &mut self.scan,
            OpKind::ReadModifyWrite => &mut self.rmw,
        }
    }

    /// Records a success: `latency` from the intended start, `service` from the send.
    pub fn record(&mut self, kind: OpKind, latency: Duration, service: Duration) {
        let op = self.get_mut(kind);
        op.latency.saturating_record(nanos(latency));
        op.service.saturating_record(nanos(service));
    }

    /// Records a failure of kind `error` (e.g. `timeout`, `not_found`, `server:overloaded`).
    pub fn record_error(&mut self, kind: OpKind, error: &str) {
        let errors = &mut self.get_mut(kind).errors;
        match errors.get_mut(error) {
            Some(n) => *n += 1,
            None => {
                errors.insert(error.to_owned(), 1);
            }
        }
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Stats) {
        for kind in OpKind::ALL {
            self.get_mut(kind).merge(other.get(kind));
        }
    }

    /// Adds every sample into `target` and empties `self` (keeping its allocations).
    pub fn drain_into(&mut self, target: &mut Stats) {
        target.merge(self);
        for kind in OpKind::ALL {
            self.get_mut(kind).reset();
        }
    }

    /// Successful operations, all kinds.
    pub fn total(&self) -> u64 {
        OpKind::ALL.iter().map(|k| self.get(*k).count()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_task_histograms_equal_one_histogram_of_all_samples() {
        let mut rng = crate::rng::Rng::new(11);
        let mut tasks: Vec<Stats> = (0..8).map(|_| Stats::default()).collect();
        let mut single = Stats::default();
        for i in 0..40_000u64 {
            // A long-tailed mix so every percentile lands in a different bucket.
            let ns = 1_000 + rng.below(50_000) + if i % 97 == 0 { rng.below(1 << 30) } else { 0 };
            let d = Duration::from_nanos(ns);
            let kind = if i % 3 == 0 { OpKind::Update } else { OpKind::Read };
            tasks[(i % 8) as usize].record(kind, d, d);
            single.record(kind, d, d);
            if i % 1000 == 0 {
                tasks[(i % 8) as usize].record_error(kind, "timeout");
                single.record_error(kind, "timeout");
            }
        }
        // Drain half the tasks at an "interval", the rest at the end, as the reporter does.
        let mut total = Stats::default();
        let mut interval = Stats::default();
        for t in tasks.iter_mut().take(4) {
            t.drain_into(&mut interval);
        }
        total.merge(&interval);
        for t in tasks.iter_mut() {
            t.drain_into(&mut total);
        }
        for kind in [OpKind::Read, OpKind::Update] {
            let (a, b) = (total.get(kind), single.get(kind));
            assert_eq!(a.count(), b.count());
            assert_eq!(a.errors, b.errors);
            for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
                assert_eq!(a.latency.value_at_quantile(q), b.latency.value_at_quantile(q), "{q}");
            }
            assert_eq!(a.latency.min(), b.latency.min());
            assert_eq!(a.latency.max(), b.latency.max());
            assert_eq!(a.latency, b.latency);
        }
        assert!(tasks.iter().all(|t| t.total() == 0));
    }

    #[test]
    fn errors_stay_out_of_latency() {
        let mut s = Stats::default();
        s.record_error(OpKind::Read, "timeout");
        s.record_error(OpKind::Read, "timeout");
        s.record_error(OpKind::Read, "not_found");
        assert_eq!(s.get(OpKind::Read).count(), 0);
        assert_eq!(s.get(OpKind::Read).error_count(), 3);
        assert_eq!(s.get(OpKind::Read).errors.get("timeout"), Some(&2));
    }
}
