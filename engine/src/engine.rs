//! [`Engine`]: one core's storage engine. Writes go to the commit log, then the memtable;
//! reads merge memtables and SSTables; flushes and compactions run in lower-priority task
//! queues on the same core.
//!
//! # Durability invariant
//! A write is acknowledged only after its commit-log record is durable (in `batch` sync mode),
//! and it becomes visible to reads at that same moment. Commit-log segments are released only
//! below the *replay checkpoint*: the oldest segment that any unflushed memtable or in-flight
//! write may need. The checkpoint is stored in the manifest in the same snapshot that adds the
//! flushed SSTable, so after a crash replay starts early enough. Replaying a record that is
//! already in an SSTable is harmless: the row merge is idempotent.
//!
//! # Layout of the data directory
//! `MANIFEST`, the SSTables `{id:020}.sst`, the `io-probe` file, and `commitlog/`.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use shoal_tuning::{BlockCompression, CommitLogSync, EngineConfig};

use crate::cache::BlockCache;
use crate::clock::Clock;
use crate::commitlog::{CommitLog, CommitLogOptions, LogPosition, SyncMode};
use crate::error::{Error, Result};
use crate::io::Disk;
use crate::manifest::{self, sstable_path, ManifestState, TableManifest};
use crate::metrics::EngineMetrics;
use crate::recovery::{decode_record, encode_record, open_tables, remove_orphans};
use crate::runtime::{self, AsyncLock, Notify, Queue};
use crate::sstable::{Compression, Sstable, SstableOptions};
use crate::table::{LiveFile, TableOptions, TableState};
use crate::types::{DecodedKey, ItemKey, Row};

/// A staged row's place: table id and encoded item key.
type StagedKey = (u32, Vec<u8>);

/// One core's storage engine. Cheap to clone; every clone is the same engine.
#[derive(Clone)]
pub struct Engine {
    pub(crate) shared: Rc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) disk: Disk,
    pub(crate) dir: PathBuf,
    pub(crate) config: EngineConfig,
    pub(crate) clock: Clock,
    pub(crate) log: CommitLog,
    pub(crate) cache: BlockCache,
    pub(crate) tables: RefCell<BTreeMap<u32, Rc<TableState>>>,
    pub(crate) manifest: RefCell<ManifestState>,
    /// Serialises manifest snapshots (flush, compaction, create and drop table).
    pub(crate) manifest_lock: AsyncLock,
    /// Lower bounds of the log segments of writes between append and memtable.
    inflight_segments: RefCell<BTreeMap<u64, usize>>,
    /// Rows of writes staged by [`Engine::stage_write`] and not yet in a memtable, merged
    /// per (table, encoded key), with how many such writes each holds. Read-modify-writes
    /// read them ([`Engine::staged_row`]) on top of the stored row; nothing else does.
    staged: RefCell<HashMap<StagedKey, (Row, usize)>>,
    /// The first durability failure; once set, no write is acknowledged.
    failure: RefCell<Option<String>>,
    pub(crate) flush_done: Notify,
    flusher_running: Cell<bool>,
    pub(crate) compactor_running: Cell<bool>,
    pub(crate) closed: Cell<bool>,
    pub(crate) metrics: EngineMetrics,
}

/// One live SSTable of a table, as [`Engine::table_files`] lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSummary {
    /// File id.
    pub id: u64,
    /// Level (0 = flush output).
    pub level: u32,
    /// Size on disk.
    pub file_bytes: u64,
    /// Stored rows (live, deleted and expired alike).
    pub entries: u64,
}

/// What opening found.
#[derive(Clone, Debug, Default)]
pub struct OpenReport {
    /// Commit-log records replayed into memtables.
    pub replayed_records: u64,
    /// A torn tail cut from the log, if any: file and offset.
    pub torn_tail: Option<(PathBuf, u64)>,
    /// SSTable files found on disk but not in the manifest (left by a crash), now removed.
    pub orphans_removed: usize,
}

fn sstable_options(config: &EngineConfig) -> SstableOptions {
    SstableOptions {
        block_bytes: config.block_bytes,
        bloom_bits_per_key: config.bloom_bits_per_key,
        compression: match config.compression {
            BlockCompression::None => Compression::None,
            BlockCompression::Lz4 => Compression::Lz4,
        },
    }
}

