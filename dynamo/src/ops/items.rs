//! Single-item operations: GetItem, PutItem, DeleteItem, UpdateItem.
//!
//! Each becomes one native request. Conditions and updates run on the key's primary
//! replica under its item lock (see ARCHITECTURE.md, "What the cluster promises"): atomic
//! on that node; across a failover to the next replica they are not linearizable until the
//! lightweight-transaction work lands.

use serde_json::{json, Value as Json};
use shoal_expr::{parse_update, project, Path};
use shoal_net::{Item, Placeholders, Request, ResponseBody, ReturnValues};

use crate::api::{Backend, Ctx};
use crate::convert::{
    self, check_item_keys, item_json, no_mixing, object, opt_array, opt_bool, opt_object, opt_str,
    placeholders, return_values, table_name, Body, Generated,
};
use crate::error::{ApiError, ApiResult};
use crate::legacy;

/// The projection of a read: `ProjectionExpression` or `AttributesToGet`.
pub fn projection(body: &Body, generated: &mut Generated) -> ApiResult<Option<String>> {
    no_mixing(body, &["AttributesToGet"], &["ProjectionExpression"])?;
    if let Some(names) = opt_array(body, "AttributesToGet")? {
        return Ok(Some(legacy::projection(names, generated)?));
    }
    convert::expression(body, "ProjectionExpression")
}

/// The condition of a write: `ConditionExpression` or `Expected`.
fn condition(body: &Body, generated: &mut Generated) -> ApiResult<Option<String>> {
    no_mixing(body, &["Expected"], &["ConditionExpression"])?;
    if let Some(expected) = opt_object(body, "Expected")? {
        return legacy::expected(expected, opt_str(body, "ConditionalOperator")?, generated);
    }
    if body.contains_key("ConditionalOperator") {
        return Err(ApiError::validation(
            "ConditionalOperator cannot be used without Expected, QueryFilter or ScanFilter",
        ));
    }
    convert::expression(body, "ConditionExpression")
}

fn native_return_values(text: &str) -> ReturnValues {
    match text {
        "ALL_OLD" | "UPDATED_OLD" => ReturnValues::AllOld,
        "ALL_NEW" | "UPDATED_NEW" => ReturnValues::AllNew,
        _ => ReturnValues::None,
    }
}

fn attributes(item: Option<Item>) -> Json {
    match item {
        Some(item) if !item.is_empty() => json!({"Attributes": item_json(&item)}),
        _ => json!({}),
    }
}

/// GetItem.
pub async fn get_item<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let body = object(body);
    let name = table_name(body)?;
    let table = ctx.table(name)?;
    let key = convert::key(&table, body.get("Key"))?;
    let mut generated = Generated::default();
    let projection = projection(body, &mut generated)?;
    let placeholders = placeholders(body, generated)?;
    let consistent = opt_bool(body, "ConsistentRead")?.unwrap_or(false);
    let request = Request::GetItem { table: name.to_string(), key, projection, placeholders };
    let response = ctx.call(ctx.read_level(consistent), request).await?;
    match response.body {
        ResponseBody::Item(Some(item)) => Ok(json!({"Item": item_json(&item)})),
        ResponseBody::Item(None) => Ok(json!({})),
        _ => Err(ApiError::internal("GetItem answered without an item")),
    }
}

/// PutItem.
pub async fn put_item<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let body = object(body);
    let name = table_name(body)?;
    let table = ctx.table(name)?;
    let item = convert::item(body.get("Item").ok_or_else(|| convert::missing("Item"))?, "Item")?;
    check_item_keys(&table, &item)?;
    let returned = return_values(body, &["NONE", "ALL_OLD"])?;
    let mut generated = Generated::default();
    let condition = condition(body, &mut generated)?;
    let placeholders = placeholders(body, generated)?;
    let request = Request::PutItem {
        table: name.to_string(),
        item,
        condition,
        placeholders,
        ttl_secs: 0,
        return_values: native_return_values(returned),
    };
    let response = ctx.call(ctx.write_level(), request).await?;
    match response.body {
        ResponseBody::Item(old) if returned == "ALL_OLD" => Ok(attributes(old)),
        _ => Ok(json!({})),
    }
}

/// DeleteItem.
pub async fn delete_item<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let body = object(body);
    let name = table_name(body)?;
    let table = ctx.table(name)?;
    let key = convert::key(&table, body.get("Key"))?;
    let returned = return_values(body, &["NONE", "ALL_OLD"])?;
    let mut generated = Generated::default();
    let condition = condition(body, &mut generated)?;
    let placeholders = placeholders(body, generated)?;
    let request = Request::DeleteItem {
        table: name.to_string(),
        key,
        condition,
        placeholders,
        return_values: native_return_values(returned),
    };
    let response = ctx.call(ctx.write_level(), request).await?;
    match response.body {
        ResponseBody::Item(old) if returned == "ALL_OLD" => Ok(attributes(old)),
        _ => Ok(json!({})),
    }
}

/// The paths an update expression writes, for `UPDATED_OLD` / `UPDATED_NEW`.
fn updated_paths(update: &str, placeholders: &Placeholders) -> ApiResult<Vec<Path>> {
    let mut expr_placeholders =
        shoal_expr::Placeholders::new(placeholders.names.clone(), placeholders.values.clone());
    let update = parse_update(update, &mut expr_placeholders)
        .map_err(|e| ApiError::validation(e.to_string()))?;
    Ok(update.actions.iter().map(|a| a.path().clone()).collect())
}

/// UpdateItem.
pub async fn update_item<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let body = object(body);
    let name = table_name(body)?;
    let table = ctx.table(name)?;
    let key = convert::key(&table, body.get("Key"))?;
    let returned =
        return_values(body, &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"])?;
    no_mixing(body, &["AttributeUpdates"], &["UpdateExpression"])?;
    let mut generated = Generated::default();
    let condition = condition(body, &mut generated)?;
    let update = match opt_object(body, "AttributeUpdates")? {
        Some(updates) => legacy::attribute_updates(updates, &mut generated)?,
        None => convert::expression(body, "UpdateExpression")?,
    };
    let mut placeholders = placeholders(body, generated)?;
    // An UpdateItem without an update still creates the item (its key) if it is absent:
    // removing an attribute no item can have changes nothing else.
    let update = match update {
        Some(update) => update,
        None => {
            placeholders.names.insert("#shoal_none".into(), "\u{0}shoal-no-attribute".into());
            "REMOVE #shoal_none".to_string()
        }
    };
    let paths = if returned.starts_with("UPDATED_") {
        Some(updated_paths(&update, &placeholders)?)
    } else {
        None
    };
    let request = Request::UpdateItem {
        table: name.to_string(),
        key,
        update,
        condition,
        placeholders,
        ttl_secs: 0,
        return_values: native_return_values(returned),
    };
    let response = ctx.call(ctx.write_level(), request).await?;
    let ResponseBody::Item(item) = response.body else {
        return Ok(json!({}));
    };
    Ok(match (returned, paths) {
        ("NONE", _) => json!({}),
        (_, Some(paths)) => attributes(item.map(|i| project(&paths, &i))),
        _ => attributes(item),
    })
}
