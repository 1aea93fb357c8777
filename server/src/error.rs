//! Errors that stop a node from starting or running.

use thiserror::Error;

/// Why a node could not start or stopped.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The configuration is invalid (the message names the key).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A listener could not bind.
    #[error("cannot listen for {what} on {address}: {reason}")]
    Bind {
        /// Which listener.
        what: String,
        /// Where.
        address: String,
        /// Why.
        reason: String,
    },
    /// A shard failed.
    #[error("{0}")]
    Shard(String),
}
