//! `gapmap::filter`: CQL2-text parsing, evaluation, printing and `sortby`, through the public API.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use gapmap::filter::{
    compare_features, compare_values, parse_cql2_text, parse_sortby, CompareOp, Expr, FeatureView,
    FilterError, Operand, SortKey, Value, MAX_DEPTH, MAX_FILTER_BYTES,
};
use geo::{polygon, wkt, Geometry, Rect};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// A feature made of a property map and an optional geometry.
#[derive(Debug, Clone, Default)]
struct Feature {
    properties: BTreeMap<String, Value>,
    geometry: Option<Geometry<f64>>,
}

impl Feature {
    fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.properties.insert(name.to_owned(), value.into());
        self
    }

    fn at(mut self, geometry: impl Into<Geometry<f64>>) -> Self {
        self.geometry = Some(geometry.into());
        self
    }
}

impl FeatureView for Feature {
    fn property(&self, name: &str) -> Option<Value> {
        self.properties.get(name).cloned()
    }

    fn geometry(&self) -> Option<&Geometry<f64>> {
        self.geometry.as_ref()
    }
}

/// The estate most tests filter.
fn estate() -> Feature {
    Feature::default()
        .with("id", 7_i64)
        .with("households", 1200_i64)
        .with("area_m2", 35_000.5)
        .with("name", "万科城市花园")
        .with("名称", "万科城市花园")
        .with("district", "Pudong")
        .with("gated", true)
        .with("code", "0042")
        .with("note", Value::Null)
        .with("say \"hi\"", "quoted")
        .at(polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0), (x: 0.0, y: 10.0)])
}

