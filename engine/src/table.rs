//! One table's LSM state on one core: its active memtable, the sealed memtables waiting for
//! their flush, and its live SSTables.
//!
//! Each table has its own SSTables (so each can have its own compaction strategy); all tables
//! of a core share one commit log and one block cache.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

use crate::manifest::{CompactionStrategy, FileMeta};
use crate::memtable::Memtable;
use crate::read::{Memtables, ReadSnapshot, Sstables};
use crate::sstable::Sstable;

/// Options of a table, chosen at creation and kept in the manifest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// How its SSTables are compacted.
    pub strategy: CompactionStrategy,
}

/// A live SSTable: what the manifest says of it and the open reader.
#[derive(Clone)]
pub struct LiveFile {
    /// The manifest's record.
    pub meta: FileMeta,
    /// The open table.
    pub reader: Sstable,
}

/// The state of one table.
pub struct TableState {
    /// Its id.
    pub id: u32,
    /// Its options.
    pub options: TableOptions,
    /// Takes writes.
    pub active: RefCell<Rc<Memtable>>,
    /// Sealed memtables, oldest first, each waiting for (or in) its flush.
    pub sealed: RefCell<Vec<Rc<Memtable>>>,
    /// Live SSTables, newest `max_ts` first (change them through [`TableState::add_files`]
    /// and [`TableState::remove_files`], which keep that order).
    pub files: RefCell<Vec<LiveFile>>,
    /// Ids of files an ongoing compaction is merging.
    pub compacting: RefCell<HashSet<u64>>,
    /// Leveled compaction's round-robin position per level: the last key it compacted.
    pub level_cursor: RefCell<BTreeMap<u32, Vec<u8>>>,
    /// SSTables that point reads found a row in beyond the first, since the last compaction:
    /// the read amplification that a read-triggered compaction
    /// ([`crate::compaction::read_triggered`]) pays off.
    pub extra_probes: Cell<u64>,
    /// Set when the table is dropped; background work on it stops.
    pub dropped: Cell<bool>,
    /// The attribute whose number (epoch seconds) expires an item, DynamoDB's TTL:
    /// compaction turns such items into tombstones. Not in the manifest: the owner of the
    /// schema sets it again after every open.
    pub expiry_attribute: RefCell<Option<String>>,
}

impl TableState {
    /// A table with no data yet.
    pub fn new(id: u32, options: TableOptions) -> TableState {
        TableState {
            id,
            options,
            active: RefCell::new(Rc::new(Memtable::default())),
            sealed: RefCell::new(Vec::new()),
            files: RefCell::new(Vec::new()),
            compacting: RefCell::new(HashSet::new()),
            level_cursor: RefCell::new(BTreeMap::new()),
            extra_probes: Cell::new(0),
            dropped: Cell::new(false),
            expiry_attribute: RefCell::new(None),
        }
    }

    /// The sources a read should merge, right now.
    pub fn snapshot(&self) -> ReadSnapshot {
        let mut memtables = Memtables::new();
        memtables.push(self.active.borrow().clone());
        memtables.extend(self.sealed.borrow().iter().rev().cloned());
        // Already newest data first, so a point read can stop early (`ReadSnapshot::get_row`).
        let sstables: Sstables = self.files.borrow().iter().map(|f| f.reader.clone()).collect();
        ReadSnapshot { memtables, sstables }
    }

    /// Adds live files, keeping the newest-first order reads rely on.
    pub fn add_files(&self, added: impl IntoIterator<Item = LiveFile>) {
        let mut files = self.files.borrow_mut();
        files.extend(added);
        files.sort_by_key(|f| std::cmp::Reverse(crate::flush::table_max_ts(&f.reader)));
    }

    /// Removes the files whose ids `remove` accepts.
    pub fn remove_files(&self, remove: impl Fn(u64) -> bool) {
        self.files.borrow_mut().retain(|f| !remove(f.meta.id));
    }

    /// Seals the active memtable (if it holds anything) and puts a fresh one in its place.
    /// Returns whether a memtable was sealed.
    pub fn seal_active(&self) -> bool {
        if self.active.borrow().is_empty() {
            return false;
        }
        let old = self.active.replace(Rc::new(Memtable::default()));
        old.seal();
        self.sealed.borrow_mut().push(old);
        true
    }

    /// Memory held by its memtables.
    pub fn memtable_bytes(&self) -> usize {
        let sealed: usize = self.sealed.borrow().iter().map(|m| m.approximate_bytes()).sum();
        self.active.borrow().approximate_bytes() + sealed
    }

    /// The oldest commit-log segment its unflushed writes came from, skipping `except`.
    pub fn min_log_segment(&self, except: Option<&Rc<Memtable>>) -> Option<u64> {
        let active = self.active.borrow().min_log_segment();
        let sealed = self.sealed.borrow();
        let others = sealed
            .iter()
            .filter(|m| except.is_none_or(|e| !Rc::ptr_eq(e, m)))
            .filter_map(|m| m.min_log_segment());
        others.chain(active).min()
    }

    /// The manifest records of its files.
    pub fn file_metas(&self) -> Vec<FileMeta> {
        self.files.borrow().iter().map(|f| f.meta.clone()).collect()
    }

    /// Bytes of bloom filters and indexes held in memory.
    pub fn index_bytes(&self) -> usize {
        self.files.borrow().iter().map(|f| f.reader.bloom_bytes()).sum()
    }
}
