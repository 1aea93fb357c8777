//! The protocol's messages as owned Rust values, and their flatbuffers encoding.
//!
//! Everything that crosses a socket or a core is built here and nowhere else: the server,
//! the client and the cluster speak these types and call [`encode_request`],
//! [`decode_request`], [`encode_response`] and [`decode_response`]. Decoding verifies the
//! flatbuffer (offsets, bounds, depth) before reading it, and checks every embedded value.

use std::collections::BTreeMap;

use shoal_types::{KeyType, Value};
use thiserror::Error;

use crate::generated::shoal::protocol as fb;

/// A document: attribute names to values.
pub type Item = BTreeMap<String, Value>;

/// How many replicas must answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Consistency {
    /// The table's (or the node's) default: QUORUM unless configured otherwise.
    #[default]
    Default,
    /// One replica.
    One,
    /// A majority of the replicas.
    Quorum,
    /// Every replica.
    All,
}

impl Consistency {
    /// Parses `ONE`, `QUORUM` or `ALL` (any case).
    pub fn parse(text: &str) -> Option<Consistency> {
        match text.to_ascii_uppercase().as_str() {
            "ONE" => Some(Consistency::One),
            "QUORUM" => Some(Consistency::Quorum),
            "ALL" => Some(Consistency::All),
            "DEFAULT" => Some(Consistency::Default),
            _ => None,
        }
    }

    /// The name users write.
    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::Default => "DEFAULT",
            Consistency::One => "ONE",
            Consistency::Quorum => "QUORUM",
            Consistency::All => "ALL",
        }
    }
}

/// Fields every request carries, so the cluster can route and order it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHeader {
    /// Consistency level.
    pub consistency: Consistency,
    /// The coordinating node (0 = a client).
    pub coordinator: u64,
    /// Write timestamp in µs (0 = the coordinator assigns one).
    pub timestamp_micros: u64,
    /// Deadline in ms from receipt (0 = the server's default).
    pub timeout_ms: u32,
    /// Forwards so far, between cores or nodes.
    pub hops: u8,
}

/// Expression placeholders: `#name` → attribute name, `:value` → value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placeholders {
    /// `#name` substitutions (keys include the `#`).
    pub names: BTreeMap<String, String>,
    /// `:value` substitutions (keys include the `:`).
    pub values: BTreeMap<String, Value>,
}

impl Placeholders {
    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.values.is_empty()
    }
}

/// A key attribute of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyAttribute {
    /// Attribute name.
    pub name: String,
    /// S, N or B.
    pub key_type: KeyType,
}

/// How a table's SSTables are compacted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compaction {
    /// Size-tiered: cheap writes (the default).
    #[default]
    SizeTiered,
    /// Leveled: fewer files per read, more rewriting.
    Leveled,
}

/// Which item a write returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReturnValues {
    /// Nothing.
    #[default]
    None,
    /// The item before the write.
    AllOld,
    /// The item after the write.
    AllNew,
}

/// What a table is: its name, keys and options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    /// Table name.
    pub name: String,
    /// Partition key (hashed onto the ring).
    pub partition_key: KeyAttribute,
    /// Optional sort key (ordered inside a partition).
    pub sort_key: Option<KeyAttribute>,
    /// Replicas per item.
    pub replication_factor: u8,
    /// Compaction strategy.
    pub compaction: Compaction,
    /// TTL applied to writes that set none (0 = none).
    pub default_ttl_secs: u64,
    /// Attribute holding each item's expiry time in epoch seconds (DynamoDB's TTL): an item
    /// whose attribute is a number at or before now reads as absent and is purged by
    /// compaction. Beside, not instead of, the per-write TTL.
    pub ttl_attribute: Option<String>,
    /// Metadata the node keeps but does not interpret, for API layers (the DynamoDB layer's
    /// billing mode, throughput and tags).
    pub options: BTreeMap<String, String>,
}

/// One write of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Put a whole item.
    Put {
        /// The item, keys included.
        item: Item,
        /// TTL (0 = the table's default).
        ttl_secs: u64,
    },
    /// Delete the item with this key.
    Delete {
        /// The key attributes.
        key: Item,
    },
}

