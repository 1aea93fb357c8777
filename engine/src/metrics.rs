//! The engine's counters, read by the node's metrics endpoint and the benchmark.

use std::cell::{Cell, RefCell};

/// Counters of one engine (one core). Plain cells: only this core touches them.
#[derive(Debug, Default)]
pub struct EngineMetrics {
    /// Acknowledged writes.
    pub writes: Cell<u64>,
    /// Bytes of commit-log records of acknowledged writes (the user's bytes).
    pub user_bytes: Cell<u64>,
    /// Point reads.
    pub reads: Cell<u64>,
    /// Rows returned by scans.
    pub scanned_rows: Cell<u64>,
    /// Memtables flushed.
    pub flushes: Cell<u64>,
    /// Bytes of SSTables written by flushes.
    pub flush_bytes: Cell<u64>,
    /// Compactions finished.
    pub compactions: Cell<u64>,
    /// Bytes of SSTables read by compactions.
    pub compaction_read_bytes: Cell<u64>,
    /// Bytes of SSTables written by compactions.
    pub compaction_write_bytes: Cell<u64>,
    /// Items compaction found expired by their table's expiry attribute.
    pub expired_items: Cell<u64>,
    /// The last flush failure, cleared by the next success.
    pub last_flush_error: RefCell<Option<String>>,
    /// The last compaction failure.
    pub last_compaction_error: RefCell<Option<String>>,
}

impl EngineMetrics {
    /// Bytes written to SSTables (flush and compaction) per byte flushed: the LSM's write
    /// amplification (the commit log adds one more write of the user's bytes).
    pub fn write_amplification(&self) -> f64 {
        let flushed = self.flush_bytes.get();
        if flushed == 0 {
            return 0.0;
        }
        (flushed + self.compaction_write_bytes.get()) as f64 / flushed as f64
    }

    pub(crate) fn add(cell: &Cell<u64>, n: u64) {
        cell.set(cell.get() + n);
    }
}
