//! Reads: point gets and paged range scans, with tombstones and expiry applied.
//!
//! A scan returns at most `limit` live items and examines at most [`SCAN_EXAMINED_MAX`]
//! stored rows per page, so a partition of millions of rows, or a range full of tombstones,
//! is read page by page and never materialised in memory. The page says where to resume.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::engine::Engine;
use crate::error::Result;
use crate::metrics::EngineMetrics;
use crate::read::ReadSnapshot;
use crate::runtime;
use crate::table::TableState;
use crate::types::key::{partition_header_key, MARKER_ITEM};
use crate::types::{DecodedKey, ItemKey, Row, Value};

/// Stored rows a scan page examines at most (live, deleted or expired).
pub const SCAN_EXAMINED_MAX: usize = 4096;
/// Live items a scan page returns at most.
pub const SCAN_LIMIT_MAX: usize = 10_000;

/// A live item: its key and attributes.
pub type Item = (ItemKey, BTreeMap<String, Value>);

/// A range of encoded keys to scan (build bounds with `types::key` helpers).
#[derive(Clone, Debug)]
pub struct ScanRange {
    /// Lower bound.
    pub lower: Bound<Vec<u8>>,
    /// Upper bound.
    pub upper: Bound<Vec<u8>>,
    /// Walk from the upper bound down.
    pub reverse: bool,
    /// Most live items to return (capped at [`SCAN_LIMIT_MAX`]).
    pub limit: usize,
}

/// One page of a scan.
#[derive(Clone, Debug, Default)]
pub struct ScanPage {
    /// Live items in key order (descending if reverse).
    pub items: Vec<Item>,
    /// If set, more rows may follow: scan again with this key as the exclusive bound on the
    /// side the scan walks from.
    pub resume_after: Option<Vec<u8>>,
}

impl Engine {
    /// The live attributes of an item, or `None` if it does not exist, was deleted, or
    /// expired.
    ///
    /// # Errors
    /// [`crate::Error::UnknownTable`]; I/O and checksum errors.
    pub async fn get(&self, table: u32, key: &ItemKey) -> Result<Option<BTreeMap<String, Value>>> {
        let now_ms = self.shared.clock.now_ms();
        let row = self.get_row(table, key).await?;
        Ok(row.and_then(|row| row.into_live_attributes(now_ms)))
    }

    /// The merged stored row of an item with its partition's deletion applied, tombstones and
    /// timestamps included (replicas compare and merge these).
    ///
    /// # Errors
    /// As [`Engine::get`].
    pub async fn get_row(&self, table: u32, key: &ItemKey) -> Result<Option<Row>> {
        let table = self.table(table)?;
        let snapshot = table.snapshot();
        EngineMetrics::add(&self.shared.metrics.reads, 1);
        let (row, sstable_rows) = snapshot.get_row(&key.encode()).await?;
        self.charge_point_read(&table, sstable_rows);
        let Some(mut row) = row else { return Ok(None) };
        if let Some(ts) = partition_deletion(&snapshot, key).await? {
            row.apply_partition_tombstone(ts);
        }
        Ok(Some(row))
    }

    /// [`Engine::get`] with the attributes encoded as a map value, as an item travels
    /// ([`crate::types::value::encode_item_map`]). The versions of the row are merged where
    /// they lie, never decoded into rows and attribute maps
    /// ([`ReadSnapshot::encode_live_item`]).
    ///
    /// # Errors
    /// As [`Engine::get`].
    pub async fn get_encoded(&self, table: u32, key: &ItemKey) -> Result<Option<Vec<u8>>> {
        let now_ms = self.shared.clock.now_ms();
        let table = self.table(table)?;
        let snapshot = table.snapshot();
        EngineMetrics::add(&self.shared.metrics.reads, 1);
        let deletion = partition_deletion(&snapshot, key).await?;
        let mut out = Vec::new();
        let (live, sstable_rows) =
            snapshot.encode_live_item(&key.encode(), deletion, now_ms, &mut out).await?;
        self.charge_point_read(&table, sstable_rows);
        Ok(live.then_some(out))
    }

