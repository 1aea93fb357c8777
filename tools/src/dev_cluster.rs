//! `shoal dev-cluster`: N real `shoal server` processes on 127.0.0.1, 127.0.0.2, ... run in
//! the foreground, for development and tests.
//!
//! 1. [`plan`]: one [`NodePlan`] per node: its address (the first address with the last part
//!    increased), `DIR/nodeK/{shoal.toml, data, server.log}`, and a [`NodeConfig`] whose seeds
//!    are every node's internode address. The file is rewritten at each start (data is kept),
//!    and `shoal server --config DIR/nodeK/shoal.toml` restarts that node alone.
//! 2. SIGINT and SIGTERM are blocked in this thread before anything is spawned (threads
//!    started later inherit the mask), so they wait for [`wait_signal`]; the nodes are this
//!    binary re-executed as `shoal server` (their mask is reset, and each node blocks and
//!    waits for its own signals).
//! 3. A readiness thread asks every node for `/health` and `NodeStatus` until each answers 200
//!    and lists all nodes up; then one `ready: ADDR ...` line goes to stdout.
//! 4. The main thread polls: a signal stops every node (SIGTERM, SIGKILL after 60 s) and exits
//!    0; a node that exits on its own before the cluster is ready stops the others and exits 1
//!    (once ready, it is reported and the others keep running; when all have exited, exit 1); so does not being ready
//!    within 120 s.

mod toml;

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use shoal_client::{Client, ClientConfig};
use shoal_net::{Request, ResponseBody};
use shoal_tuning::{CpuPin, NodeConfig, HTTP_PORT_DEFAULT, INTERNODE_PORT_DEFAULT};

pub use self::toml::config_toml;
use crate::args::DevClusterArgs;
use crate::error::CliError;

/// How long stopping nodes get after SIGTERM before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often children and signals are polled.
const POLL: Duration = Duration::from_millis(100);
/// Pause between two readiness rounds.
const READY_POLL: Duration = Duration::from_millis(200);
/// Deadline of one readiness probe (connect, or a request).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One node of the cluster, before it runs.
#[derive(Clone, Debug)]
pub struct NodePlan {
    /// 1-based number: `nodeK`.
    pub number: usize,
    /// `DIR/nodeK`.
    pub dir: PathBuf,
    /// `DIR/nodeK/shoal.toml`.
    pub config_path: PathBuf,
    /// `DIR/nodeK/server.log`: the node's stderr and stdout, appended.
    pub log_path: PathBuf,
    /// Its whole configuration.
    pub config: NodeConfig,
}

impl NodePlan {
    /// The native-protocol address clients use.
    pub fn native(&self) -> SocketAddr {
        self.config.listen_addr()
    }

    /// How the node is named in messages: `node 2 (127.0.0.2:7400)`.
    fn name(&self) -> String {
        format!("node {} ({})", self.number, self.native())
    }
}

/// The nodes of `args`, under `base_dir` (which should be absolute, as the files name it).
///
/// # Errors
/// Bad input if the addresses run past the last one of the first address's /24, or a config
/// does not validate.
pub fn plan(args: &DevClusterArgs, base_dir: &Path) -> Result<Vec<NodePlan>, CliError> {
    let count = usize::from(args.nodes);
    let addresses = addresses(args.first_address, count)?;
    let defaults = NodeConfig::default();
    let internode: Vec<String> = addresses
        .iter()
        .map(|ip| SocketAddr::new(IpAddr::V4(*ip), INTERNODE_PORT_DEFAULT).to_string())
        .collect();
    let mut plans = Vec::with_capacity(count);
    for (index, ip) in addresses.iter().enumerate() {
        let number = index + 1;
        let ip = IpAddr::V4(*ip);
        let dir = base_dir.join(format!("node{number}"));
        let mut config = defaults.clone();
        config.node.listen = SocketAddr::new(ip, defaults.node.listen.port());
        config.node.http = Some(SocketAddr::new(ip, HTTP_PORT_DEFAULT));
        config.node.internode = Some(SocketAddr::new(ip, INTERNODE_PORT_DEFAULT));
        config.node.data_dir = dir.join("data");
        config.node.seeds = internode.clone();
        config.shards.count = usize::from(args.shards_per_node);
        config.shards.pin = CpuPin::None;
        config.shards.spin_before_park_us = 0;
        config.cluster.gossip_interval_ms = args.gossip_interval_ms;
        config.validate().map_err(|e| {
            CliError::bad_input(format!("invalid configuration for node {number}: {e}"))
        })?;
        plans.push(NodePlan {
            number,
            config_path: dir.join("shoal.toml"),
            log_path: dir.join("server.log"),
            dir,
            config,
        });
    }
    Ok(plans)
}

