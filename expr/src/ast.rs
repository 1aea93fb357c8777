//! The typed syntax trees that parsing produces and evaluation consumes.
//!
//! Placeholders are already resolved here: a [`Path`] holds real attribute names and an
//! [`Operand::Value`] the value from `ExpressionAttributeValues`, so evaluation needs no
//! placeholder maps and a tree can be cached and reused across requests with the same maps.

use std::fmt;

use shoal_types::Value;

/// An item: its attributes by name.
pub type Item = std::collections::BTreeMap<String, Value>;

/// One step below the top-level attribute of a [`Path`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// `.name`: a map entry.
    Field(String),
    /// `[n]`: a list element.
    Index(usize),
}

/// A document path such as `a.b[3].c`: a top-level attribute, then map entries and list
/// elements below it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path {
    head: String,
    rest: Vec<PathElement>,
}

impl Path {
    /// The path of the top-level attribute `name`.
    pub fn attribute(name: impl Into<String>) -> Path {
        Path { head: name.into(), rest: Vec::new() }
    }

    /// This path extended by the map entry `name`.
    #[must_use]
    pub fn field(mut self, name: impl Into<String>) -> Path {
        self.rest.push(PathElement::Field(name.into()));
        self
    }

    /// This path extended by the list element `index`.
    #[must_use]
    pub fn index(mut self, index: usize) -> Path {
        self.rest.push(PathElement::Index(index));
        self
    }

    /// The top-level attribute's name.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// The steps below the top-level attribute.
    pub fn rest(&self) -> &[PathElement] {
        &self.rest
    }

    /// The number of steps, counting the top-level attribute.
    pub fn len(&self) -> usize {
        1 + self.rest.len()
    }

    /// Always false: a path names at least its top-level attribute.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether one path is a prefix of the other (or both are equal): writing one then
    /// changes what the other names.
    pub fn overlaps(&self, other: &Path) -> bool {
        self.head == other.head && self.rest.iter().zip(&other.rest).all(|(a, b)| a == b)
    }

    /// Whether the paths share a prefix and then step into the same value once as a map and
    /// once as a list, so that no single value can hold both.
    pub fn conflicts(&self, other: &Path) -> bool {
        if self.head != other.head {
            return false;
        }
        let first_difference = self.rest.iter().zip(&other.rest).find(|(a, b)| a != b);
        matches!(
            first_difference,
            Some((PathElement::Field(_), PathElement::Index(_)))
                | Some((PathElement::Index(_), PathElement::Field(_)))
        )
    }

    /// DynamoDB's rendering in overlap errors: `[a, b, [3]]`.
    pub fn to_bracketed(&self) -> String {
        let rest = self.rest.iter().map(|element| match element {
            PathElement::Field(name) => name.clone(),
            PathElement::Index(index) => format!("[{index}]"),
        });
        let parts: Vec<String> = std::iter::once(self.head.clone()).chain(rest).collect();
        format!("[{}]", parts.join(", "))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.head)?;
        for element in &self.rest {
            match element {
                PathElement::Field(name) => write!(f, ".{name}")?,
                PathElement::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A value in a condition: read from the item, given by the request, or computed.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// The item's value at a path; absent if the item has none.
    Path(Path),
    /// A value from `ExpressionAttributeValues`.
    Value(Value),
    /// `size(path)`: the length of the value at the path, as a number.
    Size(Path),
}

/// The six comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparator {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Comparator {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Ne => "<>",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
        }
    }
}

/// A condition function returning true or false.
#[derive(Clone, Debug, PartialEq)]
pub enum Function {
    /// `attribute_exists(path)`
    AttributeExists(Path),
    /// `attribute_not_exists(path)`
    AttributeNotExists(Path),
    /// `attribute_type(path, type)`: `type` is one of DynamoDB's type descriptors.
    AttributeType(Path, Operand),
    /// `begins_with(path, prefix)` for strings and binaries.
    BeginsWith(Path, Operand),
    /// `contains(path, operand)`: substring of a string, element of a set or list.
    Contains(Path, Operand),
}

/// A condition or filter expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// `left op right`.
    Compare {
        /// The left operand.
        left: Operand,
        /// The operator.
        op: Comparator,
        /// The right operand.
        right: Operand,
    },
    /// `operand BETWEEN low AND high`, both bounds included.
    Between {
        /// The value tested.
        operand: Operand,
        /// The lower bound.
        low: Operand,
        /// The upper bound.
        high: Operand,
    },
    /// `operand IN (candidates...)`.
    In {
        /// The value tested.
        operand: Operand,
        /// The values it may equal.
        candidates: Vec<Operand>,
    },
    /// A boolean function.
    Function(Function),
    /// `NOT condition`.
    Not(Box<Condition>),
    /// Conditions joined by `AND` (at least two; a chain is kept flat).
    And(Vec<Condition>),
    /// Conditions joined by `OR` (at least two; a chain is kept flat).
    Or(Vec<Condition>),
}

/// An operand of a `SET` action.
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateOperand {
    /// The item's value at a path (before the update); the update fails if it is absent.
    Path(Path),
    /// A value from `ExpressionAttributeValues`.
    Value(Value),
    /// `if_not_exists(path, fallback)`.
    IfNotExists(Path, Box<UpdateOperand>),
    /// `list_append(first, second)`.
    ListAppend(Box<UpdateOperand>, Box<UpdateOperand>),
}

/// The right-hand side of a `SET` action.
#[derive(Clone, Debug, PartialEq)]
pub enum SetValue {
    /// A plain operand.
    Operand(UpdateOperand),
    /// `a + b` on numbers.
    Plus(UpdateOperand, UpdateOperand),
    /// `a - b` on numbers.
    Minus(UpdateOperand, UpdateOperand),
}

/// One action of an update expression.
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateAction {
    /// `SET path = value`.
    Set(Path, SetValue),
    /// `REMOVE path`.
    Remove(Path),
    /// `ADD path value`: add to a number or union into a set, creating it if absent.
    Add(Path, Value),
    /// `DELETE path set`: remove elements from a set.
    Delete(Path, Value),
}

impl UpdateAction {
    /// The path the action writes.
    pub fn path(&self) -> &Path {
        match self {
            UpdateAction::Set(path, _)
            | UpdateAction::Remove(path)
            | UpdateAction::Add(path, _)
            | UpdateAction::Delete(path, _) => path,
        }
    }
}

/// An update expression: its actions in the order written. No two actions' paths overlap.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// The actions.
    pub actions: Vec<UpdateAction>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rendering() {
        let path = Path::attribute("a").field("b").index(3).field("c");
        assert_eq!(path.to_string(), "a.b[3].c");
        assert_eq!(path.to_bracketed(), "[a, b, [3], c]");
        assert_eq!(path.len(), 4);
    }

    #[test]
    fn overlap_and_conflict() {
        let a = Path::attribute("a");
        let ab = Path::attribute("a").field("b");
        let a1 = Path::attribute("a").index(1);
        let ac = Path::attribute("a").field("c");
        assert!(a.overlaps(&ab) && ab.overlaps(&a) && a.overlaps(&a));
        assert!(!ab.overlaps(&ac) && !ab.overlaps(&a1));
        assert!(ab.conflicts(&a1) && !ab.conflicts(&ac) && !a.conflicts(&ab));
        assert!(!Path::attribute("b").overlaps(&a));
    }
}