    /// Counts the SSTables a point read found rows in beyond the first, and starts the
    /// compactor once they have cost more than merging the table's files would
    /// ([`crate::compaction::read_triggered`]).
    fn charge_point_read(&self, table: &TableState, sstable_rows: usize) {
        if sstable_rows < 2 {
            return;
        }
        let probes = table.extra_probes.get().saturating_add(sstable_rows as u64 - 1);
        table.extra_probes.set(probes);
        if crate::compaction::read_triggered(table).is_some() {
            self.schedule_compaction();
        }
    }

    /// One page of live items with keys in the range.
    ///
    /// # Errors
    /// As [`Engine::get`]; a stored key that does not decode is [`crate::Error::Decode`].
    pub async fn scan(&self, table: u32, range: &ScanRange) -> Result<ScanPage> {
        let snapshot = self.table(table)?.snapshot();
        let now_ms = self.shared.clock.now_ms();
        let limit = range.limit.clamp(1, SCAN_LIMIT_MAX);
        let mut iter = snapshot.merge_iter(range.lower.clone(), range.upper.clone(), range.reverse);
        let mut page = ScanPage::default();
        let mut partition = PartitionTombstone::default();
        let mut examined = 0;
        while let Some((key, mut row)) = iter.next().await? {
            examined += 1;
            match ItemKey::decode(&key)? {
                DecodedKey::Item(item) => {
                    if let Some(ts) = partition.lookup(&snapshot, &key, &item, range).await? {
                        row.apply_partition_tombstone(ts);
                    }
                    if let Some(attrs) = row.into_live_attributes(now_ms) {
                        page.items.push((item, attrs));
                    }
                }
                DecodedKey::PartitionHeader { .. } => partition.seen(key.to_vec(), row.tombstone),
            }
            if page.items.len() >= limit || examined >= SCAN_EXAMINED_MAX {
                page.resume_after = Some(key.to_vec());
                break;
            }
            runtime::yield_if_needed().await;
        }
        EngineMetrics::add(&self.shared.metrics.scanned_rows, page.items.len() as u64);
        Ok(page)
    }
}

/// When `key`'s partition was deleted, if it was. The bloom filters and the header counts
/// usually say at once that no source holds a partition deletion.
async fn partition_deletion(snapshot: &ReadSnapshot, key: &ItemKey) -> Result<Option<u64>> {
    if !snapshot.may_hold_partition_headers() {
        return Ok(None);
    }
    let header = partition_header_key(key.token, &key.partition);
    Ok(snapshot.get_partition_header(&header).await?.and_then(|row| row.tombstone))
}

/// The deletion time of the partition a scan is in, found once per partition.
///
/// A forward scan meets a partition's header row (which sorts first) before its items, so
/// when the scan started at or before the header, the stream itself says whether there is
/// one; otherwise (reverse scans, or scans starting inside a partition) it is looked up.
#[derive(Default)]
struct PartitionTombstone {
    header: Vec<u8>,
    tombstone: Option<u64>,
}

impl PartitionTombstone {
    /// Whether the item `key` is in the partition of the cached header, compared in place:
    /// an item key is its partition's header key with the last byte (the marker) changed, then
    /// the sort key. Allocation-free, as it runs once per scanned row.
    fn same_partition(&self, key: &[u8]) -> bool {
        let Some((_, prefix)) = self.header.split_last() else { return false };
        key.get(..prefix.len()) == Some(prefix) && key.get(prefix.len()) == Some(&MARKER_ITEM)
    }

    fn seen(&mut self, header: Vec<u8>, tombstone: Option<u64>) {
        self.header = header;
        self.tombstone = tombstone;
    }

    async fn lookup(
        &mut self,
        snapshot: &ReadSnapshot,
        key: &[u8],
        item: &ItemKey,
        range: &ScanRange,
    ) -> Result<Option<u64>> {
        if self.same_partition(key) {
            return Ok(self.tombstone);
        }
        let header = partition_header_key(item.token, &item.partition);
        let streamed = !range.reverse
            && match &range.lower {
                Bound::Included(lower) => lower.as_slice() <= header.as_slice(),
                Bound::Excluded(lower) => lower.as_slice() < header.as_slice(),
                Bound::Unbounded => true,
            };
        // Headers rarely exist; the bloom filters answer most lookups without I/O.
        let tombstone = if streamed {
            None
        } else {
            snapshot.get_partition_header(&header).await?.and_then(|row| row.tombstone)
        };
        self.seen(header, tombstone);
        Ok(tombstone)
    }
}
