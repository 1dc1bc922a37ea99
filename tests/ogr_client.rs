//! Real-client test: starts the `gapmap` binary on a free loopback port and reads it with GDAL's
//! OAPIF driver (`ogrinfo`, `ogr2ogr` from gdal-bin), then stops it with SIGTERM.
//!
//! Checks that every collection is listed with its geometry type, that paging through `next`
//! with a small page size returns exactly `numberMatched` features, and that bbox and attribute
//! filters reach the server (its request log shows them, and the counts match the server's).
#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gapmap::generate::{generate_city, CityParams};
use serde_json::Value;

struct Server {
    child: Child,
    address: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gapmap"))
            .args(["serve", "--config"])
            .arg(config)
            .args(["--bind", "127.0.0.1:0"])
            .env("RUST_LOG", "tower_http=debug,gapmap=info")
            .env("NO_COLOR", "1")
            .env_remove("GAPMAP_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let clean = strip_ansi(&line);
                if let Some(address) = clean.strip_prefix("listening on http://") {
                    let _ = tx.send(address.trim().to_owned());
                }
                lines.lock().unwrap().push(clean);
            }
        });
        let address = rx.recv_timeout(Duration::from_secs(180)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the server did not start:\n{}", log.lock().unwrap().join("\n"))
        });
        Self { child, address, log }
    }

    fn url(&self) -> String {
        format!("OAPIF:http://{}", self.address)
    }

    /// Request URIs the server has logged.
    fn requests(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("started processing request"))
            .filter_map(|l| l.split("uri=").nth(1).and_then(|rest| rest.split_whitespace().next()).map(ToOwned::to_owned))
            .collect()
    }

    /// GET over a plain socket; the body as JSON.
    fn get_json(&self, path: &str) -> Value {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n", self.address).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let text = String::from_utf8(response).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}\n{body}");
        serde_json::from_str(body).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program} (install gdal-bin): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{program} {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn feature_ids(path: &Path) -> Vec<String> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["features"].as_array().unwrap().iter().map(|f| f["properties"]["id"].to_string()).collect()
}

#[test]
fn gdal_oapif_reads_every_collection() {
    let dir = tempfile::tempdir().unwrap();
    let city = generate_city(&CityParams { estates: 240, facilities: 720, seed: 5, ..CityParams::default() });
    gapmap::io::geojson::write_feature_collection(&dir.path().join("estates.geojson"), &city.estates, Some("estates")).unwrap();
    gapmap::io::geojson::write_feature_collection(&dir.path().join("facilities.geojson"), &city.facilities, Some("facilities")).unwrap();
    let config = dir.path().join("gapmap.toml");
    std::fs::write(&config, "[estates]\npath = \"estates.geojson\"\n\n[[facilities]]\npath = \"facilities.geojson\"\n").unwrap();
    let server = Server::start(&config);

    // Every collection, with its geometry type.
    let listing = run("ogrinfo", &["-ro", "-q", &server.url()]);
    for (name, geometry) in [("estates", "Multi Polygon"), ("facilities", "Point"), ("gaps", "Multi Polygon"), ("service-areas", "Multi Polygon"), ("districts", "Polygon")] {
        assert!(listing.lines().any(|l| l.contains(&format!(": {name} ")) && l.trim_end().ends_with(&format!("({geometry})"))), "{name} ({geometry}) not listed:\n{listing}");
    }

    // Paging through `next` with a small page returns exactly numberMatched features.
    let matched = server.get_json("/collections/estates/items?limit=1")["numberMatched"].as_u64().unwrap();
    assert_eq!(matched, 240);
    let out = dir.path().join("estates.out.geojson");
    run("ogr2ogr", &["-f", "GeoJSON", out.to_str().unwrap(), &server.url(), "estates", "-oo", "PAGE_SIZE=37"]);
    let ids = feature_ids(&out);
    assert_eq!(ids.len() as u64, matched);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "a feature came twice");
    // GDAL reads the first page (twice: once for the schema), then follows `next` links.
    let offsets: BTreeSet<u64> = server
        .requests()
        .into_iter()
        .filter(|u| u.starts_with("/collections/estates/items") && u.contains("limit=37"))
        .map(|u| u.split("offset=").nth(1).map_or(0, |o| o.split('&').next().unwrap().parse().unwrap()))
        .collect();
    assert_eq!(offsets, (0..240).step_by(37).collect(), "240 features in pages of 37: {:?}", server.requests());

    // bbox and attribute filters reach the server, and the result matches its own count.
    let (w, s, e, n) = (114.49, 38.02, 114.53, 38.06);
    let expected = server.get_json(&format!("/collections/facilities/items?limit=1&bbox={w},{s},{e},{n}&kind=market"))["numberMatched"].as_u64().unwrap();
    assert!(expected > 0);
    let out = dir.path().join("markets.geojson");
    let (ws, ss, es, ns) = (w.to_string(), s.to_string(), e.to_string(), n.to_string());
    run(
        "ogr2ogr",
        &["-f", "GeoJSON", out.to_str().unwrap(), &server.url(), "facilities", "-spat", &ws, &ss, &es, &ns, "-where", "kind = 'market'", "-oo", "PAGE_SIZE=5"],
    );
    assert_eq!(feature_ids(&out).len() as u64, expected);
    let filtered: Vec<String> =
        server.requests().into_iter().filter(|u| u.starts_with("/collections/facilities/items") && u.contains("limit=5") && u.contains("bbox=") && u.contains("kind=market")).collect();
    assert!(filtered.len() as u64 > expected / 5, "the filters did not reach the server on every page: {:?}", server.requests());

    // ogrinfo reads the server's numberMatched as the feature count.
    let summary = run("ogrinfo", &["-ro", "-so", &server.url(), "gaps"]);
    let gaps = server.get_json("/collections/gaps/items?limit=1")["numberMatched"].as_u64().unwrap();
    assert!(summary.contains(&format!("Feature Count: {gaps}")), "{summary}");

    // Graceful shutdown on SIGTERM.
    let mut server = server;
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "exit status after SIGTERM: {exit}");
}