fn parse(text: &str) -> Expr {
    parse_cql2_text(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn holds(text: &str, feature: &Feature) -> bool {
    parse(text).evaluate(feature)
}

/// Asserts each filter's result on the standard estate.
fn check(cases: &[(&str, bool)]) {
    let feature = estate();
    for (text, expected) in cases {
        assert_eq!(holds(text, &feature), *expected, "{text}");
    }
}

#[test]
fn comparisons_true_and_false() {
    check(&[
        ("households = 1200", true),
        ("households = 1201", false),
        ("households <> 1201", true),
        ("households <> 1200", false),
        ("households < 1201", true),
        ("households < 1200", false),
        ("households > 1199", true),
        ("households > 1200", false),
        ("households <= 1200", true),
        ("households <= 1199", false),
        ("households >= 1200", true),
        ("households >= 1201", false),
        // Literal on the left.
        ("1200 = households", true),
        ("1300 < households", false),
        ("1100 < households", true),
        // Int against float, exponent, negative.
        ("households = 1200.0", true),
        ("households = 1.2e3", true),
        ("households > -5", true),
        ("area_m2 > 35000", true),
        ("area_m2 < 35000.25", false),
        // Text.
        ("district = 'Pudong'", true),
        ("district = 'pudong'", false),
        ("district < 'Q'", true),
        ("district > 'Q'", false),
        // Booleans.
        ("gated = TRUE", true),
        ("gated = false", false),
        ("gated <> FALSE", true),
        // Property against property.
        ("id < households", true),
        ("name = \"名称\"", true),
    ]);
}

#[test]
fn numbers_and_text_mix() {
    check(&[
        // A numeric property against numeric text compares numerically.
        ("households = '1200'", true),
        ("households < '999.5'", false),
        ("households > '1e3'", true),
        // Numeric text property against a number, too.
        ("code = 42", true),
        ("code < 100", true),
        // Text that is no number: text comparison for = and <>, unknown for ordering.
        ("households = 'many'", false),
        ("households <> 'many'", true),
        ("households < 'many'", false),
        ("NOT households < 'many'", false),
        // Text against text stays text even when both look numeric.
        ("code = '42'", false),
        ("code = '0042'", true),
    ]);
}

#[test]
fn null_and_missing_are_unknown() {
    check(&[
        ("note IS NULL", true),
        ("note IS NOT NULL", false),
        ("missing IS NULL", true),
        ("name IS NULL", false),
        ("name IS NOT NULL", true),
        ("note = 1", false),
        ("note <> 1", false),
        ("NOT note = 1", false),
        ("NOT (note = 1 AND households = 1200)", false),
        ("note = 1 OR households = 1200", true),
        ("note = 1 AND households = 1", false),
        ("NOT (note = 1 AND households = 1)", true),
        ("missing IN (1, 2)", false),
        ("missing NOT IN (1, 2)", false),
        ("missing BETWEEN 1 AND 2", false),
        ("missing NOT BETWEEN 1 AND 2", false),
        ("missing LIKE '%'", false),
        ("missing NOT LIKE '%'", false),
    ]);
}

#[test]
fn logic_and_precedence() {
    check(&[
        ("TRUE", true),
        ("FALSE", false),
        ("NOT FALSE", true),
        ("households = 1200 AND gated = TRUE", true),
        ("households = 1200 AND gated = FALSE", false),
        ("households = 1 OR gated = TRUE", true),
        ("households = 1 OR gated = FALSE", false),
        // NOT > AND > OR: (TRUE) OR (FALSE AND FALSE).
        ("TRUE OR FALSE AND FALSE", true),
        ("(TRUE OR FALSE) AND FALSE", false),
        ("NOT TRUE AND FALSE", false),
        ("NOT (TRUE AND FALSE)", true),
        ("NOT households = 1 AND id = 7", true),
        ("NOT NOT households = 1200", true),
        ("households = 1 OR id = 7 AND gated = TRUE", true),
        ("households = 1 OR id = 8 AND gated = TRUE", false),
        // Keywords in any case.
        ("households = 1 or id = 7 and NoT gated = false", true),
    ]);
    assert_eq!(parse("a = 1 OR b = 2 AND NOT c = 3").to_string(), "a = 1 OR b = 2 AND NOT c = 3");
    assert!(matches!(parse("a = 1 OR b = 2 AND c = 3"), Expr::Or(items) if matches!(items[1], Expr::And(_))));
}

#[test]
fn in_between_like() {
    check(&[
        ("households IN (1, 1200, 3)", true),
        ("households IN (1, 2, 3)", false),
        ("households NOT IN (1, 2, 3)", true),
        ("households NOT IN (1200)", false),
        // Mixed numbers: int, float and numeric text all match by value.
        ("households IN (1.5, 1200.0)", true),
        ("households IN ('1200', 'x')", true),
        ("area_m2 IN (35000, 35000.5)", true),
        ("id IN (7.0)", true),
        ("id IN (7.000001, 'seven')", false),
        ("district IN ('Minhang', 'Pudong')", true),
        ("households BETWEEN 1000 AND 1200", true),
        ("households BETWEEN 1200 AND 1200", true),
        ("households BETWEEN 1201 AND 2000", false),
        ("households BETWEEN 2000 AND 1000", false),
        ("households NOT BETWEEN 1 AND 10", true),
        ("households NOT BETWEEN 1000 AND 2000", false),
        ("area_m2 BETWEEN 35000.25 AND 4e4", true),
        ("district BETWEEN 'A' AND 'Q'", true),
        ("name LIKE '万科%'", true),
        ("name LIKE '%花园'", true),
        ("name LIKE '%城市%'", true),
        ("name LIKE '万科__花园'", true),
        ("name LIKE '万科_花园'", false),
        ("name NOT LIKE '万科%'", false),
        ("district LIKE 'Pu%'", true),
        ("district LIKE 'pu%'", false),
        ("CASEI(district) LIKE CASEI('pu%')", true),
        ("CASEI(district) = CASEI('PUDONG')", true),
        ("district LIKE '%'", true),
        ("district LIKE ''", false),
        ("district LIKE 'Pudong_'", false),
        // LIKE reads numbers and booleans as their text.
        ("households LIKE '12%'", true),
        ("gated LIKE 'tr%'", true),
    ]);
    let percent = Feature::default().with("label", "100% 绿化_a\\b");
    for (text, expected) in [
        (r"label LIKE '100\%%'", true),
        (r"label LIKE '100\% 绿化\_a\\b'", true),
        (r"label LIKE '100\%'", false),
        (r"label LIKE '%\_a%'", true),
        (r"label LIKE '%\_b%'", false),
        ("label LIKE '%%%%'", true),
        ("label LIKE '___________'", true),
        ("label LIKE '____________'", false),
    ] {
        assert_eq!(holds(text, &percent), expected, "{text}");
    }
}

#[test]
fn quoting_escaping_and_unicode_names() {
    check(&[
        ("名称 = '万科城市花园'", true),
        ("\"名称\" = '万科城市花园'", true),
        ("\"say \"\"hi\"\"\" = 'quoted'", true),
        ("\"district\" = 'Pudong'", true),
        ("district = 'Pu''dong'", false),
    ]);
    let o_brien = Feature::default().with("owner", "O'Brien").with("AND", 1_i64).with("a.b", 2_i64);
    assert!(holds("owner = 'O''Brien'", &o_brien));
    assert!(holds("owner LIKE '%''%'", &o_brien));
    assert!(holds("\"AND\" = 1 AND a.b = 2", &o_brien));
    assert!(holds("owner = 'O''Brien' AND 'O''Brien' = owner", &o_brien));

    let expr = parse("\"AND\" = 'it''s' AND \"名 称\" = 1 AND 名称 = 2 AND casei = 3");
    assert_eq!(expr.to_string(), "\"AND\" = 'it''s' AND \"名 称\" = 1 AND 名称 = 2 AND \"casei\" = 3");
    assert_eq!(expr.property_names().into_iter().collect::<Vec<_>>(), ["AND", "casei", "名 称", "名称"]);
}

#[test]
fn canonical_printing() {
    for (input, canonical) in [
        ("a=1 and(b<>2 or c>=3.50)", "a = 1 AND (b <> 2 OR c >= 3.5)"),
        ("not (a IS not null)", "NOT a IS NOT NULL"),
        ("NOT (a = 1 OR b = 2)", "NOT (a = 1 OR b = 2)"),
        ("x not between -1 and +2e0", "x NOT BETWEEN -1 AND 2.0"),
        ("x in ('a','b''c')", "x IN ('a', 'b''c')"),
        ("casei(x) not like casei('A%')", "CASEI(x) NOT LIKE CASEI('A%')"),
        ("s_intersects(geom,bbox(1,2,3,4))", "S_INTERSECTS(geom, BBOX(1, 2, 3, 4))"),
        (
            "S_INTERSECTS(POLYGON((0 0,1 0,1 1,0 0)),\"the geom\")",
            "S_INTERSECTS(\"the geom\", POLYGON((0 0, 1 0, 1 1, 0 0)))",
        ),
        ("(a = 1 AND b = 1) AND c = 1", "(a = 1 AND b = 1) AND c = 1"),
        ("((((a = 1))))", "a = 1"),
    ] {
        let expr = parse(input);
        assert_eq!(expr.to_string(), canonical, "{input}");
        assert_eq!(parse(canonical), expr, "{canonical}");
    }
}

#[test]
fn s_intersects_with_bbox_and_polygon() {
    let inside = Feature::default().at(geo::point!(x: 5.0, y: 5.0));
    let outside = Feature::default().at(geo::point!(x: 50.0, y: 5.0));
    let crossing = Feature::default().at(wkt! { LINESTRING(-5.0 5.0, 5.0 5.0) });
    let nowhere = Feature::default();
    let bbox = "S_INTERSECTS(geom, BBOX(0, 0, 10, 10))";
    assert!(holds(bbox, &inside));
    assert!(!holds(bbox, &outside));
    assert!(holds(bbox, &crossing));
    assert!(!holds(bbox, &nowhere));
    assert!(!holds(&format!("NOT {bbox}"), &nowhere), "a missing geometry is unknown");
    assert!(holds(&format!("NOT {bbox}"), &outside));
    // On the boundary counts as intersecting.
    assert!(holds("S_INTERSECTS(geom, BBOX(5, 5, 6, 6))", &inside));
    assert!(holds("S_INTERSECTS(geom, ENVELOPE(5, 5, 6, 6))", &inside));

    // A triangle whose bounding box holds (8 2) but whose area does not.
    let triangle = "S_INTERSECTS(geom, POLYGON((0 0, 10 0, 0 10, 0 0)))";
    assert!(holds(triangle, &Feature::default().at(geo::point!(x: 2.0, y: 2.0))));
    assert!(!holds(triangle, &Feature::default().at(geo::point!(x: 8.0, y: 8.0))));
    // A polygon with a hole: the hole does not intersect a point inside it.
    let holed = "S_INTERSECTS(geom, POLYGON((0 0, 10 0, 10 10, 0 10, 0 0), (4 4, 6 4, 6 6, 4 6, 4 4)))";
    assert!(!holds(holed, &inside));
    assert!(holds(holed, &Feature::default().at(geo::point!(x: 1.0, y: 1.0))));
    // The estate polygon against other literal kinds.
    let estate = estate();
    for (text, expected) in [
        ("S_INTERSECTS(geom, POINT(5 5))", true),
        ("S_INTERSECTS(geom, POINT(10 10))", true),
        ("S_INTERSECTS(geom, POINT(11 5))", false),
        ("S_INTERSECTS(geom, LINESTRING(-1 -1, -1 20, 20 20))", false),
        ("S_INTERSECTS(geom, LINESTRING(-1 -1, 20 20))", true),
        ("S_INTERSECTS(geom, MULTIPOLYGON(((20 20, 30 20, 30 30, 20 20)), ((9 9, 12 9, 12 12, 9 9))))", true),
        ("S_INTERSECTS(geom, MULTIPOINT((20 20), (30 30)))", false),
        ("S_INTERSECTS(geom, GEOMETRYCOLLECTION(POINT(20 20), LINESTRING(5 -5, 5 5)))", true),
        ("S_INTERSECTS(geom, POINT Z (5 5 100))", true),
        ("S_INTERSECTS(geom, BBOX(20, 20, 30, 30)) OR households = 1200", true),
    ] {
        assert_eq!(holds(text, &estate), expected, "{text}");
    }
}

#[test]
fn spatial_bounds_for_prefiltering() {
    let bounds = |text: &str| parse(text).spatial_bounds();
    let rect = |a: (f64, f64), b: (f64, f64)| Some(Rect::new(a, b));
    assert_eq!(bounds("S_INTERSECTS(geom, BBOX(0, 0, 10, 5))"), rect((0., 0.), (10., 5.)));
    assert_eq!(bounds("S_INTERSECTS(geom, POLYGON((0 0, 4 1, 2 3, 0 0)))"), rect((0., 0.), (4., 3.)));
    assert_eq!(bounds("households > 1 AND S_INTERSECTS(geom, POINT(1 2))"), rect((1., 2.), (1., 2.)));
    // AND keeps the smallest box (not the intersection: a feature may touch two disjoint boxes).
    assert_eq!(
        bounds("S_INTERSECTS(geom, BBOX(0, 0, 10, 10)) AND S_INTERSECTS(geom, BBOX(8, 8, 9, 9))"),
        rect((8., 8.), (9., 9.))
    );
    // OR needs every branch bounded, and takes the union.
    assert_eq!(
        bounds("S_INTERSECTS(geom, BBOX(0, 0, 1, 1)) OR S_INTERSECTS(geom, BBOX(5, 5, 6, 7))"),
        rect((0., 0.), (6., 7.))
    );
    assert_eq!(bounds("S_INTERSECTS(geom, BBOX(0, 0, 1, 1)) OR households > 1"), None);
    assert_eq!(bounds("NOT S_INTERSECTS(geom, BBOX(0, 0, 1, 1))"), None);
    assert_eq!(bounds("households > 1"), None);

    // The prefilter never drops a match: a feature intersecting both disjoint boxes.
    let both = "S_INTERSECTS(geom, BBOX(0, 0, 1, 1)) AND S_INTERSECTS(geom, BBOX(5, 5, 6, 6))";
    let long = Feature::default().at(wkt! { LINESTRING(0.5 0.5, 5.5 5.5) });
    let expr = parse(both);
    assert!(expr.evaluate(&long));
    let b = expr.spatial_bounds().expect("bounded");
    let envelope = geo::BoundingRect::bounding_rect(long.geometry().expect("geometry")).expect("non-empty");
    assert!(geo::Intersects::intersects(&b, &envelope));
}

#[test]
fn errors_say_what_was_expected_where() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "expected a filter expression at position 0, found end of input"),
        ("households >= ", 14, "expected a value after `>=` at position 14, found end of input"),
        ("households = 1 AND", 18, "expected a predicate after `AND` at position 18, found end of input"),
        ("households", 10, "expected a comparison operator, `LIKE`, `BETWEEN`, `IN` or `IS` after `households` at position 10, found end of input"),
        ("(a = 1", 6, "expected `)` after `1` at position 6, found end of input"),
        ("a = 1)", 5, "expected `AND`, `OR` or the end of the filter after `1` at position 5, found `)`"),
        ("a = 1 b = 2", 6, "expected `AND`, `OR` or the end of the filter after `1` at position 6, found `b`"),
        ("名称 = ", 5, "expected a value after `=` at position 5, found end of input"),
        ("a = 'abc", 4, "unterminated string: expected a closing `'` at position 4"),
        ("\"abc = 1", 0, "unterminated property name: expected a closing `\"` at position 0"),
        ("a != 1", 2, "unexpected character `!`; use `<>` for not equal at position 2"),
        ("a = NULL", 4, "`NULL` is not a value; test for it with `IS NULL` or `IS NOT NULL` at position 4"),
        ("a IS 1", 5, "expected `NULL` after `IS` at position 5, found `1`"),
        ("a NOT = 1", 6, "expected `LIKE`, `BETWEEN` or `IN` after `NOT` at position 6, found `=`"),
        ("a BETWEEN 1 OR 2", 12, "expected `AND` after `1` at position 12, found `OR`"),
        ("a IN ()", 6, "expected a value after `(` at position 6, found `)`"),
        ("a IN (1 2)", 8, "expected `,` or `)` after `1` at position 8, found `2`"),
        ("a LIKE b", 7, "expected a quoted pattern after `LIKE` at position 7, found `b`"),
        ("a LIKE 'x\\'", 7, "a LIKE pattern cannot end with an escaping `\\` (write `\\\\` for a backslash) at position 7"),
        ("AND = 1", 0, "expected a predicate at position 0, found `AND`"),
        ("a = 1e", 6, "expected digits in the exponent at position 6"),
        ("a = 1e999", 4, "number `1e999` is out of range at position 4"),
        ("upper(a) = 'X'", 0, "unknown function: `upper` at position 0"),
        ("S_WITHIN(geom, POINT(1 2))", 0, "only the spatial function `S_INTERSECTS` is supported: `S_WITHIN` at position 0"),
        ("t = DATE('2020-01-01')", 4, "temporal literals and functions are not supported: `DATE` at position 4"),
        ("ACCENTI(a) = 'x'", 0, "accent-insensitive comparison is not supported: `ACCENTI` at position 0"),
        ("a = POINT(1 2)", 4, "geometry literals are only allowed inside `S_INTERSECTS`: `POINT` at position 4"),
        ("S_INTERSECTS(geom, BBOX(0, 0, 1))", 23, "`BBOX` needs 4 or 6 numbers, found 3 at position 23"),
        ("S_INTERSECTS(geom, BBOX(2, 0, 1, 1))", 23, "`BBOX` needs west <= east and south <= north (boxes across the antimeridian are not supported) at position 23"),
        ("S_INTERSECTS(geom, POLYGON((0 0, 1 0, 1 1)))", 27, "a polygon ring needs at least 4 positions at position 27"),
        ("S_INTERSECTS(geom, POLYGON((0 0, 1 0, 1 1, 0 1)))", 27, "a polygon ring must be closed: its first and last positions differ at position 27"),
        ("S_INTERSECTS(geom, LINESTRING(0 0))", 29, "a linestring needs at least 2 positions at position 29"),
        ("S_INTERSECTS(geom, POINT(1))", 26, "expected a number after `1` at position 26, found `)`"),
        ("S_INTERSECTS(geom, POINT EMPTY)", 25, "empty geometries are not supported at position 25"),
        ("S_INTERSECTS(a, b)", 13, "`S_INTERSECTS` between two geometry properties is not supported at position 13"),
        ("S_INTERSECTS(POINT(0 0), POINT(1 1))", 0, "`S_INTERSECTS` needs a geometry property as one of its arguments at position 0"),
        ("S_INTERSECTS(geom, 5)", 19, "expected a geometry property or a geometry literal after `,` at position 19, found `5`"),
        ("S_INTERSECTS(geom, GEOMETRYCOLLECTION(5))", 38, "expected a geometry literal (`POINT`, `POLYGON`, `BBOX`, …) after `(` at position 38, found `5`"),
    ];
    for &(input, position, message) in cases {
        let err = parse_cql2_text(input).expect_err(input);
        assert_eq!(err.to_string(), message, "{input}");
        assert_eq!(err.position(), Some(position), "{input}");
        assert!(matches!(err, FilterError::Syntax { .. }), "{input}");
    }
}

