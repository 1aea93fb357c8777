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
