//! [`Placeholders`]: a request's `ExpressionAttributeNames` and `ExpressionAttributeValues`,
//! with a record of which ones the parsed expressions used.
//!
//! DynamoDB refuses a request that defines a placeholder no expression uses, and the check
//! spans all the expressions of one request (say a condition and an update). So parse every
//! expression of the request with the same `Placeholders`, then call
//! [`Placeholders::check_all_used`].

use std::collections::{BTreeMap, BTreeSet};

use shoal_types::Value;

use crate::error::{Error, ExpressionKind, Result};

/// The placeholder maps of one request. Keys include their sigil: `#n`, `:v`.
#[derive(Clone, Debug, Default)]
pub struct Placeholders {
    names: BTreeMap<String, String>,
    values: BTreeMap<String, Value>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

impl Placeholders {
    /// Placeholders from a request's two maps.
    pub fn new(names: BTreeMap<String, String>, values: BTreeMap<String, Value>) -> Self {
        Placeholders { names, values, ..Placeholders::default() }
    }

    /// Resolves `#name`, marking it used.
    pub(crate) fn name(
        &mut self,
        key: &str,
        kind: ExpressionKind,
        offset: usize,
    ) -> Result<String> {
        let name = self.names.get(key).cloned().ok_or_else(|| Error::Invalid {
            kind,
            offset,
            reason: format!(
                "An expression attribute name used in the document path is not defined; \
                 attribute name: {key}"
            ),
        })?;
        self.used_names.insert(key.to_owned());
        Ok(name)
    }

    /// Resolves `:value`, marking it used.
    pub(crate) fn value(
        &mut self,
        key: &str,
        kind: ExpressionKind,
        offset: usize,
    ) -> Result<Value> {
        let value = self.values.get(key).cloned().ok_or_else(|| Error::Invalid {
            kind,
            offset,
            reason: format!(
                "An expression attribute value used in expression is not defined; \
                 attribute value: {key}"
            ),
        })?;
        self.used_values.insert(key.to_owned());
        Ok(value)
    }

    /// Checks that the expressions parsed so far used every placeholder defined.
    ///
    /// # Errors
    ///
    /// [`Error::UnusedNames`] or [`Error::UnusedValues`] listing the unused keys.
    pub fn check_all_used(&self) -> Result<()> {
        let unused_names = unused(self.names.keys(), &self.used_names);
        if !unused_names.is_empty() {
            return Err(Error::UnusedNames { keys: unused_names });
        }
        let unused_values = unused(self.values.keys(), &self.used_values);
        if !unused_values.is_empty() {
            return Err(Error::UnusedValues { keys: unused_values });
        }
        Ok(())
    }
}

fn unused<'a>(defined: impl Iterator<Item = &'a String>, used: &BTreeSet<String>) -> String {
    let keys: Vec<&str> = defined.filter(|key| !used.contains(*key)).map(String::as_str).collect();
    keys.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_use() {
        let names = BTreeMap::from([("#a".to_owned(), "a".to_owned())]);
        let values =
            BTreeMap::from([(":x".to_owned(), Value::Null), (":y".to_owned(), Value::Bool(true))]);
        let mut placeholders = Placeholders::new(names, values);
        let kind = ExpressionKind::Condition;
        assert_eq!(placeholders.name("#a", kind, 0).unwrap(), "a");
        assert_eq!(
            placeholders.check_all_used().unwrap_err().to_string(),
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:x, :y}"
        );
        placeholders.value(":x", kind, 0).unwrap();
        placeholders.value(":y", kind, 0).unwrap();
        placeholders.check_all_used().unwrap();
        let missing = placeholders.value(":z", kind, 7).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "Invalid ConditionExpression: An expression attribute value used in expression is \
             not defined; attribute value: :z"
        );
        assert_eq!(missing.offset(), Some(7));
    }

    #[test]
    fn unused_names_reported_first() {
        let names = BTreeMap::from([("#b".to_owned(), "b".to_owned())]);
        let placeholders = Placeholders::new(names, BTreeMap::new());
        assert_eq!(
            placeholders.check_all_used().unwrap_err().to_string(),
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"
        );
    }
}
