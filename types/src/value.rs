//! [`Value`]: one attribute value of a document, with DynamoDB's ten types.
//!
//! # Encoding
//!
//! Every value starts with one tag byte; lengths and counts are varints (see
//! [`crate`]); numbers use the ordered encoding of [`Number::encode_ordered`].
//!
//! | type   | tag  | after the tag                                                     |
//! |--------|------|-------------------------------------------------------------------|
//! | `S`    | `01` | byte length, UTF-8 bytes                                          |
//! | `N`    | `02` | ordered number encoding (self-delimiting)                         |
//! | `B`    | `03` | byte length, bytes                                                |
//! | `BOOL` | `04` | nothing: `04` is false, `05` is true                              |
//! | `NULL` | `06` | nothing                                                           |
//! | `L`    | `07` | element count, then each element as a value                       |
//! | `M`    | `08` | entry count, then per entry: name length, UTF-8 name, value       |
//! | `SS`   | `09` | element count, then per element: byte length, UTF-8 bytes         |
//! | `NS`   | `0a` | element count, then each element's ordered number encoding        |
//! | `BS`   | `0b` | element count, then per element: byte length, bytes              |
//!
//! Map names and set elements are written in ascending order, and the decoder insists on
//! strictly ascending order, so every value has exactly one encoding. Lists and maps nest at
//! most [`NESTING_DEPTH_MAX`] levels deep (DynamoDB's limit); the decoder refuses deeper input
//! rather than recurse without bound, so writers must [`Value::validate`] first.
//!
//! Decoding never trusts a length: each is checked against the bytes left before anything is
//! sliced, and containers grow as elements actually decode, so hostile input can make the
//! decoder neither panic nor allocate more than a small multiple of the input's size.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::{len_prefixed_len, put_len_prefixed, put_varint, varint_len, Number, Reader};
use crate::error::{Error, Result};

/// How many lists and maps may enclose one another (DynamoDB allows 32 levels).
pub const NESTING_DEPTH_MAX: usize = 32;

const TAG_S: u8 = 0x01;
const TAG_N: u8 = 0x02;
const TAG_B: u8 = 0x03;
const TAG_FALSE: u8 = 0x04;
const TAG_TRUE: u8 = 0x05;
const TAG_NULL: u8 = 0x06;
const TAG_L: u8 = 0x07;
const TAG_M: u8 = 0x08;
const TAG_SS: u8 = 0x09;
const TAG_NS: u8 = 0x0a;
const TAG_BS: u8 = 0x0b;

/// A document attribute value.
///
/// The derived `Ord` orders first by type (in declaration order), then by content; it is
/// deterministic but has no meaning in DynamoDB, where only same-typed scalars compare.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    /// A UTF-8 string.
    S(String),
    /// An exact decimal number.
    N(Number),
    /// Binary.
    B(Bytes),
    /// A boolean.
    Bool(bool),
    /// Null.
    Null,
    /// A list of values of any types.
    L(Vec<Value>),
    /// A map from names to values.
    M(BTreeMap<String, Value>),
    /// A set of strings.
    Ss(BTreeSet<String>),
    /// A set of numbers.
    Ns(BTreeSet<Number>),
    /// A set of binaries.
    Bs(BTreeSet<Bytes>),
}

