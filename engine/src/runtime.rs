//! The engine's seam to its async runtime (glommio): task queues, spawning, yielding, timers,
//! and a single-threaded one-shot channel.
//!
//! Only this file and `io.rs` name glommio, so the runtime could be swapped if it must be.
//!
//! # Task queues
//! Each core runs three queues, named by purpose:
//! - `foreground` (shares [`FOREGROUND_SHARES`]): reads, writes, group commit. Latency matters.
//! - `flush` (shares [`FLUSH_SHARES`]): memtable flushes. A flush frees memory writers wait for,
//!   so it gets more than compaction.
//! - `compaction` (shares [`COMPACTION_SHARES`]): background merges.
//!
//! When all three are busy, glommio splits the core in proportion to the shares: foreground
//! gets 1000/(1000+250+100) ≈ 74 %, flush ≈ 19 %, compaction ≈ 7 %. Idle queues cost nothing,
//! so background work runs at full speed on an idle core.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use glommio::{Latency, Shares, TaskQueueHandle};

/// Shares of the foreground queue.
pub const FOREGROUND_SHARES: usize = 1000;
/// Shares of the flush queue.
pub const FLUSH_SHARES: usize = 250;
/// Shares of the compaction queue.
pub const COMPACTION_SHARES: usize = 100;
/// How long a task may run before `yield_if_needed` gives the core away.
pub const TASK_SLICE_MAX: Duration = Duration::from_micros(500);

/// Longest a core runs tasks without looking at its I/O completions and timers: past this
/// without a timer firing, [`yield_if_needed`] waits for the executor's next look at its
/// rings instead of yielding its queue. Measured on one saturated shard (workload C, 20 s):
/// 1 ms visits, read p99 1.57 ms; 500 µs, 1.23 ms; 250 µs, 0.59 ms and no wake-up more than
/// 1 ms late.
///
/// Why: glommio runs runnable queues without polling its rings until they all run dry or
/// its preemption timer fires (100 ms by default). A shard whose queues never run dry (one
/// shard at 98 % of a core in workload C, a reader that always finds more requests) left
/// its timers and completions (disk reads, fdatasyncs, deadlines) waiting up to 100 ms:
/// measured with the scheduling-delay probe (`server/src/stalls.rs`), 20 s of C on one
/// shard, 267 wake-ups more than 20 ms late and a read p99.9 of 32.6 ms; 0 and 1.2 ms with
/// 250 µs visits.
///
/// Not glommio's preemption timer set to 1 ms, which did the same job: with it, glommio
/// 0.9 can find a completion waiting each time it is about to run its queues, park instead
/// (the defect glommio/glommio PR #53 fixes, unreleased), and never run them again. A
/// 2-shard node hung at start-up in 3 of 60 starts (both shards parked in their mesh join,
/// waking every few ms and running nothing); 0 of 150 with the default timer.
pub const REACTOR_VISIT_MAX: Duration = Duration::from_micros(250);

/// Where a spawned task runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    /// Reads, writes, group commit.
    Foreground,
    /// Memtable flushes.
    Flush,
    /// Compaction.
    Compaction,
}

#[derive(Clone, Copy)]
struct Queues {
    foreground: TaskQueueHandle,
    flush: TaskQueueHandle,
    compaction: TaskQueueHandle,
}

thread_local! {
    static QUEUES: RefCell<Option<Queues>> = const { RefCell::new(None) };
}

fn queues() -> Queues {
    QUEUES.with(|cell| {
        *cell.borrow_mut().get_or_insert_with(|| {
            let ex = glommio::executor();
            // Latency::Matters and a short preempt timer make glommio 0.9 park with runnable
            // queues (see `yield_if_needed`), so every queue is NotImportant and time slices
            // are enforced by `yield_if_needed` itself.
            let slice = Latency::NotImportant;
            Queues {
                foreground: ex.create_task_queue(
                    Shares::Static(FOREGROUND_SHARES),
                    slice,
                    "foreground",
                ),
                flush: ex.create_task_queue(Shares::Static(FLUSH_SHARES), slice, "flush"),
                compaction: ex.create_task_queue(
                    Shares::Static(COMPACTION_SHARES),
                    Latency::NotImportant,
                    "compaction",
                ),
            }
        })
    })
}

