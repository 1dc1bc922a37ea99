//! A read-only copy of a facility tree in flat arrays, for range searches run millions of times.
//!
//! rstar keeps each node's children in a `Vec` of 56-byte enum entries, so scanning a 16-leaf
//! node reads 896 bytes and follows a pointer per level. [`PackedTree`] holds the same nodes, in
//! the same order, as contiguous arrays: a leaf costs the 16 bytes of its position, and the
//! capacities and slice positions the search needs only for the facilities it finds sit in an
//! array beside them. [`PackedTree::within_distance`] yields exactly what rstar's
//! `locate_within_distance` yields, in the same order.

use rstar::{RTreeNode, AABB};

use super::{FacilityEntry, FacilityTree};

/// One node: its bounding box and a range of children, either nodes or leaves.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// Lower left corner of the node's box.
    min: [f64; 2],
    /// Upper right corner.
    max: [f64; 2],
    /// First child: a position in `nodes` or, when `leaves`, in `points`.
    first: u32,
    /// Number of children.
    len: u32,
    /// Whether the children are leaves.
    leaves: bool,
}

/// A facility tree flattened: same nodes, same order, positions in one array.
#[derive(Debug, Clone, Default)]
pub struct PackedTree {
    /// Node 0 is the root; every node's children are contiguous.
    nodes: Vec<Node>,
    /// Leaf positions (working CRS, metres), each node's leaves contiguous.
    points: Vec<[f64; 2]>,
    /// What the tree holds of each leaf besides its position, beside `points`.
    entries: Vec<FacilityEntry>,
}

impl PackedTree {
    /// The flat copy of `tree`.
    ///
    /// # Panics
    /// When the tree holds more than `u32::MAX` nodes or leaves.
    #[must_use]
    pub fn new(tree: &FacilityTree) -> Self {
        let mut packed = Self { nodes: Vec::new(), points: Vec::with_capacity(tree.size()), entries: Vec::with_capacity(tree.size()) };
        let root = tree.root();
        packed.nodes.push(node_of(&root.envelope(), 0, 0, false));
        // Breadth first, so that every node's children are contiguous.
        let mut queue = std::collections::VecDeque::from([(0usize, root.children())]);
        while let Some((at, children)) = queue.pop_front() {
            let all_leaves = children.iter().all(|c| matches!(c, RTreeNode::Leaf(_)));
            if all_leaves && !children.is_empty() {
                let first = packed.points.len();
                for child in children {
                    if let RTreeNode::Leaf(f) = child {
                        packed.points.push(*f.geom());
                        packed.entries.push(f.data);
                    }
                }
                packed.nodes[at].first = to_u32(first);
                packed.nodes[at].len = to_u32(children.len());
                packed.nodes[at].leaves = true;
                continue;
            }
            let first = packed.nodes.len();
            for child in children {
                match child {
                    RTreeNode::Parent(parent) => {
                        queue.push_back((packed.nodes.len(), parent.children()));
                        packed.nodes.push(node_of(&parent.envelope(), 0, 0, false));
                    }
                    // A leaf among nodes (rstar never builds one; handled all the same): a node
                    // of its own, whose box test is the leaf's distance test.
                    RTreeNode::Leaf(f) => {
                        let at = packed.nodes.len();
                        packed.nodes.push(node_of(&AABB::from_point(*f.geom()), to_u32(packed.points.len()), 1, true));
                        packed.points.push(*f.geom());
                        packed.entries.push(f.data);
                        debug_assert_eq!(packed.nodes[at].len, 1);
                    }
                }
            }
            packed.nodes[at].first = to_u32(first);
            packed.nodes[at].len = to_u32(children.len());
        }
        packed
    }

    /// Number of leaves.
    #[must_use]
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the tree has no leaves.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Position of leaf `leaf` (working CRS, metres).
    #[must_use]
    pub fn point(&self, leaf: u32) -> [f64; 2] {
        self.points[leaf as usize]
    }

    /// What the tree holds of leaf `leaf`.
    #[must_use]
    pub fn entry(&self, leaf: u32) -> FacilityEntry {
        self.entries[leaf as usize]
    }

