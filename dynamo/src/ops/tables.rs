//! Table operations: CreateTable, DeleteTable, DescribeTable, ListTables, UpdateTable,
//! UpdateTimeToLive, DescribeTimeToLive, TagResource, UntagResource, ListTagsOfResource.
//!
//! DynamoDB's table metadata that the node does not interpret (billing mode, provisioned
//! throughput, table class, deletion protection, tags) lives in the table's options under
//! the keys below; the TTL attribute is the table's own `ttl_attribute`, which the node
//! enforces. Changes go through the node's ALTER TABLE with optimistic concurrency.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use shoal_net::{
    Compaction, Consistency, KeyAttribute, Request, ResponseBody, TableDescription, TableSpec,
};
use shoal_types::key::KeyType;

use crate::api::{Backend, Ctx};
use crate::convert::{
    check_table_name, missing, object, opt_array, opt_bool, opt_object, opt_str, opt_u64, req_str,
    table_name,
};
use crate::error::{ApiError, ApiResult};

const BILLING_MODE: &str = "dynamodb.billing_mode";
const READ_UNITS: &str = "dynamodb.read_capacity_units";
const WRITE_UNITS: &str = "dynamodb.write_capacity_units";
const TABLE_CLASS: &str = "dynamodb.table_class";
const DELETION_PROTECTION: &str = "dynamodb.deletion_protection";
const TAG_PREFIX: &str = "tag:";
/// Most tags on a table (DynamoDB's).
const TAGS_MAX: usize = 50;
/// Most tables ListTables returns at once.
const LIST_LIMIT_MAX: u64 = 100;
/// Attempts of a read-change-alter cycle that loses races.
const ALTER_ATTEMPTS: usize = 8;

fn key_type_name(t: KeyType) -> &'static str {
    t.as_str()
}

/// DynamoDB's TableDescription of `t`, with `status`.
pub fn description<B: Backend>(ctx: &Ctx<'_, B>, t: &TableDescription, status: &str) -> Json {
    let spec = &t.spec;
    let mut definitions = vec![json!({
        "AttributeName": spec.partition_key.name,
        "AttributeType": key_type_name(spec.partition_key.key_type),
    })];
    let mut schema = vec![json!({"AttributeName": spec.partition_key.name, "KeyType": "HASH"})];
    if let Some(sk) = &spec.sort_key {
        definitions
            .push(json!({"AttributeName": sk.name, "AttributeType": key_type_name(sk.key_type)}));
        schema.push(json!({"AttributeName": sk.name, "KeyType": "RANGE"}));
    }
    let option = |key: &str| spec.options.get(key).map(String::as_str);
    let billing = option(BILLING_MODE).unwrap_or("PAY_PER_REQUEST");
    let units = |key: &str| option(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let created = t.created_micros as f64 / 1e6;
    json!({
        "TableName": spec.name,
        "TableStatus": status,
        "KeySchema": schema,
        "AttributeDefinitions": definitions,
        "CreationDateTime": created,
        "TableArn": ctx.table_arn(&spec.name),
        "TableId": table_id(t),
        "TableSizeBytes": 0,
        "ItemCount": 0,
        "ProvisionedThroughput": {
            "NumberOfDecreasesToday": 0,
            "ReadCapacityUnits": units(READ_UNITS),
            "WriteCapacityUnits": units(WRITE_UNITS),
        },
        "BillingModeSummary": {
            "BillingMode": billing,
            "LastUpdateToPayPerRequestDateTime": created,
        },
        "TableClassSummary": {"TableClass": option(TABLE_CLASS).unwrap_or("STANDARD")},
        "DeletionProtectionEnabled": option(DELETION_PROTECTION) == Some("true"),
    })
}

/// A stable UUID-shaped id of a table incarnation.
fn table_id(t: &TableDescription) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in t.spec.name.bytes().chain(t.created_micros.to_be_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let c = t.created_micros;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        h as u16,
        (c >> 48) as u16,
        c & 0xffff_ffff_ffff
    )
}

