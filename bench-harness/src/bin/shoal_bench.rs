//! `shoal-bench`: YCSB-style load generator for Shoal (native client), Redis (RESP) and
//! DynamoDB-compatible endpoints (AWS JSON 1.0 over HTTP/1.1).
//!
//! ```text
//! shoal-bench --workload load --records 100000            # insert the records
//! shoal-bench --workload a --duration-s 30 --concurrency 50 --out a.json
//! shoal-bench --target redis --hosts 127.0.0.1:6379 --workload c --rate 20000
//! shoal-bench --target dynamodb --hosts 127.0.0.1:8000 --workload load
//! ```
//!
//! Tables print every `--report-interval-s` and at the end; `--out` writes JSON (schema in
//! `bench-harness/README.md`). Exit status: 0 when the run completed (even with failed
//! operations, which are counted), 1 when it could not start.

/// mimalloc, as in the node: the generator allocates per operation (requests, decoded
/// items) and glibc's malloc and free were about 8 % of its CPU against Shoal. The
/// generator shares the machine's cores with the server it measures, so its cost per
/// operation is taken from the server's throughput.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde_json::json;
use shoal_bench_harness::connect::{connect_drivers, create_table, shoal_client};
use shoal_bench_harness::connect::{ConnectConfig, TargetKind};
use shoal_bench_harness::driver::{Consistencies, Layout, Record};
use shoal_bench_harness::dynamo::{credentials, ensure_tables, DynamoSettings};
use shoal_bench_harness::keys::Distribution;
use shoal_bench_harness::metrics::{rates, scrape, Counters};
use shoal_bench_harness::report::{print_report, Report};
use shoal_bench_harness::runner::{run, RunConfig};
use shoal_bench_harness::workload::Workload;
use shoal_client::Consistency;

