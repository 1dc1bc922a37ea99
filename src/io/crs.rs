//! Coordinate reference systems: parsing CRS names, GCJ-02 / BD-09 conversion, choosing the
//! metric working CRS, and PROJ transformations (one `Proj` per thread, never shared).
//!
//! # Why gapmap converts GCJ-02 and BD-09 itself
//! OSM and GPS data are WGS84; `AMap` (高德) and Tencent publish GCJ-02; Baidu publishes BD-09.
//! Mixing them shifts points by 300–500 m, as much as the service radii being checked. GCJ-02
//! and BD-09 have no EPSG code and PROJ does not implement them, so this module does: a source
//! declared as [`CrsSpec::Gcj02`] or [`CrsSpec::Bd09`] is converted to WGS84 first and then
//! handed to PROJ as `EPSG:4326`.
//!
//! # GCJ-02 algorithm
//! [`wgs84_to_gcj02`] is the standard published reconstruction of the official obfuscation
//! (the `transformLat` / `transformLon` polynomials with sine terms, evaluated at
//! `(lon − 105°, lat − 35°)` and scaled to degrees on the Krasovsky 1940 ellipsoid,
//! a = 6 378 245 m, e² = 0.006 693 421 622 965 943 23). Outside China's rough bounding box
//! (lon 72.004°–137.8347°, lat 0.8293°–55.8271°, see [`in_china_bbox`]) coordinates are returned
//! unchanged, as every published implementation does. That box is a rectangle: it also
//! contains Korea, western Japan and parts of China's other neighbours, where the formula is
//! applied too. The official implementation is not public; this module reproduces the
//! published formula exactly (to ~1e-12° against `coord-convert` 0.2.1 in the tests), but its
//! agreement with `AMap`'s or Tencent's own servers is not verified here.
//!
//! The offset is a smooth function whose derivative is about 0.01 degree per degree, so
//! [`gcj02_to_wgs84`] inverts it by fixed-point iteration, `wgs ← wgs − (gcj(wgs) − gcj)`,
//! starting at `wgs = gcj`. Each step divides the error by roughly a hundred; iteration stops
//! when the residual `|gcj(wgs) − gcj|` is below 1e-10° in both axes (about 0.01 mm), which
//! takes 2–4 steps over mainland China, and after 30 steps at most. The result is exact to better than 1e-9° with
//! respect to the forward formula. The common single-step inverse (`gcj − offset(gcj)`) is off by
//! up to about 5 m, which is why it is not used.
//!
//! # BD-09 algorithm
//! [`gcj02_to_bd09`] is Baidu's published forward formula on top of GCJ-02, a small polar
//! perturbation with `x_pi = π·3000/180`: `z = √(x² + y²) + 2e-5·sin(y·x_pi)`,
//! `θ = atan2(y, x) + 3e-6·cos(x·x_pi)`, `bd = (z·cos θ + 0.0065, z·sin θ + 0.006)`. The widely
//! copied closed-form inverse is only approximate (errors up to 1.8e-6°, about 0.2 m), so
//! [`bd09_to_gcj02`] uses it as the starting point of the same fixed-point iteration as GCJ-02
//! (residual < 1e-10°, at most 30 steps). Like GCJ-02, BD-09 leaves coordinates outside China's
//! box unchanged (the behaviour of `eviltransform`), so that "BD-09 outside China" means "WGS84".
//!
//! # Working CRS
//! Distances are measured in a metric, conformal, low-distortion projection chosen by
//! [`working_crs_for`]: a 3-degree Gauss-Krüger zone on CGCS2000 (China's national geodetic
//! system) inside China, whose scale error stays below 0.035 % within ±1.5° of the central
//! meridian; UTM elsewhere. Never EPSG:3857: Web Mercator's scale factor is 1/cos(lat), so at 38°N 1 km reads as
//! about 1.27 km, which would silently shrink every service radius.
//!
//! # Threads
//! `proj::Proj` wraps a C handle that must not cross threads. [`Transformer`] therefore stores
//! CRS strings only (it is `Send + Sync`); each rayon task converting a chunk of coordinates gets
//! its `Proj` from a small per-thread cache. Building a `Proj` costs several milliseconds (a PROJ
//! context plus database look-ups), so the cache makes repeated small calls (one page of results,
//! one centre point) cheap; a `Proj` never leaves the thread that built it.

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;

use geo::{coord, Coord, Rect};
use proj::Proj;
use rayon::prelude::*;

use super::LoadError;

/// What a user should write instead of an unknown CRS.
const CRS_HINT: &str = "use an EPSG code such as EPSG:4547, CRS84, GCJ-02 or BD-09";

/// Coordinates per rayon task in [`Transformer::apply`]; each task needs a `Proj` (cached per
/// thread, several ms to build), so chunks must be large enough to amortise a miss.
const CHUNK_LEN: usize = 32_768;

/// `Proj` objects kept per thread. Each holds a PROJ context with its own database handle, so
/// the cache stays small.
const PROJ_CACHE_LEN: usize = 4;

thread_local! {
    /// This thread's recently used `(from, to, Proj)`, most recently built last.
    static PROJ_CACHE: RefCell<Vec<(String, String, Proj)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's `Proj` from `from` to `to` (axis order normalised to lon/lat and
/// easting/northing), building and caching it on first use.
fn with_proj<R>(
    from: &str,
    to: &str,
    f: impl FnOnce(&Proj) -> R,
) -> Result<R, proj::ProjCreateError> {
    PROJ_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let index = if let Some(i) = cache.iter().position(|(a, b, _)| a == from && b == to) {
            i
        } else {
            let proj = Proj::new_known_crs(from, to, None)?;
            if cache.len() == PROJ_CACHE_LEN {
                cache.remove(0);
            }
            cache.push((from.to_owned(), to.to_owned(), proj));
            cache.len() - 1
        };
        Ok(f(&cache[index].2))
    })
}

/// How far (degrees, about 50 km) data may extend beyond a CRS's area of use before
/// [`extent_warning`] complains: cities straddle zone edges, and a Gauss-Krüger or UTM zone is
/// still accurate half a degree outside its strip.
const EXTENT_MARGIN_DEG: f64 = 0.5;

/// Stop iterating an inverse once the forward residual is below this (degrees, ~0.01 mm).
const INVERSE_TOLERANCE_DEG: f64 = 1e-10;

/// Upper bound on inverse iterations (3–5 are needed in practice).
const INVERSE_MAX_ITERATIONS: usize = 30;

/// Krasovsky 1940 semi-major axis used by GCJ-02 (metres).
const KRASOVSKY_A: f64 = 6_378_245.0;

/// Krasovsky 1940 first eccentricity squared used by GCJ-02.
#[expect(
    clippy::excessive_precision,
    reason = "the published constant, kept verbatim"
)]
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943_23;

/// Baidu's angular scale for BD-09.
const X_PI: f64 = std::f64::consts::PI * 3000.0 / 180.0;

/// China's rough bounding box used by GCJ-02 and BD-09: (west, south, east, north), degrees.
const CHINA_BBOX: (f64, f64, f64, f64) = (72.004, 0.8293, 137.8347, 55.8271);

