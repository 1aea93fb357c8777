//! Key condition expressions: the restricted conditions of a query.
//!
//! A key condition is parsed with the condition grammar, then reduced to a [`KeyCondition`]:
//! `pk = :v`, optionally `AND` one condition on the sort key (`=`, `<`, `<=`, `>`, `>=`,
//! `BETWEEN`, `begins_with`). Anything else (`OR`, `NOT`, `IN`, `<>`, other functions,
//! nested paths, attributes outside the key schema) is refused with DynamoDB's message.

use shoal_types::{KeyValue, Value};

use crate::ast::{Comparator, Condition, Function, Operand, Path};
use crate::error::{Error, ExpressionKind, Result};
use crate::parse::parse_condition_as;
use crate::placeholders::Placeholders;

/// The key attribute names of the table or index being queried.
#[derive(Clone, Copy, Debug)]
pub struct KeySchema<'a> {
    /// The partition key attribute.
    pub partition: &'a str,
    /// The sort key attribute, if the table has one.
    pub sort: Option<&'a str>,
}

/// A condition on the sort key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortCondition {
    /// `sk = v`
    Eq(KeyValue),
    /// `sk < v`
    Lt(KeyValue),
    /// `sk <= v`
    Le(KeyValue),
    /// `sk > v`
    Gt(KeyValue),
    /// `sk >= v`
    Ge(KeyValue),
    /// `sk BETWEEN low AND high`, both included; `low <= high`.
    Between(KeyValue, KeyValue),
    /// `begins_with(sk, prefix)` on a string or binary key.
    BeginsWith(KeyValue),
}

/// A parsed key condition: which partition, and optionally which sort keys within it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyCondition {
    /// The partition key name and the value it must equal.
    pub partition: (String, KeyValue),
    /// The sort key name and its condition.
    pub sort: Option<(String, SortCondition)>,
}

/// Parses a `KeyConditionExpression` and checks it against `schema`.
///
/// # Errors
///
/// [`Error::Syntax`] or [`Error::Invalid`] for text that is not a key condition, and
/// [`Error::KeySchema`] when it does not name the partition key with `=`, names another
/// attribute, or names a key twice.
pub fn parse_key_condition(
    text: &str,
    placeholders: &mut Placeholders,
    schema: KeySchema<'_>,
) -> Result<KeyCondition> {
    let condition = parse_condition_as(ExpressionKind::KeyCondition, text, placeholders)?;
    let parts = match condition {
        Condition::And(parts) => parts,
        single => vec![single],
    };
    if parts.len() > 2 {
        return Err(invalid("Conditions can be of length 1 or 2 only"));
    }
    let mut partition = None;
    let mut sort = None;
    for part in parts {
        let (name, condition) = key_part(part)?;
        let slot = if name == schema.partition { &mut partition } else { &mut sort };
        if slot.is_some() {
            return Err(schema_error(
                "KeyConditionExpressions must only contain one condition per key",
            ));
        }
        *slot = Some((name, condition));
    }
    let partition = match partition {
        Some((name, SortCondition::Eq(value))) => (name, value),
        Some(_) => return Err(schema_error("Query key condition not supported")),
        None => return Err(missed(schema.partition)),
    };
    if let Some((name, _)) = &sort {
        if Some(name.as_str()) != schema.sort {
            return Err(missed(schema.sort.unwrap_or(name)));
        }
    }
    Ok(KeyCondition { partition, sort })
}

/// One conjunct of a key condition as the key name and its condition.
fn key_part(part: Condition) -> Result<(String, SortCondition)> {
    match part {
        Condition::Compare { left: Operand::Path(path), op, right: Operand::Value(value) } => {
            let name = key_name(path)?;
            let value = key_value(value)?;
            let condition = match op {
                Comparator::Eq => SortCondition::Eq(value),
                Comparator::Lt => SortCondition::Lt(value),
                Comparator::Le => SortCondition::Le(value),
                Comparator::Gt => SortCondition::Gt(value),
                Comparator::Ge => SortCondition::Ge(value),
                Comparator::Ne => return Err(unsupported("<>")),
            };
            Ok((name, condition))
        }
        Condition::Between { operand: Operand::Path(path), low, high } => {
            let (Operand::Value(low), Operand::Value(high)) = (low, high) else {
                return Err(invalid("BETWEEN bounds must be expression attribute values"));
            };
            Ok((key_name(path)?, SortCondition::Between(key_value(low)?, key_value(high)?)))
        }
        Condition::Function(Function::BeginsWith(path, Operand::Value(prefix))) => {
            if let Value::N(_) = prefix {
                return Err(invalid(
                    "Incorrect operand type for operator or function; operator or function: \
                     begins_with, operand type: N",
                ));
            }
            Ok((key_name(path)?, SortCondition::BeginsWith(key_value(prefix)?)))
        }
        Condition::Or(_) => Err(unsupported("OR")),
        Condition::Not(_) => Err(unsupported("NOT")),
        Condition::In { .. } => Err(unsupported("IN")),
        Condition::And(_) => Err(invalid("Conditions can be of length 1 or 2 only")),
        Condition::Function(function) => Err(unsupported(function_name(&function))),
        _ => Err(invalid("Key conditions compare a key attribute with a value")),
    }
}

