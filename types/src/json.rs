//! JSON forms of a [`Value`] and of an item (a map of attribute names to values).
//!
//! Two forms, for two audiences:
//!
//! | [`Value`] | plain JSON                   | DynamoDB typed JSON           |
//! |-----------|------------------------------|-------------------------------|
//! | `S`       | `"x"`                        | `{"S":"x"}`                   |
//! | `N`       | `12.5` (exact text)          | `{"N":"12.5"}`                |
//! | `B`       | `"AAE="` (base64, one way)   | `{"B":"AAE="}`                |
//! | `BOOL`    | `true`                       | `{"BOOL":true}`               |
//! | `NULL`    | `null`                       | `{"NULL":true}`               |
//! | `L`       | `[...]`                      | `{"L":[typed, ...]}`          |
//! | `M`       | `{...}`                      | `{"M":{"name":typed, ...}}`   |
//! | `SS`      | `["a","b"]` (one way)        | `{"SS":["a","b"]}`            |
//! | `NS`      | `[1,2]` (one way)            | `{"NS":["1","2"]}`            |
//! | `BS`      | `["AAE="]` (one way)         | `{"BS":["AAE="]}`             |
//!
//! Typed JSON is DynamoDB's wire shape and round-trips every value exactly: use it between
//! programs. Plain JSON is what people write and read; it has no binary and no sets, so those
//! are written as strings and arrays and read back as `S` and `L` ("one way" above).
//!
//! Numbers keep their exact value in both directions: this crate builds serde_json with its
//! `arbitrary_precision` feature, so `12345678901234567890123456789012345678` is never rounded
//! through an `f64`. They are written as [`Number`]'s `Display` text, so 1E-36 is written
//! `1e-36` in plain JSON (serde_json writes exponents as `e+`/`e-`) and `"1E-36"` in typed
//! JSON, both exact. Binary is base64 with the standard alphabet and padding (RFC 4648 §4),
//! as in DynamoDB, through the `base64` crate; decoding refuses non-canonical padding.
//!
//! Reading refuses what DynamoDB refuses, and each [`JsonError`] names where, as a JSONPath
//! over the document's attributes (type keys are not path steps, so `$.a.b[2]` is element 2
//! of attribute `b` of map `a` in both forms): a number beyond 38 digits or out of range,
//! lists and maps nested deeper than [`NESTING_DEPTH_MAX`], a typed value without exactly one
//! known type key, an empty set, or a set with the same element twice (`"1"` and `"1.0"` are
//! the same number).
//! Writing never fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value as Json};

use crate::value::NESTING_DEPTH_MAX;
use crate::{Error, Number, Value};

/// A JSON document that does not describe a valid value, and where in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at {path}: {kind}")]
pub struct JsonError {
    /// Where, as a JSONPath from the document root: `$`, `$.a.b[2]`, `$["odd key"]`.
    pub path: String,
    /// What is wrong there.
    pub kind: JsonErrorKind,
}

