//! The condition grammar, used by condition, filter and key condition expressions.
//!
//! ```text
//! condition  ::= and ( OR and )*
//! and        ::= not ( AND not )*
//! not        ::= NOT not | primary
//! primary    ::= '(' condition ')' | function | operand tail
//! tail       ::= comparator operand | BETWEEN operand AND operand
//!              | IN '(' operand ( ',' operand )* ')'
//! operand    ::= path | :value | size '(' path ')'
//! ```
//!
//! So comparisons, `BETWEEN` and `IN` bind tightest, then `NOT`, then `AND`, then `OR`, as
//! DynamoDB documents. Constant operands are type-checked here, as DynamoDB does before
//! reading any item: `< :v` with a list, or `begins_with(a, :n)` with a number, is refused.

use shoal_types::Value;

use super::Parser;
use crate::ast::{Comparator, Condition, Function, Operand, Path};
use crate::error::Result;
use crate::lexer::TokenKind;
use crate::IN_OPERANDS_MAX;

/// DynamoDB's type descriptors, as `attribute_type` accepts them.
const TYPE_NAMES: [&str; 10] = ["B", "BOOL", "BS", "L", "M", "N", "NS", "NULL", "S", "SS"];

/// The functions that return a condition.
const CONDITION_FUNCTIONS: [&str; 5] =
    ["attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"];

/// The functions of update expressions, refused here with their own message.
const UPDATE_FUNCTIONS: [&str; 2] = ["if_not_exists", "list_append"];

