//! BatchGetItem and BatchWriteItem.
//!
//! Each table's part becomes one native batch, which the node splits by owning shard and
//! replica. Items the node could not take (a replica set unavailable, a timeout, overload)
//! come back in `UnprocessedKeys` / `UnprocessedItems` for the client to resubmit, as
//! DynamoDB's clients expect; anything else fails the request.

use std::collections::HashSet;

use serde_json::{json, Map, Value as Json};
use shoal_net::{ItemStatus, Request, ResponseBody, Status, WriteOp};

use crate::api::{Backend, Ctx};
use crate::convert::{
    self, check_item_keys, item_json, object, opt_bool, opt_object, placeholders, Body, Generated,
};
use crate::error::{ApiError, ApiResult};
use crate::ops::items::projection;

/// Most keys in one BatchGetItem (DynamoDB's limit).
pub const BATCH_GET_KEYS_MAX: usize = 100;
/// Most writes in one BatchWriteItem (DynamoDB's limit).
pub const BATCH_WRITE_MAX: usize = 25;
/// Most bytes of items in one BatchGetItem response (DynamoDB's 16 MB); keys past it are
/// returned unprocessed.
pub const BATCH_GET_RESPONSE_BYTES_MAX: usize = 16 << 20;

/// Whether a per-item failure is worth a retry by the client (so it goes back unprocessed).
fn retryable(status: Status) -> bool {
    matches!(status, Status::Unavailable | Status::Timeout | Status::Overloaded | Status::Internal)
}

