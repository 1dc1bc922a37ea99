//! `gapmap serve` as a child process on loopback, for tests whose clients need a real socket
//! (a database's notifications, nginx in front of replicas).
#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]
#![allow(dead_code, reason = "each test binary uses a different subset")]

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
    serve_at(config, "127.0.0.1:0", "server")
}

/// Starts `gapmap serve --config CONFIG --bind BIND` and returns it, once it listens (its data
/// loaded), with its base URL; its other stderr lines (warnings and errors) are passed on as
/// `NAME: …`.
pub fn serve_at(config: &Path, bind: &str, name: &str) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gapmap"))
        .args(["serve", "--config", config.to_str().unwrap(), "--bind", bind])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    let prefix = name.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("listening on ").nth(1) {
                let _ = tx.send(url.trim().to_owned());
            } else {
                eprintln!("{prefix}: {line}");
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(180)).unwrap_or_else(|_| panic!("{name}: gapmap serve did not start listening within 180 s"));
    (server, url)
}
