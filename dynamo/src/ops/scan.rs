//! Query and Scan.
//!
//! One DynamoDB page is one or more native pages: the node's pages stop at 1,000 items read
//! (or 1 MiB, or a shard's end during a scan), DynamoDB's at `Limit` items read or 1 MB of
//! data, so this layer asks for more until one of DynamoDB's bounds is reached (or a bound
//! on native pages per request, so a filter that rejects everything cannot hold the core).
//!
//! `LastEvaluatedKey` is a key, and a client may build an `ExclusiveStartKey` from any
//! item's key, as with DynamoDB. For a query it is the last key read. For a scan it is the
//! last item returned: a scan's position is (node, shard, key), and from a key the node
//! derives the rest (the key's first live replica returns it, from the shard that holds it;
//! `NODE_OF_KEY` tokens). When a page returns no item with its key (all filtered out, or
//! projected away), its `LastEvaluatedKey` carries one more attribute, `shoal:scan`
//! (binary, opaque): pass it back unchanged.

use base64::Engine as _;
use serde_json::{json, Map, Value as Json};
use shoal_net::page::{KIND_QUERY, KIND_SCAN};
use shoal_net::{Item, PageToken, QueryRequest, Request, ResponseBody, ScanRequest};
use shoal_types::{DecodedKey, ItemKey, Value};

use crate::api::{Backend, Ctx};
use crate::convert::{
    self, item_json, no_mixing, object, opt_bool, opt_object, opt_str, opt_u64, placeholders,
    table_name, Body, Generated,
};
use crate::error::{ApiError, ApiResult};
use crate::legacy;
use crate::ops::items::projection;

/// The attribute of a scan's `LastEvaluatedKey` that holds its position.
pub const SCAN_POSITION_ATTRIBUTE: &str = "shoal:scan";
/// Most item bytes in one page (DynamoDB's 1 MB).
pub const PAGE_BYTES_MAX: usize = 1 << 20;
/// Most native pages behind one DynamoDB page.
const NATIVE_PAGES_MAX: usize = 32;
/// Items a native page reads when DynamoDB's `Limit` allows more.
const NATIVE_PAGE_ITEMS: u64 = 1000;

/// What Query and Scan share: select, limit, filter, projection.
struct Common {
    count_only: bool,
    limit: Option<u64>,
    filter: Option<String>,
    projection: Option<String>,
    placeholders: shoal_net::Placeholders,
    consistent: bool,
}

fn common(body: &Body, generated: &mut Generated, filter_param: &str) -> ApiResult<Common> {
    if let Some(index) = opt_str(body, "IndexName")? {
        return Err(ApiError::validation(format!(
            "The table does not have the specified index: {index} (Shoal has no secondary indexes yet)"
        )));
    }
    no_mixing(body, &[filter_param], &["FilterExpression"])?;
    no_mixing(
        body,
        &["AttributesToGet"],
        &["ProjectionExpression", "FilterExpression", "KeyConditionExpression"],
    )?;
    let select = opt_str(body, "Select")?;
    let has_projection =
        body.contains_key("ProjectionExpression") || body.contains_key("AttributesToGet");
    let count_only = match select {
        None | Some("ALL_ATTRIBUTES") if !has_projection || select.is_none() => false,
        Some("ALL_ATTRIBUTES") => {
            return Err(ApiError::validation(
                "Cannot specify the AttributesToGet when choosing to get ALL_ATTRIBUTES",
            ))
        }
        Some("SPECIFIC_ATTRIBUTES") if has_projection => false,
        Some("SPECIFIC_ATTRIBUTES") => {
            return Err(ApiError::validation(
                "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
            ))
        }
        Some("COUNT") if has_projection => {
            return Err(ApiError::validation(
                "Cannot specify the AttributesToGet when choosing to get only the COUNT",
            ))
        }
        Some("COUNT") => true,
        Some("ALL_PROJECTED_ATTRIBUTES") => {
            return Err(ApiError::validation(
                "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
            ))
        }
        Some(other) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
            )))
        }
        None => false,
    };
    let limit = opt_u64(body, "Limit")?;
    if limit == Some(0) {
        return Err(ApiError::validation(
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ));
    }
    let filter = match opt_object(body, filter_param)? {
        Some(conditions) => {
            legacy::filter(conditions, opt_str(body, "ConditionalOperator")?, generated)?
        }
        None => convert::expression(body, "FilterExpression")?,
    };
    let projection = projection(body, generated)?;
    let placeholders = placeholders(body, std::mem::take(generated))?;
    let consistent = opt_bool(body, "ConsistentRead")?.unwrap_or(false);
    Ok(Common { count_only, limit, filter, projection, placeholders, consistent })
}

