//! The data version: a digest of what a load produced, not a counter.
//!
//! Several replicas serving the same data must give byte-identical answers under identical
//! `ETag`s, so that a client moving between them behind a load balancer keeps its 304s. The
//! version is therefore computed from the content, never from when or how often it was loaded:
//!
//! - the estates and facilities (planned ones too) **as loaded**: ids, names, districts,
//!   households, years, capacities, kinds, every pass-through property and every coordinate in
//!   the working CRS, in the order served. This is what the files' features or the database's
//!   rows became after the field mapping, filters and CRS handling, hashed from memory once the
//!   loader is done (no file is read twice, and a PostgreSQL source is hashed as its rows were
//!   received, whatever host or replica of the database they came from); plus the working and
//!   source CRS and the number of rejected features;
//! - the config minus `[serve]` (analysis settings, field mappings, kind mappings, filters,
//!   report and programme settings), with the paths and URIs of the sources left out (their
//!   content is hashed instead, so the same data under another path or database host gives the
//!   same version) — and with them any password a URI carries;
//! - the catalogue file, the report targets and the programme tables, byte for byte (small
//!   files, read again here), and the walking network as loaded (lines and gates) with its path,
//!   which `/health` and the map's config show;
//! - gapmap's own version, since another build may render the same data differently, and today's
//!   date when a programme is configured (its "not in the future" checks depend on it).
//!
//! Anything left out can only make two loads of the same data look different, never two
//! different loads look the same. SHA-256 (with the CPU's SHA extensions where present) over
//! the 60,000-estate, 200,000-facility city took 75–260 ms on a shared 2-core machine
//! (`tests/bench/replicas.sh`), beside a load of about 5 s there.
//!
//! The version is the digest's first 53 bits as an integer: exact as a JSON number in every
//! client (JavaScript's too) and as a Prometheus sample (a double), so `X-Gapmap-Data-Version`,
//! `dataVersion`, `/health`'s `data_version`, `/metrics`' `gapmap_data_version` and the tile
//! URLs' `v=` all carry the same whole number.

use std::io::Read as _;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::config::{Config, ServeConfig};
use crate::io::load::Loaded;
use crate::io::network::LoadedNetwork;
use crate::model::{AttrValue, Estate, Facility, FeatureId};

/// Versions are below 2^53: whole numbers a double holds exactly.
pub const VERSION_BITS: u32 = 53;

/// Feeds values into SHA-256 through a buffer, so that the many small values of a load (a
/// coordinate is 16 bytes) cost one hash update per 64 KiB. Every variable-length value is
/// length-prefixed and every optional one tagged, so that distinct sequences of values never
/// feed the same bytes.
pub struct ContentHasher {
    sha: Sha256,
    buffer: Vec<u8>,
}

const CHUNK: usize = 1 << 16;

impl ContentHasher {
    /// A hasher for the purpose `domain` names (hashed first).
    #[must_use]
    pub fn new(domain: &str) -> Self {
        let mut h = Self { sha: Sha256::new(), buffer: Vec::with_capacity(CHUNK + 64) };
        h.text(domain);
        h
    }

    fn put(&mut self, bytes: &[u8]) {
        if bytes.len() >= CHUNK {
            self.flush();
            self.sha.update(bytes);
            return;
        }
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.sha.update(&self.buffer);
        self.buffer.clear();
    }

    /// A whole number.
    pub fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }

    /// A signed whole number.
    pub fn i64(&mut self, v: i64) {
        self.put(&v.to_le_bytes());
    }

    /// A float, by its bits (`-0.0` and `0.0` differ: at worst a needless new version).
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    /// A byte string, length first.
    pub fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.put(b);
    }

    /// A text, length first.
    pub fn text(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// An optional value: a tag byte, then the value when there is one.
    pub fn opt<T>(&mut self, v: Option<T>, mut f: impl FnMut(&mut Self, T)) {
        match v {
            None => self.put(&[0]),
            Some(x) => {
                self.put(&[1]);
                f(self, x);
            }
        }
    }

    /// A file's bytes, streamed, with its length.
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn file(&mut self, path: &Path) -> std::io::Result<()> {
        let mut file = std::fs::File::open(path)?;
        self.flush();
        let mut chunk = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = file.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            self.sha.update(&chunk[..n]);
        }
        self.u64(total);
        Ok(())
    }

    /// The SHA-256 of everything fed.
    #[must_use]
    pub fn finish(mut self) -> [u8; 32] {
        self.flush();
        self.sha.finalize().into()
    }

    /// The first [`VERSION_BITS`] bits of the digest, as a whole number.
    #[must_use]
    pub fn version(self) -> u64 {
        version_of(&self.finish())
    }
}

