//! The DynamoDB-compatible API end to end: a real 3-node cluster serving the API on port
//! 8000 of every node, driven by the Python suite in `dynamo/tests/python` (boto3 and the
//! AWS CLI, in the venv `tools/pyenv.sh` makes), with signatures checked against one key.
//! `SHOAL_PYTEST_ARGS` adds pytest arguments (e.g. `--maxfail=1000` to see every failure
//! rather than stop at the first, or `-k query` to run some tests).

mod harness;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{start_cluster_with, wait_for};

const ACCESS_KEY: &str = "shoaltest";
const SECRET_KEY: &str = "shoaltestsecret";
/// The whole suite takes well under two minutes; this only stops a hung run.
const PYTEST_TIMEOUT: Duration = Duration::from_secs(900);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Runs `tools/pyenv.sh` and returns the venv's python (the last line it prints).
fn python() -> PathBuf {
    let root = repo_root();
    let output = Command::new("bash")
        .arg(root.join("tools/pyenv.sh"))
        .current_dir(&root)
        .stderr(Stdio::inherit())
        .output()
        .expect("run tools/pyenv.sh");
    assert!(output.status.success(), "tools/pyenv.sh failed: {}", output.status);
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let python = PathBuf::from(stdout.lines().last().expect("pyenv.sh prints the python").trim());
    assert!(python.exists(), "pyenv.sh printed {python:?}, which does not exist");
    python
}

