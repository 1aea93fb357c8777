//! Writes one SSTable from keys in strictly increasing order.
//!
//! The writer frames data blocks into an in-memory buffer and hands the disk its aligned
//! prefix every [`WRITE_CHUNK_BYTES`], keeping the unaligned rest: memory stays below one chunk
//! plus one block (plus the index and bloom filter, which the file needs whole at the end),
//! however large the table. [`SstableWriter::finish`] appends the meta blocks, pads with zeros
//! so the footer ends on a 4 KiB boundary, writes the footer, and syncs.
//!
//! A table holds at least one entry: `finish` on an empty writer returns
//! [`Error::Invalid`]. A failed write or sync returns the error; the caller deletes the
//! partial file (after [`SstableWriter::abort`] if `add` failed).

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::block::{frame, BlockBuilder, Compression};
use super::bloom::BloomBuilder;
use super::footer::{BlockHandle, Footer, Properties, FOOTER_BYTES};
use super::{
    BLOCK_BYTES_MAX, BLOCK_BYTES_MIN, BLOOM_BITS_PER_KEY_MAX, BLOOM_BITS_PER_KEY_MIN,
    DATA_BLOCK_PAYLOAD_BYTES_MAX, KEY_BYTES_MAX, META_BLOCK_BYTES_MAX, PROPERTIES_USER_BYTES_MAX,
    VALUE_BYTES_MAX, WRITE_CHUNK_BYTES,
};
use crate::error::{Error, Result};
use crate::io::{align_down, align_up, Disk, DiskFile, OpenMode};

/// How a table is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SstableOptions {
    /// Target uncompressed data block size. Smaller blocks make point reads cheaper and the
    /// index larger. [`BLOCK_BYTES_MIN`] to [`BLOCK_BYTES_MAX`]; default 4096.
    pub block_bytes: usize,
    /// Bloom filter bits per key: 10 gives ~1 % false positives.
    /// [`BLOOM_BITS_PER_KEY_MIN`] to [`BLOOM_BITS_PER_KEY_MAX`]; default 10.
    pub bloom_bits_per_key: u32,
    /// Data and index block compression; default lz4.
    pub compression: Compression,
}

impl Default for SstableOptions {
    fn default() -> Self {
        SstableOptions { block_bytes: 4096, bloom_bits_per_key: 10, compression: Compression::Lz4 }
    }
}

impl SstableOptions {
    fn validate(&self) -> Result<()> {
        if !(BLOCK_BYTES_MIN..=BLOCK_BYTES_MAX).contains(&self.block_bytes) {
            let reason = format!("block_bytes {} not in 512 B to 1 MiB", self.block_bytes);
            return Err(Error::Invalid { what: "sstable options", reason });
        }
        if !(BLOOM_BITS_PER_KEY_MIN..=BLOOM_BITS_PER_KEY_MAX).contains(&self.bloom_bits_per_key) {
            let reason = format!("bloom_bits_per_key {} not in 1 to 32", self.bloom_bits_per_key);
            return Err(Error::Invalid { what: "sstable options", reason });
        }
        Ok(())
    }
}

/// What a finished table holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SstableInfo {
    /// File length, a multiple of 4 KiB.
    pub file_bytes: u64,
    /// Number of entries.
    pub entries: u64,
    /// Smallest key.
    pub first_key: Bytes,
    /// Largest key.
    pub last_key: Bytes,
    /// Bytes of data blocks on disk (compressed, with trailers).
    pub data_bytes: u64,
}

/// Writes one table. Create with [`SstableWriter::create`], [`add`](SstableWriter::add) keys in
/// strictly increasing order, then [`finish`](SstableWriter::finish).
pub struct SstableWriter {
    file: DiskFile,
    path: PathBuf,
    options: SstableOptions,
    block: BlockBuilder,
    index: BlockBuilder,
    bloom: BloomBuilder,
    /// Bytes not yet written; they start at file offset `written_bytes`.
    pending: Vec<u8>,
    /// The aligned prefix of the file already handed to the disk.
    written_bytes: u64,
    entries: u64,
    first_key: Vec<u8>,
    last_key: Vec<u8>,
}