#[test]
fn hostile_input_is_refused_cheaply() {
    let long = format!("a = '{}'", "x".repeat(MAX_FILTER_BYTES));
    assert_eq!(
        parse_cql2_text(&long),
        Err(FilterError::TooLong { length: MAX_FILTER_BYTES + 6, max: MAX_FILTER_BYTES })
    );
    assert!(parse_sortby(&"a".repeat(MAX_FILTER_BYTES + 1)).is_err());

    // Just under the length limit, far over the depth limit.
    let parens = "(".repeat(MAX_FILTER_BYTES - 10);
    assert_eq!(parse_cql2_text(&parens), Err(FilterError::TooDeep { position: MAX_DEPTH, max: MAX_DEPTH }));
    assert!(matches!(parse_cql2_text(&"NOT ".repeat(2000)), Err(FilterError::TooDeep { .. })));
    assert!(matches!(parse_cql2_text(&"CASEI(".repeat(1300)), Err(FilterError::TooDeep { .. })));
    let collections = format!("S_INTERSECTS(g, {})", "GEOMETRYCOLLECTION(".repeat(300));
    assert!(matches!(parse_cql2_text(&collections), Err(FilterError::TooDeep { .. })));

    // Long flat chains are fine: they are vectors, not nested nodes.
    let chain = ["a = 1"; 800].join(" AND ");
    assert!(chain.len() <= MAX_FILTER_BYTES);
    let Expr::And(items) = parse(&chain) else { panic!("an AND chain") };
    assert_eq!(items.len(), 800);
    let list = format!("a IN ({}1)", "1,".repeat(2999));
    assert!(parse(&list).evaluate(&Feature::default().with("a", 1_i64)));
}

