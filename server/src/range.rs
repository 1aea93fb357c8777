//! QUERY (one partition, sort-key conditions) and SCAN (a token-range segment, shard by
//! shard), with filters, projections, limits and page tokens.
//!
//! # Page tokens
//! Opaque to clients: `[2][kind][node: u64 BE][shard: u32 BE][resume key]`, kind 1 = query,
//! 2 = scan. The resume key is the last engine key examined; the next page starts after it.
//!
//! # Scans across the cluster
//! A scan segment visits the live nodes in node-id order and, on each, shard 0, 1, ... in
//! turn (every shard holds part of every token range), so its token names the node and
//! shard to continue on; a page may be empty when a shard holds nothing of the segment.
//! Each node returns only the items it is *responsible* for: those whose first live replica
//! (ring order) it is. So every item is returned once, from one replica: a scan reads at ONE
//! whatever level it asks for (merging replica streams for QUORUM scans is future work),
//! and a membership change between pages may repeat or skip items of the ranges that move.

use std::ops::Bound;

use shoal_engine::query::SCAN_LIMIT_MAX;
use shoal_engine::ScanRange;
use shoal_expr::{evaluate_condition, Condition, KeySchema, Path, SortCondition};
use shoal_net::page::{KIND_QUERY, KIND_SCAN, NODE_OF_KEY};
use shoal_net::{
    Page, PageToken, QueryRequest, Response, ResponseBody, ScanRequest, TableDescription,
};
use shoal_types::key::{
    partition_items_prefix, prefix_successor, sort_key_bound, sort_key_prefix, KeyValue,
};
use shoal_types::partitioner::token;

use crate::ops::{expired_by_ttl_attribute, projected, Expressions, OpError, OpResult};
use crate::shard::Shard;

/// Items a page reads when the request sets no limit.
pub const PAGE_ITEMS_DEFAULT: usize = 1000;
/// Most bytes of items in one page (DynamoDB's 1 MB): a page stops after the item that
/// reaches it, and its token resumes after that item.
pub const PAGE_BYTES_MAX: usize = 1 << 20;
/// Most segments a scan may be cut into (DynamoDB's limit).
pub const SEGMENTS_MAX: u32 = 1_000_000;

fn decode_token(bytes: &[u8], kind: u8) -> OpResult<PageToken> {
    PageToken::decode(bytes, kind)
        .ok_or_else(|| OpError::bad("invalid page token (not from this query or scan)"))
}

/// The encoded size of an item, for the page byte bound.
fn item_bytes(item: &shoal_net::Item) -> usize {
    item.iter().map(|(name, value)| name.len() + value.encoded_len()).sum()
}

/// The items of a query or scan page as they are read: items past their TTL attribute
/// skipped, the filter applied, the projection taken, and the page full once its items
/// reach [`PAGE_BYTES_MAX`].
struct PageFill<'a> {
    table: &'a TableDescription,
    filter: &'a Option<Condition>,
    paths: &'a Option<Vec<Path>>,
    now_ms: u64,
    items: Vec<shoal_net::Item>,
    bytes: usize,
}

impl<'a> PageFill<'a> {
    fn new(
        shard: &Shard,
        table: &'a TableDescription,
        filter: &'a Option<Condition>,
        paths: &'a Option<Vec<Path>>,
        capacity: usize,
    ) -> PageFill<'a> {
        let now_ms = shard.engine.clock().now_ms();
        PageFill { table, filter, paths, now_ms, items: Vec::with_capacity(capacity), bytes: 0 }
    }

    /// Takes an item read from the engine; returns whether the page is full now.
    fn offer(&mut self, item: shoal_net::Item) -> OpResult<bool> {
        if expired_by_ttl_attribute(self.table, &item, self.now_ms) {
            return Ok(false);
        }
        if let Some(f) = self.filter {
            if !evaluate_condition(f, &item)? {
                return Ok(false);
            }
        }
        let item = projected(self.paths, item);
        self.bytes += item_bytes(&item);
        self.items.push(item);
        Ok(self.bytes >= PAGE_BYTES_MAX)
    }
}

