//! PostGIS as a source and a sink, against a real PostgreSQL 15 + PostGIS cluster that each test
//! starts for itself (tests/common/pg.rs) and that is stopped and removed when the test ends.
//!
//! Inputs are put into the database with `ogr2ogr` (as a planning bureau would), results are
//! read back with `psql` and `ogrinfo` (as their other tools would).

#[path = "common/pg.rs"]
mod pg;
#[path = "common/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pg::TestCluster;

fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo").join(name)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn gapmap(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gapmap"));
    command.args(args).env_remove("RUST_LOG").env_remove("PGPASSWORD").env("PGPASSFILE", "/nonexistent/gapmap-test-pgpass");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("gapmap runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `ogr2ogr` a file into table `name` of the test database (geometry column `geom`).
fn ogr2ogr(cluster: &TestCluster, file: &Path, name: &str) {
    let out = Command::new("ogr2ogr")
        .args(["-f", "PostgreSQL", &cluster.ogr_dsn(), file.to_str().expect("utf-8"), "-nln", name, "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST"])
        .output()
        .expect("ogr2ogr runs (gdal-bin)");
    assert!(out.status.success(), "ogr2ogr {} -> {name}: {}", file.display(), text(&out.stderr));
}

#[test]
fn the_cluster_starts_and_is_stopped_and_removed_even_after_a_panic() {
    if let Some(why) = TestCluster::unavailable() {
        panic!("{why}");
    }
    let cluster = TestCluster::start();
    let version = cluster.psql_ok("gapmap", "SELECT postgis_lib_version()");
    assert!(version.trim().starts_with('3'), "PostGIS 3 expected, got {version:?}");
    let (port, data) = (cluster.port, cluster.data_dir());
    drop(cluster);
    assert!(!data.exists(), "{} should be removed", data.display());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the server on port {port} should be stopped");

    // A test that panics while its cluster runs: unwinding drops it, which stops it.
    let seen = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(|| {
        let cluster = TestCluster::start();
        *seen.lock().expect("not poisoned") = Some((cluster.port, cluster.data_dir()));
        panic!("a failing test");
    });
    assert!(result.is_err());
    let (port, data) = seen.into_inner().expect("not poisoned").expect("the cluster started");
    assert!(!data.exists(), "{} should be removed after the panic", data.display());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the server on port {port} should be stopped after the panic");
}

#[test]
fn the_demo_city_from_postgis_gives_exactly_the_files_analysis() {
    let cluster = TestCluster::start();
    demo_tables(&cluster);
    let dir = tempfile::tempdir().expect("temp dir");
    let from_files = dir.path().join("files.csv");
    let from_db = dir.path().join("db.csv");
    let config = demo("gapmap.toml");
    let config = config.to_str().expect("utf-8");
    let files = gapmap(&["analyze", "--config", config, "--out", from_files.to_str().expect("utf-8")], &[]);
    assert!(files.status.success(), "{}", text(&files.stderr));
    let estates_uri = cluster.uri("?table=public.estates");
    let facilities_uri = cluster.uri("?query=SELECT%20*%20FROM%20facilities");
    let db = gapmap(
        &["analyze", "--config", config, "--estates", &estates_uri, "--facilities", &facilities_uri, "--out", from_db.to_str().expect("utf-8")],
        &[],
    );
    assert!(db.status.success(), "{}", text(&db.stderr));
    let (a, b) = (std::fs::read_to_string(&from_files).expect("csv"), std::fs::read_to_string(&from_db).expect("csv"));
    assert!(a.lines().count() > 3_000, "the demo city has 3,000 estates × kinds; got {} lines", a.lines().count());
    if a != b {
        let first = a.lines().zip(b.lines()).position(|(x, y)| x != y);
        panic!("the analyses differ ({} vs {} lines; first differing line {first:?})", a.lines().count(), b.lines().count());
    }
    // The summary on stderr names the same working CRS and figures.
    assert_eq!(text(&files.stderr), text(&db.stderr));
}

#[test]
fn bad_rows_are_rejected_naming_table_row_and_id_and_the_password_is_never_shown() {
    let cluster = TestCluster::start();
    ogr2ogr(&cluster, &fixture("valid_facilities.geojson"), "facilities");
    cluster.psql_ok(
        "gapmap",
        "CREATE SCHEMA city; CREATE TABLE city.estates (id integer PRIMARY KEY, name text, households numeric, built date, geom geometry);
         GRANT USAGE ON SCHEMA city TO planner; GRANT SELECT ON ALL TABLES IN SCHEMA city TO planner;
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO planner;
         INSERT INTO city.estates VALUES
           (10, 'good',        120.0, '1990-05-01', ST_GeomFromText('POLYGON((114.50 38.03,114.51 38.03,114.51 38.04,114.50 38.04,114.50 38.03))', 4326)),
           (11, 'null',        80,    NULL,         NULL),
           (12, 'bowtie',      80,    NULL,         ST_GeomFromText('POLYGON((114.50 38.03,114.51 38.04,114.51 38.03,114.50 38.04,114.50 38.03))', 4326)),
           (13, 'point',       80,    NULL,         ST_GeomFromText('POINT(114.5 38.03)', 4326)),
           (14, 'no srid',     80,    NULL,         ST_GeomFromText('POLYGON((114.52 38.03,114.53 38.03,114.53 38.04,114.52 38.04,114.52 38.03))', 0)),
           (15, 'other srid',  80,    NULL,         ST_Transform(ST_GeomFromText('POLYGON((114.52 38.03,114.53 38.03,114.53 38.04,114.52 38.04,114.52 38.03))', 4326), 3857)),
           (16, 'good too',    95,    NULL,         ST_GeomFromText('MULTIPOLYGON(((114.54 38.03,114.55 38.03,114.55 38.04,114.54 38.04,114.54 38.03)))', 4326));",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("coverage.csv");
    let password = TestCluster::PASSWORD;
    let estates_uri = format!("postgresql://{}:{password}@127.0.0.1:{}/gapmap?table=city.estates&where=id%20%3C%20100", TestCluster::PASSWORD_USER, cluster.port);
    let facilities_uri = format!("postgresql://{}:{password}@127.0.0.1:{}/gapmap?table=facilities", TestCluster::PASSWORD_USER, cluster.port);
    let run = gapmap(
        &["analyze", "--estates", &estates_uri, "--facilities", &facilities_uri, "--on-invalid", "warn", "--out", out.to_str().expect("utf-8")],
        &[],
    );
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let report_path = dir.path().join("coverage.load-report.json");
    let report = std::fs::read_to_string(&report_path).expect("load report");
    assert!(!stderr.contains(password) && !report.contains(password), "the password leaked:\n{stderr}\n{report}");
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    let mut rejected: Vec<(u64, String, String, String)> = report["rejected"]
        .as_array()
        .expect("rejected list")
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().expect("index"),
                r["id"].as_str().unwrap_or("").to_owned(),
                r["file"].as_str().expect("file").to_owned(),
                r["reason"].as_str().expect("reason").to_owned(),
            )
        })
        .collect();
    // The reader's rejections (SRID) are reported before the loader's (geometry checks).
    rejected.sort();
    let expected_file = format!("postgresql://planner:***@127.0.0.1:{}/gapmap?table=city.estates&where=id%20%3C%20100", cluster.port);
    assert!(rejected.iter().all(|r| r.2 == expected_file), "{rejected:#?}");
    let rows: Vec<(u64, &str)> = rejected.iter().map(|r| (r.0, r.1.as_str())).collect();
    assert_eq!(rows, vec![(1, "11"), (2, "12"), (3, "13"), (4, "14"), (5, "15")], "{rejected:#?}");
    let reasons: Vec<&str> = rejected.iter().map(|r| r.3.as_str()).collect();
    assert!(reasons[0].contains("missing or null geometry"), "{reasons:?}");
    assert!(reasons[1].contains("invalid polygon"), "{reasons:?}");
    assert!(reasons[2].contains("wrong geometry type Point"), "{reasons:?}");
    assert!(reasons[3].contains("SRID 0"), "{reasons:?}");
    assert!(reasons[4].contains("SRID 3857 differs from the source's SRID 4326"), "{reasons:?}");
    // The two good estates were analysed; numeric and date columns came through.
    let csv = std::fs::read_to_string(&out).expect("csv");
    let estates: std::collections::BTreeSet<&str> = csv.lines().skip(1).filter_map(|l| l.split(',').next()).collect();
    assert_eq!(estates.into_iter().collect::<Vec<_>>(), vec!["10", "16"]);
    assert!(stderr.contains("rejected: postgresql://planner:***@"), "{stderr}");
}

