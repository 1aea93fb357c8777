//! The client commands: arguments → [`Request`] → node → printed response.
//!
//! Three steps, the first and last pure so tests need no server:
//! [`build_request`] reads the arguments (JSON, stdin, files) into a request, so bad input
//! exits 2 before any connection is tried; [`run`] connects and sends it, following page
//! tokens for `--all`; [`output::render`] turns each response into output lines or a [`CliError`].

use std::io::{BufWriter, Write};
use std::time::Duration;

use shoal_client::{Client, ClientConfig, RequestOptions};
use shoal_net::{Consistency, QueryRequest, Request, ReturnValues, ScanRequest, TableSpec};

use crate::args::{BatchCommand, Cli, Command, GlobalArgs, PagingArgs, TableCommand};
use crate::error::CliError;
use crate::input::{self, Inputs};
use crate::output;

/// Runs a client command against the node: builds the request, connects, sends it (page
/// after page with `--all`) and prints the results on stdout.
///
/// # Errors
/// Bad input, connection failures, and any status other than Ok, as [`CliError`]s.
pub fn run(cli: &Cli) -> Result<(), CliError> {
    let request = build_request(&cli.command, &cli.global, &mut Inputs::from_stdin())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::internal(format!("cannot start the tokio runtime: {e}")))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result =
        runtime.block_on(send_all(&cli.global, request, follows_pages(&cli.command), &mut out));
    // Whatever was printed before a failure is still worth delivering.
    let flushed = out.flush().map_err(|e| CliError::output(&e));
    result.and(flushed)
}

/// True for `query --all` and `scan --all`.
fn follows_pages(command: &Command) -> bool {
    match command {
        Command::Query(args) => args.paging.all,
        Command::Scan(args) => args.paging.all,
        _ => false,
    }
}

/// The client's settings for one command: one host, one connection. Every request goes to
/// `--host` itself: shard-aware routing is off, and retries go to the same host.
pub(crate) fn client_config(global: &GlobalArgs) -> ClientConfig {
    let mut config = ClientConfig {
        hosts: vec![global.host.clone()],
        consistency: Consistency::from(global.consistency),
        // One request, so one connection; shard-aware routing would open one per core.
        connections_per_host: 1,
        shard_aware: false,
        ..ClientConfig::default()
    };
    if let Some(timeout_ms) = global.timeout {
        config.request_timeout = Duration::from_millis(timeout_ms);
    }
    config
}

fn request_options(global: &GlobalArgs) -> RequestOptions {
    RequestOptions {
        consistency: Some(Consistency::from(global.consistency)),
        timeout: global.timeout.map(Duration::from_millis),
        timestamp_micros: None,
    }
}

/// Sends `request`, and with `all` its follow-up pages, printing each response.
async fn send_all(
    global: &GlobalArgs,
    mut request: Request,
    all: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let client = Client::connect(client_config(global))
        .await
        .map_err(|e| CliError::from_client(&e, &request))?;
    loop {
        let response = client
            .request_with(request.clone(), request_options(global))
            .await
            .map_err(|e| CliError::from_client(&e, &request))?;
        for warning in &response.warnings {
            eprintln!("shoal: warning: {warning}");
        }
        let next = output::render(&request, response, global.typed, out)?;
        let Some(token) = next else { return Ok(()) };
        if !all {
            eprintln!("{}", output::next_page_line(&token));
            return Ok(());
        }
        out.flush().map_err(|e| CliError::output(&e))?;
        set_page_token(&mut request, token)?;
    }
}

/// Points a query or scan at the next page. A server handing back the token it was given
/// would loop forever, so that is an error.
fn set_page_token(request: &mut Request, token: Vec<u8>) -> Result<(), CliError> {
    let slot = match request {
        Request::Query(query) => &mut query.page_token,
        Request::Scan(scan) => &mut scan.page_token,
        other => {
            return Err(CliError::internal(format!("{} returned a page token", other.op_name())))
        }
    };
    if slot.as_ref() == Some(&token) {
        let hex = input::to_hex(&token);
        return Err(CliError::internal(format!("the server returned the same page token {hex}")));
    }
    *slot = Some(token);
    Ok(())
}

