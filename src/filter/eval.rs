//! Evaluating an [`Expr`] against one feature with SQL-like three-valued logic.
//!
//! Internally every predicate yields `Option<bool>` (`None` = unknown); only
//! [`Expr::evaluate`] collapses unknown to `false`, so `NOT (x = 1)` is false, not true, for a
//! feature without `x`.

use std::borrow::Cow;
use std::cmp::Ordering;

use geo::Intersects;

use super::expr::{CompareOp, Expr, Operand};
use super::lexer::parse_number_text;
use super::{FeatureView, Value};

impl Expr {
    /// Whether the feature satisfies the filter; an unknown result (a comparison with a missing
    /// or null property, or of incomparable values) counts as not satisfied.
    ///
    /// # Complexity
    /// O(size of the expression), plus `O(n·m)` per `LIKE` for an `n`-character value and an
    /// `m`-character pattern, plus the cost of `geo`'s `Intersects` per `S_INTERSECTS`.
    #[must_use]
    pub fn evaluate(&self, feature: &dyn FeatureView) -> bool {
        self.truth(feature) == Some(true)
    }

    /// The three-valued truth of the expression: `None` is unknown.
    fn truth(&self, feature: &dyn FeatureView) -> Option<bool> {
        match self {
            Self::And(items) => {
                let mut result = Some(true);
                for item in items {
                    match item.truth(feature) {
                        Some(false) => return Some(false),
                        None => result = None,
                        Some(true) => {}
                    }
                }
                result
            }
            Self::Or(items) => {
                let mut result = Some(false);
                for item in items {
                    match item.truth(feature) {
                        Some(true) => return Some(true),
                        None => result = None,
                        Some(false) => {}
                    }
                }
                result
            }
            Self::Not(inner) => inner.truth(feature).map(|b| !b),
            Self::Bool(b) => Some(*b),
            Self::Compare { left, op, right } => compare(&left.value(feature), *op, &right.value(feature)),
            Self::Like { operand, pattern, negated } => {
                let value = operand.value(feature);
                let pattern = pattern.value(feature);
                let (Some(text), Some(pattern)) = (text_form(&value), text_form(&pattern)) else {
                    return None;
                };
                Some(like_matches(&text, &pattern) != *negated)
            }
            Self::Between { operand, low, high, negated } => {
                let value = operand.value(feature);
                let above = compare(&value, CompareOp::Ge, &low.value(feature));
                let below = compare(&value, CompareOp::Le, &high.value(feature));
                let inside = match (above, below) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                };
                inside.map(|b| b != *negated)
            }
            Self::In { operand, list, negated } => {
                let value = operand.value(feature);
                // SQL: true on any match, else unknown if any comparison was unknown.
                let mut found = Some(false);
                for item in list {
                    match compare(&value, CompareOp::Eq, &item.value(feature)) {
                        Some(true) => {
                            found = Some(true);
                            break;
                        }
                        None => found = None,
                        Some(false) => {}
                    }
                }
                found.map(|b| b != *negated)
            }
            Self::IsNull { operand, negated } => Some((*operand.value(feature) == Value::Null) != *negated),
            Self::Intersects { geometry, .. } => feature.geometry().map(|g| g.intersects(geometry)),
        }
    }
}

impl Operand {
    /// The operand's value for `feature` (a missing property is [`Value::Null`]).
    fn value(&self, feature: &dyn FeatureView) -> Cow<'_, Value> {
        match self {
            Self::Property(name) => Cow::Owned(feature.property(name).unwrap_or(Value::Null)),
            Self::Literal(value) => Cow::Borrowed(value),
            Self::CaseI(inner) => match inner.value(feature) {
                Cow::Borrowed(Value::Text(s)) => Cow::Owned(Value::Text(s.to_lowercase())),
                Cow::Owned(Value::Text(s)) => Cow::Owned(Value::Text(s.to_lowercase())),
                other => other,
            },
        }
    }
}

/// How two values relate for a comparison operator.
enum Relation {
    /// Both are ordered on a common scale.
    Ordered(Ordering),
    /// Only equality is meaningful (mixed kinds compared as text, booleans).
    Unordered { equal: bool },
    /// A null, or a NaN, is involved.
    Unknown,
}

