//! Reading DynamoDB's request JSON: typed fields, items, keys and placeholders, with
//! DynamoDB's messages when they are wrong.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};
use shoal_net::keys::{self, typed_key_value};
use shoal_net::{Item, Placeholders, TableDescription};
use shoal_types::json::{item_from_typed_json, item_to_typed_json, value_from_typed_json};
use shoal_types::{ItemKey, Value};

use crate::error::{ApiError, ApiResult};

/// A request body: a JSON object.
pub type Body = Map<String, Json>;

/// The object of a request body.
pub fn object(body: &Json) -> &Body {
    static EMPTY: std::sync::OnceLock<Body> = std::sync::OnceLock::new();
    body.as_object().unwrap_or_else(|| EMPTY.get_or_init(Body::new))
}

/// A string field, if present.
pub fn opt_str<'a>(body: &'a Body, field: &str) -> ApiResult<Option<&'a str>> {
    match body.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::serialization(format!("{field} must be a string"))),
    }
}

/// A required string field (DynamoDB's message for a missing member).
pub fn req_str<'a>(body: &'a Body, field: &str) -> ApiResult<&'a str> {
    opt_str(body, field)?.ok_or_else(|| missing(field))
}

/// The "Member must not be null" error of a missing required field.
pub fn missing(field: &str) -> ApiError {
    let member = lower_first(field);
    ApiError::validation(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    ))
}

fn lower_first(field: &str) -> String {
    let mut chars = field.chars();
    match chars.next() {
        Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// A boolean field (absent: false).
pub fn opt_bool(body: &Body, field: &str) -> ApiResult<Option<bool>> {
    match body.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::serialization(format!("{field} must be a boolean"))),
    }
}

/// A non-negative integer field.
pub fn opt_u64(body: &Body, field: &str) -> ApiResult<Option<u64>> {
    match body.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| ApiError::validation(format!("{field} must be a non-negative integer"))),
        Some(_) => Err(ApiError::serialization(format!("{field} must be a number"))),
    }
}

/// An object field.
pub fn opt_object<'a>(body: &'a Body, field: &str) -> ApiResult<Option<&'a Body>> {
    match body.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Object(o)) => Ok(Some(o)),
        Some(_) => Err(ApiError::serialization(format!("{field} must be a JSON object"))),
    }
}

/// An array field.
pub fn opt_array<'a>(body: &'a Body, field: &str) -> ApiResult<Option<&'a Vec<Json>>> {
    match body.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Array(a)) => Ok(Some(a)),
        Some(_) => Err(ApiError::serialization(format!("{field} must be a JSON array"))),
    }
}

/// A typed item (`{"attr": {"S": "x"}, ...}`).
pub fn item(json: &Json, what: &str) -> ApiResult<Item> {
    item_from_typed_json(json).map_err(|e| json_error(&e, what))
}

/// DynamoDB's message for a value that does not parse (numbers have their own wording,
/// which clients match on).
pub fn json_error(e: &shoal_types::json::JsonError, what: &str) -> ApiError {
    use shoal_types::json::JsonErrorKind;
    match &e.kind {
        JsonErrorKind::BadNumber { text, .. } => ApiError::validation(format!(
            "The parameter cannot be converted to a numeric value: {}",
            text.trim_matches('"')
        )),
        JsonErrorKind::NumberOutOfRange { text, .. } => ApiError::validation(format!(
            "Number overflow. Attempting to store a number with magnitude larger than supported range: {text}"
        )),
        JsonErrorKind::DuplicateElement { element, .. } => ApiError::validation(format!(
            "One or more parameter values were invalid: Input collection contains duplicates: {element} (at {})",
            e.path
        )),
        JsonErrorKind::EmptySet { type_key } => {
            let kind = match *type_key {
                "NS" => "number",
                "BS" => "binary",
                _ => "string",
            };
            ApiError::validation(format!(
                "One or more parameter values were invalid: An {kind} set may not be empty (at {})",
                e.path
            ))
        }
        _ => ApiError::validation(format!("One or more parameter values were invalid: {what} {e}")),
    }
}

