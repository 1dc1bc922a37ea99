//! The street network of a generated city (`gapmap generate --streets`): a perturbed grid along
//! the gaps between the estate blocks, for walking-distance tests and benchmarks.
//!
//! - A street runs along every gap between grid cells where at least one side is part of the
//!   city, except inside a compound that merges cells across that gap. Gap lines are cut into
//!   ways of 3–8 blocks, as OSM ways are; every tenth line is `primary`, every fifth
//!   `secondary`, every third `tertiary`, the rest `residential`.
//! - Intersections are moved by up to 4 m and each block-long segment gets 1–2 inner vertices
//!   moved up to 2.5 m sideways: the network is a grid in topology only.
//! - **Missing links:** 3 % of segments are left out.
//! - **Bridges and tunnels:** at 2 % of the four-way crossings the north–south street passes
//!   without a shared vertex (a short way tagged `bridge=yes`, or `tunnel=yes` with `layer=-1`).
//! - **Dead ends:** 12 % of segments carry a `service` road or `footway` into an adjacent
//!   estate block, ending 30–70 m from the street's centre line (often inside the estate, where
//!   it becomes one of the estate's entries).
//! - **Digitising gaps** for snapping: 1 % of ways start 0.3–0.9 m short of their intersection,
//!   and 10 % of the dead ends start 0.3–0.9 m off the street (half of them beside a vertex,
//!   which joins that node; half beside the middle of an edge, which splits it).
//!
//! Its own `ChaCha8Rng` stream (seeded from the city's seed) leaves the estates and facilities
//! unchanged whether or not streets are generated. Exact IEEE arithmetic only, as in the parent
//! module. A 60,000-estate city gets about 115,000 ways and dead ends and 420,000 graph edges.

use geo::Coord;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `owner` of a grid cell that is part of the city but holds no estate (a park, a school).
pub(super) const EMPTY: u32 = u32::MAX - 1;
/// `owner` of a grid cell outside the city.
pub(super) const OUTSIDE: u32 = u32::MAX;

const INTERSECTION_JITTER_M: f64 = 4.0;
const LATERAL_JITTER_M: f64 = 2.5;
/// Beyond the outermost blocks, the edge streets run this far out.
const EDGE_STREET_M: f64 = 35.0;
const P_MISSING: f64 = 0.03;
const P_BRIDGE: f64 = 0.02;
const P_DEAD_END: f64 = 0.12;
const P_SHORT_START: f64 = 0.01;
const P_OFF_STREET: f64 = 0.10;

/// The block grid the estates were laid out on.
#[derive(Debug, Clone)]
pub(super) struct Grid {
    /// `(start, end)` of each column of blocks along x, metres.
    pub columns: Vec<(f64, f64)>,
    /// `(start, end)` of each row along y.
    pub rows: Vec<(f64, f64)>,
    /// Per cell `row * side + column`: the estate (block) index, [`EMPTY`] or [`OUTSIDE`].
    pub owner: Vec<u32>,
}

/// OSM `highway` values used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Highway {
    Primary,
    Secondary,
    Tertiary,
    Residential,
    Service,
    Footway,
}

impl Highway {
    pub(super) fn tag(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Secondary => "secondary",
            Self::Tertiary => "tertiary",
            Self::Residential => "residential",
            Self::Service => "service",
            Self::Footway => "footway",
        }
    }
}

/// Whether a way is a bridge or a tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Structure {
    Ground,
    Bridge,
    Tunnel,
}

/// One way, local metric frame.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct StreetLine {
    pub coords: Vec<Coord<f64>>,
    pub highway: Highway,
    pub structure: Structure,
}

/// Positions of the `n + 1` street centre lines around `n` blocks.
fn gap_positions(spans: &[(f64, f64)]) -> Vec<f64> {
    let n = spans.len();
    let mut gaps = Vec::with_capacity(n + 1);
    gaps.push(spans[0].0 - EDGE_STREET_M);
    for i in 1..n {
        gaps.push((spans[i - 1].1 + spans[i].0) / 2.0);
    }
    gaps.push(spans[n - 1].1 + EDGE_STREET_M);
    gaps
}

fn class(line: usize) -> Highway {
    if line % 10 == 5 {
        Highway::Primary
    } else if line % 5 == 0 {
        Highway::Secondary
    } else if line % 3 == 0 {
        Highway::Tertiary
    } else {
        Highway::Residential
    }
}

