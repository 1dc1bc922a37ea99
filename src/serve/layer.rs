//! Columnar layers: a collection's features kept once, their properties in typed columns.
//!
//! A [`Layer`] is [`Rows`] (ids, CRS84 geometries, bounding boxes, and an id map and R-tree
//! built on first use) plus [`Column`]s. Rows and columns are reference-counted, so the year
//! views of a dataset share the estates' rows and own properties and add only what a year
//! changes; a column is typed ([`ColumnData`]: numbers, integers, booleans, a dictionary of
//! repeated texts, a constant, a gather through another column, or values computed on demand
//! from a source such as a coverage table), never one value enum per cell unless its values are
//! mixed. GeoJSON is written from the columns per request ([`Layer::render`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use geo::{BoundingRect, Geometry, Intersects, Rect};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use crate::model::{AttrValue, Attributes, FeatureId};

/// Errors building or rendering a layer.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// More rows than a `u32` position can name.
    #[error("{0} features: more than a layer can index (u32::MAX)")]
    TooManyRows(usize),
    /// A column's length differs from the rows'.
    #[error("column {name}: {len} values for {rows} features")]
    ColumnLength {
        /// Column name.
        name: String,
        /// Its length.
        len: usize,
        /// The layer's rows.
        rows: usize,
    },
    /// Gathered rows that do not fit their source ([`Rows::gathered`]).
    #[error("gathered rows: {0}")]
    Gather(String),
    /// Writing GeoJSON failed (a non-finite coordinate).
    #[error("rendering GeoJSON: {0}")]
    Render(#[from] std::io::Error),
}

/// The type of a column, as advertised in queryables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// JSON integers only.
    Integer,
    /// Any JSON number.
    Number,
    /// `true` / `false`.
    Boolean,
    /// Strings (and anything else, as text).
    String,
}

impl ColumnType {
    /// The JSON Schema type name.
    #[must_use]
    pub fn json_type(self) -> &'static str {
        match self {
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::String => "string",
        }
    }

    /// The type of one value; `None` for null.
    #[must_use]
    pub fn of(value: &AttrValue) -> Option<Self> {
        match value {
            AttrValue::Null => None,
            AttrValue::Bool(_) => Some(Self::Boolean),
            AttrValue::Int(_) => Some(Self::Integer),
            AttrValue::Float(_) => Some(Self::Number),
            AttrValue::Text(_) | AttrValue::Json(_) => Some(Self::String),
        }
    }

    /// The type of a column holding values of both types.
    #[must_use]
    pub fn merge(seen: Option<Self>, next: Option<Self>) -> Option<Self> {
        match (seen, next) {
            (None, t) | (t, None) => t,
            (Some(a), Some(b)) if a == b => Some(a),
            (Some(Self::Integer | Self::Number), Some(Self::Integer | Self::Number)) => Some(Self::Number),
            _ => Some(Self::String),
        }
    }
}

/// Values computed on demand, row by row, from data the layer does not own (a coverage table).
/// `field` picks one of the source's properties.
pub trait CellSource: Send + Sync + fmt::Debug {
    /// The value of property `field` for row `row`.
    fn value(&self, row: usize, field: usize) -> AttrValue;
    /// Bytes this source holds on the heap (for the memory figures in `/health`).
    fn heap_bytes(&self) -> usize;
}

/// A column's values.
#[derive(Debug)]
pub enum ColumnData {
    /// Values of mixed types (or JSON), one enum per row.
    Values(Vec<AttrValue>),
    /// Numbers; NaN is null (JSON has no NaN; the writer writes it as null anyway).
    Float(Vec<f64>),
    /// Integers, with nulls marked apart.
    Int {
        /// The integers (0 where null).
        values: Vec<i64>,
        /// Which rows are null; `None` when none is.
        nulls: Option<Vec<bool>>,
    },
    /// Booleans: 0 false, 1 true, 2 null.
    Bool(Vec<u8>),
    /// Texts from a small set: each row a code into `values`.
    Dict {
        /// The distinct values.
        values: Vec<AttrValue>,
        /// Per row, a position in `values`.
        codes: Vec<u32>,
    },
    /// One value for every row.
    Const(AttrValue),
    /// Row `i` is row `rows[i]` of `source` (a year's gaps take their estate's properties).
    Gather {
        /// The column gathered from.
        source: Arc<ColumnData>,
        /// Per row, the row of `source`.
        rows: Arc<[u32]>,
    },
    /// Row `i` is `source.value(i, field)`.
    Computed {
        /// What computes the values.
        source: Arc<dyn CellSource>,
        /// Which of its properties.
        field: usize,
    },
}