fn key_type(text: &str) -> Option<KeyType> {
    match text {
        "S" => Some(KeyType::S),
        "N" => Some(KeyType::N),
        "B" => Some(KeyType::B),
        _ => None,
    }
}

/// Billing mode and throughput options from CreateTable's or UpdateTable's parameters.
fn billing_options(
    body: &crate::convert::Body,
    options: &mut BTreeMap<String, String>,
    creating: bool,
) -> ApiResult<()> {
    let mode = opt_str(body, "BillingMode")?;
    let throughput = opt_object(body, "ProvisionedThroughput")?;
    let mode = match mode {
        Some(m @ ("PROVISIONED" | "PAY_PER_REQUEST")) => Some(m),
        Some(other) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
            )))
        }
        None if creating => Some("PROVISIONED"),
        None => None,
    };
    let effective =
        mode.unwrap_or_else(|| options.get(BILLING_MODE).map_or("PAY_PER_REQUEST", String::as_str));
    let effective = effective.to_string();
    match (effective.as_str(), throughput) {
        ("PAY_PER_REQUEST", Some(_)) => {
            return Err(ApiError::validation(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ))
        }
        ("PROVISIONED", None) if mode.is_some() && (creating || options.get(READ_UNITS).is_none()) => {
            return Err(ApiError::validation(
                "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
            ))
        }
        (_, Some(t)) => {
            let read = opt_u64(t, "ReadCapacityUnits")?;
            let write = opt_u64(t, "WriteCapacityUnits")?;
            let (Some(read), Some(write)) = (read, write) else {
                return Err(ApiError::validation(
                    "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
                ));
            };
            if read == 0 || write == 0 {
                return Err(ApiError::validation(
                    "One or more parameter values were invalid: Provisioned throughput must be greater than 0",
                ));
            }
            options.insert(READ_UNITS.into(), read.to_string());
            options.insert(WRITE_UNITS.into(), write.to_string());
        }
        _ => {}
    }
    if effective == "PAY_PER_REQUEST" {
        options.remove(READ_UNITS);
        options.remove(WRITE_UNITS);
    }
    options.insert(BILLING_MODE.into(), effective);
    Ok(())
}

fn tag_options(tags: &[Json], options: &mut BTreeMap<String, String>) -> ApiResult<()> {
    for tag in tags {
        let Json::Object(tag) = tag else {
            return Err(ApiError::serialization("Tags must hold objects"));
        };
        let key = req_str(tag, "Key")?;
        let value = opt_str(tag, "Value")?.unwrap_or("");
        if key.is_empty() || key.len() > 128 || value.len() > 256 {
            return Err(ApiError::validation(
                "One or more parameter values were invalid: a tag key must be 1 to 128 characters and a value at most 256",
            ));
        }
        options.insert(format!("{TAG_PREFIX}{key}"), value.to_string());
    }
    if options.keys().filter(|k| k.starts_with(TAG_PREFIX)).count() > TAGS_MAX {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: The number of tags on a resource cannot exceed 50",
        ));
    }
    Ok(())
}

