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
//! # Recycling
//! A spare is a fully written old segment renamed to a future name: overwriting allocated
//! blocks needs no metadata update at each fdatasync. Before the rename its first page is
//! zeroed and synced, so a spare left by a crash reads as an empty segment, never as garbage.

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

/// A recycled segment file waiting under its future name.
#[derive(Debug)]
pub struct Spare {
    /// The sequence number its name carries.
    pub seq: u64,
    /// Its path.
    pub path: PathBuf,
    /// Its length: bytes of its previous life lie up to here.
    pub stale_len: u64,
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
    /// Creates segment `seq` in `dir` and makes its directory entry durable.
    ///
    /// # Errors
    /// The disk's error (the file existing already is one).
    pub async fn create(disk: &Disk, dir: &Path, seq: u64) -> Result<ActiveSegment> {
        let file = disk.open(&segment_path(dir, seq), OpenMode::CreateNew).await?;
        disk.sync_dir(dir).await?;
        Ok(ActiveSegment { seq, file: Rc::new(file), data_end: 0, tail: Vec::new(), stale_len: 0 })
    }

    /// Opens a spare to be written from its start.
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
    use crate::runtime::run_test;

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
            let mut active = ActiveSegment::create(&disk, &dir, 1).await.unwrap();
            assert_eq!(active.write_and_sync(&[1; 100]).await.unwrap(), IO_ALIGN);
            assert_eq!(active.write_and_sync(&[2; IO_ALIGN]).await.unwrap(), 2 * IO_ALIGN);
            let file = disk.open(&segment_path(&dir, 1), OpenMode::ReadOnly).await.unwrap();
            let bytes = file.read_at(0, 3 * IO_ALIGN).await.unwrap();
            assert_eq!(bytes.len(), 2 * IO_ALIGN);
            assert_eq!((bytes[99], bytes[100], bytes[4195], bytes[4196]), (1, 2, 2, 0));
        });
    }

    #[test]
    fn recycled_file_gets_an_end_marker_after_an_aligned_end() {
        run_test(|| async {
            let disk = Disk::memory();
            let dir = PathBuf::from("/mem/seg");
            let mut old = ActiveSegment::create(&disk, &dir, 1).await.unwrap();
            old.write_and_sync(&[9; 4 * IO_ALIGN]).await.unwrap();
            old.close().await.unwrap();
            let spare = recycle(&disk, &segment_path(&dir, 1), &dir, 5).await.unwrap();
            assert_eq!(spare.stale_len, 4 * IO_ALIGN as u64);
            let mut active = ActiveSegment::reuse(&disk, spare).await.unwrap();
            assert_eq!(active.write_and_sync(&[3; IO_ALIGN]).await.unwrap(), 2 * IO_ALIGN);
            let file = disk.open(&segment_path(&dir, 5), OpenMode::ReadOnly).await.unwrap();
            let page = file.read_at(IO_ALIGN as u64, IO_ALIGN).await.unwrap();
            assert!(page.iter().all(|b| *b == 0), "the page after the data is zeroed");
        });
    }
}
