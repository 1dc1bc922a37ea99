//! OGC API – Features Part 3 filtering: CQL2-text parsing and evaluation, plus `sortby`.
//!
//! Pure: no I/O and no HTTP types. The service parses the `filter` parameter once with
//! [`parse_cql2_text`], checks [`Expr::property_names`] against its queryables, narrows the
//! candidates with [`Expr::spatial_bounds`] and an R-tree, and keeps the features for which
//! [`Expr::evaluate`] holds. [`parse_sortby`] and [`compare_features`] order the result.
//!
//! # Conformance
//! CQL2 classes `basic-cql2`, `advanced-comparison-operators` (`LIKE`, `BETWEEN`, `IN`),
//! `basic-spatial-functions` (`S_INTERSECTS` only), `property-property` comparisons, and
//! `CASEI` from `case-insensitive-comparison`. Not supported: `DATE`/`TIMESTAMP`/`INTERVAL`
//! literals and temporal functions, `ACCENTI`, arrays, arithmetic, other spatial functions,
//! `EMPTY` geometries; each of these is a syntax error naming the construct.
//!
//! # Grammar
//! Keywords are ASCII case-insensitive; whitespace separates tokens anywhere.
//! ```text
//! filter      = or
//! or          = and { "OR" and }
//! and         = not { "AND" not }
//! not         = "NOT" not | primary                      (NOT binds tighter than AND, AND than OR)
//! primary     = "(" or ")" | spatial | predicate | "TRUE" | "FALSE"
//! predicate   = operand compare operand
//!             | operand ["NOT"] "LIKE" pattern
//!             | operand ["NOT"] "BETWEEN" operand "AND" operand
//!             | operand ["NOT"] "IN" "(" operand { "," operand } ")"
//!             | operand "IS" ["NOT"] "NULL"
//! compare     = "=" | "<>" | "<" | ">" | "<=" | ">="
//! operand     = property | string | number | "TRUE" | "FALSE" | "CASEI" "(" operand ")"
//! pattern     = string | "CASEI" "(" pattern ")"       (% any run, _ one char, \ escapes the next)
//! property    = identifier | '"' any chars, "" for " '"'
//! identifier  = start { start | digit | "." }           (start: letter incl. CJK, "_" or ":")
//! string      = "'" any chars, '' for ' "'"
//! number      = ["+"|"-"] (digits ["." [digits]] | "." digits) [("e"|"E") ["+"|"-"] digits]
//! spatial     = "S_INTERSECTS" "(" geomarg "," geomarg ")"  (one property, one literal)
//! geomarg     = property | geometry
//! geometry    = "POINT" ["Z"] "(" pos ")" | "LINESTRING" ["Z"] line | "POLYGON" ["Z"] poly
//!             | "MULTIPOINT" ["Z"] "(" ("(" pos ")" | pos) {","…} ")"
//!             | "MULTILINESTRING" ["Z"] "(" line {"," line} ")"
//!             | "MULTIPOLYGON" ["Z"] "(" poly {"," poly} ")"
//!             | "GEOMETRYCOLLECTION" "(" geometry {"," geometry} ")"
//!             | ("BBOX" | "ENVELOPE") "(" w "," s ["," zmin] "," e "," n ["," zmax] ")"
//! line        = "(" pos {"," pos} ")"    (2+ positions)
//! poly        = "(" ring {"," ring} ")"  (rings closed, 4+ positions)
//! pos         = number number [number]   (z is ignored)
//! ```
//! `ENVELOPE` follows the CQL2 release candidate (west, south, east, north, as `BBOX`), not
//! ECQL's (west, east, north, south). Strings have only the `''` escape; a backslash is an
//! ordinary character except inside `LIKE` patterns.
//!
//! # Semantics
//! SQL-like three-valued logic: a missing or null property makes a comparison unknown, `NOT`
//! of unknown is unknown, `AND`/`OR` follow Kleene's tables, and unknown is collapsed to
//! `false` only at the top by [`Expr::evaluate`]. Two numbers compare exactly (an `Int` against
//! a `Float` by value, without rounding the integer); a number against text that reads as a
//! number compares numerically; other mixed pairs compare as text for `=`/`<>` and are
//! unknown for ordering. `LIKE` is case-sensitive unless wrapped in `CASEI`.
//!
//! # Design
//! A tokenizer followed by a hand-written recursive-descent parser, one function per
//! precedence level. Written by hand rather than with `winnow`/`nom` because what the service
//! needs most is control: exact 0-based char positions with "expected X after Y" messages for
//! 400 responses, an explicit nesting counter so hostile input such as `((((…` fails with
//! [`FilterError::TooDeep`] instead of overflowing the stack, and no new dependency. `AND`
//! and `OR` chains are n-ary vectors, so a long flat chain costs no recursion in the parser,
//! the evaluator, `Display` or `Drop`; recursion depth everywhere is bounded by
//! [`MAX_DEPTH`] for parsed expressions. [`Expr`]'s `Display` prints canonical CQL2-text that
//! parses back to an equal expression.

