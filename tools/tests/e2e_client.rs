//! Every operation through the client library against a real `shoal server`.

mod harness;

use std::collections::BTreeSet;
use std::time::Duration;

use harness::{item, n, s, Node};
use shoal_client::*;
use shoal_types::{KeyType, Value};

fn spec(name: &str, sort: bool) -> TableSpec {
    TableSpec {
        name: name.into(),
        partition_key: KeyAttribute { name: "pk".into(), key_type: KeyType::S },
        sort_key: sort.then(|| KeyAttribute { name: "sk".into(), key_type: KeyType::N }),
        replication_factor: 3,
        compaction: Compaction::SizeTiered,
        default_ttl_secs: 0,
        ttl_attribute: None,
        options: Default::default(),
    }
}

fn placeholders(names: &[(&str, &str)], values: &[(&str, Value)]) -> Placeholders {
    Placeholders {
        names: names.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
        values: values.iter().map(|(a, v)| (a.to_string(), v.clone())).collect(),
    }
}

/// Refused as bad input, by the client's own key check or by the server.
fn refused<T: std::fmt::Debug>(result: Result<T, ClientError>) {
    match result.expect_err("expected a refusal") {
        ClientError::InvalidArgument(_) => {}
        e => assert_eq!(e.status(), Some(Status::BadRequest), "{e}"),
    }
}

