//! Our own NVDEC decoder (the `nvidia` feature): the Video Codec SDK's
//! parser and decoder driven directly, with the structures of the
//! `nvidia-video-codec-sdk` crate's raw bindings and the CUDA context and
//! copies through `cudarc`. Both libraries are loaded at run time
//! (`libnvcuvid.so.1` by `libloading` here, `libcuda.so.1` by cudarc's
//! dynamic loading), so the feature builds and links on machines with no
//! CUDA toolkit and no driver; there [`NvdecDecoder::new`] fails cleanly.
//!
//! Frames are scaled on the device by NVDEC's own post-processor
//! (`ulTargetWidth` / `ulTargetHeight`), so only the output size crosses
//! PCIe; they come back as NV12 (8-bit) or P016 (10-bit, in 16-bit words).

use std::collections::VecDeque;
use std::ffi::{c_int, c_uint, c_ulonglong, c_void};
use std::sync::OnceLock;

use cudarc::driver::sys as cu;
use libloading::Library;
use nvidia_video_codec_sdk::sys::cuviddec::{
    CUVIDDECODECREATEINFO, CUVIDPICPARAMS, CUVIDPROCPARAMS, CUvideodecoder, cudaVideoChromaFormat,
    cudaVideoCodec, cudaVideoCreateFlags, cudaVideoDeinterlaceMode, cudaVideoSurfaceFormat,
};
use nvidia_video_codec_sdk::sys::nvcuvid::{
    CUVIDEOFORMAT, CUVIDPARSERDISPINFO, CUVIDPARSERPARAMS, CUVIDSOURCEDATAPACKET, CUvideoparser,
};

use crate::VideoCodec;
use crate::device_fit::DeviceFit;
use crate::fit::{FitMode, FitPlan, SourceFormat};

/// Why NVDEC could not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("NVDEC: {0}")]
pub struct NvdecError(pub String);

type Res = c_uint;

/// The NVDEC entry points (cuviddec.h / nvcuvid.h signatures).
struct Api {
    _lib: Library,
    create_parser: unsafe extern "C" fn(*mut CUvideoparser, *mut CUVIDPARSERPARAMS) -> Res,
    parse: unsafe extern "C" fn(CUvideoparser, *mut CUVIDSOURCEDATAPACKET) -> Res,
    destroy_parser: unsafe extern "C" fn(CUvideoparser) -> Res,
    create_decoder: unsafe extern "C" fn(*mut CUvideodecoder, *mut CUVIDDECODECREATEINFO) -> Res,
    destroy_decoder: unsafe extern "C" fn(CUvideodecoder) -> Res,
    decode_picture: unsafe extern "C" fn(CUvideodecoder, *mut CUVIDPICPARAMS) -> Res,
    map: unsafe extern "C" fn(
        CUvideodecoder,
        c_int,
        *mut c_ulonglong,
        *mut c_uint,
        *mut CUVIDPROCPARAMS,
    ) -> Res,
    unmap: unsafe extern "C" fn(CUvideodecoder, c_ulonglong) -> Res,
}

fn api() -> Result<&'static Api, NvdecError> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(|| {
        // SAFETY: the NVIDIA driver's own library; the symbol types below
        // are those of cuviddec.h / nvcuvid.h (Video Codec SDK 12).
        unsafe {
            let lib =
                Library::new("libnvcuvid.so.1").map_err(|e| format!("libnvcuvid.so.1: {e}"))?;
            macro_rules! sym {
                ($name:literal) => {
                    *lib.get($name).map_err(|e| format!("{e}"))?
                };
            }
            Ok(Api {
                create_parser: sym!(b"cuvidCreateVideoParser\0"),
                parse: sym!(b"cuvidParseVideoData\0"),
                destroy_parser: sym!(b"cuvidDestroyVideoParser\0"),
                create_decoder: sym!(b"cuvidCreateDecoder\0"),
                destroy_decoder: sym!(b"cuvidDestroyDecoder\0"),
                decode_picture: sym!(b"cuvidDecodePicture\0"),
                map: sym!(b"cuvidMapVideoFrame64\0"),
                unmap: sym!(b"cuvidUnmapVideoFrame64\0"),
                _lib: lib,
            })
        }
    })
    .as_ref()
    .map_err(|e| NvdecError(e.clone()))
}

