//! The table's metadata: the footer that locates the meta blocks, the block handles of the
//! index, and the properties block.
//!
//! # Footer (the last [`FOOTER_BYTES`] bytes of the file)
//!
//! | offset | field              | width     | notes                             |
//! |--------|--------------------|-----------|-----------------------------------|
//! | 0      | magic              | 8, u64 LE | [`MAGIC`]                         |
//! | 8      | format version     | 4, u32 LE | [`FORMAT_VERSION`]                |
//! | 12     | index handle       | 12        | offset u64 LE, length u32 LE      |
//! | 24     | bloom handle       | 12        |                                   |
//! | 36     | properties handle  | 12        |                                   |
//! | 48     | crc32c             | 4, u32 LE | over bytes 0..48                  |
//!
//! Decoding checks the magic, then the version (a newer layout may move the crc), then the crc.
//!
//! # Block handle (index entry value)
//!
//! | field  | width     | notes                               |
//! |--------|-----------|-------------------------------------|
//! | offset | 8, u64 LE | of the framed block                 |
//! | length | 4, u32 LE | on disk, with its trailer           |
//!
//! # Properties payload
//!
//! | field      | width                 | notes                                |
//! |------------|-----------------------|--------------------------------------|
//! | entries    | 8, u64 LE             | at least 1                           |
//! | data bytes | 8, u64 LE             | equals the index offset              |
//! | first key  | varint length + bytes |                                      |
//! | last key   | varint length + bytes | not below the first key              |
//! | user       | varint length + bytes | the caller's opaque properties       |

use bytes::Bytes;

use super::block::{put_varint, ByteReader};
use super::{FORMAT_VERSION, KEY_BYTES_MAX, MAGIC, PROPERTIES_USER_BYTES_MAX};

/// Size of the footer.
pub const FOOTER_BYTES: usize = 8 + 4 + 3 * HANDLE_BYTES + 4;

/// Size of an encoded [`BlockHandle`].
pub const HANDLE_BYTES: usize = 8 + 4;

/// Where a framed block lies in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHandle {
    /// Offset of the block's first byte.
    pub offset: u64,
    /// Length on disk, trailer included.
    pub len: u32,
}

impl BlockHandle {
    /// The offset just past the block.
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }

    /// Appends the 12-byte encoding.
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
    }

    /// Decodes exactly 12 bytes.
    pub fn decode(bytes: &[u8]) -> Option<BlockHandle> {
        let mut reader = ByteReader::new(bytes, 0);
        let handle = BlockHandle { offset: reader.u64_le()?, len: reader.u32_le()? };
        let sane = reader.is_done() && handle.offset.checked_add(u64::from(handle.len)).is_some();
        sane.then_some(handle)
    }
}

/// Why a footer is unusable; the reader adds the path and offset.
#[derive(Debug, PartialEq, Eq)]
pub enum FooterError {
    /// The crc32c does not match.
    Checksum {
        /// Computed.
        got: u32,
        /// Stored.
        expected: u32,
    },
    /// Not a footer this build can read.
    Corrupt(String),
}

/// The fixed-size tail of every table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    /// The index block.
    pub index: BlockHandle,
    /// The bloom filter block.
    pub bloom: BlockHandle,
    /// The properties block.
    pub properties: BlockHandle,
}

impl Footer {
    /// The footer's bytes, version [`FORMAT_VERSION`].
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FOOTER_BYTES);
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        for handle in [self.index, self.bloom, self.properties] {
            handle.encode_to(&mut out);
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(out.len(), FOOTER_BYTES);
        out
    }

    /// Decodes the last [`FOOTER_BYTES`] of a file.
    ///
    /// # Errors
    /// [`FooterError::Corrupt`] for a wrong length, magic or version; [`FooterError::Checksum`]
    /// if the bytes are not those written.
    pub fn decode(bytes: &[u8]) -> Result<Footer, FooterError> {
        let corrupt = |reason: String| Err(FooterError::Corrupt(reason));
        if bytes.len() != FOOTER_BYTES {
            return corrupt(format!("footer is {} bytes, not {FOOTER_BYTES}", bytes.len()));
        }
        let mut reader = ByteReader::new(bytes, 0);
        let magic = reader.u64_le().unwrap_or_default();
        if magic != MAGIC {
            return corrupt(format!("bad magic {magic:#018x}: not a Shoal sstable"));
        }
        let version = reader.u32_le().unwrap_or_default();
        if version != FORMAT_VERSION {
            return corrupt(format!("unknown format version {version} (reads {FORMAT_VERSION})"));
        }
        let mut handle = || reader.bytes(HANDLE_BYTES).and_then(BlockHandle::decode);
        let (index, bloom, properties) = (handle(), handle(), handle());
        let expected = reader.u32_le().unwrap_or_default();
        let got = crc32c::crc32c(bytes.get(..FOOTER_BYTES - 4).unwrap_or_default());
        if got != expected {
            return Err(FooterError::Checksum { got, expected });
        }
        match (index, bloom, properties) {
            (Some(index), Some(bloom), Some(properties)) => Ok(Footer { index, bloom, properties }),
            _ => corrupt("block handle overflows".to_string()),
        }
    }
}

