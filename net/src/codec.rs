//! Flatbuffers encoding of [`crate::message`] types. Decoding verifies the buffer first
//! (flatbuffers' verifier bounds every offset and the nesting depth), then copies into
//! owned values and decodes embedded items with their own checks.

use std::collections::BTreeMap;

use flatbuffers::{FlatBufferBuilder, ForwardsUOffset, Vector, WIPOffset};

use crate::generated::shoal::protocol as fb;
use crate::message::*;
use crate::message::{
    compaction_from_fb, compaction_to_fb, consistency_from_fb, consistency_to_fb, key_type_from_fb,
    key_type_to_fb, return_values_from_fb, return_values_to_fb, status_from_fb, status_to_fb,
};

type Fbb<'a> = FlatBufferBuilder<'a>;
type Result<T> = std::result::Result<T, MessageError>;

fn invalid(reason: impl Into<String>) -> MessageError {
    MessageError::Invalid(reason.into())
}

fn opt_str<'a>(fbb: &mut Fbb<'a>, text: &Option<String>) -> Option<WIPOffset<&'a str>> {
    text.as_deref().map(|t| fbb.create_string(t))
}

fn item_bytes<'a>(fbb: &mut Fbb<'a>, item: &Item) -> WIPOffset<Vector<'a, u8>> {
    fbb.create_vector(&encode_item(item))
}

fn placeholders<'a>(
    fbb: &mut Fbb<'a>,
    p: &Placeholders,
) -> Option<WIPOffset<fb::Placeholders<'a>>> {
    if p.is_empty() {
        return None;
    }
    let names: Vec<_> = p
        .names
        .iter()
        .map(|(placeholder, name)| {
            let placeholder = Some(fbb.create_string(placeholder));
            let name = Some(fbb.create_string(name));
            fb::NamePlaceholder::create(fbb, &fb::NamePlaceholderArgs { placeholder, name })
        })
        .collect();
    let names = Some(fbb.create_vector(&names));
    let values =
        if p.values.is_empty() { None } else { Some(fbb.create_vector(&encode_item(&p.values))) };
    Some(fb::Placeholders::create(fbb, &fb::PlaceholdersArgs { names, values }))
}

fn key_attribute<'a>(fbb: &mut Fbb<'a>, k: &KeyAttribute) -> WIPOffset<fb::KeyAttribute<'a>> {
    let name = Some(fbb.create_string(&k.name));
    fb::KeyAttribute::create(fbb, &fb::KeyAttributeArgs { name, type_: key_type_to_fb(k.key_type) })
}

fn table_options<'a>(
    fbb: &mut Fbb<'a>,
    options: &BTreeMap<String, String>,
) -> Option<WIPOffset<Vector<'a, ForwardsUOffset<fb::TableOption<'a>>>>> {
    if options.is_empty() {
        return None;
    }
    let entries: Vec<_> = options
        .iter()
        .map(|(k, v)| {
            let key = Some(fbb.create_string(k));
            let value = Some(fbb.create_string(v));
            fb::TableOption::create(fbb, &fb::TableOptionArgs { key, value })
        })
        .collect();
    Some(fbb.create_vector(&entries))
}

fn decode_table_options(
    options: Option<Vector<'_, ForwardsUOffset<fb::TableOption<'_>>>>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for entry in options.iter().flatten() {
        let key = required(entry.key(), "table option key")?;
        let value = required(entry.value(), "table option value")?;
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

fn table_ref<'a>(fbb: &mut Fbb<'a>, t: &TableRef) -> WIPOffset<fb::TableRef<'a>> {
    let name = Some(fbb.create_string(&t.name));
    fb::TableRef::create(fbb, &fb::TableRefArgs { name, created_micros: t.created_micros })
}

fn endpoint<'a>(fbb: &mut Fbb<'a>, e: &Endpoint) -> WIPOffset<fb::Endpoint<'a>> {
    let address = Some(fbb.create_string(&e.address));
    let internode = Some(fbb.create_string(&e.internode));
    let http = Some(fbb.create_string(&e.http));
    fb::Endpoint::create(
        fbb,
        &fb::EndpointArgs {
            node_id: e.node_id,
            address,
            internode,
            generation: e.generation,
            version: e.version,
            status: e.status.code(),
            shards: e.shards,
            vnodes: e.vnodes,
            schema_version: e.schema_version,
            load_bytes: e.load_bytes,
            http,
        },
    )
}

fn endpoints<'a>(
    fbb: &mut Fbb<'a>,
    list: &[Endpoint],
) -> WIPOffset<Vector<'a, ForwardsUOffset<fb::Endpoint<'a>>>> {
    let offsets: Vec<_> = list.iter().map(|e| endpoint(fbb, e)).collect();
    fbb.create_vector(&offsets)
}

fn schema_push<'a>(
    fbb: &mut Fbb<'a>,
    tables: &[(TableDescription, bool)],
) -> WIPOffset<fb::SchemaPush<'a>> {
    let descriptions: Vec<_> = tables.iter().map(|(t, _)| table_description(fbb, t)).collect();
    let descriptions = Some(fbb.create_vector(&descriptions));
    let dropped: Vec<bool> = tables.iter().map(|(_, d)| *d).collect();
    let dropped = Some(fbb.create_vector(&dropped));
    fb::SchemaPush::create(fbb, &fb::SchemaPushArgs { tables: descriptions, dropped })
}

fn decode_table_ref(t: Option<fb::TableRef<'_>>) -> Result<TableRef> {
    let t = required(t, "table")?;
    Ok(TableRef {
        name: required(t.name(), "table name")?.to_string(),
        created_micros: t.created_micros(),
    })
}

fn decode_endpoint(e: fb::Endpoint<'_>) -> Result<Endpoint> {
    Ok(Endpoint {
        node_id: e.node_id(),
        address: e.address().unwrap_or_default().to_string(),
        internode: e.internode().unwrap_or_default().to_string(),
        generation: e.generation(),
        version: e.version(),
        status: MemberStatus::from_code(e.status())
            .ok_or_else(|| invalid(format!("unknown member status {}", e.status())))?,
        shards: e.shards(),
        vnodes: e.vnodes(),
        schema_version: e.schema_version(),
        load_bytes: e.load_bytes(),
        http: e.http().unwrap_or_default().to_string(),
    })
}

