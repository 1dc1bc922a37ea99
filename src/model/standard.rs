use serde::{Deserialize, Serialize};

use super::KindId;

/// Living-circle level of GB 50180-2018 §4 (居住区分级).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LivingCircle {
    /// 15-minute living circle: 800–1000 m walk, 50,000–100,000 residents.
    #[serde(rename = "15min")]
    FifteenMin,
    /// 10-minute living circle: ~500 m walk, 15,000–25,000 residents.
    #[serde(rename = "10min")]
    TenMin,
    /// 5-minute living circle: ~300 m walk, 5,000–12,000 residents.
    #[serde(rename = "5min")]
    FiveMin,
    /// Residential block (居住街坊), 1,000–3,000 residents.
    #[serde(rename = "block")]
    Block,
}

/// What a capacity ratio is counted per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RatioBasis {
    /// Per household (e.g. car spaces per household).
    Household,
    /// Per 100 households (e.g. m² of elderly space per 100 households).
    HundredHouseholds,
    /// Per 1,000 residents (e.g. nursery places per 1,000 people); residents are
    /// households × the catalogue's `residents_per_household`.
    ThousandResidents,
}

/// A capacity requirement: `amount` units of the kind's capacity per [`RatioBasis`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CapacityRatio {
    /// Units of capacity required per basis.
    pub amount: f64,
    /// What the amount is counted per.
    pub per: RatioBasis,
}

impl CapacityRatio {
    /// Capacity an estate of `households` requires.
    ///
    /// # Units
    /// The kind's capacity unit.
    ///
    /// # Examples
    /// ```
    /// use gapmap::model::{CapacityRatio, RatioBasis};
    /// let nursery = CapacityRatio { amount: 4.5, per: RatioBasis::ThousandResidents };
    /// // 1,000 households × 2.5 residents = 2,500 residents → 11.25 places
    /// assert!((nursery.required(1000, 2.5) - 11.25).abs() < 1e-9);
    /// ```
    #[must_use]
    pub fn required(&self, households: u32, residents_per_household: f64) -> f64 {
        let households = f64::from(households);
        match self.per {
            RatioBasis::Household => self.amount * households,
            RatioBasis::HundredHouseholds => self.amount * households / 100.0,
            RatioBasis::ThousandResidents => {
                self.amount * households * residents_per_household / 1000.0
            }
        }
    }
}

/// One facility kind of the catalogue and the standard it is held to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindSpec {
    /// Machine key used in CLI flags, CSV rows and property names (`day_care`).
    pub key: String,
    /// Chinese label (老年人日间照料中心).
    pub label_zh: String,
    /// English label.
    pub label_en: String,
    /// Service radius: an estate is covered when a facility lies within it.
    ///
    /// # Units
    /// Metres, walking distance approximated by straight-line distance.
    pub radius_m: f64,
    /// Living-circle level.
    pub circle: LivingCircle,
    /// Required capacity per demand, when the standard sets one.
    #[serde(default)]
    pub ratio: Option<CapacityRatio>,
    /// Unit of the facilities' `capacity` property (beds, spaces, places, m2…).
    #[serde(default)]
    pub capacity_unit: Option<String>,
    /// The clause this row cites (`GB 50180-2018 App. B, table B.0.2`).
    pub clause: String,
    /// `false` when the figure was not checked against the official text.
    #[serde(default = "default_true")]
    pub confirmed: bool,
    /// OSM tag sets that make a feature this kind: each entry is `k=v` pairs joined by `;`,
    /// all of which must match (`amenity=social_facility;social_facility=day_care`).
    #[serde(default)]
    pub osm: Vec<String>,
    /// AMap (高德) type-code prefixes for this kind (`141204`).
    #[serde(default)]
    pub amap_types: Vec<String>,
    /// Name keywords that identify this kind in POI sources without codes (`日间照料`).
    #[serde(default)]
    pub keywords: Vec<String>,
}

fn default_true() -> bool {
    true
}