fn status_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> Status {
    result.expect_err("expected a server error").status().expect("a server status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_items_updates_conditions_and_batches() {
    let node = Node::start(2);
    let c = node.client().await;

    // Tables: create (with the RF warning path), describe, list, duplicate, drop.
    let t = c.create_table(spec("users", false), false).await.unwrap();
    assert_eq!(t.spec.replication_factor, 3);
    assert_eq!(status_of(c.create_table(spec("users", false), false).await), Status::TableExists);
    assert_eq!(c.create_table(spec("users", false), true).await.unwrap().id, t.id);
    assert_eq!(c.describe_table("users").await.unwrap(), t);
    assert!(c.list_tables().await.unwrap().iter().any(|d| d.spec.name == "users"));
    assert_eq!(status_of(c.describe_table("nope_table").await), Status::UnknownTable);

    // Put, get with projection, delete.
    let ada = item(&[("pk", s("ada")), ("age", n(36)), ("tags", Value::L(vec![s("x"), s("y")]))]);
    c.put("users", ada.clone()).await.unwrap();
    assert_eq!(c.get("users", item(&[("pk", s("ada"))])).await.unwrap(), Some(ada.clone()));
    let projected = c
        .request(Request::GetItem {
            table: "users".into(),
            key: item(&[("pk", s("ada"))]),
            projection: Some("#a, tags[1]".into()),
            placeholders: placeholders(&[("#a", "age")], &[]),
        })
        .await
        .unwrap();
    assert_eq!(
        projected.body,
        ResponseBody::Item(Some(item(&[("age", n(36)), ("tags", Value::L(vec![s("y")]))])))
    );
    refused(c.put("users", item(&[("age", n(1))])).await);
    refused(c.put("users", item(&[("pk", n(1))])).await);
    assert_eq!(
        status_of(c.get("no_such_table", item(&[("pk", s("a"))])).await),
        Status::UnknownTable
    );

    // Conditional writes: put-if-absent, compare-and-set.
    let absent = |value: i64| Request::PutItem {
        table: "users".into(),
        item: item(&[("pk", s("ada")), ("age", n(value))]),
        condition: Some("attribute_not_exists(pk)".into()),
        placeholders: Placeholders::default(),
        ttl_secs: 0,
        return_values: ReturnValues::None,
    };
    assert_eq!(status_of(c.request(absent(1)).await), Status::ConditionFailed);
    let cas = |from: i64, to: i64| Request::UpdateItem {
        table: "users".into(),
        key: item(&[("pk", s("ada"))]),
        update: "SET age = :to".into(),
        condition: Some("age = :from".into()),
        placeholders: placeholders(&[], &[(":from", n(from)), (":to", n(to))]),
        ttl_secs: 0,
        return_values: ReturnValues::AllNew,
    };
    assert_eq!(status_of(c.request(cas(35, 40)).await), Status::ConditionFailed);
    let r = c.request(cas(36, 37)).await.unwrap();
    let ResponseBody::Item(Some(after)) = r.body else { panic!("no item") };
    assert_eq!(after.get("age"), Some(&n(37)));

    // Update: SET, REMOVE, ADD, list_append, if_not_exists; keys cannot change.
    let updated = c
        .update(
            "users",
            item(&[("pk", s("ada"))]),
            "SET tags = list_append(tags, :more), nick = if_not_exists(nick, :nick) REMOVE age ADD visits :one",
            placeholders(&[], &[(":more", Value::L(vec![s("z")])), (":nick", s("A")), (":one", n(1))]),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.get("tags"), Some(&Value::L(vec![s("x"), s("y"), s("z")])));
    assert_eq!(updated.get("nick"), Some(&s("A")));
    assert_eq!(updated.get("visits"), Some(&n(1)));
    assert!(!updated.contains_key("age"));
    assert_eq!(c.get("users", item(&[("pk", s("ada"))])).await.unwrap(), Some(updated));
    assert_eq!(
        status_of(
            c.update(
                "users",
                item(&[("pk", s("ada"))]),
                "SET pk = :x",
                placeholders(&[], &[(":x", s("b"))])
            )
            .await
        ),
        Status::BadRequest
    );
    // An update of a missing item creates it, keys included.
    let fresh = c
        .update(
            "users",
            item(&[("pk", s("new"))]),
            "ADD n :one",
            placeholders(&[], &[(":one", n(5))]),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fresh, item(&[("pk", s("new")), ("n", n(5))]));
    // Bad expressions get the parser's message with its position.
    let err = c
        .update("users", item(&[("pk", s("new"))]), "SET = 1", Placeholders::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(Status::BadRequest));
    assert!(err.to_string().contains("SET"), "{err}");

    // Batches: per-item results in request order, across both shards.
    let ops: Vec<WriteOp> = (0..20)
        .map(|i| WriteOp::Put {
            item: item(&[("pk", s(&format!("b{i}"))), ("i", n(i))]),
            ttl_secs: 0,
        })
        .chain([
            WriteOp::Put { item: item(&[("i", n(0))]), ttl_secs: 0 },
            WriteOp::Delete { key: item(&[("pk", s("new"))]) },
        ])
        .collect();
    let results = c.batch_write("users", ops).await.unwrap();
    assert_eq!(results.len(), 22);
    assert!(results[..20].iter().all(|r| r.status == Status::Ok));
    assert_eq!(results[20].status, Status::BadRequest);
    assert_eq!(results[21].status, Status::Ok);
    let keys: Vec<Item> = (0..22).map(|i| item(&[("pk", s(&format!("b{i}")))])).collect();
    let got = c.batch_get("users", keys).await.unwrap();
    for (i, r) in got.iter().enumerate() {
        if i < 20 {
            assert_eq!(
                r.item.as_ref().and_then(|it| it.get("i")),
                Some(&n(i as i64)),
                "batch item {i}"
            );
        } else {
            assert_eq!(r.status, Status::NotFound);
        }
    }
    assert_eq!(c.get("users", item(&[("pk", s("new"))])).await.unwrap(), None);
    let too_many =
        (0..26).map(|i| WriteOp::Delete { key: item(&[("pk", s(&i.to_string()))]) }).collect();
    assert_eq!(status_of(c.batch_write("users", too_many).await), Status::BadRequest);

    // Drop: gone everywhere.
    c.drop_table("users", false).await.unwrap();
    assert_eq!(status_of(c.get("users", item(&[("pk", s("ada"))])).await), Status::UnknownTable);
    c.drop_table("users", true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_scans_filters_and_paging() {
    let node = Node::start(2);
    let c = node.client().await;
    c.create_table(spec("events", true), false).await.unwrap();
    let partitions = 10;
    let per = 30;
    for p in 0..partitions {
        let ops: Vec<WriteOp> = (0..per)
            .map(|i| WriteOp::Put {
                item: item(&[
                    ("pk", s(&format!("p{p}"))),
                    ("sk", n(i)),
                    ("even", Value::Bool(i % 2 == 0)),
                ]),
                ttl_secs: 0,
            })
            .collect();
        for chunk in ops.chunks(25) {
            assert!(c
                .batch_write("events", chunk.to_vec())
                .await
                .unwrap()
                .iter()
                .all(|r| r.status == Status::Ok));
        }
    }
    let query = |cond: &str, values: &[(&str, Value)], reverse: bool, limit: u32| QueryRequest {
        table: "events".into(),
        key_condition: cond.into(),
        placeholders: placeholders(&[], values),
        reverse,
        limit,
        ..QueryRequest::default()
    };
    let sks = |page: &Page| -> Vec<i64> {
        page.items
            .iter()
            .map(|i| match i.get("sk") {
                Some(Value::N(num)) => num.to_string().parse::<i64>().unwrap(),
                other => panic!("sk is {other:?}"),
            })
            .collect()
    };
    let all = c.query(query("pk = :p", &[(":p", s("p3"))], false, 0)).await.unwrap();
    assert_eq!(sks(&all), (0..per).collect::<Vec<_>>());
    assert!(all.page_token.is_none());
    let range = c
        .query(query(
            "pk = :p AND sk BETWEEN :a AND :b",
            &[(":p", s("p3")), (":a", n(5)), (":b", n(9))],
            true,
            0,
        ))
        .await
        .unwrap();
    assert_eq!(sks(&range), vec![9, 8, 7, 6, 5]);
    let lt = c
        .query(query("pk = :p AND sk < :a", &[(":p", s("p3")), (":a", n(3))], false, 0))
        .await
        .unwrap();
    assert_eq!(sks(&lt), vec![0, 1, 2]);
    let eq = c
        .query(query("pk = :p AND sk = :a", &[(":p", s("p3")), (":a", n(29))], false, 0))
        .await
        .unwrap();
    assert_eq!(sks(&eq), vec![29]);

    // Paging: limit 7, forward and reverse, reassembles the partition exactly.
    for reverse in [false, true] {
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let mut q = query("pk = :p", &[(":p", s("p7"))], reverse, 7);
            q.page_token = token.take();
            let page = c.query(q).await.unwrap();
            assert!(page.items.len() <= 7);
            seen.extend(sks(&page));
            match page.page_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        let mut expected: Vec<i64> = (0..per).collect();
        if reverse {
            expected.reverse();
        }
        assert_eq!(seen, expected, "paging reverse={reverse}");
    }

    // Filter: evaluated after the read; `scanned` counts items read.
    let mut q = query("pk = :p", &[(":p", s("p1")), (":t", Value::Bool(true))], false, 10);
    q.filter = Some("even = :t".into());
    let page = c.query(q).await.unwrap();
    assert_eq!(page.scanned, 10);
    assert_eq!(sks(&page), vec![0, 2, 4, 6, 8]);

    // A string partition key on a prefix: a table with S sort keys.
    let mut s_spec = spec("docs", true);
    s_spec.sort_key = Some(KeyAttribute { name: "sk".into(), key_type: KeyType::S });
    c.create_table(s_spec, false).await.unwrap();
    for name in ["a/1", "a/2", "b/1", "ab"] {
        c.put("docs", item(&[("pk", s("x")), ("sk", s(name))])).await.unwrap();
    }
    let page = c
        .query(
            query(
                "pk = :p AND begins_with(sk, :pre)",
                &[(":p", s("x")), (":pre", s("a/"))],
                false,
                0,
            )
            .clone_for("docs"),
        )
        .await
        .unwrap();
    let names: Vec<&Value> = page.items.iter().map(|i| &i["sk"]).collect();
    assert_eq!(names, vec![&s("a/1"), &s("a/2")]);

    // Scan in 3 parallel segments with small pages: every item exactly once.
    let mut segments = Vec::new();
    for segment in 0..3 {
        let c = c.clone();
        segments.push(tokio::spawn(async move {
            let mut found = Vec::new();
            let mut token = None;
            loop {
                let page = c
                    .scan(ScanRequest {
                        table: "events".into(),
                        segment,
                        total_segments: 3,
                        limit: 13,
                        page_token: token.take(),
                        ..ScanRequest::default()
                    })
                    .await
                    .unwrap();
                for it in page.items {
                    found.push((it["pk"].clone(), it["sk"].clone()));
                }
                match page.page_token {
                    Some(t) => token = Some(t),
                    None => return found,
                }
            }
        }));
    }
    let mut all_found = Vec::new();
    for s in segments {
        all_found.extend(s.await.unwrap());
    }
    let unique: BTreeSet<_> = all_found.iter().cloned().collect();
    assert_eq!(
        all_found.len(),
        (partitions * per) as usize,
        "scan returned duplicates or missed items"
    );
    assert_eq!(unique.len(), all_found.len());

    // Scan with a filter and a projection.
    let page = c
        .scan(ScanRequest {
            table: "events".into(),
            total_segments: 1,
            filter: Some("sk = :z".into()),
            projection: Some("pk".into()),
            placeholders: placeholders(&[], &[(":z", n(0))]),
            limit: 1000,
            ..ScanRequest::default()
        })
        .await
        .unwrap();
    // One shard per page: collect the other shard's page too.
    let mut pks: Vec<Item> = page.items;
    let mut token = page.page_token;
    while let Some(t) = token {
        let next = c
            .scan(ScanRequest {
                table: "events".into(),
                total_segments: 1,
                filter: Some("sk = :z".into()),
                projection: Some("pk".into()),
                placeholders: placeholders(&[], &[(":z", n(0))]),
                limit: 1000,
                page_token: Some(t),
                ..ScanRequest::default()
            })
            .await
            .unwrap();
        pks.extend(next.items);
        token = next.page_token;
    }
    assert_eq!(pks.len(), partitions as usize);
    assert!(pks.iter().all(|i| i.len() == 1 && i.contains_key("pk")));
    // A page token from another query is refused.
    let mut q = query("pk = :p", &[(":p", s("p1"))], false, 0);
    q.page_token = Some(vec![1, 2, 0, 0, 0, 0, 9]);
    assert_eq!(status_of(c.query(q).await), Status::BadRequest);
}

trait ForTable {
    fn clone_for(&self, table: &str) -> QueryRequest;
}

impl ForTable for QueryRequest {
    fn clone_for(&self, table: &str) -> QueryRequest {
        QueryRequest { table: table.into(), ..self.clone() }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expires_items() {
    let node = Node::start(1);
    let c = node.client().await;
    let mut table = spec("sessions", false);
    table.default_ttl_secs = 1;
    c.create_table(table, false).await.unwrap();
    c.put("sessions", item(&[("pk", s("short"))])).await.unwrap();
    c.request(Request::PutItem {
        table: "sessions".into(),
        item: item(&[("pk", s("long"))]),
        condition: None,
        placeholders: Placeholders::default(),
        ttl_secs: 3600,
        return_values: ReturnValues::None,
    })
    .await
    .unwrap();
    assert!(c.get("sessions", item(&[("pk", s("short"))])).await.unwrap().is_some());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if c.get("sessions", item(&[("pk", s("short"))])).await.unwrap().is_none() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "item with a 1 s TTL still there after 15 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        c.get("sessions", item(&[("pk", s("long"))])).await.unwrap().is_some(),
        "the 1 h item expired"
    );
}