/// A source CRS as the user or file names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrsSpec {
    /// WGS84 longitude/latitude (`CRS84`, `OGC:CRS84`, `EPSG:4326`, `WGS84`).
    ///
    /// Coordinates are always read in longitude, latitude order, also for `EPSG:4326`
    /// (`GeoJSON` and GDAL's traditional GIS order).
    Crs84,
    /// China's obfuscated GCJ-02 (`AMap`, Tencent): converted to WGS84 by gapmap.
    Gcj02,
    /// Baidu's BD-09 (longitude/latitude, `bd09ll`): converted to WGS84 by gapmap.
    Bd09,
    /// Anything PROJ understands (`EPSG:4547`, WKT, PROJ strings), validated when parsed.
    ///
    /// EPSG codes are stored as `EPSG:NNNN`; other definitions as written (trimmed).
    Proj(String),
}

impl FromStr for CrsSpec {
    type Err = LoadError;

    /// Parses a CRS name, case-insensitively and ignoring surrounding white space.
    ///
    /// Accepts `CRS84`, `OGC:CRS84`, the OGC URN and URI of CRS84, `EPSG:4326`, `WGS84`,
    /// `WGS 84` (all [`CrsSpec::Crs84`]); `GCJ-02`, `GCJ02`; `BD-09`, `BD09`, `bd09ll`;
    /// `EPSG:NNNN` and its OGC URN (`urn:ogc:def:crs:EPSG::NNNN`) and URI
    /// (`http://www.opengis.net/def/crs/EPSG/0/NNNN`) forms; and any other definition PROJ
    /// understands (WKT, PROJ strings, `ESRI:…`).
    ///
    /// # Errors
    /// [`LoadError::Crs`] when the text is empty, names Baidu Mercator (`bd09mc`), or PROJ cannot
    /// build a transformation from it to WGS84; the message says what to write instead.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text.is_empty() {
            return Err(crs_error(s, format!("the CRS is empty; {CRS_HINT}")));
        }
        let lower = text.to_ascii_lowercase();
        let compact: String = lower
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '_'))
            .collect();
        match compact.as_str() {
            "crs84" | "ogc:crs84" | "crs:84" | "wgs84" | "epsg:4326" => return Ok(Self::Crs84),
            "gcj02" => return Ok(Self::Gcj02),
            "bd09" | "bd09ll" => return Ok(Self::Bd09),
            "bd09mc" => {
                return Err(crs_error(
                    text,
                    "Baidu Mercator (bd09mc) is not supported; request BD-09 longitude/latitude \
                     (bd09ll) from the Baidu API and declare it as BD-09"
                        .to_owned(),
                ))
            }
            _ => {}
        }
        if is_crs84_uri(&lower) {
            return Ok(Self::Crs84);
        }
        if let Some(code) = epsg_code(&lower) {
            if code == "4326" {
                return Ok(Self::Crs84);
            }
            let epsg = format!("EPSG:{code}");
            validate_with_proj(text, &epsg)?;
            return Ok(Self::Proj(epsg));
        }
        validate_with_proj(text, text)?;
        Ok(Self::Proj(text.to_owned()))
    }
}

impl fmt::Display for CrsSpec {
    /// Writes the CRS as it parses back: `CRS84`, `GCJ-02`, `BD-09` or the PROJ definition.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Crs84 => f.write_str("CRS84"),
            Self::Gcj02 => f.write_str("GCJ-02"),
            Self::Bd09 => f.write_str("BD-09"),
            Self::Proj(definition) => f.write_str(definition),
        }
    }
}

impl CrsSpec {
    /// Whether coordinates are longitude/latitude (degrees) rather than projected.
    ///
    /// [`CrsSpec::Crs84`], [`CrsSpec::Gcj02`] and [`CrsSpec::Bd09`] are geographic; for
    /// [`CrsSpec::Proj`] GDAL decides (`OSRIsGeographic`), and a definition GDAL cannot read
    /// counts as not geographic.
    #[must_use]
    pub fn is_geographic(&self) -> bool {
        match self {
            Self::Crs84 | Self::Gcj02 | Self::Bd09 => true,
            Self::Proj(definition) => gdal::spatial_ref::SpatialRef::from_definition(definition)
                .is_ok_and(|srs| srs.is_geographic()),
        }
    }

    /// The region where this CRS is meant to be used, as a WGS84 longitude/latitude box.
    ///
    /// The whole world for [`CrsSpec::Crs84`]; China's rough box (see [`in_china_bbox`]) for
    /// GCJ-02 and BD-09; the EPSG area of use reported by GDAL for [`CrsSpec::Proj`]. An area that
    /// crosses the antimeridian is returned with longitudes −180°..180°.
    ///
    /// # Units
    /// Degrees (x = longitude, y = latitude).
    ///
    /// Returns `None` when the definition carries no area of use (PROJ strings, WKT without an
    /// identifier).
    #[must_use]
    pub fn area_of_use_lonlat(&self) -> Option<Rect<f64>> {
        self.area_of_use().map(|(rect, _)| rect)
    }

    /// The area of use with its name.
    fn area_of_use(&self) -> Option<(Rect<f64>, String)> {
        match self {
            Self::Crs84 => Some((
                Rect::new(coord! { x: -180.0, y: -90.0 }, coord! { x: 180.0, y: 90.0 }),
                "world".to_owned(),
            )),
            Self::Gcj02 | Self::Bd09 => {
                let (west, south, east, north) = CHINA_BBOX;
                Some((
                    Rect::new(coord! { x: west, y: south }, coord! { x: east, y: north }),
                    "China's rough bounding box".to_owned(),
                ))
            }
            Self::Proj(definition) => {
                let srs = gdal::spatial_ref::SpatialRef::from_definition(definition).ok()?;
                let area = srs.area_of_use()?;
                let (west, east) = if area.west_lon_degree > area.east_lon_degree {
                    // Crosses the antimeridian: a Rect cannot express that, so claim all
                    // longitudes rather than the complement of the real area.
                    (-180.0, 180.0)
                } else {
                    (area.west_lon_degree, area.east_lon_degree)
                };
                let rect = Rect::new(
                    coord! { x: west, y: area.south_lat_degree },
                    coord! { x: east, y: area.north_lat_degree },
                );
                // EPSG area names end with a full stop; the name goes mid-sentence.
                let name = area.name.trim().trim_end_matches('.');
                let name = if name.is_empty() {
                    definition.clone()
                } else {
                    name.to_owned()
                };
                Some((rect, name))
            }
        }
    }

    /// The definition to give PROJ: `EPSG:4326` for CRS84, and for GCJ-02 and BD-09 once gapmap
    /// has converted them to WGS84; the definition itself for [`CrsSpec::Proj`].
    #[must_use]
    pub fn as_proj(&self) -> &str {
        match self {
            Self::Crs84 | Self::Gcj02 | Self::Bd09 => "EPSG:4326",
            Self::Proj(definition) => definition,
        }
    }
}

/// Builds a [`LoadError::Crs`].
fn crs_error(crs: &str, message: String) -> LoadError {
    LoadError::Crs {
        crs: crs.to_owned(),
        message,
    }
}

/// Whether `lower` is one of the OGC URN/URI spellings of CRS84.
fn is_crs84_uri(lower: &str) -> bool {
    let lower = lower.trim_end_matches('/');
    [
        "urn:ogc:def:crs:ogc:1.3:crs84",
        "urn:ogc:def:crs:ogc::crs84",
        "http://www.opengis.net/def/crs/ogc/1.3/crs84",
        "https://www.opengis.net/def/crs/ogc/1.3/crs84",
    ]
    .contains(&lower)
}