/// QUERY: items of one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryRequest {
    /// Table name.
    pub table: String,
    /// Key condition: partition key equality, optionally a sort-key condition.
    pub key_condition: String,
    /// Filter on the items read.
    pub filter: Option<String>,
    /// Attributes to return.
    pub projection: Option<String>,
    /// Placeholders of all three expressions.
    pub placeholders: Placeholders,
    /// Most items to read (0 = the server's page size).
    pub limit: u32,
    /// Descending sort-key order.
    pub reverse: bool,
    /// Where the previous page stopped.
    pub page_token: Option<Vec<u8>>,
}

/// SCAN: one segment of a whole table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanRequest {
    /// Table name.
    pub table: String,
    /// This segment (0-based).
    pub segment: u32,
    /// Segments the token range is cut into (≥ 1).
    pub total_segments: u32,
    /// Filter on the items read.
    pub filter: Option<String>,
    /// Attributes to return.
    pub projection: Option<String>,
    /// Placeholders.
    pub placeholders: Placeholders,
    /// Most items to read (0 = the server's page size).
    pub limit: u32,
    /// Where the previous page stopped.
    pub page_token: Option<Vec<u8>>,
}

/// A request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Create a table.
    CreateTable {
        /// What to create.
        spec: TableSpec,
        /// Succeed if a table of that name exists.
        if_not_exists: bool,
    },
    /// Describe a table.
    DescribeTable {
        /// Table name.
        name: String,
    },
    /// List tables.
    ListTables,
    /// Drop a table and its data.
    DropTable {
        /// Table name.
        name: String,
        /// Succeed if there is no such table.
        if_exists: bool,
    },
    /// Read one item.
    GetItem {
        /// Table name.
        table: String,
        /// Key attributes.
        key: Item,
        /// Attributes to return.
        projection: Option<String>,
        /// Placeholders of the projection.
        placeholders: Placeholders,
    },
    /// Write a whole item.
    PutItem {
        /// Table name.
        table: String,
        /// The item, keys included.
        item: Item,
        /// Condition on the existing item.
        condition: Option<String>,
        /// Placeholders of the condition.
        placeholders: Placeholders,
        /// TTL (0 = the table's default).
        ttl_secs: u64,
        /// What to return.
        return_values: ReturnValues,
    },
    /// Delete an item.
    DeleteItem {
        /// Table name.
        table: String,
        /// Key attributes.
        key: Item,
        /// Condition on the existing item.
        condition: Option<String>,
        /// Placeholders of the condition.
        placeholders: Placeholders,
        /// What to return.
        return_values: ReturnValues,
    },
    /// Change attributes of an item (creating it if absent).
    UpdateItem {
        /// Table name.
        table: String,
        /// Key attributes.
        key: Item,
        /// Update expression (SET, REMOVE, ADD, DELETE).
        update: String,
        /// Condition on the existing item.
        condition: Option<String>,
        /// Placeholders of both expressions.
        placeholders: Placeholders,
        /// TTL of the written attributes (0 = the table's default).
        ttl_secs: u64,
        /// What to return.
        return_values: ReturnValues,
    },
    /// Read many items of one table.
    BatchGet {
        /// Table name.
        table: String,
        /// Keys, each answered in the same position.
        keys: Vec<Item>,
        /// Attributes to return.
        projection: Option<String>,
        /// Placeholders of the projection.
        placeholders: Placeholders,
    },
    /// Many puts and deletes on one table, each answered on its own.
    BatchWrite {
        /// Table name.
        table: String,
        /// The writes.
        ops: Vec<WriteOp>,
    },
    /// Query one partition.
    Query(QueryRequest),
    /// Scan a segment of a table.
    Scan(ScanRequest),
    /// The node's shard map and ring.
    ClusterInfo,
    /// Internode: merge a row into this replica.
    ReplicaWrite {
        /// Which table.
        table: TableRef,
        /// Encoded item key.
        key: Vec<u8>,
        /// Encoded row (cells with timestamps).
        row: Vec<u8>,
    },
    /// Internode: this replica's raw row for a key.
    ReplicaRead {
        /// Which table.
        table: TableRef,
        /// Encoded item key.
        key: Vec<u8>,
        /// Only the digest, not the row.
        digest_only: bool,
    },
    /// Internode: a gossip round; the answer is the receiver's view.
    Gossip {
        /// The sender's view of every endpoint.
        endpoints: Vec<Endpoint>,
    },
    /// Internode: the sender's schema; the answer is the receiver's, after merging.
    SchemaPush {
        /// Tables and whether each is dropped.
        tables: Vec<(TableDescription, bool)>,
    },
    /// The node's view of the cluster.
    NodeStatus,
    /// Replace a table's TTL attribute and options; its keys cannot change. Refused with
    /// `ConditionFailed` unless `table.created_micros` and `table.altered_micros` match the
    /// current version (optimistic concurrency: read, change, alter, retry on conflict).
    AlterTable {
        /// The table as it should become, with the version it replaces.
        table: TableDescription,
    },
}

