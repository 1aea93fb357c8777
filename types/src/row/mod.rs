//! [`Row`]: the versioned content stored under one key, and the last-write-wins merge.
//!
//! A row is a set of [`Cell`]s, one per attribute name, plus an optional row tombstone. Every
//! cell carries the [`Timestamp`] of the write that made it; a cell whose value is `None` is
//! an attribute tombstone (the attribute was removed). The row tombstone records a deletion
//! of the whole item (or, in a partition's header row, of the whole partition): every cell
//! with `ts <= tombstone` is dead.
//!
//! Versions of one row written at different times live in different memtables and SSTables;
//! [`Row::merge`] combines them. For every attribute it keeps the winning cell by a total
//! order ([`Cell::cmp_precedence`]): greater ts wins; at equal ts a tombstone beats a live
//! value (as in Cassandra); between live values at equal ts, the later expiry wins, then the
//! greater encoded value. Then it drops every cell the row tombstone covers. Because the order
//! is total, the merge is commutative, associative and idempotent, so replicas and
//! compactions that combine versions in any order and grouping reach the same row.
//!
//! # Encoding
//!
//! | field             | width  | notes                                                   |
//! |-------------------|--------|---------------------------------------------------------|
//! | flags             | 1      | bit 0: a row tombstone follows; other bits zero         |
//! | tombstone         | varint | only with flags bit 0                                   |
//! | cell count        | varint |                                                         |
//! | per cell, in ascending name order:                                                   |||
//! | name              | varint length + UTF-8 bytes                                      ||
//! | cell flags        | 1      | bit 0: live (a value follows); bit 1: expiry follows    |
//! | ts                | varint |                                                         |
//! | expires_at_ms     | varint | only with cell flags bit 1; never 0                     |
//! | value             | var    | [`Value`] encoding, only with cell flags bit 0          |
//!
//! [`Row::decode`] accepts only this canonical form and consumes its whole input.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{len_prefixed_len, put_len_prefixed, put_varint, varint_len, Reader, Value};
use crate::error::{Error, Result};

mod transcode;
pub use transcode::RowVersion;

/// When a write happened, in microseconds (a hybrid logical clock); larger wins.
pub type Timestamp = u64;

/// The largest item DynamoDB stores: 400 KiB, checked by [`Row::validate`].
pub const ITEM_BYTES_MAX: usize = 400 * 1024;

const ROW_FLAG_TOMBSTONE: u8 = 0x01;
const CELL_FLAG_LIVE: u8 = 0x01;
const CELL_FLAG_EXPIRY: u8 = 0x02;

/// DynamoDB ignores expiry times more than five years in the past (they are more likely
/// other numbers than expiry times); so do we.
pub const EXPIRY_LOOKBACK_SECS: u64 = 5 * 365 * 24 * 3600;

/// Whether an expiry attribute's value means "expired at `now_ms`": a number of epoch
/// seconds at or before now and not more than [`EXPIRY_LOOKBACK_SECS`] before it. Any other
/// type, or no value, never expires.
pub fn expired_by_attribute(value: Option<&Value>, now_ms: u64) -> bool {
    let Some(Value::N(n)) = value else { return false };
    let at_secs = n.to_f64();
    let now_secs = now_ms as f64 / 1000.0;
    at_secs <= now_secs && at_secs >= now_secs - EXPIRY_LOOKBACK_SECS as f64
}

/// One version of one attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    /// When it was written.
    pub ts: Timestamp,
    /// When it stops being live, in milliseconds since the Unix epoch; 0 means never.
    pub expires_at_ms: u64,
    /// The value, or `None` for an attribute tombstone.
    pub value: Option<Value>,
}

impl Cell {
    /// A live cell.
    pub fn live(ts: Timestamp, value: Value, expires_at_ms: u64) -> Cell {
        Cell { ts, expires_at_ms, value: Some(value) }
    }

    /// An attribute tombstone.
    pub fn tombstone(ts: Timestamp) -> Cell {
        Cell { ts, expires_at_ms: 0, value: None }
    }

