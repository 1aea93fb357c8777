//! The recursive-descent parser shared by every kind of expression.
//!
//! [`Parser`] holds the token list, the cursor and the request's [`Placeholders`], and knows
//! the pieces every grammar shares: document paths, value placeholders, limits and error
//! reporting. The grammars live beside it: [`condition`] (conditions, filters and the key
//! conditions built on them), [`update`] and [`projection`].
//!
//! The entry points check the whole text first (empty, over [`EXPRESSION_BYTES_MAX`]), then
//! parse, then insist that every token was consumed.

mod condition;
mod projection;
mod update;

use shoal_types::Value;

use crate::ast::{Condition, Path, Update};
use crate::error::{Error, ExpressionKind, Result};
use crate::lexer::{tokenize, Token, TokenKind};
use crate::placeholders::Placeholders;
use crate::{EXPRESSION_BYTES_MAX, NESTING_DEPTH_MAX, PATH_ELEMENTS_MAX};

/// Parses a `ConditionExpression`.
///
/// # Errors
///
/// [`Error::Syntax`] or [`Error::Invalid`] naming `ConditionExpression`.
pub fn parse_condition(text: &str, placeholders: &mut Placeholders) -> Result<Condition> {
    parse_condition_as(ExpressionKind::Condition, text, placeholders)
}

/// Parses a `FilterExpression` (the same grammar as a condition).
///
/// # Errors
///
/// [`Error::Syntax`] or [`Error::Invalid`] naming `FilterExpression`.
pub fn parse_filter(text: &str, placeholders: &mut Placeholders) -> Result<Condition> {
    parse_condition_as(ExpressionKind::Filter, text, placeholders)
}

/// Parses the condition grammar, naming `kind` in errors.
pub(crate) fn parse_condition_as(
    kind: ExpressionKind,
    text: &str,
    placeholders: &mut Placeholders,
) -> Result<Condition> {
    let mut parser = Parser::new(kind, text, placeholders)?;
    let condition = parser.condition()?;
    parser.expect_end()?;
    Ok(condition)
}

/// Parses a `ProjectionExpression`: comma-separated document paths, none overlapping.
///
/// # Errors
///
/// [`Error::Syntax`] or [`Error::Invalid`] naming `ProjectionExpression`.
pub fn parse_projection(text: &str, placeholders: &mut Placeholders) -> Result<Vec<Path>> {
    let mut parser = Parser::new(ExpressionKind::Projection, text, placeholders)?;
    let paths = parser.projection()?;
    parser.expect_end()?;
    Ok(paths)
}

/// Parses an `UpdateExpression`.
///
/// # Errors
///
/// [`Error::Syntax`] or [`Error::Invalid`] naming `UpdateExpression`, including a clause
/// used twice and two actions on overlapping paths.
pub fn parse_update(text: &str, placeholders: &mut Placeholders) -> Result<Update> {
    let mut parser = Parser::new(ExpressionKind::Update, text, placeholders)?;
    let update = parser.update()?;
    parser.expect_end()?;
    Ok(update)
}