impl Value {
    /// DynamoDB's type descriptor: "S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS".
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::S(_) => "S",
            Value::N(_) => "N",
            Value::B(_) => "B",
            Value::Bool(_) => "BOOL",
            Value::Null => "NULL",
            Value::L(_) => "L",
            Value::M(_) => "M",
            Value::Ss(_) => "SS",
            Value::Ns(_) => "NS",
            Value::Bs(_) => "BS",
        }
    }

    /// How many lists and maps nest here: 0 for a scalar or set, 1 for a list of scalars.
    pub fn nesting_depth(&self) -> usize {
        let children = match self {
            Value::L(items) => items.iter().map(Value::nesting_depth).max(),
            Value::M(entries) => entries.values().map(Value::nesting_depth).max(),
            _ => return 0,
        };
        1 + children.unwrap_or(0)
    }

    /// Checks what the decoder will insist on, so that nothing unreadable gets written.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] if lists and maps nest deeper than [`NESTING_DEPTH_MAX`].
    pub fn validate(&self) -> Result<()> {
        let depth = self.nesting_depth();
        if depth > NESTING_DEPTH_MAX {
            return Err(Error::Invalid {
                what: "value",
                reason: format!(
                    "nested {depth} levels deep, over the limit of {NESTING_DEPTH_MAX}"
                ),
            });
        }
        Ok(())
    }

    /// Appends the encoding described in the module docs.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::S(text) => {
                out.push(TAG_S);
                put_len_prefixed(out, text.as_bytes());
            }
            Value::N(number) => {
                out.push(TAG_N);
                number.encode_ordered(out);
            }
            Value::B(bytes) => {
                out.push(TAG_B);
                put_len_prefixed(out, bytes);
            }
            Value::Bool(false) => out.push(TAG_FALSE),
            Value::Bool(true) => out.push(TAG_TRUE),
            Value::Null => out.push(TAG_NULL),
            Value::L(items) => {
                out.push(TAG_L);
                put_varint(out, items.len() as u64);
                items.iter().for_each(|item| item.encode(out));
            }
            Value::M(entries) => encode_item_map(entries, out),
            Value::Ss(set) => {
                encode_set(out, TAG_SS, set, |out, s| put_len_prefixed(out, s.as_bytes()))
            }
            Value::Ns(set) => encode_set(out, TAG_NS, set, |out, n| n.encode_ordered(out)),
            Value::Bs(set) => encode_set(out, TAG_BS, set, |out, b| put_len_prefixed(out, b)),
        }
    }

    /// The encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// The length of [`Value::encode`]'s output, computed without encoding.
    pub fn encoded_len(&self) -> usize {
        1 + match self {
            Value::S(text) => len_prefixed_len(text.len()),
            Value::N(number) => number.encoded_ordered_len(),
            Value::B(bytes) => len_prefixed_len(bytes.len()),
            Value::Bool(_) | Value::Null => 0,
            Value::L(items) => {
                count_len(items.len()) + items.iter().map(Value::encoded_len).sum::<usize>()
            }
            Value::M(entries) => {
                let sizes =
                    entries.iter().map(|(name, v)| len_prefixed_len(name.len()) + v.encoded_len());
                count_len(entries.len()) + sizes.sum::<usize>()
            }
            Value::Ss(set) => {
                count_len(set.len()) + set.iter().map(|s| len_prefixed_len(s.len())).sum::<usize>()
            }
            Value::Ns(set) => {
                count_len(set.len()) + set.iter().map(Number::encoded_ordered_len).sum::<usize>()
            }
            Value::Bs(set) => {
                count_len(set.len()) + set.iter().map(|b| len_prefixed_len(b.len())).sum::<usize>()
            }
        }
    }

    /// Decodes a value from the start of `buf`, returning it and the bytes used.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] if the bytes are not exactly what [`Value::encode`] writes, or nest
    /// deeper than [`NESTING_DEPTH_MAX`].
    pub fn decode(buf: &[u8]) -> Result<(Value, usize)> {
        let mut reader = Reader::new(buf, "value");
        let value = Value::read(&mut reader)?;
        Ok((value, reader.pos()))
    }

    /// Decodes a value at the reader's position (for decoders of larger structures).
    ///
    /// # Errors
    ///
    /// As [`Value::decode`].
    pub fn read(reader: &mut Reader<'_>) -> Result<Value> {
        read_at_depth(reader, 0)
    }
}

/// Encodes `entries` as a map value, as [`Value::M`] is encoded and as an item travels,
/// without building a `Value`.
pub fn encode_item_map(entries: &BTreeMap<String, Value>, out: &mut Vec<u8>) {
    put_item_map_header(out, entries.len());
    for (name, value) in entries {
        put_len_prefixed(out, name.as_bytes());
        value.encode(out);
    }
}

/// The map tag and entry count that open an item's encoding (see [`encode_item_map`]);
/// entries follow as a length-prefixed name and a value each.
pub(crate) fn put_item_map_header(out: &mut Vec<u8>, entries: usize) {
    out.push(TAG_M);
    put_varint(out, entries as u64);
}

/// Moves the reader past one stored value without building it, checking its structure
/// (tags, lengths, numbers, nesting) but not the order of map names and set elements, nor
/// that strings are UTF-8: a stored value was checked when it was written and its block's
/// checksum covers it since, so a transcoded item copies it unchanged (and whoever decodes
/// the item checks its strings again). Validating them was 4 % of a node's CPU serving GETs.
///
/// # Errors
/// As [`Value::decode`], but for strings that are not UTF-8.
pub(crate) fn skip_stored(r: &mut Reader<'_>) -> Result<()> {
    skip_at_depth(r, 0)
}

