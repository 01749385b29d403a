//! NVENC presence probing through a run-time loaded `libnvidia-encode.so.1`.
//!
//! `NvEncodeAPIGetMaxSupportedVersion`, then `NvEncodeAPICreateInstance` for
//! the function list, then `nvEncOpenEncodeSessionEx` on a CUDA context and
//! `nvEncDestroyEncoder`. The library ships with the driver even on cards
//! without an encoder (Hopper compute parts such as H100/H200 have NVDEC but
//! no NVENC); there opening the session fails with
//! `NV_ENC_ERR_NO_ENCODE_DEVICE` or `NV_ENC_ERR_UNSUPPORTED_DEVICE`, which is
//! reported as [`NvencOutcome::NoEncoder`], not as an error.
//!
//! Layouts and constants mirror NVIDIA's `nvEncodeAPI.h`. The two structures
//! used kept their struct versions (function list 2, session params 1), their
//! size and the slots used here from SDK 9.0 through 12.0, the newest API
//! version requested ([`MAX_API_VERSION`]); drivers accept older API versions.

use std::ffi::{c_int, c_void};
use std::mem::{offset_of, size_of};

use libloading::Library;
use serde::Serialize;

use crate::cuda::{CudaContext, CudaDriver, load_library, sym};

/// The NVENC library's soname.
pub(crate) const LIBRARY: &str = "libnvidia-encode.so.1";

/// Newest NVENC API version (major, minor) requested: the newest whose
/// structures this module was checked against. A newer driver is asked for this one.
pub const MAX_API_VERSION: (u32, u32) = (12, 0);
/// Oldest NVENC API version (major, minor) this module knows the layouts of.
pub const MIN_API_VERSION: (u32, u32) = (9, 0);

/// `NV_ENC_DEVICE_TYPE_CUDA`.
const NV_ENC_DEVICE_TYPE_CUDA: u32 = 1;
/// `NV_ENCODE_API_FUNCTION_LIST_VER` is `NVENCAPI_STRUCT_VERSION(2)`.
const FUNCTION_LIST_STRUCT_VERSION: u32 = 2;
/// `NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS_VER` is `NVENCAPI_STRUCT_VERSION(1)`.
const OPEN_SESSION_EX_PARAMS_STRUCT_VERSION: u32 = 1;
/// `NV_ENC_ERR_NO_ENCODE_DEVICE`.
const NV_ENC_ERR_NO_ENCODE_DEVICE: c_int = 1;
/// `NV_ENC_ERR_UNSUPPORTED_DEVICE`.
const NV_ENC_ERR_UNSUPPORTED_DEVICE: c_int = 2;

/// `NVENCSTATUS` names by value (nvEncodeAPI.h, SDK 12.0).
const STATUS_NAMES: [&str; 26] = [
    "NV_ENC_SUCCESS",
    "NV_ENC_ERR_NO_ENCODE_DEVICE",
    "NV_ENC_ERR_UNSUPPORTED_DEVICE",
    "NV_ENC_ERR_INVALID_ENCODERDEVICE",
    "NV_ENC_ERR_INVALID_DEVICE",
    "NV_ENC_ERR_DEVICE_NOT_EXIST",
    "NV_ENC_ERR_INVALID_PTR",
    "NV_ENC_ERR_INVALID_EVENT",
    "NV_ENC_ERR_INVALID_PARAM",
    "NV_ENC_ERR_INVALID_CALL",
    "NV_ENC_ERR_OUT_OF_MEMORY",
    "NV_ENC_ERR_ENCODER_NOT_INITIALIZED",
    "NV_ENC_ERR_UNSUPPORTED_PARAM",
    "NV_ENC_ERR_LOCK_BUSY",
    "NV_ENC_ERR_NOT_ENOUGH_BUFFER",
    "NV_ENC_ERR_INVALID_VERSION",
    "NV_ENC_ERR_MAP_FAILED",
    "NV_ENC_ERR_NEED_MORE_INPUT",
    "NV_ENC_ERR_ENCODER_BUSY",
    "NV_ENC_ERR_EVENT_NOT_REGISTERD",
    "NV_ENC_ERR_GENERIC",
    "NV_ENC_ERR_INCOMPATIBLE_CLIENT_KEY",
    "NV_ENC_ERR_UNIMPLEMENTED",
    "NV_ENC_ERR_RESOURCE_REGISTER_FAILED",
    "NV_ENC_ERR_RESOURCE_NOT_REGISTERED",
    "NV_ENC_ERR_RESOURCE_NOT_MAPPED",
];

