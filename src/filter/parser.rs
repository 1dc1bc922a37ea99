//! Recursive-descent parser from tokens to [`Expr`], one method per precedence level.
//!
//! Every method that can recurse on nested input (`(`, `NOT`, `CASEI`, `GEOMETRYCOLLECTION`)
//! goes through [`Parser::enter`], which fails past [`MAX_DEPTH`]; everything else loops.

use geo::{Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon, Rect};

use super::expr::{is_reserved, CompareOp, Expr, Operand};
use super::lexer::{tokenize, Token, TokenKind};
use super::{FilterError, Value, MAX_DEPTH};

type Result<T> = std::result::Result<T, FilterError>;

/// Parses a whole CQL2-text filter (the caller has checked the length).
pub(crate) fn parse(text: &str) -> Result<Expr> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens: &tokens, pos: 0, depth: 0 };
    if parser.peek().kind == TokenKind::End {
        return Err(parser.expected("a filter expression"));
    }
    let expr = parser.parse_or()?;
    if parser.peek().kind != TokenKind::End {
        return Err(parser.expected("`AND`, `OR` or the end of the filter"));
    }
    Ok(expr)
}

const GEOMETRY_TAGS: &[&str] = &[
    "POINT",
    "LINESTRING",
    "POLYGON",
    "MULTIPOINT",
    "MULTILINESTRING",
    "MULTIPOLYGON",
    "GEOMETRYCOLLECTION",
    "BBOX",
    "ENVELOPE",
];

fn is_geometry_tag(word: &str) -> bool {
    GEOMETRY_TAGS.iter().any(|t| t.eq_ignore_ascii_case(word))
}

/// The error for `word(` where no function of that name is supported.
fn unsupported_call(token: &Token<'_>, word: &str) -> FilterError {
    let why = unsupported_function(word).unwrap_or("unknown function");
    FilterError::syntax(token.position, format_args!("{why}: `{word}`"))
}

/// Function-like words that CQL2 defines but this module does not implement.
fn unsupported_function(word: &str) -> Option<&'static str> {
    let upper = word.to_ascii_uppercase();
    if upper.starts_with("S_") {
        Some("only the spatial function `S_INTERSECTS` is supported")
    } else if upper.starts_with("T_") || matches!(upper.as_str(), "DATE" | "TIMESTAMP" | "INTERVAL") {
        Some("temporal literals and functions are not supported")
    } else if upper.starts_with("A_") {
        Some("array functions are not supported")
    } else if upper == "ACCENTI" {
        Some("accent-insensitive comparison is not supported")
    } else if is_geometry_tag(&upper) {
        Some("geometry literals are only allowed inside `S_INTERSECTS`")
    } else {
        None
    }
}

struct Parser<'t, 's> {
    /// Never empty: the last token is [`TokenKind::End`].
    tokens: &'t [Token<'s>],
    /// Index of the next token; never past the `End` token.
    pos: usize,
    /// Current nesting, checked against [`MAX_DEPTH`].
    depth: usize,
}

/// A parsed argument of `S_INTERSECTS`.
enum GeometryArgument {
    Property(String),
    Literal(Geometry<f64>),
}

impl<'t, 's> Parser<'t, 's> {
    fn peek(&self) -> &'t Token<'s> {
        &self.tokens[self.pos]
    }