fn skip_at_depth(r: &mut Reader<'_>, depth: usize) -> Result<()> {
    let tag = r.u8()?;
    match tag {
        TAG_S => skip_string(r),
        TAG_N => read_number(r).map(drop),
        TAG_B => r.len_prefixed().map(drop),
        TAG_FALSE | TAG_TRUE | TAG_NULL => Ok(()),
        TAG_L | TAG_M if depth >= NESTING_DEPTH_MAX => {
            Err(r.error(format!("lists and maps nest deeper than {NESTING_DEPTH_MAX} levels")))
        }
        TAG_L => {
            for _ in 0..r.count()? {
                skip_at_depth(r, depth + 1)?;
            }
            Ok(())
        }
        TAG_M => {
            for _ in 0..r.count()? {
                skip_string(r)?;
                skip_at_depth(r, depth + 1)?;
            }
            Ok(())
        }
        TAG_SS => (0..r.count()?).try_for_each(|_| skip_string(r)),
        TAG_NS => (0..r.count()?).try_for_each(|_| read_number(r).map(drop)),
        TAG_BS => (0..r.count()?).try_for_each(|_| r.len_prefixed().map(drop)),
        other => Err(r.error(format!("unknown tag {other:#04x} at offset {}", r.pos() - 1))),
    }
}

fn skip_string(r: &mut Reader<'_>) -> Result<()> {
    r.len_prefixed().map(drop)
}

/// `depth` counts the lists and maps enclosing the value about to be read.
fn read_at_depth(r: &mut Reader<'_>, depth: usize) -> Result<Value> {
    let tag = r.u8()?;
    match tag {
        TAG_S => Ok(Value::S(r.string()?)),
        TAG_N => Ok(Value::N(read_number(r)?)),
        TAG_B => Ok(Value::B(read_bytes(r)?)),
        TAG_FALSE => Ok(Value::Bool(false)),
        TAG_TRUE => Ok(Value::Bool(true)),
        TAG_NULL => Ok(Value::Null),
        TAG_L | TAG_M if depth >= NESTING_DEPTH_MAX => {
            Err(r.error(format!("lists and maps nest deeper than {NESTING_DEPTH_MAX} levels")))
        }
        TAG_L => read_list(r, depth + 1),
        TAG_M => read_map(r, depth + 1),
        TAG_SS => Ok(Value::Ss(read_set(r, |r| r.string())?)),
        TAG_NS => Ok(Value::Ns(read_set(r, read_number)?)),
        TAG_BS => Ok(Value::Bs(read_set(r, read_bytes)?)),
        other => Err(r.error(format!("unknown tag {other:#04x} at offset {}", r.pos() - 1))),
    }
}

fn read_list(r: &mut Reader<'_>, depth: usize) -> Result<Value> {
    let count = r.count()?;
    // No with_capacity: the list grows only as elements really decode.
    let mut items = Vec::new();
    for _ in 0..count {
        items.push(read_at_depth(r, depth)?);
    }
    Ok(Value::L(items))
}

fn read_map(r: &mut Reader<'_>, depth: usize) -> Result<Value> {
    let count = r.count()?;
    let mut entries = BTreeMap::new();
    for _ in 0..count {
        let name = r.string()?;
        if entries.last_key_value().is_some_and(|(last, _)| *last >= name) {
            return Err(r.error(format!("map name {name:?} out of order")));
        }
        let value = read_at_depth(r, depth)?;
        entries.insert(name, value);
    }
    Ok(Value::M(entries))
}

