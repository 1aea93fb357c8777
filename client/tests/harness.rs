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
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let connection = counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, connection, Arc::clone(&auto), incoming_tx.clone()));
            }
        });
        FakeNode { address, incoming, accepted }
    }

    /// A node that answers cluster info with `info` and describes every table with the
    /// partition key `pk` (S) and sort key `sk` (N).
    pub async fn standard(info: impl Fn(&str) -> ClusterInfo + Send + Sync + 'static) -> FakeNode {
        let own = Arc::new(std::sync::OnceLock::<String>::new());
        let own_in_auto = Arc::clone(&own);
        let node = FakeNode::start(move |envelope| match &envelope.request {
            Request::ClusterInfo => Some(Response::ok(ResponseBody::ClusterInfo(info(
                own_in_auto.get().map(String::as_str).unwrap_or_default(),
            )))),
            Request::DescribeTable { name } => Some(Response::ok(ResponseBody::Table(table(name)))),
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

pub fn table(name: &str) -> TableDescription {
    TableDescription {
        spec: TableSpec {
            name: name.to_owned(),
            partition_key: KeyAttribute { name: "pk".to_owned(), key_type: KeyType::S },
            sort_key: Some(KeyAttribute { name: "sk".to_owned(), key_type: KeyType::N }),
            replication_factor: 1,
            compaction: Default::default(),
            default_ttl_secs: 0,
        },
        id: 7,
        created_micros: 1,
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
