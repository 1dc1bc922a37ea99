//! Bounded resources under hostile clients (issue #14, items 2, 3, 4 and the admin part of 9):
//! answers clients never read, idle and half-open connections, the connection cap and the
//! descriptor limit (against a real `gapmap serve` child process, whose RSS and descriptors are
//! read from `/proc`), reloads of half-written files, and failed admin attempts (in-process).
#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::http::{get_with, send, write_city};
use gapmap::config::{Config, SourceConfig};
use gapmap::http::{load_dataset, AppState};

const TOKEN: &str = "limits-test-token-0123456789";

/// Kills the server when the test ends, however it ends.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `gapmap serve` on port 0 over `estates.geojson` and `facilities.geojson` in `dir`,
    /// with `serve` added to the `[serve]` table; `shell` prefixes the command (`ulimit …;`).
    fn start(dir: &Path, serve: &str, shell: &str) -> Self {
        let config = dir.join("gapmap.toml");
        std::fs::write(&config, format!("[estates]\npath = \"estates.geojson\"\n[[facilities]]\npath = \"facilities.geojson\"\n[serve]\n{serve}\n")).unwrap();
        let command = format!("{shell} exec '{}' serve --config '{}' --bind 127.0.0.1:0", env!("CARGO_BIN_EXE_gapmap"), config.display());
        let mut child = Command::new("sh").args(["-c", &command]).env("RUST_LOG", "warn").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(url.trim().to_owned());
                } else {
                    eprintln!("server: {line}");
                }
            }
        });
        let mut server = Self { child, addr: String::new() };
        server.addr = rx.recv_timeout(Duration::from_secs(120)).expect("gapmap serve did not start listening within 120 s");
        server
    }

    fn proc(&self, file: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{file}", self.child.id())).unwrap()
    }

    fn rss_kib(&self) -> u64 {
        self.proc("status").lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap()
    }

    fn open_descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).unwrap().count()
    }

    fn connect(&self) -> TcpStream {
        TcpStream::connect(&self.addr).unwrap()
    }

    /// GET `path` on a new connection; the status, the time to the whole answer and its size.
    /// Waits (up to 120 s) until `/health` lists nothing warming up: the coverage timeline is
    /// built in the background after the load, and an RSS baseline taken before it is done would
    /// count it as growth.
    fn wait_warm(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut s = self.connect();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            write!(s, "GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
            let mut answer = Vec::new();
            s.read_to_end(&mut answer).unwrap();
            if String::from_utf8_lossy(&answer).contains("\"warming_up\":[]") {
                return;
            }
            assert!(Instant::now() < deadline, "/health still warming up after 120 s: {}", String::from_utf8_lossy(&answer));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn get(&self, path: &str) -> (u16, Duration, usize) {
        let started = Instant::now();
        let mut s = self.connect();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        let status = String::from_utf8_lossy(&answer).split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, started.elapsed(), answer.len())
    }
}

/// Whether the server closes `stream` within `within` (reads return end of file or a reset).
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

fn small_city() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_city(dir.path(), 30, 90, 5);
    dir
}

