//! Item operations, executed on the shard that owns the item's partition.
//!
//! Conditional writes and updates read, decide and stage their write under the item's lock
//! stripe, so on one node they are atomic: of many concurrent put-if-absent calls exactly
//! one wins, and concurrent increments are never lost. The lock is released once the write
//! has its place in the commit log, not once it is durable; the next decision reads the
//! writes staged before it on top of the stored row (`current_for_write`), so decisions on
//! a hot item share an fdatasync instead of queueing for one each. (Across replicas this
//! needs lightweight transactions; see the cluster issue.)

use std::collections::BTreeMap;

use shoal_engine::Error as EngineError;
use shoal_expr::{
    apply_update, evaluate_condition, parse_condition, parse_projection, parse_update, project,
    Condition, Path,
};
use shoal_net::{
    Item, ItemStatus, Placeholders, Response, ResponseBody, ReturnValues, Status, TableDescription,
    WriteOp,
};
use shoal_types::{ItemKey, Row, Value};

use shoal_net::keys::{is_key_attribute, item_key, key_item};
use std::rc::Rc;

use shoal_engine::runtime::AsyncLockGuard;
use shoal_net::Consistency;

use crate::replicas;
use crate::shard::Shard;

/// A failed operation: the status and message the client sees.
#[derive(Debug)]
pub struct OpError {
    /// Status.
    pub status: Status,
    /// Readable reason.
    pub message: String,
}

impl OpError {
    /// An error of `status`.
    pub fn new(status: Status, message: impl Into<String>) -> OpError {
        OpError { status, message: message.into() }
    }

    /// A malformed request.
    pub fn bad(message: impl Into<String>) -> OpError {
        OpError::new(Status::BadRequest, message)
    }

    /// The response that reports it.
    pub fn into_response(self) -> Response {
        Response::error(self.status, self.message)
    }
}

impl From<EngineError> for OpError {
    fn from(e: EngineError) -> OpError {
        let status = match &e {
            EngineError::UnknownTable { .. } => Status::UnknownTable,
            EngineError::TooLarge { .. } => Status::TooLarge,
            EngineError::Invalid { .. } | EngineError::Decode { .. } => Status::BadRequest,
            EngineError::DiskFull { .. }
            | EngineError::WritesStopped { .. }
            | EngineError::FlushFailing { .. }
            | EngineError::Closed
            | EngineError::Io { .. } => Status::Unavailable,
            _ => Status::Internal,
        };
        OpError::new(status, e.to_string())
    }
}

impl From<shoal_expr::Error> for OpError {
    fn from(e: shoal_expr::Error) -> OpError {
        OpError::bad(e.to_string())
    }
}

/// The result of an operation.
pub type OpResult<T> = Result<T, OpError>;

/// Parsed placeholders that every expression of one request draws from.
pub struct Expressions {
    placeholders: shoal_expr::Placeholders,
}

impl Expressions {
    /// Wraps a request's placeholders.
    pub fn new(p: &Placeholders) -> Expressions {
        Expressions {
            placeholders: shoal_expr::Placeholders::new(p.names.clone(), p.values.clone()),
        }
    }

    /// Parses an optional condition.
    pub fn condition(&mut self, text: Option<&str>) -> OpResult<Option<Condition>> {
        text.map(|t| parse_condition(t, &mut self.placeholders)).transpose().map_err(Into::into)
    }

    /// Parses an optional filter.
    pub fn filter(&mut self, text: Option<&str>) -> OpResult<Option<Condition>> {
        text.map(|t| shoal_expr::parse_filter(t, &mut self.placeholders))
            .transpose()
            .map_err(Into::into)
    }

    /// Parses an optional projection.
    pub fn projection(&mut self, text: Option<&str>) -> OpResult<Option<Vec<Path>>> {
        text.map(|t| parse_projection(t, &mut self.placeholders)).transpose().map_err(Into::into)
    }

