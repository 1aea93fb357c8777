//! Evaluating a [`Condition`] against an item, with DynamoDB's semantics.
//!
//! - A comparison is true only between two present values of the same type. `=` and `<>`
//!   accept every type (lists, maps and sets compare by content); the ordering operators and
//!   `BETWEEN` accept strings and binaries (bytewise) and numbers (numerically). Anything
//!   else, including a missing attribute, makes the comparison false.
//! - `<>` is the negation of `=`, so it is true when the attribute is missing or of another
//!   type, as in DynamoDB.
//! - `size` gives UTF-8 bytes of a string, bytes of a binary, and elements of a list, map or
//!   set; for other types and missing attributes it is absent.
//! - `contains` finds a substring of a string, a byte string of a binary, an element of a set
//!   (of the matching type) or of a list.

use std::borrow::Cow;
use std::cmp::Ordering;

use shoal_types::{Number, Value};

use crate::ast::{Comparator, Condition, Function, Item, Operand};
use crate::document;
use crate::error::Result;

/// Whether `item` satisfies `condition`.
///
/// # Errors
///
/// None today: every condition that parsed evaluates. The `Result` leaves room for checks
/// DynamoDB makes against item contents.
pub fn evaluate_condition(condition: &Condition, item: &Item) -> Result<bool> {
    Ok(evaluate(condition, item))
}

fn evaluate(condition: &Condition, item: &Item) -> bool {
    match condition {
        Condition::Compare { left, op, right } => {
            compare(operand(left, item).as_deref(), *op, operand(right, item).as_deref())
        }
        Condition::Between { operand: tested, low, high } => {
            let tested = operand(tested, item);
            let low = operand(low, item);
            let high = operand(high, item);
            let at_least_low =
                order(tested.as_deref(), low.as_deref()).is_some_and(Ordering::is_ge);
            at_least_low && order(tested.as_deref(), high.as_deref()).is_some_and(Ordering::is_le)
        }
        Condition::In { operand: tested, candidates } => {
            let tested = operand(tested, item);
            candidates.iter().any(|candidate| {
                compare(tested.as_deref(), Comparator::Eq, operand(candidate, item).as_deref())
            })
        }
        Condition::Function(function) => call(function, item),
        Condition::Not(inner) => !evaluate(inner, item),
        Condition::And(terms) => terms.iter().all(|term| evaluate(term, item)),
        Condition::Or(terms) => terms.iter().any(|term| evaluate(term, item)),
    }
}

/// The operand's value, or `None` if the item has none.
fn operand<'a>(operand: &'a Operand, item: &'a Item) -> Option<Cow<'a, Value>> {
    match operand {
        Operand::Path(path) => document::get(item, path).map(Cow::Borrowed),
        Operand::Value(value) => Some(Cow::Borrowed(value)),
        Operand::Size(path) => size(document::get(item, path)?).map(Cow::Owned),
    }
}

fn size(value: &Value) -> Option<Value> {
    let len = match value {
        Value::S(text) => text.len(),
        Value::B(bytes) => bytes.len(),
        Value::L(items) => items.len(),
        Value::M(entries) => entries.len(),
        Value::Ss(set) => set.len(),
        Value::Ns(set) => set.len(),
        Value::Bs(set) => set.len(),
        Value::N(_) | Value::Bool(_) | Value::Null => return None,
    };
    Some(Value::N(Number::from(i64::try_from(len).unwrap_or(i64::MAX))))
}

fn compare(left: Option<&Value>, op: Comparator, right: Option<&Value>) -> bool {
    let equal = matches!((left, right), (Some(l), Some(r)) if l == r);
    let ordering = order(left, right);
    match op {
        Comparator::Eq => equal,
        Comparator::Ne => !equal,
        Comparator::Lt => ordering.is_some_and(Ordering::is_lt),
        Comparator::Le => ordering.is_some_and(Ordering::is_le),
        Comparator::Gt => ordering.is_some_and(Ordering::is_gt),
        Comparator::Ge => ordering.is_some_and(Ordering::is_ge),
    }
}

/// The order of two present scalars of the same type; `None` if they do not compare.
fn order(left: Option<&Value>, right: Option<&Value>) -> Option<Ordering> {
    match (left?, right?) {
        (Value::S(l), Value::S(r)) => Some(l.as_bytes().cmp(r.as_bytes())),
        (Value::N(l), Value::N(r)) => Some(l.cmp(r)),
        (Value::B(l), Value::B(r)) => Some(l.cmp(r)),
        _ => None,
    }
}

