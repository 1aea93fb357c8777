//! What the command prints on stdout: items one JSON document per line (plain or typed),
//! tables as indented JSON, batch outcomes one line each.
//!
//! [`render`] decides what a response prints and which responses are failures (a status
//! other than Ok, a get that found nothing, a batch with failed operations).
//!
//! Items are compact, one per line, so `shoal scan t --all | jq` and `wc -l` work; table
//! descriptions are indented because people read them.

use std::io::{self, Write};

use serde_json::{json, Value as Json};
use shoal_net::{
    Compaction, Item, ItemStatus, KeyAttribute, Request, Response, ResponseBody, Status,
    TableDescription,
};
use shoal_types::json::{item_to_plain_json, item_to_typed_json};

use crate::error::{exit_for_status, CliError, Exit};
use crate::input::to_hex;

/// An item as JSON, plain or typed.
pub fn item_json(item: &Item, typed: bool) -> Json {
    if typed {
        item_to_typed_json(item)
    } else {
        item_to_plain_json(item)
    }
}

/// Writes an item as one line.
///
/// # Errors
/// Writing to `out` failed.
pub fn write_item(out: &mut dyn Write, item: &Item, typed: bool) -> io::Result<()> {
    writeln!(out, "{}", item_json(item, typed))
}

/// A table description's members, in the order they print: `name`, `partition_key`
/// (`{"name", "type"}`), `sort_key` (or null), `replication_factor`, `compaction`,
/// `default_ttl_secs`, `id`, `created_micros`.
pub fn table_fields(table: &TableDescription) -> [(&'static str, Json); 8] {
    let spec = &table.spec;
    [
        ("name", Json::from(spec.name.as_str())),
        ("partition_key", key_json(&spec.partition_key)),
        ("sort_key", spec.sort_key.as_ref().map_or(Json::Null, key_json)),
        ("replication_factor", Json::from(spec.replication_factor)),
        ("compaction", Json::from(compaction_name(spec.compaction))),
        ("default_ttl_secs", Json::from(spec.default_ttl_secs)),
        ("id", Json::from(table.id)),
        ("created_micros", Json::from(table.created_micros)),
    ]
}

/// A table description as indented JSON, members in [`table_fields`] order (serde_json's
/// maps would sort them), each nested `indent` deeper.
fn table_text(table: &TableDescription, indent: &str) -> String {
    let members: Vec<String> = table_fields(table)
        .iter()
        .map(|(name, value)| format!("{indent}  \"{name}\": {value}"))
        .collect();
    format!("{indent}{{\n{}\n{indent}}}", members.join(",\n"))
}

/// Writes one table description.
///
/// # Errors
/// Writing to `out` failed.
pub fn write_table(out: &mut dyn Write, table: &TableDescription) -> io::Result<()> {
    writeln!(out, "{}", table_text(table, ""))
}

/// Writes table descriptions as a JSON array.
///
/// # Errors
/// Writing to `out` failed.
pub fn write_tables(out: &mut dyn Write, tables: &[TableDescription]) -> io::Result<()> {
    if tables.is_empty() {
        return writeln!(out, "[]");
    }
    let members: Vec<String> = tables.iter().map(|t| table_text(t, "  ")).collect();
    writeln!(out, "[\n{}\n]", members.join(",\n"))
}

fn key_json(key: &KeyAttribute) -> Json {
    json!({ "name": key.name, "type": key.key_type.as_str() })
}

/// The name `--compaction` takes.
pub fn compaction_name(compaction: Compaction) -> &'static str {
    match compaction {
        Compaction::SizeTiered => "size-tiered",
        Compaction::Leveled => "leveled",
    }
}

/// One batch outcome as a JSON line: `{"status": "ok"}`, with `"message"` if there is one,
/// and for batch gets `"item"` (null when the item does not exist), in that order.
pub fn batch_status_line(outcome: &ItemStatus, with_item: bool, typed: bool) -> String {
    let mut line = format!("{{\"status\":{}", Json::from(outcome.status.as_str()));
    if !outcome.message.is_empty() {
        line.push_str(&format!(",\"message\":{}", Json::from(outcome.message.as_str())));
    }
    if with_item {
        let item = outcome.item.as_ref().map_or(Json::Null, |item| item_json(item, typed));
        line.push_str(&format!(",\"item\":{item}"));
    }
    line.push('}');
    line
}

