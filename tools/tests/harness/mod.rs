//! Starts real `shoal server` processes on their own 127.x.y.1 addresses and data
//! directories, and waits for conditions with deadlines (never sleeps and hopes).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shoal_client::{Client, ClientConfig};

static NEXT: AtomicU32 = AtomicU32::new(1);

/// The `shoal` binary under test.
pub fn shoal_bin() -> &'static str {
    env!("CARGO_BIN_EXE_shoal")
}

/// A unique loopback host per node in this test run: the process id picks the second
/// octet, a counter the third, so parallel tests and test binaries never collide.
fn unique_host() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    format!("127.{}.{}.{}", 20 + pid % 200, (pid / 200) % 250 + 1, n % 250 + 1)
}

/// Waits for `condition` until `timeout`, panicking with `what` if it never holds.
pub fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `n` hosts that differ only in the last octet (127.a.b.1 ... 127.a.b.n).
pub fn unique_hosts(n: u32) -> Vec<String> {
    let base = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    // The third octet carries the counter so clusters of one test run never overlap.
    (1..=n).map(|i| format!("127.{}.{}.{}", 20 + pid % 200, 100 + base % 150, i)).collect()
}

/// Starts a cluster of `n` nodes (1 shard each) that gossip every 100 ms, and waits until
/// every node sees every other up.
pub fn start_cluster(n: u32) -> Vec<Node> {
    start_cluster_with(n, "")
}

/// As [`start_cluster`], with `extra_toml` appended to every node's config after `{host}` in
/// it is replaced by that node's host (e.g. `"[dynamodb]\nlisten = \"{host}:8000\"\n"`).
pub fn start_cluster_with(n: u32, extra_toml: &str) -> Vec<Node> {
    let hosts = unique_hosts(n);
    let seeds: Vec<String> = hosts.iter().map(|h| format!("\"{h}:7470\"")).collect();
    let nodes: Vec<Node> = hosts
        .iter()
        .map(|host| {
            let dir = tempfile::tempdir().expect("temp dir");
            let config = dir.path().join("shoal.toml");
            std::fs::write(
                &config,
                format!(
                    "[node]\nlisten = \"{host}:7400\"\nseeds = [{}]\n[cluster]\ngossip_interval_ms = 100\ninternode_timeout_ms = 1000\nfault_injection = true\n{}",
                    seeds.join(", "),
                    extra_toml.replace("{host}", host)
                ),
            )
            .expect("config");
            let extra = vec!["--config".to_string(), config.to_str().expect("utf-8").to_string()];
            let mut node = Node { child: None, host: host.clone(), shards: 1, dir, extra };
            node.spawn();
            node
        })
        .collect();
    for node in &nodes {
        wait_for("every node up in every view", Duration::from_secs(60), || {
            node.up_count() == n as usize
        });
    }
    nodes
}

