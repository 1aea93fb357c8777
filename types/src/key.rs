//! Keys: partition and sort key values, and the engine-internal [`ItemKey`], encoded so that
//! byte order is logical order.
//!
//! The storage layer (memtable, SSTables, compaction) sorts and ranges over encoded keys only,
//! so every rule below exists to make `memcmp` agree with the logical order.
//!
//! # Key value encoding
//!
//! | type | tag  | after the tag                                                          |
//! |------|------|------------------------------------------------------------------------|
//! | `S`  | `01` | UTF-8 bytes, each `00` written `00 ff`, closed by `00 01`              |
//! | `N`  | `02` | the ordered number encoding of [`Number::encode_ordered`]              |
//! | `B`  | `03` | bytes, each `00` written `00 ff`, closed by `00 01`                    |
//!
//! The terminator `00 01` sorts below every escaped byte (`00 ff`) and every other byte, so a
//! string sorts before its extensions: `"a" < "a\0" < "ab"` as bytes and as strings. Every
//! encoding ends itself and none is a prefix of another.
//!
//! # Item key encoding
//!
//! | field     | width    | notes                                                          |
//! |-----------|----------|----------------------------------------------------------------|
//! | token     | 8        | big-endian; computed by the caller from the partition key      |
//! | partition | variable | key value encoding                                             |
//! | marker    | 1        | `00` partition header row, `01` item                           |
//! | sort      | variable | key value encoding; only for items of tables with a sort key   |
//!
//! All keys of one partition share the prefix token ++ partition ([`partition_prefix`]). Its
//! header row (holding partition-wide deletions) comes first, then its items ordered by sort
//! key. Comparing encoded item keys is comparing `(token, partition, marker, sort)`, which is
//! also the derived `Ord` of [`ItemKey`].

use bytes::Bytes;

use super::{Number, Reader, Value};
use crate::error::{Error, Result};

/// The longest partition key DynamoDB accepts, in raw bytes.
pub const PARTITION_KEY_BYTES_MAX: usize = 2048;
/// The longest sort key DynamoDB accepts, in raw bytes.
pub const SORT_KEY_BYTES_MAX: usize = 1024;
/// The width of the token that starts every item key.
pub const TOKEN_BYTES: usize = 8;
/// The marker byte of a partition's header row.
pub const MARKER_PARTITION_HEADER: u8 = 0x00;
/// The marker byte of an item.
pub const MARKER_ITEM: u8 = 0x01;

const TAG_S: u8 = 0x01;
const TAG_N: u8 = 0x02;
const TAG_B: u8 = 0x03;
/// Starts a two-byte sequence inside an escaped string: `00 ff` or the terminator `00 01`.
const ESCAPE: u8 = 0x00;
const ESCAPED_ZERO: u8 = 0xff;
const TERMINATOR: u8 = 0x01;

/// The type of a key attribute: keys can only be strings, numbers or binaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// String.
    S,
    /// Number.
    N,
    /// Binary.
    B,
}

impl KeyType {
    /// DynamoDB's type descriptor: "S", "N" or "B".
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::S => "S",
            KeyType::N => "N",
            KeyType::B => "B",
        }
    }
}

/// The value of a partition or sort key.
///
/// The derived `Ord` equals the byte order of the encoding: type first (S, N, B), then
/// strings and binaries bytewise, numbers numerically.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyValue {
    /// A string key.
    S(String),
    /// A number key.
    N(Number),
    /// A binary key.
    B(Bytes),
}

impl KeyValue {
    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match self {
            KeyValue::S(_) => KeyType::S,
            KeyValue::N(_) => KeyType::N,
            KeyValue::B(_) => KeyType::B,
        }
    }

    /// The size counted against the key limits: raw bytes, or a number's text length.
    pub fn size_bytes(&self) -> usize {
        match self {
            KeyValue::S(text) => text.len(),
            KeyValue::N(number) => number.to_string().len(),
            KeyValue::B(bytes) => bytes.len(),
        }
    }

    /// Appends the order-preserving encoding; see [`encode_key_value`].
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_key_value(self, out);
    }

    /// Checks the key against a size limit, naming it `what` in errors.
    pub fn validate(&self, what: &'static str, limit: usize) -> Result<()> {
        let size = self.size_bytes();
        if size > limit {
            return Err(Error::TooLarge { what, size, limit });
        }
        if size == 0 {
            return Err(Error::Invalid { what, reason: "empty string or binary".into() });
        }
        Ok(())
    }
}