#[test]
fn passwords_come_from_pgpassword_or_pgpass_and_a_missing_one_is_explained() {
    let cluster = TestCluster::start();
    ogr2ogr(&cluster, &demo("estates.geojson"), "estates");
    ogr2ogr(&cluster, &fixture("valid_facilities.geojson"), "facilities");
    cluster.psql_ok("gapmap", "GRANT SELECT ON ALL TABLES IN SCHEMA public TO planner");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("c.csv");
    let uri = |table: &str| format!("postgresql://{}@127.0.0.1:{}/gapmap?table={table}", TestCluster::PASSWORD_USER, cluster.port);
    let args = ["analyze", "--estates", &uri("estates"), "--facilities", &uri("facilities"), "--out", out.to_str().expect("utf-8")];

    let none = gapmap(&args, &[]);
    assert!(!none.status.success());
    let stderr = text(&none.stderr);
    assert!(stderr.contains("password") && stderr.contains("PGPASSWORD or ~/.pgpass"), "{stderr}");

    let wrong = gapmap(&args, &[("PGPASSWORD", "not-it")]);
    assert!(!wrong.status.success());
    assert!(!text(&wrong.stderr).contains("not-it"), "{}", text(&wrong.stderr));

    let env = gapmap(&args, &[("PGPASSWORD", TestCluster::PASSWORD)]);
    assert!(env.status.success(), "{}", text(&env.stderr));
    let expected = std::fs::read_to_string(&out).expect("csv");
    std::fs::remove_file(&out).expect("rm");

    let pgpass = dir.path().join("pgpass");
    std::fs::write(&pgpass, format!("# test\nlocalhost:{}:gapmap:{}:{}\n", cluster.port, TestCluster::PASSWORD_USER, TestCluster::PASSWORD)).expect("write pgpass");
    let file = gapmap(&args, &[("PGPASSFILE", pgpass.to_str().expect("utf-8"))]);
    assert!(file.status.success(), "{}", text(&file.stderr));
    assert_eq!(std::fs::read_to_string(&out).expect("csv"), expected);
}

