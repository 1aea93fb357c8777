//! Frames: how messages are cut out of a byte stream.
//!
//! ```text
//! offset  size  field
//! 0       4     body length, u32 little-endian (at most the receiver's frame limit)
//! 4       1     kind: 1 request, 2 response
//! 5       1     protocol version (1)
//! 6       2     flags, must be 0 in version 1
//! 8       8     request id, u64 little-endian, chosen by the sender of the request and echoed
//!               in its response; replies may come back in any order (pipelining)
//! 16      4     crc32c of bytes 0..16 followed by the body
//! 20      n     body: a flatbuffers `Request` or `Response` (see `schema/shoal.fbs`)
//! ```
//!
//! The length comes first so a receiver can refuse an oversized frame before buffering it;
//! the checksum covers the header too, so a corrupted length or id is caught.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

/// Bytes in a frame header.
pub const HEADER_BYTES: usize = 20;
/// The protocol version this crate speaks.
pub const VERSION: u8 = 1;
/// The frame limit when the config sets none: 4 MiB (an item is at most 400 KiB; batches
/// and pages carry many).
pub const FRAME_BYTES_MAX_DEFAULT: usize = 4 << 20;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// A request, from a client or a coordinator.
    Request,
    /// The response to the request with the same id.
    Response,
}

impl FrameKind {
    fn to_byte(self) -> u8 {
        match self {
            FrameKind::Request => 1,
            FrameKind::Response => 2,
        }
    }
}

/// One frame, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Request or response.
    pub kind: FrameKind,
    /// The request id.
    pub request_id: u64,
    /// The flatbuffers body.
    pub body: Bytes,
}

/// A frame that cannot be accepted. After any of these the stream cannot be trusted to be
/// in sync, so the receiver answers (when it knows the request id) and closes.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// The length field exceeds the receiver's limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes (request id {request_id})")]
    TooLarge {
        /// Announced body length.
        len: usize,
        /// The receiver's limit.
        max: usize,
        /// The id in the header (not checksummed yet: a hint for the reply).
        request_id: u64,
    },
    /// The checksum does not match the header and body.
    #[error("frame checksum mismatch (request id {request_id}): stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// The id in the header (not trustworthy).
        request_id: u64,
        /// The checksum in the frame.
        stored: u32,
        /// The checksum of what arrived.
        computed: u32,
    },
    /// Kind, version or flags this build does not know.
    #[error("unsupported frame (request id {request_id}): {reason}")]
    Unsupported {
        /// The id in the header.
        request_id: u64,
        /// What was wrong.
        reason: String,
    },
}

impl FrameError {
    /// The request id the header claimed, to address an error reply.
    pub fn request_id(&self) -> u64 {
        match self {
            FrameError::TooLarge { request_id, .. }
            | FrameError::ChecksumMismatch { request_id, .. }
            | FrameError::Unsupported { request_id, .. } => *request_id,
        }
    }
}

/// Appends one frame with `body` to `out`.
///
/// # Panics
/// If the body is longer than `u32::MAX` (callers bound bodies by the frame limit first).
pub fn encode_frame(kind: FrameKind, request_id: u64, body: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(body.len()).expect("frame body over 4 GiB");
    let start = out.len();
    out.reserve(HEADER_BYTES + body.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.push(kind.to_byte());
    out.push(VERSION);
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&request_id.to_le_bytes());
    let header = out.get(start..).unwrap_or_default();
    let crc = crc32c::crc32c_append(crc32c::crc32c(header), body);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(body);
}

/// A frame as bytes.
pub fn frame_bytes(kind: FrameKind, request_id: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
    encode_frame(kind, request_id, body, &mut out);
    out
}

/// Callers read within a header whose length they checked.
#[allow(clippy::indexing_slicing)]
fn read_u32(buf: &[u8], at: usize) -> u32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(bytes)
}

/// Callers read within a header whose length they checked.
#[allow(clippy::indexing_slicing)]
fn read_u64(buf: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// Cuts frames out of `buf`, which holds bytes received so far. Returns `Ok(None)` when a
/// whole frame has not arrived yet (and says nothing of a partial header); consumes the
/// frame's bytes when it returns one. Refuses a length over `max_body` as soon as the header
/// is in, before the body is buffered.
///
/// # Errors
/// [`FrameError`]; the stream is then out of sync and must be closed.
#[allow(clippy::indexing_slicing)] // Every slice is within HEADER_BYTES, checked first.
pub fn decode_frame(buf: &mut BytesMut, max_body: usize) -> Result<Option<Frame>, FrameError> {
    if buf.len() < HEADER_BYTES {
        return Ok(None);
    }
    let len = read_u32(buf, 0) as usize;
    let request_id = read_u64(buf, 8);
    if len > max_body {
        return Err(FrameError::TooLarge { len, max: max_body, request_id });
    }
    if buf.len() < HEADER_BYTES + len {
        buf.reserve(HEADER_BYTES + len - buf.len());
        return Ok(None);
    }
    let stored = read_u32(buf, 16);
    let computed =
        crc32c::crc32c_append(crc32c::crc32c(&buf[0..16]), &buf[HEADER_BYTES..HEADER_BYTES + len]);
    if stored != computed {
        return Err(FrameError::ChecksumMismatch { request_id, stored, computed });
    }
    let kind = match buf[4] {
        1 => FrameKind::Request,
        2 => FrameKind::Response,
        other => {
            return Err(FrameError::Unsupported {
                request_id,
                reason: format!("unknown frame kind {other}"),
            })
        }
    };
    if buf[5] != VERSION {
        return Err(FrameError::Unsupported {
            request_id,
            reason: format!("protocol version {} (this node speaks {VERSION})", buf[5]),
        });
    }
    if buf[6] != 0 || buf[7] != 0 {
        return Err(FrameError::Unsupported { request_id, reason: "unknown flags".into() });
    }
    buf.advance(HEADER_BYTES);
    let body = buf.split_to(len).freeze();
    Ok(Some(Frame { kind, request_id, body }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_partial_input() {
        let bytes = frame_bytes(FrameKind::Request, 42, b"hello");
        let mut buf = BytesMut::new();
        for (i, byte) in bytes.iter().enumerate() {
            assert_eq!(decode_frame(&mut buf, 1024).unwrap(), None, "frame early at byte {i}");
            buf.extend_from_slice(&[*byte]);
        }
        let frame = decode_frame(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(frame.kind, FrameKind::Request);
        assert_eq!(frame.request_id, 42);
        assert_eq!(&frame.body[..], b"hello");
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_refused_from_the_header_alone() {
        let bytes = frame_bytes(FrameKind::Request, 7, &[0u8; 100]);
        let mut buf = BytesMut::from(&bytes[..HEADER_BYTES]);
        let err = decode_frame(&mut buf, 99).unwrap_err();
        assert_eq!(err, FrameError::TooLarge { len: 100, max: 99, request_id: 7 });
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let bytes = frame_bytes(FrameKind::Response, 9, b"body bytes");
        for bit in 0..bytes.len() * 8 {
            let mut corrupt = bytes.clone();
            corrupt[bit / 8] ^= 1 << (bit % 8);
            let mut buf = BytesMut::from(&corrupt[..]);
            match decode_frame(&mut buf, 1 << 20) {
                Err(_) | Ok(None) => {} // Ok(None): the length grew; the body never completes.
                Ok(Some(frame)) => panic!("bit {bit} flipped and accepted: {frame:?}"),
            }
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = decode_frame(&mut buf, 64) {}
        }
    }
}
