//! Blocks: sorted entries with shared-prefix keys and restart points, and the frame
//! (compression kind, length, crc32c) around every block on disk. The cursor that walks a
//! block lives in `iter.rs`.
//!
//! # Payload layout (uncompressed)
//!
//! | field           | width          | notes                                               |
//! |-----------------|----------------|-----------------------------------------------------|
//! | entry 0 .. n    | var            | below                                               |
//! | restart offsets | 4 each, u32 LE | byte offset of entries 0, 16, 32, ...; first is 0   |
//! | restart count   | 4, u32 LE      | at least 1                                          |
//!
//! Each entry:
//!
//! | field      | width      | notes                                                    |
//! |------------|------------|----------------------------------------------------------|
//! | shared     | varint     | bytes the key shares with the previous key; 0 at restarts |
//! | unshared   | varint     | length of the key suffix that follows                    |
//! | value_len  | varint     |                                                          |
//! | key suffix | `unshared` |                                                          |
//! | value      | `value_len`|                                                          |
//!
//! # Frame on disk
//!
//! | field              | width        | notes                                        |
//! |--------------------|--------------|----------------------------------------------|
//! | payload            | stored bytes | raw, or `lz4_flex::block` of the raw payload |
//! | kind               | 1            | [`KIND_NONE`] or [`KIND_LZ4`]                |
//! | uncompressed bytes | 4, u32 LE    |                                              |
//! | crc32c             | 4, u32 LE    | over payload, kind and uncompressed bytes    |
//!
//! # Invariant
//! A [`Block`] exists only after [`Block::decode`] walked every entry and checked every length,
//! the restart points and the key order. Later decoding of the same bytes therefore cannot
//! fail, and the decoding helpers assert that it does not.

use std::cmp::Ordering;

use bytes::Bytes;

use super::RESTART_INTERVAL;

/// Bytes of the frame trailer: kind, uncompressed length, crc32c.
pub const TRAILER_BYTES: usize = 1 + 4 + 4;

/// Compression kind: the payload is stored raw.
pub const KIND_NONE: u8 = 0;

/// Compression kind: the payload is `lz4_flex::block` compressed.
pub const KIND_LZ4: u8 = 1;

/// lz4 expands at most ~255 times (one literal byte per 255-run length byte), which bounds what
/// a hostile uncompressed length may ask us to allocate.
const LZ4_EXPANSION_MAX: usize = 255;

/// A block is stored compressed only when that saves at least 1/8 of it (as LevelDB does):
/// smaller gains cost decompression on every read for little space.
const COMPRESSION_GAIN_MIN_DIVISOR: usize = 8;

/// How blocks are compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Stored raw.
    None,
    /// lz4 block compression, kept only where it saves at least 1/8.
    #[default]
    Lz4,
}

/// Varints are the crate's one LEB128 encoding (`types`), shared with rows and keys.
pub use crate::types::put_varint;

/// Reads fields from a byte slice; every read checks the length first and returns `None`
/// past the end, so hostile bytes never panic.
pub struct ByteReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    /// Starts reading `buf` at `pos`.
    pub fn new(buf: &'a [u8], pos: usize) -> Self {
        ByteReader { buf, pos }
    }

    /// The offset of the next unread byte.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Whether every byte has been read.
    pub fn is_done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.bytes(1)?.first().copied()
    }

    /// A little-endian u32.
    pub fn u32_le(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }

    /// A little-endian u64.
    pub fn u64_le(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }

    /// An unsigned LEB128 varint (shortest form, fits a u64), decoded by `types`.
    pub fn varint(&mut self) -> Option<u64> {
        let (value, used) = crate::types::get_varint(self.buf.get(self.pos..)?).ok()?;
        self.pos += used;
        Some(value)
    }

    /// A varint used as a length.
    pub fn varint_usize(&mut self) -> Option<usize> {
        usize::try_from(self.varint()?).ok()
    }
}

/// Builds one block payload from keys added in increasing order.
#[derive(Default)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    last_key: Vec<u8>,
    count: usize,
}

