//! `gapmap generate`: a deterministic synthetic city as estates and facilities GeoJSON, and with
//! `--streets` its street network.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::spinner;
use crate::generate::{CityParams, CityPlan};
use crate::io;

/// Options of `gapmap generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of estates.
    #[arg(long, default_value_t = 3000)]
    pub estates: usize,
    /// Number of facilities.
    #[arg(long, default_value_t = 9000)]
    pub facilities: usize,
    /// Random seed; the same seed gives the same city on every machine.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// City centre as `LON,LAT` (default Shijiazhuang 114.51,38.04).
    #[arg(long, value_parser = parse_lonlat)]
    pub centre: Option<(f64, f64)>,
    /// Output directory; writes estates.geojson and facilities.geojson.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write streets.geojson: the street grid between the blocks (highway, bridge, tunnel),
    /// for `analyze --metric network --network streets.geojson`. The estates and facilities are
    /// the same with or without it.
    #[arg(long)]
    pub streets: bool,
}

/// `LON,LAT` for `--centre`.
fn parse_lonlat(s: &str) -> Result<(f64, f64), String> {
    let (lon, lat) = s.split_once(',').ok_or("expected LON,LAT")?;
    let lon: f64 = lon.trim().parse().map_err(|_| format!("`{lon}` is not a longitude"))?;
    let lat: f64 = lat.trim().parse().map_err(|_| format!("`{lat}` is not a latitude"))?;
    if lon.abs() > 180.0 || lat.abs() > 90.0 {
        return Err("longitude must be within ±180 and latitude within ±90".into());
    }
    Ok((lon, lat))
}

/// Runs `gapmap generate`: writes estates.geojson and facilities.geojson (and streets.geojson
/// with `--streets`) into `--out`.
pub(super) fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    let mut params = CityParams { estates: args.estates, facilities: args.facilities, seed: args.seed, ..CityParams::default() };
    if let Some(c) = args.centre {
        params.centre_lonlat = c;
    }
    let bar = spinner("laying out the city");
    // Streamed feature by feature: a 300,000-estate city never sits in memory as features.
    let plan = CityPlan::new(&params);
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    bar.set_message("writing estates.geojson");
    io::geojson::write_feature_collection(&args.out.join("estates.geojson"), plan.estates(), Some("estates"))?;
    bar.set_message("writing facilities.geojson");
    io::geojson::write_feature_collection(&args.out.join("facilities.geojson"), plan.facilities(), Some("facilities"))?;
    let mut streets = 0usize;
    if args.streets {
        bar.set_message("writing streets.geojson");
        io::geojson::write_feature_collection(&args.out.join("streets.geojson"), plan.streets().inspect(|_| streets += 1), Some("streets"))?;
    }
    bar.finish_and_clear();
    if args.streets {
        eprintln!("wrote {} estates, {} facilities and {streets} streets to {}", params.estates, params.facilities, args.out.display());
    } else {
        eprintln!("wrote {} estates and {} facilities to {}", params.estates, params.facilities, args.out.display());
    }
    Ok(())
}