    fn peek_nth(&self, n: usize) -> &'t Token<'s> {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.pos + n).min(last)]
    }

    /// Returns the next token and moves past it (staying on `End`).
    fn advance(&mut self) -> &'t Token<'s> {
        let token = self.peek();
        if token.kind != TokenKind::End {
            self.pos += 1;
        }
        token
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::TooDeep { position: self.peek().position, max: MAX_DEPTH });
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// "expected {what} after `prev` at position N, found `next`", pointing at the next token.
    fn expected(&self, what: &str) -> FilterError {
        let next = self.peek();
        let after = match self.pos.checked_sub(1).map(|i| &self.tokens[i]) {
            Some(prev) => format!(" after {}", prev.describe()),
            None => String::new(),
        };
        FilterError::Syntax {
            position: next.position,
            message: format!(
                "expected {what}{after} at position {}, found {}",
                next.position,
                next.describe()
            ),
        }
    }

    fn expect(&mut self, kind: &TokenKind, what: &str) -> Result<&'t Token<'s>> {
        if &self.peek().kind == kind {
            Ok(self.advance())
        } else {
            Err(self.expected(what))
        }
    }

    fn next_is_keyword(&self, keyword: &str) -> bool {
        self.peek().is_keyword(keyword)
    }

    /// Whether the next token is the word `name` followed by `(`.
    fn next_is_call(&self, name: &str) -> bool {
        self.peek().is_keyword(name) && self.peek_nth(1).kind == TokenKind::LeftParen
    }

    fn parse_or(&mut self) -> Result<Expr> {
        let first = self.parse_and()?;
        if !self.next_is_keyword("OR") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.next_is_keyword("OR") {
            self.advance();
            items.push(self.parse_and()?);
        }
        Ok(Expr::Or(items))
    }

    fn parse_and(&mut self) -> Result<Expr> {
        let first = self.parse_not()?;
        if !self.next_is_keyword("AND") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.next_is_keyword("AND") {
            self.advance();
            items.push(self.parse_not()?);
        }
        Ok(Expr::And(items))
    }

    fn parse_not(&mut self) -> Result<Expr> {
        if !self.next_is_keyword("NOT") {
            return self.parse_primary();
        }
        self.enter()?;
        self.advance();
        let inner = self.parse_not()?;
        self.leave();
        Ok(Expr::Not(Box::new(inner)))
    }

    fn parse_primary(&mut self) -> Result<Expr> {
        let token = self.peek();
        if token.kind == TokenKind::LeftParen {
            self.enter()?;
            self.advance();
            let inner = self.parse_or()?;
            self.expect(&TokenKind::RightParen, "`)`")?;
            self.leave();
            return Ok(inner);
        }
        if self.next_is_call("S_INTERSECTS") {
            return self.parse_intersects();
        }
        let left = self.parse_operand("a predicate")?;
        self.parse_predicate(left)
    }

    /// A property, a literal or `CASEI(…)`; `what` names it in the error message.
    fn parse_operand(&mut self, what: &str) -> Result<Operand> {
        let token = self.peek();
        let operand = match &token.kind {
            TokenKind::Number(value) => Operand::Literal(value.clone()),
            TokenKind::Text(text) => Operand::Literal(Value::Text(text.clone())),
            TokenKind::QuotedName(name) => Operand::Property(name.clone()),
            TokenKind::Word(word) if word.eq_ignore_ascii_case("TRUE") => Operand::Literal(Value::Bool(true)),
            TokenKind::Word(word) if word.eq_ignore_ascii_case("FALSE") => {
                Operand::Literal(Value::Bool(false))
            }
            TokenKind::Word(word) if word.eq_ignore_ascii_case("NULL") => {
                return Err(FilterError::syntax(
                    token.position,
                    "`NULL` is not a value; test for it with `IS NULL` or `IS NOT NULL`",
                ));
            }
            TokenKind::Word(word) if is_reserved(word) => return Err(self.expected(what)),
            TokenKind::Word(word) if self.peek_nth(1).kind == TokenKind::LeftParen => {
                if word.eq_ignore_ascii_case("CASEI") {
                    self.enter()?;
                    self.advance();
                    self.advance();
                    let inner = self.parse_operand("a value")?;
                    self.expect(&TokenKind::RightParen, "`)`")?;
                    self.leave();
                    return Ok(Operand::CaseI(Box::new(inner)));
                }
                return Err(unsupported_call(token, word));
            }
            TokenKind::Word(word) => Operand::Property(word.clone()),
            _ => return Err(self.expected(what)),
        };
        self.advance();
        Ok(operand)
    }

    /// The rest of a predicate whose left operand has been read.
    fn parse_predicate(&mut self, left: Operand) -> Result<Expr> {
        let token = self.peek();
        let op = match &token.kind {
            TokenKind::Eq => Some(CompareOp::Eq),
            TokenKind::Ne => Some(CompareOp::Ne),
            TokenKind::Lt => Some(CompareOp::Lt),
            TokenKind::Gt => Some(CompareOp::Gt),
            TokenKind::Le => Some(CompareOp::Le),
            TokenKind::Ge => Some(CompareOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.advance();
            let right = self.parse_operand("a value")?;
            return Ok(Expr::Compare { left, op, right });
        }
        if self.next_is_keyword("IS") {
            self.advance();
            let negated = self.next_is_keyword("NOT");
            if negated {
                self.advance();
            }
            if !self.next_is_keyword("NULL") {
                return Err(self.expected("`NULL`"));
            }
            self.advance();
            return Ok(Expr::IsNull { operand: left, negated });
        }
        let negated = self.next_is_keyword("NOT");
        if negated {
            self.advance();
        }
        if self.next_is_keyword("LIKE") {
            self.advance();
            let pattern = self.parse_pattern()?;
            return Ok(Expr::Like { operand: left, pattern, negated });
        }
        if self.next_is_keyword("BETWEEN") {
            self.advance();
            let low = self.parse_operand("a value")?;
            if !self.next_is_keyword("AND") {
                return Err(self.expected("`AND`"));
            }
            self.advance();
            let high = self.parse_operand("a value")?;
            return Ok(Expr::Between { operand: left, low, high, negated });
        }
        if self.next_is_keyword("IN") {
            self.advance();
            self.expect(&TokenKind::LeftParen, "`(`")?;
            let mut list = vec![self.parse_operand("a value")?];
            while self.peek().kind == TokenKind::Comma {
                self.advance();
                list.push(self.parse_operand("a value")?);
            }
            self.expect(&TokenKind::RightParen, "`,` or `)`")?;
            return Ok(Expr::In { operand: left, list, negated });
        }
        if negated {
            return Err(self.expected("`LIKE`, `BETWEEN` or `IN`"));
        }
        // A bare `TRUE`/`FALSE` is a predicate of its own.
        if let Operand::Literal(Value::Bool(b)) = left {
            return Ok(Expr::Bool(b));
        }
        Err(self.expected("a comparison operator, `LIKE`, `BETWEEN`, `IN` or `IS`"))
    }

    /// A `LIKE` pattern: a string literal, possibly wrapped in `CASEI`.
    fn parse_pattern(&mut self) -> Result<Operand> {
        let token = self.peek();
        match &token.kind {
            TokenKind::Text(pattern) => {
                if ends_with_lone_escape(pattern) {
                    return Err(FilterError::syntax(
                        token.position,
                        "a LIKE pattern cannot end with an escaping `\\` (write `\\\\` for a backslash)",
                    ));
                }
                self.advance();
                Ok(Operand::Literal(Value::Text(pattern.clone())))
            }
            _ if self.next_is_call("CASEI") => {
                self.enter()?;
                self.advance();
                self.advance();
                let inner = self.parse_pattern()?;
                self.expect(&TokenKind::RightParen, "`)`")?;
                self.leave();
                Ok(Operand::CaseI(Box::new(inner)))
            }
            _ => Err(self.expected("a quoted pattern")),
        }
    }

    fn parse_intersects(&mut self) -> Result<Expr> {
        let name = self.advance();
        self.advance();
        let first_position = self.peek().position;
        let first = self.parse_geometry_argument()?;
        self.expect(&TokenKind::Comma, "`,`")?;
        let second = self.parse_geometry_argument()?;
        self.expect(&TokenKind::RightParen, "`)`")?;
        match (first, second) {
            (GeometryArgument::Property(property), GeometryArgument::Literal(geometry))
            | (GeometryArgument::Literal(geometry), GeometryArgument::Property(property)) => {
                Ok(Expr::Intersects { property, geometry })
            }
            (GeometryArgument::Property(_), GeometryArgument::Property(_)) => Err(FilterError::syntax(
                first_position,
                "`S_INTERSECTS` between two geometry properties is not supported",
            )),
            (GeometryArgument::Literal(_), GeometryArgument::Literal(_)) => Err(FilterError::syntax(
                name.position,
                "`S_INTERSECTS` needs a geometry property as one of its arguments",
            )),
        }
    }

    fn parse_geometry_argument(&mut self) -> Result<GeometryArgument> {
        let token = self.peek();
        match &token.kind {
            TokenKind::QuotedName(name) => {
                self.advance();
                Ok(GeometryArgument::Property(name.clone()))
            }
            TokenKind::Word(word) if is_geometry_tag(word) && self.starts_geometry_literal() => {
                Ok(GeometryArgument::Literal(self.parse_geometry()?))
            }
            TokenKind::Word(word) if !is_reserved(word) => {
                if self.peek_nth(1).kind == TokenKind::LeftParen {
                    return Err(unsupported_call(token, word));
                }
                self.advance();
                Ok(GeometryArgument::Property(word.clone()))
            }
            _ => Err(self.expected("a geometry property or a geometry literal")),
        }
    }

    /// Whether a geometry tag at the next token is followed by `(`, `Z (` or `EMPTY`.
    fn starts_geometry_literal(&self) -> bool {
        let after = self.peek_nth(1);
        after.kind == TokenKind::LeftParen
            || after.is_keyword("EMPTY")
            || (after.is_keyword("Z") && self.peek_nth(2).kind == TokenKind::LeftParen)
    }

    /// A WKT geometry, `BBOX` or `ENVELOPE`, starting at its tag.
    fn parse_geometry(&mut self) -> Result<Geometry<f64>> {
        let tag_token = self.peek();
        if !matches!(&tag_token.kind, TokenKind::Word(w) if is_geometry_tag(w)) {
            return Err(self.expected("a geometry literal (`POINT`, `POLYGON`, `BBOX`, …)"));
        }
        self.advance();
        let tag = tag_token.text.to_ascii_uppercase();
        if self.next_is_keyword("Z") && !matches!(tag.as_str(), "BBOX" | "ENVELOPE") {
            self.advance();
        }
        if self.next_is_keyword("EMPTY") {
            return Err(FilterError::syntax(self.peek().position, "empty geometries are not supported"));
        }
        let geometry = match tag.as_str() {
            "POINT" => {
                self.expect(&TokenKind::LeftParen, "`(`")?;
                let point = self.parse_position()?;
                self.expect(&TokenKind::RightParen, "`)`")?;
                Geometry::Point(Point(point))
            }
            "LINESTRING" => Geometry::LineString(self.parse_line_string()?),
            "POLYGON" => Geometry::Polygon(self.parse_polygon()?),
            "MULTIPOINT" => Geometry::MultiPoint(MultiPoint(self.parse_list(|p| {
                // Both `MULTIPOINT((1 2), (3 4))` (CQL2) and `MULTIPOINT(1 2, 3 4)` are common.
                if p.peek().kind == TokenKind::LeftParen {
                    p.advance();
                    let c = p.parse_position()?;
                    p.expect(&TokenKind::RightParen, "`)`")?;
                    Ok(Point(c))
                } else {
                    Ok(Point(p.parse_position()?))
                }
            })?)),
            "MULTILINESTRING" => {
                Geometry::MultiLineString(MultiLineString(self.parse_list(Self::parse_line_string)?))
            }
            "MULTIPOLYGON" => Geometry::MultiPolygon(MultiPolygon(self.parse_list(Self::parse_polygon)?)),
            "GEOMETRYCOLLECTION" => {
                self.enter()?;
                let items = self.parse_list(Self::parse_geometry)?;
                self.leave();
                Geometry::GeometryCollection(geo::GeometryCollection(items))
            }
            _ => self.parse_bbox(tag_token)?,
        };
        Ok(geometry)
    }

    /// `BBOX`/`ENVELOPE` numbers: west, south, [min z,] east, north [, max z].
    fn parse_bbox(&mut self, tag_token: &Token<'_>) -> Result<Geometry<f64>> {
        let open = self.peek().position;
        let numbers = self.parse_list(Self::parse_number)?;
        let ([west, south, east, north] | [west, south, _, east, north, _]) = numbers[..] else {
            return Err(FilterError::syntax(
                open,
                format_args!("`{}` needs 4 or 6 numbers, found {}", tag_token.text, numbers.len()),
            ));
        };
        if west > east || south > north {
            return Err(FilterError::syntax(
                open,
                format_args!(
                    "`{}` needs west <= east and south <= north (boxes across the antimeridian are not supported)",
                    tag_token.text
                ),
            ));
        }
        Ok(Geometry::Rect(Rect::new(Coord { x: west, y: south }, Coord { x: east, y: north })))
    }

    /// `( item {, item} )`.
    fn parse_list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Result<T>) -> Result<Vec<T>> {
        self.expect(&TokenKind::LeftParen, "`(`")?;
        let mut items = vec![item(self)?];
        while self.peek().kind == TokenKind::Comma {
            self.advance();
            items.push(item(self)?);
        }
        self.expect(&TokenKind::RightParen, "`,` or `)`")?;
        Ok(items)
    }

    fn parse_number(&mut self) -> Result<f64> {
        match &self.peek().kind {
            TokenKind::Number(Value::Int(i)) => {
                self.advance();
                #[expect(clippy::cast_precision_loss, reason = "coordinates beyond 2^53 are meaningless")]
                Ok(*i as f64)
            }
            TokenKind::Number(Value::Float(x)) => {
                self.advance();
                Ok(*x)
            }
            _ => Err(self.expected("a number")),
        }
    }

    /// `x y [z]`; z is dropped.
    fn parse_position(&mut self) -> Result<Coord<f64>> {
        let x = self.parse_number()?;
        let y = self.parse_number()?;
        if matches!(self.peek().kind, TokenKind::Number(_)) {
            self.parse_number()?;
        }
        Ok(Coord { x, y })
    }

    fn parse_line_string(&mut self) -> Result<LineString<f64>> {
        let open = self.peek().position;
        let coords = self.parse_list(Self::parse_position)?;
        if coords.len() < 2 {
            return Err(FilterError::syntax(open, "a linestring needs at least 2 positions"));
        }
        Ok(LineString(coords))
    }

    fn parse_ring(&mut self) -> Result<LineString<f64>> {
        let open = self.peek().position;
        let coords = self.parse_list(Self::parse_position)?;
        if coords.len() < 4 {
            return Err(FilterError::syntax(open, "a polygon ring needs at least 4 positions"));
        }
        if coords.first() != coords.last() {
            return Err(FilterError::syntax(
                open,
                "a polygon ring must be closed: its first and last positions differ",
            ));
        }
        Ok(LineString(coords))
    }

    fn parse_polygon(&mut self) -> Result<Polygon<f64>> {
        let mut rings = self.parse_list(Self::parse_ring)?.into_iter();
        let exterior = rings.next().expect("parse_list returns at least one item");
        Ok(Polygon::new(exterior, rings.collect()))
    }
}

