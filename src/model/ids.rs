use std::cmp::Ordering;
use std::fmt;

/// A feature's id as the source file spells it: an integer or a string.
///
/// Integers sort numerically and before strings, so `2 < 10 < "A-1"`; this is the order of
/// every table gapmap writes.
///
/// # Examples
/// ```
/// use gapmap::model::FeatureId;
/// let mut ids = vec![FeatureId::from("b"), FeatureId::Int(10), FeatureId::Int(2)];
/// ids.sort();
/// assert_eq!(ids.iter().map(ToString::to_string).collect::<Vec<_>>(), ["2", "10", "b"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FeatureId {
    /// An integer id (GeoJSON number, OSM id, integer column).
    Int(i64),
    /// Any other id.
    Text(String),
}

impl FeatureId {
    /// Parses a textual id, keeping it an integer when it is one (`"0042"` stays text so that it
    /// round-trips unchanged).
    #[must_use]
    pub fn parse(text: &str) -> Self {
        match text.parse::<i64>() {
            Ok(n) if n.to_string() == text => Self::Int(n),
            _ => Self::Text(text.to_owned()),
        }
    }
}

impl From<&str> for FeatureId {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<i64> for FeatureId {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl Ord for FeatureId {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Int(a), Self::Int(b)) => a.cmp(b),
            (Self::Int(_), Self::Text(_)) => Ordering::Less,
            (Self::Text(_), Self::Int(_)) => Ordering::Greater,
            (Self::Text(a), Self::Text(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for FeatureId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for FeatureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::Text(s) => f.write_str(s),
        }
    }
}

/// Position of a facility kind in its [`Catalogue`](super::Catalogue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KindId(pub u16);

impl KindId {
    /// The kind's position as a slice index.
    #[must_use]
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}