/// `NVENCSTATUS` (a C enum).
type NvencStatus = c_int;

type DestroyEncoderFn = unsafe extern "C" fn(*mut c_void) -> NvencStatus;
type OpenSessionExFn =
    unsafe extern "C" fn(*mut OpenEncodeSessionExParams, *mut *mut c_void) -> NvencStatus;

/// `NV_ENCODE_API_FUNCTION_LIST`: `version`, `reserved`, then 318 pointer
/// slots (named entries, `reserved1`, and the `reserved2` tail, which newer
/// SDKs keep eating into without changing the total). Only the two entries
/// used are typed; their positions are the same from SDK 9.0 to 13.
#[repr(C)]
struct FunctionList {
    version: u32,
    reserved: u32,
    /// `nvEncOpenEncodeSession` .. `nvEncUnmapInputResource`.
    _before_destroy: [*mut c_void; 27],
    /// Slot 27: `nvEncDestroyEncoder`.
    destroy_encoder: Option<DestroyEncoderFn>,
    /// Slot 28: `nvEncInvalidateRefFrames`.
    _invalidate_ref_frames: *mut c_void,
    /// Slot 29: `nvEncOpenEncodeSessionEx`.
    open_encode_session_ex: Option<OpenSessionExFn>,
    /// Slots 30..318: the rest and the reserved tail.
    _rest: [*mut c_void; 288],
}

/// `NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS`.
#[repr(C)]
struct OpenEncodeSessionExParams {
    version: u32,
    /// `NV_ENC_DEVICE_TYPE`.
    device_type: u32,
    /// For CUDA, the `CUcontext`.
    device: *mut c_void,
    reserved: *mut c_void,
    /// `NVENCAPI_VERSION` of the API version asked for.
    api_version: u32,
    reserved1: [u32; 253],
    reserved2: [*mut c_void; 64],
}

#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<FunctionList>() == 2552);
    assert!(offset_of!(FunctionList, destroy_encoder) == 8 + 27 * 8);
    assert!(offset_of!(FunctionList, open_encode_session_ex) == 8 + 29 * 8);
    assert!(size_of::<OpenEncodeSessionExParams>() == 1552);
    assert!(offset_of!(OpenEncodeSessionExParams, device) == 8);
    assert!(offset_of!(OpenEncodeSessionExParams, api_version) == 24);
    assert!(offset_of!(OpenEncodeSessionExParams, reserved2) == 1040);
};

/// `NVENCAPI_VERSION`: `major | (minor << 24)`.
fn api_version(major: u32, minor: u32) -> u32 {
    major | (minor << 24)
}

/// `NVENCAPI_STRUCT_VERSION(ver)`: `NVENCAPI_VERSION | (ver << 16) | (0x7 << 28)`.
fn struct_version(api: u32, ver: u32) -> u32 {
    api | (ver << 16) | (0x7 << 28)
}

/// Splits `NvEncodeAPIGetMaxSupportedVersion`'s answer: the low 4 bits are
/// the minor version, the rest the major.
pub(crate) fn split_max_version(raw: u32) -> (u32, u32) {
    (raw >> 4, raw & 0xf)
}

