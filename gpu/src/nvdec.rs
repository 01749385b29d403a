//! NVDEC capability probing through a run-time loaded `libnvcuvid.so.1`.
//!
//! One call, `cuvidGetDecoderCaps`, asked for each (codec, bit depth) the
//! render node decodes, always 4:2:0. The structure and constants mirror
//! NVIDIA's `cuviddec.h` (Video Codec SDK 12/13); the structure has kept its
//! 88 bytes since SDK 8, later fields being carved out of reserved space, so
//! older drivers fill the leading part and leave the rest zero.

use std::ffi::{c_int, c_uint};
use std::mem::{offset_of, size_of};

use libloading::Library;
use serde::Serialize;

use crate::cuda::{CudaContext, CudaDriver, check, load_library, sym};
use crate::plan::VideoCodec;

/// The NVDEC library's soname.
pub(crate) const LIBRARY: &str = "libnvcuvid.so.1";

/// The (codec, bit depth) pairs probed, all 4:2:0.
pub const QUERIES: [(VideoCodec, u8); 3] = [
    (VideoCodec::H264, 8),
    (VideoCodec::Hevc, 8),
    (VideoCodec::Hevc, 10),
];

/// `cudaVideoCodec_H264`.
const CUDA_VIDEO_CODEC_H264: c_int = 4;
/// `cudaVideoCodec_HEVC`.
const CUDA_VIDEO_CODEC_HEVC: c_int = 8;
/// `cudaVideoChromaFormat_420`.
const CUDA_VIDEO_CHROMA_FORMAT_420: c_int = 1;

/// `cudaVideoSurfaceFormat` names by value, i.e. by bit of `nOutputFormatMask`.
const SURFACE_FORMATS: [&str; 6] = ["NV12", "P016", "YUV444", "YUV444_16Bit", "NV16", "P216"];

/// `CUVIDDECODECAPS` from cuviddec.h. The two enums are C `int`s.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct CuvidDecodeCaps {
    /// IN: `cudaVideoCodec`.
    codec_type: c_int,
    /// IN: `cudaVideoChromaFormat`.
    chroma_format: c_int,
    /// IN: bit depth minus 8.
    bit_depth_minus8: c_uint,
    reserved1: [c_uint; 3],
    /// OUT: 1 when supported.
    is_supported: u8,
    /// OUT: number of NVDEC engines that can decode this.
    num_nvdecs: u8,
    /// OUT: bit n set = `cudaVideoSurfaceFormat` n can be output.
    output_format_mask: u16,
    max_width: c_uint,
    max_height: c_uint,
    max_mb_count: c_uint,
    min_width: u16,
    min_height: u16,
    is_histogram_supported: u8,
    counter_bit_depth: u8,
    max_histogram_bins: u16,
    reserved3: [c_uint; 10],
}

const _: () = {
    assert!(size_of::<CuvidDecodeCaps>() == 88);
    assert!(offset_of!(CuvidDecodeCaps, is_supported) == 24);
    assert!(offset_of!(CuvidDecodeCaps, num_nvdecs) == 25);
    assert!(offset_of!(CuvidDecodeCaps, output_format_mask) == 26);
    assert!(offset_of!(CuvidDecodeCaps, max_width) == 28);
    assert!(offset_of!(CuvidDecodeCaps, max_height) == 32);
    assert!(offset_of!(CuvidDecodeCaps, max_mb_count) == 36);
    assert!(offset_of!(CuvidDecodeCaps, min_width) == 40);
    assert!(offset_of!(CuvidDecodeCaps, min_height) == 42);
    assert!(offset_of!(CuvidDecodeCaps, reserved3) == 48);
};

/// NVDEC's answer for one codec, bit depth and 4:2:0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct NvdecCodecCaps {
    /// Codec asked about.
    pub codec: VideoCodec,
    /// Bit depth asked about (8 or 10).
    pub bit_depth: u8,
    /// NVDEC decodes it.
    pub supported: bool,
    /// NVDEC engines that can (`nNumNVDECs`; 0 from drivers too old to say).
    pub engines: u32,
    /// Largest coded width in pixels.
    pub max_width: u32,
    /// Largest coded height in pixels.
    pub max_height: u32,
    /// Smallest coded width in pixels.
    pub min_width: u32,
    /// Smallest coded height in pixels.
    pub min_height: u32,
    /// Largest macroblock count (width × height / 256).
    pub max_mb_count: u32,
    /// Output surface formats, named after `cudaVideoSurfaceFormat` ("NV12";
    /// "P016" is the 16-bit semi-planar one that carries 10-bit as P010).
    pub output_formats: Vec<String>,
    /// The raw `nOutputFormatMask` (bit n = surface format n).
    pub output_format_mask: u16,
    /// Why this query failed; empty when it answered.
    pub detail: String,
}

