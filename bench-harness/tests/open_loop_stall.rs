//! The open-loop engine reports a server stall in its latencies (no coordinated omission),
//! while the closed loop, by construction, hides most of it.
//!
//! The server is a tiny in-test RESP server that can be paused: while paused it answers
//! nothing, like a process under SIGSTOP. A second test does the same against a real
//! `redis-server` stopped with SIGSTOP, and skips (with a note) when none is installed
//! (`apt-get install -y redis-server`).

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shoal_bench_harness::connect::{connect_drivers, ConnectConfig, TargetKind};
use shoal_bench_harness::driver::{Consistencies, Layout, Record};
use shoal_bench_harness::report::Percentiles;
use shoal_bench_harness::runner::{run, RunConfig, RunResult};
use shoal_bench_harness::workload::{OpKind, Workload};
use shoal_client::Consistency;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const PAUSE: Duration = Duration::from_secs(1);

/// A RESP server answering every command with a one-field hash, unless paused.
async fn fake_redis(paused: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let paused = paused.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut line = String::new();
                loop {
                    // Read one command: "*n", then n pairs of "$len" and the argument.
                    line.clear();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let args: usize = line.trim()[1..].parse().unwrap();
                    for _ in 0..args * 2 {
                        line.clear();
                        stream.read_line(&mut line).await.unwrap();
                    }
                    while paused.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    let reply = b"*2\r\n$6\r\nfield0\r\n$1\r\nx\r\n";
                    if stream.get_mut().write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    address
}

fn config(rate: Option<f64>) -> RunConfig {
    let workload = Workload::named("c", 0.99).unwrap();
    RunConfig {
        distribution: workload.distribution,
        workload,
        records: 1000,
        operations: None,
        duration: Duration::from_secs(3),
        concurrency: 4,
        rate,
        max_scan_length: 10,
        report_interval: None,
        record: Record { fields: 1, field_bytes: 1, layout: Layout::Plain },
        seed: 1,
    }
}

async fn run_against(address: &str, rate: Option<f64>, pause: impl FnOnce()) -> RunResult {
    let connect = ConnectConfig {
        target: TargetKind::Redis,
        hosts: vec![address.to_owned()],
        record: Record { fields: 1, field_bytes: 1, layout: Layout::Plain },
        consistency: Consistencies {
            read: Consistency::One,
            write: Consistency::One,
            scan: Consistency::One,
        },
        timeout: Duration::from_secs(10),
        concurrency: 4,
        shoal_clients: 0,
        retries: 0,
        dynamo: None,
    };
    let drivers = connect_drivers(&connect).await.unwrap();
    let config = config(rate);
    let handle = tokio::spawn(async move { run(&config, drivers).await });
    tokio::time::sleep(Duration::from_millis(800)).await;
    pause();
    handle.await.unwrap()
}

fn summary(result: &RunResult) -> (u64, Percentiles) {
    let read = result.stats.get(OpKind::Read);
    (read.count(), Percentiles::of(&read.latency))
}

/// Checks the open-loop figures of a run with a 1 s stall starting at 0.8 s of 3 s.
fn assert_stall_visible(open: &RunResult) {
    let (count, p) = summary(open);
    println!("open loop: {count} reads, {p:?}");
    // 2000/s for 3 s, and every scheduled request completes (late ones catch up).
    assert!(count > 5000, "{count}");
    // A fifth of the requests were scheduled during the pause; the first waited ~1 s.
    assert!(p.max >= 0.9e6, "max {} us", p.max);
    assert!(p.p999 >= 0.8e6, "p99.9 {} us", p.p999);
    assert!(p.p99 >= 0.5e6, "p99 {} us", p.p99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_reports_a_paused_server() {
    let paused = Arc::new(AtomicBool::new(false));
    let address = fake_redis(paused.clone()).await;
    let stall = |paused: Arc<AtomicBool>| {
        move || {
            paused.store(true, Ordering::Relaxed);
            std::thread::spawn(move || {
                std::thread::sleep(PAUSE);
                paused.store(false, Ordering::Relaxed);
            });
        }
    };
    let open = run_against(&address, Some(2000.0), stall(paused.clone())).await;
    assert_stall_visible(&open);
    // The closed loop sees the same stall in only `concurrency` requests.
    let closed = run_against(&address, None, stall(paused.clone())).await;
    let (count, p) = summary(&closed);
    println!("closed loop: {count} reads, {p:?}");
    assert!(p.max >= 0.9e6, "the stalled requests themselves: max {} us", p.max);
    assert!(p.p99 < 100_000.0, "closed loop p99 {} us", p.p99);
}

struct RedisServer(Child);

impl Drop for RedisServer {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-CONT", &pid]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_reports_a_sigstopped_redis() {
    let port = 26_379 + (std::process::id() % 1000) as u16;
    let spawned = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = spawned else {
        println!("skipped: redis-server is not installed (apt-get install -y redis-server)");
        return;
    };
    let server = RedisServer(child);
    let address = format!("127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&address).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ready, "redis-server did not start on {address}");
    // A record the reads find.
    let mut c = shoal_bench_harness::redis::RedisConnection::connect(&address).await.unwrap();
    for key in 0..1000u64 {
        c.queue(&[b"HSET", shoal_bench_harness::keys::key_name(key).as_bytes(), b"field0", b"x"]);
    }
    c.flush().await.unwrap();
    for _ in 0..1000 {
        c.read_reply().await.unwrap();
    }
    let pid = server.0.id().to_string();
    let open = run_against(&address, Some(2000.0), || {
        Command::new("kill").args(["-STOP", &pid]).status().unwrap();
        let pid = pid.clone();
        std::thread::spawn(move || {
            std::thread::sleep(PAUSE);
            Command::new("kill").args(["-CONT", &pid]).status().unwrap();
        });
    })
    .await;
    assert_eq!(open.stats.get(OpKind::Read).error_count(), 0);
    assert_stall_visible(&open);
}
