//! JSON: the whole report (without the map picture) for machines, floats rounded to 3 decimals
//! so that last-bit differences between platforms (PROJ, libm) never show, and the metric stated
//! in words (`distances`) beside `trend.params.metric`.

use super::table::round_to;
use super::Report;

/// Decimals kept in JSON numbers: millimetres for distances, 0.001 for percentages.
const DECIMALS: usize = 3;

fn round_floats(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(x) = n.as_f64().map(|x| round_to(x, DECIMALS)) {
                // Whole numbers print without a fraction (`100` rather than `100.0`).
                *value = if x.fract() == 0.0 && x.abs() < 9.0e15 {
                    #[expect(clippy::cast_possible_truncation, reason = "checked: a whole number below 2^53")]
                    serde_json::Value::from(x as i64)
                } else {
                    serde_json::Value::from(x)
                };
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(round_floats),
        serde_json::Value::Object(map) => map.values_mut().for_each(round_floats),
        _ => {}
    }
}

/// The report as a JSON value with rounded floats.
///
/// # Panics
/// Never: the report holds only serialisable values.
#[must_use]
pub fn to_json_value(report: &Report) -> serde_json::Value {
    let mut value = serde_json::to_value(report).expect("the report serialises");
    round_floats(&mut value);
    // The metric in words beside `trend.params.metric`, as the other formats state it.
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("distances".to_owned(), super::markdown::distances(report.trend.params.metric).into());
    }
    value
}

/// Renders the report as pretty JSON.
///
/// # Panics
/// Never: a JSON value always serialises.
#[must_use]
pub fn render_json(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(&to_json_value(report)).expect("a JSON value serialises");
    text.push('\n');
    text
}