/// A `shoal server` process.
pub struct Node {
    child: Option<Child>,
    pub host: String,
    pub shards: usize,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl Node {
    /// Starts a node with `shards` shards and waits until `/health` says 200.
    pub fn start(shards: usize) -> Node {
        Node::start_with(shards, &[])
    }

    /// As [`Node::start`], with extra `shoal server` arguments.
    pub fn start_with(shards: usize, extra: &[&str]) -> Node {
        let mut node = Node {
            child: None,
            host: unique_host(),
            shards,
            dir: tempfile::tempdir().expect("temp dir"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        node.spawn();
        node
    }

    pub fn addr(&self) -> String {
        format!("{}:7400", self.host)
    }

    pub fn shard_addr(&self, shard: usize) -> String {
        format!("{}:{}", self.host, 7401 + shard)
    }

    pub fn http_addr(&self) -> String {
        format!("{}:7480", self.host)
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let data = self.dir.path().join("data");
        let child = Command::new(shoal_bin())
            .arg("server")
            .args(["--listen", &self.addr()])
            .args(["--http", &self.http_addr()])
            .args(["--data-dir", data.to_str().expect("utf-8 path")])
            .args(["--shards", &self.shards.to_string()])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start shoal server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.http_get("/health").map(|(status, _)| status) == Some(200) {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("shoal server exited with {status} before it was healthy:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "node not healthy in 60 s:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A GET on the HTTP endpoint: status and body.
    pub fn http_get(&self, path: &str) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(self.http_addr()).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: shoal\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split_whitespace().nth(1)?.parse().ok()?;
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        Some((status, body))
    }

    /// The sum of a metric's samples whose line starts with `prefix`.
    pub fn metric_sum(&self, prefix: &str) -> f64 {
        let (_, body) = self.http_get("/metrics").expect("metrics");
        body.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Nodes this node judges up (from `NodeStatus`), 0 if it does not answer.
    pub fn up_count(&self) -> usize {
        let addr = self.addr();
        // Its own thread and runtime, so async tests may call it too.
        std::thread::spawn(move || Node::up_count_at(addr)).join().unwrap_or(0)
    }

    fn up_count_at(addr: String) -> usize {
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let config = ClientConfig {
                hosts: vec![addr],
                shard_aware: false,
                retries: 0,
                request_timeout: Duration::from_secs(2),
                ..ClientConfig::default()
            };
            let Ok(client) = Client::connect(config).await else { return 0 };
            match client.request(shoal_client::Request::NodeStatus).await {
                Ok(r) => match r.body {
                    shoal_client::ResponseBody::Nodes(nodes) => {
                        nodes.iter().filter(|n| n.up).count()
                    }
                    _ => 0,
                },
                Err(_) => 0,
            }
        })
    }

    /// Turns a fault hook on the node: drop (or stop dropping) its messages to `peer`.
    pub fn drop_messages_to(&self, peer: &Node, on: bool) {
        let path = format!("/debug/faults/drop?peer={}:7470&on={}", peer.host, u8::from(on));
        let (status, body) = self.http_post(&path).expect("fault hook");
        assert_eq!(status, 200, "{body}");
    }

    /// A POST on the HTTP endpoint: status and body.
    pub fn http_post(&self, path: &str) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(self.http_addr()).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "POST {path} HTTP/1.1\r\nHost: shoal\r\nContent-Length: 0\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split_whitespace().nth(1)?.parse().ok()?;
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        Some((status, body))
    }

    /// A client that talks to this node only (no shard routing, no retries).
    pub async fn direct_client(&self) -> Client {
        Client::connect(ClientConfig {
            hosts: vec![self.addr()],
            shard_aware: false,
            retries: 0,
            ..ClientConfig::default()
        })
        .await
        .expect("client connects")
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "node did not stop on SIGTERM:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL (no chance to flush or sync).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the same node again on the same data.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the node first");
        self.spawn();
    }

    /// Resident memory of the node process, from /proc.
    pub fn rss_bytes(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        let kib: u64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .expect("VmRSS");
        kib * 1024
    }

    /// A client of this node.
    pub async fn client(&self) -> Client {
        Client::connect(ClientConfig { hosts: vec![self.addr()], ..ClientConfig::default() })
            .await
            .expect("client connects")
    }

    /// Runs the CLI against this node.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_stdin(args, None)
    }

    /// Runs the CLI with `stdin` as input.
    pub fn cli_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(shoal_bin())
            .args(["--host", &self.addr()])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run shoal");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        child.wait_with_output().expect("shoal output")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A string value.
pub fn s(text: &str) -> shoal_types::Value {
    shoal_types::Value::S(text.to_string())
}

/// A number value.
pub fn n(v: i64) -> shoal_types::Value {
    shoal_types::Value::N(shoal_types::Number::from(v))
}

/// An item from name-value pairs.
pub fn item(pairs: &[(&str, shoal_types::Value)]) -> shoal_client::Item {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Test sizes scale with SHOAL_TEST_SCALE (rows of volume tests; default 3000).
pub fn scale(default: usize) -> usize {
    std::env::var("SHOAL_TEST_SCALE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(default, |s| (default * s / 3000).max(1))
}
