//! `FacilityIndex`: bulk loading and the two queries the analysis makes (the range search also
//! through the flattened tree the coverage search walks), at 1k / 10k / 100k
//! facilities of a generated city (working CRS, metres).
//!
//! `cargo bench --bench index` (add `-- --quick` for a short run). Queries are made from the
//! bounding-box centres of 1,000 estates spread over the city, cycling through the kinds, as
//! the analysis does; `within` uses each kind's catalogue radius.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gapmap::index::FacilityIndex;
use gapmap::model::{Catalogue, Estate, KindId};

mod support;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// Queries per iteration of `nearest` and `within`.
const QUERIES: usize = 1_000;

/// [`QUERIES`] `(kind, point, radius)` queries from estates spread evenly over the id order
/// (ids grow outwards from the centre, so this samples the whole city; small cities repeat
/// estates, with other kinds).
fn queries(estates: &[Estate], catalogue: &Catalogue) -> Vec<(KindId, geo::Coord<f64>, f64)> {
    (0..QUERIES)
        .map(|i| {
            let estate = &estates[i * estates.len() / QUERIES];
            let k = i % catalogue.len();
            let kind = KindId(u16::try_from(k).expect("few kinds"));
            let centre = estate.bounds().expect("generated estates are not empty").center();
            (kind, centre, catalogue.kinds[k].radius_m)
        })
        .collect()
}

fn bench_index(c: &mut Criterion) {
    let catalogue = support::catalogue();
    let kinds = catalogue.len();
    let mut build = c.benchmark_group("index_build");
    support::fast_group(&mut build);
    let mut cities = Vec::new();
    for n in support::sizes(&SIZES) {
        let files = support::CityFiles::write(n.div_ceil(support::FACILITIES_PER_ESTATE), n);
        let loaded = files.load(&catalogue);
        assert_eq!(loaded.facilities.len(), n);
        if n >= 100_000 {
            build.sample_size(10);
        }
        build.throughput(Throughput::Elements(support::count(n)));
        build.bench_with_input(BenchmarkId::from_parameter(n), &loaded.facilities, |b, facilities| {
            b.iter(|| FacilityIndex::build(black_box(facilities), kinds, None));
        });
        let index = FacilityIndex::build(&loaded.facilities, kinds, None);
        let queries = queries(&loaded.estates, &catalogue);
        cities.push((n, index, queries));
    }
    build.finish();

    let mut nearest = c.benchmark_group("index_nearest");
    support::fast_group(&mut nearest);
    for (n, index, queries) in &cities {
        nearest.throughput(Throughput::Elements(support::count(queries.len())));
        nearest.bench_with_input(BenchmarkId::from_parameter(n), &(index, queries), |b, (index, queries)| {
            b.iter(|| {
                let mut found = 0.0;
                for &(kind, xy, _) in *queries {
                    if let Some((_, d_m)) = index.nearest(kind, black_box(xy)) {
                        found += d_m;
                    }
                }
                black_box(found)
            });
        });
    }
    nearest.finish();

    let mut within = c.benchmark_group("index_within");
    support::fast_group(&mut within);
    for (n, index, queries) in &cities {
        within.throughput(Throughput::Elements(support::count(queries.len())));
        within.bench_with_input(BenchmarkId::from_parameter(n), &(index, queries), |b, (index, queries)| {
            b.iter(|| {
                let mut found = 0usize;
                for &(kind, xy, radius_m) in *queries {
                    found += index.within(kind, black_box(xy), radius_m).count();
                }
                black_box(found)
            });
        });
    }
    within.finish();

    // The same searches through the flattened copy the coverage search walks (same results,
    // same order: `index::packed` tests it against rstar).
    let mut packed = c.benchmark_group("index_within_packed");
    support::fast_group(&mut packed);
    for (n, index, queries) in &cities {
        packed.throughput(Throughput::Elements(support::count(queries.len())));
        packed.bench_with_input(BenchmarkId::from_parameter(n), &(index, queries), |b, (index, queries)| {
            let mut stack = Vec::new();
            b.iter(|| {
                let mut found = 0usize;
                for &(kind, xy, radius_m) in *queries {
                    let xy = black_box(xy);
                    index.packed(kind).within_distance([xy.x, xy.y], radius_m * radius_m, &mut stack, |_, _| found += 1);
                }
                black_box(found)
            });
        });
    }
    packed.finish();
}

criterion_group!(benches, bench_index);
criterion_main!(benches);