/// Where a scan page runs: the node (id) and shard its token names, moved on to the next
/// live node if that one is down; the start is the first live node, shard 0.
pub fn scan_target(shard: &Shard, scan: &ScanRequest) -> OpResult<(u64, usize, Option<Vec<u8>>)> {
    let (mut node, mut index, mut resume) = match &scan.page_token {
        Some(bytes) => {
            let t = decode_token(bytes, KIND_SCAN)?;
            (t.node, t.shard as usize, t.resume_after)
        }
        None => (0, 0, None),
    };
    let view = shard.node.view();
    if node == NODE_OF_KEY {
        // Resume after a key the client named: on the node that returns it (its first live
        // replica), in the shard that holds it there.
        let bad = || OpError::bad("invalid start key for this scan");
        let key = match resume.as_deref().map(shoal_types::ItemKey::decode) {
            Some(Ok(shoal_types::DecodedKey::Item(k))) => k,
            _ => return Err(bad()),
        };
        let (start, end) = segment_range(scan.segment, scan.total_segments.max(1));
        if key.token < start || end.is_some_and(|e| key.token >= e) {
            return Err(OpError::bad("the start key is outside this scan segment"));
        }
        let table = shard.catalog.borrow().get(&scan.table).cloned();
        let table = table.ok_or_else(|| {
            OpError::new(
                shoal_net::Status::UnknownTable,
                format!("no table named {:?}", scan.table),
            )
        })?;
        let rf = usize::from(table.spec.replication_factor);
        let me = shard.node.settings.node_id;
        let first = view
            .ring
            .replicas(key.token, rf)
            .into_iter()
            .find(|m| m.id == me || view.is_up(m.id))
            .map(|m| m.id)
            .ok_or_else(bad)?;
        node = first;
        let shards = view.endpoints.get(&node).map_or(shard.count, |e| e.shards as usize);
        let shards = u32::try_from(shards.max(1)).unwrap_or(1);
        index = shoal_types::partitioner::shard_of(key.token, shards) as usize;
    }
    let live: Vec<u64> = view.endpoints.keys().copied().filter(|id| view.is_up(*id)).collect();
    let target = if node == 0 {
        live.first().copied().unwrap_or(shard.node.settings.node_id)
    } else if live.contains(&node) {
        node
    } else {
        // That node went down: its ranges are now the next live replica's to return.
        index = 0;
        resume = None;
        live.iter().copied().find(|id| *id > node).or(live.first().copied()).unwrap_or(node)
    };
    let shards = view.endpoints.get(&target).map_or(shard.count, |e| e.shards as usize);
    if index >= shards.max(1) {
        return Err(OpError::bad("invalid page token (names a shard that node lacks)"));
    }
    Ok((target, index, resume))
}

/// The token of a scan page that runs on `node`, `shard`, resuming after `resume`.
pub fn scan_token(node: u64, shard: usize, resume: Option<Vec<u8>>) -> Vec<u8> {
    let shard = u32::try_from(shard).unwrap_or(u32::MAX);
    PageToken { kind: KIND_SCAN, node, shard, resume_after: resume }.encode()
}

fn page_limit(limit: u32) -> usize {
    if limit == 0 {
        PAGE_ITEMS_DEFAULT
    } else {
        (limit as usize).min(SCAN_LIMIT_MAX)
    }
}

/// Narrows the bound on the side a walk starts from to resume after `key`, refusing a key
/// outside the range (a token from another query).
fn resume(range: &mut ScanRange, key: Vec<u8>) -> OpResult<()> {
    let inside_lower = match &range.lower {
        Bound::Included(l) => key >= *l,
        Bound::Excluded(l) => key > *l,
        Bound::Unbounded => true,
    };
    let inside_upper = match &range.upper {
        Bound::Included(u) => key <= *u,
        Bound::Excluded(u) => key < *u,
        Bound::Unbounded => true,
    };
    if !(inside_lower && inside_upper) {
        return Err(OpError::bad("invalid page token (outside this query's range)"));
    }
    if range.reverse {
        range.upper = Bound::Excluded(key);
    } else {
        range.lower = Bound::Excluded(key);
    }
    Ok(())
}

