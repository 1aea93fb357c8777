//! Reads one SSTable: opens it (footer, index, bloom filter and properties into memory, every
//! checksum verified), answers point lookups and hands out iterators.
//!
//! [`Sstable`] is a cheap-to-clone handle (an `Rc`) used by one core. Data blocks are read on
//! demand through the core's [`BlockCache`]: a miss reads the block with one `read_at`,
//! checks its crc32c (a mismatch is [`Error::ChecksumMismatch`] naming the file and the
//! block's offset), decompresses and checks the payload, then caches the decoded block.

use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;

use super::block::{unframe, Block, FrameError, TRAILER_BYTES};
use super::bloom::BloomFilter;
use super::footer::{BlockHandle, Footer, FooterError, Properties, FOOTER_BYTES};
use super::iter::SstableIter;
use super::{DATA_BLOCK_PAYLOAD_BYTES_MAX, META_BLOCK_BYTES_MAX};
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::io::{Disk, DiskFile, OpenMode, IO_ALIGN};

/// An open table. Clones share the file and the in-memory metadata.
#[derive(Clone)]
pub struct Sstable {
    inner: Rc<TableInner>,
}

struct TableInner {
    file: DiskFile,
    path: PathBuf,
    table_id: u64,
    file_bytes: u64,
    index: Vec<IndexEntry>,
    /// `key_prefix` of each index entry's last key, in one contiguous array: a point
    /// lookup's binary search compares these integers and touches full keys only among
    /// entries whose prefix ties with the key's (it was 8 % of a cached GET's CPU when
    /// every probe compared key bytes behind a pointer).
    last_key_prefixes: Vec<u64>,
    index_memory_bytes: usize,
    bloom: BloomFilter,
    properties: Properties,
    cache: BlockCache,
}

/// The first 8 bytes of `key`, big-endian, zero-padded: `a <= b` implies
/// `key_prefix(a) <= key_prefix(b)`, so a sorted index has sorted prefixes.
fn key_prefix(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    for (to, from) in bytes.iter_mut().zip(key) {
        *to = *from;
    }
    u64::from_be_bytes(bytes)
}

/// One data block as the index knows it.
struct IndexEntry {
    last_key: Bytes,
    handle: BlockHandle,
}

/// What `open` reads into memory.
struct Meta {
    file_bytes: u64,
    index: Vec<IndexEntry>,
    bloom: BloomFilter,
    properties: Properties,
}

impl fmt::Debug for Sstable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sstable")
            .field("table_id", &self.inner.table_id)
            .field("path", &self.inner.path)
            .field("entries", &self.inner.properties.entries)
            .finish()
    }
}

impl Sstable {
    /// Opens the table at `path`, known to the cache as `table_id` (unique per core).
    ///
    /// # Errors
    /// The disk's error; [`Error::Corrupt`] for a file that is not a table of this format
    /// (length, magic, version, impossible layout); [`Error::ChecksumMismatch`] for a footer
    /// or meta block whose bytes are not those written.
    pub async fn open(
        disk: &Disk,
        path: &Path,
        table_id: u64,
        cache: BlockCache,
    ) -> Result<Sstable> {
        let file = disk.open(path, OpenMode::ReadOnly).await?;
        let meta = match read_meta(&file, path).await {
            Ok(meta) => meta,
            Err(error) => {
                // The corruption is what the caller needs; a close error would hide it.
                let _closed = file.close().await;
                return Err(error);
            }
        };
        let last_key_prefixes: Vec<u64> =
            meta.index.iter().map(|entry| key_prefix(&entry.last_key)).collect();
        debug_assert!(last_key_prefixes.is_sorted(), "index keys are sorted");
        let index_memory_bytes = meta
            .index
            .iter()
            .map(|entry| entry.last_key.len() + std::mem::size_of::<IndexEntry>() + 8)
            .sum();
        let inner = TableInner {
            file,
            path: path.to_path_buf(),
            table_id,
            file_bytes: meta.file_bytes,
            index: meta.index,
            last_key_prefixes,
            index_memory_bytes,
            bloom: meta.bloom,
            properties: meta.properties,
            cache,
        };
        Ok(Sstable { inner: Rc::new(inner) })
    }

    /// The id the block cache knows this table by.
    pub fn table_id(&self) -> u64 {
        self.inner.table_id
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The file's length.
    pub fn file_bytes(&self) -> u64 {
        self.inner.file_bytes
    }

    /// Number of entries.
    pub fn entries(&self) -> u64 {
        self.inner.properties.entries
    }

    /// Smallest key.
    pub fn first_key(&self) -> &[u8] {
        &self.inner.properties.first_key
    }

    /// Largest key.
    pub fn last_key(&self) -> &[u8] {
        &self.inner.properties.last_key
    }

    /// The bytes the writer's caller passed to `finish`.
    pub fn properties(&self) -> &[u8] {
        &self.inner.properties.user
    }

    /// `false` if the bloom filter says `key` is certainly absent.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.inner.bloom.may_contain(key)
    }

