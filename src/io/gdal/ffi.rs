//! The few GDAL C calls that the `gdal` 0.19 crate does not wrap, behind safe functions.
//!
//! Why not `gdal_sys`: gapmap depends on `gdal` only, and `gdal` does not re-export the sys
//! functions. libgdal is already linked through `gdal-sys`, so declaring the symbols here
//! resolves against the same library. The signatures are those of GDAL's stable C API (all
//! present since GDAL 2.2) and match `gdal-sys` 0.12's generated bindings. If `gdal-sys` is
//! ever added to `Cargo.toml`, replace these declarations with its functions.
//!
//! What they buy:
//! - `OGR_F_IsFieldSetAndNotNull`: the crate's getters treat an *unset* field as set, so a
//!   property absent from a `FlatGeobuf` feature or an absent OSM tag would read as `0` or `""`
//!   instead of null.
//! - field subtypes: booleans are `OFTInteger` + `OFSTBoolean`; without the subtype a boolean
//!   would not survive a write/read round trip.
//! - `OSRDemoteTo2D`: the reader drops Z, so a 3D CRS is declared as its 2D counterpart.

use std::ffi::{c_char, c_int, c_uint, c_void, CString};

use gdal::spatial_ref::SpatialRef;
use gdal::vector::{Defn, Feature, LayerAccess, OGRFieldType};

/// `OGRFieldSubType::OFSTBoolean`.
const OFST_BOOLEAN: c_uint = 1;
/// `OGRErr::OGRERR_NONE`.
const OGRERR_NONE: c_uint = 0;

extern "C" {
    fn OGR_F_IsFieldSetAndNotNull(feature: *mut c_void, field: c_int) -> c_int;
    fn OGR_FD_GetFieldCount(defn: *mut c_void) -> c_int;
    fn OGR_FD_GetFieldDefn(defn: *mut c_void, field: c_int) -> *mut c_void;
    fn OGR_Fld_GetSubType(field_defn: *mut c_void) -> c_uint;
    fn OGR_Fld_Create(name: *const c_char, field_type: c_uint) -> *mut c_void;
    fn OGR_Fld_SetSubType(field_defn: *mut c_void, sub_type: c_uint);
    fn OGR_Fld_Destroy(field_defn: *mut c_void);
    fn OGR_L_CreateField(layer: *mut c_void, field_defn: *mut c_void, approx_ok: c_int) -> c_uint;
    fn OSRDemoteTo2D(srs: *mut c_void, name: *const c_char) -> c_uint;
}

/// Whether field `idx` of `feature` holds a value (neither unset nor null).
pub(super) fn has_value(feature: &Feature<'_>, idx: usize) -> bool {
    let Ok(idx) = c_int::try_from(idx) else { return false };
    // SAFETY: the feature handle is valid for the borrow of `feature`; GDAL checks `idx` against
    // the field count and returns FALSE when it is out of range.
    unsafe { OGR_F_IsFieldSetAndNotNull(feature.c_feature(), idx) != 0 }
}

/// Whether field `idx` of `defn` is a boolean (`OFTInteger` with the `OFSTBoolean` subtype).
pub(super) fn is_boolean_field(defn: &Defn, idx: usize) -> bool {
    let Ok(idx) = c_int::try_from(idx) else { return false };
    // SAFETY: the definition handle is valid for the borrow of `defn`; `idx` is checked against
    // the field count before the field definition (owned by `defn`) is fetched.
    unsafe {
        let c_defn = defn.c_defn();
        if idx >= OGR_FD_GetFieldCount(c_defn) {
            return false;
        }
        let field = OGR_FD_GetFieldDefn(c_defn, idx);
        !field.is_null() && OGR_Fld_GetSubType(field) == OFST_BOOLEAN
    }
}

/// Turns a 3D CRS (geographic 3D, compound) into its 2D counterpart in place; PROJ finds the
/// registered 2D CRS where there is one (EPSG:4979 → EPSG:4326).
///
/// # Errors
/// When GDAL (before 3.2) or PROJ cannot demote it.
pub(super) fn demote_to_2d(srs: &mut SpatialRef) -> Result<(), ()> {
    // SAFETY: the handle is owned by `srs`, borrowed mutably for the call; a null name keeps the
    // CRS's own name.
    let rv = unsafe { OSRDemoteTo2D(srs.to_c_hsrs(), std::ptr::null()) };
    if rv == OGRERR_NONE {
        Ok(())
    } else {
        Err(())
    }
}

/// Adds a boolean field (`OFTInteger` + `OFSTBoolean`) named `name` to `layer`.
///
/// # Errors
/// A name with a NUL byte, or the driver refusing the field.
pub(super) fn create_boolean_field<L: LayerAccess>(layer: &L, name: &str) -> Result<(), String> {
    let c_name = CString::new(name).map_err(|e| format!("field name `{name}`: {e}"))?;
    // SAFETY: `OGR_Fld_Create` returns an owned definition that we destroy below on every path;
    // `OGR_L_CreateField` copies it. The layer handle is valid for the borrow of `layer`.
    unsafe {
        let field = OGR_Fld_Create(c_name.as_ptr(), OGRFieldType::OFTInteger);
        if field.is_null() {
            return Err(format!("cannot create field `{name}`"));
        }
        OGR_Fld_SetSubType(field, OFST_BOOLEAN);
        let rv = OGR_L_CreateField(layer.c_layer(), field, 1);
        OGR_Fld_Destroy(field);
        if rv == OGRERR_NONE {
            Ok(())
        } else {
            Err(format!("the driver refused boolean field `{name}` (OGR error {rv})"))
        }
    }
}
