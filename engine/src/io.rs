//! The one I/O seam: every byte the engine reads or writes goes through [`Disk`] and
//! [`DiskFile`].
//!
//! Two backends sit behind it:
//! - [`Disk::glommio`]: direct I/O through glommio's `DmaFile` on io_uring. Page cache is
//!   bypassed, so the engine keeps its own block cache.
//! - [`Disk::memory`]: an in-memory disk ([`MemDisk`]) that can inject faults: EIO on read,
//!   write or fdatasync, ENOSPC past a capacity, torn writes, and a power cut that drops every
//!   byte not yet made durable by `fdatasync`. Model-based and crash tests run on both.
//!
//! # Alignment contract
//! Writes are direct: `write_at` takes an offset and a length that are both multiples of
//! [`IO_ALIGN`] (4 KiB). Both backends assert it, so a test on the memory disk catches a
//! writer that would fail on a real one. Reads may start and end anywhere; a read past the end
//! of the file returns the bytes that exist (a short read).
//!
//! # Directory operations
//! `rename` is atomic. On the memory disk, creating, renaming and removing files are durable at
//! once (as on a journaling file system after `sync_dir`); the real backend calls `fsync` on the
//! directory in [`Disk::sync_dir`], which callers use after every create, rename or remove that
//! must survive a crash.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;

use crate::error::{Error, Result};

mod mem;

pub use mem::{FaultOp, MemDisk, MemFile};

/// Alignment of every direct write: offsets and lengths are multiples of this.
pub const IO_ALIGN: usize = 4096;

/// Rounds `n` up to a multiple of [`IO_ALIGN`].
pub const fn align_up(n: usize) -> usize {
    n.div_ceil(IO_ALIGN) * IO_ALIGN
}

/// Rounds `n` down to a multiple of [`IO_ALIGN`].
pub const fn align_down(n: usize) -> usize {
    n / IO_ALIGN * IO_ALIGN
}

/// How to open a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Create a new file; fail if it exists.
    CreateNew,
    /// Open an existing file for reading and writing.
    ReadWrite,
    /// Open an existing file for reading only.
    ReadOnly,
}

/// A file system: a directory tree of files on one backend. Cheap to clone.
#[derive(Clone)]
pub enum Disk {
    /// Direct I/O through glommio.
    Glommio,
    /// The in-memory disk with fault injection.
    Memory(MemDisk),
}

/// An open file. Not shared between cores.
pub enum DiskFile {
    /// A glommio `DmaFile`.
    Glommio(GlommioFile),
    /// A file on the memory disk.
    Memory(MemFile),
}

impl Disk {
    /// The real disk, through glommio's direct I/O.
    pub fn glommio() -> Disk {
        Disk::Glommio
    }

    /// A fresh, empty memory disk.
    pub fn memory() -> Disk {
        Disk::Memory(MemDisk::default())
    }

    /// The memory disk behind this handle, for tests that inject faults.
    pub fn as_memory(&self) -> Option<&MemDisk> {
        match self {
            Disk::Memory(mem) => Some(mem),
            Disk::Glommio => None,
        }
    }

    /// Opens `path` as `mode` says.
    ///
    /// # Errors
    /// The backend's error: not found, exists already, permission, ENOSPC, injected faults.
    pub async fn open(&self, path: &Path, mode: OpenMode) -> Result<DiskFile> {
        match self {
            Disk::Glommio => GlommioFile::open(path, mode).await.map(DiskFile::Glommio),
            Disk::Memory(mem) => mem.open(path, mode).map(DiskFile::Memory),
        }
    }

