//! Configuration: a TOML file, overridden by environment variables and CLI flags
//! (defaults < file < env < CLI). Paths in the file are relative to the file's directory.
//!
//! ```toml
//! [estates]
//! path = "estates.geojson"
//! crs = "CRS84"                 # when the file does not declare one
//! merge_by_id = false           # true: features sharing an id are one estate (tiled sources)
//! filter = { kind = "residential" }  # keep only features with these property values
//! [estates.fields]              # source field names, when they differ from gapmap's
//! id = "OBJECTID"
//! name = "NAME"
//!
//! [[facilities]]
//! path = "amap_kindergartens.csv"
//! lon_field = "lon"
//! lat_field = "lat"
//! kind = "kindergarten"         # every feature of this source is this kind
//!
//! [[facilities]]
//! path = "facilities.gpkg"
//! layer = "poi"
//! [facilities.fields]
//! kind = "类别"
//! [facilities.kind_values]
//! "幼儿园" = "kindergarten"
//!
//! [[planned]]                   # planned facilities (what-if): same keys as [[facilities]]
//! path = "planned_day_care.geojson"
//! kind = "day_care"             # they count from their opened_year (none: from this year on)
//!
//! [analysis]
//! catalogue = "my-city.toml"    # patches the built-in GB 50180-2018 catalogue
//! radius_m = { market = 800 }
//! distance_from = "boundary"    # or "centroid"
//! metric = "straight"           # or "network": walking distance along [network]
//! working_crs = "auto"          # or e.g. "EPSG:4547"
//! on_invalid = "abort"          # or "warn"
//! accessibility_decay = "step"  # 2SFCA distance decay: "step" or "gaussian"
//!
//! [network]                     # the street network, for metric = "network"
//! path = "streets.osm.pbf"      # OSM PBF/XML (its `lines` layer), or any line layer (GeoJSON, GPKG, FGB, Shapefile)
//! # layer = "lines"
//! # crs = "CRS84"               # when the file declares none
//! # walkable = "highway IN ('footway','residential')"  # CQL2 text; default: OSM's walkable highways
//! snap_m = 1.0                  # dangling ends and gates join the network within this distance
//! speed_m_per_min = 80.0        # walking speed for walking minutes
//! # max_m = 5000                # nearest facilities further than this walk are not searched for
//!
//! [report]                      # `gapmap report` and `GET /reports/{year}`
//! targets = "targets.toml"      # the city's targets (.toml or .csv); none: actuals only
//! from = 2018                   # first year of a report's period (default: the report year)
//! renovation_built_before = 2000  # estates built before this year form the renovation stock
//! # title = "…"                 # default "Facility targets and coverage YEAR"
//! # lang = "zh"                 # report language: "en" (default) or "zh"; --lang overrides it
//!
//! [programme]                   # the renovation programme (`gapmap programme`, and `gapmap report`'s programme sections)
//! gate_pct = 80                 # satisfaction gate: a project below it is reworked (exactly 80 passes)
//! lang = "zh"                   # report language: "zh" (default) or "en"
//! stock_built_before = 2000     # estates built before it form the old stock (default: report.renovation_built_before)
//! projects = { path = "projects.csv" }   # CSV, XLSX (`sheet = "…"`) or GeoJSON properties
//! surveys = { path = "surveys.csv", fields = { satisfied_pct = "满意率" } }
//! wishes = { path = "wishes.xlsx", sheet = "wishes" }
//! [[programme.funding]]         # shares per category or item (summing to 100), subsidies, caps
//! category = "basic"
//! shares_pct = { city = 20, district = 15, utility = 65 }
//! [[programme.funding]]
//! item = "elevator"
//! subsidy_yuan_per_unit = 70000  # or subsidy_yuan_per_m2 (of the project's floor area)
//! subsidy_source = "city"
//! # cap_yuan = 210000           # most one project receives
//!
//! [serve]                       # `gapmap serve` (OGC API - Features)
//! bind = "127.0.0.1:8080"
//! default_limit = 100           # items per page when `limit` is not given
//! max_limit = 10000             # largest `limit` accepted
//! cors_origins = []             # origins allowed cross-origin requests (none by default)
//! watch = false                 # reload when a data file changes
//! request_timeout_s = 30
//! body_limit_bytes = 65536
//! max_query_bytes = 32768      # longer query strings are answered 414
//! # max_bbox_area_km2 = 10000   # larger `bbox` areas are answered 400 (default: no limit)
//! plan_max_count = 200          # POST /plans: most sites, candidates, solver seconds (at most
//! plan_max_candidates = 100000  #   half of request_timeout_s), plans at once; POST /what-if:
//! plan_max_time_limit_s = 15    #   most trial points
//! plan_workers = 1
//! what_if_max_points = 100
//! # admin_token = "…"           # bearer token for POST /admin/reload (or GAPMAP_ADMIN_TOKEN)
//! # base_url = "https://maps.example.org/gapmap"  # absolute URL prefix of links
//! # basemap_url = "https://tiles.example.org/{z}/{x}/{y}.png"  # raster basemap under the maps (default: none, offline)
//! # basemap_attribution = "© …"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::analysis::{AccessDecay, DistanceFrom, MetricKind};

