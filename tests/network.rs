//! Walking distance on the street network, through the loaders and the command line.
//!
//! - Real data: the Shanghai Tilezen roads, the 18 Pudong estates and the AMap kindergartens
//!   (`../shared/realdata`), against a computation written here from scratch: a coordinate hash
//!   map for the nodes, brute-force entries and joins, a plain Dijkstra per estate.
//! - OpenStreetMap: a hand-made `.osm` fixture, and the same converted to PBF with osmium.
//! - The `gapmap` binary: `analyze --metric network` on three tiny projected fixtures whose
//!   walks are worked out by hand below.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gapmap::analysis::{compute_coverage, CoverageTable, DistanceFrom, NetworkMetric, RecordedHouseholds, StraightLine};
use gapmap::config::{NetworkConfig, SourceConfig};
use gapmap::io::catalogue::builtin_catalogue;
use gapmap::io::load::{load, LoadOptions, Loaded};
use gapmap::io::network::{load_network, network_params, LoadedNetwork};
use gapmap::model::{Catalogue, KindId};
use gapmap::network::{GraphParams, StreetGraph};
use geo::{Contains, Coord, LineString, MultiPolygon, Point};

fn realdata() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/realdata");
    assert!(dir.is_dir(), "{} is missing: the real-data tests read ../shared/realdata beside the repository", dir.display());
    dir
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/network").join(name)
}

/// Walkable Tilezen roads: every road and path but trunk roads, motorways and cycleways;
/// railways, ferries and piers' `kind` values are left out by the list.
const TILEZEN_WALKABLE: &str = "kind IN ('path','minor_road','major_road') \
AND (kind_detail IS NULL OR kind_detail NOT IN ('trunk','trunk_link','motorway','motorway_link','cycleway'))";

/// The same filter, written out by hand over the GeoJSON properties.
fn tilezen_walkable_by_hand(properties: &serde_json::Value) -> bool {
    let kind = properties["kind"].as_str().unwrap_or("");
    let detail = properties["kind_detail"].as_str();
    ["path", "minor_road", "major_road"].contains(&kind)
        && detail.is_none_or(|d| !["trunk", "trunk_link", "motorway", "motorway_link", "cycleway"].contains(&d))
}

fn shanghai() -> (Catalogue, Loaded) {
    let dir = realdata();
    let catalogue = builtin_catalogue();
    let estates = SourceConfig {
        merge_by_id: true,
        filter: [("kind".to_owned(), "residential".to_owned())].into(),
        ..SourceConfig::from_path(dir.join("shanghai-tilezen-osm/landuse.geojson"))
    };
    let kindergartens = SourceConfig { kind: Some("kindergarten".into()), ..SourceConfig::from_path(dir.join("shanghai-amap-poi/幼儿园.csv")) };
    let options = LoadOptions { catalogue: &catalogue, default_crs: None, working_crs: None };
    let loaded = load(&estates, &[kindergartens], &options, &|_| {}).expect("loads");
    assert_eq!(loaded.estates.len(), 18, "the realdata README counts 18 estates once joined");
    (catalogue, loaded)
}

fn shanghai_roads(snap_m: f64, working_crs: &str) -> (NetworkConfig, LoadedNetwork) {
    let config = NetworkConfig {
        walkable: Some(TILEZEN_WALKABLE.to_owned()),
        snap_m,
        ..NetworkConfig::from_path(realdata().join("shanghai-tilezen-osm/roads.geojson"))
    };
    let network = load_network(&config, None, working_crs, &|_| {}).expect("roads load");
    (config, network)
}

// ---------------------------------------------------------------------------------------------
// The independent walking distance: nothing from gapmap::network.

/// A min-heap entry for the oracle's Dijkstra.
#[derive(PartialEq)]
struct Visit(f64, usize);
impl Eq for Visit {}
impl Ord for Visit {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}
impl PartialOrd for Visit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Nodes by exact coordinates, edges per segment, adjacency lists.
struct Oracle {
    nodes: Vec<Coord<f64>>,
    /// `(a, b, length)`.
    segments: Vec<(usize, usize, f64)>,
    adjacency: Vec<Vec<(usize, f64)>>,
}

