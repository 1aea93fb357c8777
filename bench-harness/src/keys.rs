//! Which record an operation touches: key distributions and key names.
//!
//! Three distributions, as in YCSB:
//! - [`Distribution::Uniform`]: every record equally likely.
//! - [`Distribution::Zipfian`]: the record of popularity rank `r` (0 = hottest) is chosen with
//!   probability proportional to `1 / (r + 1)^theta` (theta 0.99 by default, configurable in
//!   `(0, 1)`). Ranks are drawn with the closed-form method of Gray et al. ("Quickly generating
//!   billion-record synthetic databases", SIGMOD 1994), which YCSB also uses: ranks 0 and 1
//!   are exact, the tail is a continuous approximation within a few percent. A rank is then
//!   mapped to a record by a fixed permutation ([`scatter`]), so hot records are spread over
//!   the key space instead of being neighbours (YCSB's "scrambled" zipfian).
//! - [`Distribution::Latest`]: zipfian over recency: the newest record has rank 0, the one
//!   inserted before it rank 1, and so on. Workload D reads it while inserting.
//!
//! The record count may grow while a run inserts (workloads D and E); [`KeyChooser::next`]
//! takes the current count and extends its zeta sum incrementally.

use crate::rng::Rng;

/// Key-name prefix; key `n` is `user` followed by `n` zero-padded to [`KEY_DIGITS`] digits,
/// so names sort in insertion order (the sorted layout of workload E relies on it).
pub const KEY_PREFIX: &str = "user";
/// Digits of the record number in a key name.
pub const KEY_DIGITS: usize = 12;
/// Multiplier of the rank-to-record permutation (a prime; see [`scatter`]).
const SCATTER_PRIME: u64 = 2_147_483_647;
/// Fallback multiplier when the record count is a multiple of [`SCATTER_PRIME`].
const SCATTER_PRIME_OTHER: u64 = 1_000_000_007;

/// How keys are chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Every record equally likely.
    Uniform,
    /// Zipfian with this constant (`0 < theta < 1`).
    Zipfian {
        /// The skew: larger is more skewed. YCSB's default is 0.99.
        theta: f64,
    },
    /// Zipfian over recency, with this constant.
    Latest {
        /// The skew, as for [`Distribution::Zipfian`].
        theta: f64,
    },
}

impl Distribution {
    /// Its name in the CLI and the JSON output.
    pub fn name(&self) -> &'static str {
        match self {
            Distribution::Uniform => "uniform",
            Distribution::Zipfian { .. } => "zipfian",
            Distribution::Latest { .. } => "latest",
        }
    }
}

/// The name of record `n`.
pub fn key_name(n: u64) -> String {
    format!("{KEY_PREFIX}{n:0width$}", width = KEY_DIGITS)
}

/// Maps a popularity rank in `[0, count)` to a record number in `[0, count)`, one to one:
/// `rank * p mod count` with `p` a large prime that does not divide `count`.
pub fn scatter(rank: u64, count: u64) -> u64 {
    if count == 0 {
        return 0;
    }
    let p = if count.is_multiple_of(SCATTER_PRIME) { SCATTER_PRIME_OTHER } else { SCATTER_PRIME };
    ((u128::from(rank) * u128::from(p)) % u128::from(count)) as u64
}

/// Zipfian ranks over `[0, n)` by Gray et al.'s method; `n` may grow between draws.
#[derive(Clone, Debug)]
pub struct Zipfian {
    theta: f64,
    alpha: f64,
    zeta2: f64,
    /// The item count `zetan` was summed to.
    n: u64,
    /// `sum_{i=1..n} 1 / i^theta`.
    zetan: f64,
    /// `1 + 0.5^theta`: the cumulative weight of ranks 0 and 1, over `zetan`'s scale.
    rank1_bound: f64,
}

