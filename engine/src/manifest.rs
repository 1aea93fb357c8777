//! The manifest: which tables exist, which SSTables are live, and from where the commit log
//! must be replayed.
//!
//! The whole state is small (a few hundred bytes per table file), so every change writes a
//! complete new snapshot: `MANIFEST.tmp` is written and fdatasynced, then renamed over
//! `MANIFEST`, then the directory is synced. A crash at any moment leaves either the old file
//! or the new one, never a mix: a flush or a compaction is one snapshot, so its tables appear
//! and disappear together, never lost or duplicated. A left-over `MANIFEST.tmp` is ignored.
//!
//! # Layout (little-endian)
//! | field | width | note |
//! |---|---|---|
//! | magic `SHOALMAN` | 8 | |
//! | format version | 4 | [`MANIFEST_FORMAT_VERSION`] |
//! | payload length | 4 | |
//! | crc32c of payload | 4 | |
//! | payload | length | see [`ManifestState::encode`] |
//! | zero padding | to 4 KiB | direct I/O |

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::{align_up, Disk, OpenMode};

/// Identifies a manifest file.
const MANIFEST_MAGIC: &[u8; 8] = b"SHOALMAN";
/// Version of the layout above; a newer file is refused, never misread.
pub const MANIFEST_FORMAT_VERSION: u32 = 1;
const HEADER_BYTES: usize = 20;
/// Upper bound on the manifest's size; a larger length in a header is corruption.
pub const MANIFEST_BYTES_MAX: usize = 64 << 20;
/// File name of the live manifest.
pub const MANIFEST_NAME: &str = "MANIFEST";
const MANIFEST_TMP_NAME: &str = "MANIFEST.tmp";

/// How a table's SSTables are compacted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CompactionStrategy {
    /// Merge tables of similar size once enough gather (Cassandra's default): low write
    /// amplification, more space and more tables per read.
    #[default]
    SizeTiered,
    /// Keep levels of non-overlapping tables, each 10 × the previous: at most one table per
    /// level per read, more write amplification.
    Leveled,
}

impl CompactionStrategy {
    fn code(self) -> u8 {
        match self {
            CompactionStrategy::SizeTiered => 0,
            CompactionStrategy::Leveled => 1,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(CompactionStrategy::SizeTiered),
            1 => Some(CompactionStrategy::Leveled),
            _ => None,
        }
    }
}

/// One live SSTable as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// Unique file id; the file is `{id:020}.sst`.
    pub id: u64,
    /// Level (0 for flush output; leveled compaction uses 1..).
    pub level: u32,
    /// Size on disk.
    pub file_bytes: u64,
    /// Smallest key.
    pub first_key: Vec<u8>,
    /// Largest key.
    pub last_key: Vec<u8>,
}

/// One table's entry.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TableManifest {
    /// Its compaction strategy.
    pub strategy: CompactionStrategy,
    /// Its live SSTables.
    pub files: Vec<FileMeta>,
}

/// Everything the manifest holds.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ManifestState {
    /// The next SSTable file id to hand out.
    pub next_file_id: u64,
    /// Commit-log segments below this one are safe in SSTables; replay starts here.
    pub log_replay_segment: u64,
    /// Tables by id.
    pub tables: BTreeMap<u32, TableManifest>,
}

/// The path of SSTable `id` in `dir`.
pub fn sstable_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.sst"))
}

/// The id of an SSTable file name, if it is one.
pub fn sstable_id(name: &str) -> Option<u64> {
    name.strip_suffix(".sst")?.parse().ok()
}