fn key_name(path: Path) -> Result<String> {
    if !path.rest().is_empty() {
        return Err(invalid("KeyConditionExpressions cannot contain nested attributes"));
    }
    Ok(path.head().to_owned())
}

fn key_value(value: Value) -> Result<KeyValue> {
    match value {
        Value::S(text) => Ok(KeyValue::S(text)),
        Value::N(number) => Ok(KeyValue::N(number)),
        Value::B(bytes) => Ok(KeyValue::B(bytes)),
        other => Err(schema_error(format!(
            "One or more parameter values were invalid: Condition parameter type does not match \
             schema type; type: {}",
            other.type_name()
        ))),
    }
}

fn function_name(function: &Function) -> &'static str {
    match function {
        Function::AttributeExists(_) => "attribute_exists",
        Function::AttributeNotExists(_) => "attribute_not_exists",
        Function::AttributeType(..) => "attribute_type",
        Function::BeginsWith(..) => "begins_with",
        Function::Contains(..) => "contains",
    }
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::Invalid { kind: ExpressionKind::KeyCondition, offset: 0, reason: reason.into() }
}

fn unsupported(operator: &str) -> Error {
    invalid(format!("Invalid operator used in KeyConditionExpression: {operator}"))
}

fn missed(name: &str) -> Error {
    schema_error(format!("Query condition missed key schema element: {name}"))
}

fn schema_error(reason: impl Into<String>) -> Error {
    Error::KeySchema { reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use shoal_types::Number;

    use super::*;
    use crate::testing::{n, placeholders, s};

    const SCHEMA: KeySchema<'static> = KeySchema { partition: "pk", sort: Some("sk") };

    fn parse(text: &str) -> Result<KeyCondition> {
        let mut ph = placeholders(
            &[("#p", "pk"), ("#s", "sk")],
            &[(":p", s("user")), (":a", s("a")), (":b", s("b")), (":n", n(1)), (":l", Value::Null)],
        );
        parse_key_condition(text, &mut ph, SCHEMA)
    }

    fn pk() -> (String, KeyValue) {
        ("pk".to_owned(), KeyValue::S("user".to_owned()))
    }

    fn sort(condition: SortCondition) -> Option<(String, SortCondition)> {
        Some(("sk".to_owned(), condition))
    }

    #[test]
    fn partition_and_sort() {
        let a = || KeyValue::S("a".to_owned());
        assert_eq!(parse("pk = :p").unwrap(), KeyCondition { partition: pk(), sort: None });
        for (text, expected) in [
            ("#p = :p AND #s = :a", SortCondition::Eq(a())),
            ("pk = :p and sk < :a", SortCondition::Lt(a())),
            ("sk <= :a AND pk = :p", SortCondition::Le(a())),
            ("(pk = :p) AND (sk > :a)", SortCondition::Gt(a())),
            ("pk = :p AND sk >= :a", SortCondition::Ge(a())),
            (
                "pk = :p AND sk BETWEEN :a AND :b",
                SortCondition::Between(a(), KeyValue::S("b".into())),
            ),
            ("pk = :p AND begins_with(sk, :a)", SortCondition::BeginsWith(a())),
        ] {
            assert_eq!(
                parse(text).unwrap(),
                KeyCondition { partition: pk(), sort: sort(expected) },
                "{text}"
            );
        }
        let number = parse("pk = :p AND sk = :n").unwrap();
        assert_eq!(number.sort, sort(SortCondition::Eq(KeyValue::N(Number::from(1)))));
    }

    #[test]
    fn refusals() {
        let message = |text: &str| parse(text).unwrap_err().to_string();
        assert_eq!(message("sk = :a"), "Query condition missed key schema element: pk");
        assert_eq!(
            message("pk = :p AND other = :a"),
            "Query condition missed key schema element: sk"
        );
        assert_eq!(message("pk < :p"), "Query key condition not supported");
        assert_eq!(
            message("pk = :p OR sk = :a"),
            "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: OR"
        );
        assert!(message("pk = :p AND sk <> :a").ends_with("KeyConditionExpression: <>"));
        assert!(message("pk = :p AND NOT sk = :a").ends_with("KeyConditionExpression: NOT"));
        assert!(message("pk = :p AND sk IN (:a)").ends_with("KeyConditionExpression: IN"));
        assert!(message("pk = :p AND attribute_exists(sk)").ends_with("attribute_exists"));
        assert!(message("pk = :p AND sk = :a AND sk = :b").contains("length 1 or 2"));
        assert!(message("pk = :p AND pk = :p").contains("one condition per key"));
        assert!(message("pk = :p AND sk BETWEEN :b AND :a").contains("upper bound"));
        assert!(message("pk = :p AND begins_with(sk, :n)").contains("operand type: N"));
        assert!(message("pk = :l").contains("does not match schema type"));
        assert!(message("pk.x = :p").contains("nested"));
        assert!(message("pk = :p AND").contains("Syntax error; token: \"<EOF>\""));
    }
}