/// What is wrong with one JSON value. `found` fields show the offending JSON briefly, with
/// nested content elided: `"x"`, `12`, `[..]`, `{"S":..,"N":..}`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JsonErrorKind {
    /// An item is not a JSON object of attributes.
    #[error("an item must be a JSON object, found {found}")]
    ItemNotObject {
        /// The JSON found instead.
        found: String,
    },
    /// A JSON value of the wrong JSON type.
    #[error("{what} must be {expected}, found {found}")]
    WrongType {
        /// What was being read, e.g. `"S" value` or `"NS" element`.
        what: &'static str,
        /// What it must be, e.g. `a string`.
        expected: &'static str,
        /// The JSON found instead.
        found: String,
    },
    /// A plain JSON number with more than 38 significant digits or out of DynamoDB's range.
    #[error("number {text} cannot be stored: {reason}")]
    NumberOutOfRange {
        /// The number's JSON text.
        text: String,
        /// Why [`Number::parse`] refused it.
        reason: String,
    },
    /// A typed number string that [`Number::parse`] refuses.
    #[error("{what} {text} is not a number: {reason}")]
    BadNumber {
        /// `"N" value` or `"NS" element`.
        what: &'static str,
        /// The string, as JSON.
        text: String,
        /// Why [`Number::parse`] refused it.
        reason: String,
    },
    /// A typed binary string that is not canonical padded base64.
    #[error("{what} is not base64 (standard alphabet, padded): {reason}")]
    BadBase64 {
        /// `"B" value` or `"BS" element`.
        what: &'static str,
        /// What the decoder found.
        reason: String,
    },
    /// Lists and maps nested deeper than DynamoDB allows.
    #[error("lists and maps nest deeper than {NESTING_DEPTH_MAX} levels")]
    TooDeep,
    /// A typed value that is not an object with exactly one key.
    #[error("typed value must be an object with exactly one type key, found {found}")]
    TypedShape {
        /// The JSON found instead.
        found: String,
    },
    /// A typed value whose one key is not a DynamoDB type.
    #[error("unknown type key {type_key}; expected one of S, N, B, BOOL, NULL, L, M, SS, NS, BS")]
    UnknownType {
        /// The key, as JSON.
        type_key: String,
    },
    /// A set without elements.
    #[error("{type_key:?} set is empty; DynamoDB refuses empty sets")]
    EmptySet {
        /// `SS`, `NS` or `BS`.
        type_key: &'static str,
    },
    /// A set element equal to an earlier one.
    #[error("{type_key:?} element {element} appears twice; set elements must be distinct")]
    DuplicateElement {
        /// `SS`, `NS` or `BS`.
        type_key: &'static str,
        /// The repeated element, as JSON.
        element: String,
    },
}

/// Reads an item from plain JSON: an object whose members are attributes.
///
/// # Errors
///
/// [`JsonError`] if `json` is not an object, or as [`value_from_plain_json`] for a member.
pub fn item_from_plain_json(json: &Json) -> Result<BTreeMap<String, Value>, JsonError> {
    item_from(json, plain_at)
}

/// Reads a value from plain JSON: string → `S`, number → `N`, bool → `BOOL`, null → `NULL`,
/// array → `L`, object → `M`.
///
/// # Errors
///
/// [`JsonError`] for a number that [`Number::parse`] refuses, or nesting deeper than
/// [`NESTING_DEPTH_MAX`].
pub fn value_from_plain_json(json: &Json) -> Result<Value, JsonError> {
    plain_at(json, &Path::Root, 0)
}

/// Writes an item as a plain JSON object (see [`value_to_plain_json`]).
pub fn item_to_plain_json(item: &BTreeMap<String, Value>) -> Json {
    Json::Object(
        item.iter().map(|(name, value)| (name.clone(), value_to_plain_json(value))).collect(),
    )
}

/// Writes a value as plain JSON. Binary becomes a base64 string and sets become arrays, which
/// read back as `S` and `L`: use typed JSON where the types matter.
pub fn value_to_plain_json(value: &Value) -> Json {
    match value {
        Value::S(text) => Json::String(text.clone()),
        Value::N(number) => number_to_json(number),
        Value::B(bytes) => Json::String(BASE64.encode(bytes)),
        Value::Bool(flag) => Json::Bool(*flag),
        Value::Null => Json::Null,
        Value::L(items) => Json::Array(items.iter().map(value_to_plain_json).collect()),
        Value::M(entries) => item_to_plain_json(entries),
        Value::Ss(set) => Json::Array(set.iter().cloned().map(Json::String).collect()),
        Value::Ns(set) => Json::Array(set.iter().map(number_to_json).collect()),
        Value::Bs(set) => Json::Array(set.iter().map(|b| Json::String(BASE64.encode(b))).collect()),
    }
}

/// Reads an item from DynamoDB typed JSON: `{"name": {"S": "x"}, ...}`.
///
/// # Errors
///
/// [`JsonError`] if `json` is not an object, or as [`value_from_typed_json`] for a member.
pub fn item_from_typed_json(json: &Json) -> Result<BTreeMap<String, Value>, JsonError> {
    item_from(json, typed_at)
}

