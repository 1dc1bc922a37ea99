//! Writing results to PostGIS: `analyze --out 'postgresql://…?table=schema.coverage'`, and
//! `plan --out 'postgresql://…?table=schema.sites'` ([`write_plan`]).
//!
//! Three tables, replaced together in **one transaction**:
//! - `coverage`: one row per estate × kind with exactly the CSV's columns (the rows are the
//!   CSV writer's own text, [`render_coverage_rows`], loaded with `COPY … (FORMAT csv)`, so no
//!   figure is derived twice) plus `geom`, the estate in the estates' source SRID
//!   (`geometry(MultiPolygon, srid)`); primary key `(estate_id, kind)`, GiST index on `geom`.
//! - `coverage_gaps`: the rows of `coverage` whose estate is not covered; same key and index.
//! - `coverage_summary`: [`Summary`] per kind, overall (`level = 'overall'`, `district = ''`)
//!   and per district; primary key `(level, district, kind)`.
//!
//! Everything is loaded into new tables (`<name>__gapmap_new`) and only then are the old ones
//! dropped and the new ones renamed into their places, inside the same transaction: readers see
//! the old results or the new ones, never a mix, and a run that fails at any point (a lost
//! connection, a view that depends on the old table, no privilege) rolls back and leaves the
//! old tables as they were.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use geozero::{CoordDimensions, ToWkb as _};
use postgres::Transaction;

use super::connect::connect;
use super::uri::{PgUri, Selection};
use super::{describe, quote_ident, quote_qualified};
use crate::analysis::{KindSummary, Summary};
use crate::io::crs::{CrsSpec, Transformer};
use crate::io::plan::PlanDocument;
use crate::io::write::{push_csv_id, render_coverage_rows, Results};
use crate::io::WriteError;

/// What [`write_results`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenTables {
    /// `schema.coverage`, `schema.coverage_gaps`, `schema.coverage_summary` as written.
    pub tables: [String; 3],
    /// Rows of each.
    pub rows: [u64; 3],
    /// SRID of the `geom` columns.
    pub srid: i32,
}

/// Where to write: the URI's `table=`, split.
struct Target {
    uri: PgUri,
    schema: String,
    name: String,
}

impl Target {
    fn parse(path: &Path) -> Result<Self, WriteError> {
        let shown = super::redact_path(path);
        let fail = |message: String| WriteError::Postgres { uri: shown.clone(), message };
        let text = path.to_str().ok_or_else(|| fail("the URI is not valid UTF-8".to_owned()))?;
        let uri = PgUri::parse(text).map_err(|m| WriteError::Postgres { uri: shown.clone(), message: m })?;
        let (schema, name) = match &uri.selection {
            Some(Selection::Table { schema, name, filter: None }) => (schema.clone().unwrap_or_else(|| "public".to_owned()), name.clone()),
            Some(Selection::Table { filter: Some(_), .. }) => return Err(fail("where= means nothing for an output; remove it".to_owned())),
            Some(Selection::Query(_)) => return Err(fail("an output needs table=schema.name, not query=".to_owned())),
            None => return Err(fail("say where to write: add ?table=schema.name (e.g. ?table=gapmap.coverage)".to_owned())),
        };
        // The sibling tables and index names add up to 22 characters to the name; PostgreSQL
        // truncates identifiers at 63 bytes, which would make two of them collide.
        if name.len() > 40 {
            return Err(fail(format!("table name `{name}` is longer than 40 bytes; the sibling tables' names would be truncated")));
        }
        Ok(Self { uri, schema, name })
    }

    fn error(&self, message: impl Into<String>) -> WriteError {
        WriteError::Postgres { uri: PathBuf::from(&self.uri.shown), message: message.into() }
    }

    fn qualified(&self, name: &str) -> String {
        quote_qualified(Some(&self.schema), name)
    }
}

/// Checks, before any work is done, that `path` is a URI `write_results` can write to
/// (`table=`, no `query=`) and that the database accepts the connection: a run of minutes should
/// not end in "connection refused".
///
/// # Errors
/// [`WriteError::Postgres`] saying what is wrong with it.
pub fn check_target(path: &Path) -> Result<(), WriteError> {
    let target = Target::parse(path)?;
    let mut client = connect(&target.uri).map_err(|m| target.error(m))?;
    client.simple_query("SELECT 1").map_err(|e| target.error(describe(&e)))?;
    Ok(())
}