impl Engine {
    /// Opens (or creates) the engine in `dir`: loads the manifest, opens the SSTables, removes
    /// orphan files, and replays the commit log into memtables.
    ///
    /// # Errors
    /// Invalid config, I/O errors, corrupt manifest or SSTables, corruption in the middle of the
    /// commit log. A torn log tail is not an error: it is cut and reported.
    pub async fn open(
        disk: Disk,
        dir: &Path,
        config: EngineConfig,
        clock: Clock,
    ) -> Result<(Engine, OpenReport)> {
        config.validate().map_err(|e| Error::Invalid { what: "config", reason: e.to_string() })?;
        disk.create_dir_all(dir).await?;
        disk.prime_io_probe(dir).await?;
        let state = manifest::load(&disk, dir).await?.unwrap_or_default();
        let cache = BlockCache::new(config.block_cache_bytes);
        let mut report = OpenReport::default();
        let tables = open_tables(&disk, dir, &state, &cache).await?;
        report.orphans_removed = remove_orphans(&disk, dir, &state).await?;

        let log_dir = dir.join("commitlog");
        disk.create_dir_all(&log_dir).await?;
        let options = CommitLogOptions {
            segment_bytes: config.commitlog_segment_bytes,
            sync: match config.commitlog_sync {
                CommitLogSync::Batch => SyncMode::Batch,
                CommitLogSync::Periodic { interval_ms } => SyncMode::Periodic { interval_ms },
            },
            ..CommitLogOptions::default()
        };
        let replay_from = LogPosition { segment: state.log_replay_segment, offset: 0 };
        let mut replayed = 0_u64;
        let (log, replay) =
            CommitLog::open(disk.clone(), log_dir, options, replay_from, |pos, payload| {
                let (table, key, row) = decode_record(payload)?;
                if let Some(table) = tables.get(&table) {
                    if matches!(ItemKey::decode(&key), Ok(DecodedKey::PartitionHeader { .. })) {
                        table.active.borrow().note_partition_header();
                    }
                    table.active.borrow().apply(&key, row, pos.segment);
                    if table.active.borrow().approximate_bytes() >= config.memtable_bytes {
                        table.seal_active();
                    }
                }
                replayed += 1;
                Ok(())
            })
            .await?;
        report.replayed_records = replayed;
        report.torn_tail = replay.torn_tail.clone();

        let shared = Shared {
            disk,
            dir: dir.to_path_buf(),
            config,
            clock,
            log,
            cache,
            tables: RefCell::new(tables),
            manifest: RefCell::new(state),
            manifest_lock: AsyncLock::default(),
            inflight_segments: RefCell::new(BTreeMap::new()),
            staged: RefCell::new(HashMap::new()),
            failure: RefCell::new(None),
            flush_done: Notify::default(),
            flusher_running: Cell::new(false),
            compactor_running: Cell::new(false),
            closed: Cell::new(false),
            metrics: EngineMetrics::default(),
        };
        let engine = Engine { shared: Rc::new(shared) };
        engine.schedule_flush();
        engine.schedule_compaction();
        Ok((engine, report))
    }

    /// Creates a table.
    ///
    /// # Errors
    /// [`Error::TableExists`]; I/O errors writing the manifest.
    pub async fn create_table(&self, id: u32, options: TableOptions) -> Result<()> {
        let _guard = self.shared.manifest_lock.lock().await;
        if self.shared.tables.borrow().contains_key(&id) {
            return Err(Error::TableExists(id));
        }
        let mut next = self.shared.manifest.borrow().clone();
        next.tables.insert(id, TableManifest { strategy: options.strategy, files: Vec::new() });
        manifest::store(&self.shared.disk, &self.shared.dir, &next).await?;
        crate::flush::install_manifest(self, next);
        self.shared.tables.borrow_mut().insert(id, Rc::new(TableState::new(id, options)));
        Ok(())
    }

    /// Sets (or clears) the attribute whose value, a number of epoch seconds, expires an
    /// item: compaction then purges items whose time has passed (reads must hide them
    /// before that; see `shoal_types::expired_by_attribute`). Kept in memory only.
    ///
    /// # Errors
    /// [`Error::UnknownTable`].
    pub fn set_expiry_attribute(&self, id: u32, attribute: Option<String>) -> Result<()> {
        *self.table(id)?.expiry_attribute.borrow_mut() = attribute;
        Ok(())
    }

