//! The projection grammar: `path ( ',' path )*`, no two paths overlapping.

use super::Parser;
use crate::ast::Path;
use crate::error::Result;
use crate::lexer::TokenKind;

impl Parser<'_> {
    /// The paths of a projection expression.
    pub(super) fn projection(&mut self) -> Result<Vec<Path>> {
        let mut paths = vec![self.path()?];
        while self.peek().kind == TokenKind::Comma {
            self.advance();
            paths.push(self.path()?);
        }
        let refs: Vec<&Path> = paths.iter().collect();
        self.check_overlaps(&refs, 0)?;
        Ok(paths)
    }
}