/// A cursor over the tokens of one expression.
pub(crate) struct Parser<'a> {
    kind: ExpressionKind,
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    placeholders: &'a mut Placeholders,
    /// Parentheses, `NOT`s and function calls currently open around the cursor.
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(
        kind: ExpressionKind,
        text: &'a str,
        placeholders: &'a mut Placeholders,
    ) -> Result<Self> {
        let invalid = |reason: String| Error::Invalid { kind, offset: 0, reason };
        if text.len() > EXPRESSION_BYTES_MAX {
            return Err(invalid(format!(
                "Expression size has exceeded the maximum allowed size; expression size: {}",
                text.len()
            )));
        }
        if text.trim().is_empty() {
            return Err(invalid("The expression can not be empty;".to_owned()));
        }
        Ok(Parser { kind, text, tokens: tokenize(text), pos: 0, placeholders, depth: 0 })
    }

    /// The token at the cursor (the end token once past the end).
    fn peek(&self) -> Token {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> Token {
        let end = Token { kind: TokenKind::End, start: self.text.len(), end: self.text.len() };
        self.tokens.get(self.pos + ahead).copied().unwrap_or(end)
    }

    fn advance(&mut self) -> Token {
        let token = self.peek();
        if token.kind != TokenKind::End {
            self.pos += 1;
        }
        token
    }

    fn text_of(&self, token: Token) -> &'a str {
        self.text.get(token.start..token.end).unwrap_or_default()
    }

    /// Whether the cursor is at the keyword `word`, in any case.
    fn at_keyword(&self, word: &str) -> bool {
        let token = self.peek();
        token.kind == TokenKind::Ident && self.text_of(token).eq_ignore_ascii_case(word)
    }

    /// Whether the cursor is at `name(`: a function call.
    fn at_call(&self) -> bool {
        self.peek().kind == TokenKind::Ident && self.peek_at(1).kind == TokenKind::LParen
    }

    fn expect(&mut self, kind: TokenKind) -> Result<Token> {
        if self.peek().kind == kind {
            Ok(self.advance())
        } else {
            Err(self.syntax_error())
        }
    }

    fn expect_keyword(&mut self, word: &str) -> Result<()> {
        if !self.at_keyword(word) {
            return Err(self.syntax_error());
        }
        self.advance();
        Ok(())
    }

    fn expect_end(&self) -> Result<()> {
        match self.peek().kind {
            TokenKind::End => Ok(()),
            _ => Err(self.syntax_error()),
        }
    }

    /// DynamoDB's syntax error at the cursor: the token, and the text from the token before it
    /// to the token after it.
    fn syntax_error(&self) -> Error {
        let token = self.peek();
        let first = if self.pos > 0 { self.peek_at_index(self.pos - 1) } else { token };
        let last = match self.peek_at(1) {
            next if next.kind != TokenKind::End && token.kind != TokenKind::End => next,
            _ => token,
        };
        let near = self.text.get(first.start..last.end.max(first.start)).unwrap_or_default();
        let text = if token.kind == TokenKind::End { "<EOF>" } else { self.text_of(token) };
        Error::Syntax {
            kind: self.kind,
            offset: token.start,
            token: text.to_owned(),
            near: near.to_owned(),
        }
    }

    fn peek_at_index(&self, index: usize) -> Token {
        self.tokens.get(index).copied().unwrap_or_else(|| self.peek())
    }

    /// A rule broken at `offset`.
    fn invalid(&self, offset: usize, reason: impl Into<String>) -> Error {
        Error::Invalid { kind: self.kind, offset, reason: reason.into() }
    }

    /// Opens one nesting level (a parenthesis, `NOT` or call), refusing past the limit so that
    /// hostile input cannot exhaust the stack.
    fn enter(&mut self) -> Result<()> {
        if self.depth >= NESTING_DEPTH_MAX {
            let offset = self.peek().start;
            return Err(self.invalid(
                offset,
                format!("The expression nests deeper than {NESTING_DEPTH_MAX} levels"),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// A document path: `name` or `#name`, then `.name`, `.#name` and `[n]` steps.
    fn path(&mut self) -> Result<Path> {
        let start = self.peek().start;
        let mut path = Path::attribute(self.path_name()?);
        loop {
            match self.peek().kind {
                TokenKind::Dot => {
                    self.advance();
                    path = path.field(self.path_name()?);
                }
                TokenKind::LBracket => {
                    self.advance();
                    path = path.index(self.list_index()?);
                    self.expect(TokenKind::RBracket)?;
                }
                _ => break,
            }
            if path.len() > PATH_ELEMENTS_MAX {
                return Err(self.invalid(
                    start,
                    format!(
                        "The document path has too many nesting levels; nesting levels: {}",
                        path.len()
                    ),
                ));
            }
        }
        Ok(path)
    }

    fn path_name(&mut self) -> Result<String> {
        let token = self.peek();
        match token.kind {
            TokenKind::Ident => {
                self.advance();
                Ok(self.text_of(token).to_owned())
            }
            TokenKind::NamePlaceholder => {
                self.advance();
                let key = self.text_of(token);
                self.placeholders.name(key, self.kind, token.start)
            }
            _ => Err(self.syntax_error()),
        }
    }

    fn list_index(&mut self) -> Result<usize> {
        let token = self.expect(TokenKind::Integer)?;
        let digits = self.text_of(token);
        digits.parse().map_err(|_| {
            self.invalid(
                token.start,
                format!("List index is not within the allowable range; index: [{digits}]"),
            )
        })
    }

    /// A `:value` placeholder, resolved.
    fn value(&mut self) -> Result<Value> {
        let token = self.expect(TokenKind::ValuePlaceholder)?;
        let key = self.text_of(token);
        self.placeholders.value(key, self.kind, token.start)
    }

    /// Refuses two paths that overlap or conflict, as DynamoDB does for projections and for
    /// the actions of one update.
    fn check_overlaps(&self, paths: &[&Path], offset: usize) -> Result<()> {
        for (i, first) in paths.iter().enumerate() {
            for second in paths.iter().skip(i + 1) {
                let problem = if first.overlaps(second) {
                    "overlap"
                } else if first.conflicts(second) {
                    "conflict"
                } else {
                    continue;
                };
                return Err(self.invalid(
                    offset,
                    format!(
                        "Two document paths {problem} with each other; must remove or rewrite \
                         one of these paths; path one: {}, path two: {}",
                        first.to_bracketed(),
                        second.to_bracketed()
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ast::{Comparator, Function, Operand, SetValue, UpdateAction, UpdateOperand};
    use crate::testing::{list, n, placeholders, plenty, proptest_config, s, ss};
    use crate::IN_OPERANDS_MAX;

    fn condition(text: &str) -> Condition {
        parse_condition(text, &mut plenty()).unwrap()
    }

    fn condition_error(text: &str) -> Error {
        parse_condition(text, &mut plenty()).unwrap_err()
    }

    fn update_error(text: &str) -> String {
        parse_update(text, &mut plenty()).unwrap_err().to_string()
    }

    fn path(name: &str) -> Operand {
        Operand::Path(Path::attribute(name))
    }

    fn cmp(left: &str, op: Comparator, value: i64) -> Condition {
        Condition::Compare { left: path(left), op, right: Operand::Value(n(value)) }
    }

    #[test]
    fn every_comparator() {
        for (text, op) in [
            ("=", Comparator::Eq),
            ("<>", Comparator::Ne),
            ("<", Comparator::Lt),
            ("<=", Comparator::Le),
            (">", Comparator::Gt),
            (">=", Comparator::Ge),
        ] {
            assert_eq!(condition(&format!("a {text} :b")), cmp("a", op, 1));
        }
    }

    #[test]
    fn precedence_or_and_not() {
        // OR binds loosest, then AND, then NOT.
        let parsed = condition("a = :a OR b = :b AND NOT c = :c");
        let expected = Condition::Or(vec![
            cmp("a", Comparator::Eq, 0),
            Condition::And(vec![
                cmp("b", Comparator::Eq, 1),
                Condition::Not(Box::new(cmp("c", Comparator::Eq, 2))),
            ]),
        ]);
        assert_eq!(parsed, expected);
        let grouped = condition("(a = :a OR b = :b) AND c = :c");
        assert!(matches!(&grouped, Condition::And(terms) if matches!(terms[0], Condition::Or(_))));
        let chain = condition("a = :a AND b = :b AND c = :c");
        assert!(matches!(chain, Condition::And(terms) if terms.len() == 3));
    }

    #[test]
    fn keywords_any_case() {
        let lower = condition("not a between :a and :b or b in (:c, :d)");
        let upper = condition("NOT a BETWEEN :a AND :b OR b IN (:c, :d)");
        assert_eq!(lower, upper);
        assert_eq!(condition("ATTRIBUTE_EXISTS(a)"), condition("attribute_exists(a)"));
    }

    #[test]
    fn between_and_in() {
        assert_eq!(
            condition("a BETWEEN :a AND :b"),
            Condition::Between {
                operand: path("a"),
                low: Operand::Value(n(0)),
                high: Operand::Value(n(1))
            }
        );
        let parsed = condition("a IN (:a, b, :c)");
        let Condition::In { candidates, .. } = parsed else { panic!("not IN: {parsed:?}") };
        assert_eq!(candidates, [Operand::Value(n(0)), path("b"), Operand::Value(n(2))]);
    }

    #[test]
    fn functions_and_size() {
        let p = Path::attribute("a");
        assert_eq!(
            condition("attribute_exists(a)"),
            Condition::Function(Function::AttributeExists(p.clone()))
        );
        assert_eq!(
            condition("attribute_not_exists(a)"),
            Condition::Function(Function::AttributeNotExists(p.clone()))
        );
        let mut ph = placeholders(&[], &[(":t", s("S")), (":p", s("x"))]);
        assert_eq!(
            parse_condition("attribute_type(a, :t) AND begins_with(a, :p)", &mut ph).unwrap(),
            Condition::And(vec![
                Condition::Function(Function::AttributeType(p.clone(), Operand::Value(s("S")))),
                Condition::Function(Function::BeginsWith(p.clone(), Operand::Value(s("x")))),
            ])
        );
        assert_eq!(
            condition("contains(a, :b)"),
            Condition::Function(Function::Contains(p.clone(), Operand::Value(n(1))))
        );
        assert_eq!(
            condition("size(a) > :b"),
            Condition::Compare {
                left: Operand::Size(p),
                op: Comparator::Gt,
                right: Operand::Value(n(1))
            }
        );
    }

    #[test]
    fn paths_and_name_placeholders() {
        let mut ph = placeholders(&[("#x", "x.y"), ("#i", "i")], &[(":v", n(1))]);
        let parsed = parse_condition("#x.b[3].#i[0] = :v", &mut ph).unwrap();
        let expected = Path::attribute("x.y").field("b").index(3).field("i").index(0);
        assert_eq!(
            parsed,
            Condition::Compare {
                left: Operand::Path(expected),
                op: Comparator::Eq,
                right: Operand::Value(n(1))
            }
        );
        ph.check_all_used().unwrap();
    }

    #[test]
    fn syntax_errors_name_token_and_context() {
        let error = condition_error("a AND AND b");
        assert_eq!(
            error.to_string(),
            "Invalid ConditionExpression: Syntax error; token: \"AND\", near: \"a AND AND\""
        );
        assert_eq!(error.offset(), Some(2));
        let error = parse_filter("a-b", &mut plenty()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Invalid FilterExpression: Syntax error; token: \"-\", near: \"a-b\""
        );
        let error = condition_error("attribute_exists(a) AND NOT #b");
        assert_eq!(
            error.to_string(),
            "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"#b\""
        );
        assert_eq!(error.offset(), Some(30));
        assert_eq!(
            update_error("INVALID SYNTAX HERE"),
            "Invalid UpdateExpression: Syntax error; token: \"INVALID\", near: \"INVALID SYNTAX\""
        );
        let error = condition_error("a = :a @ b");
        assert!(matches!(error, Error::Syntax { offset: 7, ref token, .. } if token == "@"));
        assert_eq!(condition_error("(a = :a").offset(), Some(7));
        assert_eq!(condition_error("a[x] = :a").offset(), Some(2));
        assert_eq!(condition_error("a = :a)").offset(), Some(6));
    }

    #[test]
    fn rule_errors() {
        assert_eq!(
            condition_error("").to_string(),
            "Invalid ConditionExpression: The expression can not be empty;"
        );
        let long = "a = :a OR ".repeat(500) + "a = :a";
        assert!(condition_error(&long).to_string().contains("Expression size has exceeded"));
        assert_eq!(
            condition_error("a = :nope").to_string(),
            "Invalid ConditionExpression: An expression attribute value used in expression is \
             not defined; attribute value: :nope"
        );
        assert_eq!(condition_error("a = :nope").offset(), Some(4));
        assert!(condition_error("#nope = :a").to_string().ends_with("attribute name: #nope"));
        assert_eq!(
            condition_error("foo(a)").to_string(),
            "Invalid ConditionExpression: Invalid function name; function: foo"
        );
        assert!(condition_error("size(a)").to_string().contains("Syntax error"));
        assert!(condition_error("a = attribute_exists(b)").to_string().contains("this way"));
        assert!(condition_error("attribute_exists(:a)")
            .to_string()
            .contains("requires a document path"));
        assert!(condition_error("attribute_exists(a, b)")
            .to_string()
            .contains("number of operands: 2"));
        assert_eq!(
            condition_error("a BETWEEN :c AND :b").to_string(),
            "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be \
             greater than or equal to lower bound; lower bound operand: AttributeValue: {N:2}, \
             upper bound operand: AttributeValue: {N:1}"
        );
        let mut ph = placeholders(&[], &[(":l", list(&[])), (":t", s("X"))]);
        assert_eq!(
            parse_condition("a < :l", &mut ph).unwrap_err().to_string(),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; \
             operator or function: <, operand type: L"
        );
        assert!(parse_condition("attribute_type(a, :t)", &mut ph)
            .unwrap_err()
            .to_string()
            .contains("Invalid attribute type name found; type: X"));
        assert!(condition_error(
            "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g = :a"
        )
        .to_string()
        .contains("nesting levels: 33"));
        assert!(condition_error("a[99999999999999999999999] = :a")
            .to_string()
            .contains("List index"));
    }

    #[test]
    fn in_operand_limit() {
        let operands = |count: usize| vec![":a"; count].join(", ");
        parse_condition(&format!("a IN ({})", operands(IN_OPERANDS_MAX)), &mut plenty()).unwrap();
        let error = condition_error(&format!("a IN ({})", operands(IN_OPERANDS_MAX + 1)));
        assert_eq!(
            error.to_string(),
            "Invalid ConditionExpression: The IN operator is provided with too many operands; \
             number of operands: 101"
        );
    }

    #[test]
    fn nesting_limit() {
        let nested = |depth: usize| format!("{}a = :a{}", "(".repeat(depth), ")".repeat(depth));
        condition(&nested(NESTING_DEPTH_MAX));
        assert!(condition_error(&nested(NESTING_DEPTH_MAX + 1))
            .to_string()
            .contains("nests deeper"));
        let nots = "NOT ".repeat(NESTING_DEPTH_MAX + 1) + "a = :a";
        assert!(condition_error(&nots).to_string().contains("nests deeper"));
    }

    #[test]
    fn projection() {
        let mut ph = placeholders(&[("#n", "name")], &[]);
        let paths = parse_projection("a, #n.b[2], c.d", &mut ph).unwrap();
        assert_eq!(
            paths,
            [
                Path::attribute("a"),
                Path::attribute("name").field("b").index(2),
                Path::attribute("c").field("d")
            ]
        );
        let error = parse_projection("a.b, c, a", &mut plenty()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Invalid ProjectionExpression: Two document paths overlap with each other; must \
             remove or rewrite one of these paths; path one: [a, b], path two: [a]"
        );
        let error = parse_projection("a.b, a[0]", &mut plenty()).unwrap_err();
        assert!(error.to_string().contains("Two document paths conflict"));
        assert!(parse_projection("a,", &mut plenty()).is_err());
    }

    #[test]
    fn update_clauses() {
        let mut ph = placeholders(
            &[("#c", "count")],
            &[(":one", n(1)), (":l", list(&[])), (":s", ss(&["x"]))],
        );
        let text = "set #c = #c + :one, l = list_append(if_not_exists(l, :l), :l), m = m - :one \
                    remove a.b[1], c add n :one, s :s delete t :s";
        let update = parse_update(text, &mut ph).unwrap();
        ph.check_all_used().unwrap();
        let count = Path::attribute("count");
        let l = Path::attribute("l");
        let value = |v| UpdateOperand::Value(v);
        assert_eq!(
            update.actions,
            [
                UpdateAction::Set(
                    count.clone(),
                    SetValue::Plus(UpdateOperand::Path(count), value(n(1)))
                ),
                UpdateAction::Set(
                    l.clone(),
                    SetValue::Operand(UpdateOperand::ListAppend(
                        Box::new(UpdateOperand::IfNotExists(l, Box::new(value(list(&[]))))),
                        Box::new(value(list(&[]))),
                    )),
                ),
                UpdateAction::Set(
                    Path::attribute("m"),
                    SetValue::Minus(UpdateOperand::Path(Path::attribute("m")), value(n(1)))
                ),
                UpdateAction::Remove(Path::attribute("a").field("b").index(1)),
                UpdateAction::Remove(Path::attribute("c")),
                UpdateAction::Add(Path::attribute("n"), n(1)),
                UpdateAction::Add(Path::attribute("s"), ss(&["x"])),
                UpdateAction::Delete(Path::attribute("t"), ss(&["x"])),
            ]
        );
    }

    #[test]
    fn update_errors() {
        assert_eq!(
            update_error("SET a = :a SET b = :b"),
            "Invalid UpdateExpression: The \"SET\" section can only be used once in an update \
             expression;"
        );
        assert_eq!(
            update_error("SET a.b = :a REMOVE a"),
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove \
             or rewrite one of these paths; path one: [a, b], path two: [a]"
        );
        assert!(update_error("SET a = :a, a = :b").contains("overlap"));
        assert!(update_error("ADD a :a, a.b :b").contains("overlap"));
        assert!(update_error("REMOVE a[1], a.b").contains("conflict"));
        assert!(update_error("SET a = size(b)").contains("not allowed in an update expression"));
        assert!(update_error("SET a = nope(b)").contains("Invalid function name; function: nope"));
        assert!(update_error("SET a :a").contains("Syntax error; token: \":a\""));
        assert!(update_error("SET a = :a,").contains("<EOF>"));
        assert!(update_error("REMOVE").contains("<EOF>"));
        let mut ph = placeholders(&[], &[(":s", s("x")), (":n", n(1))]);
        let err = parse_update("ADD a :s", &mut ph).unwrap_err().to_string();
        assert!(err.ends_with("operator: ADD, operand type: S"), "{err}");
        let err = parse_update("DELETE a :n", &mut ph).unwrap_err().to_string();
        assert!(err.ends_with("operator: DELETE, operand type: N"), "{err}");
        let err = parse_update("SET a = b + :s", &mut ph).unwrap_err().to_string();
        assert!(err.ends_with("operator: +, operand type: S"), "{err}");
        let err = parse_update("SET a = list_append(:n, b)", &mut ph).unwrap_err().to_string();
        assert!(err.ends_with("operator: list_append, operand type: N"), "{err}");
    }

    proptest! {
        #![proptest_config(proptest_config())]

        #[test]
        fn random_text_never_panics(text in "[a-c#:() ,.=<>\\[\\]0-9+\\-éANDORNOTSETIN_]{0,40}") {
            let _ = parse_condition(&text, &mut plenty());
            let _ = parse_update(&text, &mut plenty());
            let _ = parse_projection(&text, &mut plenty());
        }

        #[test]
        fn random_unicode_never_panics(text in "\\PC{0,60}") {
            let _ = parse_condition(&text, &mut plenty());
            let _ = parse_update(&text, &mut plenty());
        }
    }
}
