//! Latency histograms and error counts per operation kind, and how they merge.
//!
//! Every client task records into its own [`Stats`] (behind a mutex the reporter takes only
//! to swap the task's stats for an empty set each interval); the reporter merges what it
//! took with [`Stats::drain_into`], so an interval's table and the final totals come from
//! the same samples. Latencies
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
///
/// A kind's histograms are made when it is first recorded, or up front by
/// [`Stats::for_kinds`]: two histograms are 0.5 MB that the allocator zeroes, so a run makes
/// them for the kinds its workload uses, before its schedule starts, and no others. An empty
/// `Stats` allocates nothing, which keeps a swap of a task's stats free.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// By `OpKind::ALL` position; `None` until the kind is made.
    kinds: [Option<Box<OpStats>>; OpKind::ALL.len()],
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

/// A kind's position in [`OpKind::ALL`].
fn slot(kind: OpKind) -> usize {
    match kind {
        OpKind::Read => 0,
        OpKind::Update => 1,
        OpKind::Insert => 2,
        OpKind::Scan => 3,
        OpKind::ReadModifyWrite => 4,
    }
}

/// What an unmade kind reads as.
fn no_samples() -> &'static OpStats {
    static EMPTY: std::sync::OnceLock<OpStats> = std::sync::OnceLock::new();
    EMPTY.get_or_init(OpStats::default)
}

impl Stats {
    /// Stats with the histograms of `kinds` made (and zeroed) now.
    pub fn for_kinds(kinds: impl IntoIterator<Item = OpKind>) -> Stats {
        let mut stats = Stats::default();
        for kind in kinds {
            stats.get_mut(kind);
        }
        stats
    }

    /// The samples of `kind` (empty if it has none).
    pub fn get(&self, kind: OpKind) -> &OpStats {
        self.kinds.get(slot(kind)).and_then(Option::as_deref).unwrap_or_else(|| no_samples())
    }

    fn get_mut(&mut self, kind: OpKind) -> &mut OpStats {
        let slot = self.kinds.get_mut(slot(kind)).expect("a slot per kind");
        slot.get_or_insert_with(Box::default)
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
            let samples = other.get(kind);
            // An add walks all ~34k counters of a histogram, and most kinds stay empty in a
            // workload (B has no inserts, scans or read-modify-writes); an empty kind is
            // not made here either.
            if !samples.is_empty() {
                self.get_mut(kind).merge(samples);
            }
        }
    }

    /// Adds every sample into `target` and empties `self` (keeping its allocations).
    pub fn drain_into(&mut self, target: &mut Stats) {
        target.merge(self);
        for op in self.kinds.iter_mut().flatten() {
            op.reset();
        }
    }

    /// Successful operations, all kinds.
    pub fn total(&self) -> u64 {
        self.kinds.iter().flatten().map(|op| op.count()).sum()
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

    /// Only recorded or requested kinds get histograms (half a megabyte each, zeroed); an
    /// unmade kind reads as empty, and merging skips kinds without samples.
    #[test]
    fn kinds_are_made_only_when_used() {
        let made = |s: &Stats| -> Vec<usize> {
            s.kinds.iter().enumerate().filter(|(_, k)| k.is_some()).map(|(i, _)| i).collect()
        };
        let empty = Stats::default();
        assert!(made(&empty).is_empty());
        assert_eq!(empty.get(OpKind::Scan).count(), 0);
        let prepared = Stats::for_kinds([OpKind::Read, OpKind::Update]);
        assert_eq!(made(&prepared), [0, 1]);
        let mut total = Stats::default();
        total.merge(&prepared);
        assert!(made(&total).is_empty(), "empty kinds are not merged");
        let mut task = prepared;
        task.record(OpKind::Update, Duration::from_micros(5), Duration::from_micros(4));
        task.drain_into(&mut total);
        assert_eq!(made(&total), [1]);
        assert_eq!(total.get(OpKind::Update).count(), 1);
        assert_eq!(made(&task), [0, 1], "draining keeps the allocations");
        assert_eq!(task.total(), 0);
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