/// Builds the request a client command sends, reading its JSON arguments (`-` from
/// `inputs`).
///
/// # Errors
/// Bad input (exit 2) naming the argument: invalid JSON, items, placeholders or tokens.
pub fn build_request(
    command: &Command,
    global: &GlobalArgs,
    inputs: &mut Inputs,
) -> Result<Request, CliError> {
    let typed = global.typed;
    Ok(match command {
        Command::Server(_) => return Err(CliError::internal("`server` sends no request")),
        Command::DevCluster(_) => {
            return Err(CliError::internal("`dev-cluster` sends no request"));
        }
        Command::Admin(_) => return Err(CliError::internal("`admin` builds its own requests")),
        Command::Table(table) => table_request(table),
        Command::Put(args) => Request::PutItem {
            table: args.table.clone(),
            item: input::item("ITEM_JSON", &inputs.json("ITEM_JSON", &args.item)?, typed)?,
            condition: args.condition.clone(),
            placeholders: placeholders(inputs, &args.placeholders, typed)?,
            ttl_secs: args.ttl.unwrap_or(0),
            return_values: if args.return_old { ReturnValues::AllOld } else { ReturnValues::None },
        },
        Command::Get(args) => Request::GetItem {
            table: args.table.clone(),
            key: input::item("KEY_JSON", &inputs.json("KEY_JSON", &args.key)?, typed)?,
            projection: args.projection.clone(),
            placeholders: input::placeholders(inputs, args.names.as_deref(), None, typed)?,
        },
        Command::Delete(args) => Request::DeleteItem {
            table: args.table.clone(),
            key: input::item("KEY_JSON", &inputs.json("KEY_JSON", &args.key)?, typed)?,
            condition: args.condition.clone(),
            placeholders: placeholders(inputs, &args.placeholders, typed)?,
            return_values: if args.return_old { ReturnValues::AllOld } else { ReturnValues::None },
        },
        Command::Update(args) => Request::UpdateItem {
            table: args.table.clone(),
            key: input::item("KEY_JSON", &inputs.json("KEY_JSON", &args.key)?, typed)?,
            update: args.update.clone(),
            condition: args.condition.clone(),
            placeholders: placeholders(inputs, &args.placeholders, typed)?,
            ttl_secs: args.ttl.unwrap_or(0),
            return_values: ReturnValues::AllNew,
        },
        Command::Query(args) => Request::Query(QueryRequest {
            table: args.table.clone(),
            key_condition: args.key_condition.clone(),
            filter: args.filter.clone(),
            projection: args.projection.clone(),
            placeholders: placeholders(inputs, &args.placeholders, typed)?,
            limit: args.paging.limit.unwrap_or(0),
            reverse: args.reverse,
            page_token: page_token(&args.paging)?,
        }),
        Command::Scan(args) => Request::Scan(ScanRequest {
            table: args.table.clone(),
            segment: segment(args.segment, args.total_segments)?,
            total_segments: args.total_segments.unwrap_or(1),
            filter: args.filter.clone(),
            projection: args.projection.clone(),
            placeholders: placeholders(inputs, &args.placeholders, typed)?,
            limit: args.paging.limit.unwrap_or(0),
            page_token: page_token(&args.paging)?,
        }),
        Command::Batch(batch) => batch_request(batch, inputs, typed)?,
    })
}

fn table_request(command: &TableCommand) -> Request {
    match command {
        TableCommand::Create(args) => Request::CreateTable {
            spec: TableSpec {
                name: args.name.clone(),
                partition_key: args.partition_key.clone(),
                sort_key: args.sort_key.clone(),
                replication_factor: args.replication_factor,
                compaction: args.compaction.into(),
                default_ttl_secs: args.default_ttl,
                ttl_attribute: None,
                options: Default::default(),
            },
            if_not_exists: args.if_not_exists,
        },
        TableCommand::List => Request::ListTables,
        TableCommand::Describe { name } => Request::DescribeTable { name: name.clone() },
        TableCommand::Drop { name, if_exists } => {
            Request::DropTable { name: name.clone(), if_exists: *if_exists }
        }
    }
}

fn batch_request(
    command: &BatchCommand,
    inputs: &mut Inputs,
    typed: bool,
) -> Result<Request, CliError> {
    Ok(match command {
        BatchCommand::Get(args) => {
            let what = "KEYS_JSON_ARRAY";
            Request::BatchGet {
                table: args.table.clone(),
                keys: input::items(what, &inputs.json(what, &args.keys)?, typed)?,
                projection: args.projection.clone(),
                placeholders: input::placeholders(inputs, args.names.as_deref(), None, typed)?,
            }
        }
        BatchCommand::Write(args) => {
            let what = "OPS_JSON_ARRAY";
            Request::BatchWrite {
                table: args.table.clone(),
                ops: input::write_ops(what, &inputs.json(what, &args.ops)?, typed)?,
            }
        }
    })
}

