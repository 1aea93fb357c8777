//! `shoal dev-cluster` end to end: three real nodes on their own 127.x.y.1-3 addresses, ready
//! only once every node sees all three up; `admin status` and `admin replica-read` against
//! single nodes; SIGTERM stops everything; a second start reuses the data; a node's config
//! file restarts it alone.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

const READY_DEADLINE: Duration = Duration::from_secs(120);
const STOP_DEADLINE: Duration = Duration::from_secs(60);

fn shoal_bin() -> &'static str {
    env!("CARGO_BIN_EXE_shoal")
}

/// `127.A.B.` for this test process: the second octet (220-255) is above the range
/// `harness/mod.rs` uses (20-219), so other test binaries running at once never collide.
fn address_prefix() -> String {
    let pid = std::process::id();
    format!("127.{}.{}.", 220 + pid % 36, (pid / 36) % 256)
}

/// A running `shoal dev-cluster`; SIGKILLed if a test fails while it runs (its nodes get
/// SIGTERM from the kernel when it dies).
struct DevCluster {
    child: Option<Child>,
    lines: Receiver<String>,
    stdout: Vec<String>,
    stderr_path: PathBuf,
}

impl DevCluster {
    /// Starts `shoal dev-cluster` on `base_dir`; its stderr goes to `stderr_path`.
    fn start(base_dir: &Path, prefix: &str, stderr_path: PathBuf) -> DevCluster {
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut child = Command::new(shoal_bin())
            .args(["dev-cluster", "--nodes", "3", "--base-dir"])
            .arg(base_dir)
            .args(["--first-address", &format!("{prefix}1"), "--gossip-interval-ms", "100"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start shoal dev-cluster");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        DevCluster { child: Some(child), lines, stdout: Vec::new(), stderr_path }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("running")
    }

    /// Waits for the `ready:` line and returns the addresses it lists.
    fn wait_ready(&mut self) -> Vec<String> {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    let rest = line.strip_prefix("ready: ").unwrap_or_else(|| {
                        panic!("unexpected stdout line {line:?}; stderr:\n{}", self.stderr())
                    });
                    return rest.split(' ').map(str::to_owned).collect();
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child().wait().expect("wait");
                    panic!(
                        "dev-cluster exited ({status}) before ready; stderr:\n{}",
                        self.stderr()
                    );
                }
            }
            if let Some(status) = self.child().try_wait().expect("try_wait") {
                panic!("dev-cluster exited ({status}) before ready; stderr:\n{}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "no ready line within {READY_DEADLINE:?}; stderr:\n{}",
                self.stderr()
            );
        }
    }

    /// SIGTERM, then its exit status within [`STOP_DEADLINE`]; also collects the rest of
    /// its stdout.
    fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + STOP_DEADLINE;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "dev-cluster still running {STOP_DEADLINE:?} after SIGTERM:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.stdout.push(line);
        }
        status
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: a signal to our own, not yet reaped child.
    unsafe { libc::kill(pid as libc::pid_t, signal) };
}

fn shoal(host: &str, args: &[&str]) -> Output {
    Command::new(shoal_bin())
        .args(["--host", host])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run shoal")
}

