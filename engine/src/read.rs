//! The read path: a snapshot of a table's sources and the merge over them.
//!
//! A [`ReadSnapshot`] holds `Rc`s of the memtables and SSTables live when the read began, so a
//! flush or compaction that finishes mid-read cannot pull data out from under it (an SSTable
//! removed by compaction stays readable through its open handle).
//!
//! Rows from different sources for one key merge with [`Row::merge_from`], or, for a GET,
//! cell by cell where they lie ([`Row::encode_live_merged`]). That merge is commutative,
//! associative and idempotent, so the order sources are visited in does not change the
//! answer; tables are still skipped by key range and bloom filter first.

use std::collections::VecDeque;

use bytes::Bytes;
use smallvec::SmallVec;
use std::ops::Bound;
use std::rc::Rc;

use crate::error::Result;
use crate::memtable::{Memtable, SCAN_CHUNK_ENTRIES};
use crate::sstable::{Sstable, SstableIter};
use crate::types::row::RowVersion;
use crate::types::Row;

/// A snapshot's memtables: inline up to 4, so a point read allocates nothing for them.
pub type Memtables = SmallVec<[Rc<Memtable>; 4]>;
/// A snapshot's SSTables: inline up to 8.
pub type Sstables = SmallVec<[Sstable; 8]>;

/// The sources of one table at one moment.
#[derive(Clone, Default)]
pub struct ReadSnapshot {
    /// Active memtable first, then sealed ones.
    pub memtables: Memtables,
    /// Live SSTables, newest `max_ts` first.
    pub sstables: Sstables,
}

fn fold(merged: &mut Option<Row>, row: Row) {
    match merged {
        Some(existing) => existing.merge_from(row),
        None => *merged = Some(row),
    }
}

fn in_range(key: &[u8], first: &[u8], last: &[u8]) -> bool {
    first <= key && key <= last
}

impl ReadSnapshot {
    /// The row stored under `key` across every source, merged, tombstones included (`None`
    /// if no source holds the key), and how many SSTables held a row for it.
    ///
    /// # Errors
    /// I/O and checksum errors of SSTable reads; a stored row that does not decode.
    pub async fn get_row(&self, key: &[u8]) -> Result<(Option<Row>, usize)> {
        self.get_row_of(key, false).await
    }

    /// The merged row under a partition header key: memtables and SSTables that never took
    /// a partition deletion are skipped.
    ///
    /// # Errors
    /// As [`ReadSnapshot::get_row`].
    pub async fn get_partition_header(&self, key: &[u8]) -> Result<Option<Row>> {
        Ok(self.get_row_of(key, true).await?.0)
    }

    async fn get_row_of(&self, key: &[u8], header: bool) -> Result<(Option<Row>, usize)> {
        let mut merged: Option<Row> = None;
        for memtable in &self.memtables {
            if header && !memtable.has_partition_headers() {
                continue;
            }
            if let Some(row) = memtable.get(key) {
                fold(&mut merged, row);
            }
        }
        let tombstone = merged.as_ref().and_then(|row| row.tombstone);
        let stored = self.table_rows(key, header, tombstone).await?;
        for bytes in &stored {
            fold(&mut merged, Row::decode(bytes)?);
        }
        Ok((merged, stored.len()))
    }