/// One decoded frame in host memory.
#[derive(Debug, Clone)]
pub struct HostFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// 1 for NV12, 2 for P016 (10-bit in the high bits of 16-bit words).
    pub bytes_per_sample: u32,
    /// The luma plane, `width * bytes_per_sample` per row, no padding.
    pub luma: Vec<u8>,
    /// The interleaved chroma plane (U, V), `height / 2` rows of the same
    /// width; or, when `planar`, the U plane then the V plane.
    pub chroma: Vec<u8>,
    /// True for fitted frames: 8-bit I420, chroma planar.
    pub planar: bool,
    /// The timestamp given with the packet it came from.
    pub pts: i64,
}

/// What a session fits its frames to on the device (see [`crate::fit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FitRequest {
    /// How another shape fills the output.
    pub fit: FitMode,
    /// The clockwise rotation the source is shown with.
    pub rotation: i32,
    /// The output size.
    pub out: (u32, u32),
}

struct State {
    api: &'static Api,
    fit_request: Option<FitRequest>,
    fit: Option<DeviceFit>,
    decoder: CUvideodecoder,
    target: Option<(u32, u32)>,
    out: (u32, u32),
    bytes_per_sample: u32,
    surfaces: c_int,
    frames: VecDeque<HostFrame>,
    error: Option<String>,
    /// Frames shown before this timestamp are decoded but not copied back.
    copy_from: Option<i64>,
    /// Frames the parser showed (copied back or not).
    shown: u64,
}

/// An NVDEC decode session for one stream.
pub struct NvdecDecoder {
    parser: CUvideoparser,
    state: Box<State>,
    ctx: &'static PrimaryContext,
}

/// Device 0's primary CUDA context, retained once for the process and
/// shared by every decode and encode session (creating a context costs
/// hundreds of milliseconds; the fit kernels are loaded into it once).
pub struct PrimaryContext {
    ctx: cu::CUcontext,
    device: cu::CUdevice,
}

// SAFETY: a primary context may be made current on any thread.
unsafe impl Send for PrimaryContext {}
// SAFETY: the handles are only read; CUDA calls on a context are thread-safe.
unsafe impl Sync for PrimaryContext {}

impl PrimaryContext {
    /// The process's context, retained on first use; fails cleanly (before
    /// cudarc would load `libcuda`) when the probe found no device.
    pub fn shared() -> Result<&'static Self, NvdecError> {
        static SHARED: OnceLock<Result<PrimaryContext, NvdecError>> = OnceLock::new();
        SHARED
            .get_or_init(Self::retain)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn retain() -> Result<Self, NvdecError> {
        if !crate::probe().present {
            return Err(NvdecError("no CUDA device".into()));
        }
        let mut device: cu::CUdevice = 0;
        let mut ctx: cu::CUcontext = std::ptr::null_mut();
        // SAFETY: CUDA driver API calls with valid out-pointers.
        unsafe {
            check(cu::cuInit(0), "cuInit")?;
            check(cu::cuDeviceGet(&mut device, 0), "cuDeviceGet")?;
            check(
                cu::cuDevicePrimaryCtxRetain(&mut ctx, device),
                "cuDevicePrimaryCtxRetain",
            )?;
        }
        Ok(Self { ctx, device })
    }

    /// The context handle.
    pub fn raw(&self) -> cu::CUcontext {
        self.ctx
    }

    /// Makes the context current on this thread until the guard drops.
    pub fn push(&self) -> Result<Current, NvdecError> {
        Current::push(self.ctx)
    }
}

impl Drop for PrimaryContext {
    fn drop(&mut self) {
        // SAFETY: releases the retain of `retain`, once.
        unsafe {
            cu::cuDevicePrimaryCtxRelease_v2(self.device);
        }
    }
}

// SAFETY: the session's handles are only used through &mut self, with the
// CUDA context made current on the calling thread for each call.
unsafe impl Send for NvdecDecoder {}

fn check(r: cu::CUresult, what: &str) -> Result<(), NvdecError> {
    if r == cu::CUresult::CUDA_SUCCESS {
        Ok(())
    } else {
        Err(NvdecError(format!("{what} failed: {r:?}")))
    }
}

