//! A 3-node cluster of real processes on 127.a.b.1-3 (1 shard each, gossip every 100 ms):
//! consistency levels, a node killed and restarted (hints), two nodes killed, read repair
//! of a stale replica, and the failure detector.

mod harness;

use std::time::{Duration, Instant};

use harness::{n, s, start_cluster, wait_for, Node};
use shoal_client::*;
use shoal_net::TableRef;
use shoal_types::KeyType;

fn key(k: &str) -> Item {
    [("pk".to_string(), s(k))].into()
}

fn spec() -> TableSpec {
    TableSpec {
        name: "replicated".into(),
        partition_key: KeyAttribute { name: "pk".into(), key_type: KeyType::S },
        sort_key: None,
        replication_factor: 3,
        compaction: Compaction::SizeTiered,
        default_ttl_secs: 0,
        ttl_attribute: None,
        options: Default::default(),
    }
}

fn at(cl: Consistency) -> RequestOptions {
    RequestOptions {
        consistency: Some(cl),
        timeout: Some(Duration::from_secs(5)),
        ..RequestOptions::default()
    }
}

async fn put(c: &Client, k: &str, v: i64, cl: Consistency) -> Result<Response, ClientError> {
    let mut item = key(k);
    item.insert("v".into(), n(v));
    c.request_with(
        Request::PutItem {
            table: "replicated".into(),
            item,
            condition: None,
            placeholders: Placeholders::default(),
            ttl_secs: 0,
            return_values: ReturnValues::None,
        },
        at(cl),
    )
    .await
}

async fn get(c: &Client, k: &str, cl: Consistency) -> Result<Option<Item>, ClientError> {
    let r = c
        .request_with(
            Request::GetItem {
                table: "replicated".into(),
                key: key(k),
                projection: None,
                placeholders: Placeholders::default(),
            },
            at(cl),
        )
        .await?;
    match r.body {
        ResponseBody::Item(item) => Ok(item),
        other => panic!("unexpected body {other:?}"),
    }
}

/// The node's own copy of `k` (no coordination): the debug replica read.
async fn replica_copy(c: &Client, table: &TableDescription, k: &str) -> Option<Item> {
    let partition = shoal_types::KeyValue::S(k.to_string());
    let item_key = shoal_types::ItemKey {
        token: shoal_types::partitioner::token(&partition),
        partition,
        sort: None,
    };
    let r = c
        .request(Request::ReplicaRead {
            table: TableRef { name: table.spec.name.clone(), created_micros: table.created_micros },
            key: item_key.encode(),
            digest_only: false,
        })
        .await
        .expect("replica read");
    match r.body {
        ResponseBody::Row { row: Some(bytes), .. } => shoal_types::Row::decode(&bytes)
            .expect("row")
            .into_live_attributes(u64::MAX / 2_000_000),
        _ => None,
    }
}

fn unavailable(result: Result<impl std::fmt::Debug, ClientError>) {
    let e = result.expect_err("expected Unavailable");
    assert_eq!(e.status(), Some(Status::Unavailable), "{e}");
}

