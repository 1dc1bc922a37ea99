use std::fmt;

/// A pass-through property value: whatever the source carried that gapmap does not interpret.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// An explicit null.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Text(String),
    /// An array or object, kept as its JSON text.
    Json(String),
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => Ok(()),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(n) => write!(f, "{n}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Text(s) | Self::Json(s) => f.write_str(s),
        }
    }
}

/// Extra properties in source order.
pub type Attributes = Vec<(String, AttrValue)>;
