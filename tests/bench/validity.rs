//! Polygon validity: the sweep (`gapmap::model::check_polygon`) on circular estates of 10k / 100k
//! / 1M vertices, on a 1M-vertex star (long spikes: half its segments cross the sweep line at
//! once, where an index over segment boxes would find O(n²) candidate pairs), and the O(n²)
//! `geo::Validation` it replaced, at 1k and 10k vertices (it takes over a minute at 100k).
//!
//! `cargo bench --bench validity` (add `-- --quick` for a short run).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gapmap::model::check_polygon;
use geo::{Coord, LineString, Polygon, Validation};

/// A closed ring of `n` positions round (0, 0), metres; `radius(i)` gives the i-th's distance.
fn ring(n: usize, radius: impl Fn(usize) -> f64) -> Polygon<f64> {
    #[expect(clippy::cast_precision_loss, reason = "n is far below 2^52")]
    let step = std::f64::consts::TAU / n as f64;
    let coords: Vec<Coord<f64>> = (0..n)
        .map(|i| {
            #[expect(clippy::cast_precision_loss, reason = "i is far below 2^52")]
            let angle = step * i as f64;
            Coord { x: radius(i) * angle.cos(), y: radius(i) * angle.sin() }
        })
        .collect();
    Polygon::new(LineString::from(coords), vec![])
}

fn circle(n: usize) -> Polygon<f64> {
    ring(n, |_| 500.0)
}

fn star(n: usize) -> Polygon<f64> {
    ring(n, |i| if i % 2 == 0 { 10.0 } else { 1_000.0 })
}

fn bench_validity(c: &mut Criterion) {
    let mut group = c.benchmark_group("validity_sweep");
    group.sample_size(10);
    for n in [10_000, 100_000, 1_000_000] {
        let polygon = circle(n);
        assert_eq!(check_polygon(&polygon), Ok(()));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("circle", n), &polygon, |b, p| b.iter(|| check_polygon(black_box(p))));
    }
    let n = 1_000_000;
    let polygon = star(n);
    assert_eq!(check_polygon(&polygon), Ok(()));
    group.throughput(Throughput::Elements(n as u64));
    group.bench_with_input(BenchmarkId::new("star", n), &polygon, |b, p| b.iter(|| check_polygon(black_box(p))));
    group.finish();

    let mut group = c.benchmark_group("validity_geo");
    group.sample_size(10);
    for n in [1_000, 10_000] {
        let polygon = circle(n);
        // The same answer as the sweep, on the same input.
        assert_eq!(polygon.is_valid(), check_polygon(&polygon).is_ok());
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("circle", n), &polygon, |b, p| b.iter(|| black_box(p).is_valid()));
    }
    group.finish();
}

criterion_group!(benches, bench_validity);
criterion_main!(benches);
