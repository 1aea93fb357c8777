//! The flusher: the one task that writes the log.
//!
//! It owns the [`ActiveSegment`]. Each round it takes the whole pending batch, writes each
//! segment's part with one write and one fdatasync, and then answers every waiter of the batch
//! at once; writers arriving meanwhile fill the next batch. That is group commit: the cost of
//! an fdatasync is shared by everyone who arrived while the previous one ran.
//!
//! In [`SyncMode::Batch`] any pending record starts a round. In [`SyncMode::Periodic`] a timer
//! starts it, unless someone waits: a `sync` or `close` caller, or a writer waiting for room.
//!
//! The first failed write or fdatasync stops the flusher for good: the batch and everything
//! after it gets [`Error::WritesStopped`](crate::error::Error::WritesStopped). It never retries.

use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use super::segment::ActiveSegment;
use super::writer::{Chunk, Opening, Outcome, Shared};
use super::SyncMode;
use crate::error::Result;
use crate::runtime::{sleep, spawn, Queue};

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
        Opening::Fresh => ActiveSegment::create(&shared.disk, &shared.dir, seq).await,
        Opening::Spare(spare) => ActiveSegment::reuse(&shared.disk, spare).await,
        Opening::Continue => panic!("segment {seq} continues but is not the active one"),
    }
}

async fn run(shared: Rc<Shared>, mut active: ActiveSegment) {
    while wait_for_work(&shared).await {
        let batch = shared.state.borrow_mut().take_batch();
        let result = write_batch(&shared, &mut active, batch.chunks).await;
        let outcome = {
            let mut state = shared.state.borrow_mut();
            match result {
                Ok(written) => {
                    state.durable = state.durable.max(batch.end);
                    state.stats.flushes += u64::from(written > 0);
                    state.stats.bytes += written;
                    Ok(())
                }
                Err(error) => {
                    let reason = format!("commit log write failed: {error}");
                    state.fail(reason.clone());
                    Err(reason)
                }
            }
        };
        for waiter in batch.waiters {
            waiter.send(outcome.clone());
        }
    }
    stop(&shared, active).await;
}

/// Waits until there is a batch to write (`true`) or the flusher must stop (`false`).
async fn wait_for_work(shared: &Shared) -> bool {
    loop {
        match shared.options.sync {
            SyncMode::Batch => urgent_work(shared, true).await,
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

/// Writes a batch, opening new segments where it rolls. Returns the bytes written.
async fn write_batch(
    shared: &Shared,
    active: &mut ActiveSegment,
    chunks: Vec<Chunk>,
) -> Result<u64> {
    let mut written = 0;
    for chunk in chunks {
        if chunk.seq != active.seq() {
            let next = open_segment(shared, chunk.seq, chunk.opening).await?;
            let old = std::mem::replace(active, next);
            shared.state.borrow_mut().seal(old.seq(), old.path().to_path_buf());
            old.close().await?;
        }
        assert_eq!(chunk.start, active.data_end(), "chunks continue the segment's data");
        if !chunk.records.is_empty() {
            written += active.write_and_sync(&chunk.records).await? as u64;
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
