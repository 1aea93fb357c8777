//! Reading and writing the value at a [`Path`] inside an item.
//!
//! Reads return `None` for anything missing or of the wrong shape, as DynamoDB treats such a
//! path as absent. Writes distinguish a missing leaf (fine: it is created or nothing is
//! removed) from a missing or wrongly typed parent, which is
//! [`Error::InvalidUpdatePath`].

use shoal_types::Value;

use crate::ast::{Item, Path, PathElement};
use crate::error::{Error, Result};

/// The value at `path`, if the item has one.
pub(crate) fn get<'a>(item: &'a Item, path: &Path) -> Option<&'a Value> {
    let top = item.get(path.head())?;
    path.rest().iter().try_fold(top, child)
}

fn child<'a>(value: &'a Value, element: &PathElement) -> Option<&'a Value> {
    match (value, element) {
        (Value::M(entries), PathElement::Field(name)) => entries.get(name),
        (Value::L(items), PathElement::Index(index)) => items.get(*index),
        _ => None,
    }
}

fn child_mut<'a>(value: &'a mut Value, element: &PathElement) -> Option<&'a mut Value> {
    match (value, element) {
        (Value::M(entries), PathElement::Field(name)) => entries.get_mut(name),
        (Value::L(items), PathElement::Index(index)) => items.get_mut(*index),
        _ => None,
    }
}

/// The container holding the last step of `path`, with that last step; `None` for a
/// top-level path.
fn parent_mut<'a>(
    item: &'a mut Item,
    path: &'a Path,
) -> Option<Result<(&'a mut Value, &'a PathElement)>> {
    let (last, middle) = path.rest().split_last()?;
    let Some(top) = item.get_mut(path.head()) else {
        return Some(Err(Error::InvalidUpdatePath));
    };
    let parent = middle.iter().try_fold(top, |value, element| child_mut(value, element));
    Some(parent.map(|parent| (parent, last)).ok_or(Error::InvalidUpdatePath))
}

/// Writes `value` at `path`. A list index past the end appends, as DynamoDB does.
pub(crate) fn set(item: &mut Item, path: &Path, value: Value) -> Result<()> {
    let (parent, last) = match parent_mut(item, path) {
        None => {
            item.insert(path.head().to_owned(), value);
            return Ok(());
        }
        Some(found) => found?,
    };
    match (parent, last) {
        (Value::M(entries), PathElement::Field(name)) => {
            entries.insert(name.clone(), value);
        }
        (Value::L(items), PathElement::Index(index)) => match items.get_mut(*index) {
            Some(slot) => *slot = value,
            None => items.push(value),
        },
        _ => return Err(Error::InvalidUpdatePath),
    }
    Ok(())
}

/// Removes the value at `path`; removing what is not there does nothing. Removing a list
/// element shifts the later ones down.
pub(crate) fn remove(item: &mut Item, path: &Path) -> Result<()> {
    let (parent, last) = match parent_mut(item, path) {
        None => {
            item.remove(path.head());
            return Ok(());
        }
        Some(found) => found?,
    };
    match (parent, last) {
        (Value::M(entries), PathElement::Field(name)) => {
            entries.remove(name);
        }
        (Value::L(items), PathElement::Index(index)) => {
            if *index < items.len() {
                items.remove(*index);
            }
        }
        _ => return Err(Error::InvalidUpdatePath),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn item() -> Item {
        let inner = Value::M(BTreeMap::from([("b".to_owned(), Value::L(vec![Value::Null]))]));
        BTreeMap::from([("a".to_owned(), inner), ("s".to_owned(), Value::S("x".into()))])
    }

    #[test]
    fn get_follows_maps_and_lists() {
        let item = item();
        assert_eq!(get(&item, &Path::attribute("a").field("b").index(0)), Some(&Value::Null));
        assert_eq!(get(&item, &Path::attribute("a").field("b").index(1)), None);
        assert_eq!(get(&item, &Path::attribute("a").index(0)), None);
        assert_eq!(get(&item, &Path::attribute("s").field("x")), None);
    }

    #[test]
    fn set_and_remove() {
        let mut item = item();
        let path = Path::attribute("a").field("b").index(9);
        set(&mut item, &path, Value::Bool(true)).unwrap();
        let appended = Path::attribute("a").field("b").index(1);
        assert_eq!(get(&item, &appended), Some(&Value::Bool(true)));
        remove(&mut item, &Path::attribute("a").field("b").index(0)).unwrap();
        assert_eq!(get(&item, &Path::attribute("a").field("b").index(0)), Some(&Value::Bool(true)));
        let bad = Path::attribute("missing").field("x");
        assert_eq!(set(&mut item, &bad, Value::Null), Err(Error::InvalidUpdatePath));
        let bad = Path::attribute("s").field("x");
        assert_eq!(remove(&mut item, &bad), Err(Error::InvalidUpdatePath));
        remove(&mut item, &Path::attribute("nothing")).unwrap();
    }
}
