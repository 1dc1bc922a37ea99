//! The CQL2 syntax tree, its canonical CQL2-text printing and its static questions (which
//! properties it reads, which area it is confined to).

use std::collections::BTreeSet;
use std::fmt;

use geo::{BoundingRect, Coord, Geometry, LineString, Polygon, Rect};

use super::lexer::{is_identifier_part, is_identifier_start};
use super::Value;

/// A parsed CQL2 filter.
///
/// `Display` prints canonical CQL2-text (upper-case keywords, single spaces, parentheses only
/// where precedence needs them) that [`super::parse_cql2_text`] reads back to an equal `Expr`
/// for every expression the parser produces. Hand-built expressions print too, but `NULL`
/// literals, empty `IN` lists and empty geometries print as text the parser rejects.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All of the items hold (`a AND b AND c`); empty is `TRUE`.
    And(Vec<Expr>),
    /// Any of the items holds (`a OR b OR c`); empty is `FALSE`.
    Or(Vec<Expr>),
    /// The item does not hold (unknown stays unknown).
    Not(Box<Expr>),
    /// `TRUE` or `FALSE` on its own.
    Bool(bool),
    /// `left op right`.
    Compare {
        /// Left-hand side.
        left: Operand,
        /// The comparison.
        op: CompareOp,
        /// Right-hand side.
        right: Operand,
    },
    /// `operand [NOT] LIKE pattern`, where the pattern is a text literal, possibly in `CASEI`.
    Like {
        /// The value matched.
        operand: Operand,
        /// `%` matches any run of characters, `_` exactly one, `\` escapes the next character.
        pattern: Operand,
        /// `NOT LIKE`.
        negated: bool,
    },
    /// `operand [NOT] BETWEEN low AND high` (both ends included).
    Between {
        /// The value tested.
        operand: Operand,
        /// Lower bound, included.
        low: Operand,
        /// Upper bound, included.
        high: Operand,
        /// `NOT BETWEEN`.
        negated: bool,
    },
    /// `operand [NOT] IN (list…)`.
    In {
        /// The value tested.
        operand: Operand,
        /// The candidates, compared with `=`.
        list: Vec<Operand>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `operand IS [NOT] NULL`.
    IsNull {
        /// The value tested.
        operand: Operand,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `S_INTERSECTS(property, geometry)`: the feature's geometry intersects the literal.
    Intersects {
        /// The geometry property named in the filter (checked against queryables; evaluation
        /// reads [`super::FeatureView::geometry`]).
        property: String,
        /// The literal, in the CRS of the feature geometries.
        geometry: Geometry<f64>,
    },
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// The value of a feature property.
    Property(String),
    /// A literal.
    Literal(Value),
    /// `CASEI(…)`: text lower-cased (full Unicode lower-casing), other values unchanged.
    CaseI(Box<Operand>),
}

/// A binary comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
}

impl CompareOp {
    /// The CQL2-text spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "<>",
            Self::Lt => "<",
            Self::Gt => ">",
            Self::Le => "<=",
            Self::Ge => ">=",
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Words the parser never reads as a bare property name.
const RESERVED: &[&str] = &["AND", "OR", "NOT", "LIKE", "BETWEEN", "IN", "IS", "NULL", "TRUE", "FALSE"];

/// Whether `word` is reserved (ASCII case-insensitive): a property of that name must be quoted.
pub(crate) fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Words printed quoted as property names: reserved words plus function and geometry names,
/// which read as properties only in some positions.
const KEYWORDS: &[&str] = &[
    "AND",
    "OR",
    "NOT",
    "LIKE",
    "BETWEEN",
    "IN",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
    "CASEI",
    "ACCENTI",
    "S_INTERSECTS",
    "BBOX",
    "ENVELOPE",
    "POINT",
    "LINESTRING",
    "POLYGON",
    "MULTIPOINT",
    "MULTILINESTRING",
    "MULTIPOLYGON",
    "GEOMETRYCOLLECTION",
    "Z",
    "EMPTY",
    "DATE",
    "TIMESTAMP",
    "INTERVAL",
];

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Writes a property name bare when it reads back as the same name, else double-quoted.
pub(crate) fn write_property(f: &mut dyn fmt::Write, name: &str) -> fmt::Result {
    let mut chars = name.chars();
    let bare =
        chars.next().is_some_and(is_identifier_start) && chars.all(is_identifier_part) && !is_keyword(name);
    if bare {
        f.write_str(name)
    } else {
        write!(f, "\"{}\"", name.replace('"', "\"\""))
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Property(name) => write_property(f, name),
            Self::Literal(value) => write!(f, "{value}"),
            Self::CaseI(inner) => write!(f, "CASEI({inner})"),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let not = |negated: bool| if negated { "NOT " } else { "" };
        match self {
            Self::And(items) => write_chain(f, items, "AND", |e| matches!(e, Self::And(_) | Self::Or(_))),
            // An AND inside an OR needs no parentheses: AND binds tighter.
            Self::Or(items) => write_chain(f, items, "OR", |e| matches!(e, Self::Or(_))),
            Self::Not(inner) => match **inner {
                Self::And(_) | Self::Or(_) => write!(f, "NOT ({inner})"),
                _ => write!(f, "NOT {inner}"),
            },
            Self::Bool(true) => f.write_str("TRUE"),
            Self::Bool(false) => f.write_str("FALSE"),
            Self::Compare { left, op, right } => write!(f, "{left} {op} {right}"),
            Self::Like { operand, pattern, negated } => {
                write!(f, "{operand} {}LIKE {pattern}", not(*negated))
            }
            Self::Between { operand, low, high, negated } => {
                write!(f, "{operand} {}BETWEEN {low} AND {high}", not(*negated))
            }
            Self::In { operand, list, negated } => {
                write!(f, "{operand} {}IN (", not(*negated))?;
                for (i, item) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str(")")
            }
            Self::IsNull { operand, negated } => write!(f, "{operand} IS {}NULL", not(*negated)),
            Self::Intersects { property, geometry } => {
                f.write_str("S_INTERSECTS(")?;
                write_property(f, property)?;
                f.write_str(", ")?;
                write_geometry(f, geometry)?;
                f.write_str(")")
            }
        }
    }
}

fn write_chain(
    f: &mut fmt::Formatter<'_>,
    items: &[Expr],
    keyword: &str,
    needs_parens: impl Fn(&Expr) -> bool,
) -> fmt::Result {
    match items {
        [] => f.write_str(if keyword == "AND" { "TRUE" } else { "FALSE" }),
        [only] => write!(f, "{only}"),
        _ => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, " {keyword} ")?;
                }
                if needs_parens(item) {
                    write!(f, "({item})")?;
                } else {
                    write!(f, "{item}")?;
                }
            }
            Ok(())
        }
    }
}

