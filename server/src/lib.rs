//! A Shoal node: one glommio executor per shard (core), each owning its engine, its
//! listeners and its queues, with nothing shared between cores but settings and atomics.
//!
//! - [`node`]: start-up and shutdown; [`shard`]: one core's state.
//! - [`conn`]: client connections (frames, pipelining, backpressure); [`http`]: health and
//!   metrics; [`mesh`]: cross-core messages.
//! - [`router`]: where a request runs; [`ops`], [`range`], [`schema`]: what it does.
//! - [`catalog`], `shoal_net::keys`, [`metrics`], [`stalls`]: the schema, item keys, counters,
//!   scheduling delays.
//!
//! glommio is named only in `node`, `conn`, `http` and `mesh` (plus the engine's `io` and
//! `runtime`), so the runtime could be swapped.
#![deny(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod catalog;
pub mod conn;
pub mod dynamo_http;
pub mod error;
pub mod hints;
pub mod http;
pub mod membership;
pub mod mesh;
pub mod metrics;
pub mod node;
pub mod ops;
pub mod peers;
pub mod range;
pub mod readiness;
pub mod replicas;
pub mod router;
pub mod schema;
pub mod shard;
pub mod stalls;

pub use error::ServerError;
pub use node::{run, start, RunningNode};