/// The EPSG code in `EPSG:NNNN`, `urn:ogc:def:crs:EPSG:[version]:NNNN` or
/// `http(s)://www.opengis.net/def/crs/EPSG/<version>/NNNN` (already lowercased).
fn epsg_code(lower: &str) -> Option<&str> {
    let code = if let Some(rest) = lower.strip_prefix("epsg:") {
        rest
    } else if let Some(rest) = lower.strip_prefix("urn:ogc:def:crs:epsg:") {
        let (version, code) = rest.rsplit_once(':')?;
        if !version.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return None;
        }
        code
    } else {
        let rest = lower
            .strip_prefix("http://www.opengis.net/def/crs/epsg/")
            .or_else(|| lower.strip_prefix("https://www.opengis.net/def/crs/epsg/"))?;
        let (version, code) = rest.trim_end_matches('/').split_once('/')?;
        if !version.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return None;
        }
        code
    };
    let code = code.trim();
    (!code.is_empty() && code.chars().all(|c| c.is_ascii_digit())).then_some(code)
}

/// Checks that PROJ can transform `definition` to WGS84; `written` names it in the error.
fn validate_with_proj(written: &str, definition: &str) -> Result<(), LoadError> {
    with_proj(definition, "EPSG:4326", |_| ()).map_err(|e| {
        crs_error(
            written,
            format!("PROJ does not understand it ({e}); {CRS_HINT}"),
        )
    })
}

/// Whether GCJ-02 and BD-09 shift this point: inside China's rough bounding box
/// (lon 72.004°..=137.8347°, lat 0.8293°..=55.8271°).
///
/// # Units
/// Degrees, x = longitude, y = latitude.
#[must_use]
pub fn in_china_bbox(lonlat: Coord<f64>) -> bool {
    let (west, south, east, north) = CHINA_BBOX;
    (west..=east).contains(&lonlat.x) && (south..=north).contains(&lonlat.y)
}

/// The published `transformLat` polynomial (x = lon − 105, y = lat − 35).
fn transform_lat(x: f64, y: f64) -> f64 {
    use std::f64::consts::PI;
    let mut ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    ret
}

/// The published `transformLon` polynomial (x = lon − 105, y = lat − 35).
fn transform_lon(x: f64, y: f64) -> f64 {
    use std::f64::consts::PI;
    let mut ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    ret
}

/// WGS84 → GCJ-02 with the standard published formula (see the module docs).
///
/// Points outside China's rough bounding box ([`in_china_bbox`]) are returned unchanged.
/// Inside mainland China the shift is typically 300–600 m (up to ~700 m).
///
/// # Units
/// Degrees in and out, x = longitude, y = latitude.
#[must_use]
pub fn wgs84_to_gcj02(lonlat: Coord<f64>) -> Coord<f64> {
    if !in_china_bbox(lonlat) {
        return lonlat;
    }
    let (lon, lat) = (lonlat.x, lonlat.y);
    let d_lat = transform_lat(lon - 105.0, lat - 35.0);
    let d_lon = transform_lon(lon - 105.0, lat - 35.0);
    let rad_lat = lat.to_radians();
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    let d_lat = (d_lat * 180.0)
        / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * std::f64::consts::PI);
    let d_lon = (d_lon * 180.0) / (KRASOVSKY_A / sqrt_magic * rad_lat.cos() * std::f64::consts::PI);
    coord! { x: lon + d_lon, y: lat + d_lat }
}

/// Inverts `forward` near `target` by fixed-point iteration from `start`: each step moves the
/// guess by minus the forward residual, until the residual is below [`INVERSE_TOLERANCE_DEG`] in
/// both axes or after [`INVERSE_MAX_ITERATIONS`] steps.
fn invert(
    forward: impl Fn(Coord<f64>) -> Coord<f64>,
    target: Coord<f64>,
    start: Coord<f64>,
) -> Coord<f64> {
    let mut guess = start;
    for _ in 0..INVERSE_MAX_ITERATIONS {
        let residual = forward(guess) - target;
        if residual.x.abs() < INVERSE_TOLERANCE_DEG && residual.y.abs() < INVERSE_TOLERANCE_DEG {
            break;
        }
        guess = guess - residual;
    }
    guess
}

/// GCJ-02 → WGS84: the inverse of [`wgs84_to_gcj02`] by fixed-point iteration.
///
/// Exact to better than 1e-9° (the forward residual is below 1e-10°, at most 30 iterations).
/// Points outside China's rough bounding box ([`in_china_bbox`]) are returned unchanged.
///
/// # Units
/// Degrees in and out, x = longitude, y = latitude.
#[must_use]
pub fn gcj02_to_wgs84(lonlat: Coord<f64>) -> Coord<f64> {
    // NaN and infinities are outside the box too, so the iteration never sees them.
    if !in_china_bbox(lonlat) {
        return lonlat;
    }
    invert(wgs84_to_gcj02, lonlat, lonlat)
}

/// GCJ-02 → BD-09 with Baidu's published formula (see the module docs).
///
/// Points outside China's rough bounding box ([`in_china_bbox`]) are returned unchanged.
///
/// # Units
/// Degrees in and out, x = longitude, y = latitude.
#[must_use]
pub fn gcj02_to_bd09(lonlat: Coord<f64>) -> Coord<f64> {
    if !in_china_bbox(lonlat) {
        return lonlat;
    }
    let (x, y) = (lonlat.x, lonlat.y);
    let z = x.hypot(y) + 0.000_02 * (y * X_PI).sin();
    let theta = y.atan2(x) + 0.000_003 * (x * X_PI).cos();
    coord! { x: z * theta.cos() + 0.0065, y: z * theta.sin() + 0.006 }
}

/// BD-09 → GCJ-02: the exact inverse of [`gcj02_to_bd09`].
///
/// Starts from the widely used closed-form inverse (error up to ~2e-6°) and refines it by
/// fixed-point iteration until the forward residual is below 1e-10°. Points outside China's rough
/// bounding box ([`in_china_bbox`]) are returned unchanged.
///
/// # Units
/// Degrees in and out, x = longitude, y = latitude.
#[must_use]
pub fn bd09_to_gcj02(lonlat: Coord<f64>) -> Coord<f64> {
    // NaN and infinities are outside the box too, so the iteration never sees them.
    if !in_china_bbox(lonlat) {
        return lonlat;
    }
    let x = lonlat.x - 0.0065;
    let y = lonlat.y - 0.006;
    let z = x.hypot(y) - 0.000_02 * (y * X_PI).sin();
    let theta = y.atan2(x) - 0.000_003 * (x * X_PI).cos();
    let closed_form = coord! { x: z * theta.cos(), y: z * theta.sin() };
    invert(gcj02_to_bd09, lonlat, closed_form)
}

/// WGS84 → BD-09: [`wgs84_to_gcj02`] then [`gcj02_to_bd09`].
///
/// # Units
/// Degrees in and out, x = longitude, y = latitude.
#[must_use]
pub fn wgs84_to_bd09(lonlat: Coord<f64>) -> Coord<f64> {
    gcj02_to_bd09(wgs84_to_gcj02(lonlat))
}

/// BD-09 → WGS84: [`bd09_to_gcj02`] then [`gcj02_to_wgs84`], both exact inverses.
///
/// # Units
/// Degrees in and out, x = longitude, y = latitude.
#[must_use]
pub fn bd09_to_wgs84(lonlat: Coord<f64>) -> Coord<f64> {
    gcj02_to_wgs84(bd09_to_gcj02(lonlat))
}