#[test]
fn unreadable_sources_say_what_is_wrong() {
    let cluster = TestCluster::start();
    ogr2ogr(&cluster, &fixture("valid_facilities.geojson"), "facilities");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("c.csv");
    let out = out.to_str().expect("utf-8");
    let facilities = cluster.uri("?table=facilities");
    let cases = [
        (cluster.uri("?table=nowhere"), "relation \"nowhere\" does not exist"),
        (cluster.uri(""), "add ?table=schema.name"),
        (cluster.uri("?table=facilities&geometry=shape"), "no geometry column `shape`; geometry columns: geom"),
        (cluster.uri("?table=facilities&sslmode=require"), "sslmode=require (or verify-ca/verify-full) is not supported yet"),
        (cluster.uri("?query=SELECT%201%20AS%20x"), "no geometry column"),
    ];
    for (estates, expected) in cases {
        let run = gapmap(&["analyze", "--estates", &estates, "--facilities", &facilities, "--out", out], &[]);
        assert!(!run.status.success(), "{estates} should fail");
        assert!(text(&run.stderr).contains(expected), "{estates}: expected `{expected}` in:\n{}", text(&run.stderr));
    }
}

/// A coverage row with its numbers parsed, so that `250.0000` (CSV) and `250` (psql, OGR) compare
/// equal: (estate_id, kind, distance_m, covered, nearest_id, count_within, capacity_within,
/// shortfall).
type Row = (String, String, Option<f64>, bool, String, i64, f64, Option<f64>);

fn parse_row(fields: &[&str]) -> Row {
    let number = |s: &str| if s.is_empty() || s == "(null)" { None } else { Some(s.parse::<f64>().unwrap_or_else(|_| panic!("number: {s:?}"))) };
    assert_eq!(fields.len(), 8, "{fields:?}");
    (
        fields[0].to_owned(),
        fields[1].to_owned(),
        number(fields[2]),
        matches!(fields[3], "true" | "t" | "1"),
        if fields[4] == "(null)" { String::new() } else { fields[4].to_owned() },
        fields[5].parse().expect("count"),
        number(fields[6]).expect("capacity"),
        number(fields[7]),
    )
}

fn csv_rows(csv: &str) -> Vec<Row> {
    csv.lines().skip(1).map(|l| parse_row(&l.split(',').collect::<Vec<_>>())).collect()
}

const COLUMNS: &str = "estate_id, kind, distance_m, covered::text, nearest_id, count_within, capacity_within, shortfall";

/// The coverage table through psql, in the CSV's order.
fn psql_rows(cluster: &TestCluster, table: &str) -> Vec<Row> {
    let out = cluster.psql_ok("gapmap", &format!("COPY (SELECT {COLUMNS} FROM {table} ORDER BY estate_id::bigint, kind) TO STDOUT (FORMAT csv)"));
    out.lines().map(|l| parse_row(&l.split(',').collect::<Vec<_>>())).collect()
}

/// The coverage table through ogrinfo (its feature dump parsed back into rows).
fn ogrinfo_rows(cluster: &TestCluster, table: &str) -> Vec<Row> {
    let sql = format!("SELECT {} FROM {table} ORDER BY estate_id::bigint, kind", COLUMNS.replace("covered::text", "covered::text AS covered"));
    let out = Command::new("ogrinfo").args(["-ro", "-q", &cluster.ogr_dsn(), "-sql", &sql]).output().expect("ogrinfo runs");
    assert!(out.status.success(), "ogrinfo: {}", text(&out.stderr));
    let mut rows = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    for line in text(&out.stdout).lines() {
        if line.starts_with("OGRFeature") {
            fields.clear();
        } else if let Some((_, value)) = line.trim_start().split_once(") = ") {
            fields.push(value.to_owned());
            if fields.len() == 8 {
                rows.push(parse_row(&fields.iter().map(String::as_str).collect::<Vec<_>>()));
            }
        }
    }
    rows
}

/// Runs `gapmap analyze` on the demo city in the database (plus extra flags), writing `out`.
fn analyze_demo(cluster: &TestCluster, out: &str, extra: &[&str]) -> Output {
    let config = demo("gapmap.toml");
    let (estates, facilities) = (cluster.uri("?table=estates"), cluster.uri("?table=facilities"));
    let mut args = vec!["analyze", "--config", config.to_str().expect("utf-8"), "--estates", &estates, "--facilities", &facilities, "--out", out];
    args.extend_from_slice(extra);
    gapmap(&args, &[])
}

