//! SVG charts drawn with plotters' SVG backend (no font or bitmap features: text stays SVG
//! `<text>` for the viewer's fonts, so nothing needs system fonts at build or run time).
//!
//! Each chart function returns the SVG text, or a message when plotters fails, which the HTML
//! shows in the chart's place rather than losing the whole report.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::{Lang, Report};

/// A kind as the chart names it: the key in English, the catalogue's Chinese name in Chinese.
fn kind_name(report: &Report, key: &str) -> String {
    match report.lang {
        Lang::En => key.to_owned(),
        Lang::Zh => report.trend.kinds.iter().find(|k| k.key == key).map_or_else(|| key.to_owned(), |k| k.label_zh.clone()),
    }
}

/// A target bar's label: `day_care new` / `老年人日间照料中心（托老所）新增`.
fn bar_label(report: &Report, key: &str, en: &str, zh: &str) -> String {
    match report.lang {
        Lang::En => format!("{key} {en}"),
        Lang::Zh => format!("{}{zh}", kind_name(report, key)),
    }
}

/// Line colours per kind (Tableau 10 and one more), cycled beyond 11 kinds.
const PALETTE: [RGBColor; 11] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0x79, 0x70, 0x6e),
    RGBColor(0x17, 0x19, 0x5e),
];

pub(crate) const FONT: &str = "sans-serif";

#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
fn float(n: u64) -> f64 {
    n as f64
}

pub(crate) fn colour(k: usize) -> RGBColor {
    PALETTE[k % PALETTE.len()]
}

/// Runs a drawing closure on an SVG string backend; plotters' errors become a message.
pub(crate) fn draw_svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

pub(crate) fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Share of estates covered at each year's end, one line per kind, from the year before the
/// period (the first year's baseline) to the report year.
///
/// # Errors
/// plotters' message.
pub fn coverage_trend(report: &Report) -> Result<String, String> {
    let trend = &report.trend;
    let (from, to) = (report.from, report.year);
    let series: Vec<Vec<(i32, f64)>> = trend
        .kinds
        .iter()
        .map(|k| {
            let rows: Vec<_> = trend.overall.iter().filter(|r| r.kind == k.key).collect();
            let baseline = rows.first().map(|r| (from - 1, r.estates_covered_pct - r.estates_covered_pct_change));
            baseline.into_iter().chain(rows.iter().map(|r| (r.year, r.estates_covered_pct))).collect()
        })
        .collect();
    draw_svg((900, 420), |root| {
        let (plot, legend) = root.split_horizontally(690);
        let mut chart = ChartBuilder::on(&plot)
            .caption(report.lang.pick("Estates covered at year end, by kind (%)", "各类设施年末小区覆盖率（%）"), (FONT, 20))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(44)
            .build_cartesian_2d(from - 1..to, 0f64..100f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(usize::try_from(to - from + 2).unwrap_or(2))
            .x_label_formatter(&|y| y.to_string())
            .y_label_formatter(&|p| format!("{p:.0}"))
            .light_line_style(WHITE)
            .draw()
            .map_err(err)?;
        for (k, points) in series.iter().enumerate() {
            let c = colour(k);
            chart.draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2))).map_err(err)?;
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(err)?;
        }
        for (k, kind) in trend.kinds.iter().enumerate() {
            let y = 50 + i32::try_from(k).unwrap_or(0) * 26;
            let c = colour(k);
            legend.draw(&PathElement::new(vec![(8, y), (32, y)], c.stroke_width(3))).map_err(err)?;
            let last = series[k].last().map_or(String::new(), |p| format!(" {:.1} %", p.1));
            legend.draw(&Text::new(format!("{}{last}", kind_name(report, &kind.key)), (38, y - 8), (FONT, 15))).map_err(err)?;
        }
        Ok(())
    })
}

/// One bar of the target chart.
struct TargetBar {
    label: String,
    achieved_pct: f64,
    note: String,
    kind: usize,
}