fn placeholders(
    inputs: &mut Inputs,
    args: &crate::args::PlaceholderArgs,
    typed: bool,
) -> Result<shoal_net::Placeholders, CliError> {
    input::placeholders(inputs, args.names.as_deref(), args.values.as_deref(), typed)
}

fn page_token(paging: &PagingArgs) -> Result<Option<Vec<u8>>, CliError> {
    paging.page_token.as_deref().map(|hex| input::from_hex("--page-token", hex)).transpose()
}

fn segment(segment: Option<u32>, total_segments: Option<u32>) -> Result<u32, CliError> {
    let segment = segment.unwrap_or(0);
    let total = total_segments.unwrap_or(1);
    if segment >= total {
        return Err(CliError::bad_input(format!(
            "--segment {segment} is out of range: segments are numbered 0 to {} of \
             --total-segments {total}",
            total - 1
        )));
    }
    Ok(segment)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Cursor;

    use clap::Parser;
    use shoal_net::{Compaction, KeyAttribute, Placeholders, WriteOp};
    use shoal_types::{KeyType, Number, Value};

    use super::*;
    use crate::error::Exit;

    fn build_with_stdin(args: &[&str], stdin: &str) -> Result<Request, CliError> {
        let cli = Cli::try_parse_from(std::iter::once("shoal").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let mut inputs = Inputs::from_reader(Cursor::new(stdin.as_bytes().to_vec()));
        build_request(&cli.command, &cli.global, &mut inputs)
    }

    fn build(args: &[&str]) -> Request {
        build_with_stdin(args, "").unwrap_or_else(|e| panic!("{args:?}: {e:?}"))
    }

    fn bad_input(args: &[&str]) -> String {
        let error = build_with_stdin(args, "").unwrap_err();
        assert_eq!(error.exit, Exit::BadInput, "{error:?}");
        error.message.unwrap()
    }

    fn n(text: &str) -> Value {
        Value::N(Number::parse(text).unwrap())
    }

    fn s(text: &str) -> Value {
        Value::S(text.to_owned())
    }

    fn item(pairs: &[(&str, Value)]) -> shoal_net::Item {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    #[test]
    fn table_create_builds_the_spec() {
        let request = build(&[
            "table",
            "create",
            "events",
            "--partition-key",
            "device:S",
            "--sort-key",
            "ts:N",
            "--replication-factor",
            "2",
            "--compaction",
            "leveled",
            "--default-ttl",
            "3600",
            "--if-not-exists",
        ]);
        let expected = Request::CreateTable {
            spec: TableSpec {
                name: "events".to_owned(),
                partition_key: KeyAttribute { name: "device".to_owned(), key_type: KeyType::S },
                sort_key: Some(KeyAttribute { name: "ts".to_owned(), key_type: KeyType::N }),
                replication_factor: 2,
                compaction: Compaction::Leveled,
                default_ttl_secs: 3600,
                ttl_attribute: None,
                options: Default::default(),
            },
            if_not_exists: true,
        };
        assert_eq!(request, expected);
    }

    #[test]
    fn table_create_defaults() {
        let Request::CreateTable { spec, if_not_exists } =
            build(&["table", "create", "t", "--partition-key", "id:B"])
        else {
            panic!("not a create")
        };
        assert_eq!(spec.sort_key, None);
        assert_eq!(spec.replication_factor, 3);
        assert_eq!(spec.compaction, Compaction::SizeTiered);
        assert_eq!(spec.default_ttl_secs, 0);
        assert!(!if_not_exists);
    }

    #[test]
    fn other_table_commands() {
        assert_eq!(build(&["table", "list"]), Request::ListTables);
        assert_eq!(
            build(&["table", "describe", "t"]),
            Request::DescribeTable { name: "t".to_owned() }
        );
        assert_eq!(
            build(&["table", "drop", "t", "--if-exists"]),
            Request::DropTable { name: "t".to_owned(), if_exists: true }
        );
    }

    #[test]
    fn put_reads_item_condition_placeholders_and_options() {
        let request = build(&[
            "put",
            "t",
            r#"{"id": "a", "n": 1}"#,
            "--condition",
            "attribute_not_exists(#i)",
            "--names",
            r##"{"#i": "id"}"##,
            "--values",
            r#"{":x": [1, "two"]}"#,
            "--ttl",
            "60",
            "--return-old",
        ]);
        let expected = Request::PutItem {
            table: "t".to_owned(),
            item: item(&[("id", s("a")), ("n", n("1"))]),
            condition: Some("attribute_not_exists(#i)".to_owned()),
            placeholders: Placeholders {
                names: BTreeMap::from([("#i".to_owned(), "id".to_owned())]),
                values: BTreeMap::from([(":x".to_owned(), Value::L(vec![n("1"), s("two")]))]),
            },
            ttl_secs: 60,
            return_values: ReturnValues::AllOld,
        };
        assert_eq!(request, expected);
    }

    #[test]
    fn typed_put_reads_typed_json() {
        let request = build(&[
            "--typed",
            "put",
            "t",
            r#"{"id": {"S": "a"}, "tags": {"SS": ["x"]}}"#,
            "--values",
            r#"{":v": {"N": "5"}}"#,
        ]);
        let Request::PutItem { item: written, placeholders, ttl_secs, return_values, .. } = request
        else {
            panic!("not a put")
        };
        let tags = Value::Ss(["x".to_owned()].into());
        assert_eq!(written, item(&[("id", s("a")), ("tags", tags)]));
        assert_eq!(placeholders.values[":v"], n("5"));
        assert_eq!(ttl_secs, 0);
        assert_eq!(return_values, ReturnValues::None);
    }

    #[test]
    fn get_delete_update() {
        let request = build(&[
            "get",
            "t",
            r#"{"id": 1}"#,
            "--projection",
            "#a, b",
            "--names",
            r##"{"#a": "a"}"##,
        ]);
        let expected = Request::GetItem {
            table: "t".to_owned(),
            key: item(&[("id", n("1"))]),
            projection: Some("#a, b".to_owned()),
            placeholders: Placeholders {
                names: BTreeMap::from([("#a".to_owned(), "a".to_owned())]),
                values: BTreeMap::new(),
            },
        };
        assert_eq!(request, expected);

        let request = build(&[
            "delete",
            "t",
            r#"{"id": 1}"#,
            "--condition",
            "v = :v",
            "--values",
            r#"{":v": true}"#,
        ]);
        let Request::DeleteItem { condition, placeholders, return_values, .. } = request else {
            panic!("not a delete")
        };
        assert_eq!(condition.as_deref(), Some("v = :v"));
        assert_eq!(placeholders.values[":v"], Value::Bool(true));
        assert_eq!(return_values, ReturnValues::None);

        let request = build(&[
            "update",
            "t",
            r#"{"id": 1}"#,
            "--update",
            "ADD c :one",
            "--values",
            r#"{":one": 1}"#,
            "--ttl",
            "5",
        ]);
        let Request::UpdateItem { update, ttl_secs, return_values, condition, .. } = request else {
            panic!("not an update")
        };
        assert_eq!(update, "ADD c :one");
        assert_eq!(ttl_secs, 5);
        assert_eq!(condition, None);
        assert_eq!(return_values, ReturnValues::AllNew);
    }

    #[test]
    fn query_reads_paging_options() {
        let request = build(&[
            "query",
            "t",
            "--key-condition",
            "pk = :p AND sk > :s",
            "--filter",
            "x <> :p",
            "--projection",
            "sk",
            "--values",
            r#"{":p": "a", ":s": 3}"#,
            "--limit",
            "10",
            "--reverse",
            "--page-token",
            "00ff10",
        ]);
        let expected = Request::Query(QueryRequest {
            table: "t".to_owned(),
            key_condition: "pk = :p AND sk > :s".to_owned(),
            filter: Some("x <> :p".to_owned()),
            projection: Some("sk".to_owned()),
            placeholders: Placeholders {
                names: BTreeMap::new(),
                values: BTreeMap::from([(":p".to_owned(), s("a")), (":s".to_owned(), n("3"))]),
            },
            limit: 10,
            reverse: true,
            page_token: Some(vec![0x00, 0xff, 0x10]),
        });
        assert_eq!(request, expected);
    }

    #[test]
    fn scan_segments() {
        let request = build(&["scan", "t"]);
        let Request::Scan(scan) = request else { panic!("not a scan") };
        assert_eq!((scan.segment, scan.total_segments, scan.limit), (0, 1, 0));
        assert_eq!(scan.page_token, None);
        let request = build(&["scan", "t", "--segment", "3", "--total-segments", "4", "--all"]);
        let Request::Scan(scan) = request else { panic!("not a scan") };
        assert_eq!((scan.segment, scan.total_segments), (3, 4));
        let message = bad_input(&["scan", "t", "--segment", "4", "--total-segments", "4"]);
        assert_eq!(
            message,
            "--segment 4 is out of range: segments are numbered 0 to 3 of --total-segments 4"
        );
    }

    #[test]
    fn batches_read_arrays_from_stdin() {
        let request = build_with_stdin(&["batch", "get", "t", "-"], r#"[{"id": 1}, {"id": 2}]"#);
        let Request::BatchGet { keys, .. } = request.unwrap() else { panic!("not a batch get") };
        assert_eq!(keys, vec![item(&[("id", n("1"))]), item(&[("id", n("2"))])]);

        let ops = r#"[{"put": {"id": 1}, "ttl": 9}, {"delete": {"id": 2}}]"#;
        let request = build_with_stdin(&["batch", "write", "t", "-"], ops).unwrap();
        let expected = Request::BatchWrite {
            table: "t".to_owned(),
            ops: vec![
                WriteOp::Put { item: item(&[("id", n("1"))]), ttl_secs: 9 },
                WriteOp::Delete { key: item(&[("id", n("2"))]) },
            ],
        };
        assert_eq!(request, expected);
    }

    #[test]
    fn bad_input_names_the_argument() {
        let message = bad_input(&["put", "t", "{not json"]);
        assert!(message.starts_with("ITEM_JSON is not valid JSON: "), "{message}");
        let message = bad_input(&["get", "t", r#"{"id": 1e999}"#]);
        assert!(message.starts_with("KEY_JSON: at $.id: number"), "{message}");
        let message = bad_input(&["put", "t", "{}", "--values", r#"{"v": 1}"#]);
        assert!(message.starts_with("--values: placeholder \"v\""), "{message}");
        let message = bad_input(&["put", "t", "{}", "--names", "[]"]);
        assert_eq!(message, "--names must be a JSON object, found []");
        let message = bad_input(&["query", "t", "--key-condition", "x", "--page-token", "xyz"]);
        assert!(message.starts_with("--page-token must be hex"), "{message}");
        let message = bad_input(&["batch", "write", "t", r#"[{"put": {}}, {"get": {}}]"#]);
        assert!(message.starts_with("OPS_JSON_ARRAY[1]: unknown member \"get\""), "{message}");
        let message = bad_input(&["put", "t", "@/nonexistent/file.json"]);
        assert!(message.starts_with("cannot read ITEM_JSON from file"), "{message}");
        let message = bad_input(&["put", "t", "-", "--values", "-"]);
        assert!(message.starts_with("ITEM_JSON is not valid JSON"), "{message}");
    }

    #[test]
    fn stdin_serves_one_argument() {
        let error = build_with_stdin(&["put", "t", "-", "--values", "-"], "{}").unwrap_err();
        assert_eq!(error.exit, Exit::BadInput);
        assert!(error.message.unwrap().contains("ITEM_JSON already read stdin"));
    }

    #[test]
    fn the_server_command_sends_nothing() {
        let error = build_with_stdin(&["server"], "").unwrap_err();
        assert_eq!(error.exit, Exit::Internal);
    }

    #[test]
    fn follow_up_pages_carry_the_new_token() {
        let mut request = build(&["query", "t", "--key-condition", "pk = :p", "--all"]);
        set_page_token(&mut request, vec![1]).unwrap();
        let Request::Query(query) = &request else { panic!("not a query") };
        assert_eq!(query.page_token, Some(vec![1]));
        let error = set_page_token(&mut request, vec![1]).unwrap_err();
        assert!(error.message.unwrap().contains("same page token 01"));
        let mut get = build(&["get", "t", "{}"]);
        assert_eq!(set_page_token(&mut get, vec![1]).unwrap_err().exit, Exit::Internal);
    }

    #[test]
    fn only_query_and_scan_follow_pages() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("shoal").chain(args.iter().copied())).unwrap()
        };
        assert!(follows_pages(&parse(&["query", "t", "--key-condition", "k", "--all"]).command));
        assert!(follows_pages(&parse(&["scan", "t", "--all"]).command));
        assert!(!follows_pages(&parse(&["scan", "t"]).command));
        assert!(!follows_pages(&parse(&["table", "list"]).command));
    }

    #[test]
    fn global_options_reach_the_client() {
        let cli = Cli::try_parse_from([
            "shoal",
            "--host",
            "10.1.1.1:7400",
            "--consistency",
            "ONE",
            "--timeout",
            "250",
            "table",
            "list",
        ])
        .unwrap();
        let config = client_config(&cli.global);
        assert_eq!(config.hosts, vec!["10.1.1.1:7400".to_owned()]);
        assert_eq!(config.consistency, Consistency::One);
        assert_eq!(config.request_timeout, Duration::from_millis(250));
        let options = request_options(&cli.global);
        assert_eq!(options.consistency, Some(Consistency::One));
        assert_eq!(options.timeout, Some(Duration::from_millis(250)));
    }
}