impl Zipfian {
    /// A generator for constant `theta` (`0 < theta < 1`, checked by the CLI).
    pub fn new(theta: f64) -> Zipfian {
        assert!(theta > 0.0 && theta < 1.0, "zipfian theta must be in (0, 1), got {theta}");
        Zipfian {
            theta,
            alpha: 1.0 / (1.0 - theta),
            zeta2: 1.0 + 0.5f64.powf(theta),
            n: 0,
            zetan: 0.0,
            rank1_bound: 1.0 + 0.5f64.powf(theta),
        }
    }

    /// Extends the zeta sum to `n` items (never shrinks: counts only grow in a run).
    fn grow_to(&mut self, n: u64) {
        while self.n < n {
            self.n += 1;
            self.zetan += 1.0 / (self.n as f64).powf(self.theta);
        }
    }

    /// A rank in `[0, n)`: 0 with probability `1 / zeta(n)`, rank `r` with `1/(r+1)^theta`
    /// over the same sum (approximately, for `r ≥ 2`). Returns 0 when `n` is 0.
    pub fn next_rank(&mut self, rng: &mut Rng, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        self.grow_to(n);
        let u = rng.next_f64();
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < self.rank1_bound {
            return 1;
        }
        let nf = n as f64;
        let eta = (1.0 - (2.0 / nf).powf(1.0 - self.theta)) / (1.0 - self.zeta2 / self.zetan);
        let rank = (nf * (eta * u - eta + 1.0).powf(self.alpha)) as u64;
        rank.min(n - 1)
    }
}

/// Chooses record numbers according to a [`Distribution`]. Clone one per client task.
#[derive(Clone, Debug)]
pub struct KeyChooser {
    distribution: Distribution,
    zipfian: Option<Zipfian>,
}

impl KeyChooser {
    /// A chooser; for a large initial `count`, call [`KeyChooser::prepare`] once and clone
    /// the result so the zeta sum is computed once, not per task.
    pub fn new(distribution: Distribution) -> KeyChooser {
        let zipfian = match distribution {
            Distribution::Uniform => None,
            Distribution::Zipfian { theta } | Distribution::Latest { theta } => {
                Some(Zipfian::new(theta))
            }
        };
        KeyChooser { distribution, zipfian }
    }

    /// Precomputes the zeta sum for `count` records.
    pub fn prepare(&mut self, count: u64) {
        if let Some(z) = &mut self.zipfian {
            z.grow_to(count);
        }
    }

    /// The distribution.
    pub fn distribution(&self) -> Distribution {
        self.distribution
    }