#[test]
fn deepest_filter_runs_on_a_small_stack() {
    // CASEI (one level) inside MAX_DEPTH - 1 levels of alternating NOT and parentheses.
    let mut text = "CASEI(name) LIKE '%a%'".to_owned();
    for level in 0..MAX_DEPTH - 1 {
        text = if level % 2 == 0 { format!("NOT {text}") } else { format!("({text} OR FALSE)") };
    }
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let expr = parse_cql2_text(&text).expect("exactly at the limit");
            let printed = expr.to_string();
            let again = parse_cql2_text(&printed).expect("reparses");
            let result = again.evaluate(&Feature::default().with("name", "A"));
            (expr == again, result)
        })
        .expect("thread starts");
    let (round_trips, result) = handle.join().expect("no stack overflow");
    assert!(round_trips);
    assert!(result, "32 NOTs around a match");
}

#[test]
fn property_names_for_queryables() {
    let expr = parse(
        "a = 1 AND (b IN (c, 2) OR NOT d LIKE 'x') AND e BETWEEN f AND 3 AND CASEI(g) IS NULL \
         AND S_INTERSECTS(\"the geom\", BBOX(0, 0, 1, 1)) AND 5 = a",
    );
    assert_eq!(
        expr.property_names().into_iter().collect::<Vec<_>>(),
        ["a", "b", "c", "d", "e", "f", "g", "the geom"]
    );
    assert!(parse("TRUE").property_names().is_empty());
    assert_eq!(expr.geometry_property_names().into_iter().collect::<Vec<_>>(), ["the geom"]);
    assert!(parse("geom IS NULL").geometry_property_names().is_empty());
}

