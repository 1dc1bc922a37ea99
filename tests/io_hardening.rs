//! Bounded resources and clean failures at the I/O edges (issue #14, items 5, 7, 8 and 9):
//! polygon validity in O(n log n) against a brute-force oracle, broken pipes, temporary files
//! that a killed run leaves behind, and write errors that name the OS error once.
#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

use std::path::{Path, PathBuf};

use gapmap::model::check_polygon;
use geo::line_intersection::{line_intersection, LineIntersection};
use geo::{Coord, Line, LineString, Polygon, Relate};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

// ---------------------------------------------------------------------------------------------
// Item 5: polygon validity

/// The plainest validity check: every pair of segments of every pair of rings (O(n²)), with
/// `geo`'s segment intersection, then `geo`'s DE-9IM relate for holes against the exterior and
/// each other. Returns whether the polygon is valid.
fn valid_by_oracle(polygon: &Polygon<f64>) -> bool {
    let rings: Vec<Vec<Coord<f64>>> = std::iter::once(polygon.exterior()).chain(polygon.interiors()).map(distinct).collect();
    for ring in &rings {
        if ring.len() < 3 {
            return false;
        }
        let all_on_one_line = ring.iter().all(|&c| {
            let (p, q) = (ring[0], ring[1]);
            (q.x - p.x) * (c.y - p.y) - (q.y - p.y) * (c.x - p.x) == 0.0
        });
        if all_on_one_line {
            return false;
        }
    }
    // (ring, segment index, segment)
    let mut segments = Vec::new();
    for (r, ring) in rings.iter().enumerate() {
        for i in 0..ring.len() {
            segments.push((r, i, Line::new(ring[i], ring[(i + 1) % ring.len()])));
        }
    }
    for (x, &(r, i, s)) in segments.iter().enumerate() {
        for &(q, j, t) in &segments[x + 1..] {
            let Some(meet) = line_intersection(s, t) else { continue };
            let k = rings[r].len();
            if r == q {
                // Neighbours along the ring share exactly their common vertex; others nothing.
                let shared = if (i + 1) % k == j {
                    Some(s.end)
                } else if (j + 1) % k == i {
                    Some(s.start)
                } else {
                    None
                };
                match (meet, shared) {
                    (LineIntersection::SinglePoint { intersection, .. }, Some(v)) if intersection == v => {}
                    _ => return false,
                }
            } else {
                // Different rings may touch at points, not cross or share a line.
                match meet {
                    LineIntersection::SinglePoint { is_proper: false, .. } => {}
                    _ => return false,
                }
            }
        }
    }
    let exterior = Polygon::new(LineString::new(rings[0].clone()), vec![]);
    let holes: Vec<Polygon<f64>> = rings[1..].iter().map(|r| Polygon::new(LineString::new(r.clone()), vec![])).collect();
    for (a, hole) in holes.iter().enumerate() {
        if !exterior.relate(hole).is_contains() {
            return false;
        }
        for other in &holes[a + 1..] {
            if hole.relate(other).get(geo::coordinate_position::CoordPos::Inside, geo::coordinate_position::CoordPos::Inside)
                == geo::dimensions::Dimensions::TwoDimensional
            {
                return false;
            }
        }
    }
    true
}

/// A ring's positions without consecutive repeats or the closing position.
fn distinct(ring: &LineString<f64>) -> Vec<Coord<f64>> {
    let mut out: Vec<Coord<f64>> = Vec::new();
    for &c in &ring.0 {
        if out.last() != Some(&c) {
            out.push(c);
        }
    }
    while out.len() > 1 && out.last() == out.first() {
        out.pop();
    }
    out
}

/// Positions on a small integer grid (exact in both implementations, and dense in touching,
/// collinear and shared-vertex cases), either in random order (mostly self-crossing) or sorted
/// by angle round a centre (mostly simple).
fn ring_strategy(lo: i32, hi: i32, sizes: std::ops::Range<usize>, centre: (std::ops::RangeInclusive<i32>, std::ops::RangeInclusive<i32>)) -> impl Strategy<Value = LineString<f64>> {
    let positions = proptest::collection::vec((lo..=hi, lo..=hi), sizes);
    (positions, 0u8..4, centre).prop_map(|(positions, order, (cx, cy))| {
        let mut coords: Vec<Coord<f64>> = positions.into_iter().map(|(x, y)| Coord { x: f64::from(x), y: f64::from(y) }).collect();
        if order > 0 {
            let centre = Coord { x: f64::from(cx) + 0.5, y: f64::from(cy) + 0.5 };
            coords.sort_by(|a, b| (a.y - centre.y).atan2(a.x - centre.x).total_cmp(&(b.y - centre.y).atan2(b.x - centre.x)));
        }
        LineString::from(coords) // closed by geo-types
    })
}

