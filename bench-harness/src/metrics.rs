//! Per-shard throughput from a Shoal node's Prometheus endpoint (`GET /metrics` on its
//! HTTP port, 7480 by default): the counters `shoal_requests_total{shard="i",op="..."}`
//! are read before and after a run, and their difference over the run's duration is each
//! shard's rate, so skew between cores is visible. Only data operations are counted
//! (`get`, `put`, `delete`, `update`, `batch_get`, `batch_write`, `query`, `scan`).

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The operations counted as load.
const DATA_OPS: [&str; 8] =
    ["get", "put", "delete", "update", "batch_get", "batch_write", "query", "scan"];
/// Deadline of one scrape.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest metrics page read.
const SCRAPE_BYTES_MAX: u64 = 16 << 20;

/// Request counters of one node: (shard, op) → count.
pub type Counters = BTreeMap<(u32, String), u64>;

/// One shard's rate over a run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ShardRate {
    /// The node's metrics address.
    pub node: String,
    /// Shard number on that node.
    pub shard: u32,
    /// Data operations per second, all kinds.
    pub ops_per_sec: f64,
    /// Per operation, those that ran.
    pub by_op: BTreeMap<String, f64>,
}

/// Reads the request counters of the node whose HTTP endpoint is `address` (`host:port`).
///
/// # Errors
/// Connection errors, a timeout, or a response that is not `200 OK`.
pub async fn scrape(address: &str) -> io::Result<Counters> {
    let fetch = async {
        let mut stream = TcpStream::connect(address).await?;
        let request =
            format!("GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut body = Vec::new();
        stream.take(SCRAPE_BYTES_MAX).read_to_end(&mut body).await?;
        Ok::<_, io::Error>(body)
    };
    let body = tokio::time::timeout(SCRAPE_TIMEOUT, fetch)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "metrics scrape timed out"))??;
    let text = String::from_utf8_lossy(&body);
    if !text.starts_with("HTTP/1.1 200") && !text.starts_with("HTTP/1.0 200") {
        let status = text.lines().next().unwrap_or_default().to_owned();
        return Err(io::Error::other(format!("metrics: {status}")));
    }
    Ok(parse(&text))
}

/// Parses `shoal_requests_total{shard="i",op="x"} n` lines; ignores everything else.
pub fn parse(text: &str) -> Counters {
    let mut counters = Counters::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("shoal_requests_total{") else { continue };
        let Some((labels, value)) = rest.split_once("} ") else { continue };
        let (mut shard, mut op) = (None, None);
        for label in labels.split(',') {
            match label.split_once('=') {
                Some(("shard", v)) => shard = v.trim_matches('"').parse::<u32>().ok(),
                Some(("op", v)) => op = Some(v.trim_matches('"').to_owned()),
                _ => {}
            }
        }
        if let (Some(shard), Some(op), Ok(n)) = (shard, op, value.trim().parse::<u64>()) {
            counters.insert((shard, op), n);
        }
    }
    counters
}

/// Each shard's data operations per second between `before` and `after`.
pub fn rates(node: &str, before: &Counters, after: &Counters, elapsed: Duration) -> Vec<ShardRate> {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut shards: BTreeMap<u32, ShardRate> = BTreeMap::new();
    for ((shard, op), n) in after {
        if !DATA_OPS.contains(&op.as_str()) {
            continue;
        }
        let delta = n.saturating_sub(before.get(&(*shard, op.clone())).copied().unwrap_or(0));
        let entry = shards.entry(*shard).or_insert_with(|| ShardRate {
            node: node.to_owned(),
            shard: *shard,
            ops_per_sec: 0.0,
            by_op: BTreeMap::new(),
        });
        let rate = (delta as f64 / secs).round();
        entry.ops_per_sec += rate;
        if delta > 0 {
            entry.by_op.insert(op.clone(), rate);
        }
    }
    shards.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_per_shard_from_two_scrapes() {
        let before = parse(
            "# HELP x\nshoal_requests_total{shard=\"0\",op=\"get\"} 10\n\
             shoal_requests_total{shard=\"1\",op=\"get\"} 0\n",
        );
        let after = parse(
            "shoal_requests_total{shard=\"0\",op=\"get\"} 210\n\
             shoal_requests_total{shard=\"0\",op=\"cluster_info\"} 50\n\
             shoal_requests_total{shard=\"1\",op=\"get\"} 100\n\
             shoal_requests_total{shard=\"1\",op=\"update\"} 100\n\
             shoal_request_errors_total{shard=\"1\",op=\"get\"} 3\n",
        );
        let r = rates("n1", &before, &after, Duration::from_secs(2));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].ops_per_sec, 100.0);
        assert_eq!(r[1].ops_per_sec, 100.0);
        assert_eq!(r[1].by_op.get("update"), Some(&50.0));
        assert!(!r[0].by_op.contains_key("cluster_info"));
    }
}