/// A table named across nodes (local ids differ between nodes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableRef {
    /// Table name.
    pub name: String,
    /// Its creation time, which tells a re-created table from the old one.
    pub created_micros: u64,
}

/// Where a node is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MemberStatus {
    /// Starting, not serving yet.
    Joining,
    /// Serving.
    #[default]
    Normal,
    /// Shutting down.
    Leaving,
}

impl MemberStatus {
    /// Wire code.
    pub fn code(self) -> u8 {
        match self {
            MemberStatus::Joining => 0,
            MemberStatus::Normal => 1,
            MemberStatus::Leaving => 2,
        }
    }

    /// From a wire code.
    pub fn from_code(code: u8) -> Option<MemberStatus> {
        match code {
            0 => Some(MemberStatus::Joining),
            1 => Some(MemberStatus::Normal),
            2 => Some(MemberStatus::Leaving),
            _ => None,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Joining => "joining",
            MemberStatus::Normal => "normal",
            MemberStatus::Leaving => "leaving",
        }
    }
}

/// One node's gossip state: versioned by (generation, version); the higher pair wins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// Node id.
    pub node_id: u64,
    /// Native-protocol address.
    pub address: String,
    /// Internode address.
    pub internode: String,
    /// Changes at each start of the node (its start time in µs).
    pub generation: u64,
    /// Heartbeat version: grows while the node runs.
    pub version: u64,
    /// Life-cycle state.
    pub status: MemberStatus,
    /// Shards (cores) of the node.
    pub shards: u32,
    /// Vnodes of the node on the ring.
    pub vnodes: u32,
    /// Digest of the node's schema (tables and drops).
    pub schema_version: u64,
    /// Bytes stored (memtables and SSTables).
    pub load_bytes: u64,
    /// HTTP (health, metrics) address.
    pub http: String,
}

/// How a node sees another.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeView {
    /// Its gossip state.
    pub endpoint: Endpoint,
    /// Judged alive by the failure detector.
    pub up: bool,
    /// The detector's suspicion level.
    pub phi: f64,
    /// Vnode tokens it owns.
    pub tokens: u32,
}

/// Every operation's name, at its [`Request::op_index`]: the `op` label of the node's
/// request metrics.
pub const OP_NAMES: [&str; 19] = [
    "create_table",
    "describe_table",
    "list_tables",
    "drop_table",
    "get",
    "put",
    "delete",
    "update",
    "batch_get",
    "batch_write",
    "query",
    "scan",
    "cluster_info",
    "replica_write",
    "replica_read",
    "gossip",
    "schema_push",
    "node_status",
    "alter_table",
];

impl Request {
    /// The operation's position in [`OP_NAMES`] (metrics count by it, without comparing
    /// names per request).
    pub fn op_index(&self) -> usize {
        match self {
            Request::CreateTable { .. } => 0,
            Request::DescribeTable { .. } => 1,
            Request::ListTables => 2,
            Request::DropTable { .. } => 3,
            Request::GetItem { .. } => 4,
            Request::PutItem { .. } => 5,
            Request::DeleteItem { .. } => 6,
            Request::UpdateItem { .. } => 7,
            Request::BatchGet { .. } => 8,
            Request::BatchWrite { .. } => 9,
            Request::Query(_) => 10,
            Request::Scan(_) => 11,
            Request::ClusterInfo => 12,
            Request::ReplicaWrite { .. } => 13,
            Request::ReplicaRead { .. } => 14,
            Request::Gossip { .. } => 15,
            Request::SchemaPush { .. } => 16,
            Request::NodeStatus => 17,
            Request::AlterTable { .. } => 18,
        }
    }

