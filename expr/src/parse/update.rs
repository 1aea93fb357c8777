//! The update grammar.
//!
//! ```text
//! update    ::= clause+                       (each of the four at most once)
//! clause    ::= SET set ( ',' set )* | REMOVE path ( ',' path )*
//!             | ADD path :value ( ',' path :value )* | DELETE path :value ( ',' ... )*
//! set       ::= path '=' operand ( ( '+' | '-' ) operand )?
//! operand   ::= path | :value | if_not_exists '(' path ',' operand ')'
//!             | list_append '(' operand ',' operand ')'
//! ```
//!
//! Constant operands are type-checked here (`+` needs numbers, `ADD` a number or set,
//! `DELETE` a set), and the paths of all actions must not overlap.

use shoal_types::Value;

use super::Parser;
use crate::ast::{Path, SetValue, Update, UpdateAction, UpdateOperand};
use crate::error::Result;
use crate::lexer::TokenKind;

/// The four clauses, in the order DynamoDB lists them.
const CLAUSES: [&str; 4] = ["SET", "REMOVE", "ADD", "DELETE"];

impl Parser<'_> {
    /// A whole update expression.
    pub(super) fn update(&mut self) -> Result<Update> {
        let mut seen = [false; CLAUSES.len()];
        let mut actions = Vec::new();
        while let Some(clause) = CLAUSES.iter().position(|word| self.at_keyword(word)) {
            let offset = self.peek().start;
            let already = seen.get_mut(clause).is_some_and(|seen| std::mem::replace(seen, true));
            if already {
                let name = CLAUSES.get(clause).copied().unwrap_or_default();
                return Err(self.invalid(
                    offset,
                    format!(
                        "The \"{name}\" section can only be used once in an update expression;"
                    ),
                ));
            }
            self.advance();
            loop {
                actions.push(self.action(clause)?);
                if self.peek().kind != TokenKind::Comma {
                    break;
                }
                self.advance();
            }
        }
        if actions.is_empty() {
            return Err(self.syntax_error());
        }
        let paths: Vec<&Path> = actions.iter().map(UpdateAction::path).collect();
        self.check_overlaps(&paths, 0)?;
        Ok(Update { actions })
    }

    /// One action of the clause at `CLAUSES[clause]`.
    fn action(&mut self, clause: usize) -> Result<UpdateAction> {
        let path = self.path()?;
        match clause {
            0 => {
                self.expect(TokenKind::Eq)?;
                Ok(UpdateAction::Set(path, self.set_value()?))
            }
            1 => Ok(UpdateAction::Remove(path)),
            2 => {
                let offset = self.peek().start;
                let value = self.value()?;
                let ok = matches!(value, Value::N(_) | Value::Ss(_) | Value::Ns(_) | Value::Bs(_));
                self.check_update_type(ok, "ADD", &value, offset)?;
                Ok(UpdateAction::Add(path, value))
            }
            _ => {
                let offset = self.peek().start;
                let value = self.value()?;
                let ok = matches!(value, Value::Ss(_) | Value::Ns(_) | Value::Bs(_));
                self.check_update_type(ok, "DELETE", &value, offset)?;
                Ok(UpdateAction::Delete(path, value))
            }
        }
    }

    fn set_value(&mut self) -> Result<SetValue> {
        let first = self.update_operand()?;
        let token = self.peek();
        let (symbol, join): (&str, fn(_, _) -> SetValue) = match token.kind {
            TokenKind::Plus => ("+", SetValue::Plus),
            TokenKind::Minus => ("-", SetValue::Minus),
            _ => return Ok(SetValue::Operand(first)),
        };
        self.advance();
        let second = self.update_operand()?;
        for operand in [&first, &second] {
            if let UpdateOperand::Value(value) = operand {
                self.check_update_type(matches!(value, Value::N(_)), symbol, value, token.start)?;
            }
        }
        Ok(join(first, second))
    }

    fn update_operand(&mut self) -> Result<UpdateOperand> {
        let token = self.peek();
        match token.kind {
            TokenKind::ValuePlaceholder => Ok(UpdateOperand::Value(self.value()?)),
            TokenKind::Ident if self.at_call() => {
                let name = self.text_of(token).to_ascii_lowercase();
                self.advance();
                self.expect(TokenKind::LParen)?;
                self.enter()?;
                let operand = self.update_function(&name, token.start)?;
                self.expect(TokenKind::RParen)?;
                self.leave();
                Ok(operand)
            }
            _ => Ok(UpdateOperand::Path(self.path()?)),
        }
    }

    /// The arguments of `name(`, up to but excluding the closing parenthesis.
    fn update_function(&mut self, name: &str, offset: usize) -> Result<UpdateOperand> {
        match name {
            "if_not_exists" => {
                let path = self.path()?;
                self.expect(TokenKind::Comma)?;
                let fallback = self.update_operand()?;
                Ok(UpdateOperand::IfNotExists(path, Box::new(fallback)))
            }
            "list_append" => {
                let first = self.update_operand()?;
                self.expect(TokenKind::Comma)?;
                let second = self.update_operand()?;
                for operand in [&first, &second] {
                    if let UpdateOperand::Value(value) = operand {
                        let ok = matches!(value, Value::L(_));
                        self.check_update_type(ok, "list_append", value, offset)?;
                    }
                }
                Ok(UpdateOperand::ListAppend(Box::new(first), Box::new(second)))
            }
            "size"
            | "attribute_exists"
            | "attribute_not_exists"
            | "attribute_type"
            | "begins_with"
            | "contains" => Err(self.invalid(
                offset,
                format!("The function is not allowed in an update expression; function: {name}"),
            )),
            _ => Err(self.invalid(offset, format!("Invalid function name; function: {name}"))),
        }
    }

    fn check_update_type(&self, ok: bool, op: &str, value: &Value, offset: usize) -> Result<()> {
        if ok {
            return Ok(());
        }
        Err(self.invalid(
            offset,
            format!(
                "Incorrect operand type for operator or function; operator: {op}, operand type: \
                 {}",
                value.type_name()
            ),
        ))
    }
}
