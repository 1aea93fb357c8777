//! Shoal's DynamoDB-compatible API.
//!
//! This crate turns bytes from an HTTP connection into native Shoal requests and native
//! responses back into DynamoDB's JSON. It owns no socket and no runtime: the server reads
//! the connection and hands every parsed request to [`handle`] with a [`Backend`] that
//! executes native requests on the node.
//!
//! - [`http`]: HTTP/1.1 request parsing (keep-alive, pipelining, bounded sizes) and
//!   response writing.
//! - [`sigv4`]: AWS Signature Version 4, verified against configured keys, and signing for
//!   our own drivers (the load generator).

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod api;
pub mod convert;
pub mod crc;
pub mod error;
pub mod http;
pub mod legacy;
pub mod ops;
pub mod reserved;
pub mod sigv4;

pub use api::{handle, ApiConfig, Backend};
pub use error::ApiError;