fn target_bars(report: &Report) -> Vec<TargetBar> {
    let mut bars = Vec::new();
    // Counts and capacities without trailing zeros, shares with one decimal.
    let fmt = |x: f64| super::table::fmt_grouped(x, 2);
    let pct = |x: f64| super::table::fmt_grouped(x, 1);
    for (k, r) in report.trend.overall.iter().filter(|r| r.year == report.year).enumerate() {
        if let (Some(t), Some(a)) = (r.target_new_facilities, r.new_facilities_achieved_pct) {
            bars.push(TargetBar { label: bar_label(report, &r.kind, "new", "新增"), achieved_pct: a, note: format!("{} / {}", fmt(float(r.opened)), fmt(float(t))), kind: k });
        }
        if let (Some(t), Some(a)) = (r.target_capacity_added, r.capacity_added_achieved_pct) {
            bars.push(TargetBar { label: bar_label(report, &r.kind, "capacity", "容量"), achieved_pct: a, note: format!("{} / {}", fmt(r.capacity_added), fmt(t)), kind: k });
        }
        if let Some(t) = r.target_coverage_estates_pct.filter(|&t| t > 0.0) {
            bars.push(TargetBar { label: bar_label(report, &r.kind, "estates %", "小区覆盖率"), achieved_pct: r.estates_covered_pct / t * 100.0, note: format!("{} % / {} %", pct(r.estates_covered_pct), pct(t)), kind: k });
        }
        if let Some(t) = r.target_coverage_households_pct.filter(|&t| t > 0.0) {
            bars.push(TargetBar { label: bar_label(report, &r.kind, "households %", "户数覆盖率"), achieved_pct: r.households_covered_pct / t * 100.0, note: format!("{} % / {} %", pct(r.households_covered_pct), pct(t)), kind: k });
        }
    }
    if let Some(r) = report.trend.renovation_row(report.year) {
        if let (Some(t), Some(a)) = (r.target_estates, r.estates_achieved_pct) {
            bars.push(TargetBar { label: report.lang.pick("renovation estates", "改造小区").into(), achieved_pct: a, note: format!("{} / {}", fmt(float(r.estates_renovated)), fmt(float(t))), kind: usize::MAX });
        }
        if let (Some(t), Some(a)) = (r.target_households, r.households_achieved_pct) {
            bars.push(TargetBar { label: report.lang.pick("renovation households", "改造户数").into(), achieved_pct: a, note: format!("{} / {}", fmt(float(r.households_renovated)), fmt(float(t))), kind: usize::MAX });
        }
    }
    bars
}

/// The report year's targets: actual as a share of target, one bar per target figure, with a
/// line at 100 %. `None` when the year has no targets.
///
/// # Errors
/// plotters' message.
pub fn target_vs_actual(report: &Report) -> Option<Result<String, String>> {
    let bars = target_bars(report);
    if bars.is_empty() {
        return None;
    }
    // Plotters counts segments upwards: reversed, the first target is drawn at the top.
    let bars: Vec<TargetBar> = bars.into_iter().rev().collect();
    let n = bars.len();
    let max = bars.iter().map(|b| b.achieved_pct).fold(100.0_f64, f64::max);
    // Room to the right of the longest bar for its label.
    let x_max = (max * 1.5 / 10.0).ceil() * 10.0;
    let height = 90 + 34 * u32::try_from(n).unwrap_or(30);
    // A one-item range has no height to draw a bar in: add an empty segment after it.
    let last = n.max(2) - 1;
    Some(draw_svg((900, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                match report.lang {
                    Lang::En => format!("Targets {}: actual as % of target", report.year),
                    Lang::Zh => format!("{}年目标完成情况（实际值占目标的%）", report.year),
                },
                (FONT, 20),
            )
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(210)
            .build_cartesian_2d(0f64..x_max, (0usize..last).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .y_labels(n)
            .y_label_style((FONT, 14))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => bars.get(*i).map_or(String::new(), |b| b.label.clone()),
                _ => String::new(),
            })
            .x_label_formatter(&|x| format!("{x:.0} %"))
            .draw()
            .map_err(err)?;
        // The 100 % line first, so that bars and labels stay readable over it.
        chart
            .draw_series(LineSeries::new(vec![(100.0, SegmentValue::Exact(0)), (100.0, SegmentValue::Last)], BLACK.stroke_width(2)))
            .map_err(err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let c = if b.kind == usize::MAX { RGBColor(0x55, 0x55, 0x55) } else { colour(b.kind) };
                let mut bar = Rectangle::new([(0.0, SegmentValue::Exact(i)), (b.achieved_pct, SegmentValue::Exact(i + 1))], c.filled());
                bar.set_margin(6, 6, 0, 0);
                bar
            }))
            .map_err(err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                Text::new(format!("{:.1} %  ({})", b.achieved_pct, b.note), (b.achieved_pct + x_max * 0.01, SegmentValue::CenterOf(i)), (FONT, 14))
            }))
            .map_err(err)?;
        Ok(())
    }))
}