#[test]
fn ast_shape() {
    assert_eq!(
        parse("\"名称\" <> 'x'"),
        Expr::Compare {
            left: Operand::Property("名称".into()),
            op: CompareOp::Ne,
            right: Operand::Literal(Value::Text("x".into())),
        }
    );
    assert_eq!(
        parse("S_INTERSECTS(geom, POINT(1 2))"),
        Expr::Intersects { property: "geom".into(), geometry: Geometry::Point(geo::point!(x: 1.0, y: 2.0)) }
    );
}

#[test]
fn sortby_parsing() {
    let key = |p: &str, descending| SortKey { property: p.into(), descending };
    assert_eq!(
        parse_sortby("name,-households,+id").expect("valid"),
        vec![key("name", false), key("households", true), key("id", false)]
    );
    // `+` arrives as a space once the query string is decoded.
    assert_eq!(parse_sortby(" name, 名称").expect("valid"), vec![key("name", false), key("名称", false)]);
    assert_eq!(parse_sortby("-\"a, b\"").expect("valid"), vec![key("a, b", true)]);
    for (text, position) in
        [("", 0), (" ", 1), (",a", 0), ("a,,b", 2), ("a,", 2), ("+", 1), ("a,a", 2), ("a b", 2)]
    {
        let err = parse_sortby(text).expect_err(text);
        assert_eq!(err.position(), Some(position), "{text:?}: {err}");
    }
}