async fn wait_down(observer: &Node, expected_up: usize) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(20);
    while observer.up_count() != expected_up {
        assert!(Instant::now() < deadline, "not marked down within 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistency_levels_failures_hints_and_gossip() {
    let mut nodes = start_cluster(3);
    let c1 = nodes[0].direct_client().await;
    let table = c1.create_table(spec(), false).await.unwrap();
    // The schema reached every node before the create was acknowledged.
    for node in &nodes[1..] {
        assert_eq!(
            node.direct_client().await.describe_table("replicated").await.unwrap().created_micros,
            table.created_micros
        );
    }
    let count = 60;
    for i in 0..count {
        let cl = [Consistency::One, Consistency::Quorum, Consistency::All][i % 3];
        put(&c1, &format!("k{i}"), i as i64, cl).await.unwrap();
    }
    let c2 = nodes[1].direct_client().await;
    for i in 0..count {
        for cl in [Consistency::One, Consistency::Quorum, Consistency::All] {
            let got = get(&c2, &format!("k{i}"), cl).await.unwrap();
            assert_eq!(got.as_ref().map(|g| &g["v"]), Some(&n(i as i64)), "k{i} at {cl:?}");
        }
    }

    // One node killed: QUORUM goes on, ALL fails fast.
    nodes[2].kill();
    let killed = Instant::now();
    // Before the failure detector notices, writes (conditional ones too, which run on a key's
    // first replica) move on to the next replica instead of failing.
    for i in 0..20 {
        let one =
            Placeholders { values: [(":one".to_string(), n(1))].into(), ..Placeholders::default() };
        c1.update("replicated", key(&format!("u{i}")), "ADD hits :one", one)
            .await
            .unwrap_or_else(|e| panic!("update u{i} right after the kill: {e}"));
    }
    wait_down(&nodes[0], 2).await;
    wait_down(&nodes[1], 2).await;
    let detected = killed.elapsed();
    assert!(detected < Duration::from_secs(10), "failure detected after {detected:?}");
    for i in count..2 * count {
        put(&c1, &format!("k{i}"), i as i64, Consistency::Quorum).await.unwrap();
    }
    for i in 0..2 * count {
        let got = get(&c2, &format!("k{i}"), Consistency::Quorum).await.unwrap();
        assert_eq!(got.as_ref().map(|g| &g["v"]), Some(&n(i as i64)));
    }
    let started = Instant::now();
    unavailable(get(&c1, "k1", Consistency::All).await);
    unavailable(put(&c1, "k1", 1, Consistency::All).await);
    assert!(started.elapsed() < Duration::from_secs(1), "ALL did not fail fast");
    let hints: f64 = nodes[0].metric_sum("shoal_hints_stored_total")
        + nodes[1].metric_sum("shoal_hints_stored_total");
    assert!(hints >= count as f64, "hints stored: {hints}");

    // Restarted: marked up again, hints replayed, every replica holds every write.
    nodes[2].restart();
    for node in &nodes {
        wait_for("the restarted node up everywhere", Duration::from_secs(30), || {
            node.up_count() == 3
        });
    }
    let c3 = nodes[2].direct_client().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..2 * count {
        let k = format!("k{i}");
        loop {
            let copy = replica_copy(&c3, &table, &k).await;
            if copy.as_ref().map(|g| &g["v"]) == Some(&n(i as i64)) {
                break;
            }
            assert!(Instant::now() < deadline, "{k} never reached the restarted replica: {copy:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for node in &nodes {
        let copy_client = node.direct_client().await;
        for i in 0..2 * count {
            let copy = replica_copy(&copy_client, &table, &format!("k{i}")).await;
            assert_eq!(
                copy.as_ref().map(|g| &g["v"]),
                Some(&n(i as i64)),
                "replica {} lacks k{i}",
                node.host
            );
        }
    }
    let replayed: f64 = nodes[0].metric_sum("shoal_hints_replayed_total")
        + nodes[1].metric_sum("shoal_hints_replayed_total");
    assert!(replayed >= count as f64, "hints replayed: {replayed}");

    // Two nodes killed: QUORUM fails fast, ONE still works.
    nodes[1].kill();
    nodes[2].kill();
    wait_down(&nodes[0], 1).await;
    let started = Instant::now();
    unavailable(put(&c1, "lonely", 1, Consistency::Quorum).await);
    unavailable(get(&c1, "k1", Consistency::Quorum).await);
    assert!(started.elapsed() < Duration::from_secs(1), "QUORUM did not fail fast");
    put(&c1, "lonely", 1, Consistency::One).await.unwrap();
    assert!(get(&c1, "lonely", Consistency::One).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_node_cannot_join_a_ring_that_holds_data() {
    let nodes = start_cluster(3);
    nodes[0].direct_client().await.create_table(spec(), false).await.unwrap();
    let host = &harness::unique_hosts(1)[0];
    let dir = tempfile::tempdir().unwrap();
    let seeds = format!("{}:7470", nodes[0].host);
    let output = tokio::task::spawn_blocking({
        let host = host.clone();
        let data = dir.path().join("data");
        move || {
            std::process::Command::new(harness::shoal_bin())
                .args([
                    "server",
                    "--listen",
                    &format!("{host}:7400"),
                    "--http",
                    &format!("{host}:7480"),
                ])
                .args(["--data-dir", data.to_str().unwrap(), "--shards", "1", "--seeds", &seeds])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(!output.status.success(), "the new node started");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bootstrap") && stderr.contains("replicated"), "{stderr}");
    // The ring still has exactly the three nodes.
    assert_eq!(nodes[0].up_count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_read_returns_the_newest_version_and_repairs_the_stale_replica() {
    let nodes = start_cluster(3);
    let c1 = nodes[0].direct_client().await;
    let table = c1.create_table(spec(), false).await.unwrap();
    put(&c1, "doc", 1, Consistency::All).await.unwrap();
    // A newer version reaches nodes 1 and 2 only (as if node 3 missed it and no hint came).
    let partition = shoal_types::KeyValue::S("doc".into());
    let item_key = shoal_types::ItemKey {
        token: shoal_types::partitioner::token(&partition),
        partition,
        sort: None,
    };
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros()
        as u64
        + 1_000_000;
    let newer =
        shoal_types::Row::put_item(ts, [("pk".to_string(), s("doc")), ("v".to_string(), n(2))], 0);
    for node in &nodes[..2] {
        let r = node
            .direct_client()
            .await
            .request(Request::ReplicaWrite {
                table: TableRef {
                    name: table.spec.name.clone(),
                    created_micros: table.created_micros,
                },
                key: item_key.encode(),
                row: newer.to_bytes(),
            })
            .await
            .unwrap();
        assert_eq!(r.status, Status::Ok);
    }
    let c3 = nodes[2].direct_client().await;
    assert_eq!(
        replica_copy(&c3, &table, "doc").await.unwrap()["v"],
        n(1),
        "node 3 should be stale"
    );
    // A QUORUM read coordinated by the stale node answers the newest version...
    let got = get(&c3, "doc", Consistency::Quorum).await.unwrap().unwrap();
    assert_eq!(got["v"], n(2));
    // ...and repaired the stale copy before answering.
    assert_eq!(replica_copy(&c3, &table, "doc").await.unwrap()["v"], n(2));
    assert!(nodes[2].metric_sum("shoal_read_repairs_total") >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_link_makes_hints_and_quorum_still_answers() {
    let nodes = start_cluster(3);
    let c1 = nodes[0].direct_client().await;
    c1.create_table(spec(), false).await.unwrap();
    // Node 1 cannot reach node 3 (messages dropped), yet gossip through node 2 says it is up.
    nodes[0].drop_messages_to(&nodes[2], true);
    for i in 0..10 {
        put(&c1, &format!("cut{i}"), i, Consistency::Quorum).await.unwrap();
    }
    // ALL cannot be met: a Timeout that says how many answered.
    let e = put(&c1, "cut-all", 1, Consistency::All).await.unwrap_err();
    assert_eq!(e.status(), Some(Status::Timeout), "{e}");
    assert!(e.to_string().contains("2 of 3"), "{e}");
    wait_for("hints for the cut-off node", Duration::from_secs(10), || {
        nodes[0].metric_sum("shoal_hints_stored_total") >= 10.0
    });
    nodes[0].drop_messages_to(&nodes[2], false);
    wait_for("hints replayed once the link is back", Duration::from_secs(30), || {
        nodes[0].metric_sum("shoal_hints_replayed_total") >= 11.0
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_and_queries_cover_the_cluster_once_with_rf_below_the_ring() {
    let nodes = start_cluster(3);
    let c1 = nodes[0].direct_client().await;
    let mut two = spec();
    two.name = "pairs".into();
    two.replication_factor = 2;
    two.sort_key = Some(KeyAttribute { name: "sk".into(), key_type: KeyType::N });
    c1.create_table(two, false).await.unwrap();
    let partitions = 40;
    let per = 5;
    for p in 0..partitions {
        for i in 0..per {
            let item: Item =
                [("pk".to_string(), s(&format!("p{p}"))), ("sk".to_string(), n(i))].into();
            c1.request_with(
                Request::PutItem {
                    table: "pairs".into(),
                    item,
                    condition: None,
                    placeholders: Placeholders::default(),
                    ttl_secs: 0,
                    return_values: ReturnValues::None,
                },
                at(Consistency::Quorum),
            )
            .await
            .unwrap();
        }
    }
    // Every node coordinates queries, including of partitions it holds no replica of.
    for node in &nodes {
        let c = node.direct_client().await;
        for p in 0..partitions {
            let page = c
                .query(QueryRequest {
                    table: "pairs".into(),
                    key_condition: "pk = :p".into(),
                    placeholders: Placeholders {
                        values: [(":p".to_string(), s(&format!("p{p}")))].into(),
                        ..Placeholders::default()
                    },
                    ..QueryRequest::default()
                })
                .await
                .unwrap();
            assert_eq!(page.items.len(), per as usize, "partition p{p} via {}", node.host);
        }
    }
    // A scan in 2 segments with small pages returns every item exactly once.
    let mut seen = Vec::new();
    for segment in 0..2 {
        let mut token = None;
        loop {
            let page = c1
                .scan(ScanRequest {
                    table: "pairs".into(),
                    segment,
                    total_segments: 2,
                    limit: 17,
                    page_token: token.take(),
                    ..ScanRequest::default()
                })
                .await
                .unwrap();
            seen.extend(page.items.into_iter().map(|i| (i["pk"].clone(), i["sk"].clone())));
            match page.page_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
    }
    let unique: std::collections::BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), (partitions * per) as usize, "duplicates or gaps");
    assert_eq!(unique.len(), seen.len());

    // Increments sent through every node meet on the key's primary: none is lost.
    let mut tasks = Vec::new();
    for (i, node) in nodes.iter().enumerate().cycle().take(9) {
        let c = node.direct_client().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                let key: Item = [("pk".to_string(), s("counter")), ("sk".to_string(), n(0))].into();
                let one = Placeholders {
                    values: [(":one".to_string(), n(1))].into(),
                    ..Placeholders::default()
                };
                c.update("pairs", key, "ADD hits :one", one)
                    .await
                    .unwrap_or_else(|e| panic!("via node {i}: {e}"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let key: Item = [("pk".to_string(), s("counter")), ("sk".to_string(), n(0))].into();
    let r = c1
        .request_with(
            Request::GetItem {
                table: "pairs".into(),
                key,
                projection: None,
                placeholders: Placeholders::default(),
            },
            at(Consistency::Quorum),
        )
        .await
        .unwrap();
    let ResponseBody::Item(Some(counter)) = r.body else { panic!("no counter") };
    assert_eq!(counter["hits"], n(180), "lost increments across the cluster");
}