    /// The operation's name, for metrics and logs.
    pub fn op_name(&self) -> &'static str {
        // Every index is in range (tested with a request of every kind).
        OP_NAMES.get(self.op_index()).copied().unwrap_or("unknown")
    }

    /// True if it only reads (repairs aside): it may be dropped at any await without
    /// leaving anything halfway.
    pub fn only_reads(&self) -> bool {
        matches!(
            self,
            Request::DescribeTable { .. }
                | Request::ListTables
                | Request::GetItem { .. }
                | Request::BatchGet { .. }
                | Request::Query(_)
                | Request::Scan(_)
                | Request::ClusterInfo
                | Request::NodeStatus
        )
    }

    /// True if sending it twice has the effect of sending it once, so a client may retry
    /// it after a timeout. Unconditional puts and deletes qualify only with a
    /// client-assigned timestamp (the retry then writes the same version).
    pub fn is_idempotent(&self, header: &RequestHeader) -> bool {
        if self.only_reads() {
            return true;
        }
        match self {
            Request::ReplicaWrite { .. }
            | Request::ReplicaRead { .. }
            | Request::Gossip { .. }
            | Request::SchemaPush { .. } => true,
            Request::PutItem { condition: None, .. }
            | Request::DeleteItem { condition: None, .. }
            | Request::BatchWrite { .. } => header.timestamp_micros != 0,
            _ => false,
        }
    }
}

/// A request with its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestEnvelope {
    /// Routing and ordering fields.
    pub header: RequestHeader,
    /// The operation.
    pub request: Request,
}

/// The outcome of a request or of one item of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Done.
    Ok,
    /// No such item (only where absence is an error) .
    NotFound,
    /// A condition expression evaluated false; nothing was written.
    ConditionFailed,
    /// Malformed request, bad expression, wrong types.
    BadRequest,
    /// No table of that name.
    UnknownTable,
    /// A table of that name exists.
    TableExists,
    /// Not enough replicas, or the node cannot write (disk full, failed sync).
    Unavailable,
    /// The deadline passed; the write may or may not have been applied.
    Timeout,
    /// Too many requests in flight; retry later.
    Overloaded,
    /// A bug or an unexpected failure.
    Internal,
    /// A key, item or frame over its limit.
    TooLarge,
}

impl Status {
    /// A stable name for messages and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NotFound => "not_found",
            Status::ConditionFailed => "condition_failed",
            Status::BadRequest => "bad_request",
            Status::UnknownTable => "unknown_table",
            Status::TableExists => "table_exists",
            Status::Unavailable => "unavailable",
            Status::Timeout => "timeout",
            Status::Overloaded => "overloaded",
            Status::Internal => "internal",
            Status::TooLarge => "too_large",
        }
    }
}

/// A table as the node knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDescription {
    /// What it is.
    pub spec: TableSpec,
    /// Its id inside the engines.
    pub id: u32,
    /// When it was created (µs since the epoch).
    pub created_micros: u64,
    /// When its TTL attribute or options last changed (µs since the epoch; 0: never). Of two
    /// versions of one incarnation, the later alteration wins.
    pub altered_micros: u64,
}

/// One item's outcome in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemStatus {
    /// Outcome.
    pub status: Status,
    /// Why, if not Ok.
    pub message: String,
    /// The item read (batch get), if found.
    pub item: Option<Item>,
}

/// A page of a query or scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// Items that passed the filter, projected.
    pub items: Vec<Item>,
    /// Resume here; `None` when done.
    pub page_token: Option<Vec<u8>>,
    /// Items read before the filter.
    pub scanned: u32,
}

/// A node's shard map and ring, for token- and shard-aware clients.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterInfo {
    /// The node's id.
    pub node_id: u64,
    /// Its native-protocol address.
    pub address: String,
    /// Shard number and its shard-aware address.
    pub shards: Vec<(u32, String)>,
    /// Name of the token function.
    pub partitioner: String,
    /// Name of the shard function.
    pub sharding: String,
    /// The shard function's parameter.
    pub sharding_ignore_msb: u8,
    /// Vnode tokens and the address of the node that owns each.
    pub ring: Vec<(u64, String)>,
}

