//! Creating and dropping tables (on shard 0, the schema's owner) and applying the catalog
//! on every shard. See [`crate::catalog`] for the invariants.

use std::ops::Bound;
use std::rc::Rc;

use shoal_engine::{CompactionStrategy, ScanRange, TableOptions};
use shoal_net::{
    encode_response, Compaction, Response, ResponseBody, Status, TableDescription, TableSpec,
};
use shoal_types::key::KeyValue;
use shoal_types::partitioner::token;
use shoal_types::{ItemKey, Row};

use crate::catalog::{from_row, to_row, validate_spec, Catalog, SYSTEM_TABLE_ID};
use crate::mesh::MeshMessage;
use crate::ops::{OpError, OpResult};
use crate::shard::Shard;

fn system_key(name: &str) -> ItemKey {
    let partition = KeyValue::S(name.to_string());
    ItemKey { token: token(&partition), partition, sort: None }
}

/// Every row of the system table: tables and whether each was dropped.
pub async fn load_system_table(shard: &Shard) -> OpResult<Vec<(TableDescription, bool)>> {
    let mut rows = Vec::new();
    let mut lower = Bound::Unbounded;
    loop {
        let range = ScanRange { lower, upper: Bound::Unbounded, reverse: false, limit: 1000 };
        let page = shard.engine.scan(SYSTEM_TABLE_ID, &range).await?;
        for (_, attrs) in page.items {
            rows.push(from_row(&attrs).map_err(|e| OpError::new(Status::Internal, e))?);
        }
        match page.resume_after {
            Some(key) => lower = Bound::Excluded(key),
            None => return Ok(rows),
        }
    }
}

/// The tables of the system table that are not dropped.
async fn live_system_tables(shard: &Shard) -> OpResult<Vec<TableDescription>> {
    let rows = load_system_table(shard).await?;
    Ok(rows.into_iter().filter(|(_, dropped)| !dropped).map(|(t, _)| t).collect())
}

fn strategy(c: Compaction) -> CompactionStrategy {
    match c {
        Compaction::SizeTiered => CompactionStrategy::SizeTiered,
        Compaction::Leveled => CompactionStrategy::Leveled,
    }
}

/// Makes this shard's engine and catalog copy match `tables`: creates missing engine tables,
/// drops engine tables no longer in the catalog (never the system table).
pub async fn apply_catalog(shard: &Shard, tables: Vec<TableDescription>) -> OpResult<()> {
    let existing = shard.engine.tables();
    for t in &tables {
        if !existing.contains(&t.id) {
            let options = TableOptions { strategy: strategy(t.spec.compaction) };
            shard.engine.create_table(t.id, options).await?;
        }
        shard.engine.set_expiry_attribute(t.id, t.spec.ttl_attribute.clone())?;
    }
    for id in existing {
        let is_system =
            (shard.id == 0 && id == SYSTEM_TABLE_ID) || id == crate::hints::HINTS_TABLE_ID;
        if !is_system && !tables.iter().any(|t| t.id == id) {
            shard.engine.drop_table(id).await?;
        }
    }
    *shard.catalog.borrow_mut() = Catalog::new(tables);
    if let Some(membership) = shard.membership.borrow().as_ref() {
        membership.set_schema_version(schema_version_of(shard));
    }
    Ok(())
}

