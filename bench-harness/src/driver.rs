//! What an operation does on each target: Shoal through the native client, Redis through
//! RESP, or a DynamoDB-compatible endpoint over HTTP ([`crate::dynamo`]). One [`Driver`] per client task, with one request in flight at a time.
//!
//! Data model (the README's "Mapping" section explains the choices):
//! - A record is key `user000000000042` with fields `field0..field{N-1}`, each a string of
//!   `value_bytes / N` ASCII bytes.
//! - Shoal, [`Layout::Plain`]: table [`TABLE_PLAIN`], partition key `ycsb_key` (S), one item
//!   per record. Read = GetItem; update = UpdateItem `SET #f = :v` of one field (no return
//!   values); insert = PutItem of the whole item.
//! - Shoal, [`Layout::Sorted`] (workload E): table [`TABLE_SORTED`], partition key `bucket`
//!   (S, record number / [`SORTED_BUCKET_KEYS`]) and sort key `ycsb_key`; scan = one Query
//!   page `bucket = :b AND ycsb_key >= :k` with `limit` = scan length (a scan that reaches
//!   its bucket's end returns fewer records).
//! - Redis: one hash per record (HGETALL, HSET of one field, HSET of every field); in the
//!   sorted layout inserts also `ZADD` the record number to [`REDIS_INDEX`], and a scan is
//!   `ZRANGEBYSCORE` then one pipelined batch of HGETALLs.
//! - DynamoDB: the tables and operations of Shoal's mapping, as AWS JSON 1.0 requests.

use std::time::Duration;

use shoal_client::{
    Client, ClientError, Consistency, Item, Placeholders, QueryRequest, Request, RequestOptions,
    ResponseBody, ReturnValues, Value,
};

use crate::dynamo::DynamoDriver;
use crate::keys::key_name;
use crate::redis::{RedisConnection, Reply};
use crate::rng::Rng;

/// Shoal table of the plain layout.
pub const TABLE_PLAIN: &str = "usertable";
/// Shoal table of the sorted layout (workload E).
pub const TABLE_SORTED: &str = "usertable_sorted";
/// Records per partition in the sorted layout.
pub const SORTED_BUCKET_KEYS: u64 = 1000;
/// Partition key attribute.
pub const ATTR_KEY: &str = "ycsb_key";
/// Partition key of the sorted layout.
pub const ATTR_BUCKET: &str = "bucket";
/// Redis sorted set indexing record numbers (sorted layout only).
pub const REDIS_INDEX: &str = "ycsb_index";
/// Bytes of the random text values are cut from.
const VALUE_POOL_BYTES: usize = 64 << 10;

/// How records are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One partition per record.
    Plain,
    /// Records grouped in partitions by key order, so short scans are single queries.
    Sorted,
}

/// The shape of a record.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    /// Fields per record.
    pub fields: usize,
    /// Bytes per field value.
    pub field_bytes: usize,
    /// Layout.
    pub layout: Layout,
}

/// Consistency level per operation type (Shoal; DynamoDB maps reads and scans to
/// `ConsistentRead`).
#[derive(Clone, Copy, Debug)]
pub struct Consistencies {
    /// Reads (and the read of a read-modify-write).
    pub read: Consistency,
    /// Updates and inserts.
    pub write: Consistency,
    /// Scans.
    pub scan: Consistency,
}

/// Why an operation failed, as a short kind (`timeout`, `not_found`, `connection`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpError(pub String);

impl OpError {
    /// The error of kind `kind`.
    pub fn new(kind: &str) -> OpError {
        OpError(kind.to_owned())
    }
}

/// Random ASCII text that field values are sliced from.
#[derive(Clone, Debug)]
pub struct ValuePool {
    text: String,
}

impl ValuePool {
    /// A pool seeded by `rng`.
    pub fn new(rng: &mut Rng) -> ValuePool {
        let text = (0..VALUE_POOL_BYTES).map(|_| char::from(b'a' + rng.below(26) as u8)).collect();
        ValuePool { text }
    }

