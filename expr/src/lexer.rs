//! Splits expression text into tokens, each with its byte span.
//!
//! The lexer never fails: a character outside the grammar becomes an [`TokenKind::Unknown`]
//! token, so that the parser reports it like any other unexpected token, with DynamoDB's
//! `token: ..., near: ...` context. The token list always ends with one [`TokenKind::End`].

/// What a token is; its text is the span of the source it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A name or keyword: a letter or `_`, then letters, digits and `_`.
    Ident,
    /// `#name`: an expression attribute name.
    NamePlaceholder,
    /// `:name`: an expression attribute value.
    ValuePlaceholder,
    /// Decimal digits (list indexes only).
    Integer,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    /// One character the grammar does not know.
    Unknown,
    /// The end of the text.
    End,
}

/// One token: its kind and the byte range `start..end` of the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// The tokens of `text`, ending with [`TokenKind::End`].
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    while let Some(&byte) = bytes.get(pos) {
        if byte.is_ascii_whitespace() {
            pos += 1;
            continue;
        }
        let (kind, len) = next_token(text, pos, byte);
        tokens.push(Token { kind, start: pos, end: pos + len });
        pos += len;
    }
    tokens.push(Token { kind: TokenKind::End, start: text.len(), end: text.len() });
    tokens
}

/// The kind and byte length of the token starting at `pos`, whose first byte is `byte`.
fn next_token(text: &str, pos: usize, byte: u8) -> (TokenKind, usize) {
    let rest = text.get(pos..).unwrap_or_default().as_bytes();
    let word_len = |skip: usize| {
        skip + rest
            .iter()
            .skip(skip)
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count()
    };
    let next = rest.get(1).copied();
    match byte {
        b'a'..=b'z' | b'A'..=b'Z' | b'_' => (TokenKind::Ident, word_len(0)),
        b'0'..=b'9' => (TokenKind::Integer, rest.iter().take_while(|b| b.is_ascii_digit()).count()),
        b'#' | b':' if word_len(1) > 1 => {
            let kind =
                if byte == b'#' { TokenKind::NamePlaceholder } else { TokenKind::ValuePlaceholder };
            (kind, word_len(1))
        }
        b'(' => (TokenKind::LParen, 1),
        b')' => (TokenKind::RParen, 1),
        b'[' => (TokenKind::LBracket, 1),
        b']' => (TokenKind::RBracket, 1),
        b',' => (TokenKind::Comma, 1),
        b'.' => (TokenKind::Dot, 1),
        b'=' => (TokenKind::Eq, 1),
        b'+' => (TokenKind::Plus, 1),
        b'-' => (TokenKind::Minus, 1),
        b'<' if next == Some(b'>') => (TokenKind::Ne, 2),
        b'<' if next == Some(b'=') => (TokenKind::Le, 2),
        b'<' => (TokenKind::Lt, 1),
        b'>' if next == Some(b'=') => (TokenKind::Ge, 2),
        b'>' => (TokenKind::Gt, 1),
        _ => (TokenKind::Unknown, char_len(text, pos)),
    }
}

/// The UTF-8 length of the character at `pos`, so an unknown token never splits one.
fn char_len(text: &str, pos: usize) -> usize {
    text.get(pos..).and_then(|rest| rest.chars().next()).map_or(1, char::len_utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        tokenize(text).iter().map(|t| t.kind).collect()
    }

    #[test]
    fn tokens_and_spans() {
        use TokenKind::*;
        assert_eq!(
            kinds("a.#b[12] <> :v_1,<=>=<>+-()"),
            [
                Ident,
                Dot,
                NamePlaceholder,
                LBracket,
                Integer,
                RBracket,
                Ne,
                ValuePlaceholder,
                Comma,
                Le,
                Ge,
                Ne,
                Plus,
                Minus,
                LParen,
                RParen,
                End
            ]
        );
        let tokens = tokenize("  ab  :x");
        assert_eq!((tokens[0].start, tokens[0].end), (2, 4));
        assert_eq!((tokens[1].start, tokens[1].end), (6, 8));
        assert_eq!((tokens[2].start, tokens[2].end), (8, 8));
    }

    #[test]
    fn unknown_characters_are_tokens() {
        use TokenKind::*;
        assert_eq!(kinds("a @ é # :"), [Ident, Unknown, Unknown, Unknown, Unknown, End]);
        let tokens = tokenize("é");
        assert_eq!((tokens[0].start, tokens[0].end), (0, 2));
    }
}
