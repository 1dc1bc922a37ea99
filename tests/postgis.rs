//! PostGIS as a source and a sink, against a real PostgreSQL 15 + PostGIS cluster that each test
//! starts for itself (tests/common/pg.rs) and that is stopped and removed when the test ends.
//!
//! Inputs are put into the database with `ogr2ogr` (as a planning bureau would), results are
//! read back with `psql` and `ogrinfo` (as their other tools would).

#[path = "common/pg.rs"]
mod pg;

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
    ogr2ogr(&cluster, &demo("estates.geojson"), "estates");
    ogr2ogr(&cluster, &demo("facilities.geojson"), "facilities");
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