/// A typed item as JSON.
pub fn item_json(item: &Item) -> Json {
    item_to_typed_json(item)
}

/// The table name of a request, checked as DynamoDB checks it.
pub fn table_name(body: &Body) -> ApiResult<&str> {
    let name = req_str(body, "TableName")?;
    check_table_name(name, "tableName")?;
    Ok(name)
}

/// DynamoDB's table-name constraints.
pub fn check_table_name(name: &str, member: &str) -> ApiResult<()> {
    if name.len() < 3 || name.len() > 255 {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{name}' at '{member}' failed to satisfy constraint: Member must have length greater than or equal to 3 and less than or equal to 255"
        )));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{name}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        )));
    }
    Ok(())
}

fn empty_key_error(name: &str, value: &Value) -> Option<ApiError> {
    let kind = match value {
        Value::S(s) if s.is_empty() => "string",
        Value::B(b) if b.is_empty() => "binary",
        _ => return None,
    };
    Some(ApiError::validation(format!(
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {kind} value. Key: {name}"
    )))
}

/// A `Key` parameter: exactly the table's key attributes, of the right types.
pub fn key(table: &TableDescription, json: Option<&Json>) -> ApiResult<Item> {
    let Some(json) = json else { return Err(missing("Key")) };
    let key = item(json, "Key")?;
    let schema_error =
        || ApiError::validation("The provided key element does not match the schema");
    let spec = &table.spec;
    let expected = 1 + usize::from(spec.sort_key.is_some());
    if key.len() != expected {
        return Err(schema_error());
    }
    for attribute in std::iter::once(&spec.partition_key).chain(spec.sort_key.as_ref()) {
        let value = key.get(&attribute.name).ok_or_else(schema_error)?;
        if typed_key_value(attribute.key_type, value).is_none() {
            return Err(schema_error());
        }
        if let Some(e) = empty_key_error(&attribute.name, value) {
            return Err(e);
        }
    }
    Ok(key)
}

/// Checks a whole item's key attributes (PutItem, BatchWriteItem's PutRequest).
pub fn check_item_keys(table: &TableDescription, item: &Item) -> ApiResult<()> {
    let spec = &table.spec;
    for attribute in std::iter::once(&spec.partition_key).chain(spec.sort_key.as_ref()) {
        let Some(value) = item.get(&attribute.name) else {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Missing the key {} in the item",
                attribute.name
            )));
        };
        if typed_key_value(attribute.key_type, value).is_none() {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Type mismatch for key {} expected: {} actual: {}",
                attribute.name,
                attribute.key_type.as_str(),
                value.type_name()
            )));
        }
        if let Some(e) = empty_key_error(&attribute.name, value) {
            return Err(e);
        }
    }
    Ok(())
}

/// The key attributes of `item` (which [`check_item_keys`] accepted).
pub fn key_of(table: &TableDescription, item: &Item) -> Item {
    let spec = &table.spec;
    std::iter::once(&spec.partition_key)
        .chain(spec.sort_key.as_ref())
        .filter_map(|a| item.get(&a.name).map(|v| (a.name.clone(), v.clone())))
        .collect()
}

/// The engine key of a key item (for page tokens).
pub fn item_key(table: &TableDescription, key: &Item) -> ApiResult<ItemKey> {
    keys::item_key(&table.spec, key, false)
        .map_err(|_| ApiError::validation("The provided starting key is invalid"))
}

/// The key attributes of an engine key.
pub fn key_item(table: &TableDescription, key: &ItemKey) -> Item {
    keys::key_item(&table.spec, key)
}

