//! Races (exactly one conditional write wins; no lost increments), restarts after SIGTERM
//! and SIGKILL with every acknowledged write back, memory on defaults, and a paused node's
//! stall counted by its shards' probes.

mod harness;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use harness::{item, n, s, scale, wait_for, Node};
use shoal_client::*;
use shoal_types::KeyType;

fn spec(name: &str) -> TableSpec {
    TableSpec {
        name: name.into(),
        partition_key: KeyAttribute { name: "pk".into(), key_type: KeyType::S },
        sort_key: None,
        replication_factor: 3,
        compaction: Compaction::SizeTiered,
        default_ttl_secs: 0,
        ttl_attribute: None,
        options: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_races_have_one_winner_and_counters_lose_nothing() {
    let node = Node::start(2);
    let c = node.client().await;
    c.create_table(spec("race"), false).await.unwrap();

    // 32 clients (own connections) race a put-if-absent on each of 20 keys.
    let clients: Vec<Client> = futures_collect(32, || node.client()).await;
    for round in 0..20 {
        let key = format!("k{round}");
        let winners = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for (i, client) in clients.iter().enumerate() {
            let client = client.clone();
            let key = key.clone();
            let winners = winners.clone();
            tasks.push(tokio::spawn(async move {
                let r = client
                    .request(Request::PutItem {
                        table: "race".into(),
                        item: item(&[("pk", s(&key)), ("owner", n(i as i64))]),
                        condition: Some("attribute_not_exists(pk)".into()),
                        placeholders: Placeholders::default(),
                        ttl_secs: 0,
                        return_values: ReturnValues::None,
                    })
                    .await;
                match r {
                    Ok(_) => {
                        winners.fetch_add(1, Ordering::SeqCst);
                        Some(i)
                    }
                    Err(e) => {
                        assert_eq!(e.status(), Some(Status::ConditionFailed), "{e}");
                        None
                    }
                }
            }));
        }
        let mut winner = None;
        for t in tasks {
            if let Some(i) = t.await.unwrap() {
                winner = Some(i);
            }
        }
        assert_eq!(winners.load(Ordering::SeqCst), 1, "round {round}: not exactly one winner");
        let stored = c.get("race", item(&[("pk", s(&key))])).await.unwrap().unwrap();
        assert_eq!(
            stored["owner"],
            n(winner.unwrap() as i64),
            "the stored item is not the winner's"
        );
    }

    // 16 clients × 50 increments of one counter (and of one counter per client).
    let per = 50;
    let mut tasks = Vec::new();
    for (i, client) in clients.iter().take(16).enumerate() {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                let values = Placeholders {
                    values: [(":one".to_string(), n(1))].into(),
                    ..Placeholders::default()
                };
                client
                    .update("race", item(&[("pk", s("counter"))]), "ADD hits :one", values.clone())
                    .await
                    .unwrap();
                client
                    .update("race", item(&[("pk", s(&format!("own{i}")))]), "ADD hits :one", values)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let counter = c.get("race", item(&[("pk", s("counter"))])).await.unwrap().unwrap();
    assert_eq!(counter["hits"], n(16 * per), "lost increments");
    for i in 0..16 {
        let own = c.get("race", item(&[("pk", s(&format!("own{i}")))])).await.unwrap().unwrap();
        assert_eq!(own["hits"], n(per));
    }
}

async fn futures_collect<F, Fut>(count: usize, make: F) -> Vec<Client>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Client>,
{
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(make().await);
    }
    out
}

/// Writes `count` items from 8 tasks, or fewer if `stop` is set; returns every
/// acknowledged (key, value).
async fn write_until(client: &Client, prefix: &str, count: usize) -> Vec<(String, i64)> {
    write_until_stopped(client, prefix, count, Arc::new(AtomicBool::new(false))).await
}

async fn write_until_stopped(
    client: &Client,
    prefix: &str,
    count: usize,
    stop: Arc<AtomicBool>,
) -> Vec<(String, i64)> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..8 {
        let client = client.clone();
        let acked = acked.clone();
        let prefix = prefix.to_string();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..count).step_by(8) {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let key = format!("{prefix}{i}");
                let value = i as i64 * 3;
                if client
                    .put(
                        "durable",
                        item(&[("pk", s(&key)), ("v", n(value)), ("pad", s(&"x".repeat(200)))]),
                    )
                    .await
                    .is_ok()
                {
                    acked.lock().unwrap().push((key, value));
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    acked
}

async fn check_all(client: &Client, acked: &[(String, i64)]) {
    for (key, value) in acked {
        let got = client.get("durable", item(&[("pk", s(key))])).await.unwrap();
        assert_eq!(
            got.as_ref().map(|i| &i["v"]),
            Some(&n(*value)),
            "acknowledged write {key} lost"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_after_sigterm_and_sigkill_keep_every_acknowledged_write() {
    let mut node = Node::start(2);
    let count = scale(3000);
    let c = node.client().await;
    c.create_table(spec("durable"), false).await.unwrap();
    let first = write_until(&c, "a", count).await;
    assert_eq!(first.len(), count, "writes failed on a healthy node");
    drop(c);

    let status = node.terminate();
    assert!(status.success(), "SIGTERM exit: {status}\n{}", node.log());
    node.restart();
    let c = node.client().await;
    check_all(&c, &first).await;
    assert_eq!(c.describe_table("durable").await.unwrap().spec.name, "durable");

    // SIGKILL while writers run: every write acknowledged before the kill is back.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let c = c.clone();
        let stop = stop.clone();
        tokio::spawn(async move { write_until_stopped(&c, "b", count * 10, stop).await })
    };
    harness::wait_for("some writes before the kill", std::time::Duration::from_secs(30), || {
        node.metric_sum("shoal_requests_total{shard=\"0\",op=\"put\"}")
            + node.metric_sum("shoal_requests_total{shard=\"1\",op=\"put\"}")
            > (count + count / 2) as f64
    });
    stop.store(true, Ordering::SeqCst);
    node.kill();
    let second = writer.await.unwrap();
    assert!(!second.is_empty());
    node.restart();
    let c = node.client().await;
    check_all(&c, &first).await;
    check_all(&c, &second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_node_stays_under_512_mib() {
    // Default shard count and memory settings (one shard per CPU).
    let node = Node::start_with(0, &[]);
    let c = node.client().await;
    c.create_table(spec("durable"), false).await.unwrap();
    write_until(&c, "m", scale(3000)).await;
    let rss = node.rss_bytes();
    assert!(rss < 512 << 20, "resident {} MiB", rss >> 20);
    let (status, body) = node.http_get("/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(body.lines().all(|l| l.is_empty() || l.starts_with('#') || l.starts_with("shoal_")));
    assert!(body.contains("shoal_requests_total"));
    assert!(body.contains("shoal_request_duration_seconds_bucket"));
    // The commit log's counters reach the endpoint (refreshed every second): every write
    // was appended, in group commits of one or more records, and no segment failed to be
    // prepared on a disk with room.
    let writes = scale(3000) as f64;
    harness::wait_for("commit-log counters", std::time::Duration::from_secs(10), || {
        node.metric_sum("shoal_commitlog_appends_total") >= writes
    });
    let syncs = node.metric_sum("shoal_commitlog_syncs_total");
    assert!(syncs > 0.0 && syncs <= node.metric_sum("shoal_commitlog_appends_total"));
    assert_eq!(node.metric_sum("shoal_commitlog_prepare_failures_total"), 0.0);
}

#[test]
fn a_paused_node_counts_the_stall_on_every_shard() {
    let node = Node::start(2);
    let over_100ms = |shard: usize| {
        node.metric_sum(&format!(
            "shoal_scheduling_delays_total{{shard=\"{shard}\",over_ms=\"100\"}}"
        ))
    };
    wait_for("the probes to run", std::time::Duration::from_secs(10), || {
        node.metric_sum("shoal_scheduling_probes_total") >= 4.0
    });
    let before = [over_100ms(0), over_100ms(1)];
    let pid = node.pid() as libc::pid_t;
    // SAFETY: signals to the child process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    std::thread::sleep(std::time::Duration::from_millis(300)); // the stall itself
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    wait_for(
        "both shards to count a delay over 100 ms",
        std::time::Duration::from_secs(10),
        || over_100ms(0) > before[0] && over_100ms(1) > before[1],
    );
}