impl Oracle {
    fn new(lines: &[LineString<f64>]) -> Self {
        let mut ids: HashMap<(u64, u64), usize> = HashMap::new();
        let mut nodes = Vec::new();
        let mut segments = Vec::new();
        for line in lines {
            let mut previous: Option<usize> = None;
            for &c in &line.0 {
                let id = *ids.entry(((c.x + 0.0).to_bits(), (c.y + 0.0).to_bits())).or_insert_with(|| {
                    nodes.push(c);
                    nodes.len() - 1
                });
                if let Some(p) = previous.filter(|&p| p != id) {
                    segments.push((p, id, (nodes[p].x - c.x).hypot(nodes[p].y - c.y)));
                }
                previous = Some(id);
            }
        }
        let mut adjacency = vec![Vec::new(); nodes.len()];
        for &(a, b, length) in &segments {
            adjacency[a].push((b, length));
            adjacency[b].push((a, length));
        }
        Self { nodes, segments, adjacency }
    }

    /// Shortest walk from every node to the nearest source `(node, initial cost)`.
    fn dijkstra(&self, sources: &[(usize, f64)]) -> Vec<f64> {
        let mut dist = vec![f64::INFINITY; self.nodes.len()];
        let mut heap = BinaryHeap::new();
        for &(n, cost) in sources {
            if cost < dist[n] {
                dist[n] = cost;
                heap.push(Visit(cost, n));
            }
        }
        while let Some(Visit(d, n)) = heap.pop() {
            if d > dist[n] {
                continue;
            }
            for &(m, length) in &self.adjacency[n] {
                if d + length < dist[m] {
                    dist[m] = d + length;
                    heap.push(Visit(d + length, m));
                }
            }
        }
        dist
    }

    /// Where `p` joins the network: the nearest segment by linear scan, as `(a, cost to a,
    /// b, cost to b)` with the straight distance to the segment included in both.
    fn join(&self, p: Coord<f64>) -> (usize, f64, usize, f64) {
        let mut best = (f64::INFINITY, 0, 0.0);
        for (s, &(a, b, _)) in self.segments.iter().enumerate() {
            let (t, d) = project(p, self.nodes[a], self.nodes[b]);
            if d < best.0 {
                best = (d, s, t);
            }
        }
        let (snap, segment, along) = best;
        let (a, b, length) = self.segments[segment];
        (a, snap + along * length, b, snap + (1.0 - along) * length)
    }

    /// Entries of an estate: every node inside or on it at cost 0, plus the node outside it
    /// nearest to it, at its distance.
    fn entries(&self, estate: &MultiPolygon<f64>) -> Vec<(usize, f64)> {
        let mut entries = Vec::new();
        let mut outside = (f64::INFINITY, usize::MAX);
        for (n, &c) in self.nodes.iter().enumerate() {
            let d = polygon_distance(estate, c);
            if d == 0.0 {
                entries.push((n, 0.0));
            } else if d < outside.0 {
                outside = (d, n);
            }
        }
        if outside.1 != usize::MAX {
            entries.push((outside.1, outside.0));
        }
        entries
    }
}

/// Parameter along `a`–`b` of the point nearest `p`, and the distance to it.
fn project(p: Coord<f64>, a: Coord<f64>, b: Coord<f64>) -> (f64, f64) {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len_sq = dx * dx + dy * dy;
    let t = if len_sq > 0.0 { (((p.x - a.x) * dx + (p.y - a.y) * dy) / len_sq).clamp(0.0, 1.0) } else { 0.0 };
    (t, (a.x + t * dx - p.x).hypot(a.y + t * dy - p.y))
}

/// Distance from `p` to the estate, 0 inside or on its outline.
fn polygon_distance(estate: &MultiPolygon<f64>, p: Coord<f64>) -> f64 {
    if estate.contains(&Point(p)) {
        return 0.0;
    }
    estate
        .0
        .iter()
        .flat_map(|polygon| std::iter::once(polygon.exterior()).chain(polygon.interiors()))
        .flat_map(|ring| ring.0.windows(2).map(|w| project(p, w[0], w[1]).1))
        .fold(f64::INFINITY, f64::min)
}

fn covered(table: &CoverageTable, kind: KindId) -> usize {
    (0..table.estates()).filter(|&e| table.get(e, kind).covered).count()
}