impl ManifestState {
    /// Serialises the state: counts and integers little-endian, byte strings length-prefixed.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.next_file_id.to_le_bytes());
        out.extend_from_slice(&self.log_replay_segment.to_le_bytes());
        out.extend_from_slice(&(self.tables.len() as u32).to_le_bytes());
        for (id, table) in &self.tables {
            out.extend_from_slice(&id.to_le_bytes());
            out.push(table.strategy.code());
            out.extend_from_slice(&(table.files.len() as u32).to_le_bytes());
            for file in &table.files {
                out.extend_from_slice(&file.id.to_le_bytes());
                out.extend_from_slice(&file.level.to_le_bytes());
                out.extend_from_slice(&file.file_bytes.to_le_bytes());
                for key in [&file.first_key, &file.last_key] {
                    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
                    out.extend_from_slice(key);
                }
            }
        }
        out
    }

    /// Parses [`ManifestState::encode`]'s output.
    ///
    /// # Errors
    /// [`Error::Decode`] on truncated or impossible input.
    pub fn decode(bytes: &[u8]) -> Result<ManifestState> {
        let mut reader = Reader { bytes, at: 0 };
        let next_file_id = reader.u64()?;
        let log_replay_segment = reader.u64()?;
        let table_count = reader.u32()?;
        let mut tables = BTreeMap::new();
        for _ in 0..table_count {
            let id = reader.u32()?;
            let code = reader.u8()?;
            let strategy = CompactionStrategy::from_code(code)
                .ok_or_else(|| Error::decode("manifest", format!("strategy code {code}")))?;
            let file_count = reader.u32()?;
            let mut files = Vec::new();
            for _ in 0..file_count {
                let id = reader.u64()?;
                let level = reader.u32()?;
                let file_bytes = reader.u64()?;
                let first_key = reader.bytes()?;
                let last_key = reader.bytes()?;
                files.push(FileMeta { id, level, file_bytes, first_key, last_key });
            }
            tables.insert(id, TableManifest { strategy, files });
        }
        if reader.at != bytes.len() {
            return Err(Error::decode("manifest", "trailing bytes"));
        }
        Ok(ManifestState { next_file_id, log_replay_segment, tables })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.at.checked_add(n).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| Error::decode("manifest", "truncated"))?;
        let slice = self.bytes.get(self.at..end).unwrap_or_default();
        self.at = end;
        Ok(slice)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }
    fn u32(&mut self) -> Result<u32> {
        let mut raw = [0; 4];
        raw.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(raw))
    }
    fn u64(&mut self) -> Result<u64> {
        let mut raw = [0; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(raw))
    }
    fn bytes(&mut self) -> Result<Vec<u8>> {
        let len = self.u32()? as usize;
        Ok(self.take(len)?.to_vec())
    }
}

/// Loads the manifest of `dir`, or `None` if there is none yet.
///
/// # Errors
/// I/O errors; [`Error::ChecksumMismatch`] or [`Error::Corrupt`] if the file is damaged.
pub async fn load(disk: &Disk, dir: &Path) -> Result<Option<ManifestState>> {
    let names = disk.list(dir).await?;
    if !names.iter().any(|name| name == MANIFEST_NAME) {
        return Ok(None);
    }
    let path = dir.join(MANIFEST_NAME);
    let file = disk.open(&path, OpenMode::ReadOnly).await?;
    let header = file.read_at(0, HEADER_BYTES).await?;
    let fields = parse_header(&path, &header)?;
    let payload = file.read_at(HEADER_BYTES as u64, fields.0).await?;
    file.close().await?;
    if payload.len() != fields.0 {
        return Err(Error::corrupt(&path, HEADER_BYTES as u64, "payload shorter than its length"));
    }
    let got = crc32c::crc32c(&payload);
    if got != fields.1 {
        return Err(Error::ChecksumMismatch { path, offset: 0, got, expected: fields.1 });
    }
    ManifestState::decode(&payload).map(Some)
}

/// Returns (payload length, crc) after checking magic and version.
fn parse_header(path: &Path, header: &[u8]) -> Result<(usize, u32)> {
    if header.len() < HEADER_BYTES || header.get(..8) != Some(MANIFEST_MAGIC.as_slice()) {
        return Err(Error::corrupt(path, 0, "not a Shoal manifest (bad magic)"));
    }
    let word = |at: usize| {
        let mut raw = [0; 4];
        raw.copy_from_slice(header.get(at..at + 4).unwrap_or(&[0; 4]));
        u32::from_le_bytes(raw)
    };
    let version = word(8);
    if version != MANIFEST_FORMAT_VERSION {
        return Err(Error::corrupt(path, 8, format!("manifest format version {version}")));
    }
    let len = word(12) as usize;
    if len > MANIFEST_BYTES_MAX {
        return Err(Error::corrupt(path, 12, format!("manifest length {len}")));
    }
    Ok((len, word(16)))
}