    /// Drops a table and deletes its files.
    ///
    /// # Errors
    /// [`Error::UnknownTable`]; I/O errors.
    pub async fn drop_table(&self, id: u32) -> Result<()> {
        let _guard = self.shared.manifest_lock.lock().await;
        let table = self.table(id)?;
        let mut next = self.shared.manifest.borrow().clone();
        next.tables.remove(&id);
        manifest::store(&self.shared.disk, &self.shared.dir, &next).await?;
        crate::flush::install_manifest(self, next);
        self.shared.tables.borrow_mut().remove(&id);
        table.dropped.set(true);
        let files = std::mem::take(&mut *table.files.borrow_mut());
        for file in files {
            self.shared.cache.remove_table(file.meta.id);
            self.shared.disk.remove(file.reader.path()).await?;
        }
        self.shared.disk.sync_dir(&self.shared.dir).await?;
        // Its memtables are simply dropped; their log records are skipped by replay since the
        // table is no longer in the manifest.
        self.shared.flush_done.notify_all();
        Ok(())
    }

    /// Ids of the tables.
    pub fn tables(&self) -> Vec<u32> {
        self.shared.tables.borrow().keys().copied().collect()
    }

    pub(crate) fn table(&self, id: u32) -> Result<Rc<TableState>> {
        self.shared.tables.borrow().get(&id).cloned().ok_or(Error::UnknownTable(id))
    }

    fn check_writable(&self) -> Result<()> {
        if self.shared.closed.get() {
            return Err(Error::Closed);
        }
        match &*self.shared.failure.borrow() {
            Some(reason) => Err(Error::WritesStopped { reason: reason.clone() }),
            None => Ok(()),
        }
    }

    /// Writes `row` under `key` in `table`: merges with what is there (last-write-wins per
    /// attribute). Returns once the write is durable (batch sync) and visible to reads.
    ///
    /// # Errors
    /// Limits ([`Error::TooLarge`]), [`Error::UnknownTable`], [`Error::WritesStopped`] after a
    /// durability failure, [`Error::Closed`].
    pub async fn write(&self, table: u32, key: &ItemKey, row: Row) -> Result<()> {
        self.begin_write(table, key, row).await?.finish().await
    }

    /// [`Engine::write`] in two halves: this one checks the write, waits for room and places
    /// its record in the commit log; [`StagedWrite::finish`] waits for it to be durable and
    /// applies it. A coordinator that also sends the row to other replicas begins its own
    /// copy, sends, and then finishes, so its fdatasync and theirs overlap instead of
    /// following each other. Unlike [`Engine::stage_write`], [`Engine::staged_row`] does not
    /// show the row meanwhile (nothing decides on it).
    ///
    /// # Errors
    /// As [`Engine::write`], except for the flush's outcome, which `finish` reports.
    pub async fn begin_write(&self, table: u32, key: &ItemKey, row: Row) -> Result<StagedWrite> {
        key.validate()?;
        self.stage_encoded(table, key.encode(), row, false, false).await
    }

    /// The first half of [`Engine::write`], for read-modify-writes: checks the write, waits
    /// for room, and places its record in the commit log, which fixes its order among this
    /// engine's writes. Reads do not see it until [`StagedWrite::finish`], which waits for
    /// the record to be durable and then applies it; meanwhile [`Engine::staged_row`] does.
    ///
    /// A caller that decides its writes under a lock (read, decide, write) releases the lock
    /// once the write is staged, and the next decision reads the stored row merged with
    /// `staged_row`: so writes decided one after another on one item share one fdatasync
    /// instead of each waiting for its own, and none decides on a state that misses one
    /// before it. Should a staged write fail, the log has stopped, so every write staged
    /// after it fails too and none acknowledged depended on it.
    ///
    /// # Errors
    /// As [`Engine::write`], except for the flush's outcome, which `finish` reports.
    pub async fn stage_write(&self, table: u32, key: &ItemKey, row: Row) -> Result<StagedWrite> {
        key.validate()?;
        self.stage_encoded(table, key.encode(), row, false, true).await
    }

    /// The rows of writes to `key` staged by [`Engine::stage_write`] and not finished yet,
    /// merged: what a read-modify-write merges over the row it read. Take it *before*
    /// reading the stored row: a staged write that finishes during that read (an await)
    /// leaves this and may land after the read's snapshot, so taken after, it could be in
    /// neither.
    pub fn staged_row(&self, table: u32, key: &ItemKey) -> Option<Row> {
        let staged = self.shared.staged.borrow();
        staged.get(&(table, key.encode())).map(|(row, _)| row.clone())
    }