/// Replaces the three result tables `path` names (see the module docs) in one transaction.
///
/// `estates_crs` is the CRS the estates were read in: their geometry is written back in it
/// (its EPSG code as SRID); estates read in CRS84, GCJ-02, BD-09 or a CRS without an EPSG code
/// are written in WGS84 lon/lat (SRID 4326). `comment` goes on each table (`COMMENT ON`), to say
/// which run wrote it.
///
/// # Errors
/// [`WriteError::Postgres`] for a bad URI, no connection, or any failing statement; nothing
/// is changed then. [`WriteError::Crs`] when the estates cannot be transformed back.
pub fn write_results(path: &Path, results: &Results<'_>, summary: &Summary, estates_crs: &CrsSpec, comment: &str) -> Result<WrittenTables, WriteError> {
    let target = Target::parse(path)?;
    let (srid, crs) = srid_for(estates_crs);
    let geometries = estate_geometries(results, &crs, srid)?;
    let mut client = connect(&target.uri).map_err(|m| target.error(m))?;
    let mut tx = client.transaction().map_err(|e| target.error(describe(&e)))?;
    let names = [target.name.clone(), format!("{}_gaps", target.name), format!("{}_summary", target.name)];
    let rows = load_new_tables(&mut tx, &target, &names, results, summary, &geometries, srid, comment)?;
    swap_in(&mut tx, &target, &names, 2)?;
    tx.commit().map_err(|e| target.error(format!("committing: {}", describe(&e))))?;
    Ok(WrittenTables { tables: names.map(|n| format!("{}.{n}", target.schema)), rows, srid })
}

/// What [`write_plan`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenPlan {
    /// `schema.table` as written.
    pub table: String,
    /// Sites written.
    pub rows: u64,
    /// SRID of the `geom` column.
    pub srid: i32,
}

/// Replaces the plan-sites table `path` names (`?table=schema.sites`) with `document`'s sites,
/// the way [`write_results`] replaces the coverage tables: loaded into a new table, then swapped
/// in for the old one in the same transaction, so readers see the old plan or the new one and a
/// failed run changes nothing. One row per site in rank order: `rank` (the primary key), `id`,
/// `lon`, `lat` (CRS84), `cost`, `households_new`, `estates_new`, `covers` (the ids of the
/// uncovered estates within reach, `text[]`) and `geom`, the site as a point in the estates'
/// source SRID (as the coverage tables' estates; see [`write_results`]), with a GiST index. The
/// table's comment names the run (kind, radius, count, solver, objective, bound).
///
/// # Errors
/// [`WriteError::Postgres`] for a bad URI, no connection, or any failing statement (nothing is
/// changed then); [`WriteError::Crs`] when the sites cannot be transformed.
pub fn write_plan(path: &Path, document: &PlanDocument, estates_crs: &CrsSpec) -> Result<WrittenPlan, WriteError> {
    let target = Target::parse(path)?;
    let (srid, crs) = srid_for(estates_crs);
    let to_source = Transformer::new(&CrsSpec::Crs84, &crs).map_err(|e| WriteError::Crs(e.to_string()))?;
    let mut points: Vec<geo::Coord<f64>> = document.sites.iter().map(|s| geo::coord! { x: s.lon, y: s.lat }).collect();
    to_source.apply(&mut points).map_err(|e| WriteError::Crs(e.to_string()))?;
    let mut rows = String::with_capacity(document.sites.len() * 256);
    for (site, point) in document.sites.iter().zip(&points) {
        let wkb = geo::Geometry::Point(geo::Point(*point))
            .to_ewkb(CoordDimensions::xy(), Some(srid))
            .map_err(|e| WriteError::Encode { path: PathBuf::from("plan site"), message: format!("site {}: {e}", site.id) })?;
        let covers: Vec<String> = site.covers.iter().map(|id| format!("\"{}\"", id.replace('\\', "\\\\").replace('"', "\\\""))).collect();
        let _ = write!(
            rows,
            "{},{},{},{},{},{},{},{},",
            site.rank,
            csv_text(&site.id),
            site.lon,
            site.lat,
            site.cost.map_or(String::new(), |c| c.to_string()),
            site.households_new,
            site.estates_new,
            csv_text(&format!("{{{}}}", covers.join(","))),
        );
        for byte in wkb {
            let _ = write!(rows, "{byte:02X}");
        }
        rows.push('\n');
    }
    let comment = format!(
        "{}: plan of {} {} sites for {} within {} m ({}), {} solution: {} households newly covered (bound {}, gap {:.2} %)",
        document.generator,
        document.sites.len(),
        document.kind,
        document.weight,
        document.radius_m,
        document.metric.as_str(),
        match document.solver {
            crate::plan::SolverKind::Exact => "exact",
            crate::plan::SolverKind::Greedy => "greedy",
        },
        document.objective_households,
        document.bound_weight,
        document.gap_pct,
    );

    let mut client = connect(&target.uri).map_err(|m| target.error(m))?;
    let mut tx = client.transaction().map_err(|e| target.error(describe(&e)))?;
    let run = |tx: &mut Transaction<'_>, sql: &str| tx.batch_execute(sql).map_err(|e| target.error(format!("{} (running: {})", describe(&e), first_line(sql))));
    run(&mut tx, "SET LOCAL lock_timeout = '60s'")?;
    run(&mut tx, &format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&target.schema)))?;
    let new_name = format!("{}__gapmap_new", target.name);
    let new = target.qualified(&new_name);
    run(
        &mut tx,
        &format!(
            "CREATE TABLE {new} (rank integer NOT NULL, id text NOT NULL, lon double precision NOT NULL, lat double precision NOT NULL, \
             cost double precision, households_new double precision NOT NULL, estates_new bigint NOT NULL, covers text[] NOT NULL, \
             geom geometry(Point, {srid}) NOT NULL, CONSTRAINT {pk} PRIMARY KEY (rank)); \
             CREATE INDEX {gist} ON {new} USING gist (geom)",
            pk = quote_ident(&format!("{new_name}_pkey")),
            gist = quote_ident(&format!("{new_name}_geom_idx")),
        ),
    )?;
    copy_csv(&mut tx, &target, &format!("COPY {new} FROM STDIN (FORMAT csv)"), |w| w.write_all(rows.as_bytes()))?;
    run(&mut tx, &format!("COMMENT ON TABLE {new} IS '{}'", comment.replace('\'', "''")))?;
    let count = tx.query_one(&format!("SELECT count(*) FROM {new}"), &[]).map_err(|e| target.error(describe(&e)))?;
    let count = u64::try_from(count.get::<_, i64>(0)).unwrap_or(0);
    if count != document.sites.len() as u64 {
        return Err(target.error(format!("{count} sites were loaded, {} expected", document.sites.len())));
    }
    swap_in(&mut tx, &target, std::slice::from_ref(&target.name), 1)?;
    tx.commit().map_err(|e| target.error(format!("committing: {}", describe(&e))))?;
    Ok(WrittenPlan { table: format!("{}.{}", target.schema, target.name), rows: count, srid })
}

