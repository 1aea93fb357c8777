//! A fake Shoal node for client tests: a tokio listener on an OS-assigned port that speaks
//! the frame protocol. An `auto` function answers what it can at once (cluster info, table
//! descriptions); every other request is handed to the test as an [`Incoming`], which the
//! test answers whenever and however it likes (late, out of order, with garbage, by closing
//! the connection).
#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use shoal_client::{
    ClientConfig, ClusterInfo, Item, KeyAttribute, KeyType, Request, Response, ResponseBody,
    TableDescription, TableSpec, Value,
};
use shoal_net::{FrameKind, RequestEnvelope};
use shoal_types::KeyValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What the connection's writer does next.
enum Out {
    Bytes(Vec<u8>),
    Close,
}

/// A request the fake node received and did not answer automatically.
pub struct Incoming {
    pub request_id: u64,
    pub envelope: RequestEnvelope,
    /// Which accepted connection it came on (0-based, in accept order).
    pub connection: usize,
    out: mpsc::UnboundedSender<Out>,
}

impl Incoming {
    pub fn respond(&self, response: Response) {
        let body = shoal_net::encode_response(&response);
        let _ = self.out.send(Out::Bytes(shoal_net::frame_bytes(
            FrameKind::Response,
            self.request_id,
            &body,
        )));
    }

    pub fn respond_ok(&self, body: ResponseBody) {
        self.respond(Response::ok(body));
    }

    /// A frame whose checksum is wrong: the stream is out of sync.
    pub fn garbage(&self) {
        let mut bytes = shoal_net::frame_bytes(FrameKind::Response, self.request_id, b"garbage");
        bytes[16] ^= 0xff;
        let _ = self.out.send(Out::Bytes(bytes));
    }

    /// A valid frame whose body is not a response.
    pub fn undecodable(&self) {
        let bytes =
            shoal_net::frame_bytes(FrameKind::Response, self.request_id, b"not flatbuffers");
        let _ = self.out.send(Out::Bytes(bytes));
    }

    /// Closes the connection the request came on.
    pub fn close(&self) {
        let _ = self.out.send(Out::Close);
    }
}

type Auto = Arc<dyn Fn(&RequestEnvelope) -> Option<Response> + Send + Sync>;