    /// Parses an update.
    pub fn update(&mut self, text: &str) -> OpResult<shoal_expr::Update> {
        parse_update(text, &mut self.placeholders).map_err(Into::into)
    }

    /// Parses a key condition.
    pub fn key_condition(
        &mut self,
        text: &str,
        schema: shoal_expr::KeySchema<'_>,
    ) -> OpResult<shoal_expr::KeyCondition> {
        shoal_expr::parse_key_condition(text, &mut self.placeholders, schema).map_err(Into::into)
    }

    /// DynamoDB refuses placeholders that no expression used.
    pub fn finish(&self) -> OpResult<()> {
        self.placeholders.check_all_used().map_err(Into::into)
    }
}

/// Applies a projection, if any.
pub fn projected(paths: &Option<Vec<Path>>, item: Item) -> Item {
    match paths {
        Some(paths) => project(paths, &item),
        None => item,
    }
}

fn condition_holds(condition: &Option<Condition>, current: Option<&Item>) -> OpResult<bool> {
    let Some(condition) = condition else { return Ok(true) };
    let empty = Item::new();
    Ok(evaluate_condition(condition, current.unwrap_or(&empty))?)
}

fn condition_failed() -> OpError {
    OpError::new(Status::ConditionFailed, "the conditional request failed")
}

fn expires_at_ms(shard: &Shard, table: &TableDescription, ttl_secs: u64) -> u64 {
    let ttl = if ttl_secs != 0 { ttl_secs } else { table.spec.default_ttl_secs };
    if ttl == 0 {
        0
    } else {
        shard.engine.clock().now_ms().saturating_add(ttl.saturating_mul(1000))
    }
}

fn check_item_size(shard: &Shard, item: &Item) -> OpResult<()> {
    let bytes: usize = item.iter().map(|(k, v)| k.len() + v.encoded_len()).sum();
    let max = shard.node.settings.item_bytes_max;
    if bytes > max {
        return Err(OpError::new(
            Status::TooLarge,
            format!("item of {bytes} bytes exceeds the limit of {max} bytes"),
        ));
    }
    for value in item.values() {
        value.validate().map_err(|e| OpError::bad(e.to_string()))?;
    }
    Ok(())
}

/// The item as a read at `cl` sees it (replicas compared and repaired).
async fn current(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &ItemKey,
    cl: Consistency,
) -> OpResult<Option<Item>> {
    Ok(current_versioned(shard, table, key, cl).await?.item)
}

/// What a read before a write saw.
struct Current {
    /// The live item, if any (an item expired by the table's TTL attribute is absent).
    item: Option<Item>,
    /// The newest timestamp in its row (0 if none).
    newest: u64,
    /// The row held an item that the TTL attribute expired: a write that creates the item
    /// anew must shadow those cells, or they would come back with it (still expired).
    expired: bool,
}

/// Whether `item` is past its table's TTL attribute (DynamoDB's expiry), at `now_ms`.
pub fn expired_by_ttl_attribute(table: &TableDescription, item: &Item, now_ms: u64) -> bool {
    table
        .spec
        .ttl_attribute
        .as_ref()
        .is_some_and(|a| shoal_types::expired_by_attribute(item.get(a), now_ms))
}

/// The item and the newest timestamp in its row (0 if none). A read-modify-write stamps its
/// write above that timestamp: otherwise a client whose clock (or counter) is behind the
/// version it read from would write a value that loses to the one it replaced, and an
/// increment would vanish.
async fn current_versioned(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &ItemKey,
    cl: Consistency,
) -> OpResult<Current> {
    let row = replicas::read(shard, table, key, cl).await?;
    Ok(versioned(shard, table, row))
}