/// A small hole: 3 to 5 positions in a 3 × 3 box somewhere on the grid.
fn hole_strategy() -> impl Strategy<Value = LineString<f64>> {
    (0i32..=6, 0i32..=6, ring_strategy(0, 3, 3..6, (1..=1, 1..=1))).prop_map(|(dx, dy, ring)| {
        ring.0.iter().map(|c| Coord { x: c.x + f64::from(dx), y: c.y + f64::from(dy) }).collect()
    })
}

fn polygon_strategy() -> impl Strategy<Value = Polygon<f64>> {
    (ring_strategy(0, 9, 3..14, (3..=5, 3..=5)), proptest::collection::vec(hole_strategy(), 0..4)).prop_map(|(exterior, holes)| Polygon::new(exterior, holes))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// The sweep accepts exactly the polygons the O(n²) oracle accepts.
    #[test]
    fn the_validity_sweep_agrees_with_the_brute_force_oracle(polygon in polygon_strategy()) {
        let fast = check_polygon(&polygon);
        prop_assert_eq!(fast.is_ok(), valid_by_oracle(&polygon), "sweep says {:?} for {:?}", fast, polygon);
    }

    /// Turning, mirroring or shifting a polygon (exactly, on the grid) does not change the answer:
    /// the sweep's order (x, then y) meets the same shape from another side.
    #[test]
    fn the_validity_sweep_does_not_depend_on_orientation(polygon in polygon_strategy(), turn in 0u8..8) {
        let moved = |c: Coord<f64>| match turn {
            0 => Coord { x: c.y, y: -c.x },
            1 => Coord { x: -c.x, y: c.y },
            2 => Coord { x: -c.y, y: -c.x },
            3 => Coord { x: c.x + 1e6, y: c.y - 3.0 },
            4 => Coord { x: -c.y, y: c.x },
            5 => Coord { x: c.x, y: -c.y },
            6 => Coord { x: c.y, y: c.x },
            _ => Coord { x: -c.x, y: -c.y },
        };
        let mapped = Polygon::new(
            polygon.exterior().0.iter().map(|&c| moved(c)).collect(),
            polygon.interiors().iter().map(|r| r.0.iter().map(|&c| moved(c)).collect()).collect(),
        );
        prop_assert_eq!(check_polygon(&polygon).is_ok(), check_polygon(&mapped).is_ok());
    }
}

/// The generator exercises both answers, and the hole cases, often enough to mean something.
#[test]
fn the_validity_generator_yields_valid_and_invalid_polygons() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = polygon_strategy();
    let (mut valid, mut valid_with_holes, total) = (0, 0, 2000);
    for _ in 0..total {
        let polygon = strategy.new_tree(&mut runner).unwrap().current();
        if valid_by_oracle(&polygon) {
            valid += 1;
            valid_with_holes += usize::from(!polygon.interiors().is_empty());
        }
    }
    assert!(valid > total / 10 && valid < total * 9 / 10, "{valid} of {total} valid");
    assert!(valid_with_holes > total / 50, "{valid_with_holes} of {total} valid with holes");
}

/// A circle of `n` positions (closed), radius 500 m round (0, 0).
fn circle(n: usize, centre: Coord<f64>, radius: f64) -> Vec<Coord<f64>> {
    #[expect(clippy::cast_precision_loss, reason = "n is far below 2^52")]
    let step = std::f64::consts::TAU / n as f64;
    let mut ring: Vec<Coord<f64>> = (0..n)
        .map(|i| {
            #[expect(clippy::cast_precision_loss, reason = "i is far below 2^52")]
            let angle = step * i as f64;
            Coord { x: centre.x + radius * angle.cos(), y: centre.y + radius * angle.sin() }
        })
        .collect();
    ring.push(ring[0]);
    ring
}