impl From<KeyValue> for Value {
    fn from(key: KeyValue) -> Value {
        match key {
            KeyValue::S(text) => Value::S(text),
            KeyValue::N(number) => Value::N(number),
            KeyValue::B(bytes) => Value::B(bytes),
        }
    }
}

impl TryFrom<Value> for KeyValue {
    type Error = Error;

    /// Fails with [`Error::Invalid`] for a value that is not a string, number or binary.
    fn try_from(value: Value) -> Result<KeyValue> {
        match value {
            Value::S(text) => Ok(KeyValue::S(text)),
            Value::N(number) => Ok(KeyValue::N(number)),
            Value::B(bytes) => Ok(KeyValue::B(bytes)),
            other => Err(Error::Invalid {
                what: "key",
                reason: format!("a key cannot have type {}", other.type_name()),
            }),
        }
    }
}

/// Appends the order-preserving, self-delimiting encoding of a key value.
pub fn encode_key_value(key: &KeyValue, out: &mut Vec<u8>) {
    match key {
        KeyValue::S(text) => {
            out.push(TAG_S);
            put_escaped(out, text.as_bytes());
            out.extend_from_slice(&[ESCAPE, TERMINATOR]);
        }
        KeyValue::N(number) => {
            out.push(TAG_N);
            number.encode_ordered(out);
        }
        KeyValue::B(bytes) => {
            out.push(TAG_B);
            put_escaped(out, bytes);
            out.extend_from_slice(&[ESCAPE, TERMINATOR]);
        }
    }
}

/// Decodes a key value from the start of `buf`, returning it and the bytes used.
///
/// # Errors
///
/// [`Error::Decode`] if the bytes are not exactly what [`encode_key_value`] writes.
pub fn decode_key_value(buf: &[u8]) -> Result<(KeyValue, usize)> {
    let Some((&tag, rest)) = buf.split_first() else {
        return Err(Error::decode("key", "empty input"));
    };
    match tag {
        TAG_S => {
            let (bytes, used) = take_escaped(rest)?;
            let text = String::from_utf8(bytes)
                .map_err(|e| Error::decode("key", format!("string key is not UTF-8: {e}")))?;
            Ok((KeyValue::S(text), 1 + used))
        }
        TAG_N => {
            let (number, used) = Number::decode_ordered(rest)
                .map_err(|e| Error::decode("key", format!("number key: {e}")))?;
            Ok((KeyValue::N(number), 1 + used))
        }
        TAG_B => {
            let (bytes, used) = take_escaped(rest)?;
            Ok((KeyValue::B(Bytes::from(bytes)), 1 + used))
        }
        other => Err(Error::decode("key", format!("unknown key type tag {other:#04x}"))),
    }
}

fn put_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for &byte in bytes {
        if byte == ESCAPE {
            out.extend_from_slice(&[ESCAPE, ESCAPED_ZERO]);
        } else {
            out.push(byte);
        }
    }
}

/// Unescapes bytes up to and including the terminator, returning them and the bytes used.
fn take_escaped(buf: &[u8]) -> Result<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut bytes = buf.iter().enumerate();
    while let Some((_, &byte)) = bytes.next() {
        if byte != ESCAPE {
            out.push(byte);
            continue;
        }
        match bytes.next() {
            Some((_, &ESCAPED_ZERO)) => out.push(0),
            Some((index, &TERMINATOR)) => return Ok((out, index + 1)),
            Some((_, other)) => {
                return Err(Error::decode("key", format!("bad escape 00 {other:02x}")))
            }
            None => break,
        }
    }
    Err(Error::decode("key", "no terminator"))
}

