//! `shoal admin`: looks inside the one node `--host` names.
//!
//! - `admin status`: the node's view of the cluster (`NodeStatus`), as a table or JSON.
//! - `admin replica-read`: the node's own stored row for a key (`ReplicaRead`), without
//!   coordination: no other replica is asked, nothing is repaired.
//!
//! Both use a client that never leaves `--host`: shard-aware routing off (it would go to the
//! owning shard's port, still on the same node, but say so anyway) and no retries.

use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use shoal_client::{Client, ClientConfig, RequestOptions};
use shoal_net::{Item, NodeView, Request, ResponseBody, TableDescription, TableRef, TableSpec};
use shoal_types::json::{value_to_plain_json, value_to_typed_json};
use shoal_types::key::{KeyType, KeyValue};
use shoal_types::partitioner::token;
use shoal_types::{ItemKey, Row, Value};

use crate::args::{AdminCommand, GlobalArgs, ReplicaReadArgs};
use crate::commands;
use crate::error::{CliError, Exit};
use crate::input::{self, Inputs};
use crate::output::item_json;

/// Runs an admin command against `--host`.
///
/// # Errors
/// Bad input, connection failures and server refusals as [`CliError`]s; a replica without a
/// live copy of the item exits 3.
pub fn run(global: &GlobalArgs, command: &AdminCommand) -> Result<(), CliError> {
    // Read the arguments before connecting, so bad input exits 2 without a node.
    let key = match command {
        AdminCommand::Status { .. } => None,
        AdminCommand::ReplicaRead(args) => {
            let mut inputs = Inputs::from_stdin();
            let json = inputs.json("KEY_JSON", &args.key)?;
            Some(input::item("KEY_JSON", &json, global.typed)?)
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::internal(format!("cannot start the tokio runtime: {e}")))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = runtime.block_on(async {
        let client = connect(global).await?;
        match (command, key) {
            (AdminCommand::Status { json }, _) => status(&client, global, *json, &mut out).await,
            (AdminCommand::ReplicaRead(args), Some(key)) => {
                replica_read(&client, global, args, &key, &mut out).await
            }
            (AdminCommand::ReplicaRead(_), None) => {
                Err(CliError::internal("replica-read without a key"))
            }
        }
    });
    let flushed = out.flush().map_err(|e| CliError::output(&e));
    result.and(flushed)
}

/// The client's settings: `--host` only, no shard-aware routing, no retries.
pub fn admin_client_config(global: &GlobalArgs) -> ClientConfig {
    ClientConfig { retries: 0, shard_aware: false, ..commands::client_config(global) }
}

async fn connect(global: &GlobalArgs) -> Result<Client, CliError> {
    Client::connect(admin_client_config(global))
        .await
        .map_err(|e| CliError::from_client(&e, &Request::NodeStatus))
}

fn options(global: &GlobalArgs) -> RequestOptions {
    RequestOptions { timeout: global.timeout.map(Duration::from_millis), ..Default::default() }
}

async fn status(
    client: &Client,
    global: &GlobalArgs,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let request = Request::NodeStatus;
    let response = client
        .request_with(request.clone(), options(global))
        .await
        .map_err(|e| CliError::from_client(&e, &request))?;
    let ResponseBody::Nodes(mut nodes) = response.body else {
        return Err(CliError::internal("unexpected response to node_status: not a node list"));
    };
    sort_nodes(&mut nodes);
    let text = if json { nodes_json(&nodes) } else { nodes_table(&nodes) };
    write!(out, "{text}").map_err(|e| CliError::output(&e))
}

/// By address (numerically when it parses), then node id.
pub fn sort_nodes(nodes: &mut [NodeView]) {
    nodes.sort_by(|a, b| {
        let key = |n: &NodeView| {
            (n.endpoint.address.parse::<SocketAddr>().ok(), n.endpoint.address.clone())
        };
        key(a).cmp(&key(b)).then(a.endpoint.node_id.cmp(&b.endpoint.node_id))
    });
}

/// `admin status --json`: an array, one object per node on its own line, members in a fixed
/// order. The node id and the schema digest are 16-digit hex strings (64-bit values do not
/// survive JSON readers that use doubles); phi is a number, or null when infinite.
pub fn nodes_json(nodes: &[NodeView]) -> String {
    if nodes.is_empty() {
        return "[]\n".to_owned();
    }
    let lines: Vec<String> = nodes.iter().map(|n| format!("  {}", node_json(n))).collect();
    format!("[\n{}\n]\n", lines.join(",\n"))
}

fn node_json(node: &NodeView) -> String {
    let e = &node.endpoint;
    let phi = serde_json::Number::from_f64(node.phi).map_or(Json::Null, Json::Number);
    let members: [(&str, Json); 14] = [
        ("node_id", Json::from(format!("{:016x}", e.node_id))),
        ("address", Json::from(e.address.as_str())),
        ("internode", Json::from(e.internode.as_str())),
        ("http", Json::from(e.http.as_str())),
        ("up", Json::from(node.up)),
        ("status", Json::from(e.status.as_str())),
        ("tokens", Json::from(node.tokens)),
        ("shards", Json::from(e.shards)),
        ("vnodes", Json::from(e.vnodes)),
        ("generation", Json::from(e.generation)),
        ("version", Json::from(e.version)),
        ("phi", phi),
        ("load_bytes", Json::from(e.load_bytes)),
        ("schema_version", Json::from(format!("{:016x}", e.schema_version))),
    ];
    let members: Vec<String> =
        members.iter().map(|(name, value)| format!("\"{name}\":{value}")).collect();
    format!("{{{}}}", members.join(","))
}

/// `admin status`: one line per node under a header, columns aligned.
pub fn nodes_table(nodes: &[NodeView]) -> String {
    let header = ["ADDRESS", "STATE", "STATUS", "TOKENS", "SHARDS", "PHI", "NODE ID", "LOAD"];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for node in nodes {
        let e = &node.endpoint;
        rows.push(vec![
            e.address.clone(),
            if node.up { "UP" } else { "DOWN" }.to_owned(),
            e.status.as_str().to_owned(),
            node.tokens.to_string(),
            e.shards.to_string(),
            if node.phi.is_finite() { format!("{:.1}", node.phi) } else { "inf".to_owned() },
            format!("{:016x}", e.node_id),
            human_bytes(e.load_bytes),
        ]);
    }
    let columns = header.len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(String::len).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> =
            row.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// Bytes in B, KiB, MiB, GiB or TiB with one decimal.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Precision is irrelevant for display.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = "KiB";
    for next in UNITS.iter().skip(1) {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

async fn replica_read(
    client: &Client,
    global: &GlobalArgs,
    args: &ReplicaReadArgs,
    key: &Item,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let table = describe(client, global, &args.table).await?;
    let engine_key = engine_key(&table.spec, key)?;
    let request = Request::ReplicaRead {
        table: TableRef { name: table.spec.name.clone(), created_micros: table.created_micros },
        key: engine_key.encode(),
        digest_only: false,
    };
    let response = client
        .request_with(request.clone(), options(global))
        .await
        .map_err(|e| CliError::from_client(&e, &request))?;
    let ResponseBody::Row { row, digest } = response.body else {
        return Err(CliError::internal("unexpected response to replica_read: not a row"));
    };
    let Some(bytes) = row else { return Err(CliError::silent(Exit::NotFound)) };
    let row = Row::decode(&bytes)
        .map_err(|e| CliError::internal(format!("the node sent an undecodable row: {e}")))?;
    let now_ms = now_ms();
    let live = row.live_attributes(now_ms);
    let line = if args.raw {
        Some(raw_row_json(&row, live.as_ref(), digest, now_ms, global.typed))
    } else {
        live.as_ref().map(|item| item_json(item, global.typed).to_string())
    };
    if let Some(line) = line {
        writeln!(out, "{line}").map_err(|e| CliError::output(&e))?;
    }
    if live.is_none() {
        return Err(CliError::silent(Exit::NotFound));
    }
    Ok(())
}

/// The table's description, from the same node.
async fn describe(
    client: &Client,
    global: &GlobalArgs,
    name: &str,
) -> Result<TableDescription, CliError> {
    // Describing is about a table the command uses: a missing one is bad input (exit 2).
    let used = Request::ReplicaRead {
        table: TableRef { name: name.to_owned(), created_micros: 0 },
        key: Vec::new(),
        digest_only: false,
    };
    let request = Request::DescribeTable { name: name.to_owned() };
    let response = client
        .request_with(request, options(global))
        .await
        .map_err(|e| CliError::from_client(&e, &used))?;
    match response.body {
        ResponseBody::Table(table) => Ok(table),
        _ => Err(CliError::internal("unexpected response to describe_table: not a table")),
    }
}

/// The engine key of `key` under `spec`: exactly the key attributes, of their types.
///
/// # Errors
/// Bad input naming `KEY_JSON` and the attribute.
pub fn engine_key(spec: &TableSpec, key: &Item) -> Result<ItemKey, CliError> {
    let bad = |reason: String| CliError::bad_input(format!("KEY_JSON: {reason}"));
    let pk = &spec.partition_key;
    let partition = key_value(&pk.name, pk.key_type, key.get(&pk.name)).map_err(bad)?;
    let sort = match &spec.sort_key {
        Some(sk) => Some(key_value(&sk.name, sk.key_type, key.get(&sk.name)).map_err(bad)?),
        None => None,
    };
    let extra: Vec<&String> = key
        .keys()
        .filter(|name| {
            **name != pk.name && spec.sort_key.as_ref().is_none_or(|sk| **name != sk.name)
        })
        .collect();
    if !extra.is_empty() {
        return Err(bad(format!(
            "a key holds only the table's key attributes; unexpected {extra:?}"
        )));
    }
    let item_key = ItemKey { token: token(&partition), partition, sort };
    item_key.validate().map_err(|e| bad(e.to_string()))?;
    Ok(item_key)
}

fn key_value(name: &str, want: KeyType, value: Option<&Value>) -> Result<KeyValue, String> {
    let Some(value) = value else { return Err(format!("missing key attribute {name:?}")) };
    match (want, value) {
        (KeyType::S, Value::S(s)) => Ok(KeyValue::S(s.clone())),
        (KeyType::N, Value::N(n)) => Ok(KeyValue::N(n.clone())),
        (KeyType::B, Value::B(b)) => Ok(KeyValue::B(b.clone())),
        (want, other) => Err(format!(
            "key attribute {name:?} must be of type {}, found {}",
            want.as_str(),
            other.type_name()
        )),
    }
}

/// `replica-read --raw`: the live item (or null) and the stored row, cell by cell:
/// `{"item": ..., "row_tombstone": TS|null, "cells": {NAME: {"ts": TS, "value": V|null,
/// "tombstone": bool, "expires_at_ms": MS, "live": bool}}, "digest": HEX}`; a cell is live
/// if it has a value, is newer than the row tombstone and has not expired.
pub fn raw_row_json(
    row: &Row,
    live: Option<&Item>,
    digest: u64,
    now_ms: u64,
    typed: bool,
) -> String {
    let item = live.map_or(Json::Null, |item| item_json(item, typed));
    let value_json = |value: &Value| {
        if typed {
            value_to_typed_json(value)
        } else {
            value_to_plain_json(value)
        }
    };
    let cells: Vec<String> = row
        .cells
        .iter()
        .map(|(name, cell)| {
            let shadowed = row.tombstone.is_some_and(|t| cell.ts <= t);
            let live = cell.value.is_some() && !shadowed && !cell.is_expired(now_ms);
            let members = [
                ("ts", Json::from(cell.ts)),
                ("value", cell.value.as_ref().map_or(Json::Null, value_json)),
                ("tombstone", Json::from(cell.value.is_none())),
                ("expires_at_ms", Json::from(cell.expires_at_ms)),
                ("live", Json::from(live)),
            ];
            let members: Vec<String> =
                members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{}:{{{}}}", Json::from(name.as_str()), members.join(","))
        })
        .collect();
    let row_tombstone = row.tombstone.map_or(Json::Null, Json::from);
    format!(
        "{{\"item\":{item},\"row_tombstone\":{row_tombstone},\"cells\":{{{}}},\"digest\":\"{digest:016x}\"}}",
        cells.join(",")
    )
}

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use shoal_net::{Endpoint, KeyAttribute, MemberStatus};
    use shoal_types::{Cell, DecodedKey, Number};

    use super::*;

    fn view(address: &str, up: bool, phi: f64) -> NodeView {
        NodeView {
            endpoint: Endpoint {
                node_id: 0xabc,
                address: address.to_owned(),
                internode: address.replace(":7400", ":7470"),
                generation: 17,
                version: 4,
                status: MemberStatus::Normal,
                shards: 2,
                vnodes: 16,
                schema_version: u64::MAX,
                load_bytes: 3 << 20,
                http: address.replace(":7400", ":7480"),
            },
            up,
            phi,
            tokens: 16,
        }
    }

    #[test]
    fn status_json_lists_every_member_in_order() {
        let nodes =
            [view("127.0.0.1:7400", true, 0.25), view("127.0.0.2:7400", false, f64::INFINITY)];
        let text = nodes_json(&nodes);
        let parsed: Json = serde_json::from_str(&text).unwrap();
        let array = parsed.as_array().unwrap();
        assert_eq!(array.len(), 2);
        let first = &array[0];
        assert_eq!(first["node_id"], "0000000000000abc");
        assert_eq!(first["address"], "127.0.0.1:7400");
        assert_eq!(first["internode"], "127.0.0.1:7470");
        assert_eq!(first["http"], "127.0.0.1:7480");
        assert_eq!(first["up"], true);
        assert_eq!(first["status"], "normal");
        assert_eq!(first["tokens"], 16);
        assert_eq!(first["shards"], 2);
        assert_eq!(first["vnodes"], 16);
        assert_eq!(first["generation"], 17);
        assert_eq!(first["version"], 4);
        assert_eq!(first["phi"], 0.25);
        assert_eq!(first["load_bytes"], 3 << 20);
        assert_eq!(first["schema_version"], "ffffffffffffffff");
        assert_eq!(array[1]["phi"], Json::Null);
        assert_eq!(array[1]["up"], false);
        let order = ["node_id", "address", "internode", "http", "up", "status", "tokens"];
        let positions: Vec<usize> =
            order.iter().map(|k| text.find(&format!("\"{k}\"")).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert_eq!(nodes_json(&[]), "[]\n");
    }

    #[test]
    fn status_table_aligns_columns() {
        let nodes = [view("127.0.0.10:7400", true, 1.26), view("127.0.0.2:7400", false, f64::NAN)];
        let text = nodes_table(&nodes);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ADDRESS          STATE  STATUS"), "{text}");
        assert!(lines[1].starts_with("127.0.0.10:7400  UP     normal  16"), "{text}");
        assert!(lines[1].contains(" 1.3 "), "{text}");
        assert!(lines[1].ends_with("0000000000000abc  3.0 MiB"), "{text}");
        assert!(lines[2].starts_with("127.0.0.2:7400   DOWN   normal"), "{text}");
        assert!(lines[2].contains(" inf "), "{text}");
    }

    #[test]
    fn nodes_sort_by_numeric_address() {
        let mut nodes = vec![view("127.0.0.10:7400", true, 0.0), view("127.0.0.9:7400", true, 0.0)];
        sort_nodes(&mut nodes);
        assert_eq!(nodes[0].endpoint.address, "127.0.0.9:7400");
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
        assert_eq!(human_bytes(u64::MAX), "16777216.0 TiB");
    }

    fn spec(sort: bool) -> TableSpec {
        TableSpec {
            name: "t".to_owned(),
            partition_key: KeyAttribute { name: "pk".to_owned(), key_type: KeyType::S },
            sort_key: sort.then(|| KeyAttribute { name: "sk".to_owned(), key_type: KeyType::N }),
            replication_factor: 3,
            compaction: shoal_net::Compaction::SizeTiered,
            default_ttl_secs: 0,
            ttl_attribute: None,
            options: Default::default(),
        }
    }

    fn item(json: &str) -> Item {
        input::item("KEY_JSON", &serde_json::from_str(json).unwrap(), false).unwrap()
    }

    #[test]
    fn engine_keys_carry_the_partition_token() {
        let key = engine_key(&spec(true), &item(r#"{"pk": "a", "sk": 5}"#)).unwrap();
        let partition = KeyValue::S("a".to_owned());
        assert_eq!(key.token, token(&partition));
        assert_eq!(key.partition, partition);
        assert_eq!(key.sort, Some(KeyValue::N(Number::parse("5").unwrap())));
        let DecodedKey::Item(decoded) = ItemKey::decode(&key.encode()).unwrap() else {
            panic!("not an item key")
        };
        assert_eq!(decoded, key);
        let key = engine_key(&spec(false), &item(r#"{"pk": "a"}"#)).unwrap();
        assert_eq!(key.sort, None);
    }

    #[test]
    fn engine_keys_refuse_bad_keys() {
        let message = |s: bool, json: &str| {
            let error = engine_key(&spec(s), &item(json)).unwrap_err();
            assert_eq!(error.exit, Exit::BadInput);
            error.message.unwrap()
        };
        assert!(message(true, r#"{"pk": "a"}"#).contains("missing key attribute \"sk\""));
        assert!(message(false, r#"{"pk": 1}"#).contains("must be of type S, found N"));
        assert!(message(false, r#"{"pk": "a", "x": 1}"#).contains("unexpected [\"x\"]"));
        assert!(message(false, r#"{"pk": ""}"#).starts_with("KEY_JSON: "));
    }

    #[test]
    fn raw_rows_show_cells_and_tombstones() {
        let mut row = Row { tombstone: Some(10), ..Row::default() };
        row.cells.insert("a".to_owned(), Cell::live(20, Value::S("x".to_owned()), 0));
        row.cells.insert("b".to_owned(), Cell::tombstone(30));
        row.cells.insert("c".to_owned(), Cell::live(5, Value::S("old".to_owned()), 0));
        row.cells.insert("d".to_owned(), Cell::live(25, Value::Bool(true), 1000));
        let live = row.live_attributes(2000);
        let text = raw_row_json(&row, live.as_ref(), 7, 2000, false);
        let json: Json = serde_json::from_str(&text).unwrap();
        assert_eq!(json["item"], serde_json::json!({"a": "x"}));
        assert_eq!(json["row_tombstone"], 10);
        assert_eq!(json["digest"], "0000000000000007");
        assert_eq!(json["cells"]["a"]["ts"], 20);
        assert_eq!(json["cells"]["a"]["value"], "x");
        assert_eq!(json["cells"]["a"]["live"], true);
        assert_eq!(json["cells"]["b"]["tombstone"], true);
        assert_eq!(json["cells"]["b"]["value"], Json::Null);
        assert_eq!(json["cells"]["c"]["live"], false);
        assert_eq!(json["cells"]["d"]["expires_at_ms"], 1000);
        assert_eq!(json["cells"]["d"]["live"], false);
        let typed = raw_row_json(&row, live.as_ref(), 7, 2000, true);
        let json: Json = serde_json::from_str(&typed).unwrap();
        assert_eq!(json["cells"]["a"]["value"], serde_json::json!({"S": "x"}));
        assert_eq!(json["item"], serde_json::json!({"a": {"S": "x"}}));
    }

    #[test]
    fn the_admin_client_stays_on_the_host() {
        use clap::Parser;
        let cli = crate::args::Cli::try_parse_from([
            "shoal",
            "--host",
            "127.0.0.3:7400",
            "admin",
            "status",
        ])
        .unwrap();
        let config = admin_client_config(&cli.global);
        assert_eq!(config.hosts, vec!["127.0.0.3:7400".to_owned()]);
        assert!(!config.shard_aware);
        assert_eq!(config.retries, 0);
        assert_eq!(config.connections_per_host, 1);
    }
}