/// One axis of the grid seen as street lines: line `g` (a gap), segment `r` (along a block).
struct Axis<'a> {
    grid: &'a Grid,
    side: usize,
    /// Streets of this axis run north–south (along x = gap).
    vertical: bool,
}

impl Axis<'_> {
    /// Owner of the cell at (`across`, `along`) in this axis's terms; out of range is outside.
    fn owner(&self, across: usize, along: usize) -> u32 {
        // `across` is offset by one: cell index across = gap - 1 or gap.
        if across == 0 || across > self.side || along >= self.side {
            return OUTSIDE;
        }
        let (c, r) = if self.vertical { (across - 1, along) } else { (along, across - 1) };
        self.grid.owner[r * self.side + c]
    }

    /// The two cells beside segment `r` of line `g`: (lower side, upper side) owners.
    fn beside(&self, g: usize, r: usize) -> (u32, u32) {
        (self.owner(g, r), self.owner(g + 1, r))
    }

    fn exists(&self, g: usize, r: usize) -> bool {
        let (lo, hi) = self.beside(g, r);
        (lo != OUTSIDE || hi != OUTSIDE) && !(lo == hi && lo < EMPTY)
    }
}

/// Lays out the streets of `grid` with their own random stream from `seed`.
pub(super) fn lay_out_streets(grid: &Grid, seed: u64) -> Vec<StreetLine> {
    let side = grid.columns.len();
    if side == 0 {
        return Vec::new();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5354_5245_4554_5321);
    let xs = gap_positions(&grid.columns);
    let ys = gap_positions(&grid.rows);
    let jitter: Vec<Coord<f64>> = (0..(side + 1) * (side + 1))
        .map(|_| Coord {
            x: rng.gen_range(-INTERSECTION_JITTER_M..INTERSECTION_JITTER_M),
            y: rng.gen_range(-INTERSECTION_JITTER_M..INTERSECTION_JITTER_M),
        })
        .collect();
    // Intersection (gap x index gx, gap y index gy).
    let node = |gx: usize, gy: usize| {
        let j = jitter[gy * (side + 1) + gx];
        Coord { x: xs[gx] + j.x, y: ys[gy] + j.y }
    };
    let axes = [Axis { grid, side, vertical: true }, Axis { grid, side, vertical: false }];
    // present[axis][g * side + r]: the segment exists and is not a missing link.
    let present: Vec<Vec<bool>> = axes
        .iter()
        .map(|axis| {
            let mut p = vec![false; (side + 1) * side];
            for g in 0..=side {
                for r in 0..side {
                    p[g * side + r] = axis.exists(g, r) && !rng.gen_bool(P_MISSING);
                }
            }
            p
        })
        .collect();
    // bridge[gx * (side + 1) + gy]: the north–south street at gx passes over (or under) the
    // east–west street at gy without a shared vertex.
    let mut bridge = vec![Structure::Ground; (side + 1) * (side + 1)];
    for gx in 0..=side {
        for gy in 1..side {
            let ns = present[0][gx * side + gy - 1] && present[0][gx * side + gy];
            let ew = gx >= 1 && gx < side && present[1][gy * side + gx - 1] && present[1][gy * side + gx];
            if ns && ew && rng.gen_bool(P_BRIDGE) {
                bridge[gx * (side + 1) + gy] = if rng.gen_bool(0.5) { Structure::Bridge } else { Structure::Tunnel };
            }
        }
    }

    let mut lines: Vec<StreetLine> = Vec::new();
    let mut dead_ends: Vec<StreetLine> = Vec::new();
    for (a, axis) in axes.iter().enumerate() {
        for g in 0..=side {
            let highway = class(g);
            // Along x for east–west lines, along y for north–south ones.
            let at = |r: usize| if axis.vertical { node(g, r) } else { node(r, g) };
            let normal = if axis.vertical { Coord { x: 1.0, y: 0.0 } } else { Coord { x: 0.0, y: 1.0 } };
            let mut way: Vec<Coord<f64>> = Vec::new();
            let mut blocks_left = 0_u32;
            let flush = |way: &mut Vec<Coord<f64>>, lines: &mut Vec<StreetLine>| {
                if way.len() >= 2 {
                    lines.push(StreetLine { coords: std::mem::take(way), highway, structure: Structure::Ground });
                }
                way.clear();
            };
            for r in 0..side {
                if !present[a][g * side + r] {
                    flush(&mut way, &mut lines);
                    continue;
                }
                let (start, end) = (at(r), at(r + 1));
                let inner = inner_vertices(&mut rng, start, end, normal);
                let crossing = if axis.vertical && r > 0 { bridge[g * (side + 1) + r] } else { Structure::Ground };
                if crossing != Structure::Ground && way.len() >= 2 {
                    // Leave out the intersection: the way before ends at its last inner vertex,
                    // the crossing is a way of its own, the next way starts at the first inner.
                    way.pop();
                    let before = *way.last().expect("a way of two or more vertices");
                    flush(&mut way, &mut lines);
                    lines.push(StreetLine { coords: vec![before, inner[0]], highway, structure: crossing });
                    way.push(inner[0]);
                    way.extend_from_slice(&inner[1..]);
                    blocks_left = rng.gen_range(3..=8);
                } else {
                    if way.is_empty() || blocks_left == 0 || rng.gen_bool(P_SHORT_START) {
                        flush(&mut way, &mut lines);
                        blocks_left = rng.gen_range(3..=8);
                        way.push(if rng.gen_bool(P_SHORT_START) { short_of(&mut rng, start, inner[0]) } else { start });
                    }
                    way.extend_from_slice(&inner);
                }
                way.push(end);
                blocks_left -= 1;
                if rng.gen_bool(P_DEAD_END) {
                    let (lo, hi) = axis.beside(g, r);
                    if let Some(line) = dead_end(&mut rng, &inner, end, normal, lo, hi) {
                        dead_ends.push(line);
                    }
                }
            }
            flush(&mut way, &mut lines);
        }
    }
    lines.extend(dead_ends);
    lines
}