/// A spawned task; dropping it does not cancel it (it is detached).
pub struct TaskHandle<T>(glommio::task::JoinHandle<T>);

impl<T> TaskHandle<T> {
    /// Waits for the task's result; `None` if it was cancelled or panicked.
    pub async fn join(self) -> Option<T> {
        self.0.await
    }
}

/// Spawns `future` on this core's `queue`.
pub fn spawn<T: 'static>(queue: Queue, future: impl Future<Output = T> + 'static) -> TaskHandle<T> {
    let queues = queues();
    let handle = match queue {
        Queue::Foreground => queues.foreground,
        Queue::Flush => queues.flush,
        Queue::Compaction => queues.compaction,
    };
    let task = glommio::spawn_local_into(future, handle).expect("task queue exists on this core");
    TaskHandle(task.detach())
}

/// Runs `future` on the calling task until it first waits, and only then moves it to a task
/// of its own on `queue`; returns whether it finished here.
///
/// Why: most requests (a GET whose blocks are cached) never wait, and a task costs more
/// than the request itself in that case: glommio 0.9 takes a process-wide lock and bumps a
/// shared reference count for every task it allocates, then queues and runs it. Measured
/// on a node serving GETs, the spawn was 7 % of its CPU.
///
/// The caller's waker sees the first poll's registrations; the task's first poll replaces
/// them, so the caller may get one spurious wake and nothing is lost.
pub async fn run_or_spawn(queue: Queue, future: impl Future<Output = ()> + 'static) -> bool {
    let mut future = Box::pin(future);
    let finished =
        std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_ready())).await;
    if !finished {
        spawn(queue, future);
    }
    finished
}