/// Whether the pattern ends with a `\` that escapes nothing.
fn ends_with_lone_escape(pattern: &str) -> bool {
    let trailing = pattern.chars().rev().take_while(|&c| c == '\\').count();
    trailing % 2 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Expr {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn prop(name: &str) -> Operand {
        Operand::Property(name.to_owned())
    }

    fn int(i: i64) -> Operand {
        Operand::Literal(Value::Int(i))
    }

    fn cmp(name: &str, op: CompareOp, i: i64) -> Expr {
        Expr::Compare { left: prop(name), op, right: int(i) }
    }

    #[test]
    fn precedence_not_and_or() {
        use CompareOp::Eq;
        assert_eq!(
            p("a = 1 OR NOT b = 2 AND c = 3"),
            Expr::Or(vec![
                cmp("a", Eq, 1),
                Expr::And(vec![Expr::Not(Box::new(cmp("b", Eq, 2))), cmp("c", Eq, 3)]),
            ])
        );
        assert_eq!(
            p("(a = 1 OR b = 2) AND c = 3"),
            Expr::And(vec![Expr::Or(vec![cmp("a", Eq, 1), cmp("b", Eq, 2)]), cmp("c", Eq, 3)])
        );
    }

    #[test]
    fn between_takes_its_own_and() {
        assert_eq!(
            p("a BETWEEN 1 AND 5 AND b = 2"),
            Expr::And(vec![
                Expr::Between { operand: prop("a"), low: int(1), high: int(5), negated: false },
                cmp("b", CompareOp::Eq, 2),
            ])
        );
    }

    #[test]
    fn boolean_literals() {
        assert_eq!(p("TRUE"), Expr::Bool(true));
        assert_eq!(p("false OR TRUE"), Expr::Or(vec![Expr::Bool(false), Expr::Bool(true)]));
        assert_eq!(
            p("TRUE = flag"),
            Expr::Compare {
                left: Operand::Literal(Value::Bool(true)),
                op: CompareOp::Eq,
                right: prop("flag")
            }
        );
    }

    #[test]
    fn geometry_literals() {
        let Expr::Intersects { geometry, .. } =
            p("S_INTERSECTS(geom, POLYGON Z ((0 0 1, 1 0 1, 1 1 1, 0 0 1), (0.1 0.1, 0.2 0.1, 0.2 0.2, 0.1 0.1)))")
        else {
            panic!("not an intersects")
        };
        let Geometry::Polygon(polygon) = geometry else { panic!("not a polygon") };
        assert_eq!(polygon.interiors().len(), 1);
        assert_eq!(polygon.exterior().0.len(), 4);
        let Expr::Intersects { geometry, .. } = p("S_INTERSECTS(ENVELOPE(0, 1, 2, 3), g)") else {
            panic!("not an intersects")
        };
        assert_eq!(geometry, Geometry::Rect(Rect::new((0., 1.), (2., 3.))));
        assert_eq!(
            p("S_INTERSECTS(g, MULTIPOINT(1 2, 3 4))"),
            p("s_intersects(g, multipoint((1 2), (3 4)))")
        );
        assert_eq!(
            p("S_INTERSECTS(bbox, BBOX(0, 0, -5, 1, 1, 5))"),
            Expr::Intersects {
                property: "bbox".into(),
                geometry: Geometry::Rect(Rect::new((0., 0.), (1., 1.)))
            }
        );
    }

    #[test]
    fn depth_is_bounded() {
        let nested = format!("{}a = 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&nested).is_ok());
        let too_deep = format!("{}a = 1{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert_eq!(parse(&too_deep), Err(FilterError::TooDeep { position: MAX_DEPTH, max: MAX_DEPTH }));
        let nots = format!("{}a = 1", "NOT ".repeat(MAX_DEPTH + 1));
        assert!(matches!(parse(&nots), Err(FilterError::TooDeep { .. })));
        let casei = format!("{}a{} = 'x'", "CASEI(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert!(matches!(parse(&casei), Err(FilterError::TooDeep { .. })));
    }
}
