//! Flushing a sealed memtable to an SSTable, and [`OutputTable`], the SSTable writer that
//! flush and compaction share (it keeps row statistics for the table's properties block).
//!
//! A flush is: write the SSTable and fdatasync it; then, under the manifest lock, store a
//! manifest snapshot that adds the table and moves the replay checkpoint past the memtable;
//! then, with no await in between, make the table visible and drop the memtable. A crash
//! before the snapshot leaves an orphan file (removed at open) and the memtable's records in
//! the log (replayed at open): nothing lost, nothing doubled.

use std::rc::Rc;

use crate::engine::Engine;
use crate::error::Result;
use crate::manifest::{self, sstable_path, FileMeta};
use crate::memtable::Memtable;
use crate::metrics::EngineMetrics;
use crate::runtime;
use crate::sstable::SstableWriter;
use crate::table::{LiveFile, TableState};
use crate::types::key::MARKER_PARTITION_HEADER;
use crate::types::Row;

/// Rows copied from a memtable per step of a flush, between yields.
const FLUSH_CHUNK_ENTRIES: usize = 256;

/// An SSTable being written, with the statistics its properties block will hold.
pub(crate) struct OutputTable {
    pub(crate) id: u64,
    writer: SstableWriter,
    first_key: Option<Vec<u8>>,
    last_key: Vec<u8>,
    /// The encoded row being added, reused so a flush does not allocate per row.
    scratch: Vec<u8>,
    pub(crate) bytes_added: u64,
    min_ts: u64,
    max_ts: u64,
    /// Partition header rows (partition deletions) added.
    partition_headers: u64,
}

impl OutputTable {
    /// Creates file `id` of the engine's directory.
    pub(crate) async fn create(engine: &Engine, id: u64, expected_keys: usize) -> Result<Self> {
        let shared = &engine.shared;
        let path = sstable_path(&shared.dir, id);
        let writer =
            SstableWriter::create(&shared.disk, &path, engine.sstable_options(), expected_keys)
                .await?;
        Ok(OutputTable {
            id,
            writer,
            first_key: None,
            last_key: Vec::new(),
            scratch: Vec::new(),
            bytes_added: 0,
            min_ts: u64::MAX,
            max_ts: 0,
            partition_headers: 0,
        })
    }

    /// Appends a row; keys must ascend.
    pub(crate) async fn add(&mut self, key: &[u8], row: &Row) -> Result<()> {
        self.scratch.clear();
        row.encode(&mut self.scratch);
        self.writer.add(key, &self.scratch).await?;
        if self.first_key.is_none() {
            self.first_key = Some(key.to_vec());
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.bytes_added += (key.len() + self.scratch.len()) as u64;
        // `max_ts` counts the row tombstone too.
        let newest = row.max_ts().unwrap_or(0);
        let oldest = row.cells.values().map(|c| c.ts).chain(row.tombstone).min().unwrap_or(0);
        self.min_ts = self.min_ts.min(oldest);
        self.max_ts = self.max_ts.max(newest);
        if header_prefix(key).is_some() {
            self.partition_headers += 1;
        }
        Ok(())
    }

    /// Whether any row was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.first_key.is_none()
    }

    /// Finishes the file (fdatasync included) and returns its manifest record.
    pub(crate) async fn finish(self, level: u32) -> Result<FileMeta> {
        let mut properties = Vec::with_capacity(PROPERTIES_BYTES);
        properties.extend_from_slice(&self.min_ts.to_le_bytes());
        properties.extend_from_slice(&self.max_ts.to_le_bytes());
        properties.extend_from_slice(&self.partition_headers.to_le_bytes());
        assert_eq!(properties.len(), PROPERTIES_BYTES);
        let info = self.writer.finish(&properties).await?;
        let first_key = self.first_key.expect("finish is called on non-empty tables only");
        Ok(FileMeta {
            id: self.id,
            level,
            file_bytes: info.file_bytes,
            first_key,
            last_key: self.last_key,
        })
    }
}

/// The engine's properties of an SSTable (written by [`OutputTable::finish`]): min_ts,
/// max_ts and the number of partition header rows, each u64 LE. Files written before the
/// count have the first two only.
const PROPERTIES_BYTES: usize = 24;

fn property(table: &crate::sstable::Sstable, index: usize) -> Option<u64> {
    let raw = table.properties().get(index * 8..index * 8 + 8)?;
    <[u8; 8]>::try_from(raw).ok().map(u64::from_le_bytes)
}

/// The newest cell or tombstone timestamp in `table`. `u64::MAX` if absent, which only
/// disables the read path's early stop.
pub(crate) fn table_max_ts(table: &crate::sstable::Sstable) -> u64 {
    property(table, 1).unwrap_or(u64::MAX)
}