#[test]
fn shanghai_walking_distances_against_a_dijkstra_written_here() {
    let (catalogue, loaded) = shanghai();
    // No snapping on either side: the oracle joins lines only where they share a vertex.
    let (config, network) = shanghai_roads(0.0, &loaded.working_crs);

    // The walkable filter kept what the same filter written by hand keeps, MultiLineStrings split.
    let text = std::fs::read_to_string(realdata().join("shanghai-tilezen-osm/roads.geojson")).expect("readable");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    let features = doc["features"].as_array().expect("features");
    let kept: Vec<&serde_json::Value> = features.iter().filter(|f| tilezen_walkable_by_hand(&f["properties"])).collect();
    let parts: usize = kept
        .iter()
        .map(|f| match f["geometry"]["type"].as_str() {
            Some("LineString") => 1,
            Some("MultiLineString") => f["geometry"]["coordinates"].as_array().expect("lines").len(),
            other => panic!("unexpected geometry {other:?}"),
        })
        .sum();
    assert!(network.report.rejected.is_empty(), "{:?}", network.report.rejected);
    assert_eq!((network.features_read, network.walkable, network.not_walkable), (features.len(), kept.len(), features.len() - kept.len()));
    assert_eq!(network.lines.len(), parts);
    assert!(network.gates.is_empty(), "Tilezen roads carry no gates");

    let metric = NetworkMetric::build(&network.lines, &network.gates, &loaded.estates, &loaded.facilities, network_params(&config, DistanceFrom::Boundary));
    let table = compute_coverage(&loaded.estates, &metric, &catalogue, None, &RecordedHouseholds, &()).expect("runs");

    let oracle = Oracle::new(&network.lines);
    assert_eq!(metric.stats().nodes, oracle.nodes.len());
    let joins: Vec<(usize, f64, usize, f64)> = loaded.facilities.iter().map(|f| oracle.join(f.location.0)).collect();
    let k = catalogue.kind_id("kindergarten").expect("built-in kind");
    let radius_m = catalogue.spec(k).radius_m;
    for (e, estate) in loaded.estates.iter().enumerate() {
        let dist = oracle.dijkstra(&oracle.entries(&estate.geometry));
        let walks: Vec<f64> = joins.iter().map(|&(a, to_a, b, to_b)| (dist[a] + to_a).min(dist[b] + to_b)).collect();
        let nearest = walks.iter().copied().fold(f64::INFINITY, f64::min);
        let cell = table.get(e, k);
        let got = cell.nearest.map_or(f64::INFINITY, |n| n.distance_m);
        assert!((got - nearest).abs() <= 1e-6, "estate {}: gapmap {got} m, oracle {nearest} m", estate.id);
        if walks.iter().all(|w| (w - radius_m).abs() > 1e-6) {
            let within = walks.iter().filter(|&&w| w <= radius_m).count();
            assert_eq!(cell.count_within as usize, within, "estate {}", estate.id);
            assert_eq!(cell.covered, within > 0, "estate {}", estate.id);
        }
    }
}

