//! The writers' side of group commit: framing appends into the pending batch, waiting for
//! room and for the flush that covers them.
//!
//! All state sits in one [`State`] behind a `RefCell`, never borrowed across an `await`.
//! Positions are assigned when a record is framed, so the pending batch already knows which
//! segment each record goes to: a [`Chunk`] per segment, and the first chunk of a new segment
//! says which file to open for it ([`Opening`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::path::PathBuf;
use std::rc::Rc;
use std::task::{Poll, Waker};

use super::record::{self, framed_len};
use super::segment::Spare;
use super::{CommitLogOptions, CommitLogStats, LogPosition, SyncMode};
use crate::error::{Error, Result};
use crate::io::Disk;
use crate::runtime::{oneshot, OneshotReceiver, OneshotSender, TaskHandle};

/// What the flusher tells a waiting writer: done, or the reason writes stopped.
pub(super) type Outcome = std::result::Result<(), String>;

/// How the flusher gets the file of a chunk's segment.
pub(super) enum Opening {
    /// The segment is the one being written.
    Continue,
    /// Create a new file.
    Fresh,
    /// Overwrite a recycled file already named for the segment.
    Spare(Spare),
}

/// Framed records for one segment, starting at `start` in it.
pub(super) struct Chunk {
    pub(super) seq: u64,
    pub(super) start: u64,
    pub(super) opening: Opening,
    pub(super) records: Vec<u8>,
}

/// Everything appended since the flusher last took the pending batch.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) chunks: Vec<Chunk>,
    /// Framed bytes in `chunks`.
    pub(super) bytes: usize,
    /// Writers (and `sync` callers) to wake when the batch is durable.
    pub(super) waiters: Vec<OneshotSender<Outcome>>,
    /// The position after the batch's last record (`ZERO` if it has none).
    pub(super) end: LogPosition,
}

pub(super) struct State {
    /// Where the next record goes.
    pub(super) head: LogPosition,
    pub(super) durable: LogPosition,
    pub(super) pending: Batch,
    /// The first write or sync failure; once set, nothing more is written.
    pub(super) failure: Option<String>,
    pub(super) closing: bool,
    pub(super) flusher: Option<TaskHandle<()>>,
    pub(super) flusher_waker: Option<Waker>,
    room_wakers: Vec<Waker>,
    /// Recycled files under future names, in sequence order.
    pub(super) spares: VecDeque<Spare>,
    /// Spares being made now; they count against `spare_segments_max`.
    pub(super) recycling: usize,
    /// Segments no longer written, in sequence order: what `release_before` may drop.
    pub(super) sealed: VecDeque<(u64, PathBuf)>,
    pub(super) next_seq: u64,
    /// The head's segment when preparing the next file last failed: no new attempt until
    /// the head moves, so a full disk costs one attempt a segment, not one a batch.
    pub(super) prepare_failed_at: Option<u64>,
    pub(super) stats: CommitLogStats,
}

/// The state of one log, shared by its handles and its flusher.
pub(super) struct Shared {
    pub(super) disk: Disk,
    pub(super) dir: PathBuf,
    pub(super) options: CommitLogOptions,
    pub(super) state: RefCell<State>,
}

/// Held by every [`CommitLog`](super::CommitLog) handle: the last one dropped closes the log.
pub(super) struct CloseOnDrop(pub(super) Rc<Shared>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        let mut state = self.0.state.borrow_mut();
        state.closing = true;
        state.wake_flusher();
    }
}

impl State {
    pub(super) fn wake_flusher(&mut self) {
        if let Some(waker) = self.flusher_waker.take() {
            waker.wake();
        }
    }

    fn wake_room_waiters(&mut self) {
        for waker in self.room_wakers.drain(..) {
            waker.wake();
        }
    }

    /// The error an append gets now, if the log takes no more records.
    fn stopped(&self) -> Option<Error> {
        if let Some(reason) = &self.failure {
            return Some(Error::WritesStopped { reason: reason.clone() });
        }
        self.closing.then_some(Error::Closed)
    }

