//! OpenStreetMap input through GDAL's OSM driver (`.osm` XML and `.osm.pbf`).
//!
//! The driver parses the file once and deals each element to one of five layers. Reading two
//! layers one after the other would make it buffer the second while the first is read, so the
//! reader uses GDAL's documented pattern for several layers: `SET interest_layers` (the driver
//! then skips the other layers entirely) plus interleaved reading, where each layer is read until
//! it pauses and the round repeats until every layer is exhausted. One pass over the file,
//! bounded memory, for any file size.
//!
//! Tags the driver has no column for arrive in `other_tags` as an hstore string
//! (`"amenity"=>"kindergarten","capacity"=>"120"`); they are expanded into ordinary properties
//! so that the loader can map `amenity` whether it was a column or not.

use std::path::Path;

use gdal::vector::LayerAccess;
use geo::{Geometry, InteriorPoint};

use super::read::{self, Schema};
use super::OsmRole;
use crate::io::{LoadError, LoadReport, RawFeature, SourceInfo};
use crate::model::{AttrValue, Attributes, FeatureId};

const POINTS: &str = "points";
const LINES: &str = "lines";
const MULTIPOLYGONS: &str = "multipolygons";
const OTHER_TAGS: &str = "other_tags";

/// Reads `path` in `role`; see [`OsmRole`].
pub(super) fn read(
    path: &Path,
    role: OsmRole,
    report: &mut LoadReport,
    sink: &mut dyn FnMut(RawFeature),
) -> Result<SourceInfo, LoadError> {
    let wanted: &[&str] = match role {
        OsmRole::Estates => &[MULTIPOLYGONS],
        OsmRole::Facilities => &[POINTS, MULTIPOLYGONS],
        OsmRole::Network => &[LINES, POINTS],
    };
    // Thread-local, so other threads using GDAL at the same time are unaffected; the driver
    // reads it when the dataset first reads features.
    let _interleaved = ThreadConfig::set("OGR_INTERLEAVED_READING", "YES", path)?;
    let dataset = read::open(path, &[])?;
    let format = dataset.driver().short_name();
    if format != "OSM" {
        return Err(LoadError::Gdal {
            path: path.to_owned(),
            message: format!(
                "an OpenStreetMap role needs a .osm or .osm.pbf file; GDAL opened this one with \
                 the {format} driver"
            ),
        });
    }
    read::declare_osm_interest(&dataset, path, wanted)?;
    let mut layers = Vec::with_capacity(wanted.len());
    for name in wanted {
        let layer = dataset.layer_by_name(name).map_err(|e| read::gdal_error(path, &e))?;
        let schema = Schema::of(layer.defn());
        layers.push((*name, layer, schema));
    }
    let declared_crs = layers.first().and_then(|(_, layer, _)| read::declared_crs(layer));

    let mut index = 0;
    let mut not_residential = 0_usize;
    loop {
        let mut any = false;
        for (name, layer, schema) in &mut layers {
            let is_area = *name == MULTIPOLYGONS;
            let is_line = *name == LINES;
            for feature in layer.features() {
                any = true;
                let this = index;
                index += 1;
                let mut properties = schema.properties(&feature);
                // Expanded first: with a custom osmconf.ini, `landuse` may be in other_tags.
                expand_other_tags(&mut properties, path, this, report);
                if role == OsmRole::Estates
                    && !properties.iter().any(|(k, v)| {
                        k == "landuse" && matches!(v, AttrValue::Text(t) if t == "residential")
                    })
                {
                    not_residential += 1;
                    continue;
                }
                let fid = osm_id(&properties, is_area, is_line);
                let geometry = match read::geometry_of(&feature) {
                    Ok(geometry) => geometry,
                    Err(reason) => {
                        report.reject(path, this, fid.as_ref().map(ToString::to_string), reason);
                        continue;
                    }
                };
                let geometry = if role == OsmRole::Facilities && is_area {
                    properties
                        .push(("osm_geometry".to_owned(), AttrValue::Text("area".to_owned())));
                    // The interior point, unlike the centroid, lies inside L-shaped and ring
                    // areas, so the facility stays on its own site.
                    geometry.and_then(|g| g.interior_point()).map(Geometry::Point)
                } else {
                    geometry
                };
                sink(RawFeature { index: this, fid, geometry, properties });
            }
        }
        if !any {
            break;
        }
    }
    if not_residential > 0 {
        report.warn(format!(
            "{not_residential} multipolygons in {} are not landuse=residential and were skipped",
            path.display()
        ));
    }

    Ok(SourceInfo { declared_crs, format, layer: Some(wanted.join(",")) })
}

/// `node/…` for points, `way/…` for lines; `way/…` or `relation/…` for areas (closed ways carry
/// `osm_way_id`, multipolygon relations `osm_id`).
fn osm_id(properties: &Attributes, is_area: bool, is_line: bool) -> Option<FeatureId> {
    let get = |name: &str| {
        properties.iter().find(|(k, _)| k == name).and_then(|(_, v)| match v {
            AttrValue::Null => None,
            other => Some(other.to_string()),
        })
    };
    let id = if is_area {
        get("osm_way_id")
            .map(|id| format!("way/{id}"))
            .or_else(|| get("osm_id").map(|id| format!("relation/{id}")))
    } else if is_line {
        get("osm_id").map(|id| format!("way/{id}"))
    } else {
        get("osm_id").map(|id| format!("node/{id}"))
    };
    id.map(FeatureId::Text)
}