impl BlockBuilder {
    /// Whether no entry was added since the last [`BlockBuilder::finish`].
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The payload size if the block were finished now.
    pub fn estimated_bytes(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// Appends an entry. `key` must sort after the previous key of this block.
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        assert!(self.count == 0 || key > self.last_key.as_slice(), "block keys out of order");
        let shared = if self.count.is_multiple_of(RESTART_INTERVAL) {
            let offset = u32::try_from(self.buf.len()).expect("block payload fits u32");
            self.restarts.push(offset);
            0
        } else {
            shared_prefix_len(&self.last_key, key)
        };
        let suffix = key.get(shared..).unwrap_or_default();
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, suffix.len() as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(suffix);
        self.buf.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.count += 1;
    }

    /// Returns the payload and empties the builder for the next block.
    pub fn finish(&mut self) -> Vec<u8> {
        assert!(!self.is_empty(), "an empty block is never written");
        let mut payload = std::mem::take(&mut self.buf);
        for restart in &self.restarts {
            payload.extend_from_slice(&restart.to_le_bytes());
        }
        let count = u32::try_from(self.restarts.len()).expect("restart count fits u32");
        payload.extend_from_slice(&count.to_le_bytes());
        self.restarts.clear();
        self.last_key.clear();
        self.count = 0;
        payload
    }
}

fn shared_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Why a frame could not be opened; the caller adds the path and offset.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The crc32c does not match the bytes.
    Checksum {
        /// Computed over the bytes read.
        got: u32,
        /// Stored in the trailer.
        expected: u32,
    },
    /// The trailer is impossible (too short, unknown kind, bad length, lz4 failed).
    Corrupt(&'static str),
}