impl ColumnData {
    /// The value of row `row`.
    ///
    /// # Panics
    /// When `row` is out of range.
    #[must_use]
    pub fn get(&self, row: usize) -> Cow<'_, AttrValue> {
        match self {
            Self::Values(v) => Cow::Borrowed(&v[row]),
            Self::Float(v) => Cow::Owned(if v[row].is_nan() { AttrValue::Null } else { AttrValue::Float(v[row]) }),
            Self::Int { values, nulls } => Cow::Owned(if nulls.as_ref().is_some_and(|n| n[row]) { AttrValue::Null } else { AttrValue::Int(values[row]) }),
            Self::Bool(v) => Cow::Owned(match v[row] {
                0 => AttrValue::Bool(false),
                1 => AttrValue::Bool(true),
                _ => AttrValue::Null,
            }),
            Self::Dict { values, codes } => Cow::Borrowed(&values[codes[row] as usize]),
            Self::Const(v) => Cow::Borrowed(v),
            Self::Gather { source, rows } => source.get(rows[row] as usize),
            Self::Computed { source, field } => Cow::Owned(source.value(row, *field)),
        }
    }

    /// The most compact form of `values` that gives back each of them: typed when all non-null
    /// values share a type, a dictionary when texts repeat, a constant when all are equal.
    #[must_use]
    pub fn from_values(values: Vec<AttrValue>) -> Self {
        let Some(first) = values.first() else { return Self::Values(values) };
        if values.iter().all(|v| v == first) && !matches!(first, AttrValue::Float(x) if x.is_nan()) {
            return Self::Const(first.clone());
        }
        let kind = values.iter().fold(None, |t, v| match (t, ColumnType::of(v)) {
            (Some(None), _) => Some(None),
            (t, None) => t,
            (None, Some(k)) => Some(Some(k)),
            (Some(Some(a)), Some(b)) => Some(if a == b { Some(a) } else { None }),
        });
        match kind.flatten() {
            Some(ColumnType::Number) if values.iter().all(|v| !matches!(v, AttrValue::Float(x) if x.is_nan())) => {
                Self::Float(values.iter().map(|v| if let AttrValue::Float(x) = v { *x } else { f64::NAN }).collect())
            }
            Some(ColumnType::Integer) => {
                let nulls: Vec<bool> = values.iter().map(|v| matches!(v, AttrValue::Null)).collect();
                let values = values.iter().map(|v| if let AttrValue::Int(n) = v { *n } else { 0 }).collect();
                Self::Int { values, nulls: nulls.contains(&true).then_some(nulls) }
            }
            Some(ColumnType::Boolean) => Self::Bool(values.iter().map(|v| if let AttrValue::Bool(b) = v { u8::from(*b) } else { 2 }).collect()),
            Some(ColumnType::String) | None => Self::dictionary(values),
            Some(ColumnType::Number) => Self::Values(values),
        }
    }

    /// A dictionary when the values repeat enough to pay for it, else the values as they are.
    fn dictionary(values: Vec<AttrValue>) -> Self {
        let most = (values.len() / 4).max(16);
        // Texts, JSON and nulls only: numbers are not hashed (a float has no `Eq`).
        let mut seen: HashMap<(u8, &str), u32> = HashMap::new();
        let mut codes = Vec::with_capacity(values.len());
        let mut dict = Vec::new();
        for v in &values {
            let key = match v {
                AttrValue::Text(s) => (0, s.as_str()),
                AttrValue::Json(s) => (1, s.as_str()),
                AttrValue::Null => (2, ""),
                _ => return Self::Values(values),
            };
            let next = u32::try_from(seen.len()).unwrap_or(u32::MAX);
            let code = *seen.entry(key).or_insert_with(|| {
                dict.push(v.clone());
                next
            });
            if seen.len() > most {
                return Self::Values(values);
            }
            codes.push(code);
        }
        Self::Dict { values: dict, codes }
    }

    /// The advertised type of the column's values, for `rows` rows.
    #[must_use]
    pub fn column_type(&self, rows: usize) -> ColumnType {
        let scan = |values: &mut dyn Iterator<Item = AttrValue>| values.fold(None, |t, v| ColumnType::merge(t, ColumnType::of(&v)));
        let found = match self {
            Self::Values(v) => v.iter().fold(None, |t, v| ColumnType::merge(t, ColumnType::of(v))),
            Self::Float(_) => Some(ColumnType::Number),
            Self::Int { .. } => Some(ColumnType::Integer),
            Self::Bool(_) => Some(ColumnType::Boolean),
            Self::Dict { values, .. } => values.iter().fold(None, |t, v| ColumnType::merge(t, ColumnType::of(v))),
            Self::Const(v) => ColumnType::of(v),
            Self::Gather { .. } | Self::Computed { .. } => scan(&mut (0..rows).map(|i| self.get(i).into_owned())),
        };
        found.unwrap_or(ColumnType::String)
    }

    /// Heap bytes held by this column itself (a gathered or computed column's source counted
    /// where it is owned).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        let value_bytes = |v: &AttrValue| match v {
            AttrValue::Text(s) | AttrValue::Json(s) => s.capacity(),
            _ => 0,
        };
        match self {
            Self::Values(v) => v.capacity() * size_of::<AttrValue>() + v.iter().map(value_bytes).sum::<usize>(),
            Self::Float(v) => v.capacity() * 8,
            Self::Int { values, nulls } => values.capacity() * 8 + nulls.as_ref().map_or(0, Vec::capacity),
            Self::Bool(v) => v.capacity(),
            Self::Dict { values, codes } => values.iter().map(|v| size_of::<AttrValue>() + value_bytes(v)).sum::<usize>() + codes.capacity() * 4,
            Self::Const(v) => value_bytes(v),
            // Gathered positions are shared with the rows they gather for (counted there);
            // computed values are made on demand.
            Self::Gather { .. } | Self::Computed { .. } => 0,
        }
    }
}

/// A property every feature of a layer has (null where a feature has no value).
#[derive(Debug, Clone)]
pub struct Column {
    /// Property name.
    pub name: String,
    /// Type of its non-null values.
    pub kind: ColumnType,
    /// The values, one per row.
    pub data: Arc<ColumnData>,
}

impl Column {
    /// A column whose advertised type is read from its data.
    #[must_use]
    pub fn new(name: impl Into<String>, data: Arc<ColumnData>, rows: usize) -> Self {
        let kind = data.column_type(rows);
        Self { name: name.into(), kind, data }
    }

    /// A column with a known type (computed columns, whose type a scan would have to compute).
    #[must_use]
    pub fn typed(name: impl Into<String>, kind: ColumnType, data: Arc<ColumnData>) -> Self {
        Self { name: name.into(), kind, data }
    }
}

