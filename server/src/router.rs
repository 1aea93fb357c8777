//! Where a request runs: on this shard, on the shard that owns its partition (forwarded
//! over the mesh with its original bytes), on shard 0 for schema changes, or split across
//! shards for batches.

use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use shoal_engine::runtime::{spawn, Queue};
use shoal_net::{
    decode_request, decode_response, encode_request, encode_response, ClusterInfo, ItemStatus,
    Request, RequestEnvelope, Response, ResponseBody, Status, TableDescription,
};
use shoal_types::partitioner::{shard_of, token, SHARD_IGNORE_MSB_BITS};

use crate::keys::partition_key;
use crate::mesh::MeshMessage;
use crate::ops::{self, OpError, OpResult, WriteOptions};
use crate::range;
use crate::schema;
use crate::shard::Shard;

/// Most keys in one BATCH GET (DynamoDB's limit).
pub const BATCH_GET_MAX: usize = 100;
/// Most writes in one BATCH WRITE (DynamoDB's limit).
pub const BATCH_WRITE_MAX: usize = 25;
/// Names of the token and shard functions, sent to clients in `ClusterInfo`.
pub const PARTITIONER: &str = "xxh3-64";
/// See [`PARTITIONER`].
pub const SHARDING: &str = "ignore-msb";

enum Target {
    Here,
    Shard(usize),
    Split,
}

fn table(shard: &Shard, name: &str) -> OpResult<TableDescription> {
    shard
        .catalog
        .borrow()
        .get(name)
        .cloned()
        .ok_or_else(|| OpError::new(Status::UnknownTable, format!("no table named {name:?}")))
}

fn owner_of_item(shard: &Shard, table_name: &str, item: &shoal_net::Item) -> OpResult<usize> {
    let t = table(shard, table_name)?;
    let pk = partition_key(&t.spec, item).map_err(OpError::bad)?;
    Ok(shard_index(token(&pk), shard.count))
}

fn shard_index(token: u64, count: usize) -> usize {
    shard_of(token, u32::try_from(count).unwrap_or(1)) as usize
}

fn target(shard: &Shard, request: &Request) -> OpResult<Target> {
    Ok(match request {
        Request::CreateTable { .. } | Request::DropTable { .. } => Target::Shard(0),
        Request::DescribeTable { .. } | Request::ListTables | Request::ClusterInfo => Target::Here,
        Request::GetItem { table, key, .. }
        | Request::DeleteItem { table, key, .. }
        | Request::UpdateItem { table, key, .. } => {
            Target::Shard(owner_of_item(shard, table, key)?)
        }
        Request::PutItem { table, item, .. } => Target::Shard(owner_of_item(shard, table, item)?),
        Request::Query(q) => {
            let t = table(shard, &q.table)?;
            Target::Shard(shard_index(token(&range::query_partition(&t, q)?), shard.count))
        }
        Request::Scan(s) => Target::Shard(range::scan_shard(s, shard.count)?),
        Request::BatchGet { .. } | Request::BatchWrite { .. } => Target::Split,
    })
}

/// Handles a request body from a client connection; returns the response body.
pub async fn handle_client_request(shard: &Rc<Shard>, body: &[u8]) -> Vec<u8> {
    let started = Instant::now();
    let envelope = match decode_request(body) {
        Ok(envelope) => envelope,
        Err(e) => {
            shard.metrics.bad_frames.fetch_add(1, Relaxed);
            return encode_response(&Response::error(Status::BadRequest, e.to_string()));
        }
    };
    let op = envelope.request.op_name();
    let timeout = match envelope.header.timeout_ms {
        0 => shard.node.settings.request_timeout,
        ms => std::time::Duration::from_millis(u64::from(ms)),
    };
    // The request runs as its own task, so a timeout answers the client without cancelling
    // a write halfway (which would leave it logged but not applied until a restart).
    let task = {
        let shard = shard.clone();
        let raw = body.to_vec();
        spawn(Queue::Foreground, async move { route(&shard, envelope, &raw).await })
    };
    let timed_out = async {
        shoal_engine::runtime::sleep(timeout).await;
        Response::error(
            Status::Timeout,
            format!("no answer within {} ms; a write may still be applied", timeout.as_millis()),
        )
    };
    let finished = async {
        task.join()
            .await
            .unwrap_or_else(|| Response::error(Status::Internal, "request task cancelled"))
    };
    let response = futures_lite::future::or(finished, timed_out).await;
    shard.metrics.record(op, started.elapsed(), response.status != Status::Ok);
    encode_response(&response)
}

