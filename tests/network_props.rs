//! Property tests of walking distance: gapmap's street graph, searches and network coverage
//! against the brute-force oracle in `common/network_oracle.rs` (issue 12, "Tests").
//!
//! The random networks are small perturbed grids with missing links, plus lines crossing them
//! without a shared vertex (bridges) and stubs whose ends stop just short of a node or of an
//! edge's interior, so that snapping (node joins, edge splits, both ends of a gap finding each
//! other) happens in most cases.

mod common;

use common::network_oracle::{build_graph, network_oracle};
use gapmap::analysis::{compute_coverage, DistanceFrom, NetworkMetric, NetworkParams, RecordedHouseholds, StraightLine};
use gapmap::index::FacilityIndex;
use gapmap::model::*;
use gapmap::network::search::Scratch;
use gapmap::network::{GraphParams, StreetGraph};
use geo::{Coord, LineString, MultiPolygon, Polygon};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Distance tolerance, and the band around a radius or `max_m` where either answer is right.
const EPS_M: f64 = 1e-6;
/// Grid spacing of the random networks.
const STEP_M: f64 = 100.0;

/// A stub: a short line whose end stops `offset` × snap from a grid node or a point of a grid
/// segment, in direction `angle`; `length` and `heading` place its other end.
#[derive(Debug, Clone)]
struct Stub {
    onto_node: bool,
    target: usize,
    t: f64,
    angle: f64,
    offset: f64,
    length: f64,
    heading: f64,
}

#[derive(Debug, Clone)]
struct Net {
    lines: Vec<LineString<f64>>,
    snap_m: f64,
}

fn stub_strategy() -> impl Strategy<Value = Stub> {
    (any::<bool>(), 0usize..1000, 0.05..0.95f64, 0.0..std::f64::consts::TAU, 0.0..1.6f64, 3.0..70.0f64, 0.0..std::f64::consts::TAU)
        .prop_map(|(onto_node, target, t, angle, offset, length, heading)| Stub { onto_node, target, t, angle, offset, length, heading })
}

fn net_strategy() -> impl Strategy<Value = Net> {
    (3usize..=5).prop_flat_map(|g| {
        let segments = 2 * g * (g - 1);
        (
            prop::collection::vec((-15.0..15.0f64, -15.0..15.0f64), g * g),
            prop::collection::vec(prop::bool::weighted(0.85), segments),
            prop::collection::vec(((-20.0..420.0f64, -20.0..420.0f64), (-20.0..420.0f64, -20.0..420.0f64)), 0..3),
            prop::collection::vec(stub_strategy(), 0..7),
            prop_oneof![1 => Just(0.0), 4 => 0.5..4.0f64],
        )
            .prop_map(move |(jitter, present, bridges, stubs, snap_m)| make_net(g, &jitter, &present, &bridges, &stubs, snap_m))
    })
}