fn decode_endpoints(
    list: Option<Vector<'_, ForwardsUOffset<fb::Endpoint<'_>>>>,
) -> Result<Vec<Endpoint>> {
    list.iter().flatten().map(decode_endpoint).collect()
}

fn decode_schema(t: fb::SchemaPush<'_>) -> Result<Vec<(TableDescription, bool)>> {
    let dropped = t.dropped();
    let mut out = Vec::new();
    for (i, d) in t.tables().iter().flatten().enumerate() {
        let is_dropped = dropped.as_ref().is_some_and(|v| i < v.len() && v.get(i));
        out.push((decode_table_description(d)?, is_dropped));
    }
    Ok(out)
}

/// Encodes a request body (without the frame).
pub fn encode_request(envelope: &RequestEnvelope) -> Vec<u8> {
    // Room for what the body carries, as in `encode_response`.
    let carried = match &envelope.request {
        Request::PutItem { item, .. } => {
            item.iter().map(|(name, v)| name.len() + v.encoded_len() + 2).sum()
        }
        Request::ReplicaWrite { key, row, .. } => key.len() + row.len(),
        _ => 0,
    };
    let mut fbb = Fbb::with_capacity(256 + carried);
    let h = &envelope.header;
    let header = fb::RequestHeader::create(
        &mut fbb,
        &fb::RequestHeaderArgs {
            consistency: consistency_to_fb(h.consistency),
            coordinator: h.coordinator,
            timestamp_micros: h.timestamp_micros,
            timeout_ms: h.timeout_ms,
            hops: h.hops,
        },
    );
    let (body_type, body) = encode_request_body(&mut fbb, &envelope.request);
    let root = fb::Request::create(
        &mut fbb,
        &fb::RequestArgs { header: Some(header), body_type, body: Some(body) },
    );
    fbb.finish_minimal(root);
    fbb.finished_data().to_vec()
}