    /// Whether the expiry has passed at `now_ms` (tombstones are dead anyway).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        expiry_passed(self.expires_at_ms, now_ms)
    }

    /// The merge order: `Greater` means `self` wins over `other`. A total order: `Equal` only
    /// for identical cells.
    pub fn cmp_precedence(&self, other: &Cell) -> Ordering {
        // One definition of the order, shared with the merge of cells read in place
        // (`transcode.rs`); the name plays no part in it.
        transcode::CellRef::decoded(b"", self)
            .cmp_precedence(&transcode::CellRef::decoded(b"", other))
    }

    fn encoded_len(&self) -> usize {
        let expiry = if self.expires_at_ms == 0 { 0 } else { varint_len(self.expires_at_ms) };
        let value = self.value.as_ref().map_or(0, Value::encoded_len);
        1 + varint_len(self.ts) + expiry + value
    }
}

/// Orders "never expires" (0) after every real expiry, keeping the raw value as a tie-break so
/// that distinct cells never compare equal.
fn expiry_rank(expires_at_ms: u64) -> (u64, u64) {
    let effective = if expires_at_ms == 0 { u64::MAX } else { expires_at_ms };
    (effective, expires_at_ms)
}

/// The versioned content under one key. See the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Row {
    /// A deletion of the whole row: every cell with `ts <= tombstone` is dead.
    pub tombstone: Option<Timestamp>,
    /// One cell per attribute name.
    pub cells: BTreeMap<String, Cell>,
}

impl Row {
    /// A whole-item replace at `ts`: the row tombstone at `ts - 1` kills every older
    /// attribute, and the new attributes live at `ts`.
    ///
    /// # Panics
    ///
    /// If `ts` is 0, which leaves no room for the tombstone (timestamps start at 1).
    pub fn put_item(
        ts: Timestamp,
        attrs: impl IntoIterator<Item = (String, Value)>,
        expires_at_ms: u64,
    ) -> Row {
        assert!(ts > 0, "put_item at ts 0 leaves no room for its tombstone at ts - 1");
        let mut row = Row::set_attrs(ts, attrs, expires_at_ms);
        row.tombstone = Some(ts - 1);
        row
    }

    /// A deletion of the whole item at `ts`.
    pub fn delete_item(ts: Timestamp) -> Row {
        Row { tombstone: Some(ts), cells: BTreeMap::new() }
    }

    /// An update that sets some attributes at `ts` and leaves the others alone.
    pub fn set_attrs(
        ts: Timestamp,
        attrs: impl IntoIterator<Item = (String, Value)>,
        expires_at_ms: u64,
    ) -> Row {
        let cells = attrs
            .into_iter()
            .map(|(name, value)| (name, Cell::live(ts, value, expires_at_ms)))
            .collect();
        Row { tombstone: None, cells }
    }

    /// An update that removes some attributes at `ts`.
    pub fn remove_attrs(ts: Timestamp, names: impl IntoIterator<Item = String>) -> Row {
        let cells = names.into_iter().map(|name| (name, Cell::tombstone(ts))).collect();
        Row { tombstone: None, cells }
    }

    /// Whether there is nothing to store: no tombstone and no cell.
    pub fn is_empty(&self) -> bool {
        self.tombstone.is_none() && self.cells.is_empty()
    }

    /// The newest timestamp in the row, cells and tombstone alike.
    pub fn max_ts(&self) -> Option<Timestamp> {
        self.cells.values().map(|cell| cell.ts).chain(self.tombstone).max()
    }

    /// Merges two versions of a row. See the module docs for the rules.
    pub fn merge(mut a: Row, b: Row) -> Row {
        a.merge_from(b);
        a
    }

    /// Merges `other` into this row.
    pub fn merge_from(&mut self, other: Row) {
        self.tombstone = self.tombstone.max(other.tombstone);
        for (name, cell) in other.cells {
            match self.cells.get_mut(&name) {
                Some(mine) if cell.cmp_precedence(mine) == Ordering::Greater => *mine = cell,
                Some(_) => {}
                None => {
                    self.cells.insert(name, cell);
                }
            }
        }
        self.drop_shadowed();
    }

