//! Transcoding rows straight into an item's encoding, for reads that would decode them only
//! to encode their live attributes again.
//!
//! A point read finds versions of one row in several places: decoded [`Row`]s in memtables
//! and encoded bytes in SSTables. [`Row::encode_live_merged`] merges the versions cell by cell
//! where they lie and writes the merge's live attributes as an item; names and values of
//! stored versions are copied, never built. Its output is, byte for byte, what
//! [`crate::value::encode_item_map`] writes for the decoded versions merged with
//! [`Row::merge`] and passed through [`Row::into_live_attributes`] (property tests check it).
//! Decoding a 1 KB row into attribute maps, and copying a memtable's row to merge it, was a
//! seventh of a node's CPU serving GETs of items updated since their last compaction.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::btree_map;

use smallvec::SmallVec;

use super::{expiry_passed, expiry_rank, read_cell_header, read_row_tombstone, Cell, Row};
use super::{Timestamp, Value};
use crate::error::Result;
use crate::{put_len_prefixed, Reader};

/// One version of a row, as a source of a merged read.
#[derive(Clone, Copy, Debug)]
pub enum RowVersion<'a> {
    /// As stored: [`Row::encode`]'s bytes.
    Stored(&'a [u8]),
    /// Decoded (a memtable's row).
    Decoded(&'a Row),
}

/// A cell's value where it lies.
#[derive(Clone, Copy)]
enum ValueRef<'a> {
    /// A stored value's encoding.
    Stored(&'a [u8]),
    Decoded(&'a Value),
}

impl ValueRef<'_> {
    fn encode(self, out: &mut Vec<u8>) {
        match self {
            ValueRef::Stored(bytes) => out.extend_from_slice(bytes),
            ValueRef::Decoded(value) => value.encode(out),
        }
    }

    /// Compares encodings rather than the derived `Ord`: the bytes are the stable, on-disk
    /// contract that every replica and version agrees on. Reached only for two live versions
    /// of an attribute with the same timestamp and expiry, so encoding a decoded value here
    /// costs nothing that matters.
    fn cmp_encoded(self, other: ValueRef<'_>) -> Ordering {
        fn bytes(value: ValueRef<'_>) -> Cow<'_, [u8]> {
            match value {
                ValueRef::Stored(bytes) => Cow::Borrowed(bytes),
                ValueRef::Decoded(value) => Cow::Owned(value.to_bytes()),
            }
        }
        bytes(self).cmp(&bytes(other))
    }
}

/// One version's cell, read in place.
#[derive(Clone, Copy)]
pub(super) struct CellRef<'a> {
    /// The name's bytes; stored names are not checked for UTF-8 again (like stored values,
    /// see `value::skip_stored`), and UTF-8 sorts as its bytes do.
    name: &'a [u8],
    ts: Timestamp,
    expires_at_ms: u64,
    /// `None` for an attribute tombstone.
    value: Option<ValueRef<'a>>,
}

impl<'a> CellRef<'a> {
    /// A decoded cell named `name`.
    pub(super) fn decoded(name: &'a [u8], cell: &'a Cell) -> CellRef<'a> {
        CellRef {
            name,
            ts: cell.ts,
            expires_at_ms: cell.expires_at_ms,
            value: cell.value.as_ref().map(ValueRef::Decoded),
        }
    }

    /// The merge order, [`Cell::cmp_precedence`] (which calls this): `Greater` means `self`
    /// wins. Greater ts wins; at equal ts a tombstone beats a live value, then the later
    /// expiry wins, then the greater encoded value.
    pub(super) fn cmp_precedence(&self, other: &CellRef<'_>) -> Ordering {
        self.ts
            .cmp(&other.ts)
            .then_with(|| self.value.is_none().cmp(&other.value.is_none()))
            .then_with(|| expiry_rank(self.expires_at_ms).cmp(&expiry_rank(other.expires_at_ms)))
            .then_with(|| match (self.value, other.value) {
                (Some(a), Some(b)) => a.cmp_encoded(b),
                _ => Ordering::Equal,
            })
    }
}

/// A walk over one version's cells in name order.
enum Cells<'a> {
    Stored {
        buf: &'a [u8],
        reader: Reader<'a>,
        /// Cells not yet read.
        left: usize,
        last: Option<&'a [u8]>,
    },
    Decoded(btree_map::Iter<'a, String, Cell>),
}