    /// Calls `visit` with every leaf within `sqrt(max_d2)` of `query` (inclusive) and its squared
    /// distance from `query`, in exactly the order of rstar's `locate_within_distance` (so sums
    /// over them add up in the same order), walking with the caller's `stack`.
    ///
    /// # Units
    /// `query` in metres, `max_d2` in square metres.
    pub fn within_distance(&self, query: [f64; 2], max_d2: f64, stack: &mut Vec<u32>, mut visit: impl FnMut(u32, f64)) {
        // rstar's arithmetic: the squared distance to the box's nearest point (0 inside).
        let box_d2 = |n: &Node| {
            let nx = min_inline(n.max[0], max_inline(n.min[0], query[0]));
            let ny = min_inline(n.max[1], max_inline(n.min[1], query[1]));
            let (dx, dy) = (nx - query[0], ny - query[1]);
            dx * dx + dy * dy
        };
        let Some(root) = self.nodes.first() else { return };
        if root.len == 0 || box_d2(root) > max_d2 {
            return;
        }
        // rstar pops nodes off a stack and pushes a node's children in order: a node's leaves
        // come off in reverse, one after another; its child nodes come off in reverse, each
        // followed by everything below it. Boxes are tested here when pushed, not when popped:
        // a failing node adds nothing either way.
        stack.clear();
        let mut expand = |node: &Node, stack: &mut Vec<u32>| {
            let range = node.first as usize..(node.first + node.len) as usize;
            if node.leaves {
                for leaf in range.rev() {
                    let [x, y] = self.points[leaf];
                    let (dx, dy) = (x - query[0], y - query[1]);
                    let d2 = dx * dx + dy * dy;
                    if d2 <= max_d2 {
                        visit(to_u32(leaf), d2);
                    }
                }
            } else {
                for (child, n) in range.clone().zip(&self.nodes[range]) {
                    if box_d2(n) <= max_d2 {
                        stack.push(to_u32(child));
                    }
                }
            }
        };
        expand(root, stack);
        while let Some(node) = stack.pop() {
            expand(&self.nodes[node as usize], stack);
        }
    }
}

fn node_of(envelope: &AABB<[f64; 2]>, first: u32, len: u32, leaves: bool) -> Node {
    Node { min: envelope.lower(), max: envelope.upper(), first, len, leaves }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("fewer than 2^32 nodes and leaves per tree")
}

fn min_inline(a: f64, b: f64) -> f64 {
    if a < b { a } else { b }
}

fn max_inline(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexedFacility;
    use proptest::prelude::*;
    use rstar::primitives::GeomWithData;

    fn tree_of(points: &[(f64, f64)]) -> FacilityTree {
        let items: Vec<IndexedFacility> = points
            .iter()
            .enumerate()
            .map(|(i, &(x, y))| GeomWithData::new([x, y], FacilityEntry { facility: to_u32(i), capacity: f64::from(to_u32(i)) * 0.5 }))
            .collect();
        FacilityTree::bulk_load_with_params(items)
    }

    fn found(packed: &PackedTree, query: [f64; 2], r: f64) -> Vec<(u32, f64)> {
        let mut out = Vec::new();
        packed.within_distance(query, r * r, &mut Vec::new(), |leaf, d2| out.push((packed.entry(leaf).facility, d2)));
        out
    }

    #[test]
    fn empty_tree_finds_nothing() {
        let packed = PackedTree::new(&tree_of(&[]));
        assert!(packed.is_empty());
        assert!(found(&packed, [0.0, 0.0], 1e9).is_empty());
    }

    #[test]
    fn a_tree_built_by_insertion_is_copied_too() {
        let mut tree = FacilityTree::new_with_params();
        for i in 0..500 {
            let f = f64::from(i);
            tree.insert(GeomWithData::new([(f * 7.3) % 101.0, (f * 3.1) % 97.0], FacilityEntry { facility: i, capacity: 1.0 }));
        }
        let packed = PackedTree::new(&tree);
        assert_eq!(packed.len(), 500);
        let expected: Vec<u32> = tree.locate_within_distance([50.0, 50.0], 400.0).map(|f| f.data.facility).collect();
        let got: Vec<u32> = found(&packed, [50.0, 50.0], 20.0).into_iter().map(|(f, _)| f).collect();
        assert_eq!(got, expected);
    }

    proptest! {
        /// The oracle is rstar itself: same leaves, same order, same squared distances.
        #[test]
        fn within_distance_is_rstars_locate_within_distance(
            points in proptest::collection::vec((0.0..1000.0f64, 0.0..1000.0f64), 0..600),
            query in (-100.0..1100.0f64, -100.0..1100.0f64),
            r in 0.0..400.0f64,
        ) {
            let tree = tree_of(&points);
            let packed = PackedTree::new(&tree);
            let q = [query.0, query.1];
            let expected: Vec<(u32, f64)> = tree
                .locate_within_distance(q, r * r)
                .map(|f| (f.data.facility, (f.geom()[0] - q[0]).powi(2) + (f.geom()[1] - q[1]).powi(2)))
                .collect();
            let got = found(&packed, q, r);
            prop_assert_eq!(got.len(), expected.len());
            for ((fa, da), (fb, db)) in got.iter().zip(&expected) {
                prop_assert_eq!(fa, fb);
                prop_assert!((da - db).abs() <= 1e-9 * db.max(1.0));
            }
        }
    }
}