/// The partition a query reads, for routing: parses the key condition.
pub fn query_partition(table: &TableDescription, query: &QueryRequest) -> OpResult<KeyValue> {
    let mut exprs = Expressions::new(&query.placeholders);
    let condition = exprs.key_condition(&query.key_condition, key_schema(table))?;
    let partition = condition.partition.1;
    if partition.key_type() != table.spec.partition_key.key_type {
        return Err(OpError::bad(format!(
            "partition key {:?} is of type {}, the condition gives {}",
            table.spec.partition_key.name,
            table.spec.partition_key.key_type.as_str(),
            partition.key_type().as_str()
        )));
    }
    Ok(partition)
}

fn key_schema(table: &TableDescription) -> KeySchema<'_> {
    KeySchema {
        partition: &table.spec.partition_key.name,
        sort: table.spec.sort_key.as_ref().map(|k| k.name.as_str()),
    }
}

/// QUERY on the partition's owner.
pub async fn query(
    shard: &Shard,
    table: &TableDescription,
    q: &QueryRequest,
) -> OpResult<Response> {
    let mut exprs = Expressions::new(&q.placeholders);
    let condition = exprs.key_condition(&q.key_condition, key_schema(table))?;
    let filter = exprs.filter(q.filter.as_deref())?;
    let paths = exprs.projection(q.projection.as_deref())?;
    exprs.finish()?;
    let partition = condition.partition.1;
    let t = token(&partition);
    let prefix = partition_items_prefix(t, &partition);
    let end = match prefix_successor(&prefix) {
        Some(end) => Bound::Excluded(end),
        None => Bound::Unbounded,
    };
    let check_type = |v: &KeyValue| -> OpResult<()> {
        let want = table.spec.sort_key.as_ref().map(|k| k.key_type);
        if Some(v.key_type()) != want {
            return Err(OpError::bad(
                "sort key condition compares against a value of the wrong type",
            ));
        }
        Ok(())
    };
    let bound = |v: &KeyValue| sort_key_bound(t, &partition, v);
    let (lower, upper) = match &condition.sort {
        None => (Bound::Included(prefix.clone()), end),
        Some((_, sort)) => match sort {
            SortCondition::Eq(v) => {
                check_type(v)?;
                (Bound::Included(bound(v)), Bound::Included(bound(v)))
            }
            SortCondition::Lt(v) => {
                check_type(v)?;
                (Bound::Included(prefix.clone()), Bound::Excluded(bound(v)))
            }
            SortCondition::Le(v) => {
                check_type(v)?;
                (Bound::Included(prefix.clone()), Bound::Included(bound(v)))
            }
            SortCondition::Gt(v) => {
                check_type(v)?;
                (Bound::Excluded(bound(v)), end)
            }
            SortCondition::Ge(v) => {
                check_type(v)?;
                (Bound::Included(bound(v)), end)
            }
            SortCondition::Between(a, b) => {
                check_type(a)?;
                check_type(b)?;
                (Bound::Included(bound(a)), Bound::Included(bound(b)))
            }
            SortCondition::BeginsWith(p) => {
                check_type(p)?;
                let start =
                    sort_key_prefix(t, &partition, p).map_err(|e| OpError::bad(e.to_string()))?;
                let stop = match prefix_successor(&start) {
                    Some(s) => Bound::Excluded(s),
                    None => end,
                };
                (Bound::Included(start), stop)
            }
        },
    };
    let mut range = ScanRange { lower, upper, reverse: q.reverse, limit: page_limit(q.limit) };
    if let Some(bytes) = &q.page_token {
        let token = decode_token(bytes, KIND_QUERY)?;
        if let Some(key) = token.resume_after {
            resume(&mut range, key)?;
        }
    }
    let page = shard.engine.scan(table.id, &range).await?;
    let total = page.items.len();
    let mut scanned = 0;
    let mut resume_after = page.resume_after;
    let mut fill = PageFill::new(shard, table, &filter, &paths, total);
    for (key, item) in page.items {
        scanned += 1;
        if fill.offer(item)? && (scanned < total || resume_after.is_some()) {
            resume_after = Some(key.encode());
            break;
        }
    }
    let items = fill.items;
    let page_token = resume_after.map(|key| PageToken::query_after(key).encode());
    Ok(Response::ok(ResponseBody::Page(Page {
        items,
        page_token,
        scanned: u32::try_from(scanned).unwrap_or(u32::MAX),
    })))
}

