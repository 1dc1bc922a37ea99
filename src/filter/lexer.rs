//! CQL2-text tokens.
//!
//! The whole input is tokenised before parsing: the input is capped at
//! [`super::MAX_FILTER_BYTES`], so the token vector is small, and the parser gets one-token
//! lookahead (and a look at the previous token for "after `=`" messages) for free.

use super::{FilterError, Value};

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// A bare word: a keyword, a function name or a property name (the parser decides).
    Word(String),
    /// A double-quoted property name, quotes removed and `""` unescaped.
    QuotedName(String),
    /// A single-quoted character literal, quotes removed and `''` unescaped.
    Text(String),
    /// A numeric literal, sign included: [`Value::Int`] when it fits, else [`Value::Float`].
    Number(Value),
    LeftParen,
    RightParen,
    Comma,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    /// The end of the input; always the last token.
    End,
}

/// One token with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Token<'a> {
    pub kind: TokenKind,
    /// 0-based char offset of the first character.
    pub position: usize,
    /// The source text of the token (empty for [`TokenKind::End`]).
    pub text: &'a str,
}

impl Token<'_> {
    /// Whether this is the bare word `keyword` (ASCII case-insensitive).
    pub fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.kind, TokenKind::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    /// How the token is named in error messages: "`households`", "end of input".
    pub fn describe(&self) -> String {
        if self.kind == TokenKind::End {
            return "end of input".to_owned();
        }
        quote_source(self.text)
    }
}

/// Wraps source text in backticks for a message, shortening it past 24 characters.
pub(crate) fn quote_source(text: &str) -> String {
    const SHOWN: usize = 24;
    if text.chars().count() > SHOWN {
        let head: String = text.chars().take(SHOWN).collect();
        format!("`{head}…`")
    } else {
        format!("`{text}`")
    }
}

/// Whether `c` may start a bare identifier (CQL2 `identifierStart`, less the whitespace in
/// those ranges such as U+1680, which would otherwise split or vanish).
pub(crate) fn is_identifier_start(c: char) -> bool {
    !c.is_whitespace()
        && matches!(c,
        ':' | '_' | 'A'..='Z' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFE}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

/// Whether `c` may continue a bare identifier (CQL2 `identifierPart`).
pub(crate) fn is_identifier_part(c: char) -> bool {
    is_identifier_start(c)
        || c == '.'
        || c.is_ascii_digit()
        || matches!(c, '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Length in chars of the numeric literal starting at `chars[0]`, sign included; `None` when no
/// number starts there. `Err` carries (offset from start, message) for a malformed exponent.
fn scan_number(chars: &[char]) -> Result<Option<usize>, (usize, &'static str)> {
    let digits_from = |i: usize| chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = usize::from(matches!(chars.first(), Some('+' | '-')));
    let integer = digits_from(i);
    i += integer;
    let mut fraction = 0;
    if chars.get(i) == Some(&'.') {
        fraction = digits_from(i + 1);
        if integer == 0 && fraction == 0 {
            return Ok(None);
        }
        i += 1 + fraction;
    }
    if integer == 0 && fraction == 0 {
        return Ok(None);
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        let mut j = i + 1;
        if matches!(chars.get(j), Some('+' | '-')) {
            j += 1;
        }
        let exponent = digits_from(j);
        if exponent == 0 {
            return Err((j, "expected digits in the exponent"));
        }
        i = j + exponent;
    }
    Ok(Some(i))
}

/// Parses the text of a scanned numeric literal. `None` when it is out of range.
fn number_value(text: &str) -> Option<Value> {
    let is_integer = !text.contains(['.', 'e', 'E']);
    if is_integer {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Value::Int(i));
        }
    }
    // Integers beyond i64 become floats, like JSON numbers do in most readers.
    text.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::Float)
}

/// Reads a whole string as a CQL2 numeric literal (used to compare numbers with numeric text).
pub(crate) fn parse_number_text(text: &str) -> Option<Value> {
    let chars: Vec<char> = text.chars().collect();
    match scan_number(&chars) {
        Ok(Some(len)) if len == chars.len() => number_value(text),
        _ => None,
    }
}