/// Problems with a catalogue's content.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CatalogueError {
    /// Two rows share a key.
    #[error("facility kind `{0}` is listed twice")]
    DuplicateKind(String),
    /// A radius is not a positive finite number.
    #[error("facility kind `{key}` has radius_m = {radius_m}; it must be a positive number of metres")]
    BadRadius {
        /// Kind key.
        key: String,
        /// The offending radius.
        radius_m: f64,
    },
    /// A ratio is negative or not finite.
    #[error("facility kind `{key}` has ratio amount {amount}; it must be a non-negative number")]
    BadRatio {
        /// Kind key.
        key: String,
        /// The offending amount.
        amount: f64,
    },
    /// A key that is not `[a-z0-9_]+`.
    #[error("facility kind key `{0}` must be lowercase letters, digits and underscores")]
    BadKey(String),
    /// residents_per_household is not positive.
    #[error("residents_per_household = {0}; it must be a positive number")]
    BadResidents(f64),
    /// More kinds than a [`KindId`] can address.
    #[error("the catalogue has {0} kinds; at most 65535 are supported")]
    TooManyKinds(usize),
    /// A kind named by the user does not exist.
    #[error("unknown facility kind `{key}`; the catalogue has: {known}")]
    UnknownKind {
        /// What the user wrote.
        key: String,
        /// Comma-separated known keys.
        known: String,
    },
}

/// The facility catalogue: which kinds exist and the radius and ratio each is held to.
///
/// The default is GB 50180-2018 (`data/standards/gb50180-2018.toml`); cities override rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalogue {
    /// Title of the standard set.
    pub name: String,
    /// Residents per household, converting households to residents for per-capita ratios.
    pub residents_per_household: f64,
    /// The kinds, in output order.
    pub kinds: Vec<KindSpec>,
}

impl Catalogue {
    /// Checks keys, radii and ratios.
    ///
    /// # Errors
    /// The first [`CatalogueError`] found, naming the kind.
    pub fn validate(&self) -> Result<(), CatalogueError> {
        if !(self.residents_per_household.is_finite() && self.residents_per_household > 0.0) {
            return Err(CatalogueError::BadResidents(self.residents_per_household));
        }
        if self.kinds.len() > usize::from(u16::MAX) {
            return Err(CatalogueError::TooManyKinds(self.kinds.len()));
        }
        let mut seen = std::collections::HashSet::new();
        for kind in &self.kinds {
            if kind.key.is_empty()
                || !kind
                    .key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(CatalogueError::BadKey(kind.key.clone()));
            }
            if !seen.insert(kind.key.as_str()) {
                return Err(CatalogueError::DuplicateKind(kind.key.clone()));
            }
            if !(kind.radius_m.is_finite() && kind.radius_m > 0.0) {
                return Err(CatalogueError::BadRadius {
                    key: kind.key.clone(),
                    radius_m: kind.radius_m,
                });
            }
            if let Some(ratio) = kind.ratio {
                if !(ratio.amount.is_finite() && ratio.amount >= 0.0) {
                    return Err(CatalogueError::BadRatio {
                        key: kind.key.clone(),
                        amount: ratio.amount,
                    });
                }
            }
        }
        Ok(())
    }

    /// Looks a kind up by key.
    #[must_use]
    pub fn kind_id(&self, key: &str) -> Option<KindId> {
        self.kinds
            .iter()
            .position(|k| k.key == key)
            .and_then(|i| u16::try_from(i).ok())
            .map(KindId)
    }

    /// Looks a kind up by key, or says which keys exist.
    ///
    /// # Errors
    /// [`CatalogueError::UnknownKind`] listing the known keys.
    pub fn require_kind(&self, key: &str) -> Result<KindId, CatalogueError> {
        self.kind_id(key).ok_or_else(|| CatalogueError::UnknownKind {
            key: key.to_owned(),
            known: self.keys().collect::<Vec<_>>().join(", "),
        })
    }

    /// The spec of a kind.
    ///
    /// # Panics
    /// When `id` did not come from this catalogue.
    #[must_use]
    pub fn spec(&self, id: KindId) -> &KindSpec {
        &self.kinds[id.index()]
    }

    /// Kind keys in catalogue order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.kinds.iter().map(|k| k.key.as_str())
    }

    /// Number of kinds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// Whether the catalogue has no kinds.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Sets one kind's radius (the CLI's `--radius KIND=METRES`).
    ///
    /// # Errors
    /// Unknown kind or a radius that is not positive.
    pub fn set_radius(&mut self, key: &str, radius_m: f64) -> Result<(), CatalogueError> {
        let id = self.require_kind(key)?;
        if !(radius_m.is_finite() && radius_m > 0.0) {
            return Err(CatalogueError::BadRadius { key: key.to_owned(), radius_m });
        }
        self.kinds[id.index()].radius_m = radius_m;
        Ok(())
    }
}
