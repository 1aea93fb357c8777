//! Reading the user's arguments: JSON text from the command line, stdin (`-`) or a file
//! (`@FILE`), items and keys in plain or typed JSON, placeholders, batch operations and hex
//! page tokens.
//!
//! Every error is bad input (exit 2) and names the argument it came from, as the help shows
//! it (`ITEM_JSON`, `--values`), followed by where in the document when the JSON parses but
//! does not describe valid values (`ITEM_JSON: at $.a[1]: ...`).

use std::collections::BTreeMap;
use std::io::Read;

use serde_json::Value as Json;
use shoal_net::{Item, Placeholders, WriteOp};
use shoal_types::json::{item_from_plain_json, item_from_typed_json};
use shoal_types::Value;

use crate::error::CliError;

/// Where `-` arguments read from. Stdin can be read once: a second `-` is refused rather
/// than silently given an empty document.
pub struct Inputs {
    stdin: Box<dyn Read>,
    stdin_read_by: Option<String>,
}

impl Inputs {
    /// Reads `-` from the process's stdin.
    pub fn from_stdin() -> Inputs {
        Inputs::from_reader(std::io::stdin())
    }

    /// Reads `-` from `reader` (tests).
    pub fn from_reader(reader: impl Read + 'static) -> Inputs {
        Inputs { stdin: Box::new(reader), stdin_read_by: None }
    }

    /// The text of argument `what`: stdin for `-`, a file's contents for `@FILE`, else the
    /// argument itself.
    ///
    /// # Errors
    /// Bad input if stdin was already read, or the file or stdin cannot be read as UTF-8.
    pub fn text(&mut self, what: &str, argument: &str) -> Result<String, CliError> {
        if argument == "-" {
            return self.read_stdin(what);
        }
        if let Some(path) = argument.strip_prefix('@') {
            return std::fs::read_to_string(path).map_err(|e| {
                CliError::bad_input(format!("cannot read {what} from file '{path}': {e}"))
            });
        }
        Ok(argument.to_owned())
    }

    /// The JSON document of argument `what` (see [`Inputs::text`]).
    ///
    /// # Errors
    /// As [`Inputs::text`], or the text is not JSON.
    pub fn json(&mut self, what: &str, argument: &str) -> Result<Json, CliError> {
        let text = self.text(what, argument)?;
        parse_json(what, &text)
    }

    fn read_stdin(&mut self, what: &str) -> Result<String, CliError> {
        if let Some(earlier) = &self.stdin_read_by {
            return Err(CliError::bad_input(format!(
                "{what} is '-' but {earlier} already read stdin; use @FILE for one of them"
            )));
        }
        self.stdin_read_by = Some(what.to_owned());
        let mut text = String::new();
        self.stdin
            .read_to_string(&mut text)
            .map_err(|e| CliError::bad_input(format!("cannot read {what} from stdin: {e}")))?;
        Ok(text)
    }
}

/// Parses `text` as one JSON document.
///
/// # Errors
/// Bad input naming `what` and the line and column of the problem.
pub fn parse_json(what: &str, text: &str) -> Result<Json, CliError> {
    serde_json::from_str(text)
        .map_err(|e| CliError::bad_input(format!("{what} is not valid JSON: {e}")))
}

/// Reads an item (or a key) from a JSON object, typed or plain.
///
/// # Errors
/// Bad input naming `what` and the JSONPath of the first bad value.
pub fn item(what: &str, json: &Json, typed: bool) -> Result<Item, CliError> {
    let read = if typed { item_from_typed_json } else { item_from_plain_json };
    read(json).map_err(|e| CliError::bad_input(format!("{what}: {e}")))
}

/// Reads a JSON array of items (or keys).
///
/// # Errors
/// Bad input if `json` is not an array, or for its first bad element.
pub fn items(what: &str, json: &Json, typed: bool) -> Result<Vec<Item>, CliError> {
    let elements = array(what, json)?;
    let read = |(index, element)| item(&format!("{what}[{index}]"), element, typed);
    elements.iter().enumerate().map(read).collect()
}

/// Reads `--names`: an object of `#placeholder` → attribute name.
///
/// # Errors
/// Bad input if it is not an object of strings, or a key does not start with `#`.
pub fn names(what: &str, json: &Json) -> Result<BTreeMap<String, String>, CliError> {
    let members = object(what, json)?;
    let mut names = BTreeMap::new();
    for (placeholder, name) in members {
        if !placeholder.starts_with('#') {
            return Err(CliError::bad_input(format!(
                "{what}: placeholder \"{placeholder}\" must start with '#'"
            )));
        }
        let Some(name) = name.as_str() else {
            return Err(CliError::bad_input(format!(
                "{what}: \"{placeholder}\" must name an attribute with a string, found {name}"
            )));
        };
        names.insert(placeholder.clone(), name.to_owned());
    }
    Ok(names)
}

