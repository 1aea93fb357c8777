//! Keys of items: checking a key or an item against its table's key schema, and building
//! the engine's [`ItemKey`] (token included) from it.

use crate::{Item, TableSpec};
use shoal_types::key::{KeyType, KeyValue};
use shoal_types::partitioner::token;
use shoal_types::{ItemKey, Value};

/// `value` as a key value of type `want`, if it is of that type (empty or not).
pub fn typed_key_value(want: KeyType, value: &Value) -> Option<KeyValue> {
    match (want, value) {
        (KeyType::S, Value::S(s)) => Some(KeyValue::S(s.clone())),
        (KeyType::N, Value::N(n)) => Some(KeyValue::N(n.clone())),
        (KeyType::B, Value::B(b)) => Some(KeyValue::B(b.clone())),
        _ => None,
    }
}

/// A key value of the right type, or a message saying what was wrong.
fn key_value(spec_name: &str, want: KeyType, value: Option<&Value>) -> Result<KeyValue, String> {
    let Some(value) = value else {
        return Err(format!("missing key attribute {spec_name:?}"));
    };
    let Some(key) = typed_key_value(want, value) else {
        return Err(format!(
            "key attribute {spec_name:?} must be of type {}, found {}",
            want.as_str(),
            value.type_name()
        ));
    };
    match &key {
        KeyValue::S(s) if s.is_empty() => {
            Err(format!("key attribute {spec_name:?} must not be an empty string"))
        }
        KeyValue::B(b) if b.is_empty() => {
            Err(format!("key attribute {spec_name:?} must not be empty binary"))
        }
        _ => Ok(key),
    }
}

/// The partition key of `item` (a whole item or a key).
pub fn partition_key(spec: &TableSpec, item: &Item) -> Result<KeyValue, String> {
    let pk = &spec.partition_key;
    key_value(&pk.name, pk.key_type, item.get(&pk.name))
}

/// The engine key of `item`, which must hold the table's key attributes with their types.
/// With `exact`, it must hold nothing else (a key, not an item).
pub fn item_key(spec: &TableSpec, item: &Item, exact: bool) -> Result<ItemKey, String> {
    let partition = partition_key(spec, item)?;
    let sort = match &spec.sort_key {
        Some(sk) => Some(key_value(&sk.name, sk.key_type, item.get(&sk.name))?),
        None => None,
    };
    let expected = 1 + usize::from(sort.is_some());
    if exact && item.len() != expected {
        let extra: Vec<&String> = item
            .keys()
            .filter(|k| {
                **k != spec.partition_key.name
                    && spec.sort_key.as_ref().is_none_or(|sk| **k != sk.name)
            })
            .collect();
        return Err(format!(
            "the key must hold only the table's key attributes; unexpected {extra:?}"
        ));
    }
    let key = ItemKey { token: token(&partition), partition, sort };
    key.validate().map_err(|e| e.to_string())?;
    Ok(key)
}

/// The key attributes of an item key, as an item (to start an update of a missing item).
pub fn key_item(spec: &TableSpec, key: &ItemKey) -> Item {
    let mut item = Item::new();
    item.insert(spec.partition_key.name.clone(), Value::from(key.partition.clone()));
    if let (Some(sk), Some(sort)) = (&spec.sort_key, &key.sort) {
        item.insert(sk.name.clone(), Value::from(sort.clone()));
    }
    item
}

/// True if `name` is one of the table's key attributes.
pub fn is_key_attribute(spec: &TableSpec, name: &str) -> bool {
    spec.partition_key.name == name || spec.sort_key.as_ref().is_some_and(|sk| sk.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Compaction, KeyAttribute};

    fn spec() -> TableSpec {
        TableSpec {
            name: "t".into(),
            partition_key: KeyAttribute { name: "pk".into(), key_type: KeyType::S },
            sort_key: Some(KeyAttribute { name: "sk".into(), key_type: KeyType::N }),
            replication_factor: 3,
            compaction: Compaction::SizeTiered,
            default_ttl_secs: 0,
            ttl_attribute: None,
            options: Default::default(),
        }
    }

    fn item(pairs: &[(&str, Value)]) -> Item {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn keys_are_checked_against_the_schema() {
        let n = Value::N(shoal_types::Number::from(1));
        let ok = item(&[("pk", Value::S("a".into())), ("sk", n.clone())]);
        assert!(item_key(&spec(), &ok, true).is_ok());
        let err = item_key(&spec(), &item(&[("pk", Value::S("a".into()))]), true).unwrap_err();
        assert!(err.contains("missing key attribute \"sk\""), "{err}");
        let err =
            item_key(&spec(), &item(&[("pk", n.clone()), ("sk", n.clone())]), true).unwrap_err();
        assert!(err.contains("must be of type S, found N"), "{err}");
        let mut extra = ok.clone();
        extra.insert("x".into(), Value::Null);
        assert!(item_key(&spec(), &extra, true).unwrap_err().contains("unexpected"));
        assert!(item_key(&spec(), &extra, false).is_ok());
        let empty = item(&[("pk", Value::S(String::new())), ("sk", n)]);
        assert!(item_key(&spec(), &empty, false).unwrap_err().contains("empty string"));
    }
}