/// A coordinate that reads back to the same `f64`: integral values plainly, others in the
/// shortest round-tripping form (with an exponent when that is shorter).
fn write_ordinate(f: &mut dyn fmt::Write, x: f64) -> fmt::Result {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        write!(f, "{x}")
    } else {
        write!(f, "{x:?}")
    }
}

fn write_coords(f: &mut dyn fmt::Write, coords: impl IntoIterator<Item = Coord<f64>>) -> fmt::Result {
    f.write_char('(')?;
    for (i, c) in coords.into_iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_ordinate(f, c.x)?;
        f.write_char(' ')?;
        write_ordinate(f, c.y)?;
    }
    f.write_char(')')
}

fn write_rings(f: &mut dyn fmt::Write, polygon: &Polygon<f64>) -> fmt::Result {
    f.write_char('(')?;
    write_coords(f, polygon.exterior().coords().copied())?;
    for ring in polygon.interiors() {
        f.write_str(", ")?;
        write_coords(f, ring.coords().copied())?;
    }
    f.write_char(')')
}

fn write_list<T>(
    f: &mut dyn fmt::Write,
    items: &[T],
    mut each: impl FnMut(&mut dyn fmt::Write, &T) -> fmt::Result,
) -> fmt::Result {
    f.write_char('(')?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        each(f, item)?;
    }
    f.write_char(')')
}

/// Writes a geometry as CQL2 WKT (`BBOX` for rectangles).
pub(crate) fn write_geometry(f: &mut dyn fmt::Write, geometry: &Geometry<f64>) -> fmt::Result {
    match geometry {
        Geometry::Point(p) => {
            f.write_str("POINT")?;
            write_coords(f, [p.0])
        }
        Geometry::Line(l) => {
            f.write_str("LINESTRING")?;
            write_coords(f, [l.start, l.end])
        }
        Geometry::LineString(ls) => {
            f.write_str("LINESTRING")?;
            write_coords(f, ls.coords().copied())
        }
        Geometry::Polygon(p) => {
            f.write_str("POLYGON")?;
            write_rings(f, p)
        }
        Geometry::MultiPoint(mp) => {
            f.write_str("MULTIPOINT")?;
            write_list(f, &mp.0, |f, p| write_coords(f, [p.0]))
        }
        Geometry::MultiLineString(mls) => {
            f.write_str("MULTILINESTRING")?;
            write_list(f, &mls.0, |f, ls: &LineString<f64>| write_coords(f, ls.coords().copied()))
        }
        Geometry::MultiPolygon(mp) => {
            f.write_str("MULTIPOLYGON")?;
            write_list(f, &mp.0, |f, p| write_rings(f, p))
        }
        Geometry::GeometryCollection(gc) => {
            f.write_str("GEOMETRYCOLLECTION")?;
            write_list(f, &gc.0, |f, g| write_geometry(f, g))
        }
        Geometry::Rect(r) => {
            f.write_str("BBOX(")?;
            for (i, x) in [r.min().x, r.min().y, r.max().x, r.max().y].into_iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_ordinate(f, x)?;
            }
            f.write_char(')')
        }
        Geometry::Triangle(t) => {
            f.write_str("POLYGON(")?;
            write_coords(f, [t.v1(), t.v2(), t.v3(), t.v1()])?;
            f.write_char(')')
        }
    }
}