/// A 200,000-vertex circular estate (and one with a 50,000-vertex hole) loads through the whole
/// loader. With the O(n²) check this took about 15 minutes (82 s at 60,000 vertices); the sweep
/// takes a second or two in a debug build. (No time is asserted: the test just finishes.)
#[test]
fn a_200000_vertex_estate_is_checked_and_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let centre = Coord { x: 121.5, y: 31.2 };
    let position = |c: &Coord<f64>| format!("[{:.9},{:.9}]", c.x, c.y);
    let ring_json = |ring: &[Coord<f64>]| format!("[{}]", ring.iter().map(position).collect::<Vec<_>>().join(","));
    let big = circle(200_000, centre, 0.005);
    let hole = circle(50_000, centre, 0.002);
    let estates = format!(
        r#"{{"type":"FeatureCollection","features":[
        {{"type":"Feature","properties":{{"id":1}},"geometry":{{"type":"Polygon","coordinates":[{}]}}}},
        {{"type":"Feature","properties":{{"id":2}},"geometry":{{"type":"Polygon","coordinates":[{},{}]}}}},
        {{"type":"Feature","properties":{{"id":3}},"geometry":{{"type":"Polygon","coordinates":[{},{}]}}}}]}}"#,
        ring_json(&big),
        ring_json(&big),
        ring_json(&hole),
        // A hole reaching outside: rejected, with its index and id.
        ring_json(&hole),
        ring_json(&circle(1_000, Coord { x: centre.x + 0.004, y: centre.y }, 0.001)),
    );
    let path = dir.path().join("estates.geojson");
    std::fs::write(&path, estates).unwrap();
    let facilities = fixture("valid_facilities.geojson");
    let catalogue = gapmap::io::catalogue::builtin_catalogue();
    let options = gapmap::io::load::LoadOptions { catalogue: &catalogue, default_crs: None, working_crs: None };
    let loaded = gapmap::io::load::load(
        &gapmap::config::SourceConfig::from_path(&path),
        &[gapmap::config::SourceConfig::from_path(&facilities)],
        &options,
        &|_| {},
    )
    .unwrap();
    let ids: Vec<String> = loaded.estates.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, ["1", "2"]);
    let rejected: Vec<_> = loaded.report.rejected.iter().map(|r| (r.index, r.id.clone(), r.reason.clone())).collect();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!((rejected[0].0, rejected[0].1.as_deref()), (2, Some("3")));
    assert!(rejected[0].2.contains("interior ring at index 0 is not contained"), "{}", rejected[0].2);
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

// ---------------------------------------------------------------------------------------------
// The binary on a small generated city

fn gapmap() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gapmap"));
    command.env_remove("RUST_LOG");
    command
}

/// A generated city of 60 estates and 200 facilities in `dir`: (estates, facilities).
fn city(dir: &Path) -> (PathBuf, PathBuf) {
    let o = gapmap().args(["generate", "--estates", "60", "--facilities", "200", "--seed", "14", "--out"]).arg(dir).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (dir.join("estates.geojson"), dir.join("facilities.geojson"))
}

fn analyze(dir: &Path, out: &Path) -> std::process::Command {
    let (estates, facilities) = city(dir);
    let mut command = gapmap();
    command.arg("analyze").arg("--estates").arg(estates).arg("--facilities").arg(facilities).arg("--out").arg(out);
    command
}

/// A pipe whose reading end is already closed: every write to the other end fails with EPIPE.
fn closed_pipe() -> std::process::Stdio {
    use std::os::fd::{FromRawFd as _, OwnedFd};
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe fills both descriptors on success; each is then owned exactly once.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: fresh descriptors that nothing else owns.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(reader);
    writer.into()
}

// Item 7: broken pipes

/// `gapmap analyze … 2>&1 >/dev/null | true`: the diagnostics have nowhere to go, but the
/// analysis ran and its output is complete, so the run succeeds (it exited 101, a panic in
/// `eprintln!`, after writing the CSV).
#[test]
fn a_closed_stderr_does_not_fail_a_run_that_succeeded() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("coverage.csv");
    let status = analyze(dir.path(), &out).stdout(std::process::Stdio::null()).stderr(closed_pipe()).status().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(csv.starts_with("estate_id,kind,") && csv.lines().count() > 60, "{csv}");
}

