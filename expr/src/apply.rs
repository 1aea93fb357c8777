//! Applying an [`Update`] to an item, with DynamoDB's semantics.
//!
//! Every operand is read from the item as it was before the update, and the update is
//! all-or-nothing: actions run on a copy that replaces the item only if all succeed.
//!
//! - `SET` writes; `a + b` and `a - b` need numbers, `list_append` lists, and a path operand
//!   the item lacks is [`Error::MissingAttribute`].
//! - `REMOVE` deletes; list elements go from the highest index down, so that the indexes of
//!   one `REMOVE` all refer to the list as it was.
//! - `ADD` adds to a number or unions into a set, creating the attribute if absent.
//! - `DELETE` takes elements out of a set, and removes the attribute when the set becomes
//!   empty, because DynamoDB sets cannot be empty.

use std::borrow::Cow;
use std::cmp::Reverse;

use shoal_types::{Number, Value};

use crate::ast::{Item, Path, SetValue, Update, UpdateAction, UpdateOperand};
use crate::document;
use crate::error::{Error, Result};

/// Applies `update` to `item`, leaving `item` unchanged on error.
///
/// # Errors
///
/// [`Error::MissingAttribute`], [`Error::IncorrectOperandType`], [`Error::InvalidUpdatePath`]
/// or [`Error::NumberOverflow`], with DynamoDB's messages.
pub fn apply_update(update: &Update, item: &mut Item) -> Result<()> {
    // Compute every new value from the original item first: DynamoDB evaluates all operands
    // before it writes anything.
    let mut writes: Vec<(&Path, Option<Value>)> = Vec::new();
    let mut removals: Vec<&Path> = Vec::new();
    for action in &update.actions {
        match action {
            UpdateAction::Set(path, value) => writes.push((path, Some(set_value(value, item)?))),
            UpdateAction::Remove(path) => removals.push(path),
            UpdateAction::Add(path, value) => {
                writes.push((path, Some(add(document::get(item, path), value)?)));
            }
            UpdateAction::Delete(path, value) => {
                if let Some(current) = document::get(item, path) {
                    writes.push((path, delete(current, value)?));
                }
            }
        }
    }
    let mut updated = item.clone();
    for (path, value) in writes {
        match value {
            Some(value) => document::set(&mut updated, path, value)?,
            None => document::remove(&mut updated, path)?,
        }
    }
    removals.sort_by_key(|path| Reverse(*path));
    for path in removals {
        document::remove(&mut updated, path)?;
    }
    *item = updated;
    Ok(())
}

fn set_value(value: &SetValue, item: &Item) -> Result<Value> {
    match value {
        SetValue::Operand(operand) => Ok(evaluate(operand, item)?.into_owned()),
        SetValue::Plus(a, b) => {
            let (a, b) = (evaluate(a, item)?, evaluate(b, item)?);
            Ok(Value::N(add_numbers(number(&a)?, number(&b)?)?))
        }
        SetValue::Minus(a, b) => {
            let (a, b) = (evaluate(a, item)?, evaluate(b, item)?);
            Ok(Value::N(add_numbers(number(&a)?, &number(&b)?.negate())?))
        }
    }
}

fn evaluate<'a>(operand: &'a UpdateOperand, item: &'a Item) -> Result<Cow<'a, Value>> {
    match operand {
        UpdateOperand::Path(path) => {
            document::get(item, path).map(Cow::Borrowed).ok_or(Error::MissingAttribute)
        }
        UpdateOperand::Value(value) => Ok(Cow::Borrowed(value)),
        UpdateOperand::IfNotExists(path, fallback) => match document::get(item, path) {
            Some(value) => Ok(Cow::Borrowed(value)),
            None => evaluate(fallback, item),
        },
        UpdateOperand::ListAppend(first, second) => {
            let (first, second) = (evaluate(first, item)?, evaluate(second, item)?);
            match (first.as_ref(), second.as_ref()) {
                (Value::L(a), Value::L(b)) => {
                    Ok(Cow::Owned(Value::L(a.iter().chain(b).cloned().collect())))
                }
                _ => Err(Error::IncorrectOperandType),
            }
        }
    }
}

