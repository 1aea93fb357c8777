//! The flusher: the one task that writes the log.
//!
//! It owns the [`ActiveSegment`]. Each round it takes the whole pending batch, writes it with
//! one write, and starts one fdatasync for it in a task of its own, which answers every
//! waiter of the batch at once when it completes; writers arriving meanwhile fill the next
//! batch, which is written as soon as this write completes, while the sync runs. That is
//! group commit with up to [`SYNCS_IN_FLIGHT_MAX`] syncs in flight: the cost of an
//! fdatasync is shared by everyone who arrived while the previous write ran, and a batch
//! does not wait for the previous batch's sync.
//!
//! # Invariants
//! - Writes are issued one at a time, in log order; a sync begins after its batch's write
//!   completed, so it makes durable that batch and everything before it.
//! - A waiter is answered only after a sync that began after its record was written
//!   succeeded; `durable` only grows.
//! - A segment is closed only when no sync on it is in flight.
//!
//! In [`SyncMode::Batch`] any pending record starts a round. In [`SyncMode::Periodic`] a timer
//! starts it, unless someone waits: a `sync` or `close` caller, or a writer waiting for room.
//!
//! The first failed write or fdatasync stops the flusher for good: the batch and everything
//! after it gets [`Error::WritesStopped`](crate::error::Error::WritesStopped). It never retries.

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use super::segment::{self, ActiveSegment};
use super::writer::{Chunk, Opening, Outcome, Shared};
use super::SyncMode;
use crate::error::Result;
use crate::runtime::{sleep, spawn, Notify, Queue, TaskHandle};

/// Claims and opens the first segment, then spawns the flusher on the foreground queue.
///
/// # Errors
/// The disk's error opening the segment.
pub(super) async fn start(shared: &Rc<Shared>) -> Result<()> {
    let (seq, opening) = {
        let mut state = shared.state.borrow_mut();
        let claimed = state.claim_segment();
        state.durable = state.head;
        claimed
    };
    let active = open_segment(shared, seq, opening).await?;
    let task = spawn(Queue::Foreground, run(shared.clone(), active));
    shared.state.borrow_mut().flusher = Some(task);
    Ok(())
}

async fn open_segment(shared: &Shared, seq: u64, opening: Opening) -> Result<ActiveSegment> {
    match opening {
        Opening::Fresh => {
            let len = shared.options.segment_bytes;
            ActiveSegment::create(&shared.disk, &shared.dir, seq, len).await
        }
        Opening::Spare(spare) => ActiveSegment::reuse(&shared.disk, spare).await,
        Opening::Continue => panic!("segment {seq} continues but is not the active one"),
    }
}

/// Most fdatasyncs in flight at once. Each batch is written as soon as the previous write
/// completes and synced in its own task, so a batch need not wait for the sync before it
/// (whose latency would otherwise cap the log at one batch per sync).
pub(super) const SYNCS_IN_FLIGHT_MAX: usize = 4;

/// The fdatasyncs in flight, and a wake-up for whoever waits for one to finish.
#[derive(Default)]
struct InFlight {
    count: Cell<usize>,
    done: Notify,
}

impl InFlight {
    async fn wait_below(&self, limit: usize) {
        while self.count.get() >= limit {
            self.done.wait().await;
        }
    }
}

async fn run(shared: Rc<Shared>, mut active: ActiveSegment) {
    let in_flight = Rc::new(InFlight::default());
    let mut preparer = None;
    prepare_ahead(&shared, &mut preparer);
    while wait_for_work(&shared).await {
        in_flight.wait_below(SYNCS_IN_FLIGHT_MAX).await;
        let batch = shared.state.borrow_mut().take_batch();
        match write_batch(&shared, &mut active, batch.chunks, &in_flight).await {
            Ok(written) => {
                // Sync in the background; the next batch is written meanwhile. The sync
                // covers this batch and every earlier write (all completed before it
                // begins), so acknowledging on its success is sound whatever the order in
                // which the syncs in flight complete.
                let file = active.file();
                let shared = shared.clone();
                let in_flight_task = in_flight.clone();
                in_flight.count.set(in_flight.count.get() + 1);
                let (end, waiters) = (batch.end, batch.waiters);
                spawn(Queue::Foreground, async move {
                    let synced = file.fdatasync().await;
                    finish(&shared, synced.map(|()| written), end, waiters);
                    in_flight_task.count.set(in_flight_task.count.get() - 1);
                    in_flight_task.done.notify_all();
                });
            }
            Err(error) => finish(&shared, Err(error), batch.end, batch.waiters),
        }
        prepare_ahead(&shared, &mut preparer);
    }
    in_flight.wait_below(1).await;
    if let Some(preparer) = preparer {
        preparer.join().await;
    }
    stop(&shared, active).await;
}