#[test]
fn dynamodb_api_passes_the_boto3_and_cli_suite() {
    let python = python();
    let nodes = start_cluster_with(
        3,
        &format!(
            "[dynamodb]\nlisten = \"{{host}}:8000\"\nauth = \"keys\"\n\
             [[dynamodb.access_keys]]\nid = \"{ACCESS_KEY}\"\nsecret = \"{SECRET_KEY}\"\n"
        ),
    );
    for node in &nodes {
        let addr = format!("{}:8000", node.host);
        wait_for(&format!("the DynamoDB API on {addr}"), Duration::from_secs(60), || {
            TcpStream::connect(&addr).is_ok()
        });
    }
    let endpoints: Vec<String> =
        nodes.iter().map(|node| format!("http://{}:8000", node.host)).collect();

    let root = repo_root();
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out_path = out_dir.path().join("pytest.log");
    let out = std::fs::File::create(&out_path).expect("pytest log");
    let mut child = Command::new(&python)
        .args(["-m", "pytest", "-x", "-q", "-rs", "-p", "no:cacheprovider", "dynamo/tests/python"])
        .args(std::env::var("SHOAL_PYTEST_ARGS").unwrap_or_default().split_whitespace())
        .current_dir(&root)
        .env("SHOAL_DYNAMODB_ENDPOINTS", endpoints.join(","))
        .env("SHOAL_DYNAMODB_VERIFIES_KEYS", "1")
        .env("SHOAL_DYNAMODB_TTL_ON_READ", "1")
        .env_remove("SHOAL_DYNAMODB_REFERENCE")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log handle"))
        .stderr(out)
        .spawn()
        .expect("run pytest");

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for pytest") {
            break Some(status);
        }
        if started.elapsed() > PYTEST_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(&out_path).unwrap_or_default();
    let passed = status.is_some_and(|s| s.success());
    if passed {
        println!("{log}");
    } else {
        for (i, node) in nodes.iter().enumerate() {
            let node_log = node.log();
            let tail: Vec<&str> = node_log.lines().rev().take(40).collect();
            eprintln!("--- node {i} ({}) log tail ---", node.host);
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
    match status {
        None => panic!("pytest did not finish in {PYTEST_TIMEOUT:?}:\n{log}"),
        Some(status) => assert!(status.success(), "pytest failed ({status}):\n{log}"),
    }
    // Every node served API requests (the suite spreads them), and the metrics say so.
    for node in &nodes {
        let requests = node.metric_sum("shoal_dynamodb_requests_total");
        assert!(requests > 0.0, "node {} counted no DynamoDB requests", node.host);
        let client_errors = node.metric_sum("shoal_dynamodb_client_errors_total");
        assert!(client_errors < requests, "node {}: every request an error?", node.host);
    }
}

/// One signed DynamoDB request over a fresh connection; the HTTP status and JSON body.
fn dynamodb_call(address: &str, operation: &str, body: &str) -> (u16, serde_json::Value) {
    use shoal_dynamo::sigv4::{sign, Credentials};
    use std::io::{Read, Write};
    let mut headers = vec![
        ("host".to_string(), address.to_string()),
        ("content-type".to_string(), "application/x-amz-json-1.0".to_string()),
        ("x-amz-target".to_string(), format!("DynamoDB_20120810.{operation}")),
    ];
    let credentials = Credentials {
        access_key: "any".into(),
        secret_key: "any".into(),
        region: "us-east-1".into(),
        service: "dynamodb".into(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    headers.extend(sign(&credentials, "POST", "/", "", &headers, body.as_bytes(), now));
    let mut request = String::from("POST / HTTP/1.1\r\nconnection: close\r\n");
    for (name, value) in &headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    let mut stream = TcpStream::connect(address).expect("connect to the DynamoDB API");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the response");
    let status: u16 = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    let (_, json) = response.split_once("\r\n\r\n").expect("a body");
    (status, serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}")))
}

#[test]
fn native_and_dynamodb_tables_share_one_namespace() {
    let node = harness::Node::start(2);
    let api = format!("{}:8000", node.host);
    wait_for("the DynamoDB API", Duration::from_secs(30), || TcpStream::connect(&api).is_ok());
    // A native table, written natively, is a DynamoDB table.
    let created = node.cli(&["table", "create", "shared_ns", "--partition-key", "id:S"]);
    assert!(created.status.success(), "{created:?}");
    let put = node.cli(&["put", "shared_ns", r#"{"id": "n1", "v": 7}"#]);
    assert!(put.status.success(), "{put:?}");
    let (status, listed) = dynamodb_call(&api, "ListTables", "{}");
    assert_eq!(status, 200, "{listed}");
    assert!(listed["TableNames"].as_array().expect("names").iter().any(|n| n == "shared_ns"));
    let (status, got) = dynamodb_call(
        &api,
        "GetItem",
        r#"{"TableName": "shared_ns", "Key": {"id": {"S": "n1"}}, "ConsistentRead": true}"#,
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["Item"]["v"], serde_json::json!({"N": "7"}));
    // A DynamoDB table, written through the API, is a native table.
    let (status, made) = dynamodb_call(
        &api,
        "CreateTable",
        r#"{"TableName": "from_api", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "N"}]}"#,
    );
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["TableDescription"]["TableStatus"], "CREATING");
    let (status, _) = dynamodb_call(
        &api,
        "PutItem",
        r#"{"TableName": "from_api", "Item": {"k": {"N": "5"}, "s": {"S": "x"}}}"#,
    );
    assert_eq!(status, 200);
    let got = node.cli(&["get", "from_api", r#"{"k": 5}"#]);
    assert!(got.status.success(), "{got:?}");
    let text = String::from_utf8_lossy(&got.stdout);
    assert!(text.contains("\"s\"") && text.contains("\"x\""), "{text}");
    // Same name from both sides: one table.
    let (status, again) = dynamodb_call(
        &api,
        "CreateTable",
        r#"{"TableName": "shared_ns", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}"#,
    );
    assert_eq!(status, 400);
    assert!(again["__type"].as_str().expect("type").ends_with("#ResourceInUseException"));
}

#[test]
fn idle_and_slow_connections_are_closed() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("shoal.toml");
    std::fs::write(&config, "[dynamodb]\nidle_timeout_ms = 300\n").expect("config");
    let node = harness::Node::start_with(1, &["--config", config.to_str().expect("utf-8")]);
    let api = format!("{}:8000", node.host);
    wait_for("the DynamoDB API", Duration::from_secs(30), || TcpStream::connect(&api).is_ok());
    let closed_within = |mut stream: TcpStream, trickle: bool| -> Duration {
        stream.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
        let started = Instant::now();
        let head = b"POST / HTTP/1.1\r\nhost: x\r\n";
        let mut sent = 0;
        loop {
            assert!(started.elapsed() < Duration::from_secs(10), "connection never closed");
            if trickle && sent < head.len() {
                // One byte every 50 ms: a request that never arrives whole.
                let _ = stream.write_all(&head[sent..=sent]);
                sent += 1;
            }
            let mut byte = [0u8; 1];
            match stream.read(&mut byte) {
                Ok(0) => return started.elapsed(),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return started.elapsed(),
            }
        }
    };
    let idle = closed_within(TcpStream::connect(&api).expect("connect"), false);
    assert!(idle >= Duration::from_millis(250), "closed too early: {idle:?}");
    let slow = closed_within(TcpStream::connect(&api).expect("connect"), true);
    assert!(slow >= Duration::from_millis(250), "closed too early: {slow:?}");
    assert!(slow < Duration::from_millis(1500), "a trickled request kept it open: {slow:?}");
    // A prompt client is served.
    let (status, _) = dynamodb_call(&api, "ListTables", "{}");
    assert_eq!(status, 200);
}