/// Reads a value from DynamoDB typed JSON (see the module docs for the shapes).
///
/// # Errors
///
/// [`JsonError`] if a typed value is not an object with exactly one known type key, if its
/// content has the wrong JSON type, for a bad number or base64 string, an empty set, a
/// repeated set element, `{"NULL": false}`, or nesting deeper than [`NESTING_DEPTH_MAX`].
pub fn value_from_typed_json(json: &Json) -> Result<Value, JsonError> {
    typed_at(json, &Path::Root, 0)
}

/// Writes an item as DynamoDB typed JSON.
pub fn item_to_typed_json(item: &BTreeMap<String, Value>) -> Json {
    Json::Object(
        item.iter().map(|(name, value)| (name.clone(), value_to_typed_json(value))).collect(),
    )
}

/// Writes a value as DynamoDB typed JSON; reading it back gives the same value, provided
/// its sets are not empty (DynamoDB has no empty sets).
pub fn value_to_typed_json(value: &Value) -> Json {
    let content = match value {
        Value::S(text) => Json::String(text.clone()),
        Value::N(number) => Json::String(number.to_string()),
        Value::B(bytes) => Json::String(BASE64.encode(bytes)),
        Value::Bool(flag) => Json::Bool(*flag),
        Value::Null => Json::Bool(true),
        Value::L(items) => Json::Array(items.iter().map(value_to_typed_json).collect()),
        Value::M(entries) => item_to_typed_json(entries),
        Value::Ss(set) => Json::Array(set.iter().cloned().map(Json::String).collect()),
        Value::Ns(set) => Json::Array(set.iter().map(|n| Json::String(n.to_string())).collect()),
        Value::Bs(set) => Json::Array(set.iter().map(|b| Json::String(BASE64.encode(b))).collect()),
    };
    let mut object = Map::new();
    object.insert(value.type_name().to_owned(), content);
    Json::Object(object)
}

/// Where a reader is in the document, as a chain of parent links; rendered only on error.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn error(&self, kind: JsonErrorKind) -> JsonError {
        JsonError { path: self.to_string(), kind }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("$"),
            Path::Key(parent, key) if is_identifier(key) => write!(f, "{parent}.{key}"),
            Path::Key(parent, key) => write!(f, "{parent}[{}]", Json::String((*key).to_owned())),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// How one value is read: plain or typed.