type BoxTree = RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>;

/// The features of a layer without their properties: ids, CRS84 geometries and boxes. Shared
/// by the layers that serve the same features (an estate's rows in every year).
///
/// Rows either hold their features, or are features of other rows again
/// ([`Rows::gathered`]: a year's gaps are its estates under other ids), holding only the
/// positions: 8 bytes a row instead of an id, a geometry pointer and a box (about 110), and no
/// index of their own, since spatial queries go through the source's.
pub struct Rows {
    kind: RowsKind,
    /// Bounding box of all features; empty geometries add nothing.
    pub extent: Option<Rect<f64>>,
    by_id: OnceLock<HashMap<String, u32>>,
    tree: OnceLock<BoxTree>,
}

enum RowsKind {
    Own {
        /// Feature ids, in serving order.
        ids: Vec<FeatureId>,
        /// Whether `ids` ascend (estates and facilities are served in id order): ids are then
        /// found by binary search, without a map of a string per row.
        ascending: bool,
        /// CRS84 geometries (shared with other layers: a gap has its estate's).
        geometries: Vec<Arc<Geometry<f64>>>,
        /// Bounding box of each geometry; `None` for an empty one, which has no position.
        bboxes: Vec<Option<Rect<f64>>>,
    },
    Gathered {
        source: Arc<Rows>,
        /// Per row, its row in `source`; ascending.
        from: Arc<[u32]>,
        /// Per row, the suffix of its id (a position in `suffixes`); ascending within a source row.
        codes: Arc<[u32]>,
        suffixes: Vec<String>,
    },
}

impl fmt::Debug for Rows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rows").field("len", &self.len()).field("gathered", &matches!(self.kind, RowsKind::Gathered { .. })).field("extent", &self.extent).finish_non_exhaustive()
    }
}

impl Rows {
    /// Rows from ids and geometries in serving order.
    ///
    /// # Errors
    /// [`LayerError::TooManyRows`] beyond `u32::MAX` features; [`LayerError::ColumnLength`]
    /// when there are not as many geometries as ids.
    pub fn new(ids: Vec<FeatureId>, geometries: Vec<Arc<Geometry<f64>>>) -> Result<Self, LayerError> {
        u32::try_from(ids.len()).map_err(|_| LayerError::TooManyRows(ids.len()))?;
        if geometries.len() != ids.len() {
            return Err(LayerError::ColumnLength { name: "geometry".into(), len: geometries.len(), rows: ids.len() });
        }
        let bboxes: Vec<Option<Rect<f64>>> = geometries.par_iter().map(|g| g.bounding_rect()).collect();
        let extent = extent_of(bboxes.iter().copied());
        let ascending = ids.windows(2).all(|w| w[0] < w[1]);
        Ok(Self { kind: RowsKind::Own { ids, ascending, geometries, bboxes }, extent, by_id: OnceLock::new(), tree: OnceLock::new() })
    }

    /// Rows that are features of `source` again: row `i` is row `from[i]` of `source` (its
    /// geometry and box), with the id `"{its id}:{suffixes[codes[i]]}"` (a gap is drawn as its
    /// estate, with the id `estate:kind`).
    ///
    /// # Errors
    /// [`LayerError::TooManyRows`]; [`LayerError::ColumnLength`] when `from` and `codes` differ
    /// in length; [`LayerError::Gather`] when a position is not a row of `source`, a code not a
    /// suffix, or the rows are not in ascending (`from`, `codes`) order, which the id lookup and
    /// the spatial queries rely on.
    pub fn gathered(source: Arc<Rows>, from: Arc<[u32]>, codes: Arc<[u32]>, suffixes: Vec<String>) -> Result<Self, LayerError> {
        if from.len() != codes.len() {
            return Err(LayerError::ColumnLength { name: "id suffix".into(), len: codes.len(), rows: from.len() });
        }
        u32::try_from(from.len()).map_err(|_| LayerError::TooManyRows(from.len()))?;
        if let Some(i) = from.iter().position(|&r| r as usize >= source.len()) {
            return Err(LayerError::Gather(format!("row {i} is row {} of {} source rows", from[i], source.len())));
        }
        if let Some(i) = codes.iter().position(|&c| c as usize >= suffixes.len()) {
            return Err(LayerError::Gather(format!("row {i} has id suffix {} of {}", codes[i], suffixes.len())));
        }
        if let Some(i) = (1..from.len()).find(|&i| (from[i - 1], codes[i - 1]) >= (from[i], codes[i])) {
            return Err(LayerError::Gather(format!("rows {} and {i} are not in ascending (source row, suffix) order", i - 1)));
        }
        let extent = extent_of(from.iter().map(|&r| source.bbox(r as usize)));
        Ok(Self { kind: RowsKind::Gathered { source, from, codes, suffixes }, extent, by_id: OnceLock::new(), tree: OnceLock::new() })
    }

