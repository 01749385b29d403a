//! The CUDA driver API through a run-time loaded `libcuda.so.1`: the
//! library, a context, and the symbol and result helpers the NVDEC and
//! NVENC bindings share. What the device is and can do is `probe`'s.

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::marker::PhantomData;

use libloading::{Library, Symbol};

type CuResult = c_int;
/// `CUdevice`.
pub(crate) type CuDevice = c_int;
/// `CUcontext`.
pub(crate) type CuContext = *mut c_void;

const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: c_int = 75;
const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: c_int = 76;

pub(crate) fn can_load(name: &str) -> bool {
    // SAFETY: loading a shared library runs its initialisers; these are the
    // NVIDIA driver's own libraries, loaded the way the CUDA runtime loads them.
    unsafe { Library::new(name) }.is_ok()
}

/// Loads one of the NVIDIA driver's libraries, with the error worded for `detail`.
pub(crate) fn load_library(name: &str) -> Result<Library, String> {
    // SAFETY: see `can_load`.
    unsafe { Library::new(name) }.map_err(|e| format!("{name} not loadable: {e}"))
}

/// The CUDA driver API entry points this crate uses, resolved once.
pub(crate) struct CudaDriver {
    init: unsafe extern "C" fn(c_uint) -> CuResult,
    driver_get_version: unsafe extern "C" fn(*mut c_int) -> CuResult,
    device_get_count: unsafe extern "C" fn(*mut c_int) -> CuResult,
    device_get: unsafe extern "C" fn(*mut CuDevice, c_int) -> CuResult,
    device_get_name: unsafe extern "C" fn(*mut c_char, c_int, CuDevice) -> CuResult,
    device_total_mem: unsafe extern "C" fn(*mut usize, CuDevice) -> CuResult,
    device_get_attribute: unsafe extern "C" fn(*mut c_int, c_int, CuDevice) -> CuResult,
    ctx_create: Option<unsafe extern "C" fn(*mut CuContext, c_uint, CuDevice) -> CuResult>,
    ctx_destroy: Option<unsafe extern "C" fn(CuContext) -> CuResult>,
    mem_get_info: Option<unsafe extern "C" fn(*mut usize, *mut usize) -> CuResult>,
    /// Keeps the pointers above valid.
    _lib: Library,
}

impl CudaDriver {
    /// Loads `libcuda.so.1` and resolves the entry points.
    pub(crate) fn load() -> Result<Self, String> {
        let lib = load_library("libcuda.so.1")?;
        // SAFETY: every symbol is named with its type from cuda.h (driver API,
        // stable since CUDA 4). The copied function pointers stay valid while
        // `lib` is loaded, and `lib` moves into the returned struct with them.
        unsafe {
            let init = *sym(&lib, b"cuInit\0")?;
            let driver_get_version = *sym(&lib, b"cuDriverGetVersion\0")?;
            let device_get_count = *sym(&lib, b"cuDeviceGetCount\0")?;
            let device_get = *sym(&lib, b"cuDeviceGet\0")?;
            let device_get_name = *sym(&lib, b"cuDeviceGetName\0")?;
            let device_total_mem = *sym(&lib, b"cuDeviceTotalMem_v2\0")?;
            let device_get_attribute = *sym(&lib, b"cuDeviceGetAttribute\0")?;
            let ctx_create = sym(&lib, b"cuCtxCreate_v2\0").ok().map(|s| *s);
            let ctx_destroy = sym(&lib, b"cuCtxDestroy_v2\0").ok().map(|s| *s);
            let mem_get_info = sym(&lib, b"cuMemGetInfo_v2\0").ok().map(|s| *s);
            Ok(Self {
                init,
                driver_get_version,
                device_get_count,
                device_get,
                device_get_name,
                device_total_mem,
                device_get_attribute,
                ctx_create,
                ctx_destroy,
                mem_get_info,
                _lib: lib,
            })
        }
    }

    /// `cuInit(0)`; cheap after the first call.
    pub(crate) fn init(&self) -> Result<(), String> {
        // SAFETY: cuInit takes flags (must be 0) and may be called repeatedly.
        check(unsafe { (self.init)(0) }, "cuInit")
    }

    /// The device handle for ordinal `index` (after [`CudaDriver::init`]).
    pub(crate) fn device(&self, index: c_int) -> Result<CuDevice, String> {
        let mut dev: CuDevice = 0;
        // SAFETY: out-pointer to a local.
        check(unsafe { (self.device_get)(&mut dev, index) }, "cuDeviceGet")?;
        Ok(dev)
    }