/// A configuration problem, naming the key path.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax or an unknown/mistyped key.
    #[error("config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, with line and column.
        message: String,
    },
    /// A key has a value that cannot work.
    #[error("config key `{key}`: {message}")]
    Invalid {
        /// Dotted key path (`facilities[1].path`).
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// What to do with rejected features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum OnInvalid {
    /// Stop with a non-zero exit, listing the problems.
    #[default]
    Abort,
    /// Go on without them and write the load report beside the output.
    Warn,
}

/// Source field names for gapmap's properties. Unset keys use gapmap's own name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    /// Id field (default `id`; the GeoJSON feature `id` member is used when the property is absent).
    pub id: Option<String>,
    /// Name field (default `name`).
    pub name: Option<String>,
    /// District field (default `district`).
    pub district: Option<String>,
    /// Households field, estates (default `households`).
    pub households: Option<String>,
    /// Build year field, estates (default `built_year`).
    pub built_year: Option<String>,
    /// Renovation year field, estates (default `renovation_year`).
    pub renovation_year: Option<String>,
    /// Kind field, facilities (default `kind`).
    pub kind: Option<String>,
    /// Capacity field, facilities (default `capacity`).
    pub capacity: Option<String>,
    /// Opening year field, facilities (default `opened_year`).
    pub opened_year: Option<String>,
}

impl FieldMap {
    /// The source field for gapmap's `name`.
    #[must_use]
    pub fn get<'a>(&'a self, gapmap_name: &'a str) -> &'a str {
        let mapped = match gapmap_name {
            "id" => &self.id,
            "name" => &self.name,
            "district" => &self.district,
            "households" => &self.households,
            "built_year" => &self.built_year,
            "renovation_year" => &self.renovation_year,
            "kind" => &self.kind,
            "capacity" => &self.capacity,
            "opened_year" => &self.opened_year,
            _ => &None,
        };
        mapped.as_deref().unwrap_or(gapmap_name)
    }
}

/// One input file and how to read it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The file (GeoJSON, GeoPackage, Shapefile, FlatGeobuf, CSV, OSM PBF).
    pub path: PathBuf,
    /// Layer name for multi-layer files (GeoPackage).
    #[serde(default)]
    pub layer: Option<String>,
    /// CRS when the file declares none (`CRS84`, `EPSG:4547`, `GCJ-02`, `BD-09`…).
    #[serde(default)]
    pub crs: Option<String>,
    /// Source field names.
    #[serde(default)]
    pub fields: FieldMap,
    /// Facility kind values mapped onto catalogue keys (`"幼儿园" = "kindergarten"`).
    #[serde(default)]
    pub kind_values: BTreeMap<String, String>,
    /// Every facility of this source is this kind (a per-kind POI export).
    #[serde(default)]
    pub kind: Option<String>,
    /// Features sharing an id are pieces of one estate (tiled sources) and are merged.
    #[serde(default)]
    pub merge_by_id: bool,
    /// CSV longitude column (default `lon`, also tried: `lng`, `longitude`, `x`).
    #[serde(default)]
    pub lon_field: Option<String>,
    /// CSV latitude column (default `lat`, also tried: `latitude`, `y`).
    #[serde(default)]
    pub lat_field: Option<String>,
    /// Keep only features whose properties equal these values (`filter = { kind = "residential" }`);
    /// the others are counted in the load report as skipped, not rejected.
    #[serde(default)]
    pub filter: BTreeMap<String, String>,
}