/// What NVDEC can decode on one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct NvdecCaps {
    /// `libnvcuvid.so.1` loaded and exports `cuvidGetDecoderCaps`.
    pub library: bool,
    /// One entry per [`QUERIES`] pair that could be asked.
    pub codecs: Vec<NvdecCodecCaps>,
    /// Why NVDEC could not be asked, or which queries failed; empty when all answered.
    pub detail: String,
}

impl NvdecCaps {
    /// No answers, and why.
    pub(crate) fn failed(library: bool, detail: String) -> Self {
        Self {
            library,
            codecs: Vec::new(),
            detail,
        }
    }

    /// The answer for `codec` at `bit_depth`, if it was asked.
    pub fn get(&self, codec: VideoCodec, bit_depth: u8) -> Option<&NvdecCodecCaps> {
        self.codecs
            .iter()
            .find(|c| c.codec == codec && c.bit_depth == bit_depth)
    }

    /// NVDEC decodes `codec` at `bit_depth` (4:2:0).
    pub fn supports(&self, codec: VideoCodec, bit_depth: u8) -> bool {
        self.get(codec, bit_depth).is_some_and(|c| c.supported)
    }

    /// NVDEC engines on the device: the most any supported query reported.
    pub fn engines(&self) -> u32 {
        self.codecs
            .iter()
            .filter(|c| c.supported)
            .map(|c| c.engines)
            .max()
            .unwrap_or(0)
    }
}

/// Names the bits of an `nOutputFormatMask`.
fn output_format_names(mask: u16) -> Vec<String> {
    (0..16)
        .filter(|bit| mask & (1 << bit) != 0)
        .map(|bit| match SURFACE_FORMATS.get(bit) {
            Some(name) => (*name).to_string(),
            None => format!("format{bit}"),
        })
        .collect()
}

fn cuda_codec(codec: VideoCodec) -> c_int {
    match codec {
        VideoCodec::H264 => CUDA_VIDEO_CODEC_H264,
        VideoCodec::Hevc => CUDA_VIDEO_CODEC_HEVC,
    }
}

/// `libnvcuvid.so.1` with `cuvidGetDecoderCaps` resolved.
pub(crate) struct NvdecLib {
    get_decoder_caps: unsafe extern "C" fn(*mut CuvidDecodeCaps) -> c_int,
    /// Keeps the pointer above valid.
    _lib: Library,
}

impl NvdecLib {
    /// Loads the library; on failure the answer every device gets.
    pub(crate) fn load() -> Result<Self, NvdecCaps> {
        let lib = load_library(LIBRARY).map_err(|e| NvdecCaps::failed(false, e))?;
        // SAFETY: `CUresult cuvidGetDecoderCaps(CUVIDDECODECAPS *pdc)` from
        // cuviddec.h; the pointer stays valid while `lib`, moved alongside it,
        // is loaded.
        let get_decoder_caps = match unsafe { sym(&lib, b"cuvidGetDecoderCaps\0") } {
            Ok(f) => *f,
            Err(e) => return Err(NvdecCaps::failed(false, e)),
        };
        Ok(Self {
            get_decoder_caps,
            _lib: lib,
        })
    }

    /// Asks for every [`QUERIES`] pair. `ctx` must be current on this thread,
    /// which it is from creation until it drops.
    pub(crate) fn caps(&self, ctx: &CudaContext<'_>) -> NvdecCaps {
        let codecs: Vec<NvdecCodecCaps> = QUERIES
            .iter()
            .map(|&(codec, bit_depth)| self.query(ctx, codec, bit_depth))
            .collect();
        let failures: Vec<String> = codecs
            .iter()
            .filter(|c| !c.detail.is_empty())
            .map(|c| format!("{} {}-bit: {}", c.codec, c.bit_depth, c.detail))
            .collect();
        NvdecCaps {
            library: true,
            codecs,
            detail: failures.join("; "),
        }
    }