    /// Renames `from` to `to` atomically, replacing `to` if it exists.
    ///
    /// # Errors
    /// The backend's error.
    pub async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        match self {
            Disk::Glommio => {
                glommio::io::rename(from, to).await.map_err(|e| Error::io("rename", from, e.into()))
            }
            Disk::Memory(mem) => mem.rename(from, to),
        }
    }

    /// Removes a file.
    ///
    /// # Errors
    /// The backend's error (a missing file is an error).
    pub async fn remove(&self, path: &Path) -> Result<()> {
        match self {
            Disk::Glommio => {
                glommio::io::remove(path).await.map_err(|e| Error::io("remove", path, e.into()))
            }
            Disk::Memory(mem) => mem.remove(path),
        }
    }

    /// The names of the files directly inside `dir`, sorted.
    ///
    /// # Errors
    /// The backend's error.
    pub async fn list(&self, dir: &Path) -> Result<Vec<String>> {
        match self {
            Disk::Glommio => {
                let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
                let mut names = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(|e| Error::io("list", dir, e))?;
                    if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                        names.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
                names.sort();
                Ok(names)
            }
            Disk::Memory(mem) => Ok(mem.list(dir)),
        }
    }

    /// Creates `dir` and its parents.
    ///
    /// # Errors
    /// The backend's error.
    pub async fn create_dir_all(&self, dir: &Path) -> Result<()> {
        match self {
            Disk::Glommio => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io("create_dir_all", dir, e))
            }
            Disk::Memory(_) => Ok(()),
        }
    }

    /// Makes the directory's entries (creates, renames, removes) durable.
    ///
    /// # Errors
    /// The backend's error.
    pub async fn sync_dir(&self, dir: &Path) -> Result<()> {
        match self {
            Disk::Glommio => {
                let file = std::fs::File::open(dir).map_err(|e| Error::io("sync_dir", dir, e))?;
                file.sync_all().map_err(|e| Error::io("sync_dir", dir, e))
            }
            Disk::Memory(mem) => mem.check_fault(FaultOp::Sync, dir),
        }
    }

    /// Works around glommio 0.9's io-poll probe on devices without poll queues.
    ///
    /// glommio decides once per block device whether polled I/O works, by reading the first
    /// block of the first `DmaFile` it opens there. If that file is empty the probe "succeeds"
    /// and every later direct read on the device fails with EOPNOTSUPP. Opening a non-empty
    /// file first makes the probe see the truth. Call before any other file is opened on
    /// `dir`'s device (`../shared/NOTES.md`).
    ///
    /// # Errors
    /// The backend's error.
    pub async fn prime_io_probe(&self, dir: &Path) -> Result<()> {
        let Disk::Glommio = self else { return Ok(()) };
        let path = dir.join("io-probe");
        std::fs::write(&path, vec![0x5a_u8; IO_ALIGN]).map_err(|e| Error::io("write", &path, e))?;
        let file = self.open(&path, OpenMode::ReadOnly).await?;
        let head = file.read_at(0, IO_ALIGN).await?;
        assert_eq!(head.len(), IO_ALIGN, "io probe file must read back whole");
        file.close().await
    }
}

impl DiskFile {
    /// The path the file was opened with.
    pub fn path(&self) -> &Path {
        match self {
            DiskFile::Glommio(f) => &f.path,
            DiskFile::Memory(f) => &f.path,
        }
    }

    /// Reads up to `len` bytes at `offset`; fewer only at the end of the file.
    ///
    /// # Errors
    /// The backend's error, naming this file.
    pub async fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        match self {
            DiskFile::Glommio(f) => f.read_at(offset, len).await,
            DiskFile::Memory(f) => f.read_at(offset, len),
        }
    }

    /// Writes `data` at `offset`. Both must be multiples of [`IO_ALIGN`].
    ///
    /// # Errors
    /// The backend's error; ENOSPC becomes [`Error::DiskFull`].
    pub async fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        assert!(offset.is_multiple_of(IO_ALIGN as u64), "unaligned write offset {offset}");
        assert!(data.len().is_multiple_of(IO_ALIGN), "unaligned write length {}", data.len());
        match self {
            DiskFile::Glommio(f) => f.write_at(offset, data).await,
            DiskFile::Memory(f) => f.write_at(offset, data),
        }
    }

    /// Makes every byte written so far durable.
    ///
    /// # Errors
    /// The backend's error. After a failed fdatasync the written pages may be lost: the caller
    /// must not retry as if nothing happened.
    pub async fn fdatasync(&self) -> Result<()> {
        match self {
            DiskFile::Glommio(f) => {
                f.file.fdatasync().await.map_err(|e| Error::io("fdatasync", &f.path, e.into()))
            }
            DiskFile::Memory(f) => f.fdatasync(),
        }
    }

    /// The file's length in bytes.
    ///
    /// # Errors
    /// The backend's error.
    pub async fn len(&self) -> Result<u64> {
        match self {
            DiskFile::Glommio(f) => {
                f.file.file_size().await.map_err(|e| Error::io("file_size", &f.path, e.into()))
            }
            DiskFile::Memory(f) => Ok(f.len()),
        }
    }

    /// Cuts the file to `len` bytes (used to drop a torn commit-log tail).
    ///
    /// # Errors
    /// The backend's error.
    pub async fn truncate(&self, len: u64) -> Result<()> {
        match self {
            DiskFile::Glommio(f) => {
                f.file.truncate(len).await.map_err(|e| Error::io("truncate", &f.path, e.into()))
            }
            DiskFile::Memory(f) => f.truncate(len),
        }
    }

    /// Closes the file.
    ///
    /// # Errors
    /// The backend's error.
    pub async fn close(self) -> Result<()> {
        match self {
            DiskFile::Glommio(f) => {
                let path = f.path;
                f.file.close().await.map_err(|e| Error::io("close", &path, e.into()))
            }
            DiskFile::Memory(_) => Ok(()),
        }
    }
}