/// Whether a source path is a PostgreSQL URI (`postgresql://…`, `postgres://…`, any case) rather
/// than a file: such paths are neither resolved against the config's directory nor checked for
/// existence (`io::postgis` reads them).
#[must_use]
pub fn is_postgres_uri(path: &Path) -> bool {
    path.to_str().is_some_and(|s| {
        ["postgresql://", "postgres://"].iter().any(|p| s.get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p)))
    })
}

impl SourceConfig {
    /// A source with default mapping.
    #[must_use]
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), ..Self::default() }
    }
}

/// Analysis settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisConfig {
    /// A catalogue that patches the built-in one.
    #[serde(default)]
    pub catalogue: Option<PathBuf>,
    /// Radius overrides per kind, metres.
    #[serde(default)]
    pub radius_m: BTreeMap<String, f64>,
    /// Only facilities opened in or before this year count.
    #[serde(default)]
    pub year: Option<i32>,
    /// Where distances are measured from.
    #[serde(default)]
    pub distance_from: DistanceFrom,
    /// Metric working CRS; `None` or `auto` chooses from the data extent.
    #[serde(default)]
    pub working_crs: Option<String>,
    /// What to do with rejected features.
    #[serde(default)]
    pub on_invalid: OnInvalid,
    /// Straight line, or walking distance along `[network]`.
    #[serde(default)]
    pub metric: MetricKind,
    /// Distance decay of the 2SFCA accessibility score (`<kind>_access`).
    #[serde(default)]
    pub accessibility_decay: AccessDecay,
}

/// The street network (`[network]`), for `metric = "network"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// OSM PBF/XML (read through GDAL's `lines` layer) or any line layer.
    pub path: PathBuf,
    /// Layer name (default: `lines` for OSM, the only layer otherwise).
    #[serde(default)]
    pub layer: Option<String>,
    /// CRS when the file declares none.
    #[serde(default)]
    pub crs: Option<String>,
    /// CQL2-text filter choosing the walkable features; `None`: OSM's walkable highways
    /// (see `io::network::DEFAULT_OSM_WALKABLE`).
    #[serde(default)]
    pub walkable: Option<String>,
    /// Dangling ends and gates join the network within this distance (metres).
    #[serde(default = "default_snap_m")]
    pub snap_m: f64,
    /// Walking speed (metres per minute) for walking minutes.
    #[serde(default = "default_speed_m_per_min")]
    pub speed_m_per_min: f64,
    /// Nearest facilities further than this walk are not searched for (metres; none: no limit).
    #[serde(default)]
    pub max_m: Option<f64>,
}

fn default_snap_m() -> f64 {
    1.0
}

fn default_speed_m_per_min() -> f64 {
    80.0
}

impl NetworkConfig {
    /// A network read from `path` with the defaults.
    #[must_use]
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), layer: None, crs: None, walkable: None, snap_m: default_snap_m(), speed_m_per_min: default_speed_m_per_min(), max_m: None }
    }
}

/// Report settings (`[report]`), read by `gapmap report` (flags override them) and by
/// `GET /reports/{year}` (query parameters override `from`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// The city's targets file (.toml or .csv); unset: actuals only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<PathBuf>,
    /// First year of a report's period; a report for an earlier year starts at its own year.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<i32>,
    /// Estates built before this year form the renovation stock.
    pub renovation_built_before: i32,
    /// Report title; default "Facility targets and coverage YEAR".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Report language, `en` (default) or `zh`; `gapmap report --lang` overrides it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<crate::report::Lang>,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self { targets: None, from: None, renovation_built_before: crate::analysis::DEFAULT_RENOVATION_BUILT_BEFORE, title: None, lang: None }
    }
}

impl ReportConfig {
    /// The first year of the period reported for `year`: `from` when it is not after `year`,
    /// else `year` itself.
    #[must_use]
    pub fn from_for(&self, year: i32) -> i32 {
        self.from.filter(|&f| f <= year).unwrap_or(year)
    }
}