fn compare(a: &Value, op: CompareOp, b: &Value) -> Option<bool> {
    match relate(a, b) {
        Relation::Ordered(ordering) => Some(match op {
            CompareOp::Eq => ordering.is_eq(),
            CompareOp::Ne => ordering.is_ne(),
            CompareOp::Lt => ordering.is_lt(),
            CompareOp::Gt => ordering.is_gt(),
            CompareOp::Le => ordering.is_le(),
            CompareOp::Ge => ordering.is_ge(),
        }),
        Relation::Unordered { equal } => match op {
            CompareOp::Eq => Some(equal),
            CompareOp::Ne => Some(!equal),
            _ => None,
        },
        Relation::Unknown => None,
    }
}

fn relate(a: &Value, b: &Value) -> Relation {
    use Value::{Bool, Float, Int, Null, Text};
    let numeric = |a: &Value, b: &Value| match numeric_cmp(a, b) {
        Some(ordering) => Relation::Ordered(ordering),
        None => Relation::Unknown,
    };
    match (a, b) {
        (Null, _) | (_, Null) => Relation::Unknown,
        (Int(_) | Float(_), Int(_) | Float(_)) => numeric(a, b),
        (Text(x), Text(y)) => Relation::Ordered(x.cmp(y)),
        (Int(_) | Float(_), Text(t)) => match parse_number_text(t) {
            Some(n) => numeric(a, &n),
            None => Relation::Unordered { equal: text_form(a).as_deref() == Some(t.as_str()) },
        },
        (Text(t), Int(_) | Float(_)) => match parse_number_text(t) {
            Some(n) => numeric(&n, b),
            None => Relation::Unordered { equal: text_form(b).as_deref() == Some(t.as_str()) },
        },
        (Bool(x), Bool(y)) => Relation::Unordered { equal: x == y },
        // A boolean stored as text ("TRUE", "false") equals the boolean.
        (Bool(x), Text(t)) | (Text(t), Bool(x)) => {
            Relation::Unordered { equal: t.eq_ignore_ascii_case(if *x { "true" } else { "false" }) }
        }
        (Bool(_), Int(_) | Float(_)) | (Int(_) | Float(_), Bool(_)) => Relation::Unordered { equal: false },
    }
}

/// The text a value is compared as against non-numeric text and matched as by `LIKE`.
fn text_form(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Int(i) => Some(Cow::Owned(i.to_string())),
        Value::Float(x) => Some(Cow::Owned(x.to_string())),
        Value::Text(s) => Some(Cow::Borrowed(s)),
    }
}

/// Exact numeric order of two numbers (`Int`/`Float`); `None` for non-numbers and NaN.
pub(crate) fn numeric_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Int(x), Value::Float(y)) => int_float_cmp(*x, *y),
        (Value::Float(x), Value::Int(y)) => int_float_cmp(*y, *x).map(Ordering::reverse),
        _ => None,
    }
}

/// Compares an integer with a float without rounding the integer to `f64` first: rounding
/// would make `2^53 + 1` equal to `2^53` as a float but not as an integer, and an order that
/// is not transitive makes `sort_by` panic.
fn int_float_cmp(i: i64, x: f64) -> Option<Ordering> {
    // 2^63, exactly representable; every f64 in [-2^63, 2^63) truncates to a valid i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if x.is_nan() {
        return None;
    }
    if x >= LIMIT {
        return Some(Ordering::Less);
    }
    if x < -LIMIT {
        return Some(Ordering::Greater);
    }
    let whole = x.trunc();
    #[expect(clippy::cast_possible_truncation, reason = "whole is integral and within i64 range")]
    let whole_int = whole as i64;
    Some(i.cmp(&whole_int).then_with(|| fraction_order(x - whole)))
}

/// How an integer equal to `trunc(x)` compares with `x`, given `x`'s fractional part.
fn fraction_order(fraction: f64) -> Ordering {
    if fraction > 0.0 {
        Ordering::Less
    } else if fraction < 0.0 {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// One element of a compiled `LIKE` pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PatternItem {
    /// `%`: any run of characters, possibly empty.
    AnyRun,
    /// `_`: exactly one character.
    AnyOne,
    /// A character matched as is (possibly escaped with `\`).
    Literal(char),
}

fn compile_pattern(pattern: &str) -> Vec<PatternItem> {
    let mut items = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        items.push(match c {
            '%' => PatternItem::AnyRun,
            '_' => PatternItem::AnyOne,
            // The parser rejects a trailing `\`; a hand-built one matches itself.
            '\\' => PatternItem::Literal(chars.next().unwrap_or('\\')),
            c => PatternItem::Literal(c),
        });
    }
    items
}