/// `ExpressionAttributeNames` and `ExpressionAttributeValues`, with the placeholders made up
/// for the request's legacy parameters.
pub fn placeholders(body: &Body, generated: Generated) -> ApiResult<Placeholders> {
    let mut out = Placeholders::default();
    if let Some(names) = opt_object(body, "ExpressionAttributeNames")? {
        if names.is_empty() {
            return Err(ApiError::validation("ExpressionAttributeNames must not be empty"));
        }
        for (placeholder, name) in names {
            let Json::String(name) = name else {
                return Err(ApiError::serialization(
                    "ExpressionAttributeNames values must be strings",
                ));
            };
            out.names.insert(placeholder.clone(), name.clone());
        }
    }
    if let Some(values) = opt_object(body, "ExpressionAttributeValues")? {
        if values.is_empty() {
            return Err(ApiError::validation("ExpressionAttributeValues must not be empty"));
        }
        for (placeholder, value) in values {
            let value = value_from_typed_json(value).map_err(|e| match e.kind {
                shoal_types::json::JsonErrorKind::BadNumber { .. }
                | shoal_types::json::JsonErrorKind::NumberOutOfRange { .. } => {
                    json_error(&e, "ExpressionAttributeValues")
                }
                _ => ApiError::validation(format!(
                    "ExpressionAttributeValues contains invalid value: {e} for key {placeholder}"
                )),
            })?;
            out.values.insert(placeholder.clone(), value);
        }
    }
    out.names.extend(generated.placeholders.names);
    out.values.extend(generated.placeholders.values);
    Ok(out)
}

/// Rejects a request that mixes a legacy parameter with an expression parameter, with
/// DynamoDB's message.
pub fn no_mixing(body: &Body, legacy: &[&str], expressions: &[&str]) -> ApiResult<()> {
    let present = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .filter(|n| body.get(**n).is_some_and(|v| !v.is_null()))
            .map(|n| n.to_string())
            .collect()
    };
    let old = present(legacy);
    let new = present(expressions);
    if !old.is_empty() && !new.is_empty() {
        return Err(ApiError::validation(format!(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
            old.join(", "),
            new.join(", ")
        )));
    }
    Ok(())
}

/// The `ReturnValues` parameter, checked against the ones an operation allows.
pub fn return_values<'a>(body: &'a Body, allowed: &[&str]) -> ApiResult<&'a str> {
    let value = opt_str(body, "ReturnValues")?.unwrap_or("NONE");
    if !allowed.contains(&value) {
        return Err(ApiError::validation("Return values set to invalid value"));
    }
    Ok(value)
}

/// Placeholders made up for a legacy parameter: `#shoal_lN` and `:shoal_lN`, which user
/// placeholders cannot be (a legacy request has none).
#[derive(Default)]
pub struct Generated {
    /// The placeholders so far.
    pub placeholders: Placeholders,
    next: usize,
}

impl Generated {
    /// A `#name` standing for `name`.
    pub fn name(&mut self, name: &str) -> String {
        let placeholder = format!("#shoal_l{}", self.next);
        self.next += 1;
        self.placeholders.names.insert(placeholder.clone(), name.to_string());
        placeholder
    }

    /// A `:value` standing for `value`.
    pub fn value(&mut self, value: Value) -> String {
        let placeholder = format!(":shoal_l{}", self.next);
        self.next += 1;
        self.placeholders.values.insert(placeholder.clone(), value);
        placeholder
    }
}

/// A map of names to typed JSON values as a BTreeMap (e.g. `Expected`'s entries).
pub fn entries(json: &Body) -> BTreeMap<&str, &Json> {
    json.iter().map(|(k, v)| (k.as_str(), v)).collect()
}

/// An expression parameter (`ConditionExpression`, `UpdateExpression`, ...), refused if it
/// names an attribute with a reserved word.
pub fn expression(body: &Body, field: &str) -> ApiResult<Option<String>> {
    match opt_str(body, field)? {
        Some(text) => {
            crate::reserved::check_expression(field, text)?;
            Ok(Some(text.to_string()))
        }
        None => Ok(None),
    }
}
