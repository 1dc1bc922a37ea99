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
//! - `CPLPushErrorHandler`: errors GDAL raises while writing, gathered with the OS error of the
//!   moment, instead of printed on stderr: the FlatGeobuf driver reports a failed write only
//!   this way ("Unexpected I/O failure: writing feature") and then closes without error.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

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
    fn CPLPushErrorHandler(handler: Option<unsafe extern "C" fn(c_int, c_int, *const c_char)>);
    fn CPLPopErrorHandler();
}

/// `CPLErr::CE_Warning`.
pub(super) const CE_WARNING: c_int = 2;
/// `CPLErr::CE_Failure`.
pub(super) const CE_FAILURE: c_int = 3;

/// An error or warning GDAL raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Raised {
    /// `CPLErr`: [`CE_WARNING`], [`CE_FAILURE`], 4 for fatal.
    pub class: c_int,
    /// The OS error (`errno`) when GDAL raised it: `ENOSPC` after a write that found the disk full.
    pub os_error: Option<i32>,
    pub message: String,
}

thread_local! {
    /// What [`collect_raised`] has gathered on this thread.
    static RAISED: RefCell<Vec<Raised>> = const { RefCell::new(Vec::new()) };
}

/// The handler [`collect_raised`] pushes: records the message and `errno`, prints nothing.
unsafe extern "C" fn record_raised(class: c_int, _number: c_int, message: *const c_char) {
    // Read first: formatting the message below may change errno.
    let os_error = std::io::Error::last_os_error().raw_os_error().filter(|&e| e != 0);
    let message = if message.is_null() {
        String::new()
    } else {
        // SAFETY: GDAL passes a NUL-terminated message valid for the call.
        unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
    };
    // Never panics across the C boundary: a re-entrant call (impossible here) is dropped.
    RAISED.with(|raised| {
        if let Ok(mut raised) = raised.try_borrow_mut() {
            raised.push(Raised { class, os_error, message });
        }
    });
}

/// Runs `f` with GDAL's errors and warnings on this thread gathered (not printed); returns its
/// result and what GDAL raised meanwhile. `errno` is cleared first, so an OS error recorded is
/// one from `f`.
pub(super) fn collect_raised<T>(f: impl FnOnce() -> T) -> (T, Vec<Raised>) {
    let outer = RAISED.with(|raised| std::mem::take(&mut *raised.borrow_mut()));
    clear_errno();
    // SAFETY: the handler is a plain function that never unwinds; push and pop are paired on
    // this thread (GDAL keeps the handler stack per thread), with nothing between them that
    // could skip the pop but a panic in `f`, which leaves a handler that only records.
    unsafe { CPLPushErrorHandler(Some(record_raised)) };
    let result = f();
    // SAFETY: pops the handler pushed above.
    unsafe { CPLPopErrorHandler() };
    let raised = RAISED.with(|raised| std::mem::replace(&mut *raised.borrow_mut(), outer));
    (result, raised)
}

fn clear_errno() {
    #[cfg(target_os = "linux")]
    // SAFETY: `__errno_location` returns this thread's errno, always valid to write.
    unsafe {
        *libc::__errno_location() = 0;
    }
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