/// The metric working CRS for data whose WGS84 extent has this centre.
///
/// Inside China (lon 73.5°..=136.5°, lat 3°..=54°) the CGCS2000 3-degree Gauss-Krüger zone
/// without zone prefix in the easting, `EPSG:{4534 + (cm − 75)/3}` with central meridian
/// `cm = 3·round(lon/3)` clamped to 75°..=135° (EPSG:4534–4554; 114.5°E → EPSG:4547). CGCS2000
/// is China's national geodetic system (well under a metre from WGS84, so PROJ converts with a
/// null shift), and within ±1.5° of the central meridian the scale error stays below 0.035 %.
/// The box is a rectangle, so parts of neighbouring countries also get a CGCS2000 zone, which is
/// still metric and accurate there. Elsewhere the UTM zone on WGS84 (EPSG:326zz north, 327zz south;
/// the Norway and Svalbard exceptions are not applied). Never EPSG:3857, whose scale error is
/// 1/cos(lat) (27 % at 38°N).
///
/// # Units
/// `centre_lonlat` in degrees (x = longitude, y = latitude).
#[must_use]
pub fn working_crs_for(centre_lonlat: Coord<f64>) -> String {
    let (lon, lat) = (centre_lonlat.x, centre_lonlat.y);
    if (73.5..=136.5).contains(&lon) && (3.0..=54.0).contains(&lat) {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "lon/3 is within 24.5..=45.5 here"
        )]
        let cm = (3 * (lon / 3.0).round() as i32).clamp(75, 135);
        return format!("EPSG:{}", 4534 + (cm - 75) / 3);
    }
    let lon = if lon.is_finite() { lon } else { 0.0 };
    #[expect(
        clippy::cast_possible_truncation,
        reason = "clamped to 1..=60 right away"
    )]
    let zone = (((lon + 180.0) / 6.0).floor() as i32 + 1).clamp(1, 60);
    if lat < 0.0 {
        format!("EPSG:{}", 32_700 + zone)
    } else {
        format!("EPSG:{}", 32_600 + zone)
    }
}

/// A warning when data does not lie where its declared CRS is used, `None` when it does.
///
/// The data's bounding box (converted to longitude/latitude for projected CRSs) is compared with
/// [`CrsSpec::area_of_use_lonlat`] widened by half a degree. The sentence names the CRS, the data
/// extent and the area of use, and says whether swapping x and y would fit (lat/lon order) or the
/// CRS is probably wrong; for GCJ-02 and BD-09 it adds that they only differ from WGS84 inside
/// China. Returns `None` when the CRS has no known area of use.
///
/// # Units
/// `bbox_in_source_units`: degrees for geographic CRSs, the CRS's units (usually metres) for
/// projected ones.
#[must_use]
pub fn extent_warning(spec: &CrsSpec, bbox_in_source_units: Rect<f64>) -> Option<String> {
    let (area, area_name) = spec.area_of_use()?;
    let geographic = spec.is_geographic();
    let fits = |bbox: Rect<f64>| {
        bbox_to_lonlat(spec, geographic, bbox).is_some_and(|lonlat| within_area(lonlat, area))
    };
    let bbox = bbox_in_source_units;
    if fits(bbox) {
        return None;
    }
    let swapped = Rect::new(
        coord! { x: bbox.min().y, y: bbox.min().x },
        coord! { x: bbox.max().y, y: bbox.max().x },
    );
    let (min, max) = (bbox.min(), bbox.max());
    let data = if geographic {
        format!(
            "lon {:.5}..{:.5}, lat {:.5}..{:.5}",
            min.x, max.x, min.y, max.y
        )
    } else {
        let lonlat = bbox_to_lonlat(spec, geographic, bbox).map_or_else(
            || "not convertible to lon/lat".to_owned(),
            |ll| {
                let (lmin, lmax) = (ll.min(), ll.max());
                format!(
                    "lon {:.5}..{:.5}, lat {:.5}..{:.5}",
                    lmin.x, lmax.x, lmin.y, lmax.y
                )
            },
        );
        format!(
            "x {:.1}..{:.1}, y {:.1}..{:.1}; {lonlat}",
            min.x, max.x, min.y, max.y
        )
    };
    let area_text = format!(
        "{area_name}: lon {:.4}..{:.4}, lat {:.4}..{:.4}",
        area.min().x,
        area.max().x,
        area.min().y,
        area.max().y
    );
    let hint = if fits(swapped) {
        "it fits if x and y are swapped, so the file probably stores lat/lon (northing/easting) \
         instead of lon/lat (easting/northing)"
            .to_owned()
    } else {
        format!(
            "check that the data really is in {spec} (the declared CRS is probably wrong) and \
             that x and y are not swapped (lat/lon instead of lon/lat)"
        )
    };
    let china = if matches!(spec, CrsSpec::Gcj02 | CrsSpec::Bd09) {
        "; GCJ-02 and BD-09 only differ from WGS84 inside China, so data outside China is used \
         unchanged (declare it as CRS84 if it is WGS84)"
    } else {
        ""
    };
    Some(format!(
        "data extent in {spec} ({data}) is outside the CRS's area of use ({area_text}); {hint}{china}"
    ))
}

/// The bounding box in WGS84-ish longitude/latitude, `None` if PROJ cannot convert it.
fn bbox_to_lonlat(spec: &CrsSpec, geographic: bool, bbox: Rect<f64>) -> Option<Rect<f64>> {
    let lonlat = if geographic {
        bbox
    } else {
        let (min, max) = (bbox.min(), bbox.max());
        let [west, south, east, north] = with_proj(spec.as_proj(), "EPSG:4326", |proj| {
            proj.transform_bounds(min.x, min.y, max.x, max.y, 21)
        })
        .ok()?
        .ok()?;
        Rect::new(coord! { x: west, y: south }, coord! { x: east, y: north })
    };
    let (min, max) = (lonlat.min(), lonlat.max());
    [min.x, min.y, max.x, max.y]
        .iter()
        .all(|v| v.is_finite())
        .then_some(lonlat)
}

/// Whether `lonlat` lies in `area` widened by [`EXTENT_MARGIN_DEG`], never beyond ±180°/±90°.
fn within_area(lonlat: Rect<f64>, area: Rect<f64>) -> bool {
    let m = EXTENT_MARGIN_DEG;
    let west = (area.min().x - m).max(-180.0);
    let east = (area.max().x + m).min(180.0);
    let south = (area.min().y - m).max(-90.0);
    let north = (area.max().y + m).min(90.0);
    lonlat.min().x >= west
        && lonlat.max().x <= east
        && lonlat.min().y >= south
        && lonlat.max().y <= north
}

/// Converts coordinates from a source CRS to a target CRS: GCJ-02/BD-09 handled by gapmap,
/// everything else by PROJ.
///
/// Holds CRS definitions only, never a `Proj`, so it is `Send + Sync` and cheap to clone; each
/// [`apply`](Self::apply) builds its `Proj` objects on the threads that use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transformer {
    /// The CRS coordinates are in.
    source: CrsSpec,
    /// The CRS coordinates are converted to.
    target: CrsSpec,
    /// `(from, to)` for PROJ, `None` when both sides are the same CRS.
    proj_step: Option<(String, String)>,
}

