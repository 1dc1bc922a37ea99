//! Setup shared by the criterion benches: deterministic generated cities written to a temporary
//! directory and loaded through the real pipeline (GeoJSON reader, validation, PROJ
//! reprojection to the working CRS), as `gapmap generate` + `gapmap analyze` would.
//!
//! Nothing is committed and nothing comes from the network (martin `benches/geojson_tiles.rs`):
//! the same [`SEED`] and sizes give the same inputs, bit for bit, on every machine.
#![allow(dead_code, reason = "each bench binary uses a different subset")]

use std::path::PathBuf;
use std::time::Duration;

use criterion::{BenchmarkGroup, SamplingMode};
use criterion::measurement::WallTime;
use gapmap::config::SourceConfig;
use gapmap::generate::{CityParams, CityPlan};
use gapmap::io::load::{load, LoadOptions, Loaded};
use gapmap::model::Catalogue;

/// Seed of every generated bench city (rstar-benches `SEED_1`): fixed so that runs compare.
pub const SEED: u64 = 2021;

/// Facilities per estate in the generated cities: about three gives realistic gaps.
pub const FACILITIES_PER_ESTATE: usize = 3;

/// Largest input used when criterion only smoke-tests the closures.
const TEST_MODE_MAX: usize = 1_000;

/// Whether criterion is measuring: `cargo bench` passes `--bench`, while `cargo test
/// --all-targets` runs each closure once without it (criterion's test mode, also chosen by
/// `cargo bench -- --test`).
#[must_use]
pub fn measuring() -> bool {
    let flag = |name: &str| std::env::args().any(|a| a == name);
    flag("--bench") && !flag("--test")
}

/// The sizes to run: all of them when measuring; in test mode one small size (the smallest,
/// at most 1,000), because the unoptimised test build would spend minutes generating and
/// loading the large inputs just to run each closure once.
#[must_use]
pub fn sizes(all: &[usize]) -> Vec<usize> {
    if measuring() {
        all.to_vec()
    } else {
        all.iter().copied().min().map(|n| n.min(TEST_MODE_MAX)).into_iter().collect()
    }
}

/// `n` as a criterion throughput count.
#[must_use]
pub fn count(n: usize) -> u64 {
    u64::try_from(n).expect("a count fits u64")
}

/// Sets the timing of a group whose iterations take from milliseconds to seconds: a short
/// warm-up, about 5 s of measurement and few samples, so a whole bench stays within minutes on
/// a shared 2-core machine. Flat sampling suits slow iterations (criterion's advice).
pub fn slow_group(group: &mut BenchmarkGroup<'_, WallTime>, samples: usize) {
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(samples);
    group.sampling_mode(SamplingMode::Flat);
}

/// Sets the timing of a group of fast iterations (microseconds to a few milliseconds).
pub fn fast_group(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(20);
}

/// The built-in GB 50180-2018 catalogue, whose kinds are the generator's.
#[must_use]
pub fn catalogue() -> Catalogue {
    gapmap::io::catalogue::builtin_catalogue()
}

/// A generated city written as `estates.geojson` and `facilities.geojson` (CRS84) in a
/// temporary directory, removed on drop.
pub struct CityFiles {
    dir: tempfile::TempDir,
    /// Number of estates written.
    pub estates: usize,
    /// Number of facilities written.
    pub facilities: usize,
}

impl CityFiles {
    /// Generates the city for [`SEED`] and writes it, streamed as `gapmap generate` does.
    ///
    /// # Panics
    /// When the temporary directory or a file cannot be written.
    #[must_use]
    pub fn write(estates: usize, facilities: usize) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let plan = CityPlan::new(&CityParams { estates, facilities, seed: SEED, ..CityParams::default() });
        gapmap::io::geojson::write_feature_collection(&dir.path().join("estates.geojson"), plan.estates(), Some("estates"))
            .expect("estates.geojson written");
        gapmap::io::geojson::write_feature_collection(&dir.path().join("facilities.geojson"), plan.facilities(), Some("facilities"))
            .expect("facilities.geojson written");
        Self { dir, estates, facilities }
    }

    /// The estates source.
    #[must_use]
    pub fn estates_source(&self) -> SourceConfig {
        SourceConfig::from_path(self.dir.path().join("estates.geojson"))
    }

    /// The facilities source.
    #[must_use]
    pub fn facilities_source(&self) -> SourceConfig {
        SourceConfig::from_path(self.dir.path().join("facilities.geojson"))
    }

    /// A path for output files inside the temporary directory.
    #[must_use]
    pub fn out_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Loads estates and facilities through the real pipeline.
    #[must_use]
    pub fn load(&self, catalogue: &Catalogue) -> Loaded {
        load_sources(&self.estates_source(), &[self.facilities_source()], catalogue)
    }
}

/// [`gapmap::io::load::load`] with the CLI's defaults (CRS84 input, working CRS chosen from
/// the data), asserting that the generated data loads without rejections.
///
/// # Panics
/// On a load error or any rejected feature: generated data must be clean.
#[must_use]
pub fn load_sources(estates: &SourceConfig, facilities: &[SourceConfig], catalogue: &Catalogue) -> Loaded {
    let options = LoadOptions { catalogue, default_crs: None, working_crs: None };
    let loaded = load(estates, facilities, &options, &|_| {}).expect("generated data loads");
    assert!(!loaded.report.has_rejections(), "generated data has rejections: {:?}", loaded.report.rejected.first());
    loaded
}

/// Generates, writes and loads a city of `estates` estates and three times as many facilities.
#[must_use]
pub fn loaded_city(estates: usize, catalogue: &Catalogue) -> (CityFiles, Loaded) {
    let files = CityFiles::write(estates, FACILITIES_PER_ESTATE * estates);
    let loaded = files.load(catalogue);
    (files, loaded)
}