/// The stderr line announcing where the next page starts.
pub fn next_page_line(token: &[u8]) -> String {
    format!("next-page-token: {}", to_hex(token))
}

/// Prints `response` to `request` on `out`, and returns the next page token of a query or
/// scan that has more.
///
/// # Errors
/// Any status other than Ok, a get that found nothing (exit 3, silent), a batch with failed
/// operations, a body that does not fit the request, or a failed write to `out`.
pub fn render(
    request: &Request,
    response: Response,
    typed: bool,
    out: &mut dyn Write,
) -> Result<Option<Vec<u8>>, CliError> {
    if response.status != Status::Ok {
        return Err(CliError::from_status(response.status, &response.message, request));
    }
    let written = match (request, response.body) {
        (
            Request::CreateTable { .. } | Request::DescribeTable { .. } | Request::DropTable { .. },
            ResponseBody::Table(t),
        ) => write_table(out, &t),
        (Request::ListTables, ResponseBody::Tables(tables)) => write_tables(out, &tables),
        (Request::GetItem { .. }, ResponseBody::Item(Some(item))) => write_item(out, &item, typed),
        (Request::GetItem { .. }, ResponseBody::Item(None) | ResponseBody::Empty) => {
            return Err(CliError::silent(Exit::NotFound));
        }
        (
            Request::PutItem { .. } | Request::DeleteItem { .. } | Request::UpdateItem { .. },
            ResponseBody::Item(Some(item)),
        ) => write_item(out, &item, typed),
        (
            Request::PutItem { .. }
            | Request::DeleteItem { .. }
            | Request::UpdateItem { .. }
            | Request::CreateTable { .. }
            | Request::DropTable { .. },
            ResponseBody::Item(None) | ResponseBody::Empty,
        ) => Ok(()),
        (Request::Query(_) | Request::Scan(_), ResponseBody::Page(page)) => {
            for item in &page.items {
                write_item(out, item, typed).map_err(|e| CliError::output(&e))?;
            }
            return Ok(page.page_token);
        }
        (Request::BatchGet { .. } | Request::BatchWrite { .. }, ResponseBody::Batch(outcomes)) => {
            return render_batch(request, &outcomes, typed, out).map(|()| None);
        }
        (request, body) => {
            return Err(CliError::internal(format!(
                "unexpected response to {}: {}",
                request.op_name(),
                body_name(&body)
            )));
        }
    };
    written.map_err(|e| CliError::output(&e))?;
    Ok(None)
}

fn body_name(body: &ResponseBody) -> &'static str {
    match body {
        ResponseBody::Empty => "no body",
        ResponseBody::Table(_) => "a table",
        ResponseBody::Tables(_) => "a table list",
        ResponseBody::Item(_) | ResponseBody::EncodedItem(_) => "an item",
        ResponseBody::Batch(_) => "batch outcomes",
        ResponseBody::Page(_) => "a page",
        ResponseBody::ClusterInfo(_) => "cluster info",
        ResponseBody::Row { .. } => "a replica row",
        ResponseBody::Gossip(_) => "gossip state",
        ResponseBody::Schema(_) => "a schema",
        ResponseBody::Nodes(_) => "node states",
    }
}