/// Items gathered for one DynamoDB page.
#[derive(Default)]
struct Gathered {
    items: Vec<Json>,
    count: u64,
    scanned: u64,
    bytes: usize,
    /// The last item returned (a scan's `LastEvaluatedKey` is its key).
    last: Option<Item>,
}

impl Gathered {
    fn add(&mut self, page: shoal_net::Page, count_only: bool) {
        self.scanned += u64::from(page.scanned);
        self.count += page.items.len() as u64;
        if let Some(last) = page.items.last() {
            self.last = Some(last.clone());
        }
        for item in page.items {
            self.bytes += item.iter().map(|(n, v)| n.len() + v.encoded_len()).sum::<usize>();
            if !count_only {
                self.items.push(item_json(&item));
            }
        }
    }

    /// The native limit of the next page, or `None` when the DynamoDB page is full.
    fn next_limit(&self, limit: Option<u64>, pages: usize) -> Option<u32> {
        if self.bytes >= PAGE_BYTES_MAX || pages >= NATIVE_PAGES_MAX {
            return None;
        }
        let left = match limit {
            Some(limit) if self.scanned >= limit => return None,
            Some(limit) => (limit - self.scanned).min(NATIVE_PAGE_ITEMS),
            None => NATIVE_PAGE_ITEMS,
        };
        u32::try_from(left).ok()
    }

    fn into_json(self, count_only: bool, last_key: Option<Item>) -> Json {
        let mut out = Map::new();
        if !count_only {
            out.insert("Items".into(), Json::Array(self.items));
        }
        out.insert("Count".into(), json!(self.count));
        out.insert("ScannedCount".into(), json!(self.scanned));
        if let Some(key) = last_key {
            out.insert("LastEvaluatedKey".into(), item_json(&key));
        }
        Json::Object(out)
    }
}

/// Asks the node for pages (`request(limit, page_token)`), starting at `token`, until
/// DynamoDB's page is full or the read is done. Returns what was gathered and the token to
/// continue from (`None` when done).
async fn gather<B: Backend>(
    ctx: &Ctx<'_, B>,
    c: &Common,
    mut token: Option<Vec<u8>>,
    request: impl Fn(u32, Option<Vec<u8>>) -> Request,
) -> ApiResult<(Gathered, Option<Vec<u8>>)> {
    let mut gathered = Gathered::default();
    let mut pages = 0;
    let level = ctx.read_level(c.consistent);
    while let Some(limit) = gathered.next_limit(c.limit, pages) {
        let response = ctx.call(level, request(limit, token.take())).await?;
        let ResponseBody::Page(page) = response.body else {
            return Err(ApiError::internal("a query or scan answered without a page"));
        };
        pages += 1;
        token = page.page_token.clone();
        gathered.add(page, c.count_only);
        if token.is_none() {
            break;
        }
    }
    Ok((gathered, token))
}

fn decoded_key(table: &shoal_net::TableDescription, key: &[u8]) -> Option<Item> {
    match ItemKey::decode(key) {
        Ok(DecodedKey::Item(k)) => Some(convert::key_item(table, &k)),
        _ => None,
    }
}

/// Query.
pub async fn query<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let body = object(body);
    let name = table_name(body)?;
    let table = ctx.table(name)?;
    no_mixing(body, &["KeyConditions"], &["KeyConditionExpression"])?;
    let mut generated = Generated::default();
    let key_condition = match opt_object(body, "KeyConditions")? {
        Some(conditions) => legacy::key_conditions(conditions, &mut generated)?,
        None => convert::expression(body, "KeyConditionExpression")?.ok_or_else(|| {
            ApiError::validation(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
            )
        })?,
    };
    let c = common(body, &mut generated, "QueryFilter")?;
    let reverse = !opt_bool(body, "ScanIndexForward")?.unwrap_or(true);
    let token = match opt_object(body, "ExclusiveStartKey")? {
        Some(_) => {
            let key = convert::key(&table, body.get("ExclusiveStartKey"))
                .map_err(|_| ApiError::validation("The provided starting key is invalid: The provided key element does not match the schema"))?;
            Some(PageToken::query_after(convert::item_key(&table, &key)?.encode()).encode())
        }
        None => None,
    };
    let (gathered, token) = gather(ctx, &c, token, |limit, page_token| {
        Request::Query(QueryRequest {
            table: name.to_string(),
            key_condition: key_condition.clone(),
            filter: c.filter.clone(),
            projection: c.projection.clone(),
            placeholders: c.placeholders.clone(),
            limit,
            reverse,
            page_token,
        })
    })
    .await?;
    let last_key = token
        .and_then(|t| PageToken::decode(&t, KIND_QUERY))
        .and_then(|t| t.resume_after)
        .and_then(|k| decoded_key(&table, &k));
    Ok(gathered.into_json(c.count_only, last_key))
}

