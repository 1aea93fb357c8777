//! A node started in this process, driven over TCP with raw frames: the protocol paths the
//! client library does not exercise (malformed frames, wrong-shard ports, hops).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use shoal_net::*;
use shoal_server::node::{settings, start};
use shoal_tuning::NodeConfig;
use shoal_types::{KeyType, Number, Value};

static NEXT_HOST: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(10);

fn node(shards: usize) -> (shoal_server::RunningNode, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let host = NEXT_HOST.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut config = NodeConfig::default();
    config.node.listen = format!("127.0.42.{host}:7400").parse().unwrap();
    config.node.data_dir = dir.path().to_path_buf();
    config.shards.count = shards;
    config.engine.memtable_bytes = 1 << 20;
    config.engine.memtables_total_bytes = 3 << 20;
    config.engine.block_cache_bytes = 4 << 20;
    config.engine.commitlog_segment_bytes = 1 << 20;
    let node = start(settings(&config).unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !node.context.is_ready() {
        assert!(Instant::now() < deadline, "node not ready in 20 s");
        assert!(
            node.context.failure.lock().unwrap().is_none(),
            "node failed: {:?}",
            node.context.failure.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    (node, dir)
}

struct Raw {
    stream: TcpStream,
    next_id: u64,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw { stream, next_id: 1 }
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn read_response(&mut self) -> Option<(u64, Response)> {
        let mut header = [0u8; frame::HEADER_BYTES];
        self.stream.read_exact(&mut header).ok()?;
        let len = u32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).ok()?;
        let mut all = bytes::BytesMut::from(&header[..]);
        all.extend_from_slice(&body);
        let frame = decode_frame(&mut all, 1 << 30).unwrap().unwrap();
        Some((frame.request_id, decode_response(&frame.body).unwrap()))
    }

    fn call(&mut self, request: Request) -> Response {
        let id = self.next_id;
        self.next_id += 1;
        let body = encode_request(&RequestEnvelope { header: RequestHeader::default(), request });
        self.send_bytes(&frame_bytes(FrameKind::Request, id, &body));
        let (got, response) = self.read_response().expect("a response");
        assert_eq!(got, id);
        response
    }

    /// Writes `item` into `table`, which must succeed.
    fn put(&mut self, table: &str, item: Item) {
        let r = self.call(Request::PutItem {
            table: table.into(),
            item,
            condition: None,
            placeholders: Placeholders::default(),
            ttl_secs: 0,
            return_values: ReturnValues::None,
        });
        assert_eq!(r.status, Status::Ok, "{}", r.message);
    }
}

fn s(text: &str) -> Value {
    Value::S(text.to_string())
}

fn n(v: i64) -> Value {
    Value::N(Number::from(v))
}

fn item(pairs: &[(&str, Value)]) -> Item {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn create(raw: &mut Raw, name: &str) {
    let response = raw.call(Request::CreateTable {
        spec: TableSpec {
            name: name.into(),
            partition_key: KeyAttribute { name: "pk".into(), key_type: KeyType::S },
            sort_key: Some(KeyAttribute { name: "sk".into(), key_type: KeyType::N }),
            replication_factor: 3,
            compaction: Compaction::SizeTiered,
            default_ttl_secs: 0,
            ttl_attribute: None,
            options: Default::default(),
        },
        if_not_exists: false,
    });
    assert_eq!(response.status, Status::Ok, "{}", response.message);
    assert!(
        response.warnings.iter().any(|w| w.contains("replication factor 3")),
        "{:?}",
        response.warnings
    );
}

#[test]
fn every_shard_port_answers_and_owner_ports_take_no_hop() {
    let (node, _dir) = node(2);
    let addrs = node.context.settings.shard_addrs.clone();
    let mut main = Raw::connect(node.context.settings.listen);
    create(&mut main, "items");
    let mut ports: Vec<Raw> = addrs.iter().map(|a| Raw::connect(*a)).collect();
    for i in 0..200 {
        let pk = format!("user{i}");
        let key = item(&[("pk", s(&pk)), ("sk", n(1))]);
        let owner = shoal_types::partitioner::shard_of(
            shoal_types::partitioner::token(&shoal_types::KeyValue::S(pk.clone())),
            2,
        ) as usize;
        let forwards_before: u64 = node
            .context
            .metrics
            .iter()
            .map(|m| m.cross_core_forwards.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        let mut put = item(&[("v", n(i))]);
        put.extend(key.clone());
        ports[owner].put("items", put);
        let forwards_after: u64 = node
            .context
            .metrics
            .iter()
            .map(|m| m.cross_core_forwards.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        assert_eq!(forwards_before, forwards_after, "a request on the owner's port hopped");
        // The other shard's port answers too, by forwarding.
        let other = 1 - owner;
        let r = ports[other].call(Request::GetItem {
            table: "items".into(),
            key,
            projection: None,
            placeholders: Placeholders::default(),
        });
        assert_eq!(r.status, Status::Ok);
        let ResponseBody::Item(Some(got)) = r.body else { panic!("missing item {pk}") };
        assert_eq!(got.get("v"), Some(&n(i)));
    }
    let forwards: u64 = node
        .context
        .metrics
        .iter()
        .map(|m| m.cross_core_forwards.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    assert!(forwards >= 200, "wrong-port gets were forwarded: {forwards}");
    node.stop().unwrap();
}

#[test]
fn malformed_frames_get_errors_and_the_node_keeps_serving() {
    let (node, _dir) = node(1);
    let addr = node.context.settings.listen;
    let mut good = Raw::connect(addr);
    create(&mut good, "fuzzed");
    // Oversized length: error reply, then the connection closes.
    let mut bad = Raw::connect(addr);
    let mut frame = frame_bytes(FrameKind::Request, 77, b"x");
    frame[0..4].copy_from_slice(&(u32::MAX).to_le_bytes());
    bad.send_bytes(&frame[..frame::HEADER_BYTES]);
    let (id, response) = bad.read_response().expect("an error reply");
    assert_eq!(id, 77);
    assert_eq!(response.status, Status::TooLarge);
    assert!(bad.read_response().is_none(), "connection stays open after a bad frame");
    // A well-framed body that is not a request: an error reply, connection kept.
    let mut junk = Raw::connect(addr);
    junk.send_bytes(&frame_bytes(FrameKind::Request, 5, b"definitely not a flatbuffer"));
    let (id, response) = junk.read_response().unwrap();
    assert_eq!((id, response.status), (5, Status::BadRequest));
    assert_eq!(junk.call(Request::ListTables).status, Status::Ok);
    // Random and truncated bytes on many connections.
    let mut seed = 0x1234_5678_u64;
    for round in 0..50 {
        let mut fuzz = TcpStream::connect(addr).unwrap();
        let len = (round * 7) % 300;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let _ = fuzz.write_all(&bytes);
        let valid = frame_bytes(
            FrameKind::Request,
            1,
            &encode_request(&RequestEnvelope {
                header: RequestHeader::default(),
                request: Request::ListTables,
            }),
        );
        let _ = fuzz.write_all(&valid[..round % valid.len()]);
    }
    let r = good.call(Request::GetItem {
        table: "fuzzed".into(),
        key: item(&[("pk", s("a")), ("sk", n(1))]),
        projection: None,
        placeholders: Placeholders::default(),
    });
    assert_eq!(r.status, Status::Ok);
    assert!(node.context.metrics[0].bad_frames.load(std::sync::atomic::Ordering::Relaxed) >= 2);
    node.stop().unwrap();
}

#[test]
fn pipelined_requests_are_answered_by_id() {
    let (node, _dir) = node(2);
    let mut raw = Raw::connect(node.context.settings.listen);
    create(&mut raw, "piped");
    let mut sent = BTreeMap::new();
    let mut bytes = Vec::new();
    for i in 0..300u64 {
        let mut put = item(&[("pk", s(&format!("k{i}"))), ("sk", n(i as i64))]);
        put.insert("i".into(), n(i as i64));
        let body = encode_request(&RequestEnvelope {
            header: RequestHeader::default(),
            request: Request::PutItem {
                table: "piped".into(),
                item: put,
                condition: None,
                placeholders: Placeholders::default(),
                ttl_secs: 0,
                return_values: ReturnValues::AllNew,
            },
        });
        encode_frame(FrameKind::Request, 1000 + i, &body, &mut bytes);
        sent.insert(1000 + i, i);
    }
    raw.send_bytes(&bytes);
    for _ in 0..300 {
        let (id, response) = raw.read_response().unwrap();
        let i = sent.remove(&id).expect("an id we sent, once");
        let ResponseBody::Item(Some(item)) = response.body else { panic!("{response:?}") };
        assert_eq!(
            item.get("i"),
            Some(&n(i as i64)),
            "response {id} carries another request's item"
        );
    }
    node.stop().unwrap();
}

#[test]
fn a_long_pipelined_burst_is_answered_in_several_writes() {
    // One shard: every GET runs inline on the connection's reader. Held to the end of the
    // burst, the 64 answers would leave in one write; sent early, in one write per
    // SEND_AFTER_REQUESTS requests at least (conn.rs, "Sending responses early").
    let (node, _dir) = node(1);
    let mut raw = Raw::connect(node.context.settings.listen);
    create(&mut raw, "burst");
    const BURST: u64 = 64;
    for i in 0..BURST {
        let put = item(&[("pk", s(&format!("k{i}"))), ("sk", n(i as i64)), ("v", n(i as i64))]);
        raw.put("burst", put);
    }
    let mut bytes = Vec::new();
    for i in 0..BURST {
        let body = encode_request(&RequestEnvelope {
            header: RequestHeader::default(),
            request: Request::GetItem {
                table: "burst".into(),
                key: item(&[("pk", s(&format!("k{i}"))), ("sk", n(i as i64))]),
                projection: None,
                placeholders: Placeholders::default(),
            },
        });
        encode_frame(FrameKind::Request, 5000 + i, &body, &mut bytes);
    }
    let writes =
        || node.context.metrics[0].response_writes.load(std::sync::atomic::Ordering::Relaxed);
    let before = writes();
    raw.send_bytes(&bytes);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..BURST {
        let (id, response) = raw.read_response().unwrap();
        assert!(seen.insert(id), "response {id} twice");
        let ResponseBody::Item(Some(got)) = response.body else { panic!("{response:?}") };
        assert_eq!(got.get("v"), Some(&n((id - 5000) as i64)));
    }
    let used = writes() - before;
    let least = BURST / shoal_server::conn::SEND_AFTER_REQUESTS as u64;
    assert!(
        used >= least,
        "{BURST} pipelined answers left in {used} writes, expected {least} or more"
    );
    node.stop().unwrap();
}
