//! The data model's error type: input that does not decode, is invalid, or is over a limit.
//!
//! The storage engine turns each variant into its own variant of the same name, so callers of
//! the engine see one error type.

/// Result with the data model's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What decoding or validating a value, key or row can report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Bytes that should hold an encoded key, row or value do not decode.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded ("row", "key", "number", ...).
        what: &'static str,
        /// Why it failed.
        reason: String,
    },

    /// Input is over a limit.
    #[error("{what} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// What was too large ("partition key", "item", ...).
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit it broke.
        limit: usize,
    },

    /// Input is not valid (a malformed number, a key of the wrong type, ...).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// Shorthand for [`Error::Decode`].
    pub fn decode(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Decode { what, reason: reason.into() }
    }
}