/// Scan.
pub async fn scan<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let body = object(body);
    let name = table_name(body)?;
    let table = ctx.table(name)?;
    let mut generated = Generated::default();
    let c = common(body, &mut generated, "ScanFilter")?;
    let (segment, total_segments) =
        match (opt_u64(body, "Segment")?, opt_u64(body, "TotalSegments")?) {
            (None, None) => (0, 1),
            (Some(segment), Some(total)) => {
                if !(1..=1_000_000).contains(&total) {
                    return Err(ApiError::validation(format!(
                        "1 validation error detected: Value '{total}' at 'totalSegments' failed to satisfy constraint: Member must have value less than or equal to 1000000"
                    )));
                }
                if segment >= total {
                    return Err(ApiError::validation(format!(
                        "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {segment} is out of bounds for TotalSegments: {total}"
                    )));
                }
                (segment, total)
            }
            (Some(_), None) => {
                return Err(ApiError::validation(
                    "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
                ))
            }
            (None, Some(_)) => {
                return Err(ApiError::validation(
                    "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
                ))
            }
        };
    let token = match opt_object(body, "ExclusiveStartKey")? {
        Some(start) if start.contains_key(SCAN_POSITION_ATTRIBUTE) => Some(scan_position(start)?),
        Some(_) => {
            let key = convert::key(&table, body.get("ExclusiveStartKey")).map_err(|_| {
                ApiError::validation(
                    "The provided starting key is invalid: The provided key element does not match the schema",
                )
            })?;
            Some(PageToken::scan_after(convert::item_key(&table, &key)?.encode()).encode())
        }
        None => None,
    };
    let (gathered, token) = gather(ctx, &c, token, |limit, page_token| {
        Request::Scan(ScanRequest {
            table: name.to_string(),
            segment: u32::try_from(segment).unwrap_or(0),
            total_segments: u32::try_from(total_segments).unwrap_or(1),
            filter: c.filter.clone(),
            projection: c.projection.clone(),
            placeholders: c.placeholders.clone(),
            limit,
            page_token,
        })
    })
    .await?;
    // DynamoDB's LastEvaluatedKey: the key of the last item returned; resuming after it
    // re-reads only what this page read past it and did not return. Without such an item
    // (everything filtered, or projected without its key) the opaque position goes instead.
    let returned_key = gathered.last.as_ref().and_then(|item| {
        let key = convert::key_of(&table, item);
        (key.len() == 1 + usize::from(table.spec.sort_key.is_some())).then_some(key)
    });
    let last_key = token.map(|t| match returned_key {
        Some(key) => key,
        None => {
            let mut key = PageToken::decode(&t, KIND_SCAN)
                .and_then(|p| p.resume_after)
                .and_then(|k| decoded_key(&table, &k))
                .unwrap_or_default();
            key.insert(SCAN_POSITION_ATTRIBUTE.to_string(), Value::B(t.into()));
            key
        }
    });
    Ok(gathered.into_json(c.count_only, last_key))
}

/// The native token a scan's `ExclusiveStartKey` carries.
fn scan_position(start: &Body) -> ApiResult<Vec<u8>> {
    let invalid = || {
        ApiError::validation(format!(
            "The provided starting key is invalid: a Scan's ExclusiveStartKey must be a LastEvaluatedKey that Shoal returned (with its {SCAN_POSITION_ATTRIBUTE} attribute)"
        ))
    };
    let position = start.get(SCAN_POSITION_ATTRIBUTE).ok_or_else(invalid)?;
    let encoded = position.get("B").and_then(Json::as_str).ok_or_else(invalid)?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| invalid())?;
    PageToken::decode(&bytes, KIND_SCAN).ok_or_else(invalid)?;
    Ok(bytes)
}