/// `gapmap serve` settings (`[serve]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free port).
    pub bind: String,
    /// Items per page when a request gives no `limit`.
    pub default_limit: usize,
    /// Largest `limit` a request may ask for.
    pub max_limit: usize,
    /// Origins allowed cross-origin requests (`https://example.org`); none by default.
    pub cors_origins: Vec<String>,
    /// Bearer token guarding `POST /admin/reload` (also `GAPMAP_ADMIN_TOKEN`); unset disables it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// Reload when the config or a data file changes.
    pub watch: bool,
    /// A request taking longer is answered 408.
    pub request_timeout_s: u64,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Longest accepted query string (bytes, as sent: percent-encoded); longer is answered 414.
    pub max_query_bytes: usize,
    /// Largest `bbox` area accepted on items requests, km² (approximate, on the sphere);
    /// unset: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bbox_area_km2: Option<u64>,
    /// Absolute URL prefix used in links (default: `http://` + the request's `Host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Raster basemap tile URL template (`https://tiles.example.org/{z}/{x}/{y}.png`) drawn under
    /// the map styles; unset (the default) keeps the web map and styles free of remote requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basemap_url: Option<String>,
    /// Attribution shown with the basemap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basemap_attribution: Option<String>,
    /// Most sites a `POST /plans` may ask for (`count`).
    pub plan_max_count: usize,
    /// Most candidate sites a `POST /plans` may weigh (centroids, grid cells or listed points).
    pub plan_max_candidates: usize,
    /// Longest solver time a `POST /plans` may ask for (`time_limit_s`); the cap applied is also at
    /// most half of `request_timeout_s` ([`ServeConfig::plan_time_limit_cap_s`]).
    pub plan_max_time_limit_s: u64,
    /// Plans solved at once; further `POST /plans` get 503 with `Retry-After`.
    pub plan_workers: usize,
    /// Most trial points in one `POST /what-if`.
    pub what_if_max_points: usize,
    /// Most connections open at once; capped below the descriptor limit at start. At the cap, a
    /// new connection closes the longest-idle one (or, when none is idle, is closed itself).
    pub max_connections: usize,
    /// A connection that has not sent a whole request head this long after it opened (or after
    /// its previous answer) is closed.
    pub header_read_timeout_s: u64,
    /// A connection with no request in flight and no bytes moving this long is closed.
    pub idle_timeout_s: u64,
    /// A connection whose client reads none of its answer this long is closed, freeing the answer.
    pub send_timeout_s: u64,
    /// Answer bytes held for all connections at once, MiB; an answer past it gets 503 with
    /// `Retry-After`. Answers under 64 KiB are not counted.
    pub max_bytes_in_flight_mib: usize,
    /// A watched file must keep its size and modification time this long before a reload.
    pub watch_settle_ms: u64,
    /// With `watch`, how often (seconds) database sources are polled for changes with a cheap
    /// change-detecting query. Unset: only sources without the `gapmap db init` trigger are
    /// polled, every 10 s; `0`: never (changes are followed through the triggers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_interval_s: Option<u64>,
    /// `/health` warns when a reload loads this many percent fewer estates or facilities than the
    /// last good load.
    pub reload_drop_warn_pct: u8,
    /// Failed `POST /admin/reload` attempts a client may make before it is locked out.
    pub admin_max_failures: u32,
    /// Longest lockout after failed admin attempts (it doubles with each further failure).
    pub admin_lockout_max_s: u64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_owned(),
            default_limit: 100,
            max_limit: 10_000,
            cors_origins: Vec::new(),
            admin_token: None,
            watch: false,
            request_timeout_s: 30,
            body_limit_bytes: 64 * 1024,
            // Four times the longest filter (8 KiB), which percent-encoding may triple.
            max_query_bytes: 32 * 1024,
            max_bbox_area_km2: None,
            base_url: None,
            basemap_url: None,
            basemap_attribution: None,
            // A district's worth of sites; the centroids of a 100,000-estate city; a solve that
            // ends well inside the default 30 s request timeout; one plan per server, so plans
            // never take every core from the map's requests.
            plan_max_count: 200,
            plan_max_candidates: 100_000,
            plan_max_time_limit_s: 15,
            plan_workers: 1,
            what_if_max_points: 100,
            // Each open connection costs a descriptor and up to ~64 KiB of buffers.
            max_connections: 4096,
            header_read_timeout_s: 10,
            idle_timeout_s: 30,
            send_timeout_s: 30,
            // About 16 items pages of 10,000 estates at once.
            max_bytes_in_flight_mib: 256,
            watch_settle_ms: 2000,
            poll_interval_s: None,
            reload_drop_warn_pct: 20,
            admin_max_failures: 5,
            admin_lockout_max_s: 900,
        }
    }
}