/// The SRID to write estates in and the CRS name the transformer takes for it.
fn srid_for(crs: &CrsSpec) -> (i32, String) {
    if let CrsSpec::Proj(text) = crs {
        if let Some(code) = text.strip_prefix("EPSG:").and_then(|c| c.parse::<i32>().ok()) {
            return (code, text.clone());
        }
    }
    (4326, "CRS84".to_owned())
}

/// Each estate's id as the CSV writes it, with its geometry as hex EWKB in `crs`.
fn estate_geometries(results: &Results<'_>, crs: &str, srid: i32) -> Result<String, WriteError> {
    let to_source = Transformer::new(&results.working_crs.parse().map_err(|e: crate::io::LoadError| WriteError::Crs(e.to_string()))?, crs)
        .map_err(|e| WriteError::Crs(e.to_string()))?;
    let mut geometries: Vec<geo::MultiPolygon<f64>> = results.estates.iter().map(|e| e.geometry.clone()).collect();
    let mut coords = crate::io::coords::flatten(geometries.iter());
    to_source.apply(&mut coords).map_err(|e| WriteError::Crs(e.to_string()))?;
    crate::io::coords::unflatten(geometries.iter_mut(), coords);
    let mut text = String::with_capacity(results.estates.len() * 256);
    for (estate, geometry) in results.estates.iter().zip(geometries) {
        let wkb = geo::Geometry::MultiPolygon(geometry)
            .to_ewkb(CoordDimensions::xy(), Some(srid))
            .map_err(|e| WriteError::Encode { path: PathBuf::from("estate geometry"), message: format!("estate {}: {e}", estate.id) })?;
        push_csv_id(&mut text, &estate.id);
        text.push(',');
        for byte in wkb {
            let _ = write!(text, "{byte:02X}");
        }
        text.push('\n');
    }
    Ok(text)
}

