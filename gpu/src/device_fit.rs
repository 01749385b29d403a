//! [`FitPlan`] on the device (the `nvidia` feature): the kernels of
//! `gpu/kernels/fit.cu`, loaded from their PTX through the driver, run on a
//! mapped NVDEC surface; only the fitted I420 output is copied back.
//!
//! The caller makes the CUDA context current (the decoder's callbacks run
//! with it current) and checks that a driver exists before
//! [`DeviceFit::new`]: cudarc's loader panics when `libcuda` is missing.

use std::ffi::{CString, c_int, c_longlong, c_uint, c_void};
use std::sync::OnceLock;

use cudarc::driver::sys as cu;

use crate::fit::{FIT_PTX, FitPlan, Outside, PlaneJob};

fn check(r: cu::CUresult, what: &str) -> Result<(), String> {
    if r == cu::CUresult::CUDA_SUCCESS {
        Ok(())
    } else {
        Err(format!("{what} failed: {r:?}"))
    }
}

/// Device memory freed on drop.
struct DeviceBuffer(cu::CUdeviceptr);

impl DeviceBuffer {
    fn new(bytes: usize) -> Result<Self, String> {
        let mut p: cu::CUdeviceptr = 0;
        // SAFETY: a plain allocation with a valid out-pointer.
        check(
            unsafe { cu::cuMemAlloc_v2(&mut p, bytes.max(1)) },
            "cuMemAlloc",
        )?;
        Ok(Self(p))
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated by cuMemAlloc, freed once.
        unsafe {
            cu::cuMemFree_v2(self.0);
        }
    }
}

/// The kernels, loaded once into the process's shared primary context
/// (`sdk::PrimaryContext::shared`) and kept for the life of the process.
struct Kernels {
    fit: cu::CUfunction,
    blur: cu::CUfunction,
}

// SAFETY: function handles of a module that is never unloaded, in a context
// shared by the process; launching them is thread-safe.
unsafe impl Send for Kernels {}
// SAFETY: as above.
unsafe impl Sync for Kernels {}

