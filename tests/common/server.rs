//! `gapmap serve` as a child process on loopback port 0, for tests whose clients need a real
//! socket (a browser, schemathesis).
#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Kills the server when the test ends, however it ends.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `gapmap ARGS` to completion; panics with its stderr when it fails.
pub fn gapmap(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_gapmap")).args(args).env_remove("RUST_LOG").output().unwrap();
    assert!(out.status.success(), "gapmap {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Starts `gapmap serve --config CONFIG` on a free port and returns it with its base URL; its
/// other stderr lines are passed on as `server: …`.
pub fn serve(config: &Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gapmap"))
        .args(["serve", "--config", config.to_str().unwrap(), "--bind", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("listening on ").nth(1) {
                let _ = tx.send(url.trim().to_owned());
            } else {
                eprintln!("server: {line}");
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(120)).expect("gapmap serve did not start listening within 120 s");
    (server, url)
}
