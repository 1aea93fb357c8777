//! The commit log: a segmented write-ahead log with group commit.
//!
//! Every mutation is appended here before it is acknowledged; after a crash, [`CommitLog::open`]
//! replays what the SSTables do not hold yet. Payloads are opaque bytes (the engine encodes
//! mutations). One [`CommitLog`] serves one core; clones are cheap handles to it.
//!
//! # On disk
//! The log directory holds segment files `commitlog-{seq:020}.log`; `seq` increases forever.
//! A segment holds records back to back (layout in `record.rs`), never one split over two
//! segments; a segment is rolled when the next record would pass
//! [`CommitLogOptions::segment_bytes`]. Writes use direct I/O and are padded with zeros to
//! 4 KiB; a record length of 0 marks the end of the data (details in `segment.rs`).
//!
//! # Group commit
//! [`CommitLog::append`] frames its payload into a pending buffer and wakes the flusher, one
//! task on the foreground queue. The flusher takes everything pending, writes it with one
//! write and one fdatasync, then wakes every writer of that batch. Writers that arrive while a
//! flush is in flight join the next batch, so 64 concurrent writers cost about one fdatasync
//! per batch (≈150 µs on this machine's disk) rather than 64. Pending bytes are bounded by
//! [`CommitLogOptions::pending_bytes_max`]: past it, writers wait for room.
//!
//! # Durability
//! - [`SyncMode::Batch`] (the default): `append` returns only after the fdatasync covering its
//!   record succeeded. No acknowledged write is ever lost.
//! - [`SyncMode::Periodic`]: `append` returns once the record is in the pending buffer, and the
//!   flusher writes and syncs every `interval_ms`. **A power cut loses up to `interval_ms` of
//!   acknowledged writes** (and a process crash loses them too, as they live in memory).
//!
//! If a write or fdatasync fails, the log stops: that batch's writers and every later append
//! get [`Error::WritesStopped`] naming the first failure. A failed fdatasync is never retried:
//! the kernel may have dropped the dirty pages and a retry could report success for data that
//! is gone (PostgreSQL's fsync lesson). The way on is a restart and a replay.
//!
//! # Replay and recycling
//! `open` replays the segments from `replay_from` in order. A bad record at the tail of the
//! last segment holding records is a torn write: replay stops there, reports it in
//! [`ReplayReport::torn_tail`] and cuts the file back, so that it never looks like corruption
//! once later segments exist. A bad record followed by valid records in later segments is
//! corruption: `open` fails naming the file and offset. Writing then starts in a new segment.
//!
//! Every segment is written only once its file has its full length (details in `segment.rs`),
//! which spares the file system a size and block-map update per fdatasync:
//! [`CommitLog::release_before`] drops segments the SSTables cover, and up to
//! [`CommitLogOptions::spare_segments_max`] of them are renamed to future segment names and
//! overwritten later; when no spare is ready, the flusher prepares a zero-filled file for the
//! next segment in the background (on the flush queue) before the head reaches it.
//!
//! # Limits
//! - [`RECORD_BYTES_MAX`]: the largest payload (and at most `segment_bytes` less a header).
//! - [`SEGMENT_BYTES_MIN`], [`SEGMENT_BYTES_DEFAULT`]: segment size.
//! - [`PENDING_BYTES_MAX_DEFAULT`]: pending bytes before writers wait.
//! - [`SPARE_SEGMENTS_MAX_DEFAULT`]: recycled segments kept.

mod flusher;
mod record;
mod release;
mod replay;
mod segment;
mod writer;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::rc::Rc;

pub use record::{RECORD_BYTES_MAX, RECORD_HEADER_BYTES};
pub use writer::StagedAppend;

use crate::error::{Error, Result};
use crate::io::{Disk, IO_ALIGN};
use writer::{CloseOnDrop, Shared};

/// Default segment size: 32 MiB.
pub const SEGMENT_BYTES_DEFAULT: u64 = 32 << 20;
/// Smallest segment size accepted: 64 KiB.
pub const SEGMENT_BYTES_MIN: u64 = 64 << 10;
/// Default bound on bytes framed but not yet taken by the flusher: 8 MiB.
pub const PENDING_BYTES_MAX_DEFAULT: usize = 8 << 20;
/// Default number of recycled segments kept for reuse.
pub const SPARE_SEGMENTS_MAX_DEFAULT: usize = 2;

