//! Projecting an item onto a list of document paths.
//!
//! The result keeps the structure of the item: projecting `a.b` gives `{a: {b: ...}}`, and
//! projecting `l[2], l[0]` gives `{l: [l[0], l[2]]}` (selected list elements, in index order,
//! packed together as DynamoDB returns them). Paths the item lacks are left out, and a map or
//! list from which nothing was selected is left out too.

use std::collections::BTreeMap;

use shoal_types::Value;

use crate::ast::{Item, Path, PathElement};

/// What to keep of one value: all of it, or some of its children.
#[derive(Debug)]
enum Selection {
    Whole,
    Children(BTreeMap<PathElement, Selection>),
}

/// The parts of `item` that `paths` name.
pub fn project(paths: &[Path], item: &Item) -> Item {
    let mut tops: BTreeMap<&str, Selection> = BTreeMap::new();
    for path in paths {
        let top = tops.entry(path.head()).or_insert_with(|| Selection::Children(BTreeMap::new()));
        select(top, path.rest());
    }
    tops.into_iter()
        .filter_map(|(name, selection)| {
            let value = pick(item.get(name)?, &selection)?;
            Some((name.to_owned(), value))
        })
        .collect()
}

/// Marks `rest` below `selection` as wanted.
fn select(selection: &mut Selection, rest: &[PathElement]) {
    let Some((first, rest)) = rest.split_first() else {
        *selection = Selection::Whole;
        return;
    };
    if let Selection::Children(children) = selection {
        let child =
            children.entry(first.clone()).or_insert_with(|| Selection::Children(BTreeMap::new()));
        select(child, rest);
    }
}

/// The selected part of `value`, or `None` if nothing selected is there.
fn pick(value: &Value, selection: &Selection) -> Option<Value> {
    let Selection::Children(children) = selection else {
        return Some(value.clone());
    };
    let picked = match value {
        Value::M(entries) => {
            let kept: BTreeMap<String, Value> = children
                .iter()
                .filter_map(|(element, child)| match element {
                    PathElement::Field(name) => {
                        Some((name.clone(), pick(entries.get(name)?, child)?))
                    }
                    PathElement::Index(_) => None,
                })
                .collect();
            (!kept.is_empty()).then_some(Value::M(kept))?
        }
        Value::L(items) => {
            let kept: Vec<Value> = children
                .iter()
                .filter_map(|(element, child)| match element {
                    PathElement::Index(index) => pick(items.get(*index)?, child),
                    PathElement::Field(_) => None,
                })
                .collect();
            (!kept.is_empty()).then_some(Value::L(kept))?
        }
        _ => return None,
    };
    Some(picked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_projection;
    use crate::testing::{item, list, map, n, placeholders, s};

    fn projected(text: &str) -> Item {
        let source = item(&[
            ("a", n(1)),
            ("m", map(&[("x", n(1)), ("y", map(&[("z", s("deep"))])), ("w", n(3))])),
            ("l", list(&[s("l0"), map(&[("k", n(1)), ("j", n(2))]), s("l2")])),
        ]);
        let mut ph = placeholders(&[("#m", "m")], &[]);
        project(&parse_projection(text, &mut ph).unwrap(), &source)
    }

    #[test]
    fn keeps_structure() {
        assert_eq!(projected("a"), item(&[("a", n(1))]));
        assert_eq!(projected("a, nope"), item(&[("a", n(1))]));
        assert_eq!(
            projected("#m.y.z, m.x"),
            item(&[("m", map(&[("x", n(1)), ("y", map(&[("z", s("deep"))]))]))])
        );
        assert_eq!(projected("l[2], l[0]"), item(&[("l", list(&[s("l0"), s("l2")]))]));
        assert_eq!(projected("l[1].j"), item(&[("l", list(&[map(&[("j", n(2))])]))]));
    }

    #[test]
    fn leaves_out_what_is_missing() {
        assert_eq!(projected("m.nope, l[7], a.b"), Item::new());
        assert_eq!(projected("m[0], l.x"), Item::new());
        assert_eq!(projected("nope"), Item::new());
    }

    #[test]
    fn overlapping_paths_keep_the_whole() {
        let paths = [Path::attribute("m").field("x"), Path::attribute("m")];
        let source = item(&[("m", map(&[("x", n(1)), ("w", n(2))]))]);
        assert_eq!(project(&paths, &source), source);
    }
}