/// A glommio `DmaFile` and the path it was opened with.
pub struct GlommioFile {
    file: glommio::io::DmaFile,
    path: PathBuf,
    /// Aligned buffers of past writes, kept for later writes of the same length. A commit
    /// log writes batches of a few recurring page counts; allocating each one afresh cost
    /// page faults (zeroing freshly mapped pages, huge pages included) on every batch.
    spare: RefCell<Vec<glommio::io::DmaBuffer>>,
}

/// Buffers a file keeps for reuse, and the largest it keeps.
const SPARE_BUFFERS_MAX: usize = 8;
const SPARE_BUFFER_BYTES_MAX: usize = 256 << 10;

impl GlommioFile {
    async fn open(path: &Path, mode: OpenMode) -> Result<GlommioFile> {
        let mut options = glommio::io::OpenOptions::new();
        match mode {
            // Read and write: `DmaFile::create` opens write-only and later reads fail (EBADF).
            OpenMode::CreateNew => options.read(true).write(true).create_new(true),
            OpenMode::ReadWrite => options.read(true).write(true),
            OpenMode::ReadOnly => options.read(true),
        };
        let file = options.dma_open(path).await.map_err(|e| Error::io("open", path, e.into()))?;
        Ok(GlommioFile { file, path: path.to_path_buf(), spare: RefCell::default() })
    }

