//! The block cache of one core: decoded SSTable blocks, shared by every table of the core's
//! engine. Direct I/O bypasses the page cache, so this is the only read cache there is.
//!
//! [`BlockCache`] is a cheap-to-clone handle (`Rc<RefCell<..>>`), never shared between cores.
//! Entries are keyed by (table id, block offset) and charged by the memory of the decoded
//! block plus a fixed [`ENTRY_OVERHEAD_BYTES`].
//!
//! # Eviction: CLOCK (second chance)
//! Entries sit in a ring of slots with a "referenced" bit that a hit sets. To make room, the
//! hand sweeps the ring: a referenced entry loses its bit and is passed over once, an
//! unreferenced one is evicted. An insert evicts only what it needs, and each step of the hand
//! either clears a bit that a hit set or evicts, so the work is O(1) amortised per operation.
//! A block larger than the whole cache is not cached. Capacity 0 disables caching.
//!
//! # Invariant
//! `bytes` is the sum of the charges of the entries present and never exceeds `capacity`
//! after an insert returns; `map` and the occupied slots hold the same keys.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::sstable::Block;

/// Bytes charged per entry on top of the block: the slot, the map entry, the `Rc`.
pub const ENTRY_OVERHEAD_BYTES: usize = 96;

/// (table id, block offset in the file).
type CacheKey = (u64, u64);

/// Counters of a cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found their block.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Bytes charged by the entries present.
    pub bytes: usize,
    /// The most `bytes` may reach.
    pub capacity: usize,
}

/// Handle to one core's block cache. Clones share the cache.
#[derive(Clone)]
pub struct BlockCache {
    inner: Rc<RefCell<ClockCache>>,
}

struct Slot {
    key: CacheKey,
    block: Rc<Block>,
    charge: usize,
    referenced: bool,
}

struct ClockCache {
    capacity: usize,
    bytes: usize,
    slots: Vec<Option<Slot>>,
    /// Indexes of empty slots, reused before the ring grows.
    free: Vec<usize>,
    map: HashMap<CacheKey, usize, ahash::RandomState>,
    hand: usize,
    hits: u64,
    misses: u64,
}

impl BlockCache {
    /// A cache holding at most `capacity_bytes` of blocks (0 disables caching).
    pub fn new(capacity_bytes: usize) -> BlockCache {
        let cache = ClockCache {
            capacity: capacity_bytes,
            bytes: 0,
            slots: Vec::new(),
            free: Vec::new(),
            map: HashMap::default(),
            hand: 0,
            hits: 0,
            misses: 0,
        };
        BlockCache { inner: Rc::new(RefCell::new(cache)) }
    }

    /// The block at `offset` of table `table_id`, if cached; a hit marks it referenced.
    pub fn get(&self, table_id: u64, offset: u64) -> Option<Rc<Block>> {
        let mut cache = self.inner.borrow_mut();
        let found = cache.map.get(&(table_id, offset)).copied();
        let block = found.and_then(|index| cache.slots.get_mut(index)?.as_mut()).map(|slot| {
            slot.referenced = true;
            slot.block.clone()
        });
        match block {
            Some(_) => cache.hits += 1,
            None => cache.misses += 1,
        }
        block
    }

    /// Caches `block` under (`table_id`, `offset`), replacing any entry there, and evicts
    /// unreferenced entries until it fits. A block larger than the cache is not cached.
    pub fn insert(&self, table_id: u64, offset: u64, block: Rc<Block>) {
        let mut cache = self.inner.borrow_mut();
        let key = (table_id, offset);
        cache.remove(key);
        let charge = block.charge_bytes() + ENTRY_OVERHEAD_BYTES;
        if charge > cache.capacity {
            return;
        }
        while cache.bytes + charge > cache.capacity {
            cache.evict_one();
        }
        cache.place(Slot { key, block, charge, referenced: false });
        assert!(cache.bytes <= cache.capacity, "cache over capacity after insert");
    }

    /// Drops every block of `table_id` (its file was deleted). O(slots): called once per
    /// deleted table, not per read.
    pub fn remove_table(&self, table_id: u64) {
        let mut cache = self.inner.borrow_mut();
        let keys: Vec<CacheKey> =
            cache.map.keys().filter(|key| key.0 == table_id).copied().collect();
        for key in keys {
            cache.remove(key);
        }
    }

    /// The cache's counters.
    pub fn stats(&self) -> CacheStats {
        let cache = self.inner.borrow();
        CacheStats {
            hits: cache.hits,
            misses: cache.misses,
            bytes: cache.bytes,
            capacity: cache.capacity,
        }
    }
}