/// A table of programme records (`[programme] projects`, `surveys`, `wishes`): CSV, XLSX,
/// GeoJSON (its features' properties) or any other table GDAL opens (GeoPackage, DBF…).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSource {
    /// The file (`.csv`, `.xlsx`, `.geojson`/`.json`, or a GDAL table such as `.gpkg`).
    pub path: PathBuf,
    /// XLSX sheet or GDAL layer (default: the first sheet, the only layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// gapmap's column names mapped onto the source's (`households = "户数"`); unset: the same
    /// name. `investment_<source>` names a source's investment column.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

impl TableSource {
    /// The source column for gapmap's `name`.
    #[must_use]
    pub fn field<'a>(&'a self, name: &'a str) -> &'a str {
        self.fields.get(name).map_or(name, String::as_str)
    }
}

/// A funding rule (`[[programme.funding]]`): for one `item` or one `category`, shares by source
/// (`shares_pct`, summing to 100) and/or a subsidy per unit of the item or per m² of floor area
/// paid by `subsidy_source`, at most `cap_yuan` per project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundingRuleConfig {
    /// Renovation item (`elevator`, `pipes`) the rule is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// Category (`basic`, `improvement`, `upgrade`) the rule is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Shares by source, percent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shares_pct: BTreeMap<String, f64>,
    /// Subsidy per unit of the item, yuan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsidy_yuan_per_unit: Option<f64>,
    /// Subsidy per m² of floor area, yuan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsidy_yuan_per_m2: Option<f64>,
    /// Who pays the subsidy (default `city`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsidy_source: Option<String>,
    /// Most subsidy one project receives, yuan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_yuan: Option<f64>,
}

impl FundingRuleConfig {
    /// The rule as the programme core takes it, checked.
    ///
    /// # Errors
    /// What is wrong, for a [`ConfigError::Invalid`].
    pub fn to_rule(&self) -> Result<crate::programme::FundingRule, String> {
        use crate::programme::{Category, FundingRule, RuleScope, Subsidy, SubsidyBasis};
        let scope = match (&self.item, &self.category) {
            (Some(item), None) => RuleScope::Item(item.clone()),
            (None, Some(c)) => RuleScope::Category(Category::parse(c)?),
            _ => return Err("give exactly one of `item` and `category`".into()),
        };
        let subsidy = match (self.subsidy_yuan_per_unit, self.subsidy_yuan_per_m2) {
            (Some(_), Some(_)) => return Err("give one of subsidy_yuan_per_unit and subsidy_yuan_per_m2".into()),
            (Some(y), None) => Some((SubsidyBasis::Unit, y)),
            (None, Some(y)) => Some((SubsidyBasis::SquareMetre, y)),
            (None, None) => None,
        };
        if subsidy.is_none() && (self.cap_yuan.is_some() || self.subsidy_source.is_some()) {
            return Err("cap_yuan and subsidy_source belong to a subsidy; add subsidy_yuan_per_unit or subsidy_yuan_per_m2".into());
        }
        let rule = FundingRule {
            scope,
            shares_pct: self.shares_pct.clone(),
            subsidy: subsidy.map(|(basis, yuan_per)| Subsidy { basis, yuan_per, source: self.subsidy_source.clone().unwrap_or_else(|| "city".into()), cap_yuan: self.cap_yuan }),
        };
        rule.check()?;
        Ok(rule)
    }
}

