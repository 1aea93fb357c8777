//! The engine micro-benchmark: one engine on one core, in-process, on the real disk.
//!
//! Phases (each reports throughput and latency percentiles):
//! 1. `put_batch_sync`: `--writers` concurrent writers, 1 KiB values, `batch` commit-log sync
//!    (every put acknowledged only after its fdatasync; group commit shares them).
//! 2. `get_memtable`: random gets of keys still in the memtable.
//! 3. `get_sstable_cached`: random gets after a flush, with the block cache warm.
//! 4. `get_sstable_uncached`: random gets with `--readers` concurrent readers and a tiny block
//!    cache, so almost every get reads a block from disk (direct I/O).
//! 5. `scan`: full-table scan, rows per second.
//! 6. `get_during_compaction` vs `get_idle`: foreground gets while a major compaction runs in
//!    the background queue, against the same gets with nothing else running.
//! 7. write amplification after overwrites and compaction.
//!
//! Results go to stdout and, as JSON, to `--out`.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use clap::Parser;
use hdrhistogram::Histogram;
use shoal_engine::clock::Clock;
use shoal_engine::io::{Disk, OpenMode, IO_ALIGN};
use shoal_engine::runtime::{self, spawn, Queue};
use shoal_engine::types::{ItemKey, KeyValue, Row, Value};
use shoal_engine::{Engine, EngineConfig, ScanRange, TableOptions};

#[derive(Parser, Debug, Clone)]
#[command(about = "Shoal storage-engine micro-benchmark (one core, in-process)")]
struct Args {
    /// Data directory (created; removed at the end unless --keep).
    #[arg(long, default_value = "bench-out/engine-data")]
    dir: PathBuf,
    /// Items written in the put phase.
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    value_bytes: usize,
    /// Concurrent writers in the put phase.
    #[arg(long, default_value_t = 64)]
    writers: u64,
    /// Concurrent readers in the uncached-get phase.
    #[arg(long, default_value_t = 32)]
    readers: u64,
    /// Gets per get phase.
    #[arg(long, default_value_t = 200_000)]
    gets: u64,
    /// Pin the engine to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    /// Write the results here as JSON.
    #[arg(long, default_value = "bench-out/engine.json")]
    out: PathBuf,
    /// Keep the data directory.
    #[arg(long)]
    keep: bool,
    /// Stop after this phase (e.g. `get_memtable`, `scan`), for profiling one part.
    #[arg(long)]
    stop_after: Option<String>,
}

#[derive(Default, Clone)]
struct Phase {
    name: String,
    ops: u64,
    seconds: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
}

impl Phase {
    fn from(name: &str, hist: &Histogram<u64>, seconds: f64) -> Phase {
        let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        Phase {
            name: name.to_string(),
            ops: hist.len(),
            seconds,
            p50_us: us(0.5),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: hist.max() as f64 / 1000.0,
        }
    }

    fn rate(&self) -> f64 {
        self.ops as f64 / self.seconds.max(1e-9)
    }

    fn json(&self) -> String {
        format!(
            "{{\"phase\":\"{}\",\"ops\":{},\"seconds\":{:.3},\"ops_per_sec\":{:.0},\"p50_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\"max_us\":{:.1}}}",
            self.name, self.ops, self.seconds, self.rate(), self.p50_us, self.p99_us, self.p999_us, self.max_us
        )
    }
}

fn item_key(i: u64) -> ItemKey {
    let partition = format!("user{:08}", i / 10);
    ItemKey {
        token: xxhash_rust_token(&partition),
        partition: KeyValue::S(partition),
        sort: Some(KeyValue::S(format!("{:04}", i % 10))),
    }
}

/// A cheap stable token (the node will use its own hash; the engine does not care).
fn xxhash_rust_token(partition: &str) -> u64 {
    partition
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds are valid")
}

async fn put_phase(engine: &Engine, args: &Args, first: u64, name: &str) -> Phase {
    let hist = Rc::new(RefCell::new(histogram()));
    let value = Value::S("x".repeat(args.value_bytes));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.writers {
        let (engine, hist, value) = (engine.clone(), hist.clone(), value.clone());
        let (records, writers) = (args.records, args.writers);
        tasks.push(spawn(Queue::Foreground, async move {
            let mut i = w;
            while i < records {
                let row = Row::put_item(first + i + 1, [("v".to_string(), value.clone())], 0);
                let t = Instant::now();
                engine.write(1, &item_key(i), row).await.expect("put");
                let _ = hist.borrow_mut().record(t.elapsed().as_nanos() as u64);
                i += writers;
            }
        }));
    }
    for task in tasks {
        task.join().await;
    }
    let hist = hist.borrow();
    Phase::from(name, &hist, start.elapsed().as_secs_f64())
}