/// A digest of the live tables (names and creation times), compared through gossip.
pub fn schema_version_of(shard: &Shard) -> u64 {
    let mut bytes = Vec::new();
    for t in shard.catalog.borrow().tables() {
        bytes.extend_from_slice(t.spec.name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&t.created_micros.to_be_bytes());
        bytes.extend_from_slice(&t.altered_micros.to_be_bytes());
    }
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// Merges another node's schema into ours (shard 0): a table we lack, or a newer
/// incarnation of one (a later creation time), is adopted under a fresh local id; a drop of
/// the incarnation we hold is applied. Returns whether anything changed.
pub async fn merge_remote(
    shard: &Rc<Shard>,
    remote: Vec<(TableDescription, bool)>,
) -> OpResult<bool> {
    let _guard = shard.lock_key(b"\0schema").await;
    let rows = load_system_table(shard).await?;
    let mut next_id = rows.iter().map(|(t, _)| t.id).max().unwrap_or(SYSTEM_TABLE_ID) + 1;
    let mut changed = false;
    for (theirs, dropped) in remote {
        let ours = rows.iter().find(|(t, _)| t.spec.name == theirs.spec.name);
        let adopt = match ours {
            None => !dropped,
            Some((t, _)) if theirs.created_micros > t.created_micros => true,
            // The same incarnation: a drop wins, then the later alteration.
            Some((t, our_drop)) => {
                theirs.created_micros == t.created_micros
                    && !our_drop
                    && (dropped || theirs.altered_micros > t.altered_micros)
            }
        };
        if !adopt {
            continue;
        }
        let mut table = theirs.clone();
        if let Some((t, _)) = ours.filter(|(t, _)| t.created_micros == theirs.created_micros) {
            table.id = t.id;
        } else {
            table.id = next_id;
            next_id += 1;
        }
        let ts = shard.timestamp(0);
        let row = Row::put_item(ts, to_row(&table, dropped.then_some(ts)), 0);
        shard.engine.write(SYSTEM_TABLE_ID, &system_key(&table.spec.name), row).await?;
        changed = true;
    }
    if changed {
        let live = live_system_tables(shard).await?;
        apply_catalog(shard, live.clone()).await?;
        broadcast_catalog(shard, &live).await?;
        tracing::info!(tables = live.len(), "schema merged from a peer");
    }
    Ok(changed)
}

async fn all_rows(shard: &Shard) -> OpResult<Vec<(TableDescription, bool)>> {
    load_system_table(shard).await
}

/// A peer's schema push: merge it, answer with ours.
pub async fn on_push(
    shard: &Rc<Shard>,
    tables: Vec<(TableDescription, bool)>,
) -> OpResult<Response> {
    merge_remote(shard, tables).await?;
    Ok(Response::ok(ResponseBody::Schema(all_rows(shard).await?)))
}

/// Exchanges schemas with `peer` (an internode address): both end up with the union.
pub async fn exchange_with(shard: &Rc<Shard>, peer: &str) {
    let Ok(ours) = all_rows(shard).await else { return };
    let Some(peers) = &shard.peers else { return };
    let timeout = shard.node.settings.internode_timeout;
    let request = shoal_net::Request::SchemaPush { tables: ours };
    if let Ok(response) =
        peers.call(peer, shoal_net::RequestHeader::default(), request, timeout).await
    {
        if let ResponseBody::Schema(theirs) = response.body {
            if let Err(e) = merge_remote(shard, theirs).await {
                tracing::warn!(peer, error = %e.message, "cannot merge a peer's schema");
            }
        }
    }
}

/// After a create or drop: gives the schema to every live peer now, so the change is in
/// force on every node that is up once it is acknowledged (gossip repairs the others).
async fn push_to_peers(shard: &Rc<Shard>) {
    let view = shard.node.view();
    let me = shard.node.settings.node_id;
    for (id, endpoint) in &view.endpoints {
        if *id != me && view.is_up(*id) {
            exchange_with(shard, &endpoint.internode).await;
        }
    }
}

/// Sends the catalog to every other shard and waits until each applied it.
pub async fn broadcast_catalog(shard: &Rc<Shard>, tables: &[TableDescription]) -> OpResult<()> {
    let Some(mesh) = &shard.mesh else { return Ok(()) };
    let body = encode_response(&Response::ok(ResponseBody::Tables(tables.to_vec())));
    for to in (0..shard.count).filter(|s| *s != shard.id) {
        let body = body.clone();
        let from = shard.id;
        mesh.call(to, |tag| MeshMessage::Catalog { from, tag, body })
            .await
            .map_err(|e| OpError::new(Status::Unavailable, e))?;
    }
    Ok(())
}

/// Shard 0 at start-up: loads the schema and gives it to every shard.
pub async fn bootstrap(shard: &Rc<Shard>) -> OpResult<()> {
    debug_assert_eq!(shard.id, 0, "the schema lives on shard 0");
    if !shard.engine.tables().contains(&SYSTEM_TABLE_ID) {
        shard.engine.create_table(SYSTEM_TABLE_ID, TableOptions::default()).await?;
    }
    let live = live_system_tables(shard).await?;
    apply_catalog(shard, live.clone()).await?;
    broadcast_catalog(shard, &live).await
}

fn live_tables(shard: &Shard) -> Vec<TableDescription> {
    shard.catalog.borrow().tables().cloned().collect()
}

/// The end of every schema change on shard 0, under the schema lock `guard`: stores
/// `table`'s system-table row (marked dropped if `dropped`), makes `tables` the catalog of
/// every shard, then releases the lock and pushes the schema to the peers.
async fn commit_change(
    shard: &Rc<Shard>,
    guard: shoal_engine::runtime::AsyncLockGuard,
    table: &TableDescription,
    dropped: bool,
    tables: Vec<TableDescription>,
) -> OpResult<()> {
    let ts = shard.timestamp(0);
    let row = Row::put_item(ts, to_row(table, dropped.then_some(ts)), 0);
    shard.engine.write(SYSTEM_TABLE_ID, &system_key(&table.spec.name), row).await?;
    apply_catalog(shard, tables.clone()).await?;
    broadcast_catalog(shard, &tables).await?;
    drop(guard);
    push_to_peers(shard).await;
    Ok(())
}

/// CREATE TABLE, on shard 0.
pub async fn create_table(
    shard: &Rc<Shard>,
    mut spec: TableSpec,
    if_not_exists: bool,
) -> OpResult<Response> {
    validate_spec(&spec).map_err(OpError::bad)?;
    let guard = shard.lock_key(b"\0schema").await;
    if let Some(existing) = shard.catalog.borrow().get(&spec.name) {
        if if_not_exists {
            return Ok(Response::ok(ResponseBody::Table(existing.clone())));
        }
        return Err(OpError::new(
            Status::TableExists,
            format!("table {:?} already exists", spec.name),
        ));
    }
    if spec.compaction == Compaction::SizeTiered {
        spec.compaction = shard.node.settings.default_compaction;
    }
    let rows = load_system_table(shard).await?;
    let id = rows.iter().map(|(t, _)| t.id).max().unwrap_or(SYSTEM_TABLE_ID) + 1;
    let created_micros = shard.engine.clock().now_micros();
    let table = TableDescription { spec, id, created_micros, altered_micros: 0 };
    let mut tables = live_tables(shard);
    tables.push(table.clone());
    commit_change(shard, guard, &table, false, tables).await?;
    let mut response = Response::ok(ResponseBody::Table(table.clone()));
    let view = shard.node.view();
    let nodes = view.ring.members().len();
    let rf = usize::from(table.spec.replication_factor);
    if rf > nodes {
        let warning = format!(
            "replication factor {rf} exceeds the {nodes} node(s) in the ring: table {:?} has {} replica(s) until more nodes join",
            table.spec.name,
            view.ring.effective_replicas(rf)
        );
        tracing::warn!(table = %table.spec.name, "{warning}");
        response.warnings.push(warning);
    }
    tracing::info!(table = %table.spec.name, id = table.id, "table created");
    Ok(response)
}

/// ALTER TABLE, on shard 0: replaces the TTL attribute and options of the incarnation and
/// version `wanted` names (optimistic concurrency: `ConditionFailed` if it changed since).
pub async fn alter_table(shard: &Rc<Shard>, wanted: TableDescription) -> OpResult<Response> {
    let guard = shard.lock_key(b"\0schema").await;
    let name = wanted.spec.name.clone();
    let Some(current) = shard.catalog.borrow().get(&name).cloned() else {
        return Err(OpError::new(Status::UnknownTable, format!("no table named {name:?}")));
    };
    if current.created_micros != wanted.created_micros
        || current.altered_micros != wanted.altered_micros
    {
        return Err(OpError::new(
            Status::ConditionFailed,
            format!("table {name:?} changed since it was read; read it again and retry"),
        ));
    }
    let keys_same = current.spec.partition_key == wanted.spec.partition_key
        && current.spec.sort_key == wanted.spec.sort_key
        && current.spec.replication_factor == wanted.spec.replication_factor
        && current.spec.compaction == wanted.spec.compaction
        && current.spec.default_ttl_secs == wanted.spec.default_ttl_secs;
    if !keys_same {
        return Err(OpError::bad(format!(
            "table {name:?}: only the TTL attribute and options can change"
        )));
    }
    if let Some(attribute) = &wanted.spec.ttl_attribute {
        if attribute.is_empty() || attribute.len() > 255 {
            return Err(OpError::bad("the TTL attribute name must be 1 to 255 bytes"));
        }
    }
    let table = TableDescription {
        spec: wanted.spec,
        id: current.id,
        created_micros: current.created_micros,
        // Strictly later than the version it replaces, whatever this node's clock says.
        altered_micros: shard.engine.clock().now_micros().max(current.altered_micros + 1),
    };
    let tables: Vec<TableDescription> = live_tables(shard)
        .into_iter()
        .map(|t| if t.spec.name == name { table.clone() } else { t })
        .collect();
    commit_change(shard, guard, &table, false, tables).await?;
    tracing::info!(table = %name, "table altered");
    Ok(Response::ok(ResponseBody::Table(table)))
}

/// DROP TABLE, on shard 0: marks the row dropped, then every shard drops the data.
pub async fn drop_table(shard: &Rc<Shard>, name: &str, if_exists: bool) -> OpResult<Response> {
    let guard = shard.lock_key(b"\0schema").await;
    let Some(table) = shard.catalog.borrow().get(name).cloned() else {
        if if_exists {
            return Ok(Response::ok(ResponseBody::Empty));
        }
        return Err(OpError::new(Status::UnknownTable, format!("no table named {name:?}")));
    };
    let tables: Vec<TableDescription> =
        live_tables(shard).into_iter().filter(|t| t.spec.name != name).collect();
    commit_change(shard, guard, &table, true, tables).await?;
    tracing::info!(table = %name, id = table.id, "table dropped");
    Ok(Response::ok(ResponseBody::Table(table)))
}
