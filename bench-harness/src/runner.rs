//! The load engine: N client tasks, closed or open loop, and the periodic reporter.
//!
//! - **Closed loop** (no rate): each task issues its next operation as soon as the previous
//!   one completes. Latency is measured from the send.
//! - **Open loop** (`rate` ops/s in total): task `i` of `N` owns the intended start times
//!   `t0 + (i + k·N) / rate`, k = 0, 1, ... It sleeps until the next one if it is early and
//!   starts at once if it is late. Latency is measured **from the intended start**, so time
//!   spent waiting behind a stalled request is counted (no coordinated omission); the
//!   service time from the actual send is kept beside it. An early task waits on its own
//!   high-resolution timer ([`crate::pacer`]), not a tokio sleep, whose 1 ms granularity
//!   would add up to a millisecond of the generator's own lateness to every latency.
//!
//! Each task records into its own [`Stats`]; the reporter drains them every interval,
//! prints that interval's table and adds it to the totals (see [`crate::stats`]). The
//! reporter runs on its own thread and holds a task's stats only to swap them for empty
//! ones: merging 50 tasks' histograms takes 20–30 ms, and on the runtime's thread it held
//! every task's schedule that long once an interval, which open-loop runs counted as the
//! server's latency.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::driver::{Driver, OpError, Record, ValuePool};
use crate::keys::{Distribution, KeyChooser};
use crate::pacer::Pacer;
use crate::report::print_interval;
use crate::rng::Rng;
use crate::stats::Stats;
use crate::workload::{OpKind, Workload};

/// What to run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The workload (mix and, unless overridden, distribution).
    pub workload: Workload,
    /// The key distribution actually used.
    pub distribution: Distribution,
    /// Records loaded before the run (the key space of reads and updates); the load phase
    /// inserts records `0..records`.
    pub records: u64,
    /// Stop after this many operations in total (`None`: run for `duration`).
    pub operations: Option<u64>,
    /// Stop after this long (the load phase stops earlier when every record is in).
    pub duration: Duration,
    /// Client tasks, each with one operation in flight.
    pub concurrency: usize,
    /// Open loop at this many operations per second in total; `None` for closed loop.
    pub rate: Option<f64>,
    /// Longest scan (workload E draws lengths uniformly from `1..=max_scan_length`).
    pub max_scan_length: u64,
    /// Print an interval table this often (`None`: only at the end).
    pub report_interval: Option<Duration>,
    /// Shape of a record.
    pub record: Record,
    /// Seed of every task's random generator (task `i` uses `seed + i`).
    pub seed: u64,
}

/// What a run measured.
#[derive(Debug)]
pub struct RunResult {
    /// Every sample of every task.
    pub stats: Stats,
    /// Wall time from the first intended start to the last completion.
    pub elapsed: Duration,
}

/// State shared by all tasks of a run.
struct Shared {
    /// The next record number to insert.
    next_insert: AtomicU64,
    /// Records `0..readable` are all acknowledged: the key space reads choose from.
    readable: AtomicU64,
    /// Acknowledged inserts above `readable` (completions arrive out of order).
    acked_above: Mutex<BTreeSet<u64>>,
    /// Operations started, against `operations`.
    started: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    /// Records that insert `key` completed, and extends the readable prefix past every
    /// record now acknowledged without a gap (YCSB's acknowledged counter): a read never
    /// picks a record whose insert is still in flight.
    fn acknowledge(&self, key: u64) {
        let mut above = self.acked_above.lock().unwrap_or_else(PoisonError::into_inner);
        above.insert(key);
        let mut readable = self.readable.load(Ordering::Relaxed);
        while above.remove(&readable) {
            readable += 1;
        }
        self.readable.store(readable, Ordering::Relaxed);
    }
}

