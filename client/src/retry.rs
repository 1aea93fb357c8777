//! When to try again, and how long to wait first.
//!
//! The pause before retry `n` (0-based) is `base * 2^n`, capped at
//! [`RETRY_BACKOFF_MAX`], then jittered to a random point between half and all of it, so
//! clients that failed together do not retry together.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::RETRY_BACKOFF_MAX;

/// The pause before retry number `retry` (0 for the first).
pub(crate) fn backoff(base: Duration, retry: u32) -> Duration {
    let full = doubled(base, retry);
    let half = full / 2;
    let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    let extra = if spread == 0 { 0 } else { random() % (spread + 1) };
    half + Duration::from_nanos(extra)
}

/// `base * 2^n`, capped at [`RETRY_BACKOFF_MAX`]: the pause before jitter.
pub(crate) fn doubled(base: Duration, n: u32) -> Duration {
    let factor = 1u32.checked_shl(n).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(RETRY_BACKOFF_MAX)
}

/// A random number without a dependency: std's per-instance random hash keys, fed a counter.
fn random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_and_caps() {
        let base = Duration::from_millis(20);
        for retry in 0..40 {
            let full = (base * 2u32.saturating_pow(retry.min(20))).min(RETRY_BACKOFF_MAX);
            let pause = backoff(base, retry);
            assert!(pause >= full / 2 && pause <= full, "retry {retry}: {pause:?} vs {full:?}");
        }
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }
}