/// What the properties block says about the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Properties {
    /// Number of entries.
    pub entries: u64,
    /// Bytes of data blocks, which start the file.
    pub data_bytes: u64,
    /// Smallest key.
    pub first_key: Bytes,
    /// Largest key.
    pub last_key: Bytes,
    /// The caller's opaque bytes.
    pub user: Bytes,
}

impl Properties {
    /// The payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.first_key.len() + self.last_key.len());
        out.extend_from_slice(&self.entries.to_le_bytes());
        out.extend_from_slice(&self.data_bytes.to_le_bytes());
        for field in [&self.first_key, &self.last_key, &self.user] {
            put_varint(&mut out, field.len() as u64);
            out.extend_from_slice(field);
        }
        out
    }

    /// Decodes and checks a payload.
    ///
    /// # Errors
    /// Why the payload is not a properties block.
    pub fn decode(payload: &Bytes) -> Result<Properties, &'static str> {
        let mut reader = ByteReader::new(payload, 0);
        let entries = reader.u64_le().ok_or("properties too short")?;
        let data_bytes = reader.u64_le().ok_or("properties too short")?;
        let mut field = |limit: usize| -> Result<Bytes, &'static str> {
            let len = reader.varint_usize().filter(|&n| n <= limit).ok_or("bad field length")?;
            let start = reader.pos();
            reader.bytes(len).ok_or("field past the end of properties")?;
            Ok(payload.slice(start..start + len))
        };
        let first_key = field(KEY_BYTES_MAX)?;
        let last_key = field(KEY_BYTES_MAX)?;
        let user = field(PROPERTIES_USER_BYTES_MAX)?;
        if !reader.is_done() {
            return Err("trailing bytes after properties");
        }
        if entries == 0 || first_key > last_key || (entries == 1 && first_key != last_key) {
            return Err("impossible entry count or key range");
        }
        Ok(Properties { entries, data_bytes, first_key, last_key, user })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn footer() -> Footer {
        Footer {
            index: BlockHandle { offset: 100, len: 20 },
            bloom: BlockHandle { offset: 120, len: 30 },
            properties: BlockHandle { offset: 150, len: 40 },
        }
    }

    #[test]
    fn footer_round_trips() {
        let bytes = footer().encode();
        assert_eq!(Footer::decode(&bytes), Ok(footer()));
    }

    #[test]
    fn every_flipped_footer_bit_is_refused() {
        let bytes = footer().encode();
        for bit in 0..FOOTER_BYTES * 8 {
            let mut bad = bytes.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(Footer::decode(&bad).is_err(), "bit {bit} went unnoticed");
        }
    }

    #[test]
    fn wrong_version_is_named() {
        let mut bytes = footer().encode();
        bytes[8] = 2;
        let Err(FooterError::Corrupt(reason)) = Footer::decode(&bytes) else { panic!() };
        assert!(reason.contains("version 2"), "{reason}");
    }

    #[test]
    fn properties_round_trip() {
        let properties = Properties {
            entries: 3,
            data_bytes: 4096,
            first_key: Bytes::from_static(b"a"),
            last_key: Bytes::from_static(b"c"),
            user: Bytes::from_static(b"stats"),
        };
        assert_eq!(Properties::decode(&Bytes::from(properties.encode())), Ok(properties));
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = Footer::decode(&bytes);
            let _ = Properties::decode(&Bytes::from(bytes.clone()));
            let _ = BlockHandle::decode(&bytes);
            if bytes.len() >= FOOTER_BYTES {
                let _ = Footer::decode(&bytes[..FOOTER_BYTES]);
            }
        }
    }
}