    /// Number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.kind {
            RowsKind::Own { ids, .. } => ids.len(),
            RowsKind::Gathered { from, .. } => from.len(),
        }
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of row `i`.
    ///
    /// # Panics
    /// When `i` is out of range.
    #[must_use]
    pub fn id(&self, i: usize) -> Cow<'_, FeatureId> {
        match &self.kind {
            RowsKind::Own { ids, .. } => Cow::Borrowed(&ids[i]),
            RowsKind::Gathered { source, from, codes, suffixes } => Cow::Owned(FeatureId::Text(format!("{}:{}", source.id(from[i] as usize), suffixes[codes[i] as usize]))),
        }
    }

    /// The CRS84 geometry of row `i`.
    ///
    /// # Panics
    /// When `i` is out of range.
    #[must_use]
    pub fn geometry(&self, i: usize) -> &Arc<Geometry<f64>> {
        match &self.kind {
            RowsKind::Own { geometries, .. } => &geometries[i],
            RowsKind::Gathered { source, from, .. } => source.geometry(from[i] as usize),
        }
    }

    /// The bounding box of row `i`; `None` for an empty geometry.
    ///
    /// # Panics
    /// When `i` is out of range.
    #[must_use]
    pub fn bbox(&self, i: usize) -> Option<Rect<f64>> {
        match &self.kind {
            RowsKind::Own { bboxes, .. } => bboxes[i],
            RowsKind::Gathered { source, from, .. } => source.bbox(from[i] as usize),
        }
    }

    /// The geometries these rows hold, in order; empty for gathered rows.
    #[must_use]
    pub fn own_geometries(&self) -> &[Arc<Geometry<f64>>] {
        match &self.kind {
            RowsKind::Own { geometries, .. } => geometries,
            RowsKind::Gathered { .. } => &[],
        }
    }

    /// The position of the row with id `id` (as text).
    #[must_use]
    pub fn position(&self, id: &str) -> Option<usize> {
        match &self.kind {
            RowsKind::Own { ids, ascending: true, .. } => {
                // The id as a number or as a text; found only when it reads back the same.
                let found = |wanted: &FeatureId| ids.binary_search(wanted).ok().filter(|&i| ids[i].to_string() == id);
                id.parse::<i64>().ok().and_then(|n| found(&FeatureId::Int(n))).or_else(|| found(&FeatureId::Text(id.to_owned())))
            }
            RowsKind::Own { .. } => self.by_id().get(id).map(|&i| i as usize),
            RowsKind::Gathered { source, from, codes, suffixes } => suffixes.iter().enumerate().find_map(|(code, suffix)| {
                let prefix = id.strip_suffix(suffix.as_str())?.strip_suffix(':')?;
                let row = u32::try_from(source.position(prefix)?).ok()?;
                let code = u32::try_from(code).ok()?;
                let start = from.partition_point(|&r| r < row);
                let end = start + from[start..].partition_point(|&r| r == row);
                codes[start..end].binary_search(&code).ok().map(|i| start + i)
            }),
        }
    }

    fn by_id(&self) -> &HashMap<String, u32> {
        self.by_id.get_or_init(|| match &self.kind {
            RowsKind::Own { ids, ascending: false, .. } => ids.par_iter().enumerate().map(|(i, id)| (id.to_string(), u32::try_from(i).unwrap_or(u32::MAX))).collect(),
            RowsKind::Own { ascending: true, .. } | RowsKind::Gathered { .. } => HashMap::new(),
        })
    }

    fn tree(&self) -> &BoxTree {
        self.tree.get_or_init(|| {
            let boxes = (0..self.len())
                .filter_map(|i| self.bbox(i).map(|b| GeomWithData::new(Rectangle::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]), u32::try_from(i).unwrap_or(u32::MAX))))
                .collect();
            RTree::bulk_load(boxes)
        })
    }

    /// Positions of the rows whose geometry intersects `bbox` (CRS84), ascending. Gathered rows
    /// ask their source's index and take each hit's rows.
    ///
    /// # Complexity
    /// O(log n + k) for the R-tree; an exact test only for features whose box straddles the edge.
    #[must_use]
    pub fn intersecting(&self, bbox: Rect<f64>) -> Vec<u32> {
        if let RowsKind::Gathered { source, from, .. } = &self.kind {
            let mut hits = Vec::new();
            for row in source.intersecting(bbox) {
                let start = from.partition_point(|&r| r < row);
                let end = start + from[start..].partition_point(|&r| r == row);
                hits.extend((start..end).map(|i| u32::try_from(i).unwrap_or(u32::MAX)));
            }
            return hits;
        }
        let envelope = AABB::from_corners([bbox.min().x, bbox.min().y], [bbox.max().x, bbox.max().y]);
        let mut hits: Vec<u32> = self
            .tree()
            .locate_in_envelope_intersecting(&envelope)
            .filter(|entry| {
                let (lower, upper) = (entry.geom().lower(), entry.geom().upper());
                let inside = bbox.min().x <= lower[0] && bbox.min().y <= lower[1] && bbox.max().x >= upper[0] && bbox.max().y >= upper[1];
                inside || self.geometry(entry.data as usize).intersects(&bbox)
            })
            .map(|entry| entry.data)
            .collect();
        hits.sort_unstable();
        hits
    }

    /// Builds the id map and the R-tree now rather than on the first request that needs them
    /// (for gathered rows: their source's).
    pub fn index_now(&self) {
        match &self.kind {
            RowsKind::Own { ascending: true, .. } => {
                self.tree();
            }
            RowsKind::Own { .. } => {
                rayon::join(|| self.by_id(), || self.tree());
            }
            RowsKind::Gathered { source, .. } => source.index_now(),
        }
    }

    /// Heap bytes of the rows, their geometries counted once per row (shared ones too); gathered
    /// rows count their positions, not their source.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        let index = self.by_id.get().map_or(0, |m| m.capacity() * (size_of::<(String, u32)>() + 16)) + self.tree.get().map_or(0, |t| t.size() * 48);
        index
            + match &self.kind {
                RowsKind::Own { ids, geometries, bboxes, .. } => {
                    let ids_bytes = ids.iter().map(|id| size_of::<FeatureId>() + if let FeatureId::Text(s) = id { s.capacity() } else { 0 }).sum::<usize>();
                    ids_bytes + geometries.capacity() * 8 + bboxes.capacity() * size_of::<Option<Rect<f64>>>()
                }
                RowsKind::Gathered { from, codes, suffixes, .. } => from.len() * 4 + codes.len() * 4 + suffixes.iter().map(String::capacity).sum::<usize>(),
            }
    }
}