/// The API version to ask for, given the driver's newest.
fn choose_api(driver_max: (u32, u32)) -> Result<(u32, u32), String> {
    if driver_max < MIN_API_VERSION {
        return Err(format!(
            "the driver's NVENC API {}.{} is older than {}.{}, the oldest this probe knows",
            driver_max.0, driver_max.1, MIN_API_VERSION.0, MIN_API_VERSION.1
        ));
    }
    Ok(driver_max.min(MAX_API_VERSION))
}

/// The `NVENCSTATUS` name for `code`.
pub fn status_name(code: i32) -> String {
    usize::try_from(code)
        .ok()
        .and_then(|i| STATUS_NAMES.get(i))
        .map_or_else(|| format!("NVENCSTATUS {code}"), |s| (*s).to_string())
}

/// How the NVENC probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NvencOutcome {
    /// An encode session opened: the device has NVENC.
    Present,
    /// The driver says the device has no encoder (Hopper compute cards).
    NoEncoder,
    /// `libnvidia-encode.so.1` (or an entry point) is missing.
    #[default]
    LibraryMissing,
    /// Something else failed; see the status and detail.
    Error,
}

/// What the NVENC probe found on one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct NvencProbe {
    /// `libnvidia-encode.so.1` loaded with its two exported entry points.
    pub library: bool,
    /// Newest API version the driver supports, "major.minor" (empty if unknown).
    pub max_api_version: String,
    /// API version asked for, "major.minor" (empty if none was).
    pub api_version: String,
    /// An encode session opened on the device.
    pub encoder_present: bool,
    /// How it ended.
    pub outcome: NvencOutcome,
    /// The failing call's `NVENCSTATUS`, if one failed.
    pub status_code: Option<i32>,
    /// Its name, e.g. "NV_ENC_ERR_UNSUPPORTED_DEVICE".
    pub status_name: Option<String>,
    /// What happened, when not [`NvencOutcome::Present`].
    pub detail: String,
}

impl NvencProbe {
    fn missing(detail: String) -> Self {
        Self {
            detail,
            ..Self::default()
        }
    }

    /// A failure with no `NVENCSTATUS` behind it.
    pub(crate) fn error(library: bool, detail: String) -> Self {
        Self {
            library,
            outcome: NvencOutcome::Error,
            detail,
            ..Self::default()
        }
    }

    /// Records a failed call: "no encoder" for the two statuses that mean
    /// that, an error otherwise.
    fn failed_with(mut self, status: NvencStatus, call: &str) -> Self {
        let name = status_name(status);
        if status == NV_ENC_ERR_NO_ENCODE_DEVICE || status == NV_ENC_ERR_UNSUPPORTED_DEVICE {
            self.outcome = NvencOutcome::NoEncoder;
            self.detail = format!("no NVENC encoder on this device ({call}: {name})");
        } else {
            self.outcome = NvencOutcome::Error;
            self.detail = format!("{call} failed with {name} ({status})");
        }
        self.status_code = Some(status);
        self.status_name = Some(name);
        self
    }
}

/// `libnvidia-encode.so.1` with its two exports resolved.
pub(crate) struct NvencLib {
    get_max_supported_version: unsafe extern "C" fn(*mut u32) -> NvencStatus,
    create_instance: unsafe extern "C" fn(*mut FunctionList) -> NvencStatus,
    /// Keeps the pointers above valid.
    _lib: Library,
}

impl NvencLib {
    /// Loads the library; on failure the answer every device gets.
    pub(crate) fn load() -> Result<Self, NvencProbe> {
        let lib = load_library(LIBRARY).map_err(NvencProbe::missing)?;
        // SAFETY: `NVENCSTATUS NvEncodeAPIGetMaxSupportedVersion(uint32_t*)`
        // and `NVENCSTATUS NvEncodeAPICreateInstance(NV_ENCODE_API_FUNCTION_LIST*)`
        // from nvEncodeAPI.h; the pointers stay valid while `lib`, moved
        // alongside them, is loaded.
        let (get_max_supported_version, create_instance) = unsafe {
            match (
                sym(&lib, b"NvEncodeAPIGetMaxSupportedVersion\0"),
                sym(&lib, b"NvEncodeAPICreateInstance\0"),
            ) {
                (Ok(max), Ok(create)) => (*max, *create),
                (Err(e), _) | (_, Err(e)) => return Err(NvencProbe::missing(e)),
            }
        };
        Ok(Self {
            get_max_supported_version,
            create_instance,
            _lib: lib,
        })
    }