/// Load phase's default time limit: it ends when every record is in.
const LOAD_DURATION_MAX: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TargetArg {
    Shoal,
    Redis,
    /// A DynamoDB-compatible HTTP endpoint (Shoal's DynamoDB listener, dynalite).
    Dynamodb,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DistributionArg {
    Uniform,
    Zipfian,
    Latest,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum LayoutArg {
    Plain,
    Sorted,
}

#[derive(Parser, Debug)]
#[command(
    name = "shoal-bench",
    about = "YCSB-style load generator for Shoal, Redis and DynamoDB-compatible endpoints"
)]
struct Args {
    /// Workload: load (insert --records records), a, b, c, d, e or f.
    #[arg(long)]
    workload: String,
    /// System under test.
    #[arg(long, value_enum, default_value = "shoal")]
    target: TargetArg,
    /// Comma-separated host:port (Shoal seeds; Redis server; DynamoDB endpoints, task i
    /// using host i mod n). Default 127.0.0.1:7400 for Shoal, 127.0.0.1:6379 for Redis,
    /// 127.0.0.1:8000 for DynamoDB.
    #[arg(long, value_delimiter = ',')]
    hosts: Vec<String>,
    /// Records loaded (the load phase inserts 0..records; the others read them).
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// Stop after this many operations in total.
    #[arg(long)]
    operations: Option<u64>,
    /// Stop after this many seconds (default 30; the load phase runs until done).
    #[arg(long)]
    duration_s: Option<f64>,
    /// Bytes per record, split evenly over the fields.
    #[arg(long, default_value_t = 1000)]
    value_bytes: usize,
    /// Fields per record.
    #[arg(long, default_value_t = 10)]
    fields: usize,
    /// Reads in this proportion and updates in the rest, instead of the workload's mix (for
    /// example 0.8 for the cluster issue's 80 % GET / 20 % PUT).
    #[arg(long)]
    read_proportion: Option<f64>,
    /// Key distribution (default: the workload's).
    #[arg(long, value_enum)]
    distribution: Option<DistributionArg>,
    /// Zipfian constant, in (0, 1).
    #[arg(long, default_value_t = 0.99)]
    zipf_theta: f64,
    /// Record layout: sorted groups records for short scans (workload E, and a load meant
    /// for it). Default: sorted for workload e, plain otherwise.
    #[arg(long, value_enum)]
    layout: Option<LayoutArg>,
    /// Longest scan of workload E (lengths are uniform in 1..=max).
    #[arg(long, default_value_t = 100)]
    max_scan_length: u64,
    /// Client tasks, each with one operation in flight.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// tokio worker threads of the generator.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Open loop at this many operations per second in total (default: closed loop).
    #[arg(long)]
    rate: Option<f64>,
    /// Consistency of reads (ONE, QUORUM, ALL, DEFAULT).
    #[arg(long, default_value = "QUORUM")]
    read_consistency: String,
    /// Consistency of updates and inserts (default QUORUM). DynamoDB target: when given,
    /// sent as the `x-shoal-consistency` header of writes (Shoal honours it).
    #[arg(long)]
    write_consistency: Option<String>,
    /// Consistency of scans.
    #[arg(long, default_value = "QUORUM")]
    scan_consistency: String,
    /// Replication factor of the tables created (Shoal).
    #[arg(long, default_value_t = 3)]
    rf: u8,
    /// Deadline of one operation, in ms.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Retries of idempotent requests inside the Shoal client (0: every failure counts).
    #[arg(long, default_value_t = 0)]
    retries: u32,
    /// Shoal clients shared by the tasks: 1 (the default) is one client for the whole run,
    /// as an application (and YCSB's Cassandra binding, or cassandra-stress) shares one driver
    /// session; its pipelined connections carry every task's requests. 0: one client per
    /// task, so each task has connections of its own, one request in flight on each, as the
    /// Redis target's connection per task.
    #[arg(long, default_value_t = 1)]
    shoal_clients: usize,
    /// AWS access key of the DynamoDB target (requests are signed with Signature V4 for
    /// us-east-1, service dynamodb).
    #[arg(long, default_value = "shoal")]
    aws_access_key: String,
    /// AWS secret key of the DynamoDB target.
    #[arg(long, default_value = "shoal")]
    aws_secret_key: String,
    /// Seconds between interval tables (0: only the final one).
    #[arg(long, default_value_t = 5.0)]
    report_interval_s: f64,
    /// Metrics endpoints (host:port) for per-shard rates; default: each Shoal host's
    /// address with port 7480 (none for the DynamoDB target). `none` disables.
    #[arg(long, value_delimiter = ',')]
    metrics: Vec<String>,
    /// Seed of the random generators.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the results here as JSON.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn consistency(name: &str) -> Result<Consistency, String> {
    Consistency::parse(name).ok_or_else(|| format!("unknown consistency level {name}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(bench(args)),
        Err(e) => Err(format!("cannot start the runtime: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("shoal-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Everything `main` needs from the arguments, checked.
struct Plan {
    target: TargetKind,
    connect: ConnectConfig,
    run: RunConfig,
    metrics: Vec<String>,
}

fn plan(args: &Args) -> Result<Plan, String> {
    if !(args.zipf_theta > 0.0 && args.zipf_theta < 1.0) {
        return Err(format!("--zipf-theta must be in (0, 1), got {}", args.zipf_theta));
    }
    let mut workload = Workload::named(&args.workload, args.zipf_theta)
        .ok_or_else(|| format!("unknown workload {} (load, a..f)", args.workload))?;
    if let Some(p) = args.read_proportion {
        if !(0.0..=1.0).contains(&p) || workload.is_load || workload.scans() {
            return Err(format!(
                "--read-proportion must be in [0, 1] and applies to workloads a-d and f, got {p}"
            ));
        }
        workload.mix = vec![
            (shoal_bench_harness::workload::OpKind::Read, p),
            (shoal_bench_harness::workload::OpKind::Update, 1.0 - p),
        ];
    }
    let theta = args.zipf_theta;
    let distribution = match args.distribution {
        None => workload.distribution,
        Some(DistributionArg::Uniform) => Distribution::Uniform,
        Some(DistributionArg::Zipfian) => Distribution::Zipfian { theta },
        Some(DistributionArg::Latest) => Distribution::Latest { theta },
    };
    let layout = match args.layout {
        Some(LayoutArg::Sorted) => Layout::Sorted,
        Some(LayoutArg::Plain) => Layout::Plain,
        None if workload.scans() => Layout::Sorted,
        None => Layout::Plain,
    };
    let fields = args.fields.max(1);
    let record = Record { fields, field_bytes: args.value_bytes / fields, layout };
    let target = match args.target {
        TargetArg::Shoal => TargetKind::Shoal,
        TargetArg::Redis => TargetKind::Redis,
        TargetArg::Dynamodb => TargetKind::Dynamo,
    };
    let hosts = if args.hosts.is_empty() {
        vec![match target {
            TargetKind::Shoal => "127.0.0.1:7400".to_owned(),
            TargetKind::Redis => "127.0.0.1:6379".to_owned(),
            TargetKind::Dynamo => "127.0.0.1:8000".to_owned(),
        }]
    } else {
        args.hosts.clone()
    };
    let metrics = match (target, args.metrics.as_slice()) {
        (_, [none]) if none == "none" => Vec::new(),
        (TargetKind::Shoal, []) => hosts
            .iter()
            .map(|h| format!("{}:7480", h.rsplit_once(':').map_or(h.as_str(), |(ip, _)| ip)))
            .collect(),
        (_, list) => list.to_vec(),
    };
    let concurrency = args.concurrency.max(1);
    let explicit_write = args.write_consistency.as_deref().map(consistency).transpose()?;
    let consistencies = Consistencies {
        read: consistency(&args.read_consistency)?,
        write: explicit_write.unwrap_or(Consistency::Quorum),
        scan: consistency(&args.scan_consistency)?,
    };
    let dynamo = (target == TargetKind::Dynamo).then(|| DynamoSettings {
        credentials: credentials(&args.aws_access_key, &args.aws_secret_key),
        consistency: consistencies,
        // DEFAULT leaves the choice to the server, like no header at all.
        write_consistency_header: explicit_write.filter(|c| *c != Consistency::Default),
    });
    let connect = ConnectConfig {
        target,
        hosts,
        record,
        consistency: consistencies,
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        concurrency,
        shoal_clients: args.shoal_clients,
        retries: args.retries,
        dynamo,
    };
    let duration = match (args.duration_s, workload.is_load) {
        (Some(s), _) => Duration::from_secs_f64(s.max(0.0)),
        (None, true) => LOAD_DURATION_MAX,
        (None, false) => Duration::from_secs(30),
    };
    let run = RunConfig {
        workload,
        distribution,
        records: args.records,
        operations: args.operations,
        duration,
        concurrency,
        rate: args.rate.filter(|r| *r > 0.0),
        max_scan_length: args.max_scan_length,
        report_interval: (args.report_interval_s > 0.0)
            .then(|| Duration::from_secs_f64(args.report_interval_s)),
        record,
        seed: args.seed,
    };
    Ok(Plan { target, connect, run, metrics })
}

async fn scrape_all(nodes: &[String]) -> Vec<Option<Counters>> {
    let mut all = Vec::new();
    for node in nodes {
        match scrape(node).await {
            Ok(c) => all.push(Some(c)),
            Err(e) => {
                eprintln!("shoal-bench: no per-shard figures from {node}: {e}");
                all.push(None);
            }
        }
    }
    all
}

async fn bench(args: Args) -> Result<(), String> {
    let plan = plan(&args)?;
    if plan.target == TargetKind::Shoal {
        let client = shoal_client(&plan.connect).await.map_err(|e| e.to_string())?;
        create_table(&client, plan.connect.record.layout, args.rf)
            .await
            .map_err(|e| format!("cannot create the table: {e}"))?;
    }
    if let (TargetKind::Dynamo, Some(settings)) = (plan.target, &plan.connect.dynamo) {
        let c = &plan.connect;
        ensure_tables(&c.hosts, settings, c.record, c.timeout)
            .await
            .map_err(|e| format!("cannot create the table: {e}"))?;
    }
    let drivers = connect_drivers(&plan.connect).await?;
    let before = scrape_all(&plan.metrics).await;
    let result = run(&plan.run, drivers).await;
    let after = scrape_all(&plan.metrics).await;
    let mut per_shard = Vec::new();
    for ((node, b), a) in plan.metrics.iter().zip(&before).zip(&after) {
        if let (Some(b), Some(a)) = (b, a) {
            per_shard.extend(rates(node, b, a, result.elapsed));
        }
    }
    let open_loop = plan.run.rate.is_some();
    let ops = Report::ops_of(&result.stats, result.elapsed, open_loop);
    let secs = result.elapsed.as_secs_f64().max(1e-9);
    let report = Report {
        target: plan.target.name().to_owned(),
        workload: plan.run.workload.name.to_owned(),
        mode: if open_loop { "open" } else { "closed" }.to_owned(),
        duration_s: (secs * 1000.0).round() / 1000.0,
        throughput: (result.stats.total() as f64 / secs).round(),
        ops,
        per_shard,
        config: config_json(&args, &plan),
    };
    print_report(&report);
    if let Some(path) = &args.out {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

fn config_json(args: &Args, plan: &Plan) -> serde_json::Value {
    let run = &plan.run;
    let duration_limit_s =
        (run.duration != LOAD_DURATION_MAX).then_some(run.duration.as_secs_f64());
    json!({
        "hosts": plan.connect.hosts,
        "records": run.records,
        "operations": run.operations,
        "duration_limit_s": duration_limit_s,
        "fields": run.record.fields,
        "field_bytes": run.record.field_bytes,
        "layout": match run.record.layout { Layout::Plain => "plain", Layout::Sorted => "sorted" },
        "distribution": run.distribution.name(),
        "zipf_theta": args.zipf_theta,
        "concurrency": run.concurrency,
        "threads": args.threads.max(1),
        "rate": run.rate,
        "read_consistency": plan.connect.consistency.read.as_str(),
        "write_consistency": plan.connect.consistency.write.as_str(),
        "write_consistency_header": plan.connect.dynamo.as_ref()
            .and_then(|d| d.write_consistency_header).map(|c| c.as_str()),
        "scan_consistency": plan.connect.consistency.scan.as_str(),
        "replication_factor": args.rf,
        "timeout_ms": plan.connect.timeout.as_millis() as u64,
        "retries": args.retries,
        "shoal_clients": args.shoal_clients,
        "max_scan_length": run.max_scan_length,
        "seed": run.seed,
    })
}
