//! Shoal's Rust client, for ordinary tokio applications.
//!
//! # Quick start
//!
//! ```no_run
//! use shoal_client::{Client, ClientConfig, Item, KeyAttribute, KeyType, TableSpec, Value};
//!
//! # async fn run() -> Result<(), shoal_client::ClientError> {
//! let client = Client::connect(ClientConfig {
//!     hosts: vec!["127.0.0.1:7400".to_owned()],
//!     ..ClientConfig::default()
//! })
//! .await?;
//! let spec = TableSpec {
//!     name: "users".to_owned(),
//!     partition_key: KeyAttribute { name: "id".to_owned(), key_type: KeyType::S },
//!     sort_key: None,
//!     replication_factor: 1,
//!     compaction: Default::default(),
//!     default_ttl_secs: 0,
//!     ttl_attribute: None,
//!     options: Default::default(),
//! };
//! client.create_table(spec, true).await?;
//! let mut item = Item::new();
//! item.insert("id".to_owned(), Value::S("ada".to_owned()));
//! item.insert("lang".to_owned(), Value::S("rust".to_owned()));
//! client.put("users", item).await?;
//! let key = Item::from([("id".to_owned(), Value::S("ada".to_owned()))]);
//! println!("{:?}", client.get("users", key).await?);
//! # Ok(())
//! # }
//! ```
//!
//! `examples/basic.rs` goes further (queries); run it with
//! `cargo run -p shoal-client --example basic -- 127.0.0.1:7400`.
//!
//! # What the client does for you
//!
//! - **Pipelining.** Each address gets [`ClientConfig::connections_per_host`] TCP
//!   connections; many requests share one, and answers are matched by request id in
//!   whatever order they come. At most [`ClientConfig::inflight_per_connection`] requests
//!   are in flight per connection; more callers wait (backpressure).
//! - **Token- and shard-aware routing.** A get, put, delete or update (and a query whose key
//!   condition is a plain `pk = :value`) goes straight to its key's *first replica* — the
//!   node owning the first vnode at or after the key's token in the ring a node advertises
//!   in [`ClusterInfo`] — and there to the port of the core that owns the key, from that
//!   node's shard map (fetched from each node when first needed, cached) and the table's key
//!   schema (described once, cached). If the first replica cannot be reached the request
//!   goes to the next replica, then to a seed; an unreachable node is skipped for a second.
//!   The ring is refreshed every 10 s, and soon after a connection failure or an
//!   `Unavailable` answer. In a one-node cluster the seed's own shard map routes. Everything
//!   else goes to a seed, chosen round-robin, and the node forwards it.
//! - **Warm-up.** Shard maps, table schemas and connections are fetched when first needed;
//!   [`Client::warm_up`] fetches them all up front, so the first requests of a service (or
//!   a benchmark) do not pay for them.
//! - **Deadlines.** Every attempt runs under [`ClientConfig::request_timeout`] (or
//!   [`RequestOptions::timeout`]), which the server also receives.
//! - **Retries.** Idempotent requests ([`Request::is_idempotent`]) are retried on
//!   timeouts, lost connections and `Overloaded`/`Unavailable`/`Timeout` statuses, with a
//!   doubling, jittered backoff. Every write carries a client timestamp (below), so a retried
//!   unconditional put, delete or batch write writes the same version again; conditional
//!   writes and updates are never retried once sent (their outcome depends on what they
//!   read: an `ADD` applied twice counts twice).
//! - **Typed errors.** [`ClientError`] says whether the server refused the request (and
//!   with which [`Status`]), the network failed, or the deadline passed, and
//!   [`ClientError::is_retryable`] whether trying later may help.
//!
//! # Write ordering
//!
//! The client stamps every item write — put, delete, update and batch write, conditional or
//! not — with its own timestamp, `max(now, last + 1)` in µs since the epoch, where `last` is
//! the previous stamp this client gave (one atomic counter per [`Client`], shared by its
//! clones). Replicas merge by last-write-wins on these timestamps, so:
//!
//! - **Same-client ordering.** A write this client sends after another one's answer always
//!   carries a higher timestamp, whichever coordinator handles either, whatever the skew
//!   between the nodes' clocks, and even if this machine's clock stands still or steps back.
//!   Had the coordinators stamped them, a node whose clock runs behind could give the later
//!   write the lower timestamp, and the earlier value would win on every replica.
//! - **Read-your-writes at ONE.** A keyed write goes to its key's first replica, which
//!   writes its own copy before it acknowledges (at any consistency level; at ONE that copy
//!   is the one acknowledgement). A later read at ONE from the same client goes to that same
//!   replica first, so it finds the write, or a newer one.
//!
//! Both hold while the first replica stays reachable: after a fallback to another replica
//! or a seed, or when the ring changed in between, a read at ONE may go to a replica the
//! write has not reached yet (QUORUM writes and reads overlap on every path). Writes from
//! different clients are ordered by their clients' clocks, not by the order they reach the
//! item's lock: an update or conditional write stamped before a competing client's, but
//! applied after it, loses to it on merge. A timestamp set in
//! [`RequestOptions::timestamp_micros`] is sent as is and does not move the counter.
//!
//! # Limits
//!
//! - [`config::HOST_DEFAULT`]: the seed when none is configured.
//! - [`config::RETRY_BACKOFF_MAX`]: the longest pause between retries.
//! - Responses over [`ClientConfig::max_frame_bytes`] break their connection.
#![deny(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

mod client;
pub mod config;
mod connection;
mod error;
mod ops;
mod pool;
mod retry;
mod routing;

pub use client::Client;
pub use config::{ClientConfig, RequestOptions};
pub use error::ClientError;
pub use shoal_net::{
    ClusterInfo, Compaction, Consistency, Item, ItemStatus, KeyAttribute, Page, Placeholders,
    QueryRequest, Request, RequestHeader, Response, ResponseBody, ReturnValues, ScanRequest,
    Status, TableDescription, TableSpec, WriteOp,
};
pub use shoal_types::{KeyType, Number, Value};
