//! A Mapbox Vector Tile (MVT 2.1) encoder: the protobuf written by hand.
//!
//! The format is four small messages (tile, layer, feature, value) and a command stream for
//! geometry, so writing it directly keeps a protobuf toolchain and its generated code out of the
//! build. Keys and values are deduplicated per layer, as the specification asks; tags and
//! geometry are packed varints.

use std::collections::HashMap;

/// A tile coordinate (tile units, y down).
pub type TilePoint = [i32; 2];

/// A property value in a tile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A string.
    Str(&'a str),
    /// An integer (written as `uint_value` or `sint_value`).
    Int(i64),
    /// A double.
    Double(f64),
    /// A boolean.
    Bool(bool),
}

/// A feature's geometry, already in tile units.
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    /// One or more points.
    Points(Vec<TilePoint>),
    /// Line strings, each of two or more points.
    Lines(Vec<Vec<TilePoint>>),
    /// Polygons: each a list of rings, the exterior first (clockwise in tile coordinates, that is
    /// positive [`ring_area`]), holes after it (negative area). Rings are not closed: the last
    /// point is not a repeat of the first.
    Polygons(Vec<Vec<Vec<TilePoint>>>),
}

/// Twice the signed area of a ring in tile coordinates (y down): positive for rings that run
/// clockwise on screen, which MVT requires of exterior rings.
#[must_use]
pub fn ring_area(ring: &[TilePoint]) -> i64 {
    let n = ring.len();
    let mut sum = 0_i64;
    for i in 0..n {
        let [x1, y1] = ring[i];
        let [x2, y2] = ring[(i + 1) % n];
        sum += i64::from(x1) * i64::from(y2) - i64::from(x2) * i64::from(y1);
    }
    sum
}

/// One layer being written.
#[derive(Debug)]
pub struct LayerBuilder {
    name: String,
    extent: u32,
    keys: Vec<String>,
    key_index: HashMap<String, u32>,
    values: Vec<u8>,
    value_count: u32,
    strings: HashMap<String, u32>,
    ints: HashMap<i64, u32>,
    doubles: HashMap<u64, u32>,
    bools: [Option<u32>; 2],
    features: Vec<u8>,
    feature_count: usize,
    tags: Vec<u32>,
    commands: Vec<u32>,
}

impl LayerBuilder {
    /// An empty layer.
    #[must_use]
    pub fn new(name: &str, extent: u32) -> Self {
        Self {
            name: name.to_owned(),
            extent,
            keys: Vec::new(),
            key_index: HashMap::new(),
            values: Vec::new(),
            value_count: 0,
            strings: HashMap::new(),
            ints: HashMap::new(),
            doubles: HashMap::new(),
            bools: [None, None],
            features: Vec::new(),
            feature_count: 0,
            tags: Vec::new(),
            commands: Vec::new(),
        }
    }