impl Transformer {
    /// A transformation from `source` to `target` (e.g. `EPSG:4547`, `CRS84`).
    ///
    /// GCJ-02 and BD-09 sources are converted to WGS84 by gapmap, then by PROJ from EPSG:4326
    /// (skipped when the target is WGS84 lon/lat). A GCJ-02 or BD-09 target is reached the same
    /// way in reverse. Axis order is always lon/lat and easting/northing.
    ///
    /// # Errors
    /// [`LoadError::Crs`] when `target` does not parse (see [`CrsSpec::from_str`]) or PROJ cannot
    /// build the transformation (checked once here by building one `Proj`).
    pub fn new(source: &CrsSpec, target: &str) -> Result<Self, LoadError> {
        let target_spec: CrsSpec = target.parse()?;
        let (from, to) = (source.as_proj(), target_spec.as_proj());
        let proj_step = if from.eq_ignore_ascii_case(to) {
            None
        } else {
            // Checked on a rayon worker, whose cached `Proj` `apply` then uses: built on the
            // calling thread it was one more `Proj` (~45 ms CPU, perf) that `apply`'s workers
            // never saw.
            rayon::scope(|_| with_proj(from, to, |_| ())).map_err(|e| {
                crs_error(
                    &source.to_string(),
                    format!("PROJ cannot transform it to {target_spec} ({e})"),
                )
            })?;
            Some((from.to_owned(), to.to_owned()))
        };
        Ok(Self {
            source: source.clone(),
            target: target_spec,
            proj_step,
        })
    }

    /// A transformation from the working CRS (e.g. `EPSG:4547`) to CRS84 longitude/latitude,
    /// for writing and serving results.
    ///
    /// # Errors
    /// [`LoadError::Crs`] when `working` does not parse or PROJ cannot transform it.
    pub fn to_crs84(working: &str) -> Result<Self, LoadError> {
        Self::new(&working.parse()?, "CRS84")
    }

    /// The CRS coordinates are converted from.
    #[must_use]
    pub fn source(&self) -> &CrsSpec {
        &self.source
    }

    /// The CRS coordinates are converted to.
    #[must_use]
    pub fn target(&self) -> &CrsSpec {
        &self.target
    }

    /// Converts coordinates in place, in parallel (rayon tasks of 32,768 coordinates, each using
    /// its thread's cached `Proj`).
    ///
    /// Prefer one call with all coordinates of a layer to one call per feature: small calls are
    /// correct and, once each thread's `Proj` is cached, cheap, but they do not parallelise.
    ///
    /// # Units
    /// Source units in (degrees lon/lat or easting/northing), target units out.
    ///
    /// # Errors
    /// [`LoadError::Crs`] naming the first offending input coordinate found when PROJ rejects it
    /// or the result is not finite (NaN input, a point outside the projection's domain…). The
    /// slice's contents are unspecified after an error.
    pub fn apply(&self, coords: &mut [Coord<f64>]) -> Result<(), LoadError> {
        coords
            .par_chunks_mut(CHUNK_LEN)
            .try_for_each(|chunk| self.apply_chunk(chunk))
    }

    /// Converts one chunk on the current thread.
    fn apply_chunk(&self, chunk: &mut [Coord<f64>]) -> Result<(), LoadError> {
        // Kept to name the input coordinate in errors; a memcpy next to PROJ's work.
        let original = chunk.to_vec();
        match self.source {
            CrsSpec::Gcj02 => chunk.iter_mut().for_each(|c| *c = gcj02_to_wgs84(*c)),
            CrsSpec::Bd09 => chunk.iter_mut().for_each(|c| *c = bd09_to_wgs84(*c)),
            CrsSpec::Crs84 | CrsSpec::Proj(_) => {}
        }
        if let Some((from, to)) = &self.proj_step {
            with_proj(from, to, |proj| self.convert_with(proj, chunk, &original)).map_err(
                |e| {
                    crs_error(
                        &self.source.to_string(),
                        format!("PROJ cannot transform it to {} ({e})", self.target),
                    )
                },
            )??;
        }
        match self.target {
            CrsSpec::Gcj02 => chunk.iter_mut().for_each(|c| *c = wgs84_to_gcj02(*c)),
            CrsSpec::Bd09 => chunk.iter_mut().for_each(|c| *c = wgs84_to_bd09(*c)),
            CrsSpec::Crs84 | CrsSpec::Proj(_) => {}
        }
        if let Some(i) = chunk
            .iter()
            .position(|c| !(c.x.is_finite() && c.y.is_finite()))
        {
            return Err(self.coordinate_error(original[i], "the result is not finite"));
        }
        Ok(())
    }

    /// Runs PROJ over `chunk`; `original` holds the inputs, to name the one PROJ rejects.
    fn convert_with(
        &self,
        proj: &Proj,
        chunk: &mut [Coord<f64>],
        original: &[Coord<f64>],
    ) -> Result<(), LoadError> {
        let Err(array_error) = proj.convert_array(chunk) else {
            return Ok(());
        };
        // The array call does not say which point failed (and leaves the chunk as it was): find it.
        for (input, c) in original.iter().zip(chunk.iter()) {
            if let Err(e) = proj.convert(*c) {
                return Err(self.coordinate_error(*input, &e.to_string()));
            }
        }
        Err(crs_error(
            &self.source.to_string(),
            format!(
                "PROJ cannot transform coordinates to {} ({array_error})",
                self.target
            ),
        ))
    }

    /// The error for one input coordinate that cannot be converted.
    fn coordinate_error(&self, input: Coord<f64>, why: &str) -> LoadError {
        crs_error(
            &self.source.to_string(),
            format!(
                "coordinate ({}, {}) cannot be converted to {}: {why}; check that the data is in \
                 {} and in x/y (lon/lat) order",
                input.x, input.y, self.target, self.source
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    /// Static assertion: a Transformer can be shared across threads (it holds no `Proj`).
    const _: () = {
        const fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Transformer>();
    };

    #[test]
    fn transformer_is_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Transformer>();
        check::<CrsSpec>();
    }

    /// WGS84 input points (lon, lat): city centres and one point outside China.
    const WGS: [(&str, f64, f64); 6] = [
        ("beijing", 116.391_305, 39.907_497),
        ("shanghai", 121.473_701, 31.230_416),
        ("shijiazhuang", 114.514_862, 38.042_307),
        ("guangzhou", 113.264_385, 23.129_112),
        ("urumqi", 87.617_733, 43.792_818),
        ("london", -0.127_758, 51.507_351),
    ];

    // Expected values from PyPI `coord-convert` 0.2.1 (`coord_convert.transform`, Krasovsky
    // a = 6378245, same polynomials), computed in a throwaway venv:
    //   wgs2gcj(lon, lat), gcj2wgs(lon, lat) (the same numbers read as GCJ-02), wgs2bd(lon, lat).
    // London wgs->bd: coord-convert applies the BD-09 offset worldwide; gapmap (like
    // `eviltransform` 0.1.1, whose bd functions return points outside China unchanged) does not,
    // so the expected value there is the input.
    // (`eviltransform` itself is not used for China: it uses a = 6378137, ~1e-7° different.)

    /// `coord_convert.transform.wgs2gcj`.
    #[expect(
        clippy::excessive_precision,
        reason = "pasted verbatim from the oracle"
    )]
    const EXPECTED_GCJ: [(f64, f64); 6] = [
        (116.397_546_183_825_64, 39.908_898_278_428_964),
        (121.478_224_057_392_67, 31.228_473_742_246_98),
        (114.520_835_638_562_25, 38.042_926_093_955_316),
        (113.269_714_582_887_35, 23.126_435_336_538_538),
        (87.620_582_260_418_985, 43.794_042_573_150_413),
        (-0.127_758, 51.507_351),
    ];

