//! The memory disk: files in memory with injectable faults (EIO on read, write or sync, a
//! capacity that gives ENOSPC, torn writes, failing files by name) and a power cut that drops
//! every byte not yet made durable by `fdatasync`. Tests keep a [`MemDisk`] handle to inject
//! faults while the engine uses the same disk through [`super::Disk::Memory`].

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;

use super::OpenMode;
use crate::error::{Error, Result};

/// Which operation a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOp {
    /// `read_at`.
    Read,
    /// `write_at`.
    Write,
    /// `fdatasync` and `sync_dir`.
    Sync,
}

/// One file of the memory disk: what the process sees, and what a power cut would leave.
#[derive(Default)]
struct MemInode {
    data: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Default)]
struct MemState {
    files: BTreeMap<PathBuf, Rc<RefCell<MemInode>>>,
    /// Operations that fail with EIO, each after `n` more successful calls.
    failures: Vec<(FaultOp, u64)>,
    /// Total bytes the disk holds; a write that would pass it fails with ENOSPC.
    capacity_bytes: Option<u64>,
    /// The next write stores only this many bytes of its data, then fails with EIO.
    torn_write_bytes: Option<usize>,
    /// Every operation fails with EIO (a dead disk).
    dead: bool,
    /// Writes to files whose name ends with this fail with EIO (a bad region of the disk).
    failing_suffix: Option<String>,
}

/// The in-memory disk. Clones share one state, so a test keeps a handle to inject faults
/// while the engine uses another.
#[derive(Clone, Default)]
pub struct MemDisk {
    state: Rc<RefCell<MemState>>,
}

/// A file on the memory disk.
pub struct MemFile {
    inode: Rc<RefCell<MemInode>>,
    disk: MemDisk,
    pub(super) path: PathBuf,
    writable: bool,
}

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("injected EIO on {what}"))
}

impl MemDisk {
    /// Makes the `skip`-th next call of `op` (0 = the very next) fail with EIO.
    pub fn fail_after(&self, op: FaultOp, skip: u64) {
        self.state.borrow_mut().failures.push((op, skip));
    }

    /// Limits the disk to `bytes`; writes that would pass it fail with ENOSPC.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.state.borrow_mut().capacity_bytes = bytes;
    }

    /// The next write stores only its first `bytes` bytes, then fails with EIO.
    pub fn tear_next_write(&self, bytes: usize) {
        self.state.borrow_mut().torn_write_bytes = Some(bytes);
    }

    /// Makes every later operation fail (or succeed again with `false`).
    pub fn set_dead(&self, dead: bool) {
        self.state.borrow_mut().dead = dead;
    }

    /// Makes every write to a file whose name ends with `suffix` fail with EIO (or stop
    /// failing, with `None`): faults on one kind of file, e.g. SSTables but not the log.
    pub fn fail_writes_to(&self, suffix: Option<&str>) {
        self.state.borrow_mut().failing_suffix = suffix.map(str::to_string);
    }

    /// Clears every injected fault.
    pub fn clear_faults(&self) {
        let mut state = self.state.borrow_mut();
        state.failing_suffix = None;
        state.failures.clear();
        state.capacity_bytes = None;
        state.torn_write_bytes = None;
        state.dead = false;
    }

    /// A power cut: every file goes back to its last durable contents, and faults are cleared.
    /// Open handles keep working on the cut-back files, as a restarted process would see them.
    pub fn power_cut(&self) {
        let state = self.state.borrow();
        for inode in state.files.values() {
            let mut inode = inode.borrow_mut();
            inode.data = inode.durable.clone();
        }
        drop(state);
        self.clear_faults();
    }

    /// Flips one bit of a file's current and durable contents, as bit rot would.
    ///
    /// # Panics
    /// If the file does not exist or is shorter than `offset` (a test bug).
    pub fn flip_bit(&self, path: &Path, offset: u64) {
        let state = self.state.borrow();
        let inode = state.files.get(path).expect("flip_bit: no such file");
        let mut inode = inode.borrow_mut();
        let inode = &mut *inode;
        let at = usize::try_from(offset).expect("offset fits usize");
        for bytes in [&mut inode.data, &mut inode.durable] {
            if let Some(byte) = bytes.get_mut(at) {
                *byte ^= 0x10;
            }
        }
    }

    /// The length of a file, if it exists.
    pub fn file_len(&self, path: &Path) -> Option<u64> {
        self.state.borrow().files.get(path).map(|inode| inode.borrow().data.len() as u64)
    }

    /// Total bytes held by all files.
    pub fn used_bytes(&self) -> u64 {
        self.state.borrow().files.values().map(|inode| inode.borrow().data.len() as u64).sum()
    }

    pub(super) fn check_fault(&self, op: FaultOp, path: &Path) -> Result<()> {
        let mut state = self.state.borrow_mut();
        let name = match op {
            FaultOp::Read => "read_at",
            FaultOp::Write => "write_at",
            FaultOp::Sync => "fdatasync",
        };
        if state.dead {
            return Err(Error::io(name, path, eio(name)));
        }
        let mut fire = false;
        state.failures.retain_mut(|(fault_op, skip)| {
            if *fault_op != op || fire {
                return true;
            }
            if *skip == 0 {
                fire = true;
                return false;
            }
            *skip -= 1;
            true
        });
        if fire {
            return Err(Error::io(name, path, eio(name)));
        }
        Ok(())
    }

    pub(super) fn open(&self, path: &Path, mode: OpenMode) -> Result<MemFile> {
        let mut state = self.state.borrow_mut();
        if state.dead {
            return Err(Error::io("open", path, eio("open")));
        }
        let inode = match (mode, state.files.get(path)) {
            (OpenMode::CreateNew, Some(_)) => {
                return Err(Error::io("open", path, io::ErrorKind::AlreadyExists.into()));
            }
            (OpenMode::CreateNew, None) => {
                let inode = Rc::new(RefCell::new(MemInode::default()));
                state.files.insert(path.to_path_buf(), inode.clone());
                inode
            }
            (_, Some(inode)) => inode.clone(),
            (_, None) => return Err(Error::io("open", path, io::ErrorKind::NotFound.into())),
        };
        let writable = mode != OpenMode::ReadOnly;
        Ok(MemFile { inode, disk: self.clone(), path: path.to_path_buf(), writable })
    }

    pub(super) fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut state = self.state.borrow_mut();
        let inode = state
            .files
            .remove(from)
            .ok_or_else(|| Error::io("rename", from, io::ErrorKind::NotFound.into()))?;
        state.files.insert(to.to_path_buf(), inode);
        Ok(())
    }

    pub(super) fn remove(&self, path: &Path) -> Result<()> {
        let mut state = self.state.borrow_mut();
        match state.files.remove(path) {
            Some(_) => Ok(()),
            None => Err(Error::io("remove", path, io::ErrorKind::NotFound.into())),
        }
    }

    pub(super) fn list(&self, dir: &Path) -> Vec<String> {
        let state = self.state.borrow();
        state
            .files
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .filter_map(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect()
    }
}