/// CreateTable.
pub async fn create_table<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let body = object(body);
    let name = table_name(body)?;
    for unsupported in ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"] {
        if opt_array(body, unsupported)?.is_some_and(|a| !a.is_empty()) {
            return Err(ApiError::unsupported(format!("{unsupported} (secondary indexes)")));
        }
    }
    if let Some(stream) = opt_object(body, "StreamSpecification")? {
        if opt_bool(stream, "StreamEnabled")? == Some(true) {
            return Err(ApiError::unsupported("StreamSpecification (streams)"));
        }
    }
    let schema = opt_array(body, "KeySchema")?.ok_or_else(|| missing("KeySchema"))?;
    let definitions =
        opt_array(body, "AttributeDefinitions")?.ok_or_else(|| missing("AttributeDefinitions"))?;
    let mut types = BTreeMap::new();
    for d in definitions {
        let d = d.as_object().ok_or_else(|| ApiError::serialization("bad AttributeDefinitions"))?;
        let attribute = req_str(d, "AttributeName")?;
        let t = req_str(d, "AttributeType")?;
        let t = key_type(t).ok_or_else(|| {
            ApiError::validation(format!(
                "1 validation error detected: Value '{t}' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"
            ))
        })?;
        if types.insert(attribute.to_string(), t).is_some() {
            return Err(ApiError::validation(format!(
                "Cannot have two attributes with the same name: {attribute}"
            )));
        }
    }
    let mut hash = None;
    let mut range = None;
    for (i, element) in schema.iter().enumerate() {
        let element =
            element.as_object().ok_or_else(|| ApiError::serialization("bad KeySchema"))?;
        let attribute = req_str(element, "AttributeName")?.to_string();
        match (i, req_str(element, "KeyType")?) {
            (0, "HASH") => hash = Some(attribute),
            (1, "RANGE") => range = Some(attribute),
            (0, _) => {
                return Err(ApiError::validation(
                    "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
                ))
            }
            (1, _) => {
                return Err(ApiError::validation(
                    "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
                ))
            }
            _ => {
                return Err(ApiError::validation(
                    "1 validation error detected: Value at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2",
                ))
            }
        }
    }
    let Some(hash) = hash else {
        return Err(ApiError::validation(
            "1 validation error detected: Value '[]' at 'keySchema' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    };
    if range.as_ref() == Some(&hash) {
        return Err(ApiError::validation(
            "Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ));
    }
    let keys: Vec<&String> = std::iter::once(&hash).chain(range.as_ref()).collect();
    if keys.iter().any(|k| !types.contains_key(*k)) {
        let names: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
        let defined: Vec<&str> = types.keys().map(String::as_str).collect();
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            names.join(", "),
            defined.join(", ")
        )));
    }
    if types.len() != keys.len() {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        ));
    }
    let mut options = BTreeMap::new();
    billing_options(body, &mut options, true)?;
    if let Some(class) = opt_str(body, "TableClass")? {
        if !matches!(class, "STANDARD" | "STANDARD_INFREQUENT_ACCESS") {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{class}' at 'tableClass' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, STANDARD_INFREQUENT_ACCESS]"
            )));
        }
        options.insert(TABLE_CLASS.into(), class.to_string());
    }
    if opt_bool(body, "DeletionProtectionEnabled")? == Some(true) {
        options.insert(DELETION_PROTECTION.into(), "true".into());
    }
    if let Some(tags) = opt_array(body, "Tags")? {
        tag_options(tags, &mut options)?;
    }
    let key_attribute = |name: &String| KeyAttribute {
        name: name.clone(),
        key_type: types.get(name).copied().unwrap_or(KeyType::S),
    };
    let spec = TableSpec {
        name: name.to_string(),
        partition_key: key_attribute(&hash),
        sort_key: range.as_ref().map(key_attribute),
        replication_factor: ctx.config.replication_factor,
        compaction: Compaction::SizeTiered,
        default_ttl_secs: 0,
        ttl_attribute: None,
        options,
    };
    let request = Request::CreateTable { spec, if_not_exists: false };
    let response = ctx.call(Consistency::Default, request).await.map_err(|e| {
        if e.type_name == "ResourceInUseException" {
            ApiError::client("ResourceInUseException", format!("Table already exists: {name}"))
        } else {
            e
        }
    })?;
    let ResponseBody::Table(t) = response.body else {
        return Err(ApiError::internal("CreateTable answered without a table"));
    };
    Ok(json!({"TableDescription": description(ctx, &t, "CREATING")}))
}

/// DescribeTable: ACTIVE once the node knows the table (a create is acknowledged after every
/// shard of the coordinator, and every live peer it could reach, has it).
pub async fn describe_table<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let name = table_name(object(body))?;
    let t = ctx.backend.table(name).ok_or_else(|| ApiError::table_not_found(name))?;
    Ok(json!({"Table": description(ctx, &t, "ACTIVE")}))
}

/// DeleteTable.
pub async fn delete_table<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let name = table_name(object(body))?;
    let t = ctx.backend.table(name).ok_or_else(|| ApiError::table_not_found(name))?;
    if t.spec.options.get(DELETION_PROTECTION).map(String::as_str) == Some("true") {
        return Err(ApiError::validation(
            "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.",
        ));
    }
    let request = Request::DropTable { name: name.to_string(), if_exists: false };
    ctx.call(Consistency::Default, request).await.map_err(|e| {
        if e.type_name == "ResourceNotFoundException" {
            ApiError::table_not_found(name)
        } else {
            e
        }
    })?;
    Ok(json!({"TableDescription": description(ctx, &t, "DELETING")}))
}

