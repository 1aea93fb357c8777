//! DynamoDB's expression language, shared by Shoal's native protocol, CLI and
//! DynamoDB-compatible HTTP API.
//!
//! Parsing resolves `#name` and `:value` placeholders from a request's [`Placeholders`] into
//! a typed tree ([`ast`]); evaluation then needs only the tree and an [`Item`].
//!
//! | expression               | parse with               | then use                     |
//! |--------------------------|--------------------------|------------------------------|
//! | `ConditionExpression`    | [`parse_condition`]      | [`evaluate_condition`]       |
//! | `FilterExpression`       | [`parse_filter`]         | [`evaluate_condition`]       |
//! | `KeyConditionExpression` | [`parse_key_condition`]  | the typed [`KeyCondition`]   |
//! | `ProjectionExpression`   | [`parse_projection`]     | [`project`]                  |
//! | `UpdateExpression`       | [`parse_update`]         | [`apply_update`]             |
//!
//! After parsing all of a request's expressions, call [`Placeholders::check_all_used`]:
//! DynamoDB refuses placeholders that no expression uses.
//!
//! Errors ([`Error`]) carry DynamoDB's messages and, for parse errors, the byte offset.
//!
//! # Limits
//!
//! - [`EXPRESSION_BYTES_MAX`]: 4 KiB of expression text (DynamoDB's).
//! - [`IN_OPERANDS_MAX`]: 100 candidates in one `IN` (DynamoDB's).
//! - [`PATH_ELEMENTS_MAX`]: 32 steps in a document path (DynamoDB's nesting limit).
//! - [`NESTING_DEPTH_MAX`]: 64 open parentheses, `NOT`s and calls, so that the recursive
//!   parser's stack stays small whatever the input.
#![deny(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

mod apply;
pub mod ast;
mod document;
pub mod error;
mod eval;
mod key;
mod lexer;
mod parse;
mod placeholders;
mod project;
#[cfg(test)]
mod testing;

pub use apply::apply_update;
pub use ast::{
    Comparator, Condition, Function, Item, Operand, Path, PathElement, SetValue, Update,
    UpdateAction, UpdateOperand,
};
pub use error::{Error, ExpressionKind, Result};
pub use eval::evaluate_condition;
pub use key::{parse_key_condition, KeyCondition, KeySchema, SortCondition};
pub use parse::{parse_condition, parse_filter, parse_projection, parse_update};
pub use placeholders::Placeholders;
pub use project::project;

/// The longest expression text, in bytes.
pub const EXPRESSION_BYTES_MAX: usize = 4096;

/// The most candidates one `IN` may list.
pub const IN_OPERANDS_MAX: usize = 100;

/// The most steps in a document path, counting the top-level attribute.
pub const PATH_ELEMENTS_MAX: usize = 32;

/// The most parentheses, `NOT`s and function calls open at once.
pub const NESTING_DEPTH_MAX: usize = 64;

// Every nesting level needs at least one byte of text, so the depth limit is what bounds the
// parser's recursion; and a path as deep as values may nest must be writable.
const _: () = assert!(NESTING_DEPTH_MAX < EXPRESSION_BYTES_MAX);
const _: () = assert!(PATH_ELEMENTS_MAX >= shoal_types::value::NESTING_DEPTH_MAX);