/// `count` addresses from `first`, the last part increasing.
fn addresses(first: Ipv4Addr, count: usize) -> Result<Vec<Ipv4Addr>, CliError> {
    let [a, b, c, d] = first.octets();
    let last = usize::from(d) + count.saturating_sub(1);
    if last > 255 {
        return Err(CliError::bad_input(format!(
            "--first-address {first} leaves room for {} nodes, not {count}: node {count} would be \
             {a}.{b}.{c}.{last}",
            256 - usize::from(d)
        )));
    }
    Ok((0..count)
        .filter_map(|i| u8::try_from(usize::from(d) + i).ok())
        .map(|last| Ipv4Addr::new(a, b, c, last))
        .collect())
}

/// The config file's text: a header saying where it comes from, then every key.
///
/// # Errors
/// As [`config_toml`].
pub fn config_file_text(plan: &NodePlan) -> Result<String, CliError> {
    Ok(format!(
        "# {} of a `shoal dev-cluster`, rewritten at each start of the cluster.\n\
         # Run it alone with: shoal server --config {}\n\n{}",
        plan.name(),
        plan.config_path.display(),
        config_toml(&plan.config)?
    ))
}

/// Runs the cluster until SIGINT or SIGTERM.
///
/// # Errors
/// Bad input for impossible addresses; an internal error (exit 1) if the directories cannot
/// be written, a node cannot start, exits on its own, or the cluster is not ready in time.
pub fn run(args: &DevClusterArgs) -> Result<(), CliError> {
    let io = |what: &str, path: &Path, e: std::io::Error| {
        CliError::internal(format!("cannot {what} {}: {e}", path.display()))
    };
    // Bad addresses exit 2 before anything is created.
    plan(args, &args.base_dir)?;
    std::fs::create_dir_all(&args.base_dir).map_err(|e| io("create", &args.base_dir, e))?;
    let base_dir = args.base_dir.canonicalize().map_err(|e| io("resolve", &args.base_dir, e))?;
    let plans = plan(args, &base_dir)?;
    for plan in &plans {
        for dir in [&plan.dir, &plan.config.node.data_dir] {
            std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
        }
        std::fs::write(&plan.config_path, config_file_text(plan)?)
            .map_err(|e| io("write", &plan.config_path, e))?;
    }
    let signals = block_signals()?;
    let mut cluster = Cluster {
        nodes: Vec::with_capacity(plans.len()),
        ready_timeout: Duration::from_secs(args.ready_timeout_secs),
    };
    for plan in &plans {
        match spawn(plan) {
            Ok(child) => cluster.nodes.push(RunningNode { plan: plan.clone(), child, exit: None }),
            Err(error) => {
                cluster.stop(&signals);
                return Err(error);
            }
        }
    }
    let readiness = start_readiness(&plans);
    let result = cluster.supervise(&signals, &readiness);
    if result.is_err() {
        cluster.stop(&signals);
    }
    result
}

/// A node's process.
struct RunningNode {
    plan: NodePlan,
    child: Child,
    /// Set once it was reaped.
    exit: Option<ExitStatus>,
}