fn stdout_of(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

/// `admin status --json` of `host`, parsed.
fn status(host: &str) -> Vec<Json> {
    let text = stdout_of(&shoal(host, &["admin", "status", "--json"]), "admin status --json");
    let json: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    json.as_array().expect("an array").clone()
}

fn refused(address: &str) -> bool {
    let address: SocketAddr = address.parse().expect("address");
    TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err()
}

fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn dev_cluster_runs_three_nodes_and_stops_them_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = dir.path().join("cluster");
    let prefix = address_prefix();
    let natives: Vec<String> = (1..=3).map(|i| format!("{prefix}{i}:7400")).collect();

    // First start: an empty base directory.
    let mut cluster = DevCluster::start(&base, &prefix, dir.path().join("first.stderr"));
    assert_eq!(cluster.wait_ready(), natives);
    // Every node serves the DynamoDB API on its own address, port 8000, and says so.
    for i in 1..=3 {
        let api = format!("{prefix}{i}:8000");
        assert!(!refused(&api), "nothing listens on {api}");
    }
    assert!(
        cluster.stderr().contains(&format!("DynamoDB API at http://{prefix}1:8000")),
        "{}",
        cluster.stderr()
    );

    // Node 2's view: all three, up.
    let nodes = status(&natives[1]);
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    for (node, native) in nodes.iter().zip(&natives) {
        assert_eq!(node["address"], native.as_str(), "{nodes:?}");
        assert_eq!(node["up"], true, "{nodes:?}");
        assert_eq!(node["status"], "normal", "{nodes:?}");
        assert_eq!(node["internode"], native.replace(":7400", ":7470"), "{nodes:?}");
        assert_eq!(node["http"], native.replace(":7400", ":7480"), "{nodes:?}");
    }
    let table = stdout_of(&shoal(&natives[0], &["admin", "status"]), "admin status");
    assert_eq!(table.lines().count(), 4, "{table}");
    assert!(table.starts_with("ADDRESS"), "{table}");

    // The files: node K's config parses to its addresses and every seed.
    let text = std::fs::read_to_string(base.join("node2/shoal.toml")).expect("node2 config");
    let config = shoal_tuning::NodeConfig::from_toml_str(&text).expect("config parses");
    assert_eq!(config.node.listen.to_string(), natives[1]);
    let seeds: Vec<String> = natives.iter().map(|n| n.replace(":7400", ":7470")).collect();
    assert_eq!(config.node.seeds, seeds);
    assert!(config.node.data_dir.ends_with("node2/data"), "{:?}", config.node.data_dir);
    assert!(base.join("node2/server.log").exists());

    // An item written at ALL is in every replica's own copy.
    let create =
        ["table", "create", "items", "--partition-key", "id:S", "--replication-factor", "3"];
    stdout_of(&shoal(&natives[0], &create), "table create");
    let put = ["--consistency", "ALL", "put", "items", r#"{"id": "a", "v": 1}"#];
    stdout_of(&shoal(&natives[0], &put), "put");
    for native in &natives {
        let read = shoal(native, &["admin", "replica-read", "items", r#"{"id": "a"}"#]);
        assert_eq!(stdout_of(&read, "replica-read"), "{\"id\":\"a\",\"v\":1}\n", "{native}");
        let raw = shoal(native, &["admin", "replica-read", "items", r#"{"id": "a"}"#, "--raw"]);
        let raw: Json = serde_json::from_str(&stdout_of(&raw, "replica-read --raw")).expect("json");
        assert!(raw["cells"]["v"]["ts"].as_u64().expect("a timestamp") > 0, "{raw}");
    }
    let missing = shoal(&natives[2], &["admin", "replica-read", "items", r#"{"id": "zz"}"#]);
    assert_eq!(missing.status.code(), Some(3), "{missing:?}");
    assert!(missing.stdout.is_empty());

    // SIGTERM: exit 0, every node gone, exactly one line on stdout.
    let status = cluster.terminate();
    assert!(status.success(), "{status}; stderr:\n{}", cluster.stderr());
    for native in &natives {
        wait_for(&format!("{native} to refuse connections"), Duration::from_secs(10), || {
            refused(native)
        });
    }
    assert_eq!(cluster.stdout.len(), 1, "{:?}", cluster.stdout);

    // A second start reuses the directory: the table and the item are still there.
    let mut cluster = DevCluster::start(&base, &prefix, dir.path().join("second.stderr"));
    assert_eq!(cluster.wait_ready(), natives);
    let read = shoal(&natives[2], &["admin", "replica-read", "items", r#"{"id": "a"}"#]);
    assert_eq!(stdout_of(&read, "replica-read after restart"), "{\"id\":\"a\",\"v\":1}\n");
    let status = cluster.terminate();
    assert!(status.success(), "{status}; stderr:\n{}", cluster.stderr());
    for native in &natives {
        wait_for(&format!("{native} to refuse connections"), Duration::from_secs(10), || {
            refused(native)
        });
    }

    // `shoal server --config DIR/node1/shoal.toml` runs node 1 alone on its own data.
    let log = std::fs::File::create(dir.path().join("alone.log")).expect("log");
    let mut alone = Command::new(shoal_bin())
        .arg("server")
        .arg("--config")
        .arg(base.join("node1/shoal.toml"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start node 1 alone");
    let deadline = Instant::now() + Duration::from_secs(60);
    let read = loop {
        let read = shoal(&natives[0], &["admin", "replica-read", "items", r#"{"id": "a"}"#]);
        if read.status.success() || Instant::now() >= deadline {
            break read;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    signal(alone.id(), libc::SIGTERM);
    let status = alone.wait().expect("wait");
    assert!(read.status.success(), "{read:?}");
    assert_eq!(String::from_utf8_lossy(&read.stdout), "{\"id\":\"a\",\"v\":1}\n");
    assert!(status.success(), "node 1 alone: {status}");
}

#[test]
fn impossible_addresses_exit_2_without_starting_anything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(shoal_bin())
        .args(["dev-cluster", "--nodes", "3", "--first-address", "127.0.0.254", "--base-dir"])
        .arg(dir.path().join("c"))
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("shoal: error: --first-address 127.0.0.254 leaves room"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