thread_local! {
    static SLICE_START: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
    /// When a task last waited for this core's look at its rings ([`REACTOR_VISIT_MAX`]).
    static LAST_REACTOR_VISIT: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// Gives the core away if this task has run for [`TASK_SLICE_MAX`]. Call in every long loop.
///
/// glommio's own `yield_if_needed` relies on its preemption timer; with a timer short enough
/// for our latency goal (and with `Latency::Matters` queues) glommio 0.9 can park the thread
/// while task queues are still runnable and never wake up (seen here in about one test run in
/// five; fixed upstream in glommio/glommio PR #53, not released on crates.io). So the slice is
/// measured here: the first call starts it, a call after `TASK_SLICE_MAX` yields and restarts
/// it.
///
/// The yield gives away the task's *queue*, not only the task: the scheduler then picks the
/// queue with the least runtime per share, so foreground work runs before more flushing or
/// compaction. (glommio's task-level `yield_now` only lets the queue's other tasks run; with
/// it, a flush freeing or encoding rows kept the core until it next waited for the disk,
/// up to several milliseconds, while requests queued.)
///
/// Once [`REACTOR_VISIT_MAX`] has passed since a timer last fired on this core, the yield is
/// a wait for the executor's next look at its rings instead (whatever the slice): the task
/// sleeps on a timer that is due at once, which glommio fires only when it polls its rings,
/// after its other runnable tasks have run.
pub async fn yield_if_needed() {
    let now = std::time::Instant::now();
    let start = started(&SLICE_START, now);
    let last_visit = started(&LAST_REACTOR_VISIT, now);
    if now.duration_since(last_visit) >= REACTOR_VISIT_MAX {
        SLICE_START.with(|cell| cell.set(None));
        wait_for_reactor().await;
    } else if now.duration_since(start) >= TASK_SLICE_MAX {
        SLICE_START.with(|cell| cell.set(None));
        glommio::executor().yield_task_queue_now().await;
    }
}

/// The instant in `cell`, or `now`, stored there, if it holds none yet.
fn started(
    cell: &'static std::thread::LocalKey<std::cell::Cell<Option<std::time::Instant>>>,
    now: std::time::Instant,
) -> std::time::Instant {
    cell.with(|cell| {
        let start = cell.get().unwrap_or(now);
        cell.set(Some(start));
        start
    })
}

/// Notes that the executor has just polled its rings: a timer fired.
fn reactor_visited() {
    LAST_REACTOR_VISIT.with(|cell| cell.set(Some(std::time::Instant::now())));
}

/// Waits until the executor next polls its rings (and with them its timers). The timer is
/// due a microsecond after it is made, so it is still pending at its first poll (nothing
/// runs in between) and expired at the executor's next look at its timers.
async fn wait_for_reactor() {
    sleep(Duration::from_micros(1)).await;
}

/// Sleeps for `duration`.
pub async fn sleep(duration: Duration) {
    glommio::timer::sleep(duration).await;
    // Timers fire only when the executor polls its rings: a busy shard's timed tasks (the
    // readiness rounds, the probe) spare `yield_if_needed` its own visits.
    reactor_visited();
}

/// Builds a glommio executor for one engine core. `pin_to` pins it to a CPU.
///
/// # Errors
/// glommio's error (io_uring set-up, memory lock limits).
pub fn run_on_new_executor<T: Send + 'static, F: Future<Output = T> + 'static>(
    name: &str,
    pin_to: Option<usize>,
    make: impl FnOnce() -> F + Send + 'static,
) -> std::io::Result<T> {
    run_on_new_executor_with(name, pin_to, None, make)
}

/// As [`run_on_new_executor`], and with `spin_before_park` the executor spins that long
/// before sleeping when idle: it answers a wake-up from another core without the ~50 µs
/// eventfd round trip, at the cost of burning its CPU. Only for cores a shard owns alone.
/// glommio's preemption timer stays at its default (see [`REACTOR_VISIT_MAX`] for why).
///
/// # Errors
/// glommio's error (io_uring set-up, memory lock limits).
pub fn run_on_new_executor_with<T: Send + 'static, F: Future<Output = T> + 'static>(
    name: &str,
    pin_to: Option<usize>,
    spin_before_park: Option<Duration>,
    make: impl FnOnce() -> F + Send + 'static,
) -> std::io::Result<T> {
    let placement = match pin_to {
        Some(cpu) => glommio::Placement::Fixed(cpu),
        None => glommio::Placement::Unbound,
    };
    let builder = glommio::LocalExecutorBuilder::new(placement)
        .name(name)
        // 2 MiB of registered I/O memory fits the default 8 MiB memlock limit with room for
        // several executors per process (tests run many).
        .io_memory(2 << 20);
    let builder = match spin_before_park {
        Some(spin) if !spin.is_zero() => builder.spin_before_park(spin),
        _ => builder,
    };
    let handle = builder
        .spawn(move || {
            // Create the queues before the first task runs.
            queues();
            make()
        })
        .map_err(std::io::Error::from)?;
    handle.join().map_err(std::io::Error::from)
}

/// Runs a test body on a fresh executor and propagates its panic.
pub fn run_test<F: Future<Output = ()> + 'static>(make: impl FnOnce() -> F + Send + 'static) {
    run_on_new_executor("test", None, make).expect("test executor runs");
}

struct OneshotState<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
}

/// Sends one value to a [`OneshotReceiver`] on the same core.
pub struct OneshotSender<T>(Rc<RefCell<OneshotState<T>>>);

/// Receives the value of a [`OneshotSender`]; `None` if the sender was dropped without sending.
pub struct OneshotReceiver<T>(Rc<RefCell<OneshotState<T>>>);

/// A single-threaded one-shot channel (group commit wakes its writers with these).
pub fn oneshot<T>() -> (OneshotSender<T>, OneshotReceiver<T>) {
    let state =
        Rc::new(RefCell::new(OneshotState { value: None, waker: None, sender_gone: false }));
    (OneshotSender(state.clone()), OneshotReceiver(state))
}