    /// Deletes the whole partition at `ts`: every item of it written at or before `ts` dies.
    ///
    /// # Errors
    /// As [`Engine::write`].
    pub async fn delete_partition(
        &self,
        table: u32,
        token: u64,
        partition: &crate::types::KeyValue,
        ts: u64,
    ) -> Result<()> {
        partition.validate("partition key", crate::types::key::PARTITION_KEY_BYTES_MAX)?;
        let key = crate::types::key::partition_header_key(token, partition);
        self.stage_encoded(table, key, Row::delete_item(ts), true, false).await?.finish().await
    }

    /// Stages a write; `for_updates` registers its row with [`Engine::staged_row`].
    async fn stage_encoded(
        &self,
        table_id: u32,
        key: Vec<u8>,
        row: Row,
        is_header: bool,
        for_updates: bool,
    ) -> Result<StagedWrite> {
        self.check_writable()?;
        row.validate()?;
        self.table(table_id)?;
        self.wait_for_memtable_room().await?;
        let record = encode_record(table_id, &key, &row);
        let lower = self.shared.log.current_position().segment;
        *self.shared.inflight_segments.borrow_mut().entry(lower).or_default() += 1;
        // From here until the row is in a memtable, its log segment must not be released.
        let inflight = InflightWrite { engine: self.clone(), lower };
        let append = match self.shared.log.stage(&record).await {
            Ok(append) => append,
            Err(error) => return Err(self.note_log_failure(error)),
        };
        let registered = for_updates.then(|| StagedRegistration::add(self, table_id, &key, &row));
        Ok(StagedWrite {
            inflight,
            registered,
            append,
            table_id,
            key,
            row,
            is_header,
            record_bytes: record.len() as u64,
        })
    }

    fn end_inflight(&self, lower: u64) {
        let mut inflight = self.shared.inflight_segments.borrow_mut();
        let count = inflight.get_mut(&lower).expect("in-flight write was registered");
        *count -= 1;
        if *count == 0 {
            inflight.remove(&lower);
        }
    }

    fn note_log_failure(&self, error: Error) -> Error {
        if let Error::WritesStopped { reason } = &error {
            let mut failure = self.shared.failure.borrow_mut();
            if failure.is_none() {
                tracing::error!("writes stopped on {}: {reason}", self.shared.dir.display());
                *failure = Some(reason.clone());
            }
        }
        error
    }

    /// Memtables past their total budget make writers wait for flushes (backpressure). If
    /// flushes are failing, the write is refused with [`Error::FlushFailing`] instead.
    async fn wait_for_memtable_room(&self) -> Result<()> {
        loop {
            let (total, flushing) = {
                let tables = self.shared.tables.borrow();
                let total: usize = tables.values().map(|t| t.memtable_bytes()).sum();
                (total, tables.values().any(|t| !t.sealed.borrow().is_empty()))
            };
            if total < self.shared.config.memtables_total_bytes {
                return Ok(());
            }
            if let Some(reason) = self.shared.metrics.last_flush_error.borrow().clone() {
                return Err(Error::FlushFailing { reason });
            }
            // Seal only when nothing is being flushed; a flush in progress frees memory, and
            // sealing small memtables meanwhile would only make small files.
            if !flushing {
                self.seal_largest();
            }
            self.schedule_flush();
            let wait = self.shared.flush_done.wait();
            wait.await;
            self.check_writable()?;
        }
    }

    fn seal_largest(&self) {
        let tables = self.shared.tables.borrow();
        let largest = tables.values().max_by_key(|t| t.active.borrow().approximate_bytes());
        if let Some(table) = largest {
            table.seal_active();
        }
    }

    /// The replay checkpoint: the oldest log segment that an unflushed write (other than those
    /// in `except`) may live in.
    pub(crate) fn log_checkpoint(&self, except: Option<&Rc<crate::memtable::Memtable>>) -> u64 {
        let tables = self.shared.tables.borrow();
        let memtables = tables.values().filter_map(|t| t.min_log_segment(except));
        let inflight = self.shared.inflight_segments.borrow().keys().next().copied();
        let current = self.shared.log.current_position().segment;
        memtables.chain(inflight).fold(current, u64::min)
    }

