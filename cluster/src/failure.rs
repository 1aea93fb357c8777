//! The phi-accrual failure detector (Hayashibara et al., 2004), in the exponential form
//! Cassandra uses.
//!
//! Instead of a yes/no answer, [`PhiAccrual::phi`] says how suspicious the silence of a node
//! is: `phi = -log10(P(a heartbeat comes later than now))`. phi 1 means a 10% chance that the
//! node is still alive and merely late, phi 2 a 1% chance, phi 8 one in 10^8. The caller picks
//! the threshold; Cassandra's default, 8, is [`crate::gossip::GossipConfig`]'s too.
//!
//! # Model: exponential, not normal
//! Inter-arrival times are modelled as exponential with the window's mean, so
//! `P(later than t) = e^(-t / mean)` and `phi = (t / mean) × log10(e)`, with `t` the time since
//! the last heartbeat. Two reasons, both Cassandra's:
//! - Heartbeats reach us through gossip, relayed by random peers, so arrivals are bursty: two
//!   versions in one round, then none for three rounds. The normal model learns a tiny
//!   variance from steady periods and then convicts a node after one or two late rounds; the
//!   exponential model only needs the mean and is not fooled by a small variance.
//! - The mean is a running sum over the window, so `phi` costs O(1).
//!
//! # Detection time
//! phi reaches the threshold `T` when `t = T / log10(e) × mean = T × ln(10) × mean`. With
//! `T = 8` that is `18.42 × mean`. For heartbeats every `G` ms the mean is about `G` (seeded
//! with the expected interval), so a node is suspected about `18.4 × G` after its last
//! heartbeat: 18.4 s for Cassandra's 1 s gossip, 1.84 s with 100 ms. Since recorded
//! intervals are capped (below), the mean never exceeds [`INTERVAL_MULTIPLE_MAX`] × the
//! expected interval, so detection never takes longer than `18.42 × 4 × G` even if a node
//! was only ever heard from rarely.
//!
//! # Limits
//! - [`INTERVALS_MAX`]: intervals kept (a sliding window; the oldest leaves first).
//! - [`INTERVAL_MULTIPLE_MAX`]: a recorded interval is capped at this multiple of the
//!   expected interval. A pause (a GC, a partition, a restart) would otherwise record one huge
//!   interval that inflates the mean, and so the detection time, until it leaves the window
//!   (1000 heartbeats later). Capping rather than ignoring keeps a signal when the real rate
//!   is slower than expected, and bounds the mean, hence the detection time.

use std::collections::VecDeque;

/// Intervals kept in the window.
pub const INTERVALS_MAX: usize = 1000;

/// A recorded interval is capped at this multiple of the expected interval.
pub const INTERVAL_MULTIPLE_MAX: u64 = 4;

const _: () = assert!(INTERVALS_MAX >= 1 && INTERVAL_MULTIPLE_MAX >= 1);

/// A phi-accrual failure detector for one node: a bounded window of heartbeat inter-arrival
/// times and the time of the last heartbeat. Pure: every call takes the time.
#[derive(Clone, Debug)]
pub struct PhiAccrual {
    /// Inter-arrival times in ms, oldest first; never empty (seeded at creation).
    intervals_ms: VecDeque<u64>,
    /// Sum of `intervals_ms`, kept so that the mean costs O(1).
    intervals_sum_ms: u64,
    /// Cap of a recorded interval.
    interval_cap_ms: u64,
    /// When the last heartbeat arrived; `None` before the first.
    last_arrival_ms: Option<u64>,
}

impl PhiAccrual {
    /// A detector expecting a heartbeat every `expected_interval_ms` (0 counts as 1).
    ///
    /// The window is seeded with one interval of that length, so a node heard from once is
    /// judged by the expected rate until its real intervals outnumber the seed.
    pub fn new(expected_interval_ms: u64) -> Self {
        let expected_ms = expected_interval_ms.max(1);
        let mut intervals_ms = VecDeque::with_capacity(INTERVALS_MAX.min(64));
        intervals_ms.push_back(expected_ms);
        PhiAccrual {
            intervals_ms,
            intervals_sum_ms: expected_ms,
            interval_cap_ms: expected_ms.saturating_mul(INTERVAL_MULTIPLE_MAX),
            last_arrival_ms: None,
        }
    }

    /// A heartbeat arrived at `now_ms`: records the interval since the previous one (capped at
    /// [`INTERVAL_MULTIPLE_MAX`] × the expected interval). A clock that went backwards
    /// records an interval of 0.
    pub fn heartbeat(&mut self, now_ms: u64) {
        if let Some(last_ms) = self.last_arrival_ms {
            let interval_ms = now_ms.saturating_sub(last_ms).min(self.interval_cap_ms);
            self.record(interval_ms);
        }
        self.last_arrival_ms = Some(now_ms);
    }

    /// The suspicion level at `now_ms` (exponential model, see the module doc): 0 just after a
    /// heartbeat, growing linearly with silence. 0 before the first heartbeat: a node never
    /// heard from is unknown, not suspected.
    pub fn phi(&self, now_ms: u64) -> f64 {
        let Some(last_ms) = self.last_arrival_ms else {
            return 0.0;
        };
        let silence_ms = now_ms.saturating_sub(last_ms) as f64;
        silence_ms / self.mean_ms() * std::f64::consts::LOG10_E
    }