/// Loads the kernels on first use (the driver compiles the PTX for this
/// card); the shared context must be current.
fn kernels() -> Result<&'static Kernels, String> {
    static KERNELS: OnceLock<Result<Kernels, String>> = OnceLock::new();
    KERNELS
        .get_or_init(|| {
            let ptx = CString::new(FIT_PTX).map_err(|_| "the PTX has a NUL byte".to_string())?;
            let mut module: cu::CUmodule = std::ptr::null_mut();
            // SAFETY: a NUL-terminated PTX image and a valid out-pointer.
            check(
                unsafe { cu::cuModuleLoadData(&mut module, ptx.as_ptr().cast()) },
                "loading the fit kernels (cuModuleLoadData)",
            )?;
            let get = |name: &std::ffi::CStr| -> Result<cu::CUfunction, String> {
                let mut f: cu::CUfunction = std::ptr::null_mut();
                // SAFETY: a loaded module and a NUL-terminated name.
                check(
                    unsafe { cu::cuModuleGetFunction(&mut f, module, name.as_ptr()) },
                    "cuModuleGetFunction",
                )?;
                Ok(f)
            };
            Ok(Kernels {
                fit: get(c"scout_fit_plane")?,
                blur: get(c"scout_box_blur")?,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The fit kernels and their buffers for one source shape.
pub struct DeviceFit {
    plan: FitPlan,
    fit: cu::CUfunction,
    blur: cu::CUfunction,
    out: DeviceBuffer,
    /// Per plane: the background and a scratch plane for the blur passes.
    background: Vec<(DeviceBuffer, DeviceBuffer)>,
    host: Vec<u8>,
}

// SAFETY: used from one thread at a time (owned by the decoder session),
// with the session's context current.
unsafe impl Send for DeviceFit {}

const BLOCK: (u32, u32) = (32, 8);

/// The launch parameter array: a pointer to each argument, in order.
macro_rules! kernel_args {
    ($($a:ident),*) => { [$(std::ptr::addr_of_mut!($a).cast::<c_void>()),*] };
}

impl DeviceFit {
    /// Gets the kernels (loaded once per process) and allocates the output
    /// and background planes for `plan`.
    pub fn new(plan: FitPlan) -> Result<Self, String> {
        let k = kernels()?;
        let mut me = Self {
            out: DeviceBuffer(0),
            background: Vec::new(),
            host: vec![0; plan.output_len()],
            plan,
            fit: k.fit,
            blur: k.blur,
        };
        me.out = DeviceBuffer::new(me.plan.output_len())?;
        if let Some(b) = &me.plan.background {
            for job in &b.planes {
                let len = (job.dst_size.0 * job.dst_size.1) as usize;
                me.background
                    .push((DeviceBuffer::new(len)?, DeviceBuffer::new(len)?));
            }
        }
        Ok(me)
    }

    /// The plan it runs.
    pub fn plan(&self) -> &FitPlan {
        &self.plan
    }

    /// Fits one frame whose source planes are at `planes` (device address,
    /// row pitch in bytes; NV12/P016: luma and chroma) and returns the I420
    /// output, planes packed.
    pub fn run(&mut self, planes: &[(u64, usize)]) -> Result<&[u8], String> {
        if let Some(b) = self.plan.background.clone() {
            for (p, job) in b.planes.iter().enumerate() {
                let (bg, tmp) = &self.background[p];
                let (w, h) = job.dst_size;
                self.launch_fit(job, planes, bg.0, w as usize, None)?;
                for _ in 0..b.passes {
                    self.launch_blur(bg.0, tmp.0, w, h, b.radius[p], true)?;
                    self.launch_blur(tmp.0, bg.0, w, h, b.radius[p], false)?;
                }
            }
        }
        let mut at = 0u64;
        for (p, job) in self.plan.planes.iter().enumerate() {
            let (w, h) = job.dst_size;
            let bg = self.background.get(p).map(|(b, _)| {
                let size = self
                    .plan
                    .background
                    .as_ref()
                    .map_or((0, 0), |bb| bb.planes[p].dst_size);
                (b.0, size)
            });
            self.launch_fit(job, planes, self.out.0 + at, w as usize, bg)?;
            at += u64::from(w * h);
        }
        // SAFETY: the host buffer holds exactly the output's bytes; the
        // copy waits for the kernels on the default stream.
        check(
            unsafe {
                cu::cuMemcpyDtoH_v2(
                    self.host.as_mut_ptr().cast::<c_void>(),
                    self.out.0,
                    self.host.len(),
                )
            },
            "copying the fitted frame back",
        )?;
        Ok(&self.host)
    }

    fn launch_fit(
        &self,
        job: &PlaneJob,
        planes: &[(u64, usize)],
        dst: u64,
        dst_pitch: usize,
        bg: Option<(u64, (u32, u32))>,
    ) -> Result<(), String> {
        let (src, src_pitch) = *planes
            .get(job.src_plane)
            .ok_or_else(|| format!("no source plane {}", job.src_plane))?;
        let m = job.map;
        let (bg_ptr, bg_size) = bg.unwrap_or((0, (0, 0)));
        let (bm, fill) = match job.outside {
            Outside::Fill(f) => (Default::default(), c_int::from(f)),
            Outside::Background(a) => (a, 0),
        };
        let bg_ptr = if matches!(job.outside, Outside::Background(_)) {
            bg_ptr
        } else {
            0
        };
        let mut a_src: u64 = src;
        let mut a_src_pitch = src_pitch as c_int;
        let mut a_src_w = job.src_size.0 as c_int;
        let mut a_src_h = job.src_size.1 as c_int;
        let mut a_bytes = job.layout.bytes as c_int;
        let mut a_step = job.layout.step as c_int;
        let mut a_offset = job.layout.offset as c_int;
        let mut a_u0: c_longlong = m.u0;
        let mut a_dux: c_longlong = m.dux;
        let mut a_duy: c_longlong = m.duy;
        let mut a_v0: c_longlong = m.v0;
        let mut a_dvx: c_longlong = m.dvx;
        let mut a_dvy: c_longlong = m.dvy;
        let mut a_rx = job.rect.x as c_int;
        let mut a_ry = job.rect.y as c_int;
        let mut a_rw = job.rect.w as c_int;
        let mut a_rh = job.rect.h as c_int;
        let mut a_dst: u64 = dst;
        let mut a_dst_pitch = dst_pitch as c_int;
        let mut a_dst_w = job.dst_size.0 as c_int;
        let mut a_dst_h = job.dst_size.1 as c_int;
        let mut a_bg: u64 = bg_ptr;
        let mut a_bg_pitch = bg_size.0 as c_int;
        let mut a_bg_w = bg_size.0 as c_int;
        let mut a_bg_h = bg_size.1 as c_int;
        let mut a_bu0: c_longlong = bm.u0;
        let mut a_bdux: c_longlong = bm.dux;
        let mut a_bv0: c_longlong = bm.v0;
        let mut a_bdvy: c_longlong = bm.dvy;
        let mut a_fill: c_int = fill;
        let mut params = kernel_args!(
            a_src,
            a_src_pitch,
            a_src_w,
            a_src_h,
            a_bytes,
            a_step,
            a_offset,
            a_u0,
            a_dux,
            a_duy,
            a_v0,
            a_dvx,
            a_dvy,
            a_rx,
            a_ry,
            a_rw,
            a_rh,
            a_dst,
            a_dst_pitch,
            a_dst_w,
            a_dst_h,
            a_bg,
            a_bg_pitch,
            a_bg_w,
            a_bg_h,
            a_bu0,
            a_bdux,
            a_bv0,
            a_bdvy,
            a_fill
        );
        self.launch(self.fit, job.dst_size, &mut params, "scout_fit_plane")
    }

    fn launch_blur(
        &self,
        src: u64,
        dst: u64,
        w: u32,
        h: u32,
        radius: u32,
        horizontal: bool,
    ) -> Result<(), String> {
        let mut a_src = src;
        let mut a_src_pitch = w as c_int;
        let mut a_dst = dst;
        let mut a_dst_pitch = w as c_int;
        let mut a_w = w as c_int;
        let mut a_h = h as c_int;
        let mut a_r = radius as c_int;
        let mut a_horizontal = c_int::from(horizontal);
        let mut params = kernel_args!(
            a_src,
            a_src_pitch,
            a_dst,
            a_dst_pitch,
            a_w,
            a_h,
            a_r,
            a_horizontal
        );
        self.launch(self.blur, (w, h), &mut params, "scout_box_blur")
    }

    fn launch(
        &self,
        f: cu::CUfunction,
        size: (u32, u32),
        params: &mut [*mut c_void],
        what: &str,
    ) -> Result<(), String> {
        let grid = (size.0.div_ceil(BLOCK.0), size.1.div_ceil(BLOCK.1));
        // SAFETY: `params` points at one value of the kernel's parameter
        // type each, in order, alive for the call (the launch copies them).
        check(
            unsafe {
                cu::cuLaunchKernel(
                    f,
                    grid.0 as c_uint,
                    grid.1 as c_uint,
                    1,
                    BLOCK.0,
                    BLOCK.1,
                    1,
                    0,
                    std::ptr::null_mut(),
                    params.as_mut_ptr(),
                    std::ptr::null_mut(),
                )
            },
            what,
        )
    }
}
