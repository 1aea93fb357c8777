//! The memtable: a table's recent writes, sorted by encoded key, in memory.
//!
//! A [`Memtable`] takes writes until it reaches the configured size; it is then sealed and
//! replaced by a fresh one, and a flush task writes the sealed one to an SSTable while the new
//! one takes writes. Both answer reads until the SSTable is in the manifest; a scan that holds
//! an `Rc` of a memtable keeps seeing its rows even after the flush.
//!
//! Writes merge into the existing row for their key (last-write-wins per attribute), so a key
//! has one entry however often it is written, and the order writes arrive in does not matter.
//!
//! Rows live in a hash map, so a point read costs one hash and one probe instead of a tree
//! walk of ~17 key comparisons; an ordered set of the keys beside it serves range scans and
//! the flush. Both always hold the same keys.
//!
//! Invariants: a sealed memtable never changes again; every record a memtable holds came from
//! commit-log segment `min_log_segment` or later, so replay from that segment restores it.

use std::cell::{Cell, Ref, RefCell};
use std::collections::BTreeSet;
use std::ops::Bound;
use std::rc::Rc;

use crate::types::Row;

/// Bytes charged per entry on top of its row and its key's two copies (hash slot, tree node,
/// allocation headers).
const ENTRY_OVERHEAD_BYTES: usize = 96;

/// Entries freed per step of [`Memtable::free_in_steps`], between checks for a yield.
const FREE_CHUNK_ENTRIES: usize = 256;

/// Entries handed out per refill when a scan walks a memtable (it re-seeks between refills,
/// so it never holds a borrow across an await).
pub const SCAN_CHUNK_ENTRIES: usize = 64;

type Keys = BTreeSet<Vec<u8>>;

/// Hash maps the rows are spread over. Growing a hash map rehashes it all at once; spread
/// over this many, one rehash moves 1/64 of the memtable (about 0.2 ms at 300k rows), so no
/// insert holds the core for long.
const ROW_SHARDS: usize = 64;

/// The rows of a memtable, by key, in [`ROW_SHARDS`] hash maps.
struct Rows {
    hasher: ahash::RandomState,
    shards: Vec<ahash::AHashMap<Vec<u8>, Row>>,
    len: usize,
}

impl Default for Rows {
    fn default() -> Self {
        let shards = (0..ROW_SHARDS).map(|_| ahash::AHashMap::default()).collect();
        Rows { hasher: ahash::RandomState::new(), shards, len: 0 }
    }
}

impl Rows {
    fn shard(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) % ROW_SHARDS as u64) as usize
    }

    fn get(&self, key: &[u8]) -> Option<&Row> {
        self.shards.get(self.shard(key))?.get(key)
    }

    fn get_mut(&mut self, key: &[u8]) -> Option<&mut Row> {
        let shard = self.shard(key);
        self.shards.get_mut(shard)?.get_mut(key)
    }

    fn insert(&mut self, key: Vec<u8>, row: Row) {
        let shard = self.shard(&key);
        let map = self.shards.get_mut(shard).expect("shard index below ROW_SHARDS");
        if map.insert(key, row).is_none() {
            self.len += 1;
        }
    }

    fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The active memtable of one table on one core.
#[derive(Default)]
pub struct Memtable {
    rows: RefCell<Rows>,
    keys: RefCell<Keys>,
    approximate_bytes: Cell<usize>,
    min_log_segment: Cell<Option<u64>>,
    sealed: Cell<bool>,
    /// Whether any partition header (partition-wide deletion) was written here; point reads
    /// skip the header lookup in memtables that have none.
    has_partition_headers: Cell<bool>,
}

fn chunk(
    keys: &Keys,
    rows: &Rows,
    lower: Bound<&[u8]>,
    upper: Bound<&[u8]>,
    reverse: bool,
    limit: usize,
) -> Vec<(Vec<u8>, Row)> {
    if let (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) =
        (lower, upper)
    {
        // BTreeSet::range panics on inverted or empty-exclusive ranges; both mean "nothing".
        let empty = l > u
            || (l == u && !matches!((lower, upper), (Bound::Included(_), Bound::Included(_))));
        if empty {
            return Vec::new();
        }
    }
    let range = keys.range::<[u8], _>((lower, upper));
    let entry = |key: &Vec<u8>| {
        let row = rows.get(key).expect("the key set and the row map hold the same keys");
        (key.clone(), row.clone())
    };
    if reverse {
        range.rev().take(limit).map(entry).collect()
    } else {
        range.take(limit).map(entry).collect()
    }
}

impl Memtable {
    /// Merges `row` into the entry for `key`. `log_segment` is the commit-log segment holding
    /// the write's record.
    pub fn apply(&self, key: &[u8], row: Row, log_segment: u64) {
        assert!(!self.sealed.get(), "write into a sealed memtable");
        let mut rows = self.rows.borrow_mut();
        let added = match rows.get_mut(key) {
            Some(existing) => {
                let before = existing.encoded_len();
                existing.merge_from(row);
                existing.encoded_len().saturating_sub(before)
            }
            None => {
                let added = 2 * key.len() + row.encoded_len() + ENTRY_OVERHEAD_BYTES;
                rows.insert(key.to_vec(), row);
                self.keys.borrow_mut().insert(key.to_vec());
                added
            }
        };
        self.approximate_bytes.set(self.approximate_bytes.get() + added);
        let min = self.min_log_segment.get().map_or(log_segment, |m| m.min(log_segment));
        self.min_log_segment.set(Some(min));
    }