/// The version a digest gives: its first [`VERSION_BITS`] bits (little-endian), as a number.
#[must_use]
pub fn version_of(digest: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first) & ((1u64 << VERSION_BITS) - 1)
}

/// The data version of one load (see the module docs): `loaded` is what the sources gave,
/// `network` the walking network when there is one.
///
/// # Errors
/// A message when a file the config names (catalogue, report targets, programme tables) cannot
/// be read again.
pub fn data_version(config: &Config, loaded: &Loaded, network: Option<&LoadedNetwork>) -> Result<u64, String> {
    let started = std::time::Instant::now();
    let mut h = ContentHasher::new("gapmap data version 1");
    h.text(env!("CARGO_PKG_VERSION"));
    config_part(&mut h, config)?;
    h.text(&loaded.working_crs);
    h.text(&format!("{:?}", loaded.estates_crs));
    h.u64(loaded.report.rejected.len() as u64);
    h.u64(loaded.estates.len() as u64);
    for e in &loaded.estates {
        estate(&mut h, e);
    }
    h.u64(loaded.facilities.len() as u64);
    for f in &loaded.facilities {
        facility(&mut h, f);
    }
    h.opt(network, |h, n| {
        h.text(&n.path.to_string_lossy());
        h.opt(n.walkable_filter.as_deref(), ContentHasher::text);
        for v in [n.features_read, n.walkable, n.not_walkable, n.report.rejected.len()] {
            h.u64(v as u64);
        }
        h.u64(n.lines.len() as u64);
        for line in &n.lines {
            h.u64(line.0.len() as u64);
            for c in &line.0 {
                h.f64(c.x);
                h.f64(c.y);
            }
        }
        h.u64(n.gates.len() as u64);
        for c in &n.gates {
            h.f64(c.x);
            h.f64(c.y);
        }
    });
    let version = h.version();
    tracing::info!(version, elapsed_ms = started.elapsed().as_millis(), "data version: content digest");
    Ok(version)
}