    fn query(&self, _ctx: &CudaContext<'_>, codec: VideoCodec, bit_depth: u8) -> NvdecCodecCaps {
        let mut caps = CuvidDecodeCaps {
            codec_type: cuda_codec(codec),
            chroma_format: CUDA_VIDEO_CHROMA_FORMAT_420,
            bit_depth_minus8: c_uint::from(bit_depth.saturating_sub(8)),
            ..CuvidDecodeCaps::default()
        };
        let mut out = NvdecCodecCaps {
            codec,
            bit_depth,
            ..NvdecCodecCaps::default()
        };
        // SAFETY: a fully initialised CUVIDDECODECAPS (IN fields set, the rest
        // zero as the header asks) that outlives the call; a context is
        // current on this thread (`_ctx`).
        let code = unsafe { (self.get_decoder_caps)(&mut caps) };
        if let Err(e) = check(code, "cuvidGetDecoderCaps") {
            out.detail = e;
            return out;
        }
        out.supported = caps.is_supported != 0;
        out.engines = u32::from(caps.num_nvdecs);
        out.max_width = caps.max_width;
        out.max_height = caps.max_height;
        out.min_width = u32::from(caps.min_width);
        out.min_height = u32::from(caps.min_height);
        out.max_mb_count = caps.max_mb_count;
        out.output_format_mask = caps.output_format_mask;
        out.output_formats = output_format_names(caps.output_format_mask);
        out
    }
}

/// Probes NVDEC on the device with ordinal `index`: loads the libraries,
/// creates a context there, asks, destroys the context. Never fails: problems
/// end up in [`NvdecCaps::detail`].
pub fn probe_device(index: i32) -> NvdecCaps {
    let lib = match NvdecLib::load() {
        Ok(lib) => lib,
        Err(missing) => return missing,
    };
    let driver = match CudaDriver::load() {
        Ok(driver) => driver,
        Err(e) => return NvdecCaps::failed(true, e),
    };
    match driver.context_for(index) {
        Ok(ctx) => lib.caps(&ctx),
        Err(e) => NvdecCaps::failed(true, format!("no CUDA context: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_cuviddec_h() {
        assert_eq!(cuda_codec(VideoCodec::H264), 4);
        assert_eq!(cuda_codec(VideoCodec::Hevc), 8);
        assert_eq!(CUDA_VIDEO_CHROMA_FORMAT_420, 1);
    }

    #[test]
    fn output_format_mask_is_named_bit_by_bit() {
        assert_eq!(output_format_names(0), Vec::<String>::new());
        assert_eq!(output_format_names(0b1), ["NV12"]);
        assert_eq!(output_format_names(0b11), ["NV12", "P016"]);
        assert_eq!(
            output_format_names(0b11_1111),
            ["NV12", "P016", "YUV444", "YUV444_16Bit", "NV16", "P216"]
        );
        assert_eq!(output_format_names(1 << 9), ["format9"]);
    }

    #[test]
    fn lookups_and_engine_count() {
        let caps = NvdecCaps {
            library: true,
            codecs: vec![
                NvdecCodecCaps {
                    codec: VideoCodec::H264,
                    bit_depth: 8,
                    supported: true,
                    engines: 4,
                    ..NvdecCodecCaps::default()
                },
                NvdecCodecCaps {
                    codec: VideoCodec::Hevc,
                    bit_depth: 10,
                    supported: false,
                    engines: 9,
                    ..NvdecCodecCaps::default()
                },
            ],
            detail: String::new(),
        };
        assert!(caps.supports(VideoCodec::H264, 8));
        assert!(!caps.supports(VideoCodec::Hevc, 10));
        assert!(
            !caps.supports(VideoCodec::Hevc, 8),
            "not asked = not supported"
        );
        // Unsupported entries do not count.
        assert_eq!(caps.engines(), 4);
        assert_eq!(NvdecCaps::default().engines(), 0);
    }

    #[test]
    fn probe_device_never_panics_and_explains_failure() {
        let caps = probe_device(0);
        if caps.codecs.is_empty() {
            assert!(!caps.detail.is_empty(), "no answers and no reason given");
        } else {
            assert!(caps.library);
            assert_eq!(caps.codecs.len(), QUERIES.len());
        }
    }
}