/// Features rendered in their own geometry (CRS84), kept within a byte budget: a hot bbox page is
/// then copied, not written again. Sharded by row, so concurrent pages rarely wait on one lock;
/// a shard that would take the cache past its budget is emptied first (the cache stays bounded
/// and follows what is asked now).
#[derive(Debug)]
struct RenderCache {
    shards: Vec<Mutex<HashMap<u32, Arc<[u8]>>>>,
    bytes: AtomicUsize,
    budget: usize,
}

impl RenderCache {
    const SHARDS: usize = 32;

    fn new(budget: usize) -> Self {
        Self { shards: (0..Self::SHARDS).map(|_| Mutex::new(HashMap::new())).collect(), bytes: AtomicUsize::new(0), budget }
    }

    fn shard(&self, row: u32) -> &Mutex<HashMap<u32, Arc<[u8]>>> {
        &self.shards[row as usize % Self::SHARDS]
    }

    fn get(&self, row: u32) -> Option<Arc<[u8]>> {
        self.shard(row).lock().ok()?.get(&row).cloned()
    }

    fn insert(&self, row: u32, json: &Arc<[u8]>) {
        let Ok(mut shard) = self.shard(row).lock() else { return };
        if self.bytes.load(Ordering::Relaxed) + json.len() > self.budget {
            let freed: usize = shard.values().map(|j| j.len()).sum();
            shard.clear();
            self.bytes.fetch_sub(freed, Ordering::Relaxed);
        }
        if self.bytes.load(Ordering::Relaxed) + json.len() <= self.budget && shard.insert(row, Arc::clone(json)).is_none() {
            self.bytes.fetch_add(json.len(), Ordering::Relaxed);
        }
    }
}

/// A collection's features, ready to query.
#[derive(Debug)]
pub struct Layer {
    rows: Arc<Rows>,
    cache: Option<RenderCache>,
    /// Property columns, in output order.
    pub columns: Vec<Column>,
    /// GeoJSON geometry type of the features.
    pub geometry_type: &'static str,
    /// Bounding box of all features (CRS84).
    pub extent: Option<Rect<f64>>,
    column_index: HashMap<String, usize>,
}

/// A feature before it is put in columns: id, CRS84 geometry and properties.
pub struct PendingFeature {
    /// The feature id.
    pub id: FeatureId,
    /// CRS84 geometry.
    pub geometry: Arc<Geometry<f64>>,
    /// Properties, by name.
    pub properties: Attributes,
}

/// One feature of a layer.
#[derive(Clone)]
pub struct FeatureRef<'a> {
    layer: &'a Layer,
    /// Its position in the layer.
    pub row: usize,
    /// Its id (made for a gathered row).
    pub id: Cow<'a, FeatureId>,
    /// Its CRS84 geometry.
    pub geometry: &'a Arc<Geometry<f64>>,
    /// Its bounding box; `None` for an empty geometry.
    pub bbox: Option<Rect<f64>>,
}

impl<'a> FeatureRef<'a> {
    /// The value of column `column`.
    #[must_use]
    pub fn value(&self, column: usize) -> Cow<'a, AttrValue> {
        self.layer.columns[column].data.get(self.row)
    }

    /// Its properties in column order.
    pub fn properties(&self) -> impl Iterator<Item = (&'a str, Cow<'a, AttrValue>)> + 'a {
        let row = self.row;
        self.layer.columns.iter().map(move |c| (c.name.as_str(), c.data.get(row)))
    }
}

impl Layer {
    /// A layer of `rows` with `columns`, each as long as the rows.
    ///
    /// # Errors
    /// [`LayerError::ColumnLength`] when a column with a length of its own differs.
    pub fn new(rows: Arc<Rows>, columns: Vec<Column>, geometry_type: &'static str) -> Result<Self, LayerError> {
        for c in &columns {
            let len = match &*c.data {
                ColumnData::Values(v) => Some(v.len()),
                ColumnData::Float(v) => Some(v.len()),
                ColumnData::Int { values, .. } => Some(values.len()),
                ColumnData::Bool(v) => Some(v.len()),
                ColumnData::Dict { codes, .. } => Some(codes.len()),
                ColumnData::Gather { rows, .. } => Some(rows.len()),
                ColumnData::Const(_) | ColumnData::Computed { .. } => None,
            };
            if let Some(len) = len.filter(|&l| l != rows.len()) {
                return Err(LayerError::ColumnLength { name: c.name.clone(), len, rows: rows.len() });
            }
        }
        let column_index = columns.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
        Ok(Self { extent: rows.extent, rows, cache: None, columns, geometry_type, column_index })
    }

