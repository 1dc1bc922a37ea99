//! The map picture: estates drawn from their working-CRS footprints, scaled into an SVG
//! viewBox (north up) and coloured by coverage in the report year.
//!
//! Each estate becomes one SVG path of integer viewBox units with relative moves, and estates of
//! one colour are joined into one `<path>`, which keeps a 3,000-estate map near 150 kB.

use std::fmt::Write as _;

use crate::model::Estate;

use super::Report;

/// Long side of the viewBox, in units; one unit is about 6.5 m on a 13 km city.
const LONG_SIDE: f64 = 2000.0;

/// Estate outlines in viewBox units.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GapMap {
    /// ViewBox width.
    pub width: u32,
    /// ViewBox height.
    pub height: u32,
    /// Per estate (in the estates' order), its path data (`M…l…z`); empty for an empty geometry.
    pub paths: Vec<String>,
    /// Metres per viewBox unit.
    pub metres_per_unit: f64,
}

impl GapMap {
    /// Projects the estates' footprints (working CRS, metres) into a viewBox.
    ///
    /// # Complexity
    /// O(vertices).
    #[must_use]
    pub fn new(estates: &[Estate]) -> Self {
        let bounds = estates.iter().filter_map(Estate::bounds).reduce(|a, b| {
            geo::Rect::new(
                geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
            )
        });
        let Some(bounds) = bounds else { return Self::default() };
        let side = bounds.width().max(bounds.height()).max(1.0);
        let scale = LONG_SIDE / side;
        let (min_x, max_y) = (bounds.min().x, bounds.max().y);
        let to_units = |c: geo::Coord<f64>| -> (i64, i64) {
            #[expect(clippy::cast_possible_truncation, reason = "rounded values within 0..=2000")]
            ((((c.x - min_x) * scale).round() as i64), (((max_y - c.y) * scale).round() as i64))
        };
        let paths = estates
            .iter()
            .map(|e| {
                let mut d = String::new();
                for polygon in &e.geometry {
                    for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
                        let mut previous: Option<(i64, i64)> = None;
                        // The closing position repeats the first; `z` closes the ring.
                        let open = &ring.0[..ring.0.len().saturating_sub(1)];
                        for &c in open {
                            let p = to_units(c);
                            match previous {
                                None => {
                                    let _ = write!(d, "M{} {}", p.0, p.1);
                                }
                                Some(q) if q == p => continue,
                                Some(q) => {
                                    let _ = write!(d, "l{} {}", p.0 - q.0, p.1 - q.1);
                                }
                            }
                            previous = Some(p);
                        }
                        if previous.is_some() {
                            d.push('z');
                        }
                    }
                }
                d
            })
            .collect();
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "within 1..=2000")]
        let units = |metres: f64| ((metres * scale).ceil() as u32).max(1);
        Self { width: units(bounds.width()), height: units(bounds.height()), paths, metres_per_unit: 1.0 / scale }
    }

    /// An SVG with one path per class: `classes[i]` is estate `i`'s class, `colours[c]` the fill
    /// of class `c`. `legend` lists `(colour, label)` pairs.
    fn svg(&self, title: &str, classes: &[usize], colours: &[&str], legend: &[(&str, String)]) -> String {
        let mut grouped = vec![String::new(); colours.len()];
        for (path, &class) in self.paths.iter().zip(classes) {
            if let Some(g) = grouped.get_mut(class) {
                g.push_str(path);
            }
        }
        let legend_h = 30;
        let (w, h) = (self.width.max(1), self.height.max(1));
        let mut svg = format!(
            "<svg class=\"map\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"{}\"><title>{}</title><rect width=\"{w}\" height=\"{h}\" fill=\"#f7f7f7\"/>",
            h + legend_h * 2,
            super::html::escape(title),
            super::html::escape(title)
        );
        for (d, colour) in grouped.iter().zip(colours) {
            if !d.is_empty() {
                let _ = write!(svg, "<path fill=\"{colour}\" fill-rule=\"evenodd\" stroke=\"#555\" stroke-width=\"0.6\" d=\"{d}\"/>");
            }
        }
        // Legend and a 1 km scale bar under the map.
        let y = h + legend_h;
        let mut x = 10;
        for (colour, label) in legend {
            let _ = write!(
                svg,
                "<rect x=\"{x}\" y=\"{}\" width=\"24\" height=\"24\" fill=\"{colour}\" stroke=\"#555\"/><text x=\"{}\" y=\"{}\" font-size=\"26\" font-family=\"sans-serif\">{}</text>",
                y - 4,
                x + 32,
                y + 16,
                super::html::escape(label)
            );
            x += 64 + 16 * u32::try_from(label.chars().count()).unwrap_or(20);
        }
        if self.metres_per_unit > 0.0 {
            #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a few hundred units")]
            let bar = (1000.0 / self.metres_per_unit).round() as u32;
            let x0 = w.saturating_sub(bar + 20);
            let _ = write!(
                svg,
                "<path d=\"M{x0} {}h{bar}\" stroke=\"#000\" stroke-width=\"4\"/><text x=\"{}\" y=\"{}\" font-size=\"26\" font-family=\"sans-serif\" text-anchor=\"middle\">1 km</text>",
                y + 20,
                x0 + bar / 2,
                y + 10
            );
        }
        svg.push_str("</svg>");
        svg
    }
}