pub struct FakeNode {
    pub address: String,
    pub incoming: mpsc::UnboundedReceiver<Incoming>,
    pub accepted: Arc<AtomicUsize>,
    /// The accept loop and every connection's reader, for [`FakeNode::kill`].
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl FakeNode {
    /// Starts a node answering with `auto` what it can.
    pub async fn start(
        auto: impl Fn(&RequestEnvelope) -> Option<Response> + Send + Sync + 'static,
    ) -> FakeNode {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (incoming_tx, incoming) = mpsc::unbounded_channel();
        let accepted = Arc::new(AtomicUsize::new(0));
        let auto: Auto = Arc::new(auto);
        let counter = Arc::clone(&accepted);
        let tasks = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks_in_loop = Arc::clone(&tasks);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let connection = counter.fetch_add(1, Ordering::SeqCst);
                let served =
                    tokio::spawn(serve(stream, connection, Arc::clone(&auto), incoming_tx.clone()));
                tasks_in_loop.lock().unwrap().push(served.abort_handle());
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        FakeNode { address, incoming, accepted, tasks }
    }

    /// Closes the listener and every connection: the node is gone, its port refuses.
    pub async fn kill(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
        // Let the aborted tasks drop their sockets.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// A node that answers cluster info with `info` and describes every table with the
    /// partition key `pk` (S) and sort key `sk` (N).
    pub async fn standard(info: impl Fn(&str) -> ClusterInfo + Send + Sync + 'static) -> FakeNode {
        FakeNode::standard_rf(1, info).await
    }

    /// [`FakeNode::standard`] with tables of replication factor `rf`.
    pub async fn standard_rf(
        rf: u8,
        info: impl Fn(&str) -> ClusterInfo + Send + Sync + 'static,
    ) -> FakeNode {
        let own = Arc::new(std::sync::OnceLock::<String>::new());
        let own_in_auto = Arc::clone(&own);
        let node = FakeNode::start(move |envelope| match &envelope.request {
            Request::ClusterInfo => Some(Response::ok(ResponseBody::ClusterInfo(info(
                own_in_auto.get().map(String::as_str).unwrap_or_default(),
            )))),
            Request::DescribeTable { name } => {
                let mut description = table(name);
                description.spec.replication_factor = rf;
                Some(Response::ok(ResponseBody::Table(description)))
            }
            _ => None,
        })
        .await;
        own.set(node.address.clone()).unwrap();
        node
    }

    /// A node without a shard map the client can use: everything goes to its main address.
    pub async fn plain() -> FakeNode {
        FakeNode::standard(plain_info).await
    }

    /// The next request not answered automatically, within 5 s.
    pub async fn next(&mut self) -> Incoming {
        tokio::time::timeout(Duration::from_secs(5), self.incoming.recv())
            .await
            .expect("no request reached the fake node within 5 s")
            .expect("fake node stopped")
    }

    /// True if no request arrives within `wait`.
    pub async fn quiet_for(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.incoming.recv()).await.is_err()
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

async fn serve(
    stream: TcpStream,
    connection: usize,
    auto: Auto,
    incoming: mpsc::UnboundedSender<Incoming>,
) {
    let (mut read, mut write) = stream.into_split();
    let (out, mut queue) = mpsc::unbounded_channel::<Out>();
    tokio::spawn(async move {
        while let Some(Out::Bytes(bytes)) = queue.recv().await {
            if write.write_all(&bytes).await.is_err() {
                return;
            }
        }
        // Out::Close, or every sender gone: closing the write half sends FIN.
        let _ = write.shutdown().await;
    });
    let mut buffer = BytesMut::with_capacity(1 << 16);
    loop {
        while let Some(frame) = shoal_net::decode_frame(&mut buffer, 1 << 22).unwrap() {
            let envelope = shoal_net::decode_request(&frame.body).unwrap();
            let request =
                Incoming { request_id: frame.request_id, envelope, connection, out: out.clone() };
            match auto(&request.envelope) {
                Some(response) => request.respond(response),
                None => {
                    let _ = incoming.send(request);
                }
            }
        }
        match read.read_buf(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Cluster info with a partitioner the client does not know: no shard routing.
pub fn plain_info(address: &str) -> ClusterInfo {
    ClusterInfo {
        node_id: 1,
        address: address.to_owned(),
        shards: vec![(0, address.to_owned())],
        partitioner: "fake".to_owned(),
        sharding: "fake".to_owned(),
        sharding_ignore_msb: 0,
        ring: Vec::new(),
    }
}

/// Cluster info naming the client's functions and these shard addresses.
pub fn sharded_info(address: &str, shards: &[String]) -> ClusterInfo {
    ClusterInfo {
        node_id: 1,
        address: address.to_owned(),
        shards: shards.iter().enumerate().map(|(i, a)| (i as u32, a.clone())).collect(),
        partitioner: "xxh3-64".to_owned(),
        sharding: "ignore-msb".to_owned(),
        sharding_ignore_msb: 12,
        ring: vec![(0, address.to_owned())],
    }
}

/// Vnodes per fake node in a [`FakeCluster`].
pub const FAKE_VNODES: u32 = 8;

/// One fake node of a [`FakeCluster`]: a main listener and one listener per shard.
pub struct FakeClusterNode {
    pub id: u64,
    pub main: FakeNode,
    pub shards: Vec<FakeNode>,
}

impl FakeClusterNode {
    /// Kills the main listener and every shard listener.
    pub async fn kill(&self) {
        self.main.kill().await;
        for shard in &self.shards {
            shard.kill().await;
        }
    }
}

/// Fake nodes that advertise one ring: each node's vnode tokens derive from its id as a real
/// node's do, and every node's cluster info names its own shard listeners.
pub struct FakeCluster {
    pub nodes: Vec<FakeClusterNode>,
    /// `(token, main address)`, ascending.
    pub ring: Vec<(u64, String)>,
}

impl FakeCluster {
    /// `nodes` nodes of `shards` shards each, serving tables of replication factor `rf`.
    pub async fn start(nodes: usize, shards: usize, rf: u8) -> FakeCluster {
        let ring_cell = Arc::new(std::sync::OnceLock::<Vec<(u64, String)>>::new());
        let mut members = Vec::new();
        for index in 0..nodes {
            let id = 1000 + index as u64;
            let mut shard_nodes = Vec::new();
            for _ in 0..shards {
                shard_nodes.push(FakeNode::start(|_| None).await);
            }
            let addresses: Vec<String> = shard_nodes.iter().map(|s| s.address.clone()).collect();
            let ring_in_info = Arc::clone(&ring_cell);
            let main = FakeNode::standard_rf(rf, move |own| ClusterInfo {
                node_id: id,
                ring: ring_in_info.get().cloned().unwrap_or_default(),
                ..sharded_info(own, &addresses)
            })
            .await;
            members.push(FakeClusterNode { id, main, shards: shard_nodes });
        }
        let mut ring: Vec<(u64, String)> = members
            .iter()
            .flat_map(|m| {
                shoal_cluster::vnode_tokens(m.id, FAKE_VNODES)
                    .into_iter()
                    .map(|t| (t, m.main.address.clone()))
            })
            .collect();
        ring.sort();
        ring_cell.set(ring.clone()).unwrap();
        FakeCluster { nodes: members, ring }
    }

    /// The index of the node that owns `token` (the first vnode at or after it, wrapping).
    pub fn owner(&self, token: u64) -> usize {
        let at = self.ring.partition_point(|(t, _)| *t < token) % self.ring.len();
        let address = &self.ring[at].1;
        self.nodes.iter().position(|n| &n.main.address == address).unwrap()
    }

    /// A partition key whose first replica is node `node`.
    pub fn key_owned_by(&self, node: usize) -> String {
        (0..)
            .map(|i| format!("key{i}"))
            .find(|k| self.owner(shoal_types::partitioner::token(&KeyValue::S(k.clone()))) == node)
            .expect("some key lands on every node")
    }
}

/// The shard (among `shards`) that owns partition key `pk`.
pub fn shard_of_key(pk: &str, shards: usize) -> usize {
    let token = shoal_types::partitioner::token(&KeyValue::S(pk.to_owned()));
    shoal_types::partitioner::shard_of(token, shards as u32) as usize
}

pub fn table(name: &str) -> TableDescription {
    TableDescription {
        spec: TableSpec {
            name: name.to_owned(),
            partition_key: KeyAttribute { name: "pk".to_owned(), key_type: KeyType::S },
            sort_key: Some(KeyAttribute { name: "sk".to_owned(), key_type: KeyType::N }),
            replication_factor: 1,
            compaction: Default::default(),
            default_ttl_secs: 0,
            ttl_attribute: None,
            options: Default::default(),
        },
        id: 7,
        created_micros: 1,
        altered_micros: 0,
    }
}

/// A key (or item) with partition key `pk`.
pub fn key(pk: &str) -> Item {
    Item::from([("pk".to_owned(), Value::S(pk.to_owned()))])
}

/// The partition key of a get, put, delete or update.
pub fn pk_of(request: &Request) -> String {
    let item = match request {
        Request::GetItem { key, .. }
        | Request::DeleteItem { key, .. }
        | Request::UpdateItem { key, .. } => key,
        Request::PutItem { item, .. } => item,
        other => panic!("not a single-item request: {other:?}"),
    };
    match item.get("pk") {
        Some(Value::S(pk)) => pk.clone(),
        other => panic!("no string pk: {other:?}"),
    }
}

/// A config for `address` with fast retries.
pub fn config(address: &str) -> ClientConfig {
    ClientConfig {
        hosts: vec![address.to_owned()],
        retry_backoff: Duration::from_millis(1),
        ..ClientConfig::default()
    }
}