#[test]
fn sorting_features() {
    let row = |id: i64, households: Option<Value>, name: &str| {
        let mut f = Feature::default().with("id", id).with("name", name);
        if let Some(h) = households {
            f = f.with("households", h);
        }
        f
    };
    let rows = vec![
        row(1, Some(Value::Int(300)), "b"),
        row(2, None, "a"),
        row(3, Some(Value::Float(1200.5)), "c"),
        row(4, Some(Value::Int(300)), "a"),
        row(5, Some(Value::Null), "d"),
        row(6, Some(Value::Int(-2)), "e"),
        row(7, Some(Value::Float(300.0)), "c"),
    ];
    let ids = |text: &str| {
        let keys = parse_sortby(text).expect("valid sortby");
        let mut sorted = rows.clone();
        sorted.sort_by(|a, b| compare_features(&keys, a, b));
        sorted
            .iter()
            .map(|f| match f.property("id") {
                Some(Value::Int(i)) => i,
                other => panic!("no id: {other:?}"),
            })
            .collect::<Vec<_>>()
    };
    // Stable sort: equal keys keep input order; nulls last both ways.
    assert_eq!(ids("households"), [6, 1, 4, 7, 3, 2, 5]);
    assert_eq!(ids("-households"), [3, 1, 4, 7, 6, 2, 5]);
    assert_eq!(ids("households,-name"), [6, 7, 1, 4, 3, 5, 2]);
    assert_eq!(ids("-households,+name,id"), [3, 4, 1, 7, 6, 2, 5]);
    assert_eq!(ids("missing"), [1, 2, 3, 4, 5, 6, 7]);

    assert_eq!(compare_values(&Some(Value::Int(2)), &Some(Value::Float(2.0))), Ordering::Equal);
    assert_eq!(compare_values(&Some(Value::Int(10)), &Some(Value::Float(9.5))), Ordering::Greater);
    assert_eq!(
        compare_values(&Some(Value::Text("B".into())), &Some(Value::Text("a".into()))),
        Ordering::Less
    );
    assert_eq!(compare_values(&Some(Value::Text("z".into())), &None), Ordering::Less);
    assert_eq!(compare_values(&Some(Value::Null), &Some(Value::Int(0))), Ordering::Greater);
}