fn encode_request_body<'a>(
    fbb: &mut Fbb<'a>,
    request: &Request,
) -> (fb::RequestBody, WIPOffset<flatbuffers::UnionWIPOffset>) {
    match request {
        Request::CreateTable { spec, if_not_exists } => {
            let name = Some(fbb.create_string(&spec.name));
            let partition_key = Some(key_attribute(fbb, &spec.partition_key));
            let sort_key = spec.sort_key.as_ref().map(|k| key_attribute(fbb, k));
            let ttl_attribute = spec.ttl_attribute.as_deref().map(|a| fbb.create_string(a));
            let options = table_options(fbb, &spec.options);
            let t = fb::CreateTable::create(
                fbb,
                &fb::CreateTableArgs {
                    name,
                    partition_key,
                    sort_key,
                    replication_factor: spec.replication_factor,
                    compaction: compaction_to_fb(spec.compaction),
                    default_ttl_secs: spec.default_ttl_secs,
                    if_not_exists: *if_not_exists,
                    ttl_attribute,
                    options,
                },
            );
            (fb::RequestBody::CreateTable, t.as_union_value())
        }
        Request::DescribeTable { name } => {
            let name = Some(fbb.create_string(name));
            let t = fb::DescribeTable::create(fbb, &fb::DescribeTableArgs { name });
            (fb::RequestBody::DescribeTable, t.as_union_value())
        }
        Request::ListTables => {
            let t = fb::ListTables::create(fbb, &fb::ListTablesArgs {});
            (fb::RequestBody::ListTables, t.as_union_value())
        }
        Request::DropTable { name, if_exists } => {
            let name = Some(fbb.create_string(name));
            let t = fb::DropTable::create(fbb, &fb::DropTableArgs { name, if_exists: *if_exists });
            (fb::RequestBody::DropTable, t.as_union_value())
        }
        Request::GetItem { table, key, projection, placeholders: p } => {
            let table = Some(fbb.create_string(table));
            let key = Some(item_bytes(fbb, key));
            let projection = opt_str(fbb, projection);
            let placeholders = placeholders(fbb, p);
            let t =
                fb::GetItem::create(fbb, &fb::GetItemArgs { table, key, projection, placeholders });
            (fb::RequestBody::GetItem, t.as_union_value())
        }
        Request::PutItem { table, item, condition, placeholders: p, ttl_secs, return_values } => {
            let table = Some(fbb.create_string(table));
            let item = Some(item_bytes(fbb, item));
            let condition = opt_str(fbb, condition);
            let placeholders = placeholders(fbb, p);
            let t = fb::PutItem::create(
                fbb,
                &fb::PutItemArgs {
                    table,
                    item,
                    condition,
                    placeholders,
                    ttl_secs: *ttl_secs,
                    return_values: return_values_to_fb(*return_values),
                },
            );
            (fb::RequestBody::PutItem, t.as_union_value())
        }
        Request::DeleteItem { table, key, condition, placeholders: p, return_values } => {
            let table = Some(fbb.create_string(table));
            let key = Some(item_bytes(fbb, key));
            let condition = opt_str(fbb, condition);
            let placeholders = placeholders(fbb, p);
            let t = fb::DeleteItem::create(
                fbb,
                &fb::DeleteItemArgs {
                    table,
                    key,
                    condition,
                    placeholders,
                    return_values: return_values_to_fb(*return_values),
                },
            );
            (fb::RequestBody::DeleteItem, t.as_union_value())
        }
        Request::UpdateItem {
            table,
            key,
            update,
            condition,
            placeholders: p,
            ttl_secs,
            return_values,
        } => {
            let table = Some(fbb.create_string(table));
            let key = Some(item_bytes(fbb, key));
            let update = Some(fbb.create_string(update));
            let condition = opt_str(fbb, condition);
            let placeholders = placeholders(fbb, p);
            let t = fb::UpdateItem::create(
                fbb,
                &fb::UpdateItemArgs {
                    table,
                    key,
                    update,
                    condition,
                    placeholders,
                    ttl_secs: *ttl_secs,
                    return_values: return_values_to_fb(*return_values),
                },
            );
            (fb::RequestBody::UpdateItem, t.as_union_value())
        }
        Request::BatchGet { table, keys, projection, placeholders: p } => {
            let table = Some(fbb.create_string(table));
            let keys: Vec<_> = keys
                .iter()
                .map(|k| {
                    let bytes = Some(item_bytes(fbb, k));
                    fb::Bytes::create(fbb, &fb::BytesArgs { bytes })
                })
                .collect();
            let keys = Some(fbb.create_vector(&keys));
            let projection = opt_str(fbb, projection);
            let placeholders = placeholders(fbb, p);
            let t = fb::BatchGet::create(
                fbb,
                &fb::BatchGetArgs { table, keys, projection, placeholders },
            );
            (fb::RequestBody::BatchGet, t.as_union_value())
        }
        Request::BatchWrite { table, ops } => {
            let table = Some(fbb.create_string(table));
            let ops: Vec<_> = ops
                .iter()
                .map(|op| {
                    let (delete, item, ttl_secs) = match op {
                        WriteOp::Put { item, ttl_secs } => (false, item, *ttl_secs),
                        WriteOp::Delete { key } => (true, key, 0),
                    };
                    let item = Some(item_bytes(fbb, item));
                    fb::WriteOp::create(fbb, &fb::WriteOpArgs { delete, item, ttl_secs })
                })
                .collect();
            let ops = Some(fbb.create_vector(&ops));
            let t = fb::BatchWrite::create(fbb, &fb::BatchWriteArgs { table, ops });
            (fb::RequestBody::BatchWrite, t.as_union_value())
        }
        Request::Query(q) => {
            let table = Some(fbb.create_string(&q.table));
            let key_condition = Some(fbb.create_string(&q.key_condition));
            let filter = opt_str(fbb, &q.filter);
            let projection = opt_str(fbb, &q.projection);
            let placeholders = placeholders(fbb, &q.placeholders);
            let page_token = q.page_token.as_ref().map(|t| fbb.create_vector(t));
            let t = fb::Query::create(
                fbb,
                &fb::QueryArgs {
                    table,
                    key_condition,
                    filter,
                    projection,
                    placeholders,
                    limit: q.limit,
                    reverse: q.reverse,
                    page_token,
                },
            );
            (fb::RequestBody::Query, t.as_union_value())
        }
        Request::Scan(s) => {
            let table = Some(fbb.create_string(&s.table));
            let filter = opt_str(fbb, &s.filter);
            let projection = opt_str(fbb, &s.projection);
            let placeholders = placeholders(fbb, &s.placeholders);
            let page_token = s.page_token.as_ref().map(|t| fbb.create_vector(t));
            let t = fb::Scan::create(
                fbb,
                &fb::ScanArgs {
                    table,
                    segment: s.segment,
                    total_segments: s.total_segments,
                    filter,
                    projection,
                    placeholders,
                    limit: s.limit,
                    page_token,
                },
            );
            (fb::RequestBody::Scan, t.as_union_value())
        }
        Request::ClusterInfo => {
            let t = fb::ClusterInfo::create(fbb, &fb::ClusterInfoArgs {});
            (fb::RequestBody::ClusterInfo, t.as_union_value())
        }
        Request::ReplicaWrite { table, key, row } => {
            let table = Some(table_ref(fbb, table));
            let key = Some(fbb.create_vector(key));
            let row = Some(fbb.create_vector(row));
            let t = fb::ReplicaWrite::create(fbb, &fb::ReplicaWriteArgs { table, key, row });
            (fb::RequestBody::ReplicaWrite, t.as_union_value())
        }
        Request::ReplicaRead { table, key, digest_only } => {
            let table = Some(table_ref(fbb, table));
            let key = Some(fbb.create_vector(key));
            let t = fb::ReplicaRead::create(
                fbb,
                &fb::ReplicaReadArgs { table, key, digest_only: *digest_only },
            );
            (fb::RequestBody::ReplicaRead, t.as_union_value())
        }
        Request::Gossip { endpoints: list } => {
            let list = Some(endpoints(fbb, list));
            let t = fb::GossipSyn::create(fbb, &fb::GossipSynArgs { endpoints: list });
            (fb::RequestBody::GossipSyn, t.as_union_value())
        }
        Request::SchemaPush { tables } => {
            let t = schema_push(fbb, tables);
            (fb::RequestBody::SchemaPush, t.as_union_value())
        }
        Request::NodeStatus => {
            let t = fb::NodeStatus::create(fbb, &fb::NodeStatusArgs {});
            (fb::RequestBody::NodeStatus, t.as_union_value())
        }
        Request::AlterTable { table } => {
            let table = Some(table_description(fbb, table));
            let t = fb::AlterTable::create(fbb, &fb::AlterTableArgs { table });
            (fb::RequestBody::AlterTable, t.as_union_value())
        }
    }
}

fn required<T>(field: Option<T>, what: &str) -> Result<T> {
    field.ok_or_else(|| invalid(format!("missing field {what}")))
}

fn decode_placeholders(p: Option<fb::Placeholders<'_>>) -> Result<Placeholders> {
    let Some(p) = p else { return Ok(Placeholders::default()) };
    let mut out = Placeholders::default();
    for entry in p.names().iter().flatten() {
        let placeholder = required(entry.placeholder(), "placeholder")?;
        let name = required(entry.name(), "placeholder name")?;
        out.names.insert(placeholder.to_string(), name.to_string());
    }
    if let Some(values) = p.values() {
        out.values = decode_item(values.bytes(), "placeholder values")?;
    }
    Ok(out)
}

fn decode_key_attribute(
    k: Option<fb::KeyAttribute<'_>>,
    what: &str,
) -> Result<Option<KeyAttribute>> {
    let Some(k) = k else { return Ok(None) };
    Ok(Some(KeyAttribute {
        name: required(k.name(), what)?.to_string(),
        key_type: key_type_from_fb(k.type_())?,
    }))
}