impl Parser<'_> {
    /// A whole condition (the `condition` rule).
    pub(super) fn condition(&mut self) -> Result<Condition> {
        let mut terms = vec![self.and()?];
        while self.at_keyword("OR") {
            self.advance();
            terms.push(self.and()?);
        }
        Ok(flatten(terms, Condition::Or))
    }

    fn and(&mut self) -> Result<Condition> {
        let mut terms = vec![self.not()?];
        while self.at_keyword("AND") {
            self.advance();
            terms.push(self.not()?);
        }
        Ok(flatten(terms, Condition::And))
    }

    fn not(&mut self) -> Result<Condition> {
        if !self.at_keyword("NOT") {
            return self.primary();
        }
        self.advance();
        self.enter()?;
        let inner = self.not()?;
        self.leave();
        Ok(Condition::Not(Box::new(inner)))
    }

    fn primary(&mut self) -> Result<Condition> {
        if self.peek().kind == TokenKind::LParen {
            self.advance();
            self.enter()?;
            let inner = self.condition()?;
            self.expect(TokenKind::RParen)?;
            self.leave();
            return Ok(inner);
        }
        if self.at_call() {
            let name = self.text_of(self.peek()).to_ascii_lowercase();
            if CONDITION_FUNCTIONS.contains(&name.as_str()) {
                return self.function(&name).map(Condition::Function);
            }
        }
        let left = self.operand()?;
        self.tail(left)
    }

    /// What follows the first operand of a comparison, `BETWEEN` or `IN`.
    fn tail(&mut self, left: Operand) -> Result<Condition> {
        let token = self.peek();
        if let Some(op) = comparator(token.kind) {
            self.advance();
            let right = self.operand()?;
            if !matches!(op, Comparator::Eq | Comparator::Ne) {
                self.check_scalar(&left, op.symbol(), token.start)?;
                self.check_scalar(&right, op.symbol(), token.start)?;
            }
            return Ok(Condition::Compare { left, op, right });
        }
        if self.at_keyword("BETWEEN") {
            self.advance();
            return self.between(left, token.start);
        }
        if self.at_keyword("IN") {
            self.advance();
            return self.in_list(left, token.start);
        }
        Err(self.syntax_error())
    }

    fn between(&mut self, operand: Operand, offset: usize) -> Result<Condition> {
        let low = self.operand()?;
        self.expect_keyword("AND")?;
        let high = self.operand()?;
        for bound in [&operand, &low, &high] {
            self.check_scalar(bound, "BETWEEN", offset)?;
        }
        if let (Operand::Value(l), Operand::Value(h)) = (&low, &high) {
            if l.type_name() == h.type_name() && l > h {
                return Err(self.invalid(
                    offset,
                    format!(
                        "The BETWEEN operator requires upper bound to be greater than or equal \
                         to lower bound; lower bound operand: AttributeValue: {{{}}}, upper \
                         bound operand: AttributeValue: {{{}}}",
                        describe(l),
                        describe(h)
                    ),
                ));
            }
        }
        Ok(Condition::Between { operand, low, high })
    }

    fn in_list(&mut self, operand: Operand, offset: usize) -> Result<Condition> {
        self.expect(TokenKind::LParen)?;
        let mut candidates = vec![self.operand()?];
        while self.peek().kind == TokenKind::Comma {
            self.advance();
            candidates.push(self.operand()?);
        }
        self.expect(TokenKind::RParen)?;
        if candidates.len() > IN_OPERANDS_MAX {
            return Err(self.invalid(
                offset,
                format!(
                    "The IN operator is provided with too many operands; number of operands: {}",
                    candidates.len()
                ),
            ));
        }
        Ok(Condition::In { operand, candidates })
    }

    /// An operand: a path, a value placeholder or `size(path)`.
    fn operand(&mut self) -> Result<Operand> {
        let token = self.peek();
        match token.kind {
            TokenKind::ValuePlaceholder => Ok(Operand::Value(self.value()?)),
            TokenKind::Ident if self.at_call() => {
                let name = self.text_of(token).to_ascii_lowercase();
                if name != "size" {
                    return Err(self.misplaced_function(&name, token.start));
                }
                let mut args = self.call_args()?;
                self.check_arity("size", &args, 1, token.start)?;
                Ok(Operand::Size(self.path_arg(&mut args, "size", token.start)?))
            }
            _ => Ok(Operand::Path(self.path()?)),
        }
    }

    /// A boolean function call; the cursor is at its (known) name.
    fn function(&mut self, name: &str) -> Result<Function> {
        let offset = self.peek().start;
        let mut args = self.call_args()?;
        let arity = if name.starts_with("attribute_") && name != "attribute_type" { 1 } else { 2 };
        self.check_arity(name, &args, arity, offset)?;
        let path = self.path_arg(&mut args, name, offset)?;
        let second = args.pop();
        let function = match (name, second) {
            ("attribute_exists", _) => Function::AttributeExists(path),
            ("attribute_not_exists", _) => Function::AttributeNotExists(path),
            ("attribute_type", Some(kind)) => {
                self.check_type_name(&kind, offset)?;
                Function::AttributeType(path, kind)
            }
            ("begins_with", Some(prefix)) => {
                self.check_type(&prefix, name, offset, |v| matches!(v, Value::S(_) | Value::B(_)))?;
                Function::BeginsWith(path, prefix)
            }
            (_, Some(operand)) => Function::Contains(path, operand),
            (_, None) => return Err(self.syntax_error()),
        };
        Ok(function)
    }

    /// `name(operand, ...)`: the arguments, in reverse order so they pop in order.
    fn call_args(&mut self) -> Result<Vec<Operand>> {
        self.advance();
        self.expect(TokenKind::LParen)?;
        self.enter()?;
        let mut args = vec![self.operand()?];
        while self.peek().kind == TokenKind::Comma {
            self.advance();
            args.push(self.operand()?);
        }
        self.expect(TokenKind::RParen)?;
        self.leave();
        args.reverse();
        Ok(args)
    }

    fn check_arity(&self, name: &str, args: &[Operand], arity: usize, offset: usize) -> Result<()> {
        if args.len() == arity {
            return Ok(());
        }
        Err(self.invalid(
            offset,
            format!(
                "Incorrect number of operands for operator or function; operator or function: \
                 {name}, number of operands: {}",
                args.len()
            ),
        ))
    }

    fn path_arg(&self, args: &mut Vec<Operand>, name: &str, offset: usize) -> Result<Path> {
        match args.pop() {
            Some(Operand::Path(path)) => Ok(path),
            _ => Err(self.invalid(
                offset,
                format!(
                    "Operator or function requires a document path; operator or function: {name}"
                ),
            )),
        }
    }

    /// Refuses a function that is not a condition where a condition or operand is expected.
    fn misplaced_function(&self, name: &str, offset: usize) -> crate::error::Error {
        let known = CONDITION_FUNCTIONS.contains(&name) || UPDATE_FUNCTIONS.contains(&name);
        let reason = if !known {
            format!("Invalid function name; function: {name}")
        } else if UPDATE_FUNCTIONS.contains(&name) {
            format!("The function is not allowed in a condition expression; function: {name}")
        } else {
            format!(
                "The function is not allowed to be used this way in an expression; \
                 function: {name}"
            )
        };
        self.invalid(offset, reason)
    }

    /// Ordering operators compare only strings, numbers and binaries.
    fn check_scalar(&self, operand: &Operand, op: &str, offset: usize) -> Result<()> {
        self.check_type(operand, op, offset, |v| {
            matches!(v, Value::S(_) | Value::N(_) | Value::B(_))
        })
    }

    fn check_type(
        &self,
        operand: &Operand,
        op: &str,
        offset: usize,
        allowed: impl Fn(&Value) -> bool,
    ) -> Result<()> {
        match operand {
            Operand::Value(value) if !allowed(value) => Err(self.invalid(
                offset,
                format!(
                    "Incorrect operand type for operator or function; operator or function: \
                     {op}, operand type: {}",
                    value.type_name()
                ),
            )),
            _ => Ok(()),
        }
    }

    fn check_type_name(&self, operand: &Operand, offset: usize) -> Result<()> {
        self.check_type(operand, "attribute_type", offset, |v| matches!(v, Value::S(_)))?;
        match operand {
            Operand::Value(Value::S(name)) if !TYPE_NAMES.contains(&name.as_str()) => Err(self
                .invalid(
                    offset,
                    format!(
                        "Invalid attribute type name found; type: {name}, valid types: {{ {} }}",
                        TYPE_NAMES.join(",")
                    ),
                )),
            _ => Ok(()),
        }
    }
}

fn comparator(kind: TokenKind) -> Option<Comparator> {
    Some(match kind {
        TokenKind::Eq => Comparator::Eq,
        TokenKind::Ne => Comparator::Ne,
        TokenKind::Lt => Comparator::Lt,
        TokenKind::Le => Comparator::Le,
        TokenKind::Gt => Comparator::Gt,
        TokenKind::Ge => Comparator::Ge,
        _ => return None,
    })
}

/// One term stays itself; several become an n-ary `AND` or `OR`.
fn flatten(mut terms: Vec<Condition>, join: fn(Vec<Condition>) -> Condition) -> Condition {
    match terms.pop() {
        Some(only) if terms.is_empty() => only,
        Some(last) => {
            terms.push(last);
            join(terms)
        }
        None => join(terms),
    }
}

/// DynamoDB's rendering of a scalar in error messages: `N:5`, `S:abc`.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::S(text) => format!("S:{text}"),
        Value::N(number) => format!("N:{number}"),
        other => format!("{}:{other:?}", other.type_name()),
    }
}