impl<'a> Cells<'a> {
    /// The walk over `version`'s cells, and its row tombstone.
    fn open(version: RowVersion<'a>) -> Result<(Cells<'a>, Option<Timestamp>)> {
        Ok(match version {
            RowVersion::Stored(buf) => {
                let mut reader = Reader::new(buf, "row");
                let tombstone = read_row_tombstone(&mut reader)?;
                let left = reader.count()?;
                (Cells::Stored { buf, reader, left, last: None }, tombstone)
            }
            RowVersion::Decoded(row) => (Cells::Decoded(row.cells.iter()), row.tombstone),
        })
    }

    /// The next cell; at the end of a stored row, checks that nothing follows it.
    fn next(&mut self) -> Result<Option<CellRef<'a>>> {
        match self {
            Cells::Decoded(cells) => {
                Ok(cells.next().map(|(name, cell)| CellRef::decoded(name.as_bytes(), cell)))
            }
            Cells::Stored { buf, reader, left, last } => {
                if *left == 0 {
                    if reader.remaining() != 0 {
                        return Err(
                            reader.error(format!("{} bytes after the row", reader.remaining()))
                        );
                    }
                    return Ok(None);
                }
                *left -= 1;
                let name = reader.len_prefixed()?;
                if last.is_some_and(|last| last >= name) {
                    let name = String::from_utf8_lossy(name);
                    return Err(reader.error(format!("attribute {name:?} out of order")));
                }
                *last = Some(name);
                let (live, ts, expires_at_ms) = read_cell_header(reader)?;
                let value_start = reader.pos();
                if live {
                    crate::value::skip_stored(reader)?;
                }
                let value = buf.get(value_start..reader.pos()).unwrap_or_default();
                Ok(Some(CellRef {
                    name,
                    ts,
                    expires_at_ms,
                    value: live.then_some(ValueRef::Stored(value)),
                }))
            }
        }
    }
}

impl Row {
    /// Appends to `out` the live attributes at `now_ms` of `versions` merged (in any order:
    /// the merge is commutative) with the deletion `deletion` applied on top (a partition's,
    /// or `None`), encoded as an item. Returns whether the merge has a live attribute; if
    /// not, nothing is appended.
    ///
    /// # Errors
    /// [`crate::Error::Decode`] where [`Row::decode`] would fail on a stored version, except
    /// that strings are not checked for UTF-8 and the order of names inside nested maps and
    /// sets is not checked (see `value::skip_stored`).
    pub fn encode_live_merged(
        versions: &[RowVersion<'_>],
        deletion: Option<Timestamp>,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> Result<bool> {
        let mut tombstone = deletion;
        // Each version's walk and the cell it stands on.
        let mut walks: SmallVec<[(Cells<'_>, Option<CellRef<'_>>); 4]> = SmallVec::new();
        for version in versions {
            let (mut cells, row_tombstone) = Cells::open(*version)?;
            tombstone = tombstone.max(row_tombstone);
            let head = cells.next()?;
            walks.push((cells, head));
        }
        let mut live: SmallVec<[(&[u8], ValueRef<'_>); 16]> = SmallVec::new();
        loop {
            // The smallest name any walk stands on, and its winning version.
            let mut winner: Option<CellRef<'_>> = None;
            for cell in walks.iter().filter_map(|(_, head)| head.as_ref()) {
                let wins = winner.as_ref().is_none_or(|w| match cell.name.cmp(w.name) {
                    Ordering::Less => true,
                    Ordering::Equal => cell.cmp_precedence(w) == Ordering::Greater,
                    Ordering::Greater => false,
                });
                if wins {
                    winner = Some(*cell);
                }
            }
            let Some(winner) = winner else { break };
            for (cells, head) in &mut walks {
                if head.as_ref().is_some_and(|cell| cell.name == winner.name) {
                    *head = cells.next()?;
                }
            }
            let shadowed = tombstone.is_some_and(|t| winner.ts <= t);
            if let (false, false, Some(value)) =
                (shadowed, expiry_passed(winner.expires_at_ms, now_ms), winner.value)
            {
                live.push((winner.name, value));
            }
        }
        if live.is_empty() {
            return Ok(false);
        }
        crate::value::put_item_map_header(out, live.len());
        for (name, value) in live {
            put_len_prefixed(out, name);
            value.encode(out);
        }
        Ok(true)
    }

    /// The row tombstone of the row encoded in `buf`, read without decoding the cells.
    ///
    /// # Errors
    /// [`crate::Error::Decode`] if the row's flags are not valid.
    pub fn encoded_tombstone(buf: &[u8]) -> Result<Option<Timestamp>> {
        read_row_tombstone(&mut Reader::new(buf, "row"))
    }
}