fn owned(text: Option<&str>) -> Option<String> {
    text.filter(|t| !t.is_empty()).map(str::to_string)
}

fn item_field(bytes: Option<Vector<'_, u8>>, what: &'static str) -> Result<Item> {
    decode_item(required(bytes, what)?.bytes(), what)
}

/// Decodes a request body.
///
/// # Errors
/// [`MessageError`] naming what was wrong.
pub fn decode_request(bytes: &[u8]) -> Result<RequestEnvelope> {
    let root = flatbuffers::root::<fb::Request>(bytes)
        .map_err(|e| MessageError::Flatbuffer(e.to_string()))?;
    let header = match root.header() {
        Some(h) => RequestHeader {
            consistency: consistency_from_fb(h.consistency())?,
            coordinator: h.coordinator(),
            timestamp_micros: h.timestamp_micros(),
            timeout_ms: h.timeout_ms(),
            hops: h.hops(),
        },
        None => RequestHeader::default(),
    };
    let request = match root.body_type() {
        fb::RequestBody::CreateTable => {
            let t = required(root.body_as_create_table(), "body")?;
            let spec = TableSpec {
                name: required(t.name(), "name")?.to_string(),
                partition_key: required(
                    decode_key_attribute(t.partition_key(), "partition key name")?,
                    "partition_key",
                )?,
                sort_key: decode_key_attribute(t.sort_key(), "sort key name")?,
                replication_factor: t.replication_factor(),
                compaction: compaction_from_fb(t.compaction())?,
                default_ttl_secs: t.default_ttl_secs(),
                ttl_attribute: owned(t.ttl_attribute()),
                options: decode_table_options(t.options())?,
            };
            Request::CreateTable { spec, if_not_exists: t.if_not_exists() }
        }
        fb::RequestBody::DescribeTable => {
            let t = required(root.body_as_describe_table(), "body")?;
            Request::DescribeTable { name: required(t.name(), "name")?.to_string() }
        }
        fb::RequestBody::ListTables => Request::ListTables,
        fb::RequestBody::DropTable => {
            let t = required(root.body_as_drop_table(), "body")?;
            Request::DropTable {
                name: required(t.name(), "name")?.to_string(),
                if_exists: t.if_exists(),
            }
        }
        fb::RequestBody::GetItem => {
            let t = required(root.body_as_get_item(), "body")?;
            Request::GetItem {
                table: required(t.table(), "table")?.to_string(),
                key: item_field(t.key(), "key")?,
                projection: owned(t.projection()),
                placeholders: decode_placeholders(t.placeholders())?,
            }
        }
        fb::RequestBody::PutItem => {
            let t = required(root.body_as_put_item(), "body")?;
            Request::PutItem {
                table: required(t.table(), "table")?.to_string(),
                item: item_field(t.item(), "item")?,
                condition: owned(t.condition()),
                placeholders: decode_placeholders(t.placeholders())?,
                ttl_secs: t.ttl_secs(),
                return_values: return_values_from_fb(t.return_values())?,
            }
        }
        fb::RequestBody::DeleteItem => {
            let t = required(root.body_as_delete_item(), "body")?;
            Request::DeleteItem {
                table: required(t.table(), "table")?.to_string(),
                key: item_field(t.key(), "key")?,
                condition: owned(t.condition()),
                placeholders: decode_placeholders(t.placeholders())?,
                return_values: return_values_from_fb(t.return_values())?,
            }
        }
        fb::RequestBody::UpdateItem => {
            let t = required(root.body_as_update_item(), "body")?;
            Request::UpdateItem {
                table: required(t.table(), "table")?.to_string(),
                key: item_field(t.key(), "key")?,
                update: required(t.update(), "update")?.to_string(),
                condition: owned(t.condition()),
                placeholders: decode_placeholders(t.placeholders())?,
                ttl_secs: t.ttl_secs(),
                return_values: return_values_from_fb(t.return_values())?,
            }
        }
        fb::RequestBody::BatchGet => {
            let t = required(root.body_as_batch_get(), "body")?;
            let mut keys = Vec::new();
            for k in required(t.keys(), "keys")?.iter() {
                keys.push(item_field(k.bytes(), "key")?);
            }
            Request::BatchGet {
                table: required(t.table(), "table")?.to_string(),
                keys,
                projection: owned(t.projection()),
                placeholders: decode_placeholders(t.placeholders())?,
            }
        }
        fb::RequestBody::BatchWrite => {
            let t = required(root.body_as_batch_write(), "body")?;
            let mut ops = Vec::new();
            for op in required(t.ops(), "ops")?.iter() {
                let item = item_field(op.item(), "item")?;
                ops.push(if op.delete() {
                    WriteOp::Delete { key: item }
                } else {
                    WriteOp::Put { item, ttl_secs: op.ttl_secs() }
                });
            }
            Request::BatchWrite { table: required(t.table(), "table")?.to_string(), ops }
        }
        fb::RequestBody::Query => {
            let t = required(root.body_as_query(), "body")?;
            Request::Query(QueryRequest {
                table: required(t.table(), "table")?.to_string(),
                key_condition: required(t.key_condition(), "key_condition")?.to_string(),
                filter: owned(t.filter()),
                projection: owned(t.projection()),
                placeholders: decode_placeholders(t.placeholders())?,
                limit: t.limit(),
                reverse: t.reverse(),
                page_token: t.page_token().map(|b| b.bytes().to_vec()),
            })
        }
        fb::RequestBody::Scan => {
            let t = required(root.body_as_scan(), "body")?;
            Request::Scan(ScanRequest {
                table: required(t.table(), "table")?.to_string(),
                segment: t.segment(),
                total_segments: t.total_segments(),
                filter: owned(t.filter()),
                projection: owned(t.projection()),
                placeholders: decode_placeholders(t.placeholders())?,
                limit: t.limit(),
                page_token: t.page_token().map(|b| b.bytes().to_vec()),
            })
        }
        fb::RequestBody::ClusterInfo => Request::ClusterInfo,
        fb::RequestBody::ReplicaWrite => {
            let t = required(root.body_as_replica_write(), "body")?;
            Request::ReplicaWrite {
                table: decode_table_ref(t.table())?,
                key: required(t.key(), "key")?.bytes().to_vec(),
                row: required(t.row(), "row")?.bytes().to_vec(),
            }
        }
        fb::RequestBody::ReplicaRead => {
            let t = required(root.body_as_replica_read(), "body")?;
            Request::ReplicaRead {
                table: decode_table_ref(t.table())?,
                key: required(t.key(), "key")?.bytes().to_vec(),
                digest_only: t.digest_only(),
            }
        }
        fb::RequestBody::GossipSyn => {
            let t = required(root.body_as_gossip_syn(), "body")?;
            Request::Gossip { endpoints: decode_endpoints(t.endpoints())? }
        }
        fb::RequestBody::SchemaPush => {
            let t = required(root.body_as_schema_push(), "body")?;
            Request::SchemaPush { tables: decode_schema(t)? }
        }
        fb::RequestBody::NodeStatus => Request::NodeStatus,
        fb::RequestBody::AlterTable => {
            let t = required(root.body_as_alter_table(), "body")?;
            Request::AlterTable { table: decode_table_description(required(t.table(), "table")?)? }
        }
        other => return Err(invalid(format!("unknown request type {}", other.0))),
    };
    Ok(RequestEnvelope { header, request })
}