// A segment must hold at least one header and some bytes; the default must hold the largest
// record, and the pending bound must let the largest record through.
const _: () = assert!(SEGMENT_BYTES_MIN > RECORD_HEADER_BYTES as u64);
const _: () = assert!(SEGMENT_BYTES_MIN.is_multiple_of(IO_ALIGN as u64));
const _: () = assert!(SEGMENT_BYTES_DEFAULT >= (RECORD_BYTES_MAX + RECORD_HEADER_BYTES) as u64);
const _: () = assert!(PENDING_BYTES_MAX_DEFAULT >= RECORD_BYTES_MAX + RECORD_HEADER_BYTES);

/// A place in the log: a segment and a byte offset in it. Positions order as the log does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition {
    /// The segment's sequence number.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}

impl LogPosition {
    /// Before every record.
    pub const ZERO: LogPosition = LogPosition { segment: 0, offset: 0 };
}

/// When an append is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// After the fdatasync covering the record. Nothing acknowledged is lost.
    Batch,
    /// Once the record is buffered; the flusher syncs every `interval_ms`. A power cut loses
    /// up to `interval_ms` of acknowledged writes.
    Periodic {
        /// Time between flushes, in milliseconds.
        interval_ms: u64,
    },
}

/// How the log behaves.
#[derive(Clone, Debug)]
pub struct CommitLogOptions {
    /// Segment size in bytes, a multiple of 4 KiB. Larger segments mean fewer files and
    /// renames, but release frees space in larger steps. Default [`SEGMENT_BYTES_DEFAULT`].
    pub segment_bytes: u64,
    /// When appends are acknowledged. Default [`SyncMode::Batch`].
    pub sync: SyncMode,
    /// Bytes waiting for the flusher before writers wait for room. Larger lets bigger batches
    /// form under load at the cost of memory. Default [`PENDING_BYTES_MAX_DEFAULT`].
    pub pending_bytes_max: usize,
    /// Released segments kept for reuse; the rest are deleted. Default
    /// [`SPARE_SEGMENTS_MAX_DEFAULT`].
    pub spare_segments_max: usize,
}

impl Default for CommitLogOptions {
    fn default() -> Self {
        CommitLogOptions {
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            sync: SyncMode::Batch,
            pending_bytes_max: PENDING_BYTES_MAX_DEFAULT,
            spare_segments_max: SPARE_SEGMENTS_MAX_DEFAULT,
        }
    }
}

impl CommitLogOptions {
    fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::Invalid { what: "commit log options", reason });
        let aligned = self.segment_bytes.is_multiple_of(IO_ALIGN as u64);
        if self.segment_bytes < SEGMENT_BYTES_MIN || !aligned {
            let bytes = self.segment_bytes;
            return invalid(format!("segment_bytes {bytes} is not a multiple of 4 KiB >= 64 KiB"));
        }
        if self.pending_bytes_max == 0 {
            return invalid("pending_bytes_max is 0".into());
        }
        if self.sync == (SyncMode::Periodic { interval_ms: 0 }) {
            return invalid("periodic sync interval_ms is 0".into());
        }
        Ok(())
    }

    /// The largest payload one record may carry with these options.
    pub fn payload_bytes_max(&self) -> usize {
        let segment = usize::try_from(self.segment_bytes).unwrap_or(usize::MAX);
        RECORD_BYTES_MAX.min(segment - RECORD_HEADER_BYTES)
    }
}

/// Counters of a log since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitLogStats {
    /// Records appended.
    pub appends: u64,
    /// Flushes: each is one write and one fdatasync per segment it touches.
    pub flushes: u64,
    /// Bytes written to segment files, headers and padding included.
    pub bytes: u64,
    /// Segment files the flusher failed to prepare ahead (a full disk, usually); each is
    /// retried once the head has moved to another segment.
    pub prepare_failures: u64,
}

/// What [`CommitLog::open`] replayed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records passed to `apply`.
    pub records: u64,
    /// Payload bytes passed to `apply`.
    pub bytes: u64,
    /// The file and offset where a torn write ended the log, if one did.
    pub torn_tail: Option<(PathBuf, u64)>,
    /// Segment files read.
    pub segments: u64,
}

/// A handle to one core's commit log. Cheap to clone; not shared between cores. When the last
/// handle is dropped the flusher writes what is pending and stops.
#[derive(Clone)]
pub struct CommitLog {
    shared: Rc<Shared>,
    _guard: Rc<CloseOnDrop>,
}