    /// Opens and closes an encode session on `ctx`'s device.
    pub(crate) fn probe(&self, ctx: &CudaContext<'_>) -> NvencProbe {
        let mut out = NvencProbe {
            library: true,
            ..NvencProbe::default()
        };
        let mut raw = 0u32;
        // SAFETY: out-pointer to a local.
        let status = unsafe { (self.get_max_supported_version)(&mut raw) };
        if status != 0 {
            return out.failed_with(status, "NvEncodeAPIGetMaxSupportedVersion");
        }
        let driver_max = split_max_version(raw);
        out.max_api_version = format!("{}.{}", driver_max.0, driver_max.1);
        let (major, minor) = match choose_api(driver_max) {
            Ok(v) => v,
            Err(e) => {
                out.outcome = NvencOutcome::Error;
                out.detail = e;
                return out;
            }
        };
        out.api_version = format!("{major}.{minor}");
        let api = api_version(major, minor);

        // SAFETY: all-zero is a valid FunctionList (null pointers, `None`s),
        // and the header asks for the reserved fields to be zero.
        let mut list: Box<FunctionList> = Box::new(unsafe { std::mem::zeroed() });
        list.version = struct_version(api, FUNCTION_LIST_STRUCT_VERSION);
        // SAFETY: a zeroed, versioned NV_ENCODE_API_FUNCTION_LIST of the full
        // size for this version; the driver fills the entries.
        let status = unsafe { (self.create_instance)(&mut *list) };
        if status != 0 {
            return out.failed_with(status, "NvEncodeAPICreateInstance");
        }
        let (Some(open), Some(destroy)) = (list.open_encode_session_ex, list.destroy_encoder)
        else {
            out.outcome = NvencOutcome::Error;
            out.detail =
                "NvEncodeAPICreateInstance left nvEncOpenEncodeSessionEx/nvEncDestroyEncoder null"
                    .into();
            return out;
        };

        // SAFETY: all-zero is a valid OpenEncodeSessionExParams, and the header
        // asks for the reserved fields to be zero.
        let mut params: Box<OpenEncodeSessionExParams> = Box::new(unsafe { std::mem::zeroed() });
        params.version = struct_version(api, OPEN_SESSION_EX_PARAMS_STRUCT_VERSION);
        params.device_type = NV_ENC_DEVICE_TYPE_CUDA;
        params.device = ctx.raw();
        params.api_version = api;
        let mut encoder: *mut c_void = std::ptr::null_mut();
        // SAFETY: versioned parameters naming a live CUDA context (current on
        // this thread) and an out-pointer to a local.
        let status = unsafe { open(&mut *params, &mut encoder) };
        if !encoder.is_null() {
            // The header: even when opening fails, a returned encoder must be
            // destroyed. The result changes nothing here.
            // SAFETY: `encoder` came from nvEncOpenEncodeSessionEx and is
            // destroyed once, before `ctx` goes.
            unsafe { destroy(encoder) };
        }
        if status != 0 {
            return out.failed_with(status, "nvEncOpenEncodeSessionEx");
        }
        out.encoder_present = true;
        out.outcome = NvencOutcome::Present;
        out
    }
}

