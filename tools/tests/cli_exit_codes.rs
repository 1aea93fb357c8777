//! The `shoal` binary as scripts see it, without a server: exit codes, the one-line
//! `shoal: error:` messages on stderr, and nothing on stdout when a command fails.

use std::error::Error;
use std::io::Write as _;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

/// Runs `shoal` with `args` and `stdin`, pointed at `host`.
fn shoal_at(host: &str, args: &[&str], stdin: &str) -> Result<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(args)
        .env("SHOAL_HOST", host)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes())?;
    }
    Ok(child.wait_with_output()?)
}

/// A local address nothing listens on: bound, then released.
fn closed_address() -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?.to_string();
    drop(listener);
    Ok(address)
}

/// Runs `shoal` against a closed port, so any command that got as far as connecting exits 6.
fn shoal(args: &[&str], stdin: &str) -> Result<Output> {
    shoal_at(&closed_address()?, args, stdin)
}

/// Checks the exit code, that stdout is empty, and that stderr is one `shoal: error:` line
/// starting with `message`.
fn assert_error(output: &Output, code: i32, message: &str) -> Result {
    let stderr = String::from_utf8(output.stderr.clone())?;
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert!(output.stdout.is_empty(), "stdout: {:?}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    let expected = format!("shoal: error: {message}");
    assert!(stderr.starts_with(&expected), "expected {expected:?}, stderr: {stderr}");
    Ok(())
}

#[test]
fn help_lists_the_exit_codes_and_exits_0() -> Result {
    let output = shoal(&["--help"], "")?;
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8(output.stdout)?;
    assert!(help.contains("Exit codes:"), "{help}");
    for line in ["0  success", "3  not found", "4  a condition", "6  connection error"] {
        assert!(help.contains(line), "{line:?} missing from {help}");
    }
    Ok(())
}

#[test]
fn usage_errors_exit_2_with_one_line() -> Result {
    let output = shoal(&["get", "users"], "")?;
    assert_error(&output, 2, "the following required arguments were not provided: <KEY_JSON>")?;
    let output = shoal(&["put", "users", "{}", "--bogus"], "")?;
    assert_error(&output, 2, "unexpected argument '--bogus' found")?;
    let output = shoal(&["table", "create", "users", "--partition-key", "id:X"], "")?;
    assert_error(&output, 2, "invalid value 'id:X' for '--partition-key <NAME:S|N|B>'")
}

#[test]
fn bad_json_exits_2_before_connecting() -> Result {
    let output = shoal(&["put", "users", r#"{"id": }"#], "")?;
    assert_error(&output, 2, "ITEM_JSON is not valid JSON: ")?;
    let output = shoal(&["get", "users", "-"], "[1, 2]")?;
    assert_error(&output, 2, "KEY_JSON: at $: an item must be a JSON object")?;
    let output = shoal(&["--typed", "get", "users", r#"{"id": "x"}"#], "")?;
    assert_error(&output, 2, "KEY_JSON: at $.id: typed value must be an object")?;
    let output = shoal(&["batch", "write", "users", "@/nonexistent/ops.json"], "")?;
    assert_error(&output, 2, "cannot read OPS_JSON_ARRAY from file '/nonexistent/ops.json'")?;
    let output = shoal(&["scan", "users", "--page-token", "0x10"], "")?;
    assert_error(&output, 2, "--page-token: 'x' at offset 1 is not a hex digit")
}

#[test]
fn no_server_exits_6() -> Result {
    let address = closed_address()?;
    let output = shoal_at(&address, &["get", "users", r#"{"id": "a"}"#], "")?;
    assert_error(&output, 6, &format!("cannot connect to {address}"))?;
    let output = shoal_at(&address, &["table", "list"], "")?;
    assert_error(&output, 6, "cannot connect")?;
    // --host beats SHOAL_HOST.
    let other = closed_address()?;
    let output = shoal_at(&address, &["--host", &other, "table", "list"], "")?;
    assert_error(&output, 6, &format!("cannot connect to {other}"))
}

#[test]
fn a_bad_server_config_exits_2_naming_the_key() -> Result {
    let mut file = tempfile::NamedTempFile::new()?;
    writeln!(file, "[limits]\nframe_bytes_max = 12")?;
    let path = file.path().to_str().ok_or("temp path is not UTF-8")?.to_owned();
    let output = shoal(&["server", "--config", &path], "")?;
    assert_error(&output, 2, &format!("invalid configuration: {path}:2:"))?;
    assert!(String::from_utf8(output.stderr)?.contains("limits.frame_bytes_max"));
    let output = shoal(&["server", "--shards", "100000"], "")?;
    assert_error(&output, 2, "invalid configuration: shards.count: ")
}
