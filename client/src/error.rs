//! The client's one error type.
//!
//! Every failure names where it happened: the address for connection trouble, the deadline
//! for a timeout, the server's status and message for a refused request.
//! [`ClientError::is_retryable`] is the single place that decides which failures a retry
//! may cure.

use std::time::Duration;

use shoal_net::Status;
use thiserror::Error;

/// Why a request failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// No connection could be opened to `address` (refused, unreachable, or the connect
    /// timeout passed).
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// The `host:port` dialled.
        address: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// An open connection was lost or its byte stream fell out of sync; every request in
    /// flight on it failed. The next request opens a new connection.
    #[error("connection to {address} lost: {reason}")]
    Connection {
        /// The `host:port` of the connection.
        address: String,
        /// What happened.
        reason: String,
    },
    /// No answer within the request's deadline.
    #[error("no answer within {after:?}")]
    Timeout {
        /// The deadline that passed.
        after: Duration,
    },
    /// The server answered with a status other than [`Status::Ok`].
    #[error("{}: {message}", status.as_str())]
    Server {
        /// The status.
        status: Status,
        /// The server's explanation.
        message: String,
    },
    /// A response that does not decode, or does not fit the request.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The request was refused before it was sent (for example a key without the table's
    /// partition key attribute).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl ClientError {
    /// The server's status, for [`ClientError::Server`]; `None` for failures on the client
    /// side (a client-side timeout included).
    pub fn status(&self) -> Option<Status> {
        match self {
            ClientError::Server { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True if the same request may succeed when sent again: timeouts, lost or refused
    /// connections, and the server statuses `Overloaded`, `Unavailable` and `Timeout`.
    /// The client retries only idempotent requests (see [`shoal_net::Request::is_idempotent`]).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Connect { .. }
            | ClientError::Connection { .. }
            | ClientError::Timeout { .. } => true,
            ClientError::Server { status, .. } => {
                matches!(status, Status::Overloaded | Status::Unavailable | Status::Timeout)
            }
            ClientError::Protocol(_) | ClientError::InvalidArgument(_) => false,
        }
    }

    pub(crate) fn connection(address: &str, reason: impl Into<String>) -> ClientError {
        ClientError::Connection { address: address.to_owned(), reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classification() {
        let server = |status| ClientError::Server { status, message: String::new() };
        assert!(server(Status::Overloaded).is_retryable());
        assert!(server(Status::Unavailable).is_retryable());
        assert!(!server(Status::ConditionFailed).is_retryable());
        assert!(!server(Status::BadRequest).is_retryable());
        assert!(ClientError::Timeout { after: Duration::from_millis(1) }.is_retryable());
        assert!(ClientError::connection("a:1", "eof").is_retryable());
        assert!(!ClientError::Protocol("x".into()).is_retryable());
        assert_eq!(server(Status::UnknownTable).status(), Some(Status::UnknownTable));
        assert_eq!(ClientError::InvalidArgument("k".into()).status(), None);
    }
}