    /// Creates a context on `dev` and makes it current on this thread until
    /// the returned guard drops (which destroys it).
    pub(crate) fn create_context(&self, dev: CuDevice) -> Result<CudaContext<'_>, String> {
        let (Some(create), Some(destroy)) = (self.ctx_create, self.ctx_destroy) else {
            return Err("libcuda.so.1 lacks cuCtxCreate_v2/cuCtxDestroy_v2".into());
        };
        let mut raw: CuContext = std::ptr::null_mut();
        // SAFETY: out-pointer to a local; flags 0 = default scheduling.
        check(unsafe { create(&mut raw, 0, dev) }, "cuCtxCreate_v2")?;
        if raw.is_null() {
            return Err("cuCtxCreate_v2 returned a null context".into());
        }
        Ok(CudaContext {
            raw,
            destroy,
            _driver: PhantomData,
        })
    }

    /// `cuInit`, `cuDeviceGet` and a context on ordinal `index`.
    pub(crate) fn context_for(&self, index: c_int) -> Result<CudaContext<'_>, String> {
        self.init()?;
        let dev = self.device(index)?;
        self.create_context(dev)
    }

    /// Free bytes on the device of the current context.
    /// The driver API version, e.g. "13.0".
    pub(crate) fn driver_version(&self) -> Result<String, String> {
        let mut v: c_int = 0;
        // SAFETY: out-pointer to a local.
        check(
            unsafe { (self.driver_get_version)(&mut v) },
            "cuDriverGetVersion",
        )?;
        Ok(format!("{}.{}", v / 1000, (v % 1000) / 10))
    }

    /// How many devices the driver sees.
    pub(crate) fn device_count(&self) -> Result<c_int, String> {
        let mut n: c_int = 0;
        // SAFETY: out-pointer to a local.
        check(
            unsafe { (self.device_get_count)(&mut n) },
            "cuDeviceGetCount",
        )?;
        Ok(n)
    }

    /// A device's name, e.g. "NVIDIA H100 80GB HBM3".
    pub(crate) fn device_name(&self, dev: CuDevice) -> Result<String, String> {
        let mut buf = [0 as c_char; 256];
        // SAFETY: the buffer and its true length; the driver NUL-terminates.
        let code = unsafe { (self.device_get_name)(buf.as_mut_ptr(), buf.len() as c_int, dev) };
        check(code, "cuDeviceGetName")?;
        // SAFETY: NUL-terminated by cuDeviceGetName (and zero-initialised).
        Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned())
    }

    /// A device's memory in bytes.
    pub(crate) fn device_total_mem(&self, dev: CuDevice) -> Result<usize, String> {
        let mut bytes: usize = 0;
        // SAFETY: out-pointer to a local.
        check(
            unsafe { (self.device_total_mem)(&mut bytes, dev) },
            "cuDeviceTotalMem",
        )?;
        Ok(bytes)
    }

    /// A device's compute capability (major, minor).
    pub(crate) fn compute_capability(&self, dev: CuDevice) -> Result<(c_int, c_int), String> {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: out-pointers to locals; valid attribute ids from cuda.h.
        unsafe {
            check(
                (self.device_get_attribute)(
                    &mut major,
                    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                    dev,
                ),
                "cuDeviceGetAttribute",
            )?;
            check(
                (self.device_get_attribute)(
                    &mut minor,
                    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                    dev,
                ),
                "cuDeviceGetAttribute",
            )?;
        }
        Ok((major, minor))
    }

    pub(crate) fn free_memory(&self, _ctx: &CudaContext<'_>) -> Option<usize> {
        let info = self.mem_get_info?;
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: out-pointers to locals; `_ctx` is current on this thread.
        (unsafe { info(&mut free, &mut total) } == 0).then_some(free)
    }
}

/// A CUDA context, current on the thread that created it, destroyed on drop.
/// Not `Send`: it must be used and dropped on its creating thread.
pub(crate) struct CudaContext<'d> {
    raw: CuContext,
    destroy: unsafe extern "C" fn(CuContext) -> CuResult,
    _driver: PhantomData<&'d CudaDriver>,
}

impl CudaContext<'_> {
    /// The raw `CUcontext`, e.g. as an NVENC device.
    pub(crate) fn raw(&self) -> CuContext {
        self.raw
    }
}

impl Drop for CudaContext<'_> {
    fn drop(&mut self) {
        // SAFETY: `raw` came from cuCtxCreate_v2 and is destroyed exactly once,
        // here, while the driver library is still loaded (the borrow on it).
        unsafe { (self.destroy)(self.raw) };
    }
}

/// Resolves `name` (NUL-terminated) in `lib`.
///
/// # Safety
/// `T` must be the symbol's true type.
pub(crate) unsafe fn sym<'a, T>(lib: &'a Library, name: &[u8]) -> Result<Symbol<'a, T>, String> {
    // SAFETY: the caller names the symbol with its true type.
    unsafe { lib.get(name) }
        .map_err(|e| format!("{}: {e}", String::from_utf8_lossy(&name[..name.len() - 1])))
}

/// `Ok` for `CUDA_SUCCESS`, else an error naming the call.
pub(crate) fn check(code: CuResult, what: &str) -> Result<(), String> {
    if code == 0 {
        Ok(())
    } else {
        Err(format!("{what} failed with CUDA error {code}"))
    }
}