fn request_items(body: &Body) -> ApiResult<&Map<String, Json>> {
    let items =
        opt_object(body, "RequestItems")?.ok_or_else(|| convert::missing("RequestItems"))?;
    if items.is_empty() {
        return Err(ApiError::validation(
            "1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    Ok(items)
}

fn duplicates() -> ApiError {
    ApiError::validation("Provided list of item keys contains duplicates")
}

/// BatchGetItem.
pub async fn batch_get_item<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let items = request_items(object(body))?;
    let total: usize =
        items.values().map(|t| t.get("Keys").and_then(Json::as_array).map_or(0, Vec::len)).sum();
    if total > BATCH_GET_KEYS_MAX {
        return Err(ApiError::validation("Too many items requested for the BatchGetItem call"));
    }
    // Validate everything before reading anything.
    let mut parts = Vec::with_capacity(items.len());
    for (name, part) in items {
        convert::check_table_name(name, "requestItems")?;
        let part = part.as_object().ok_or_else(|| ApiError::serialization("bad RequestItems"))?;
        let table = ctx.table(name)?;
        let keys_json =
            part.get("Keys").and_then(Json::as_array).ok_or_else(|| convert::missing("Keys"))?;
        if keys_json.is_empty() {
            return Err(ApiError::validation(
                "1 validation error detected: Value '[]' at 'requestItems.keys' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ));
        }
        let mut seen = HashSet::new();
        let mut keys = Vec::with_capacity(keys_json.len());
        for key_json in keys_json {
            let key = convert::key(&table, Some(key_json))?;
            if !seen.insert(convert::item_key(&table, &key)?.encode()) {
                return Err(duplicates());
            }
            keys.push((key, key_json.clone()));
        }
        let mut generated = Generated::default();
        let projection = projection(part, &mut generated)?;
        let placeholders = placeholders(part, generated)?;
        let consistent = opt_bool(part, "ConsistentRead")?.unwrap_or(false);
        parts.push((name.clone(), part.clone(), keys, projection, placeholders, consistent));
    }
    let mut responses = Map::new();
    let mut unprocessed = Map::new();
    let mut bytes = 0usize;
    for (name, part, keys, projection, placeholders, consistent) in parts {
        let request = Request::BatchGet {
            table: name.clone(),
            keys: keys.iter().map(|(k, _)| k.clone()).collect(),
            projection,
            placeholders,
        };
        let response = ctx.call(ctx.read_level(consistent), request).await?;
        let ResponseBody::Batch(results) = response.body else {
            return Err(ApiError::internal("BatchGet answered without results"));
        };
        let mut found = Vec::new();
        let mut left = Vec::new();
        for ((_, key_json), ItemStatus { status, message, item }) in keys.into_iter().zip(results) {
            match status {
                Status::Ok => {
                    if let Some(item) = item {
                        if bytes >= BATCH_GET_RESPONSE_BYTES_MAX {
                            left.push(key_json);
                            continue;
                        }
                        bytes += item.iter().map(|(n, v)| n.len() + v.encoded_len()).sum::<usize>();
                        found.push(item_json(&item));
                    }
                }
                Status::NotFound => {}
                s if retryable(s) => left.push(key_json),
                _ => {
                    return Err(ApiError::from_native(&shoal_net::Response::error(status, message)))
                }
            }
        }
        responses.insert(name.clone(), Json::Array(found));
        if !left.is_empty() {
            let mut part = part;
            part.insert("Keys".into(), Json::Array(left));
            unprocessed.insert(name, Json::Object(part));
        }
    }
    Ok(json!({"Responses": responses, "UnprocessedKeys": unprocessed}))
}

/// BatchWriteItem.
pub async fn batch_write_item<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let items = request_items(object(body))?;
    let total: usize = items.values().map(|t| t.as_array().map_or(0, Vec::len)).sum();
    if total > BATCH_WRITE_MAX {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]; {total} writes were sent"
        )));
    }
    let mut parts = Vec::with_capacity(items.len());
    for (name, requests) in items {
        convert::check_table_name(name, "requestItems")?;
        let table = ctx.table(name)?;
        let requests =
            requests.as_array().ok_or_else(|| ApiError::serialization("bad RequestItems"))?;
        if requests.is_empty() {
            return Err(ApiError::validation(
                "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ));
        }
        let mut seen = HashSet::new();
        let mut ops = Vec::with_capacity(requests.len());
        for request in requests {
            let request =
                request.as_object().ok_or_else(|| ApiError::serialization("bad WriteRequest"))?;
            let put = opt_object(request, "PutRequest")?;
            let delete = opt_object(request, "DeleteRequest")?;
            let (op, key) = match (put, delete) {
                (Some(put), None) => {
                    let item = convert::item(
                        put.get("Item").ok_or_else(|| convert::missing("Item"))?,
                        "Item",
                    )?;
                    check_item_keys(&table, &item)?;
                    let key = convert::key_of(&table, &item);
                    (WriteOp::Put { item, ttl_secs: 0 }, key)
                }
                (None, Some(delete)) => {
                    let key = convert::key(&table, delete.get("Key"))?;
                    (WriteOp::Delete { key: key.clone() }, key)
                }
                _ => {
                    return Err(ApiError::validation(
                        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes: a WriteRequest needs exactly one of PutRequest and DeleteRequest",
                    ))
                }
            };
            if !seen.insert(convert::item_key(&table, &key)?.encode()) {
                return Err(duplicates());
            }
            ops.push((op, Json::Object(request.clone())));
        }
        parts.push((name.clone(), ops));
    }
    let mut unprocessed = Map::new();
    for (name, ops) in parts {
        let request = Request::BatchWrite {
            table: name.clone(),
            ops: ops.iter().map(|(op, _)| op.clone()).collect(),
        };
        let response = ctx.call(ctx.write_level(), request).await?;
        let ResponseBody::Batch(results) = response.body else {
            return Err(ApiError::internal("BatchWrite answered without results"));
        };
        let mut left = Vec::new();
        for ((_, json), ItemStatus { status, message, .. }) in ops.into_iter().zip(results) {
            match status {
                Status::Ok => {}
                s if retryable(s) => left.push(json),
                _ => {
                    return Err(ApiError::from_native(&shoal_net::Response::error(status, message)))
                }
            }
        }
        if !left.is_empty() {
            unprocessed.insert(name, Json::Array(left));
        }
    }
    Ok(json!({"UnprocessedItems": unprocessed}))
}
