//! Executes a compaction [`Choice`]: merges the input files into new ones, dropping what no
//! read can see any more, then swaps them in one manifest snapshot.
//!
//! What is dropped:
//! - shadowed versions (the row merge keeps one cell per attribute);
//! - items shadowed by a partition deletion merged in the same pass;
//! - expired cells, which become tombstones first (they must keep shadowing older versions
//!   in files outside this compaction), and items expired by the table's expiry attribute
//!   (DynamoDB's TTL), which become row tombstones at their newest timestamp;
//! - tombstones older than `tombstone_grace_secs`, but only where no file outside the
//!   compaction and no memtable may hold the key (or, for a partition deletion, any key of
//!   the partition): dropping a tombstone whose victim lives elsewhere would resurrect it.

use std::rc::Rc;

use super::{id_set, Choice};
use crate::engine::Engine;
use crate::error::Result;
use crate::flush::{header_prefix, install_manifest, next_file_id, OutputTable};
use crate::manifest::{self, sstable_path, FileMeta};
use crate::metrics::EngineMetrics;
use crate::read::ReadSnapshot;
use crate::runtime;
use crate::table::{LiveFile, TableState};
use crate::types::key::prefix_successor;

/// Runs `choice` on `table`.
///
/// # Errors
/// I/O and checksum errors; the inputs stay live and partial outputs are removed.
pub async fn compact(engine: &Engine, table: &Rc<TableState>, choice: &Choice) -> Result<()> {
    let inputs = id_set(&choice.inputs);
    table.compacting.borrow_mut().extend(inputs.iter().copied());
    let result = run(engine, table, choice).await;
    table.compacting.borrow_mut().retain(|id| !inputs.contains(id));
    // Reads count their extra probes afresh either way: after a merge, against the new files;
    // after a failure (a full or failing disk), so that a read-triggered merge is tried again
    // only once reads have paid for it again, not on every read that follows.
    table.extra_probes.set(0);
    result
}

async fn run(engine: &Engine, table: &Rc<TableState>, choice: &Choice) -> Result<()> {
    let inputs = id_set(&choice.inputs);
    let files: Vec<LiveFile> =
        table.files.borrow().iter().filter(|f| inputs.contains(&f.meta.id)).cloned().collect();
    assert_eq!(files.len(), inputs.len(), "every input of a choice is live");
    let merged = ReadSnapshot {
        memtables: Default::default(),
        sstables: files.iter().map(|f| f.reader.clone()).collect(),
    };
    let mut outputs: Vec<FileMeta> = Vec::new();
    let written = merge_into_outputs(engine, table, choice, &merged, &mut outputs).await;
    if let Err(error) = written {
        for meta in &outputs {
            let _ = engine.shared.disk.remove(&sstable_path(&engine.shared.dir, meta.id)).await;
        }
        return Err(error);
    }
    let read_bytes: u64 = files.iter().map(|f| f.meta.file_bytes).sum();
    install(engine, table, choice, &files, outputs).await?;
    let metrics = &engine.shared.metrics;
    EngineMetrics::add(&metrics.compactions, 1);
    EngineMetrics::add(&metrics.compaction_read_bytes, read_bytes);
    Ok(())
}

async fn merge_into_outputs(
    engine: &Engine,
    table: &TableState,
    choice: &Choice,
    merged: &ReadSnapshot,
    outputs: &mut Vec<FileMeta>,
) -> Result<()> {
    let shared = &engine.shared;
    let now_ms = shared.clock.now_ms();
    let grace_micros = shared.config.tombstone_grace_secs.saturating_mul(1_000_000);
    let gc_before = shared.clock.now_micros().saturating_sub(grace_micros);
    let inputs = id_set(&choice.inputs);
    let others = {
        let snapshot = table.snapshot();
        let sstables =
            snapshot.sstables.into_iter().filter(|t| !inputs.contains(&t.table_id())).collect();
        ReadSnapshot { memtables: snapshot.memtables, sstables }
    };
    let expected_keys: usize = merged.sstables.iter().map(|t| t.entries() as usize).sum();
    let mut iter = merged.merge_iter(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded, false);
    let mut output: Option<OutputTable> = None;
    let mut partition: Option<(Vec<u8>, u64)> = None;
    let mut throttle = Throttle::new(shared.config.compaction_bytes_per_sec);
    let expiry_attribute = table.expiry_attribute.borrow().clone();
    while let Some((key, mut row)) = iter.next().await? {
        if let Some(header) = header_prefix(&key) {
            partition = row.tombstone.map(|ts| (header.to_vec(), ts));
        } else if let Some((prefix, ts)) = &partition {
            if key.starts_with(prefix) {
                row.apply_partition_tombstone(*ts);
            }
        }
        if let Some(attribute) = &expiry_attribute {
            if row.expire_by_attribute(attribute, now_ms) {
                EngineMetrics::add(&shared.metrics.expired_items, 1);
            }
        }
        let purgeable = may_purge(&others, &key);
        let empty = row.purge(now_ms, purgeable.then_some(gc_before));
        if !empty {
            let out = match &mut output {
                Some(out) => out,
                None => output.insert(
                    OutputTable::create(engine, next_file_id(engine), expected_keys).await?,
                ),
            };
            let before = out.bytes_added;
            out.add(&key, &row).await?;
            throttle.wrote(out.bytes_added.saturating_sub(before)).await;
            if choice.split_bytes.is_some_and(|limit| out.bytes_added >= limit) {
                finish_output(engine, output.take(), choice.output_level, outputs).await?;
            }
        }
        runtime::yield_if_needed().await;
    }
    finish_output(engine, output, choice.output_level, outputs).await
}