    /// Applies a partition-wide deletion at `ts` to this row.
    pub fn apply_partition_tombstone(&mut self, ts: Timestamp) {
        self.tombstone = self.tombstone.max(Some(ts));
        self.drop_shadowed();
    }

    /// The live attributes at `now_ms`, or `None` if there are none (the item is deleted,
    /// never written, or all its attributes expired or were removed).
    pub fn live_attributes(&self, now_ms: u64) -> Option<BTreeMap<String, Value>> {
        let live: BTreeMap<String, Value> = self
            .cells
            .iter()
            .filter(|(_, cell)| !self.shadows(cell) && !cell.is_expired(now_ms))
            .filter_map(|(name, cell)| Some((name.clone(), cell.value.clone()?)))
            .collect();
        (!live.is_empty()).then_some(live)
    }

    /// [`Row::live_attributes`], consuming the row so values move instead of being cloned
    /// (the read path's version).
    pub fn into_live_attributes(self, now_ms: u64) -> Option<BTreeMap<String, Value>> {
        let tombstone = self.tombstone;
        let live: BTreeMap<String, Value> = self
            .cells
            .into_iter()
            .filter(|(_, cell)| tombstone.is_none_or(|t| cell.ts > t) && !cell.is_expired(now_ms))
            .filter_map(|(name, cell)| Some((name, cell.value?)))
            .collect();
        (!live.is_empty()).then_some(live)
    }

    /// DynamoDB-style expiry by attribute: if the live value of `attribute` is a number of
    /// epoch seconds at or before now (see [`expired_by_attribute`]), the whole row becomes
    /// a row tombstone at its newest timestamp, so it keeps shadowing older versions while
    /// any later write (a higher timestamp) survives. Returns whether it expired.
    pub fn expire_by_attribute(&mut self, attribute: &str, now_ms: u64) -> bool {
        let value = self
            .cells
            .get(attribute)
            .filter(|cell| !self.shadows(cell) && !cell.is_expired(now_ms))
            .and_then(|cell| cell.value.as_ref());
        if !expired_by_attribute(value, now_ms) {
            return false;
        }
        self.tombstone = self.max_ts();
        self.drop_shadowed();
        true
    }

    /// Compaction's clean-up. Expired live cells become tombstones with the same ts, because
    /// they must keep shadowing older versions of the attribute in other files. With
    /// `gc_before_ts`, tombstones (cell and row) older than it are dropped: the caller
    /// promises that no older data they could shadow remains anywhere.
    ///
    /// Returns whether the row became empty, so that nothing needs to be written for it.
    pub fn purge(&mut self, now_ms: u64, gc_before_ts: Option<Timestamp>) -> bool {
        for cell in self.cells.values_mut() {
            if cell.value.is_some() && cell.is_expired(now_ms) {
                *cell = Cell::tombstone(cell.ts);
            }
        }
        self.drop_shadowed();
        if let Some(gc_before) = gc_before_ts {
            self.cells.retain(|_, cell| cell.value.is_some() || cell.ts >= gc_before);
            if self.tombstone.is_some_and(|ts| ts < gc_before) {
                self.tombstone = None;
            }
        }
        self.is_empty()
    }

    /// Checks what a write must satisfy before it is stored.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if the encoded row is over [`ITEM_BYTES_MAX`]; [`Error::Invalid`]
    /// if a value nests too deep to decode.
    pub fn validate(&self) -> Result<()> {
        let size = self.encoded_len();
        if size > ITEM_BYTES_MAX {
            return Err(Error::TooLarge { what: "item", size, limit: ITEM_BYTES_MAX });
        }
        self.cells.values().filter_map(|cell| cell.value.as_ref()).try_for_each(Value::validate)
    }

    fn shadows(&self, cell: &Cell) -> bool {
        self.tombstone.is_some_and(|tombstone| cell.ts <= tombstone)
    }