    async fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        // glommio's unaligned `read_at` reports `len` bytes even when the file ends sooner
        // (0.9 clamps against the aligned read, not the caller's window), so read aligned
        // and cut the window out ourselves.
        let start = offset / IO_ALIGN as u64 * IO_ALIGN as u64;
        let skip = usize::try_from(offset - start).expect("skip below IO_ALIGN");
        let span = align_up(skip + len);
        let result = self
            .file
            .read_at_aligned(start, span)
            .await
            .map_err(|e| Error::io("read_at", &self.path, e.into()))?;
        let end = (skip + len).min(result.len());
        Ok(Bytes::copy_from_slice(result.get(skip.min(end)..end).unwrap_or_default()))
    }

    async fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        let mut written = 0;
        while written < data.len() {
            let rest = data.get(written..).unwrap_or_default();
            let mut buffer = self.buffer_of_len(rest.len());
            buffer.as_bytes_mut().copy_from_slice(rest);
            let buffer = Rc::new(buffer);
            let result = self.file.write_rc_at(buffer.clone(), offset + written as u64).await;
            // The write's own reference is gone once it completed.
            if let Ok(buffer) = Rc::try_unwrap(buffer) {
                self.keep(buffer);
            }
            let n = result.map_err(|e| Error::io("write_at", &self.path, e.into()))?;
            if n == 0 {
                let zero = io::Error::new(io::ErrorKind::WriteZero, "direct write wrote 0 bytes");
                return Err(Error::io("write_at", &self.path, zero));
            }
            // A short direct write still ends on an alignment boundary on Linux; assert it so
            // the retry below never issues an unaligned write.
            assert!(n % IO_ALIGN == 0 || written + n == data.len(), "unaligned short write {n}");
            written += n;
        }
        Ok(())
    }

    /// A spare buffer of exactly `len` bytes, or a new one. Its bytes are stale: the caller
    /// overwrites all of them.
    fn buffer_of_len(&self, len: usize) -> glommio::io::DmaBuffer {
        let mut spare = self.spare.borrow_mut();
        match spare.iter().position(|b| b.len() == len) {
            Some(at) => spare.swap_remove(at),
            None => self.file.alloc_dma_buffer(len),
        }
    }

    fn keep(&self, buffer: glommio::io::DmaBuffer) {
        if buffer.len() > SPARE_BUFFER_BYTES_MAX {
            return;
        }
        let mut spare = self.spare.borrow_mut();
        if spare.len() >= SPARE_BUFFERS_MAX {
            spare.remove(0);
        }
        spare.push(buffer);
        debug_assert!(spare.len() <= SPARE_BUFFERS_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: std::future::Future<Output = ()> + 'static>(f: impl FnOnce() -> F + Send + 'static) {
        crate::runtime::run_test(f);
    }

    async fn conformance(disk: Disk, dir: PathBuf) {
        disk.create_dir_all(&dir).await.unwrap();
        disk.prime_io_probe(&dir).await.unwrap();
        let path = dir.join("a.dat");
        let file = disk.open(&path, OpenMode::CreateNew).await.unwrap();
        let mut page = vec![7_u8; IO_ALIGN * 2];
        page[5000] = 9;
        file.write_at(0, &page).await.unwrap();
        file.fdatasync().await.unwrap();
        assert_eq!(file.len().await.unwrap(), (IO_ALIGN * 2) as u64);
        let got = file.read_at(4999, 3).await.unwrap();
        assert_eq!(&got[..], &[7, 9, 7]);
        let short = file.read_at(8190, 100).await.unwrap();
        assert_eq!(short.len(), 2, "a read past the end is short");
        file.close().await.unwrap();
        let renamed = dir.join("b.dat");
        disk.rename(&path, &renamed).await.unwrap();
        disk.sync_dir(&dir).await.unwrap();
        let names = disk.list(&dir).await.unwrap();
        assert!(names.contains(&"b.dat".to_string()) && !names.contains(&"a.dat".to_string()));
        let again = disk.open(&renamed, OpenMode::ReadOnly).await.unwrap();
        assert_eq!(again.read_at(0, 1).await.unwrap()[0], 7);
        again.close().await.unwrap();
        disk.remove(&renamed).await.unwrap();
        assert!(disk.open(&renamed, OpenMode::ReadOnly).await.is_err());
    }

    #[test]
    fn conformance_on_glommio() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        run(move || conformance(Disk::glommio(), path));
    }

    #[test]
    fn conformance_on_memory() {
        run(|| conformance(Disk::memory(), PathBuf::from("/mem")));
    }

    /// Writes of one length reuse one buffer (see `GlommioFile::spare`): each must still
    /// write its own bytes, whatever the buffer held before.
    #[test]
    fn reused_write_buffers_write_the_new_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        run(move || async move {
            let disk = Disk::glommio();
            disk.prime_io_probe(&path).await.unwrap();
            let file = disk.open(&path.join("f"), OpenMode::CreateNew).await.unwrap();
            for round in 0..20u8 {
                let page = vec![round; IO_ALIGN];
                file.write_at(u64::from(round % 4) * IO_ALIGN as u64, &page).await.unwrap();
                // A two-page write in between, so buffers of two lengths circulate.
                file.write_at(4 * IO_ALIGN as u64, &vec![round ^ 0xff; IO_ALIGN * 2])
                    .await
                    .unwrap();
            }
            for slot in 0..4u8 {
                let got = file.read_at(u64::from(slot) * IO_ALIGN as u64, IO_ALIGN).await.unwrap();
                let last = 16 + slot;
                assert!(got.iter().all(|b| *b == last), "page {slot} holds round {last}'s bytes");
            }
            let pair = file.read_at(4 * IO_ALIGN as u64, IO_ALIGN * 2).await.unwrap();
            assert!(pair.iter().all(|b| *b == 19 ^ 0xff));
        });
    }

    /// The io-poll probe pitfall of `../shared/NOTES.md`: once primed, direct reads work on
    /// this machine's disk. Without the priming an empty first file would break every read.
    #[test]
    fn direct_reads_work_after_priming() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        run(move || async move {
            let disk = Disk::glommio();
            disk.prime_io_probe(&path).await.unwrap();
            let empty = disk.open(&path.join("empty"), OpenMode::CreateNew).await.unwrap();
            assert_eq!(empty.read_at(0, 10).await.unwrap().len(), 0);
            empty.write_at(0, &[1_u8; IO_ALIGN]).await.unwrap();
            empty.fdatasync().await.unwrap();
            assert_eq!(empty.read_at(0, IO_ALIGN).await.unwrap().len(), IO_ALIGN);
        });
    }

    #[test]
    fn power_cut_drops_unsynced_bytes() {
        run(|| async {
            let disk = Disk::memory();
            let path = PathBuf::from("/mem/f");
            let file = disk.open(&path, OpenMode::CreateNew).await.unwrap();
            file.write_at(0, &[1; IO_ALIGN]).await.unwrap();
            file.fdatasync().await.unwrap();
            file.write_at(IO_ALIGN as u64, &[2; IO_ALIGN]).await.unwrap();
            disk.as_memory().unwrap().power_cut();
            assert_eq!(file.len().await.unwrap(), IO_ALIGN as u64);
        });
    }

    #[test]
    fn injected_faults_fire_once() {
        run(|| async {
            let disk = Disk::memory();
            let mem = disk.as_memory().unwrap().clone();
            let file = disk.open(Path::new("/mem/f"), OpenMode::CreateNew).await.unwrap();
            mem.fail_after(FaultOp::Sync, 1);
            file.fdatasync().await.unwrap();
            assert!(file.fdatasync().await.is_err());
            file.fdatasync().await.unwrap();
            mem.set_capacity(Some(IO_ALIGN as u64));
            file.write_at(0, &[1; IO_ALIGN]).await.unwrap();
            let full = file.write_at(IO_ALIGN as u64, &[1; IO_ALIGN]).await.unwrap_err();
            assert!(matches!(full, Error::DiskFull { .. }), "{full}");
            mem.tear_next_write(100);
            mem.set_capacity(None);
            assert!(file.write_at(0, &[3; IO_ALIGN]).await.is_err());
            let head = file.read_at(0, IO_ALIGN).await.unwrap();
            assert_eq!((head[99], head[100]), (3, 1), "torn write kept only its prefix");
        });
    }
}
