//! The GeoJSON reader: arbitrary bytes never panic, and the in-memory and streaming paths agree
//! (same features, same rejections, same error kind).
#![no_main]

use std::path::Path;

use gapmap::io::geojson::{read_reader, read_slice};
use gapmap::io::{LoadError, LoadReport};
use libfuzzer_sys::fuzz_target;

/// The outcome as text, and the position of a JSON error.
fn outcome(result: &Result<gapmap::io::SourceInfo, LoadError>) -> (String, Option<(usize, usize)>) {
    match result {
        Ok(info) => (format!("ok {:?}", info.declared_crs), None),
        Err(LoadError::Json { line, column, message, .. }) => (format!("json: {message}"), Some((*line, *column))),
        Err(e) => (format!("err {e}"), None),
    }
}

/// serde_json counts positions differently on slices and streams: a type error is one column
/// apart (the peeked byte), and a control character in a string is reported before it on a
/// slice and after it on a stream (one line on when it is a newline).
fn same_place((l1, c1): (usize, usize), (l2, c2): (usize, usize)) -> bool {
    (l1 == l2 && c1.abs_diff(c2) <= 1) || l1.abs_diff(l2) == 1
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.geojson");
    let (mut slice_report, mut slice_features) = (LoadReport::default(), Vec::new());
    let slice = read_slice(path, data, &mut slice_report, &mut |f| slice_features.push(f));
    let (mut stream_report, mut stream_features) = (LoadReport::default(), Vec::new());
    // A 7-byte buffer makes every feature straddle reads.
    let reader = std::io::BufReader::with_capacity(7, data);
    let stream = read_reader(path, reader, &mut stream_report, &mut |f| stream_features.push(f));
    let (a, b) = (outcome(&slice), outcome(&stream));
    assert_eq!(a.0, b.0, "slice and stream disagree");
    if let (Some(x), Some(y)) = (a.1, b.1) {
        assert!(same_place(x, y), "positions {x:?} and {y:?}");
    }
    if slice.is_ok() {
        assert_eq!(slice_features, stream_features);
        assert_eq!(slice_report.rejected, stream_report.rejected);
    }
});
