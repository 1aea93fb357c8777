//! Crash test: a child process writes with many concurrent writers and reports each
//! acknowledged write; the parent kills it with SIGKILL at a random moment, reopens the data
//! directory, and checks that every acknowledged write is there and that no write is
//! half-applied (each item's attributes all come from one write). Repeated on one directory,
//! so later rounds replay logs and SSTables left by earlier crashes.
//!
//! SIGKILL keeps the page cache, but the engine writes with O_DIRECT, so what the child
//! acknowledged is on the device (the power-cut variant runs on the memory disk in
//! `engine_faults.rs`).
#![allow(clippy::unwrap_used)]

mod harness;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use harness::{env_usize, key, World, TABLE};
use shoal_engine::runtime::{run_test, spawn, Queue};
use shoal_engine::types::{Row, Value};

const CHILD_DIR_ENV: &str = "SHOAL_CRASH_CHILD_DIR";
const CHILD_FIRST_ID_ENV: &str = "SHOAL_CRASH_CHILD_FIRST_ID";
const WRITERS: u64 = 32;

fn item_key(id: u64) -> shoal_engine::types::ItemKey {
    key(&format!("k{}", id % 101), Some(&format!("{id:010}")))
}

/// The child: writes forever until killed, printing "ack ID" after each acknowledged write.
#[test]
#[ignore = "run by engine_crash_keeps_acknowledged_writes as a child process"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let first: u64 = std::env::var(CHILD_FIRST_ID_ENV).unwrap().parse().unwrap();
    run_test(move || async move {
        let world = World::glommio_at(dir.into());
        let engine = world.open().await;
        println!("ready");
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let engine = engine.clone();
            tasks.push(spawn(Queue::Foreground, async move {
                let mut id = first + writer;
                loop {
                    let v = Value::N((id as i64).into());
                    let doc = [
                        ("a".to_string(), v.clone()),
                        ("b".to_string(), v.clone()),
                        ("c".to_string(), v),
                    ];
                    let pad = ("pad".to_string(), Value::S("x".repeat(200)));
                    let row = Row::put_item(id + 1, doc.into_iter().chain([pad]), 0);
                    engine.write(TABLE, &item_key(id), row).await.unwrap();
                    println!("ack {id}");
                    id += WRITERS;
                }
            }));
        }
        for task in tasks {
            task.join().await;
        }
    });
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Runs one child until a random moment; returns the ids it acknowledged.
fn run_child(dir: &std::path::Path, first_id: u64, kill_after: Duration) -> BTreeSet<u64> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_FIRST_ID_ENV, first_id.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("child gets ready");
        if line.ends_with("ready") {
            break;
        }
    }
    std::thread::sleep(kill_after);
    // SIGKILL: no destructor, no flush, no goodbye.
    kill_9(child.id());
    child.wait().unwrap();
    reader.join().unwrap();
    rx.try_iter()
        .filter_map(|line| line.strip_prefix("ack ").and_then(|id| id.parse().ok()))
        .collect()
}

fn kill_9(pid: u32) {
    let status = Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill -9 works");
}

#[test]
fn engine_crash_keeps_acknowledged_writes() {
    let rounds = env_usize("SHOAL_CRASH_ITERATIONS", 6) as u64;
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64
            | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let tempdir = tempfile::tempdir().unwrap();
    let dir = tempdir.path().join("engine");
    let mut acked_total = BTreeSet::new();
    for round in 0..rounds {
        let first_id = round * 10_000_000;
        let kill_after = Duration::from_millis(50 + rng.below(600));
        let acked = run_child(&dir, first_id, kill_after);
        assert!(
            !acked.is_empty() || kill_after < Duration::from_millis(100),
            "child made progress"
        );
        eprintln!(
            "round {round}: killed after {kill_after:?}, {} writes acknowledged",
            acked.len()
        );
        acked_total.extend(acked);
        let expected = acked_total.clone();
        let dir = dir.clone();
        run_test(move || async move {
            let world = World::glommio_at(dir);
            let engine = world.open().await;
            for id in &expected {
                let got = engine.get(TABLE, &item_key(*id)).await.unwrap();
                let got =
                    got.unwrap_or_else(|| panic!("acknowledged write {id} lost (seed {seed})"));
                let v = Value::N((*id as i64).into());
                assert_eq!(
                    (&got["a"], &got["b"], &got["c"]),
                    (&v, &v, &v),
                    "write {id} half-applied"
                );
            }
            engine.close().await.unwrap();
        });
    }
    assert!(
        acked_total.len() > 100,
        "the rounds acknowledged enough writes: {}",
        acked_total.len()
    );
}