impl Operand {
    fn collect_properties(&self, names: &mut BTreeSet<String>) {
        match self {
            Self::Property(name) => {
                names.insert(name.clone());
            }
            Self::Literal(_) => {}
            Self::CaseI(inner) => inner.collect_properties(names),
        }
    }
}

impl Expr {
    /// Every property the filter reads, geometry properties of `S_INTERSECTS` included, for
    /// checking against the collection's queryables (an unknown one is a 400).
    ///
    /// # Examples
    /// ```
    /// let filter = gapmap::filter::parse_cql2_text(
    ///     "\"名称\" LIKE '%苑' AND S_INTERSECTS(geom, BBOX(0, 0, 1, 1))")?;
    /// let names: Vec<String> = filter.property_names().into_iter().collect();
    /// assert_eq!(names, ["geom", "名称"]);
    /// # Ok::<(), gapmap::filter::FilterError>(())
    /// ```
    #[must_use]
    pub fn property_names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        self.collect_properties(&mut names);
        names
    }

    /// The properties named as geometries in `S_INTERSECTS` (a subset of
    /// [`Expr::property_names`]), so the service can insist they name its geometry property:
    /// evaluation always uses [`super::FeatureView::geometry`], whatever the name.
    ///
    /// # Examples
    /// ```
    /// let filter = gapmap::filter::parse_cql2_text("S_INTERSECTS(id, POINT(0 0)) OR id = 1")?;
    /// assert_eq!(filter.geometry_property_names().into_iter().collect::<Vec<_>>(), ["id"]);
    /// # Ok::<(), gapmap::filter::FilterError>(())
    /// ```
    #[must_use]
    pub fn geometry_property_names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        self.collect_geometry_properties(&mut names);
        names
    }

    fn collect_geometry_properties(&self, names: &mut BTreeSet<String>) {
        match self {
            Self::And(items) | Self::Or(items) => {
                for item in items {
                    item.collect_geometry_properties(names);
                }
            }
            Self::Not(inner) => inner.collect_geometry_properties(names),
            Self::Intersects { property, .. } => {
                names.insert(property.clone());
            }
            _ => {}
        }
    }

    fn collect_properties(&self, names: &mut BTreeSet<String>) {
        match self {
            Self::And(items) | Self::Or(items) => {
                for item in items {
                    item.collect_properties(names);
                }
            }
            Self::Not(inner) => inner.collect_properties(names),
            Self::Bool(_) => {}
            Self::Compare { left, right, .. } => {
                left.collect_properties(names);
                right.collect_properties(names);
            }
            Self::Like { operand, pattern, .. } => {
                operand.collect_properties(names);
                pattern.collect_properties(names);
            }
            Self::Between { operand, low, high, .. } => {
                for o in [operand, low, high] {
                    o.collect_properties(names);
                }
            }
            Self::In { operand, list, .. } => {
                operand.collect_properties(names);
                for o in list {
                    o.collect_properties(names);
                }
            }
            Self::IsNull { operand, .. } => operand.collect_properties(names),
            Self::Intersects { property, .. } => {
                names.insert(property.clone());
            }
        }
    }

    /// A rectangle that every feature matching the filter intersects, when the filter implies
    /// one: `S_INTERSECTS` gives its literal's bounding box, `AND` the smallest of its items'
    /// boxes, `OR` the union of its items' boxes if every item has one. `None` otherwise
    /// (including under `NOT`): then every feature is a candidate.
    ///
    /// Use it to prefilter with an R-tree over feature envelopes, then [`Expr::evaluate`] the
    /// candidates. `AND` does not intersect its items' boxes: a feature can touch two disjoint
    /// boxes, so only one item's box is a safe bound.
    ///
    /// # Examples
    /// ```
    /// use gapmap::filter::parse_cql2_text;
    /// let filter = parse_cql2_text("households > 100 AND S_INTERSECTS(geom, BBOX(0, 0, 10, 5))")?;
    /// assert_eq!(filter.spatial_bounds(), Some(geo::Rect::new((0., 0.), (10., 5.))));
    /// assert_eq!(parse_cql2_text("NOT S_INTERSECTS(geom, POINT(1 2))")?.spatial_bounds(), None);
    /// # Ok::<(), gapmap::filter::FilterError>(())
    /// ```
    #[must_use]
    pub fn spatial_bounds(&self) -> Option<Rect<f64>> {
        match self {
            Self::Intersects { geometry, .. } => geometry.bounding_rect(),
            Self::And(items) => {
                items.iter().filter_map(Self::spatial_bounds).min_by(|a, b| area(a).total_cmp(&area(b)))
            }
            Self::Or(items) if !items.is_empty() => {
                items.iter().map(Self::spatial_bounds).reduce(|a, b| Some(union(a?, b?))).flatten()
            }
            _ => None,
        }
    }
}

fn area(r: &Rect<f64>) -> f64 {
    r.width() * r.height()
}

fn union(a: Rect<f64>, b: Rect<f64>) -> Rect<f64> {
    Rect::new(
        Coord { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
        Coord { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
    )
}
