//! Shoal's data model: numbers, attribute values, keys and versioned rows, with their binary
//! forms.
//!
//! - [`Number`]: DynamoDB's exact decimal (38 significant digits), with an encoding whose byte
//!   order is numeric order.
//! - [`Value`]: one attribute value of a document (`S`, `N`, `B`, `BOOL`, `NULL`, `L`, `M`,
//!   `SS`, `NS`, `BS`) and its compact codec.
//! - [`KeyValue`] and [`ItemKey`]: partition and sort keys, encoded so that byte order is
//!   logical order; the storage layer sorts and ranges over these bytes only.
//! - [`Row`] and [`Cell`]: the versioned content stored under a key, and the last-write-wins
//!   merge that memtables, reads and compaction all use.
//!
//! # Varints
//!
//! Lengths and counts are unsigned LEB128: seven bits a byte, least significant group first,
//! the high bit set on every byte but the last. A `u64` takes 1 to [`VARINT_BYTES_MAX`] bytes.
//! Decoding accepts only the shortest form, so that every value has exactly one encoding and
//! re-encoding decoded bytes gives the same bytes back.
//!
//! | value            | bytes            |
//! |------------------|------------------|
//! | 0                | `00`             |
//! | 127              | `7f`             |
//! | 128              | `80 01`          |
//! | 300              | `ac 02`          |
//!
//! This crate has no runtime and no I/O, so the storage engine, the expression language and
//! (later) the client library and the server all share it.
#![deny(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod error;
pub mod json;
pub mod key;
pub mod number;
pub mod partitioner;
pub mod row;
pub mod value;

pub use key::{DecodedKey, ItemKey, KeyType, KeyValue};
pub use number::Number;
pub use row::{expired_by_attribute, Cell, Row, Timestamp};
pub use value::Value;

pub use error::{Error, Result};

/// The longest LEB128 encoding of a `u64`: ceil(64 / 7) bytes.
pub const VARINT_BYTES_MAX: usize = 10;

/// Appends `value` as an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The number of bytes [`put_varint`] writes for `value`.
pub const fn varint_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    if bits == 0 {
        1
    } else {
        bits.div_ceil(7)
    }
}

/// Reads a varint from the start of `buf`, returning it and the bytes it used.
///
/// # Errors
///
/// [`Error::Decode`] if `buf` ends inside the varint, if the varint does not fit a `u64`, or
/// if it is not in its shortest form (a last byte of zero after other bytes).
#[inline]
pub fn get_varint(buf: &[u8]) -> Result<(u64, usize)> {
    // Most varints (lengths, counts, tags' sizes) are one byte: decode those inline.
    match buf.first() {
        Some(&byte) if byte < 0x80 => Ok((u64::from(byte), 1)),
        _ => get_long_varint(buf),
    }
}

fn get_long_varint(buf: &[u8]) -> Result<(u64, usize)> {
    let mut value = 0u64;
    for (index, &byte) in buf.iter().enumerate().take(VARINT_BYTES_MAX) {
        // The tenth byte holds bit 63 only; anything more does not fit a u64.
        if index == VARINT_BYTES_MAX - 1 && byte > 1 {
            return Err(Error::decode("varint", "value does not fit in 64 bits"));
        }
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            if byte == 0 && index > 0 {
                return Err(Error::decode("varint", "not in shortest form"));
            }
            return Ok((value, index + 1));
        }
    }
    Err(Error::decode("varint", "truncated"))
}

/// Appends `bytes` preceded by their length as a varint.
pub fn put_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The number of bytes [`put_len_prefixed`] writes for a byte string of `len` bytes.
pub const fn len_prefixed_len(len: usize) -> usize {
    varint_len(len as u64) + len
}

/// A cursor over encoded bytes that checks every length before it slices.
///
/// Errors name `what` is being decoded, so that a failure says "cannot decode row: ...".
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    /// The number of bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes not consumed yet.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// The number of bytes not consumed yet.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// An [`Error::Decode`] naming what this reader decodes.
    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::decode(self.what, reason)
    }

    /// Marks `n` more bytes as consumed (after a sub-decoder read them from [`Reader::rest`]).
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] if fewer than `n` bytes remain.
    pub fn advance(&mut self, n: usize) -> Result<()> {
        if n > self.remaining() {
            return Err(self.error(format!("truncated: need {n} bytes at offset {}", self.pos)));
        }
        self.pos += n;
        Ok(())
    }

    /// Reads one byte.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] at the end of the input.
    pub fn u8(&mut self) -> Result<u8> {
        let byte = self.rest().first().copied();
        let byte = byte.ok_or_else(|| self.error(format!("truncated at offset {}", self.pos)))?;
        self.pos += 1;
        Ok(byte)
    }

    /// Reads the next `n` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] if fewer than `n` bytes remain.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let rest = self.rest();
        let bytes = rest.get(..n).ok_or_else(|| {
            self.error(format!("truncated: need {n} bytes at offset {}", self.pos))
        })?;
        self.pos += n;
        Ok(bytes)
    }

    /// Reads a varint.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] as [`get_varint`] does, naming this reader's `what`.
    pub fn varint(&mut self) -> Result<u64> {
        let (value, used) = get_varint(self.rest())
            .map_err(|e| self.error(format!("bad varint at offset {}: {e}", self.pos)))?;
        self.pos += used;
        Ok(value)
    }

    /// Reads a varint count of elements that each take at least one byte, so that a hostile
    /// count cannot make the caller loop or allocate beyond the input's size.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] if the count exceeds the bytes left.
    pub fn count(&mut self) -> Result<usize> {
        let count = self.varint()?;
        match usize::try_from(count) {
            Ok(count) if count <= self.remaining() => Ok(count),
            _ => {
                Err(self
                    .error(format!("count {count} exceeds the {} bytes left", self.remaining())))
            }
        }
    }

    /// Reads a byte string written by [`put_len_prefixed`].
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] if the length exceeds the bytes left.
    pub fn len_prefixed(&mut self) -> Result<&'a [u8]> {
        let len = self.varint()?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.bytes(len)
    }

    /// Reads a UTF-8 string written by [`put_len_prefixed`].
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] if the length exceeds the bytes left or the bytes are not UTF-8.
    pub fn string(&mut self) -> Result<String> {
        self.str().map(str::to_owned)
    }

    /// [`Reader::string`] without copying: the string as it lies in the buffer.
    ///
    /// # Errors
    ///
    /// As [`Reader::string`].
    pub fn str(&mut self) -> Result<&'a str> {
        let start = self.pos;
        let bytes = self.len_prefixed()?;
        std::str::from_utf8(bytes)
            .map_err(|e| self.error(format!("string at offset {start} is not UTF-8: {e}")))
    }
}