/// Fills from no gap (green) to many (dark red).
const GAP_COLOURS: [&str; 5] = ["#d9f0d3", "#fee08b", "#fdae61", "#f46d43", "#a50026"];

/// The report year's gaps: each estate coloured by the number of kinds not covering it.
#[must_use]
pub fn gap_count_map(report: &Report) -> String {
    let mut uncovered = vec![0usize; report.map.paths.len()];
    for g in &report.trend.gaps {
        if let Some(n) = uncovered.get_mut(g.estate_index) {
            *n += 1;
        }
    }
    let classes: Vec<usize> = uncovered.iter().map(|&n| match n {
        0 => 0,
        1 => 1,
        2 => 2,
        3 | 4 => 3,
        _ => 4,
    }).collect();
    let lang = report.lang;
    let legend = vec![
        (GAP_COLOURS[0], lang.pick("all kinds", "各类齐全").to_owned()),
        (GAP_COLOURS[1], lang.pick("1 kind missing", "缺1类").to_owned()),
        (GAP_COLOURS[2], "2".to_owned()),
        (GAP_COLOURS[3], "3–4".to_owned()),
        (GAP_COLOURS[4], lang.pick("5 or more", "5类及以上").to_owned()),
    ];
    let title = match lang {
        super::Lang::En => format!("Facility kinds missing within their radius, end of {}", report.year),
        super::Lang::Zh => format!("{}年末服务半径内缺少的设施类型数", report.year),
    };
    report.map.svg(&title, &classes, &GAP_COLOURS, &legend)
}

/// The report year's coverage by one kind: covered estates green, uncovered red.
#[must_use]
pub fn kind_map(report: &Report, kind: &str, label: &str) -> String {
    let mut classes = vec![0usize; report.map.paths.len()];
    for g in report.trend.gaps.iter().filter(|g| g.kind == kind) {
        if let Some(c) = classes.get_mut(g.estate_index) {
            *c = 1;
        }
    }
    let colours = ["#d9f0d3", "#d73027"];
    let lang = report.lang;
    let legend = vec![(colours[0], lang.pick("covered", "已覆盖").to_owned()), (colours[1], lang.pick("not covered", "未覆盖").to_owned())];
    let title = match lang {
        super::Lang::En => format!("{label}: estates covered at the end of {}", report.year),
        super::Lang::Zh => format!("{label}：{}年末小区覆盖情况", report.year),
    };
    report.map.svg(&title, &classes, &colours, &legend)
}