    /// `bytes` of text at a random offset (the whole pool if `bytes` is larger).
    pub fn value(&self, rng: &mut Rng, bytes: usize) -> &str {
        let bytes = bytes.min(self.text.len());
        let start = rng.below((self.text.len() - bytes + 1) as u64) as usize;
        self.text.get(start..start + bytes).unwrap_or_default()
    }
}

/// One client task's connection to the target.
#[derive(Debug)]
pub enum Driver {
    /// A Shoal cluster.
    Shoal(ShoalDriver),
    /// A Redis server.
    Redis(RedisDriver),
    /// A DynamoDB-compatible HTTP endpoint (see [`crate::dynamo`]).
    Dynamo(DynamoDriver),
}

impl Driver {
    /// Reads record `key`.
    ///
    /// # Errors
    /// The failure's kind; `not_found` for a missing record.
    pub async fn read(&mut self, key: u64) -> Result<(), OpError> {
        match self {
            Driver::Shoal(d) => d.read(key).await,
            Driver::Redis(d) => d.read(key).await,
            Driver::Dynamo(d) => d.read(key).await,
        }
    }

    /// Sets field `field` of record `key` to `value`.
    ///
    /// # Errors
    /// The failure's kind.
    pub async fn update(&mut self, key: u64, field: usize, value: &str) -> Result<(), OpError> {
        match self {
            Driver::Shoal(d) => d.update(key, field, value).await,
            Driver::Redis(d) => d.update(key, field, value).await,
            Driver::Dynamo(d) => d.update(key, field, value).await,
        }
    }

    /// Writes record `key` with these field values.
    ///
    /// # Errors
    /// The failure's kind.
    pub async fn insert(&mut self, key: u64, values: &[&str]) -> Result<(), OpError> {
        match self {
            Driver::Shoal(d) => d.insert(key, values).await,
            Driver::Redis(d) => d.insert(key, values).await,
            Driver::Dynamo(d) => d.insert(key, values).await,
        }
    }

    /// Reads up to `len` records in key order from `key`.
    ///
    /// # Errors
    /// The failure's kind; `bad_layout` unless the layout is [`Layout::Sorted`].
    pub async fn scan(&mut self, key: u64, len: u64) -> Result<(), OpError> {
        match self {
            Driver::Shoal(d) => d.scan(key, len).await,
            Driver::Redis(d) => d.scan(key, len).await,
            Driver::Dynamo(d) => d.scan(key, len).await,
        }
    }
}

/// Shoal through `shoal-client`.
#[derive(Debug)]
pub struct ShoalDriver {
    client: Client,
    record: Record,
    consistency: Consistencies,
}

fn client_error_kind(error: &ClientError) -> OpError {
    match error {
        ClientError::Connect { .. } => OpError::new("connect"),
        ClientError::Connection { .. } => OpError::new("connection"),
        ClientError::Timeout { .. } => OpError::new("timeout"),
        ClientError::Server { status, .. } => OpError::new(status.as_str()),
        ClientError::Protocol(_) => OpError::new("protocol"),
        ClientError::InvalidArgument(_) => OpError::new("invalid_argument"),
    }
}

fn field_name(field: usize) -> String {
    format!("field{field}")
}

impl ShoalDriver {
    /// A driver over `client` (shared or its own; the client pipelines either way).
    pub fn new(client: Client, record: Record, consistency: Consistencies) -> ShoalDriver {
        ShoalDriver { client, record, consistency }
    }

    /// Opens the client's connections and learns the table's routing before the run.
    pub async fn warm_up(&self) {
        self.client.warm_up(&[self.table()]).await;
    }