fn read_set<T: Ord>(
    r: &mut Reader<'_>,
    read_element: impl Fn(&mut Reader<'_>) -> Result<T>,
) -> Result<BTreeSet<T>> {
    let count = r.count()?;
    let mut set = BTreeSet::new();
    for _ in 0..count {
        let element = read_element(r)?;
        if set.last().is_some_and(|last| *last >= element) {
            return Err(r.error("set elements not strictly ascending"));
        }
        set.insert(element);
    }
    Ok(set)
}

/// Reads an ordered number encoding at the reader's position.
pub(crate) fn read_number(r: &mut Reader<'_>) -> Result<Number> {
    let (number, used) = Number::decode_ordered(r.rest())
        .map_err(|e| r.error(format!("bad number at offset {}: {e}", r.pos())))?;
    r.advance(used)?;
    Ok(number)
}

fn read_bytes(r: &mut Reader<'_>) -> Result<Bytes> {
    Ok(Bytes::copy_from_slice(r.len_prefixed()?))
}

fn encode_set<T>(out: &mut Vec<u8>, tag: u8, set: &BTreeSet<T>, put: impl Fn(&mut Vec<u8>, &T)) {
    out.push(tag);
    put_varint(out, set.len() as u64);
    set.iter().for_each(|element| put(out, element));
}

fn count_len(count: usize) -> usize {
    varint_len(count as u64)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testing::{arb_value, config};

    fn nested(depth: usize) -> Value {
        (0..depth).fold(Value::Null, |inner, _| Value::L(vec![inner]))
    }

    #[test]
    fn type_names() {
        let names: Vec<_> = [
            Value::S("x".into()),
            Value::N(Number::from(1)),
            Value::B(Bytes::from_static(b"x")),
            Value::Bool(true),
            Value::Null,
            Value::L(vec![]),
            Value::M(BTreeMap::new()),
            Value::Ss(BTreeSet::new()),
            Value::Ns(BTreeSet::new()),
            Value::Bs(BTreeSet::new()),
        ]
        .iter()
        .map(Value::type_name)
        .collect();
        assert_eq!(names, ["S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS"]);
    }

    #[test]
    fn encoding_example() {
        let value = Value::M(BTreeMap::from([
            ("a".to_owned(), Value::S("hi".into())),
            ("b".to_owned(), Value::L(vec![Value::Bool(true), Value::N(Number::ZERO)])),
        ]));
        let expected =
            [TAG_M, 2, 1, b'a', TAG_S, 2, b'h', b'i', 1, b'b', TAG_L, 2, TAG_TRUE, TAG_N, 0x02];
        assert_eq!(value.to_bytes(), expected);
        assert_eq!(Value::decode(&expected).unwrap(), (value, expected.len()));
    }

    #[test]
    fn nesting_limit() {
        let deepest = nested(NESTING_DEPTH_MAX);
        assert_eq!(deepest.nesting_depth(), NESTING_DEPTH_MAX);
        assert!(deepest.validate().is_ok());
        let (decoded, _) = Value::decode(&deepest.to_bytes()).unwrap();
        assert_eq!(decoded, deepest);
        let too_deep = nested(NESTING_DEPTH_MAX + 1);
        assert!(too_deep.validate().is_err());
        assert!(Value::decode(&too_deep.to_bytes()).is_err());
        // A hostile run of list tags is refused without deep recursion.
        assert!(Value::decode(&[TAG_L, 1].repeat(100_000)).is_err());
    }

    #[test]
    fn rejects_non_canonical_input() {
        for bad in [
            &[][..],
            &[0x00],
            &[0x0c],
            &[TAG_S, 5, b'a'],
            &[TAG_S, 1, 0xff],
            &[TAG_L, 0xff, 0xff, 0xff, 0xff, 0x0f],
            &[TAG_M, 2, 1, b'b', TAG_NULL, 1, b'a', TAG_NULL],
            &[TAG_M, 2, 1, b'a', TAG_NULL, 1, b'a', TAG_NULL],
            &[TAG_SS, 2, 1, b'b', 1, b'a'],
            &[TAG_NS, 2, 0x02, 0x02],
        ] {
            assert!(Value::decode(bad).is_err(), "{bad:?} should not decode");
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn codec_round_trips(
            value in arb_value(),
            tail in prop::collection::vec(any::<u8>(), 0..3),
        ) {
            let mut bytes = value.to_bytes();
            prop_assert_eq!(bytes.len(), value.encoded_len());
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(Value::decode(&bytes).unwrap(), (value.clone(), value.encoded_len()));
        }

        #[test]
        fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok((value, used)) = Value::decode(&bytes) {
                prop_assert_eq!(&value.to_bytes()[..], &bytes[..used]);
            }
        }

        #[test]
        fn decoding_damaged_values_never_panics(
            value in arb_value(),
            at in any::<prop::sample::Index>(),
            byte: u8,
        ) {
            let mut bytes = value.to_bytes();
            let index = at.index(bytes.len());
            bytes[index] = byte;
            if let Ok((decoded, used)) = Value::decode(&bytes) {
                prop_assert_eq!(&decoded.to_bytes()[..], &bytes[..used]);
            }
        }
    }
}