impl MemFile {
    pub(super) fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        self.disk.check_fault(FaultOp::Read, &self.path)?;
        let inode = self.inode.borrow();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(inode.data.len());
        let end = start.saturating_add(len).min(inode.data.len());
        Ok(Bytes::copy_from_slice(inode.data.get(start..end).unwrap_or_default()))
    }

    pub(super) fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        assert!(self.writable, "write to a read-only file {}", self.path.display());
        self.disk.check_fault(FaultOp::Write, &self.path)?;
        let suffix = self.disk.state.borrow().failing_suffix.clone();
        if suffix.is_some_and(|s| self.path.to_string_lossy().ends_with(&s)) {
            return Err(Error::io("write_at", &self.path, eio("write (failing file)")));
        }
        let start = usize::try_from(offset).expect("offset fits usize");
        let end = start + data.len();
        let grow = end.saturating_sub(self.inode.borrow().data.len()) as u64;
        let (capacity, torn) = {
            let mut state = self.disk.state.borrow_mut();
            (state.capacity_bytes, state.torn_write_bytes.take())
        };
        if let Some(capacity) = capacity {
            if self.disk.used_bytes() + grow > capacity {
                let enospc = io::Error::from_raw_os_error(libc::ENOSPC);
                return Err(Error::io("write_at", &self.path, enospc));
            }
        }
        let stored = torn.map_or(data.len(), |bytes| bytes.min(data.len()));
        let mut inode = self.inode.borrow_mut();
        if inode.data.len() < start + stored {
            inode.data.resize(start + stored, 0);
        }
        if let (Some(target), Some(source)) =
            (inode.data.get_mut(start..start + stored), data.get(..stored))
        {
            target.copy_from_slice(source);
        }
        if torn.is_some() {
            return Err(Error::io("write_at", &self.path, eio("torn write")));
        }
        Ok(())
    }

    pub(super) fn fdatasync(&self) -> Result<()> {
        self.disk.check_fault(FaultOp::Sync, &self.path)?;
        let mut inode = self.inode.borrow_mut();
        inode.durable = inode.data.clone();
        Ok(())
    }

    pub(super) fn len(&self) -> u64 {
        self.inode.borrow().data.len() as u64
    }

    pub(super) fn truncate(&self, len: u64) -> Result<()> {
        self.disk.check_fault(FaultOp::Write, &self.path)?;
        let len = usize::try_from(len).expect("length fits usize");
        self.inode.borrow_mut().data.resize(len, 0);
        Ok(())
    }
}