impl NvdecDecoder {
    /// A session on device 0 for `codec`, scaling on NVDEC to `target`
    /// (even width and height) or keeping the display size.
    pub fn new(codec: VideoCodec, target: Option<(u32, u32)>) -> Result<Self, NvdecError> {
        Self::open(codec, target, None, 0)
    }

    /// A session on device 0 for `codec` whose frames are fitted to the
    /// output on the device by the fit kernels (rotation, scaling, crop or
    /// padding, 10-bit to 8-bit) and come back as I420 of `fit.out`.
    /// `clock_rate`: timestamp units per second (the stream's time base),
    /// so the parser interpolates missing ones right; 0 for 10 MHz.
    pub fn with_fit(
        codec: VideoCodec,
        fit: FitRequest,
        clock_rate: u32,
    ) -> Result<Self, NvdecError> {
        Self::open(codec, None, Some(fit), clock_rate)
    }

    fn open(
        codec: VideoCodec,
        target: Option<(u32, u32)>,
        fit_request: Option<FitRequest>,
        clock_rate: u32,
    ) -> Result<Self, NvdecError> {
        let api = api()?;
        let ctx = PrimaryContext::shared()?;
        let mut state = Box::new(State {
            api,
            fit_request,
            fit: None,
            decoder: std::ptr::null_mut(),
            target: target.map(|(w, h)| (w & !1, h & !1)),
            out: (0, 0),
            bytes_per_sample: 1,
            surfaces: 0,
            frames: VecDeque::new(),
            error: None,
            copy_from: None,
            shown: 0,
        });
        // SAFETY: an all-zero CUVIDPARSERPARAMS is the documented default.
        let mut params: CUVIDPARSERPARAMS = unsafe { std::mem::zeroed() };
        params.CodecType = match codec {
            VideoCodec::H264 => cudaVideoCodec::cudaVideoCodec_H264,
            VideoCodec::Hevc => cudaVideoCodec::cudaVideoCodec_HEVC,
        };
        params.ulMaxNumDecodeSurfaces = 1;
        params.ulClockRate = clock_rate;
        // Let NVDEC run a few pictures ahead of the copies back (throughput
        // over latency: a whole clip is decoded).
        params.ulMaxDisplayDelay = 4;
        params.pUserData = (&mut *state as *mut State).cast::<c_void>();
        params.pfnSequenceCallback = Some(on_sequence);
        params.pfnDecodePicture = Some(on_decode);
        params.pfnDisplayPicture = Some(on_display);
        let mut parser: CUvideoparser = std::ptr::null_mut();
        let made = {
            let _current = ctx.push()?;
            // SAFETY: params outlives the call; the state it points at is
            // boxed and lives as long as the parser.
            unsafe { (api.create_parser)(&mut parser, &mut params) }
        };
        if made != 0 {
            return Err(NvdecError(format!("cuvidCreateVideoParser failed: {made}")));
        }
        Ok(Self { parser, state, ctx })
    }

    /// Feeds one Annex B access unit (or any chunk of the elementary
    /// stream) with its timestamp, when it has one, and returns the frames
    /// that became ready.
    pub fn decode(&mut self, data: &[u8], pts: Option<i64>) -> Result<Vec<HostFrame>, NvdecError> {
        self.feed(data, pts, false)
    }

    /// Ends the stream and returns the frames still inside.
    pub fn flush(&mut self) -> Result<Vec<HostFrame>, NvdecError> {
        self.feed(&[], None, true)
    }

    fn feed(
        &mut self,
        data: &[u8],
        pts: Option<i64>,
        eos: bool,
    ) -> Result<Vec<HostFrame>, NvdecError> {
        // SAFETY: an all-zero packet is valid; payload points into `data`,
        // which outlives the call.
        let mut packet: CUVIDSOURCEDATAPACKET = unsafe { std::mem::zeroed() };
        // CUVID_PKT_ENDOFSTREAM; CUVID_PKT_TIMESTAMP only with a timestamp
        // (without, the parser interpolates from the last one).
        packet.flags = if eos { 0x01 } else { 0 } | if pts.is_some() { 0x02 } else { 0 };
        packet.payload_size = data.len() as _;
        packet.payload = if data.is_empty() {
            std::ptr::null()
        } else {
            data.as_ptr()
        };
        packet.timestamp = pts.unwrap_or(0);
        let r = {
            let _current = self.ctx.push()?;
            // SAFETY: a live parser and a valid packet; callbacks run on
            // this thread with the context current.
            unsafe { (self.state.api.parse)(self.parser, &mut packet) }
        };
        if let Some(e) = self.state.error.take() {
            return Err(NvdecError(e));
        }
        if r != 0 {
            return Err(NvdecError(format!("cuvidParseVideoData failed: {r}")));
        }
        Ok(self.state.frames.drain(..).collect())
    }

