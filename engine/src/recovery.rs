//! What opening an engine needs besides the commit log: the live tables from the manifest,
//! removal of orphan files, and the commit-log record format of a mutation.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::rc::Rc;

use crate::cache::BlockCache;
use crate::error::Result;
use crate::io::Disk;
use crate::manifest::{sstable_id, sstable_path, ManifestState};
use crate::sstable::Sstable;
use crate::table::{LiveFile, TableOptions, TableState};
use crate::types::{put_len_prefixed, Reader, Row};

/// Opens every table the manifest lists, with its SSTables.
pub(crate) async fn open_tables(
    disk: &Disk,
    dir: &Path,
    state: &ManifestState,
    cache: &BlockCache,
) -> Result<BTreeMap<u32, Rc<TableState>>> {
    let mut tables = BTreeMap::new();
    for (id, entry) in &state.tables {
        let table = TableState::new(*id, TableOptions { strategy: entry.strategy });
        for meta in &entry.files {
            let path = sstable_path(dir, meta.id);
            let reader = Sstable::open(disk, &path, meta.id, cache.clone()).await?;
            table.add_files([LiveFile { meta: meta.clone(), reader }]);
        }
        tables.insert(*id, Rc::new(table));
    }
    Ok(tables)
}

/// Removes SSTable files that no manifest names: outputs of a flush or compaction that
/// crashed before its manifest snapshot, or inputs whose deletion a crash interrupted.
pub(crate) async fn remove_orphans(
    disk: &Disk,
    dir: &Path,
    state: &ManifestState,
) -> Result<usize> {
    let live: HashSet<u64> =
        state.tables.values().flat_map(|t| t.files.iter().map(|f| f.id)).collect();
    let mut removed = 0;
    for name in disk.list(dir).await? {
        let Some(id) = sstable_id(&name) else {
            continue;
        };
        if !live.contains(&id) {
            disk.remove(&dir.join(&name)).await?;
            removed += 1;
        }
    }
    if removed > 0 {
        disk.sync_dir(dir).await?;
    }
    Ok(removed)
}

/// A commit-log record: table id (u32 LE), key length (varint), key, encoded row.
pub(crate) fn encode_record(table: u32, key: &[u8], row: &Row) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 3 + key.len() + row.encoded_len());
    out.extend_from_slice(&table.to_le_bytes());
    put_len_prefixed(&mut out, key);
    row.encode(&mut out);
    out
}

/// Parses [`encode_record`]'s output.
pub(crate) fn decode_record(payload: &[u8]) -> Result<(u32, Vec<u8>, Row)> {
    let mut reader = Reader::new(payload, "commit-log record");
    let table_bytes = reader.bytes(4)?;
    let mut raw = [0_u8; 4];
    raw.copy_from_slice(table_bytes);
    let key = reader.len_prefixed()?.to_vec();
    let row = Row::decode(reader.rest())?;
    Ok((u32::from_le_bytes(raw), key, row))
}