    /// Memory held while the table is open: bloom filter and index.
    pub fn bloom_bytes(&self) -> usize {
        self.inner.bloom.memory_bytes() + self.inner.index_memory_bytes
    }

    /// The value stored under `key`: no I/O if the key is out of range or the bloom filter
    /// rules it out, otherwise one block read (or cache hit).
    ///
    /// # Errors
    /// The disk's error; [`Error::ChecksumMismatch`] or [`Error::Corrupt`] for a bad block.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        if key < self.first_key() || key > self.last_key() || !self.may_contain(key) {
            return Ok(None);
        }
        let block_index = self.blocks_with_last_key_below(key);
        if block_index >= self.block_count() {
            return Ok(None);
        }
        let block = self.load_block(block_index).await?;
        Ok(block.get(key))
    }

    /// An iterator over the entries within `lower` and `upper`, in increasing key order or
    /// (`reverse`) decreasing.
    pub fn iter(&self, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>, reverse: bool) -> SstableIter {
        SstableIter::new(self.clone(), lower, upper, reverse)
    }

    /// Closes the file if this is the last handle; otherwise the last clone to drop closes it.
    /// Cached blocks stay until [`BlockCache::remove_table`].
    ///
    /// # Errors
    /// The disk's error from closing.
    pub async fn close(self) -> Result<()> {
        match Rc::try_unwrap(self.inner) {
            Ok(inner) => inner.file.close().await,
            Err(_shared) => Ok(()),
        }
    }

    /// Number of data blocks.
    pub(crate) fn block_count(&self) -> usize {
        self.inner.index.len()
    }

    /// How many data blocks have a last key for which `before` holds (a prefix of them).
    pub(crate) fn blocks_before(&self, before: impl Fn(&[u8]) -> bool) -> usize {
        self.inner.index.partition_point(|entry| before(&entry.last_key))
    }

    /// How many data blocks have a last key below `key`: [`Self::blocks_before`] for a point
    /// lookup, searching the prefixes first.
    fn blocks_with_last_key_below(&self, key: &[u8]) -> usize {
        let prefixes = &self.inner.last_key_prefixes;
        let wanted = key_prefix(key);
        // Entries with a smaller prefix are below `key`, a larger one above; ties decide by
        // their whole key.
        let first_tie = prefixes.partition_point(|&p| p < wanted);
        let ties = prefixes.get(first_tie..).unwrap_or_default().partition_point(|&p| p == wanted);
        let tied = self.inner.index.get(first_tie..first_tie + ties).unwrap_or_default();
        let found = first_tie + tied.partition_point(|entry| &entry.last_key[..] < key);
        debug_assert_eq!(found, self.blocks_before(|last_key| last_key < key));
        found
    }

    /// Data block `block_index`, from the cache or the disk.
    ///
    /// # Errors
    /// The disk's error; [`Error::ChecksumMismatch`] or [`Error::Corrupt`] for a bad block.
    pub(crate) async fn load_block(&self, block_index: usize) -> Result<Rc<Block>> {
        let inner = &self.inner;
        let entry = inner.index.get(block_index).expect("block index within the table");
        let handle = entry.handle;
        if let Some(block) = inner.cache.get(inner.table_id, handle.offset) {
            return Ok(block);
        }
        let raw = read_exact(&inner.file, &inner.path, handle.offset, handle.len as usize).await?;
        let payload = unframe(&raw, DATA_BLOCK_PAYLOAD_BYTES_MAX)
            .map_err(|e| frame_error(&inner.path, handle.offset, "data block", e))?;
        let block = Block::decode(payload)
            .map_err(|r| Error::corrupt(&inner.path, handle.offset, format!("data block: {r}")))?;
        let block = Rc::new(block);
        inner.cache.insert(inner.table_id, handle.offset, block.clone());
        Ok(block)
    }

    #[cfg(test)]
    pub(crate) fn block_offsets(&self) -> Vec<u64> {
        self.inner.index.iter().map(|entry| entry.handle.offset).collect()
    }
}

/// Reads exactly `len` bytes; a short read means the file is shorter than its metadata says.
async fn read_exact(file: &DiskFile, path: &Path, offset: u64, len: usize) -> Result<Bytes> {
    let bytes = file.read_at(offset, len).await?;
    if bytes.len() != len {
        let reason = format!("short read: {} of {len} bytes", bytes.len());
        return Err(Error::corrupt(path, offset, reason));
    }
    Ok(bytes)
}

