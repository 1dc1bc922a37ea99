//! The CQL2-text parser: arbitrary text never panics, and whatever parses prints as canonical
//! CQL2-text that parses back to an equal expression; `sortby` never panics either.
#![no_main]

use gapmap::filter::{parse_cql2_text, parse_sortby, FeatureView, Value};
use libfuzzer_sys::fuzz_target;

struct Feature(geo::Geometry<f64>);

impl FeatureView for Feature {
    fn property(&self, name: &str) -> Option<Value> {
        match name.len() % 5 {
            0 => None,
            1 => Some(Value::Null),
            2 => Some(Value::Int(i64::try_from(name.len()).unwrap_or(0) - 3)),
            3 => Some(Value::Float(2.5)),
            _ => Some(Value::Text(name.to_owned())),
        }
    }
    fn geometry(&self) -> Option<&geo::Geometry<f64>> {
        Some(&self.0)
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(expr) = parse_cql2_text(text) {
        let printed = expr.to_string();
        let again = parse_cql2_text(&printed).unwrap_or_else(|e| panic!("`{printed}` (from `{text}`) does not parse back: {e}"));
        assert_eq!(expr, again, "`{text}` printed as `{printed}`");
        let _ = expr.property_names();
        let _ = expr.spatial_bounds();
        let _ = expr.evaluate(&Feature(geo::Geometry::Point(geo::Point::new(114.5, 38.0))));
    }
    let _ = parse_sortby(text);
});
