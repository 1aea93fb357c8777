//! Helpers shared by the unit tests.

use std::collections::{BTreeMap, BTreeSet};

use shoal_types::{Number, Value};

use crate::ast::Item;
use crate::placeholders::Placeholders;

/// Cases per property: `SHOAL_PROPTEST_CASES`, 64 by default.
pub(crate) fn proptest_config() -> proptest::test_runner::Config {
    let cases = std::env::var("SHOAL_PROPTEST_CASES").ok().and_then(|s| s.parse().ok());
    proptest::test_runner::Config::with_cases(cases.unwrap_or(64))
}

pub(crate) fn n(value: i64) -> Value {
    Value::N(Number::from(value))
}

pub(crate) fn num(text: &str) -> Value {
    Value::N(Number::parse(text).unwrap())
}

pub(crate) fn s(text: &str) -> Value {
    Value::S(text.to_owned())
}

pub(crate) fn ss(items: &[&str]) -> Value {
    Value::Ss(items.iter().map(|s| (*s).to_owned()).collect())
}

pub(crate) fn ns(items: &[i64]) -> Value {
    Value::Ns(items.iter().map(|n| Number::from(*n)).collect::<BTreeSet<_>>())
}

pub(crate) fn list(items: &[Value]) -> Value {
    Value::L(items.to_vec())
}

pub(crate) fn map(entries: &[(&str, Value)]) -> Value {
    Value::M(entries.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
}

pub(crate) fn item(entries: &[(&str, Value)]) -> Item {
    entries.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

/// Placeholders with the given names and values (keys with their sigils).
pub(crate) fn placeholders(names: &[(&str, &str)], values: &[(&str, Value)]) -> Placeholders {
    let names: BTreeMap<String, String> =
        names.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let values: BTreeMap<String, Value> =
        values.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    Placeholders::new(names, values)
}

/// Placeholders `:a`..`:z` bound to the numbers 0..25 and `#a`..`#z` to `a`..`z`, for tests
/// that do not care about unused ones.
pub(crate) fn plenty() -> Placeholders {
    let letters: Vec<char> = ('a'..='z').collect();
    let names: Vec<(String, String)> =
        letters.iter().map(|c| (format!("#{c}"), c.to_string())).collect();
    let values: Vec<(String, Value)> =
        letters.iter().zip(0..).map(|(c, i)| (format!(":{c}"), n(i))).collect();
    Placeholders::new(names.into_iter().collect(), values.into_iter().collect())
}