/// The key of one item (or of a partition's header row) inside one table.
///
/// The derived `Ord` equals the byte order of [`ItemKey::encode`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemKey {
    /// The partition's token, computed by the caller from the partition key.
    pub token: u64,
    /// The partition key.
    pub partition: KeyValue,
    /// The sort key, for tables that have one.
    pub sort: Option<KeyValue>,
}

/// What an encoded key names: a partition's header row or an item.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DecodedKey {
    /// The row holding partition-wide deletions; sorts before every item of its partition.
    PartitionHeader {
        /// The partition's token.
        token: u64,
        /// The partition key.
        partition: KeyValue,
    },
    /// An item.
    Item(ItemKey),
}

impl ItemKey {
    /// Appends the encoding described in the module docs.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_partition_prefix(out, self.token, &self.partition);
        out.push(MARKER_ITEM);
        if let Some(sort) = &self.sort {
            encode_key_value(sort, out);
        }
    }

    /// The encoding as a new vector.
    pub fn encode(&self) -> Vec<u8> {
        // Room for the token, both keys, tags, terminators and a few escapes: one allocation.
        let hint = |key: &KeyValue| match key {
            KeyValue::S(text) => text.len(),
            KeyValue::B(bytes) => bytes.len(),
            KeyValue::N(_) => crate::number::ENCODED_LEN_MAX,
        };
        let keys = hint(&self.partition) + self.sort.as_ref().map_or(0, hint);
        let mut out = Vec::with_capacity(TOKEN_BYTES + keys + 16);
        self.encode_into(&mut out);
        out
    }

    /// Decodes a whole encoded key, telling a partition header from an item.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] if the bytes are not exactly one encoded key.
    pub fn decode(buf: &[u8]) -> Result<DecodedKey> {
        let mut reader = Reader::new(buf, "key");
        let token_bytes = reader.bytes(TOKEN_BYTES)?;
        let token = u64::from_be_bytes(token_bytes.try_into().map_err(|_| reader.error("token"))?);
        let (partition, used) = decode_key_value(reader.rest())?;
        reader.advance(used)?;
        let marker = reader.u8()?;
        match marker {
            MARKER_PARTITION_HEADER if reader.remaining() == 0 => {
                Ok(DecodedKey::PartitionHeader { token, partition })
            }
            MARKER_PARTITION_HEADER => Err(reader.error("bytes after a partition header key")),
            MARKER_ITEM if reader.remaining() == 0 => {
                Ok(DecodedKey::Item(ItemKey { token, partition, sort: None }))
            }
            MARKER_ITEM => {
                let (sort, used) = decode_key_value(reader.rest())?;
                reader.advance(used)?;
                if reader.remaining() != 0 {
                    return Err(reader.error("bytes after the sort key"));
                }
                Ok(DecodedKey::Item(ItemKey { token, partition, sort: Some(sort) }))
            }
            other => Err(reader.error(format!("unknown marker {other:#04x}"))),
        }
    }

    /// Checks DynamoDB's key limits.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if the partition key is over [`PARTITION_KEY_BYTES_MAX`] or the
    /// sort key over [`SORT_KEY_BYTES_MAX`]; [`Error::Invalid`] if a string or binary key is
    /// empty (DynamoDB refuses empty key attributes).
    pub fn validate(&self) -> Result<()> {
        self.partition.validate("partition key", PARTITION_KEY_BYTES_MAX)?;
        if let Some(sort) = &self.sort {
            sort.validate("sort key", SORT_KEY_BYTES_MAX)?;
        }
        Ok(())
    }
}

fn put_partition_prefix(out: &mut Vec<u8>, token: u64, partition: &KeyValue) {
    out.extend_from_slice(&token.to_be_bytes());
    encode_key_value(partition, out);
}