/// Paces compaction output to `bytes_per_sec` (0 = no limit): after each row, if more
/// bytes were written than the rate allows for the time since the merge began, sleeps the
/// difference. Sleeps only when at least 10 ms ahead, so timers stay coarse.
struct Throttle {
    bytes_per_sec: u64,
    started: std::time::Instant,
    written: u64,
}

impl Throttle {
    fn new(bytes_per_sec: u64) -> Throttle {
        Throttle { bytes_per_sec, started: std::time::Instant::now(), written: 0 }
    }

    async fn wrote(&mut self, bytes: u64) {
        if self.bytes_per_sec == 0 {
            return;
        }
        self.written += bytes;
        let due =
            std::time::Duration::from_secs_f64(self.written as f64 / self.bytes_per_sec as f64);
        let elapsed = self.started.elapsed();
        if due > elapsed + std::time::Duration::from_millis(10) {
            runtime::sleep(due - elapsed).await;
        }
    }
}

async fn finish_output(
    engine: &Engine,
    output: Option<OutputTable>,
    level: u32,
    outputs: &mut Vec<FileMeta>,
) -> Result<()> {
    let Some(output) = output else { return Ok(()) };
    let id = output.id;
    if output.is_empty() {
        return Ok(());
    }
    // Recorded before finishing so a failed finish still removes the partial file.
    outputs.push(FileMeta {
        id,
        level,
        file_bytes: 0,
        first_key: Vec::new(),
        last_key: Vec::new(),
    });
    let meta = output.finish(level).await?;
    EngineMetrics::add(&engine.shared.metrics.compaction_write_bytes, meta.file_bytes);
    *outputs.last_mut().expect("pushed above") = meta;
    Ok(())
}

/// Whether tombstones under `key` may be dropped: nothing outside the compaction may hold a
/// version they shadow.
fn may_purge(others: &ReadSnapshot, key: &[u8]) -> bool {
    let Some(prefix) = header_prefix(key) else {
        return !others.may_contain(key);
    };
    let upper = prefix_successor(prefix);
    let upper_bound = match &upper {
        Some(upper) => std::ops::Bound::Excluded(upper.as_slice()),
        None => std::ops::Bound::Unbounded,
    };
    let lower = std::ops::Bound::Included(prefix);
    let in_memtables =
        others.memtables.iter().any(|m| !m.range_chunk(lower, upper_bound, false, 1).is_empty());
    let in_tables = others
        .sstables
        .iter()
        .any(|t| t.last_key() >= prefix && upper.as_deref().is_none_or(|u| t.first_key() < u));
    !in_memtables && !in_tables
}

/// Swaps inputs for outputs in one manifest snapshot, then deletes the inputs.
async fn install(
    engine: &Engine,
    table: &Rc<TableState>,
    choice: &Choice,
    inputs: &[LiveFile],
    outputs: Vec<FileMeta>,
) -> Result<()> {
    let shared = &engine.shared;
    let mut readers = Vec::new();
    for meta in &outputs {
        readers.push(engine.open_sstable(meta.id).await?);
    }
    let input_ids = id_set(&choice.inputs);
    let guard = shared.manifest_lock.lock().await;
    let mut next = shared.manifest.borrow().clone();
    let Some(entry) = next.tables.get_mut(&table.id) else {
        // Dropped meanwhile: its files are gone with it, and so go the outputs.
        drop(guard);
        for meta in &outputs {
            shared.disk.remove(&sstable_path(&shared.dir, meta.id)).await?;
        }
        return Ok(());
    };
    entry.files.retain(|f| !input_ids.contains(&f.id));
    entry.files.extend(outputs.iter().cloned());
    manifest::store(&shared.disk, &shared.dir, &next).await?;
    // No await from here to the end of the block: readers see the swap at once.
    install_manifest(engine, next);
    table.remove_files(|id| input_ids.contains(&id));
    table.add_files(
        outputs.into_iter().zip(readers).map(|(meta, reader)| LiveFile { meta, reader }),
    );
    if choice.output_level >= 2 {
        let from = choice.output_level - 1;
        let last =
            inputs.iter().filter(|f| f.meta.level == from).map(|f| f.meta.last_key.clone()).max();
        if let Some(last) = last {
            table.level_cursor.borrow_mut().insert(from, last);
        }
    }
    drop(guard);
    // Readers that still hold the inputs keep reading through their open handles.
    for file in inputs {
        shared.cache.remove_table(file.meta.id);
        shared.disk.remove(file.reader.path()).await?;
    }
    shared.disk.sync_dir(&shared.dir).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_paces_output_and_zero_means_unlimited() {
        runtime::run_test(|| async {
            let started = std::time::Instant::now();
            let mut free = Throttle::new(0);
            for _ in 0..100 {
                free.wrote(1 << 20).await;
            }
            assert!(started.elapsed() < std::time::Duration::from_millis(50));
            // 200 KB at 1 MB/s: at least ~190 ms, never much less.
            let started = std::time::Instant::now();
            let mut paced = Throttle::new(1_000_000);
            for _ in 0..200 {
                paced.wrote(1000).await;
            }
            assert!(
                started.elapsed() >= std::time::Duration::from_millis(185),
                "{:?}",
                started.elapsed()
            );
        });
    }
}