/// Grid node `(i, j)` and segment `s` (rows first, then columns) of a `g` × `g` grid.
fn make_net(g: usize, jitter: &[(f64, f64)], present: &[bool], bridges: &[((f64, f64), (f64, f64))], stubs: &[Stub], snap_m: f64) -> Net {
    #[expect(clippy::cast_precision_loss, reason = "small")]
    let node = |i: usize, j: usize| Coord { x: i as f64 * STEP_M + jitter[j * g + i].0, y: j as f64 * STEP_M + jitter[j * g + i].1 };
    let per_axis = g * (g - 1);
    // segment s: row j from (i, j) to (i + 1, j), or column i from (i, j) to (i, j + 1)
    let segment = |s: usize| {
        if s < per_axis {
            let (j, i) = (s / (g - 1), s % (g - 1));
            (node(i, j), node(i + 1, j))
        } else {
            let s = s - per_axis;
            let (i, j) = (s / (g - 1), s % (g - 1));
            (node(i, j), node(i, j + 1))
        }
    };
    let mut lines = Vec::new();
    // Each row and column: its runs of present segments, one line each.
    for axis in 0..2 {
        for k in 0..g {
            let mut run: Vec<Coord<f64>> = Vec::new();
            for m in 0..g - 1 {
                let s = axis * per_axis + k * (g - 1) + m;
                if present[s] {
                    let (a, b) = segment(s);
                    if run.is_empty() {
                        run.push(a);
                    }
                    run.push(b);
                } else if run.len() > 1 {
                    lines.push(LineString::new(std::mem::take(&mut run)));
                } else {
                    run.clear();
                }
            }
            if run.len() > 1 {
                lines.push(LineString::new(run));
            }
        }
    }
    for &((x0, y0), (x1, y1)) in bridges {
        lines.push(LineString::from(vec![(x0, y0), (x1, y1)]));
    }
    for stub in stubs {
        let target = if stub.onto_node {
            let n = stub.target % (g * g);
            node(n % g, n / g)
        } else {
            let (a, b) = segment(stub.target % (2 * per_axis));
            Coord { x: a.x + stub.t * (b.x - a.x), y: a.y + stub.t * (b.y - a.y) }
        };
        let r = stub.offset * snap_m.max(0.5);
        let near = Coord { x: target.x + r * stub.angle.cos(), y: target.y + r * stub.angle.sin() };
        let far = Coord { x: near.x + stub.length * stub.heading.cos(), y: near.y + stub.length * stub.heading.sin() };
        lines.push(LineString::new(vec![far, near]));
    }
    Net { lines, snap_m }
}

fn rect(x: f64, y: f64, w: f64, h: f64) -> LineString<f64> {
    LineString::from(vec![(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)])
}

/// Rectangles, rectangles with a hole, triangles and two-part MultiPolygons over the grid; some
/// hold nodes, some sit between streets.
fn estate_strategy() -> impl Strategy<Value = MultiPolygon<f64>> {
    (-30.0..400.0f64, -30.0..400.0f64, 15.0..170.0f64, 15.0..170.0f64, 0u8..4, 0.0..1.0f64).prop_map(|(x, y, w, h, variant, t)| match variant {
        0 => MultiPolygon(vec![Polygon::new(rect(x, y, w, h), vec![])]),
        1 => MultiPolygon(vec![Polygon::new(rect(x, y, w, h), vec![rect(x + w * 0.25, y + h * 0.25, w * 0.5, h * 0.5)])]),
        2 => MultiPolygon(vec![Polygon::new(LineString::from(vec![(x, y), (x + w, y + h * t), (x + w * t, y + h), (x, y)]), vec![])]),
        _ => MultiPolygon(vec![Polygon::new(rect(x, y, w * 0.4, h), vec![]), Polygon::new(rect(x + w * 0.6, y, w * 0.4, h), vec![])]),
    })
}

fn facility_strategy(kinds: u16) -> impl Strategy<Value = (f64, f64, u16, Option<f64>, Option<i32>)> {
    (-40.0..440.0f64, -40.0..440.0f64, 0..kinds, proptest::option::of(0.0..500.0f64), proptest::option::of(2000..2025i32))
}

fn catalogue(radii: &[f64]) -> Catalogue {
    Catalogue {
        name: "network-prop".into(),
        residents_per_household: 2.5,
        kinds: radii
            .iter()
            .enumerate()
            .map(|(i, &r)| KindSpec {
                key: format!("k{i}"),
                label_zh: "k".into(),
                label_en: "k".into(),
                radius_m: r,
                circle: LivingCircle::FiveMin,
                ratio: None,
                capacity_unit: None,
                clause: "test".into(),
                confirmed: false,
                osm: vec![],
                amap_types: vec![],
                keywords: vec![],
            })
            .collect(),
    }
}