/// Runs `config` with one task per driver (`drivers.len()` should equal the concurrency).
pub async fn run(config: &RunConfig, drivers: Vec<Driver>) -> RunResult {
    let insert_start = if config.workload.is_load { 0 } else { config.records };
    let shared = Arc::new(Shared {
        next_insert: AtomicU64::new(insert_start),
        readable: AtomicU64::new(config.records),
        acked_above: Mutex::new(BTreeSet::new()),
        started: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let mut chooser = KeyChooser::new(config.distribution);
    chooser.prepare(config.records);
    let tasks = drivers.len().max(1);
    // Each task's histograms (about 1 ms each to allocate and zero), random state and value
    // pool are made before the schedule starts. Made as the tasks were spawned, they made
    // an open-loop run's first operations late by up to 70 ms, counted as latency.
    let kinds = || config.workload.mix.iter().map(|(kind, _)| *kind);
    let prepared: Vec<(Arc<Mutex<Stats>>, Rng, ValuePool)> = (0..drivers.len())
        .map(|i| {
            let mut rng = Rng::new(config.seed.wrapping_add(i as u64));
            let values = ValuePool::new(&mut rng);
            (Arc::new(Mutex::new(Stats::for_kinds(kinds()))), rng, values)
        })
        .collect();
    let task_stats: Vec<_> = prepared.iter().map(|(stats, _, _)| stats.clone()).collect();
    // The reporter swaps a task's stats for one of these each interval; made here too, as
    // made on its thread they would take a CPU from the run's first interval.
    let spares: Vec<Stats> = match config.report_interval {
        Some(_) => task_stats.iter().map(|_| Stats::for_kinds(kinds())).collect(),
        None => Vec::new(),
    };
    let start = Instant::now();
    let mut handles = Vec::new();
    for (i, (driver, (stats, rng, values))) in drivers.into_iter().zip(prepared).enumerate() {
        let task = Task {
            index: i,
            tasks,
            config: config.clone(),
            shared: shared.clone(),
            chooser: chooser.clone(),
            stats,
            driver,
            start,
        };
        handles.push(tokio::spawn(task.run(rng, values)));
    }
    let reporter = config.report_interval.and_then(|every| {
        Reporter::start(every, task_stats.clone(), spares, start)
            .map_err(|e| {
                eprintln!("no interval tables: the reporter's thread failed to start ({e})")
            })
            .ok()
    });
    for handle in handles {
        let _ = handle.await;
    }
    let elapsed = start.elapsed();
    // The reporter's totals, then what the tasks recorded since its last interval.
    let mut stats = reporter.map(Reporter::finish).unwrap_or_default();
    for s in &task_stats {
        lock(s).drain_into(&mut stats);
    }
    RunResult { stats, elapsed }
}

fn lock(stats: &Mutex<Stats>) -> std::sync::MutexGuard<'_, Stats> {
    stats.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The interval reporter's thread.
struct Reporter {
    /// Set (and notified) to stop the thread.
    stop: Arc<(Mutex<bool>, Condvar)>,
    /// Returns every sample it took from the tasks.
    thread: JoinHandle<Stats>,
}

impl Reporter {
    /// Starts printing an interval table of `task_stats` every `every`; `spares` holds an
    /// empty `Stats` per task, swapped in for the task's full one each interval.
    fn start(
        every: Duration,
        task_stats: Vec<Arc<Mutex<Stats>>>,
        spares: Vec<Stats>,
        start: Instant,
    ) -> std::io::Result<Reporter> {
        assert!(!every.is_zero(), "a report interval must be positive");
        assert_eq!(task_stats.len(), spares.len(), "a spare per task");
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = std::thread::Builder::new().name("shoal-bench-reporter".into()).spawn({
            let stop = stop.clone();
            move || report_loop(every, &task_stats, spares, start, &stop)
        })?;
        Ok(Reporter { stop, thread })
    }

    /// Stops the thread and returns every sample it took. Samples recorded since its
    /// last interval stay in the tasks' stats.
    fn finish(self) -> Stats {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        // A panicked reporter lost its samples; the run reports what the tasks still hold.
        self.thread.join().unwrap_or_else(|_| {
            eprintln!("the reporter's thread panicked; interval samples are lost");
            Stats::default()
        })
    }
}

/// Every `every` until stopped: takes each task's samples, prints them as an interval's
/// table and keeps them; returns them all.
fn report_loop(
    every: Duration,
    task_stats: &[Arc<Mutex<Stats>>],
    mut spares: Vec<Stats>,
    start: Instant,
    stop: &(Mutex<bool>, Condvar),
) -> Stats {
    let mut interval = Stats::default();
    let mut totals = Stats::default();
    let mut last = Instant::now();
    let mut next = last + every;
    loop {
        {
            let (stopped, wake) = stop;
            let mut stopped = stopped.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if *stopped {
                    return totals;
                }
                let now = Instant::now();
                if now >= next {
                    break;
                }
                stopped = wake
                    .wait_timeout(stopped, next - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        take_samples(task_stats, &mut spares, &mut interval);
        let now = Instant::now();
        print_interval(now - start, now - last, &interval);
        last = now;
        // The next tick on the schedule; ticks missed while this thread waited for a CPU
        // are skipped rather than printed back to back.
        while next <= now {
            next += every;
        }
        interval.drain_into(&mut totals);
    }
}

/// Moves every task's samples into `into`, holding a task's lock only to swap its stats
/// for the empty `spares[i]`; the merge runs after the lock is released. `spares` are empty
/// again on return.
fn take_samples(task_stats: &[Arc<Mutex<Stats>>], spares: &mut [Stats], into: &mut Stats) {
    assert_eq!(task_stats.len(), spares.len());
    for (task, spare) in task_stats.iter().zip(spares.iter_mut()) {
        debug_assert_eq!(spare.total(), 0);
        std::mem::swap(&mut *lock(task), spare);
        spare.drain_into(into);
    }
}

/// One client task.
struct Task {
    index: usize,
    tasks: usize,
    config: RunConfig,
    shared: Arc<Shared>,
    chooser: KeyChooser,
    stats: Arc<Mutex<Stats>>,
    driver: Driver,
    start: Instant,
}

impl Task {
    async fn run(mut self, mut rng: Rng, values: ValuePool) {
        let deadline = self.start + self.config.duration;
        // Open loop: this task's share of the schedule.
        let period = self.config.rate.map(|rate| Duration::from_secs_f64(1.0 / rate.max(1e-9)));
        let mut intended = self.start + period.map_or(Duration::ZERO, |p| p * self.index as u32);
        let task_period = period.map(|p| p * self.tasks as u32);
        let pacer = match task_period.map(|_| Pacer::new()).transpose() {
            Ok(pacer) => pacer,
            Err(e) => {
                eprintln!("task {}: no high-resolution timer ({e}); using tokio's", self.index);
                None
            }
        };
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                break;
            }
            if let Some(limit) = self.config.operations {
                if self.shared.started.fetch_add(1, Ordering::Relaxed) >= limit {
                    break;
                }
            }
            if task_period.is_some() {
                if intended >= deadline {
                    break;
                }
                if Instant::now() < intended {
                    let paced = match &pacer {
                        Some(pacer) => pacer.sleep_until(intended).await.is_ok(),
                        None => false,
                    };
                    if !paced {
                        tokio::time::sleep_until(intended.into()).await;
                    }
                }
            } else {
                intended = Instant::now();
                if intended >= deadline {
                    break;
                }
            }
            let kind = if self.config.workload.is_load {
                OpKind::Insert
            } else {
                self.config.workload.choose(&mut rng)
            };
            let sent = Instant::now();
            let Some(result) = self.execute(kind, &mut rng, &values).await else { break };
            let done = Instant::now();
            {
                let mut stats = lock(&self.stats);
                match result {
                    Ok(()) => stats.record(kind, done - intended, done - sent),
                    Err(OpError(error)) => stats.record_error(kind, &error),
                }
            }
            if let Some(p) = task_period {
                intended += p;
            }
        }
    }

    /// Performs one operation of `kind`; `None` when the load phase has inserted everything.
    async fn execute(
        &mut self,
        kind: OpKind,
        rng: &mut Rng,
        values: &ValuePool,
    ) -> Option<Result<(), OpError>> {
        let record = self.config.record;
        let existing = self.shared.readable.load(Ordering::Relaxed);
        let result = match kind {
            OpKind::Insert => {
                let key = self.shared.next_insert.fetch_add(1, Ordering::Relaxed);
                if self.config.workload.is_load && key >= self.config.records {
                    self.shared.stop.store(true, Ordering::Relaxed);
                    return None;
                }
                let fields: Vec<&str> =
                    (0..record.fields).map(|_| values.value(rng, record.field_bytes)).collect();
                let result = self.driver.insert(key, &fields).await;
                // A failed insert is acknowledged too, or the readable prefix would stop
                // there for the rest of the run; reads of it count as `not_found`.
                if !self.config.workload.is_load {
                    self.shared.acknowledge(key);
                }
                result
            }
            OpKind::Read => self.driver.read(self.chooser.next(rng, existing)).await,
            OpKind::Update => {
                let key = self.chooser.next(rng, existing);
                let field = rng.below(record.fields as u64) as usize;
                self.driver.update(key, field, values.value(rng, record.field_bytes)).await
            }
            OpKind::Scan => {
                let key = self.chooser.next(rng, existing);
                let len = 1 + rng.below(self.config.max_scan_length.max(1));
                self.driver.scan(key, len).await
            }
            OpKind::ReadModifyWrite => {
                let key = self.chooser.next(rng, existing);
                match self.driver.read(key).await {
                    Ok(()) => {
                        let field = rng.below(record.fields as u64) as usize;
                        let value = values.value(rng, record.field_bytes);
                        self.driver.update(key, field, value).await
                    }
                    Err(e) => Err(e),
                }
            }
        };
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_prefix_waits_for_gaps() {
        let shared = Shared {
            next_insert: AtomicU64::new(10),
            readable: AtomicU64::new(10),
            acked_above: Mutex::new(BTreeSet::new()),
            started: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        };
        shared.acknowledge(11);
        shared.acknowledge(12);
        assert_eq!(shared.readable.load(Ordering::Relaxed), 10);
        shared.acknowledge(10);
        assert_eq!(shared.readable.load(Ordering::Relaxed), 13);
        assert!(shared.acked_above.lock().unwrap().is_empty());
    }

    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The reporter needs no runtime thread: it drains tasks whose runtime is busy (here,
    /// there is none), so draining cannot hold the tasks' schedule.
    #[test]
    fn the_reporter_drains_tasks_without_the_runtime() {
        let tasks: Vec<Arc<Mutex<Stats>>> =
            (0..3).map(|_| Arc::new(Mutex::new(Stats::default()))).collect();
        for (i, task) in tasks.iter().enumerate() {
            for us in 1..=100 {
                let d = Duration::from_micros(us * (i as u64 + 1));
                lock(task).record(OpKind::Read, d, d);
            }
        }
        let spares = tasks.iter().map(|_| Stats::default()).collect();
        let reporter =
            Reporter::start(Duration::from_millis(5), tasks.clone(), spares, Instant::now())
                .expect("reporter thread");
        wait_until("the reporter took every task's samples", || {
            tasks.iter().all(|t| lock(t).total() == 0)
        });
        lock(&tasks[1]).record_error(OpKind::Update, "timeout");
        let totals = reporter.finish();
        assert_eq!(totals.get(OpKind::Read).count(), 300);
        let read = &totals.get(OpKind::Read).latency;
        assert!(read.equivalent(read.max(), 300_000), "max {} ns", read.max());
        // Whatever the reporter did not take before it stopped is still in the task.
        let left = lock(&tasks[1]).get(OpKind::Update).error_count();
        assert_eq!(left + totals.get(OpKind::Update).error_count(), 1);
    }

    /// Samples recorded while the reporter swaps stats out are neither lost nor counted
    /// twice.
    #[test]
    fn samples_recorded_during_reports_are_counted_once() {
        let tasks: Vec<Arc<Mutex<Stats>>> =
            (0..4).map(|_| Arc::new(Mutex::new(Stats::default()))).collect();
        let spares = tasks.iter().map(|_| Stats::for_kinds([OpKind::Read])).collect();
        let reporter =
            Reporter::start(Duration::from_millis(1), tasks.clone(), spares, Instant::now())
                .expect("reporter thread");
        let per_task = 20_000u64;
        let recorders: Vec<_> = tasks
            .iter()
            .map(|task| {
                let task = task.clone();
                std::thread::spawn(move || {
                    for i in 0..per_task {
                        let d = Duration::from_nanos(1_000 + i);
                        lock(&task).record(OpKind::Read, d, d);
                        if i % 1_000 == 0 {
                            lock(&task).record_error(OpKind::Read, "timeout");
                        }
                    }
                })
            })
            .collect();
        for r in recorders {
            r.join().expect("recorder");
        }
        let mut all = reporter.finish();
        for task in &tasks {
            lock(task).drain_into(&mut all);
        }
        let read = all.get(OpKind::Read);
        assert_eq!(read.count(), 4 * per_task);
        assert_eq!(read.service.len(), 4 * per_task);
        assert_eq!(read.error_count(), 4 * per_task / 1_000);
        assert_eq!(read.latency.min(), 1_000);
    }
}