// ---------------------------------------------------------------------------------------------
// Property tests.

/// Fragments that make up plausible and implausible filters.
const VOCABULARY: &[&str] = &[
    "(",
    ")",
    ",",
    "=",
    "<>",
    "<",
    ">",
    "<=",
    ">=",
    "AND",
    "or",
    "NOT",
    "not",
    "LIKE",
    "BETWEEN",
    "IN",
    "IS",
    "NULL",
    "TRUE",
    "false",
    "a",
    "households",
    "\"名称\"",
    "名称",
    "'x'",
    "'it''s'",
    "'%a_'",
    "'\\'",
    "1",
    "-2.5",
    "1e3",
    ".5",
    "S_INTERSECTS",
    "geom",
    "BBOX",
    "POINT",
    "POLYGON",
    "GEOMETRYCOLLECTION",
    "Z",
    "EMPTY",
    "0 0",
    "1 1",
    "0",
    "CASEI",
    "ACCENTI",
    "'",
    "\"",
    "!",
    "[",
    "-",
    "+",
    "e",
    "é",
    "\u{0}",
    "\u{10FFFF}",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCABULARY), 0..40).prop_map(|words| words.join(" "))
}

fn dense_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCABULARY), 0..40).prop_map(|words| words.concat())
}

fn finite() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![
        prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
        (-1000i32..1000).prop_map(f64::from),
        (-1000i32..1000).prop_map(|i| f64::from(i) / 8.0),
    ]
}

fn property_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_.]{0,6}",
        prop::sample::select(vec!["名称", "AND", "casei", "point", "Z", "e5", "a b", "x\"y", "1a"])
            .prop_map(str::to_owned),
        "\\PC{1,6}",
    ]
}

fn literal() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Int),
        finite().prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        ".{0,8}".prop_map(Value::Text),
    ]
}

fn operand() -> impl Strategy<Value = Operand> {
    let leaf = prop_oneof![property_name().prop_map(Operand::Property), literal().prop_map(Operand::Literal)];
    leaf.prop_recursive(2, 4, 1, |inner| inner.prop_map(|o| Operand::CaseI(Box::new(o))))
}

fn pattern() -> impl Strategy<Value = Operand> {
    let text = "[a-z%_\\\\']{0,8}"
        .prop_filter("no trailing lone escape", |p: &String| {
            p.chars().rev().take_while(|&c| c == '\\').count() % 2 == 0
        })
        .prop_map(|p| Operand::Literal(Value::Text(p)));
    prop_oneof![text.clone(), text.prop_map(|o| Operand::CaseI(Box::new(o)))]
}

fn geometry() -> impl Strategy<Value = Geometry<f64>> {
    let coord = (finite(), finite()).prop_map(|(x, y)| geo::coord! { x: x, y: y });
    prop_oneof![
        coord.clone().prop_map(|c| Geometry::Point(c.into())),
        (coord.clone(), coord.clone()).prop_map(|(a, b)| Geometry::Rect(Rect::new(a, b))),
        prop::collection::vec(coord.clone(), 2..5).prop_map(|cs| Geometry::LineString(cs.into())),
        (coord.clone(), coord.clone(), coord)
            .prop_map(|(a, b, c)| { Geometry::Polygon(geo::Polygon::new(vec![a, b, c, a].into(), vec![])) }),
    ]
}

