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
//! - **Shard-aware routing.** A get, put, delete or update goes straight to the port of the
//!   core that owns its partition key, from the shard map in the node's [`ClusterInfo`] and
//!   the table's key schema (described once, cached). Everything else goes to a seed, chosen
//!   round-robin, and the node forwards it.
//! - **Deadlines.** Every attempt runs under [`ClientConfig::request_timeout`] (or
//!   [`RequestOptions::timeout`]), which the server also receives.
//! - **Retries.** Idempotent requests ([`Request::is_idempotent`]) are retried on
//!   timeouts, lost connections and `Overloaded`/`Unavailable`/`Timeout` statuses, with a
//!   doubling, jittered backoff. Unconditional puts, deletes and batch writes get a client
//!   timestamp so their retries write the same version; conditional writes and updates are
//!   never retried once sent.
//! - **Typed errors.** [`ClientError`] says whether the server refused the request (and
//!   with which [`Status`]), the network failed, or the deadline passed, and
//!   [`ClientError::is_retryable`] whether trying later may help.
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