async fn route(shard: &Rc<Shard>, envelope: RequestEnvelope, raw: &[u8]) -> Response {
    match target(shard, &envelope.request) {
        Err(e) => e.into_response(),
        Ok(Target::Here) => execute(shard, envelope).await,
        Ok(Target::Shard(s)) if s == shard.id => execute(shard, envelope).await,
        Ok(Target::Shard(s)) => forward(shard, s, raw.to_vec()).await,
        Ok(Target::Split) => {
            split_batch(shard, envelope).await.unwrap_or_else(OpError::into_response)
        }
    }
}

/// Sends an encoded request to shard `to` and returns its response.
async fn forward(shard: &Rc<Shard>, to: usize, body: Vec<u8>) -> Response {
    let Some(mesh) = &shard.mesh else {
        return Response::error(Status::Internal, format!("no mesh to reach shard {to}"));
    };
    shard.metrics.cross_core_forwards.fetch_add(1, Relaxed);
    let from = shard.id;
    match mesh.call(to, |tag| MeshMessage::Request { from, tag, body }).await {
        Ok(bytes) => decode_response(&bytes).unwrap_or_else(|e| {
            Response::error(Status::Internal, format!("shard {to} answered badly: {e}"))
        }),
        Err(e) => Response::error(Status::Unavailable, e),
    }
}

