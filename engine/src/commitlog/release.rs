//! Releasing the log: segments the SSTables cover become spares or are deleted.
//!
//! A spare is renamed to a future segment name at once (see `segment.rs`), so that a crash
//! never leaves a stale file before the live log. At most
//! [`CommitLogOptions::spare_segments_max`](super::CommitLogOptions::spare_segments_max) are
//! kept, counting those being made; the directory is synced after each batch of renames and
//! removals.

use std::path::{Path, PathBuf};

use super::segment;
use super::segment::Spare;
use super::writer::{Shared, State};
use super::LogPosition;
use crate::error::Result;

impl Shared {
    pub(super) async fn release_before(&self, position: LogPosition) -> Result<()> {
        let released: Vec<(u64, PathBuf)> = {
            let mut state = self.state.borrow_mut();
            let count = state.sealed.iter().take_while(|(seq, _)| *seq < position.segment).count();
            state.sealed.drain(..count).collect()
        };
        self.recycle_or_remove(released).await
    }

    /// Turns old segment files into spares, up to the bound, and deletes the rest; then makes
    /// the directory durable. On an error the files not handled yet stay sealed.
    pub(super) async fn recycle_or_remove(&self, files: Vec<(u64, PathBuf)>) -> Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        let mut files = files.into_iter();
        while let Some((seq, path)) = files.next() {
            if let Err(error) = self.recycle_or_remove_one(&path).await {
                let mut state = self.state.borrow_mut();
                for (seq, path) in std::iter::once((seq, path)).chain(files) {
                    state.seal(seq, path);
                }
                return Err(error);
            }
        }
        self.disk.sync_dir(&self.dir).await
    }

    async fn recycle_or_remove_one(&self, path: &Path) -> Result<()> {
        let seq = {
            let mut state = self.state.borrow_mut();
            let room = state.spares.len() + state.recycling < self.options.spare_segments_max;
            room.then(|| {
                state.recycling += 1;
                state.next_seq += 1;
                state.next_seq - 1
            })
        };
        let Some(seq) = seq else {
            return self.disk.remove(path).await;
        };
        let spare = segment::recycle(&self.disk, path, &self.dir, seq).await;
        let mut state = self.state.borrow_mut();
        state.recycling -= 1;
        state.add_spare(spare?);
        Ok(())
    }
}

impl State {
    /// The oldest spare numbered after the head. A spare whose number was passed while it
    /// was being made (a roll raced its release) is sealed instead: its zeroed first page
    /// reads as an empty segment, and a later release recycles it again.
    pub(super) fn next_spare(&mut self) -> Option<Spare> {
        while let Some(spare) = self.spares.pop_front() {
            if spare.seq > self.head.segment {
                return Some(spare);
            }
            self.seal(spare.seq, spare.path);
        }
        None
    }

    /// Adds a segment no longer written to the sealed list, in sequence order.
    pub(super) fn seal(&mut self, seq: u64, path: PathBuf) {
        let at = self.sealed.iter().position(|(s, _)| *s > seq).unwrap_or(self.sealed.len());
        self.sealed.insert(at, (seq, path));
    }

    /// Queues a new spare in sequence order; one whose number the head passed while it was
    /// being made is sealed instead (see [`State::next_spare`]).
    pub(super) fn add_spare(&mut self, spare: Spare) {
        if spare.seq <= self.head.segment {
            return self.seal(spare.seq, spare.path);
        }
        let at = self.spares.iter().position(|s| s.seq > spare.seq).unwrap_or(self.spares.len());
        self.spares.insert(at, spare);
    }
}