fn call(function: &Function, item: &Item) -> bool {
    match function {
        Function::AttributeExists(path) => document::get(item, path).is_some(),
        Function::AttributeNotExists(path) => document::get(item, path).is_none(),
        Function::AttributeType(path, kind) => {
            match (document::get(item, path), operand(kind, item).as_deref()) {
                (Some(value), Some(Value::S(name))) => value.type_name() == name,
                _ => false,
            }
        }
        Function::BeginsWith(path, prefix) => {
            match (document::get(item, path), operand(prefix, item).as_deref()) {
                (Some(Value::S(text)), Some(Value::S(prefix))) => text.starts_with(prefix.as_str()),
                (Some(Value::B(bytes)), Some(Value::B(prefix))) => bytes.starts_with(prefix),
                _ => false,
            }
        }
        Function::Contains(path, needle) => {
            match (document::get(item, path), operand(needle, item)) {
                (Some(haystack), Some(needle)) => contains(haystack, &needle),
                _ => false,
            }
        }
    }
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match (haystack, needle) {
        (Value::S(text), Value::S(part)) => text.contains(part.as_str()),
        (Value::B(bytes), Value::B(part)) => {
            part.is_empty() || bytes.windows(part.len()).any(|window| window == part.as_ref())
        }
        (Value::Ss(set), Value::S(element)) => set.contains(element),
        (Value::Ns(set), Value::N(element)) => set.contains(element),
        (Value::Bs(set), Value::B(element)) => set.contains(element),
        (Value::L(items), element) => items.contains(element),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::parse::parse_condition;
    use crate::testing::{item, list, map, n, ns, num, placeholders, s, ss};

    fn sample() -> Item {
        item(&[
            ("n", n(10)),
            ("f", num("2.5")),
            ("s", s("hello")),
            ("b", Value::B(Bytes::from_static(b"\x01\x02\x03"))),
            ("t", Value::Bool(true)),
            ("z", Value::Null),
            ("l", list(&[n(1), s("x")])),
            ("m", map(&[("k", s("v")), ("deep", map(&[("x", n(1))]))])),
            ("ss", ss(&["a", "b"])),
            ("ns", ns(&[1, 2, 3])),
            ("e", s("é")),
        ])
    }

    fn eval(text: &str) -> bool {
        let mut ph = placeholders(
            &[("#m", "m")],
            &[
                (":10", n(10)),
                (":9", n(9)),
                (":2", n(2)),
                (":3", n(3)),
                (":x", s("x")),
                (":hello", s("hello")),
                (":he", s("he")),
                (":ell", s("ell")),
                (":ten", s("10")),
                (":b", Value::B(Bytes::from_static(b"\x01\x02"))),
                (":S", s("S")),
                (":N", s("N")),
                (":SS", s("SS")),
                (":true", Value::Bool(true)),
                (":l", list(&[n(1), s("x")])),
                (":a", s("a")),
                (":v", s("v")),
                (":1", n(1)),
                (":f", num("2.50")),
            ],
        );
        let condition = parse_condition(text, &mut ph).unwrap();
        evaluate_condition(&condition, &sample()).unwrap()
    }

    #[test]
    fn comparisons_need_same_types() {
        let truths = [
            ("n = :10", true),
            ("n <> :10", false),
            ("n > :9", true),
            ("n >= :10", true),
            ("n < :9", false),
            ("n <= :9", false),
            ("f = :f", true),
            ("n = :ten", false),
            ("n <> :ten", true),
            ("n > :ten", false),
            ("n < :ten", false),
            ("s > :he", true),
            ("s = :hello", true),
            ("b > :b", true),
            ("t = :true", true),
            ("l = :l", true),
            ("missing = :10", false),
            ("missing <> :10", true),
            ("missing < :10", false),
            ("missing >= :10", false),
            ("#m.k = :v", true),
            ("m.deep.x = :1", true),
            ("l[1] = :x", true),
            ("l[2] = :x", false),
            ("n = n", true),
        ];
        for (text, expected) in truths {
            assert_eq!(eval(text), expected, "{text}");
        }
    }

    #[test]
    fn logic_between_and_in() {
        let truths = [
            ("n BETWEEN :9 AND :10", true),
            ("n BETWEEN :2 AND :3", false),
            ("s BETWEEN :9 AND :10", false),
            ("n IN (:2, :10)", true),
            ("n IN (:2, :3)", false),
            ("missing IN (:2)", false),
            ("NOT n = :10", false),
            ("NOT missing = :10", true),
            ("n = :10 AND s = :hello", true),
            ("n = :10 AND s = :x", false),
            ("n = :2 OR s = :hello", true),
            ("n = :2 OR s = :x", false),
            ("n = :2 OR n = :10 AND s = :x", false),
            ("(n = :2 OR n = :10) AND s = :hello", true),
            ("NOT NOT n = :10", true),
        ];
        for (text, expected) in truths {
            assert_eq!(eval(text), expected, "{text}");
        }
    }

    #[test]
    fn functions() {
        let truths = [
            ("attribute_exists(n)", true),
            ("attribute_exists(m.deep.x)", true),
            ("attribute_exists(m.nope)", false),
            ("attribute_not_exists(nope)", true),
            ("attribute_not_exists(z)", false),
            ("attribute_type(n, :N)", true),
            ("attribute_type(ss, :SS)", true),
            ("attribute_type(n, :S)", false),
            ("attribute_type(nope, :S)", false),
            ("begins_with(s, :he)", true),
            ("begins_with(s, :x)", false),
            ("begins_with(b, :b)", true),
            ("begins_with(n, :he)", false),
            ("contains(s, :ell)", true),
            ("contains(s, :x)", false),
            ("contains(ss, :a)", true),
            ("contains(ss, :x)", false),
            ("contains(ns, :2)", true),
            ("contains(ns, :a)", false),
            ("contains(l, :x)", true),
            ("contains(l, :2)", false),
            ("contains(b, :b)", true),
            ("contains(nope, :x)", false),
        ];
        for (text, expected) in truths {
            assert_eq!(eval(text), expected, "{text}");
        }
    }

    #[test]
    fn size_counts_bytes_and_elements() {
        let truths = [
            ("size(s) = :1", false),
            ("size(l) = :2", true),
            ("size(ns) = :3", true),
            ("size(m) = :2", true),
            ("size(e) = :2", true),
            ("size(b) = :3", true),
            ("size(n) = :2", false),
            ("size(n) <> :2", true),
            ("size(nope) > :1", false),
            ("size(s) > size(l)", true),
        ];
        for (text, expected) in truths {
            assert_eq!(eval(text), expected, "{text}");
        }
    }
}