impl SstableWriter {
    /// Creates `path` (it must not exist) for a table of about `expected_keys` keys, which
    /// sizes the bloom filter.
    ///
    /// # Errors
    /// [`Error::Invalid`] for options out of range; the disk's error from creating the file.
    pub async fn create(
        disk: &Disk,
        path: &Path,
        options: SstableOptions,
        expected_keys: usize,
    ) -> Result<SstableWriter> {
        options.validate()?;
        let file = disk.open(path, OpenMode::CreateNew).await?;
        Ok(SstableWriter {
            file,
            path: path.to_path_buf(),
            options,
            block: BlockBuilder::default(),
            index: BlockBuilder::default(),
            bloom: BloomBuilder::new(expected_keys, options.bloom_bits_per_key),
            pending: Vec::with_capacity(WRITE_CHUNK_BYTES + options.block_bytes),
            written_bytes: 0,
            entries: 0,
            first_key: Vec::new(),
            last_key: Vec::new(),
        })
    }

    /// Appends one entry. Keys must be strictly increasing (a bug otherwise: it panics).
    ///
    /// # Errors
    /// [`Error::TooLarge`] for a key over [`KEY_BYTES_MAX`] or a value over
    /// [`VALUE_BYTES_MAX`]; the disk's error when a full chunk is written.
    pub async fn add(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if key.len() > KEY_BYTES_MAX {
            return Err(Error::TooLarge {
                what: "sstable key",
                size: key.len(),
                limit: KEY_BYTES_MAX,
            });
        }
        if value.len() > VALUE_BYTES_MAX {
            let size = value.len();
            return Err(Error::TooLarge { what: "sstable value", size, limit: VALUE_BYTES_MAX });
        }
        assert!(
            self.entries == 0 || key > self.last_key.as_slice(),
            "sstable keys must be strictly increasing: {key:?} after {:?}",
            self.last_key
        );
        if self.entries == 0 {
            self.first_key = key.to_vec();
        }
        self.bloom.add(key);
        self.block.add(key, value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.entries += 1;
        if self.block.estimated_bytes() >= self.options.block_bytes {
            self.close_block();
        }
        if self.pending.len() >= WRITE_CHUNK_BYTES {
            self.write_aligned().await?;
        }
        Ok(())
    }

    /// The offset the next appended byte will have in the file.
    fn position(&self) -> u64 {
        self.written_bytes + self.pending.len() as u64
    }

    /// Frames the current data block into `pending` and indexes it under its last key.
    fn close_block(&mut self) {
        let payload = self.block.finish();
        assert!(payload.len() <= DATA_BLOCK_PAYLOAD_BYTES_MAX, "data block over its limit");
        let offset = self.position();
        let len = frame(&payload, self.options.compression, &mut self.pending);
        let len = u32::try_from(len).expect("framed data block fits u32");
        let mut handle = Vec::with_capacity(12);
        BlockHandle { offset, len }.encode_to(&mut handle);
        self.index.add(&self.last_key, &handle);
    }

    /// Writes the aligned prefix of `pending` and keeps the rest.
    async fn write_aligned(&mut self) -> Result<()> {
        let aligned = align_down(self.pending.len());
        if aligned == 0 {
            return Ok(());
        }
        let chunk = self.pending.get(..aligned).unwrap_or_default();
        self.file.write_at(self.written_bytes, chunk).await?;
        self.pending.drain(..aligned);
        self.written_bytes += aligned as u64;
        Ok(())
    }

    /// Writes the rest of the table, syncs and closes it.
    ///
    /// # Errors
    /// [`Error::Invalid`] if no entry was added; [`Error::TooLarge`] for `properties` over
    /// [`PROPERTIES_USER_BYTES_MAX`] or an index over [`META_BLOCK_BYTES_MAX`]; the disk's
    /// error from writing, syncing or closing. The file is closed in every case.
    pub async fn finish(mut self, properties: &[u8]) -> Result<SstableInfo> {
        let written = match self.write_tail(properties).await {
            Ok(info) => self.file.fdatasync().await.map(|()| info),
            Err(error) => Err(error),
        };
        match written {
            Ok(info) => {
                self.file.close().await?;
                Ok(info)
            }
            Err(error) => {
                // The write error is what the caller needs; a close error would hide it.
                let _closed = self.file.close().await;
                Err(error)
            }
        }
    }

    /// Closes the file of a table that will not be finished (the caller deletes it).
    ///
    /// # Errors
    /// The disk's error from closing.
    pub async fn abort(self) -> Result<()> {
        self.file.close().await
    }

    /// Appends the last block, the meta blocks, the padding and the footer, and writes them.
    async fn write_tail(&mut self, user: &[u8]) -> Result<SstableInfo> {
        if self.entries == 0 {
            let reason = "a table needs at least one entry".to_string();
            return Err(Error::Invalid { what: "sstable", reason });
        }
        if user.len() > PROPERTIES_USER_BYTES_MAX {
            let (size, limit) = (user.len(), PROPERTIES_USER_BYTES_MAX);
            return Err(Error::TooLarge { what: "sstable properties", size, limit });
        }
        if !self.block.is_empty() {
            self.close_block();
        }
        let data_bytes = self.position();
        let index_payload = self.index.finish();
        if index_payload.len() > META_BLOCK_BYTES_MAX {
            let (size, limit) = (index_payload.len(), META_BLOCK_BYTES_MAX);
            return Err(Error::TooLarge { what: "sstable index", size, limit });
        }
        let index = self.append_meta(&index_payload, self.options.compression);
        let bloom_payload = std::mem::replace(&mut self.bloom, BloomBuilder::new(0, 1)).finish();
        let bloom = self.append_meta(&bloom_payload, Compression::None);
        let info = SstableInfo {
            file_bytes: 0,
            entries: self.entries,
            first_key: Bytes::from(std::mem::take(&mut self.first_key)),
            last_key: Bytes::copy_from_slice(&self.last_key),
            data_bytes,
        };
        let properties_payload = Properties {
            entries: info.entries,
            data_bytes,
            first_key: info.first_key.clone(),
            last_key: info.last_key.clone(),
            user: Bytes::copy_from_slice(user),
        }
        .encode();
        let properties = self.append_meta(&properties_payload, Compression::None);
        let file_bytes = align_up(self.position() as usize + FOOTER_BYTES) as u64;
        let padding = (file_bytes - self.position()) as usize - FOOTER_BYTES;
        self.pending.resize(self.pending.len() + padding, 0);
        self.pending.extend_from_slice(&Footer { index, bloom, properties }.encode());
        assert_eq!(self.position(), file_bytes, "footer ends the aligned file");
        self.write_aligned().await?;
        assert!(self.pending.is_empty(), "the whole table was written");
        Ok(SstableInfo { file_bytes, ..info })
    }

    /// Frames a meta block into `pending` and returns its handle.
    fn append_meta(&mut self, payload: &[u8], compression: Compression) -> BlockHandle {
        let offset = self.position();
        let len = frame(payload, compression, &mut self.pending);
        BlockHandle { offset, len: u32::try_from(len).expect("meta block fits u32") }
    }

    /// The path being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Entries added so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Bytes the table will take at least (written plus buffered), for size-based splitting.
    pub fn estimated_file_bytes(&self) -> u64 {
        self.position() + self.block.estimated_bytes() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{FaultOp, IO_ALIGN};
    use crate::runtime::run_test;

    fn path() -> PathBuf {
        PathBuf::from("/mem/1.sst")
    }

    #[test]
    fn options_out_of_range_are_refused() {
        run_test(|| async {
            let disk = Disk::memory();
            let options = SstableOptions { block_bytes: 10, ..SstableOptions::default() };
            let err = SstableWriter::create(&disk, &path(), options, 1).await.err().unwrap();
            assert!(matches!(err, Error::Invalid { .. }), "{err}");
            let options = SstableOptions { bloom_bits_per_key: 0, ..SstableOptions::default() };
            assert!(SstableWriter::create(&disk, &path(), options, 1).await.is_err());
        });
    }

    #[test]
    fn an_empty_table_is_refused() {
        run_test(|| async {
            let disk = Disk::memory();
            let writer = SstableWriter::create(&disk, &path(), SstableOptions::default(), 0).await;
            let err = writer.unwrap().finish(b"").await.unwrap_err();
            assert!(matches!(err, Error::Invalid { .. }), "{err}");
        });
    }

    #[test]
    // The executor thread's panic message does not reach this thread; the assertion names
    // the keys ("strictly increasing").
    #[should_panic]
    fn keys_out_of_order_panic() {
        run_test(|| async {
            let disk = Disk::memory();
            let mut writer =
                SstableWriter::create(&disk, &path(), SstableOptions::default(), 2).await.unwrap();
            writer.add(b"b", b"").await.unwrap();
            writer.add(b"a", b"").await.unwrap();
        });
    }

    #[test]
    fn memory_stays_bounded_and_the_file_is_aligned() {
        run_test(|| async {
            let disk = Disk::memory();
            let options = SstableOptions { compression: Compression::None, ..Default::default() };
            let mut writer = SstableWriter::create(&disk, &path(), options, 20_000).await.unwrap();
            for i in 0..20_000_u32 {
                writer.add(&i.to_be_bytes(), &[7; 100]).await.unwrap();
                assert!(writer.pending.len() < WRITE_CHUNK_BYTES + 2 * options.block_bytes);
            }
            assert!(writer.written_bytes >= 1 << 20, "chunks went to disk on the way");
            let info = writer.finish(b"p").await.unwrap();
            assert_eq!(info.file_bytes % IO_ALIGN as u64, 0);
            assert_eq!(disk.as_memory().unwrap().file_len(&path()), Some(info.file_bytes));
            assert_eq!((info.entries, &info.first_key[..]), (20_000, &[0, 0, 0, 0][..]));
        });
    }

    #[test]
    fn failed_writes_and_syncs_are_returned() {
        run_test(|| async {
            let disk = Disk::memory();
            let mem = disk.as_memory().unwrap().clone();
            let mut writer =
                SstableWriter::create(&disk, &path(), SstableOptions::default(), 1).await.unwrap();
            writer.add(b"k", b"v").await.unwrap();
            mem.fail_after(FaultOp::Sync, 0);
            assert!(matches!(writer.finish(b"").await, Err(Error::Io { op: "fdatasync", .. })));
            let other = PathBuf::from("/mem/2.sst");
            let options = SstableOptions { compression: Compression::None, ..Default::default() };
            let mut writer = SstableWriter::create(&disk, &other, options, 1).await.unwrap();
            mem.fail_after(FaultOp::Write, 0);
            let big = vec![1_u8; 1 << 20];
            let mut result = Ok(());
            for i in 0..4_u8 {
                result = result.and(writer.add(&[i], &big).await);
            }
            assert!(matches!(result, Err(Error::Io { op: "write_at", .. })), "{result:?}");
            writer.abort().await.unwrap();
        });
    }

    #[test]
    fn oversized_keys_and_values_are_refused() {
        run_test(|| async {
            let disk = Disk::memory();
            let mut writer =
                SstableWriter::create(&disk, &path(), SstableOptions::default(), 1).await.unwrap();
            let key = vec![0_u8; KEY_BYTES_MAX + 1];
            assert!(matches!(writer.add(&key, b"").await, Err(Error::TooLarge { .. })));
            let value = vec![0_u8; VALUE_BYTES_MAX + 1];
            assert!(matches!(writer.add(b"k", &value).await, Err(Error::TooLarge { .. })));
        });
    }
}