    /// Seals every non-empty memtable and waits until all are flushed.
    ///
    /// # Errors
    /// The flush's error.
    pub async fn flush(&self) -> Result<()> {
        for table in self.shared.tables.borrow().values() {
            table.seal_active();
        }
        self.schedule_flush();
        loop {
            let pending =
                self.shared.tables.borrow().values().any(|t| !t.sealed.borrow().is_empty());
            if !pending {
                return Ok(());
            }
            if let Some(reason) = self.shared.metrics.last_flush_error.borrow().clone() {
                return Err(Error::FlushFailing { reason });
            }
            let wait = self.shared.flush_done.wait();
            wait.await;
        }
    }

    /// Starts the flusher if it is not running. It flushes every sealed memtable, oldest first.
    pub(crate) fn schedule_flush(&self) {
        if self.shared.flusher_running.replace(true) {
            return;
        }
        let engine = self.clone();
        runtime::spawn(Queue::Flush, async move {
            engine.run_flusher().await;
            engine.shared.flusher_running.set(false);
            engine.shared.flush_done.notify_all();
        });
    }

    async fn run_flusher(&self) {
        loop {
            let next = self
                .shared
                .tables
                .borrow()
                .values()
                .find_map(|t| t.sealed.borrow().first().cloned().map(|m| (t.clone(), m)));
            let Some((table, memtable)) = next else {
                return;
            };
            if self.shared.closed.get() {
                return;
            }
            match crate::flush::flush_memtable(self, &table, &memtable).await {
                Ok(()) => {
                    *self.shared.metrics.last_flush_error.borrow_mut() = None;
                    self.shared.flush_done.notify_all();
                    self.schedule_compaction();
                    // Usually the last reference (a scan may still hold one; it then frees
                    // the memtable when it ends).
                    if let Ok(memtable) = Rc::try_unwrap(memtable) {
                        memtable.free_in_steps().await;
                    }
                }
                Err(error) => {
                    // The memtable stays sealed and its log records stay: nothing is lost.
                    tracing::warn!("flush of table {} failed: {error}", table.id);
                    *self.shared.metrics.last_flush_error.borrow_mut() = Some(error.to_string());
                    self.shared.flush_done.notify_all();
                    runtime::sleep(std::time::Duration::from_millis(100)).await;
                    if self.shared.closed.get() {
                        return;
                    }
                }
            }
        }
    }

    /// Releases commit-log segments below the stored checkpoint.
    pub(crate) async fn release_log(&self, checkpoint: u64) -> Result<()> {
        self.shared.log.release_before(LogPosition { segment: checkpoint, offset: 0 }).await
    }

    /// Opens a freshly written SSTable for reading.
    pub(crate) async fn open_sstable(&self, id: u64) -> Result<Sstable> {
        let path = sstable_path(&self.shared.dir, id);
        Sstable::open(&self.shared.disk, &path, id, self.shared.cache.clone()).await
    }

    pub(crate) fn sstable_options(&self) -> SstableOptions {
        sstable_options(&self.shared.config)
    }

    /// The engine's clock.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// The commit log's counters since open (appends, flushes, bytes).
    pub fn log_stats(&self) -> crate::commitlog::CommitLogStats {
        self.shared.log.stats()
    }

    /// The engine's counters.
    pub fn metrics(&self) -> &EngineMetrics {
        &self.shared.metrics
    }

    /// Block cache statistics.
    pub fn cache_stats(&self) -> crate::cache::CacheStats {
        self.shared.cache.stats()
    }

    /// Memory held: memtables, and bloom filters and indexes of open SSTables (the block
    /// cache is bounded by its own capacity).
    pub fn memory_bytes(&self) -> (usize, usize) {
        let tables = self.shared.tables.borrow();
        let memtables = tables.values().map(|t| t.memtable_bytes()).sum();
        let indexes = tables.values().map(|t| t.index_bytes()).sum();
        (memtables, indexes)
    }

    /// Flushes what the commit log has pending and stops background work. Memtables are not
    /// flushed: the commit log holds them, and the next open replays it.
    ///
    /// # Errors
    /// The commit log's error.
    pub async fn close(self) -> Result<()> {
        self.shared.closed.set(true);
        let synced = self.shared.log.sync().await;
        // The flusher and compactor stop at their next step and notify on exit.
        while self.shared.flusher_running.get() || self.shared.compactor_running.get() {
            self.shared.flush_done.wait().await;
        }
        synced
    }

