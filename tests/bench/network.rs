//! The walking network: building the street graph and the searches walking-distance coverage
//! makes, at 1k / 10k / 100k estates of a generated city with streets (`CityPlan::street_lines_m`,
//! local metric frame; about 6 graph edges per estate).
//!
//! `cargo bench --bench network` (add `-- --quick` for a short run).
//! - `network_build`: `StreetGraph::build` with 1 m snapping.
//! - `network_settle`: 1,000 bounded searches (`Scratch::settle`) from nodes spread over the
//!   city, at 300 m and at 1000 m (GB 50180-2018's 5- and 15-minute radii).
//! - `network_nearest_sources`: one multi-source search over the whole graph from 1 % of the
//!   nodes, as the nearest beyond the radius is found per kind.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gapmap::generate::{CityParams, CityPlan};
use gapmap::network::search::{nearest_sources, Scratch};
use gapmap::network::{GraphParams, StreetGraph};

mod support;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// Searches per iteration of `network_settle`.
const SEARCHES: usize = 1_000;

fn lines(estates: usize) -> Vec<geo::LineString<f64>> {
    CityPlan::new(&CityParams { estates, facilities: 3 * estates, seed: 2021, ..CityParams::default() }).street_lines_m()
}

fn bench_network(c: &mut Criterion) {
    let cities: Vec<(usize, Vec<geo::LineString<f64>>)> = support::sizes(&SIZES).into_iter().map(|n| (n, lines(n))).collect();
    let params = GraphParams { snap_m: 1.0 };

    let mut build = c.benchmark_group("network_build");
    support::slow_group(&mut build, 10);
    for (n, lines) in &cities {
        let edges = StreetGraph::build(lines, params).edges().len();
        build.throughput(Throughput::Elements(support::count(edges)));
        build.bench_with_input(BenchmarkId::from_parameter(n), lines, |b, lines| b.iter(|| StreetGraph::build(black_box(lines), params)));
    }
    build.finish();

    let graphs: Vec<(usize, StreetGraph)> = cities.iter().map(|(n, lines)| (*n, StreetGraph::build(lines, params))).collect();
    let mut settle = c.benchmark_group("network_settle");
    support::fast_group(&mut settle);
    settle.throughput(Throughput::Elements(support::count(SEARCHES)));
    for radius_m in [300.0, 1000.0] {
        for (n, graph) in &graphs {
            let nodes = graph.node_count();
            let starts: Vec<u32> = (0..SEARCHES).map(|i| u32::try_from(i * nodes / SEARCHES).expect("< 2^32 nodes")).collect();
            let mut scratch = Scratch::new(nodes);
            settle.bench_with_input(BenchmarkId::new(format!("{radius_m} m"), n), &starts, |b, starts| {
                b.iter(|| {
                    let mut settled = 0usize;
                    for &s in starts {
                        scratch.settle(graph, [(s, 0.0)], radius_m, |_, _| settled += 1);
                    }
                    black_box(settled)
                });
            });
        }
    }
    settle.finish();

    let mut nearest = c.benchmark_group("network_nearest_sources");
    support::slow_group(&mut nearest, 10);
    for (n, graph) in &graphs {
        let nodes = graph.node_count();
        let sources: Vec<(u32, f64, u32)> = (0..nodes / 100).map(|i| (u32::try_from(i * 100).expect("< 2^32 nodes"), 5.0, u32::try_from(i).expect("small"))).collect();
        nearest.throughput(Throughput::Elements(support::count(nodes)));
        nearest.bench_with_input(BenchmarkId::from_parameter(n), &sources, |b, sources| {
            b.iter(|| nearest_sources(graph, black_box(sources.iter().copied()), f64::INFINITY));
        });
    }
    nearest.finish();
}

criterion_group!(benches, bench_network);
criterion_main!(benches);