/// Appends `payload` framed (compressed if `compression` says so and it pays) to `out`;
/// returns the number of bytes appended.
pub fn frame(payload: &[u8], compression: Compression, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    let uncompressed = u32::try_from(payload.len()).expect("block payload fits u32");
    let compressed = match compression {
        Compression::Lz4 => Some(lz4_flex::block::compress(payload)),
        Compression::None => None,
    };
    let saves =
        |c: &Vec<u8>| c.len() <= payload.len() - payload.len() / COMPRESSION_GAIN_MIN_DIVISOR;
    let kind = match compressed {
        Some(c) if saves(&c) => {
            out.extend_from_slice(&c);
            KIND_LZ4
        }
        _ => {
            out.extend_from_slice(payload);
            KIND_NONE
        }
    };
    out.push(kind);
    out.extend_from_slice(&uncompressed.to_le_bytes());
    let crc = crc32c::crc32c(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
    out.len() - start
}

/// Checks a frame's crc32c and returns its raw payload (at most `payload_max` bytes).
///
/// # Errors
/// [`FrameError::Checksum`] if the bytes are not those written, [`FrameError::Corrupt`] if the
/// trailer is impossible or lz4 fails.
pub fn unframe(raw: &Bytes, payload_max: usize) -> Result<Bytes, FrameError> {
    let body_len = raw.len().checked_sub(4).ok_or(FrameError::Corrupt("block too short"))?;
    let stored_len = body_len.checked_sub(5).ok_or(FrameError::Corrupt("block too short"))?;
    let mut trailer = ByteReader::new(raw, stored_len);
    let (kind, uncompressed, expected) = match (trailer.u8(), trailer.u32_le(), trailer.u32_le()) {
        (Some(kind), Some(len), Some(crc)) => (kind, len as usize, crc),
        _ => return Err(FrameError::Corrupt("block too short")),
    };
    let got = crc32c::crc32c(raw.get(..body_len).unwrap_or_default());
    if got != expected {
        return Err(FrameError::Checksum { got, expected });
    }
    if uncompressed > payload_max {
        return Err(FrameError::Corrupt("uncompressed length over the limit"));
    }
    match kind {
        KIND_NONE if uncompressed == stored_len => Ok(raw.slice(..stored_len)),
        KIND_NONE => Err(FrameError::Corrupt("raw block length differs from its trailer")),
        KIND_LZ4 => decompress(raw.get(..stored_len).unwrap_or_default(), uncompressed),
        _ => Err(FrameError::Corrupt("unknown compression kind")),
    }
}

fn decompress(stored: &[u8], uncompressed: usize) -> Result<Bytes, FrameError> {
    if uncompressed > stored.len().saturating_mul(LZ4_EXPANSION_MAX).saturating_add(16) {
        return Err(FrameError::Corrupt("lz4 uncompressed length impossible for its input"));
    }
    let mut out = vec![0_u8; uncompressed];
    match lz4_flex::block::decompress_into(stored, &mut out) {
        Ok(n) if n == uncompressed => Ok(Bytes::from(out)),
        Ok(_) => Err(FrameError::Corrupt("lz4 output shorter than its trailer says")),
        Err(_) => Err(FrameError::Corrupt("lz4 decompression failed")),
    }
}

/// One decoded entry: the full key and the value (a slice of the block's payload).
pub type Entry = (Bytes, Bytes);

/// A checked block payload. Cheap to share (`Rc<Block>`) between the cache and cursors.
#[derive(Debug)]
pub struct Block {
    data: Bytes,
    restarts: Vec<u32>,
    entries_end: usize,
}

/// One entry's header and where its parts are in the payload.
struct RawEntry {
    shared: usize,
    suffix_start: usize,
    suffix_end: usize,
    value_end: usize,
}

impl RawEntry {
    fn value_start(&self) -> usize {
        self.suffix_end
    }
}

/// Parses the entry at `pos`, checking that it lies before `end`.
fn parse_entry(data: &[u8], pos: usize, end: usize) -> Option<RawEntry> {
    let mut reader = ByteReader::new(data.get(..end)?, pos);
    let shared = reader.varint_usize()?;
    let unshared = reader.varint_usize()?;
    let value_len = reader.varint_usize()?;
    let suffix_start = reader.pos();
    reader.bytes(unshared)?;
    let suffix_end = reader.pos();
    reader.bytes(value_len)?;
    Some(RawEntry { shared, suffix_start, suffix_end, value_end: reader.pos() })
}

impl Block {
    /// Checks a raw payload completely and wraps it.
    ///
    /// # Errors
    /// Why the payload is not a block (a reason to wrap in `Error::Corrupt`).
    pub fn decode(data: Bytes) -> Result<Block, &'static str> {
        let (restarts, entries_end) = decode_restarts(&data)?;
        let block = Block { data, restarts, entries_end };
        block.check_entries()?;
        Ok(block)
    }

    /// Walks every entry: bounds, restart positions, prefix lengths, key order.
    fn check_entries(&self) -> Result<(), &'static str> {
        let data = self.data.as_ref();
        let mut next_restart = self.restarts.iter().copied().peekable();
        let (mut pos, mut key) = (0, Vec::new());
        while pos < self.entries_end {
            let at_restart = next_restart.next_if(|&r| r as usize == pos).is_some();
            let entry = parse_entry(data, pos, self.entries_end).ok_or("entry past block end")?;
            if (at_restart && entry.shared != 0) || entry.shared > key.len() {
                return Err("bad shared key prefix");
            }
            let suffix = data.get(entry.suffix_start..entry.suffix_end).unwrap_or_default();
            let previous = std::mem::take(&mut key);
            key.extend_from_slice(previous.get(..entry.shared).unwrap_or_default());
            key.extend_from_slice(suffix);
            if pos > 0 && key <= previous {
                return Err("keys out of order");
            }
            pos = entry.value_end;
        }
        if next_restart.next().is_some() {
            return Err("restart point not at an entry");
        }
        Ok(())
    }

    /// Number of restart points (at least 1).
    pub(crate) fn restart_count(&self) -> usize {
        self.restarts.len()
    }

    /// The memory this block holds, for the cache's budget.
    pub fn charge_bytes(&self) -> usize {
        self.data.len() + 4 * self.restarts.capacity() + std::mem::size_of::<Block>()
    }

    /// The value stored under `key`, if any.
    pub fn get(&self, key: &[u8]) -> Option<Bytes> {
        let interval = self.restarts_before(|k| k <= key).checked_sub(1)?;
        // Walk the interval in place, rebuilding each key in one buffer: a GET is one
        // lookup, and decoding the interval allocated every key in it.
        let start = self.restarts.get(interval).copied().expect("restart index in range") as usize;
        let end = self.restarts.get(interval + 1).map_or(self.entries_end, |&r| r as usize);
        let mut current: smallvec::SmallVec<[u8; 128]> = smallvec::SmallVec::new();
        let mut pos = start;
        while pos < end {
            let entry = parse_entry(&self.data, pos, self.entries_end).expect("checked at decode");
            let suffix = self.data.get(entry.suffix_start..entry.suffix_end).unwrap_or_default();
            assert!(entry.shared <= current.len(), "prefix lengths are checked at decode");
            current.truncate(entry.shared);
            current.extend_from_slice(suffix);
            match current.as_slice().cmp(key) {
                Ordering::Less => pos = entry.value_end,
                Ordering::Equal => {
                    return Some(self.data.slice(entry.value_start()..entry.value_end))
                }
                Ordering::Greater => return None,
            }
        }
        None
    }

    /// Every entry, in order (used for the index block, read once per table open).
    pub fn entries(&self) -> Vec<Entry> {
        (0..self.restarts.len()).flat_map(|i| self.decode_interval(i)).collect()
    }

    /// How many restart points have a key for which `before` holds (`before` must hold for a
    /// prefix of the keys in order).
    pub(crate) fn restarts_before(&self, before: impl Fn(&[u8]) -> bool) -> usize {
        let (mut low, mut high) = (0, self.restarts.len());
        while low < high {
            let mid = low + (high - low) / 2;
            if before(self.restart_key(mid)) {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }

    /// The full key at restart point `index` (its `shared` is 0).
    fn restart_key(&self, index: usize) -> &[u8] {
        let pos = self.restarts.get(index).copied().expect("restart index in range") as usize;
        let entry = parse_entry(&self.data, pos, self.entries_end).expect("checked at decode");
        self.data.get(entry.suffix_start..entry.suffix_end).expect("checked at decode")
    }

    /// The entries of restart interval `index` (at most [`RESTART_INTERVAL`] when written by
    /// this build), with full keys.
    pub(crate) fn decode_interval(&self, index: usize) -> Vec<Entry> {
        let start = self.restarts.get(index).copied().expect("restart index in range") as usize;
        let end = self.restarts.get(index + 1).map_or(self.entries_end, |&r| r as usize);
        let mut entries: Vec<Entry> = Vec::with_capacity(RESTART_INTERVAL);
        let mut key: &[u8] = &[];
        let mut pos = start;
        while pos < end {
            let entry = parse_entry(&self.data, pos, self.entries_end).expect("checked at decode");
            let suffix = self.data.get(entry.suffix_start..entry.suffix_end).unwrap_or_default();
            let mut full = Vec::with_capacity(entry.shared + suffix.len());
            full.extend_from_slice(key.get(..entry.shared).expect("checked at decode"));
            full.extend_from_slice(suffix);
            let value = self.data.slice(entry.value_start()..entry.value_end);
            entries.push((Bytes::from(full), value));
            key = entries.last().map_or(&[], |(k, _)| k.as_ref());
            pos = entry.value_end;
        }
        entries
    }
}

/// Reads the restart array at the end of `data`; returns it and where the entries end.
fn decode_restarts(data: &[u8]) -> Result<(Vec<u32>, usize), &'static str> {
    let count_at = data.len().checked_sub(4).ok_or("block shorter than its restart count")?;
    let count = ByteReader::new(data, count_at).u32_le().ok_or("block too short")? as usize;
    let array_bytes = count.checked_mul(4).ok_or("restart count overflows")?;
    let entries_end = count_at.checked_sub(array_bytes).ok_or("restart array past block")?;
    if count == 0 || entries_end == 0 {
        return Err("empty block");
    }
    let mut reader = ByteReader::new(data, entries_end);
    let mut restarts = Vec::with_capacity(count);
    for _ in 0..count {
        let restart = reader.u32_le().ok_or("restart array past block")?;
        let increasing = restarts.last().is_none_or(|&last| restart > last);
        if !increasing || restart as usize >= entries_end {
            return Err("restart offsets not increasing within the entries");
        }
        restarts.push(restart);
    }
    if restarts.first() != Some(&0) {
        return Err("first restart is not at offset 0");
    }
    Ok((restarts, entries_end))
}