    fn table(&self) -> &'static str {
        match self.record.layout {
            Layout::Plain => TABLE_PLAIN,
            Layout::Sorted => TABLE_SORTED,
        }
    }

    fn key_item(&self, key: u64) -> Item {
        let mut item = Item::new();
        item.insert(ATTR_KEY.to_owned(), Value::S(key_name(key)));
        if self.record.layout == Layout::Sorted {
            item.insert(ATTR_BUCKET.to_owned(), Value::S(bucket_name(key)));
        }
        item
    }

    async fn call(
        &self,
        request: Request,
        consistency: Consistency,
    ) -> Result<ResponseBody, OpError> {
        let options = RequestOptions { consistency: Some(consistency), ..Default::default() };
        match self.client.request_with(request, options).await {
            Ok(response) => Ok(response.body),
            Err(error) => Err(client_error_kind(&error)),
        }
    }

    async fn read(&mut self, key: u64) -> Result<(), OpError> {
        let request = Request::GetItem {
            table: self.table().to_owned(),
            key: self.key_item(key),
            projection: None,
            placeholders: Placeholders::default(),
        };
        match self.call(request, self.consistency.read).await? {
            ResponseBody::Item(Some(_)) => Ok(()),
            _ => Err(OpError::new("not_found")),
        }
    }

    async fn update(&mut self, key: u64, field: usize, value: &str) -> Result<(), OpError> {
        let mut placeholders = Placeholders::default();
        placeholders.names.insert("#f".to_owned(), field_name(field));
        placeholders.values.insert(":v".to_owned(), Value::S(value.to_owned()));
        let request = Request::UpdateItem {
            table: self.table().to_owned(),
            key: self.key_item(key),
            update: "SET #f = :v".to_owned(),
            condition: None,
            placeholders,
            ttl_secs: 0,
            return_values: ReturnValues::None,
        };
        self.call(request, self.consistency.write).await.map(|_| ())
    }

    async fn insert(&mut self, key: u64, values: &[&str]) -> Result<(), OpError> {
        let mut item = self.key_item(key);
        for (i, v) in values.iter().enumerate() {
            item.insert(field_name(i), Value::S((*v).to_owned()));
        }
        let request = Request::PutItem {
            table: self.table().to_owned(),
            item,
            condition: None,
            placeholders: Placeholders::default(),
            ttl_secs: 0,
            return_values: ReturnValues::None,
        };
        self.call(request, self.consistency.write).await.map(|_| ())
    }

    async fn scan(&mut self, key: u64, len: u64) -> Result<(), OpError> {
        if self.record.layout != Layout::Sorted {
            return Err(OpError::new("bad_layout"));
        }
        let mut placeholders = Placeholders::default();
        placeholders.values.insert(":b".to_owned(), Value::S(bucket_name(key)));
        placeholders.values.insert(":k".to_owned(), Value::S(key_name(key)));
        let query = QueryRequest {
            table: TABLE_SORTED.to_owned(),
            key_condition: format!("{ATTR_BUCKET} = :b AND {ATTR_KEY} >= :k"),
            placeholders,
            limit: u32::try_from(len).unwrap_or(u32::MAX),
            ..QueryRequest::default()
        };
        match self.call(Request::Query(query), self.consistency.scan).await? {
            ResponseBody::Page(page) if !page.items.is_empty() => Ok(()),
            _ => Err(OpError::new("not_found")),
        }
    }
}

/// The sorted layout's partition of record `key`.
pub fn bucket_name(key: u64) -> String {
    format!("b{:08}", key / SORTED_BUCKET_KEYS)
}

/// Redis through [`RedisConnection`]; reconnects after any failure (a timed-out reply
/// would otherwise arrive as the answer to the next command).
#[derive(Debug)]
pub struct RedisDriver {
    address: String,
    connection: Option<RedisConnection>,
    record: Record,
    timeout: Duration,
    fields: Vec<String>,
}

impl RedisDriver {
    /// A driver for the server at `address`; connects now.
    ///
    /// # Errors
    /// The connect error.
    pub async fn connect(
        address: &str,
        record: Record,
        timeout: Duration,
    ) -> std::io::Result<RedisDriver> {
        let connection = Some(RedisConnection::connect(address).await?);
        let fields = (0..record.fields).map(field_name).collect();
        Ok(RedisDriver { address: address.to_owned(), connection, record, timeout, fields })
    }

