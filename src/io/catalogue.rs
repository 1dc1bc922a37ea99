//! Reading the facility catalogue TOML and merging user overrides.
//!
//! The built-in catalogue (`data/standards/gb50180-2018.toml`) is compiled into the binary so
//! gapmap works from any directory. A user catalogue patches it: a `[[kind]]` row whose `key`
//! exists replaces only the fields it sets; a new key adds a kind (then every field is required);
//! `[catalogue] replace = true` starts from an empty catalogue instead.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::LoadError;
use crate::model::{CapacityRatio, Catalogue, KindSpec, LivingCircle};

/// The built-in catalogue's TOML text.
pub const BUILTIN_TOML: &str = include_str!("../../data/standards/gb50180-2018.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    catalogue: Header,
    #[serde(default)]
    kind: Vec<KindPatch>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: Option<String>,
    residents_per_household: Option<f64>,
    #[serde(default)]
    replace: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KindPatch {
    key: String,
    label_zh: Option<String>,
    label_en: Option<String>,
    radius_m: Option<f64>,
    circle: Option<LivingCircle>,
    ratio: Option<CapacityRatio>,
    capacity_unit: Option<String>,
    clause: Option<String>,
    confirmed: Option<bool>,
    osm: Option<Vec<String>>,
    amap_types: Option<Vec<String>>,
    keywords: Option<Vec<String>>,
}

/// The built-in GB 50180-2018 catalogue.
///
/// # Panics
/// Never in a released binary: a unit test parses the embedded file.
#[must_use]
pub fn builtin_catalogue() -> Catalogue {
    let mut catalogue = empty();
    apply(&mut catalogue, BUILTIN_TOML, Path::new("<built-in gb50180-2018.toml>"))
        .expect("the built-in catalogue is valid (tested)");
    catalogue
}

fn empty() -> Catalogue {
    Catalogue { name: String::new(), residents_per_household: 0.0, kinds: Vec::new() }
}

/// The built-in catalogue patched by `user` when given.
///
/// # Errors
/// [`LoadError::Read`] or [`LoadError::Catalogue`] naming the file and the problem.
pub fn load_catalogue(user: Option<&Path>) -> Result<Catalogue, LoadError> {
    let mut catalogue = builtin_catalogue();
    if let Some(path) = user {
        let text = std::fs::read_to_string(path)
            .map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
        apply(&mut catalogue, &text, path)?;
    }
    Ok(catalogue)
}

/// Parses a catalogue TOML text on its own (no built-in base).
///
/// # Errors
/// [`LoadError::Catalogue`].
pub fn parse_catalogue(text: &str, path: &Path) -> Result<Catalogue, LoadError> {
    let mut catalogue = empty();
    apply(&mut catalogue, text, path)?;
    Ok(catalogue)
}

fn apply(catalogue: &mut Catalogue, text: &str, path: &Path) -> Result<(), LoadError> {
    let err = |message: String| LoadError::Catalogue { path: PathBuf::from(path), message };
    let file: CatalogueFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
    if file.catalogue.replace {
        *catalogue = empty();
    }
    if let Some(name) = file.catalogue.name {
        catalogue.name = name;
    }
    if let Some(r) = file.catalogue.residents_per_household {
        catalogue.residents_per_household = r;
    }
    for patch in file.kind {
        if let Some(existing) = catalogue.kinds.iter_mut().find(|k| k.key == patch.key) {
            patch_kind(existing, patch);
        } else {
            let key = patch.key.clone();
            let missing = |field: &str| err(format!("new kind `{key}` needs `{field}`"));
            catalogue.kinds.push(KindSpec {
                label_zh: patch.label_zh.ok_or_else(|| missing("label_zh"))?,
                label_en: patch.label_en.ok_or_else(|| missing("label_en"))?,
                radius_m: patch.radius_m.ok_or_else(|| missing("radius_m"))?,
                circle: patch.circle.ok_or_else(|| missing("circle"))?,
                clause: patch.clause.ok_or_else(|| missing("clause"))?,
                ratio: patch.ratio,
                capacity_unit: patch.capacity_unit,
                confirmed: patch.confirmed.unwrap_or(false),
                osm: patch.osm.unwrap_or_default(),
                amap_types: patch.amap_types.unwrap_or_default(),
                keywords: patch.keywords.unwrap_or_default(),
                key: patch.key,
            });
        }
    }
    catalogue.validate().map_err(|e| err(e.to_string()))
}

fn patch_kind(kind: &mut KindSpec, patch: KindPatch) {
    macro_rules! set {
        ($($field:ident),*) => { $( if let Some(v) = patch.$field { kind.$field = v; } )* };
    }
    set!(label_zh, label_en, radius_m, circle, clause, confirmed, osm, amap_types, keywords);
    if patch.ratio.is_some() {
        kind.ratio = patch.ratio;
    }
    if patch.capacity_unit.is_some() {
        kind.capacity_unit = patch.capacity_unit;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_the_required_kinds() {
        let c = builtin_catalogue();
        for key in ["day_care", "nursery", "kindergarten", "health_station", "market", "parking", "ev_charger"] {
            assert!(c.kind_id(key).is_some(), "{key}");
        }
        assert_eq!(c.spec(c.kind_id("kindergarten").expect("listed")).radius_m, 300.0);
    }

    #[test]
    fn user_rows_patch_and_add() {
        let mut c = builtin_catalogue();
        let n = c.len();
        apply(&mut c, "[[kind]]\nkey = \"market\"\nradius_m = 800\n\n[[kind]]\nkey = \"canteen\"\nlabel_zh = \"社区食堂\"\nlabel_en = \"Canteen\"\nradius_m = 300\ncircle = \"5min\"\nclause = \"city rule\"\n", Path::new("u.toml")).expect("valid");
        assert_eq!(c.len(), n + 1);
        let market = c.spec(c.kind_id("market").expect("listed"));
        assert_eq!(market.radius_m, 800.0);
        assert_eq!(market.label_en, "Fresh market");
    }

    #[test]
    fn errors_name_the_problem() {
        let mut c = builtin_catalogue();
        let e = apply(&mut c, "[[kind]]\nkey = \"spa\"\nradius_m = 3\n", Path::new("u.toml")).expect_err("incomplete");
        assert!(e.to_string().contains("new kind `spa` needs `label_zh`"), "{e}");
        let e = apply(&mut c, "[[kind]]\nkey = \"market\"\nradius_m = -3\n", Path::new("u.toml")).expect_err("negative");
        assert!(e.to_string().contains("radius_m = -3"), "{e}");
        let e = apply(&mut c, "[[kind]]\nkey = \"market\"\nradius = 3\n", Path::new("u.toml")).expect_err("typo");
        assert!(e.to_string().contains("unknown field `radius`"), "{e}");
    }
}