impl CommitLog {
    /// Opens the log in `dir`, replays every record after `replay_from` through `apply`
    /// (with the position just after it), and starts a new segment for writing.
    ///
    /// Segments wholly before `replay_from` are recycled or deleted. `apply` may be called
    /// before an error is returned; the caller discards what it built then.
    ///
    /// # Errors
    /// The disk's error; [`Error::ChecksumMismatch`] or [`Error::Corrupt`] for a bad record
    /// followed by valid ones; `apply`'s error; [`Error::Invalid`] for bad options.
    pub async fn open(
        disk: Disk,
        dir: PathBuf,
        options: CommitLogOptions,
        replay_from: LogPosition,
        mut apply: impl FnMut(LogPosition, &[u8]) -> Result<()>,
    ) -> Result<(CommitLog, ReplayReport)> {
        options.validate()?;
        disk.create_dir_all(&dir).await?;
        let segments = segment::list_segments(&disk, &dir).await?;
        let seq_max = segments.last().map_or(0, |(seq, _)| *seq).max(replay_from.segment);
        let (before, after): (Vec<_>, Vec<_>) =
            segments.into_iter().partition(|(seq, _)| *seq < replay_from.segment);
        let replayed = replay::replay(&disk, &after, replay_from, &mut apply).await?;
        let shared = Shared::new(disk, dir, options, replayed.kept, seq_max + 1);
        let leftovers = before.into_iter().chain(replayed.unused);
        shared.recycle_or_remove(leftovers.collect()).await?;
        let shared = Rc::new(shared);
        flusher::start(&shared).await?;
        let guard = Rc::new(CloseOnDrop(shared.clone()));
        Ok((CommitLog { shared, _guard: guard }, replayed.report))
    }

    /// Appends one record and returns the position just after it, once the mode's durability
    /// is reached (see [`SyncMode`]).
    ///
    /// # Errors
    /// [`Error::TooLarge`] over [`CommitLogOptions::payload_bytes_max`]; [`Error::Invalid`] for
    /// an empty payload; [`Error::WritesStopped`] once a write or sync failed;
    /// [`Error::Closed`] after `close`.
    pub async fn append(&self, payload: &[u8]) -> Result<LogPosition> {
        self.shared.append(&[payload]).await
    }

    /// Places a record in the log without waiting for it to be durable: once this returns,
    /// its order among all appends is fixed (the log writes in order, each sync covers
    /// everything written before it, and the log stops at its first failed write or sync),
    /// and [`StagedAppend::durable`] waits for the flush that covers it. Lets a caller that
    /// serialises its writes (a lock held while deciding) release its lock before the
    /// flush, so that writes decided one after another share one fdatasync.
    ///
    /// # Errors
    /// As [`CommitLog::append`], except for the flush's own outcome, which `durable` reports.
    pub async fn stage(&self, payload: &[u8]) -> Result<StagedAppend> {
        self.shared.stage(&[payload]).await
    }

    /// Appends several records with one wait and returns the position after the last. The
    /// records are consecutive in the log. Errors as [`CommitLog::append`]; on an error
    /// before any is framed, none is.
    ///
    /// # Errors
    /// As [`CommitLog::append`].
    pub async fn append_batch(&self, payloads: &[&[u8]]) -> Result<LogPosition> {
        self.shared.append(payloads).await
    }

    /// The end of everything appended so far, durable or not.
    pub fn current_position(&self) -> LogPosition {
        self.shared.current_position()
    }

    /// The end of what is known durable.
    pub fn durable_position(&self) -> LogPosition {
        self.shared.durable_position()
    }

    /// Counters since open.
    pub fn stats(&self) -> CommitLogStats {
        self.shared.stats()
    }

    /// Waits until everything appended before the call is durable (in either mode).
    ///
    /// # Errors
    /// [`Error::WritesStopped`] if a write or sync failed; [`Error::Closed`] after `close`.
    pub async fn sync(&self) -> Result<()> {
        self.shared.sync().await
    }

    /// Flushes what is pending and stops the flusher. Other handles then get
    /// [`Error::Closed`].
    ///
    /// # Errors
    /// As [`CommitLog::sync`].
    pub async fn close(self) -> Result<()> {
        self.shared.close().await
    }

    /// Stops the log at once, as a crash would: nothing more is written, writers still waiting
    /// get [`Error::WritesStopped`], and so does every later append. Used by crash tests and
    /// by a shard that must stop writing.
    pub fn halt(&self) {
        self.shared.fail("commit log halted".to_string());
    }

    /// Releases the log before `position`: the caller has everything before it in SSTables.
    /// Segments wholly before it (never the one being written) are recycled, up to
    /// [`CommitLogOptions::spare_segments_max`] spares, or deleted.
    ///
    /// # Errors
    /// The disk's error. The log keeps working; the files left behind are released by a
    /// later call or at the next open.
    pub async fn release_before(&self, position: LogPosition) -> Result<()> {
        self.shared.release_before(position).await
    }
}
