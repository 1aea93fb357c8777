//! Replay: reading segments back at open, and telling a torn tail from corruption.
//!
//! Each segment is read from its start in chunks of [`SCAN_CHUNK_BYTES`], record after record,
//! until a length of 0 or the end of the file (the end of its data) or a bad record. Records
//! ending at or before `replay_from` are checked but not applied.
//!
//! A bad record (checksum mismatch, impossible length, or cut short by the end of the file)
//! means one of two things:
//! - a torn write, if no later segment holds a valid record: the process died mid-write, and
//!   nothing after it was acknowledged. Replay stops there, warns, and cuts the file back to
//!   the last good record, so that once new segments follow it, it does not read as corruption.
//! - corruption, if a later segment starts with a valid record: bytes the log had synced have
//!   changed. `open` fails naming the file and offset; skipping would silently lose writes.
//!
//! Segments after the torn one, and trailing segments with no records at all, are unused: they
//! are recycled or deleted.

use std::path::{Path, PathBuf};

use super::record::{self, BadFrame, Frame, RECORD_HEADER_BYTES};
use super::{LogPosition, ReplayReport};
use crate::error::{Error, Result};
use crate::io::{Disk, DiskFile, OpenMode};
use crate::runtime::yield_if_needed;

/// Bytes read at once while scanning a segment (more when a record is larger).
const SCAN_CHUNK_BYTES: usize = 1 << 20;

/// The outcome of [`replay`].
pub(super) struct Replayed {
    pub(super) report: ReplayReport,
    /// Segments holding records, in order: released later by `release_before`.
    pub(super) kept: Vec<(u64, PathBuf)>,
    /// Segments holding nothing: recycled or deleted at once.
    pub(super) unused: Vec<(u64, PathBuf)>,
}

/// How a segment's scan ended.
enum Stop {
    /// The data ends here.
    End(u64),
    /// A bad record starts here.
    Bad { offset: u64, why: Why },
}

enum Why {
    Frame(BadFrame),
    /// The length promised more bytes than the file holds.
    Cut,
}

/// Replays `segments` (in order) from `from` through `apply`.
///
/// # Errors
/// The disk's error, corruption, or `apply`'s error.
pub(super) async fn replay(
    disk: &Disk,
    segments: &[(u64, PathBuf)],
    from: LogPosition,
    apply: &mut dyn FnMut(LogPosition, &[u8]) -> Result<()>,
) -> Result<Replayed> {
    let mut report = ReplayReport::default();
    let mut kept: Vec<(u64, PathBuf, u64)> = Vec::new();
    let mut unused = Vec::new();
    for (index, (seq, path)) in segments.iter().enumerate() {
        let stop = replay_segment(disk, *seq, path, from, apply, &mut report).await?;
        report.segments += 1;
        let (offset, why) = match stop {
            Stop::End(end) => {
                kept.push((*seq, path.clone(), end));
                continue;
            }
            Stop::Bad { offset, why } => (offset, why),
        };
        let later = segments.get(index + 1..).unwrap_or_default();
        if let Some(valid) = first_valid_segment(disk, later).await? {
            let (bad, valid) = (path.display(), valid.display());
            tracing::error!("commit log {bad} is bad at offset {offset}, yet {valid} follows");
            return Err(corruption(path, offset, why, valid));
        }
        tracing::warn!("commit log torn tail in {} at offset {offset}", path.display());
        cut_back(disk, path, offset).await?;
        report.torn_tail = Some((path.clone(), offset));
        kept.push((*seq, path.clone(), offset));
        unused.extend(later.iter().cloned());
        break;
    }
    // Trailing segments without records (never written, or spares left by a crash) hold
    // nothing to release later.
    while kept.last().is_some_and(|(_, _, end)| *end == 0) {
        if let Some((seq, path, _)) = kept.pop() {
            unused.insert(0, (seq, path));
        }
    }
    let kept = kept.into_iter().map(|(seq, path, _)| (seq, path)).collect();
    Ok(Replayed { report, kept, unused })
}