#[test]
fn results_written_to_postgis_read_back_identically_through_psql_and_ogrinfo_and_replace_the_last_run() {
    let cluster = TestCluster::start();
    demo_tables(&cluster);
    let dir = tempfile::tempdir().expect("temp dir");
    let csv_path = dir.path().join("coverage.csv");
    let json_path = dir.path().join("summary.json");
    let target = cluster.uri("?table=gapmap.coverage");

    let csv_run = analyze_demo(&cluster, csv_path.to_str().expect("utf-8"), &["--year", "2019"]);
    assert!(csv_run.status.success(), "{}", text(&csv_run.stderr));
    let json_run = analyze_demo(&cluster, json_path.to_str().expect("utf-8"), &["--year", "2019"]);
    assert!(json_run.status.success(), "{}", text(&json_run.stderr));
    let db_run = analyze_demo(&cluster, &target, &["--year", "2019"]);
    assert!(db_run.status.success(), "{}", text(&db_run.stderr));
    let expected = csv_rows(&std::fs::read_to_string(&csv_path).expect("csv"));
    assert!(expected.len() > 3_000);
    assert!(text(&db_run.stderr).contains(&format!("wrote {} rows to gapmap.coverage (SRID 4326)", expected.len())), "{}", text(&db_run.stderr));

    assert_eq!(psql_rows(&cluster, "gapmap.coverage"), expected, "psql reads other rows than the CSV has");
    assert_eq!(ogrinfo_rows(&cluster, "gapmap.coverage"), expected, "ogrinfo reads other rows than the CSV has");
    let gaps: Vec<Row> = expected.iter().filter(|r| !r.3).cloned().collect();
    assert!(!gaps.is_empty() && gaps.len() < expected.len());
    assert_eq!(psql_rows(&cluster, "gapmap.coverage_gaps"), gaps);

    // ogrinfo sees a MultiPolygon layer in EPSG:4326 with a spatial index; psql the keys.
    let layer = Command::new("ogrinfo").args(["-ro", "-so", &cluster.ogr_dsn(), "gapmap.coverage"]).output().expect("ogrinfo");
    let layer = text(&layer.stdout);
    assert!(layer.contains("Geometry: Multi Polygon") && layer.contains(&format!("Feature Count: {}", expected.len())), "{layer}");
    assert!(layer.contains("ID[\"EPSG\",4326]"), "{layer}");
    let indexes = cluster.psql_ok("gapmap", "SELECT indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'gapmap' ORDER BY 1");
    for wanted in ["coverage_pkey", "coverage_geom_idx", "coverage_gaps_pkey", "coverage_gaps_geom_idx", "coverage_summary_pkey"] {
        assert!(indexes.lines().any(|l| l.starts_with(&format!("{wanted} "))), "no index {wanted}:\n{indexes}");
    }
    assert!(indexes.contains("USING gist (geom)"), "{indexes}");
    // The geometry is each estate as it was read, in its own SRID.
    let drift = cluster.psql_ok(
        "gapmap",
        "SELECT max(ST_HausdorffDistance(c.geom, ST_Multi(e.geom))) FROM gapmap.coverage c JOIN estates e ON e.id::text = c.estate_id",
    );
    let drift: f64 = drift.trim().parse().expect("a distance");
    assert!(drift < 1e-9, "estate geometries moved by {drift} degrees on the way back");

    // The summary table holds the .json's figures.
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json")).expect("valid json");
    for kind in json["overall"].as_array().expect("overall") {
        let key = kind["kind"].as_str().expect("kind");
        let row = cluster.psql_ok("gapmap", &format!("SELECT estates_covered, households_covered, facilities FROM gapmap.coverage_summary WHERE level = 'overall' AND kind = '{key}'"));
        assert_eq!(row.trim(), format!("{}|{}|{}", kind["estates_covered"], kind["households_covered"], kind["facilities"]), "{key}");
    }
    let districts = cluster.psql_ok("gapmap", "SELECT count(DISTINCT district) FROM gapmap.coverage_summary WHERE level = 'district'");
    assert_eq!(districts.trim(), json["districts"].as_array().expect("districts").len().to_string());

    // A second run replaces the first entirely (other year, other figures).
    let csv_2021 = dir.path().join("coverage2021.csv");
    let csv_run = analyze_demo(&cluster, csv_2021.to_str().expect("utf-8"), &["--year", "2021"]);
    assert!(csv_run.status.success(), "{}", text(&csv_run.stderr));
    let expected_2021 = csv_rows(&std::fs::read_to_string(&csv_2021).expect("csv"));
    assert_ne!(expected_2021, expected, "the two years should differ for this test to mean anything");
    let db_run = analyze_demo(&cluster, &target, &["--year", "2021"]);
    assert!(db_run.status.success(), "{}", text(&db_run.stderr));
    assert_eq!(psql_rows(&cluster, "gapmap.coverage"), expected_2021);
    let leftovers = cluster.psql_ok("gapmap", "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'gapmap'");
    assert_eq!(leftovers.trim(), "coverage,coverage_gaps,coverage_summary");
    let comment = cluster.psql_ok("gapmap", "SELECT obj_description('gapmap.coverage'::regclass)");
    assert!(comment.contains("facilities open by 2021"), "{comment}");
}

