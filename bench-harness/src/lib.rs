//! Benchmarks for Shoal: the engine micro-benchmark (`shoal-engine-bench`, a binary of its
//! own) and `shoal-bench`, a YCSB-style load generator built from the modules below.
//!
//! | module | what |
//! |---|---|
//! | [`rng`] | the per-task random generator |
//! | [`keys`] | key distributions (uniform, zipfian, latest) and key names |
//! | [`workload`] | YCSB workloads A–F and the load phase as operation mixes |
//! | [`stats`] | per-task HdrHistograms and error counts, and their merge |
//! | [`driver`] | what each operation does on Shoal (native client), Redis (RESP) and DynamoDB |
//! | [`redis`] | a minimal RESP client |
//! | [`dynamo`] | the DynamoDB target: HTTP/1.1 keep-alive client, signed JSON requests |
//! | [`connect`] | opening connections, creating Shoal's tables |
//! | [`runner`] | closed- and open-loop engines, the periodic reporter |
//! | [`metrics`] | per-shard rates from a node's `/metrics` |
//! | [`report`] | tables and the `--out` JSON |
//!
//! Limits: [`stats::LATENCY_NS_MAX`] (largest latency tracked exactly),
//! [`redis::REPLY_BYTES_MAX`] and [`redis::REPLY_ITEMS_MAX`] (largest RESP reply accepted),
//! [`dynamo::HEAD_BYTES_MAX`] and [`dynamo::BODY_BYTES_MAX`] (largest HTTP response accepted),
//! [`driver::SORTED_BUCKET_KEYS`] (records per partition of workload E's layout).
#![deny(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod connect;
pub mod driver;
pub mod dynamo;
pub mod keys;
pub mod metrics;
pub mod pacer;
pub mod redis;
pub mod report;
pub mod rng;
pub mod runner;
pub mod stats;
pub mod workload;