impl RunningNode {
    fn signal(&self, signal: libc::c_int) {
        if self.exit.is_some() {
            return;
        }
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: a signal to our own child, which is not reaped yet (so the pid is its).
            unsafe { libc::kill(pid, signal) };
        }
    }

    /// Reaps the process if it exited; returns its status then.
    fn poll(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }
}

struct Cluster {
    nodes: Vec<RunningNode>,
    ready_timeout: Duration,
}

impl Cluster {
    /// Waits for readiness, a signal or a node's exit, whichever comes first, and after
    /// readiness for a signal or a node's exit.
    fn supervise(
        &mut self,
        signals: &libc::sigset_t,
        readiness: &Receiver<Readiness>,
    ) -> Result<(), CliError> {
        let timeout = self.ready_timeout;
        let deadline = Instant::now() + timeout;
        let mut ready = false;
        let mut last = None;
        let mut reported = vec![false; self.nodes.len()];
        loop {
            if let Some(signal) = wait_signal(signals, POLL) {
                eprintln!("shoal dev-cluster: {}, stopping the nodes", signal_name(signal));
                self.stop(signals);
                return Ok(());
            }
            for (index, node) in self.nodes.iter_mut().enumerate() {
                if let Some(status) = node.poll() {
                    // Ctrl-C reaches the nodes too (one process group): one may exit just
                    // before this process sees its own SIGINT.
                    if let Some(signal) = wait_signal(signals, Duration::ZERO) {
                        eprintln!("shoal dev-cluster: {}, stopping the nodes", signal_name(signal));
                        self.stop(signals);
                        return Ok(());
                    }
                    if ready {
                        // Once the cluster is up, a node that dies (or is killed to test a
                        // failure) leaves the others running, as a real cluster would.
                        if let Some(seen) = reported.get_mut(index).filter(|seen| !**seen) {
                            *seen = true;
                            eprintln!(
                                "shoal dev-cluster: {} exited ({status}); the others keep \
                                 running; restart it with `shoal server --config {}`; see {}",
                                node.plan.name(),
                                node.plan.config_path.display(),
                                node.plan.log_path.display()
                            );
                        }
                        continue;
                    }
                    return Err(CliError::internal(format!(
                        "{} exited on its own ({status}); see {}",
                        node.plan.name(),
                        node.plan.log_path.display()
                    )));
                }
            }
            if ready {
                if reported.iter().all(|seen| *seen) {
                    return Err(CliError::internal("every node has exited".to_owned()));
                }
                continue;
            }
            while let Ok(round) = readiness.try_recv() {
                last = Some(round);
            }
            if last.as_ref().is_some_and(Readiness::is_ready) {
                ready = true;
                // The messages first, the ready line last: whoever waits for that line
                // (a script, a test) finds everything said before it.
                eprintln!(
                    "shoal dev-cluster: {} nodes ready; SIGINT or SIGTERM stops them",
                    self.nodes.len()
                );
                let dynamodb: Vec<String> = self
                    .nodes
                    .iter()
                    .filter_map(|n| n.plan.config.dynamodb_addr())
                    .map(|a| format!("http://{a}"))
                    .collect();
                if !dynamodb.is_empty() {
                    eprintln!("shoal dev-cluster: DynamoDB API at {}", dynamodb.join(" "));
                }
                let line = ready_line(self.nodes.iter().map(|n| n.plan.native()));
                let mut stdout = std::io::stdout().lock();
                if let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
                    eprintln!("shoal dev-cluster: cannot write the ready line: {e}");
                }
                continue;
            }
            if Instant::now() >= deadline {
                return Err(CliError::internal(not_ready_message(
                    &self.nodes,
                    last.as_ref(),
                    timeout,
                )));
            }
        }
    }

    /// SIGTERM to every node still running, then waits; SIGKILL for those still running
    /// after [`STOP_TIMEOUT`] or at a second signal.
    fn stop(&mut self, signals: &libc::sigset_t) {
        let mut stopping = Vec::with_capacity(self.nodes.len());
        for node in &mut self.nodes {
            if node.poll().is_none() {
                node.signal(libc::SIGTERM);
                // A node stopped by SIGSTOP (a debugger, Ctrl-Z) handles SIGTERM once resumed.
                node.signal(libc::SIGCONT);
                stopping.push(node.plan.number);
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut killed = false;
        loop {
            let running =
                self.nodes.iter_mut().map(RunningNode::poll).filter(Option::is_none).count();
            if running == 0 {
                break;
            }
            let second_signal = wait_signal(signals, POLL);
            if !killed && (second_signal.is_some() || Instant::now() >= deadline) {
                let why = match second_signal {
                    Some(signal) => format!("{} again", signal_name(signal)),
                    None => format!("still running after {} s", STOP_TIMEOUT.as_secs()),
                };
                eprintln!("shoal dev-cluster: {why}: killing {running} node(s)");
                for node in &self.nodes {
                    node.signal(libc::SIGKILL);
                }
                killed = true;
            }
        }
        for node in self.nodes.iter().filter(|n| stopping.contains(&n.plan.number)) {
            match node.exit {
                Some(status) if status.success() => {}
                Some(status) => eprintln!(
                    "shoal dev-cluster: {} stopped with {status}; see {}",
                    node.plan.name(),
                    node.plan.log_path.display()
                ),
                None => {}
            }
        }
    }
}

/// `ready: 127.0.0.1:7400 127.0.0.2:7400 ...`.
pub fn ready_line(addresses: impl Iterator<Item = SocketAddr>) -> String {
    let addresses: Vec<String> = addresses.map(|a| a.to_string()).collect();
    format!("ready: {}", addresses.join(" "))
}

fn not_ready_message(nodes: &[RunningNode], last: Option<&Readiness>, after: Duration) -> String {
    let failing: Vec<(&RunningNode, String)> = nodes
        .iter()
        .filter_map(|node| {
            let reason = match last {
                None => Some("not probed yet".to_owned()),
                Some(round) => round.reason_of(node.plan.number).map(str::to_owned),
            };
            reason.map(|r| (node, r))
        })
        .collect();
    let names: Vec<String> =
        failing.iter().map(|(node, reason)| format!("{}: {reason}", node.plan.name())).collect();
    let logs: Vec<String> =
        failing.iter().map(|(node, _)| node.plan.log_path.display().to_string()).collect();
    format!(
        "the cluster was not ready after {} s: {}; see {}",
        after.as_secs(),
        names.join("; "),
        logs.join(", ")
    )
}

/// Starts `shoal server --config DIR/nodeK/shoal.toml`, output appended to its log.
fn spawn(plan: &NodePlan) -> Result<Child, CliError> {
    let fail = |e: std::io::Error| CliError::internal(format!("cannot start {}: {e}", plan.name()));
    let exe = std::env::current_exe().map_err(fail)?;
    let mut log =
        OpenOptions::new().create(true).append(true).open(&plan.log_path).map_err(|e| {
            CliError::internal(format!("cannot open {}: {e}", plan.log_path.display()))
        })?;
    // Restarts append to the same log; mark where each run starts.
    let _ = writeln!(log, "--- shoal dev-cluster: starting {} ---", plan.name());
    let stdout = log.try_clone().map_err(fail)?;
    let mut command = Command::new(exe);
    command
        .arg("server")
        .arg("--config")
        .arg(&plan.config_path)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(log);
    unblock_signals_in_child(&mut command);
    command.spawn().map_err(fail)
}

/// The child starts with SIGINT and SIGTERM unblocked (std resets the mask too; this says
/// so), and on Linux gets SIGTERM if the dev-cluster dies without stopping it (SIGKILL), so
/// no node outlives it.
fn unblock_signals_in_child(command: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    #[cfg(target_os = "linux")]
    // SAFETY: getpid is async-signal-safe; it runs before the fork.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe calls
    // (sigemptyset, pthread_sigmask, prctl, getppid) on a local signal set.
    unsafe {
        command.pre_exec(move || {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            #[cfg(target_os = "linux")]
            {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                // The parent died before prctl: no signal will come, so do not start.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the dev-cluster exited"));
                }
            }
            Ok(())
        });
    }
}