/// The bytes every key of the partition starts with: token ++ encoded partition key.
pub fn partition_prefix(token: u64, partition: &KeyValue) -> Vec<u8> {
    let mut out = Vec::new();
    put_partition_prefix(&mut out, token, partition);
    out
}

/// The key of the partition's header row, which sorts before all of its items.
pub fn partition_header_key(token: u64, partition: &KeyValue) -> Vec<u8> {
    let mut out = partition_prefix(token, partition);
    out.push(MARKER_PARTITION_HEADER);
    out
}

/// The bytes every item key (not the header) of the partition starts with.
pub fn partition_items_prefix(token: u64, partition: &KeyValue) -> Vec<u8> {
    let mut out = partition_prefix(token, partition);
    out.push(MARKER_ITEM);
    out
}

/// The exact encoded key of the item with this sort key: a range bound for queries. Items
/// with a greater sort key have greater keys, and no other key starts with these bytes.
pub fn sort_key_bound(token: u64, partition: &KeyValue, sort: &KeyValue) -> Vec<u8> {
    let mut out = partition_items_prefix(token, partition);
    encode_key_value(sort, &mut out);
    out
}

/// The byte prefix shared by the keys of exactly the items whose S or B sort key begins with
/// `prefix` (`begins_with` in a key condition): the escaped prefix without its terminator.
///
/// # Errors
///
/// [`Error::Invalid`] if `prefix` is a number.
pub fn sort_key_prefix(token: u64, partition: &KeyValue, prefix: &KeyValue) -> Result<Vec<u8>> {
    let mut out = partition_items_prefix(token, partition);
    match prefix {
        KeyValue::S(text) => {
            out.push(TAG_S);
            put_escaped(&mut out, text.as_bytes());
        }
        KeyValue::B(bytes) => {
            out.push(TAG_B);
            put_escaped(&mut out, bytes);
        }
        KeyValue::N(_) => {
            return Err(Error::Invalid {
                what: "key condition",
                reason: "begins_with needs a string or binary sort key".into(),
            })
        }
    }
    Ok(out)
}

