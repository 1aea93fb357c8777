//! Segment files: their names, the one being written, and recycling.
//!
//! A segment is `commitlog-{seq:020}.log` in the log directory. `seq` increases forever and is
//! never reused, because records are checksummed with it: a number handed out twice could
//! make stale bytes of its first life pass as records of its second.
//!
//! # Writing with direct I/O
//! Writes must be [`IO_ALIGN`]-aligned in offset and length, so [`ActiveSegment`] keeps the
//! last partial page of the segment in memory. Each write covers that page's start to the end
//! of the new data, padded with zeros: the zeros after the data read back as a record length
//! of 0, the end of the log.
//!
//! | file range                       | holds                                              |
//! |----------------------------------|----------------------------------------------------|
//! | `0 .. data_end`                  | records, back to back                              |
//! | `data_end .. align_up(data_end)` | zeros (the end marker)                             |
//! | beyond, in a recycled file only  | stale bytes of its previous life (old seq's crc)   |
//!
//! If `data_end` falls on a page boundary and the file is recycled, the write adds one page of
//! zeros, so the end marker never reads stale bytes (which would look like a torn record).
//!
//! # Full-length files
//! A segment is written only once its file has its full length on disk, so that every write
//! overwrites allocated blocks and each fdatasync flushes data alone, never the inode's size
//! and block map as well (on this VM's ext4 that takes a sync from ~167 to ~100 µs p50; on
//! file systems with journals the saving is a journal commit). Two kinds of file qualify:
//! - a *prepared* file: created under its future name, zero-filled and synced
//!   ([`prepare`]). Zeros read as the end of the data, so it is an empty segment at any time.
//!   The flusher keeps one ready ahead of the head (see `flusher.rs`).
//! - a *spare*: a fully written old segment renamed to a future name. Before the rename its
//!   first page is zeroed and synced, so a spare left by a crash reads as an empty segment,
//!   never as garbage.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::error::Result;
use crate::io::{align_down, align_up, Disk, DiskFile, OpenMode, IO_ALIGN};

const SEGMENT_PREFIX: &str = "commitlog-";
const SEGMENT_SUFFIX: &str = ".log";
/// Digits of the sequence number in a segment's name (enough for any `u64`).
const SEGMENT_SEQ_DIGITS: usize = 20;

/// The file name of segment `seq`.
pub fn segment_name(seq: u64) -> String {
    format!("{SEGMENT_PREFIX}{seq:0width$}{SEGMENT_SUFFIX}", width = SEGMENT_SEQ_DIGITS)
}

/// The path of segment `seq` in `dir`.
pub fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(segment_name(seq))
}

/// The sequence number in a segment's file name; `None` for any other file.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(SEGMENT_PREFIX)?.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != SEGMENT_SEQ_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, in sequence order. Other files are left alone.
///
/// # Errors
/// The disk's error.
pub async fn list_segments(disk: &Disk, dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut segments: Vec<(u64, PathBuf)> = disk
        .list(dir)
        .await?
        .iter()
        .filter_map(|name| parse_segment_name(name).map(|seq| (seq, dir.join(name))))
        .collect();
    segments.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(segments)
}

/// A full-length segment file waiting under its future name: prepared or recycled.
#[derive(Debug)]
pub struct Spare {
    /// The sequence number its name carries.
    pub seq: u64,
    /// Its path.
    pub path: PathBuf,
    /// Bytes of a recycled file's previous life lie up to here; 0 for a prepared file (all
    /// zeros, which already read as the end of the data).
    pub stale_len: u64,
}

/// Zeros written at once while preparing a file: large enough for few writes, small enough
/// that copying them into a DMA buffer stays far below a task slice.
const ZERO_WRITE_BYTES: usize = 1 << 20;

/// Creates segment `seq` in `dir` at its full length `len` of zeros, synced with its directory
/// entry: a spare for a later roll. A crash at any point leaves at most an empty segment
/// (zeros read as the end of the data), which the next open recycles.
///
/// # Errors
/// The disk's error (the file existing already is one); [`Error::DiskFull`] when the segment
/// does not fit. The file may then exist, partly written.
///
/// [`Error::DiskFull`]: crate::error::Error::DiskFull
pub async fn prepare(disk: &Disk, dir: &Path, seq: u64, len: u64) -> Result<Spare> {
    assert!(len.is_multiple_of(IO_ALIGN as u64), "segment length {len} is page-aligned");
    let path = segment_path(dir, seq);
    let file = disk.open(&path, OpenMode::CreateNew).await?;
    let zeros = vec![0; ZERO_WRITE_BYTES.min(usize::try_from(len).unwrap_or(usize::MAX))];
    let mut offset = 0;
    while offset < len {
        let n = zeros.len().min(usize::try_from(len - offset).expect("rest is below a chunk"));
        file.write_at(offset, zeros.get(..n).unwrap_or_default()).await?;
        offset += n as u64;
    }
    file.fdatasync().await?;
    file.close().await?;
    disk.sync_dir(dir).await?;
    Ok(Spare { seq, path, stale_len: 0 })
}

