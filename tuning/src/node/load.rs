//! Reading a [`NodeConfig`] from TOML, with errors that name the file, the key and the line.
//!
//! serde reports where the parser stopped (a byte span) but not which key it was reading, so
//! both kinds of error are placed by walking the document's spanned tree: a parse error's
//! span is turned into the dotted key path around it (`limits.frame_byts_max`), and a
//! validation error's key path into the line and column where that key is written.

use std::ops::Range;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use crate::{ConfigError, NodeConfig};

impl NodeConfig {
    /// Parses a node configuration from TOML and [validates](NodeConfig::validate) it.
    /// Missing keys take their defaults.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for TOML syntax, an unknown key, a value of the wrong type or out of
    /// range, naming the key and, where the file shows it, the line and column.
    pub fn from_toml_str(text: &str) -> Result<NodeConfig, ConfigError> {
        let config: NodeConfig = toml::from_str(text).map_err(|e| parse_error(text, &e))?;
        config.validate().map_err(|e| locate(text, e))?;
        Ok(config)
    }

    /// Reads `path` and parses it as [`NodeConfig::from_toml_str`] does.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `path` if it cannot be read or its configuration is invalid.
    pub fn from_file(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new("", format!("cannot read the file: {e}")).in_file(path)
        })?;
        NodeConfig::from_toml_str(&text).map_err(|e| e.in_file(path))
    }
}

fn parse_error(text: &str, error: &toml::de::Error) -> ConfigError {
    let offset = error.span().map(|span| span.start);
    let field = offset.and_then(|offset| key_path_at(text, offset)).unwrap_or_default();
    ConfigError {
        file: None,
        line_column: offset.map(|offset| line_column(text, offset)),
        field,
        reason: error.message().trim_end().to_owned(),
    }
}

/// Adds the position of the error's key in `text`, if the key is written there.
fn locate(text: &str, mut error: ConfigError) -> ConfigError {
    let span = DeTable::parse(text).ok().and_then(|root| key_span(root.get_ref(), &error.field));
    error.line_column = span.map(|span| line_column(text, span.start));
    error
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    (line, column)
}

/// The dotted path of the key whose name or value covers byte `offset`.
fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let root = DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    path_in_table(root.get_ref(), offset, &mut path).then(|| path.join("."))
}

fn path_in_table(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        // A section's span may be just its header, so look inside tables whatever their span.
        if let DeValue::Table(inner) = value.get_ref() {
            if path_in_table(inner, offset, path) {
                return true;
            }
        }
        if covers(&key.span(), offset) || covers(&value.span(), offset) {
            if let DeValue::Array(elements) = value.get_ref() {
                path_in_array(elements, offset, path);
            }
            return true;
        }
        path.pop();
    }
    false
}

fn path_in_array(elements: &[toml::Spanned<DeValue<'_>>], offset: usize, path: &mut Vec<String>) {
    let Some((index, element)) =
        elements.iter().enumerate().find(|(_, e)| covers(&e.span(), offset))
    else {
        return;
    };
    if let Some(last) = path.last_mut() {
        last.push_str(&format!("[{index}]"));
    }
    if let DeValue::Table(inner) = element.get_ref() {
        path_in_table(inner, offset, path);
    }
}

fn covers(span: &Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || (span.is_empty() && span.start == offset)
}

/// The span of the key at dotted `path` (`limits.frame_bytes_max`), if the document has it.
fn key_span(root: &DeTable<'_>, path: &str) -> Option<Range<usize>> {
    let (section, rest) = match path.split_once('.') {
        Some((section, rest)) => (section, Some(rest)),
        None => (path, None),
    };
    let (key, value) = root.iter().find(|(key, _)| key.get_ref() == section)?;
    match (rest, value.get_ref()) {
        (None, _) => Some(key.span()),
        (Some(rest), DeValue::Table(inner)) => key_span(inner, rest),
        (Some(_), _) => None,
    }
}
