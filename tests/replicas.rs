//! Two `gapmap serve --watch` replicas over one PostGIS database behind nginx, as the README's
//! deployment section runs them (deploy/nginx.conf): the replicas give byte-identical bodies and
//! identical ETags; a row inserted in one transaction reloads both, to the same new version;
//! while clients load nginx, a replica killed mid-request loses no request (nginx retries the
//! other), and once restarted it gets traffic again.
//!
//! Needs PostgreSQL 15 + PostGIS (tests/common/pg.rs starts a throwaway cluster) and nginx
//! (`nginx-light`, installed by scripts/setup.sh); run as root, like the PostGIS tests. Without
//! nginx the test is skipped with a message when not root (it cannot be installed then), and
//! fails as root (run scripts/setup.sh).
#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

#[path = "common/pg.rs"]
mod pg;
#[path = "common/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pg::TestCluster;

/// Where nginx is, if installed.
fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().map(PathBuf::from).find(|p| p.exists())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo").join(name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `gapmap serve --config CONFIG --bind 127.0.0.1:PORT`, once it listens (its data loaded).
fn replica(config: &Path, port: u16, name: &str) -> server::Server {
    server::serve_at(config, &format!("127.0.0.1:{port}"), name).0
}

/// nginx with deploy/nginx.conf filled in for `upstreams`, listening on `port`, in `prefix`.
fn nginx(binary: &Path, prefix: &Path, port: u16, upstreams: &[u16]) -> Nginx {
    let template = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx.conf")).unwrap();
    let servers: Vec<String> = upstreams.iter().map(|p| format!("server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;")).collect();
    let conf = template
        .replace("@PREFIX@", prefix.to_str().unwrap())
        .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
        .replace("@SERVERS@", &servers.join("\n        "))
        .replace("@WORKERS@", "1");
    let left = conf.split('@').skip(1).step_by(2).find(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase()));
    assert!(left.is_none(), "placeholder @{}@ of deploy/nginx.conf is not filled in", left.unwrap_or_default());
    let path = prefix.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let check = Command::new(binary).args(["-t", "-q", "-p", prefix.to_str().unwrap(), "-c", path.to_str().unwrap()]).output().unwrap();
    assert!(check.status.success(), "nginx -t rejects deploy/nginx.conf: {}", String::from_utf8_lossy(&check.stderr));
    let child = Command::new(binary)
        .args(["-p", prefix.to_str().unwrap(), "-c", path.to_str().unwrap(), "-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "nginx did not listen on {port}: {}", std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx(child)
}

/// The nginx master; dropping it stops nginx with SIGTERM, which stops its workers too (a
/// SIGKILL would leave them running, holding the port).
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTP answer: status, headers (lower-case names) and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// `GET path` over HTTP/1.0 (the body ends with the connection; no chunking), with `headers`.
fn fetch(port: u16, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: gapmap.test\r\n");
    for (k, v) in headers {
        let _ = write!(request, "{k}: {v}\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other(format!("no header end in {} bytes", raw.len())))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())).collect();
    Ok(Answer { status, headers, body: raw[split + 4..].to_vec() })
}

fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Answer {
    fetch(port, path, headers).unwrap_or_else(|e| panic!("GET {path} on port {port}: {e}"))
}

fn version(port: u16) -> u64 {
    get(port, "/health", &[]).json()["data_version"].as_u64().expect("a data version")
}

/// `/metrics`' `gapmap_http_requests_total` for one route, summed over statuses.
fn requests_on(port: u16, route: &str) -> u64 {
    let text = String::from_utf8(get(port, "/metrics", &[]).body).unwrap();
    let prefix = format!("gapmap_http_requests_total{{route=\"{route}\",");
    text.lines().filter(|l| l.starts_with(&prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum()
}

/// Requests a map client and a GIS client make: landing page, collections, items pages (plain
/// and with a bbox, in another CRS), one feature, a point query, the OpenAPI document, TileJSON
/// and a tile, the web map's config.
const PATHS: &[&str] = &[
    "/?f=json",
    "/collections?f=json",
    "/collections/estates/items?limit=50&f=json",
    "/collections/estates/items?bbox=114.45,38.0,114.55,38.08&limit=200&f=json",
    "/collections/facilities/items?limit=20&offset=40&crs=http://www.opengis.net/def/crs/EPSG/0/3857&f=json",
    "/collections/gaps/items?limit=30&f=json",
    "/collections/districts/items?f=json",
    "/coverage?lon=114.51&lat=38.04&f=json",
    "/api",
    "/tiles/estates.json",
    "/map/config.json",
];

/// The zoom-13 tile holding the middle of a TileJSON's bounds.
fn middle_tile(tilejson: &serde_json::Value) -> String {
    let b: Vec<f64> = tilejson["bounds"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let (lon, lat) = ((b[0] + b[2]) / 2.0, ((b[1] + b[3]) / 2.0).to_radians());
    let n = 8192.0_f64;
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let y = ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor();
    format!("/tiles/facilities/13/{x}/{y}.mvt")
}

#[test]
fn two_replicas_behind_nginx_agree_follow_the_database_and_survive_a_kill() {
    let Some(nginx_bin) = nginx_binary() else {
        assert!(!is_root(), "nginx is not installed; run scripts/setup.sh (it installs nginx-light)");
        eprintln!("SKIPPED: nginx is not installed and installing it needs root (scripts/setup.sh installs nginx-light)");
        return;
    };
    if let Some(why) = TestCluster::unavailable() {
        assert!(!is_root(), "{why}");
        eprintln!("SKIPPED: {why}");
        return;
    }
    let cluster = TestCluster::start();
    for (file, table) in [("estates.geojson", "estates"), ("facilities.geojson", "facilities")] {
        let out = Command::new("ogr2ogr")
            .args(["-f", "PostgreSQL", &cluster.ogr_dsn(), demo(file).to_str().unwrap(), "-nln", table, "-lco", "GEOMETRY_NAME=geom"])
            .output()
            .expect("ogr2ogr runs (gdal-bin)");
        assert!(out.status.success(), "ogr2ogr {file}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let (estates, facilities) = (cluster.uri("?table=estates"), cluster.uri("?table=facilities"));
    let init = Command::new(env!("CARGO_BIN_EXE_gapmap")).args(["db", "init", &estates, &facilities]).output().unwrap();
    assert!(init.status.success(), "gapmap db init: {}", String::from_utf8_lossy(&init.stderr));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gapmap.toml");
    std::fs::write(
        &config,
        format!("[estates]\npath = \"{estates}\"\n\n[[facilities]]\npath = \"{facilities}\"\n\n[analysis]\nworking_crs = \"auto\"\n\n[serve]\nwatch = true\nwatch_settle_ms = 300\n"),
    )
    .unwrap();
    let (port_one, port_two, port_lb) = (free_port(), free_port(), free_port());
    let mut a = replica(&config, port_one, "replica a");
    let _b = replica(&config, port_two, "replica b");
    let prefix = dir.path().join("nginx");
    std::fs::create_dir(&prefix).unwrap();
    let _nginx = nginx(&nginx_bin, &prefix, port_lb, &[port_one, port_two]);

    // 1. The same bytes and the same ETag from either replica, and through nginx.
    let first = version(port_one);
    assert_eq!(version(port_two), first, "two processes over the same data: one data version");
    assert_replicas_agree(port_one, port_two, port_lb, first);

    // 2. One transaction inserting a facility reloads both replicas, to the same new version.
    let facilities_before = get(port_one, "/health", &[]).json()["facilities"].as_u64().unwrap();
    cluster.psql_ok(
        "gapmap",
        "BEGIN; INSERT INTO facilities (id, kind, name, capacity, opened_year, district, geom) SELECT 900001, kind, 'replicated', capacity, opened_year, district, geom FROM facilities WHERE id = 1; COMMIT;",
    );
    let inserted = Instant::now();
    let deadline = inserted + Duration::from_secs(30);
    let (version_a, version_b) = loop {
        let versions = (version(port_one), version(port_two));
        if versions.0 != first && versions.1 != first {
            break versions;
        }
        assert!(Instant::now() < deadline, "not both replicas reloaded within 30 s: versions {versions:?} (was {first})");
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("both replicas reloaded {:.1} s after the commit", inserted.elapsed().as_secs_f64());
    assert_eq!(version_a, version_b, "the same new data, the same new version on both");
    for port in [port_one, port_two] {
        let h = get(port, "/health", &[]).json();
        assert_eq!(h["facilities"].as_u64(), Some(facilities_before + 1), "{h}");
        assert_eq!(get(port, "/collections/facilities/items/900001?f=json", &[]).json()["properties"]["name"], "replicated");
    }
    assert_replicas_agree(port_one, port_two, port_lb, version_a);

    // 3. Clients load nginx; replica a is killed (SIGKILL, mid-request), then restarted on its
    // port. No client request fails: nginx retries on b, and sends a traffic again once it is back.
    let load = Load::start(port_lb);
    std::thread::sleep(Duration::from_secs(2));
    let before_kill = load.ok.load(Ordering::Relaxed);
    assert!(before_kill > 10, "the clients are not getting answers: {before_kill}");
    a.0.kill().unwrap();
    a.0.wait().unwrap();
    let killed_at = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let during_outage = load.ok.load(Ordering::Relaxed) - before_kill;
    assert!(during_outage > 10, "replica b alone should keep answering: {during_outage} answers in 2 s");
    a = replica(&config, port_one, "replica a (restarted)");
    eprintln!("replica a back {:.1} s after it was killed", killed_at.elapsed().as_secs_f64());
    assert_eq!(version(port_one), version_b, "the restarted replica loads the same data: the same version");
    let route = "/collections/{collection}/items";
    let served_by_a = requests_on(port_one, route);
    std::thread::sleep(Duration::from_secs(5));
    let (ok, failures) = load.stop();
    let after_restart = requests_on(port_one, route) - served_by_a;
    eprintln!("{ok} requests answered through nginx, {} failed; replica a served {after_restart} items pages after its restart", failures.len());
    assert!(failures.is_empty(), "{} requests lost while a replica was killed: {:?}", failures.len(), failures.iter().take(5).collect::<Vec<_>>());
    assert!(after_restart > 10, "nginx does not send the restarted replica traffic: {after_restart} items requests in 5 s");
    drop(a);
}

/// The same status, bytes, ETag and data version from either replica and through nginx, plain
/// and gzipped, for every request in [`PATHS`] and a tile; a copy from one is current at the
/// other (304).
fn assert_replicas_agree(port_one: u16, port_two: u16, port_lb: u16, expected_version: u64) {
    let tile = middle_tile(&get(port_one, "/tiles/facilities.json", &[]).json());
    for path in PATHS.iter().copied().chain([tile.as_str()]) {
        for encoding in [&[][..], &[("accept-encoding", "gzip")][..]] {
            let (from_a, from_b, via_lb) = (get(port_one, path, encoding), get(port_two, path, encoding), get(port_lb, path, encoding));
            assert_eq!(from_a.status, 200, "{path}: {}", String::from_utf8_lossy(&from_a.body));
            assert_eq!((from_b.status, via_lb.status), (200, 200), "{path}");
            assert!(from_a.body == from_b.body, "{path} {encoding:?}: the replicas' bodies differ");
            assert!(from_a.body == via_lb.body, "{path} {encoding:?}: nginx's body differs from the replica's");
            let tag = from_a.header("etag").unwrap_or_else(|| panic!("{path}: no ETag"));
            assert_eq!(from_b.header("etag"), Some(tag), "{path} {encoding:?}");
            assert_eq!(via_lb.header("etag"), Some(tag), "{path} {encoding:?}");
            assert_eq!(from_a.header("x-gapmap-data-version"), Some(expected_version.to_string().as_str()), "{path}");
            assert_eq!(from_b.header("x-gapmap-data-version"), from_a.header("x-gapmap-data-version"), "{path}");
            let mut conditional = encoding.to_vec();
            conditional.push(("if-none-match", tag));
            assert_eq!(get(port_two, path, &conditional).status, 304, "{path}: replica b does not honour replica a's ETag");
        }
    }
    let page = get(port_one, "/collections/estates/items?limit=50&f=json", &[]).json();
    assert_eq!(page["dataVersion"].as_u64(), Some(expected_version));
    assert!(page.get("timeStamp").is_none(), "no per-replica timestamp in pages");
}

/// Four clients asking nginx for items pages and /health in a loop, each answer checked whole.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<std::sync::Mutex<Vec<String>>>,
    clients: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let clients = (0..4)
            .map(|i| {
                let (stop, ok, failures) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failures));
                std::thread::spawn(move || {
                    let mut n = i;
                    while !stop.load(Ordering::Relaxed) {
                        let path = ["/collections/estates/items?bbox=114.45,38.0,114.55,38.08&limit=100&f=json", "/collections/facilities/items?limit=50&f=json", "/health"][n % 3];
                        n += 1;
                        match fetch(port, path, &[]) {
                            // Whole: a response cut off by the kill would be short of its length.
                            Ok(answer) if answer.status == 200 && answer.header("content-length").is_some_and(|len| len.parse() == Ok(answer.body.len())) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(answer) => {
                                let shown = String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)]).into_owned();
                                failures.lock().unwrap().push(format!("{path}: {} (content-length {:?}, {} bytes) {shown}", answer.status, answer.header("content-length"), answer.body.len()));
                            }
                            Err(e) => failures.lock().unwrap().push(format!("{path}: {e}")),
                        }
                    }
                })
            })
            .collect();
        Self { stop, ok, failures, clients }
    }

    /// Stops the clients; the answers that were whole and 200, and the failures.
    fn stop(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for c in self.clients {
            c.join().unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.ok.load(Ordering::Relaxed), failures)
    }
}
