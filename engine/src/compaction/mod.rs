//! Compaction: deciding what to merge (pure functions per strategy, replayable in tests
//! without a disk) and doing it ([`worker`]).
//!
//! The compactor is one task per core in the `compaction` task queue (lowest shares), so
//! foreground reads and writes keep their latency while it runs. It loops: for each table, ask
//! the table's strategy for a [`Choice`]; run it; stop when no table has work.

pub mod leveled;
pub mod size_tiered;
pub mod worker;

use std::collections::HashSet;

use shoal_tuning::EngineConfig;

use crate::engine::Engine;
use crate::manifest::{CompactionStrategy, FileMeta};
use crate::runtime::{self, Queue};
use crate::table::TableState;

/// What to merge and where the output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// Ids of the input files.
    pub inputs: Vec<u64>,
    /// Level of the output files.
    pub output_level: u32,
    /// Split the output into files of about this size (leveled); `None` writes one file.
    pub split_bytes: Option<u64>,
}

/// Asks `table`'s strategy for work, skipping files already being compacted.
pub fn choose(table: &TableState, config: &EngineConfig) -> Option<Choice> {
    let compacting = table.compacting.borrow();
    let files: Vec<FileMeta> = table.file_metas();
    if files.iter().any(|f| compacting.contains(&f.id)) {
        // One compaction per table at a time keeps the choices simple and correct.
        return None;
    }
    match table.options.strategy {
        CompactionStrategy::SizeTiered => {
            size_tiered::choose(&files, config).or_else(|| read_triggered(table))
        }
        CompactionStrategy::Leveled => {
            let cursors = table.level_cursor.borrow();
            leveled::choose(&files, config, &cursors)
        }
    }
}

/// An SSTable probe beyond the first in a point read costs about as much CPU as compacting
/// this many bytes: a probe that finds a cached block is an index search, a cache lookup and
/// a block search (1.5-2 µs in profiles of a node serving GETs, mostly memory misses), and
/// merging, compressing and writing is estimated at 5-10 ns a byte.
pub const READ_TRIGGER_BYTES_PER_PROBE: u64 = 256;

/// Merges all of a size-tiered table's files once point reads have paid more for finding rows
/// in several of them than the merge costs (LevelDB's seek-triggered compaction, priced in
/// CPU): items updated since their last compaction (hot items, under updates) have rows in
/// two files or more, every read of them probes each, and size-tiered compaction alone never
/// merges a small new file into a much larger one. Write amplification stays bounded: each
/// merge is paid for by at least as much read work as it costs, then the count starts again.
pub fn read_triggered(table: &TableState) -> Option<Choice> {
    if table.options.strategy != CompactionStrategy::SizeTiered {
        return None;
    }
    let files = table.files.borrow();
    if files.len() < 2 {
        return None;
    }
    let total_bytes: u64 = files.iter().map(|f| f.meta.file_bytes).sum();
    let budget = (total_bytes / READ_TRIGGER_BYTES_PER_PROBE).max(1);
    if table.extra_probes.get() < budget {
        return None;
    }
    let inputs: Vec<u64> =
        files.iter().map(|f| f.meta.id).take(size_tiered::MAX_THRESHOLD).collect();
    Some(Choice { inputs, output_level: 0, split_bytes: None })
}

/// Ids of `files`.
pub(crate) fn ids(files: &[&FileMeta]) -> Vec<u64> {
    files.iter().map(|f| f.id).collect()
}

/// Ids as a set.
pub(crate) fn id_set(ids: &[u64]) -> HashSet<u64> {
    ids.iter().copied().collect()
}

impl Engine {
    /// Starts the compactor if it is not running.
    pub(crate) fn schedule_compaction(&self) {
        if self.shared.compactor_running.replace(true) {
            return;
        }
        let engine = self.clone();
        runtime::spawn(Queue::Compaction, async move {
            engine.run_compactor().await;
            engine.shared.compactor_running.set(false);
            engine.shared.flush_done.notify_all();
        });
    }

    /// The first table with compaction work, and the work.
    fn next_compaction(&self) -> Option<(std::rc::Rc<TableState>, Choice)> {
        let tables: Vec<_> = self.shared.tables.borrow().values().cloned().collect();
        tables.into_iter().find_map(|t| choose(&t, &self.shared.config).map(|c| (t, c)))
    }

    async fn run_compactor(&self) {
        loop {
            if self.shared.closed.get() {
                return;
            }
            let work = self.next_compaction();
            let Some((table, choice)) = work else { return };
            if let Err(error) = worker::compact(self, &table, &choice).await {
                tracing::warn!("compaction of table {} failed: {error}", table.id);
                *self.shared.metrics.last_compaction_error.borrow_mut() = Some(error.to_string());
                // Try again after the next flush rather than spinning on a failing disk.
                return;
            }
        }
    }

    /// Runs compactions until no table has work (tests and the admin tool's "compact").
    ///
    /// # Errors
    /// The first compaction error.
    pub async fn compact_now(&self) -> crate::error::Result<()> {
        while self.shared.compactor_running.get() {
            self.shared.flush_done.wait().await;
        }
        loop {
            let work = self.next_compaction();
            let Some((table, choice)) = work else {
                return Ok(());
            };
            worker::compact(self, &table, &choice).await?;
        }
    }

    /// Merges all of a table's files into one (a major compaction).
    ///
    /// # Errors
    /// The compaction's error.
    pub async fn compact_table_fully(&self, table: u32) -> crate::error::Result<()> {
        while self.shared.compactor_running.get() {
            self.shared.flush_done.wait().await;
        }
        let table = self.table(table)?;
        let inputs: Vec<u64> = table.file_metas().iter().map(|f| f.id).collect();
        if inputs.len() < 2 {
            return Ok(());
        }
        let level = table.file_metas().iter().map(|f| f.level).max().unwrap_or(0);
        let split_bytes = match table.options.strategy {
            CompactionStrategy::Leveled => Some(self.shared.config.sstable_target_bytes),
            CompactionStrategy::SizeTiered => None,
        };
        let choice = Choice { inputs, output_level: level.max(1), split_bytes };
        worker::compact(self, &table, &choice).await
    }
}