fn table_description<'a>(
    fbb: &mut Fbb<'a>,
    t: &TableDescription,
) -> WIPOffset<fb::TableDescription<'a>> {
    let name = Some(fbb.create_string(&t.spec.name));
    let partition_key = Some(key_attribute(fbb, &t.spec.partition_key));
    let sort_key = t.spec.sort_key.as_ref().map(|k| key_attribute(fbb, k));
    let ttl_attribute = t.spec.ttl_attribute.as_deref().map(|a| fbb.create_string(a));
    let options = table_options(fbb, &t.spec.options);
    fb::TableDescription::create(
        fbb,
        &fb::TableDescriptionArgs {
            name,
            id: t.id,
            partition_key,
            sort_key,
            replication_factor: t.spec.replication_factor,
            compaction: compaction_to_fb(t.spec.compaction),
            default_ttl_secs: t.spec.default_ttl_secs,
            created_micros: t.created_micros,
            ttl_attribute,
            options,
            altered_micros: t.altered_micros,
        },
    )
}

fn items_vector<'a>(
    fbb: &mut Fbb<'a>,
    items: &[Item],
) -> WIPOffset<Vector<'a, ForwardsUOffset<fb::Bytes<'a>>>> {
    let items: Vec<_> = items
        .iter()
        .map(|item| {
            let bytes = Some(item_bytes(fbb, item));
            fb::Bytes::create(fbb, &fb::BytesArgs { bytes })
        })
        .collect();
    fbb.create_vector(&items)
}

