//! The schema: which tables exist, their keys and options.
//!
//! Shard 0 owns it. Table definitions are rows of the system table (engine table
//! [`SYSTEM_TABLE_ID`] on shard 0), keyed by table name, so they are as durable as any write:
//! commit log first, then memtable and SSTables. Every shard keeps a copy that shard 0
//! replaces (over the cross-core mesh) before it acknowledges a create or drop, so a table
//! is usable on every core once its creation is acknowledged.
//!
//! # Invariants
//! - Table ids are never reused: a new table gets an id above every id in the system table,
//!   dropped ones included (a drop keeps the row, marked dropped, until a create of the same
//!   name replaces it with a higher id). A shard that missed a drop (crash) thus never
//!   shows old data under a new table.
//! - The system table never holds user data; id 0 is never a user table.

use std::collections::BTreeMap;

use shoal_net::{Compaction, KeyAttribute, TableDescription, TableSpec};
use shoal_types::key::KeyType;
use std::rc::Rc;

use shoal_types::{Number, Value};

/// The engine table that holds table definitions, on shard 0.
pub const SYSTEM_TABLE_ID: u32 = 0;
/// Longest table name (DynamoDB's).
pub const TABLE_NAME_BYTES_MAX: usize = 255;
/// Highest replication factor accepted.
pub const REPLICATION_FACTOR_MAX: u8 = 15;

/// The live tables, by name. Each description is shared (`Rc`): every request looks its
/// table up, and a clone of the description (names, key schema, options map) per request
/// was a measurable part of a GET.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    tables: BTreeMap<String, Rc<TableDescription>>,
}

impl Catalog {
    /// A catalog of these tables.
    pub fn new(tables: impl IntoIterator<Item = TableDescription>) -> Catalog {
        Catalog { tables: tables.into_iter().map(|t| (t.spec.name.clone(), Rc::new(t))).collect() }
    }

    /// The table called `name`.
    pub fn get(&self, name: &str) -> Option<&TableDescription> {
        self.tables.get(name).map(|t| &**t)
    }

    /// The table called `name`, shared.
    pub fn shared(&self, name: &str) -> Option<Rc<TableDescription>> {
        self.tables.get(name).cloned()
    }

    /// Every table, by name.
    pub fn tables(&self) -> impl Iterator<Item = &TableDescription> {
        self.tables.values().map(|t| &**t)
    }
}

