//! Reading a table, view or query as [`RawFeature`]s.
//!
//! The rows stream through a portal (a server-side cursor) in batches of [`BATCH_ROWS`] inside
//! a read-only transaction, so memory stays flat in the table's size and the rows come from one
//! snapshot; no `OFFSET` paging, which rescans and can skip or repeat rows under concurrent edits.
//!
//! Each row's geometry arrives as 2D EWKB (`ST_AsEWKB(ST_Force2D(g))`, Z/M dropped as the
//! GDAL reader drops them) with its `ST_SRID`; the other columns arrive in binary for booleans,
//! integers, floats and text, and as their text form (`::text`) for every other type
//! (numeric, dates, JSON, arrays…), which the loader's field mapping parses like a CSV value.
//!
//! The CRS is the geometry column's SRID (`geometry_columns`, what `Find_SRID` reads) named
//! through `spatial_ref_sys` (`EPSG:4547`); for a query, or a column without a declared SRID,
//! the first row's SRID. Rows with SRID 0, or an SRID other than the source's, are rejected
//! like bad features, as are geometries the WKB decoder cannot read (curves).

use std::path::{Path, PathBuf};

use geo::Geometry;
use geozero::ToGeo as _;
use postgres::types::Type;
use postgres::{Client, Row};

use super::connect::connect;
use super::uri::{PgUri, Selection};
use super::{quote_ident, quote_qualified};
use crate::io::{FeatureSource, LoadError, LoadReport, RawFeature, SourceInfo};
use crate::model::{AttrValue, Attributes, FeatureId};

/// Rows fetched from the portal per round trip.
pub const BATCH_ROWS: i32 = 8_192;

/// A PostGIS table, view or query read as raw features.
#[derive(Debug, Clone)]
pub struct PostgisSource {
    uri: PgUri,
    /// The URI without its password: what rejections and messages name.
    shown: PathBuf,
}

impl PostgisSource {
    /// A source reading what `path` (a `postgresql://` URI) selects.
    ///
    /// # Errors
    /// [`LoadError::Postgres`] for a URI that does not parse or selects nothing.
    pub fn from_uri(path: &Path) -> Result<Self, LoadError> {
        let text = path.to_str().ok_or_else(|| LoadError::Postgres { uri: super::redact_path(path), message: "the URI is not valid UTF-8".to_owned() })?;
        let uri = PgUri::parse(text).map_err(|message| LoadError::Postgres { uri: super::redact_path(path), message })?;
        if uri.selection.is_none() {
            return Err(LoadError::Postgres {
                uri: PathBuf::from(&uri.shown),
                message: "say what to read: add ?table=schema.name (optional &where=…) or ?query=SELECT …".to_owned(),
            });
        }
        Ok(Self { shown: PathBuf::from(&uri.shown), uri })
    }

    fn error(&self, message: impl Into<String>) -> LoadError {
        LoadError::Postgres { uri: self.shown.clone(), message: message.into() }
    }
}

/// How one column is fetched and converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnKind {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Text,
    /// Any other type, fetched as `::text`.
    AsText,
}

impl ColumnKind {
    fn of(ty: &Type) -> Self {
        match *ty {
            Type::BOOL => Self::Bool,
            Type::INT2 => Self::Int2,
            Type::INT4 => Self::Int4,
            Type::INT8 => Self::Int8,
            Type::FLOAT4 => Self::Float4,
            Type::FLOAT8 => Self::Float8,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => Self::Text,
            _ => Self::AsText,
        }
    }

    fn value(self, row: &Row, i: usize) -> Result<AttrValue, postgres::Error> {
        let v = match self {
            Self::Bool => row.try_get::<_, Option<bool>>(i)?.map(AttrValue::Bool),
            Self::Int2 => row.try_get::<_, Option<i16>>(i)?.map(|n| AttrValue::Int(i64::from(n))),
            Self::Int4 => row.try_get::<_, Option<i32>>(i)?.map(|n| AttrValue::Int(i64::from(n))),
            Self::Int8 => row.try_get::<_, Option<i64>>(i)?.map(AttrValue::Int),
            Self::Float4 => row.try_get::<_, Option<f32>>(i)?.map(|x| AttrValue::Float(f64::from(x))),
            Self::Float8 => row.try_get::<_, Option<f64>>(i)?.map(AttrValue::Float),
            Self::Text | Self::AsText => row.try_get::<_, Option<String>>(i)?.map(AttrValue::Text),
        };
        Ok(v.unwrap_or(AttrValue::Null))
    }
}

/// The statement a source runs and what its columns are.
struct Plan {
    sql: String,
    /// Property columns: name and kind, in select order (geometry and SRID come after them).
    columns: Vec<(String, ColumnKind)>,
    /// The position among `columns` of a single-column integer primary key, used as the fid.
    fid_column: Option<usize>,
    /// The SRID the column declares (`None`: 0 or a query).
    declared_srid: Option<i32>,
    /// What `SourceInfo::layer` names: `schema.table` or `query`.
    layer: String,
}