    /// Features added so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.feature_count
    }

    /// Whether no feature was added.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.feature_count == 0
    }

    fn key(&mut self, key: &str) -> u32 {
        if let Some(&i) = self.key_index.get(key) {
            return i;
        }
        let i = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        self.keys.push(key.to_owned());
        self.key_index.insert(key.to_owned(), i);
        i
    }

    fn value(&mut self, value: Value<'_>) -> u32 {
        let existing = match value {
            Value::Str(s) => self.strings.get(s).copied(),
            Value::Int(n) => self.ints.get(&n).copied(),
            Value::Double(x) => self.doubles.get(&x.to_bits()).copied(),
            Value::Bool(b) => self.bools[usize::from(b)],
        };
        if let Some(i) = existing {
            return i;
        }
        let i = self.value_count;
        self.value_count += 1;
        let mut message = Vec::new();
        match value {
            Value::Str(s) => {
                write_bytes(&mut message, 1, s.as_bytes());
                self.strings.insert(s.to_owned(), i);
            }
            Value::Int(n) => {
                if let Ok(u) = u64::try_from(n) {
                    write_key(&mut message, 5, 0);
                    write_varint(&mut message, u);
                } else {
                    write_key(&mut message, 6, 0);
                    write_varint(&mut message, zigzag64(n));
                }
                self.ints.insert(n, i);
            }
            Value::Double(x) => {
                write_key(&mut message, 3, 1);
                message.extend_from_slice(&x.to_le_bytes());
                self.doubles.insert(x.to_bits(), i);
            }
            Value::Bool(b) => {
                write_key(&mut message, 7, 0);
                write_varint(&mut message, u64::from(b));
                self.bools[usize::from(b)] = Some(i);
            }
        }
        write_bytes(&mut self.values, 4, &message);
        i
    }

    /// Adds a feature; a geometry with nothing in it is skipped.
    pub fn add(&mut self, id: Option<u64>, geometry: &Geometry, properties: &[(&str, Value<'_>)]) {
        self.commands.clear();
        let kind = match geometry {
            Geometry::Points(points) => {
                if points.is_empty() {
                    return;
                }
                encode_points(&mut self.commands, points);
                1
            }
            Geometry::Lines(lines) => {
                encode_lines(&mut self.commands, lines);
                2
            }
            Geometry::Polygons(polygons) => {
                encode_polygons(&mut self.commands, polygons);
                3
            }
        };
        if self.commands.is_empty() {
            return;
        }
        self.tags.clear();
        for (key, value) in properties {
            let k = self.key(key);
            let v = self.value(*value);
            self.tags.push(k);
            self.tags.push(v);
        }
        let mut message = Vec::with_capacity(16 + self.tags.len() * 2 + self.commands.len() * 2);
        if let Some(id) = id {
            write_key(&mut message, 1, 0);
            write_varint(&mut message, id);
        }
        write_packed(&mut message, 2, &self.tags);
        write_key(&mut message, 3, 0);
        write_varint(&mut message, kind);
        write_packed(&mut message, 4, &self.commands);
        write_bytes(&mut self.features, 2, &message);
        self.feature_count += 1;
    }

    /// Appends this layer to a tile (field 3 of the tile message).
    pub fn write_to(self, tile: &mut Vec<u8>) {
        let mut layer = Vec::with_capacity(self.features.len() + self.values.len() + 64);
        write_key(&mut layer, 15, 0);
        write_varint(&mut layer, 2);
        write_bytes(&mut layer, 1, self.name.as_bytes());
        layer.extend_from_slice(&self.features);
        for key in &self.keys {
            write_bytes(&mut layer, 3, key.as_bytes());
        }
        layer.extend_from_slice(&self.values);
        write_key(&mut layer, 5, 0);
        write_varint(&mut layer, u64::from(self.extent));
        write_bytes(tile, 3, &layer);
    }
}

const MOVE_TO: u32 = 1;
const LINE_TO: u32 = 2;
const CLOSE_PATH: u32 = 7;

fn command(id: u32, count: usize) -> u32 {
    (id & 7) | (u32::try_from(count).unwrap_or(u32::MAX >> 3) << 3)
}

fn zigzag32(n: i32) -> u32 {
    #[expect(clippy::cast_sign_loss, reason = "zigzag encoding reinterprets the bits")]
    let z = ((n << 1) ^ (n >> 31)) as u32;
    z
}

fn zigzag64(n: i64) -> u64 {
    #[expect(clippy::cast_sign_loss, reason = "zigzag encoding reinterprets the bits")]
    let z = ((n << 1) ^ (n >> 63)) as u64;
    z
}

fn encode_points(out: &mut Vec<u32>, points: &[TilePoint]) {
    out.push(command(MOVE_TO, points.len()));
    let mut cursor = [0, 0];
    for p in points {
        out.push(zigzag32(p[0] - cursor[0]));
        out.push(zigzag32(p[1] - cursor[1]));
        cursor = *p;
    }
}

fn encode_lines(out: &mut Vec<u32>, lines: &[Vec<TilePoint>]) {
    let mut cursor = [0, 0];
    for line in lines {
        if line.len() < 2 {
            continue;
        }
        out.push(command(MOVE_TO, 1));
        out.push(zigzag32(line[0][0] - cursor[0]));
        out.push(zigzag32(line[0][1] - cursor[1]));
        cursor = line[0];
        out.push(command(LINE_TO, line.len() - 1));
        for p in &line[1..] {
            out.push(zigzag32(p[0] - cursor[0]));
            out.push(zigzag32(p[1] - cursor[1]));
            cursor = *p;
        }
    }
}

fn encode_polygons(out: &mut Vec<u32>, polygons: &[Vec<Vec<TilePoint>>]) {
    let mut cursor = [0, 0];
    for ring in polygons.iter().flatten() {
        if ring.len() < 3 {
            continue;
        }
        out.push(command(MOVE_TO, 1));
        out.push(zigzag32(ring[0][0] - cursor[0]));
        out.push(zigzag32(ring[0][1] - cursor[1]));
        cursor = ring[0];
        out.push(command(LINE_TO, ring.len() - 1));
        for p in &ring[1..] {
            out.push(zigzag32(p[0] - cursor[0]));
            out.push(zigzag32(p[1] - cursor[1]));
            cursor = *p;
        }
        out.push(command(CLOSE_PATH, 1));
    }
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        #[expect(clippy::cast_possible_truncation, reason = "the low seven bits")]
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    #[expect(clippy::cast_possible_truncation, reason = "v < 0x80 here")]
    out.push(v as u8);
}

fn write_key(out: &mut Vec<u8>, field: u32, wire_type: u32) {
    write_varint(out, u64::from((field << 3) | wire_type));
}

fn write_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    write_key(out, field, 2);
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn write_packed(out: &mut Vec<u8>, field: u32, values: &[u32]) {
    let mut packed = Vec::with_capacity(values.len() * 2);
    for &v in values {
        write_varint(&mut packed, u64::from(v));
    }
    write_bytes(out, field, &packed);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal protobuf reader for checking what was written.
    fn read_varint(b: &[u8], at: &mut usize) -> u64 {
        let mut v = 0;
        let mut shift = 0;
        loop {
            let byte = b[*at];
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    /// (field, wire type, payload) of each top-level field.
    fn fields(b: &[u8]) -> Vec<(u64, u64, Vec<u8>)> {
        let mut at = 0;
        let mut out = Vec::new();
        while at < b.len() {
            let key = read_varint(b, &mut at);
            let (field, wire) = (key >> 3, key & 7);
            let payload = match wire {
                0 => {
                    let start = at;
                    read_varint(b, &mut at);
                    b[start..at].to_vec()
                }
                1 => {
                    at += 8;
                    b[at - 8..at].to_vec()
                }
                2 => {
                    let len = usize::try_from(read_varint(b, &mut at)).expect("small");
                    at += len;
                    b[at - len..at].to_vec()
                }
                _ => panic!("unexpected wire type {wire}"),
            };
            out.push((field, wire, payload));
        }
        out
    }

    #[test]
    fn encodes_the_specification_example_polygon() {
        // MVT 2.1 §4.3.4.4: a polygon MoveTo(3,6) LineTo(8,12) (20,34) ClosePath.
        let mut out = Vec::new();
        encode_polygons(&mut out, &[vec![vec![[3, 6], [8, 12], [20, 34]]]]);
        assert_eq!(out, vec![9, 6, 12, 18, 10, 12, 24, 44, 15]);
    }

    #[test]
    fn encodes_the_specification_example_lines() {
        // §4.3.5.4: MultiLineString (2,2) (2,10) (10,10) and (1,1) (3,5).
        let mut out = Vec::new();
        encode_lines(&mut out, &[vec![[2, 2], [2, 10], [10, 10]], vec![[1, 1], [3, 5]]]);
        assert_eq!(out, vec![9, 4, 4, 18, 0, 16, 16, 0, 9, 17, 17, 10, 4, 8]);
    }

    #[test]
    fn encodes_the_specification_example_points() {
        // §4.3.5.2: MultiPoint (5,7) (3,2).
        let mut out = Vec::new();
        encode_points(&mut out, &[[5, 7], [3, 2]]);
        assert_eq!(out, vec![17, 10, 14, 3, 9]);
    }

    #[test]
    fn deduplicates_keys_and_values() {
        let mut layer = LayerBuilder::new("estates", 4096);
        let g = Geometry::Points(vec![[1, 1]]);
        layer.add(Some(1), &g, &[("covered", Value::Bool(true)), ("name", Value::Str("a")), ("n", Value::Int(-3))]);
        layer.add(Some(2), &g, &[("covered", Value::Bool(true)), ("name", Value::Str("b")), ("x", Value::Double(0.5))]);
        layer.add(None, &Geometry::Points(vec![]), &[("skipped", Value::Bool(false))]);
        assert_eq!(layer.len(), 2);
        let mut tile = Vec::new();
        layer.write_to(&mut tile);
        let top = fields(&tile);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].0, 3);
        let layer_fields = fields(&top[0].2);
        let count = |f: u64| layer_fields.iter().filter(|(n, _, _)| *n == f).count();
        assert_eq!(count(2), 2, "features");
        assert_eq!(count(3), 4, "keys: covered, name, n, x");
        assert_eq!(count(4), 5, "values: true, a, -3, b, 0.5");
        assert!(layer_fields.iter().any(|(n, _, p)| *n == 1 && p == b"estates"));
        assert!(layer_fields.iter().any(|(n, _, p)| *n == 15 && p == &[2]));
        let negative = layer_fields.iter().filter(|(n, _, _)| *n == 4).map(|(_, _, p)| fields(p)).find(|v| v[0].0 == 6).expect("a sint value");
        assert_eq!(negative[0].2, vec![5], "zigzag(-3) = 5");
    }

    #[test]
    fn ring_area_is_positive_for_clockwise_on_screen() {
        // y grows downwards: (0,0) → (10,0) → (10,10) runs clockwise on screen.
        assert!(ring_area(&[[0, 0], [10, 0], [10, 10], [0, 10]]) > 0);
        assert!(ring_area(&[[0, 0], [0, 10], [10, 10], [10, 0]]) < 0);
    }
}
