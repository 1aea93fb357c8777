//! How long ready foreground work waits for its core: a probe task on every shard sleeps
//! [`PROBE_PERIOD`] at a time and counts how late it wakes.
//!
//! The probe runs in the foreground queue, so a late wake-up is exactly the wait that any
//! request made ready at that moment would have seen: requests queued ahead of it, a
//! background slice (flush, compaction) running to its end, a task that held the core
//! without yielding, or the whole thread not running (the VM or the kernel took the CPU,
//! the process was stopped). The counts per threshold (`shoal_scheduling_delays_total`)
//! tell a stall inside the node from one outside it: a client-side tail with no delay
//! counted here was not spent waiting for this shard's core.
//!
//! Cost: one timer wake-up per period, 100 a second, also on an idle shard.

use std::rc::Rc;
use std::time::{Duration, Instant};

use shoal_engine::runtime::sleep;

use crate::shard::Shard;

/// How long the probe sleeps between measurements.
pub const PROBE_PERIOD: Duration = Duration::from_millis(10);

/// A wake-up later than each of these (in ms) is counted under it.
pub const DELAY_THRESHOLDS_MS: [u64; 4] = [1, 5, 20, 100];

/// Measures this shard's scheduling delays until the node stops.
pub async fn probe_loop(shard: Rc<Shard>) {
    while !shard.node.stopping() {
        let asleep = Instant::now();
        sleep(PROBE_PERIOD).await;
        let late = asleep.elapsed().saturating_sub(PROBE_PERIOD);
        shard.metrics.record_scheduling_delay(late);
    }
}

/// The thresholds `late` is past (indexes into [`DELAY_THRESHOLDS_MS`]).
pub fn thresholds_passed(late: Duration) -> impl Iterator<Item = usize> {
    DELAY_THRESHOLDS_MS
        .iter()
        .enumerate()
        .filter(move |(_, ms)| late > Duration::from_millis(**ms))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delay_counts_under_every_threshold_it_passes() {
        let passed = |us: u64| thresholds_passed(Duration::from_micros(us)).collect::<Vec<_>>();
        assert!(passed(0).is_empty());
        assert!(passed(1_000).is_empty(), "exactly at a threshold is not past it");
        assert_eq!(passed(1_001), [0]);
        assert_eq!(passed(7_000), [0, 1]);
        assert_eq!(passed(20_500), [0, 1, 2]);
        assert_eq!(passed(250_000), [0, 1, 2, 3]);
    }
}