    /// Records that a partition header row was written (call before `apply` of its key).
    pub fn note_partition_header(&self) {
        assert!(!self.sealed.get(), "write into a sealed memtable");
        self.has_partition_headers.set(true);
    }

    /// Whether a partition header row may be here.
    pub fn has_partition_headers(&self) -> bool {
        self.has_partition_headers.get()
    }

    /// Approximate memory held.
    pub fn approximate_bytes(&self) -> usize {
        self.approximate_bytes.get()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.rows.borrow().is_empty()
    }

    /// The oldest commit-log segment any of its writes came from.
    pub fn min_log_segment(&self) -> Option<u64> {
        self.min_log_segment.get()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.rows.borrow().len()
    }

    /// Seals it: no more writes (the flush is about to copy it).
    pub fn seal(&self) {
        self.sealed.set(true);
    }

    /// Whether it is sealed.
    pub fn is_sealed(&self) -> bool {
        self.sealed.get()
    }

    /// Frees the rows a chunk at a time, yielding when the task's slice is spent. Dropping a
    /// flushed memtable at once frees every row, key and attribute allocation (over a
    /// hundred thousand at the default size) and held the core for 2 to 5 ms, stalling every
    /// request of the shard.
    pub async fn free_in_steps(self) {
        let rows = self.rows.into_inner();
        drop_in_steps(rows.shards.into_iter().flatten()).await;
        drop_in_steps(self.keys.into_inner()).await;
    }
}

async fn drop_in_steps<T>(items: impl IntoIterator<Item = T>) {
    for (i, item) in items.into_iter().enumerate() {
        drop(item);
        if i % FREE_CHUNK_ENTRIES == FREE_CHUNK_ENTRIES - 1 {
            crate::runtime::yield_if_needed().await;
        }
    }
}

impl Memtable {
    /// The row stored under `key`, if any.
    pub fn get(&self, key: &[u8]) -> Option<Row> {
        self.rows.borrow().get(key).cloned()
    }

    /// The row stored under `key`, borrowed in place. Writes to this memtable panic while
    /// the borrow lives, so it must be dropped before the next await.
    pub fn row(&self, key: &[u8]) -> Option<Ref<'_, Row>> {
        Ref::filter_map(self.rows.borrow(), |rows| rows.get(key)).ok()
    }

    /// Up to `limit` entries within `(lower, upper)`, ascending or (if `reverse`)
    /// descending.
    pub fn range_chunk(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Vec<(Vec<u8>, Row)> {
        chunk(&self.keys.borrow(), &self.rows.borrow(), lower, upper, reverse, limit)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.rows.borrow().contains_key(key)
    }
}

/// A memtable shared by its table, its readers and its flush task.
pub type SharedMemtable = Rc<Memtable>;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::types::Value;

    fn row(ts: u64, attr: &str, n: i64) -> Row {
        let mut attrs = BTreeMap::new();
        attrs.insert(attr.to_string(), Value::N(n.into()));
        Row::put_item(ts, attrs, 0)
    }

    #[test]
    fn writes_merge_per_key_and_sealing_stops_writes() {
        let memtable = Memtable::default();
        memtable.apply(b"k1", row(10, "a", 1), 3);
        memtable.apply(b"k1", row(5, "a", 2), 2);
        memtable.apply(b"k2", row(7, "b", 3), 4);
        let got = memtable.get(b"k1").unwrap();
        assert_eq!(got.live_attributes(0).unwrap()["a"], Value::N(1.into()), "newer ts wins");
        assert_eq!(memtable.min_log_segment(), Some(2));
        assert!(memtable.approximate_bytes() > 0);
        assert_eq!(memtable.len(), 2);
        memtable.seal();
        let late = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            memtable.apply(b"k3", row(8, "c", 1), 5);
        }));
        assert!(late.is_err(), "a sealed memtable refuses writes");
    }

    #[test]
    fn range_chunks_walk_both_ways_and_tolerate_empty_ranges() {
        let memtable = Memtable::default();
        for k in [b"a", b"b", b"c", b"d"] {
            memtable.apply(k, row(1, "x", 0), 0);
        }
        let keys = |v: Vec<(Vec<u8>, Row)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        let fwd = memtable.range_chunk(Bound::Excluded(b"a"), Bound::Unbounded, false, 2);
        assert_eq!(keys(fwd), vec![b"b".to_vec(), b"c".to_vec()]);
        let rev = memtable.range_chunk(Bound::Unbounded, Bound::Excluded(b"d"), true, 10);
        assert_eq!(keys(rev), vec![b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]);
        assert!(memtable
            .range_chunk(Bound::Excluded(b"c"), Bound::Excluded(b"c"), false, 5)
            .is_empty());
        assert!(memtable
            .range_chunk(Bound::Included(b"d"), Bound::Included(b"a"), false, 5)
            .is_empty());
    }

    #[test]
    fn freeing_in_steps_lets_other_tasks_run() {
        use crate::runtime::Queue;
        crate::runtime::run_test(|| async {
            let memtable = Memtable::default();
            for i in 0..200_000u32 {
                memtable.apply(&i.to_be_bytes(), row(1, &format!("attribute {i}"), i.into()), 1);
            }
            memtable.seal();
            let free = memtable.free_in_steps();
            let ((), turns) = crate::runtime::foreground_turns_during(Queue::Flush, free).await;
            // Dropping 200k rows at once takes well over a task slice on any machine, and
            // the foreground would get no turn before the free ended.
            assert!(turns > 0, "the core was held for the whole free");
        });
    }
}