/// Encodes a response body (without the frame).
pub fn encode_response(response: &Response) -> Vec<u8> {
    // Room for the bytes the body carries as they are, so the builder (which grows by
    // doubling and moving what it holds) does not copy an item several times.
    let carried = match &response.body {
        ResponseBody::EncodedItem(Some(bytes)) | ResponseBody::Row { row: Some(bytes), .. } => {
            bytes.len()
        }
        _ => 0,
    };
    let mut fbb = Fbb::with_capacity(256 + response.message.len() + carried);
    let message =
        if response.message.is_empty() { None } else { Some(fbb.create_string(&response.message)) };
    let (body_type, body) = match &response.body {
        ResponseBody::Empty => (fb::ResponseBody::NONE, None),
        ResponseBody::Table(t) => (
            fb::ResponseBody::TableDescription,
            Some(table_description(&mut fbb, t).as_union_value()),
        ),
        ResponseBody::Tables(tables) => {
            let tables: Vec<_> = tables.iter().map(|t| table_description(&mut fbb, t)).collect();
            let tables = Some(fbb.create_vector(&tables));
            let t = fb::TableList::create(&mut fbb, &fb::TableListArgs { tables });
            (fb::ResponseBody::TableList, Some(t.as_union_value()))
        }
        ResponseBody::Item(item) => {
            let item = item.as_ref().map(|i| item_bytes(&mut fbb, i));
            let t = fb::ItemResult::create(&mut fbb, &fb::ItemResultArgs { item });
            (fb::ResponseBody::ItemResult, Some(t.as_union_value()))
        }
        ResponseBody::EncodedItem(item) => {
            let item = item.as_ref().map(|bytes| fbb.create_vector(bytes));
            let t = fb::ItemResult::create(&mut fbb, &fb::ItemResultArgs { item });
            (fb::ResponseBody::ItemResult, Some(t.as_union_value()))
        }
        ResponseBody::Batch(results) => {
            let results: Vec<_> = results
                .iter()
                .map(|r| {
                    let message = if r.message.is_empty() {
                        None
                    } else {
                        Some(fbb.create_string(&r.message))
                    };
                    let item = r.item.as_ref().map(|i| item_bytes(&mut fbb, i));
                    fb::ItemStatus::create(
                        &mut fbb,
                        &fb::ItemStatusArgs { status: status_to_fb(r.status), message, item },
                    )
                })
                .collect();
            let results = Some(fbb.create_vector(&results));
            let t = fb::BatchResult::create(&mut fbb, &fb::BatchResultArgs { results });
            (fb::ResponseBody::BatchResult, Some(t.as_union_value()))
        }
        ResponseBody::Page(page) => {
            let items = Some(items_vector(&mut fbb, &page.items));
            let page_token = page.page_token.as_ref().map(|t| fbb.create_vector(t));
            let t = fb::Page::create(
                &mut fbb,
                &fb::PageArgs { items, page_token, scanned: page.scanned },
            );
            (fb::ResponseBody::Page, Some(t.as_union_value()))
        }
        ResponseBody::ClusterInfo(info) => {
            let address = Some(fbb.create_string(&info.address));
            let shards: Vec<_> = info
                .shards
                .iter()
                .map(|(shard, address)| {
                    let address = Some(fbb.create_string(address));
                    fb::ShardAddress::create(
                        &mut fbb,
                        &fb::ShardAddressArgs { shard: *shard, address },
                    )
                })
                .collect();
            let shards = Some(fbb.create_vector(&shards));
            let ring: Vec<_> = info
                .ring
                .iter()
                .map(|(token, node)| {
                    let node = Some(fbb.create_string(node));
                    fb::VnodeToken::create(&mut fbb, &fb::VnodeTokenArgs { token: *token, node })
                })
                .collect();
            let ring = Some(fbb.create_vector(&ring));
            let partitioner = Some(fbb.create_string(&info.partitioner));
            let sharding = Some(fbb.create_string(&info.sharding));
            let t = fb::ClusterInfoResult::create(
                &mut fbb,
                &fb::ClusterInfoResultArgs {
                    node_id: info.node_id,
                    address,
                    shards,
                    partitioner,
                    sharding,
                    sharding_ignore_msb: info.sharding_ignore_msb,
                    ring,
                },
            );
            (fb::ResponseBody::ClusterInfoResult, Some(t.as_union_value()))
        }
        ResponseBody::Row { row, digest } => {
            let row = row.as_ref().map(|r| fbb.create_vector(r));
            let t = fb::RowResult::create(&mut fbb, &fb::RowResultArgs { row, digest: *digest });
            (fb::ResponseBody::RowResult, Some(t.as_union_value()))
        }
        ResponseBody::Gossip(list) => {
            let list = Some(endpoints(&mut fbb, list));
            let t = fb::GossipSyn::create(&mut fbb, &fb::GossipSynArgs { endpoints: list });
            (fb::ResponseBody::GossipSyn, Some(t.as_union_value()))
        }
        ResponseBody::Schema(tables) => {
            let t = schema_push(&mut fbb, tables);
            (fb::ResponseBody::SchemaPush, Some(t.as_union_value()))
        }
        ResponseBody::Nodes(nodes) => {
            let views: Vec<_> = nodes
                .iter()
                .map(|v| {
                    let e = Some(endpoint(&mut fbb, &v.endpoint));
                    fb::NodeView::create(
                        &mut fbb,
                        &fb::NodeViewArgs { endpoint: e, up: v.up, phi: v.phi, tokens: v.tokens },
                    )
                })
                .collect();
            let nodes = Some(fbb.create_vector(&views));
            let t = fb::NodeStates::create(&mut fbb, &fb::NodeStatesArgs { nodes });
            (fb::ResponseBody::NodeStates, Some(t.as_union_value()))
        }
    };
    let warnings = if response.warnings.is_empty() {
        None
    } else {
        let w: Vec<_> = response.warnings.iter().map(|w| fbb.create_string(w)).collect();
        Some(fbb.create_vector(&w))
    };
    let root = fb::Response::create(
        &mut fbb,
        &fb::ResponseArgs {
            status: status_to_fb(response.status),
            message,
            body_type,
            body,
            warnings,
        },
    );
    fbb.finish_minimal(root);
    fbb.finished_data().to_vec()
}

fn decode_table_description(t: fb::TableDescription<'_>) -> Result<TableDescription> {
    Ok(TableDescription {
        spec: TableSpec {
            name: required(t.name(), "name")?.to_string(),
            partition_key: required(
                decode_key_attribute(t.partition_key(), "partition key name")?,
                "partition_key",
            )?,
            sort_key: decode_key_attribute(t.sort_key(), "sort key name")?,
            replication_factor: t.replication_factor(),
            compaction: compaction_from_fb(t.compaction())?,
            default_ttl_secs: t.default_ttl_secs(),
            ttl_attribute: owned(t.ttl_attribute()),
            options: decode_table_options(t.options())?,
        },
        id: t.id(),
        created_micros: t.created_micros(),
        altered_micros: t.altered_micros(),
    })
}