/// Whether `text` matches the SQL `LIKE` pattern; iterative wildcard matching with one
/// backtracking point (the last `%`), O(n·m) at worst, no recursion.
pub(crate) fn like_matches(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern = compile_pattern(pattern);
    let (mut t, mut p) = (0, 0);
    // Where the last `%` was, and the text position it currently stands for the end of.
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(PatternItem::AnyOne) => {
                t += 1;
                p += 1;
            }
            Some(PatternItem::Literal(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(PatternItem::AnyRun) => {
                backtrack = Some((p, t));
                p += 1;
            }
            _ => match backtrack {
                Some((run, consumed)) => {
                    // Let the last `%` swallow one more character and retry after it.
                    backtrack = Some((run, consumed + 1));
                    p = run + 1;
                    t = consumed + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|item| *item == PatternItem::AnyRun)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards() {
        let cases = [
            ("", "", true),
            ("", "%", true),
            ("", "_", false),
            ("abc", "abc", true),
            ("abc", "ab", false),
            ("abc", "a%", true),
            ("abc", "%c", true),
            ("abc", "%b%", true),
            ("abc", "a_c", true),
            ("abc", "a__c", false),
            ("abc", "%%%", true),
            ("aXbXc", "a%b%c", true),
            ("mississippi", "%iss%ppi", true),
            ("mississippi", "m%iss%iss%", true),
            ("mississippi", "m%iss%iss%iss%", false),
            ("100%", "100\\%", true),
            ("1000", "100\\%", false),
            ("a_b", "a\\_b", true),
            ("axb", "a\\_b", false),
            ("a\\b", "a\\\\b", true),
            ("万科城市花园", "%城市%", true),
            ("万科城市花园", "万科____", true),
            ("万科城市花园", "万科___", false),
        ];
        for (text, pattern, expected) in cases {
            assert_eq!(like_matches(text, pattern), expected, "{text:?} LIKE {pattern:?}");
        }
    }

    #[test]
    fn int_float_order_is_exact() {
        let big = 1_i64 << 53;
        assert_eq!(int_float_cmp(big + 1, 9_007_199_254_740_992.0), Some(Ordering::Greater));
        assert_eq!(int_float_cmp(big, 9_007_199_254_740_992.0), Some(Ordering::Equal));
        assert_eq!(int_float_cmp(2, 2.5), Some(Ordering::Less));
        assert_eq!(int_float_cmp(-2, -2.5), Some(Ordering::Greater));
        assert_eq!(int_float_cmp(0, -0.0), Some(Ordering::Equal));
        assert_eq!(int_float_cmp(i64::MAX, 9.3e18), Some(Ordering::Less));
        assert_eq!(int_float_cmp(i64::MIN, -9.3e18), Some(Ordering::Greater));
        assert_eq!(int_float_cmp(i64::MIN, -9_223_372_036_854_775_808.0), Some(Ordering::Equal));
        assert_eq!(int_float_cmp(1, f64::INFINITY), Some(Ordering::Less));
        assert_eq!(int_float_cmp(1, f64::NAN), None);
    }

    #[test]
    fn mixed_kinds() {
        let t = |s: &str| Value::Text(s.to_owned());
        assert_eq!(compare(&Value::Int(12), CompareOp::Eq, &t("12.0")), Some(true));
        assert_eq!(compare(&Value::Int(12), CompareOp::Lt, &t("9")), Some(false));
        assert_eq!(compare(&t("9"), CompareOp::Lt, &t("12")), Some(false), "text vs text is lexicographic");
        assert_eq!(compare(&Value::Int(12), CompareOp::Eq, &t("abc")), Some(false));
        assert_eq!(compare(&Value::Int(12), CompareOp::Ne, &t("abc")), Some(true));
        assert_eq!(compare(&Value::Int(12), CompareOp::Lt, &t("abc")), None);
        assert_eq!(compare(&Value::Bool(true), CompareOp::Eq, &t("TRUE")), Some(true));
        assert_eq!(compare(&Value::Bool(true), CompareOp::Gt, &Value::Bool(false)), None);
        assert_eq!(compare(&Value::Null, CompareOp::Eq, &Value::Null), None);
        assert_eq!(compare(&Value::Float(f64::NAN), CompareOp::Ne, &Value::Int(1)), None);
    }
}