/// The renovation programme (`[programme]`), read by `gapmap programme`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgrammeConfig {
    /// Renovation projects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<TableSource>,
    /// Satisfaction surveys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surveys: Option<TableSource>,
    /// Residents' wishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wishes: Option<TableSource>,
    /// The satisfaction gate, percent: a project below it is reworked; exactly it passes.
    #[serde(default = "default_gate_pct")]
    pub gate_pct: f64,
    /// Estates built before this year form the old stock (default: `report.renovation_built_before`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_built_before: Option<i32>,
    /// Report language, `zh` (default) or `en`; `--lang` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<crate::report::programme::Lang>,
    /// Funding rules, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub funding: Vec<FundingRuleConfig>,
}

fn default_gate_pct() -> f64 {
    crate::programme::DEFAULT_GATE_PCT
}

impl ProgrammeConfig {
    /// The funding rules, checked, naming the rule's key path.
    ///
    /// # Errors
    /// The first bad rule.
    pub fn funding_rules(&self) -> Result<Vec<crate::programme::FundingRule>, ConfigError> {
        self.funding
            .iter()
            .enumerate()
            .map(|(i, r)| r.to_rule().map_err(|message| ConfigError::Invalid { key: format!("programme.funding[{i}]"), message }))
            .collect()
    }

    /// Checks the section: files exist, the gate is a percentage, the rules hold.
    ///
    /// # Errors
    /// The first [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| Err(ConfigError::Invalid { key: format!("programme.{key}"), message });
        let Some(projects) = &self.projects else {
            return invalid("projects", "no projects table; set projects = { path = \"projects.csv\" }".into());
        };
        for (key, t) in [("projects", Some(projects)), ("surveys", self.surveys.as_ref()), ("wishes", self.wishes.as_ref())] {
            if let Some(t) = t {
                if !t.path.exists() {
                    return invalid(&format!("{key}.path"), format!("{} does not exist", t.path.display()));
                }
            }
        }
        if !(self.gate_pct.is_finite() && (0.0..=100.0).contains(&self.gate_pct)) {
            return invalid("gate_pct", format!("{} is not a percentage between 0 and 100", self.gate_pct));
        }
        self.funding_rules().map(|_| ())
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Estates source.
    #[serde(default)]
    pub estates: Option<SourceConfig>,
    /// Facility sources, all loaded together.
    #[serde(default)]
    pub facilities: Vec<SourceConfig>,
    /// Planned facility sources (a what-if scenario): loaded with the facilities, marked planned,
    /// counted as if built in their `opened_year`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<SourceConfig>,
    /// Analysis settings.
    #[serde(default)]
    pub analysis: AnalysisConfig,
    /// `gapmap report` and `GET /reports/{year}` settings.
    #[serde(default)]
    pub report: ReportConfig,
    /// `gapmap serve` settings.
    #[serde(default)]
    pub serve: ServeConfig,
    /// The street network, for `analysis.metric = "network"`.
    #[serde(default)]
    pub network: Option<NetworkConfig>,
    /// The renovation programme (`gapmap programme`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programme: Option<ProgrammeConfig>,
}