/// What a read-modify-write decides on, under the item's lock: the row as a read at `cl`
/// sees it, with the writes this node decided on the item before and has not finished yet
/// on top ([`shoal_engine::Engine::stage_write`]: a decision releases the lock once its
/// write is staged, before the write is durable).
async fn current_for_write(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &ItemKey,
    cl: Consistency,
) -> OpResult<Current> {
    // Taken before the read: a staged write that finishes while the replicas are read
    // leaves `staged_row` and may or may not be in what they return (merging it twice is
    // harmless, missing it loses it). No write is staged on the item meanwhile: that takes
    // the lock this decision holds.
    let staged = shard.engine.staged_row(table.id, key);
    let mut row = replicas::read(shard, table, key, cl).await?;
    if let Some(staged) = staged {
        row = Some(match row {
            Some(stored) => Row::merge(stored, staged),
            None => staged,
        });
    }
    Ok(versioned(shard, table, row))
}

/// The live item of `row` and its versions.
fn versioned(shard: &Shard, table: &TableDescription, row: Option<Row>) -> Current {
    let newest = row.as_ref().and_then(Row::max_ts).unwrap_or(0);
    let now_ms = shard.engine.clock().now_ms();
    let mut item = row.and_then(|r| r.into_live_attributes(now_ms));
    let expired = item.as_ref().is_some_and(|i| expired_by_ttl_attribute(table, i, now_ms));
    if expired {
        item = None;
    }
    Current { item, newest, expired }
}

/// The timestamp of a write that read a row whose newest timestamp is `read_ts`.
fn write_timestamp(shard: &Shard, requested: u64, read_ts: u64) -> u64 {
    let ts = shard.timestamp(requested).max(read_ts.saturating_add(1));
    shard.observe_timestamp(ts);
    ts
}

/// Writes `row` here (the primary replica) and to the other replicas at `cl`.
///
/// This node's copy is staged in its commit log first (which fixes its order among this
/// node's writes and checks it), then the row goes to the other replicas while this copy's
/// fdatasync runs: the two overlap, as in Cassandra, instead of the replicas waiting for
/// this node's sync.
///
/// `decided` is the item's lock when a read-modify-write decided the row under it. It is
/// released as soon as this node's copy is staged in the commit log, so the next decision
/// on the item (which reads the staged row, see [`current_for_write`]) waits for this one's
/// place in the log, not for its fdatasync: decisions on a hot item share fdatasyncs
/// instead of queueing one fdatasync each. A node that holds no copy keeps the lock to the
/// end, as the next decision can only read the replicas.
async fn write(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &ItemKey,
    row: Row,
    cl: Consistency,
    decided: Option<AsyncLockGuard>,
) -> OpResult<()> {
    let replicas = replicas::replicas(shard, table, key.token);
    let need = replicas::required(shard, cl, replicas.len());
    replicas::check_available(shard, &replicas, need, cl)?;
    // Normally this node is the primary; a batch or a changing view may run a write on a
    // node that holds no replica, which then only coordinates.
    let local = replicas.iter().any(|r| r.is_me);
    if !local {
        let written = replicas::replicate(shard, table, key, &row, cl, replicas, None).await;
        drop(decided);
        return written;
    }
    // The only replica (a single node, or RF 1) sends nothing, so needs no copy of the row.
    let copy = (replicas.len() > 1).then(|| row.clone());
    let staged = match decided {
        Some(lock) => {
            let staged = shard.engine.stage_write(table.id, key, row).await?;
            drop(lock);
            staged
        }
        None => shard.engine.begin_write(table.id, key, row).await?,
    };
    match copy {
        Some(row) => replicas::replicate(shard, table, key, &row, cl, replicas, Some(staged)).await,
        None => Ok(staged.finish().await?),
    }
}