fn predicate() -> impl Strategy<Value = Expr> {
    let op = prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Lt,
        CompareOp::Gt,
        CompareOp::Le,
        CompareOp::Ge,
    ]);
    prop_oneof![
        any::<bool>().prop_map(Expr::Bool),
        (operand(), op, operand()).prop_map(|(left, op, right)| Expr::Compare { left, op, right }),
        (operand(), pattern(), any::<bool>()).prop_map(|(operand, pattern, negated)| Expr::Like {
            operand,
            pattern,
            negated
        }),
        (operand(), operand(), operand(), any::<bool>())
            .prop_map(|(operand, low, high, negated)| Expr::Between { operand, low, high, negated }),
        (operand(), prop::collection::vec(operand(), 1..4), any::<bool>())
            .prop_map(|(operand, list, negated)| Expr::In { operand, list, negated }),
        (operand(), any::<bool>()).prop_map(|(operand, negated)| Expr::IsNull { operand, negated }),
        (property_name(), geometry())
            .prop_map(|(property, geometry)| Expr::Intersects { property, geometry }),
    ]
}

/// Expressions of the shapes the parser produces (AND/OR with at least two items).
fn expression() -> impl Strategy<Value = Expr> {
    predicate().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

/// A valid filter with one fragment inserted and one char range deleted: inputs near valid ones.
fn mutated() -> impl Strategy<Value = String> {
    (
        expression(),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        0..4_usize,
        prop::sample::select(VOCABULARY),
    )
        .prop_map(|(expr, at, cut, len, fragment)| {
            let mut chars: Vec<char> = expr.to_string().chars().collect();
            let at = at.index(chars.len() + 1);
            chars.splice(at..at, fragment.chars());
            let cut = cut.index(chars.len() + 1);
            chars.drain(cut..(cut + len).min(chars.len()));
            chars.into_iter().collect()
        })
}

/// A feature to evaluate random filters against.
fn sample_feature() -> Feature {
    estate().with("a", 1_i64).with("x\"y", "%a_").with("point", 2.5)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// No input panics the parser; errors point inside the input; what parses prints back to
    /// itself and evaluates without panicking.
    #[test]
    fn arbitrary_strings_never_panic(text in prop_oneof![".{0,64}", token_soup(), dense_soup(), mutated()]) {
        check_any_input(&text)?;
    }

    /// `parse(print(expr)) == expr` for every parser-shaped expression.
    #[test]
    fn printing_round_trips(expr in expression()) {
        let printed = expr.to_string();
        prop_assume!(printed.len() <= MAX_FILTER_BYTES);
        prop_assert_eq!(parse_cql2_text(&printed), Ok(expr.clone()), "printed as {}", printed);
        let _ = expr.evaluate(&sample_feature());
        let _ = expr.spatial_bounds();
    }

    /// `sortby` never panics, and what it accepts has unique keys.
    #[test]
    fn sortby_never_panics(text in prop_oneof![".{0,32}", "[-+ ,\"a-c名]{0,16}"]) {
        if let Ok(keys) = parse_sortby(&text) {
            prop_assert!(!keys.is_empty());
            let names: std::collections::BTreeSet<_> = keys.iter().map(|k| &k.property).collect();
            prop_assert_eq!(names.len(), keys.len());
        }
    }

    /// `compare_values` is a total order (sorting must never panic or disagree with itself).
    #[test]
    fn value_order_is_consistent(values in prop::collection::vec(prop::option::of(prop_oneof![
        literal(),
        Just(Value::Null),
        Just(Value::Float(f64::NAN)),
        (-3i64..3).prop_map(Value::Int),
        (-3i32..3).prop_map(|i| Value::Float(f64::from(i) + 0.5)),
    ]), 0..24)) {
        let mut sorted = values.clone();
        sorted.sort_by(compare_values);
        for pair in sorted.windows(2) {
            prop_assert!(compare_values(&pair[0], &pair[1]).is_le());
        }
        for a in &values {
            for b in &values {
                prop_assert_eq!(compare_values(a, b), compare_values(b, a).reverse());
            }
        }
    }
}

fn check_any_input(text: &str) -> Result<(), TestCaseError> {
    match parse_cql2_text(text) {
        Ok(expr) => {
            let printed = expr.to_string();
            prop_assert_eq!(parse_cql2_text(&printed), Ok(expr.clone()), "{} printed as {}", text, printed);
            let _ = expr.evaluate(&sample_feature());
            let _ = expr.evaluate(&Feature::default());
            let _ = expr.property_names();
            let _ = expr.spatial_bounds();
        }
        Err(err) => {
            if let Some(position) = err.position() {
                prop_assert!(position <= text.chars().count(), "{}: {}", text, err);
            }
            prop_assert!(!err.to_string().is_empty());
        }
    }
    Ok(())
}