/// Makes `state` the live manifest of `dir`, atomically (see the module doc).
///
/// Callers serialise stores (the engine holds its manifest lock), so snapshots land in order.
///
/// # Errors
/// I/O errors; on error the previous manifest stays live.
pub async fn store(disk: &Disk, dir: &Path, state: &ManifestState) -> Result<()> {
    let payload = state.encode();
    assert!(payload.len() <= MANIFEST_BYTES_MAX, "manifest over its limit");
    let mut bytes = Vec::with_capacity(align_up(HEADER_BYTES + payload.len()));
    bytes.extend_from_slice(MANIFEST_MAGIC);
    bytes.extend_from_slice(&MANIFEST_FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    bytes.resize(align_up(bytes.len()), 0);

    let tmp = dir.join(MANIFEST_TMP_NAME);
    if disk.list(dir).await?.iter().any(|name| name == MANIFEST_TMP_NAME) {
        disk.remove(&tmp).await?;
    }
    let file = disk.open(&tmp, OpenMode::CreateNew).await?;
    let written = async {
        file.write_at(0, &bytes).await?;
        file.fdatasync().await
    }
    .await;
    file.close().await?;
    written?;
    disk.rename(&tmp, &dir.join(MANIFEST_NAME)).await?;
    disk.sync_dir(dir).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::run_test;

    fn sample() -> ManifestState {
        let mut state =
            ManifestState { next_file_id: 9, log_replay_segment: 4, ..Default::default() };
        let file = FileMeta {
            id: 3,
            level: 1,
            file_bytes: 8192,
            first_key: b"a".to_vec(),
            last_key: b"z".to_vec(),
        };
        let table = TableManifest { strategy: CompactionStrategy::Leveled, files: vec![file] };
        state.tables.insert(7, table);
        state.tables.insert(8, TableManifest::default());
        state
    }

    #[test]
    fn store_then_load_round_trips_and_replaces() {
        run_test(|| async {
            let disk = Disk::memory();
            let dir = PathBuf::from("/mem/db");
            assert_eq!(load(&disk, &dir).await.unwrap(), None);
            store(&disk, &dir, &ManifestState::default()).await.unwrap();
            store(&disk, &dir, &sample()).await.unwrap();
            assert_eq!(load(&disk, &dir).await.unwrap(), Some(sample()));
        });
    }

    #[test]
    fn a_failed_store_leaves_the_old_manifest() {
        run_test(|| async {
            let disk = Disk::memory();
            let mem = disk.as_memory().unwrap().clone();
            let dir = PathBuf::from("/mem/db");
            store(&disk, &dir, &ManifestState::default()).await.unwrap();
            mem.fail_after(crate::io::FaultOp::Sync, 0);
            assert!(store(&disk, &dir, &sample()).await.is_err());
            mem.power_cut();
            assert_eq!(load(&disk, &dir).await.unwrap(), Some(ManifestState::default()));
        });
    }

    #[test]
    fn a_flipped_bit_is_detected() {
        run_test(|| async {
            let disk = Disk::memory();
            let dir = PathBuf::from("/mem/db");
            store(&disk, &dir, &sample()).await.unwrap();
            disk.as_memory().unwrap().flip_bit(&dir.join(MANIFEST_NAME), 30);
            let err = load(&disk, &dir).await.unwrap_err();
            assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err}");
        });
    }

    #[test]
    fn truncated_payloads_are_errors_not_panics() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert!(ManifestState::decode(&bytes[..cut]).is_err());
        }
    }
}