/// ListTables, in name order, paged by `ExclusiveStartTableName` and `Limit`.
pub async fn list_tables<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let body = object(body);
    let start = opt_str(body, "ExclusiveStartTableName")?;
    if let Some(start) = start {
        check_table_name(start, "exclusiveStartTableName")?;
    }
    let limit = opt_u64(body, "Limit")?.unwrap_or(LIST_LIMIT_MAX);
    if !(1..=LIST_LIMIT_MAX).contains(&limit) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100"
        )));
    }
    let mut names: Vec<String> = ctx.backend.tables().into_iter().map(|t| t.spec.name).collect();
    names.sort();
    let after: Vec<String> =
        names.into_iter().filter(|n| start.is_none_or(|s| n.as_str() > s)).collect();
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let page: Vec<String> = after.iter().take(limit).cloned().collect();
    let mut out = json!({"TableNames": page});
    if after.len() > limit {
        if let (Some(map), Some(last)) = (out.as_object_mut(), page.last()) {
            map.insert("LastEvaluatedTableName".into(), Json::String(last.clone()));
        }
    }
    Ok(out)
}

/// Reads table `name`, applies `change` to a copy, and alters the table, retrying when
/// another change won the race. Returns the table as altered.
async fn alter<B: Backend>(
    ctx: &Ctx<'_, B>,
    name: &str,
    change: impl Fn(&mut TableSpec) -> ApiResult<()>,
) -> ApiResult<TableDescription> {
    let mut last = ApiError::internal("the table kept changing; retry");
    for _ in 0..ALTER_ATTEMPTS {
        let current = ctx.backend.table(name).ok_or_else(|| ApiError::table_not_found(name))?;
        let mut wanted = current.clone();
        change(&mut wanted.spec)?;
        match ctx.call(Consistency::Default, Request::AlterTable { table: wanted }).await {
            Ok(response) => match response.body {
                ResponseBody::Table(t) => return Ok(t),
                _ => return Err(ApiError::internal("ALTER TABLE answered without a table")),
            },
            // Raced with another change (or this shard's copy is behind): read again.
            Err(e) if e.type_name == "ConditionalCheckFailedException" => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// UpdateTable: billing mode, throughput, table class and deletion protection. Index,
/// stream and replica changes are refused as not supported.
pub async fn update_table<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let body = object(body);
    let name = table_name(body)?;
    for unsupported in ["GlobalSecondaryIndexUpdates", "ReplicaUpdates"] {
        if opt_array(body, unsupported)?.is_some_and(|a| !a.is_empty()) {
            return Err(ApiError::unsupported(unsupported));
        }
    }
    if let Some(stream) = opt_object(body, "StreamSpecification")? {
        if opt_bool(stream, "StreamEnabled")? == Some(true) {
            return Err(ApiError::unsupported("StreamSpecification (streams)"));
        }
    }
    let class = opt_str(body, "TableClass")?;
    let protection = opt_bool(body, "DeletionProtectionEnabled")?;
    let t = alter(ctx, name, |spec| {
        billing_options(body, &mut spec.options, false)?;
        if let Some(class) = class {
            spec.options.insert(TABLE_CLASS.into(), class.to_string());
        }
        match protection {
            Some(true) => {
                spec.options.insert(DELETION_PROTECTION.into(), "true".into());
            }
            Some(false) => {
                spec.options.remove(DELETION_PROTECTION);
            }
            None => {}
        }
        Ok(())
    })
    .await?;
    Ok(json!({"TableDescription": description(ctx, &t, "UPDATING")}))
}

/// UpdateTimeToLive: sets or clears the table's TTL attribute.
pub async fn update_time_to_live<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let body = object(body);
    let name = table_name(body)?;
    let spec = opt_object(body, "TimeToLiveSpecification")?
        .ok_or_else(|| missing("TimeToLiveSpecification"))?;
    let enabled = opt_bool(spec, "Enabled")?.ok_or_else(|| missing("Enabled"))?;
    let attribute = req_str(spec, "AttributeName")?.to_string();
    if attribute.is_empty() || attribute.len() > 255 {
        return Err(ApiError::validation(
            "TimeToLiveSpecification.AttributeName must be 1 to 255 characters",
        ));
    }
    alter(ctx, name, |spec| {
        match (&spec.ttl_attribute, enabled) {
            (Some(_), true) => {
                return Err(ApiError::validation("TimeToLive is already enabled"));
            }
            (None, false) => {
                return Err(ApiError::validation("TimeToLive is already disabled"));
            }
            (Some(current), false) if *current != attribute => {
                return Err(ApiError::validation(format!(
                    "TimeToLive is active on a different AttributeName: current AttributeName is {current}"
                )));
            }
            _ => {}
        }
        spec.ttl_attribute = enabled.then(|| attribute.clone());
        Ok(())
    })
    .await?;
    Ok(json!({"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute}}))
}

/// DescribeTimeToLive.
pub async fn describe_time_to_live<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let name = table_name(object(body))?;
    let t = ctx.backend.table(name).ok_or_else(|| ApiError::table_not_found(name))?;
    Ok(match &t.spec.ttl_attribute {
        Some(a) => {
            json!({"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": a}})
        }
        None => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
    })
}

/// The table an ARN names, if it is one of ours.
fn table_of_arn<B: Backend>(ctx: &Ctx<'_, B>, arn: &str) -> ApiResult<String> {
    let not_found = || {
        ApiError::client(
            "ResourceNotFoundException",
            format!("Requested resource not found: ResourcArn: {arn} not found"),
        )
    };
    let name = arn.rsplit_once(":table/").map(|(_, n)| n).ok_or_else(|| {
        ApiError::validation(format!(
            "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
        ))
    })?;
    if ctx.table_arn(name) != arn || ctx.backend.table(name).is_none() {
        return Err(not_found());
    }
    Ok(name.to_string())
}

/// TagResource.
pub async fn tag_resource<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let body = object(body);
    let name = table_of_arn(ctx, req_str(body, "ResourceArn")?)?;
    let tags = opt_array(body, "Tags")?.ok_or_else(|| missing("Tags"))?;
    alter(ctx, &name, |spec| tag_options(tags, &mut spec.options)).await?;
    Ok(json!({}))
}

/// UntagResource.
pub async fn untag_resource<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let body = object(body);
    let name = table_of_arn(ctx, req_str(body, "ResourceArn")?)?;
    let keys = opt_array(body, "TagKeys")?.ok_or_else(|| missing("TagKeys"))?;
    let keys: Vec<String> = keys.iter().filter_map(|k| k.as_str()).map(str::to_string).collect();
    alter(ctx, &name, |spec| {
        for key in &keys {
            spec.options.remove(&format!("{TAG_PREFIX}{key}"));
        }
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

/// ListTagsOfResource (all tags in one page: at most 50).
pub async fn list_tags_of_resource<B: Backend>(ctx: &Ctx<'_, B>, body: &Json) -> ApiResult<Json> {
    let body = object(body);
    let name = table_of_arn(ctx, req_str(body, "ResourceArn")?)?;
    let t = ctx.table(&name)?;
    let tags: Vec<Json> = t
        .spec
        .options
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(TAG_PREFIX).map(|k| json!({"Key": k, "Value": v})))
        .collect();
    Ok(json!({"Tags": tags}))
}

/// DescribeLimits: DynamoDB's default account and table limits (Shoal enforces none of
/// them; they are what clients size themselves by).
pub fn describe_limits() -> Json {
    json!({
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000,
    })
}

/// DescribeEndpoints: this node, as the client reached it.
pub fn describe_endpoints<B: Backend>(ctx: &Ctx<'_, B>) -> Json {
    json!({"Endpoints": [{"Address": ctx.host, "CachePeriodInMinutes": 1440}]})
}