impl FeatureSource for PostgisSource {
    /// Streams the rows to `sink`. Rows whose geometry cannot be decoded, or whose SRID is 0 or
    /// differs from the source's, go to `report`; NULL geometries reach `sink` as `None` for the
    /// loader to reject in its own words, as do wrong types and invalid polygons.
    ///
    /// # Errors
    /// [`LoadError::Postgres`]: no connection, no such table or column, several or no geometry
    /// columns, a failing query or a connection lost while reading.
    fn read(&mut self, report: &mut LoadReport, sink: &mut dyn FnMut(RawFeature)) -> Result<SourceInfo, LoadError> {
        let mut client = connect(&self.uri).map_err(|message| self.error(message))?;
        let plan = self.plan(&mut client)?;
        let mut tx = client
            .build_transaction()
            .read_only(true)
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()
            .map_err(|e| self.error(super::describe(&e)))?;
        let portal = tx.bind(plan.sql.as_str(), &[]).map_err(|e| self.error(format!("{} (running: {})", super::describe(&e), plan.sql)))?;
        let geometry_at = plan.columns.len();
        let mut srid = plan.declared_srid;
        let mut index = 0usize;
        loop {
            let rows = tx.query_portal(&portal, BATCH_ROWS).map_err(|e| self.error(format!("reading row {index}: {}", super::describe(&e))))?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let mut properties: Attributes = Vec::with_capacity(plan.columns.len());
                for (i, (name, kind)) in plan.columns.iter().enumerate() {
                    let value = kind.value(&row, i).map_err(|e| self.error(format!("row {index}, column `{name}`: {e}")))?;
                    properties.push((name.clone(), value));
                }
                let fid = plan.fid_column.and_then(|c| match &properties[c].1 {
                    AttrValue::Int(n) => Some(FeatureId::Int(*n)),
                    _ => None,
                });
                let wkb: Option<Vec<u8>> = row.try_get(geometry_at).map_err(|e| self.error(format!("row {index}: {e}")))?;
                let row_srid: Option<i32> = row.try_get(geometry_at + 1).map_err(|e| self.error(format!("row {index}: {e}")))?;
                let id_for_report = || id_property(&properties).or_else(|| fid.as_ref().map(ToString::to_string));
                let geometry = match (wkb, row_srid) {
                    (None, _) => None,
                    (Some(_), Some(0) | None) => {
                        report.reject(&self.shown, index, id_for_report(), "SRID 0: the geometry has no CRS; set one with UpdateGeometrySRID or ST_SetSRID");
                        index += 1;
                        continue;
                    }
                    (Some(bytes), Some(s)) => {
                        match srid {
                            Some(expected) if expected != s => {
                                report.reject(&self.shown, index, id_for_report(), format!("SRID {s} differs from the source's SRID {expected}; transform it (ST_Transform) or select one SRID"));
                                index += 1;
                                continue;
                            }
                            Some(_) => {}
                            None => srid = Some(s),
                        }
                        match geozero::wkb::Ewkb(bytes).to_geo() {
                            Ok(g) => Some(g),
                            Err(e) => {
                                report.reject(&self.shown, index, id_for_report(), format!("cannot decode the geometry ({e}); curved geometries must be linearised first (ST_CurveToLine)"));
                                index += 1;
                                continue;
                            }
                        }
                    }
                };
                sink(RawFeature { index, fid, geometry: geometry.and_then(drop_empty_collection), properties });
                index += 1;
            }
        }
        drop(portal);
        tx.commit().map_err(|e| self.error(super::describe(&e)))?;
        let declared_crs = match srid {
            Some(s) => Some(crs_name(&mut client, s).map_err(|e| self.error(format!("looking up SRID {s}: {}", super::describe(&e))))?),
            None => None,
        };
        Ok(SourceInfo { declared_crs, format: "PostGIS".to_owned(), layer: Some(plan.layer) })
    }
}