/// The token range `[start, end)` of a segment; `end` None means the ring's end.
pub fn segment_range(segment: u32, total: u32) -> (u64, Option<u64>) {
    let span = 1u128 << 64;
    let start = (span * u128::from(segment) / u128::from(total)) as u64;
    let end = if segment + 1 >= total {
        None
    } else {
        Some((span * u128::from(segment + 1) / u128::from(total)) as u64)
    };
    (start, end)
}

/// Checks a scan's segment numbers.
pub fn check_segments(scan: &ScanRequest) -> OpResult<()> {
    if scan.total_segments == 0 || scan.total_segments > SEGMENTS_MAX {
        return Err(OpError::bad(format!(
            "total segments must be 1 to {SEGMENTS_MAX}, got {}",
            scan.total_segments
        )));
    }
    if scan.segment >= scan.total_segments {
        return Err(OpError::bad(format!(
            "segment {} is not below total segments {}",
            scan.segment, scan.total_segments
        )));
    }
    Ok(())
}

/// One page of a SCAN segment on this shard.
pub async fn scan(shard: &Shard, table: &TableDescription, s: &ScanRequest) -> OpResult<Response> {
    check_segments(s)?;
    let mut exprs = Expressions::new(&s.placeholders);
    let filter = exprs.filter(s.filter.as_deref())?;
    let paths = exprs.projection(s.projection.as_deref())?;
    exprs.finish()?;
    let (start, end) = segment_range(s.segment, s.total_segments);
    let mut range = ScanRange {
        lower: Bound::Included(start.to_be_bytes().to_vec()),
        upper: end.map_or(Bound::Unbounded, |e| Bound::Excluded(e.to_be_bytes().to_vec())),
        reverse: false,
        limit: page_limit(s.limit),
    };
    // The router resolved the token (a node that went down moves the scan on); resume only
    // within the page this node and shard were asked for.
    let (_, _, resume_after) = scan_target(shard, s)?;
    if let Some(key) = resume_after {
        resume(&mut range, key)?;
    }
    let page = shard.engine.scan(table.id, &range).await?;
    let view = shard.node.view();
    let me = shard.node.settings.node_id;
    let rf = usize::from(table.spec.replication_factor);
    let total = page.items.len();
    let mut examined = 0;
    // Items this node answers for: what the scan "read", as the client counts.
    let mut scanned = 0;
    let mut resume_after = page.resume_after;
    let mut fill = PageFill::new(shard, table, &filter, &paths, total);
    for (key, item) in page.items {
        examined += 1;
        // Only the items this node answers for: it is their first live replica.
        let responsible =
            view.ring.replicas(key.token, rf).into_iter().find(|m| m.id == me || view.is_up(m.id));
        if responsible.is_some_and(|m| m.id != me) {
            continue;
        }
        scanned += 1;
        if fill.offer(item)? && (examined < total || resume_after.is_some()) {
            resume_after = Some(key.encode());
            break;
        }
    }
    let items = fill.items;
    let next_live = view.endpoints.keys().copied().find(|id| *id > me && view.is_up(*id));
    let page_token = match resume_after {
        Some(key) => Some(scan_token(me, shard.id, Some(key))),
        None if shard.id + 1 < shard.count => Some(scan_token(me, shard.id + 1, None)),
        None => next_live.map(|node| scan_token(node, 0, None)),
    };
    Ok(Response::ok(ResponseBody::Page(Page {
        items,
        page_token,
        scanned: u32::try_from(scanned).unwrap_or(u32::MAX),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_tile_the_ring() {
        for total in [1u32, 2, 3, 7, 1000] {
            let mut expected_start = 0u64;
            for segment in 0..total {
                let (start, end) = segment_range(segment, total);
                assert_eq!(start, expected_start);
                match end {
                    Some(e) => {
                        assert!(e > start);
                        expected_start = e;
                    }
                    None => assert_eq!(segment, total - 1),
                }
            }
        }
    }
}