/// The smallest byte string greater than every string that starts with `prefix`, or `None`
/// when there is none (`prefix` is empty or all `ff`), meaning "to the end".
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let keep = prefix.iter().rposition(|byte| *byte != 0xff)?;
    let mut successor = prefix.get(..=keep)?.to_vec();
    let last = successor.last_mut()?;
    *last += 1;
    Some(successor)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testing::{arb_key_value, config};

    fn encoded(key: &KeyValue) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key_value(key, &mut out);
        out
    }

    fn s(text: &str) -> KeyValue {
        KeyValue::S(text.to_owned())
    }

    #[test]
    fn strings_sort_before_their_extensions() {
        let keys = [s(""), s("a"), s("a\0"), s("a\0\0"), s("a\u{1}"), s("ab"), s("b")];
        for pair in keys.windows(2) {
            assert!(encoded(&pair[0]) < encoded(&pair[1]), "{pair:?}");
        }
        assert_eq!(encoded(&s("a\0")), [TAG_S, b'a', 0x00, 0xff, 0x00, 0x01]);
    }

    #[test]
    fn header_sorts_first_in_its_partition() {
        let pk = s("user");
        let header = partition_header_key(7, &pk);
        let no_sort = ItemKey { token: 7, partition: pk.clone(), sort: None }.encode();
        let first = sort_key_bound(7, &pk, &s(""));
        let next_partition = partition_header_key(7, &s("user\0"));
        assert!(header < no_sort && no_sort < first && first < next_partition);
        assert!(header.starts_with(&partition_prefix(7, &pk)));
        assert_eq!(
            ItemKey::decode(&header).unwrap(),
            DecodedKey::PartitionHeader { token: 7, partition: pk }
        );
    }

    #[test]
    fn begins_with_prefix_selects_exactly_the_matching_items() {
        let pk = KeyValue::N(Number::from(1));
        let prefix = sort_key_prefix(3, &pk, &s("ab")).unwrap();
        let end = prefix_successor(&prefix).unwrap();
        for (sort, inside) in
            [("a", false), ("ab", true), ("ab\0", true), ("abc", true), ("ac", false)]
        {
            let key = sort_key_bound(3, &pk, &s(sort));
            assert_eq!(key >= prefix && key < end, inside, "{sort:?}");
        }
        assert!(sort_key_prefix(3, &pk, &pk).is_err());
    }

    #[test]
    fn successor_examples() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xff, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xff]), None);
        assert_eq!(prefix_successor(&[]), None);
    }

    #[test]
    fn limits() {
        let key =
            |pk: KeyValue, sk: Option<KeyValue>| ItemKey { token: 0, partition: pk, sort: sk };
        let long = |n| KeyValue::B(Bytes::from(vec![1u8; n]));
        assert!(key(long(PARTITION_KEY_BYTES_MAX), Some(long(SORT_KEY_BYTES_MAX)))
            .validate()
            .is_ok());
        assert!(matches!(
            key(long(PARTITION_KEY_BYTES_MAX + 1), None).validate(),
            Err(Error::TooLarge { size: 2049, .. })
        ));
        assert!(matches!(
            key(s("p"), Some(long(SORT_KEY_BYTES_MAX + 1))).validate(),
            Err(Error::TooLarge { limit: SORT_KEY_BYTES_MAX, .. })
        ));
        assert!(key(s(""), None).validate().is_err());
        assert!(key(KeyValue::N(Number::ZERO), None).validate().is_ok());
    }

    #[test]
    fn rejects_bad_keys() {
        for bad in [
            &[][..],
            &[0, 0, 0, 0, 0, 0, 0, 1],
            &[0, 0, 0, 0, 0, 0, 0, 1, TAG_S, b'a', 0, 1],
            &[0, 0, 0, 0, 0, 0, 0, 1, TAG_S, b'a', 0, 1, 0x02],
            &[0, 0, 0, 0, 0, 0, 0, 1, TAG_S, b'a', 0, 1, 0x00, 0x00],
            &[0, 0, 0, 0, 0, 0, 0, 1, TAG_S, b'a', 0, 2, 0x01],
            &[0, 0, 0, 0, 0, 0, 0, 1, TAG_S, 0xff, 0, 1, 0x01],
            &[0, 0, 0, 0, 0, 0, 0, 1, TAG_N, 0x02, 0x01, TAG_N, 0x02, 0x00],
        ] {
            assert!(ItemKey::decode(bad).is_err(), "{bad:?}");
        }
    }

    fn arb_item_key() -> impl Strategy<Value = ItemKey> {
        let pk = prop_oneof![arb_key_value(), Just(s("p"))];
        (0u64..3, pk, prop::option::of(arb_key_value()))
            .prop_map(|(token, partition, sort)| ItemKey { token, partition, sort })
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn key_value_order_is_logical_order(a in arb_key_value(), b in arb_key_value()) {
            prop_assert_eq!(encoded(&a).cmp(&encoded(&b)), a.cmp(&b));
            let mut bytes = encoded(&a);
            let len = bytes.len();
            bytes.push(0x00);
            prop_assert_eq!(decode_key_value(&bytes).unwrap(), (a, len));
        }

        #[test]
        fn item_key_order_is_logical_order(a in arb_item_key(), b in arb_item_key()) {
            prop_assert_eq!(a.encode().cmp(&b.encode()), a.cmp(&b));
            prop_assert_eq!(ItemKey::decode(&a.encode()).unwrap(), DecodedKey::Item(a.clone()));
            // A partition header sorts before every item of its partition, after earlier ones.
            let header = partition_header_key(b.token, &b.partition);
            let a_before = (a.token, &a.partition) < (b.token, &b.partition);
            prop_assert_eq!(a.encode() < header, a_before);
        }

        #[test]
        fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..24)) {
            let _ = ItemKey::decode(&bytes);
            if let Ok((key, used)) = decode_key_value(&bytes) {
                prop_assert_eq!(&encoded(&key)[..], &bytes[..used]);
            }
        }
    }
}