/// Blocks SIGINT and SIGTERM in this thread (and the threads it starts later).
fn block_signals() -> Result<libc::sigset_t, CliError> {
    // SAFETY: plain libc calls on a local, initialised signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let code = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if code != 0 {
            return Err(CliError::internal(format!(
                "cannot block SIGINT and SIGTERM: {}",
                std::io::Error::from_raw_os_error(code)
            )));
        }
        Ok(set)
    }
}

/// Waits up to `timeout` for a signal of `set` (blocked); returns it.
fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<libc::c_int> {
    // c_long is 32 bits on some targets, where the conversion can fail.
    #[allow(clippy::unnecessary_fallible_conversions)]
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::try_from(timeout.subsec_nanos()).unwrap_or(0),
    };
    // SAFETY: `set` and `ts` are valid for the call; the siginfo pointer may be null.
    let signal = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (signal > 0).then_some(signal)
}

fn signal_name(signal: libc::c_int) -> String {
    match signal {
        libc::SIGINT => "SIGINT".to_owned(),
        libc::SIGTERM => "SIGTERM".to_owned(),
        other => format!("signal {other}"),
    }
}

/// One readiness round: for each node (by number), why it is not ready, if it is not.
#[derive(Clone, Debug, Default)]
struct Readiness {
    not_ready: Vec<(usize, String)>,
}

