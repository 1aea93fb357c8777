//! How a [`crate::Client`] behaves: seeds, defaults for every request, pool sizes, limits.
//!
//! [`ClientConfig`] is a plain struct with public fields and a [`Default`]; change the fields
//! you care about with struct-update syntax. [`RequestOptions`] overrides the per-request
//! fields (consistency, deadline, write timestamp) for one call.

use std::time::Duration;

use shoal_net::Consistency;

/// The address a client dials when the config names none: a node on this machine.
pub const HOST_DEFAULT: &str = "127.0.0.1:7400";
/// Longest pause between two retries, however many came before.
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A client's configuration.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Seed nodes as `host:port` (their native-protocol address). Requests that are not
    /// routed to a shard go round-robin over them. Default: `["127.0.0.1:7400"]`.
    pub hosts: Vec<String>,
    /// Consistency of requests whose options set none. Default: [`Consistency::Quorum`].
    pub consistency: Consistency,
    /// Deadline of one attempt, also sent to the server as `timeout_ms`. Default: 5 s.
    pub request_timeout: Duration,
    /// Deadline for opening a TCP connection. Default: 2 s.
    pub connect_timeout: Duration,
    /// Extra attempts after a retryable failure, for idempotent requests only. Default: 3.
    pub retries: u32,
    /// Pause before the first retry; it doubles with every retry, has random jitter (half to
    /// all of it) and is capped at [`RETRY_BACKOFF_MAX`]. Default: 20 ms.
    pub retry_backoff: Duration,
    /// Pipelined connections per address. More spread a busy client over more server cores'
    /// accept queues; one is enough for most. Default: 1.
    pub connections_per_host: usize,
    /// Requests in flight on one connection; further callers wait for a free slot
    /// (backpressure), inside their deadline. Default: 128.
    pub inflight_per_connection: usize,
    /// Send single-partition requests straight to the key's first replica, to the port of
    /// the shard (core) that owns the key there, when the nodes advertise a ring and shard
    /// maps this client understands; also refresh the ring in the background. Default: true.
    pub shard_aware: bool,
    /// Largest response body accepted; a larger frame breaks the connection.
    /// Default: [`shoal_net::frame::FRAME_BYTES_MAX_DEFAULT`].
    pub max_frame_bytes: usize,
    /// Before each socket write, let the other tasks that are ready to run queue their
    /// requests first (one yield to the runtime), so that requests issued together leave in
    /// one write and reach the node's shard in one read. Costs one pass of the runtime's
    /// scheduler per write; saves a write and the node's read per request it joins.
    /// Default: true (as the ScyllaDB and DataStax drivers' write coalescing).
    pub write_coalescing: bool,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            hosts: vec![HOST_DEFAULT.to_owned()],
            consistency: Consistency::Quorum,
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            retries: 3,
            retry_backoff: Duration::from_millis(20),
            connections_per_host: 1,
            inflight_per_connection: 128,
            shard_aware: true,
            max_frame_bytes: shoal_net::frame::FRAME_BYTES_MAX_DEFAULT,
            write_coalescing: true,
        }
    }
}

/// Per-request overrides of the [`ClientConfig`] defaults.
#[derive(Clone, Debug, Default)]
pub struct RequestOptions {
    /// Consistency level; `None` takes [`ClientConfig::consistency`].
    pub consistency: Option<Consistency>,
    /// Deadline of each attempt; `None` takes [`ClientConfig::request_timeout`].
    pub timeout: Option<Duration>,
    /// Write timestamp in µs since the epoch; `None` lets the client stamp every write with
    /// its own monotonic clock (`max(now, last + 1)`, see the crate docs, "Write ordering"),
    /// which also makes unconditional puts, deletes and batch writes safe to retry. A value
    /// set here is sent as is and does not move the client's clock; `Some(0)` lets the
    /// coordinator stamp the write.
    pub timestamp_micros: Option<u64>,
}