    /// A record number in `[0, count)`; 0 when `count` is 0.
    pub fn next(&mut self, rng: &mut Rng, count: u64) -> u64 {
        match (&self.distribution, &mut self.zipfian) {
            (Distribution::Zipfian { .. }, Some(z)) => scatter(z.next_rank(rng, count), count),
            (Distribution::Latest { .. }, Some(z)) => {
                count.saturating_sub(1).saturating_sub(z.next_rank(rng, count))
            }
            _ => rng.below(count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THETA: f64 = 0.99;

    fn samples() -> usize {
        std::env::var("SHOAL_TEST_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(3000) * 100
    }

    /// The exact zipfian probability of each rank in `[0, n)`.
    fn zipf_pmf(n: u64, theta: f64) -> Vec<f64> {
        let weights: Vec<f64> = (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).collect();
        let total: f64 = weights.iter().sum();
        weights.iter().map(|w| w / total).collect()
    }

    #[test]
    fn zipfian_ranks_follow_the_zipf_law() {
        let n = 1000u64;
        let draws = samples();
        let mut rng = Rng::new(42);
        let mut z = Zipfian::new(THETA);
        let mut counts = vec![0u64; n as usize];
        for _ in 0..draws {
            counts[z.next_rank(&mut rng, n) as usize] += 1;
        }
        let pmf = zipf_pmf(n, THETA);
        // Ranks 0 and 1 are exact: within 4 standard deviations of the binomial.
        for r in 0..2 {
            let expected = pmf[r] * draws as f64;
            let sd = (expected * (1.0 - pmf[r])).sqrt();
            let got = counts[r] as f64;
            assert!((got - expected).abs() < 4.0 * sd, "rank {r}: {got} vs {expected}");
        }
        // The tail is an approximation: the mass in log-spaced rank bands is within 10 %.
        let mut lo = 2usize;
        while lo < n as usize {
            let hi = (lo * 4).min(n as usize);
            let expected: f64 = pmf[lo..hi].iter().sum::<f64>() * draws as f64;
            let got: u64 = counts[lo..hi].iter().sum();
            let error = (got as f64 - expected).abs() / expected;
            assert!(error < 0.10, "ranks {lo}..{hi}: {got} vs {expected:.0} ({error:.3})");
            lo = hi;
        }
        // And the skew is the documented one: rank 0 is ~1/zeta(n) of all draws.
        let top_share = counts[0] as f64 / draws as f64;
        assert!((top_share - pmf[0]).abs() < 0.01, "top share {top_share} vs {}", pmf[0]);
    }

    #[test]
    fn zipfian_with_a_growing_count_matches_a_fresh_one() {
        let mut grown = Zipfian::new(THETA);
        grown.grow_to(500);
        grown.grow_to(1000);
        let mut fresh = Zipfian::new(THETA);
        fresh.grow_to(1000);
        assert!((grown.zetan - fresh.zetan).abs() < 1e-9);
    }

    #[test]
    fn scatter_is_a_permutation() {
        for count in [1u64, 7, 1000, 4096] {
            let mut seen = vec![false; count as usize];
            for r in 0..count {
                seen[scatter(r, count) as usize] = true;
            }
            assert!(seen.iter().all(|s| *s), "count {count}");
        }
        // Hot ranks are not neighbours.
        assert!(scatter(1, 100_000).abs_diff(scatter(0, 100_000)) > 1);
    }

    #[test]
    fn latest_favours_the_newest_records() {
        let count = 10_000u64;
        let draws = samples();
        let mut rng = Rng::new(3);
        let mut chooser = KeyChooser::new(Distribution::Latest { theta: THETA });
        let mut newest = 0u64;
        let mut newest_ten = 0u64;
        let mut older_half = 0u64;
        for _ in 0..draws {
            let k = chooser.next(&mut rng, count);
            assert!(k < count);
            newest += u64::from(k == count - 1);
            newest_ten += u64::from(k >= count - 10);
            older_half += u64::from(k < count / 2);
        }
        let pmf = zipf_pmf(count, THETA);
        let p_newest = pmf[0];
        let p_ten: f64 = pmf[..10].iter().sum();
        let p_half: f64 = pmf[(count / 2) as usize..].iter().sum();
        let share = |n: u64| n as f64 / draws as f64;
        assert!((share(newest) - p_newest).abs() < 0.01, "{} vs {p_newest}", share(newest));
        assert!((share(newest_ten) - p_ten).abs() < 0.02, "{} vs {p_ten}", share(newest_ten));
        assert!((share(older_half) - p_half).abs() / p_half < 0.15, "{}", share(older_half));
        // After more inserts, the newest record moves with them.
        let mut hits = 0;
        for _ in 0..1000 {
            hits += u64::from(chooser.next(&mut rng, count + 100) >= count);
        }
        assert!(hits > 300, "new records should be hot, got {hits}/1000");
    }

    #[test]
    fn uniform_covers_the_range_evenly() {
        let count = 100u64;
        let draws = samples();
        let mut rng = Rng::new(5);
        let mut chooser = KeyChooser::new(Distribution::Uniform);
        let mut counts = vec![0u64; count as usize];
        for _ in 0..draws {
            counts[chooser.next(&mut rng, count) as usize] += 1;
        }
        // Chi-square with 99 degrees of freedom: the 99.9th percentile is about 149.
        let expected = draws as f64 / count as f64;
        let chi2: f64 = counts.iter().map(|c| (*c as f64 - expected).powi(2) / expected).sum();
        assert!(chi2 < 149.0, "chi-square {chi2}");
    }

    #[test]
    fn key_names_sort_by_number() {
        assert_eq!(key_name(42), "user000000000042");
        assert!(key_name(9) < key_name(10));
    }
}
