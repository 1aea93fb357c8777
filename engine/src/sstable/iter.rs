//! Range iteration over one table, forwards or backwards.
//!
//! [`SstableIter`] owns a clone of the table handle and an `Rc` of the block it is in, so it
//! can be held across awaits while other tasks use the same table. It loads one block at a
//! time through the block cache and gives the core away (`yield_if_needed`) between blocks.
//! Within a block a [`BlockCursor`] decodes one restart interval (at most 16 entries) at a
//! time, so a short range scan does not decode whole blocks.
//!
//! The first block is found by binary search of the index on the bound the walk starts from
//! (`lower` forwards, `upper` backwards); the walk ends at the first key past the other bound.

use std::ops::Bound;
use std::rc::Rc;

use bytes::Bytes;

use super::block::{Block, Entry};
use super::reader::Sstable;
use crate::error::Result;
use crate::runtime;

/// Entries of one table within bounds, in key order or reverse key order.
pub struct SstableIter {
    table: Sstable,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    /// The block the cursor walks, or the next one to load when `cursor` is `None`.
    block_index: usize,
    cursor: Option<BlockCursor>,
    /// Whether the first block was sought (later blocks start at their edge).
    started: bool,
    done: bool,
}

impl SstableIter {
    pub(crate) fn new(
        table: Sstable,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
    ) -> SstableIter {
        let mut iter = SstableIter {
            table,
            lower,
            upper,
            reverse,
            block_index: 0,
            cursor: None,
            started: false,
            done: false,
        };
        let count = match iter.start_bound() {
            Some((bound, or_equal)) => iter.table.blocks_before(|k| before(k, bound, or_equal)),
            None if reverse => iter.table.block_count(),
            None => 0,
        };
        let blocks = iter.table.block_count();
        assert!(blocks > 0, "an open table has at least one block");
        if reverse {
            // The block whose last key is the first one past `upper` may still hold keys within
            // it; if every last key is within, the walk starts in the last block.
            iter.block_index = count.min(blocks - 1);
        } else {
            iter.block_index = count;
            iter.done = count == blocks;
        }
        iter
    }

    /// The next entry, or `None` at the end of the range.
    ///
    /// # Errors
    /// The disk's error; [`Error::ChecksumMismatch`](crate::error::Error) or
    /// `Error::Corrupt` for a bad block. The iterator may be called again to retry the block.
    pub async fn next(&mut self) -> Result<Option<(Bytes, Bytes)>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let Some(cursor) = &mut self.cursor else {
                self.load_cursor().await?;
                continue;
            };
            let Some((key, value)) = cursor.current() else {
                self.cursor = None;
                self.step_block();
                continue;
            };
            let end = if self.reverse { &self.lower } else { &self.upper };
            if past_end(key, as_slice_bound(end), self.reverse) {
                self.finish();
                return Ok(None);
            }
            let entry = (key.clone(), value.clone());
            cursor.advance(self.reverse);
            return Ok(Some(entry));
        }
    }

    /// Loads the block at `block_index` and positions the cursor in it.
    async fn load_cursor(&mut self) -> Result<()> {
        runtime::yield_if_needed().await;
        let block = self.table.load_block(self.block_index).await?;
        let cursor = match (self.started, self.start_bound()) {
            (false, Some((bound, or_equal))) => {
                BlockCursor::seek(block, |k| before(k, bound, or_equal), self.reverse)
            }
            _ => BlockCursor::at_edge(block, self.reverse),
        };
        self.cursor = Some(cursor);
        self.started = true;
        Ok(())
    }

    /// Moves to the neighbouring block in the walk's direction, or ends the walk.
    fn step_block(&mut self) {
        let next = if self.reverse {
            self.block_index.checked_sub(1)
        } else {
            Some(self.block_index + 1).filter(|&i| i < self.table.block_count())
        };
        match next {
            Some(index) => self.block_index = index,
            None => self.finish(),
        }
    }

    fn finish(&mut self) {
        self.done = true;
        self.cursor = None;
    }

    /// The bound the walk starts from, and whether keys equal to it come before the walk.
    fn start_bound(&self) -> Option<(&[u8], bool)> {
        match (self.reverse, &self.lower, &self.upper) {
            (false, Bound::Included(k), _) => Some((k, false)),
            (false, Bound::Excluded(k), _) => Some((k, true)),
            (true, _, Bound::Included(k)) => Some((k, true)),
            (true, _, Bound::Excluded(k)) => Some((k, false)),
            _ => None,
        }
    }
}

/// Whether `key` sorts before the walk's start: below `bound` (or equal, if `or_equal`).
fn before(key: &[u8], bound: &[u8], or_equal: bool) -> bool {
    if or_equal {
        key <= bound
    } else {
        key < bound
    }
}