    /// Whether the flusher has something to do. `eager`: pending bytes alone are reason enough
    /// (batch mode); otherwise they wait for the timer unless someone waits on them.
    pub(super) fn has_urgent_work(&self, eager: bool) -> bool {
        self.failure.is_some()
            || self.closing
            || !self.pending.waiters.is_empty()
            || !self.room_wakers.is_empty()
            || (eager && self.pending.bytes > 0)
    }

    /// Hands the pending batch to the flusher and lets waiting writers in.
    pub(super) fn take_batch(&mut self) -> Batch {
        self.wake_room_waiters();
        std::mem::take(&mut self.pending)
    }

    /// Picks the file of the segment after the head and makes it the head: the oldest spare,
    /// or a fresh number.
    pub(super) fn claim_segment(&mut self) -> (u64, Opening) {
        let (seq, opening) = match self.next_spare() {
            Some(spare) => (spare.seq, Opening::Spare(spare)),
            None => {
                self.next_seq += 1;
                (self.next_seq - 1, Opening::Fresh)
            }
        };
        assert!(seq > self.head.segment, "segment numbers only grow");
        self.head = LogPosition { segment: seq, offset: 0 };
        (seq, opening)
    }

    /// Records the first failure and wakes everyone who must see it.
    pub(super) fn fail(&mut self, reason: String) {
        self.failure.get_or_insert(reason);
        self.wake_flusher();
        self.wake_room_waiters();
    }

    fn frame(&mut self, segment_bytes: u64, payloads: &[&[u8]]) -> LogPosition {
        for payload in payloads {
            let len = framed_len(payload.len()) as u64;
            if self.head.offset + len > segment_bytes {
                self.roll();
            }
            assert!(self.head.offset + len <= segment_bytes, "payload length checked");
            let seq = self.head.segment;
            record::encode(seq, payload, &mut self.chunk().records);
            self.head.offset += len;
            self.pending.bytes += framed_len(payload.len());
            self.stats.appends += 1;
        }
        self.pending.end = self.head;
        self.head
    }

    fn roll(&mut self) {
        let (seq, opening) = self.claim_segment();
        self.pending.chunks.push(Chunk { seq, start: 0, opening, records: Vec::new() });
    }

    /// The pending chunk of the head segment, started if the batch has none yet.
    fn chunk(&mut self) -> &mut Chunk {
        let head = self.head;
        if self.pending.chunks.last().is_none_or(|chunk| chunk.seq != head.segment) {
            let opening = Opening::Continue;
            let chunk =
                Chunk { seq: head.segment, start: head.offset, opening, records: Vec::new() };
            self.pending.chunks.push(chunk);
        }
        self.pending.chunks.last_mut().expect("a chunk was just ensured")
    }
}

impl Shared {
    pub(super) fn new(
        disk: Disk,
        dir: PathBuf,
        options: CommitLogOptions,
        replayed: Vec<(u64, PathBuf)>,
        next_seq: u64,
    ) -> Shared {
        // The flusher claims the first segment before anyone appends.
        let state = State {
            head: LogPosition::ZERO,
            durable: LogPosition::ZERO,
            pending: Batch::default(),
            failure: None,
            closing: false,
            flusher: None,
            flusher_waker: None,
            room_wakers: Vec::new(),
            spares: VecDeque::new(),
            recycling: 0,
            sealed: replayed.into(),
            next_seq,
            prepare_failed_at: None,
            stats: CommitLogStats::default(),
        };
        Shared { disk, dir, options, state: RefCell::new(state) }
    }

    pub(super) async fn append(&self, payloads: &[&[u8]]) -> Result<LogPosition> {
        self.stage(payloads).await?.durable().await
    }

    /// Frames `payloads` into the pending batch (their place in the log is then fixed) and
    /// returns what waits for them to be durable.
    pub(super) async fn stage(&self, payloads: &[&[u8]]) -> Result<StagedAppend> {
        let bytes = self.check_payloads(payloads)?;
        if bytes == 0 {
            return Ok(StagedAppend { end: self.current_position(), durable: None });
        }
        self.wait_for_room(bytes).await?;
        let mut state = self.state.borrow_mut();
        let end = state.frame(self.options.segment_bytes, payloads);
        let durable = (self.options.sync == SyncMode::Batch).then(|| {
            let (sender, receiver) = oneshot();
            state.pending.waiters.push(sender);
            receiver
        });
        state.wake_flusher();
        Ok(StagedAppend { end, durable })
    }