#[test]
fn silent_slow_and_idle_connections_are_closed() {
    let dir = small_city();
    let server = Server::start(dir.path(), "header_read_timeout_s = 1\nidle_timeout_s = 2", "");

    // Connected, never a byte.
    let mut silent = server.connect();
    // A request head trickling in, a header line every 300 ms (slowloris).
    let mut slow = server.connect();
    write!(slow, "GET /health HTTP/1.1\r\nHost: test\r\n").unwrap();
    // A whole request answered, then nothing (keep-alive, idle).
    let mut idle = server.connect();
    write!(idle, "GET /health HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = [0u8; 12];
    idle.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    let started = Instant::now();
    let mut slow_closed = None;
    slow.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    for i in 0..20 {
        if write!(slow, "X-Trickle-{i}: 1\r\n").is_err() || closed_within(&mut slow, Duration::from_millis(300)) {
            slow_closed = Some(started.elapsed());
            break;
        }
    }
    assert!(slow_closed.is_some_and(|t| t < Duration::from_secs(4)), "a request head trickling in was not closed by the header read timeout: {slow_closed:?}");
    assert!(closed_within(&mut silent, Duration::from_secs(5)), "a silent connection stayed open");
    assert!(closed_within(&mut idle, Duration::from_secs(6)), "an idle keep-alive connection stayed open past serve.idle_timeout_s");
    // Still serving.
    assert_eq!(server.get("/health").0, 200);
}

#[test]
fn connection_cap_sheds_idle_connections_and_health_still_answers() {
    let dir = small_city();
    let server = Server::start(dir.path(), "max_connections = 16", "");
    std::thread::sleep(Duration::from_millis(300));
    let baseline = server.open_descriptors();
    let idle: Vec<TcpStream> = (0..200).map(|_| server.connect()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let (status, took, _) = server.get("/health");
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(2), "/health took {took:?} behind 200 idle connections");
    let open = server.open_descriptors();
    assert!(open <= baseline + 16 + 2, "{open} descriptors open with 200 idle clients, {baseline} before; the cap is 16 connections");
    drop(idle);
}

#[test]
fn descriptor_soft_limit_is_raised_to_the_hard_limit() {
    let dir = small_city();
    let server = Server::start(dir.path(), "", "ulimit -Sn 256;");
    let limits = server.proc("limits");
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (soft, hard) = (fields[3], fields[4]);
    if hard == "256" {
        eprintln!("the hard limit is 256 here: nothing to raise");
        return;
    }
    assert_eq!(soft, hard, "{line}");
}

/// Opens a connection whose receive buffer is small, so that an answer stays in the server
/// rather than in the kernel, and asks for `path` without ever reading.
#[expect(clippy::cast_possible_truncation, reason = "socket constants and struct sizes are small")]
fn unread_request(addr: &str, path: &str) -> TcpStream {
    use std::os::fd::FromRawFd as _;
    let addr: std::net::SocketAddrV4 = addr.parse().unwrap();
    // SAFETY: a plain socket, configured and connected through libc, then owned by TcpStream.
    let stream = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let size: libc::c_int = 4096;
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, (&raw const size).cast(), std::mem::size_of::<libc::c_int>() as libc::socklen_t);
        let sin = libc::sockaddr_in { sin_family: libc::AF_INET as libc::sa_family_t, sin_port: addr.port().to_be(), sin_addr: libc::in_addr { s_addr: u32::from(*addr.ip()).to_be() }, sin_zero: [0; 8] };
        assert_eq!(libc::connect(fd, (&raw const sin).cast(), std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t), 0);
        TcpStream::from_raw_fd(fd)
    };
    let mut s = stream;
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    s
}

#[test]
fn unread_answers_are_bounded_and_their_memory_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    write_city(dir.path(), 6000, 6000, 3);
    let server = Server::start(dir.path(), "max_limit = 10000\nmax_bytes_in_flight_mib = 24\nsend_timeout_s = 4", "");
    let page = "/collections/estates/items?limit=6000";
    server.wait_warm();
    // Warm up: render (and cache) what a page needs, read whole.
    let (status, _, page_bytes) = server.get(page);
    assert_eq!(status, 200);
    let (status, _, _) = server.get(page);
    assert_eq!(status, 200);
    let page_mib = u64::try_from(page_bytes).unwrap() / (1024 * 1024) + 1;
    std::thread::sleep(Duration::from_millis(500));
    let idle_kib = server.rss_kib();

    let clients: Vec<TcpStream> = (0..24).map(|_| unread_request(&server.addr, page)).collect();
    let mut peak_kib = idle_kib;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        peak_kib = peak_kib.max(server.rss_kib());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Each client reads the start of its answer: some were refused for want of budget.
    let mut refused = 0;
    for mut c in clients {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut head = vec![0u8; 2048];
        let n = c.read(&mut head).unwrap_or(0);
        let text = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
        if text.starts_with("http/1.1 503") {
            assert!(text.contains("retry-after:"), "{text}");
            refused += 1;
        }
    }
    std::thread::sleep(Duration::from_secs(6));
    let after_kib = server.rss_kib();
    let grew_mib = (peak_kib.saturating_sub(idle_kib)) / 1024;
    let kept_mib = (after_kib.saturating_sub(idle_kib)) / 1024;
    eprintln!("idle {} MiB, peak {} MiB (+{grew_mib}), after {} MiB (+{kept_mib}); {refused} of 24 refused", idle_kib / 1024, peak_kib / 1024, after_kib / 1024);
    assert!(refused > 0, "no answer was refused with a 24 MiB budget");
    // The budget, plus the pages rendered at once (one per core) and those being refused, before
    // they are counted, and the allocator's slack; without the budget every unread page stays
    // (24 × 15 MiB: +331 MiB measured).
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get) as u64;
    let bound_mib = 24 + (cores + 3) * page_mib + 16;
    assert!(grew_mib < bound_mib, "RSS grew by {grew_mib} MiB with 24 unread pages of {page_mib} MiB; at most {bound_mib} expected");
    // Given back: what stays is the allocator's slack, under two pages.
    assert!(kept_mib < 2 * page_mib, "RSS stayed {kept_mib} MiB above idle after the clients were gone");
}