/// GET.
pub async fn get(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &Item,
    projection: Option<&str>,
    placeholders: &Placeholders,
    cl: Consistency,
) -> OpResult<Response> {
    let mut exprs = Expressions::new(placeholders);
    let paths = exprs.projection(projection)?;
    exprs.finish()?;
    let key = item_key(&table.spec, key, true).map_err(OpError::bad)?;
    // A whole item that this node alone reads goes out as it is stored (transcoded, not
    // decoded into maps and encoded again). An expiry attribute needs the decoded item.
    if paths.is_none() && table.spec.ttl_attribute.is_none() {
        if let Some(item) = replicas::read_item_here_encoded(shard, table, &key, cl).await? {
            return Ok(Response::ok(ResponseBody::EncodedItem(item)));
        }
    }
    // Boxed: inline, its state (1.7 KB) would double the size of every GET's future.
    let item = Box::pin(current(shard, table, &key, cl)).await?;
    Ok(Response::ok(ResponseBody::Item(item.map(|i| projected(&paths, i)))))
}

/// The options of a single-item write.
pub struct WriteOptions<'a> {
    /// Condition expression.
    pub condition: Option<&'a str>,
    /// Placeholders.
    pub placeholders: &'a Placeholders,
    /// TTL (0 = the table's default).
    pub ttl_secs: u64,
    /// What to return.
    pub return_values: ReturnValues,
    /// Client-chosen timestamp (0 = the shard's clock).
    pub timestamp_micros: u64,
    /// Consistency of the write (and of the read a condition needs).
    pub consistency: Consistency,
}

/// The lock, the current item and its newest timestamp for a write that needs them (a
/// condition, or the old item returned); checks the condition. Without either, nothing is
/// read or locked: a blind write needs no order but its timestamp's.
async fn read_before_write(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &ItemKey,
    encoded: &[u8],
    condition: &Option<Condition>,
    options: &WriteOptions<'_>,
) -> OpResult<(Option<AsyncLockGuard>, Option<Item>, u64)> {
    let needs_read = condition.is_some() || options.return_values == ReturnValues::AllOld;
    if !needs_read {
        return Ok((None, None, 0));
    }
    let guard = shard.lock_key(encoded).await;
    let current = current_for_write(shard, table, key, options.consistency).await?;
    if !condition_holds(condition, current.item.as_ref())? {
        return Err(condition_failed());
    }
    Ok((Some(guard), current.item, current.newest))
}

/// PUT.
pub async fn put(
    shard: &Rc<Shard>,
    table: &TableDescription,
    item: Item,
    options: WriteOptions<'_>,
) -> OpResult<Response> {
    let mut exprs = Expressions::new(options.placeholders);
    let condition = exprs.condition(options.condition)?;
    exprs.finish()?;
    let key = item_key(&table.spec, &item, false).map_err(OpError::bad)?;
    check_item_size(shard, &item)?;
    let encoded = key.encode();
    let (decided, old, read_ts) =
        read_before_write(shard, table, &key, &encoded, &condition, &options).await?;
    let ts = write_timestamp(shard, options.timestamp_micros, read_ts);
    let expires = expires_at_ms(shard, table, options.ttl_secs);
    let returned = match options.return_values {
        ReturnValues::AllOld => old,
        ReturnValues::AllNew => Some(item.clone()),
        ReturnValues::None => None,
    };
    let row = Row::put_item(ts, item, expires);
    write(shard, table, &key, row, options.consistency, decided).await?;
    Ok(Response::ok(ResponseBody::Item(returned)))
}

/// DELETE.
pub async fn delete(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &Item,
    options: WriteOptions<'_>,
) -> OpResult<Response> {
    let mut exprs = Expressions::new(options.placeholders);
    let condition = exprs.condition(options.condition)?;
    exprs.finish()?;
    let key = item_key(&table.spec, key, true).map_err(OpError::bad)?;
    let encoded = key.encode();
    let (decided, old, read_ts) =
        read_before_write(shard, table, &key, &encoded, &condition, &options).await?;
    let ts = write_timestamp(shard, options.timestamp_micros, read_ts);
    write(shard, table, &key, Row::delete_item(ts), options.consistency, decided).await?;
    let returned = if options.return_values == ReturnValues::AllOld { old } else { None };
    Ok(Response::ok(ResponseBody::Item(returned)))
}

