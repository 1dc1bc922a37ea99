//! A throwaway PostgreSQL 15 + PostGIS cluster for one test binary: `initdb` in a temporary
//! directory owned by the `postgres` OS user, a free loopback port, `pg_ctl start -w`,
//! `CREATE EXTENSION postgis`; stopped and removed when the [`TestCluster`] drops (also when a
//! test panics: the drop runs during unwinding). Nothing assumes a server is already running.
//!
//! The tests run as root and PostgreSQL refuses to run as root, so the server commands run as
//! `postgres` through `runuser -u postgres --`. Authentication is `trust` for the superuser
//! `postgres` on loopback plus `scram-sha-256` for a second role [`TestCluster::PASSWORD_USER`],
//! so that the password paths (URI, `PGPASSWORD`, `~/.pgpass`) can be exercised.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where Debian's postgresql-15 puts the server binaries.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running cluster; dropping it stops the server and removes the directory.
pub struct TestCluster {
    /// The temporary directory holding the data directory, socket and log.
    dir: PathBuf,
    /// The loopback port the server listens on.
    pub port: u16,
}

impl TestCluster {
    /// A role that must log in with a password (scram-sha-256).
    pub const PASSWORD_USER: &'static str = "planner";
    /// Its password.
    pub const PASSWORD: &'static str = "s3cret-pw";

    /// Why the cluster cannot be started here, or `None` when it can (the binaries and the
    /// PostGIS extension are installed and we can become `postgres`).
    pub fn unavailable() -> Option<String> {
        if !Path::new(PG_BIN).join("initdb").exists() {
            return Some(format!("{PG_BIN}/initdb not found; run scripts/setup.sh (postgresql-15)"));
        }
        if !Path::new("/usr/share/postgresql/15/extension/postgis.control").exists() {
            return Some("PostGIS is not installed; run scripts/setup.sh (postgresql-15-postgis-3)".to_owned());
        }
        None
    }

    /// Starts a fresh cluster with PostGIS in database `gapmap`.
    ///
    /// # Panics
    /// When anything fails, with the command's output (the test cannot go on without it).
    pub fn start() -> Self {
        if let Some(why) = Self::unavailable() {
            panic!("cannot start a test PostgreSQL cluster: {why}");
        }
        let dir = make_postgres_dir();
        // From here on, a panic drops `cluster`, which stops whatever was started and removes `dir`.
        let cluster = Self { dir, port: free_port() };
        let data = cluster.data_dir();
        let pwfile = cluster.dir.join("pw");
        std::fs::write(&pwfile, "unused-superuser-password\n").expect("write the superuser password file");
        chown_postgres(&pwfile);
        as_postgres(&[
            &format!("{PG_BIN}/initdb"),
            "-D",
            data.to_str().expect("utf-8 temp dir"),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        // The superuser connects without a password; the planner role needs one (for the
        // password tests). Loopback TCP only; the socket lives in the temp dir, not /run.
        std::fs::write(
            data.join("pg_hba.conf"),
            format!(
                "host all {u} 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\nlocal all all trust\n",
                u = Self::PASSWORD_USER
            ),
        )
        .expect("write pg_hba.conf");
        chown_postgres(&data.join("pg_hba.conf"));
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=off -c max_connections=20 -c shared_buffers=32MB",
            cluster.port,
            cluster.dir.display()
        );
        let log = cluster.dir.join("server.log");
        as_postgres(&[
            &format!("{PG_BIN}/pg_ctl"),
            "-D",
            data.to_str().expect("utf-8"),
            "-l",
            log.to_str().expect("utf-8"),
            "-o",
            &options,
            "-w",
            "-t",
            "60",
            "start",
        ]);
        cluster.psql_ok("postgres", "CREATE DATABASE gapmap");
        cluster.psql_ok(
            "gapmap",
            &format!(
                "CREATE EXTENSION postgis; CREATE ROLE {u} LOGIN PASSWORD '{p}'; GRANT ALL ON DATABASE gapmap TO {u}; GRANT ALL ON SCHEMA public TO {u};",
                u = Self::PASSWORD_USER,
                p = Self::PASSWORD
            ),
        );
        cluster
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `postgresql://postgres@127.0.0.1:PORT/gapmap` followed by `query` (e.g. `?table=estates`).
    pub fn uri(&self, query: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/gapmap{query}", self.port)
    }

    /// The libpq connection string ogr2ogr and ogrinfo take (`PG:…`).
    pub fn ogr_dsn(&self) -> String {
        format!("PG:host=127.0.0.1 port={} dbname=gapmap user=postgres", self.port)
    }

    /// Runs `sql` with psql (unaligned, tuples only, `|`-separated) and returns its output.
    pub fn psql(&self, db: &str, sql: &str) -> Output {
        Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", db, "-c", sql])
            .env_remove("PGPASSWORD")
            .output()
            .expect("psql runs (postgresql-client)")
    }

    /// [`Self::psql`], panicking with its stderr when it fails; returns stdout.
    pub fn psql_ok(&self, db: &str, sql: &str) -> String {
        let out = self.psql(db, sql);
        assert!(out.status.success(), "psql -c {sql:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The server log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        if data.join("postmaster.pid").exists() {
            // `immediate`: the data is thrown away, so no checkpoint is needed.
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--", &format!("{PG_BIN}/pg_ctl"), "-D", data.to_str().unwrap_or(""), "-m", "immediate", "-w", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new directory under the system temp dir owned by `postgres` (initdb refuses root, and the
/// server must own its data directory).
fn make_postgres_dir() -> PathBuf {
    let dir = tempfile::Builder::new().prefix("gapmap-pg-").tempdir().expect("temp dir").keep();
    chown_postgres(&dir);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod the temp dir");
    dir
}

fn chown_postgres(path: &Path) {
    let out = Command::new("chown").args(["postgres:postgres", path.to_str().expect("utf-8 path")]).output().expect("chown runs");
    assert!(out.status.success(), "chown postgres {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
}

/// Runs a command as the `postgres` OS user, panicking with its output when it fails.
fn as_postgres(args: &[&str]) {
    let out = Command::new("runuser").args(["-u", "postgres", "--"]).args(args).output().expect("runuser runs");
    assert!(
        out.status.success(),
        "{} failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A loopback port nobody listens on right now (bind to port 0, read it, release it; the server
/// binds it moments later, so a race with another process is possible but unlikely).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().expect("local addr").port()
}