/// Reads `--values`: an object of `:placeholder` → value (typed or plain JSON).
///
/// # Errors
/// Bad input if it is not an object, a key does not start with `:`, or a value is invalid.
pub fn values(what: &str, json: &Json, typed: bool) -> Result<BTreeMap<String, Value>, CliError> {
    let members = object(what, json)?;
    if let Some(bad) = members.keys().find(|k| !k.starts_with(':')) {
        return Err(CliError::bad_input(format!(
            "{what}: placeholder \"{bad}\" must start with ':'"
        )));
    }
    // The object's members are read like an item's attributes, so errors point at
    // `$[":v"]`.
    item(what, json, typed)
}

/// Reads the placeholders of a command's expressions from its `--names` and `--values`.
///
/// # Errors
/// As [`names`] and [`values`], or as [`Inputs::json`].
pub fn placeholders(
    inputs: &mut Inputs,
    names_arg: Option<&str>,
    values_arg: Option<&str>,
    typed: bool,
) -> Result<Placeholders, CliError> {
    let mut placeholders = Placeholders::default();
    if let Some(argument) = names_arg {
        placeholders.names = names("--names", &inputs.json("--names", argument)?)?;
    }
    if let Some(argument) = values_arg {
        placeholders.values = values("--values", &inputs.json("--values", argument)?, typed)?;
    }
    Ok(placeholders)
}

/// Reads a batch write: an array of `{"put": ITEM, "ttl": SECS}` or `{"delete": KEY}`.
///
/// # Errors
/// Bad input naming the element and what is wrong with it.
pub fn write_ops(what: &str, json: &Json, typed: bool) -> Result<Vec<WriteOp>, CliError> {
    let elements = array(what, json)?;
    let read = |(index, element)| write_op(&format!("{what}[{index}]"), element, typed);
    elements.iter().enumerate().map(read).collect()
}

fn write_op(what: &str, json: &Json, typed: bool) -> Result<WriteOp, CliError> {
    let members = object(what, json)?;
    if let Some(unknown) = members.keys().find(|k| !["put", "delete", "ttl"].contains(&k.as_str()))
    {
        return Err(CliError::bad_input(format!(
            "{what}: unknown member \"{unknown}\"; an operation is {{\"put\": ITEM, \"ttl\": SECS}} \
             or {{\"delete\": KEY}}"
        )));
    }
    match (members.get("put"), members.get("delete")) {
        (Some(put), None) => {
            let ttl_secs = match members.get("ttl") {
                None => 0,
                Some(ttl) => ttl.as_u64().ok_or_else(|| {
                    CliError::bad_input(format!(
                        "{what}.ttl must be a whole number of seconds, found {ttl}"
                    ))
                })?,
            };
            Ok(WriteOp::Put { item: item(&format!("{what}.put"), put, typed)?, ttl_secs })
        }
        (None, Some(_)) if members.contains_key("ttl") => Err(CliError::bad_input(format!(
            "{what}: \"ttl\" applies to puts only, not to a delete"
        ))),
        (None, Some(delete)) => {
            Ok(WriteOp::Delete { key: item(&format!("{what}.delete"), delete, typed)? })
        }
        _ => Err(CliError::bad_input(format!(
            "{what}: an operation has exactly one of \"put\" or \"delete\""
        ))),
    }
}

fn object<'j>(what: &str, json: &'j Json) -> Result<&'j serde_json::Map<String, Json>, CliError> {
    json.as_object()
        .ok_or_else(|| CliError::bad_input(format!("{what} must be a JSON object, found {json}")))
}

fn array<'j>(what: &str, json: &'j Json) -> Result<&'j [Json], CliError> {
    json.as_array().map(Vec::as_slice).ok_or_else(|| {
        CliError::bad_input(format!("{what} must be a JSON array, found {}", brief(json)))
    })
}

/// The start of `json`, for messages about a document of the wrong shape.
fn brief(json: &Json) -> String {
    const CHARS_SHOWN: usize = 60;
    let text = json.to_string();
    if text.chars().count() <= CHARS_SHOWN {
        return text;
    }
    let head: String = text.chars().take(CHARS_SHOWN).collect();
    format!("{head}...")
}