type ReadAt = fn(&Json, &Path<'_>, usize) -> Result<Value, JsonError>;

fn item_from(json: &Json, read: ReadAt) -> Result<BTreeMap<String, Value>, JsonError> {
    let Json::Object(members) = json else {
        return Err(Path::Root.error(JsonErrorKind::ItemNotObject { found: brief(json) }));
    };
    // An item's attributes are not nested in anything: each may hold the full depth.
    map_at(members, &Path::Root, 0, read)
}

fn map_at(
    members: &Map<String, Json>,
    path: &Path<'_>,
    depth: usize,
    read: ReadAt,
) -> Result<BTreeMap<String, Value>, JsonError> {
    members
        .iter()
        .map(|(name, member)| Ok((name.clone(), read(member, &Path::Key(path, name), depth)?)))
        .collect()
}

fn list_at(
    elements: &[Json],
    path: &Path<'_>,
    depth: usize,
    read: ReadAt,
) -> Result<Vec<Value>, JsonError> {
    let read_one = |(index, element)| read(element, &Path::Index(path, index), depth);
    elements.iter().enumerate().map(read_one).collect()
}

/// The depth inside a new list or map entered at `depth`, refused past the limit.
fn enter(path: &Path<'_>, depth: usize) -> Result<usize, JsonError> {
    if depth >= NESTING_DEPTH_MAX {
        return Err(path.error(JsonErrorKind::TooDeep));
    }
    Ok(depth + 1)
}

fn plain_at(json: &Json, path: &Path<'_>, depth: usize) -> Result<Value, JsonError> {
    Ok(match json {
        Json::String(text) => Value::S(text.clone()),
        Json::Number(number) => Value::N(Number::parse(number.as_str()).map_err(|e| {
            let text = number.as_str().to_owned();
            path.error(JsonErrorKind::NumberOutOfRange { text, reason: reason_of(e) })
        })?),
        Json::Bool(flag) => Value::Bool(*flag),
        Json::Null => Value::Null,
        Json::Array(elements) => Value::L(list_at(elements, path, enter(path, depth)?, plain_at)?),
        Json::Object(members) => Value::M(map_at(members, path, enter(path, depth)?, plain_at)?),
    })
}

fn typed_at(json: &Json, path: &Path<'_>, depth: usize) -> Result<Value, JsonError> {
    let (type_key, content) = match json {
        Json::Object(members) if members.len() == 1 => {
            members.iter().next().ok_or_else(|| shape_error(json, path))?
        }
        _ => return Err(shape_error(json, path)),
    };
    Ok(match type_key.as_str() {
        "S" => Value::S(string_in(content, path, "\"S\" value")?.to_owned()),
        "N" => Value::N(number_in(content, path, "\"N\" value")?),
        "B" => Value::B(binary_in(content, path, "\"B\" value")?),
        "BOOL" => Value::Bool(bool_in(content, path)?),
        "NULL" => null_in(content, path)?,
        "L" => {
            let elements = array_in(content, path, "\"L\" value")?;
            Value::L(list_at(elements, path, enter(path, depth)?, typed_at)?)
        }
        "M" => {
            let Json::Object(members) = content else {
                return Err(wrong_type(content, path, "\"M\" value", "an object"));
            };
            Value::M(map_at(members, path, enter(path, depth)?, typed_at)?)
        }
        "SS" => Value::Ss(set_in(content, path, "SS", |e, p| {
            Ok(string_in(e, p, "\"SS\" element")?.to_owned())
        })?),
        "NS" => Value::Ns(set_in(content, path, "NS", |e, p| number_in(e, p, "\"NS\" element"))?),
        "BS" => Value::Bs(set_in(content, path, "BS", |e, p| binary_in(e, p, "\"BS\" element"))?),
        _ => {
            let type_key = Json::String(type_key.clone()).to_string();
            return Err(path.error(JsonErrorKind::UnknownType { type_key }));
        }
    })
}

fn shape_error(json: &Json, path: &Path<'_>) -> JsonError {
    path.error(JsonErrorKind::TypedShape { found: brief(json) })
}

fn wrong_type(
    json: &Json,
    path: &Path<'_>,
    what: &'static str,
    expected: &'static str,
) -> JsonError {
    path.error(JsonErrorKind::WrongType { what, expected, found: brief(json) })
}

fn string_in<'j>(
    json: &'j Json,
    path: &Path<'_>,
    what: &'static str,
) -> Result<&'j str, JsonError> {
    json.as_str().ok_or_else(|| wrong_type(json, path, what, "a string"))
}

fn array_in<'j>(
    json: &'j Json,
    path: &Path<'_>,
    what: &'static str,
) -> Result<&'j [Json], JsonError> {
    match json {
        Json::Array(elements) => Ok(elements),
        _ => Err(wrong_type(json, path, what, "an array")),
    }
}

fn bool_in(json: &Json, path: &Path<'_>) -> Result<bool, JsonError> {
    json.as_bool().ok_or_else(|| wrong_type(json, path, "\"BOOL\" value", "true or false"))
}

fn null_in(json: &Json, path: &Path<'_>) -> Result<Value, JsonError> {
    // DynamoDB writes {"NULL": true} and refuses {"NULL": false}.
    match json {
        Json::Bool(true) => Ok(Value::Null),
        _ => Err(wrong_type(json, path, "\"NULL\" value", "true")),
    }
}

fn number_in(json: &Json, path: &Path<'_>, what: &'static str) -> Result<Number, JsonError> {
    let text = string_in(json, path, what)?;
    Number::parse(text).map_err(|e| {
        path.error(JsonErrorKind::BadNumber { what, text: brief(json), reason: reason_of(e) })
    })
}

