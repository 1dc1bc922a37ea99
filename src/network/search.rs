//! Shortest-path searches on the street graph.
//!
//! Dijkstra with a binary heap and lazy deletion: the graph is sparse (street nodes have two to
//! four neighbours), so a pairing or radix heap would save little, and searches are bounded by a
//! service radius, so most touch a few hundred nodes. Per-search state lives in a [`Scratch`]
//! whose arrays are stamped with a search number instead of being cleared, so a bounded search
//! costs what it touches, not the size of the graph.
//!
//! - [`Scratch::settle`]: one bounded search from several sources with initial costs (an estate's
//!   entries), reporting nodes in order of distance.
//! - [`nearest_sources`]: one multi-source search over the whole graph from labelled sources (all
//!   facilities of a kind), giving each node its distance to the nearest source and which one.
//! - [`EdgeFacilities`]: the facilities joined to each edge, so a search settling an edge's end
//!   finds them.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::{FacilityJoin, StreetGraph};
use crate::model::Facility;

/// A heap entry: min-ordered by distance, then node.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Item {
    dist_m: f64,
    node: u32,
}

impl Eq for Item {}

impl Ord for Item {
    fn cmp(&self, other: &Self) -> Ordering {
        other.dist_m.total_cmp(&self.dist_m).then_with(|| other.node.cmp(&self.node))
    }
}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Reusable state of bounded searches on one graph (one per thread).
#[derive(Debug)]
pub struct Scratch {
    /// Per node: the distance found and the search that found it, side by side (one cache line
    /// read per relaxation instead of two).
    label: Vec<Label>,
    epoch: u32,
    heap: BinaryHeap<Item>,
}

#[derive(Debug, Clone, Copy)]
struct Label {
    dist_m: f64,
    stamp: u32,
}

impl Scratch {
    /// State for searches on a graph of `nodes` nodes.
    #[must_use]
    pub fn new(nodes: usize) -> Self {
        Self { label: vec![Label { dist_m: 0.0, stamp: 0 }; nodes], epoch: 0, heap: BinaryHeap::new() }
    }

    fn begin(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.label.fill(Label { dist_m: 0.0, stamp: 0 });
            self.epoch = 1;
        }
        self.heap.clear();
    }

    #[inline]
    fn get(&self, n: u32) -> f64 {
        let l = self.label[n as usize];
        if l.stamp == self.epoch {
            l.dist_m
        } else {
            f64::INFINITY
        }
    }

    #[inline]
    fn set(&mut self, n: u32, d: f64) {
        self.label[n as usize] = Label { dist_m: d, stamp: self.epoch };
    }

    /// Settles every node within `bound_m` of the sources `(node, initial cost)`, nearest first,
    /// calling `visit(node, distance)` once per node.
    ///
    /// # Units
    /// Metres.
    ///
    /// # Complexity
    /// O(k log k) for the k nodes within the bound and their edges.
    pub fn settle(&mut self, graph: &StreetGraph, sources: impl IntoIterator<Item = (u32, f64)>, bound_m: f64, mut visit: impl FnMut(u32, f64)) {
        self.begin();
        for (n, d) in sources {
            if d <= bound_m && d < self.get(n) {
                self.set(n, d);
                self.heap.push(Item { dist_m: d, node: n });
            }
        }
        while let Some(Item { dist_m, node }) = self.heap.pop() {
            if dist_m > self.get(node) {
                continue;
            }
            visit(node, dist_m);
            for (w, length_m) in graph.arcs(node) {
                let nd = dist_m + length_m;
                if nd <= bound_m && nd < self.get(w) {
                    self.set(w, nd);
                    self.heap.push(Item { dist_m: nd, node: w });
                }
            }
        }
    }
}

/// Distance from every node to its nearest source and that source's label.
#[derive(Debug, Clone)]
pub struct NearestSources {
    /// Per node; `f64::INFINITY` where no source is within reach.
    pub dist_m: Vec<f64>,
    /// Per node; the label of the nearest source (lowest label among equals reached first).
    pub label: Vec<u32>,
}

/// One multi-source Dijkstra from `sources` `(node, initial cost, label)` over the whole graph,
/// up to `max_m`.
///
/// # Complexity
/// O((N + M) log N).
#[must_use]
pub fn nearest_sources(graph: &StreetGraph, sources: impl IntoIterator<Item = (u32, f64, u32)>, max_m: f64) -> NearestSources {
    let n = graph.node_count();
    let mut dist_m = vec![f64::INFINITY; n];
    let mut label = vec![u32::MAX; n];
    let mut heap = BinaryHeap::new();
    let better = |d: f64, l: u32, bd: f64, bl: u32| d.total_cmp(&bd).then(l.cmp(&bl)).is_lt();
    for (node, d, l) in sources {
        if d <= max_m && better(d, l, dist_m[node as usize], label[node as usize]) {
            dist_m[node as usize] = d;
            label[node as usize] = l;
            heap.push(Item { dist_m: d, node });
        }
    }
    let mut done = vec![false; n];
    while let Some(Item { dist_m: d, node }) = heap.pop() {
        if done[node as usize] || d > dist_m[node as usize] {
            continue;
        }
        done[node as usize] = true;
        let l = label[node as usize];
        for (w, length_m) in graph.arcs(node) {
            let nd = d + length_m;
            let wi = w as usize;
            if nd <= max_m && !done[wi] && better(nd, l, dist_m[wi], label[wi]) {
                dist_m[wi] = nd;
                label[wi] = l;
                heap.push(Item { dist_m: nd, node: w });
            }
        }
    }
    NearestSources { dist_m, label }
}