/// Block fixtures shared by this file's tests and the iterator's.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A decoded block of `pairs`.
    pub(crate) fn build(pairs: &[(Vec<u8>, Vec<u8>)]) -> Block {
        let mut builder = BlockBuilder::default();
        for (k, v) in pairs {
            builder.add(k, v);
        }
        Block::decode(Bytes::from(builder.finish())).unwrap()
    }

    /// `n` sorted pairs with keys three apart, so absent keys sit between them.
    pub(crate) fn sample(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..n).map(|i| (format!("key{:05}", i * 3).into_bytes(), vec![i as u8; i % 7])).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{build, sample};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varint_round_trips_and_rejects_overflow() {
        for value in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, value);
            assert_eq!(ByteReader::new(&buf, 0).varint(), Some(value));
        }
        let too_long = [0xff_u8; 11];
        assert_eq!(ByteReader::new(&too_long, 0).varint(), None);
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(ByteReader::new(&overflow, 0).varint(), None);
    }

    #[test]
    fn get_finds_every_key_and_no_other() {
        let pairs = sample(100);
        let block = build(&pairs);
        for (k, v) in &pairs {
            assert_eq!(block.get(k).as_deref(), Some(v.as_slice()));
        }
        assert_eq!(block.get(b"key00001"), None);
        // Every gap between keys, in every restart interval, and keys that extend or cut
        // a present one.
        for i in 0..100 {
            for absent in [format!("key{:05}", i * 3 + 1), format!("key{:05}x", i * 3)] {
                assert_eq!(block.get(absent.as_bytes()), None, "{absent}");
            }
        }
        assert_eq!(block.get(b"key0000"), None);
        assert_eq!(block.get(b"a"), None);
        assert_eq!(block.get(b"z"), None);
        assert_eq!(block.entries().len(), 100);
    }

    #[test]
    fn frame_round_trips_and_detects_a_flipped_bit() {
        let payload = b"hello hello hello hello hello hello hello hello".repeat(20);
        for compression in [Compression::None, Compression::Lz4] {
            let mut out = Vec::new();
            let len = frame(&payload, compression, &mut out);
            assert_eq!(len, out.len());
            let raw = Bytes::from(out.clone());
            assert_eq!(unframe(&raw, 1 << 20).unwrap(), payload);
            out[3] ^= 1;
            let err = unframe(&Bytes::from(out), 1 << 20).unwrap_err();
            assert!(matches!(err, FrameError::Checksum { .. }), "{err:?}");
        }
    }

    #[test]
    fn incompressible_payload_is_stored_raw() {
        let payload: Vec<u8> =
            (0..1000_u32).map(|i| xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes()) as u8).collect();
        let mut out = Vec::new();
        frame(&payload, Compression::Lz4, &mut out);
        assert_eq!(out[payload.len()], KIND_NONE);
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let data = Bytes::from(bytes);
            if let Ok(block) = Block::decode(data.clone()) {
                let _ = block.entries();
                let _ = block.get(b"k");
            }
            let _ = unframe(&data, 1 << 20);
        }

        #[test]
        fn hostile_lz4_frames_never_panic(
            stored in proptest::collection::vec(any::<u8>(), 0..200),
            uncompressed in 0_u32..5000,
        ) {
            let mut raw = stored.clone();
            raw.push(KIND_LZ4);
            raw.extend_from_slice(&uncompressed.to_le_bytes());
            let crc = crc32c::crc32c(&raw);
            raw.extend_from_slice(&crc.to_le_bytes());
            let _ = unframe(&Bytes::from(raw), 1 << 20);
        }
    }
}