/// A failing run with a closed stderr still exits 1 (its message is lost, not panicked on).
#[test]
fn a_closed_stderr_keeps_a_failure_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let status = gapmap()
        .args(["analyze", "--estates", "/nonexistent/estates.geojson", "--facilities", "/nonexistent/f.geojson", "--out"])
        .arg(dir.path().join("x.csv"))
        .stderr(closed_pipe())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "{status:?}");
}

/// `gapmap analyze --print-config | head -0`: the reader left; gapmap stops quietly with the
/// status a shell shows for a writer stopped by SIGPIPE (128 + 13), and says nothing on stderr.
#[test]
fn a_closed_stdout_ends_quietly_with_the_sigpipe_status() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("coverage.csv");
    let o = analyze(dir.path(), &out).arg("--print-config").stdout(closed_pipe()).output().unwrap();
    assert_eq!(o.status.code(), Some(141), "{:?}: {}", o.status, String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
}

// Item 8: temporary files

/// The id of a process that has exited (and been reaped).
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// What runs killed with `kill -9` before their rename leave behind (under today's names and the
/// names earlier versions used) is removed by the next run writing the same target; temporaries
/// of a live process, and of other targets, stay.
#[test]
fn temporaries_left_by_killed_runs_are_removed_by_the_next_run() {
    let city_dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let (dead, live) = (dead_pid(), std::process::id());
    let stale = [
        format!(".coverage.csv.tmp-{dead}"),
        format!(".x.geojson.tmp-{dead}"),
        format!("x.geojson.tmp-{dead}"),
        format!(".x.fgb.tmp-{dead}.fgb"),
        format!(".x.fgb.tmp-{dead}_temp.fgb"),
        ".x.fgb.partial.fgb".to_owned(),
        format!(".x.gpkg.tmp-{dead}.gpkg"),
        format!(".x.gpkg.tmp-{dead}.gpkg-journal"),
        ".x.gpkg.partial.gpkg".to_owned(),
        ".x.gpkg.partial.gpkg-journal".to_owned(),
        format!(".summary.json.tmp-{dead}"),
    ];
    let kept = [format!(".coverage.csv.tmp-{live}"), format!(".other.csv.tmp-{dead}")];
    for name in stale.iter().chain(&kept) {
        std::fs::write(out.path().join(name), "half a file").unwrap();
    }
    for target in ["coverage.csv", "x.geojson", "x.fgb", "x.gpkg", "summary.json"] {
        let o = analyze(city_dir.path(), &out.path().join(target)).output().unwrap();
        assert!(o.status.success(), "{target}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let mut expected: Vec<String> = ["coverage.csv", "x.geojson", "x.fgb", "x.gpkg", "summary.json"].iter().map(|s| (*s).to_owned()).chain(kept).collect();
    expected.sort();
    assert_eq!(names_in(out.path()), expected);
}

/// Every output is synced before its rename and its directory after (checked with strace where
/// it is installed): without that, a power cut after the rename can leave an empty file.
#[test]
fn outputs_are_synced_before_the_rename_and_the_directory_after() {
    if std::process::Command::new("strace").arg("-V").output().is_err() {
        eprintln!("skipped: strace is not installed");
        return;
    }
    let city_dir = tempfile::tempdir().unwrap();
    let (estates, facilities) = city(city_dir.path());
    for target in ["coverage.csv", "x.geojson", "x.fgb", "x.gpkg", "summary.json"] {
        let out = city_dir.path().join(target);
        let trace = city_dir.path().join("trace.txt");
        let o = std::process::Command::new("strace")
            .args(["-f", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", "-o"])
            .arg(&trace)
            .arg(env!("CARGO_BIN_EXE_gapmap"))
            .arg("analyze")
            .arg("--estates")
            .arg(&estates)
            .arg("--facilities")
            .arg(&facilities)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{target}: {}", String::from_utf8_lossy(&o.stderr));
        let calls = std::fs::read_to_string(&trace).unwrap();
        let events: Vec<&str> = whole_calls(&calls)
            .iter()
            .filter_map(|l| {
                if l.contains("rename") && l.contains(target) && l.contains(" = 0") {
                    Some("rename")
                } else if l.contains("sync(") && l.contains(" = 0") {
                    Some("sync")
                } else {
                    None
                }
            })
            .collect();
        let rename = events.iter().position(|e| *e == "rename").unwrap_or_else(|| panic!("{target}: no rename in {calls}"));
        assert!(events[..rename].contains(&"sync"), "{target}: not synced before the rename: {events:?}");
        assert!(events[rename + 1..].contains(&"sync"), "{target}: directory not synced after the rename: {events:?}");
    }
}

/// The calls of an `strace -f` trace, one line each, in the order they returned: a call another
/// thread interrupted is written as `PID name(args <unfinished ...>` and later
/// `PID <... name resumed>rest`; the two halves are joined at the second.
fn whole_calls(trace: &str) -> Vec<String> {
    let mut pending: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let mut calls = Vec::new();
    for line in trace.lines() {
        let pid = line.split_whitespace().next().unwrap_or("");
        if let Some(head) = line.strip_suffix("<unfinished ...>") {
            pending.insert(pid, head);
        } else if let Some((_, rest)) = line.split_once(" resumed>") {
            calls.push(format!("{}{rest}", pending.remove(pid).unwrap_or(line)));
        } else {
            calls.push(line.to_owned());
        }
    }
    calls
}

#[test]
fn an_interrupted_call_is_read_whole_where_it_returned() {
    let trace = "11 fsync(3 <unfinished ...>\n12 renameat2(AT_FDCWD, \"a\", AT_FDCWD, \"b\", 0 <unfinished ...>\n11 <... fsync resumed>) = 0\n12 <... renameat2 resumed>) = 0\n11 fsync(4) = 0\n";
    assert_eq!(
        whole_calls(trace),
        ["11 fsync(3 ) = 0", "12 renameat2(AT_FDCWD, \"a\", AT_FDCWD, \"b\", 0 ) = 0", "11 fsync(4) = 0"]
    );
}

// Item 9: write errors

/// The OS error appears once ("cannot write …: No such file or directory (os error 2)"), not
/// twice (the message repeated its source).
#[test]
fn a_write_error_names_the_file_and_the_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("missing").join("coverage.csv");
    let o = analyze(dir.path(), &out).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot write {}", out.display())), "{stderr}");
    assert_eq!(stderr.matches("(os error 2)").count(), 1, "{stderr}");
}

/// A small tmpfs mounted on a temporary directory (root only), unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size_bytes: u64) -> Option<Self> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_bytes}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(Self(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.0.path()).status();
    }
}

/// Every output format on a full disk fails with "No space left on device" (FlatGeobuf said
/// "GDALOpenEx returned a NULL pointer", or renamed a truncated file into place and succeeded),
/// names the file, and leaves nothing behind. Skipped unless root (it mounts a small tmpfs).
#[test]
fn a_full_disk_is_reported_as_no_space_left_for_every_format() {
    let city_dir = tempfile::tempdir().unwrap();
    // The FlatGeobuf's size: a disk 1.5 times as large holds the driver's temporary copy of the
    // features but not the final file beside it, so the write fails at the close, not before.
    let reference = city_dir.path().join("reference.fgb");
    assert!(analyze(city_dir.path(), &reference).status().unwrap().success());
    let fgb_bytes = std::fs::metadata(&reference).unwrap().len();
    for size in [16 * 1024, fgb_bytes * 3 / 2] {
        let Some(disk) = Tmpfs::mount(size) else {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        };
        for target in ["x.fgb", "x.gpkg", "x.csv", "x.geojson"] {
            if size > 16 * 1024 && target != "x.fgb" {
                continue;
            }
            let out = disk.path().join(target);
            let o = analyze(city_dir.path(), &out).output().unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{target} on {size} bytes: {stderr}");
            assert!(stderr.contains(&format!("cannot write {}: No space left on device (os error 28)", out.display())), "{target} on {size} bytes: {stderr}");
            assert_eq!(stderr.matches("os error").count(), 1, "{stderr}");
            assert!(!stderr.contains("ERROR 1"), "GDAL's own messages are not printed: {stderr}");
            assert_eq!(names_in(disk.path()), Vec::<String>::new(), "{target} on {size} bytes leaves nothing");
        }
    }
}