    fn drop_shadowed(&mut self) {
        if let Some(tombstone) = self.tombstone {
            self.cells.retain(|_, cell| cell.ts > tombstone);
        }
    }
}

impl Row {
    /// Appends the encoding described in the module docs.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self.tombstone {
            Some(ts) => {
                out.push(ROW_FLAG_TOMBSTONE);
                put_varint(out, ts);
            }
            None => out.push(0),
        }
        put_varint(out, self.cells.len() as u64);
        for (name, cell) in &self.cells {
            put_len_prefixed(out, name.as_bytes());
            let live = if cell.value.is_some() { CELL_FLAG_LIVE } else { 0 };
            let expiry = if cell.expires_at_ms != 0 { CELL_FLAG_EXPIRY } else { 0 };
            out.push(live | expiry);
            put_varint(out, cell.ts);
            if cell.expires_at_ms != 0 {
                put_varint(out, cell.expires_at_ms);
            }
            if let Some(value) = &cell.value {
                value.encode(out);
            }
        }
    }

    /// The encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// The length of [`Row::encode`]'s output, computed without encoding.
    pub fn encoded_len(&self) -> usize {
        let tombstone = self.tombstone.map_or(0, varint_len);
        let cells: usize = self
            .cells
            .iter()
            .map(|(name, cell)| len_prefixed_len(name.len()) + cell.encoded_len())
            .sum();
        1 + tombstone + varint_len(self.cells.len() as u64) + cells
    }

    /// Decodes a row that fills all of `buf`.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] if the bytes are not exactly what [`Row::encode`] writes.
    pub fn decode(buf: &[u8]) -> Result<Row> {
        let mut r = Reader::new(buf, "row");
        let tombstone = read_row_tombstone(&mut r)?;
        let count = r.count()?;
        let mut cells = BTreeMap::new();
        for _ in 0..count {
            let name = r.string()?;
            if cells.last_key_value().is_some_and(|(last, _)| *last >= name) {
                return Err(r.error(format!("attribute {name:?} out of order")));
            }
            let cell = read_cell(&mut r)?;
            cells.insert(name, cell);
        }
        if r.remaining() != 0 {
            return Err(r.error(format!("{} bytes after the row", r.remaining())));
        }
        Ok(Row { tombstone, cells })
    }
}

/// Whether a cell expiry (0 for none) has passed at `now_ms`: [`Cell::is_expired`]'s rule,
/// for cells read without being built.
fn expiry_passed(expires_at_ms: u64, now_ms: u64) -> bool {
    expires_at_ms != 0 && expires_at_ms <= now_ms
}

fn read_row_tombstone(r: &mut Reader<'_>) -> Result<Option<Timestamp>> {
    let flags = r.u8()?;
    if flags & !ROW_FLAG_TOMBSTONE != 0 {
        return Err(r.error(format!("unknown row flags {flags:#04x}")));
    }
    Ok(if flags & ROW_FLAG_TOMBSTONE != 0 { Some(r.varint()?) } else { None })
}

fn read_cell(r: &mut Reader<'_>) -> Result<Cell> {
    let (live, ts, expires_at_ms) = read_cell_header(r)?;
    let value = if live { Some(Value::read(r)?) } else { None };
    Ok(Cell { ts, expires_at_ms, value })
}