impl Readiness {
    fn is_ready(&self) -> bool {
        self.not_ready.is_empty()
    }

    fn reason_of(&self, number: usize) -> Option<&str> {
        self.not_ready.iter().find(|(n, _)| *n == number).map(|(_, reason)| reason.as_str())
    }
}

/// What the readiness thread probes of one node.
#[derive(Clone, Debug)]
struct Probe {
    number: usize,
    native: SocketAddr,
    http: SocketAddr,
}

/// Starts the thread that probes the nodes until they are all ready, sending each round.
/// It ends once they are, or when the receiver is gone.
fn start_readiness(plans: &[NodePlan]) -> Receiver<Readiness> {
    let probes: Vec<Probe> = plans
        .iter()
        .map(|p| Probe { number: p.number, native: p.native(), http: p.config.http_addr() })
        .collect();
    let (sender, receiver) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("dev-cluster-ready".to_owned())
        .spawn(move || readiness_loop(&probes, &sender));
    if let Err(e) = spawned {
        eprintln!("shoal dev-cluster: cannot start the readiness thread: {e}");
    }
    receiver
}

fn readiness_loop(probes: &[Probe], sender: &Sender<Readiness>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            let reason = format!("cannot start the tokio runtime: {e}");
            let not_ready = probes.iter().map(|p| (p.number, reason.clone())).collect();
            let _ = sender.send(Readiness { not_ready });
            return;
        }
    };
    let members: Vec<SocketAddr> = probes.iter().map(|p| p.native).collect();
    loop {
        let mut round = Readiness::default();
        for probe in probes {
            let result = http_health(probe.http)
                .and_then(|()| runtime.block_on(all_up_seen_by(probe.native, &members)));
            if let Err(reason) = result {
                round.not_ready.push((probe.number, reason));
            }
        }
        let ready = round.is_ready();
        if sender.send(round).is_err() || ready {
            return;
        }
        std::thread::sleep(READY_POLL);
    }
}