async fn get_phase(
    engine: &Engine,
    records: u64,
    gets: u64,
    concurrency: u64,
    name: &str,
) -> Phase {
    let hist = Rc::new(RefCell::new(histogram()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..concurrency {
        let (engine, hist) = (engine.clone(), hist.clone());
        tasks.push(spawn(Queue::Foreground, async move {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (r + 1));
            for _ in 0..gets / concurrency {
                let i = rng.next() % records;
                let t = Instant::now();
                let got = engine.get(1, &item_key(i)).await.expect("get");
                let _ = hist.borrow_mut().record(t.elapsed().as_nanos() as u64);
                assert!(got.is_some(), "item {i} exists");
                runtime::yield_if_needed().await;
            }
        }));
    }
    for task in tasks {
        task.join().await;
    }
    let hist = hist.borrow();
    Phase::from(name, &hist, start.elapsed().as_secs_f64())
}

fn largest_file(dir: &std::path::Path) -> PathBuf {
    let entries = std::fs::read_dir(dir).expect("read data dir");
    let files =
        entries.filter_map(|e| e.ok()).filter(|e| e.path().extension().is_some_and(|x| x == "sst"));
    files
        .max_by_key(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .expect("an SSTable exists")
        .path()
}

async fn disk_read_phase(path: &std::path::Path, reads: u64, concurrency: u64) -> Phase {
    let disk = Disk::glommio();
    let file = Rc::new(disk.open(path, OpenMode::ReadOnly).await.expect("open table file"));
    let pages = file.len().await.expect("file length") / IO_ALIGN as u64;
    let hist = Rc::new(RefCell::new(histogram()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..concurrency {
        let (file, hist) = (file.clone(), hist.clone());
        tasks.push(spawn(Queue::Foreground, async move {
            let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (r + 1));
            for _ in 0..reads / concurrency {
                let page = rng.next() % pages.max(1);
                let t = Instant::now();
                let got = file.read_at(page * IO_ALIGN as u64, IO_ALIGN).await.expect("read");
                let _ = hist.borrow_mut().record(t.elapsed().as_nanos() as u64);
                assert_eq!(got.len(), IO_ALIGN, "whole pages inside the file");
            }
        }));
    }
    for task in tasks {
        task.join().await;
    }
    let hist = hist.borrow();
    Phase::from("disk_read_4k_direct", &hist, start.elapsed().as_secs_f64())
}

async fn scan_phase(engine: &Engine) -> Phase {
    let mut hist = histogram();
    let start = Instant::now();
    let mut range = ScanRange {
        lower: std::ops::Bound::Unbounded,
        upper: std::ops::Bound::Unbounded,
        reverse: false,
        limit: 1000,
    };
    let mut rows = 0;
    loop {
        let t = Instant::now();
        let page = engine.scan(1, &range).await.expect("scan");
        let _ = hist.record(t.elapsed().as_nanos() as u64);
        rows += page.items.len() as u64;
        match page.resume_after {
            Some(key) => range.lower = std::ops::Bound::Excluded(key),
            None => break,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut phase = Phase::from("scan_pages_of_1000", &hist, seconds);
    phase.name = "scan".into();
    phase.ops = rows;
    phase
}

async fn open(args: &Args, config: EngineConfig) -> Engine {
    let (engine, _) =
        Engine::open(Disk::glommio(), &args.dir, config, Clock::System).await.expect("open engine");
    if !engine.tables().contains(&1) {
        engine.create_table(1, TableOptions::default()).await.expect("create table");
    }
    engine
}

async fn run(args: Args) -> Vec<String> {
    let _ = std::fs::remove_dir_all(&args.dir);
    // Memtables big enough to hold the whole put phase, so the memtable-get phase reads memory.
    let memtable = (args.records as usize * (args.value_bytes + 200)).max(64 << 20);
    let config = EngineConfig::default()
        .memtable_bytes(memtable)
        .memtables_total_bytes(memtable * 3)
        .block_cache_bytes(512 << 20);
    let engine = open(&args, config.clone()).await;
    let mut phases = Vec::new();
    let puts = put_phase(&engine, &args, 0, "put_batch_sync").await;
    let log_flushes = engine.metrics().writes.get();
    phases.push(puts);
    phases.push(get_phase(&engine, args.records, args.gets, 1, "get_memtable").await);
    if args.stop_after.as_deref() == Some("get_memtable") {
        return report(&phases, String::new());
    }
    engine.flush().await.expect("flush");
    // The first scan reads every block from disk and fills the cache; the cached phases follow.
    scan_phase(&engine).await;
    phases.push(get_phase(&engine, args.records, args.gets, 1, "get_sstable_cached").await);
    phases.push(scan_phase(&engine).await);
    engine.clone().close().await.expect("close");
    if args.stop_after.as_deref() == Some("scan") {
        return report(&phases, String::new());
    }

    // Uncached: a 1 MiB cache against a data set hundreds of times larger.
    let small = config.clone().block_cache_bytes(1 << 20);
    let engine = open(&args, small.clone()).await;
    let uncached_gets = (args.gets / 2).max(args.readers);
    phases.push(
        get_phase(&engine, args.records, uncached_gets, args.readers, "get_sstable_uncached").await,
    );

    // The disk's own ceiling through the same I/O seam: random aligned 4 KiB reads of the
    // table file with as many concurrent readers, no engine work around them.
    let table_file = largest_file(&args.dir);
    phases.push(disk_read_phase(&table_file, uncached_gets, args.readers).await);

    // Overwrite everything twice in small memtables, so size-tiered compaction has work.
    engine.clone().close().await.expect("close");
    let churn = small.memtable_bytes(16 << 20).memtables_total_bytes(48 << 20);
    let engine = open(&args, churn).await;
    for round in 1..=2 {
        put_phase(&engine, &args, round * args.records, "overwrite").await;
    }
    engine.flush().await.expect("flush");
    // Let background compactions finish so the idle phase is idle.
    engine.compact_now().await.expect("compact");
    let idle = get_phase(&engine, args.records, args.gets / 4, 8, "get_idle").await;
    let compaction = {
        let engine2 = engine.clone();
        let major = spawn(Queue::Compaction, async move { engine2.compact_table_fully(1).await });
        let during =
            get_phase(&engine, args.records, args.gets / 4, 8, "get_during_compaction").await;
        major.join().await.expect("compaction task").expect("compaction");
        during
    };
    phases.push(idle);
    phases.push(compaction);
    let metrics = engine.metrics();
    let wa = metrics.write_amplification();
    let (memtable_bytes, index_bytes) = engine.memory_bytes();
    let files = engine.table_files(1).expect("table").len();
    engine.close().await.expect("close");

    let summary = format!(
        "{{\"write_amplification\":{wa:.2},\"files_after_major_compaction\":{files},\"memtable_bytes\":{memtable_bytes},\"bloom_and_index_bytes\":{index_bytes},\"acknowledged_puts\":{log_flushes}}}"
    );
    println!("write amplification (SSTable bytes written / flushed): {wa:.2}");
    println!(
        "memory: memtables {memtable_bytes} B, bloom+index {index_bytes} B, block cache ≤ its capacity"
    );
    report(&phases, summary)
}

/// Prints the phase table and returns the JSON lines (phases, then `summary` if any).
fn report(phases: &[Phase], summary: String) -> Vec<String> {
    let mut lines: Vec<String> = phases.iter().map(Phase::json).collect();
    if !summary.is_empty() {
        lines.push(summary);
    }
    println!(
        "{:<24} {:>10} {:>12} {:>9} {:>9} {:>9} {:>9}",
        "phase", "ops", "ops/s", "p50 µs", "p99 µs", "p999 µs", "max µs"
    );
    for p in phases {
        println!(
            "{:<24} {:>10} {:>12.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            p.name,
            p.ops,
            p.rate(),
            p.p50_us,
            p.p99_us,
            p.p999_us,
            p.max_us
        );
    }
    lines
}

fn main() {
    let args = Args::parse();
    let out = args.out.clone();
    let dir = args.dir.clone();
    let keep = args.keep;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).expect("create bench dir");
    }
    let lines = runtime::run_on_new_executor("engine-bench", args.cpu, move || run(args))
        .expect("executor");
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).expect("create out dir");
    }
    let json = format!("{{\"engine_bench\":[\n  {}\n]}}\n", lines.join(",\n  "));
    std::fs::write(&out, json).expect("write results");
    println!("results written to {}", out.display());
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