fn frame_error(path: &Path, offset: u64, what: &str, error: FrameError) -> Error {
    match error {
        FrameError::Checksum { got, expected } => {
            Error::ChecksumMismatch { path: path.to_path_buf(), offset, got, expected }
        }
        FrameError::Corrupt(reason) => Error::corrupt(path, offset, format!("{what}: {reason}")),
    }
}

/// Reads and checks the footer and the three meta blocks.
async fn read_meta(file: &DiskFile, path: &Path) -> Result<Meta> {
    let file_bytes = file.len().await?;
    if file_bytes % IO_ALIGN as u64 != 0 || file_bytes < FOOTER_BYTES as u64 {
        let reason = format!("length {file_bytes} is not whole 4 KiB pages ending in a footer");
        return Err(Error::corrupt(path, 0, reason));
    }
    let footer_offset = file_bytes - FOOTER_BYTES as u64;
    let footer_raw = read_exact(file, path, footer_offset, FOOTER_BYTES).await?;
    let footer = Footer::decode(&footer_raw).map_err(|error| match error {
        FooterError::Checksum { got, expected } => Error::ChecksumMismatch {
            path: path.to_path_buf(),
            offset: footer_offset,
            got,
            expected,
        },
        FooterError::Corrupt(reason) => Error::corrupt(path, footer_offset, reason),
    })?;
    check_layout(path, footer_offset, &footer)?;
    let meta_start = footer.index.offset;
    let meta_len = (footer.properties.end() - meta_start) as usize;
    let raw = read_exact(file, path, meta_start, meta_len).await?;
    let open = |handle: BlockHandle, what: &str| {
        let start = (handle.offset - meta_start) as usize;
        let framed = raw.slice(start..start + handle.len as usize);
        unframe(&framed, META_BLOCK_BYTES_MAX)
            .map_err(|e| frame_error(path, handle.offset, what, e))
    };
    let index = decode_index(path, footer.index, open(footer.index, "index block")?)?;
    let bloom = BloomFilter::decode(open(footer.bloom, "bloom block")?)
        .map_err(|r| Error::corrupt(path, footer.bloom.offset, format!("bloom block: {r}")))?;
    let properties_offset = footer.properties.offset;
    let properties = Properties::decode(&open(footer.properties, "properties block")?)
        .map_err(|r| Error::corrupt(path, properties_offset, format!("properties: {r}")))?;
    check_properties(path, &footer, &index, &properties)?;
    Ok(Meta { file_bytes, index, bloom, properties })
}

/// The meta blocks follow each other, then padding shorter than a page, then the footer.
fn check_layout(path: &Path, footer_offset: u64, footer: &Footer) -> Result<()> {
    let (index, bloom, properties) = (footer.index, footer.bloom, footer.properties);
    let adjacent = index.end() == bloom.offset && bloom.end() == properties.offset;
    let padded =
        properties.end() <= footer_offset && footer_offset - properties.end() < IO_ALIGN as u64;
    let framed = [index, bloom, properties].iter().all(|h| h.len as usize >= TRAILER_BYTES);
    if adjacent && padded && framed {
        return Ok(());
    }
    Err(Error::corrupt(
        path,
        footer_offset,
        format!("impossible block layout in footer {footer:?}"),
    ))
}

/// Decodes the index and checks that its blocks tile the data region from offset 0.
fn decode_index(path: &Path, handle: BlockHandle, payload: Bytes) -> Result<Vec<IndexEntry>> {
    let corrupt = |reason: String| Error::corrupt(path, handle.offset, format!("index: {reason}"));
    let block = Block::decode(payload).map_err(|r| corrupt(r.to_string()))?;
    let mut next_offset = 0;
    let mut index = Vec::new();
    for (last_key, value) in block.entries() {
        let block_handle = BlockHandle::decode(&value)
            .filter(|h| h.offset == next_offset && h.len as usize >= TRAILER_BYTES)
            .ok_or_else(|| corrupt(format!("bad handle for block {}", index.len())))?;
        next_offset = block_handle.end();
        index.push(IndexEntry { last_key, handle: block_handle });
    }
    if next_offset != handle.offset {
        return Err(corrupt(format!("data blocks end at {next_offset}, not at the index")));
    }
    Ok(index)
}

/// The properties agree with the index.
fn check_properties(
    path: &Path,
    footer: &Footer,
    index: &[IndexEntry],
    properties: &Properties,
) -> Result<()> {
    let last_matches = index.last().is_some_and(|entry| entry.last_key == properties.last_key);
    let first_fits = index.first().is_some_and(|entry| properties.first_key <= entry.last_key);
    let enough_entries = properties.entries >= index.len() as u64;
    if properties.data_bytes == footer.index.offset && last_matches && first_fits && enough_entries
    {
        return Ok(());
    }
    let reason = "properties disagree with the index (data bytes, key range or entry count)";
    Err(Error::corrupt(path, footer.properties.offset, reason))
}
