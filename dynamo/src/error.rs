//! DynamoDB's errors: a `__type` that clients match on, a message, and an HTTP status.
//!
//! The `__type` is sent in DynamoDB's long form (`com.amazonaws.dynamodb.v20120810#Name`);
//! the SDKs keep the part after `#`. Messages follow DynamoDB's wording where client code is
//! known to match on them ("The conditional request failed", "Requested resource not found").

use std::fmt;

use shoal_net::{Response, Status};

/// The prefix of every `__type`.
pub const TYPE_PREFIX: &str = "com.amazonaws.dynamodb.v20120810#";

/// An error answered to a DynamoDB client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// DynamoDB's error name, e.g. `ValidationException`.
    pub type_name: &'static str,
    /// What was wrong.
    pub message: String,
    /// HTTP status: 400 for the client's errors, 500/503 for the server's.
    pub status: u16,
}

/// Shorthand for results of API operations.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error of `type_name` with HTTP status 400.
    pub fn client(type_name: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { type_name, message: message.into(), status: 400 }
    }

    /// `ValidationException`: the request is malformed or breaks a limit.
    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::client("ValidationException", message)
    }

    /// `SerializationException`: the body is not the JSON the operation expects.
    pub fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::client("SerializationException", message)
    }

    /// `ResourceNotFoundException` with DynamoDB's message for item operations.
    pub fn not_found() -> ApiError {
        ApiError::client("ResourceNotFoundException", "Requested resource not found")
    }

    /// `ResourceNotFoundException` naming the table, as DescribeTable and DeleteTable say.
    pub fn table_not_found(table: &str) -> ApiError {
        ApiError::client(
            "ResourceNotFoundException",
            format!("Requested resource not found: Table: {table} not found"),
        )
    }

    /// `ConditionalCheckFailedException`.
    pub fn condition_failed() -> ApiError {
        ApiError::client("ConditionalCheckFailedException", "The conditional request failed")
    }

    /// `InternalServerError` (HTTP 500): SDKs retry it.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError { type_name: "InternalServerError", message: message.into(), status: 500 }
    }

    /// An operation or parameter Shoal does not implement yet: a ValidationException that
    /// says so, never a silent no-op.
    pub fn unsupported(what: impl fmt::Display) -> ApiError {
        ApiError::validation(format!("{what} is not supported by Shoal yet"))
    }

    /// The error for a failed native response (`status` is not `Ok`).
    pub fn from_native(response: &Response) -> ApiError {
        let message = response.message.clone();
        match response.status {
            Status::Ok => ApiError::internal("an error was expected"),
            Status::UnknownTable => ApiError::not_found(),
            Status::TableExists => ApiError::client("ResourceInUseException", message),
            Status::ConditionFailed => ApiError::condition_failed(),
            Status::BadRequest => ApiError::validation(message),
            Status::TooLarge => {
                ApiError::validation("Item size has exceeded the maximum allowed size")
            }
            Status::NotFound => ApiError::not_found(),
            Status::Overloaded => ApiError::client(
                "ProvisionedThroughputExceededException",
                format!("The node is overloaded; retry with backoff ({message})"),
            ),
            Status::Unavailable => {
                ApiError { type_name: "ServiceUnavailable", message, status: 503 }
            }
            Status::Timeout | Status::Internal => ApiError::internal(message),
        }
    }

    /// The JSON body DynamoDB sends for this error.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "__type": format!("{TYPE_PREFIX}{}", self.type_name),
            "message": self.message,
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.type_name, self.message)
    }
}

impl std::error::Error for ApiError {}