impl<T> OneshotSender<T> {
    /// Delivers `value` and wakes the receiver.
    pub fn send(self, value: T) {
        let waker = {
            let mut state = self.0.borrow_mut();
            state.value = Some(value);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for OneshotSender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.0.borrow_mut();
            state.sender_gone = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for OneshotReceiver<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.0.borrow_mut();
        if let Some(value) = state.value.take() {
            return Poll::Ready(Some(value));
        }
        if state.sender_gone {
            return Poll::Ready(None);
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A single-threaded async lock: holders may await while holding it (the manifest writer
/// does), and waiters are served in arrival order.
#[derive(Clone, Default)]
pub struct AsyncLock {
    state: Rc<RefCell<AsyncLockState>>,
}

#[derive(Default)]
struct AsyncLockState {
    held: bool,
    waiters: std::collections::VecDeque<OneshotSender<()>>,
}

/// Proof of holding an [`AsyncLock`]; dropping it passes the lock to the next waiter.
pub struct AsyncLockGuard {
    state: Rc<RefCell<AsyncLockState>>,
}

impl AsyncLock {
    /// Waits for the lock.
    pub async fn lock(&self) -> AsyncLockGuard {
        let wait = {
            let mut state = self.state.borrow_mut();
            if state.held {
                let (tx, rx) = oneshot();
                state.waiters.push_back(tx);
                Some(rx)
            } else {
                state.held = true;
                None
            }
        };
        if let Some(rx) = wait {
            // The guard that wakes us hands the lock over without releasing it.
            let handed = rx.await;
            assert!(handed.is_some(), "lock hand-over lost");
        }
        AsyncLockGuard { state: self.state.clone() }
    }
}

impl Drop for AsyncLockGuard {
    fn drop(&mut self) {
        let next = {
            let mut state = self.state.borrow_mut();
            assert!(state.held, "lock released twice");
            let next = state.waiters.pop_front();
            if next.is_none() {
                state.held = false;
            }
            next
        };
        if let Some(next) = next {
            next.send(());
        }
    }
}

/// Wakes every task waiting on it (memtable flush done, compaction done).
#[derive(Clone, Default)]
pub struct Notify {
    waiters: Rc<RefCell<Vec<OneshotSender<()>>>>,
}

impl Notify {
    /// A future that resolves at the next [`Notify::notify_all`].
    pub fn wait(&self) -> OneshotReceiver<()> {
        let (tx, rx) = oneshot();
        self.waiters.borrow_mut().push(tx);
        rx
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waiter in waiters {
            waiter.send(());
        }
    }
}

/// Runs `work` as a task on `queue` and counts the turns a foreground task it starts gets
/// until `work` ends: whether `work` gives the core away. For tests.
#[cfg(test)]
pub(crate) async fn foreground_turns_during<T: 'static>(
    queue: Queue,
    work: impl Future<Output = T> + 'static,
) -> (T, u64) {
    use std::cell::Cell;
    let task = spawn(queue, async move {
        let done = Rc::new(Cell::new(false));
        let turns = Rc::new(Cell::new(0u64));
        let counter = {
            let (done, turns) = (done.clone(), turns.clone());
            spawn(Queue::Foreground, async move {
                while !done.get() {
                    turns.set(turns.get() + 1);
                    futures_lite::future::yield_now().await;
                }
            })
        };
        let output = work.await;
        let turns_during = turns.get();
        done.set(true);
        counter.join().await.expect("the counter finishes");
        (output, turns_during)
    });
    task.join().await.expect("the work finishes")
}

/// Waits up to `within` for `done`, checking every millisecond (other tasks run between
/// checks). For tests.
#[cfg(test)]
pub(crate) async fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        sleep(Duration::from_millis(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn oneshot_delivers_and_reports_a_dropped_sender() {
        run_test(|| async {
            let (tx, rx) = oneshot();
            let task = spawn(Queue::Flush, rx);
            tx.send(5);
            assert_eq!(task.join().await, Some(Some(5)));
            let (tx, rx) = oneshot::<u8>();
            drop(tx);
            assert_eq!(rx.await, None);
        });
    }

    #[test]
    fn async_lock_serialises_holders_across_awaits() {
        run_test(|| async {
            let lock = AsyncLock::default();
            let log = Rc::new(RefCell::new(Vec::new()));
            let mut tasks = Vec::new();
            for id in 0..3 {
                let (lock, log) = (lock.clone(), log.clone());
                tasks.push(spawn(Queue::Foreground, async move {
                    let _guard = lock.lock().await;
                    log.borrow_mut().push(id);
                    sleep(Duration::from_millis(2)).await;
                    log.borrow_mut().push(id);
                }));
            }
            for task in tasks {
                task.join().await.unwrap();
            }
            let log = log.borrow();
            for pair in log.chunks(2) {
                assert_eq!(pair[0], pair[1], "holders interleaved: {log:?}");
            }
        });
    }

    #[test]
    fn a_busy_background_task_gives_the_core_to_the_foreground() {
        run_test(|| async {
            // A compaction-queue loop computes for 20 slices, calling `yield_if_needed`.
            // Without queue yields (or without yields at all) the foreground gets no turn
            // until the loop ends.
            let busy = async {
                let until = std::time::Instant::now() + 20 * TASK_SLICE_MAX;
                while std::time::Instant::now() < until {
                    std::hint::spin_loop();
                    yield_if_needed().await;
                }
            };
            let ((), turns) = foreground_turns_during(Queue::Compaction, busy).await;
            assert!(turns > 0, "the foreground got no turn in 20 slices");
        });
    }

    #[test]
    fn a_core_that_never_runs_dry_still_fires_its_timers() {
        run_test(|| async {
            // A foreground task that always has more to do (a reader that always finds
            // more requests) keeps a queue runnable; glommio polls its timers only when
            // every queue runs dry or after its 100 ms preemption timer. A 1 ms sleeper must
            // still wake close to on time: measured here, well under 1 ms late; 100 ms late
            // without the reactor visits.
            let latest = Rc::new(Cell::new(Duration::ZERO));
            let stop = Rc::new(Cell::new(false));
            let sleeper = {
                let (latest, stop) = (latest.clone(), stop.clone());
                spawn(Queue::Foreground, async move {
                    while !stop.get() {
                        let due = std::time::Instant::now() + Duration::from_millis(1);
                        sleep(Duration::from_millis(1)).await;
                        latest.set(latest.get().max(due.elapsed()));
                    }
                })
            };
            let until = std::time::Instant::now() + Duration::from_millis(300);
            while std::time::Instant::now() < until {
                std::hint::spin_loop();
                yield_if_needed().await;
            }
            stop.set(true);
            sleeper.join().await.expect("the sleeper ends");
            // Far above the expected lateness (a fraction of a millisecond), far below the
            // 100 ms it would be without the visits, so a slow test machine passes.
            assert!(
                latest.get() < Duration::from_millis(30),
                "a timer fired {:?} late",
                latest.get()
            );
        });
    }

    #[test]
    fn run_or_spawn_finishes_inline_or_moves_the_rest_to_a_task() {
        run_test(|| async {
            let log = Rc::new(RefCell::new(Vec::new()));
            // Never waits: done before run_or_spawn returns.
            let inline = {
                let log = log.clone();
                run_or_spawn(Queue::Foreground, async move { log.borrow_mut().push("ready") })
            };
            assert!(inline.await, "a future that never waits finishes inline");
            assert_eq!(*log.borrow(), ["ready"]);

            // Waits: the part before the wait runs here, the rest in a task once woken.
            let notify = Notify::default();
            let waiting = {
                let (log, woken) = (log.clone(), notify.wait());
                run_or_spawn(Queue::Foreground, async move {
                    log.borrow_mut().push("before");
                    woken.await;
                    log.borrow_mut().push("after");
                })
            };
            assert!(!waiting.await, "a waiting future is moved to a task");
            assert_eq!(*log.borrow(), ["ready", "before"]);
            notify.notify_all();
            wait_until("the moved task finishes", Duration::from_secs(5), || {
                log.borrow().len() == 3
            })
            .await;
            assert_eq!(*log.borrow(), ["ready", "before", "after"]);
        });
    }
}