    /// A layer from features in serving order; a property a feature lacks is null. Columns come
    /// in order of first appearance, each in its most compact form.
    ///
    /// # Errors
    /// [`LayerError::TooManyRows`].
    pub fn from_features(pending: Vec<PendingFeature>, geometry_type: &'static str) -> Result<Self, LayerError> {
        let mut names: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut previous: Option<&Attributes> = None;
        for f in &pending {
            // Features nearly always carry the same names in the same order: such a feature is
            // not hashed name by name.
            if previous.is_some_and(|p| p.len() == f.properties.len() && p.iter().zip(&f.properties).all(|(a, b)| a.0 == b.0)) {
                continue;
            }
            for (name, _) in &f.properties {
                if !index.contains_key(name) {
                    index.insert(name.clone(), names.len());
                    names.push(name.clone());
                }
            }
            previous = Some(&f.properties);
        }
        let mut values: Vec<Vec<AttrValue>> = (0..names.len()).map(|_| Vec::with_capacity(pending.len())).collect();
        let mut ids = Vec::with_capacity(pending.len());
        let mut geometries = Vec::with_capacity(pending.len());
        let mut slots: Vec<usize> = Vec::new();
        let mut slot_names: Vec<String> = Vec::new();
        for f in pending {
            if slot_names.len() != f.properties.len() || !slot_names.iter().zip(&f.properties).all(|(a, b)| *a == b.0) {
                slot_names = f.properties.iter().map(|(n, _)| n.clone()).collect();
                slots = slot_names.iter().map(|n| index[n]).collect();
            }
            // A name given twice keeps its last value.
            let mut row = vec![AttrValue::Null; values.len()];
            for ((_, v), &slot) in f.properties.into_iter().zip(&slots) {
                row[slot] = v;
            }
            for (column, v) in values.iter_mut().zip(row) {
                column.push(v);
            }
            ids.push(f.id);
            geometries.push(f.geometry);
        }
        let rows = ids.len();
        let data: Vec<ColumnData> = values.into_par_iter().map(ColumnData::from_values).collect();
        let columns = names.into_iter().zip(data).map(|(name, data)| Column::new(name, Arc::new(data), rows)).collect();
        Self::new(Arc::new(Rows::new(ids, geometries)?), columns, geometry_type)
    }

    /// The rows (shared with the layers that serve the same features).
    #[must_use]
    pub fn rows(&self) -> &Arc<Rows> {
        &self.rows
    }

    /// Number of features.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the layer has no feature.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Feature `row`.
    ///
    /// # Panics
    /// When `row` is out of range.
    #[must_use]
    pub fn feature(&self, row: usize) -> FeatureRef<'_> {
        FeatureRef { layer: self, row, id: self.rows.id(row), geometry: self.rows.geometry(row), bbox: self.rows.bbox(row) }
    }

    /// Every feature, in order.
    pub fn iter(&self) -> impl Iterator<Item = FeatureRef<'_>> {
        (0..self.len()).map(|row| self.feature(row))
    }

    /// The value of column `column` of row `row`.
    #[must_use]
    pub fn value(&self, row: usize, column: usize) -> Cow<'_, AttrValue> {
        self.columns[column].data.get(row)
    }

    /// The position of a feature by its id as text.
    #[must_use]
    pub fn position(&self, id: &str) -> Option<usize> {
        self.rows.position(id)
    }

    /// The position of a column.
    #[must_use]
    pub fn column(&self, name: &str) -> Option<usize> {
        self.column_index.get(name).copied()
    }

    /// Positions of the features whose geometry intersects `bbox` (CRS84), ascending; all
    /// features when `bbox` is `None`.
    ///
    /// # Complexity
    /// O(log n + k) for the R-tree; an exact test only for features whose box straddles the edge.
    #[must_use]
    pub fn intersecting(&self, bbox: Option<Rect<f64>>) -> Vec<u32> {
        let Some(bbox) = bbox else {
            return (0..u32::try_from(self.len()).unwrap_or(u32::MAX)).collect();
        };
        self.rows.intersecting(bbox)
    }

    /// Appends feature `row` as GeoJSON (with its `id`) to `out`, with `geometry` in place of
    /// its own when given (another output CRS).
    ///
    /// # Errors
    /// [`LayerError::Render`] for a non-finite coordinate.
    pub fn render_into(&self, row: usize, geometry: Option<&Geometry<f64>>, out: &mut Vec<u8>) -> Result<(), LayerError> {
        let f = self.feature(row);
        let id = id_json(&f.id);
        crate::io::geojson::write_feature_with_id(out, id.as_bytes(), geometry.unwrap_or(f.geometry), f.properties())?;
        Ok(())
    }

    /// Keeps up to `budget_bytes` of features rendered in their own geometry (see
    /// [`Layer::render`]).
    pub fn set_render_cache(&mut self, budget_bytes: usize) {
        self.cache = Some(RenderCache::new(budget_bytes));
    }

    /// Bytes held by the render cache.
    #[must_use]
    pub fn cached_render_bytes(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.bytes.load(Ordering::Relaxed))
    }

    /// Features `rows` as GeoJSON, one byte string each; `geometries`, when given, replace
    /// theirs (aligned with `rows`). Features in their own geometry come from the render cache
    /// when the layer has one ([`Layer::with_render_cache`]), and go into it.
    ///
    /// # Errors
    /// [`LayerError::Render`].
    pub fn render(&self, rows: &[u32], geometries: Option<&[Geometry<f64>]>) -> Result<Vec<Arc<[u8]>>, LayerError> {
        let cache = self.cache.as_ref().filter(|_| geometries.is_none());
        let one = |(i, &row): (usize, &u32)| {
            if let Some(json) = cache.and_then(|c| c.get(row)) {
                return Ok(json);
            }
            let mut out = Vec::with_capacity(1024);
            self.render_into(row as usize, geometries.map(|g| &g[i]), &mut out)?;
            let json: Arc<[u8]> = out.into();
            if let Some(c) = cache {
                c.insert(row, &json);
            }
            Ok(json)
        };
        if rows.len() > 256 {
            rows.par_iter().enumerate().map(one).collect()
        } else {
            rows.iter().enumerate().map(one).collect()
        }
    }

    /// Heap bytes of the columns this layer owns (shared ones counted in full) and its rows.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.rows.heap_bytes() + self.columns.iter().map(|c| c.data.heap_bytes()).sum::<usize>() + self.cached_render_bytes()
    }
}