/// Creates and fills the three new tables; returns their row counts.
#[expect(clippy::too_many_arguments, reason = "one call site; the pieces are all different things")]
fn load_new_tables(
    tx: &mut Transaction<'_>,
    target: &Target,
    names: &[String; 3],
    results: &Results<'_>,
    summary: &Summary,
    geometries: &str,
    srid: i32,
    comment: &str,
) -> Result<[u64; 3], WriteError> {
    let run = |tx: &mut Transaction<'_>, sql: &str| tx.batch_execute(sql).map_err(|e| target.error(format!("{} (running: {})", describe(&e), first_line(sql))));
    // A reader holding the old table would otherwise make the swap wait without end.
    run(tx, "SET LOCAL lock_timeout = '60s'")?;
    run(tx, &format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&target.schema)))?;
    run(
        tx,
        "CREATE TEMP TABLE gapmap_rows (row_no bigint GENERATED ALWAYS AS IDENTITY, estate_id text NOT NULL, kind text NOT NULL, \
         distance_m double precision, covered boolean NOT NULL, nearest_id text, count_within integer NOT NULL, \
         capacity_within double precision NOT NULL, shortfall double precision) ON COMMIT DROP; \
         CREATE TEMP TABLE gapmap_geoms (estate_id text PRIMARY KEY, geom geometry NOT NULL) ON COMMIT DROP",
    )?;
    copy_csv(tx, target, "COPY gapmap_rows (estate_id, kind, distance_m, covered, nearest_id, count_within, capacity_within, shortfall) FROM STDIN (FORMAT csv)", |w| {
        render_coverage_rows(results, |texts| texts.iter().try_for_each(|t| w.write_all(t.as_bytes())))
    })?;
    copy_csv(tx, target, "COPY gapmap_geoms (estate_id, geom) FROM STDIN (FORMAT csv)", |w| w.write_all(geometries.as_bytes()))?;

    let [coverage, gaps, summary_name] = names;
    let new = |name: &str| format!("{name}__gapmap_new");
    let (cov_new, gaps_new, sum_new) = (target.qualified(&new(coverage)), target.qualified(&new(gaps)), target.qualified(&new(summary_name)));
    let index = |name: &str, suffix: &str| quote_ident(&format!("{}_{suffix}", new(name)));
    run(
        tx,
        &format!(
            "CREATE TABLE {cov_new} AS SELECT r.estate_id, r.kind, r.distance_m, r.covered, r.nearest_id, r.count_within, \
             r.capacity_within, r.shortfall, g.geom::geometry(MultiPolygon, {srid}) AS geom \
             FROM gapmap_rows r LEFT JOIN gapmap_geoms g USING (estate_id) ORDER BY r.row_no; \
             ALTER TABLE {cov_new} ALTER COLUMN geom SET NOT NULL, ADD CONSTRAINT {pk} PRIMARY KEY (estate_id, kind); \
             CREATE INDEX {gist} ON {cov_new} USING gist (geom)",
            pk = index(coverage, "pkey"),
            gist = index(coverage, "geom_idx"),
        ),
    )?;
    run(
        tx,
        &format!(
            "CREATE TABLE {gaps_new} AS SELECT * FROM {cov_new} WHERE NOT covered; \
             ALTER TABLE {gaps_new} ALTER COLUMN geom SET NOT NULL, ADD CONSTRAINT {pk} PRIMARY KEY (estate_id, kind); \
             CREATE INDEX {gist} ON {gaps_new} USING gist (geom)",
            pk = index(gaps, "pkey"),
            gist = index(gaps, "geom_idx"),
        ),
    )?;
    run(
        tx,
        &format!(
            "CREATE TABLE {sum_new} (level text NOT NULL, district text NOT NULL, kind text NOT NULL, radius_m double precision NOT NULL, \
             facilities bigint NOT NULL, capacity double precision NOT NULL, estates bigint NOT NULL, estates_covered bigint NOT NULL, \
             estates_covered_pct double precision NOT NULL, households bigint NOT NULL, households_covered bigint NOT NULL, \
             households_covered_pct double precision NOT NULL, estates_short bigint NOT NULL, shortfall_total double precision NOT NULL, \
             CONSTRAINT {pk} PRIMARY KEY (level, district, kind))",
            pk = index(summary_name, "pkey"),
        ),
    )?;
    let summary_rows = summary_csv(summary);
    copy_csv(tx, target, &format!("COPY {sum_new} FROM STDIN (FORMAT csv)"), |w| w.write_all(summary_rows.as_bytes()))?;
    let literal = format!("'{}'", comment.replace('\'', "''"));
    run(tx, &format!("COMMENT ON TABLE {cov_new} IS {literal}; COMMENT ON TABLE {gaps_new} IS {literal}; COMMENT ON TABLE {sum_new} IS {literal}"))?;

    let mut counts = [0u64; 3];
    for (count, table) in counts.iter_mut().zip([&cov_new, &gaps_new, &sum_new]) {
        let row = tx.query_one(&format!("SELECT count(*) FROM {table}"), &[]).map_err(|e| target.error(describe(&e)))?;
        *count = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
    }
    let expected = (results.estates.len() * results.catalogue.len()) as u64;
    if counts[0] != expected {
        // Nothing is dropped silently: a mismatch is an error, and the transaction rolls back.
        return Err(target.error(format!("{} coverage rows were loaded, {expected} expected", counts[0])));
    }
    Ok(counts)
}

