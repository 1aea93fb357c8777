//! The engine's one error type.
//!
//! Operating errors (a failing disk, a corrupt file, input over a limit) are returned as
//! [`Error`]; a broken invariant is a bug and panics. Disk variants carry the path and the
//! offset, so that a message read in a log names the file to look at.

use std::path::PathBuf;

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine reports to its caller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O call failed. `op` names the call ("read_at", "fdatasync", ...).
    #[error("{op} on {path}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// What the operating system (or the fault injector) said.
        #[source]
        source: std::io::Error,
    },

    /// The disk is full (ENOSPC). Nothing acknowledged is lost; writes fail until space is freed.
    #[error("disk full during {op} on {path}")]
    DiskFull {
        /// The operation that failed.
        op: &'static str,
        /// The file it was applied to.
        path: PathBuf,
    },

    /// A checksum did not match: the bytes on disk are not the bytes that were written.
    #[error("checksum mismatch in {path} at offset {offset}: stored {expected:#010x}, computed {got:#010x}")]
    ChecksumMismatch {
        /// The file holding the bad bytes.
        path: PathBuf,
        /// Byte offset of the checksummed unit (block, record, footer).
        offset: u64,
        /// The checksum computed over the bytes read.
        got: u32,
        /// The checksum stored beside them.
        expected: u32,
    },

    /// A file's structure is wrong (bad magic, impossible length, unknown version).
    #[error("corrupt file {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the problem was found.
        offset: u64,
        /// What was expected and what was found.
        reason: String,
    },

    /// Bytes that should hold an encoded key, row or value do not decode.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded ("row", "key", "number", ...).
        what: &'static str,
        /// Why it failed.
        reason: String,
    },

    /// Input is over a configured or built-in limit.
    #[error("{what} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// What was too large ("partition key", "item", ...).
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit it broke.
        limit: usize,
    },

    /// Input is not valid (a malformed number, a key of the wrong type, ...).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        reason: String,
    },

    /// The table is not known to this engine.
    #[error("unknown table id {0}")]
    UnknownTable(u32),

    /// The table id is in use already.
    #[error("table id {0} exists already")]
    TableExists(u32),

    /// A durability failure (a failed fdatasync, a failed commit-log write) stopped this shard
    /// from acknowledging writes. It is never retried as if nothing happened: the pages that
    /// failed to sync may be gone, so the only safe way on is a restart and a log replay.
    #[error("writes stopped on this shard: {reason}")]
    WritesStopped {
        /// The first failure, as text.
        reason: String,
    },

    /// Memtables are full and flushing them fails (often a full disk): the write is refused
    /// rather than held forever. Acknowledged writes are safe in the commit log; writes are
    /// taken again once a flush succeeds.
    #[error("memtables are full and flushing fails: {reason}")]
    FlushFailing {
        /// The last flush error, as text.
        reason: String,
    },

    /// The engine is shutting down.
    #[error("engine is closed")]
    Closed,
}

impl From<shoal_types::Error> for Error {
    /// The data model's errors keep their names and fields.
    fn from(error: shoal_types::Error) -> Self {
        match error {
            shoal_types::Error::Decode { what, reason } => Error::Decode { what, reason },
            shoal_types::Error::TooLarge { what, size, limit } => {
                Error::TooLarge { what, size, limit }
            }
            shoal_types::Error::Invalid { what, reason } => Error::Invalid { what, reason },
        }
    }
}

impl Error {
    /// Wraps an I/O error, turning ENOSPC into [`Error::DiskFull`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.raw_os_error() == Some(libc::ENOSPC) {
            return Error::DiskFull { op, path };
        }
        Error::Io { op, path, source }
    }

    /// Shorthand for [`Error::Decode`].
    pub fn decode(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Decode { what, reason: reason.into() }
    }

    /// Shorthand for [`Error::Corrupt`].
    pub fn corrupt(path: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corrupt { path: path.into(), offset, reason: reason.into() }
    }
}