/// 1–2 vertices strictly between `start` and `end`, in order, moved sideways along `normal`.
fn inner_vertices(rng: &mut ChaCha8Rng, start: Coord<f64>, end: Coord<f64>, normal: Coord<f64>) -> Vec<Coord<f64>> {
    let n = rng.gen_range(1..=2_u32);
    (0..n)
        .map(|j| {
            let t = 0.1 + 0.8 * (f64::from(j) + rng.gen_range(0.15..0.85)) / f64::from(n);
            let side = rng.gen_range(-LATERAL_JITTER_M..LATERAL_JITTER_M);
            Coord { x: start.x + t * (end.x - start.x) + side * normal.x, y: start.y + t * (end.y - start.y) + side * normal.y }
        })
        .collect()
}

/// A point 0.3–0.9 m from `from` towards `towards`: a way end that misses its intersection.
fn short_of(rng: &mut ChaCha8Rng, from: Coord<f64>, towards: Coord<f64>) -> Coord<f64> {
    let (dx, dy) = (towards.x - from.x, towards.y - from.y);
    let len = (dx * dx + dy * dy).sqrt();
    let gap = rng.gen_range(0.3..0.9);
    Coord { x: from.x + dx / len * gap, y: from.y + dy / len * gap }
}

/// A service road or footway from the segment into one of the blocks beside it (owners `lo` on
/// the −normal side, `hi` on the +normal side), when one of them holds an estate.
fn dead_end(rng: &mut ChaCha8Rng, inner: &[Coord<f64>], end: Coord<f64>, normal: Coord<f64>, lo: u32, hi: u32) -> Option<StreetLine> {
    let sign = match (lo < EMPTY, hi < EMPTY) {
        (false, false) => return None,
        (true, false) => -1.0,
        (false, true) => 1.0,
        (true, true) => {
            if rng.gen_bool(0.5) {
                1.0
            } else {
                -1.0
            }
        }
    };
    let (nx, ny) = (sign * normal.x, sign * normal.y);
    let from = inner[inner.len() / 2];
    let mut start = from;
    if rng.gen_bool(P_OFF_STREET) {
        let off = rng.gen_range(0.3..0.9);
        if rng.gen_bool(0.5) {
            // Beside the middle of the next edge: snapping splits it.
            let next = if inner.len() / 2 + 1 < inner.len() { inner[inner.len() / 2 + 1] } else { end };
            start = Coord { x: (from.x + next.x) / 2.0 + off * nx, y: (from.y + next.y) / 2.0 + off * ny };
        } else {
            start = Coord { x: from.x + off * nx, y: from.y + off * ny };
        }
    }
    let length = rng.gen_range(30.0..70.0);
    let bend = rng.gen_range(-3.0..3.0);
    let middle = Coord { x: start.x + 0.5 * length * nx + bend * ny, y: start.y + 0.5 * length * ny + bend * nx };
    let tip = Coord { x: start.x + length * nx, y: start.y + length * ny };
    let highway = if rng.gen_bool(0.6) { Highway::Service } else { Highway::Footway };
    Some(StreetLine { coords: vec![start, middle, tip], highway, structure: Structure::Ground })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{CityParams, CityPlan};
    use crate::network::{GraphParams, StreetGraph};
    use geo::{BoundingRect, Contains, Intersects, LineString, Point};
    use rstar::primitives::{GeomWithData, Rectangle};
    use rstar::{RTree, AABB};

    fn plan(estates: usize) -> CityPlan {
        CityPlan::new(&CityParams { estates, facilities: 3 * estates, seed: 11, ..CityParams::default() })
    }

    #[test]
    fn deterministic_and_leaves_the_city_unchanged() {
        let a = plan(300);
        let b = plan(300);
        assert_eq!(lay_out_streets(&a.grid, a.seed), lay_out_streets(&b.grid, b.seed));
        // Streets come from their own stream: estates equal those of a plan never asked for them.
        let _ = a.streets().count();
        assert!(a.estates().eq(b.estates()));
    }

    #[test]
    fn a_connected_grid_with_missing_links_bridges_and_dead_ends() {
        let p = plan(2_000);
        let lines = lay_out_streets(&p.grid, p.seed);
        let count = |s: Structure| lines.iter().filter(|l| l.structure == s).count();
        assert!(count(Structure::Bridge) > 5 && count(Structure::Tunnel) > 5, "{} bridges, {} tunnels", count(Structure::Bridge), count(Structure::Tunnel));
        let dead_ends = lines.iter().filter(|l| matches!(l.highway, Highway::Service | Highway::Footway)).count();
        assert!(dead_ends > 200, "{dead_ends}");
        let metric: Vec<LineString<f64>> = lines.iter().map(|l| LineString::new(l.coords.clone())).collect();
        let graph = StreetGraph::build(&metric, GraphParams { snap_m: 1.0 });
        let stats = graph.stats();
        assert!(stats.edges >= 6 * 2_000, "{stats:?}");
        assert!(stats.snapped_ends > 20, "{stats:?}");
        // Missing links and bridges do not cut the city apart; dead ends left short stay apart.
        assert!(stats.largest_components[0] * 100 >= stats.nodes * 95, "{stats:?}");
        // Bridges: without snapping, crossings without a shared vertex stay unconnected, so
        // the graph without them has as many nodes as the one with.
        let apart = StreetGraph::build(&metric, GraphParams { snap_m: 0.0 }).stats();
        assert!(apart.components > stats.components, "{apart:?} vs {stats:?}");
    }

    #[test]
    fn streets_run_between_estates_and_dead_ends_enter_them() {
        let p = plan(1_500);
        let tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>> = RTree::bulk_load(
            p.estates
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let r = e.geometry.bounding_rect().expect("non-empty");
                    GeomWithData::new(Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]), i)
                })
                .collect(),
        );
        let mut inside_tips = 0;
        for line in lay_out_streets(&p.grid, p.seed) {
            let ls = LineString::new(line.coords.clone());
            let r = ls.bounding_rect().expect("two vertices");
            let envelope = AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
            let dead_end = matches!(line.highway, Highway::Service | Highway::Footway);
            for hit in tree.locate_in_envelope_intersecting(&envelope) {
                let estate = &p.estates[hit.data].geometry;
                if dead_end {
                    inside_tips += usize::from(estate.contains(&Point::from(*line.coords.last().expect("tip"))));
                } else {
                    assert!(!estate.intersects(&ls), "a {:?} street crosses estate {}", line.highway, hit.data);
                }
            }
        }
        assert!(inside_tips > 100, "{inside_tips}");
    }
}