/// A facility as an edge holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnEdge {
    /// Facility slice position.
    pub facility: u32,
    /// Kind (catalogue position).
    pub kind: u16,
    /// Opening year; `i32::MIN` when unknown (always open).
    pub opened: i32,
    /// Capacity, 0 when unknown.
    pub capacity: f64,
    /// Cost from the edge's end `a`: along the edge plus the snap (metres).
    pub from_a_m: f64,
    /// Cost from the edge's end `b` (metres).
    pub from_b_m: f64,
}

impl OnEdge {
    /// Whether the facility is open at the end of `year` (`None`: all count).
    #[must_use]
    pub fn open_in(&self, year: Option<i32>) -> bool {
        year.is_none_or(|y| self.opened <= y)
    }
}

/// Facilities grouped by the edge they join (CSR), each with its costs from both ends.
#[derive(Debug, Clone)]
pub struct EdgeFacilities {
    offsets: Vec<u32>,
    items: Vec<OnEdge>,
}

impl EdgeFacilities {
    /// Groups `facilities` by their `joins` (same order).
    ///
    /// # Panics
    /// When `joins` and `facilities` differ in length.
    #[must_use]
    pub fn build(graph: &StreetGraph, facilities: &[Facility], joins: &[Option<FacilityJoin>]) -> Self {
        assert_eq!(facilities.len(), joins.len(), "one join per facility");
        let edges = graph.edges().len();
        let mut offsets = vec![0u32; edges + 1];
        for j in joins.iter().flatten() {
            offsets[j.edge as usize + 1] += 1;
        }
        for i in 0..edges {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let placeholder = OnEdge { facility: 0, kind: 0, opened: 0, capacity: 0.0, from_a_m: 0.0, from_b_m: 0.0 };
        let mut items = vec![placeholder; offsets[edges] as usize];
        for (i, (f, j)) in facilities.iter().zip(joins).enumerate() {
            let Some(j) = j else { continue };
            let len = graph.edges()[j.edge as usize].length_m;
            let slot = &mut fill[j.edge as usize];
            items[*slot as usize] = OnEdge {
                facility: u32::try_from(i).expect("fewer than 2^32 facilities"),
                kind: f.kind.0,
                opened: f.opened_year.unwrap_or(i32::MIN),
                capacity: f.capacity.unwrap_or(0.0),
                from_a_m: j.along_m + j.snap_m,
                from_b_m: (len - j.along_m).max(0.0) + j.snap_m,
            };
            *slot += 1;
        }
        Self { offsets, items }
    }

    /// Facilities joined to edge `e`.
    #[inline]
    #[must_use]
    pub fn on(&self, e: u32) -> &[OnEdge] {
        &self.items[self.offsets[e as usize] as usize..self.offsets[e as usize + 1] as usize]
    }

    /// Every facility with its edge, in edge order.
    ///
    /// # Panics
    /// With more than 2^32 edges.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &OnEdge)> {
        self.offsets.windows(2).enumerate().flat_map(move |(e, w)| {
            let e = u32::try_from(e).expect("< 2^32 edges");
            self.items[w[0] as usize..w[1] as usize].iter().map(move |f| (e, f))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::GraphParams;

    #[test]
    fn bounded_search_settles_in_order_and_stops_at_the_bound() {
        let line = geo::wkt! { LINESTRING(0. 0.,10. 0.,30. 0.,60. 0.) };
        let g = StreetGraph::build(&[line], GraphParams::default());
        let mut scratch = Scratch::new(g.node_count());
        let mut seen = Vec::new();
        scratch.settle(&g, [(0, 5.0)], 40.0, |n, d| seen.push((n, d)));
        assert_eq!(seen, vec![(0, 5.0), (1, 15.0), (2, 35.0)]);
        // a second search reuses the scratch without clearing it
        seen.clear();
        scratch.settle(&g, [(3, 0.0)], 30.0, |n, d| seen.push((n, d)));
        assert_eq!(seen, vec![(3, 0.0), (2, 30.0)]);
    }

    #[test]
    fn nearest_sources_labels_each_node() {
        let line = geo::wkt! { LINESTRING(0. 0.,10. 0.,30. 0.,60. 0.) };
        let g = StreetGraph::build(&[line], GraphParams::default());
        let r = nearest_sources(&g, [(0, 0.0, 7), (3, 1.0, 9)], f64::INFINITY);
        assert_eq!(r.label, vec![7, 7, 7, 9]);
        assert_eq!(r.dist_m, vec![0.0, 10.0, 30.0, 1.0]);
    }
}