/// Drops the old tables and renames the new ones (and their indexes) into their places; the
/// first `with_geometry` of them carry a spatial index.
fn swap_in(tx: &mut Transaction<'_>, target: &Target, names: &[String], with_geometry: usize) -> Result<(), WriteError> {
    let mut sql = String::new();
    for (i, name) in names.iter().enumerate() {
        let new = format!("{name}__gapmap_new");
        let _ = write!(
            sql,
            "DROP TABLE IF EXISTS {old}; ALTER TABLE {new_q} RENAME TO {name_q}; ALTER INDEX {new_pk} RENAME TO {pk}; ",
            old = target.qualified(name),
            new_q = target.qualified(&new),
            name_q = quote_ident(name),
            new_pk = target.qualified(&format!("{new}_pkey")),
            pk = quote_ident(&format!("{name}_pkey")),
        );
        // Coverage and gaps (and plan sites) carry a spatial index; the summary has no geometry.
        if i < with_geometry {
            let _ = write!(
                sql,
                "ALTER INDEX {new_gist} RENAME TO {gist}; ",
                new_gist = target.qualified(&format!("{new}_geom_idx")),
                gist = quote_ident(&format!("{name}_geom_idx")),
            );
        }
    }
    tx.batch_execute(&sql).map_err(|e| target.error(format!("replacing the previous tables: {}", describe(&e))))
}

/// Runs `COPY … FROM STDIN` with what `fill` writes.
fn copy_csv(
    tx: &mut Transaction<'_>,
    target: &Target,
    statement: &str,
    fill: impl FnOnce(&mut postgres::CopyInWriter<'_>) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let mut writer = tx.copy_in(statement).map_err(|e| target.error(format!("{} (running: {statement})", describe(&e))))?;
    fill(&mut writer).map_err(|e| target.error(format!("sending rows ({statement}): {e}")))?;
    writer.finish().map_err(|e| target.error(format!("{} (running: {statement})", describe(&e))))?;
    Ok(())
}

/// The summary as CSV rows for the summary table: overall, then each district.
fn summary_csv(summary: &Summary) -> String {
    let mut text = String::new();
    let mut push = |level: &str, district: &str, k: &KindSummary| {
        let _ = writeln!(
            text,
            "{level},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_text(district),
            csv_text(&k.kind),
            k.radius_m,
            k.facilities,
            k.capacity,
            k.estates,
            k.estates_covered,
            k.estates_covered_pct,
            k.households,
            k.households_covered,
            k.households_covered_pct,
            k.estates_short,
            k.shortfall_total
        );
    };
    for k in &summary.overall {
        push("overall", "", k);
    }
    for d in &summary.districts {
        for k in &d.kinds {
            push("district", &d.district, k);
        }
    }
    text
}

/// A CSV field, always quoted (so that `""` is an empty string, not NULL).
fn csv_text(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn first_line(sql: &str) -> &str {
    let line = sql.lines().next().unwrap_or(sql);
    line.get(..120).unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estates_go_back_in_their_epsg_srid_or_in_wgs84() {
        assert_eq!(srid_for(&CrsSpec::Proj("EPSG:4547".into())), (4547, "EPSG:4547".to_owned()));
        assert_eq!(srid_for(&CrsSpec::Crs84), (4326, "CRS84".to_owned()));
        assert_eq!(srid_for(&CrsSpec::Gcj02), (4326, "CRS84".to_owned()));
        assert_eq!(srid_for(&CrsSpec::Proj("+proj=tmerc +lon_0=114".into())), (4326, "CRS84".to_owned()));
    }

    #[test]
    fn targets_need_a_table() {
        let bad = |uri: &str| Target::parse(Path::new(uri)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(bad("postgresql://u:pw@h/d").contains("add ?table=schema.name"));
        assert!(bad("postgresql://u:pw@h/d?query=select%201").contains("not query="));
        assert!(bad("postgresql://u:pw@h/d?table=t&where=x").contains("where= means nothing"));
        assert!(!bad("postgresql://u:pw@h/d").contains(":pw@"));
        let ok = Target::parse(Path::new("postgresql://u@h/d?table=coverage")).expect("valid");
        assert_eq!((ok.schema.as_str(), ok.name.as_str()), ("public", "coverage"));
    }
}