    /// Sends `commands` as one batch and returns their replies, under the timeout.
    async fn batch(&mut self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>, OpError> {
        let connection = match &mut self.connection {
            Some(c) => c,
            None => {
                let c = RedisConnection::connect(&self.address)
                    .await
                    .map_err(|_| OpError::new("connect"))?;
                self.connection.insert(c)
            }
        };
        let exchange = async {
            for command in commands {
                let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
                connection.queue(&args);
            }
            connection.flush().await?;
            let mut replies = Vec::with_capacity(commands.len());
            for _ in commands {
                replies.push(connection.read_reply().await?);
            }
            Ok::<_, std::io::Error>(replies)
        };
        let result = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(replies)) => Ok(replies),
            Ok(Err(_)) => Err(OpError::new("connection")),
            Err(_) => Err(OpError::new("timeout")),
        };
        if result.is_err() {
            self.connection = None;
        }
        let replies = result?;
        if replies.iter().any(|r| matches!(r, Reply::Error(_))) {
            return Err(OpError::new("server_error"));
        }
        Ok(replies)
    }

    async fn one(&mut self, command: Vec<Vec<u8>>) -> Result<Reply, OpError> {
        let mut replies = self.batch(std::slice::from_ref(&command)).await?;
        replies.pop().ok_or_else(|| OpError::new("protocol"))
    }

    async fn read(&mut self, key: u64) -> Result<(), OpError> {
        let reply = self.one(vec![b"HGETALL".to_vec(), key_name(key).into_bytes()]).await?;
        found(&reply)
    }

    async fn update(&mut self, key: u64, field: usize, value: &str) -> Result<(), OpError> {
        let field = self.fields.get(field).cloned().unwrap_or_else(|| field_name(field));
        let command = vec![
            b"HSET".to_vec(),
            key_name(key).into_bytes(),
            field.into_bytes(),
            value.as_bytes().to_vec(),
        ];
        self.one(command).await.map(|_| ())
    }

    async fn insert(&mut self, key: u64, values: &[&str]) -> Result<(), OpError> {
        let name = key_name(key).into_bytes();
        let mut command = vec![b"HSET".to_vec(), name.clone()];
        for (field, value) in self.fields.iter().zip(values) {
            command.push(field.as_bytes().to_vec());
            command.push(value.as_bytes().to_vec());
        }
        if self.record.layout == Layout::Plain {
            return self.one(command).await.map(|_| ());
        }
        let index = vec![b"ZADD".to_vec(), REDIS_INDEX.into(), key.to_string().into(), name];
        self.batch(&[command, index]).await.map(|_| ())
    }

    async fn scan(&mut self, key: u64, len: u64) -> Result<(), OpError> {
        if self.record.layout != Layout::Sorted {
            return Err(OpError::new("bad_layout"));
        }
        let range = vec![
            b"ZRANGEBYSCORE".to_vec(),
            REDIS_INDEX.into(),
            key.to_string().into(),
            b"+inf".to_vec(),
            b"LIMIT".to_vec(),
            b"0".to_vec(),
            len.to_string().into(),
        ];
        let Reply::Array(Some(names)) = self.one(range).await? else {
            return Err(OpError::new("protocol"));
        };
        let reads: Vec<Vec<Vec<u8>>> = names
            .into_iter()
            .filter_map(|n| match n {
                Reply::Bulk(Some(name)) => Some(vec![b"HGETALL".to_vec(), name]),
                _ => None,
            })
            .collect();
        if reads.is_empty() {
            return Err(OpError::new("not_found"));
        }
        self.batch(&reads).await.map(|_| ())
    }
}

fn found(reply: &Reply) -> Result<(), OpError> {
    match reply {
        Reply::Array(Some(fields)) if !fields.is_empty() => Ok(()),
        _ => Err(OpError::new("not_found")),
    }
}
