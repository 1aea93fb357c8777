//! Record framing: how one payload sits in a segment.
//!
//! | field   | width        | endianness | meaning                                            |
//! |---------|--------------|------------|----------------------------------------------------|
//! | length  | 4            | LE         | payload bytes; 0 marks the end of the segment's data |
//! | crc32c  | 4            | LE         | over `seq` (8 bytes LE) ++ length ++ payload       |
//! | payload | `length`     | —          | opaque bytes (the engine's encoded mutation)       |
//!
//! The checksum is seeded with the segment's sequence number, so bytes left in a recycled
//! file by its previous life never pass as records of its new one, even where they happen to
//! sit on a record boundary.
//!
//! Writes are padded with zeros to [`IO_ALIGN`](crate::io::IO_ALIGN); a length of 0 is where
//! the data ends. A reader that finds a non-zero length that is too large, a checksum that
//! does not match, or a record cut short by the end of the file reports [`Frame::Bad`]; the
//! replay decides whether that is a torn tail or corruption.

/// Bytes before each payload: length and checksum.
pub const RECORD_HEADER_BYTES: usize = 8;

/// The largest payload a record may carry: a 4 MiB mutation plus headroom for its encoding.
pub const RECORD_BYTES_MAX: usize = (4 << 20) + (64 << 10);

// The length field must be able to hold the largest payload.
const _: () = assert!(RECORD_BYTES_MAX <= u32::MAX as usize);

/// The bytes a payload of `payload_len` bytes takes in a segment.
pub const fn framed_len(payload_len: usize) -> usize {
    RECORD_HEADER_BYTES + payload_len
}

/// The checksum of a record of segment `seq`.
pub fn checksum(seq: u64, payload: &[u8]) -> u32 {
    let length = payload_length(payload).to_le_bytes();
    let crc = crc32c::crc32c(&seq.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &length);
    crc32c::crc32c_append(crc, payload)
}

fn payload_length(payload: &[u8]) -> u32 {
    assert!(!payload.is_empty(), "an empty payload would read as the end of the log");
    assert!(payload.len() <= RECORD_BYTES_MAX, "payload length checked before framing");
    u32::try_from(payload.len()).expect("RECORD_BYTES_MAX fits u32")
}

/// Appends the framed record of `payload` for segment `seq` to `out`.
///
/// The caller checks the length first: an empty payload or one over [`RECORD_BYTES_MAX`]
/// is a bug here.
pub fn encode(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&payload_length(payload).to_le_bytes());
    out.extend_from_slice(&checksum(seq, payload).to_le_bytes());
    out.extend_from_slice(payload);
    assert_eq!(out.len() - start, framed_len(payload.len()));
}

/// What the bytes at a record boundary hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole record whose checksum matches.
    Record(&'a [u8]),
    /// A length of 0: the segment's data ends here.
    End,
    /// The buffer ends too soon: this many bytes from its start are needed to decide.
    Short(usize),
    /// Not a record: why, in words fit for an error message.
    Bad(BadFrame),
}

/// Why the bytes at a record boundary are not a record.
#[derive(Debug, PartialEq, Eq)]
pub enum BadFrame {
    /// The length is over [`RECORD_BYTES_MAX`].
    Length(u32),
    /// The stored checksum differs from the one computed over the bytes.
    Checksum {
        /// Computed over the bytes read.
        got: u32,
        /// Stored in the header.
        expected: u32,
    },
}

/// Decodes the record of segment `seq` at the start of `buf`.
pub fn decode(seq: u64, buf: &[u8]) -> Frame<'_> {
    let Some(length) = read_u32(buf, 0) else {
        return Frame::Short(4);
    };
    if length == 0 {
        return Frame::End;
    }
    let payload_len = length as usize;
    if payload_len > RECORD_BYTES_MAX {
        return Frame::Bad(BadFrame::Length(length));
    }
    let (Some(expected), Some(payload)) =
        (read_u32(buf, 4), buf.get(RECORD_HEADER_BYTES..framed_len(payload_len)))
    else {
        return Frame::Short(framed_len(payload_len));
    };
    let got = checksum(seq, payload);
    if got != expected {
        return Frame::Bad(BadFrame::Checksum { got, expected });
    }
    Frame::Record(payload)
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at + 4)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_end_marker() {
        let mut buf = Vec::new();
        encode(7, b"hello", &mut buf);
        assert_eq!(buf.len(), framed_len(5));
        assert_eq!(decode(7, &buf), Frame::Record(b"hello"));
        buf.extend_from_slice(&[0; 8]);
        assert_eq!(decode(7, buf.get(framed_len(5)..).unwrap()), Frame::End);
    }

    #[test]
    fn another_segments_record_is_bad() {
        let mut buf = Vec::new();
        encode(7, b"hello", &mut buf);
        assert!(matches!(decode(8, &buf), Frame::Bad(BadFrame::Checksum { .. })));
    }

    #[test]
    fn short_and_oversized() {
        let mut buf = Vec::new();
        encode(1, b"abcdef", &mut buf);
        assert_eq!(decode(1, buf.get(..3).unwrap()), Frame::Short(4));
        assert_eq!(decode(1, buf.get(..10).unwrap()), Frame::Short(framed_len(6)));
        let huge = u32::try_from(RECORD_BYTES_MAX + 1).unwrap().to_le_bytes();
        assert!(matches!(decode(1, &huge), Frame::Bad(BadFrame::Length(_))));
    }

    proptest! {
        #[test]
        fn any_flipped_bit_is_caught(payload in proptest::collection::vec(any::<u8>(), 1..300),
                                     bit in 0usize..2400) {
            let mut buf = Vec::new();
            encode(3, &payload, &mut buf);
            let bit = bit % (buf.len() * 8);
            buf[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!matches!(decode(3, &buf), Frame::Record(p) if p == payload.as_slice()));
        }
    }
}