    /// `coord_convert.transform.gcj2wgs` of the WGS numbers read as GCJ-02. Its iteration stops
    /// at a step < 1e-6°, leaving forward residuals up to 4e-10°.
    #[expect(
        clippy::excessive_precision,
        reason = "pasted verbatim from the oracle"
    )]
    const EXPECTED_GCJ_TO_WGS: [(f64, f64); 6] = [
        (116.385_068_237_048_42, 39.906_099_548_547_608),
        (121.469_163_265_230_38, 31.232_345_234_402_299),
        (114.508_864_033_128_52, 38.041_670_147_987_794),
        (113.259_058_246_891_68, 23.131_789_980_188_024),
        (87.614_886_641_641_974, 43.791_594_980_281_914),
        (-0.127_758, 51.507_351),
    ];

    /// `coord_convert.transform.wgs2bd` (London: unchanged, see above).
    #[expect(
        clippy::excessive_precision,
        reason = "pasted verbatim from the oracle"
    )]
    const EXPECTED_BD: [(f64, f64); 6] = [
        (116.403_918_944_379_87, 39.915_241_678_623_929),
        (121.484_782_472_389_95, 31.234_326_581_388_32),
        (114.527_399_867_965_23, 38.048_742_425_150_735),
        (113.276_135_767_983_66, 23.132_723_116_471_205),
        (87.627_014_577_754_65, 43.800_164_259_592_279),
        (-0.127_758, 51.507_351),
    ];

    fn c(x: f64, y: f64) -> Coord<f64> {
        coord! { x: x, y: y }
    }

    /// Ground distance in metres between two lon/lat points (equirectangular, fine for < 10 km).
    fn metres(a: Coord<f64>, b: Coord<f64>) -> f64 {
        let k = 6_371_008.8 * std::f64::consts::PI / 180.0; // metres per degree
        let dx = (b.x - a.x) * k * ((a.y + b.y) / 2.0).to_radians().cos();
        let dy = (b.y - a.y) * k;
        dx.hypot(dy)
    }

    #[test]
    fn wgs_to_gcj_matches_coord_convert() {
        for ((name, lon, lat), (ex, ey)) in WGS.iter().zip(EXPECTED_GCJ) {
            let got = wgs84_to_gcj02(c(*lon, *lat));
            assert!(
                (got.x - ex).abs() < 1e-11 && (got.y - ey).abs() < 1e-11,
                "{name}: {got:?}"
            );
        }
    }

    #[test]
    fn gcj_to_wgs_matches_coord_convert_and_is_tighter() {
        for ((name, lon, lat), (ex, ey)) in WGS.iter().zip(EXPECTED_GCJ_TO_WGS) {
            let gcj = c(*lon, *lat);
            let got = gcj02_to_wgs84(gcj);
            assert!(
                (got.x - ex).abs() < 1e-9 && (got.y - ey).abs() < 1e-9,
                "{name}: {got:?}"
            );
            let residual = wgs84_to_gcj02(got) - gcj;
            assert!(
                residual.x.abs() < 1e-10 && residual.y.abs() < 1e-10,
                "{name}: {residual:?}"
            );
        }
    }

    #[test]
    fn gcj_to_wgs_recovers_the_original_point() {
        for ((name, lon, lat), (gx, gy)) in WGS.iter().zip(EXPECTED_GCJ) {
            let got = gcj02_to_wgs84(c(gx, gy));
            assert!(
                (got.x - lon).abs() < 1e-9 && (got.y - lat).abs() < 1e-9,
                "{name}: {got:?}"
            );
        }
    }

    #[test]
    fn wgs_to_bd_matches_coord_convert() {
        for ((name, lon, lat), (ex, ey)) in WGS.iter().zip(EXPECTED_BD) {
            let got = wgs84_to_bd09(c(*lon, *lat));
            assert!(
                (got.x - ex).abs() < 1e-11 && (got.y - ey).abs() < 1e-11,
                "{name}: {got:?}"
            );
            let back = bd09_to_wgs84(c(ex, ey));
            assert!(
                (back.x - lon).abs() < 1e-9 && (back.y - lat).abs() < 1e-9,
                "{name}: {back:?}"
            );
        }
    }

    #[test]
    fn bd_inverse_beats_the_closed_form() {
        // Shijiazhuang: coord-convert 0.2.1 bd2wgs (closed form) gives
        // (114.514861856854651, 38.042308033402691), ~0.1 m from the true point.
        let (bx, by) = EXPECTED_BD[2];
        let back = bd09_to_wgs84(c(bx, by));
        assert_abs_diff_eq!(back.x, 114.514_862, epsilon = 1e-9);
        assert_abs_diff_eq!(back.y, 38.042_307, epsilon = 1e-9);
        assert!(metres(back, c(114.514_861_856_854_65, 38.042_308_033_402_69)) > 0.05);
    }

    #[test]
    fn round_trips_over_a_grid_in_china() {
        let mut worst_gcj = 0.0_f64;
        let mut worst_bd = 0.0_f64;
        for i in 0..=120 {
            for j in 0..=100 {
                let p = c(72.2 + f64::from(i) * 0.54, 1.0 + f64::from(j) * 0.54);
                assert!(in_china_bbox(p));
                let gcj = wgs84_to_gcj02(p);
                let bd = wgs84_to_bd09(p);
                if !in_china_bbox(gcj) || !in_china_bbox(bd) {
                    continue; // within ~1 km of the box edge the offset switches off
                }
                let back = gcj02_to_wgs84(gcj);
                worst_gcj = worst_gcj
                    .max((back.x - p.x).abs())
                    .max((back.y - p.y).abs());
                let back = bd09_to_wgs84(bd);
                worst_bd = worst_bd.max((back.x - p.x).abs()).max((back.y - p.y).abs());
                let gcj_back = bd09_to_gcj02(gcj02_to_bd09(gcj));
                worst_bd = worst_bd
                    .max((gcj_back.x - gcj.x).abs())
                    .max((gcj_back.y - gcj.y).abs());
            }
        }
        assert!(worst_gcj < 1e-7, "GCJ-02 round trip error {worst_gcj}°");
        assert!(worst_bd < 1e-7, "BD-09 round trip error {worst_bd}°");
        // In fact the inverse is far tighter than required.
        assert!(
            worst_gcj < 1e-9 && worst_bd < 1e-9,
            "{worst_gcj} {worst_bd}"
        );
    }

    #[test]
    fn offsets_have_the_expected_size() {
        let shanghai = c(121.473_701, 31.230_416);
        let shift = metres(shanghai, wgs84_to_gcj02(shanghai));
        assert!(
            (300.0..700.0).contains(&shift),
            "Shanghai GCJ-02 shift {shift} m"
        );
        for (name, lon, lat) in &WGS[..5] {
            let p = c(*lon, *lat);
            let gcj = metres(p, wgs84_to_gcj02(p));
            assert!(
                (100.0..1000.0).contains(&gcj),
                "{name}: GCJ-02 shift {gcj} m"
            );
            let bd = metres(p, wgs84_to_bd09(p));
            assert!((500.0..2000.0).contains(&bd), "{name}: BD-09 shift {bd} m");
        }
        let london = c(-0.127_758, 51.507_351);
        assert_eq!(wgs84_to_gcj02(london), london);
        assert_eq!(gcj02_to_wgs84(london), london);
        assert_eq!(wgs84_to_bd09(london), london);
        assert_eq!(bd09_to_wgs84(london), london);
    }

    #[test]
    fn non_finite_input_does_not_loop_or_panic() {
        assert!(gcj02_to_wgs84(c(f64::NAN, 30.0)).x.is_nan());
        assert!(bd09_to_wgs84(c(120.0, f64::NAN)).y.is_nan());
        assert!(wgs84_to_gcj02(c(f64::INFINITY, 30.0)).x.is_infinite());
    }

    fn parse(s: &str) -> CrsSpec {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_names_and_aliases() {
        for s in [
            "CRS84",
            " crs84 ",
            "OGC:CRS84",
            "urn:ogc:def:crs:OGC:1.3:CRS84",
            "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            "EPSG:4326",
            "epsg:4326",
            "WGS84",
            "WGS 84",
            "wgs-84",
            "urn:ogc:def:crs:EPSG::4326",
            "http://www.opengis.net/def/crs/EPSG/0/4326",
        ] {
            assert_eq!(parse(s), CrsSpec::Crs84, "{s}");
        }
        for s in ["GCJ-02", "gcj02", " Gcj_02"] {
            assert_eq!(parse(s), CrsSpec::Gcj02, "{s}");
        }
        for s in ["BD-09", "bd09", "BD09LL"] {
            assert_eq!(parse(s), CrsSpec::Bd09, "{s}");
        }
        for s in [
            "EPSG:4547",
            "epsg:4547",
            "urn:ogc:def:crs:EPSG::4547",
            "urn:ogc:def:crs:EPSG:9.8.15:4547",
            "http://www.opengis.net/def/crs/EPSG/0/4547",
            "https://www.opengis.net/def/crs/EPSG/0/4547",
        ] {
            assert_eq!(parse(s), CrsSpec::Proj("EPSG:4547".to_owned()), "{s}");
        }
        assert_eq!(parse("EPSG:3857"), CrsSpec::Proj("EPSG:3857".to_owned()));
        let utm = "+proj=utm +zone=50 +datum=WGS84 +units=m +no_defs";
        assert_eq!(parse(utm), CrsSpec::Proj(utm.to_owned()));
    }

    #[test]
    fn rejects_unknown_crs_with_advice() {
        for s in ["", "  ", "WGS85", "EPSG:999999", "GCJ-03", "bd09mc"] {
            let err = s.parse::<CrsSpec>().expect_err(s);
            let LoadError::Crs { message, .. } = &err else {
                panic!("{s}: {err:?}")
            };
            assert!(
                message.contains("EPSG:4547") || message.contains("bd09ll"),
                "{s}: {message}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for spec in [
            CrsSpec::Crs84,
            CrsSpec::Gcj02,
            CrsSpec::Bd09,
            CrsSpec::Proj("EPSG:4547".to_owned()),
        ] {
            assert_eq!(parse(&spec.to_string()), spec);
        }
        assert_eq!(CrsSpec::Gcj02.as_proj(), "EPSG:4326");
        assert_eq!(parse("urn:ogc:def:crs:EPSG::4549").as_proj(), "EPSG:4549");
    }

    #[test]
    fn geographic_and_area_of_use() {
        assert!(CrsSpec::Crs84.is_geographic());
        assert!(CrsSpec::Bd09.is_geographic());
        assert!(parse("EPSG:4490").is_geographic());
        assert!(!parse("EPSG:4547").is_geographic());
        assert!(!parse("EPSG:3857").is_geographic());

        // EPSG:4547 area of use as reported by pyproj 3.7.2 / PROJ 9.5.1.
        let area = parse("EPSG:4547")
            .area_of_use_lonlat()
            .expect("EPSG has an area");
        assert_abs_diff_eq!(area.min().x, 112.5, epsilon = 1e-9);
        assert_abs_diff_eq!(area.max().x, 115.5, epsilon = 1e-9);
        assert_abs_diff_eq!(area.min().y, 21.52, epsilon = 1e-9);
        assert_abs_diff_eq!(area.max().y, 45.45, epsilon = 1e-9);
        let china = CrsSpec::Gcj02.area_of_use_lonlat().expect("China box");
        assert_abs_diff_eq!(china.min().x, 72.004);
        assert_abs_diff_eq!(china.max().y, 55.8271);
        let world = CrsSpec::Crs84.area_of_use_lonlat().expect("world");
        assert_abs_diff_eq!(world.width(), 360.0);
        assert!(parse("+proj=utm +zone=50 +datum=WGS84")
            .area_of_use_lonlat()
            .is_none());
    }

    #[test]
    fn working_crs_choice() {
        assert_eq!(working_crs_for(c(114.5, 38.04)), "EPSG:4547"); // Shijiazhuang
        assert_eq!(working_crs_for(c(121.47, 31.23)), "EPSG:4549"); // Shanghai
        assert_eq!(working_crs_for(c(116.39, 39.91)), "EPSG:4548"); // Beijing
        assert_eq!(working_crs_for(c(87.62, 43.79)), "EPSG:4538"); // Urumqi, CM 87°E
        assert_eq!(working_crs_for(c(75.99, 39.47)), "EPSG:4534"); // Kashgar, CM 75°E
        assert_eq!(working_crs_for(c(73.6, 39.0)), "EPSG:4534"); // clamped
        assert_eq!(working_crs_for(c(134.3, 48.35)), "EPSG:4554"); // Fuyuan, CM 135°E
        assert_eq!(working_crs_for(c(-0.13, 51.5)), "EPSG:32630"); // London
        assert_eq!(working_crs_for(c(151.2, -33.87)), "EPSG:32756"); // Sydney
        assert_eq!(working_crs_for(c(180.0, 10.0)), "EPSG:32660");
        assert_eq!(working_crs_for(c(-180.0, -10.0)), "EPSG:32701");
        let mut all = std::collections::BTreeSet::new();
        for lon in (0..360).map(|d| f64::from(d) - 179.5) {
            for lat in [-60.0, 0.0, 38.0, 70.0] {
                all.insert(working_crs_for(c(lon, lat)));
            }
        }
        assert_eq!(
            all.len(),
            21 + 60 + 60,
            "every CGCS2000 zone and every UTM zone"
        );
        for w in &all {
            assert!(!parse(w).is_geographic(), "{w}");
        }
    }

    fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Rect<f64> {
        Rect::new(c(x0, y0), c(x1, y1))
    }

    #[test]
    fn extent_warnings() {
        let sjz = rect(114.3, 37.9, 114.7, 38.2);
        assert_eq!(extent_warning(&CrsSpec::Crs84, sjz), None);
        assert_eq!(extent_warning(&CrsSpec::Gcj02, sjz), None);

        // Urumqi with lat/lon swapped is still on Earth but outside China.
        let swapped = rect(43.7, 87.5, 43.9, 87.7);
        let w = extent_warning(&CrsSpec::Gcj02, swapped).expect("outside China");
        assert!(w.contains("GCJ-02") && w.contains("swapped"), "{w}");
        assert!(w.contains("only differ from WGS84 inside China"), "{w}");
        assert!(w.contains("lon 43.70000..43.90000"), "{w}");

        let london = rect(-0.2, 51.4, 0.0, 51.6);
        let w = extent_warning(&CrsSpec::Bd09, london).expect("outside China");
        assert!(
            w.contains("BD-09") && w.contains("declared CRS is probably wrong"),
            "{w}"
        );

        // Shijiazhuang swapped in CRS84: latitude 114 is impossible.
        let w = extent_warning(&CrsSpec::Crs84, rect(37.9, 114.3, 38.2, 114.7)).expect("lat > 90");
        assert!(w.contains("swapped"), "{w}");

        // EPSG:4547 metres around Shijiazhuang (pyproj: 545195.75, 4212319.10).
        let cgcs = parse("EPSG:4547");
        let metres_box = rect(530_000.0, 4_200_000.0, 560_000.0, 4_230_000.0);
        assert_eq!(extent_warning(&cgcs, metres_box), None);
        // Northing/easting order.
        let w = extent_warning(&cgcs, rect(4_200_000.0, 530_000.0, 4_230_000.0, 560_000.0))
            .expect("swapped axes");
        assert!(w.contains("EPSG:4547") && w.contains("swapped"), "{w}");
        // Degrees declared as EPSG:4547: the wrong CRS.
        let w = extent_warning(&cgcs, sjz).expect("degrees are not metres");
        assert!(
            w.contains("probably wrong") && w.contains("115°30'E: lon 112.5000..115.5000"),
            "{w}"
        );
        // Eastings with the zone prefix (EPSG:4526 style) declared as EPSG:4547.
        let w = extent_warning(
            &cgcs,
            rect(38_530_000.0, 4_200_000.0, 38_560_000.0, 4_230_000.0),
        )
        .expect("zone prefix");
        assert!(w.contains("x 38530000.0..38560000.0"), "{w}");
    }

    // Expected projected values from pyproj 3.7.2 (PROJ 9.5.1) in the same venv:
    //   Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)
    //     .transform(114.514862, 38.042307) = (545195.752485, 4212319.103458)
    //   Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True) same point
    //     = (281920.325396, 4213424.626482)
    //   Transformer.from_crs("EPSG:3857", "EPSG:4547", always_xy=True)
    //     .transform(12747000.0, 4584000.0) = (544621.295356, 4211213.220002)
    const SJZ_WGS: (f64, f64) = (114.514_862, 38.042_307);
    const SJZ_4547: (f64, f64) = (545_195.752_485, 4_212_319.103_458);

    fn transform_one(source: &CrsSpec, target: &str, p: (f64, f64)) -> Coord<f64> {
        let t = Transformer::new(source, target).expect("valid transformation");
        let mut coords = [c(p.0, p.1)];
        t.apply(&mut coords).expect("finite result");
        coords[0]
    }

    #[test]
    fn crs84_to_cgcs2000_zone_matches_pyproj() {
        let got = transform_one(&CrsSpec::Crs84, "EPSG:4547", SJZ_WGS);
        assert_abs_diff_eq!(got.x, SJZ_4547.0, epsilon = 1e-3);
        assert_abs_diff_eq!(got.y, SJZ_4547.1, epsilon = 1e-3);
        let got = transform_one(&CrsSpec::Crs84, "EPSG:32650", SJZ_WGS);
        assert_abs_diff_eq!(got.x, 281_920.325_396, epsilon = 1e-3);
        assert_abs_diff_eq!(got.y, 4_213_424.626_482, epsilon = 1e-3);
    }

    #[test]
    fn gcj_and_bd_sources_land_on_the_wgs_position() {
        // The GCJ-02 and BD-09 encodings of SJZ_WGS (coord-convert 0.2.1, above).
        let got = transform_one(&CrsSpec::Gcj02, "EPSG:4547", EXPECTED_GCJ[2]);
        assert_abs_diff_eq!(got.x, SJZ_4547.0, epsilon = 1e-3);
        assert_abs_diff_eq!(got.y, SJZ_4547.1, epsilon = 1e-3);
        let got = transform_one(&CrsSpec::Bd09, "EPSG:4547", EXPECTED_BD[2]);
        assert_abs_diff_eq!(got.x, SJZ_4547.0, epsilon = 1e-3);
        assert_abs_diff_eq!(got.y, SJZ_4547.1, epsilon = 1e-3);
        // No PROJ step for a WGS84 target.
        let got = transform_one(&CrsSpec::Gcj02, "CRS84", EXPECTED_GCJ[2]);
        assert_abs_diff_eq!(got.x, SJZ_WGS.0, epsilon = 1e-9);
        assert_abs_diff_eq!(got.y, SJZ_WGS.1, epsilon = 1e-9);
        // A GCJ-02 target is reached through WGS84.
        let got = transform_one(&parse("EPSG:4547"), "GCJ-02", SJZ_4547);
        assert_abs_diff_eq!(got.x, EXPECTED_GCJ[2].0, epsilon = 1e-9);
        assert_abs_diff_eq!(got.y, EXPECTED_GCJ[2].1, epsilon = 1e-9);
    }

    #[test]
    fn web_mercator_is_accepted_as_input() {
        let got = transform_one(
            &parse("EPSG:3857"),
            "EPSG:4547",
            (12_747_000.0, 4_584_000.0),
        );
        assert_abs_diff_eq!(got.x, 544_621.295_356, epsilon = 1e-3);
        assert_abs_diff_eq!(got.y, 4_211_213.220_002, epsilon = 1e-3);
    }

    #[test]
    fn to_crs84_round_trip_in_parallel() {
        // More than one chunk, so several rayon tasks and several Proj objects.
        let n = 3 * CHUNK_LEN + 17;
        let lonlat: Vec<Coord<f64>> = (0..n)
            .map(|i| {
                #[expect(clippy::cast_precision_loss, reason = "i < 2^20")]
                let f = i as f64 / n as f64;
                c(113.0 + 2.5 * f, 36.0 + 4.0 * (f * 37.0).fract())
            })
            .collect();
        let mut coords = lonlat.clone();
        Transformer::new(&CrsSpec::Crs84, "EPSG:4547")
            .expect("valid")
            .apply(&mut coords)
            .expect("ok");
        assert!(
            (400_000.0..420_000.0).contains(&coords[0].x),
            "{:?}",
            coords[0]
        ); // 113°E, ~1° west of CM 114°E
        Transformer::to_crs84("EPSG:4547")
            .expect("valid")
            .apply(&mut coords)
            .expect("ok");
        for (a, b) in lonlat.iter().zip(&coords) {
            assert!(
                (a.x - b.x).abs() < 1e-9 && (a.y - b.y).abs() < 1e-9,
                "{a:?} -> {b:?}"
            );
        }
    }

    #[test]
    fn identity_and_empty() {
        let t = Transformer::new(&parse("EPSG:4547"), "epsg:4547").expect("valid");
        let mut coords = [c(545_195.75, 4_212_319.1)];
        t.apply(&mut coords).expect("ok");
        assert_eq!(coords[0], c(545_195.75, 4_212_319.1));
        t.apply(&mut []).expect("nothing to do");
        assert_eq!(t.source(), &CrsSpec::Proj("EPSG:4547".to_owned()));
    }

    #[test]
    fn bad_targets_and_coordinates_are_reported() {
        let err = Transformer::new(&CrsSpec::Crs84, "EPSG:999999").expect_err("unknown target");
        assert!(matches!(err, LoadError::Crs { .. }), "{err}");

        let t = Transformer::new(&CrsSpec::Crs84, "EPSG:4547").expect("valid");
        let mut coords = vec![c(114.5, 38.0); 10];
        coords[7] = c(f64::NAN, 38.0);
        let err = t.apply(&mut coords).expect_err("NaN");
        let text = err.to_string();
        assert!(
            text.contains("(NaN, 38)") && text.contains("EPSG:4547"),
            "{text}"
        );

        // Latitude 100° does not exist.
        let t = Transformer::new(&CrsSpec::Crs84, "EPSG:3857").expect("valid");
        let mut coords = vec![c(114.5, 38.0), c(10.0, 100.0)];
        let err = t.apply(&mut coords).expect_err("latitude > 90");
        assert!(err.to_string().contains("(10, 100)"), "{err}");

        // An easting with its zone prefix (EPSG:4526 style) read as EPSG:4547.
        let t = Transformer::to_crs84("EPSG:4547").expect("valid");
        let mut coords = vec![c(545_195.75, 4_212_319.1), c(38_545_195.75, 4_212_319.1)];
        let err = t.apply(&mut coords).expect_err("far outside the zone");
        assert!(
            err.to_string().contains("(38545195.75, 4212319.1)"),
            "{err}"
        );
    }
}