/// `GET /health` answers 200.
fn http_health(address: SocketAddr) -> Result<(), String> {
    let fail = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("GET http://{address}/health: no answer within {} s", PROBE_TIMEOUT.as_secs())
        }
        _ => format!("GET http://{address}/health: {e}"),
    };
    let mut stream = TcpStream::connect_timeout(&address, PROBE_TIMEOUT).map_err(fail)?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT)).map_err(fail)?;
    stream.set_write_timeout(Some(PROBE_TIMEOUT)).map_err(fail)?;
    write!(stream, "GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
        .map_err(fail)?;
    let mut status_line = String::new();
    BufReader::new(stream).read_line(&mut status_line).map_err(fail)?;
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        Some(code) => Err(format!("GET http://{address}/health answered {code}")),
        None => Err(format!("GET http://{address}/health: no HTTP status line")),
    }
}

/// The node at `native` lists every address of `members` as up.
async fn all_up_seen_by(native: SocketAddr, members: &[SocketAddr]) -> Result<(), String> {
    let config = ClientConfig {
        hosts: vec![native.to_string()],
        request_timeout: PROBE_TIMEOUT,
        connect_timeout: PROBE_TIMEOUT,
        retries: 0,
        shard_aware: false,
        ..ClientConfig::default()
    };
    let fail = |e: shoal_client::ClientError| format!("admin status: {e}");
    let client = Client::connect(config).await.map_err(fail)?;
    let response = client.request(Request::NodeStatus).await.map_err(fail)?;
    let ResponseBody::Nodes(views) = response.body else {
        return Err("admin status: the answer is not a node list".to_owned());
    };
    let missing: Vec<String> = members
        .iter()
        .filter(|member| {
            !views.iter().any(|v| {
                v.up && v.endpoint.status == shoal_net::MemberStatus::Normal
                    && v.endpoint.address.parse::<SocketAddr>().ok() == Some(**member)
            })
        })
        .map(ToString::to_string)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "admin status lists {} of {} nodes up; not up: {}",
        members.len() - missing.len(),
        members.len(),
        missing.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    fn args(extra: &[&str]) -> DevClusterArgs {
        let cli = Cli::try_parse_from(["shoal", "dev-cluster"].iter().chain(extra)).unwrap();
        let Command::DevCluster(args) = cli.command else { panic!("not dev-cluster") };
        args
    }

    #[test]
    fn flags_and_defaults() {
        let a = args(&["--nodes", "3", "--base-dir", "/tmp/x"]);
        assert_eq!(a.nodes, 3);
        assert_eq!(a.base_dir, PathBuf::from("/tmp/x"));
        assert_eq!(a.first_address, Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(a.shards_per_node, 1);
        assert_eq!(a.gossip_interval_ms, 1000);
        let cli = Cli::try_parse_from(["shoal", "dev-cluster", "--nodes", "0", "--base-dir", "d"]);
        assert_eq!(cli.unwrap_err().exit_code(), 2);
        let cli = Cli::try_parse_from(["shoal", "dev-cluster", "--nodes", "2"]);
        assert_eq!(cli.unwrap_err().exit_code(), 2);
        let cli = Cli::try_parse_from([
            "shoal",
            "dev-cluster",
            "--nodes",
            "2",
            "--base-dir",
            "d",
            "--first-address",
            "::1",
        ]);
        assert_eq!(cli.unwrap_err().exit_code(), 2);
    }

    #[test]
    fn nodes_get_consecutive_addresses_and_every_seed() {
        let a = args(&[
            "--nodes",
            "3",
            "--base-dir",
            "/base",
            "--first-address",
            "127.4.5.1",
            "--shards-per-node",
            "2",
            "--gossip-interval-ms",
            "100",
        ]);
        let plans = plan(&a, Path::new("/base")).unwrap();
        assert_eq!(plans.len(), 3);
        let seeds = vec!["127.4.5.1:7470", "127.4.5.2:7470", "127.4.5.3:7470"];
        for (i, p) in plans.iter().enumerate() {
            let ip = Ipv4Addr::new(127, 4, 5, 1 + u8::try_from(i).unwrap());
            assert_eq!(p.number, i + 1);
            assert_eq!(p.dir, PathBuf::from(format!("/base/node{}", i + 1)));
            assert_eq!(p.config_path, p.dir.join("shoal.toml"));
            assert_eq!(p.log_path, p.dir.join("server.log"));
            let c = &p.config;
            assert_eq!(c.node.listen, SocketAddr::from((ip, 7400)));
            assert_eq!(c.shard_addr(1), Some(SocketAddr::from((ip, 7402))));
            assert_eq!(c.http_addr(), SocketAddr::from((ip, 7480)));
            assert_eq!(c.internode_addr(), SocketAddr::from((ip, 7470)));
            assert_eq!(c.node.data_dir, p.dir.join("data"));
            assert_eq!(c.node.seeds, seeds);
            assert_eq!(c.shards.count, 2);
            assert_eq!(c.shards.pin, CpuPin::None);
            assert_eq!(c.shards.spin_before_park_us, 0);
            assert_eq!(c.cluster.gossip_interval_ms, 100);
        }
        let line = ready_line(plans.iter().map(NodePlan::native));
        assert_eq!(line, "ready: 127.4.5.1:7400 127.4.5.2:7400 127.4.5.3:7400");
    }

    #[test]
    fn the_config_file_parses_to_the_plan() {
        let a = args(&["--nodes", "3", "--base-dir", "/b", "--gossip-interval-ms", "250"]);
        for p in plan(&a, Path::new("/b \"odd\" dir")).unwrap() {
            let text = config_file_text(&p).unwrap();
            assert!(text.starts_with(&format!("# node {} (", p.number)), "{text}");
            let parsed = NodeConfig::from_toml_str(&text).unwrap();
            assert_eq!(parsed, p.config, "{text}");
            assert_eq!(parsed.node.listen, p.native());
            assert_eq!(
                parsed.node.seeds,
                vec!["127.0.0.1:7470", "127.0.0.2:7470", "127.0.0.3:7470"]
            );
            assert_eq!(parsed.cluster.gossip_interval_ms, 250);
        }
    }

    #[test]
    fn the_config_file_restarts_the_node_alone() {
        let dir = tempfile::tempdir().unwrap();
        let a = args(&["--nodes", "2", "--base-dir", "unused", "--first-address", "127.9.9.7"]);
        let plans = plan(&a, dir.path()).unwrap();
        let p = &plans[1];
        std::fs::create_dir_all(&p.dir).unwrap();
        std::fs::write(&p.config_path, config_file_text(p).unwrap()).unwrap();
        // What `shoal server --config FILE` reads.
        let server_args =
            crate::args::ServerArgs { config: Some(p.config_path.clone()), ..Default::default() };
        let config = crate::server_cmd::node_config(&server_args).unwrap();
        assert_eq!(config, p.config);
        assert_eq!(config.node.listen, SocketAddr::from(([127, 9, 9, 8], 7400)));
    }

    #[test]
    fn addresses_stay_in_the_last_part() {
        let a = args(&["--nodes", "2", "--base-dir", "b", "--first-address", "127.0.0.254"]);
        assert_eq!(plan(&a, Path::new("/b")).unwrap().len(), 2);
        let a = args(&["--nodes", "3", "--base-dir", "b", "--first-address", "127.0.0.254"]);
        let error = plan(&a, Path::new("/b")).unwrap_err();
        assert_eq!(error.exit, crate::error::Exit::BadInput);
        let message = error.message.unwrap();
        assert!(message.contains("room for 2 nodes, not 3"), "{message}");
        assert!(message.contains("127.0.0.256"), "{message}");
    }

    #[test]
    fn a_node_nobody_listens_on_is_not_ready() {
        // Port 1 on a loopback address nothing uses: refused at once.
        let address = SocketAddr::from(([127, 0, 0, 1], 1));
        let reason = http_health(address).unwrap_err();
        assert!(reason.starts_with("GET http://127.0.0.1:1/health: "), "{reason}");
    }
}