fn as_slice_bound(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Whether `key` lies past the walk's end bound.
fn past_end(key: &[u8], end: Bound<&[u8]>, reverse: bool) -> bool {
    match (end, reverse) {
        (Bound::Unbounded, _) => false,
        (Bound::Included(bound), false) => key > bound,
        (Bound::Excluded(bound), false) => key >= bound,
        (Bound::Included(bound), true) => key < bound,
        (Bound::Excluded(bound), true) => key <= bound,
    }
}

/// A position in one block, walking forwards or backwards one restart interval at a time.
pub struct BlockCursor {
    block: Rc<Block>,
    interval: usize,
    entries: Vec<Entry>,
    /// Index into `entries` of the current entry; `None` once the walk left the block.
    pos: Option<usize>,
}

impl BlockCursor {
    /// A cursor on the first entry (`reverse` false) or the last entry (`reverse` true).
    pub fn at_edge(block: Rc<Block>, reverse: bool) -> BlockCursor {
        let interval = if reverse { block.restart_count() - 1 } else { 0 };
        let mut cursor = BlockCursor { block, interval, entries: Vec::new(), pos: None };
        cursor.load(interval, reverse);
        cursor
    }

    /// A cursor on the first entry whose key is not `before` (forwards), or the last entry
    /// whose key is `before` (backwards). `before` holds for a prefix of the keys in order
    /// (`k < bound` or `k <= bound`). The cursor is exhausted if there is no such entry.
    pub fn seek(block: Rc<Block>, before: impl Fn(&[u8]) -> bool, reverse: bool) -> BlockCursor {
        let count = block.restarts_before(&before);
        let mut cursor = BlockCursor { block, interval: 0, entries: Vec::new(), pos: None };
        if reverse && count == 0 {
            return cursor;
        }
        cursor.load(count.saturating_sub(1), false);
        let split = cursor.entries.partition_point(|(k, _)| before(k));
        if reverse {
            cursor.pos = split.checked_sub(1);
        } else if split < cursor.entries.len() {
            cursor.pos = Some(split);
        } else {
            cursor.pos = Some(cursor.entries.len());
            cursor.advance(false);
        }
        cursor
    }

    /// The current entry; `None` once the walk left the block.
    pub fn current(&self) -> Option<&Entry> {
        self.entries.get(self.pos?)
    }

    /// Moves one entry on (`reverse` false) or back.
    pub fn advance(&mut self, reverse: bool) {
        let Some(pos) = self.pos else { return };
        if reverse {
            if let Some(previous) = pos.checked_sub(1) {
                self.pos = Some(previous);
            } else if let Some(interval) = self.interval.checked_sub(1) {
                self.load(interval, true);
            } else {
                self.pos = None;
            }
        } else if pos + 1 < self.entries.len() {
            self.pos = Some(pos + 1);
        } else if self.interval + 1 < self.block.restart_count() {
            self.load(self.interval + 1, false);
        } else {
            self.pos = None;
        }
    }

    fn load(&mut self, interval: usize, at_end: bool) {
        self.interval = interval;
        self.entries = self.block.decode_interval(interval);
        assert!(!self.entries.is_empty(), "a restart interval holds at least one entry");
        self.pos = Some(if at_end { self.entries.len() - 1 } else { 0 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sstable::block::testing::{build, sample};
    use proptest::prelude::*;

    fn walk(mut cursor: BlockCursor, reverse: bool) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        while let Some((k, _)) = cursor.current() {
            keys.push(k.to_vec());
            cursor.advance(reverse);
        }
        keys
    }

    #[test]
    fn cursor_walks_both_ways_and_seeks() {
        let pairs = sample(40);
        let keys: Vec<Vec<u8>> = pairs.iter().map(|(k, _)| k.clone()).collect();
        let block = Rc::new(build(&pairs));
        assert_eq!(walk(BlockCursor::at_edge(block.clone(), false), false), keys);
        let mut reversed = keys.clone();
        reversed.reverse();
        assert_eq!(walk(BlockCursor::at_edge(block.clone(), true), true), reversed);
        let bound = b"key00050".as_slice();
        let ge = walk(BlockCursor::seek(block.clone(), |k| k < bound, false), false);
        assert_eq!(ge.first().unwrap(), b"key00051");
        let le = walk(BlockCursor::seek(block.clone(), |k| k <= bound, true), true);
        assert_eq!(le.first().unwrap(), b"key00048");
        let past = BlockCursor::seek(block.clone(), |k| k <= b"zzz".as_slice(), false);
        assert!(past.current().is_none());
        let before = BlockCursor::seek(block, |k| k < b"a".as_slice(), true);
        assert!(before.current().is_none());
    }

    #[test]
    fn end_bounds_cut_in_both_directions() {
        assert!(past_end(b"b", Bound::Excluded(b"b"), false));
        assert!(!past_end(b"b", Bound::Included(b"b"), false));
        assert!(past_end(b"a", Bound::Included(b"b"), true));
        assert!(past_end(b"b", Bound::Excluded(b"b"), true));
        assert!(!past_end(b"c", Bound::Excluded(b"b"), true));
        assert!(!past_end(b"z", Bound::Unbounded, false));
    }

    #[test]
    fn before_is_a_prefix_predicate() {
        assert!(before(b"a", b"b", false) && !before(b"b", b"b", false));
        assert!(before(b"b", b"b", true) && !before(b"c", b"b", true));
    }

    proptest! {
        #[test]
        fn cursor_seek_matches_a_model(n in 1_usize..80, bound in 0_usize..300, reverse: bool,
                                       inclusive: bool) {
            let pairs = sample(n);
            let block = Rc::new(build(&pairs));
            let bound = format!("key{:05}", bound).into_bytes();
            let before = |k: &[u8]| if inclusive != reverse { k < bound.as_slice() } else {
                k <= bound.as_slice()
            };
            let got = walk(BlockCursor::seek(block, before, reverse), reverse);
            let mut want: Vec<Vec<u8>> = pairs.iter().map(|(k, _)| k.clone())
                .filter(|k| before(k) == reverse).collect();
            if reverse {
                want.reverse();
            }
            prop_assert_eq!(got, want);
        }
    }
}