/// The config's part: everything but `[serve]` and the paths, then the content of the small
/// files it names.
fn config_part(h: &mut ContentHasher, config: &Config) -> Result<(), String> {
    let mut c = config.clone();
    c.serve = ServeConfig::default();
    let mut files: Vec<(&'static str, std::path::PathBuf)> = Vec::new();
    for s in c.estates.iter_mut().chain(c.facilities.iter_mut()).chain(c.planned.iter_mut()) {
        // Their content is hashed as loaded; a URI's host and password stay out.
        s.path = std::path::PathBuf::new();
    }
    if let Some(p) = c.analysis.catalogue.take() {
        files.push(("analysis.catalogue", p));
    }
    if let Some(p) = c.report.targets.take() {
        files.push(("report.targets", p));
    }
    if let Some(p) = c.programme.as_mut() {
        for (key, table) in [("programme.projects", &mut p.projects), ("programme.surveys", &mut p.surveys), ("programme.wishes", &mut p.wishes)] {
            if let Some(t) = table {
                files.push((key, std::mem::take(&mut t.path)));
            }
        }
        h.text(&crate::io::programme::today().to_string());
    }
    let text = serde_json::to_string(&c).map_err(|e| format!("the config cannot be hashed: {e}"))?;
    h.text(&text);
    for (key, path) in files {
        h.text(key);
        h.file(&path).map_err(|e| format!("{key} {}: {e}", path.display()))?;
    }
    Ok(())
}

fn id(h: &mut ContentHasher, id: &FeatureId) {
    match id {
        FeatureId::Int(n) => {
            h.put(&[0]);
            h.i64(*n);
        }
        FeatureId::Text(s) => {
            h.put(&[1]);
            h.text(s);
        }
    }
}

fn attributes(h: &mut ContentHasher, attrs: &[(String, AttrValue)]) {
    h.u64(attrs.len() as u64);
    for (key, value) in attrs {
        h.text(key);
        match value {
            AttrValue::Null => h.put(&[0]),
            AttrValue::Bool(b) => h.put(&[1, u8::from(*b)]),
            AttrValue::Int(n) => {
                h.put(&[2]);
                h.i64(*n);
            }
            AttrValue::Float(x) => {
                h.put(&[3]);
                h.f64(*x);
            }
            AttrValue::Text(s) => {
                h.put(&[4]);
                h.text(s);
            }
            AttrValue::Json(s) => {
                h.put(&[5]);
                h.text(s);
            }
        }
    }
}

fn estate(h: &mut ContentHasher, e: &Estate) {
    id(h, &e.id);
    h.opt(e.name.as_deref(), ContentHasher::text);
    h.opt(e.district.as_deref(), ContentHasher::text);
    h.opt(e.households, |h, n| h.u64(u64::from(n)));
    h.opt(e.built_year, |h, y| h.i64(i64::from(y)));
    h.opt(e.renovation_year, |h, y| h.i64(i64::from(y)));
    h.u64(e.geometry.0.len() as u64);
    for polygon in &e.geometry.0 {
        h.u64(polygon.interiors().len() as u64 + 1);
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            h.u64(ring.0.len() as u64);
            for c in &ring.0 {
                h.f64(c.x);
                h.f64(c.y);
            }
        }
    }
    attributes(h, &e.extra);
}

fn facility(h: &mut ContentHasher, f: &Facility) {
    id(h, &f.id);
    h.u64(u64::from(f.kind.0));
    h.opt(f.name.as_deref(), ContentHasher::text);
    h.opt(f.capacity, ContentHasher::f64);
    h.opt(f.opened_year, |h, y| h.i64(i64::from(y)));
    h.put(&[u8::from(f.planned)]);
    h.opt(f.district.as_deref(), ContentHasher::text);
    h.f64(f.location.x());
    h.f64(f.location.y());
    attributes(h, &f.extra);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(parts: &[&str]) -> u64 {
        let mut h = ContentHasher::new("test");
        for p in parts {
            h.text(p);
        }
        h.version()
    }

    #[test]
    fn versions_are_exact_doubles_and_depend_on_every_byte_and_boundary() {
        let v = hash(&["ab", "c"]);
        assert!(v < 1 << VERSION_BITS);
        #[expect(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "the point of the test")]
        let back = (v as f64) as u64;
        assert_eq!(back, v, "a version survives a trip through a double");
        assert_eq!(hash(&["ab", "c"]), v, "the same values, the same version");
        assert_ne!(hash(&["a", "bc"]), v, "values are length-prefixed");
        assert_ne!(hash(&["ab", "d"]), v);
    }

    #[test]
    fn large_and_buffered_inputs_hash_as_fed() {
        // Across the 64 KiB buffer boundary and as one large write.
        let big = "x".repeat(CHUNK * 2 + 17);
        let mut a = ContentHasher::new("t");
        a.text(&big);
        let mut b = ContentHasher::new("t");
        b.u64(big.len() as u64);
        for chunk in big.as_bytes().chunks(1000) {
            b.put(chunk);
        }
        assert_eq!(a.finish(), b.finish());
    }

    #[test]
    fn a_file_is_hashed_by_its_bytes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (p, q) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        std::fs::write(&p, "id,target\n1,2\n").expect("write");
        std::fs::write(&q, "id,target\n1,3\n").expect("write");
        let of = |path: &Path| {
            let mut h = ContentHasher::new("t");
            h.file(path).expect("readable");
            h.version()
        };
        assert_eq!(of(&p), of(&p));
        assert_ne!(of(&p), of(&q));
        let mut h = ContentHasher::new("t");
        assert!(h.file(&dir.path().join("missing")).is_err());
    }
}
