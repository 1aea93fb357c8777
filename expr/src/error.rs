//! The one error type of expression parsing and evaluation.
//!
//! Messages follow DynamoDB's wording so that the HTTP API can return them unchanged: a parse
//! error renders as `Invalid ConditionExpression: Syntax error; token: "AND", near: "a AND
//! AND"`. Parse errors also carry the byte offset into the expression text where they were
//! found, for tools that want to underline the culprit.

use std::fmt;

/// Which of DynamoDB's request parameters an expression came from; errors name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpressionKind {
    /// `ConditionExpression` of a write.
    Condition,
    /// `FilterExpression` of a query or scan.
    Filter,
    /// `KeyConditionExpression` of a query.
    KeyCondition,
    /// `ProjectionExpression` of a read.
    Projection,
    /// `UpdateExpression` of an update.
    Update,
}

impl fmt::Display for ExpressionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExpressionKind::Condition => "ConditionExpression",
            ExpressionKind::Filter => "FilterExpression",
            ExpressionKind::KeyCondition => "KeyConditionExpression",
            ExpressionKind::Projection => "ProjectionExpression",
            ExpressionKind::Update => "UpdateExpression",
        })
    }
}

/// Everything that can go wrong parsing or evaluating an expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The text does not follow the grammar. `token` is the offending token (`<EOF>` at the
    /// end) and `near` the text from the token before it to the token after it.
    #[error("Invalid {kind}: Syntax error; token: \"{token}\", near: \"{near}\"")]
    Syntax {
        /// The expression parameter.
        kind: ExpressionKind,
        /// Byte offset of the offending token.
        offset: usize,
        /// The offending token's text.
        token: String,
        /// The surrounding text.
        near: String,
    },
    /// The text parses but breaks a rule: a limit, an operand type, an overlap.
    #[error("Invalid {kind}: {reason}")]
    Invalid {
        /// The expression parameter.
        kind: ExpressionKind,
        /// Byte offset where the problem was found.
        offset: usize,
        /// DynamoDB's description of the problem.
        reason: String,
    },
    /// Placeholders defined in `ExpressionAttributeNames` but used by no expression.
    #[error("Value provided in ExpressionAttributeNames unused in expressions: keys: {{{keys}}}")]
    UnusedNames {
        /// The unused placeholders, comma-separated.
        keys: String,
    },
    /// Placeholders defined in `ExpressionAttributeValues` but used by no expression.
    #[error("Value provided in ExpressionAttributeValues unused in expressions: keys: {{{keys}}}")]
    UnusedValues {
        /// The unused placeholders, comma-separated.
        keys: String,
    },
    /// A key condition does not fit the table's key schema.
    #[error("{reason}")]
    KeySchema {
        /// DynamoDB's description, e.g. "Query condition missed key schema element: pk".
        reason: String,
    },
    /// An update read an attribute the item does not have.
    #[error("The provided expression refers to an attribute that does not exist in the item")]
    MissingAttribute,
    /// An update combined values of the wrong types, e.g. `SET a = a + :v` on a string.
    #[error("An operand in the update expression has an incorrect data type")]
    IncorrectOperandType,
    /// An update wrote below an attribute that is missing or is not a map or list.
    #[error("The document path provided in the update expression is invalid for update")]
    InvalidUpdatePath,
    /// Arithmetic left the range of numbers.
    #[error(
        "Number overflow. Attempting to store a number with magnitude larger than supported \
         range; {reason}"
    )]
    NumberOverflow {
        /// What the number type reported.
        reason: String,
    },
}

impl Error {
    /// The byte offset into the expression text, for parse errors.
    pub fn offset(&self) -> Option<usize> {
        match self {
            Error::Syntax { offset, .. } | Error::Invalid { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