fn build(estates: Vec<MultiPolygon<f64>>, facilities: Vec<(f64, f64, u16, Option<f64>, Option<i32>)>) -> (Vec<Estate>, Vec<Facility>) {
    let estates = estates
        .into_iter()
        .enumerate()
        .map(|(i, geometry)| Estate {
            id: FeatureId::Int(i64::try_from(i).expect("small")),
            name: None,
            district: None,
            households: Some(100),
            built_year: None,
            renovation_year: None,
            geometry,
            extra: vec![],
        })
        .collect();
    let facilities = facilities
        .into_iter()
        .enumerate()
        .map(|(i, (x, y, kind, capacity, opened_year))| Facility {
            id: FeatureId::Int(i64::try_from(i).expect("small")),
            kind: KindId(kind),
            name: None,
            capacity,
            opened_year,
            planned: false,
            district: None,
            location: geo::point!(x: x, y: y),
            extra: vec![],
        })
        .collect();
    (estates, facilities)
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(300))]

    /// `StreetGraph` (node dedup, snapping, splitting) and its bounded search: the same nodes
    /// (by coordinates), edge count, snapped ends and total length as the oracle's graph, and
    /// `Scratch::settle` from every node gives the oracle's all-pairs shortest distances.
    #[test]
    fn street_graph_and_search_match_brute_force(net in net_strategy()) {
        let graph = StreetGraph::build(&net.lines, GraphParams { snap_m: net.snap_m });
        let oracle = build_graph(&net.lines, net.snap_m);
        let stats = graph.stats();
        prop_assert_eq!(stats.nodes, oracle.nodes.len());
        prop_assert_eq!(stats.edges, oracle.edges.len());
        prop_assert_eq!(stats.snapped_ends, oracle.snapped_ends);
        let oracle_length: f64 = oracle.edges.iter().map(|e| e.2).sum();
        prop_assert!((stats.length_m - oracle_length).abs() < EPS_M, "{} vs {oracle_length}", stats.length_m);
        // Node i of gapmap is oracle node at[i] (split points may differ in the last bits).
        let mut at = Vec::with_capacity(graph.node_count());
        for c in graph.nodes() {
            let found: Vec<usize> = (0..oracle.nodes.len()).filter(|&o| (oracle.nodes[o].x - c.x).hypot(oracle.nodes[o].y - c.y) < 1e-7).collect();
            prop_assert_eq!(found.len(), 1, "node {:?} has {} oracle matches", c, found.len());
            at.push(found[0]);
        }
        let d = oracle.all_pairs();
        let mut scratch = Scratch::new(graph.node_count());
        for s in 0..graph.node_count() {
            let mut got = vec![f64::INFINITY; graph.node_count()];
            scratch.settle(&graph, [(u32::try_from(s).expect("small"), 0.0)], f64::INFINITY, |n, dist| got[n as usize] = dist);
            for (t, &g) in got.iter().enumerate() {
                let want = d[at[s]][at[t]];
                prop_assert!(
                    (g.is_infinite() && want.is_infinite()) || (g - want).abs() < EPS_M,
                    "{:?} -> {:?}: {g} vs oracle {want}", graph.nodes()[s], graph.nodes()[t]
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(config(200))]

    /// `compute_coverage` with `NetworkMetric` (boundary entries, one bounded search per estate,
    /// one whole-graph search per kind for the rest): nearest distance, the within-radius set
    /// (count and capacity) and covered equal the oracle's per estate × kind, for a year filter
    /// and a `max_m` too (which bounds only the search for a nearest beyond the radius).
    #[test]
    fn network_coverage_matches_brute_force(
        net in net_strategy(),
        estates in prop::collection::vec(estate_strategy(), 1..8),
        facilities in prop::collection::vec(facility_strategy(3), 0..25),
        radii in prop::collection::vec(30.0..400.0f64, 2..=3),
        year in proptest::option::of(1995..2030i32),
        max_m in proptest::option::of(100.0..700.0f64),
    ) {
        let catalogue = catalogue(&radii);
        let kinds = u16::try_from(radii.len()).expect("small");
        let facilities: Vec<_> = facilities.into_iter().map(|mut f| { f.2 %= kinds; f }).collect();
        let (estates, facilities) = build(estates, facilities);
        let params = NetworkParams { snap_m: net.snap_m, max_m: max_m.unwrap_or(f64::INFINITY), ..NetworkParams::default() };
        let metric = NetworkMetric::build(&net.lines, &[], &estates, &facilities, params);
        let table = compute_coverage(&estates, &metric, &catalogue, year, &RecordedHouseholds, &()).expect("valid");

        let graph = build_graph(&net.lines, net.snap_m);
        let all_pairs = graph.all_pairs();
        for (e, estate) in estates.iter().enumerate() {
            for (k, &r) in radii.iter().enumerate() {
                let kind = KindId(u16::try_from(k).expect("small"));
                let cell = table.get(e, kind);
                let o = network_oracle(&graph, &all_pairs, estate, &facilities, kind, year);
                let max = params.max_m;
                if o.nearest_m.is_some_and(|d| (d - max).abs() < EPS_M) {
                    continue; // at max_m: either answer is right
                }
                // max_m limits only the search beyond the radius: a facility within the radius is found.
                match (cell.nearest, o.nearest_m.filter(|&d| d <= max || d <= r)) {
                    (None, None) => {}
                    (Some(n), Some(d)) => {
                        prop_assert!((n.distance_m - d).abs() < EPS_M, "estate {e} kind {k}: {} vs oracle {d}", n.distance_m);
                        // The reported facility is one at that distance.
                        let reported = o.distances_m.iter().find(|(i, _)| *i == n.facility as usize);
                        prop_assert!(reported.is_some_and(|(_, rd)| (rd - d).abs() < EPS_M), "estate {e} kind {k}: facility {} at {reported:?}", n.facility);
                    }
                    other => prop_assert!(false, "estate {e} kind {k}: {other:?} (oracle {:?})", o.nearest_m),
                }
                if o.distances_m.iter().any(|(_, d)| (d - r).abs() < EPS_M) {
                    continue; // on the radius: either answer is right
                }
                let within: Vec<_> = o.distances_m.iter().filter(|(_, d)| *d <= r).collect();
                prop_assert_eq!(cell.count_within as usize, within.len(), "estate {} kind {}", e, k);
                let capacity: f64 = within.iter().map(|(i, _)| facilities[*i].capacity.unwrap_or(0.0)).sum();
                prop_assert!((cell.capacity_within - capacity).abs() < 1e-6, "{} vs {capacity}", cell.capacity_within);
                prop_assert_eq!(cell.covered, !within.is_empty(), "estate {} kind {}", e, k);
            }
        }
    }

    /// Walking never beats the straight line: per estate × kind, the network nearest distance is
    /// at least the straight-line one (boundary distances, same open facilities), and the
    /// facilities within the radius on foot are no more than in a straight line.
    #[test]
    fn network_distance_is_at_least_straight_line(
        net in net_strategy(),
        estates in prop::collection::vec(estate_strategy(), 1..8),
        facilities in prop::collection::vec(facility_strategy(2), 0..25),
        year in proptest::option::of(1995..2030i32),
    ) {
        let catalogue = catalogue(&[150.0, 350.0]);
        let (estates, facilities) = build(estates, facilities);
        let params = NetworkParams { snap_m: net.snap_m, ..NetworkParams::default() };
        let network = NetworkMetric::build(&net.lines, &[], &estates, &facilities, params);
        let walked = compute_coverage(&estates, &network, &catalogue, year, &RecordedHouseholds, &()).expect("valid");
        let index = FacilityIndex::build(&facilities, catalogue.len(), year);
        let straight = StraightLine::with_index(&facilities, &index, DistanceFrom::Boundary);
        let flown = compute_coverage(&estates, &straight, &catalogue, year, &RecordedHouseholds, &()).expect("valid");
        for e in 0..estates.len() {
            for k in 0..catalogue.len() {
                let kind = KindId(u16::try_from(k).expect("small"));
                let (w, s) = (walked.get(e, kind), flown.get(e, kind));
                if let Some(n) = w.nearest {
                    let line = s.nearest.expect("a facility reached on foot is open");
                    prop_assert!(n.distance_m >= line.distance_m - EPS_M, "estate {e} kind {k}: walk {} < line {}", n.distance_m, line.distance_m);
                }
                prop_assert!(w.count_within <= s.count_within, "estate {e} kind {k}: {} within on foot, {} in a line", w.count_within, s.count_within);
            }
        }
    }
}
