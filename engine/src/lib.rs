//! Shoal's storage engine: one instance per CPU core, owning its data alone (no locks, no
//! state shared between cores). It stores versioned rows and answers reads; it knows nothing
//! of networks, rings or replicas.
//!
//! - [`Engine`] is the entry point: open, create tables, write, get, scan, flush, compact.
//! - [`types`] holds the data model: keys encoded in order, DynamoDB-typed values, rows of
//!   timestamped cells and their last-write-wins merge.
//! - Durability: [`commitlog`] (group commit, crc32c records), [`manifest`] (atomic set of
//!   live files), [`sstable`] (direct-I/O tables with bloom filters), [`cache`] (block cache).
//! - Seams that tests drive: [`io`] (glommio or a fault-injecting memory disk), [`clock`],
//!   [`runtime`] (task queues; the only other place glommio is named).
//!
//! # Limits
//! Partition key 2048 bytes, sort key 1024 bytes, item 400 KiB (DynamoDB's), commit-log record
//! [`commitlog`]'s maximum, scan pages [`query::SCAN_LIMIT_MAX`] items and
//! [`query::SCAN_EXAMINED_MAX`] rows examined.
#![deny(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod cache;
pub mod clock;
pub mod commitlog;
pub mod compaction;
mod engine;
pub mod error;
mod flush;
pub mod io;
pub mod manifest;
pub mod memtable;
pub mod metrics;
pub mod query;
pub mod read;
mod recovery;
pub mod runtime;
pub mod sstable;
pub mod table;

pub use engine::{Engine, FileSummary, OpenReport, StagedWrite};
pub use error::{Error, Result};
pub use manifest::CompactionStrategy;
pub use query::{ScanPage, ScanRange};
pub use shoal_tuning::{BlockCompression, CommitLogSync, EngineConfig};
/// The data model (the `shoal-types` crate), re-exported: the engine's API speaks it.
pub use shoal_types as types;
pub use table::TableOptions;