/// Writes bytes as lowercase hex, the form page tokens are printed in.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Reads hex (either case) back into bytes.
///
/// # Errors
/// Bad input naming `what` if the length is odd or a character is not a hex digit.
pub fn from_hex(what: &str, text: &str) -> Result<Vec<u8>, CliError> {
    let digit_count = text.chars().count();
    if !digit_count.is_multiple_of(2) {
        return Err(CliError::bad_input(format!(
            "{what} must be hex with an even number of digits, found {digit_count} digits"
        )));
    }
    let digit = |(offset, c): (usize, char)| {
        c.to_digit(16).map(|d| d as u8).ok_or_else(|| {
            CliError::bad_input(format!("{what}: '{c}' at offset {offset} is not a hex digit"))
        })
    };
    let digits: Vec<u8> = text.chars().enumerate().map(digit).collect::<Result<_, _>>()?;
    let mut bytes = Vec::with_capacity(digit_count / 2);
    let mut rest = digits.into_iter();
    while let (Some(high), Some(low)) = (rest.next(), rest.next()) {
        bytes.push(high << 4 | low);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::io::Write as _;

    use serde_json::json;
    use shoal_types::Number;

    use super::*;
    use crate::error::Exit;

    fn n(text: &str) -> Value {
        Value::N(Number::parse(text).unwrap())
    }

    fn no_stdin() -> Inputs {
        Inputs::from_reader(Cursor::new(Vec::new()))
    }

    fn bad_input(result: Result<impl std::fmt::Debug, CliError>) -> String {
        let error = result.unwrap_err();
        assert_eq!(error.exit, Exit::BadInput, "{error:?}");
        error.message.unwrap()
    }

    #[test]
    fn literal_arguments_are_themselves() {
        assert_eq!(no_stdin().text("X", r#"{"a":1}"#).unwrap(), r#"{"a":1}"#);
    }

    #[test]
    fn dash_reads_stdin_once() {
        let mut inputs = Inputs::from_reader(Cursor::new(br#"{"k": "v"}"#.to_vec()));
        assert_eq!(inputs.json("ITEM_JSON", "-").unwrap(), json!({"k": "v"}));
        let message = bad_input(inputs.json("--values", "-"));
        assert_eq!(
            message,
            "--values is '-' but ITEM_JSON already read stdin; use @FILE for one of them"
        );
    }

    #[test]
    fn at_reads_a_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(br#"[{"k": 1}]"#).unwrap();
        let argument = format!("@{}", file.path().display());
        let json = no_stdin().json("KEYS_JSON_ARRAY", &argument).unwrap();
        let keys = items("KEYS_JSON_ARRAY", &json, false).unwrap();
        assert_eq!(keys, vec![Item::from([("k".to_owned(), n("1"))])]);
    }

    #[test]
    fn a_missing_file_names_the_argument_and_path() {
        let message = bad_input(no_stdin().text("ITEM_JSON", "@/nonexistent/item.json"));
        assert!(
            message.starts_with("cannot read ITEM_JSON from file '/nonexistent/item.json': "),
            "{message}"
        );
    }

    #[test]
    fn bad_json_names_the_argument() {
        let message = bad_input(no_stdin().json("ITEM_JSON", r#"{"a": }"#));
        assert!(message.starts_with("ITEM_JSON is not valid JSON: "), "{message}");
        assert!(message.contains("line 1 column"), "{message}");
        let message = bad_input(no_stdin().json("--values", "-"));
        assert!(message.starts_with("--values is not valid JSON: EOF"), "{message}");
    }

    #[test]
    fn items_read_plain_or_typed() {
        let plain = item("ITEM_JSON", &json!({"k": "a", "n": 1.5}), false).unwrap();
        let typed = item("ITEM_JSON", &json!({"k": {"S": "a"}, "n": {"N": "1.5"}}), true).unwrap();
        assert_eq!(plain, typed);
        assert_eq!(plain["n"], n("1.5"));
    }

    #[test]
    fn invalid_items_name_argument_and_path() {
        let message = bad_input(item("ITEM_JSON", &json!([1]), false));
        assert_eq!(message, "ITEM_JSON: at $: an item must be a JSON object, found [..]");
        let message = bad_input(item("KEY_JSON", &json!({"k": {"S": 1}}), true));
        assert_eq!(message, r#"KEY_JSON: at $.k: "S" value must be a string, found 1"#);
        let message = bad_input(items("KEYS_JSON_ARRAY", &json!([{"k": 1}, 2]), false));
        assert!(message.starts_with("KEYS_JSON_ARRAY[1]: at $: an item must be"), "{message}");
        let message = bad_input(items("KEYS_JSON_ARRAY", &json!({"k": 1}), false));
        assert_eq!(message, r#"KEYS_JSON_ARRAY must be a JSON array, found {"k":1}"#);
    }

    #[test]
    fn placeholders_read_names_and_values() {
        let mut inputs = no_stdin();
        let names_arg = r##"{"#n": "name"}"##;
        let values_arg = r#"{":v": {"N": "7"}}"#;
        let placeholders = placeholders(&mut inputs, Some(names_arg), Some(values_arg), true);
        let placeholders = placeholders.unwrap();
        assert_eq!(placeholders.names["#n"], "name");
        assert_eq!(placeholders.values[":v"], n("7"));
    }

    #[test]
    fn bad_placeholders_are_refused() {
        let message = bad_input(names("--names", &json!({"n": "x"})));
        assert_eq!(message, r#"--names: placeholder "n" must start with '#'"#);
        let message = bad_input(names("--names", &json!({"#n": 1})));
        assert_eq!(message, r##"--names: "#n" must name an attribute with a string, found 1"##);
        let message = bad_input(values("--values", &json!({"v": 1}), false));
        assert_eq!(message, r#"--values: placeholder "v" must start with ':'"#);
        let message = bad_input(values("--values", &json!({":v": {"Q": 1}}), true));
        assert!(message.starts_with(r#"--values: at $[":v"]: unknown type key "Q""#), "{message}");
        let message = bad_input(values("--values", &json!([]), true));
        assert_eq!(message, "--values must be a JSON object, found []");
    }

    #[test]
    fn write_ops_read_puts_and_deletes() {
        let json = json!([{"put": {"k": 1, "v": "x"}, "ttl": 60}, {"delete": {"k": 2}}]);
        let ops = write_ops("OPS_JSON_ARRAY", &json, false).unwrap();
        let put = Item::from([("k".to_owned(), n("1")), ("v".to_owned(), Value::S("x".into()))]);
        assert_eq!(
            ops,
            vec![
                WriteOp::Put { item: put, ttl_secs: 60 },
                WriteOp::Delete { key: Item::from([("k".to_owned(), n("2"))]) },
            ]
        );
    }

    #[test]
    fn bad_write_ops_name_the_element() {
        let cases = [
            (json!([{"put": {}, "delete": {}}]), "OPS[0]: an operation has exactly one of"),
            (json!([{}]), "OPS[0]: an operation has exactly one of"),
            (json!([{"delete": {}, "ttl": 5}]), "OPS[0]: \"ttl\" applies to puts only"),
            (json!([{"put": {}, "ttl": -1}]), "OPS[0].ttl must be a whole number of seconds"),
            (json!([{"put": {}, "ttl": "5"}]), "OPS[0].ttl must be a whole number of seconds"),
            (json!([{"put": {}}, {"upsert": {}}]), "OPS[1]: unknown member \"upsert\""),
            (json!([{"put": {"a": {"S": 1}}}]), "OPS[0].put: at $.a: \"S\" value must be"),
            (json!([7]), "OPS[0] must be a JSON object, found 7"),
        ];
        for (json, expected) in cases {
            let message = bad_input(write_ops("OPS", &json, true));
            assert!(message.starts_with(expected), "{json}: {message}");
        }
    }

    #[test]
    fn hex_round_trips_in_lowercase() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = to_hex(&bytes);
        assert_eq!(text.len(), 512);
        assert!(text.starts_with("000102") && text.ends_with("feff"), "{text}");
        assert_eq!(text, text.to_lowercase());
        assert_eq!(from_hex("--page-token", &text).unwrap(), bytes);
        assert_eq!(from_hex("--page-token", "ABcd").unwrap(), vec![0xab, 0xcd]);
        assert_eq!(from_hex("--page-token", "").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn bad_hex_names_the_argument() {
        let message = bad_input(from_hex("--page-token", "abc"));
        assert_eq!(
            message,
            "--page-token must be hex with an even number of digits, found 3 digits"
        );
        let message = bad_input(from_hex("--page-token", "0g"));
        assert_eq!(message, "--page-token: 'g' at offset 1 is not a hex digit");
        let message = bad_input(from_hex("--page-token", "é0"));
        assert!(message.starts_with("--page-token"), "{message}");
    }
}