mod eval;
mod expr;
mod lexer;
mod parser;
mod sort;

use std::fmt;

pub use expr::{CompareOp, Expr, Operand};
pub use sort::{compare_features, compare_values, parse_sortby, SortKey};

/// Longest accepted `filter` or `sortby` text, in bytes.
pub const MAX_FILTER_BYTES: usize = 8 * 1024;

/// Deepest accepted nesting of parentheses, `NOT`s, `CASEI`s and geometry collections.
pub const MAX_DEPTH: usize = 64;

/// A property value of a feature, or a literal in a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (JSON `null`); a missing property is treated the same.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Text(String),
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Self::Float(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

/// Prints the value as a CQL2-text literal: `'it''s'`, `42`, `1.5`, `TRUE`, `NULL`.
///
/// Floats always carry a `.` or an exponent, so they read back as floats.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("NULL"),
            Self::Bool(true) => f.write_str("TRUE"),
            Self::Bool(false) => f.write_str("FALSE"),
            Self::Int(i) => write!(f, "{i}"),
            // `Debug` is the shortest round-tripping form and keeps `.0` / uses exponents.
            Self::Float(x) => write!(f, "{x:?}"),
            Self::Text(s) => write!(f, "'{}'", s.replace('\'', "''")),
        }
    }
}

/// Read access to one feature for [`Expr::evaluate`] and [`compare_features`].
pub trait FeatureView {
    /// The value of property `name`; `None` when the feature does not have it.
    fn property(&self, name: &str) -> Option<Value>;
    /// The feature's geometry, in the same CRS as the filter's geometry literals.
    fn geometry(&self) -> Option<&geo::Geometry<f64>>;
}

/// Why a `filter` or `sortby` text was rejected. Every variant is the client's fault (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The text does not follow the grammar.
    #[error("{message}")]
    Syntax {
        /// 0-based char offset where the problem was found.
        position: usize,
        /// What was expected where, e.g. "expected a value after `=` at position 14, found end
        /// of input".
        message: String,
    },
    /// The text is longer than [`MAX_FILTER_BYTES`].
    #[error("the text is {length} bytes long; at most {max} bytes are accepted")]
    TooLong {
        /// Length of the text in bytes.
        length: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// Parentheses, `NOT`s, `CASEI`s or geometry collections nest deeper than [`MAX_DEPTH`].
    #[error("the expression nests deeper than {max} levels at position {position}")]
    TooDeep {
        /// 0-based char offset of the token that went one level too deep.
        position: usize,
        /// The limit.
        max: usize,
    },
}

impl FilterError {
    /// A [`FilterError::Syntax`] whose message ends with "at position N".
    pub(crate) fn syntax(position: usize, what: impl fmt::Display) -> Self {
        Self::Syntax { position, message: format!("{what} at position {position}") }
    }

    /// The 0-based char offset the error points at, if it points anywhere.
    #[must_use]
    pub fn position(&self) -> Option<usize> {
        match self {
            Self::Syntax { position, .. } | Self::TooDeep { position, .. } => Some(*position),
            Self::TooLong { .. } => None,
        }
    }
}

/// Parses a CQL2-text filter.
///
/// # Errors
/// [`FilterError::TooLong`] past [`MAX_FILTER_BYTES`], [`FilterError::TooDeep`] past
/// [`MAX_DEPTH`], else [`FilterError::Syntax`] with the position of the first offending token.
///
/// # Complexity
/// O(n) in the length of the text.
///
/// # Examples
/// ```
/// use gapmap::filter::{parse_cql2_text, FeatureView, Value};
/// struct Estate { households: i64 }
/// impl FeatureView for Estate {
///     fn property(&self, name: &str) -> Option<Value> {
///         (name == "households").then(|| Value::Int(self.households))
///     }
///     fn geometry(&self) -> Option<&geo::Geometry<f64>> { None }
/// }
/// let filter = parse_cql2_text("households BETWEEN 100 AND 500 AND NOT households = 300")?;
/// assert!(filter.evaluate(&Estate { households: 120 }));
/// assert!(!filter.evaluate(&Estate { households: 300 }));
/// assert_eq!(filter.to_string(), "households BETWEEN 100 AND 500 AND NOT households = 300");
/// let err = parse_cql2_text("households >= ").unwrap_err();
/// assert_eq!(err.to_string(), "expected a value after `>=` at position 14, found end of input");
/// # Ok::<(), gapmap::filter::FilterError>(())
/// ```
pub fn parse_cql2_text(text: &str) -> Result<Expr, FilterError> {
    check_length(text)?;
    parser::parse(text)
}

fn check_length(text: &str) -> Result<(), FilterError> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(FilterError::TooLong { length: text.len(), max: MAX_FILTER_BYTES });
    }
    Ok(())
}
