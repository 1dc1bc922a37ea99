//! Input and output: `io::load::load` of generated estates files (GeoJSON read, validation,
//! reprojection from CRS84 to the auto-chosen working CRS) at 10k / 100k estates, and
//! `io::write::write_coverage_csv` of the 10k-estate coverage table.
//!
//! `cargo bench --bench io` (add `-- --quick` for a short run). Files live in a temporary
//! directory made in setup, so the page cache is warm: this measures parsing and conversion,
//! not the disk.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gapmap::analysis::{compute_coverage, DistanceFrom, RecordedHouseholds, StraightLine};
use gapmap::index::FacilityIndex;
use gapmap::io::write::{write_coverage_csv, Results};

mod support;

const LOAD_SIZES: [usize; 2] = [10_000, 100_000];

/// Estates of the coverage table written as CSV.
const CSV_ESTATES: usize = 10_000;

fn bench_load(c: &mut Criterion) {
    let catalogue = support::catalogue();
    let mut group = c.benchmark_group("load_estates");
    // A 10k load takes about 0.2 s: ten samples already fill the 5 s.
    support::slow_group(&mut group, 10);
    for n in support::sizes(&LOAD_SIZES) {
        let files = support::CityFiles::write(n, 0);
        let source = files.estates_source();
        let bytes = std::fs::metadata(&source.path).expect("estates.geojson exists").len();
        group.throughput(Throughput::Bytes(bytes));
        group.bench_with_input(BenchmarkId::from_parameter(n), &source, |b, source| {
            b.iter(|| {
                let loaded = support::load_sources(black_box(source), &[], &catalogue);
                assert_eq!(loaded.estates.len(), n);
                loaded
            });
        });
    }
    group.finish();
}

fn bench_write_csv(c: &mut Criterion) {
    let catalogue = support::catalogue();
    let n = support::sizes(&[CSV_ESTATES])[0];
    let (files, loaded) = support::loaded_city(n, &catalogue);
    let index = FacilityIndex::build(&loaded.facilities, catalogue.len(), None);
    let table = compute_coverage(&loaded.estates, &StraightLine::with_index(&loaded.facilities, &index, DistanceFrom::Boundary), &catalogue, None, &RecordedHouseholds, &())
        .expect("index matches catalogue");
    let results = Results {
        estates: &loaded.estates,
        facilities: &loaded.facilities,
        table: &table,
        catalogue: &catalogue,
        working_crs: &loaded.working_crs,
    };
    let out = files.out_path("coverage.csv");

    let mut group = c.benchmark_group("write_coverage_csv");
    support::slow_group(&mut group, 20);
    group.throughput(Throughput::Elements(support::count(n * catalogue.len())));
    group.bench_with_input(BenchmarkId::from_parameter(n), &results, |b, results| {
        b.iter(|| write_coverage_csv(black_box(&out), results).expect("CSV written"));
    });
    group.finish();
}

criterion_group!(benches, bench_load, bench_write_csv);
criterion_main!(benches);