/// UPDATE: read, check the condition, apply the update, write the attributes that changed.
pub async fn update(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &Item,
    update_text: &str,
    options: WriteOptions<'_>,
) -> OpResult<Response> {
    let mut exprs = Expressions::new(options.placeholders);
    let update = exprs.update(update_text)?;
    let condition = exprs.condition(options.condition)?;
    exprs.finish()?;
    for action in &update.actions {
        let name = action.path().head();
        if is_key_attribute(&table.spec, name) {
            return Err(OpError::bad(format!(
                "One or more parameter values were invalid: Cannot update attribute {name}. This attribute is part of the key"
            )));
        }
    }
    let key = item_key(&table.spec, key, true).map_err(OpError::bad)?;
    let encoded = key.encode();
    let decided = shard.lock_key(&encoded).await;
    let Current { item: old, newest: read_ts, expired } =
        current_for_write(shard, table, &key, options.consistency).await?;
    if !condition_holds(&condition, old.as_ref())? {
        return Err(condition_failed());
    }
    let mut new = old.clone().unwrap_or_else(|| key_item(&table.spec, &key));
    apply_update(&update, &mut new)?;
    check_item_size(shard, &new)?;
    let ts = write_timestamp(shard, options.timestamp_micros, read_ts);
    let expires = expires_at_ms(shard, table, options.ttl_secs);
    let empty = Item::new();
    let before = old.as_ref().unwrap_or(&empty);
    // A missing item gains its key attributes too, so it reads back whole.
    let changed: BTreeMap<String, Value> = new
        .iter()
        .filter(|(name, value)| before.get(*name) != Some(*value) || old.is_none())
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let removed: Vec<String> = before.keys().filter(|n| !new.contains_key(*n)).cloned().collect();
    let mut row = Row::set_attrs(ts, changed, expires);
    row.merge_from(Row::remove_attrs(ts, removed));
    if expired {
        // The update creates a new item where an expired one lies: shadow the old cells.
        row.tombstone = Some(ts - 1);
    }
    if !row.is_empty() {
        write(shard, table, &key, row, options.consistency, Some(decided)).await?;
    }
    let returned = match options.return_values {
        ReturnValues::AllOld => old,
        ReturnValues::AllNew => Some(new),
        ReturnValues::None => None,
    };
    Ok(Response::ok(ResponseBody::Item(returned)))
}

/// One key of a BATCH GET, on its owner.
pub async fn batch_get_one(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &Item,
    paths: &Option<Vec<Path>>,
    cl: Consistency,
) -> ItemStatus {
    let result = async {
        let key = item_key(&table.spec, key, true).map_err(OpError::bad)?;
        current(shard, table, &key, cl).await
    }
    .await;
    match result {
        Ok(Some(item)) => ItemStatus {
            status: Status::Ok,
            message: String::new(),
            item: Some(projected(paths, item)),
        },
        Ok(None) => ItemStatus { status: Status::NotFound, message: String::new(), item: None },
        Err(e) => ItemStatus { status: e.status, message: e.message, item: None },
    }
}

/// One write of a BATCH WRITE, on its owner.
pub async fn batch_write_one(
    shard: &Rc<Shard>,
    table: &TableDescription,
    op: WriteOp,
    timestamp_micros: u64,
    consistency: Consistency,
) -> ItemStatus {
    let none = Placeholders::default();
    let options = |ttl_secs| WriteOptions {
        condition: None,
        placeholders: &none,
        ttl_secs,
        return_values: ReturnValues::None,
        timestamp_micros,
        consistency,
    };
    let result = match op {
        WriteOp::Put { item, ttl_secs } => put(shard, table, item, options(ttl_secs)).await,
        WriteOp::Delete { key } => delete(shard, table, &key, options(0)).await,
    };
    match result {
        Ok(_) => ItemStatus { status: Status::Ok, message: String::new(), item: None },
        Err(e) => ItemStatus { status: e.status, message: e.message, item: None },
    }
}