#[test]
fn shanghai_walking_covers_far_fewer_estates_than_the_straight_line() {
    let (catalogue, loaded) = shanghai();
    let k = catalogue.kind_id("kindergarten").expect("built-in kind");
    let straight = compute_coverage(&loaded.estates, &StraightLine::new(&loaded.facilities, DistanceFrom::Boundary), &catalogue, None, &RecordedHouseholds, &()).expect("runs");
    let estates = loaded.estates.len();
    for snap_m in [0.0, 1.0] {
        let (config, network) = shanghai_roads(snap_m, &loaded.working_crs);
        let metric = NetworkMetric::build(&network.lines, &network.gates, &loaded.estates, &loaded.facilities, network_params(&config, DistanceFrom::Boundary));
        let walked = compute_coverage(&loaded.estates, &metric, &catalogue, None, &RecordedHouseholds, &()).expect("runs");
        let detours: Vec<f64> = (0..estates)
            .filter_map(|e| {
                let s = straight.get(e, k).nearest?.distance_m;
                let n = walked.get(e, k).nearest?.distance_m;
                (s > 0.0).then(|| n / s)
            })
            .collect();
        let max_detour = detours.iter().copied().fold(0.0, f64::max);
        let (by_line, on_foot) = (covered(&straight, k), covered(&walked, k));
        eprintln!("snap {snap_m} m: kindergarten within 300 m: straight {by_line}/{estates}, walking {on_foot}/{estates}; largest detour {max_detour:.2}×");
        // The claim: 16 of 18 by straight line, fewer than a third on foot, detours past 10×.
        assert_eq!(by_line, 16);
        assert!(on_foot * 3 < estates, "walking covers {on_foot} of {estates}");
        assert!(max_detour > 10.0, "largest detour {max_detour}");
        // A walk is never shorter than the straight line from the same boundary.
        for e in 0..estates {
            if let (Some(s), Some(n)) = (straight.get(e, k).nearest, walked.get(e, k).nearest) {
                assert!(n.distance_m >= s.distance_m - 1e-6, "estate {}: walk {} < line {}", loaded.estates[e].id, n.distance_m, s.distance_m);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// OpenStreetMap

fn check_osm_streets(network: &LoadedNetwork, source: &Path) {
    // Nine ways and three tagged nodes (two gates, one kindergarten).
    assert_eq!(network.features_read, 12);
    // residential, footway, footway bridge, private service with foot=yes, steps
    assert_eq!(network.walkable, 5);
    // motorway, access=private, foot=no
    assert_eq!(network.not_walkable, 3);
    assert_eq!(network.walkable_filter.as_deref(), Some(gapmap::io::network::DEFAULT_OSM_WALKABLE));
    assert_eq!(network.gates.len(), 2, "n4 barrier=gate and n12 entrance=main; n13 is a kindergarten");
    assert_eq!(network.report.rejected.len(), 1, "{:?}", network.report.rejected);
    let rejected = &network.report.rejected[0];
    assert_eq!(rejected.file, source);
    assert_eq!(rejected.id.as_deref(), Some("way/9"));
    assert!(rejected.reason.contains("fewer than 2 distinct vertices"), "{}", rejected.reason);
    assert!(network.report.warnings.iter().any(|w| w.contains("3 features are not walkable")), "{:?}", network.report.warnings);

    // The bridge crosses the residential street with no shared node: three pieces.
    let graph = StreetGraph::build(&network.lines, GraphParams { snap_m: 1.0 });
    let stats = graph.stats();
    assert_eq!((stats.nodes, stats.edges, stats.components, stats.snapped_ends), (9, 6, 3, 0));
    assert_eq!(stats.largest_components, [4, 3, 2]);
    // w1's two segments: 0.002° of longitude at 31.2°N in the UTM zone 51 metres.
    let w1 = &network.lines[0];
    let length: f64 = w1.0.windows(2).map(|w| (w[1].x - w[0].x).hypot(w[1].y - w[0].y)).sum();
    assert!((length - 190.5).abs() < 1.0, "w1 is {length} m");
}

#[test]
fn osm_xml_and_pbf_streets_through_the_default_filter() {
    let xml = fixture("streets.osm");
    let network = load_network(&NetworkConfig::from_path(&xml), None, "EPSG:32651", &|_| {}).expect("OSM XML loads");
    check_osm_streets(&network, &xml);

    let dir = tempfile::tempdir().expect("tempdir");
    let pbf = dir.path().join("streets.osm.pbf");
    let converted = Command::new("osmium")
        .args(["cat", xml.to_str().expect("utf-8 path"), "-o", pbf.to_str().expect("utf-8 path")])
        .output()
        .expect("osmium runs (osmium-tool is installed by scripts/setup.sh)");
    assert!(converted.status.success(), "osmium cat: {}", String::from_utf8_lossy(&converted.stderr));
    let network = load_network(&NetworkConfig::from_path(&pbf), None, "EPSG:32651", &|_| {}).expect("OSM PBF loads");
    check_osm_streets(&network, &pbf);
}

#[test]
fn a_walkable_filter_that_does_not_parse_names_the_key() {
    let config = NetworkConfig { walkable: Some("highway IN ('footway'".to_owned()), ..NetworkConfig::from_path(fixture("streets.osm")) };
    let err = load_network(&config, None, "EPSG:32651", &|_| {}).expect_err("bad CQL2");
    let message = err.to_string();
    assert!(message.starts_with("network.walkable for ") && message.contains("streets.osm"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// The command line, on fixtures in EPSG:4547 metres (x − 543000, y − 4210000 below):
//
//   estate A 0..100 × 0..100 with a gate at (50, 0); estate B 400..500 × 0..100;
//   kindergarten K (id 21, 60 places) at (450, 130), 30 m north of B;
//   s1 residential y = −20 from x −50 to 600 (vertices at 50 and 450);
//   s2 footway (50, 50) → gate (50, 0) → (50, −20); s3 service (450, −20) → (450, 130), through B;
//   s4 motorway (100, 50) → (450, 130): not walkable.
//
// A: gate, 20 m down to s1, 400 m along it, 150 m up s3 = 570 m (straight: √(350² + 30²) =
// 351.283 m; with the motorway it would be 359 m). B: no node inside, so the node nearest
// outside, (450, −20) at 20 m, then 150 m up s3 = 170 m (straight: 30 m).

fn gapmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gapmap")).args(args).env_remove("RUST_LOG").env_remove("GAPMAP_METRIC").env_remove("GAPMAP_NETWORK").output().expect("runs")
}

fn analyze(streets: &str, out: &Path, extra: &[&str]) -> Output {
    let estates = fixture("estates.geojson");
    let facilities = fixture("facilities.geojson");
    let streets = fixture(streets);
    let mut args = vec![
        "analyze",
        "--estates",
        estates.to_str().expect("utf-8"),
        "--facilities",
        facilities.to_str().expect("utf-8"),
        "--network",
        streets.to_str().expect("utf-8"),
        "--working-crs",
        "EPSG:4547",
        "--out",
        out.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    gapmap(&args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn analyze_by_walking_distance_writes_csv_layer_and_summary() {
    let dir = tempfile::tempdir().expect("tempdir");

    let csv = dir.path().join("walk.csv");
    let o = analyze("streets.geojson", &csv, &["--metric", "network"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("walking distances along the street network (7 nodes, 6 edges"), "{}", stderr(&o));
    let text = std::fs::read_to_string(&csv).expect("written");
    assert_eq!(text.lines().next(), Some("estate_id,kind,distance_m,covered,nearest_id,count_within,capacity_within,shortfall"));
    let row = |estate: &str| text.lines().find(|l| l.starts_with(&format!("{estate},kindergarten,"))).expect("row").to_owned();
    // Distance, cover, nearest, count and capacity are the walk's (the shortfall column follows
    // the catalogue's ratio and is not the network's business).
    assert!(row("1").starts_with("1,kindergarten,570.0000,false,21,0,0,"), "{}", row("1"));
    assert!(row("2").starts_with("2,kindergarten,170.0000,true,21,1,60,"), "{}", row("2"));

    let layer = dir.path().join("walk.geojson");
    let o = analyze("streets.geojson", &layer, &["--metric", "network"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&layer).expect("written")).expect("json");
    let estate = |id: i64| doc["features"].as_array().expect("features").iter().find(|f| f["properties"]["id"] == id).expect("estate")["properties"].clone();
    let (a, b) = (estate(1), estate(2));
    assert_eq!(a["kindergarten_distance_m"], 570.0);
    assert_eq!(a["kindergarten_network_m"], 570.0);
    assert_eq!(a["kindergarten_straight_m"], 351.283);
    assert_eq!(a["kindergarten_walk_min"], 7.13);
    assert_eq!(a["kindergarten_detour"], 1.623);
    assert_eq!(b["kindergarten_straight_m"], 30.0);
    assert_eq!(b["kindergarten_network_m"], 170.0);
    assert_eq!(b["kindergarten_walk_min"], 2.13);
    assert_eq!(b["kindergarten_detour"], 5.667);
    // a kind without facilities: every figure null
    assert!(["distance_m", "straight_m", "network_m", "walk_min", "detour"].iter().all(|p| a[format!("market_{p}")].is_null()));

    let summary = dir.path().join("walk.json");
    let o = analyze("streets.geojson", &summary, &["--metric", "network"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).expect("written")).expect("json");
    assert_eq!(doc["metric"], "network");
    assert_eq!(doc["params"]["metric"], "network");
    let network = &doc["network"];
    assert_eq!(network["graph"]["nodes"], 7);
    assert_eq!(network["graph"]["edges"], 6);
    assert_eq!(network["graph"]["components"], 1);
    assert_eq!(network["graph"]["length_m"], 650.0 + 70.0 + 150.0);
    assert_eq!(network["gated_estates"], 1, "A's gate");
    assert_eq!(network["unreachable_estates"], 0);
    assert_eq!((network["walkable_features"].as_u64(), network["not_walkable_features"].as_u64()), (Some(3), Some(1)), "the motorway");
    let kindergarten = doc["overall"].as_array().expect("kinds").iter().find(|k| k["kind"] == "kindergarten").expect("kind");
    assert_eq!(kindergarten["estates_covered"], 1);

    // The same data by straight line: today's outputs, no network figures.
    let straight = dir.path().join("straight.geojson");
    let o = analyze("streets.geojson", &straight, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&straight).expect("written")).expect("json");
    let props = &doc["features"][0]["properties"];
    assert_eq!(props["kindergarten_distance_m"], 351.283);
    assert!(props.get("kindergarten_network_m").is_none() && props.get("kindergarten_detour").is_none(), "{props}");
}

#[test]
fn network_metric_without_a_network_says_what_to_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("walk.csv");
    let estates = fixture("estates.geojson");
    let facilities = fixture("facilities.geojson");
    let o = gapmap(&[
        "analyze",
        "--estates",
        estates.to_str().expect("utf-8"),
        "--facilities",
        facilities.to_str().expect("utf-8"),
        "--metric",
        "network",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("--metric network") && err.contains("--network PATH"), "{err}");
    assert!(!out.exists());
}

#[test]
fn a_bad_street_is_reported_with_file_index_and_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("walk.csv");
    let o = analyze("stub_street.geojson", &out, &["--metric", "network"]);
    assert!(!o.status.success(), "rejections abort by default");
    let err = stderr(&o);
    assert!(err.contains("stub_street.geojson: feature 5 (id stub-7): 2 position(s) but fewer than 2 distinct vertices"), "{err}");
    assert!(err.contains("--on-invalid warn"), "{err}");
    assert!(!out.exists());

    let o = analyze("stub_street.geojson", &out, &["--metric", "network", "--on-invalid", "warn"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("walk.load-report.json")).expect("report")).expect("json");
    assert_eq!(report["rejected"][0]["index"], 5);
    assert_eq!(report["rejected"][0]["id"], "stub-7");
    assert!(report["rejected"][0]["file"].as_str().expect("file").ends_with("stub_street.geojson"));
    assert_eq!(report["network"]["graph"]["nodes"], 7, "the graph's figures beside the rejections");
    assert_eq!(report["network"]["rejected_features"], 1);
    // the walks are those of the good streets
    let text = std::fs::read_to_string(&out).expect("written");
    assert!(text.lines().any(|l| l.starts_with("2,kindergarten,170.0000,true,21,1,60,")), "{text}");
}

#[test]
fn report_by_walking_distance_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let estates = fixture("estates.geojson");
    let facilities = fixture("facilities.geojson");
    let streets = fixture("streets.geojson");
    let run = |metric: &str, out: &Path| {
        let o = gapmap(&[
            "report",
            "--estates",
            estates.to_str().expect("utf-8"),
            "--facilities",
            facilities.to_str().expect("utf-8"),
            "--network",
            streets.to_str().expect("utf-8"),
            "--metric",
            metric,
            "--working-crs",
            "EPSG:4547",
            "--radius",
            "kindergarten=400",
            "--year",
            "2021",
            "--format",
            "md,json",
            "--out",
            out.to_str().expect("utf-8"),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let md = std::fs::read_to_string(out.join("report-2021.md")).expect("markdown");
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("report-2021.json")).expect("json")).expect("parses");
        (md, json)
    };
    // Within 400 m: A's kindergarten is 351 m away in a straight line but a 570 m walk.
    let covered = |json: &serde_json::Value| {
        let overall = json["trend"]["overall"].as_array().expect("overall");
        let row = overall.iter().find(|r| r["kind"] == "kindergarten" && r["year"] == 2021).expect("kindergarten 2021");
        row["estates_covered"].as_u64()
    };
    let (md, json) = run("network", &dir.path().join("walk"));
    assert!(md.contains("walking distance along the street network from the estate boundary in EPSG:4547"), "{md}");
    assert_eq!(json["distances"], "walking distance along the street network");
    assert_eq!(json["trend"]["params"]["metric"], "network");
    assert_eq!(covered(&json), Some(1));
    let (md, json) = run("straight", &dir.path().join("line"));
    assert!(md.contains("straight-line distance from the estate boundary"), "{md}");
    assert_eq!(json["trend"]["params"]["metric"], "straight");
    assert_eq!(covered(&json), Some(2));
}
