//! `sortby` (OGC API – Features Part 8 style): parsing and a total order over values.

use std::cmp::Ordering;

use super::eval::numeric_cmp;
use super::{check_length, FeatureView, FilterError, Value};

/// One `sortby` key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortKey {
    /// The property to sort on.
    pub property: String,
    /// `-property`: largest first (nulls still last).
    pub descending: bool,
}

/// Parses a `sortby` value: comma-separated property names, each optionally prefixed by `+`
/// (ascending, the default) or `-` (descending).
///
/// Whitespace around items and after the sign is ignored, because a `+` in a query string
/// decodes to a space (`sortby=+name` arrives as `" name"`). A name is either bare (any
/// characters but whitespace, `,`, `"` and `'`; Unicode welcome) or double-quoted with `""`
/// for a quote (then commas and spaces are fine).
///
/// # Errors
/// [`FilterError::TooLong`] past [`super::MAX_FILTER_BYTES`]; [`FilterError::Syntax`] for an
/// empty text or item, a bad name, or a property listed twice.
///
/// # Examples
/// ```
/// use gapmap::filter::{parse_sortby, SortKey};
/// let keys = parse_sortby("name,-households, +id")?;
/// assert_eq!(keys[1], SortKey { property: "households".into(), descending: true });
/// assert_eq!(keys.len(), 3);
/// assert_eq!(
///     parse_sortby("name,,id").unwrap_err().to_string(),
///     "expected a property name after `,` at position 5"
/// );
/// # Ok::<(), gapmap::filter::FilterError>(())
/// ```
pub fn parse_sortby(text: &str) -> Result<Vec<SortKey>, FilterError> {
    check_length(text)?;
    let chars: Vec<char> = text.chars().collect();
    let mut keys: Vec<SortKey> = Vec::new();
    let mut i = 0;
    loop {
        skip_whitespace(&chars, &mut i);
        let descending = chars.get(i) == Some(&'-');
        if matches!(chars.get(i), Some('-' | '+')) {
            i += 1;
            skip_whitespace(&chars, &mut i);
        }
        let start = i;
        let property = if chars.get(i) == Some(&'"') {
            read_quoted(&chars, &mut i)?
        } else {
            while i < chars.len() && !is_name_stop(chars[i]) {
                i += 1;
            }
            chars[start..i].iter().collect()
        };
        if property.is_empty() {
            let what = match start.checked_sub(1).map(|p| chars[p]) {
                Some(c) if !c.is_whitespace() => format!("expected a property name after `{c}`"),
                _ => "expected a property name".to_owned(),
            };
            return Err(FilterError::syntax(start, what));
        }
        if keys.iter().any(|k| k.property == property) {
            return Err(FilterError::syntax(
                start,
                format_args!("property `{property}` is listed twice in sortby"),
            ));
        }
        keys.push(SortKey { property, descending });
        skip_whitespace(&chars, &mut i);
        match chars.get(i) {
            None => return Ok(keys),
            Some(',') => i += 1,
            Some(c) => {
                return Err(FilterError::syntax(
                    i,
                    format_args!("expected `,` or the end of sortby, found `{c}`"),
                ))
            }
        }
    }
}

fn skip_whitespace(chars: &[char], i: &mut usize) {
    while chars.get(*i).is_some_and(|c| c.is_whitespace()) {
        *i += 1;
    }
}

fn is_name_stop(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '"' | '\'')
}

/// Reads `"…"` with `""` for a quote, starting at the opening quote.
fn read_quoted(chars: &[char], i: &mut usize) -> Result<String, FilterError> {
    let start = *i;
    let mut name = String::new();
    *i += 1;
    loop {
        match chars.get(*i) {
            None => {
                return Err(FilterError::syntax(start, "unterminated property name: expected a closing `\"`"))
            }
            Some('"') if chars.get(*i + 1) == Some(&'"') => {
                name.push('"');
                *i += 2;
            }
            Some('"') => {
                *i += 1;
                return Ok(name);
            }
            Some(&c) => {
                name.push(c);
                *i += 1;
            }
        }
    }
}

/// A total order over property values for sorting: booleans (false first), then numbers
/// (numerically; an `Int` and a `Float` by exact value; NaN after every number), then text
/// (lexicographic by Unicode scalar value), then nulls and missing values last.
///
/// Kinds are never mixed (text that looks like a number still sorts as text) so that the order
/// stays transitive, which `sort_by` requires.
///
/// # Examples
/// ```
/// use gapmap::filter::{compare_values, Value};
/// use std::cmp::Ordering;
/// assert_eq!(compare_values(&Some(Value::Int(2)), &Some(Value::Float(10.5))), Ordering::Less);
/// assert_eq!(compare_values(&None, &Some(Value::Int(2))), Ordering::Greater);
/// assert_eq!(compare_values(&Some(Value::Null), &None), Ordering::Equal);
/// ```
#[must_use]
pub fn compare_values(a: &Option<Value>, b: &Option<Value>) -> Ordering {
    compare_present(a.as_ref(), b.as_ref())
}