fn number(value: &Value) -> Result<&Number> {
    match value {
        Value::N(number) => Ok(number),
        _ => Err(Error::IncorrectOperandType),
    }
}

fn add_numbers(a: &Number, b: &Number) -> Result<Number> {
    a.checked_add(b).map_err(|e| Error::NumberOverflow { reason: e.to_string() })
}

/// The value `ADD` leaves: the sum or union with `current`, or `operand` if absent.
fn add(current: Option<&Value>, operand: &Value) -> Result<Value> {
    let Some(current) = current else {
        return Ok(operand.clone());
    };
    match (current, operand) {
        (Value::N(a), Value::N(b)) => Ok(Value::N(add_numbers(a, b)?)),
        (Value::Ss(a), Value::Ss(b)) => Ok(Value::Ss(a.union(b).cloned().collect())),
        (Value::Ns(a), Value::Ns(b)) => Ok(Value::Ns(a.union(b).cloned().collect())),
        (Value::Bs(a), Value::Bs(b)) => Ok(Value::Bs(a.union(b).cloned().collect())),
        _ => Err(Error::IncorrectOperandType),
    }
}

/// The value `DELETE` leaves: `None` when the set becomes empty.
fn delete(current: &Value, operand: &Value) -> Result<Option<Value>> {
    let remaining = match (current, operand) {
        (Value::Ss(a), Value::Ss(b)) => Value::Ss(a.difference(b).cloned().collect()),
        (Value::Ns(a), Value::Ns(b)) => Value::Ns(a.difference(b).cloned().collect()),
        (Value::Bs(a), Value::Bs(b)) => Value::Bs(a.difference(b).cloned().collect()),
        _ => return Err(Error::IncorrectOperandType),
    };
    let empty = match &remaining {
        Value::Ss(set) => set.is_empty(),
        Value::Ns(set) => set.is_empty(),
        Value::Bs(set) => set.is_empty(),
        _ => false,
    };
    Ok((!empty).then_some(remaining))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_update;
    use crate::testing::{item, list, map, n, ns, num, placeholders, s, ss};

    fn run(text: &str, mut target: Item) -> Result<Item> {
        let mut ph = placeholders(
            &[("#c", "count")],
            &[
                (":1", n(1)),
                (":5", n(5)),
                (":s", s("str")),
                (":l", list(&[n(9)])),
                (":e", list(&[])),
                (":ss", ss(&["b", "c"])),
                (":ns", ns(&[2])),
                (":big", num("9.9999999999999999999999999999999999999E+125")),
                (":m", map(&[])),
            ],
        );
        let update = parse_update(text, &mut ph)?;
        apply_update(&update, &mut target)?;
        Ok(target)
    }

    #[test]
    fn counters() {
        let start = item(&[("count", n(10))]);
        assert_eq!(run("SET #c = #c + :1", start.clone()).unwrap(), item(&[("count", n(11))]));
        assert_eq!(run("SET #c = #c - :5", start.clone()).unwrap(), item(&[("count", n(5))]));
        assert_eq!(run("SET #c = :1 - #c", start.clone()).unwrap(), item(&[("count", n(-9))]));
        assert_eq!(run("ADD #c :5", start.clone()).unwrap(), item(&[("count", n(15))]));
        assert_eq!(run("ADD #c :5", Item::new()).unwrap(), item(&[("count", n(5))]));
        let created = run("SET #c = if_not_exists(#c, :1) + :1", Item::new()).unwrap();
        assert_eq!(created, item(&[("count", n(2))]));
        assert_eq!(run("SET #c = #c + :1", Item::new()), Err(Error::MissingAttribute));
        let text = item(&[("count", s("x"))]);
        assert_eq!(run("SET #c = #c + :1", text.clone()), Err(Error::IncorrectOperandType));
        assert_eq!(run("ADD #c :1", text), Err(Error::IncorrectOperandType));
        let overflow = run("SET #c = :big + :big", Item::new()).unwrap_err();
        assert!(matches!(overflow, Error::NumberOverflow { .. }), "{overflow}");
    }

    #[test]
    fn operands_read_the_original_item() {
        let start = item(&[("a", n(1)), ("b", n(2))]);
        let swapped = run("SET a = b, b = a", start).unwrap();
        assert_eq!(swapped, item(&[("a", n(2)), ("b", n(1))]));
    }

    #[test]
    fn list_append_and_if_not_exists() {
        let start = item(&[("l", list(&[n(1)])), ("s", s("x"))]);
        let appended = run("SET l = list_append(l, :l)", start.clone()).unwrap();
        assert_eq!(appended["l"], list(&[n(1), n(9)]));
        let prepended = run("SET l = list_append(:l, l)", start.clone()).unwrap();
        assert_eq!(prepended["l"], list(&[n(9), n(1)]));
        let fresh = run("SET k = list_append(if_not_exists(k, :e), :l)", start.clone()).unwrap();
        assert_eq!(fresh["k"], list(&[n(9)]));
        let kept = run("SET s = if_not_exists(s, :s)", start.clone()).unwrap();
        assert_eq!(kept["s"], s("x"));
        let error = run("SET l = list_append(s, :l)", start).unwrap_err();
        assert_eq!(
            error.to_string(),
            "An operand in the update expression has an incorrect data type"
        );
    }

    #[test]
    fn sets() {
        let start = item(&[("tags", ss(&["a", "b"])), ("nums", ns(&[1, 2]))]);
        let added = run("ADD tags :ss, nums :ns", start.clone()).unwrap();
        assert_eq!(added["tags"], ss(&["a", "b", "c"]));
        assert_eq!(added["nums"], ns(&[1, 2]));
        let deleted = run("DELETE tags :ss, nums :ns", start.clone()).unwrap();
        assert_eq!(deleted["tags"], ss(&["a"]));
        assert_eq!(deleted["nums"], ns(&[1]));
        let emptied = run("DELETE tags :ss", item(&[("tags", ss(&["b"]))])).unwrap();
        assert_eq!(emptied, Item::new());
        assert_eq!(run("DELETE nope :ss", Item::new()).unwrap(), Item::new());
        assert_eq!(run("ADD tags :ns", start.clone()), Err(Error::IncorrectOperandType));
        assert_eq!(run("DELETE nums :ss", start.clone()), Err(Error::IncorrectOperandType));
        assert_eq!(run("ADD fresh :ss", Item::new()).unwrap(), item(&[("fresh", ss(&["b", "c"]))]));
    }

    #[test]
    fn nested_set_and_remove() {
        let start = item(&[
            ("m", map(&[("a", n(1)), ("b", map(&[("c", n(2))]))])),
            ("l", list(&[n(0), n(1), n(2), n(3)])),
        ]);
        let updated =
            run("SET m.b.d = :1, m.x = :m REMOVE m.a, l[1], l[3]", start.clone()).unwrap();
        assert_eq!(updated["m"], map(&[("b", map(&[("c", n(2)), ("d", n(1))])), ("x", map(&[]))]));
        assert_eq!(updated["l"], list(&[n(0), n(2)]));
        let appended = run("SET l[10] = :5", start.clone()).unwrap();
        assert_eq!(appended["l"], list(&[n(0), n(1), n(2), n(3), n(5)]));
        let unchanged = run("REMOVE nope, m.nope, l[9]", start.clone()).unwrap();
        assert_eq!(unchanged, start);
        let error = run("SET nope.x = :1", start.clone()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "The document path provided in the update expression is invalid for update"
        );
        assert_eq!(run("SET l.x = :1", start.clone()), Err(Error::InvalidUpdatePath));
    }

    #[test]
    fn failures_leave_the_item_unchanged() {
        let start = item(&[("a", n(1)), ("s", s("x"))]);
        let mut target = start.clone();
        let mut ph = placeholders(&[], &[(":1", n(1))]);
        let update = parse_update("SET a = :1 ADD s :1", &mut ph).unwrap();
        assert_eq!(apply_update(&update, &mut target), Err(Error::IncorrectOperandType));
        assert_eq!(target, start);
    }

    #[test]
    fn overlapping_paths_refused() {
        let error = run("SET m.a = :1 REMOVE m", Item::new()).unwrap_err();
        assert!(error.to_string().contains("Two document paths overlap with each other"));
    }
}