/// What a response carries besides its status.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ResponseBody {
    /// Nothing.
    #[default]
    Empty,
    /// One table.
    Table(TableDescription),
    /// Tables.
    Tables(Vec<TableDescription>),
    /// One item, or none.
    Item(Option<Item>),
    /// One item already encoded as a map value ([`encode_item`]), or none: what a node's
    /// fast read path answers without decoding the stored row. On the wire it is exactly
    /// [`ResponseBody::Item`], and it decodes as one; only a node's own code sees this form
    /// ([`ResponseBody::with_decoded_item`] turns it into the other).
    EncodedItem(Option<Vec<u8>>),
    /// Per-item outcomes of a batch.
    Batch(Vec<ItemStatus>),
    /// A query or scan page.
    Page(Page),
    /// Shard map and ring.
    ClusterInfo(ClusterInfo),
    /// A replica's raw row (encoded) and its digest.
    Row {
        /// The row, if the replica has one.
        row: Option<Vec<u8>>,
        /// Digest of the row (0 for none).
        digest: u64,
    },
    /// The receiver's gossip view.
    Gossip(Vec<Endpoint>),
    /// The receiver's schema.
    Schema(Vec<(TableDescription, bool)>),
    /// The node's view of every node.
    Nodes(Vec<NodeView>),
}

impl ResponseBody {
    /// The body with an [`ResponseBody::EncodedItem`] decoded into a
    /// [`ResponseBody::Item`] (any other body as it is), for code that reads the item.
    ///
    /// # Errors
    /// The encoded item does not decode.
    pub fn with_decoded_item(self) -> Result<ResponseBody> {
        match self {
            ResponseBody::EncodedItem(bytes) => {
                Ok(ResponseBody::Item(bytes.map(|b| decode_item(&b, "item")).transpose()?))
            }
            other => Ok(other),
        }
    }
}

/// A response.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// Outcome.
    pub status: Status,
    /// Why, if not Ok (readable, names what was wrong).
    pub message: String,
    /// The result.
    pub body: ResponseBody,
    /// Things the user should know (e.g. RF larger than the ring).
    pub warnings: Vec<String>,
}

impl Response {
    /// A successful response.
    pub fn ok(body: ResponseBody) -> Response {
        Response { status: Status::Ok, message: String::new(), body, warnings: Vec::new() }
    }

    /// A failed response.
    pub fn error(status: Status, message: impl Into<String>) -> Response {
        Response {
            status,
            message: message.into(),
            body: ResponseBody::Empty,
            warnings: Vec::new(),
        }
    }
}

/// A message that cannot be decoded.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum MessageError {
    /// Not a valid flatbuffer of the expected type.
    #[error("malformed message: {0}")]
    Flatbuffer(String),
    /// A field is missing or holds a value this build does not know.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// An embedded item, key or value does not decode.
    #[error("invalid {what}: {source}")]
    Value {
        /// Which field.
        what: &'static str,
        /// Why.
        source: shoal_types::Error,
    },
}

type Result<T> = std::result::Result<T, MessageError>;

fn invalid(reason: impl Into<String>) -> MessageError {
    MessageError::Invalid(reason.into())
}

// ---------------------------------------------------------------------------------------
// Values embedded as bytes.

/// Encodes an item as a map value.
pub fn encode_item(item: &Item) -> Vec<u8> {
    // Cloning into Value::M would copy the whole item; encode the map in place instead.
    let mut out = Vec::new();
    shoal_types::value::encode_item_map(item, &mut out);
    out
}

/// Decodes an item encoded by [`encode_item`].
///
/// # Errors
/// Not a map value, trailing bytes, or any decoding error.
pub fn decode_item(bytes: &[u8], what: &'static str) -> Result<Item> {
    let (value, used) =
        Value::decode(bytes).map_err(|source| MessageError::Value { what, source })?;
    if used != bytes.len() {
        return Err(invalid(format!("{what}: {} trailing bytes", bytes.len() - used)));
    }
    match value {
        Value::M(map) => Ok(map),
        other => Err(invalid(format!("{what}: expected a map, found {}", other.type_name()))),
    }
}

