//! Where a partition lives: its token, and the shard (core) that owns a token inside a node.
//!
//! Clients and servers must agree on both, across versions and platforms, so both are fixed
//! functions, documented here and pinned by tests:
//!
//! - **Token** = `xxh3_64` (the XXH3 64-bit hash, seed 0) of the partition key's canonical
//!   bytes, which are its order-preserving encoding ([`encode_key_value`]: one type tag byte,
//!   then the escaped string or binary bytes and a terminator, or the number's ordered
//!   encoding). Equal keys of one type always give equal tokens; `"1"` (S) and `1` (N) differ.
//!   Not `ahash`: its output may change between releases.
//! - **Shard** of a token on a node with `n` shards: drop the token's top
//!   [`SHARD_IGNORE_MSB_BITS`] bits, then scale the remaining 64-bit fraction to `0..n`:
//!   `((token << 12) as u128 * n as u128) >> 64`. The ring places vnodes by the token's high
//!   bits; taking the shard from the same high bits would put a node's narrow vnode ranges on
//!   few cores (ScyllaDB's lesson). Ignoring the top 12 bits cuts the ring into 4096 windows and
//!   spreads each window over every shard in contiguous sub-ranges, so a vnode range wider than
//!   a window (ring / 4096) touches every core, and token-range scans stay contiguous per shard.

use crate::key::{encode_key_value, KeyValue};

/// Top token bits the shard function ignores (ScyllaDB's `murmur3_partitioner_ignore_msb_bits`
/// default): 4096 windows on the ring.
pub const SHARD_IGNORE_MSB_BITS: u32 = 12;

/// Most shards a node can have.
pub const SHARDS_MAX: u32 = 1024;

/// The token of a partition key.
pub fn token(partition: &KeyValue) -> u64 {
    let mut bytes = Vec::with_capacity(32);
    encode_key_value(partition, &mut bytes);
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// The shard (`0..shards`) that owns `token` on a node with `shards` shards.
///
/// # Panics
/// If `shards` is 0 or over [`SHARDS_MAX`] (a configuration bug, checked at start-up).
pub fn shard_of(token: u64, shards: u32) -> u32 {
    assert!((1..=SHARDS_MAX).contains(&shards), "shard count {shards} out of range");
    let fraction = u128::from(token << SHARD_IGNORE_MSB_BITS);
    let shard = (fraction * u128::from(shards)) >> 64;
    u32::try_from(shard).expect("below shards by construction")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned values: if these change, clients and servers of different versions disagree on
    /// where data lives. Never update them; add a new partitioner instead.
    #[test]
    fn tokens_are_pinned() {
        // XXH3-64 of the empty input, seed 0, from the XXH3 specification's reference: the
        // hash itself is the standard one.
        assert_eq!(xxhash_rust::xxh3::xxh3_64(b""), 0x2D06_8005_38D3_94C2);
        assert_eq!(token(&KeyValue::S("user1".into())), PINNED_USER1);
        assert_eq!(token(&KeyValue::N(crate::Number::from(42))), PINNED_42);
        assert_ne!(token(&KeyValue::S("1".into())), token(&KeyValue::N(crate::Number::from(1))));
        assert_eq!(
            token(&KeyValue::N(crate::Number::parse("1.50").unwrap())),
            token(&KeyValue::N(crate::Number::parse("1.5").unwrap())),
            "equal numbers, equal tokens"
        );
    }

    const PINNED_USER1: u64 = 16_524_216_741_527_457_390;
    const PINNED_42: u64 = 1_579_241_269_842_898_919;

    #[test]
    fn shard_of_covers_every_shard_and_keeps_windows_contiguous() {
        for shards in [1, 2, 3, 7, 64] {
            assert_eq!(shard_of(0, shards), 0);
            assert_eq!(shard_of(u64::MAX, shards), shards - 1);
        }
        // Inside one window (top 12 bits fixed) shards ascend with the token.
        let window = 0xabc_u64 << 52;
        let mut last = 0;
        for step in 0..1000_u64 {
            let shard = shard_of(window + step * ((1 << 52) / 1000), 8);
            assert!(shard >= last, "contiguous sub-ranges");
            last = shard;
        }
        assert_eq!(last, 7);
    }

    /// A node's data spreads evenly over its cores when the node owns random vnodes of a ring
    /// shared with other nodes (the case that aliases when shard and placement use the same
    /// high bits).
    #[test]
    fn a_nodes_partitions_spread_over_its_cores() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // 3 nodes × 16 vnodes at random positions; node 0 owns the ranges ending at its tokens.
        let mut ring: Vec<(u64, usize)> = (0..48).map(|i| (next(), i % 3)).collect();
        ring.sort();
        let owner = |t: u64| ring.iter().find(|(v, _)| *v >= t).map_or(ring[0].1, |(_, n)| *n);
        let shards = 8;
        let mut per_shard = vec![0_u32; shards as usize];
        // The aliasing function for contrast: the shard from the same top bits as placement.
        let mut per_shard_top_bits = vec![0_u32; shards as usize];
        let mut owned = 0;
        for i in 0..60_000 {
            let t = token(&KeyValue::S(format!("user{i}")));
            if owner(t) == 0 {
                per_shard[shard_of(t, shards) as usize] += 1;
                per_shard_top_bits[((u128::from(t) * u128::from(shards)) >> 64) as usize] += 1;
                owned += 1;
            }
        }
        let (low, high) = (per_shard_top_bits.iter().min(), per_shard_top_bits.iter().max());
        assert!(
            high.zip(low).is_some_and(|(h, l)| *h > 3 * *l),
            "top-bit sharding aliases with placement: {per_shard_top_bits:?}"
        );
        let even = owned as f64 / f64::from(shards);
        for (shard, count) in per_shard.iter().enumerate() {
            let skew = (f64::from(*count) - even).abs() / even;
            assert!(skew < 0.1, "shard {shard}: {count} of {owned} keys ({per_shard:?})");
        }
    }
}