impl Config {
    /// Reads a config file; relative paths in it are resolved against its directory.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`] (with line and column).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let mut config = Self::from_toml(&text, path)?;
        // Absolute, so `--print-config` output works from any directory.
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_owned());
        config.resolve_paths(&base);
        Ok(config)
    }

    /// Parses TOML text; `path` is used in messages.
    ///
    /// # Errors
    /// [`ConfigError::Parse`].
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            // A PostgreSQL URI is not a file name to resolve.
            if p.is_relative() && !p.as_os_str().is_empty() && !is_postgres_uri(p) {
                *p = base.join(&*p);
            }
        };
        if let Some(e) = &mut self.estates {
            resolve(&mut e.path);
        }
        for f in self.facilities.iter_mut().chain(&mut self.planned) {
            resolve(&mut f.path);
        }
        if let Some(c) = &mut self.analysis.catalogue {
            resolve(c);
        }
        if let Some(t) = &mut self.report.targets {
            resolve(t);
        }
        if let Some(n) = &mut self.network {
            resolve(&mut n.path);
        }
        if let Some(p) = &mut self.programme {
            for t in [&mut p.projects, &mut p.surveys, &mut p.wishes].into_iter().flatten() {
                resolve(&mut t.path);
            }
        }
    }

    /// The effective config as TOML (`--print-config`).
    ///
    /// # Errors
    /// Never for configs built by this module; serialisation errors are passed on.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }

    /// Checks that inputs exist and values can work, naming the key path.
    ///
    /// # Errors
    /// The first [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| Err(ConfigError::Invalid { key, message });
        let Some(estates) = &self.estates else {
            return invalid("estates.path".into(), "no estates file; pass --estates PATH or set [estates] path".into());
        };
        if self.facilities.is_empty() {
            return invalid("facilities".into(), "no facility file; pass --facilities PATH or add a [[facilities]] table".into());
        }
        let sources = std::iter::once(("estates".to_owned(), estates))
            .chain(self.facilities.iter().enumerate().map(|(i, f)| (format!("facilities[{i}]"), f)))
            .chain(self.planned.iter().enumerate().map(|(i, f)| (format!("planned[{i}]"), f)));
        for (key, source) in sources {
            // A PostgreSQL URI is checked when it is read (connection, table, columns).
            if !source.path.exists() && !is_postgres_uri(&source.path) {
                return invalid(format!("{key}.path"), format!("{} does not exist", source.path.display()));
            }
            if let Some(crs) = &source.crs {
                if crs.trim().is_empty() {
                    return invalid(format!("{key}.crs"), "empty CRS; remove the key or write e.g. \"EPSG:4547\"".into());
                }
            }
        }
        if let Some(c) = &self.analysis.catalogue {
            if !c.exists() {
                return invalid("analysis.catalogue".into(), format!("{} does not exist", c.display()));
            }
        }
        if let Some(t) = &self.report.targets {
            if !t.exists() {
                return invalid("report.targets".into(), format!("{} does not exist", t.display()));
            }
        }
        for (kind, r) in &self.analysis.radius_m {
            if !(r.is_finite() && *r > 0.0) {
                return invalid(format!("analysis.radius_m.{kind}"), format!("{r} is not a positive number of metres"));
            }
        }
        self.serve.validate()?;
        match (&self.network, self.analysis.metric) {
            (None, MetricKind::Network) => {
                return invalid("network.path".into(), "metric = \"network\" needs a street network; pass --network PATH or set [network] path".into());
            }
            (Some(n), _) => {
                if !n.path.exists() {
                    return invalid("network.path".into(), format!("{} does not exist", n.path.display()));
                }
                if !(n.snap_m.is_finite() && n.snap_m >= 0.0) {
                    return invalid("network.snap_m".into(), format!("{} is not a distance in metres (0 or more)", n.snap_m));
                }
                if !(n.speed_m_per_min.is_finite() && n.speed_m_per_min > 0.0) {
                    return invalid("network.speed_m_per_min".into(), format!("{} is not a positive speed in metres per minute", n.speed_m_per_min));
                }
                if n.max_m.is_some_and(|m| !(m.is_finite() && m > 0.0)) {
                    return invalid("network.max_m".into(), "must be a positive number of metres; remove the key for no limit".into());
                }
            }
            (None, MetricKind::Straight) => {}
        }
        if let Some(w) = &self.analysis.working_crs {
            let w = w.trim().to_ascii_uppercase();
            if w == "EPSG:3857" || w == "EPSG:900913" {
                return invalid("analysis.working_crs".into(), "Web Mercator distorts distances (1 km reads as ~1.27 km at 38°N); use \"auto\", a CGCS2000 Gauss-Krüger zone (EPSG:4534–4554) or UTM".into());
            }
        }
        Ok(())
    }
}

impl ServeConfig {
    /// The longest solver time a `POST /plans` gets: `plan_max_time_limit_s`, but at most half of
    /// `request_timeout_s`, so that demand, candidates and the answer fit in the request's time
    /// (a short request timeout then gives greedy answers, not a config that fails to load).
    #[must_use]
    #[expect(clippy::cast_precision_loss, reason = "seconds are small")]
    pub fn plan_time_limit_cap_s(&self) -> f64 {
        (self.plan_max_time_limit_s as f64).min(self.request_timeout_s as f64 / 2.0)
    }