/// Checks a table definition; the message names the field.
pub fn validate_spec(spec: &TableSpec) -> Result<(), String> {
    let name = &spec.name;
    if name.len() < 3 || name.len() > TABLE_NAME_BYTES_MAX {
        return Err(format!("table name {name:?} must be 3 to {TABLE_NAME_BYTES_MAX} characters"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err(format!("table name {name:?} may hold only letters, digits, '_', '-' and '.'"));
    }
    let check_key = |what: &str, key: &KeyAttribute| {
        if key.name.is_empty() || key.name.len() > 255 {
            Err(format!("{what} name must be 1 to 255 bytes"))
        } else {
            Ok(())
        }
    };
    check_key("partition key", &spec.partition_key)?;
    if let Some(sk) = &spec.sort_key {
        check_key("sort key", sk)?;
        if sk.name == spec.partition_key.name {
            return Err(format!("sort key {:?} repeats the partition key", sk.name));
        }
    }
    if !(1..=REPLICATION_FACTOR_MAX).contains(&spec.replication_factor) {
        return Err(format!(
            "replication factor must be 1 to {REPLICATION_FACTOR_MAX}, got {}",
            spec.replication_factor
        ));
    }
    Ok(())
}

fn num(n: u64) -> Value {
    Value::N(Number::from(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn key_type_name(t: KeyType) -> &'static str {
    t.as_str()
}

/// The system-table attributes of a table; `dropped_micros` marks a dropped one.
pub fn to_row(table: &TableDescription, dropped_micros: Option<u64>) -> BTreeMap<String, Value> {
    let spec = &table.spec;
    let mut row = BTreeMap::new();
    row.insert("name".to_string(), Value::S(spec.name.clone()));
    row.insert("id".to_string(), num(u64::from(table.id)));
    row.insert("partition_key".to_string(), Value::S(spec.partition_key.name.clone()));
    row.insert(
        "partition_key_type".to_string(),
        Value::S(key_type_name(spec.partition_key.key_type).to_string()),
    );
    if let Some(sk) = &spec.sort_key {
        row.insert("sort_key".to_string(), Value::S(sk.name.clone()));
        row.insert("sort_key_type".to_string(), Value::S(key_type_name(sk.key_type).to_string()));
    }
    row.insert("replication_factor".to_string(), num(u64::from(spec.replication_factor)));
    let compaction = match spec.compaction {
        Compaction::SizeTiered => "size_tiered",
        Compaction::Leveled => "leveled",
    };
    row.insert("compaction".to_string(), Value::S(compaction.to_string()));
    row.insert("default_ttl_secs".to_string(), num(spec.default_ttl_secs));
    row.insert("created_micros".to_string(), num(table.created_micros));
    if table.altered_micros != 0 {
        row.insert("altered_micros".to_string(), num(table.altered_micros));
    }
    if let Some(attribute) = &spec.ttl_attribute {
        row.insert("ttl_attribute".to_string(), Value::S(attribute.clone()));
    }
    if !spec.options.is_empty() {
        let options = spec.options.iter().map(|(k, v)| (k.clone(), Value::S(v.clone()))).collect();
        row.insert("options".to_string(), Value::M(options));
    }
    if let Some(dropped) = dropped_micros {
        row.insert("dropped_micros".to_string(), num(dropped));
    }
    row
}

/// A system-table row back into a table and whether it was dropped.
pub fn from_row(row: &BTreeMap<String, Value>) -> Result<(TableDescription, bool), String> {
    let text = |name: &str| match row.get(name) {
        Some(Value::S(s)) => Ok(s.clone()),
        _ => Err(format!("system table row lacks text {name:?}")),
    };
    let number = |name: &str| match row.get(name) {
        Some(Value::N(n)) => n.to_string().parse::<u64>().map_err(|e| format!("{name}: {e}")),
        _ => Err(format!("system table row lacks number {name:?}")),
    };
    let key_type = |name: &str| match text(name)?.as_str() {
        "S" => Ok(KeyType::S),
        "N" => Ok(KeyType::N),
        "B" => Ok(KeyType::B),
        other => Err(format!("unknown key type {other:?}")),
    };
    let sort_key = match row.get("sort_key") {
        Some(_) => {
            Some(KeyAttribute { name: text("sort_key")?, key_type: key_type("sort_key_type")? })
        }
        None => None,
    };
    let compaction = match text("compaction")?.as_str() {
        "leveled" => Compaction::Leveled,
        _ => Compaction::SizeTiered,
    };
    let mut options = BTreeMap::new();
    match row.get("options") {
        None => {}
        Some(Value::M(map)) => {
            for (k, v) in map {
                match v {
                    Value::S(v) => options.insert(k.clone(), v.clone()),
                    _ => return Err(format!("system table option {k:?} is not text")),
                };
            }
        }
        Some(_) => return Err("system table options are not a map".to_string()),
    }
    let table = TableDescription {
        spec: TableSpec {
            name: text("name")?,
            partition_key: KeyAttribute {
                name: text("partition_key")?,
                key_type: key_type("partition_key_type")?,
            },
            sort_key,
            replication_factor: u8::try_from(number("replication_factor")?)
                .map_err(|e| e.to_string())?,
            compaction,
            default_ttl_secs: number("default_ttl_secs")?,
            ttl_attribute: row.get("ttl_attribute").map(|_| text("ttl_attribute")).transpose()?,
            options,
        },
        id: u32::try_from(number("id")?).map_err(|e| e.to_string())?,
        created_micros: number("created_micros")?,
        altered_micros: row
            .get("altered_micros")
            .map(|_| number("altered_micros"))
            .transpose()?
            .unwrap_or(0),
    };
    Ok((table, row.contains_key("dropped_micros")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableDescription {
        TableDescription {
            spec: TableSpec {
                name: "users".into(),
                partition_key: KeyAttribute { name: "id".into(), key_type: KeyType::S },
                sort_key: Some(KeyAttribute { name: "at".into(), key_type: KeyType::N }),
                replication_factor: 3,
                compaction: Compaction::Leveled,
                default_ttl_secs: 60,
                ttl_attribute: Some("expires".into()),
                options: [("tag:team".to_string(), "storage".to_string())].into(),
            },
            id: 7,
            created_micros: 1_700_000_000_000_000,
            altered_micros: 1_700_000_000_000_001,
        }
    }

    #[test]
    fn rows_round_trip() {
        assert_eq!(from_row(&to_row(&table(), None)).unwrap(), (table(), false));
        assert_eq!(from_row(&to_row(&table(), Some(5))).unwrap(), (table(), true));
    }

    #[test]
    fn specs_are_validated_with_the_field_named() {
        let mut spec = table().spec;
        assert!(validate_spec(&spec).is_ok());
        spec.name = "a b".into();
        assert!(validate_spec(&spec).unwrap_err().contains("may hold only"));
        spec.name = "ok_name".into();
        spec.replication_factor = 0;
        assert!(validate_spec(&spec).unwrap_err().contains("replication factor"));
        spec.replication_factor = 3;
        spec.sort_key = Some(KeyAttribute { name: "id".into(), key_type: KeyType::S });
        assert!(validate_spec(&spec).unwrap_err().contains("repeats"));
    }
}