#[test]
fn a_failed_write_leaves_the_previous_tables_intact_and_readable() {
    let cluster = TestCluster::start();
    demo_tables(&cluster);
    let dir = tempfile::tempdir().expect("temp dir");
    let csv_path = dir.path().join("coverage.csv");
    let target = cluster.uri("?table=gapmap.coverage");
    assert!(analyze_demo(&cluster, csv_path.to_str().expect("utf-8"), &["--year", "2019"]).status.success());
    let first = analyze_demo(&cluster, &target, &["--year", "2019"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let expected = csv_rows(&std::fs::read_to_string(&csv_path).expect("csv"));
    let summary_before = cluster.psql_ok("gapmap", "SELECT * FROM gapmap.coverage_summary ORDER BY level, district, kind");

    // 1. A view on the old table: everything new is loaded, then dropping the old table fails at
    //    the very end, inside the transaction.
    cluster.psql_ok("gapmap", "CREATE VIEW public.uncovered AS SELECT estate_id, kind FROM gapmap.coverage WHERE NOT covered");
    let failed = analyze_demo(&cluster, &target, &["--year", "2021"]);
    assert!(!failed.status.success());
    let stderr = text(&failed.stderr);
    assert!(stderr.contains("replacing the previous tables") && stderr.contains("the previous tables are unchanged"), "{stderr}");
    assert!(stderr.contains("view uncovered depends on table gapmap.coverage"), "{stderr}");
    assert_eq!(psql_rows(&cluster, "gapmap.coverage"), expected);
    assert_eq!(ogrinfo_rows(&cluster, "gapmap.coverage"), expected);
    assert_eq!(cluster.psql_ok("gapmap", "SELECT * FROM gapmap.coverage_summary ORDER BY level, district, kind"), summary_before);
    let leftovers = cluster.psql_ok("gapmap", "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'gapmap'");
    assert_eq!(leftovers.trim(), "coverage,coverage_gaps,coverage_summary", "no half-written table may remain");
    cluster.psql_ok("gapmap", "DROP VIEW public.uncovered");

    // 2. The connection drops midway: a reader holds the old table (ACCESS SHARE) so the write,
    //    its new tables loaded, waits at the swap; its backend is then terminated.
    let reader = Command::new("psql")
        .args(["-X", "-q", "-h", "127.0.0.1", "-p", &cluster.port.to_string(), "-U", "postgres", "-d", "gapmap", "-c"])
        .arg("BEGIN; LOCK TABLE gapmap.coverage IN ACCESS SHARE MODE; SELECT pg_sleep(120); COMMIT;")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("psql runs");
    let config = demo("gapmap.toml");
    let (estates, facilities) = (cluster.uri("?table=estates"), cluster.uri("?table=facilities"));
    let writer = Command::new(env!("CARGO_BIN_EXE_gapmap"))
        .args(["analyze", "--config", config.to_str().expect("utf-8"), "--estates", &estates, "--facilities", &facilities, "--year", "2021", "--out", &target])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gapmap runs");
    let started = std::time::Instant::now();
    let waiting = loop {
        let pid = cluster.psql_ok("gapmap", "SELECT pid FROM pg_stat_activity WHERE application_name = 'gapmap' AND wait_event_type = 'Lock'");
        if !pid.trim().is_empty() {
            break pid.trim().to_owned();
        }
        assert!(started.elapsed().as_secs() < 90, "the write never reached the swap");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // It waits at the swap, so everything new is loaded (but uncommitted, invisible from here).
    let query = cluster.psql_ok("gapmap", &format!("SELECT query FROM pg_stat_activity WHERE pid = {waiting}"));
    assert!(query.starts_with("DROP TABLE IF EXISTS \"gapmap\".\"coverage\"") && query.contains("RENAME TO"), "{query}");
    cluster.psql_ok("gapmap", &format!("SELECT pg_terminate_backend({waiting})"));
    let dropped = writer.wait_with_output().expect("gapmap exits");
    cluster.psql_ok("gapmap", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(120)%' AND pid <> pg_backend_pid()");
    let _ = reader.wait_with_output();
    assert!(!dropped.status.success(), "the write should fail when its connection drops");
    assert!(text(&dropped.stderr).contains("the previous tables are unchanged"), "{}", text(&dropped.stderr));
    assert_eq!(psql_rows(&cluster, "gapmap.coverage"), expected);
    assert_eq!(cluster.psql_ok("gapmap", "SELECT * FROM gapmap.coverage_summary ORDER BY level, district, kind"), summary_before);
    let leftovers = cluster.psql_ok("gapmap", "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'gapmap'");
    assert_eq!(leftovers.trim(), "coverage,coverage_gaps,coverage_summary");

    // 3. An output URI that cannot be a target, or a server that cannot be reached, fails before
    //    any work, naming the problem.
    for (uri, message) in [
        (cluster.uri("?query=SELECT%201"), "an output needs table=schema.name, not query="),
        (cluster.uri(""), "say where to write: add ?table=schema.name"),
        ("postgresql://postgres@127.0.0.1:1/gapmap?table=gapmap.coverage".to_owned(), "Connection refused"),
    ] {
        let run = analyze_demo(&cluster, &uri, &[]);
        assert!(!run.status.success());
        assert!(text(&run.stderr).contains(message), "{uri}: {}", text(&run.stderr));
    }
    assert_eq!(psql_rows(&cluster, "gapmap.coverage"), expected);
}

#[test]
fn db_init_installs_notify_triggers_idempotently_and_prints_its_sql() {
    let cluster = TestCluster::start();
    ogr2ogr(&cluster, &fixture("valid_facilities.geojson"), "facilities");
    cluster.psql_ok("gapmap", "CREATE SCHEMA city; CREATE TABLE city.estates (id integer PRIMARY KEY, geom geometry(Polygon, 4326))");
    let estates = cluster.uri("?table=city.estates");
    let facilities = cluster.uri("?table=facilities");

    let dry = gapmap(&["db", "init", "--dry-run", &estates, &facilities], &[]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(text(&dry.stdout).contains("CREATE OR REPLACE TRIGGER \"gapmap_notify_changed\""), "{}", text(&dry.stdout));
    assert_eq!(cluster.psql_ok("gapmap", "SELECT count(*) FROM pg_trigger WHERE tgname = 'gapmap_notify_changed'").trim(), "0", "--dry-run changed the database");

    for _ in 0..2 {
        let run = gapmap(&["db", "init", &estates, &facilities], &[]);
        assert!(run.status.success(), "{}", text(&run.stderr));
        let sql = text(&run.stdout);
        assert_eq!(sql.matches("CREATE OR REPLACE TRIGGER").count(), 2, "{sql}");
        assert!(sql.contains("ON \"city\".\"estates\"") && sql.contains("ON \"facilities\""), "{sql}");
    }
    assert_eq!(cluster.psql_ok("gapmap", "SELECT count(*) FROM pg_trigger WHERE tgname = 'gapmap_notify_changed'").trim(), "2");

    // A change in one transaction reaches a listener once, naming the table.
    let mut listener = postgres::Client::connect(&format!("host=127.0.0.1 port={} user=postgres dbname=gapmap", cluster.port), postgres::NoTls).expect("connect");
    listener.batch_execute("LISTEN gapmap_changed").expect("listen");
    cluster.psql_ok(
        "gapmap",
        "BEGIN; INSERT INTO city.estates VALUES (1, ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))', 4326)), (2, ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))', 4326)); COMMIT;",
    );
    let mut notifications = listener.notifications();
    let mut received: Vec<(String, String)> = Vec::new();
    let mut iter = notifications.timeout_iter(std::time::Duration::from_secs(5));
    while let Ok(Some(n)) = postgres::fallible_iterator::FallibleIterator::next(&mut iter) {
        received.push((n.channel().to_owned(), n.payload().to_owned()));
        if received.len() > 1 {
            break;
        }
    }
    assert_eq!(received, vec![("gapmap_changed".to_owned(), "city.estates".to_owned())]);

    let query = gapmap(&["db", "init", &cluster.uri("?query=SELECT%201")], &[]);
    assert!(!query.status.success());
    assert!(text(&query.stderr).contains("a trigger goes on a table"), "{}", text(&query.stderr));
}

#[test]
fn print_config_never_shows_a_database_password() {
    let uri = "postgresql://planner:hunter2@db.example:5432/city?table=plan.estates";
    let run = gapmap(&["analyze", "--estates", uri, "--facilities", "postgres://planner:hunter2@db.example/city?table=pois", "--print-config"], &[]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(stdout.contains("postgresql://planner:***@db.example:5432/city?table=plan.estates"), "{stdout}");
    assert!(stdout.contains("postgres://planner:***@db.example/city?table=pois"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
}

/// A plain HTTP/1.0 GET on loopback; returns the body.
fn http_get(base: &str, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let address = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(address).expect("connect to gapmap serve");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"), "{path}: {head}");
    body.to_owned()
}

#[test]
fn serve_loads_its_data_from_postgis_like_from_files() {
    let cluster = TestCluster::start();
    demo_tables(&cluster);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("gapmap.toml");
    std::fs::write(
        &config,
        format!(
            "[estates]\npath = \"{}\"\n\n[[facilities]]\npath = \"{}\"\n\n[analysis]\nworking_crs = \"auto\"\n",
            cluster.uri("?table=estates"),
            cluster.uri("?table=facilities")
        ),
    )
    .expect("write config");
    let (_db_server, db_url) = server::serve(&config);
    let (_file_server, file_url) = server::serve(&demo("gapmap.toml"));
    for path in ["/collections/estates/items?limit=5&f=json", "/collections/gaps/items?limit=5&f=json", "/coverage?lon=114.51&lat=38.04&f=json"] {
        let (from_db, from_files) = (http_get(&db_url, path), http_get(&file_url, path));
        let (a, b): (serde_json::Value, serde_json::Value) = (serde_json::from_str(&from_db).expect("json"), serde_json::from_str(&from_files).expect("json"));
        if path.contains("items") {
            assert_eq!(a["numberMatched"], b["numberMatched"], "{path}");
            assert_eq!(a["features"].as_array().map(Vec::len), Some(5), "{path}");
            let ids = |v: &serde_json::Value| v["features"].as_array().expect("features").iter().map(|f| f["id"].clone()).collect::<Vec<_>>();
            assert_eq!(ids(&a), ids(&b), "{path}");
        } else {
            assert_eq!(a, b, "{path}");
        }
    }
}

#[test]
fn field_mapping_kind_values_and_filters_apply_to_database_sources_as_to_files() {
    let cluster = TestCluster::start();
    demo_tables(&cluster);
    let dir = tempfile::tempdir().expect("temp dir");
    // Renamed columns and a local kind name, as a bureau's POI table might have them.
    let facilities_query = "SELECT%20id%20AS%20poi_code,%20CASE%20kind%20WHEN%20'market'%20THEN%20'%E8%8F%9C%E5%B8%82%E5%9C%BA'%20ELSE%20kind%20END%20AS%20category,%20capacity,%20opened_year,%20geom%20FROM%20facilities";
    let common = "[analysis]\nworking_crs = \"auto\"\nyear = 2021\n";
    let files = format!(
        "[estates]\npath = \"{}\"\nfilter = {{ district = \"长安区\" }}\n\n[[facilities]]\npath = \"{}\"\n\n{common}",
        demo("estates.geojson").display(),
        demo("facilities.geojson").display()
    );
    let db = format!(
        "[estates]\npath = \"{}\"\nfilter = {{ district = \"长安区\" }}\n\n[[facilities]]\npath = \"{}\"\nfields = {{ id = \"poi_code\", kind = \"category\" }}\nkind_values = {{ \"菜市场\" = \"market\" }}\n\n{common}",
        cluster.uri("?table=estates"),
        cluster.uri(&format!("?query={facilities_query}"))
    );
    let mut outputs = Vec::new();
    for (name, config) in [("files", files), ("db", db)] {
        let config_path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&config_path, config).expect("write config");
        let out = dir.path().join(format!("{name}.csv"));
        let run = gapmap(&["analyze", "--config", config_path.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")], &[]);
        assert!(run.status.success(), "{name}: {}", text(&run.stderr));
        assert!(text(&run.stderr).contains("features do not match the source's filter and were skipped"), "{name}: {}", text(&run.stderr));
        outputs.push(std::fs::read_to_string(&out).expect("csv"));
    }
    let estates: std::collections::BTreeSet<&str> = outputs[0].lines().skip(1).filter_map(|l| l.split(',').next()).collect();
    assert!(!estates.is_empty() && estates.len() < 3_000, "the filter should keep one district's estates, kept {}", estates.len());
    assert!(outputs[0].lines().any(|l| l.contains(",market,") && l.contains(",true,")), "markets should cover some estates");
    assert_eq!(outputs[0], outputs[1]);
}

/// The demo city's estates and facilities as the tables `estates` and `facilities` (ogr2ogr).
fn demo_tables(cluster: &TestCluster) {
    ogr2ogr(cluster, &demo("estates.geojson"), "estates");
    ogr2ogr(cluster, &demo("facilities.geojson"), "facilities");
}

/// `gapmap serve` with `watch = true` over the `estates` and `facilities` URIs (a config in a
/// temporary directory, kept as long as the server runs), and its base URL.
fn serve_watching(estates: &str, facilities: &str) -> (tempfile::TempDir, server::Server, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("gapmap.toml");
    std::fs::write(
        &config,
        format!("[estates]\npath = \"{estates}\"\n\n[[facilities]]\npath = \"{facilities}\"\n\n[analysis]\nworking_crs = \"auto\"\n\n[serve]\nwatch = true\nwatch_settle_ms = 300\n"),
    )
    .expect("write config");
    let (server, url) = server::serve(&config);
    (dir, server, url)
}

/// `/health` as JSON.
fn health(base: &str) -> serde_json::Value {
    serde_json::from_str(&http_get(base, "/health")).expect("health is JSON")
}

#[test]
fn serve_watch_reloads_when_a_transaction_changes_a_database_source() {
    let cluster = TestCluster::start();
    demo_tables(&cluster);
    let (estates, facilities) = (cluster.uri("?table=estates"), cluster.uri("?table=facilities"));
    let init = gapmap(&["db", "init", &estates, &facilities], &[]);
    assert!(init.status.success(), "{}", text(&init.stderr));
    let (_dir, _server, url) = serve_watching(&estates, &facilities);
    let before = health(&url);
    let first = before["data_version"].as_u64().expect("a data version");
    let count = before["facilities"].as_u64().expect("a facility count");

    // Two new facilities in one transaction: one reload, with both.
    cluster.psql_ok(
        "gapmap",
        "BEGIN; INSERT INTO facilities (id, kind, name, capacity, opened_year, district, geom) SELECT 900001, kind, 'new one', capacity, opened_year, district, geom FROM facilities WHERE id = 1; \
         INSERT INTO facilities (id, kind, name, capacity, opened_year, district, geom) SELECT 900002, kind, 'new two', capacity, opened_year, district, geom FROM facilities WHERE id = 2; COMMIT;",
    );
    let after = wait_for_version_change(&url, first, 60);
    assert_eq!(reloads_reaching(&url, 1), 1, "one reload after the transaction: {after}");
    assert_eq!(after["facilities"].as_u64(), Some(count + 2), "{after}");
    let page: serde_json::Value = serde_json::from_str(&http_get(&url, "/collections/facilities/items/900002?f=json")).expect("json");
    assert_eq!(page["properties"]["name"], "new two");
    // No further reload without a change.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(reloads(&url), 1);
    assert_eq!(health(&url)["data_version"], after["data_version"]);
}

/// Waits up to `seconds` for `/health`'s data version to differ from `from`; panics otherwise.
fn wait_for_version_change(url: &str, from: u64, seconds: u64) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let h = health(url);
        if h["data_version"].as_u64() != Some(from) {
            return h;
        }
        assert!(std::time::Instant::now() < deadline, "the data version stayed {from} for {seconds} s: {h}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `gapmap_reloads_total` once it reached `expected` (the counter is bumped just after the new
/// data is swapped in, so it may lag the version by a moment), or after 10 s.
fn reloads_reaching(url: &str, expected: u64) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let n = reloads(url);
        if n >= expected || std::time::Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `gapmap_reloads_total` from `/metrics`.
fn reloads(url: &str) -> u64 {
    let metrics = http_get(url, "/metrics");
    metrics.lines().find_map(|l| l.strip_prefix("gapmap_reloads_total ")).and_then(|n| n.trim().parse().ok()).unwrap_or_else(|| panic!("no gapmap_reloads_total in:\n{metrics}"))
}

/// Without the `gapmap db init` triggers (where they are not allowed), `serve --watch` finds the
/// sources have none and polls them (every 10 s unless `serve.poll_interval_s` says otherwise):
/// an INSERT and then an UPDATE that keeps the row count are each picked up by one reload, and
/// nothing reloads while nothing changes.
#[test]
fn serve_watch_polls_sources_without_triggers() {
    let cluster = TestCluster::start();
    demo_tables(&cluster);
    let (estates, facilities) = (cluster.uri("?table=estates"), cluster.uri("?table=facilities"));
    let triggers = cluster.psql_ok("gapmap", "SELECT count(*) FROM pg_trigger WHERE tgname = 'gapmap_notify_changed'");
    assert_eq!(triggers.trim(), "0", "no triggers in this database");
    let (_dir, _server, url) = serve_watching(&estates, &facilities);
    let before = health(&url);
    let first = before["data_version"].as_u64().expect("a data version");
    let count = before["facilities"].as_u64().expect("a facility count");

    cluster.psql_ok("gapmap", "INSERT INTO facilities (id, kind, name, capacity, opened_year, district, geom) SELECT 900001, kind, 'polled', capacity, opened_year, district, geom FROM facilities WHERE id = 1");
    // The default interval (10 s) plus the settling and the reload.
    let second = wait_for_version_change(&url, first, 60);
    assert_eq!(second["facilities"].as_u64(), Some(count + 1), "{second}");
    assert_eq!(reloads_reaching(&url, 1), 1);

    // An UPDATE leaves the count as it was; the fingerprint still changes.
    cluster.psql_ok("gapmap", "UPDATE facilities SET name = 'polled and renamed' WHERE id = 900001");
    let second_version = second["data_version"].as_u64().expect("a data version");
    let third = wait_for_version_change(&url, second_version, 60);
    assert_eq!(third["facilities"].as_u64(), Some(count + 1), "{third}");
    let page: serde_json::Value = serde_json::from_str(&http_get(&url, "/collections/facilities/items/900001?f=json")).expect("json");
    assert_eq!(page["properties"]["name"], "polled and renamed");
    assert_eq!(reloads_reaching(&url, 2), 2);

    // A transaction that rolls back changes nothing visible: no reload over the next polls.
    cluster.psql_ok("gapmap", "BEGIN; DELETE FROM facilities WHERE id = 900001; ROLLBACK;");
    std::thread::sleep(std::time::Duration::from_secs(12));
    assert_eq!(reloads(&url), 2, "nothing changed, nothing reloads");
    assert_eq!(health(&url)["data_version"], third["data_version"]);
}

/// `gapmap plan --out postgresql://…?table=…` writes its sites as `analyze` writes its results:
/// one table replaced atomically, a primary key and a spatial index, the points in the estates'
/// SRID, the same sites as the JSON output; a second run replaces the first, and a run whose
/// write fails leaves the previous table as it was.
#[test]
fn plan_writes_its_sites_to_postgis() {
    let cluster = TestCluster::start();
    demo_tables(&cluster);
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("plan.json");
    let target = cluster.uri("?table=gapmap.day_care_sites");
    let base = ["plan", "--estates", &cluster.uri("?table=estates"), "--facilities", &cluster.uri("?table=facilities"), "--kind", "day_care", "--working-crs", "auto"];
    let run = |count: &str, out: &str| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(["--count", count, "--out", out]);
        gapmap(&args, &[])
    };
    let to_json = run("5", json.to_str().expect("utf-8"));
    assert!(to_json.status.success(), "{}", text(&to_json.stderr));
    let to_db = run("5", &target);
    assert!(to_db.status.success(), "{}", text(&to_db.stderr));
    assert!(text(&to_db.stderr).contains("wrote 5 sites to gapmap.day_care_sites (SRID 4326)"), "{}", text(&to_db.stderr));

    let document: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("json");
    let expected: Vec<String> = document["sites"]
        .as_array()
        .expect("sites")
        .iter()
        .map(|s| format!("{}|{}|{}|{}|{}", s["rank"], s["id"].as_str().expect("id"), s["households_new"].as_f64().expect("households"), s["estates_new"], s["covers"].as_array().expect("covers").len()))
        .collect();
    let rows = cluster.psql_ok("gapmap", "SELECT rank, id, households_new, estates_new, cardinality(covers) FROM gapmap.day_care_sites ORDER BY rank");
    assert_eq!(rows.lines().map(str::to_owned).collect::<Vec<_>>(), expected);
    // The geometry is the site's point (CRS84 = SRID 4326 here), to a millimetre.
    let far = cluster.psql_ok("gapmap", "SELECT count(*) FROM gapmap.day_care_sites WHERE ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography) > 0.001");
    assert_eq!(far.trim(), "0");
    let shape = cluster.psql_ok(
        "gapmap",
        "SELECT (SELECT string_agg(a.attname, ',') FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'gapmap.day_care_sites'::regclass AND i.indisprimary), \
         (SELECT count(*) FROM pg_indexes WHERE schemaname = 'gapmap' AND tablename = 'day_care_sites' AND indexdef LIKE '%USING gist (geom)%'), \
         obj_description('gapmap.day_care_sites'::regclass) LIKE '%plan of 5 day_care sites%'",
    );
    assert_eq!(shape.trim(), "rank|1|t", "{shape}");
    // ogrinfo sees a point layer.
    let info = Command::new("ogrinfo").args(["-so", &cluster.ogr_dsn(), "gapmap.day_care_sites"]).output().expect("ogrinfo runs");
    assert!(text(&info.stdout).contains("Geometry: Point") && text(&info.stdout).contains("Feature Count: 5"), "{}", text(&info.stdout));

    // A second run replaces the table.
    let again = run("3", &target);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(cluster.psql_ok("gapmap", "SELECT count(*) FROM gapmap.day_care_sites").trim(), "3");

    // A run whose swap fails (a view depends on the table) changes nothing.
    cluster.psql_ok("gapmap", "CREATE VIEW gapmap.first_site AS SELECT * FROM gapmap.day_care_sites WHERE rank = 1");
    let blocked = run("4", &target);
    assert!(!blocked.status.success(), "the swap should fail while a view depends on the table");
    assert!(text(&blocked.stderr).contains("gapmap.first_site") || text(&blocked.stderr).contains("depend"), "{}", text(&blocked.stderr));
    assert_eq!(cluster.psql_ok("gapmap", "SELECT count(*) FROM gapmap.day_care_sites").trim(), "3", "the old plan stays");
    assert_eq!(cluster.psql_ok("gapmap", "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%gapmap_new%'").trim(), "0", "no new table is left behind");

    // A bad target fails before any work, naming what is wrong.
    let bad = run("4", &cluster.uri("?query=SELECT%201"));
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("table=schema.name"), "{}", text(&bad.stderr));
}
