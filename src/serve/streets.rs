//! The street network as served: every graph edge in CRS84 with an R-tree over them, for the
//! `streets` tiles.
//!
//! Edges are kept as bare segments (two coordinates and a box in the tree, about 70 bytes an
//! edge: 14 MB for a 200,000-edge city), not as a [`Layer`](super::layer::Layer) of rendered
//! GeoJSON features, which would cost several times that for a layer nobody pages through;
//! the tiles only need the geometry near a tile.

use geo::{Coord, Rect};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use super::error::ServeError;
use crate::io::crs::Transformer;
use crate::network::StreetGraph;

/// Street segments in CRS84.
#[derive(Debug)]
pub struct Streets {
    segments: Vec<[Coord<f64>; 2]>,
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>,
    extent: Option<Rect<f64>>,
}

impl Streets {
    /// The edges of `graph` (working CRS) converted by `to_crs84`.
    ///
    /// # Errors
    /// [`ServeError::Load`] when PROJ rejects a node.
    pub fn build(graph: &StreetGraph, to_crs84: &Transformer) -> Result<Self, ServeError> {
        let mut nodes: Vec<Coord<f64>> = graph.nodes().to_vec();
        to_crs84.apply(&mut nodes).map_err(|e| ServeError::Load(format!("street nodes to CRS84: {e}")))?;
        let segments: Vec<[Coord<f64>; 2]> = graph.edges().iter().map(|e| [nodes[e.a as usize], nodes[e.b as usize]]).collect();
        let mut extent: Option<Rect<f64>> = None;
        let mut boxes = Vec::with_capacity(segments.len());
        for (i, [a, b]) in segments.iter().enumerate() {
            let r = Rect::new(*a, *b);
            extent = Some(extent.map_or(r, |e| Rect::new(Coord { x: e.min().x.min(r.min().x), y: e.min().y.min(r.min().y) }, Coord { x: e.max().x.max(r.max().x), y: e.max().y.max(r.max().y) })));
            let i = u32::try_from(i).map_err(|_| ServeError::Load("more than 2^32 street edges".into()))?;
            boxes.push(GeomWithData::new(Rectangle::from_corners([a.x, a.y], [b.x, b.y]), i));
        }
        Ok(Self { segments, tree: RTree::bulk_load(boxes), extent })
    }

    /// Segments whose box meets `bbox` (CRS84).
    pub fn within(&self, bbox: Rect<f64>) -> impl Iterator<Item = [Coord<f64>; 2]> + '_ {
        let envelope = AABB::from_corners([bbox.min().x, bbox.min().y], [bbox.max().x, bbox.max().y]);
        self.tree.locate_in_envelope_intersecting(&envelope).map(|s| self.segments[s.data as usize])
    }

    /// Number of segments.
    #[must_use]
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Bounding box of every segment.
    #[must_use]
    pub fn extent(&self) -> Option<Rect<f64>> {
        self.extent
    }
}
