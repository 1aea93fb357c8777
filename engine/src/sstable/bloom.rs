//! The bloom filter of a table: answers "certainly absent" for most keys a table lacks, so a
//! point lookup skips the block read.
//!
//! # Payload layout
//!
//! | field  | width     | notes                                                 |
//! |--------|-----------|-------------------------------------------------------|
//! | bits   | n ≥ 8     | bit `i` is bit `i % 8` of byte `i / 8`                |
//! | probes | 1         | k, 1 to [`BLOOM_PROBES_MAX`]                          |
//!
//! # Hashing
//! One `xxh3_64` of the key gives `h`; probe `i` tests bit `(h + i·δ) mod bits` with
//! `δ = h.rotate_right(33) | 1` (double hashing, as LevelDB does with 32 bits). xxh3 is a
//! specified hash with a fixed output; ahash is not, and must never be used here, because the
//! filter outlives the binary that wrote it.
//!
//! The filter is sized when the writer is created, from the expected number of keys: adding
//! more keys than expected raises the false-positive rate, never causes a false negative.

use bytes::Bytes;
use xxhash_rust::xxh3::xxh3_64;

use super::BLOOM_PROBES_MAX;

/// Smallest filter, so that tiny tables still get a useful one.
const BLOOM_BITS_MIN: usize = 64;

/// Largest filter: 512 MiB of bits, enough for 400 million keys at 10 bits each.
const BLOOM_BYTES_MAX: usize = 512 << 20;

/// The hash the filter is built on; stable across releases and machines.
fn bloom_hash(key: &[u8]) -> u64 {
    xxh3_64(key)
}

/// The bit positions probed for `hash` in a filter of `bit_count` bits.
fn probes(hash: u64, probe_count: u32, bit_count: u64) -> impl Iterator<Item = u64> {
    let delta = hash.rotate_right(33) | 1;
    (0..u64::from(probe_count)).map(move |i| hash.wrapping_add(i.wrapping_mul(delta)) % bit_count)
}

/// Number of probes for `bits_per_key`: round(bits × ln 2), which minimises false positives.
pub fn probe_count(bits_per_key: u32) -> u32 {
    let k = (f64::from(bits_per_key) * std::f64::consts::LN_2).round() as u32;
    k.clamp(1, BLOOM_PROBES_MAX)
}

/// Builds a filter while keys are added.
pub struct BloomBuilder {
    bits: Vec<u8>,
    probe_count: u32,
}

impl BloomBuilder {
    /// A filter for about `expected_keys` keys at `bits_per_key`.
    pub fn new(expected_keys: usize, bits_per_key: u32) -> BloomBuilder {
        let wanted = expected_keys.saturating_mul(bits_per_key as usize).max(BLOOM_BITS_MIN);
        let bytes = wanted.div_ceil(8).min(BLOOM_BYTES_MAX);
        BloomBuilder { bits: vec![0; bytes], probe_count: probe_count(bits_per_key) }
    }

    /// Records `key`.
    pub fn add(&mut self, key: &[u8]) {
        let bit_count = self.bits.len() as u64 * 8;
        for bit in probes(bloom_hash(key), self.probe_count, bit_count) {
            if let Some(byte) = self.bits.get_mut((bit / 8) as usize) {
                *byte |= 1 << (bit % 8);
            }
        }
    }

    /// The payload: the bits, then the probe count.
    pub fn finish(mut self) -> Vec<u8> {
        let probe_count = u8::try_from(self.probe_count).expect("probe count fits u8");
        self.bits.push(probe_count);
        self.bits
    }
}

/// A filter read back from disk.
#[derive(Debug)]
pub struct BloomFilter {
    bits: Bytes,
    probe_count: u32,
}

impl BloomFilter {
    /// Checks and wraps a payload written by [`BloomBuilder::finish`].
    ///
    /// # Errors
    /// Why the payload is not a filter (a reason to wrap in `Error::Corrupt`).
    pub fn decode(payload: Bytes) -> Result<BloomFilter, &'static str> {
        let (&probe_count, _) = payload.split_last().ok_or("empty bloom block")?;
        let bit_bytes = payload.len() - 1;
        if !(BLOOM_BITS_MIN / 8..=BLOOM_BYTES_MAX).contains(&bit_bytes) {
            return Err("bloom filter size out of range");
        }
        if probe_count == 0 || u32::from(probe_count) > BLOOM_PROBES_MAX {
            return Err("bloom probe count out of range");
        }
        Ok(BloomFilter { bits: payload.slice(..bit_bytes), probe_count: u32::from(probe_count) })
    }

    /// `false` if `key` was certainly never added; `true` if it may have been.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        let bit_count = self.bits.len() as u64 * 8;
        probes(bloom_hash(key), self.probe_count, bit_count).all(|bit| {
            self.bits.get((bit / 8) as usize).is_some_and(|byte| byte & (1 << (bit % 8)) != 0)
        })
    }

    /// Bytes of memory the filter holds.
    pub fn memory_bytes(&self) -> usize {
        self.bits.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn filter(keys: impl Iterator<Item = Vec<u8>>, expected: usize, bits: u32) -> BloomFilter {
        let mut builder = BloomBuilder::new(expected, bits);
        for key in keys {
            builder.add(&key);
        }
        BloomFilter::decode(Bytes::from(builder.finish())).unwrap()
    }

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        let n = 20_000;
        let bloom = filter((0..n).map(|i| format!("present-{i}").into_bytes()), n, 10);
        assert!((0..n).all(|i| bloom.may_contain(format!("present-{i}").as_bytes())));
        let probes = 100_000;
        let false_positives =
            (0..probes).filter(|i| bloom.may_contain(format!("absent-{i}").as_bytes())).count();
        let rate = false_positives as f64 / probes as f64;
        assert!(rate < 0.02, "false-positive rate {rate}");
        assert_eq!(probe_count(10), 7);
    }

    #[test]
    fn the_hash_is_stable() {
        // A changed hash would make every filter on disk answer wrongly: pin it.
        assert_eq!(bloom_hash(b""), 0x2d06800538d394c2);
        assert_eq!(bloom_hash(b"shoal"), xxh3_64(b"shoal"));
    }

    #[test]
    fn more_keys_than_expected_still_has_no_false_negatives() {
        let bloom = filter((0..5000).map(|i: i32| i.to_le_bytes().to_vec()), 10, 10);
        assert!((0..5000).all(|i: i32| bloom.may_contain(&i.to_le_bytes())));
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100),
                                     key in proptest::collection::vec(any::<u8>(), 0..10)) {
            if let Ok(bloom) = BloomFilter::decode(Bytes::from(bytes)) {
                let _ = bloom.may_contain(&key);
            }
        }
    }
}