/// Probes NVENC on the device with ordinal `index`: loads the libraries,
/// creates a context there, opens and closes a session, destroys the context.
/// Never fails: problems end up in [`NvencProbe::detail`].
pub fn probe_device(index: i32) -> NvencProbe {
    let lib = match NvencLib::load() {
        Ok(lib) => lib,
        Err(missing) => return missing,
    };
    let driver = match CudaDriver::load() {
        Ok(driver) => driver,
        Err(e) => return NvencProbe::error(true, e),
    };
    match driver.context_for(index) {
        Ok(ctx) => lib.probe(&ctx),
        Err(e) => NvencProbe::error(true, format!("no CUDA context: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_macros_match_nv_encode_api_h() {
        // NVENCAPI_VERSION for 12.0 and 9.1.
        assert_eq!(api_version(12, 0), 0x0000_000C);
        assert_eq!(api_version(9, 1), 0x0100_0009);
        // NV_ENCODE_API_FUNCTION_LIST_VER and NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS_VER at 12.0.
        assert_eq!(
            struct_version(api_version(12, 0), FUNCTION_LIST_STRUCT_VERSION),
            0x7002_000C
        );
        assert_eq!(
            struct_version(api_version(12, 0), OPEN_SESSION_EX_PARAMS_STRUCT_VERSION),
            0x7001_000C
        );
    }

    #[test]
    fn the_driver_maximum_is_capped_to_the_known_layouts() {
        assert_eq!(split_max_version(0xD1), (13, 1));
        assert_eq!(split_max_version(0xC0), (12, 0));
        assert_eq!(choose_api((13, 1)), Ok((12, 0)));
        assert_eq!(choose_api((12, 2)), Ok((12, 0)));
        assert_eq!(choose_api((12, 0)), Ok((12, 0)));
        assert_eq!(choose_api((11, 1)), Ok((11, 1)));
        assert_eq!(choose_api((9, 0)), Ok((9, 0)));
        assert!(choose_api((8, 1)).is_err());
    }

    #[test]
    fn hopper_statuses_mean_no_encoder_others_are_errors() {
        let base = NvencProbe {
            library: true,
            ..NvencProbe::default()
        };
        for code in [NV_ENC_ERR_NO_ENCODE_DEVICE, NV_ENC_ERR_UNSUPPORTED_DEVICE] {
            let p = base.clone().failed_with(code, "nvEncOpenEncodeSessionEx");
            assert_eq!(p.outcome, NvencOutcome::NoEncoder);
            assert!(!p.encoder_present);
            assert_eq!(p.status_code, Some(code));
        }
        let p = base.failed_with(15, "nvEncOpenEncodeSessionEx");
        assert_eq!(p.outcome, NvencOutcome::Error);
        assert_eq!(p.status_name.as_deref(), Some("NV_ENC_ERR_INVALID_VERSION"));
        assert!(
            p.detail.contains("NV_ENC_ERR_INVALID_VERSION"),
            "{}",
            p.detail
        );
    }

    #[test]
    fn status_names() {
        assert_eq!(status_name(0), "NV_ENC_SUCCESS");
        assert_eq!(status_name(1), "NV_ENC_ERR_NO_ENCODE_DEVICE");
        assert_eq!(status_name(2), "NV_ENC_ERR_UNSUPPORTED_DEVICE");
        assert_eq!(status_name(20), "NV_ENC_ERR_GENERIC");
        assert_eq!(status_name(25), "NV_ENC_ERR_RESOURCE_NOT_MAPPED");
        assert_eq!(status_name(99), "NVENCSTATUS 99");
        assert_eq!(status_name(-1), "NVENCSTATUS -1");
    }

    #[test]
    fn probe_device_never_panics_and_explains_failure() {
        let p = probe_device(0);
        assert_eq!(p.encoder_present, p.outcome == NvencOutcome::Present);
        if !p.encoder_present {
            assert!(!p.detail.is_empty(), "no encoder and no reason given");
        }
        if !p.library {
            assert_eq!(p.outcome, NvencOutcome::LibraryMissing);
        }
    }
}