    /// The reason writes stopped, if they did.
    pub fn failure(&self) -> Option<String> {
        self.shared.failure.borrow().clone()
    }

    /// Files of a table, for tests and the admin tool.
    ///
    /// # Errors
    /// [`Error::UnknownTable`].
    pub fn table_files(&self, table: u32) -> Result<Vec<FileSummary>> {
        let table = self.table(table)?;
        let files = table.files.borrow();
        let summary = |f: &LiveFile| FileSummary {
            id: f.meta.id,
            level: f.meta.level,
            file_bytes: f.meta.file_bytes,
            entries: f.reader.entries(),
        };
        Ok(files.iter().map(summary).collect())
    }
}

/// A write placed in the commit log but not yet durable nor visible: see
/// [`Engine::stage_write`]. Dropping it leaves the record in the log (applied at the next
/// replay) but not in the memtable, so callers finish what they stage.
#[must_use = "a staged write is acknowledged and visible only after finish()"]
pub struct StagedWrite {
    inflight: InflightWrite,
    /// Present for a write staged by [`Engine::stage_write`].
    registered: Option<StagedRegistration>,
    append: crate::commitlog::StagedAppend,
    table_id: u32,
    key: Vec<u8>,
    row: Row,
    is_header: bool,
    record_bytes: u64,
}

impl StagedWrite {
    /// Waits for the record to be durable (batch sync), then applies the row to its table's
    /// memtable, where reads see it.
    ///
    /// # Errors
    /// [`Error::WritesStopped`] if the record's write or sync failed; [`Error::Closed`].
    pub async fn finish(self) -> Result<()> {
        let StagedWrite {
            inflight,
            registered,
            append,
            table_id,
            key,
            row,
            is_header,
            record_bytes,
        } = self;
        let appended = append.durable().await;
        let engine = inflight.engine.clone();
        // The row reaches the memtable below with no await in between; until then staged_row
        // still shows it (and after, showing it as well as the memtable changes nothing:
        // merging a row twice gives the same row).
        drop(inflight);
        drop(registered);
        let position = match appended {
            Ok(position) => position,
            Err(error) => return Err(engine.note_log_failure(error)),
        };
        // The table may have been dropped while the record was being synced.
        let Ok(table) = engine.table(table_id) else {
            return Ok(());
        };
        let bytes = {
            let active = table.active.borrow();
            if is_header {
                active.note_partition_header();
            }
            active.apply(&key, row, position.segment);
            active.approximate_bytes()
        };
        let metrics = &engine.shared.metrics;
        metrics.writes.set(metrics.writes.get() + 1);
        metrics.user_bytes.set(metrics.user_bytes.get() + record_bytes);
        if bytes >= engine.shared.config.memtable_bytes && table.seal_active() {
            engine.schedule_flush();
        }
        Ok(())
    }
}

/// A staged write's part of [`Engine::staged_row`]: its row stays merged there until it is
/// dropped, and the key's entry goes when its last write does.
struct StagedRegistration {
    engine: Engine,
    table_id: u32,
    key: Vec<u8>,
}

impl StagedRegistration {
    fn add(engine: &Engine, table_id: u32, key: &[u8], row: &Row) -> StagedRegistration {
        let mut staged = engine.shared.staged.borrow_mut();
        let entry = staged.entry((table_id, key.to_vec())).or_insert_with(|| (Row::default(), 0));
        entry.0.merge_from(row.clone());
        entry.1 += 1;
        StagedRegistration { engine: engine.clone(), table_id, key: key.to_vec() }
    }
}

impl Drop for StagedRegistration {
    fn drop(&mut self) {
        let mut staged = self.engine.shared.staged.borrow_mut();
        let key = (self.table_id, std::mem::take(&mut self.key));
        let Some(entry) = staged.get_mut(&key) else {
            debug_assert!(false, "a staged write's entry is removed only by its last write");
            return;
        };
        entry.1 -= 1;
        if entry.1 == 0 {
            staged.remove(&key);
        }
    }
}

/// A write between its log append and its memtable: keeps its log segment (and every later
/// one) from being released by a flush meanwhile. Ends on drop, so a cancelled write does
/// not pin the log for good.
struct InflightWrite {
    engine: Engine,
    lower: u64,
}

impl Drop for InflightWrite {
    fn drop(&mut self) {
        self.engine.end_inflight(self.lower);
    }
}