/// Decodes a response body.
///
/// # Errors
/// [`MessageError`] naming what was wrong.
pub fn decode_response(bytes: &[u8]) -> Result<Response> {
    let root = flatbuffers::root::<fb::Response>(bytes)
        .map_err(|e| MessageError::Flatbuffer(e.to_string()))?;
    let body = match root.body_type() {
        fb::ResponseBody::NONE => ResponseBody::Empty,
        fb::ResponseBody::TableDescription => ResponseBody::Table(decode_table_description(
            required(root.body_as_table_description(), "body")?,
        )?),
        fb::ResponseBody::TableList => {
            let t = required(root.body_as_table_list(), "body")?;
            let mut tables = Vec::new();
            for d in t.tables().iter().flatten() {
                tables.push(decode_table_description(d)?);
            }
            ResponseBody::Tables(tables)
        }
        fb::ResponseBody::ItemResult => {
            let t = required(root.body_as_item_result(), "body")?;
            ResponseBody::Item(match t.item() {
                Some(bytes) => Some(decode_item(bytes.bytes(), "item")?),
                None => None,
            })
        }
        fb::ResponseBody::BatchResult => {
            let t = required(root.body_as_batch_result(), "body")?;
            let mut results = Vec::new();
            for r in t.results().iter().flatten() {
                results.push(ItemStatus {
                    status: status_from_fb(r.status())?,
                    message: r.message().unwrap_or_default().to_string(),
                    item: match r.item() {
                        Some(bytes) => Some(decode_item(bytes.bytes(), "item")?),
                        None => None,
                    },
                });
            }
            ResponseBody::Batch(results)
        }
        fb::ResponseBody::Page => {
            let t = required(root.body_as_page(), "body")?;
            let mut items = Vec::new();
            for b in t.items().iter().flatten() {
                items.push(item_field(b.bytes(), "item")?);
            }
            ResponseBody::Page(Page {
                items,
                page_token: t.page_token().map(|b| b.bytes().to_vec()),
                scanned: t.scanned(),
            })
        }
        fb::ResponseBody::ClusterInfoResult => {
            let t = required(root.body_as_cluster_info_result(), "body")?;
            ResponseBody::ClusterInfo(ClusterInfo {
                node_id: t.node_id(),
                address: t.address().unwrap_or_default().to_string(),
                shards: t
                    .shards()
                    .iter()
                    .flatten()
                    .map(|s| (s.shard(), s.address().unwrap_or_default().to_string()))
                    .collect(),
                partitioner: t.partitioner().unwrap_or_default().to_string(),
                sharding: t.sharding().unwrap_or_default().to_string(),
                sharding_ignore_msb: t.sharding_ignore_msb(),
                ring: t
                    .ring()
                    .iter()
                    .flatten()
                    .map(|v| (v.token(), v.node().unwrap_or_default().to_string()))
                    .collect(),
            })
        }
        fb::ResponseBody::RowResult => {
            let t = required(root.body_as_row_result(), "body")?;
            ResponseBody::Row { row: t.row().map(|r| r.bytes().to_vec()), digest: t.digest() }
        }
        fb::ResponseBody::GossipSyn => {
            let t = required(root.body_as_gossip_syn(), "body")?;
            ResponseBody::Gossip(decode_endpoints(t.endpoints())?)
        }
        fb::ResponseBody::SchemaPush => {
            ResponseBody::Schema(decode_schema(required(root.body_as_schema_push(), "body")?)?)
        }
        fb::ResponseBody::NodeStates => {
            let t = required(root.body_as_node_states(), "body")?;
            let mut nodes = Vec::new();
            for v in t.nodes().iter().flatten() {
                nodes.push(NodeView {
                    endpoint: decode_endpoint(required(v.endpoint(), "endpoint")?)?,
                    up: v.up(),
                    phi: v.phi(),
                    tokens: v.tokens(),
                });
            }
            ResponseBody::Nodes(nodes)
        }
        other => return Err(invalid(format!("unknown response type {}", other.0))),
    };
    Ok(Response {
        status: status_from_fb(root.status())?,
        message: root.message().unwrap_or_default().to_string(),
        body,
        warnings: root.warnings().iter().flatten().map(str::to_string).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use shoal_types::{KeyType, Number, Value};

    fn item(pairs: &[(&str, Value)]) -> Item {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn n(text: &str) -> Value {
        Value::N(text.parse::<Number>().unwrap())
    }

    fn sample_requests() -> Vec<Request> {
        let key = item(&[("pk", Value::S("a".into())), ("sk", n("7"))]);
        let placeholders = Placeholders {
            names: [("#c".to_string(), "count".to_string())].into(),
            values: item(&[(":one", n("1"))]),
        };
        vec![
            Request::CreateTable {
                spec: TableSpec {
                    name: "t".into(),
                    partition_key: KeyAttribute { name: "pk".into(), key_type: KeyType::S },
                    sort_key: Some(KeyAttribute { name: "sk".into(), key_type: KeyType::N }),
                    replication_factor: 3,
                    compaction: Compaction::Leveled,
                    default_ttl_secs: 60,
                    ttl_attribute: None,
                    options: Default::default(),
                },
                if_not_exists: true,
            },
            Request::DescribeTable { name: "t".into() },
            Request::ListTables,
            Request::DropTable { name: "t".into(), if_exists: false },
            Request::GetItem {
                table: "t".into(),
                key: key.clone(),
                projection: Some("#c".into()),
                placeholders: placeholders.clone(),
            },
            Request::PutItem {
                table: "t".into(),
                item: item(&[("pk", Value::S("a".into())), ("l", Value::L(vec![Value::Null]))]),
                condition: Some("attribute_not_exists(pk)".into()),
                placeholders: Placeholders::default(),
                ttl_secs: 5,
                return_values: ReturnValues::AllOld,
            },
            Request::DeleteItem {
                table: "t".into(),
                key: key.clone(),
                condition: None,
                placeholders: Placeholders::default(),
                return_values: ReturnValues::None,
            },
            Request::UpdateItem {
                table: "t".into(),
                key: key.clone(),
                update: "ADD #c :one".into(),
                condition: None,
                placeholders: placeholders.clone(),
                ttl_secs: 0,
                return_values: ReturnValues::AllNew,
            },
            Request::BatchGet {
                table: "t".into(),
                keys: vec![key.clone(), key.clone()],
                projection: None,
                placeholders: Placeholders::default(),
            },
            Request::BatchWrite {
                table: "t".into(),
                ops: vec![
                    WriteOp::Put { item: key.clone(), ttl_secs: 9 },
                    WriteOp::Delete { key: key.clone() },
                ],
            },
            Request::Query(QueryRequest {
                table: "t".into(),
                key_condition: "pk = :one".into(),
                filter: Some("#c > :one".into()),
                projection: None,
                placeholders: placeholders.clone(),
                limit: 10,
                reverse: true,
                page_token: Some(vec![1, 2, 3]),
            }),
            Request::Scan(ScanRequest {
                table: "t".into(),
                segment: 2,
                total_segments: 4,
                filter: None,
                projection: Some("pk".into()),
                placeholders: Placeholders::default(),
                limit: 0,
                page_token: None,
            }),
            Request::ClusterInfo,
            Request::ReplicaWrite {
                table: TableRef { name: "t".into(), created_micros: 5 },
                key: vec![1, 2],
                row: vec![3],
            },
            Request::ReplicaRead {
                table: TableRef { name: "t".into(), created_micros: 5 },
                key: vec![1],
                digest_only: true,
            },
            Request::Gossip { endpoints: vec![sample_endpoint()] },
            Request::SchemaPush { tables: vec![(sample_table(), true), (sample_table(), false)] },
            Request::AlterTable { table: sample_table() },
            Request::NodeStatus,
        ]
    }

    fn sample_endpoint() -> Endpoint {
        Endpoint {
            node_id: 3,
            address: "127.0.0.2:7400".into(),
            internode: "127.0.0.2:7470".into(),
            generation: 9,
            version: 10,
            status: MemberStatus::Leaving,
            shards: 2,
            vnodes: 16,
            schema_version: 77,
            load_bytes: 1 << 30,
            http: "127.0.0.2:7480".into(),
        }
    }

    fn sample_table() -> TableDescription {
        TableDescription {
            spec: TableSpec {
                name: "t".into(),
                partition_key: KeyAttribute { name: "pk".into(), key_type: KeyType::S },
                sort_key: None,
                replication_factor: 3,
                compaction: Compaction::SizeTiered,
                default_ttl_secs: 0,
                ttl_attribute: Some("expires_at".into()),
                options: [("billing_mode".to_string(), "PROVISIONED".to_string())].into(),
            },
            id: 4,
            created_micros: 8,
            altered_micros: 9,
        }
    }

    /// Every kind of request has its own metrics label: no two kinds share an index, and
    /// the samples (one of each kind) cover [`OP_NAMES`].
    #[test]
    fn every_request_kind_has_its_own_op_name() {
        let mut seen = std::collections::BTreeSet::new();
        for request in sample_requests() {
            let index = request.op_index();
            assert!(index < OP_NAMES.len(), "{:?} indexes past OP_NAMES", request.op_name());
            assert_eq!(request.op_name(), OP_NAMES[index]);
            seen.insert(index);
        }
        assert_eq!(seen.len(), OP_NAMES.len(), "a sample of every kind, each its own name");
        let distinct: std::collections::BTreeSet<_> = OP_NAMES.iter().collect();
        assert_eq!(distinct.len(), OP_NAMES.len(), "names are unique");
    }

    #[test]
    fn every_request_round_trips() {
        for (i, request) in sample_requests().into_iter().enumerate() {
            let envelope = RequestEnvelope {
                header: RequestHeader {
                    consistency: Consistency::All,
                    coordinator: 9,
                    timestamp_micros: 1234 + i as u64,
                    timeout_ms: 100,
                    hops: 1,
                },
                request,
            };
            let bytes = encode_request(&envelope);
            assert_eq!(decode_request(&bytes).unwrap(), envelope);
        }
    }

    #[test]
    fn every_response_round_trips() {
        let description = TableDescription {
            spec: TableSpec {
                name: "t".into(),
                partition_key: KeyAttribute { name: "pk".into(), key_type: KeyType::B },
                sort_key: None,
                replication_factor: 1,
                compaction: Compaction::SizeTiered,
                default_ttl_secs: 0,
                ttl_attribute: None,
                options: Default::default(),
            },
            id: 3,
            created_micros: 99,
            altered_micros: 0,
        };
        let one = item(&[("a", Value::Bool(true))]);
        let bodies = vec![
            ResponseBody::Empty,
            ResponseBody::Table(description.clone()),
            ResponseBody::Tables(vec![description.clone(), description]),
            ResponseBody::Item(None),
            ResponseBody::Item(Some(one.clone())),
            ResponseBody::Batch(vec![
                ItemStatus { status: Status::Ok, message: String::new(), item: Some(one.clone()) },
                ItemStatus { status: Status::TooLarge, message: "big".into(), item: None },
            ]),
            ResponseBody::Page(Page {
                items: vec![one.clone(), one],
                page_token: Some(vec![0xff]),
                scanned: 7,
            }),
            ResponseBody::ClusterInfo(ClusterInfo {
                node_id: 5,
                address: "127.0.0.1:7400".into(),
                shards: vec![(0, "127.0.0.1:7401".into())],
                partitioner: "xxh3".into(),
                sharding: "ignore-msb".into(),
                sharding_ignore_msb: 12,
                ring: vec![(1, "127.0.0.1:7400".into())],
            }),
            ResponseBody::Row { row: Some(vec![1, 2]), digest: 9 },
            ResponseBody::Row { row: None, digest: 0 },
            ResponseBody::Gossip(vec![sample_endpoint()]),
            ResponseBody::Schema(vec![(sample_table(), true)]),
            ResponseBody::Nodes(vec![NodeView {
                endpoint: sample_endpoint(),
                up: true,
                phi: 0.5,
                tokens: 16,
            }]),
        ];
        for body in bodies {
            let response = Response {
                status: Status::ConditionFailed,
                message: "why".into(),
                body,
                warnings: vec!["w".into()],
            };
            assert_eq!(decode_response(&encode_response(&response)).unwrap(), response);
        }
    }

    #[test]
    fn an_encoded_item_travels_as_the_item() {
        let one = item(&[("a", Value::Bool(true)), ("b", n("12.5"))]);
        for (plain, encoded) in [
            (
                ResponseBody::Item(Some(one.clone())),
                ResponseBody::EncodedItem(Some(encode_item(&one))),
            ),
            (ResponseBody::Item(None), ResponseBody::EncodedItem(None)),
        ] {
            let wire = encode_response(&Response::ok(encoded.clone()));
            assert_eq!(wire, encode_response(&Response::ok(plain.clone())), "same bytes");
            assert_eq!(decode_response(&wire).unwrap().body, plain);
            assert_eq!(encoded.with_decoded_item().unwrap(), plain);
        }
        let broken = ResponseBody::EncodedItem(Some(vec![0x08, 0x05]));
        assert!(broken.with_decoded_item().is_err(), "an undecodable item is an error");
    }

    #[test]
    fn truncated_requests_are_refused_not_panicking() {
        for request in sample_requests() {
            let bytes =
                encode_request(&RequestEnvelope { header: RequestHeader::default(), request });
            for cut in 0..bytes.len() {
                let _ = decode_request(&bytes[..cut]);
            }
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_request(&data);
            let _ = decode_response(&data);
        }

        #[test]
        fn flipped_bytes_never_panic(index in any::<usize>(), byte in any::<u8>()) {
            for request in sample_requests() {
                let mut bytes =
                    encode_request(&RequestEnvelope { header: RequestHeader::default(), request });
                let at = index % bytes.len();
                bytes[at] = byte;
                let _ = decode_request(&bytes);
            }
        }
    }
}