/// A cell's flags, timestamp and expiry: whether a value follows, the timestamp, and the
/// expiry (0 for none).
fn read_cell_header(r: &mut Reader<'_>) -> Result<(bool, Timestamp, u64)> {
    let flags = r.u8()?;
    if flags & !(CELL_FLAG_LIVE | CELL_FLAG_EXPIRY) != 0 {
        return Err(r.error(format!("unknown cell flags {flags:#04x}")));
    }
    let ts = r.varint()?;
    let expires_at_ms = if flags & CELL_FLAG_EXPIRY != 0 {
        match r.varint()? {
            0 => return Err(r.error("expiry flag set with expiry 0")),
            expires_at_ms => expires_at_ms,
        }
    } else {
        0
    };
    Ok((flags & CELL_FLAG_LIVE != 0, ts, expires_at_ms))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testing::{arb_value, config};
    use crate::Number;

    fn attrs(pairs: &[(&str, i64)]) -> BTreeMap<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), Value::N(Number::from(*v)))).collect()
    }

    #[test]
    fn put_replaces_older_attributes() {
        let old = Row::set_attrs(5, attrs(&[("a", 1), ("b", 2)]), 0);
        let put = Row::put_item(6, attrs(&[("a", 3)]), 0);
        let merged = Row::merge(old.clone(), put.clone());
        assert_eq!(merged.live_attributes(0), Some(attrs(&[("a", 3)])));
        // An older put does not erase a newer update.
        let newer = Row::set_attrs(9, attrs(&[("c", 4)]), 0);
        let merged = Row::merge(newer, Row::put_item(8, attrs(&[("a", 3)]), 0));
        assert_eq!(merged.live_attributes(0), Some(attrs(&[("a", 3), ("c", 4)])));
    }

    #[test]
    fn transcoding_copies_stored_strings_without_checking_them_again() {
        // A stored string is checked when written and covered by its block's checksum since;
        // transcoding copies it as it is, and decoding (the client's) still refuses it.
        let value = Value::S("ab".to_owned());
        let row = Row::put_item(5, [("s".to_owned(), value)], 0);
        let mut bytes = row.to_bytes();
        let at = bytes.windows(2).position(|w| w == b"ab").expect("the string is stored");
        bytes[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
        assert!(Row::decode(&bytes).is_err(), "decoding checks strings");
        let mut out = Vec::new();
        assert!(encode_stored(&bytes, 0, &mut out).expect("transcoded"));
        assert!(out.windows(2).any(|w| w == [0xff, 0xfe]), "the bytes are copied");
        assert!(Value::decode(&out).is_err(), "the item's reader checks them");
    }

    #[test]
    fn delete_and_remove() {
        let row = Row::set_attrs(5, attrs(&[("a", 1), ("b", 2)]), 0);
        let removed = Row::merge(row.clone(), Row::remove_attrs(6, ["a".to_owned()]));
        assert_eq!(removed.live_attributes(0), Some(attrs(&[("b", 2)])));
        assert_eq!(Row::merge(row.clone(), Row::delete_item(5)).live_attributes(0), None);
        let mut shadowed = row.clone();
        shadowed.apply_partition_tombstone(7);
        assert_eq!(shadowed, Row::delete_item(7));
        // A tombstone at the same ts beats a live value.
        let same_ts = Row::merge(row, Row::remove_attrs(5, ["b".to_owned()]));
        assert_eq!(same_ts.live_attributes(0), Some(attrs(&[("a", 1)])));
        assert!(Row::put_item(1, attrs(&[]), 0).live_attributes(0).is_none());
    }

    #[test]
    #[should_panic(expected = "ts 0")]
    fn put_item_needs_positive_ts() {
        let _ = Row::put_item(0, attrs(&[]), 0);
    }

    #[test]
    fn expiry_and_purge() {
        let mut row = Row::merge(
            Row::set_attrs(5, attrs(&[("a", 1)]), 1_000),
            Row::set_attrs(6, attrs(&[("b", 2)]), 0),
        );
        assert_eq!(row.live_attributes(999).map(|a| a.len()), Some(2));
        assert_eq!(row.live_attributes(1_000), Some(attrs(&[("b", 2)])));
        assert!(!row.purge(1_000, None));
        assert_eq!(row.cells.get("a"), Some(&Cell::tombstone(5)));
        // The tombstone keeps shadowing a copy of the expired cell from another file.
        let other_file = Row::set_attrs(5, attrs(&[("a", 1)]), 1_000);
        assert_eq!(Row::merge(row.clone(), other_file).cells.get("a"), Some(&Cell::tombstone(5)));
        assert!(!row.purge(1_000, Some(6)));
        assert_eq!(row.cells.len(), 1);
        let mut deleted = Row::delete_item(3);
        assert!(!deleted.purge(0, Some(3)));
        assert!(deleted.purge(0, Some(4)));
        assert_eq!(Row::put_item(4, attrs(&[("a", 1)]), 0).max_ts(), Some(4));
        assert_eq!(Row::default().max_ts(), None);
    }

    #[test]
    fn size_limit() {
        let big = Value::B(vec![0u8; ITEM_BYTES_MAX].into());
        let row = Row::set_attrs(1, [("a".to_owned(), big)], 0);
        assert!(matches!(row.validate(), Err(Error::TooLarge { what: "item", .. })));
        assert!(Row::set_attrs(1, attrs(&[("a", 1)]), 0).validate().is_ok());
    }

    #[test]
    fn encoding_example() {
        let mut row = Row::put_item(300, attrs(&[("n", 0)]), 0);
        row.cells.insert("x".into(), Cell { ts: 301, expires_at_ms: 5, value: None });
        let expected = [
            ROW_FLAG_TOMBSTONE,
            0xab,
            0x02,
            2, //
            1,
            b'n',
            CELL_FLAG_LIVE,
            0xac,
            0x02,
            0x02,
            0x02, //
            1,
            b'x',
            CELL_FLAG_EXPIRY,
            0xad,
            0x02,
            5,
        ];
        assert_eq!(row.to_bytes(), expected);
        assert_eq!(Row::decode(&expected).unwrap(), row);
        for bad in [
            &[][..],
            &[0x02, 0],
            &[0, 0, 0],
            &[0, 1, 1, b'x', 0x02, 1, 0],
            &[0, 1, 1, b'x', 0x04, 1],
        ] {
            assert!(Row::decode(bad).is_err(), "{bad:?}");
        }
    }

    fn arb_cell() -> impl Strategy<Value = Cell> {
        let value = prop_oneof![
            (0i64..3).prop_map(|v| Some(Value::N(Number::from(v)))),
            Just(Some(Value::Null)),
            Just(None),
        ];
        (0u64..8, prop_oneof![Just(0u64), 1u64..3, Just(u64::MAX)], value)
            .prop_map(|(ts, expires_at_ms, value)| Cell { ts, expires_at_ms, value })
    }

    fn arb_row() -> impl Strategy<Value = Row> {
        let cells = prop::collection::btree_map("[abc]", arb_cell(), 0..4);
        (prop::option::of(0u64..8), cells).prop_map(|(tombstone, cells)| Row { tombstone, cells })
    }

    fn arb_stored_row() -> impl Strategy<Value = Row> {
        let cell = (any::<u64>(), any::<u64>(), prop::option::of(arb_value()))
            .prop_map(|(ts, expires_at_ms, value)| Cell { ts, expires_at_ms, value });
        let cells = prop::collection::btree_map("[a-c\\x00é]{0,3}", cell, 0..4);
        (prop::option::of(any::<u64>()), cells)
            .prop_map(|(tombstone, cells)| Row { tombstone, cells })
    }

    /// One stored row transcoded alone: [`Row::encode_live_merged`] with one version.
    fn encode_stored(bytes: &[u8], now_ms: u64, out: &mut Vec<u8>) -> Result<bool> {
        Row::encode_live_merged(&[RowVersion::Stored(bytes)], None, now_ms, out)
    }

    /// A transcoder's answer (`live`, and `out`, which held one 0xee byte before) against
    /// encoding the attributes that decoding and merging give.
    fn check_transcoded(
        live: bool,
        out: Vec<u8>,
        expected: Option<BTreeMap<String, Value>>,
    ) -> Result<(), TestCaseError> {
        match expected {
            Some(attributes) => {
                let mut encoded = vec![0xee];
                crate::value::encode_item_map(&attributes, &mut encoded);
                prop_assert!(live);
                prop_assert_eq!(out, encoded);
            }
            None => {
                prop_assert!(!live);
                prop_assert_eq!(out, vec![0xee], "nothing appended");
            }
        }
        Ok(())
    }

    #[test]
    fn transcoding_breaks_timestamp_ties_as_merging_does_in_either_order() {
        let n = |v: i64| Some(Value::N(Number::from(v)));
        let cell = |expires_at_ms, value| Cell { ts: 7, expires_at_ms, value };
        // Each pair: two versions of attribute "a" written at the same timestamp.
        let ties = [
            (cell(0, n(1)), cell(0, None)), // a removal beats a value
            (cell(0, n(1)), cell(9, n(1))), // "never expires" beats an expiry
            (cell(5, n(1)), cell(9, n(1))), // the later expiry wins
            (cell(0, n(1)), cell(0, n(2))), // the greater encoding wins
        ];
        for (x, y) in ties {
            let row =
                |c: &Cell| Row { tombstone: None, cells: [("a".to_owned(), c.clone())].into() };
            let (x, y) = (row(&x), row(&y));
            let expected = Row::merge(x.clone(), y.clone()).into_live_attributes(1);
            let stored = x.to_bytes();
            for versions in [
                [RowVersion::Stored(&stored), RowVersion::Decoded(&y)],
                [RowVersion::Decoded(&y), RowVersion::Stored(&stored)],
            ] {
                let mut out = vec![0xee];
                let live = Row::encode_live_merged(&versions, None, 1, &mut out).unwrap();
                check_transcoded(live, out, expected.clone()).unwrap();
            }
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn merge_is_commutative(a in arb_row(), b in arb_row()) {
            prop_assert_eq!(Row::merge(a.clone(), b.clone()), Row::merge(b, a));
        }

        #[test]
        fn merge_is_associative(a in arb_row(), b in arb_row(), c in arb_row()) {
            let left = Row::merge(Row::merge(a.clone(), b.clone()), c.clone());
            prop_assert_eq!(left, Row::merge(a, Row::merge(b, c)));
        }

        #[test]
        fn merge_is_idempotent(a in arb_row(), b in arb_row()) {
            let merged = Row::merge(a.clone(), b);
            prop_assert_eq!(Row::merge(merged.clone(), merged.clone()), merged.clone());
            prop_assert_eq!(Row::merge(merged.clone(), a), merged);
        }

        #[test]
        fn purge_keeps_what_readers_see(a in arb_row(), b in arb_row(), now_ms in 0u64..4) {
            let merged = Row::merge(a, b.clone());
            let mut purged = merged.clone();
            purged.purge(now_ms, None);
            prop_assert_eq!(purged.live_attributes(now_ms), merged.live_attributes(now_ms));
            // Merging the purged row with any source gives what the unpurged one would.
            let view = |row: Row| row.live_attributes(now_ms);
            prop_assert_eq!(view(Row::merge(purged, b.clone())), view(Row::merge(merged, b)));
        }

        #[test]
        fn codec_round_trips(row in arb_stored_row()) {
            let bytes = row.to_bytes();
            prop_assert_eq!(bytes.len(), row.encoded_len());
            prop_assert_eq!(Row::decode(&bytes).unwrap(), row);
        }

        #[test]
        fn transcoding_matches_decoding(
            row in arb_stored_row(),
            now_ms in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
        ) {
            let bytes = row.to_bytes();
            let mut out = vec![0xee];
            let live = encode_stored(&bytes, now_ms, &mut out).unwrap();
            check_transcoded(live, out, row.into_live_attributes(now_ms))?;
            prop_assert_eq!(Row::encoded_tombstone(&bytes).unwrap(), Row::decode(&bytes).unwrap().tombstone);
        }

        #[test]
        fn transcoding_merged_versions_matches_merging(
            versions in prop::collection::vec(
                (prop_oneof![arb_row(), arb_stored_row()], any::<bool>()),
                0..5,
            ),
            deletion in prop::option::of(0u64..12),
            now_ms in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
        ) {
            // Some versions stored (encoded), the others decoded, as a read finds them in
            // SSTables and memtables.
            let stored: Vec<Vec<u8>> = versions.iter().map(|(row, _)| row.to_bytes()).collect();
            let refs: Vec<RowVersion<'_>> = versions
                .iter()
                .zip(&stored)
                .map(|((row, decoded), bytes)| {
                    if *decoded { RowVersion::Decoded(row) } else { RowVersion::Stored(bytes) }
                })
                .collect();
            let mut out = vec![0xee];
            let live = Row::encode_live_merged(&refs, deletion, now_ms, &mut out).unwrap();
            let mut merged = versions.into_iter().map(|(row, _)| row).fold(Row::default(), Row::merge);
            if let Some(ts) = deletion {
                merged.apply_partition_tombstone(ts);
            }
            check_transcoded(live, out, merged.into_live_attributes(now_ms))?;
        }

        #[test]
        fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..48)) {
            if let Ok(row) = Row::decode(&bytes) {
                prop_assert_eq!(row.to_bytes(), bytes);
            }
        }

        #[test]
        fn decoding_or_transcoding_damaged_rows_never_panics(
            row in arb_stored_row(),
            at in any::<prop::sample::Index>(),
            byte: u8,
        ) {
            let mut bytes = row.to_bytes();
            let index = at.index(bytes.len());
            bytes[index] = byte;
            let mut out = Vec::new();
            let transcoded = encode_stored(&bytes, 1, &mut out);
            if let Ok(decoded) = Row::decode(&bytes) {
                prop_assert_eq!(decoded.to_bytes(), bytes);
                // Whatever decodes transcodes to the same item.
                let mut expected = Vec::new();
                if let Some(attributes) = decoded.into_live_attributes(1) {
                    crate::value::encode_item_map(&attributes, &mut expected);
                }
                prop_assert!(transcoded.is_ok());
                prop_assert_eq!(out, expected);
            }
        }
    }
}