    /// From now on, frames whose timestamp is below `pts` are decoded (the
    /// later ones need them) but neither mapped nor copied back: a caller
    /// that wants a few frames of a clip (frame extraction) moves only
    /// those over PCIe.
    pub fn copy_from(&mut self, pts: i64) {
        self.state.copy_from = Some(pts);
    }

    /// Frames the decoder has shown so far, copied back or not.
    pub fn shown(&self) -> u64 {
        self.state.shown
    }

    /// The output size once the stream's first sequence header was seen.
    pub fn output_size(&self) -> (u32, u32) {
        self.state.out
    }
}

impl Drop for NvdecDecoder {
    fn drop(&mut self) {
        if let Ok(_current) = self.ctx.push() {
            // The fit kernels' buffers go while the context is current.
            self.state.fit = None;
            // SAFETY: handles created by this session, destroyed once.
            unsafe {
                (self.state.api.destroy_parser)(self.parser);
                if !self.state.decoder.is_null() {
                    (self.state.api.destroy_decoder)(self.state.decoder);
                }
            }
        }
    }
}

/// The context made current for a scope.
pub struct Current;

impl Current {
    fn push(ctx: cu::CUcontext) -> Result<Self, NvdecError> {
        // SAFETY: a context retained by this session.
        check(unsafe { cu::cuCtxPushCurrent_v2(ctx) }, "cuCtxPushCurrent")?;
        Ok(Current)
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        let mut ctx: cu::CUcontext = std::ptr::null_mut();
        // SAFETY: pops what `push` pushed.
        unsafe {
            cu::cuCtxPopCurrent_v2(&mut ctx);
        }
    }
}

/// Records a callback's failure; the first one is the one reported.
fn fail(st: &mut State, why: impl Into<String>) -> c_int {
    if st.error.is_none() {
        st.error = Some(why.into());
    }
    0
}

/// Runs a callback body; a panic inside becomes a decode error instead of
/// unwinding into C.
fn guarded(user: *mut c_void, body: impl FnOnce() -> c_int) -> c_int {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(_) => {
            // SAFETY: the parser passes back the State pointer it was given.
            if let Some(st) = unsafe { user.cast::<State>().as_mut() } {
                st.error = Some("a decoder callback panicked".into());
            }
            0
        }
    }
}

unsafe extern "C" fn on_sequence(user: *mut c_void, fmt: *mut CUVIDEOFORMAT) -> c_int {
    // SAFETY: forwarded as received.
    guarded(user, || unsafe { on_sequence_inner(user, fmt) })
}

unsafe extern "C" fn on_decode(user: *mut c_void, pic: *mut CUVIDPICPARAMS) -> c_int {
    // SAFETY: forwarded as received.
    guarded(user, || unsafe { on_decode_inner(user, pic) })
}

unsafe extern "C" fn on_display(user: *mut c_void, disp: *mut CUVIDPARSERDISPINFO) -> c_int {
    // SAFETY: forwarded as received.
    guarded(user, || unsafe { on_display_inner(user, disp) })
}