/// Strategies and settings shared by the property tests of the `types` modules.
#[cfg(test)]
pub(crate) mod testing {
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::{KeyValue, Number, Value};

    /// Cases per property: `SHOAL_PROPTEST_CASES`, 256 by default.
    pub(crate) fn config() -> ProptestConfig {
        let cases = std::env::var("SHOAL_PROPTEST_CASES").ok().and_then(|s| s.parse().ok());
        ProptestConfig::with_cases(cases.unwrap_or(256))
    }

    /// Numbers over the whole range, mixed with small integers so that equal values occur.
    pub(crate) fn arb_number() -> impl Strategy<Value = Number> {
        let any_number = (
            any::<bool>(),
            prop::collection::vec(0u8..10, 1..=38),
            i64::from(super::number::EXP_MIN)..=i64::from(super::number::EXP_MAX),
        )
            .prop_filter_map("out of range", |(negative, digits, exp)| {
                Number::from_digits(negative, &digits, exp).ok()
            });
        prop_oneof![any_number, (-20i64..20).prop_map(Number::from)]
    }

    /// Byte strings over an alphabet rich in the bytes the key escaping treats specially.
    pub(crate) fn arb_bytes() -> impl Strategy<Value = Bytes> {
        let byte = prop_oneof![Just(0u8), Just(1u8), Just(0xffu8), Just(b'a'), any::<u8>()];
        prop::collection::vec(byte, 0..6).prop_map(Bytes::from)
    }

    /// Short strings over a small alphabet that includes NUL.
    pub(crate) fn arb_string() -> impl Strategy<Value = String> {
        "[ab\\x00\\x01é]{0,5}"
    }

    /// Partition or sort key values of all three types.
    pub(crate) fn arb_key_value() -> impl Strategy<Value = KeyValue> {
        prop_oneof![
            arb_string().prop_map(KeyValue::S),
            arb_number().prop_map(KeyValue::N),
            arb_bytes().prop_map(KeyValue::B),
        ]
    }

    /// Attribute values of every type, nested a few levels.
    pub(crate) fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            arb_string().prop_map(Value::S),
            arb_number().prop_map(Value::N),
            arb_bytes().prop_map(Value::B),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
            prop::collection::btree_set(arb_string(), 0..4).prop_map(Value::Ss),
            prop::collection::btree_set(arb_number(), 0..4).prop_map(Value::Ns),
            prop::collection::btree_set(arb_bytes(), 0..4).prop_map(Value::Bs),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::L),
                prop::collection::btree_map(arb_string(), inner, 0..4).prop_map(Value::M),
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_examples() {
        for (value, bytes) in [
            (0u64, vec![0x00]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (u64::MAX, vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out, bytes);
            assert_eq!(varint_len(value), bytes.len());
            assert_eq!(get_varint(&bytes).unwrap(), (value, bytes.len()));
        }
    }

    #[test]
    fn varint_rejects_bad_input() {
        assert!(get_varint(&[]).is_err());
        assert!(get_varint(&[0x80]).is_err());
        assert!(get_varint(&[0x80, 0x00]).is_err(), "not shortest form");
        let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(get_varint(&too_big).is_err());
        assert!(get_varint(&[0xff; 11]).is_err());
    }

    #[test]
    fn reader_checks_lengths() {
        let mut r = Reader::new(&[0x05, b'a'], "test");
        assert!(r.len_prefixed().is_err());
        let mut r = Reader::new(&[0x03, 0x00], "test");
        assert!(r.count().is_err());
        let mut r = Reader::new(&[0x02, b'h', b'i', 0x07], "test");
        assert_eq!(r.string().unwrap(), "hi");
        assert_eq!(r.u8().unwrap(), 7);
        assert!(r.u8().is_err());
        assert_eq!(r.pos(), 4);
    }

    proptest::proptest! {
        #![proptest_config(testing::config())]

        #[test]
        fn varint_round_trips(value: u64, tail in proptest::collection::vec(0u8..=255, 0..3)) {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            proptest::prop_assert_eq!(out.len(), varint_len(value));
            out.extend_from_slice(&tail);
            proptest::prop_assert_eq!(get_varint(&out).unwrap(), (value, varint_len(value)));
        }
    }
}