fn compare_present(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(value: Option<&Value>) -> u8 {
        match value {
            Some(Value::Bool(_)) => 0,
            Some(Value::Int(_) | Value::Float(_)) => 1,
            Some(Value::Text(_)) => 2,
            None | Some(Value::Null) => 3,
        }
    }
    match (a, b) {
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::Text(x)), Some(Value::Text(y))) => x.cmp(y),
        (Some(x @ (Value::Int(_) | Value::Float(_))), Some(y @ (Value::Int(_) | Value::Float(_)))) => {
            numeric_cmp(x, y).unwrap_or_else(|| is_nan(x).cmp(&is_nan(y)))
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

fn is_nan(value: &Value) -> bool {
    matches!(value, Value::Float(x) if x.is_nan())
}

/// Orders two features by `keys` in turn: each key ascending or descending by
/// [`compare_values`], with nulls and missing values last in both directions.
///
/// # Examples
/// ```
/// use gapmap::filter::{compare_features, parse_sortby, FeatureView, Value};
/// struct Row(Option<i64>);
/// impl FeatureView for Row {
///     fn property(&self, _: &str) -> Option<Value> { self.0.map(Value::Int) }
///     fn geometry(&self) -> Option<&geo::Geometry<f64>> { None }
/// }
/// let keys = parse_sortby("-households")?;
/// let mut rows = vec![Row(Some(1)), Row(None), Row(Some(3))];
/// rows.sort_by(|a, b| compare_features(&keys, a, b));
/// assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [Some(3), Some(1), None]);
/// # Ok::<(), gapmap::filter::FilterError>(())
/// ```
#[must_use]
pub fn compare_features(keys: &[SortKey], a: &dyn FeatureView, b: &dyn FeatureView) -> Ordering {
    for key in keys {
        let x = a.property(&key.property).filter(|v| *v != Value::Null);
        let y = b.property(&key.property).filter(|v| *v != Value::Null);
        let ordering = match (&x, &y) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(_), Some(_)) if key.descending => compare_present(x.as_ref(), y.as_ref()).reverse(),
            (Some(_), Some(_)) => compare_present(x.as_ref(), y.as_ref()),
        };
        if ordering.is_ne() {
            return ordering;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sortby_items() {
        let key = |p: &str, d| SortKey { property: p.to_owned(), descending: d };
        assert_eq!(
            parse_sortby(r#" name , - households,"名, ""x""",名称"#).expect("valid"),
            vec![key("name", false), key("households", true), key("名, \"x\"", false), key("名称", false)]
        );
    }

    #[test]
    fn sortby_errors() {
        let err = |t: &str| parse_sortby(t).expect_err("invalid");
        assert_eq!(err("").position(), Some(0));
        assert_eq!(err("name,").to_string(), "expected a property name after `,` at position 5");
        assert_eq!(err("-").to_string(), "expected a property name after `-` at position 1");
        assert_eq!(err("a b").to_string(), "expected `,` or the end of sortby, found `b` at position 2");
        assert_eq!(err("a,-a").to_string(), "property `a` is listed twice in sortby at position 3");
        assert_eq!(err("\"abc").position(), Some(0));
    }

    #[test]
    fn value_order_is_total() {
        let values = [
            None,
            Some(Value::Null),
            Some(Value::Bool(true)),
            Some(Value::Bool(false)),
            Some(Value::Int(3)),
            Some(Value::Float(2.5)),
            Some(Value::Float(f64::NAN)),
            Some(Value::Float(-0.0)),
            Some(Value::Int(0)),
            Some(Value::Text("b".into())),
            Some(Value::Text("a".into())),
        ];
        // Antisymmetric and transitive over every triple.
        for a in &values {
            for b in &values {
                assert_eq!(compare_values(a, b), compare_values(b, a).reverse());
                for c in &values {
                    if compare_values(a, b).is_le() && compare_values(b, c).is_le() {
                        assert!(compare_values(a, c).is_le(), "{a:?} {b:?} {c:?}");
                    }
                }
            }
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(compare_values);
        assert_eq!(sorted[0], Some(Value::Bool(false)));
        assert_eq!(sorted[2..4].iter().filter(|v| **v == Some(Value::Int(0))).count(), 1);
        assert!(matches!(sorted[6], Some(Value::Float(x)) if x.is_nan()));
        assert_eq!(sorted[7], Some(Value::Text("a".into())));
        assert!(matches!(sorted[9..], [None | Some(Value::Null), None | Some(Value::Null)]));
    }
}