/// Whether `table` may hold a partition header row (a partition deletion): a GET looks for
/// its partition's header only in the tables that may. Files without the count may.
pub(crate) fn table_may_hold_partition_headers(table: &crate::sstable::Sstable) -> bool {
    property(table, 2).is_none_or(|headers| headers > 0)
}

/// For a partition header key, the prefix shared by every key of its partition.
pub(crate) fn header_prefix(key: &[u8]) -> Option<&[u8]> {
    match key.split_last() {
        Some((&MARKER_PARTITION_HEADER, prefix))
            if crate::types::ItemKey::decode(key)
                .is_ok_and(|k| matches!(k, crate::types::DecodedKey::PartitionHeader { .. })) =>
        {
            Some(prefix)
        }
        _ => None,
    }
}

/// Hands out the next SSTable id (kept in the manifest; an id used by a file that never made
/// it into the manifest is not reused before that orphan is removed at the next open).
pub(crate) fn next_file_id(engine: &Engine) -> u64 {
    let mut manifest = engine.shared.manifest.borrow_mut();
    let id = manifest.next_file_id;
    manifest.next_file_id += 1;
    id
}

/// Flushes `memtable` (the oldest sealed one of `table`).
pub(crate) async fn flush_memtable(
    engine: &Engine,
    table: &Rc<TableState>,
    memtable: &Rc<Memtable>,
) -> Result<()> {
    assert!(memtable.is_sealed(), "only sealed memtables are flushed");
    let shared = &engine.shared;
    let meta = if memtable.is_empty() || table.dropped.get() {
        None
    } else {
        let id = next_file_id(engine);
        match write_memtable(engine, id, memtable).await {
            Ok(meta) => Some(meta),
            Err(error) => {
                let _ = shared.disk.remove(&sstable_path(&shared.dir, id)).await;
                return Err(error);
            }
        }
    };
    let reader = match &meta {
        Some(meta) => Some(engine.open_sstable(meta.id).await?),
        None => None,
    };

    let guard = shared.manifest_lock.lock().await;
    let checkpoint = engine.log_checkpoint(Some(memtable));
    let mut next = shared.manifest.borrow().clone();
    next.log_replay_segment = checkpoint;
    let dropped = table.dropped.get() || !next.tables.contains_key(&table.id);
    if let (Some(meta), false) = (&meta, dropped) {
        next.tables.get_mut(&table.id).expect("table checked above").files.push(meta.clone());
    }
    manifest::store(&shared.disk, &shared.dir, &next).await?;
    // From here to the end of the block: no await, so readers see the table and lose the
    // memtable at the same instant.
    install_manifest(engine, next);
    let flushed_id = meta.as_ref().map(|m| m.id);
    if let (Some(meta), Some(reader), false) = (meta, reader, dropped) {
        EngineMetrics::add(&shared.metrics.flush_bytes, meta.file_bytes);
        table.add_files([LiveFile { meta, reader }]);
    }
    table.sealed.borrow_mut().retain(|m| !Rc::ptr_eq(m, memtable));
    EngineMetrics::add(&shared.metrics.flushes, 1);
    drop(guard);
    if let (Some(id), true) = (flushed_id, dropped) {
        // The table went away during the flush: its file has no owner.
        shared.disk.remove(&sstable_path(&shared.dir, id)).await?;
    }
    engine.release_log(checkpoint).await
}

/// Makes `next` (just stored) the in-memory manifest, keeping the larger `next_file_id`: ids
/// handed out while the snapshot was being stored must not be handed out again.
pub(crate) fn install_manifest(engine: &Engine, mut next: manifest::ManifestState) {
    let mut live = engine.shared.manifest.borrow_mut();
    next.next_file_id = next.next_file_id.max(live.next_file_id);
    *live = next;
}

async fn write_memtable(engine: &Engine, id: u64, memtable: &Memtable) -> Result<FileMeta> {
    let mut output = OutputTable::create(engine, id, memtable.len()).await?;
    let mut lower: std::ops::Bound<Vec<u8>> = std::ops::Bound::Unbounded;
    loop {
        let bound = match &lower {
            std::ops::Bound::Excluded(key) => std::ops::Bound::Excluded(key.as_slice()),
            _ => std::ops::Bound::Unbounded,
        };
        let chunk =
            memtable.range_chunk(bound, std::ops::Bound::Unbounded, false, FLUSH_CHUNK_ENTRIES);
        let done = chunk.len() < FLUSH_CHUNK_ENTRIES;
        for (key, row) in &chunk {
            output.add(key, row).await?;
        }
        if let Some((key, _)) = chunk.last() {
            lower = std::ops::Bound::Excluded(key.clone());
        }
        runtime::yield_if_needed().await;
        if done {
            break;
        }
    }
    output.finish(0).await
}