/// Handles a message from another shard (on this shard's receive loop: must not block).
pub fn handle_mesh_message(shard: &Rc<Shard>, message: MeshMessage) {
    match message {
        MeshMessage::Reply { tag, body } => {
            if let Some(mesh) = &shard.mesh {
                mesh.complete(tag, body);
            }
        }
        MeshMessage::Request { from, tag, body } => {
            shard.metrics.cross_core_received.fetch_add(1, Relaxed);
            let shard = shard.clone();
            spawn(Queue::Foreground, async move {
                let response = match decode_request(&body) {
                    Ok(envelope) => execute(&shard, envelope).await,
                    Err(e) => Response::error(Status::BadRequest, e.to_string()),
                };
                if let Some(mesh) = &shard.mesh {
                    mesh.reply(from, tag, encode_response(&response)).await;
                }
            });
        }
        MeshMessage::Catalog { from, tag, body } => {
            let shard = shard.clone();
            spawn(Queue::Foreground, async move {
                let result = match decode_response(&body) {
                    Ok(Response { body: ResponseBody::Tables(tables), .. }) => {
                        schema::apply_catalog(&shard, tables).await.map_err(|e| e.message)
                    }
                    Ok(_) => Err("catalog message without tables".to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match result {
                    Ok(()) => shard.catalog_loaded(),
                    Err(e) => shard
                        .node
                        .fail(format!("shard {}: cannot apply the catalog: {e}", shard.id)),
                }
                if let Some(mesh) = &shard.mesh {
                    mesh.reply(from, tag, Vec::new()).await;
                }
            });
        }
    }
}

fn cluster_info(shard: &Shard) -> ClusterInfo {
    let settings = &shard.node.settings;
    ClusterInfo {
        node_id: settings.node_id,
        address: settings.listen.to_string(),
        shards: settings
            .shard_addrs
            .iter()
            .enumerate()
            .map(|(i, a)| (u32::try_from(i).unwrap_or(u32::MAX), a.to_string()))
            .collect(),
        partitioner: PARTITIONER.to_string(),
        sharding: SHARDING.to_string(),
        sharding_ignore_msb: u8::try_from(SHARD_IGNORE_MSB_BITS).unwrap_or(12),
        ring: shard.node.ring.tokens().map(|(t, m)| (t, m.address.clone())).collect(),
    }
}

/// Executes a request that belongs to this shard.
async fn execute(shard: &Rc<Shard>, envelope: RequestEnvelope) -> Response {
    let ts = envelope.header.timestamp_micros;
    let result: OpResult<Response> = match envelope.request {
        Request::CreateTable { spec, if_not_exists } => {
            schema::create_table(shard, spec, if_not_exists).await
        }
        Request::DropTable { name, if_exists } => schema::drop_table(shard, &name, if_exists).await,
        Request::DescribeTable { name } => {
            table(shard, &name).map(|t| Response::ok(ResponseBody::Table(t)))
        }
        Request::ListTables => Ok(Response::ok(ResponseBody::Tables(
            shard.catalog.borrow().tables().cloned().collect(),
        ))),
        Request::ClusterInfo => Ok(Response::ok(ResponseBody::ClusterInfo(cluster_info(shard)))),
        Request::GetItem { table: name, key, projection, placeholders } => {
            match table(shard, &name) {
                Ok(t) => ops::get(shard, &t, &key, projection.as_deref(), &placeholders).await,
                Err(e) => Err(e),
            }
        }
        Request::PutItem {
            table: name,
            item,
            condition,
            placeholders,
            ttl_secs,
            return_values,
        } => match table(shard, &name) {
            Ok(t) => {
                let options = WriteOptions {
                    condition: condition.as_deref(),
                    placeholders: &placeholders,
                    ttl_secs,
                    return_values,
                    timestamp_micros: ts,
                };
                ops::put(shard, &t, item, options).await
            }
            Err(e) => Err(e),
        },
        Request::DeleteItem { table: name, key, condition, placeholders, return_values } => {
            match table(shard, &name) {
                Ok(t) => {
                    let options = WriteOptions {
                        condition: condition.as_deref(),
                        placeholders: &placeholders,
                        ttl_secs: 0,
                        return_values,
                        timestamp_micros: ts,
                    };
                    ops::delete(shard, &t, &key, options).await
                }
                Err(e) => Err(e),
            }
        }
        Request::UpdateItem {
            table: name,
            key,
            update,
            condition,
            placeholders,
            ttl_secs,
            return_values,
        } => match table(shard, &name) {
            Ok(t) => {
                let options = WriteOptions {
                    condition: condition.as_deref(),
                    placeholders: &placeholders,
                    ttl_secs,
                    return_values,
                    timestamp_micros: ts,
                };
                ops::update(shard, &t, &key, &update, options).await
            }
            Err(e) => Err(e),
        },
        Request::Query(q) => match table(shard, &q.table) {
            Ok(t) => range::query(shard, &t, &q).await,
            Err(e) => Err(e),
        },
        Request::Scan(s) => match table(shard, &s.table) {
            Ok(t) => range::scan(shard, &t, &s).await,
            Err(e) => Err(e),
        },
        Request::BatchGet { table: name, keys, projection, placeholders } => {
            match table(shard, &name) {
                Ok(t) => {
                    let mut exprs = ops::Expressions::new(&placeholders);
                    match exprs
                        .projection(projection.as_deref())
                        .and_then(|p| exprs.finish().map(|()| p))
                    {
                        Ok(paths) => {
                            let mut results = Vec::with_capacity(keys.len());
                            for key in &keys {
                                results.push(ops::batch_get_one(shard, &t, key, &paths).await);
                            }
                            Ok(Response::ok(ResponseBody::Batch(results)))
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        }
        Request::BatchWrite { table: name, ops: writes } => match table(shard, &name) {
            Ok(t) => {
                let mut results = Vec::with_capacity(writes.len());
                for op in writes {
                    results.push(ops::batch_write_one(shard, &t, op, ts).await);
                }
                Ok(Response::ok(ResponseBody::Batch(results)))
            }
            Err(e) => Err(e),
        },
    };
    result.unwrap_or_else(OpError::into_response)
}

/// Splits a batch by owning shard, runs the parts (remote ones concurrently) and puts the
/// per-item results back in request order.
async fn split_batch(shard: &Rc<Shard>, envelope: RequestEnvelope) -> OpResult<Response> {
    let header = envelope.header;
    let (table_name, len) = match &envelope.request {
        Request::BatchGet { table, keys, .. } => {
            if keys.len() > BATCH_GET_MAX {
                return Err(OpError::bad(format!(
                    "a batch get holds at most {BATCH_GET_MAX} keys, got {}",
                    keys.len()
                )));
            }
            (table.clone(), keys.len())
        }
        Request::BatchWrite { table, ops } => {
            if ops.len() > BATCH_WRITE_MAX {
                return Err(OpError::bad(format!(
                    "a batch write holds at most {BATCH_WRITE_MAX} writes, got {}",
                    ops.len()
                )));
            }
            (table.clone(), ops.len())
        }
        _ => return Err(OpError::new(Status::Internal, "split_batch on a non-batch request")),
    };
    let t = table(shard, &table_name)?;
    let mut results: Vec<Option<ItemStatus>> = vec![None; len];
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); shard.count];
    let item_of = |i: usize| -> Option<&shoal_net::Item> {
        match &envelope.request {
            Request::BatchGet { keys, .. } => keys.get(i),
            Request::BatchWrite { ops, .. } => ops.get(i).map(|op| match op {
                shoal_net::WriteOp::Put { item, .. } => item,
                shoal_net::WriteOp::Delete { key } => key,
            }),
            _ => None,
        }
    };
    for i in 0..len {
        let Some(item) = item_of(i) else { continue };
        match partition_key(&t.spec, item) {
            Ok(pk) => {
                if let Some(group) = groups.get_mut(shard_index(token(&pk), shard.count)) {
                    group.push(i);
                }
            }
            Err(message) => {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(ItemStatus { status: Status::BadRequest, message, item: None });
                }
            }
        }
    }
    let mut tasks = Vec::new();
    for (owner, indexes) in groups.into_iter().enumerate() {
        if indexes.is_empty() {
            continue;
        }
        let request = match &envelope.request {
            Request::BatchGet { table, keys, projection, placeholders } => Request::BatchGet {
                table: table.clone(),
                keys: indexes.iter().filter_map(|i| keys.get(*i).cloned()).collect(),
                projection: projection.clone(),
                placeholders: placeholders.clone(),
            },
            Request::BatchWrite { table, ops } => Request::BatchWrite {
                table: table.clone(),
                ops: indexes.iter().filter_map(|i| ops.get(*i).cloned()).collect(),
            },
            _ => continue,
        };
        let part = RequestEnvelope { header: header.clone(), request };
        let shard = shard.clone();
        let task = spawn(Queue::Foreground, async move {
            if owner == shard.id {
                execute(&shard, part).await
            } else {
                forward(&shard, owner, encode_request(&part)).await
            }
        });
        tasks.push((indexes, task));
    }
    for (indexes, task) in tasks {
        let response = task
            .join()
            .await
            .unwrap_or_else(|| Response::error(Status::Internal, "a batch part was cancelled"));
        match response.body {
            ResponseBody::Batch(parts) if parts.len() == indexes.len() => {
                for (i, status) in indexes.into_iter().zip(parts) {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(status);
                    }
                }
            }
            _ => {
                // The whole part failed (bad projection, unknown table on that shard...).
                return Ok(Response::error(response.status, response.message));
            }
        }
    }
    let results = results
        .into_iter()
        .map(|r| {
            r.unwrap_or(ItemStatus {
                status: Status::Internal,
                message: "no result".into(),
                item: None,
            })
        })
        .collect();
    Ok(Response::ok(ResponseBody::Batch(results)))
}