/// A feature id as JSON: a number or a string.
#[must_use]
pub fn id_json(id: &FeatureId) -> String {
    match id {
        FeatureId::Int(n) => n.to_string(),
        FeatureId::Text(s) => serde_json::Value::String(s.clone()).to_string(),
    }
}

/// The box around every box given; `None` when none is (empty geometries have none).
fn extent_of(bboxes: impl Iterator<Item = Option<Rect<f64>>>) -> Option<Rect<f64>> {
    bboxes.flatten().fold(None, |e, b| Some(e.map_or(b, |e| union_rect(e, b))))
}

fn union_rect(a: Rect<f64>, b: Rect<f64>) -> Rect<f64> {
    Rect::new(
        geo::Coord { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
        geo::Coord { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
    )
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = AttrValue> {
        prop_oneof![
            Just(AttrValue::Null),
            any::<bool>().prop_map(AttrValue::Bool),
            (-3i64..3).prop_map(AttrValue::Int),
            any::<i64>().prop_map(AttrValue::Int),
            (-2.0f64..2.0).prop_map(AttrValue::Float),
            "[ab]{0,2}".prop_map(AttrValue::Text),
            "[a-z]{0,12}".prop_map(AttrValue::Text),
            Just(AttrValue::Json("[1,2]".into())),
        ]
    }

    fn same_kind_values() -> impl Strategy<Value = Vec<AttrValue>> {
        prop_oneof![
            prop::collection::vec(prop_oneof![Just(AttrValue::Null), (-5.0f64..5.0).prop_map(AttrValue::Float)], 0..60),
            prop::collection::vec(prop_oneof![Just(AttrValue::Null), any::<i64>().prop_map(AttrValue::Int)], 0..60),
            prop::collection::vec(prop_oneof![Just(AttrValue::Null), any::<bool>().prop_map(AttrValue::Bool)], 0..60),
            prop::collection::vec(prop_oneof![Just(AttrValue::Null), "[a-c]{1}".prop_map(AttrValue::Text)], 0..200),
            prop::collection::vec(value(), 0..60),
        ]
    }

    proptest! {
        /// Whatever form a column takes, every row reads back as the value put in.
        #[test]
        fn columns_give_back_their_values(values in same_kind_values()) {
            let data = ColumnData::from_values(values.clone());
            for (i, v) in values.iter().enumerate() {
                prop_assert_eq!(&*data.get(i), v, "row {} of {:?}", i, data);
            }
            let expected = values.iter().fold(None, |t, v| ColumnType::merge(t, ColumnType::of(v))).unwrap_or(ColumnType::String);
            prop_assert_eq!(data.column_type(values.len()), expected);
        }

        /// A layer built from features with differing property names has every name as a
        /// column, nulls where a feature lacks it, and finds every feature by id and by box.
        #[test]
        fn layers_from_features_keep_every_property(
            features in prop::collection::vec((prop::collection::vec(("[pqr]", value()), 0..4), -10.0f64..10.0, -10.0f64..10.0), 0..40)
        ) {
            let pending: Vec<PendingFeature> = features.iter().enumerate().map(|(i, (props, x, y))| {
                let mut seen = std::collections::HashSet::new();
                let properties: Attributes = props.iter().filter(|(n, _)| seen.insert(n.clone())).cloned().collect();
                PendingFeature { id: FeatureId::Int(i64::try_from(i).unwrap()), geometry: Arc::new(Geometry::Point(geo::Point::new(*x, *y))), properties }
            }).collect();
            let expected: Vec<Attributes> = pending.iter().map(|f| f.properties.clone()).collect();
            let layer = Layer::from_features(pending, "Point").unwrap();
            prop_assert_eq!(layer.len(), features.len());
            for (row, props) in expected.iter().enumerate() {
                for c in &layer.columns {
                    let want = props.iter().find(|(n, _)| *n == c.name).map_or(AttrValue::Null, |(_, v)| v.clone());
                    prop_assert_eq!(&*layer.feature(row).value(layer.column(&c.name).unwrap()), &want);
                }
                for (n, _) in props {
                    prop_assert!(layer.column(n).is_some());
                }
                prop_assert_eq!(layer.position(&row.to_string()), Some(row));
            }
            let all = Rect::new(geo::Coord { x: -10.0, y: -10.0 }, geo::Coord { x: 10.0, y: 10.0 });
            prop_assert_eq!(layer.intersecting(Some(all)).len(), features.len());
            let left = Rect::new(geo::Coord { x: -10.0, y: -10.0 }, geo::Coord { x: 0.0, y: 10.0 });
            let want: Vec<u32> = features.iter().enumerate().filter(|(_, (_, x, _))| *x <= 0.0).map(|(i, _)| u32::try_from(i).unwrap()).collect();
            prop_assert_eq!(layer.intersecting(Some(left)), want);
        }
    }

    #[test]
    fn rendered_features_carry_id_geometry_and_properties() {
        let pending = vec![PendingFeature {
            id: FeatureId::Text("a\"1".into()),
            geometry: Arc::new(Geometry::Point(geo::Point::new(1.5, 2.0))),
            properties: vec![("n".into(), AttrValue::Int(3)), ("x".into(), AttrValue::Float(0.5)), ("s".into(), AttrValue::Null)],
        }];
        let layer = Layer::from_features(pending, "Point").unwrap();
        let out = layer.render(&[0], None).unwrap();
        assert_eq!(
            std::str::from_utf8(&out[0]).unwrap(),
            r#"{"type":"Feature","id":"a\"1","geometry":{"type":"Point","coordinates":[1.5,2]},"properties":{"n":3,"x":0.5,"s":null}}"#
        );
    }

    #[test]
    fn ids_are_found_in_ascending_and_in_unordered_rows_alike() {
        let point = Arc::new(Geometry::Point(geo::Point::new(0.0, 0.0)));
        let mut ids = vec![FeatureId::Int(-5), FeatureId::Int(7), FeatureId::Int(123), FeatureId::Text("0123".into()), FeatureId::Text("a b".into()), FeatureId::Text("x".into())];
        ids.sort();
        for ascending in [true, false] {
            let mut ids = ids.clone();
            if !ascending {
                ids.reverse();
            }
            let rows = Rows::new(ids.clone(), vec![Arc::clone(&point); ids.len()]).unwrap();
            for (i, id) in ids.iter().enumerate() {
                assert_eq!(rows.position(&id.to_string()), Some(i), "{id} (ascending: {ascending})");
            }
            for missing in ["5", "-7", "+7", "07", "123.0", "X", "", "a  b"] {
                assert_eq!(rows.position(missing), None, "{missing} (ascending: {ascending})");
            }
        }
    }

    #[test]
    fn gathered_rows_share_their_sources_geometry_and_box() {
        let point = |x: f64| Arc::new(Geometry::Point(geo::Point::new(x, 0.0)));
        let source = Arc::new(Rows::new(vec![FeatureId::Int(1), FeatureId::Text("b:x".into())], vec![point(0.0), point(5.0)]).unwrap());
        let suffixes = vec!["k".to_owned(), "m".to_owned()];
        let rows = Rows::gathered(Arc::clone(&source), vec![0, 1, 1].into(), vec![1, 0, 1].into(), suffixes.clone()).unwrap();
        assert!(Arc::ptr_eq(rows.geometry(1), source.geometry(1)));
        assert_eq!(rows.bbox(0), source.bbox(0));
        assert_eq!(rows.extent, source.extent);
        assert_eq!(*rows.id(0), FeatureId::Text("1:m".into()));
        assert_eq!(*rows.id(2), FeatureId::Text("b:x:m".into()));
        let layer = Layer::new(Arc::new(rows), Vec::new(), "Point").unwrap();
        let right = Rect::new(geo::Coord { x: 1.0, y: -1.0 }, geo::Coord { x: 6.0, y: 1.0 });
        assert_eq!(layer.intersecting(Some(right)), vec![1, 2]);
        let everywhere = Rect::new(geo::Coord { x: -1.0, y: -1.0 }, geo::Coord { x: 6.0, y: 1.0 });
        assert_eq!(layer.intersecting(Some(everywhere)), vec![0, 1, 2]);
        // Every id finds its row; ids that are not rows find nothing.
        for (i, id) in ["1:m", "b:x:k", "b:x:m"].into_iter().enumerate() {
            assert_eq!(layer.position(id), Some(i), "{id}");
        }
        for id in ["1:k", "1", "b:x", "2:m", ":m", "1:", "b:x:z"] {
            assert_eq!(layer.position(id), None, "{id}");
        }
        // Lengths, positions, codes and order are checked.
        assert!(Rows::gathered(Arc::clone(&source), vec![0].into(), vec![0, 1].into(), suffixes.clone()).is_err());
        assert!(Rows::gathered(Arc::clone(&source), vec![2].into(), vec![0].into(), suffixes.clone()).is_err());
        assert!(Rows::gathered(Arc::clone(&source), vec![0].into(), vec![2].into(), suffixes.clone()).is_err());
        assert!(Rows::gathered(Arc::clone(&source), vec![1, 0].into(), vec![0, 0].into(), suffixes.clone()).is_err());
        assert!(Rows::gathered(source, vec![1, 1].into(), vec![0, 0].into(), suffixes).is_err());
    }

    #[test]
    fn the_render_cache_gives_the_same_bytes_and_stays_within_its_budget() {
        let pending: Vec<PendingFeature> = (0..200)
            .map(|i| PendingFeature {
                id: FeatureId::Int(i),
                geometry: Arc::new(Geometry::Point(geo::Point::new(f64::from(u8::try_from(i % 100).unwrap()), 1.0))),
                properties: vec![("name".into(), AttrValue::Text(format!("estate {i}")))],
            })
            .collect();
        let plain = Layer::from_features(pending, "Point").unwrap();
        let rows: Vec<u32> = (0..200).collect();
        let expected = plain.render(&rows, None).unwrap();
        let one = expected[0].len();
        let mut cached = Layer::new(Arc::clone(plain.rows()), plain.columns.clone(), "Point").unwrap();
        cached.set_render_cache(one * 50);
        for _ in 0..3 {
            let got = cached.render(&rows, None).unwrap();
            assert_eq!(got, expected);
            assert!(cached.cached_render_bytes() <= one * 50, "{} bytes cached", cached.cached_render_bytes());
        }
        assert!(cached.cached_render_bytes() > 0);
        // Another geometry (another CRS) is rendered, not taken from the cache.
        let moved = vec![Geometry::Point(geo::Point::new(9.0, 9.0))];
        let elsewhere = cached.render(&[0], Some(&moved)).unwrap();
        assert!(std::str::from_utf8(&elsewhere[0]).unwrap().contains("\"coordinates\":[9,9]"), "{:?}", std::str::from_utf8(&elsewhere[0]));
    }

    #[test]
    fn a_column_of_the_wrong_length_is_refused() {
        let rows = Arc::new(Rows::new(vec![FeatureId::Int(1)], vec![Arc::new(Geometry::Point(geo::Point::new(0.0, 0.0)))]).unwrap());
        let column = Column::new("a", Arc::new(ColumnData::Float(vec![1.0, 2.0])), 1);
        assert!(matches!(Layer::new(rows, vec![column], "Point"), Err(LayerError::ColumnLength { len: 2, rows: 1, .. })));
    }
}