/// Writes facilities as CSV (`id,kind,lon,lat`) from the generated `facilities.geojson`.
fn facilities_csv(dir: &Path) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("facilities.geojson")).unwrap()).unwrap();
    json["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let c = &f["geometry"]["coordinates"];
            format!("{},{},{},{}\n", f["properties"]["id"], f["properties"]["kind"].as_str().unwrap(), c[0], c[1])
        })
        .collect()
}

fn csv_config(dir: &Path) -> Config {
    let mut config = Config {
        estates: Some(SourceConfig::from_path(dir.join("estates.geojson"))),
        facilities: vec![SourceConfig::from_path(dir.join("facilities.csv"))],
        ..Config::default()
    };
    config.serve.admin_token = Some(TOKEN.into());
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_never_serves_a_half_written_file() {
    let dir = tempfile::tempdir().unwrap();
    write_city(dir.path(), 40, 800, 9);
    let rows = facilities_csv(dir.path());
    std::fs::write(dir.path().join("facilities.csv"), format!("id,kind,lon,lat\n{}", rows[..600].concat())).unwrap();
    let config = csv_config(dir.path());
    let state = AppState::new(config.clone(), load_dataset(&config).unwrap());
    assert_eq!(get_with(&state, "/health", &[]).await.json()["facilities"], 600);
    let _watcher = gapmap::http::ops::spawn_watcher(state.clone(), None).unwrap();

    // A writer in four chunks, 0.8 s apart (an export, a copy over a slow link).
    let path = dir.path().join("facilities.csv");
    let writer = tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(b"id,kind,lon,lat\n").unwrap();
        for chunk in rows.chunks(200) {
            file.write_all(chunk.concat().as_bytes()).unwrap();
            file.flush().unwrap();
            std::thread::sleep(Duration::from_millis(800));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let health = get_with(&state, "/health", &[]).await.json();
        let facilities = health["facilities"].as_u64().unwrap();
        if seen.last() != Some(&facilities) {
            seen.push(facilities);
        }
        if facilities == 800 && writer.is_finished() {
            break;
        }
        assert!(Instant::now() < deadline, "no reload of the finished file: served {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, [600, 800], "a half-written file was served");
}

#[tokio::test]
async fn a_reload_that_drops_sharply_warns_in_health() {
    let dir = tempfile::tempdir().unwrap();
    write_city(dir.path(), 40, 800, 9);
    let rows = facilities_csv(dir.path());
    let write = |n: usize| std::fs::write(dir.path().join("facilities.csv"), format!("id,kind,lon,lat\n{}", rows[..n].concat())).unwrap();
    write(800);
    let config = csv_config(dir.path());
    let state = AppState::new(config.clone(), load_dataset(&config).unwrap());
    let reload = || send(&state, Request::post("/admin/reload").header(header::AUTHORIZATION, format!("Bearer {TOKEN}")).body(Body::empty()).unwrap());

    write(780);
    assert_eq!(reload().await.status, StatusCode::OK);
    let health = get_with(&state, "/health", &[]).await.json();
    assert_eq!(health["status"], "ok", "{health}");

    write(500);
    assert_eq!(reload().await.status, StatusCode::OK);
    let health = get_with(&state, "/health", &[]).await.json();
    assert_eq!(health["status"], "warn", "{health}");
    assert!(health["warnings"][0].as_str().unwrap().contains("facilities dropped from 780 to 500"), "{health}");

    write(800);
    assert_eq!(reload().await.status, StatusCode::OK);
    let health = get_with(&state, "/health", &[]).await.json();
    assert_eq!(health["status"], "ok", "{health}");
}

#[test]
fn failed_admin_attempts_are_locked_out_per_client() {
    let dir = small_city();
    let server = Server::start(dir.path(), &format!("admin_token = \"{TOKEN}\""), "");
    let attempt = |token: &str| {
        let mut s = server.connect();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(s, "POST /admin/reload HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer.to_ascii_lowercase()
    };
    let wrong = "wrong-token-0123456789";
    for _ in 0..5 {
        assert!(attempt(wrong).starts_with("http/1.1 401"));
    }
    for token in [wrong, TOKEN] {
        let answer = attempt(token);
        assert!(answer.starts_with("http/1.1 429") && answer.contains("retry-after: ") && answer.contains("serve.admin_max_failures"), "{answer}");
    }
    // The lockout (1 s after the fifth failure) ends; the right token works and resets the count.
    std::thread::sleep(Duration::from_millis(1100));
    assert!(attempt(TOKEN).starts_with("http/1.1 200"));
    assert!(attempt(wrong).starts_with("http/1.1 401"));
    let mut metrics = server.connect();
    write!(metrics, "GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    metrics.read_to_string(&mut text).unwrap();
    assert!(text.contains("gapmap_admin_failures_total 6") && text.contains("gapmap_admin_locked_out_total 2"), "{text}");
}