    /// Checks the `[serve]` values, naming the key.
    ///
    /// # Errors
    /// The first [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| Err(ConfigError::Invalid { key: format!("serve.{key}"), message });
        if self.bind.parse::<std::net::SocketAddr>().is_err() {
            return invalid("bind", format!("`{}` is not an address such as 127.0.0.1:8080", self.bind));
        }
        if self.max_limit == 0 {
            return invalid("max_limit", "must be at least 1".into());
        }
        if self.default_limit == 0 || self.default_limit > self.max_limit {
            return invalid("default_limit", format!("{} must be between 1 and max_limit ({})", self.default_limit, self.max_limit));
        }
        if self.max_query_bytes < 256 {
            return invalid("max_query_bytes", format!("{} is too small for the links gapmap itself writes; use at least 256", self.max_query_bytes));
        }
        if self.max_bbox_area_km2 == Some(0) {
            return invalid("max_bbox_area_km2", "must be at least 1; remove the key for no limit".into());
        }
        for (key, value) in [("request_timeout_s", self.request_timeout_s), ("header_read_timeout_s", self.header_read_timeout_s), ("idle_timeout_s", self.idle_timeout_s), ("send_timeout_s", self.send_timeout_s), ("admin_lockout_max_s", self.admin_lockout_max_s)] {
            if value == 0 {
                return invalid(key, "must be at least 1 second".into());
            }
        }
        if self.poll_interval_s.is_some_and(|s| s > 86_400) {
            return invalid("poll_interval_s", format!("{} s is more than a day; use 0 to turn polling off", self.poll_interval_s.unwrap_or(0)));
        }
        if !(1..=100).contains(&self.reload_drop_warn_pct) {
            return invalid("reload_drop_warn_pct", format!("{} is not a percentage between 1 and 100", self.reload_drop_warn_pct));
        }
        if self.admin_max_failures == 0 {
            return invalid("admin_max_failures", "must be at least 1".into());
        }
        for (key, value) in [("plan_max_count", self.plan_max_count), ("plan_max_candidates", self.plan_max_candidates), ("plan_workers", self.plan_workers), ("what_if_max_points", self.what_if_max_points), ("max_connections", self.max_connections), ("max_bytes_in_flight_mib", self.max_bytes_in_flight_mib)] {
            if value == 0 {
                return invalid(key, "must be at least 1".into());
            }
        }
        if let Some(t) = &self.admin_token {
            if t.len() < 16 {
                return invalid("admin_token", "use at least 16 characters".into());
            }
        }
        for origin in &self.cors_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) || origin.ends_with('/') {
                return invalid("cors_origins", format!("`{origin}` is not an origin such as https://example.org"));
            }
        }
        if let Some(b) = &self.base_url {
            if !(b.starts_with("http://") || b.starts_with("https://")) {
                return invalid("base_url", format!("`{b}` must start with http:// or https://"));
            }
        }
        if let Some(b) = &self.basemap_url {
            if !(b.starts_with("http://") || b.starts_with("https://")) || !["{z}", "{x}", "{y}"].iter().all(|t| b.contains(t)) {
                return invalid("basemap_url", format!("`{b}` must be an http(s) tile URL with {{z}}, {{x}} and {{y}}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let text = include_str!("config.rs")
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").trim_start_matches(' '))
            .collect::<Vec<_>>()
            .join("\n");
        let c = Config::from_toml(&text, Path::new("doc.toml")).expect("the module docs' example parses");
        assert_eq!(c.facilities.len(), 2);
        assert_eq!(c.facilities[1].kind_values["幼儿园"], "kindergarten");
        assert_eq!(c.planned.len(), 1);
        assert_eq!(c.analysis.accessibility_decay, AccessDecay::Step);
        assert!((c.analysis.radius_m["market"] - 800.0).abs() < f64::EPSILON);
        assert_eq!(c.serve, ServeConfig::default());
    }

    #[test]
    fn unknown_keys_are_errors_with_position() {
        let e = Config::from_toml("[analysis]\nradius = 3\n", Path::new("x.toml")).expect_err("typo");
        let msg = e.to_string();
        assert!(msg.contains("unknown field `radius`") && msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn web_mercator_is_refused() {
        let mut c = Config { estates: Some(SourceConfig::from_path("Cargo.toml")), facilities: vec![SourceConfig::from_path("Cargo.toml")], ..Config::default() };
        c.analysis.working_crs = Some("epsg:3857".into());
        assert!(c.validate().expect_err("3857").to_string().contains("analysis.working_crs"));
    }
}
