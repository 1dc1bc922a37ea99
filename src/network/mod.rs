//! The walking network: a street graph built from line features, how estates and facilities
//! join it, and the shortest-path searches walking-distance coverage needs.
//!
//! GB 50180-2018 §4 defines the 5/10/15-minute living circles by *walking* distance (步行距离
//! 300/500/1000 m); residents walk along streets, round walled compounds, rivers and railways,
//! so the straight line overstates coverage. This module is the pure core of that metric:
//! planar metres in, planar metres out, no I/O (io reads, filters and reprojects the street
//! lines; analysis turns the searches into coverage).
//!
//! - [`StreetGraph`]: one node per distinct vertex, one undirected edge per segment, weight = planar
//!   length. Lines that cross without a shared vertex stay apart (bridges, tunnels). Dangling ends
//!   are joined to a node or an edge within `snap_m` ([`GraphParams`]).
//! - [`NetworkAccess`]: where each estate enters the network (its gates, or the nodes inside it plus
//!   the one nearest outside) and where each facility joins it (the orthogonal projection onto its
//!   nearest edge).
//! - [`search`]: a bounded multi-source Dijkstra from an estate's entries, which finds every
//!   facility within a radius (count, capacity, nearest); and one multi-source Dijkstra per kind
//!   from all its facilities, which finds the nearest facility of estates with none within reach.
//!   Never an all-pairs matrix.

mod access;
mod graph;
pub mod search;
mod service_area;

pub use access::{EntryParams, EstateEntry, FacilityJoin, NetworkAccess};
pub use graph::{GraphParams, GraphStats, StreetGraph};
pub(crate) use graph::SegmentEntry;
pub use service_area::{reachable_segments, ReachableSegment};