unsafe fn on_sequence_inner(user: *mut c_void, fmt: *mut CUVIDEOFORMAT) -> c_int {
    // SAFETY: the parser passes back the State pointer it was given and a
    // valid format for the duration of the call.
    let (st, f) = unsafe { (&mut *user.cast::<State>(), &*fmt) };
    let display = (
        (f.display_area.right - f.display_area.left).max(2) as u32,
        (f.display_area.bottom - f.display_area.top).max(2) as u32,
    );
    let out = st.target.unwrap_or((display.0 & !1, display.1 & !1));
    let surfaces = c_int::from(f.min_num_decode_surfaces).max(1) + 6;
    let high = f.bit_depth_luma_minus8 > 0;
    if !st.decoder.is_null() {
        // A new sequence header: only one the decoder already fits goes on.
        if out != st.out && st.target.is_none() {
            return fail(st, "the stream changes size mid-way; not supported");
        }
        if high != (st.bytes_per_sample == 2) {
            return fail(st, "the stream changes bit depth mid-way; not supported");
        }
        if surfaces > st.surfaces {
            return fail(
                st,
                "the stream needs more reference surfaces mid-way; not supported",
            );
        }
        return st.surfaces;
    }
    // SAFETY: an all-zero create-info is the documented starting point.
    let mut ci: CUVIDDECODECREATEINFO = unsafe { std::mem::zeroed() };
    ci.ulWidth = f.coded_width.into();
    ci.ulHeight = f.coded_height.into();
    ci.ulNumDecodeSurfaces = surfaces as _;
    ci.CodecType = f.codec;
    ci.ChromaFormat = f.chroma_format;
    ci.ulCreationFlags = cudaVideoCreateFlags::cudaVideoCreate_PreferCUVID as _;
    ci.bitDepthMinus8 = f.bit_depth_luma_minus8.into();
    ci.ulMaxWidth = f.coded_width.into();
    ci.ulMaxHeight = f.coded_height.into();
    ci.display_area.left = f.display_area.left as i16;
    ci.display_area.top = f.display_area.top as i16;
    ci.display_area.right = f.display_area.right as i16;
    ci.display_area.bottom = f.display_area.bottom as i16;
    ci.OutputFormat = if high {
        cudaVideoSurfaceFormat::cudaVideoSurfaceFormat_P016
    } else {
        cudaVideoSurfaceFormat::cudaVideoSurfaceFormat_NV12
    };
    ci.DeinterlaceMode = if f.progressive_sequence != 0 {
        cudaVideoDeinterlaceMode::cudaVideoDeinterlaceMode_Weave
    } else {
        cudaVideoDeinterlaceMode::cudaVideoDeinterlaceMode_Adaptive
    };
    ci.ulTargetWidth = out.0.into();
    ci.ulTargetHeight = out.1.into();
    ci.ulNumOutputSurfaces = 2;
    if f.chroma_format != cudaVideoChromaFormat::cudaVideoChromaFormat_420 {
        return fail(st, "only 4:2:0 streams are decoded on NVDEC");
    }
    let mut decoder: CUvideodecoder = std::ptr::null_mut();
    // SAFETY: valid create-info and out-pointer; the context is current.
    let r = unsafe { (st.api.create_decoder)(&mut decoder, &mut ci) };
    if r != 0 {
        return fail(st, format!("cuvidCreateDecoder failed: {r}"));
    }
    st.decoder = decoder;
    st.out = out;
    st.bytes_per_sample = if high { 2 } else { 1 };
    st.surfaces = surfaces;
    if let Some(req) = st.fit_request {
        let format = SourceFormat::Nv12 {
            bytes: st.bytes_per_sample,
        };
        let plan = FitPlan::new(req.fit, format, out, req.rotation, req.out);
        match DeviceFit::new(plan) {
            Ok(f) => st.fit = Some(f),
            Err(e) => return fail(st, e),
        }
    }
    surfaces
}

unsafe fn on_decode_inner(user: *mut c_void, pic: *mut CUVIDPICPARAMS) -> c_int {
    // SAFETY: as in on_sequence.
    let st = unsafe { &mut *user.cast::<State>() };
    if st.decoder.is_null() {
        return fail(st, "a picture arrived before any sequence header");
    }
    // SAFETY: the parser's picture parameters for a live decoder.
    let r = unsafe { (st.api.decode_picture)(st.decoder, pic) };
    if r != 0 {
        return fail(st, format!("cuvidDecodePicture failed: {r}"));
    }
    1
}

unsafe fn on_display_inner(user: *mut c_void, disp: *mut CUVIDPARSERDISPINFO) -> c_int {
    // SAFETY: as in on_sequence; a null info marks the end of the stream.
    let st = unsafe { &mut *user.cast::<State>() };
    let Some(d) = (unsafe { disp.as_ref() }) else {
        return 1;
    };
    st.shown += 1;
    if st.copy_from.is_some_and(|from| d.timestamp < from) {
        return 1;
    }
    match copy_out(st, d) {
        Ok(frame) => {
            st.frames.push_back(frame);
            1
        }
        Err(e) => fail(st, e),
    }
}