/// Prints one line per operation; the command fails, with the first failure's exit code,
/// if any operation failed. A batch get of a missing item is not a failure.
fn render_batch(
    request: &Request,
    outcomes: &[ItemStatus],
    typed: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let is_get = matches!(request, Request::BatchGet { .. });
    for outcome in outcomes {
        let line = batch_status_line(outcome, is_get, typed);
        writeln!(out, "{line}").map_err(|e| CliError::output(&e))?;
    }
    let failed = |s: &&ItemStatus| match s.status {
        Status::Ok => false,
        Status::NotFound => !is_get,
        _ => true,
    };
    let failures = outcomes.iter().filter(failed).count();
    let Some((index, first)) = outcomes.iter().enumerate().find(|(_, s)| failed(s)) else {
        return Ok(());
    };
    let detail = if first.message.is_empty() {
        first.status.as_str().to_owned()
    } else {
        format!("{}: {}", first.status.as_str(), first.message)
    };
    Err(CliError::new(
        exit_for_status(first.status, request),
        format!(
            "{failures} of {} operations failed; the first, [{index}]: {detail}",
            outcomes.len()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use shoal_net::{Status, TableSpec};
    use shoal_types::{KeyType, Number, Value};

    use super::*;

    fn sample_item() -> Item {
        Item::from([
            ("k".to_owned(), Value::S("a".to_owned())),
            ("n".to_owned(), Value::N(Number::parse("12.50").unwrap())),
        ])
    }

    #[test]
    fn items_are_one_line_plain_or_typed() {
        let mut out = Vec::new();
        write_item(&mut out, &sample_item(), false).unwrap();
        write_item(&mut out, &sample_item(), true).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"k\":\"a\",\"n\":12.5}\n{\"k\":{\"S\":\"a\"},\"n\":{\"N\":\"12.5\"}}\n"
        );
    }

    fn sample_table(name: &str) -> TableDescription {
        TableDescription {
            spec: TableSpec {
                name: name.to_owned(),
                partition_key: KeyAttribute { name: "id".to_owned(), key_type: KeyType::S },
                sort_key: None,
                replication_factor: 3,
                compaction: Compaction::Leveled,
                default_ttl_secs: 0,
                ttl_attribute: None,
                options: Default::default(),
            },
            id: 7,
            created_micros: 1_000,
            altered_micros: 0,
        }
    }

    #[test]
    fn tables_print_their_spec_in_order() {
        let mut out = Vec::new();
        write_table(&mut out, &sample_table("users")).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = r#"{
  "name": "users",
  "partition_key": {"name":"id","type":"S"},
  "sort_key": null,
  "replication_factor": 3,
  "compaction": "leveled",
  "default_ttl_secs": 0,
  "id": 7,
  "created_micros": 1000
}
"#;
        assert_eq!(text, expected);
        let json: Json = serde_json::from_str(&text).unwrap();
        assert_eq!(json["partition_key"], json!({"name": "id", "type": "S"}));
    }

    #[test]
    fn table_lists_are_json_arrays() {
        let mut out = Vec::new();
        write_tables(&mut out, &[sample_table("a"), sample_table("b")]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("[\n  {\n    \"name\": \"a\",\n"), "{text}");
        let json: Json = serde_json::from_str(&text).unwrap();
        assert_eq!(json[1]["name"], "b");
        let mut out = Vec::new();
        write_tables(&mut out, &[]).unwrap();
        assert_eq!(out, b"[]\n");
    }

    #[test]
    fn batch_outcomes_show_status_message_and_item() {
        let found =
            ItemStatus { status: Status::Ok, message: String::new(), item: Some(sample_item()) };
        assert_eq!(
            batch_status_line(&found, true, false),
            r#"{"status":"ok","item":{"k":"a","n":12.5}}"#
        );
        assert_eq!(
            batch_status_line(&found, true, true),
            r#"{"status":"ok","item":{"k":{"S":"a"},"n":{"N":"12.5"}}}"#
        );
        let missing = ItemStatus { status: Status::Ok, message: String::new(), item: None };
        assert_eq!(batch_status_line(&missing, true, false), r#"{"status":"ok","item":null}"#);
        let failed =
            ItemStatus { status: Status::TooLarge, message: "over \"400\" KiB".into(), item: None };
        assert_eq!(
            batch_status_line(&failed, false, false),
            r#"{"status":"too_large","message":"over \"400\" KiB"}"#
        );
    }

    #[test]
    fn page_tokens_print_as_lowercase_hex() {
        assert_eq!(next_page_line(&[0x0a, 0xff]), "next-page-token: 0aff");
    }

    fn get_request() -> Request {
        Request::GetItem {
            table: "t".to_owned(),
            key: Item::new(),
            projection: None,
            placeholders: Default::default(),
        }
    }

    fn put_request() -> Request {
        Request::PutItem {
            table: "t".to_owned(),
            item: Item::new(),
            condition: Some("attribute_not_exists(k)".to_owned()),
            placeholders: Default::default(),
            ttl_secs: 0,
            return_values: shoal_net::ReturnValues::None,
        }
    }

    fn rendered(
        request: &Request,
        body: ResponseBody,
    ) -> (Result<Option<Vec<u8>>, CliError>, String) {
        let mut out = Vec::new();
        let result = render(request, Response::ok(body), false, &mut out);
        (result, String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_found_item_prints_and_a_missing_one_exits_3_silently() {
        let (result, text) = rendered(&get_request(), ResponseBody::Item(Some(sample_item())));
        assert_eq!(result, Ok(None));
        assert_eq!(text, "{\"k\":\"a\",\"n\":12.5}\n");
        for body in [ResponseBody::Item(None), ResponseBody::Empty] {
            let (result, text) = rendered(&get_request(), body);
            assert_eq!(result, Err(CliError::silent(Exit::NotFound)));
            assert_eq!(text, "");
        }
    }

    #[test]
    fn writes_print_the_returned_item_if_any() {
        let (result, text) = rendered(&put_request(), ResponseBody::Item(None));
        assert_eq!((result, text.as_str()), (Ok(None), ""));
        let (result, text) = rendered(&put_request(), ResponseBody::Item(Some(sample_item())));
        assert_eq!((result, text.as_str()), (Ok(None), "{\"k\":\"a\",\"n\":12.5}\n"));
        let drop = Request::DropTable { name: "t".to_owned(), if_exists: false };
        assert_eq!(rendered(&drop, ResponseBody::Empty), (Ok(None), String::new()));
    }

    #[test]
    fn failed_statuses_become_errors_with_their_codes() {
        let mut out = Vec::new();
        let response = Response::error(Status::ConditionFailed, "the condition is false");
        let error = render(&put_request(), response, false, &mut out).unwrap_err();
        assert_eq!(error.exit, Exit::ConditionFailed);
        assert_eq!(error.message.as_deref(), Some("condition_failed: the condition is false"));
        let describe = Request::DescribeTable { name: "t".to_owned() };
        let response = Response::error(Status::UnknownTable, "no table t");
        assert_eq!(render(&describe, response, false, &mut out).unwrap_err().exit, Exit::NotFound);
        assert!(out.is_empty());
    }

    #[test]
    fn pages_print_items_and_return_the_token() {
        let query = Request::Query(Default::default());
        let page = shoal_net::Page {
            items: vec![sample_item(), sample_item()],
            page_token: Some(vec![7]),
            scanned: 2,
        };
        let (result, text) = rendered(&query, ResponseBody::Page(page));
        assert_eq!(result, Ok(Some(vec![7])));
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn batches_print_every_outcome_and_fail_on_the_first_failure() {
        let ok = ItemStatus { status: Status::Ok, message: String::new(), item: None };
        let missing = ItemStatus { status: Status::NotFound, message: String::new(), item: None };
        let unavailable = ItemStatus {
            status: Status::Unavailable,
            message: "1 of 2 replicas".into(),
            item: None,
        };
        let get = Request::BatchGet {
            table: "t".to_owned(),
            keys: vec![],
            projection: None,
            placeholders: Default::default(),
        };
        let (result, text) = rendered(&get, ResponseBody::Batch(vec![ok.clone(), missing]));
        assert_eq!(result, Ok(None));
        assert_eq!(
            text,
            "{\"status\":\"ok\",\"item\":null}\n{\"status\":\"not_found\",\"item\":null}\n"
        );

        let write = Request::BatchWrite { table: "t".to_owned(), ops: vec![] };
        let outcomes = vec![ok.clone(), unavailable.clone(), ok, unavailable];
        let (result, text) = rendered(&write, ResponseBody::Batch(outcomes));
        let error = result.unwrap_err();
        assert_eq!(error.exit, Exit::Unavailable);
        assert_eq!(
            error.message.as_deref(),
            Some("2 of 4 operations failed; the first, [1]: unavailable: 1 of 2 replicas")
        );
        assert_eq!(text.lines().count(), 4);
    }

    #[test]
    fn tables_print_as_indented_json() {
        let (result, text) = rendered(&Request::ListTables, ResponseBody::Tables(vec![]));
        assert_eq!((result, text.as_str()), (Ok(None), "[]\n"));
    }

    #[test]
    fn a_body_that_does_not_fit_is_internal() {
        let (result, _) = rendered(&Request::ListTables, ResponseBody::Item(None));
        let error = result.unwrap_err();
        assert_eq!(error.exit, Exit::Internal);
        assert_eq!(error.message.as_deref(), Some("unexpected response to list_tables: an item"));
    }
}