/// Makes `from` a spare named for segment `seq` in `dir`: zeroes its first page, syncs, and
/// renames. The caller syncs the directory after its batch of renames.
///
/// # Errors
/// The disk's error.
pub async fn recycle(disk: &Disk, from: &Path, dir: &Path, seq: u64) -> Result<Spare> {
    let file = disk.open(from, OpenMode::ReadWrite).await?;
    let stale_len = file.len().await?;
    if stale_len > 0 {
        file.write_at(0, &[0; IO_ALIGN]).await?;
        file.fdatasync().await?;
    }
    file.close().await?;
    let path = segment_path(dir, seq);
    disk.rename(from, &path).await?;
    // The zeroed first page makes even a short old file a page long.
    let stale_len = if stale_len > 0 { stale_len.max(IO_ALIGN as u64) } else { 0 };
    Ok(Spare { seq, path, stale_len })
}

/// The segment being written: its open file and the in-memory copy of its last partial page.
pub struct ActiveSegment {
    seq: u64,
    /// Shared with the fdatasyncs in flight (see the flusher); only this owner writes.
    file: Rc<DiskFile>,
    /// End of the records written so far.
    data_end: u64,
    /// The bytes of the page holding `data_end`, up to `data_end` (shorter than a page).
    tail: Vec<u8>,
    /// Length of a recycled file's previous contents; 0 for a fresh file.
    stale_len: u64,
}

impl ActiveSegment {
    /// Prepares segment `seq` in `dir` at its full length `len` (see [`prepare`]) and opens it:
    /// for a roll that finds no spare ready.
    ///
    /// # Errors
    /// As [`prepare`].
    pub async fn create(disk: &Disk, dir: &Path, seq: u64, len: u64) -> Result<ActiveSegment> {
        let spare = prepare(disk, dir, seq, len).await?;
        ActiveSegment::reuse(disk, spare).await
    }

    /// Opens a spare (prepared or recycled) to be written from its start.
    ///
    /// # Errors
    /// The disk's error.
    pub async fn reuse(disk: &Disk, spare: Spare) -> Result<ActiveSegment> {
        let file = disk.open(&spare.path, OpenMode::ReadWrite).await?;
        let stale_len = spare.stale_len;
        let file = Rc::new(file);
        Ok(ActiveSegment { seq: spare.seq, file, data_end: 0, tail: Vec::new(), stale_len })
    }

    /// The segment's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// End of the records written so far.
    pub fn data_end(&self) -> u64 {
        self.data_end
    }

    /// Writes `records` (whole framed records) after the data, with one write and one
    /// fdatasync. Returns the bytes written, padding included.
    ///
    /// # Errors
    /// The disk's error. The segment is then in an unknown state: the caller stops writing.
    #[cfg(test)]
    pub async fn write_and_sync(&mut self, records: &[u8]) -> Result<usize> {
        let written = self.write(records).await?;
        self.file.fdatasync().await?;
        Ok(written)
    }

    /// Writes `records` after the data with one write, without a sync (the caller syncs,
    /// through [`ActiveSegment::file`], before it acknowledges them). Returns the bytes
    /// written, padding included.
    ///
    /// # Errors
    /// The disk's error. The segment is then in an unknown state: the caller stops writing.
    pub async fn write(&mut self, records: &[u8]) -> Result<usize> {
        assert!(!records.is_empty(), "an empty write would only rewrite the tail page");
        let page_start = self.data_end - self.tail.len() as u64;
        assert!(page_start.is_multiple_of(IO_ALIGN as u64), "the tail page starts a page");
        let data_end = self.data_end + records.len() as u64;
        let buffer = self.page_image(records, data_end);
        self.file.write_at(page_start, &buffer).await?;
        self.data_end = data_end;
        self.keep_tail(&buffer, page_start);
        Ok(buffer.len())
    }

    /// The open file, for an fdatasync that runs while later batches are written: a sync
    /// makes durable every write that completed before it began.
    pub fn file(&self) -> Rc<DiskFile> {
        self.file.clone()
    }

    /// The bytes to write: the tail page, the records, zeros to the end of the page, and one
    /// more page of zeros where stale bytes would follow a page-aligned end.
    fn page_image(&self, records: &[u8], data_end: u64) -> Vec<u8> {
        let page_start = self.data_end - self.tail.len() as u64;
        let mut write_end = align_up(usize::try_from(data_end).expect("offset fits usize")) as u64;
        if write_end == data_end && data_end < self.stale_len {
            write_end += IO_ALIGN as u64;
        }
        let write_len = usize::try_from(write_end - page_start).expect("write fits usize");
        let mut buffer = Vec::with_capacity(write_len);
        buffer.extend_from_slice(&self.tail);
        buffer.extend_from_slice(records);
        buffer.resize(write_len, 0);
        buffer
    }