    /// The mean inter-arrival time in ms (at least 1).
    pub fn mean_ms(&self) -> f64 {
        let count = self.intervals_ms.len().max(1) as f64;
        (self.intervals_sum_ms as f64 / count).max(1.0)
    }

    /// How long after the last heartbeat phi reaches `threshold`, in ms, with the current mean.
    pub fn silence_to_threshold_ms(&self, threshold: f64) -> f64 {
        threshold / std::f64::consts::LOG10_E * self.mean_ms()
    }

    /// When the last heartbeat arrived.
    pub fn last_arrival_ms(&self) -> Option<u64> {
        self.last_arrival_ms
    }

    fn record(&mut self, interval_ms: u64) {
        if self.intervals_ms.len() >= INTERVALS_MAX {
            let oldest_ms = self.intervals_ms.pop_front().unwrap_or(0);
            self.intervals_sum_ms -= oldest_ms;
        }
        self.intervals_ms.push_back(interval_ms);
        self.intervals_sum_ms += interval_ms;
        assert!(self.intervals_ms.len() <= INTERVALS_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THRESHOLD: f64 = 8.0;

    fn steady(interval_ms: u64, beats: u64) -> (PhiAccrual, u64) {
        let mut detector = PhiAccrual::new(interval_ms);
        let mut now_ms = 0;
        for _ in 0..beats {
            detector.heartbeat(now_ms);
            now_ms += interval_ms;
        }
        (detector, now_ms - interval_ms)
    }

    #[test]
    fn steady_heartbeats_keep_phi_low() {
        let mut detector = PhiAccrual::new(1000);
        // Jittered arrivals around 1 s: phi stays far from 8 just before each heartbeat.
        let mut now_ms = 0;
        for i in 0..500u64 {
            now_ms += 800 + (i * 37) % 400;
            assert!(detector.phi(now_ms) < 1.0, "phi {} at beat {i}", detector.phi(now_ms));
            detector.heartbeat(now_ms);
            assert_eq!(detector.phi(now_ms), 0.0);
        }
        assert!((detector.mean_ms() - 1000.0).abs() < 50.0, "mean {}", detector.mean_ms());
    }

    #[test]
    fn phi_grows_with_silence_and_crosses_the_threshold_at_the_documented_time() {
        for interval_ms in [100, 1000] {
            let (detector, last_ms) = steady(interval_ms, 200);
            let mut previous = 0.0;
            for step in 1..=40 {
                let phi = detector.phi(last_ms + step * interval_ms);
                assert!(phi > previous);
                previous = phi;
            }
            // Documented: 8 / log10(e) × mean ≈ 18.42 × G.
            let expected_ms = 18.42 * interval_ms as f64;
            let crossing_ms = (1..).map(|t| last_ms + t).find(|t| detector.phi(*t) >= THRESHOLD);
            let silence_ms = (crossing_ms.unwrap() - last_ms) as f64;
            assert!((silence_ms - expected_ms).abs() <= expected_ms * 0.10, "{silence_ms}");
            let predicted_ms = detector.silence_to_threshold_ms(THRESHOLD);
            assert!((silence_ms - predicted_ms).abs() <= 1.0);
        }
    }

    #[test]
    fn a_new_heartbeat_after_a_long_silence_drops_phi_at_once() {
        let (mut detector, last_ms) = steady(100, 50);
        let back_ms = last_ms + 60_000;
        assert!(detector.phi(back_ms) > 100.0);
        detector.heartbeat(back_ms);
        assert_eq!(detector.phi(back_ms), 0.0);
        assert!(detector.phi(back_ms + 100) < 1.0);
    }

    #[test]
    fn a_long_pause_does_not_poison_the_mean() {
        let (mut detector, last_ms) = steady(100, 50);
        detector.heartbeat(last_ms + 3_600_000);
        // Capped at 4 × 100 ms: the mean moves by (400 - 100) / 50 at most.
        assert!(detector.mean_ms() < 110.0, "mean {}", detector.mean_ms());
        let (mut rare, mut now_ms) = (PhiAccrual::new(100), 0);
        for _ in 0..100 {
            rare.heartbeat(now_ms);
            now_ms += 1_000_000;
        }
        assert!(rare.mean_ms() <= 400.0);
    }

    #[test]
    fn the_window_is_bounded() {
        let (detector, _) = steady(10, 5000);
        assert_eq!(detector.intervals_ms.len(), INTERVALS_MAX);
        assert_eq!(detector.intervals_sum_ms, detector.intervals_ms.iter().sum::<u64>());
        assert_eq!(detector.mean_ms(), 10.0);
    }

    #[test]
    fn the_seed_judges_a_node_heard_from_once() {
        let mut detector = PhiAccrual::new(1000);
        assert_eq!(detector.phi(5000), 0.0);
        assert_eq!(detector.last_arrival_ms(), None);
        detector.heartbeat(5000);
        let phi = detector.phi(5000 + 18_420);
        assert!((phi - THRESHOLD).abs() < 0.01, "phi {phi}");
    }
}