impl PostgisSource {
    /// Finds the columns, the geometry column, the primary key and the declared SRID, and builds
    /// the streaming statement.
    fn plan(&self, client: &mut Client) -> Result<Plan, LoadError> {
        let selection = self.uri.selection.as_ref().ok_or_else(|| self.error("no table= or query="))?;
        let (inner, layer, table) = match selection {
            Selection::Table { schema, name, filter } => {
                let from = quote_qualified(schema.as_deref(), name);
                let sql = match filter {
                    Some(f) => format!("SELECT * FROM {from} WHERE {f}"),
                    None => format!("SELECT * FROM {from}"),
                };
                let layer = schema.as_ref().map_or_else(|| name.clone(), |s| format!("{s}.{name}"));
                (sql, layer, Some((schema.clone(), name.clone())))
            }
            Selection::Query(q) => (q.trim().trim_end_matches(';').to_owned(), "query".to_owned(), None),
        };
        let probe = format!("SELECT * FROM ({inner}) AS gapmap_source");
        let statement = client.prepare(&probe).map_err(|e| self.error(format!("{} (running: {inner})", super::describe(&e))))?;
        let geometry_columns: Vec<&str> =
            statement.columns().iter().filter(|c| c.type_().name() == "geometry").map(postgres::Column::name).collect();
        let geometry = match (&self.uri.geometry, geometry_columns.as_slice()) {
            (Some(g), found) if found.contains(&g.as_str()) => g.clone(),
            (Some(g), found) => {
                return Err(self.error(format!("no geometry column `{g}`; geometry columns: {}", list_or_none(found))));
            }
            (None, [only]) => (*only).to_owned(),
            (None, []) => return Err(self.error("no geometry column (PostGIS `geometry` type); geography columns must be cast (geom::geometry)")),
            (None, several) => {
                return Err(self.error(format!("several geometry columns ({}); choose one with &geometry=NAME", several.join(", "))));
            }
        };
        let columns: Vec<(String, ColumnKind)> = statement
            .columns()
            .iter()
            .filter(|c| c.type_().name() != "geometry")
            .map(|c| (c.name().to_owned(), ColumnKind::of(c.type_())))
            .collect();
        let (primary_key, declared_srid) = match &table {
            Some((schema, name)) => (primary_key(client, schema.as_deref(), name), declared_srid(client, schema.as_deref(), name, &geometry)),
            None => (Vec::new(), None),
        };
        let fid_column = match primary_key.as_slice() {
            [key] => columns.iter().position(|(n, k)| n == key && matches!(k, ColumnKind::Int2 | ColumnKind::Int4 | ColumnKind::Int8)),
            _ => None,
        };
        let mut select: Vec<String> = columns
            .iter()
            .map(|(name, kind)| match kind {
                ColumnKind::AsText => format!("{q}::text AS {q}", q = quote_ident(name)),
                _ => quote_ident(name),
            })
            .collect();
        let g = quote_ident(&geometry);
        select.push(format!("ST_AsEWKB(ST_Force2D({g}))"));
        select.push(format!("ST_SRID({g})"));
        // Rows in key order (a table's insertion order is not guaranteed), so row numbers in
        // reports are stable between runs.
        let order = if primary_key.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", primary_key.iter().map(|k| quote_ident(k)).collect::<Vec<_>>().join(", "))
        };
        let sql = format!("SELECT {} FROM ({inner}) AS gapmap_source{order}", select.join(", "));
        Ok(Plan { sql, columns, fid_column, declared_srid, layer })
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The primary key columns of a table, in key order (empty for views, tables without one, or
/// when the catalogue cannot be read).
fn primary_key(client: &mut Client, schema: Option<&str>, name: &str) -> Vec<String> {
    let regclass = quote_qualified(schema, name);
    let rows = client.query(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
         WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
        &[&regclass],
    );
    rows.map(|rows| rows.iter().map(|r| r.get::<_, String>(0)).collect()).unwrap_or_default()
}

/// The SRID `geometry_columns` declares for the column, when it is not 0.
fn declared_srid(client: &mut Client, schema: Option<&str>, name: &str, column: &str) -> Option<i32> {
    let row = client
        .query_opt(
            "SELECT srid FROM geometry_columns WHERE f_table_schema = COALESCE($1, current_schema()) AND f_table_name = $2 AND f_geometry_column = $3",
            &[&schema, &name, &column],
        )
        .ok()??;
    row.get::<_, Option<i32>>(0).filter(|s| *s != 0)
}

/// `EPSG:4547` for an SRID `spatial_ref_sys` maps to an authority code; `EPSG:<srid>` when it has
/// no row (PostGIS SRIDs are EPSG codes unless a user added their own).
fn crs_name(client: &mut Client, srid: i32) -> Result<String, postgres::Error> {
    let row = client.query_opt("SELECT auth_name::text, auth_srid FROM spatial_ref_sys WHERE srid = $1", &[&srid])?;
    Ok(match row.map(|r| (r.get::<_, Option<String>>(0), r.get::<_, Option<i32>>(1))) {
        Some((Some(auth), Some(code))) => format!("{auth}:{code}"),
        _ => format!("EPSG:{srid}"),
    })
}

/// The value of a column named `id` (any case), for rejection messages.
fn id_property(properties: &Attributes) -> Option<String> {
    properties
        .iter()
        .find(|(name, value)| name.eq_ignore_ascii_case("id") && *value != AttrValue::Null)
        .map(|(_, value)| value.to_string())
}

/// `GEOMETRYCOLLECTION EMPTY` (what some tools write for no geometry) reads as none.
fn drop_empty_collection(g: Geometry<f64>) -> Option<Geometry<f64>> {
    match &g {
        Geometry::GeometryCollection(c) if c.0.is_empty() => None,
        _ => Some(g),
    }
}