async fn replay_segment(
    disk: &Disk,
    seq: u64,
    path: &Path,
    from: LogPosition,
    apply: &mut dyn FnMut(LogPosition, &[u8]) -> Result<()>,
    report: &mut ReplayReport,
) -> Result<Stop> {
    let file = disk.open(path, OpenMode::ReadOnly).await?;
    let stop = scan(&file, seq, &mut |offset, payload| {
        let position = LogPosition { segment: seq, offset };
        if position > from {
            apply(position, payload)?;
            report.records += 1;
            report.bytes += payload.len() as u64;
        }
        Ok(())
    })
    .await;
    file.close().await?;
    stop
}

/// Reads the records of segment `seq` from its start, passing each with the offset after it.
async fn scan(
    file: &DiskFile,
    seq: u64,
    on_record: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
) -> Result<Stop> {
    let mut buffer: Vec<u8> = Vec::new();
    // File offset of `buffer[0]`, and the index of the next record in `buffer`.
    let mut buffer_start = 0_u64;
    let mut at = 0_usize;
    let mut eof = false;
    loop {
        let offset = buffer_start + at as u64;
        let rest = buffer.get(at..).unwrap_or_default();
        let needed = match record::decode(seq, rest) {
            Frame::Record(payload) => {
                at += record::framed_len(payload.len());
                on_record(buffer_start + at as u64, payload)?;
                yield_if_needed().await;
                continue;
            }
            Frame::End => return Ok(Stop::End(offset)),
            Frame::Bad(bad) => return Ok(Stop::Bad { offset, why: Why::Frame(bad) }),
            Frame::Short(needed) => needed,
        };
        if eof {
            // Bytes short of a header that are all zeros are padding: the data ended.
            if rest.len() < RECORD_HEADER_BYTES && rest.iter().all(|b| *b == 0) {
                return Ok(Stop::End(offset));
            }
            return Ok(Stop::Bad { offset, why: Why::Cut });
        }
        buffer.drain(..at);
        buffer_start = offset;
        at = 0;
        let want = SCAN_CHUNK_BYTES.max(needed - buffer.len());
        let read_at = buffer_start + buffer.len() as u64;
        let bytes = file.read_at(read_at, want).await?;
        eof = bytes.len() < want;
        buffer.extend_from_slice(&bytes);
    }
}

/// The first of `segments` whose first record is valid, if any.
async fn first_valid_segment(disk: &Disk, segments: &[(u64, PathBuf)]) -> Result<Option<PathBuf>> {
    for (seq, path) in segments {
        let file = disk.open(path, OpenMode::ReadOnly).await?;
        let header = file.read_at(0, RECORD_HEADER_BYTES).await?;
        let valid = match record::decode(*seq, &header) {
            Frame::Short(needed) if header.len() == RECORD_HEADER_BYTES => {
                let whole = file.read_at(0, needed).await?;
                matches!(record::decode(*seq, &whole), Frame::Record(_))
            }
            _ => false,
        };
        file.close().await?;
        if valid {
            return Ok(Some(path.clone()));
        }
    }
    Ok(None)
}

/// Cuts a torn segment back to its last good record, durably.
async fn cut_back(disk: &Disk, path: &Path, offset: u64) -> Result<()> {
    let file = disk.open(path, OpenMode::ReadWrite).await?;
    file.truncate(offset).await?;
    file.fdatasync().await?;
    file.close().await
}

fn corruption(path: &Path, offset: u64, why: Why, later: std::path::Display<'_>) -> Error {
    match why {
        Why::Frame(BadFrame::Checksum { got, expected }) => {
            Error::ChecksumMismatch { path: path.to_path_buf(), offset, got, expected }
        }
        Why::Frame(BadFrame::Length(length)) => Error::corrupt(
            path,
            offset,
            format!("record length {length} is impossible, yet {later} holds records after it"),
        ),
        Why::Cut => Error::corrupt(
            path,
            offset,
            format!("record cut short by the end of the file, yet {later} holds records after it"),
        ),
    }
}
