//! SVG charts for the HTML report (drawn through the facility report's [`draw_svg`]: text left
//! to the viewer's fonts, so the Chinese labels need no font at build time): stacked bars per batch year, with an
//! optional percentage line on a second axis.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::format::{self as fmt, Lang};
use super::ProgrammeReport;
use crate::programme::Gate;
use crate::report::chart::{colour, draw_svg, err, FONT};

/// Passed green, below the gate red, not surveyed grey.
const GATE_COLOURS: [RGBColor; 3] = [RGBColor(0x59, 0xa1, 0x4f), RGBColor(0xe1, 0x57, 0x59), RGBColor(0xbb, 0xbb, 0xbb)];

/// One stacked series.
struct Series {
    label: String,
    colour: RGBColor,
    values: Vec<f64>,
}

/// Stacked bars per year, and a 0–100 line on the right axis.
fn stacked(title: &str, years: &[i32], series: &[Series], y_desc: &str, line: Option<(&str, &[Option<f64>])>) -> Result<String, String> {
    let (Some(&from), Some(&to)) = (years.first(), years.last()) else {
        return Ok(String::new());
    };
    // A one-year range has no width to draw a bar in: add an empty segment after it.
    let last = if from == to { to + 1 } else { to };
    let top = (0..years.len()).map(|i| series.iter().map(|s| s.values[i]).sum::<f64>()).fold(0.0_f64, f64::max);
    let y_max = (top * 1.25).max(1.0);
    draw_svg((760, 340), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 18))
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(60)
            .right_y_label_area_size(if line.is_some() { 44 } else { 0 })
            .build_cartesian_2d((from..last).into_segmented(), 0f64..y_max)
            .map_err(err)?
            .set_secondary_coord((from..last).into_segmented(), 0f64..100f64);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .x_labels(years.len() + 1)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(y) if *y <= to => y.to_string(),
                _ => String::new(),
            })
            .y_desc(y_desc)
            .y_label_formatter(&|v| fmt::trimmed(*v, 1))
            .draw()
            .map_err(err)?;
        for (k, s) in series.iter().enumerate() {
            let below: Vec<f64> = (0..years.len()).map(|i| series[..k].iter().map(|s| s.values[i]).sum()).collect();
            chart
                .draw_series(years.iter().enumerate().map(|(i, &y)| {
                    let mut bar = Rectangle::new([(SegmentValue::Exact(y), below[i]), (SegmentValue::Exact(y + 1), below[i] + s.values[i])], s.colour.filled());
                    bar.set_margin(0, 0, 10, 10);
                    bar
                }))
                .map_err(err)?;
        }
        let mut legend: Vec<(String, RGBColor)> = series.iter().map(|s| (s.label.clone(), s.colour)).collect();
        if let Some((label, values)) = &line {
            chart.configure_secondary_axes().y_label_formatter(&|v| format!("{v:.0}%")).draw().map_err(err)?;
            let c = RGBColor(0x33, 0x33, 0x33);
            let points: Vec<(SegmentValue<i32>, f64)> = years.iter().zip(values.iter()).filter_map(|(&y, v)| v.map(|v| (SegmentValue::CenterOf(y), v))).collect();
            chart.draw_secondary_series(LineSeries::new(points.clone(), c.stroke_width(2))).map_err(err)?;
            chart.draw_secondary_series(points.into_iter().map(|p| Circle::new(p, 3, c.filled()))).map_err(err)?;
            legend.push(((*label).to_owned(), c));
        }
        for (k, (label, c)) in legend.iter().enumerate() {
            let y = 34 + i32::try_from(k).unwrap_or(0) * 18;
            root.draw(&Rectangle::new([(90, y), (102, y + 12)], c.filled())).map_err(err)?;
            root.draw(&Text::new(label.clone(), (108, y), (FONT, 13))).map_err(err)?;
        }
        Ok(())
    })
}

fn years(r: &ProgrammeReport) -> Vec<i32> {
    r.programme.by_year.iter().map(|b| b.year).collect()
}

/// Estates per batch and the share of the old stock done.
///
/// # Errors
/// plotters' message.
#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
pub fn batches(r: &ProgrammeReport) -> Result<String, String> {
    let lang = r.lang;
    let years = years(r);
    let estates = Series { label: lang.pick("estates in the batch", "批次改造小区（个）").into(), colour: colour(0), values: r.programme.by_year.iter().map(|b| b.totals.estates as f64).collect() };
    // The stock line where the progress table has the year (from `from` on).
    let cumulative: Vec<Option<f64>> = years.iter().map(|y| r.programme.progress.iter().find(|p| p.year == *y && p.district.is_none()).and_then(|p| p.stock_done_pct)).collect();
    let line = cumulative.iter().any(Option::is_some).then_some((lang.pick("old stock done (%)", "累计占存量（%）"), cumulative.as_slice()));
    stacked(lang.pick("Estates per batch", "各年度改造小区数"), &years, &[estates], lang.pick("estates", "小区（个）"), line)
}

/// Money by source per batch, by the rules.
///
/// # Errors
/// plotters' message.
pub fn funding(r: &ProgrammeReport) -> Result<String, String> {
    let lang = r.lang;
    let years = years(r);
    let series: Vec<Series> = r
        .programme
        .sources
        .iter()
        .enumerate()
        .map(|(k, s)| Series {
            label: r.source_label(s),
            colour: colour(k),
            values: r.programme.by_year.iter().map(|b| fmt::money_in_unit(lang, b.totals.funding_yuan.get(s).copied().unwrap_or(0.0))).collect(),
        })
        .collect();
    let title = match lang {
        Lang::Zh => "各年度资金分担（万元）".to_owned(),
        Lang::En => format!("Funding by source per batch ({})", fmt::money_unit(lang)),
    };
    stacked(&title, &years, &series, fmt::money_unit(lang), None)
}

/// Projects passing, failing and not yet surveyed per batch.
///
/// # Errors
/// plotters' message.
#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
pub fn gate(r: &ProgrammeReport) -> Result<String, String> {
    let lang = r.lang;
    let years = years(r);
    let count = |g: Gate| r.programme.by_year.iter().map(|b| match g { Gate::Passed => b.totals.gate_passed, Gate::Failed => b.totals.gate_failed, Gate::NoSurvey => b.totals.no_survey } as f64).collect();
    let series = [
        Series { label: super::table::gate_label(lang, Gate::Passed).into(), colour: GATE_COLOURS[0], values: count(Gate::Passed) },
        Series { label: super::table::gate_label(lang, Gate::Failed).into(), colour: GATE_COLOURS[1], values: count(Gate::Failed) },
        Series { label: super::table::gate_label(lang, Gate::NoSurvey).into(), colour: GATE_COLOURS[2], values: count(Gate::NoSurvey) },
    ];
    stacked(lang.pick("Satisfaction gate per batch", "各年度满意度测评结果"), &years, &series, lang.pick("projects", "项目（个）"), None)
}
