//! `compute_coverage` at 1k / 10k / 100k estates with three facilities per estate, measured from
//! the boundary (the default) and from the centroid; and a `compare` group that runs the
//! current algorithm against a brute-force O(n·m) reference on 1k estates, asserting equal
//! nearest distances inside every iteration (geo-benches `utils/compare_impl.rs`).
//!
//! `cargo bench --bench analysis` (add `-- --quick` for a short run). The index is built in
//! setup; only the analysis is timed. Both sides of `compare` run in parallel with rayon, so the
//! comparison is of algorithms, not of core counts.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gapmap::analysis::{
    compute_coverage, point_multipolygon_distance_m, StraightLine, CoverageTable, DistanceFrom, RecordedHouseholds,
};
use gapmap::index::FacilityIndex;
use gapmap::model::{Catalogue, Estate, Facility, KindId};
use rayon::prelude::*;

mod support;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// Estates in the `compare` group: the reference is quadratic.
const COMPARE_ESTATES: usize = 1_000;

/// Nearest distances may differ by this much between implementations (metres): both use
/// `point_multipolygon_distance_m` today, so they agree exactly, but a future algorithm that
/// measures differently (e.g. through `geo::Euclidean`) may round differently.
const TOLERANCE_M: f64 = 1e-6;

fn coverage(
    estates: &[Estate],
    index: &FacilityIndex,
    catalogue: &Catalogue,
    distance_from: DistanceFrom,
) -> CoverageTable {
    let metric = StraightLine::with_index(&[], index, distance_from);
    compute_coverage(estates, &metric, catalogue, None, &RecordedHouseholds, &()).expect("index matches catalogue")
}

fn bench_coverage(c: &mut Criterion) {
    let catalogue = support::catalogue();
    let mut group = c.benchmark_group("compute_coverage");
    support::slow_group(&mut group, 20);
    for n in support::sizes(&SIZES) {
        let (_files, loaded) = support::loaded_city(n, &catalogue);
        let index = FacilityIndex::build(&loaded.facilities, catalogue.len(), None);
        if n >= 100_000 {
            group.sample_size(10);
        }
        group.throughput(Throughput::Elements(support::count(n)));
        for distance_from in [DistanceFrom::Boundary, DistanceFrom::Centroid] {
            group.bench_with_input(BenchmarkId::new(distance_from.as_str(), n), &loaded, |b, loaded| {
                b.iter(|| coverage(black_box(&loaded.estates), &index, &catalogue, distance_from));
            });
        }
    }
    group.finish();
}

/// The reference: every estate against every facility, nearest boundary distance per kind
/// (`None` for a kind without facilities), estate-major like [`CoverageTable`].
fn brute_force_nearest(estates: &[Estate], facilities: &[Facility], kinds: usize) -> Vec<Option<f64>> {
    estates
        .par_iter()
        .flat_map_iter(|estate| {
            let mut row: Vec<Option<f64>> = vec![None; kinds];
            for f in facilities {
                let d_m = point_multipolygon_distance_m(f.location.0, &estate.geometry);
                let slot = &mut row[f.kind.index()];
                if slot.is_none_or(|best| d_m < best) {
                    *slot = Some(d_m);
                }
            }
            row
        })
        .collect()
}

/// Panics unless the table's nearest distances equal the reference's.
fn assert_same_nearest(table: &CoverageTable, reference: &[Option<f64>]) {
    let kinds = table.kinds();
    assert_eq!(table.estates() * kinds, reference.len());
    for (i, expected) in reference.iter().enumerate() {
        let kind = KindId(u16::try_from(i % kinds).expect("few kinds"));
        let got = table.get(i / kinds, kind).nearest.map(|n| n.distance_m);
        let same = match (got, expected) {
            (Some(a), Some(b)) => (a - b).abs() <= TOLERANCE_M,
            (None, None) => true,
            _ => false,
        };
        assert!(same, "estate {} kind {}: rtree {got:?}, brute force {expected:?}", i / kinds, kind.index());
    }
}

fn bench_compare(c: &mut Criterion) {
    let catalogue = support::catalogue();
    let (_files, loaded) = support::loaded_city(COMPARE_ESTATES, &catalogue);
    let (estates, facilities) = (&loaded.estates, &loaded.facilities);
    let index = FacilityIndex::build(facilities, catalogue.len(), None);
    // Each side is checked against the other's output, computed once here.
    let expected_table = coverage(estates, &index, &catalogue, DistanceFrom::Boundary);
    let expected_reference = brute_force_nearest(estates, facilities, catalogue.len());
    assert_same_nearest(&expected_table, &expected_reference);

    let mut group = c.benchmark_group("compare");
    support::slow_group(&mut group, 20);
    group.throughput(Throughput::Elements(support::count(estates.len())));
    group.bench_with_input(BenchmarkId::new("rtree", estates.len()), &loaded, |b, loaded| {
        b.iter(|| {
            let table = coverage(black_box(&loaded.estates), &index, &catalogue, DistanceFrom::Boundary);
            assert_same_nearest(&table, &expected_reference);
            table
        });
    });
    group.bench_with_input(BenchmarkId::new("brute_force", estates.len()), &loaded, |b, loaded| {
        b.iter(|| {
            let reference = brute_force_nearest(black_box(&loaded.estates), &loaded.facilities, catalogue.len());
            assert_same_nearest(&expected_table, &reference);
            reference
        });
    });
    group.finish();
}

criterion_group!(benches, bench_coverage, bench_compare);
criterion_main!(benches);