fn binary_in(json: &Json, path: &Path<'_>, what: &'static str) -> Result<Bytes, JsonError> {
    let text = string_in(json, path, what)?;
    let bytes = BASE64
        .decode(text)
        .map_err(|e| path.error(JsonErrorKind::BadBase64 { what, reason: e.to_string() }))?;
    Ok(Bytes::from(bytes))
}

fn set_in<T: Ord>(
    json: &Json,
    path: &Path<'_>,
    type_key: &'static str,
    read: impl Fn(&Json, &Path<'_>) -> Result<T, JsonError>,
) -> Result<BTreeSet<T>, JsonError> {
    let Json::Array(elements) = json else {
        let what = match type_key {
            "SS" => "\"SS\" value",
            "NS" => "\"NS\" value",
            _ => "\"BS\" value",
        };
        return Err(wrong_type(json, path, what, "an array"));
    };
    if elements.is_empty() {
        return Err(path.error(JsonErrorKind::EmptySet { type_key }));
    }
    let mut set = BTreeSet::new();
    for (index, element) in elements.iter().enumerate() {
        let element_path = Path::Index(path, index);
        if !set.insert(read(element, &element_path)?) {
            let element = brief(element);
            return Err(element_path.error(JsonErrorKind::DuplicateElement { type_key, element }));
        }
    }
    Ok(set)
}

/// A JSON number holding `number`'s exact text.
fn number_to_json(number: &Number) -> Json {
    // Display writes `-`, digits, an optional fraction and an optional `E±power`: always a
    // valid JSON number, which arbitrary_precision keeps as that text.
    let text = number.to_string();
    let number = serde_json::Number::from_str(&text)
        .unwrap_or_else(|e| panic!("Number displays as {text}, not JSON: {e}"));
    Json::Number(number)
}

/// Why a number was refused, without the "invalid number:" prefix the message already implies.
fn reason_of(error: Error) -> String {
    match error {
        Error::Invalid { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// A short rendering of `json` for error messages: scalars in full (long strings cut), the
/// contents of arrays and objects elided.
fn brief(json: &Json) -> String {
    const MEMBERS_SHOWN: usize = 8;
    const CHARS_SHOWN: usize = 40;
    match json {
        Json::Array(elements) if elements.is_empty() => "[]".to_owned(),
        Json::Array(_) => "[..]".to_owned(),
        Json::Object(members) => {
            let mut keys: Vec<String> = members
                .keys()
                .take(MEMBERS_SHOWN)
                .map(|k| format!("{}:..", Json::String(k.clone())))
                .collect();
            if members.len() > MEMBERS_SHOWN {
                keys.push("..".to_owned());
            }
            format!("{{{}}}", keys.join(","))
        }
        Json::String(text) if text.chars().count() > CHARS_SHOWN => {
            let head: String = text.chars().take(CHARS_SHOWN).collect();
            format!("{}..", Json::String(head))
        }
        scalar => scalar.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::testing::{arb_value, config};

    fn num(text: &str) -> Number {
        Number::parse(text).unwrap()
    }

    fn typed(text: &str) -> Result<Value, JsonError> {
        value_from_typed_json(&serde_json::from_str(text).unwrap())
    }

    fn typed_error(text: &str) -> String {
        typed(text).unwrap_err().to_string()
    }

    fn plain_error(text: &str) -> String {
        value_from_plain_json(&serde_json::from_str(text).unwrap()).unwrap_err().to_string()
    }

    fn sample_item() -> BTreeMap<String, Value> {
        let inner = BTreeMap::from([
            ("ss".to_owned(), Value::Ss(["a".to_owned(), "b".to_owned()].into())),
            ("ns".to_owned(), Value::Ns([num("1"), num("-2.5"), num("1E+100")].into())),
            ("bs".to_owned(), Value::Bs([Bytes::from_static(b"\x00\x01"), Bytes::new()].into())),
            ("l".to_owned(), Value::L(vec![Value::Null, Value::Bool(false), Value::L(vec![])])),
        ]);
        BTreeMap::from([
            ("s".to_owned(), Value::S("héllo \"x\"".to_owned())),
            ("n".to_owned(), Value::N(num("12.5"))),
            ("big".to_owned(), Value::N(num("12345678901234567890123456789012345678"))),
            ("tiny".to_owned(), Value::N(num("0.000000000000000000000000000000000001"))),
            ("b".to_owned(), Value::B(Bytes::from_static(b"\xff\x00hi"))),
            ("t".to_owned(), Value::Bool(true)),
            ("z".to_owned(), Value::Null),
            ("m".to_owned(), Value::M(inner)),
        ])
    }

    #[test]
    fn typed_wire_shape_is_dynamodb_s() {
        let value = Value::L(vec![
            Value::S("x".to_owned()),
            Value::N(num("12.5")),
            Value::B(Bytes::from_static(b"\x00\x01")),
            Value::Bool(true),
            Value::Null,
            Value::M(BTreeMap::from([("k".to_owned(), Value::L(vec![]))])),
            Value::Ss(["a".to_owned()].into()),
            Value::Ns([num("2"), num("1")].into()),
            Value::Bs([Bytes::from_static(b"hi")].into()),
        ]);
        let expected = concat!(
            r#"{"L":[{"S":"x"},{"N":"12.5"},{"B":"AAE="},{"BOOL":true},{"NULL":true},"#,
            r#"{"M":{"k":{"L":[]}}},{"SS":["a"]},{"NS":["1","2"]},{"BS":["aGk="]}]}"#
        );
        assert_eq!(value_to_typed_json(&value).to_string(), expected);
        assert_eq!(typed(expected).unwrap(), value);
    }

    #[test]
    fn typed_item_round_trips() {
        let item = sample_item();
        let json = item_to_typed_json(&item);
        let text = json.to_string();
        assert!(text.contains(r#""big":{"N":"12345678901234567890123456789012345678"}"#), "{text}");
        assert!(text.contains(r#""tiny":{"N":"1E-36"}"#), "{text}");
        let reparsed: Json = serde_json::from_str(&text).unwrap();
        assert_eq!(item_from_typed_json(&reparsed).unwrap(), item);
    }

    #[test]
    fn plain_item_round_trips_with_exact_numbers() {
        let text = r#"{"a":"x","big":12345678901234567890123456789012345678,
            "tiny":0.000000000000000000000000000000000001,"neg":-1.5e-130,"huge":9.9E+125,
            "m":{"l":[1,true,null,{"k":[]}],"e":{}}}"#;
        let json: Json = serde_json::from_str(text).unwrap();
        let item = item_from_plain_json(&json).unwrap();
        assert_eq!(item["big"], Value::N(num("12345678901234567890123456789012345678")));
        assert_eq!(item["tiny"], Value::N(num("1E-36")));
        assert_eq!(item["neg"], Value::N(num("-1.5E-130")));
        let Value::M(m) = &item["m"] else { panic!("not a map: {:?}", item["m"]) };
        assert_eq!(
            m["l"],
            Value::L(vec![
                Value::N(num("1")),
                Value::Bool(true),
                Value::Null,
                Value::M(BTreeMap::from([("k".to_owned(), Value::L(vec![]))])),
            ])
        );
        let written = item_to_plain_json(&item).to_string();
        assert!(written.contains(r#""big":12345678901234567890123456789012345678"#), "{written}");
        assert!(written.contains(r#""tiny":1e-36"#), "{written}");
        let reread = item_from_plain_json(&serde_json::from_str(&written).unwrap()).unwrap();
        assert_eq!(reread, item);
    }

    #[test]
    fn plain_writes_binary_as_base64_and_sets_as_arrays() {
        let item = sample_item();
        let json = item_to_plain_json(&item);
        assert_eq!(json["b"], json!("/wBoaQ=="));
        assert_eq!(json["m"]["ss"], json!(["a", "b"]));
        assert_eq!(json["m"]["ns"].to_string(), "[-2.5,1,1e+100]");
        assert_eq!(json["m"]["bs"], json!(["", "AAE="]));
        assert_eq!(json["n"].to_string(), "12.5");
        assert_eq!(json["z"], Json::Null);
    }

    #[test]
    fn plain_numbers_beyond_dynamodb_are_refused_with_path() {
        let err = plain_error(r#"{"a":[1, 1e400]}"#);
        assert!(
            err.starts_with("at $.a[1]: number 1e+400 cannot be stored: magnitude above"),
            "{err}"
        );
        let err = plain_error("1234567890123456789012345678901234567890");
        assert!(err.starts_with("at $: number 1234567890123456789012345678901234567890"), "{err}");
        assert!(err.contains("39 significant digits"), "{err}");
    }

    #[test]
    fn item_must_be_an_object() {
        let err = item_from_plain_json(&json!([1])).unwrap_err();
        assert_eq!(err.to_string(), "at $: an item must be a JSON object, found [..]");
        let err = item_from_typed_json(&json!("x")).unwrap_err();
        assert_eq!(err.to_string(), r#"at $: an item must be a JSON object, found "x""#);
    }

    #[test]
    fn typed_errors_name_path_and_problem() {
        let cases = [
            (
                r#"{"M":{"a":{"M":{"b":{"NS":["1","2","x"]}}}}}"#,
                r#"at $.a.b[2]: "NS" element "x" is not a number: "x" has no digits"#,
            ),
            (
                r#"{"M":{"a":{"S":"x","N":"1"}}}"#,
                concat!(
                    "at $.a: typed value must be an object with exactly one type key, ",
                    r#"found {"N":..,"S":..}"#
                ),
            ),
            (
                r#"{"L":[{}]}"#,
                "at $[0]: typed value must be an object with exactly one type key, found {}",
            ),
            (
                r#"{"L":["x"]}"#,
                r#"at $[0]: typed value must be an object with exactly one type key, found "x""#,
            ),
            (
                r#"{"M":{"odd key":{"X":1}}}"#,
                concat!(
                    r#"at $["odd key"]: unknown type key "X"; "#,
                    "expected one of S, N, B, BOOL, NULL, L, M, SS, NS, BS"
                ),
            ),
            (r#"{"S":1}"#, r#"at $: "S" value must be a string, found 1"#),
            (r#"{"N":12}"#, r#"at $: "N" value must be a string, found 12"#),
            (r#"{"NS":[1]}"#, r#"at $[0]: "NS" element must be a string, found 1"#),
            (r#"{"BOOL":"true"}"#, r#"at $: "BOOL" value must be true or false, found "true""#),
            (r#"{"NULL":false}"#, r#"at $: "NULL" value must be true, found false"#),
            (r#"{"L":{}}"#, r#"at $: "L" value must be an array, found {}"#),
            (r#"{"M":[]}"#, r#"at $: "M" value must be an object, found []"#),
            (r#"{"SS":"a"}"#, r#"at $: "SS" value must be an array, found "a""#),
            (
                r#"{"M":{"s":{"SS":[]}}}"#,
                r#"at $.s: "SS" set is empty; DynamoDB refuses empty sets"#,
            ),
            (r#"{"BS":[]}"#, r#"at $: "BS" set is empty; DynamoDB refuses empty sets"#),
            (
                r#"{"SS":["a","b","a"]}"#,
                r#"at $[2]: "SS" element "a" appears twice; set elements must be distinct"#,
            ),
            (
                r#"{"NS":["1","1.0"]}"#,
                r#"at $[1]: "NS" element "1.0" appears twice; set elements must be distinct"#,
            ),
            (
                r#"{"BS":["AA==","AA=="]}"#,
                r#"at $[1]: "BS" element "AA==" appears twice; set elements must be distinct"#,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(typed_error(input), expected, "input {input}");
        }
    }

    #[test]
    fn typed_base64_must_be_canonical() {
        assert_eq!(typed(r#"{"B":""}"#).unwrap(), Value::B(Bytes::new()));
        assert_eq!(typed(r#"{"B":"+/8="}"#).unwrap(), Value::B(Bytes::from_static(b"\xfb\xff")));
        for bad in [r#"{"B":"AAE"}"#, r#"{"B":"A==="}"#, r#"{"B":"-_8="}"#, r#"{"B":"AB=="}"#] {
            let err = typed_error(bad);
            assert!(err.starts_with(r#"at $: "B" value is not base64"#), "{bad}: {err}");
        }
        let err = typed_error(r#"{"BS":["AA==","*"]}"#);
        assert!(err.starts_with(r#"at $[1]: "BS" element is not base64"#), "{err}");
    }

    fn nested_plain(levels: usize) -> Json {
        (0..levels).fold(json!(1), |inner, _| json!([inner]))
    }

    fn nested_typed(levels: usize) -> Json {
        (0..levels).fold(json!({"N": "1"}), |inner, _| json!({"M": {"k": inner}}))
    }

    #[test]
    fn nesting_is_limited_to_dynamodb_s_depth() {
        let deepest = value_from_plain_json(&nested_plain(NESTING_DEPTH_MAX)).unwrap();
        assert_eq!(deepest.nesting_depth(), NESTING_DEPTH_MAX);
        let err = value_from_plain_json(&nested_plain(NESTING_DEPTH_MAX + 1)).unwrap_err();
        assert_eq!(err.kind, JsonErrorKind::TooDeep);
        assert_eq!(err.path, format!("${}", "[0]".repeat(NESTING_DEPTH_MAX)));

        let deepest = value_from_typed_json(&nested_typed(NESTING_DEPTH_MAX)).unwrap();
        assert_eq!(deepest.nesting_depth(), NESTING_DEPTH_MAX);
        let err = value_from_typed_json(&nested_typed(NESTING_DEPTH_MAX + 1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "at ${}: lists and maps nest deeper than {NESTING_DEPTH_MAX} levels",
                ".k".repeat(NESTING_DEPTH_MAX)
            )
        );

        // An item's own map is not a nesting level: each attribute gets the full depth.
        let item = json!({ "a": nested_plain(NESTING_DEPTH_MAX) });
        assert!(item_from_plain_json(&item).is_ok());
    }

    /// Replaces empty sets, which typed JSON cannot hold, by `NULL`.
    fn without_empty_sets(value: Value) -> Value {
        match value {
            Value::Ss(set) if set.is_empty() => Value::Null,
            Value::Ns(set) if set.is_empty() => Value::Null,
            Value::Bs(set) if set.is_empty() => Value::Null,
            Value::L(items) => Value::L(items.into_iter().map(without_empty_sets).collect()),
            Value::M(entries) => {
                Value::M(entries.into_iter().map(|(k, v)| (k, without_empty_sets(v))).collect())
            }
            other => other,
        }
    }

    /// What plain JSON keeps of a value: binary becomes base64 text and sets become lists.
    fn plain_image(value: Value) -> Value {
        let base64 = |bytes: &Bytes| Value::S(BASE64.encode(bytes));
        match value {
            Value::B(bytes) => base64(&bytes),
            Value::Ss(set) => Value::L(set.into_iter().map(Value::S).collect()),
            Value::Ns(set) => Value::L(set.into_iter().map(Value::N).collect()),
            Value::Bs(set) => Value::L(set.iter().map(base64).collect()),
            Value::L(items) => Value::L(items.into_iter().map(plain_image).collect()),
            Value::M(entries) => {
                Value::M(entries.into_iter().map(|(k, v)| (k, plain_image(v))).collect())
            }
            other => other,
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn typed_json_round_trips_any_value(value in arb_value().prop_map(without_empty_sets)) {
            let text = value_to_typed_json(&value).to_string();
            let reread = value_from_typed_json(&serde_json::from_str(&text).unwrap());
            prop_assert_eq!(reread, Ok(value));
        }

        #[test]
        fn plain_json_keeps_the_plain_image(value in arb_value()) {
            let text = value_to_plain_json(&value).to_string();
            let reread = value_from_plain_json(&serde_json::from_str(&text).unwrap());
            prop_assert_eq!(reread, Ok(plain_image(value)));
        }
    }
}