    /// Appends to `out` the live attributes under `key` at `now_ms`, with the partition
    /// deletion `deletion` (if any) applied, encoded as an item; returns whether there was
    /// one (if not, nothing is appended), and how many SSTables held a row for the key. The
    /// versions are merged where they lie
    /// ([`Row::encode_live_merged`]): SSTable rows stay encoded and memtable rows are
    /// borrowed, so a GET decodes and copies no row.
    ///
    /// # Errors
    /// As [`ReadSnapshot::get_row`].
    pub async fn encode_live_item(
        &self,
        key: &[u8],
        deletion: Option<u64>,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> Result<(bool, usize)> {
        // The memtables' row deletions (and the partition's) decide which SSTables can be
        // skipped; their rows are borrowed only once the SSTables are read, as a borrow must
        // not live across an await. A write landing in between is seen: it is as recent as
        // the read, and merging is commutative.
        let tombstone = self
            .memtables
            .iter()
            .filter_map(|memtable| memtable.row(key)?.tombstone)
            .max()
            .max(deletion);
        let stored = self.table_rows(key, false, tombstone).await?;
        let borrowed: SmallVec<[_; 4]> =
            self.memtables.iter().filter_map(|memtable| memtable.row(key)).collect();
        let mut versions: SmallVec<[RowVersion<'_>; 8]> =
            borrowed.iter().map(|row| RowVersion::Decoded(row)).collect();
        versions.extend(stored.iter().map(|bytes| RowVersion::Stored(bytes)));
        out.reserve(stored.iter().map(Bytes::len).max().unwrap_or(0));
        let live = Row::encode_live_merged(&versions, deletion, now_ms, out)?;
        Ok((live, stored.len()))
    }

    /// The SSTable rows under `key`, newest table first, as stored. `tombstone` is the
    /// newest row deletion the newer sources (memtables) hold: a deletion at or after
    /// everything a table holds shadows all of it (a whole-item put carries one), so with
    /// tables newest first the rest are skipped.
    async fn table_rows(
        &self,
        key: &[u8],
        header: bool,
        mut tombstone: Option<u64>,
    ) -> Result<SmallVec<[Bytes; 4]>> {
        let mut rows = SmallVec::new();
        for table in &self.sstables {
            if tombstone.is_some_and(|t| t >= crate::flush::table_max_ts(table)) {
                break;
            }
            if header && !crate::flush::table_may_hold_partition_headers(table) {
                continue;
            }
            if !in_range(key, table.first_key(), table.last_key()) || !table.may_contain(key) {
                continue;
            }
            let Some(bytes) = table.get(key).await? else { continue };
            tombstone = tombstone.max(Row::encoded_tombstone(&bytes)?);
            rows.push(bytes);
        }
        Ok(rows)
    }

    /// Whether any source may hold a partition header row (a partition-wide deletion).
    pub fn may_hold_partition_headers(&self) -> bool {
        self.sstables.iter().any(crate::flush::table_may_hold_partition_headers)
            || self.memtables.iter().any(|m| m.has_partition_headers())
    }

    /// Whether any source may hold `key` (memtables exactly, SSTables by bloom filter).
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.memtables.iter().any(|m| m.contains(key))
            || self
                .sstables
                .iter()
                .any(|t| in_range(key, t.first_key(), t.last_key()) && t.may_contain(key))
    }

    /// An iterator over merged rows with keys in `(lower, upper)`.
    pub fn merge_iter(
        &self,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
    ) -> MergeIter {
        let mut sources = Vec::new();
        for memtable in &self.memtables {
            let cursor = MemCursor {
                memtable: memtable.clone(),
                buffer: VecDeque::new(),
                lower: lower.clone(),
                upper: upper.clone(),
                reverse,
                exhausted: false,
            };
            sources.push(Source { cursor: Cursor::Mem(cursor), head: None, done: false });
        }
        for table in &self.sstables {
            if !overlaps(table, &lower, &upper) {
                continue;
            }
            let iter = table.iter(lower.clone(), upper.clone(), reverse);
            sources.push(Source { cursor: Cursor::Table(Box::new(iter)), head: None, done: false });
        }
        MergeIter { sources, reverse }
    }
}

fn overlaps(table: &Sstable, lower: &Bound<Vec<u8>>, upper: &Bound<Vec<u8>>) -> bool {
    let above_lower = match lower {
        Bound::Included(l) => table.last_key() >= l.as_slice(),
        Bound::Excluded(l) => table.last_key() > l.as_slice(),
        Bound::Unbounded => true,
    };
    let below_upper = match upper {
        Bound::Included(u) => table.first_key() <= u.as_slice(),
        Bound::Excluded(u) => table.first_key() < u.as_slice(),
        Bound::Unbounded => true,
    };
    above_lower && below_upper
}

/// Walks a memtable in chunks, re-seeking after each: no borrow is held across an await, and
/// writes landing ahead of the cursor are seen.
struct MemCursor {
    memtable: Rc<Memtable>,
    buffer: VecDeque<(Vec<u8>, Row)>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    exhausted: bool,
}

impl MemCursor {
    fn next(&mut self) -> Option<(Vec<u8>, Row)> {
        if self.buffer.is_empty() && !self.exhausted {
            let chunk = self.memtable.range_chunk(
                as_slice_bound(&self.lower),
                as_slice_bound(&self.upper),
                self.reverse,
                SCAN_CHUNK_ENTRIES,
            );
            self.exhausted = chunk.len() < SCAN_CHUNK_ENTRIES;
            if let Some((last, _)) = chunk.last() {
                // The next chunk starts just past the last key handed out.
                if self.reverse {
                    self.upper = Bound::Excluded(last.clone());
                } else {
                    self.lower = Bound::Excluded(last.clone());
                }
            }
            self.buffer.extend(chunk);
        }
        self.buffer.pop_front()
    }
}

fn as_slice_bound(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_slice()),
        Bound::Excluded(key) => Bound::Excluded(key.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

enum Cursor {
    Mem(MemCursor),
    Table(Box<SstableIter>),
}

struct Source {
    cursor: Cursor,
    head: Option<(Bytes, Row)>,
    done: bool,
}

impl Source {
    async fn fill(&mut self) -> Result<()> {
        if self.head.is_some() || self.done {
            return Ok(());
        }
        self.head = match &mut self.cursor {
            Cursor::Mem(cursor) => cursor.next().map(|(key, row)| (Bytes::from(key), row)),
            Cursor::Table(iter) => match iter.next().await? {
                Some((key, value)) => Some((key, Row::decode(&value)?)),
                None => None,
            },
        };
        self.done = self.head.is_none();
        Ok(())
    }
}

/// Merges the sources of a [`ReadSnapshot`] into one ordered stream of rows.
pub struct MergeIter {
    sources: Vec<Source>,
    reverse: bool,
}

impl MergeIter {
    /// The next key and its merged row (tombstones included), or `None` at the end.
    ///
    /// # Errors
    /// I/O and checksum errors of SSTable reads; the iterator should not be used after one.
    pub async fn next(&mut self) -> Result<Option<(Bytes, Row)>> {
        for source in &mut self.sources {
            source.fill().await?;
        }
        let reverse = self.reverse;
        let best = self
            .sources
            .iter()
            .filter_map(|s| s.head.as_ref().map(|(key, _)| key))
            .reduce(|a, b| if (b < a) != reverse { b } else { a })
            .cloned();
        let Some(key) = best else { return Ok(None) };
        let mut merged: Option<Row> = None;
        for source in &mut self.sources {
            if source.head.as_ref().is_some_and(|(k, _)| *k == key) {
                let (_, row) = source.head.take().expect("head checked above");
                fold(&mut merged, row);
            }
        }
        Ok(merged.map(|row| (key, row)))
    }
}