/// Estates renovated per year (bars, left axis) and the share of the renovation stock done by
/// each year's end (line, right axis).
///
/// # Errors
/// plotters' message.
pub fn renovation_progress(report: &Report) -> Result<String, String> {
    let rows = &report.trend.renovation;
    let (from, to) = (report.from, report.year);
    let max = rows.iter().map(|r| r.estates_renovated.max(r.target_estates.unwrap_or(0))).max().unwrap_or(0);
    let y_max = ((float(max) * 1.2).max(10.0) / 10.0).ceil() * 10.0;
    let stock_year = report.trend.params.renovation_built_before;
    // A one-year range has no width to draw a bar in: add an empty segment after it.
    let last = if from == to { to + 1 } else { to };
    draw_svg((900, 400), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                match report.lang {
                    Lang::En => format!("Renovation: estates per year and share of the pre-{stock_year} stock done"),
                    Lang::Zh => format!("老旧小区改造：逐年改造小区数及{stock_year}年以前建成存量的改造比例"),
                },
                (FONT, 20),
            )
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(54)
            .right_y_label_area_size(54)
            .build_cartesian_2d((from..last).into_segmented(), 0f64..y_max)
            .map_err(err)?
            .set_secondary_coord((from..last).into_segmented(), 0f64..100f64);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .x_labels(usize::try_from(last - from + 1).unwrap_or(1))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(y) if *y <= to => y.to_string(),
                _ => String::new(),
            })
            .y_desc(report.lang.pick("estates renovated", "改造小区（个）"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(err)?;
        chart
            .configure_secondary_axes()
            .y_desc(report.lang.pick("% of stock done", "存量改造比例（%）"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(err)?;
        let bar_colour = RGBColor(0x4e, 0x79, 0xa7);
        chart
            .draw_series(rows.iter().map(|r| {
                let mut bar = Rectangle::new(
                    [(SegmentValue::Exact(r.year), 0.0), (SegmentValue::Exact(r.year + 1), float(r.estates_renovated))],
                    bar_colour.filled(),
                );
                bar.set_margin(0, 0, 14, 14);
                bar
            }))
            .map_err(err)?;
        chart
            .draw_series(rows.iter().filter_map(|r| {
                r.target_estates.map(|t| {
                    PathElement::new(vec![(SegmentValue::Exact(r.year), float(t)), (SegmentValue::Exact(r.year + 1), float(t))], BLACK.stroke_width(3))
                })
            }))
            .map_err(err)?;
        let line_colour = RGBColor(0xe1, 0x57, 0x59);
        let points: Vec<(SegmentValue<i32>, f64)> = rows.iter().map(|r| (SegmentValue::CenterOf(r.year), r.stock_done_estates_pct)).collect();
        chart.draw_secondary_series(LineSeries::new(points.clone(), line_colour.stroke_width(3))).map_err(err)?;
        chart.draw_secondary_series(points.into_iter().map(|p| Circle::new(p, 4, line_colour.filled()))).map_err(err)?;
        Ok(())
    })
}