    /// Checks every payload before any is framed; returns their framed bytes.
    fn check_payloads(&self, payloads: &[&[u8]]) -> Result<usize> {
        let limit = self.options.payload_bytes_max();
        let mut bytes = 0;
        for payload in payloads {
            if payload.is_empty() {
                let reason = "an empty payload cannot be told from the end of the log".into();
                return Err(Error::Invalid { what: "commit log record", reason });
            }
            if payload.len() > limit {
                return Err(Error::TooLarge {
                    what: "commit log record",
                    size: payload.len(),
                    limit,
                });
            }
            bytes += framed_len(payload.len());
        }
        Ok(bytes)
    }

    /// Waits until `bytes` more fit in the pending batch. An empty batch takes anything, so a
    /// record larger than the bound still gets through.
    async fn wait_for_room(&self, bytes: usize) -> Result<()> {
        poll_fn(|cx| {
            let mut state = self.state.borrow_mut();
            if let Some(error) = state.stopped() {
                return Poll::Ready(Err(error));
            }
            let pending = state.pending.bytes;
            if pending == 0 || pending + bytes <= self.options.pending_bytes_max {
                return Poll::Ready(Ok(()));
            }
            state.room_wakers.push(cx.waker().clone());
            state.wake_flusher();
            Poll::Pending
        })
        .await
    }

    pub(super) fn current_position(&self) -> LogPosition {
        self.state.borrow().head
    }

    pub(super) fn durable_position(&self) -> LogPosition {
        self.state.borrow().durable
    }

    pub(super) fn stats(&self) -> CommitLogStats {
        self.state.borrow().stats
    }

    pub(super) fn fail(&self, reason: String) {
        self.state.borrow_mut().fail(reason);
    }

    /// Joins the next batch without a record, to learn when everything before is durable.
    fn join_next_batch(&self) -> Result<OneshotReceiver<Outcome>> {
        let mut state = self.state.borrow_mut();
        if let Some(error) = state.stopped() {
            return Err(error);
        }
        let (sender, receiver) = oneshot();
        state.pending.waiters.push(sender);
        state.wake_flusher();
        Ok(receiver)
    }

    pub(super) async fn sync(&self) -> Result<()> {
        outcome(self.join_next_batch()?).await
    }

    pub(super) async fn close(&self) -> Result<()> {
        let receiver = self.join_next_batch()?;
        self.state.borrow_mut().closing = true;
        let result = outcome(receiver).await;
        let flusher = self.state.borrow_mut().flusher.take();
        if let Some(flusher) = flusher {
            flusher.join().await;
        }
        result
    }
}

/// Records framed into the log, in their final order, whose flush may still be pending.
#[must_use = "a staged append is acknowledged only once durable() returns"]
pub struct StagedAppend {
    end: LogPosition,
    /// `None` in periodic mode, where an append does not wait for its sync.
    durable: Option<OneshotReceiver<Outcome>>,
}

impl StagedAppend {
    /// Waits until the records are durable (in `batch` mode; at once in `periodic` mode) and
    /// returns the position after the last.
    ///
    /// # Errors
    /// [`Error::WritesStopped`] if their write or sync failed; [`Error::Closed`] if the log
    /// closed first.
    pub async fn durable(self) -> Result<LogPosition> {
        match self.durable {
            Some(receiver) => outcome(receiver).await.map(|()| self.end),
            None => Ok(self.end),
        }
    }
}

/// Waits for the flusher's word on a batch.
async fn outcome(receiver: OneshotReceiver<Outcome>) -> Result<()> {
    match receiver.await {
        Some(Ok(())) => Ok(()),
        Some(Err(reason)) => Err(Error::WritesStopped { reason }),
        None => Err(Error::Closed),
    }
}