impl ClockCache {
    /// Removes the entry under `key`, if any.
    fn remove(&mut self, key: CacheKey) {
        let Some(index) = self.map.remove(&key) else {
            return;
        };
        let slot = self.slots.get_mut(index).and_then(Option::take).expect("mapped slot is full");
        self.bytes -= slot.charge;
        self.free.push(index);
    }

    /// Advances the hand until it evicts one entry. The caller guarantees one exists.
    fn evict_one(&mut self) {
        assert!(!self.map.is_empty(), "eviction needs an entry to evict");
        loop {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let index = self.hand;
            self.hand += 1;
            let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            let key = slot.key;
            self.remove(key);
            return;
        }
    }

    /// Puts `slot` in a free place of the ring (or a new one at its end).
    fn place(&mut self, slot: Slot) {
        let (key, charge) = (slot.key, slot.charge);
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let target = self.slots.get_mut(index).expect("free index within the ring");
        assert!(target.is_none(), "free slot is empty");
        *target = Some(slot);
        self.map.insert(key, index);
        self.bytes += charge;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sstable::block::BlockBuilder;
    use bytes::Bytes;

    /// A block of about `value_bytes`.
    fn block(value_bytes: usize) -> Rc<Block> {
        let mut builder = BlockBuilder::default();
        builder.add(b"k", &vec![0; value_bytes]);
        Rc::new(Block::decode(Bytes::from(builder.finish())).unwrap())
    }

    fn charge(value_bytes: usize) -> usize {
        block(value_bytes).charge_bytes() + ENTRY_OVERHEAD_BYTES
    }

    #[test]
    fn hit_and_miss_are_counted() {
        let cache = BlockCache::new(1 << 20);
        assert!(cache.get(1, 0).is_none());
        cache.insert(1, 0, block(100));
        assert!(cache.get(1, 0).is_some());
        assert!(cache.get(1, 4096).is_none());
        assert!(cache.get(2, 0).is_none());
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses), (1, 3));
        assert_eq!(stats.bytes, charge(100));
    }

    #[test]
    fn eviction_keeps_within_capacity() {
        let capacity = 10 * charge(1000);
        let cache = BlockCache::new(capacity);
        for offset in 0..100 {
            cache.insert(7, offset, block(1000));
            let stats = cache.stats();
            assert!(stats.bytes <= capacity, "{stats:?}");
        }
        let present = (0..100).filter(|&offset| cache.get(7, offset).is_some()).count();
        assert_eq!(present, 10);
        assert!((90..100).all(|offset| cache.get(7, offset).is_some()), "newest stay");
    }

    #[test]
    fn a_referenced_entry_gets_a_second_chance() {
        let cache = BlockCache::new(3 * charge(1000));
        for offset in 0..3 {
            cache.insert(1, offset, block(1000));
        }
        assert!(cache.get(1, 0).is_some());
        cache.insert(1, 3, block(1000));
        assert!(cache.get(1, 0).is_some(), "the referenced entry survived");
        assert!(cache.get(1, 1).is_none(), "the first unreferenced entry went");
        assert!(cache.get(1, 2).is_some() && cache.get(1, 3).is_some());
    }

    #[test]
    fn remove_table_drops_only_that_table() {
        let cache = BlockCache::new(1 << 20);
        for offset in 0..5 {
            cache.insert(1, offset, block(10));
            cache.insert(2, offset, block(10));
        }
        cache.remove_table(1);
        assert!((0..5).all(|offset| cache.get(1, offset).is_none()));
        assert!((0..5).all(|offset| cache.get(2, offset).is_some()));
        assert_eq!(cache.stats().bytes, 5 * charge(10));
        cache.insert(3, 0, block(10));
        assert_eq!(cache.inner.borrow().slots.len(), 10, "freed slots are reused");
    }

    #[test]
    fn zero_capacity_and_oversized_blocks_are_not_cached() {
        let off = BlockCache::new(0);
        off.insert(1, 0, block(10));
        assert!(off.get(1, 0).is_none());
        let small = BlockCache::new(charge(10));
        small.insert(1, 0, block(10));
        small.insert(1, 1, block(5000));
        assert!(small.get(1, 0).is_some() && small.get(1, 1).is_none());
        small.insert(1, 0, block(10));
        assert_eq!(small.stats().bytes, charge(10), "replacing does not double-charge");
    }
}