// ---------------------------------------------------------------------------------------
// Enums.

pub(crate) fn consistency_to_fb(c: Consistency) -> fb::Consistency {
    match c {
        Consistency::Default => fb::Consistency::Default,
        Consistency::One => fb::Consistency::One,
        Consistency::Quorum => fb::Consistency::Quorum,
        Consistency::All => fb::Consistency::All,
    }
}

pub(crate) fn consistency_from_fb(c: fb::Consistency) -> Result<Consistency> {
    Ok(match c {
        fb::Consistency::Default => Consistency::Default,
        fb::Consistency::One => Consistency::One,
        fb::Consistency::Quorum => Consistency::Quorum,
        fb::Consistency::All => Consistency::All,
        other => return Err(invalid(format!("unknown consistency {}", other.0))),
    })
}

const STATUSES: [(Status, fb::Status); 11] = [
    (Status::Ok, fb::Status::Ok),
    (Status::NotFound, fb::Status::NotFound),
    (Status::ConditionFailed, fb::Status::ConditionFailed),
    (Status::BadRequest, fb::Status::BadRequest),
    (Status::UnknownTable, fb::Status::UnknownTable),
    (Status::TableExists, fb::Status::TableExists),
    (Status::Unavailable, fb::Status::Unavailable),
    (Status::Timeout, fb::Status::Timeout),
    (Status::Overloaded, fb::Status::Overloaded),
    (Status::Internal, fb::Status::Internal),
    (Status::TooLarge, fb::Status::TooLarge),
];

pub(crate) fn status_to_fb(s: Status) -> fb::Status {
    STATUSES.iter().find(|(ours, _)| *ours == s).map_or(fb::Status::Internal, |(_, theirs)| *theirs)
}

pub(crate) fn status_from_fb(s: fb::Status) -> Result<Status> {
    STATUSES
        .iter()
        .find(|(_, theirs)| *theirs == s)
        .map(|(ours, _)| *ours)
        .ok_or_else(|| invalid(format!("unknown status {}", s.0)))
}

pub(crate) fn key_type_to_fb(t: KeyType) -> fb::KeyType {
    match t {
        KeyType::S => fb::KeyType::S,
        KeyType::N => fb::KeyType::N,
        KeyType::B => fb::KeyType::B,
    }
}

pub(crate) fn key_type_from_fb(t: fb::KeyType) -> Result<KeyType> {
    Ok(match t {
        fb::KeyType::S => KeyType::S,
        fb::KeyType::N => KeyType::N,
        fb::KeyType::B => KeyType::B,
        other => return Err(invalid(format!("unknown key type {}", other.0))),
    })
}

pub(crate) fn compaction_to_fb(c: Compaction) -> fb::Compaction {
    match c {
        Compaction::SizeTiered => fb::Compaction::SizeTiered,
        Compaction::Leveled => fb::Compaction::Leveled,
    }
}

pub(crate) fn compaction_from_fb(c: fb::Compaction) -> Result<Compaction> {
    Ok(match c {
        fb::Compaction::SizeTiered => Compaction::SizeTiered,
        fb::Compaction::Leveled => Compaction::Leveled,
        other => return Err(invalid(format!("unknown compaction strategy {}", other.0))),
    })
}

pub(crate) fn return_values_to_fb(r: ReturnValues) -> fb::ReturnValues {
    match r {
        ReturnValues::None => fb::ReturnValues::None,
        ReturnValues::AllOld => fb::ReturnValues::AllOld,
        ReturnValues::AllNew => fb::ReturnValues::AllNew,
    }
}

pub(crate) fn return_values_from_fb(r: fb::ReturnValues) -> Result<ReturnValues> {
    Ok(match r {
        fb::ReturnValues::None => ReturnValues::None,
        fb::ReturnValues::AllOld => ReturnValues::AllOld,
        fb::ReturnValues::AllNew => ReturnValues::AllNew,
        other => return Err(invalid(format!("unknown return-values choice {}", other.0))),
    })
}