/// Replaces `other_tags` by one text property per tag; a column of the same name wins. An
/// `other_tags` that does not parse is kept as it is, with a warning.
fn expand_other_tags(
    properties: &mut Attributes,
    path: &Path,
    index: usize,
    report: &mut LoadReport,
) {
    let Some(at) = properties.iter().position(|(k, _)| k == OTHER_TAGS) else { return };
    let AttrValue::Text(hstore) = &properties[at].1 else {
        properties.remove(at);
        return;
    };
    match parse_hstore(hstore) {
        Ok(tags) => {
            properties.remove(at);
            for (key, value) in tags {
                if !properties.iter().any(|(k, _)| *k == key) {
                    properties.push((key, AttrValue::Text(value)));
                }
            }
        }
        Err(reason) => report.warn(format!(
            "{}: feature {index}: other_tags kept as text: {reason}",
            path.display()
        )),
    }
}

/// Parses GDAL's hstore text: `"k"=>"v","k2"=>"v2"`, with `\"` and `\\` escapes inside the
/// quotes. A `NULL` value (never written by GDAL, legal in hstore) drops its key.
///
/// # Errors
/// A description of the first malformed spot.
fn parse_hstore(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut chars = text.chars().peekable();
    let mut tags = Vec::new();
    let skip_spaces = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_spaces(&mut chars);
        if chars.peek().is_none() {
            return Ok(tags);
        }
        let key = quoted(&mut chars).ok_or("expected a quoted key")?;
        skip_spaces(&mut chars);
        if !(chars.next() == Some('=') && chars.next() == Some('>')) {
            return Err(format!("expected `=>` after key `{key}`"));
        }
        skip_spaces(&mut chars);
        let value = if chars.peek() == Some(&'"') {
            Some(quoted(&mut chars).ok_or_else(|| format!("unterminated value for `{key}`"))?)
        } else {
            let word: String = chars.by_ref().take(4).collect();
            if !word.eq_ignore_ascii_case("NULL") {
                return Err(format!("expected a quoted value for `{key}`"));
            }
            None
        };
        skip_spaces(&mut chars);
        let last = match chars.next() {
            None => true,
            Some(',') => false,
            Some(c) => return Err(format!("expected `,` after the value of `{key}`, found `{c}`")),
        };
        if let Some(value) = value {
            tags.push((key, value));
        }
        if last {
            return Ok(tags);
        }
    }
}

/// A `"…"` string with backslash escapes; `None` when it is not one or is unterminated.
fn quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    if chars.next()? != '"' {
        return None;
    }
    let mut out = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
}

/// A thread-local GDAL config option, restored when dropped.
struct ThreadConfig {
    key: &'static str,
    previous: Option<String>,
}

impl ThreadConfig {
    fn set(key: &'static str, value: &str, path: &Path) -> Result<Self, LoadError> {
        const UNSET: &str = "\u{1}unset";
        let previous =
            gdal::config::get_thread_local_config_option(key, UNSET).ok().filter(|v| v != UNSET);
        gdal::config::set_thread_local_config_option(key, value)
            .map_err(|e| read::gdal_error(path, &e))?;
        Ok(Self { key, previous })
    }
}

impl Drop for ThreadConfig {
    fn drop(&mut self) {
        // Nothing useful can be done if restoring fails (it only fails on a NUL byte, and
        // neither key nor previous value can hold one).
        let _ = match &self.previous {
            Some(value) => gdal::config::set_thread_local_config_option(self.key, value),
            None => gdal::config::clear_thread_local_config_option(self.key),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn hstore_parses_gdal_other_tags() {
        assert_eq!(
            parse_hstore(r#""amenity"=>"kindergarten","capacity"=>"120""#),
            Ok(tags(&[("amenity", "kindergarten"), ("capacity", "120")]))
        );
        assert_eq!(
            parse_hstore(r#""operator"=>"Sunshine \"Little Stars\" Ltd \\ Pudong""#),
            Ok(tags(&[("operator", r#"Sunshine "Little Stars" Ltd \ Pudong"#)]))
        );
        assert_eq!(
            parse_hstore(r#" "a" => "x,y=>z" , "b"=>NULL, "c"=>"" "#),
            Ok(tags(&[("a", "x,y=>z"), ("c", "")]))
        );
        assert_eq!(parse_hstore(""), Ok(Vec::new()));
    }

    #[test]
    fn hstore_reports_malformed_text() {
        assert!(parse_hstore(r#""a"=>"unterminated"#).is_err());
        assert!(parse_hstore(r#""a"="b""#).is_err());
        assert!(parse_hstore(r#""a"=>"b" "c"=>"d""#).is_err());
        assert!(parse_hstore("a=>b").is_err());
    }

    #[test]
    fn osm_ids_name_the_element_type() {
        let props = |k: &str| vec![(k.to_owned(), AttrValue::Text("45".to_owned()))];
        assert_eq!(osm_id(&props("osm_id"), false, false), Some(FeatureId::Text("node/45".to_owned())));
        assert_eq!(osm_id(&props("osm_id"), false, true), Some(FeatureId::Text("way/45".to_owned())));
        assert_eq!(osm_id(&props("osm_way_id"), true, false), Some(FeatureId::Text("way/45".to_owned())));
        assert_eq!(osm_id(&props("osm_id"), true, false), Some(FeatureId::Text("relation/45".to_owned())));
    }
}