/// Splits `source` into tokens, ending with [`TokenKind::End`].
pub(crate) fn tokenize(source: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let chars: Vec<char> = source.chars().collect();
    // Byte offset of every char, plus the end, so tokens can borrow their source text.
    let mut bytes: Vec<usize> = source.char_indices().map(|(b, _)| b).collect();
    bytes.push(source.len());
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let kind = match c {
            '(' => single(&mut i, TokenKind::LeftParen),
            ')' => single(&mut i, TokenKind::RightParen),
            ',' => single(&mut i, TokenKind::Comma),
            '=' => single(&mut i, TokenKind::Eq),
            '<' => match chars.get(i + 1) {
                Some('>') => double(&mut i, TokenKind::Ne),
                Some('=') => double(&mut i, TokenKind::Le),
                _ => single(&mut i, TokenKind::Lt),
            },
            '>' => match chars.get(i + 1) {
                Some('=') => double(&mut i, TokenKind::Ge),
                _ => single(&mut i, TokenKind::Gt),
            },
            '\'' => {
                let (text, end) = scan_quoted(&chars, i, '\'').ok_or_else(|| {
                    FilterError::syntax(start, "unterminated string: expected a closing `'`")
                })?;
                i = end;
                TokenKind::Text(text)
            }
            '"' => {
                let (name, end) = scan_quoted(&chars, i, '"').ok_or_else(|| {
                    FilterError::syntax(start, "unterminated property name: expected a closing `\"`")
                })?;
                if name.is_empty() {
                    return Err(FilterError::syntax(start, "expected a property name between `\"\"`"));
                }
                i = end;
                TokenKind::QuotedName(name)
            }
            c if c.is_ascii_digit() || matches!(c, '.' | '+' | '-') => {
                let len = scan_number(&chars[i..])
                    .map_err(|(offset, message)| FilterError::syntax(i + offset, message))?
                    .ok_or_else(|| unexpected_char(start, c))?;
                i += len;
                let text = &source[bytes[start]..bytes[i]];
                let value = number_value(text)
                    .ok_or_else(|| FilterError::syntax(start, format!("number `{text}` is out of range")))?;
                TokenKind::Number(value)
            }
            c if is_identifier_start(c) => {
                i += 1;
                while i < chars.len() && is_identifier_part(chars[i]) {
                    i += 1;
                }
                TokenKind::Word(source[bytes[start]..bytes[i]].to_owned())
            }
            c => return Err(unexpected_char(start, c)),
        };
        tokens.push(Token { kind, position: start, text: &source[bytes[start]..bytes[i]] });
    }
    tokens.push(Token { kind: TokenKind::End, position: chars.len(), text: "" });
    Ok(tokens)
}

fn single(i: &mut usize, kind: TokenKind) -> TokenKind {
    *i += 1;
    kind
}

fn double(i: &mut usize, kind: TokenKind) -> TokenKind {
    *i += 2;
    kind
}

fn unexpected_char(position: usize, c: char) -> FilterError {
    let hint = match c {
        '!' => "; use `<>` for not equal",
        '[' | ']' => "; arrays are not supported",
        '*' | '/' | '^' => "; arithmetic is not supported",
        _ => "",
    };
    FilterError::syntax(position, format!("unexpected character `{c}`{hint}"))
}

/// Reads a `quote`-delimited run starting at `chars[start]` (the opening quote), with a doubled
/// quote standing for one. Returns the content and the index after the closing quote.
fn scan_quoted(chars: &[char], start: usize, quote: char) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return None,
            Some(&c) if c == quote => {
                if chars.get(i + 1) == Some(&quote) {
                    out.push(quote);
                    i += 2;
                } else {
                    return Some((out, i + 1));
                }
            }
            Some(&c) => {
                out.push(c);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<TokenKind> {
        tokenize(source).expect("valid tokens").into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn numbers_cover_the_cql2_forms() {
        use TokenKind::Number;
        assert_eq!(
            kinds("1 -2 +3 1.5 .5 1. 2e3 -1.5E-2 99999999999999999999"),
            vec![
                Number(Value::Int(1)),
                Number(Value::Int(-2)),
                Number(Value::Int(3)),
                Number(Value::Float(1.5)),
                Number(Value::Float(0.5)),
                Number(Value::Float(1.0)),
                Number(Value::Float(2000.0)),
                Number(Value::Float(-0.015)),
                Number(Value::Float(1e20)),
                TokenKind::End,
            ]
        );
    }

    #[test]
    fn operators_and_quotes() {
        use TokenKind::*;
        assert_eq!(
            kinds(r#"a<>'it''s'<="x""y">=,()"#),
            vec![
                Word("a".into()),
                Ne,
                Text("it's".into()),
                Le,
                QuotedName("x\"y".into()),
                Ge,
                Comma,
                LeftParen,
                RightParen,
                End
            ]
        );
    }

    #[test]
    fn positions_are_char_offsets() {
        let tokens = tokenize("名称 = 'x'").expect("valid tokens");
        let positions: Vec<usize> = tokens.iter().map(|t| t.position).collect();
        assert_eq!(positions, vec![0, 3, 5, 8]);
        assert_eq!(tokens[0].text, "名称");
    }

    #[test]
    fn errors_point_at_the_culprit() {
        let err = |s: &str| tokenize(s).expect_err("invalid");
        assert_eq!(err("a = 'abc").position(), Some(4));
        assert_eq!(err("a != 1").position(), Some(2));
        assert_eq!(err("a = 1e").position(), Some(6));
        assert_eq!(err("a = 1e999").position(), Some(4));
        assert_eq!(err("\"\" = 1").position(), Some(0));
        assert!(err("a != 1").to_string().contains("use `<>`"));
    }

    #[test]
    fn numeric_text() {
        assert_eq!(parse_number_text("12"), Some(Value::Int(12)));
        assert_eq!(parse_number_text("-1.5e1"), Some(Value::Float(-15.0)));
        for text in ["", " 12", "12 ", "inf", "NaN", "1e", "1,5", "0x10", "-"] {
            assert_eq!(parse_number_text(text), None, "{text:?}");
        }
    }
}