#[cfg(test)]
mod expiry_attribute_tests {
    use super::*;

    const NOW_MS: u64 = 1_800_000_000_000;

    fn n(v: i64) -> Value {
        Value::N(crate::Number::from(v))
    }

    #[test]
    fn only_recent_past_numbers_expire() {
        let now_secs = (NOW_MS / 1000) as i64;
        assert!(expired_by_attribute(Some(&n(now_secs)), NOW_MS));
        assert!(expired_by_attribute(Some(&n(now_secs - 3600)), NOW_MS));
        assert!(!expired_by_attribute(Some(&n(now_secs + 1)), NOW_MS));
        assert!(!expired_by_attribute(Some(&n(5)), NOW_MS), "older than five years: ignored");
        assert!(!expired_by_attribute(Some(&Value::S(now_secs.to_string())), NOW_MS));
        assert!(!expired_by_attribute(None, NOW_MS));
    }

    #[test]
    fn an_expired_row_becomes_a_tombstone_at_its_newest_timestamp() {
        let past = (NOW_MS / 1000) as i64 - 10;
        let mut attrs = BTreeMap::new();
        attrs.insert("k".to_string(), Value::S("a".into()));
        attrs.insert("exp".to_string(), n(past));
        let mut row = Row::put_item(100, attrs, 0);
        row.merge_from(Row::set_attrs(120, [("x".to_string(), n(1))], 0));
        assert!(row.expire_by_attribute("exp", NOW_MS));
        assert_eq!(row.tombstone, Some(120));
        assert!(row.live_attributes(NOW_MS).is_none());
        // A later write survives the expiry.
        row.merge_from(Row::set_attrs(130, [("y".to_string(), n(2))], 0));
        assert_eq!(row.live_attributes(NOW_MS).map(|a| a.len()), Some(1));

        let mut future = Row::put_item(
            100,
            [("exp".to_string(), n(past + 3600))].into_iter().collect::<BTreeMap<_, _>>(),
            0,
        );
        assert!(!future.expire_by_attribute("exp", NOW_MS));
        assert!(!future.expire_by_attribute("other", NOW_MS));
        assert!(future.live_attributes(NOW_MS).is_some());
    }
}
