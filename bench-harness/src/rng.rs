//! A small, fast, seedable pseudo-random generator for the load generator's hot path.
//!
//! Each client task owns one [`Rng`] (no sharing, no locks). The generator is SplitMix64
//! (Steele, Lea and Flood, 2014): one add and a few multiply-xorshift steps per number,
//! full 2^64 period, good enough statistically for choosing keys and operations. It is not
//! cryptographic and is never used for anything that must be unpredictable.

/// SplitMix64 state.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

/// The golden-ratio increment of SplitMix64.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl Rng {
    /// A generator whose sequence is fixed by `seed` (tasks use `seed + task index`).
    pub fn new(seed: u64) -> Rng {
        // Mix the seed once so that consecutive seeds start far apart.
        Rng { state: mix(seed ^ 0x5851_F42D_4C95_7F2D) }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// A uniform float in `[0, 1)` (53 random bits).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `[0, n)`; 0 when `n` is 0. Uses the multiply-high reduction,
    /// whose bias (at most n / 2^64) is far below anything a benchmark can see.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// The SplitMix64 output function; also used to scramble key ranks (see `keys`).
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Rng::new(7);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let x = rng.below(10) as usize;
            seen[x] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn floats_are_in_unit_interval() {
        let mut rng = Rng::new(1);
        let sum: f64 = (0..10_000).map(|_| rng.next_f64()).sum();
        assert!((sum / 10_000.0 - 0.5).abs() < 0.02);
    }
}