/// Starts preparing the next segment's file (full length, zeroed; see `segment.rs`) when no
/// spare is ready or being made, so that a roll opens a ready file instead of zero-filling
/// one while writers wait. It runs on the flush queue, competing with memtable flushes
/// rather than with requests. A failure is logged and counted, and not retried before the
/// head moves to another segment: the roll then creates the file itself, and reports the
/// error to its writers if it fails again.
fn prepare_ahead(shared: &Rc<Shared>, preparer: &mut Option<TaskHandle<()>>) {
    let seq = {
        let mut state = shared.state.borrow_mut();
        let ready_or_coming = !state.spares.is_empty() || state.recycling > 0;
        let failed_here = state.prepare_failed_at == Some(state.head.segment);
        if ready_or_coming || failed_here || state.closing || state.failure.is_some() {
            return;
        }
        // Counted with the recycled spares being made, so that no second preparer starts
        // and `release` keeps within its bound of spares.
        state.recycling += 1;
        state.next_seq += 1;
        state.next_seq - 1
    };
    let shared = shared.clone();
    *preparer = Some(spawn(Queue::Flush, async move {
        let len = shared.options.segment_bytes;
        let prepared = segment::prepare(&shared.disk, &shared.dir, seq, len).await;
        shared.state.borrow_mut().recycling -= 1;
        match prepared {
            Ok(spare) => shared.state.borrow_mut().add_spare(spare),
            Err(error) => {
                {
                    let mut state = shared.state.borrow_mut();
                    state.prepare_failed_at = Some(state.head.segment);
                    state.stats.prepare_failures += 1;
                }
                tracing::warn!("preparing commit log segment {seq} ahead: {error}");
                // An empty segment either way; removing it keeps the directory tidy.
                let _ = shared.disk.remove(&segment::segment_path(&shared.dir, seq)).await;
            }
        }
    }));
}

/// Records a batch's outcome and answers its waiters.
fn finish(
    shared: &Shared,
    result: Result<u64>,
    end: super::LogPosition,
    waiters: Vec<crate::runtime::OneshotSender<Outcome>>,
) {
    let outcome = {
        let mut state = shared.state.borrow_mut();
        match result {
            Ok(written) => {
                state.durable = state.durable.max(end);
                state.stats.flushes += u64::from(written > 0);
                state.stats.bytes += written;
                Ok(())
            }
            Err(error) => {
                let reason = format!("commit log write failed: {error}");
                if state.failure.is_none() {
                    state.fail(reason.clone());
                }
                Err(reason)
            }
        }
    };
    for waiter in waiters {
        waiter.send(outcome.clone());
    }
}

/// Waits until there is a batch to write (`true`) or the flusher must stop (`false`).
async fn wait_for_work(shared: &Shared) -> bool {
    loop {
        match shared.options.sync {
            SyncMode::Batch => {
                urgent_work(shared, true).await;
                // Let the tasks that are ready on this core (requests just read from their
                // sockets) append before the batch is taken: they join this fdatasync instead
                // of waiting a whole round for the next one. Costs one trip through the run
                // queue, no timer.
                futures_lite::future::yield_now().await;
            }
            SyncMode::Periodic { interval_ms } => {
                let tick = sleep(Duration::from_millis(interval_ms));
                futures_lite::future::or(tick, urgent_work(shared, false)).await;
            }
        }
        let state = shared.state.borrow();
        if state.failure.is_some() {
            return false;
        }
        if state.pending.bytes > 0 || !state.pending.waiters.is_empty() {
            return true;
        }
        if state.closing {
            return false;
        }
    }
}

async fn urgent_work(shared: &Shared, eager: bool) {
    poll_fn(|cx| {
        let mut state = shared.state.borrow_mut();
        if state.has_urgent_work(eager) {
            return Poll::Ready(());
        }
        state.flusher_waker = Some(cx.waker().clone());
        Poll::Pending
    })
    .await;
}

/// Writes a batch, opening new segments where it rolls. Returns the bytes written. The part
/// in the batch's last segment is left for the caller to sync; parts in segments it rolls
/// past are synced here (after the syncs in flight on them finish), then the file closed.
async fn write_batch(
    shared: &Shared,
    active: &mut ActiveSegment,
    chunks: Vec<Chunk>,
    in_flight: &InFlight,
) -> Result<u64> {
    let mut written = 0;
    for chunk in chunks {
        if chunk.seq != active.seq() {
            in_flight.wait_below(1).await;
            active.file().fdatasync().await?;
            let next = open_segment(shared, chunk.seq, chunk.opening).await?;
            let old = std::mem::replace(active, next);
            shared.state.borrow_mut().seal(old.seq(), old.path().to_path_buf());
            old.close().await?;
        }
        assert_eq!(chunk.start, active.data_end(), "chunks continue the segment's data");
        if !chunk.records.is_empty() {
            written += active.write(&chunk.records).await? as u64;
        }
    }
    Ok(written)
}

/// Answers whoever still waits, and closes the segment.
async fn stop(shared: &Shared, active: ActiveSegment) {
    let (batch, reason) = {
        let mut state = shared.state.borrow_mut();
        state.closing = true;
        let reason = state.failure.clone().unwrap_or_else(|| "commit log closed".to_string());
        (state.take_batch(), reason)
    };
    let outcome: Outcome = Err(reason);
    for waiter in batch.waiters {
        waiter.send(outcome.clone());
    }
    let path = active.path().to_path_buf();
    if let Err(error) = active.close().await {
        // Everything acknowledged was synced before; a failed close loses nothing.
        tracing::warn!("closing commit log segment {}: {error}", path.display());
    }
}