fn copy_out(st: &mut State, d: &CUVIDPARSERDISPINFO) -> Result<HostFrame, String> {
    // SAFETY: an all-zero CUVIDPROCPARAMS is valid; the fields set are the
    // display info's.
    let mut proc: CUVIDPROCPARAMS = unsafe { std::mem::zeroed() };
    proc.progressive_frame = d.progressive_frame;
    proc.top_field_first = d.top_field_first;
    // As NVIDIA's NvDecoder: the field order of repeated / unpaired fields.
    proc.second_field = d.repeat_first_field + 1;
    proc.unpaired_field = c_int::from(d.repeat_first_field < 0);
    let mut dptr: c_ulonglong = 0;
    let mut pitch: c_uint = 0;
    // SAFETY: a picture index the parser handed out, valid out-pointers.
    let r = unsafe {
        (st.api.map)(
            st.decoder,
            d.picture_index,
            &mut dptr,
            &mut pitch,
            &mut proc,
        )
    };
    if r != 0 {
        return Err(format!("cuvidMapVideoFrame failed: {r}"));
    }
    let (w, h) = st.out;
    if let Some(fit) = st.fit.as_mut() {
        let chroma = dptr + u64::from(pitch) * u64::from(h);
        let fitted = fit
            .run(&[(dptr, pitch as usize), (chroma, pitch as usize)])
            .map(<[u8]>::to_vec);
        if fitted.is_err() {
            // Kernels already queued may still read the surface: let them
            // finish before NVDEC gets it back.
            // SAFETY: waits on the current context.
            unsafe {
                cu::cuCtxSynchronize();
            }
        }
        let (ow, oh) = fit.plan().out;
        // SAFETY: unmaps what was mapped above.
        unsafe {
            (st.api.unmap)(st.decoder, dptr);
        }
        let mut luma = fitted?;
        let chroma = luma.split_off((ow * oh) as usize);
        return Ok(HostFrame {
            width: ow,
            height: oh,
            bytes_per_sample: 1,
            luma,
            chroma,
            planar: true,
            pts: d.timestamp,
        });
    }
    let row = (w * st.bytes_per_sample) as usize;
    let mut luma = vec![0u8; row * h as usize];
    let mut chroma = vec![0u8; row * (h as usize / 2)];
    let copy = |dst: &mut [u8], src: u64, rows: u32| -> cu::CUresult {
        let m = cu::CUDA_MEMCPY2D {
            srcXInBytes: 0,
            srcY: 0,
            srcMemoryType: cu::CUmemorytype::CU_MEMORYTYPE_DEVICE,
            srcHost: std::ptr::null(),
            srcDevice: src,
            srcArray: std::ptr::null_mut(),
            srcPitch: pitch as usize,
            dstXInBytes: 0,
            dstY: 0,
            dstMemoryType: cu::CUmemorytype::CU_MEMORYTYPE_HOST,
            dstHost: dst.as_mut_ptr().cast::<c_void>(),
            dstDevice: 0,
            dstArray: std::ptr::null_mut(),
            dstPitch: row,
            WidthInBytes: row,
            Height: rows as usize,
        };
        // SAFETY: source is the mapped surface, destination a buffer of
        // exactly rows * row bytes.
        unsafe { cu::cuMemcpy2D_v2(&m) }
    };
    let r1 = copy(&mut luma, dptr, h);
    let r2 = copy(&mut chroma, dptr + u64::from(pitch) * u64::from(h), h / 2);
    // SAFETY: unmaps what was mapped above.
    unsafe {
        (st.api.unmap)(st.decoder, dptr);
    }
    for r in [r1, r2] {
        if r != cu::CUresult::CUDA_SUCCESS {
            return Err(format!("copying a frame to the host failed: {r:?}"));
        }
    }
    Ok(HostFrame {
        width: w,
        height: h,
        bytes_per_sample: st.bytes_per_sample,
        luma,
        chroma,
        planar: false,
        pts: d.timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use sha2::{Digest, Sha256};

    /// Decodes a whole elementary stream in one session; the frames' bytes
    /// (NV12 / P016 planes, as FFmpeg's raw nv12 / p010le output lays them).
    fn decode_all(codec: VideoCodec, stream: &[u8]) -> Result<(usize, Vec<u8>), NvdecError> {
        let mut d = NvdecDecoder::new(codec, None)?;
        let mut frames = d.decode(stream, Some(0))?;
        frames.extend(d.flush()?);
        let mut bytes = Vec::new();
        for f in &frames {
            bytes.extend_from_slice(&f.luma);
            bytes.extend_from_slice(&f.chroma);
        }
        Ok((frames.len(), bytes))
    }

    /// Without a device a session fails naming what is missing. On a device
    /// NVDEC decodes two small clips (H.264 High with B-frames, 64x64;
    /// HEVC Main 10, 192x160; six frames each) to exactly the bytes
    /// libavcodec gives (`ffmpeg -i CLIP -f rawvideo -pix_fmt nv12` /
    /// `p010le`, hashed when the fixtures were made).
    #[test]
    fn nvdec_decodes_exactly_what_libavcodec_decodes() {
        let h264 = include_bytes!("../tests/data/tiny-h264.264");
        let hevc10 = include_bytes!("../tests/data/tiny-hevc10.265");
        if !crate::probe().present {
            let e = NvdecDecoder::new(VideoCodec::H264, None)
                .err()
                .expect("no device here");
            assert!(e.0.contains("libnvcuvid") || e.0.contains("device"), "{e}");
            return;
        }
        for (codec, stream, frames, size, sha) in [
            (
                VideoCodec::H264,
                &h264[..],
                6,
                64 * 64 * 3 / 2 * 6,
                "4634631c293ccfbb43da1cdfaa3b99363ecd8eb5695031c57f4dda57512e634f",
            ),
            (
                VideoCodec::Hevc,
                &hevc10[..],
                6,
                192 * 160 * 3 / 2 * 2 * 6,
                "0e15327c95dfd07bc9cfc5f384d437539ade53c0414af9ab6fd9020360d89111",
            ),
        ] {
            let (n, bytes) = decode_all(codec, stream).expect("NVDEC decodes the clip");
            assert_eq!(n, frames, "{codec}: frames");
            assert_eq!(bytes.len(), size, "{codec}: bytes");
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                sha,
                "{codec}: NVDEC's frames differ from libavcodec's"
            );
        }
    }

    /// Frames before the copy threshold are decoded but not copied back;
    /// the ones after it are the same bytes as without the threshold.
    #[test]
    fn frames_before_the_threshold_are_decoded_but_not_copied() {
        // No B-frames, an access unit delimiter before each picture: the
        // i-th unit is the i-th picture shown.
        let ip = include_bytes!("../tests/data/tiny-h264-ip.264");
        let aud = [0u8, 0, 0, 1, 9];
        let starts: Vec<usize> = (0..ip.len().saturating_sub(4))
            .filter(|&i| ip[i..i + 5] == aud)
            .chain([ip.len()])
            .collect();
        assert_eq!(starts.len(), 7, "six pictures");
        if !crate::probe().present {
            return;
        }
        let (_, all) = decode_all(VideoCodec::H264, ip).expect("NVDEC decodes the clip");
        assert_eq!(
            hex::encode(Sha256::digest(&all)),
            "d9fe96edc076f9a4ca2793183bae71e0621afc9b62d991d04627fbbec7ad2d66"
        );
        let mut d = NvdecDecoder::new(VideoCodec::H264, None).expect("a session");
        d.copy_from(3);
        let mut got = Vec::new();
        for (i, w) in starts.windows(2).enumerate() {
            got.extend(d.decode(&ip[w[0]..w[1]], Some(i as i64)).expect("decodes"));
        }
        got.extend(d.flush().expect("flushes"));
        assert_eq!(d.shown(), 6, "every picture decoded and shown");
        let pts: Vec<i64> = got.iter().map(|f| f.pts).collect();
        assert_eq!(pts, vec![3, 4, 5], "only pictures from 3 on come back");
        let mut tail = Vec::new();
        for f in &got {
            tail.extend_from_slice(&f.luma);
            tail.extend_from_slice(&f.chroma);
        }
        assert_eq!(tail, all[3 * 64 * 64 * 3 / 2..], "the same pictures");
    }
}
