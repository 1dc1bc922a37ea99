//! The whole `gapmap analyze --out coverage.csv` path in process: load (GeoJSON, validation,
//! reprojection) → `FacilityIndex::build` → `compute_coverage` → `write_coverage_csv`, on a
//! generated city of 20,000 estates and 60,000 facilities, as `src/cli.rs` wires it.
//!
//! `cargo bench --bench pipeline`. The city is generated and written in setup; wall-clock time
//! and peak RSS of the release binary come from a whole-process script instead (STYLE §6).

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gapmap::analysis::{compute_coverage, AnalysisParams, RecordedHouseholds, StraightLine};
use gapmap::config::SourceConfig;
use gapmap::index::FacilityIndex;
use gapmap::io::write::{write_coverage_csv, Results};
use gapmap::model::Catalogue;

mod support;

const ESTATES: usize = 20_000;

/// Runs the pipeline; returns the number of estates analysed.
fn analyze(estates: &SourceConfig, facilities: &[SourceConfig], catalogue: &Catalogue, out: &Path) -> usize {
    let loaded = support::load_sources(estates, facilities, catalogue);
    let params = AnalysisParams::default();
    let index = FacilityIndex::build(&loaded.facilities, catalogue.len(), params.year);
    let metric = StraightLine::with_index(&loaded.facilities, &index, params.distance_from);
    let table = compute_coverage(&loaded.estates, &metric, catalogue, params.year, &RecordedHouseholds, &())
        .expect("index matches catalogue");
    let results = Results {
        estates: &loaded.estates,
        facilities: &loaded.facilities,
        table: &table,
        catalogue,
        working_crs: &loaded.working_crs,
    };
    write_coverage_csv(out, &results).expect("CSV written");
    table.estates()
}

fn bench_pipeline(c: &mut Criterion) {
    let catalogue = support::catalogue();
    let n = support::sizes(&[ESTATES])[0];
    let files = support::CityFiles::write(n, support::FACILITIES_PER_ESTATE * n);
    let (estates, facilities) = (files.estates_source(), [files.facilities_source()]);
    let out = files.out_path("coverage.csv");

    let mut group = c.benchmark_group("pipeline");
    support::slow_group(&mut group, 10);
    group.throughput(Throughput::Elements(support::count(n)));
    let id = BenchmarkId::new("analyze_csv", format!("{n}x{}", files.facilities));
    group.bench_function(id, |b| {
        b.iter(|| {
            let analysed = analyze(black_box(&estates), &facilities, &catalogue, &out);
            assert_eq!(analysed, n);
        });
    });
    group.finish();
}

criterion_group!(benches, bench_pipeline);
criterion_main!(benches);