    fn keep_tail(&mut self, buffer: &[u8], page_start: u64) {
        let end = usize::try_from(self.data_end - page_start).expect("write fits usize");
        let start = align_down(end);
        self.tail.clear();
        self.tail.extend_from_slice(buffer.get(start..end).unwrap_or_default());
        assert!(self.tail.len() < IO_ALIGN);
    }

    /// Closes the file.
    ///
    /// # Errors
    /// The disk's error.
    pub async fn close(self) -> Result<()> {
        match Rc::try_unwrap(self.file) {
            Ok(file) => file.close().await,
            Err(_) => panic!("segment {} closed while an fdatasync holds it", self.seq),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::runtime::run_test;

    const SEGMENT_BYTES: u64 = 16 * IO_ALIGN as u64;

    #[test]
    fn names_round_trip_and_others_are_ignored() {
        assert_eq!(segment_name(42), "commitlog-00000000000000000042.log");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("commitlog-42.log"), None);
        assert_eq!(parse_segment_name("commitlog-0000000000000000004x.log"), None);
        assert_eq!(parse_segment_name("manifest"), None);
    }

    #[test]
    fn tail_page_is_rewritten_and_zero_padded() {
        run_test(|| async {
            let disk = Disk::memory();
            let dir = PathBuf::from("/mem/seg");
            let mut active = ActiveSegment::create(&disk, &dir, 1, SEGMENT_BYTES).await.unwrap();
            assert_eq!(active.write_and_sync(&[1; 100]).await.unwrap(), IO_ALIGN);
            assert_eq!(active.write_and_sync(&[2; IO_ALIGN]).await.unwrap(), 2 * IO_ALIGN);
            let file = disk.open(&segment_path(&dir, 1), OpenMode::ReadOnly).await.unwrap();
            assert_eq!(file.len().await.unwrap(), SEGMENT_BYTES, "the file has its full length");
            let bytes = file.read_at(0, 3 * IO_ALIGN).await.unwrap();
            assert_eq!((bytes[99], bytes[100], bytes[4195], bytes[4196]), (1, 2, 2, 0));
            assert!(bytes[2 * IO_ALIGN..].iter().all(|b| *b == 0));
        });
    }

    #[test]
    fn recycled_file_gets_an_end_marker_after_an_aligned_end() {
        run_test(|| async {
            let disk = Disk::memory();
            let dir = PathBuf::from("/mem/seg");
            let mut old = ActiveSegment::create(&disk, &dir, 1, SEGMENT_BYTES).await.unwrap();
            old.write_and_sync(&[9; 4 * IO_ALIGN]).await.unwrap();
            old.close().await.unwrap();
            let spare = recycle(&disk, &segment_path(&dir, 1), &dir, 5).await.unwrap();
            assert_eq!(spare.stale_len, SEGMENT_BYTES);
            let mut active = ActiveSegment::reuse(&disk, spare).await.unwrap();
            assert_eq!(active.write_and_sync(&[3; IO_ALIGN]).await.unwrap(), 2 * IO_ALIGN);
            let file = disk.open(&segment_path(&dir, 5), OpenMode::ReadOnly).await.unwrap();
            let page = file.read_at(IO_ALIGN as u64, IO_ALIGN).await.unwrap();
            assert!(page.iter().all(|b| *b == 0), "the page after the data is zeroed");
        });
    }

    #[test]
    fn prepared_file_is_full_length_zeros_and_durable() {
        run_test(|| async {
            let disk = Disk::memory();
            let dir = PathBuf::from("/mem/seg");
            disk.create_dir_all(&dir).await.unwrap();
            let spare = prepare(&disk, &dir, 7, SEGMENT_BYTES).await.unwrap();
            assert_eq!((spare.seq, spare.stale_len), (7, 0));
            assert_eq!(spare.path, segment_path(&dir, 7));
            disk.as_memory().unwrap().power_cut();
            let file = disk.open(&spare.path, OpenMode::ReadOnly).await.unwrap();
            let bytes = file.read_at(0, SEGMENT_BYTES as usize).await.unwrap();
            assert_eq!(bytes.len() as u64, SEGMENT_BYTES, "the zeros survive a power cut");
            assert!(bytes.iter().all(|b| *b == 0));
        });
    }

    #[test]
    fn preparing_past_the_disk_capacity_is_a_disk_full_error() {
        run_test(|| async {
            let disk = Disk::memory();
            let dir = PathBuf::from("/mem/seg");
            disk.create_dir_all(&dir).await.unwrap();
            disk.as_memory().unwrap().set_capacity(Some(SEGMENT_BYTES / 2));
            let error = prepare(&disk, &dir, 1, SEGMENT_BYTES).await.unwrap_err();
            assert!(matches!(error, Error::DiskFull { .. }), "{error}");
        });
    }
}
