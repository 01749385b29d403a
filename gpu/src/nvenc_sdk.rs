//! Our own NVENC H.264 encoder (the `nvidia` feature), through the Video
//! Codec SDK's encode API with the `nvidia-video-codec-sdk` crate's
//! structures (SDK 12.1). `libnvidia-encode.so.1` is loaded at run time and
//! the function list taken from its `NvEncodeAPICreateInstance`, so the
//! feature links with no driver; on a card without an encoder (H100, H200)
//! or with no device [`NvencEncoder::new`] fails cleanly and the render
//! node encodes with libx264.
//!
//! The output spec is the render issue's: H.264 High, the given frame rate,
//! VBR at the target bit rate capped by the max rate over a VBV buffer, a
//! keyframe every `gop` frames, BT.709 limited-range colour in the VUI. No
//! B-frames: each picture's bitstream is ready when `nvEncEncodePicture`
//! returns (synchronous mode), so decode order is presentation order. Frames
//! arrive as planar 8-bit 4:2:0 in host memory (the subtitle pass runs on the
//! CPU) and are copied into the encoder's own input buffer.

use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::sync::OnceLock;

use libloading::Library;
use nvidia_video_codec_sdk::sys::nvEncodeAPI as nv;

use crate::sdk::PrimaryContext;

/// Why NVENC could not encode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("NVENC: {0}")]
pub struct NvencError(pub String);

/// What to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderSpec {
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Target bit rate, bits per second.
    pub bitrate: u32,
    /// Peak bit rate, bits per second.
    pub maxrate: u32,
    /// VBV buffer, bits.
    pub vbv: u32,
    /// Frames between keyframes.
    pub gop: u32,
}

/// One encoded picture: Annex B, with its presentation time in frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPacket {
    /// The access unit, Annex B.
    pub data: Vec<u8>,
    /// The `pts` it was given.
    pub pts: i64,
    /// An IDR or I picture.
    pub keyframe: bool,
}

/// The driver's function list (entry points; its reserved pointer slots
/// are never touched), shared by every session.
struct Functions {
    /// Kept loaded for as long as the list's pointers are used.
    _lib: Library,
    list: nv::NV_ENCODE_API_FUNCTION_LIST,
}

// SAFETY: the list holds function pointers into the loaded library, which
// the encode API allows calling from any thread.
unsafe impl Send for Functions {}
// SAFETY: as above; the list is never written after it is filled.
unsafe impl Sync for Functions {}

fn function_list() -> Result<&'static nv::NV_ENCODE_API_FUNCTION_LIST, NvencError> {
    static LIST: OnceLock<Result<Functions, String>> = OnceLock::new();
    LIST.get_or_init(|| {
        // SAFETY: the driver's library; `NvEncodeAPICreateInstance` fills a
        // function list whose version field we set, as nvEncodeAPI.h says.
        unsafe {
            let lib = Library::new(crate::nvenc::LIBRARY)
                .map_err(|e| format!("{}: {e}", crate::nvenc::LIBRARY))?;
            // The structures here are SDK 12.1's: an older driver would
            // refuse them with a bare NV_ENC_ERR_INVALID_VERSION.
            let max_version: libloading::Symbol<unsafe extern "C" fn(*mut u32) -> nv::NVENCSTATUS> =
                lib.get(b"NvEncodeAPIGetMaxSupportedVersion\0")
                    .map_err(|e| e.to_string())?;
            let mut raw = 0u32;
            let r = max_version(&mut raw);
            if r != nv::NVENCSTATUS::NV_ENC_SUCCESS {
                return Err(format!("NvEncodeAPIGetMaxSupportedVersion: {r:?}"));
            }
            let driver = crate::nvenc::split_max_version(raw);
            let needed = (nv::NVENCAPI_MAJOR_VERSION, nv::NVENCAPI_MINOR_VERSION);
            if driver < needed {
                return Err(format!(
                    "the driver's NVENC API {}.{} is older than {}.{}, which this encoder needs \
                     (NVIDIA driver 530 or newer)",
                    driver.0, driver.1, needed.0, needed.1
                ));
            }
            let create: libloading::Symbol<
                unsafe extern "C" fn(*mut nv::NV_ENCODE_API_FUNCTION_LIST) -> nv::NVENCSTATUS,
            > = lib
                .get(b"NvEncodeAPICreateInstance\0")
                .map_err(|e| e.to_string())?;
            let mut list: nv::NV_ENCODE_API_FUNCTION_LIST = MaybeUninit::zeroed().assume_init();
            list.version = nv::NV_ENCODE_API_FUNCTION_LIST_VER;
            let r = create(&mut list);
            if r != nv::NVENCSTATUS::NV_ENC_SUCCESS {
                return Err(format!("NvEncodeAPICreateInstance: {r:?}"));
            }
            Ok(Functions { _lib: lib, list })
        }
    })
    .as_ref()
    .map(|f| &f.list)
    .map_err(|e| NvencError(e.clone()))
}

fn ok(r: nv::NVENCSTATUS, what: &str) -> Result<(), NvencError> {
    if r == nv::NVENCSTATUS::NV_ENC_SUCCESS {
        Ok(())
    } else {
        Err(NvencError(format!("{what}: {r:?}")))
    }
}

fn entry<T>(f: Option<T>, name: &str) -> Result<T, NvencError> {
    f.ok_or_else(|| NvencError(format!("the driver has no {name}")))
}

/// A zeroed structure whose enum fields without a zero value are set by
/// `fix` before it is read (a zero there would not be a valid Rust value).
///
/// # Safety
/// `T` must be a C structure for which all-zero is valid except in the
/// fields `fix` writes.
unsafe fn zeroed_with<T>(fix: impl FnOnce(*mut T)) -> T {
    let mut m = MaybeUninit::<T>::zeroed();
    fix(m.as_mut_ptr());
    // SAFETY: per the function's contract.
    unsafe { m.assume_init() }
}

/// Versioned picture parameters for a progressive frame, the rest zero.
fn frame_pic_params() -> nv::NV_ENC_PIC_PARAMS {
    // SAFETY: all-zero is valid for this structure but for the picture
    // structure, written before it is read.
    let mut pic: nv::NV_ENC_PIC_PARAMS = unsafe {
        zeroed_with(|p: *mut nv::NV_ENC_PIC_PARAMS| {
            std::ptr::addr_of_mut!((*p).pictureStruct)
                .write(nv::NV_ENC_PIC_STRUCT::NV_ENC_PIC_STRUCT_FRAME);
        })
    };
    pic.version = nv::NV_ENC_PIC_PARAMS_VER;
    pic
}

/// An NVENC H.264 session on device 0.
pub struct NvencEncoder {
    list: &'static nv::NV_ENCODE_API_FUNCTION_LIST,
    encoder: *mut c_void,
    input: nv::NV_ENC_INPUT_PTR,
    output: nv::NV_ENC_OUTPUT_PTR,
    spec: EncoderSpec,
    header: Vec<u8>,
    frame: u32,
    ctx: &'static PrimaryContext,
}

// SAFETY: the session is used through &mut self only, one thread at a time.
unsafe impl Send for NvencEncoder {}

impl NvencEncoder {
    /// Opens and configures a session for `spec`.
    pub fn new(spec: EncoderSpec) -> Result<Self, NvencError> {
        let list = function_list()?;
        let ctx = PrimaryContext::shared().map_err(|e| NvencError(e.0))?;
        let current = ctx.push().map_err(|e| NvencError(e.0))?;
        let mut params: nv::NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS =
            // SAFETY: all-zero is valid for this structure (no enums without 0).
            unsafe { MaybeUninit::zeroed().assume_init() };
        params.version = nv::NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS_VER;
        params.deviceType = nv::NV_ENC_DEVICE_TYPE::NV_ENC_DEVICE_TYPE_CUDA;
        params.device = ctx.raw().cast();
        params.apiVersion = nv::NVENCAPI_VERSION;
        let mut encoder: *mut c_void = std::ptr::null_mut();
        let open = entry(list.nvEncOpenEncodeSessionEx, "nvEncOpenEncodeSessionEx")?;
        // SAFETY: valid parameters and out-pointer.
        let opened = ok(
            unsafe { open(&mut params, &mut encoder) },
            "nvEncOpenEncodeSessionEx",
        );
        if let Err(e) = opened {
            // nvEncodeAPI.h: a failed open must still be destroyed.
            if let (false, Some(destroy)) = (encoder.is_null(), list.nvEncDestroyEncoder) {
                // SAFETY: the handle the failed open returned, destroyed once.
                unsafe {
                    destroy(encoder);
                }
            }
            return Err(e);
        }
        let mut me = Self {
            list,
            encoder,
            input: std::ptr::null_mut(),
            output: std::ptr::null_mut(),
            spec,
            header: Vec::new(),
            frame: 0,
            ctx,
        };
        me.configure()?;
        drop(current);
        Ok(me)
    }

    fn configure(&mut self) -> Result<(), NvencError> {
        let list = self.list;
        let spec = self.spec;
        // SAFETY: zero plus the one enum without a zero value.
        let mut preset: nv::NV_ENC_PRESET_CONFIG = unsafe {
            zeroed_with(|p: *mut nv::NV_ENC_PRESET_CONFIG| {
                std::ptr::addr_of_mut!((*p).presetCfg.frameFieldMode).write(
                    nv::NV_ENC_PARAMS_FRAME_FIELD_MODE::NV_ENC_PARAMS_FRAME_FIELD_MODE_FRAME,
                );
            })
        };
        preset.version = nv::NV_ENC_PRESET_CONFIG_VER;
        preset.presetCfg.version = nv::NV_ENC_CONFIG_VER;
        let get_preset = entry(
            list.nvEncGetEncodePresetConfigEx,
            "nvEncGetEncodePresetConfigEx",
        )?;
        // SAFETY: a live session and a versioned out-structure.
        ok(
            unsafe {
                get_preset(
                    self.encoder,
                    nv::NV_ENC_CODEC_H264_GUID,
                    nv::NV_ENC_PRESET_P4_GUID,
                    nv::NV_ENC_TUNING_INFO::NV_ENC_TUNING_INFO_HIGH_QUALITY,
                    &mut preset,
                )
            },
            "nvEncGetEncodePresetConfigEx",
        )?;
        let mut config = preset.presetCfg;
        config.version = nv::NV_ENC_CONFIG_VER;
        config.profileGUID = nv::NV_ENC_H264_PROFILE_HIGH_GUID;
        config.gopLength = spec.gop;
        config.frameIntervalP = 1;
        config.rcParams.version = nv::NV_ENC_RC_PARAMS_VER;
        config.rcParams.rateControlMode = nv::NV_ENC_PARAMS_RC_MODE::NV_ENC_PARAMS_RC_VBR;
        config.rcParams.averageBitRate = spec.bitrate;
        config.rcParams.maxBitRate = spec.maxrate;
        config.rcParams.vbvBufferSize = spec.vbv;
        config.rcParams.vbvInitialDelay = spec.vbv;
        // SAFETY: the H.264 member of the codec union, the one the preset filled.
        unsafe {
            let h264 = &mut config.encodeCodecConfig.h264Config;
            h264.idrPeriod = spec.gop;
            h264.chromaFormatIDC = 1;
            h264.entropyCodingMode =
                nv::NV_ENC_H264_ENTROPY_CODING_MODE::NV_ENC_H264_ENTROPY_CODING_MODE_CABAC;
            h264.set_repeatSPSPPS(0);
            let vui = &mut h264.h264VUIParameters;
            vui.videoSignalTypePresentFlag = 1;
            vui.videoFormat = nv::NV_ENC_VUI_VIDEO_FORMAT::NV_ENC_VUI_VIDEO_FORMAT_UNSPECIFIED;
            vui.videoFullRangeFlag = 0;
            vui.colourDescriptionPresentFlag = 1;
            vui.colourPrimaries = nv::NV_ENC_VUI_COLOR_PRIMARIES::NV_ENC_VUI_COLOR_PRIMARIES_BT709;
            vui.transferCharacteristics =
                nv::NV_ENC_VUI_TRANSFER_CHARACTERISTIC::NV_ENC_VUI_TRANSFER_CHARACTERISTIC_BT709;
            vui.colourMatrix = nv::NV_ENC_VUI_MATRIX_COEFFS::NV_ENC_VUI_MATRIX_COEFFS_BT709;
        }
        // SAFETY: all-zero is valid for the initialize parameters.
        let mut init: nv::NV_ENC_INITIALIZE_PARAMS = unsafe { MaybeUninit::zeroed().assume_init() };
        init.version = nv::NV_ENC_INITIALIZE_PARAMS_VER;
        init.encodeGUID = nv::NV_ENC_CODEC_H264_GUID;
        init.presetGUID = nv::NV_ENC_PRESET_P4_GUID;
        init.encodeWidth = spec.width;
        init.encodeHeight = spec.height;
        init.darWidth = spec.width;
        init.darHeight = spec.height;
        init.maxEncodeWidth = spec.width;
        init.maxEncodeHeight = spec.height;
        init.frameRateNum = spec.fps;
        init.frameRateDen = 1;
        init.enablePTD = 1;
        init.encodeConfig = &mut config;
        init.tuningInfo = nv::NV_ENC_TUNING_INFO::NV_ENC_TUNING_INFO_HIGH_QUALITY;
        init.bufferFormat = nv::NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_IYUV;
        let initialize = entry(list.nvEncInitializeEncoder, "nvEncInitializeEncoder")?;
        // SAFETY: `config` outlives the call.
        ok(
            unsafe { initialize(self.encoder, &mut init) },
            "nvEncInitializeEncoder",
        )?;

        // SAFETY: all-zero is valid; the driver fills the handle.
        let mut input: nv::NV_ENC_CREATE_INPUT_BUFFER =
            unsafe { MaybeUninit::zeroed().assume_init() };
        input.version = nv::NV_ENC_CREATE_INPUT_BUFFER_VER;
        input.width = spec.width;
        input.height = spec.height;
        input.bufferFmt = nv::NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_IYUV;
        let create_input = entry(list.nvEncCreateInputBuffer, "nvEncCreateInputBuffer")?;
        // SAFETY: a live, initialised session.
        ok(
            unsafe { create_input(self.encoder, &mut input) },
            "nvEncCreateInputBuffer",
        )?;
        self.input = input.inputBuffer;
        // SAFETY: as above.
        let mut output: nv::NV_ENC_CREATE_BITSTREAM_BUFFER =
            unsafe { MaybeUninit::zeroed().assume_init() };
        output.version = nv::NV_ENC_CREATE_BITSTREAM_BUFFER_VER;
        let create_output = entry(
            list.nvEncCreateBitstreamBuffer,
            "nvEncCreateBitstreamBuffer",
        )?;
        // SAFETY: as above.
        ok(
            unsafe { create_output(self.encoder, &mut output) },
            "nvEncCreateBitstreamBuffer",
        )?;
        self.output = output.bitstreamBuffer;

        let mut buf = vec![0u8; nv::NV_MAX_SEQ_HDR_LEN as usize];
        let mut size: u32 = 0;
        // SAFETY: all-zero is valid; buffer and size outlive the call.
        let mut seq: nv::NV_ENC_SEQUENCE_PARAM_PAYLOAD =
            unsafe { MaybeUninit::zeroed().assume_init() };
        seq.version = nv::NV_ENC_SEQUENCE_PARAM_PAYLOAD_VER;
        seq.inBufferSize = buf.len() as u32;
        seq.spsppsBuffer = buf.as_mut_ptr().cast();
        seq.outSPSPPSPayloadSize = &mut size;
        let get_seq = entry(list.nvEncGetSequenceParams, "nvEncGetSequenceParams")?;
        // SAFETY: as above.
        ok(
            unsafe { get_seq(self.encoder, &mut seq) },
            "nvEncGetSequenceParams",
        )?;
        buf.truncate(size as usize);
        self.header = buf;
        Ok(())
    }

    /// SPS and PPS, Annex B: the stream's global header (mp4 `avcC`).
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// Encodes one 8-bit 4:2:0 picture given as (plane, stride) for Y, U,
    /// V, with its presentation time in frames.
    pub fn encode(
        &mut self,
        planes: [(&[u8], usize); 3],
        pts: i64,
    ) -> Result<EncodedPacket, NvencError> {
        let list = self.list;
        let (w, h) = (self.spec.width as usize, self.spec.height as usize);
        let _current = self.ctx.push().map_err(|e| NvencError(e.0))?;
        // SAFETY: all-zero is valid; the driver fills pointer and pitch.
        let mut lock: nv::NV_ENC_LOCK_INPUT_BUFFER = unsafe { MaybeUninit::zeroed().assume_init() };
        lock.version = nv::NV_ENC_LOCK_INPUT_BUFFER_VER;
        lock.inputBuffer = self.input;
        let lock_input = entry(list.nvEncLockInputBuffer, "nvEncLockInputBuffer")?;
        let unlock_input = entry(list.nvEncUnlockInputBuffer, "nvEncUnlockInputBuffer")?;
        // SAFETY: our own input buffer.
        ok(
            unsafe { lock_input(self.encoder, &mut lock) },
            "nvEncLockInputBuffer",
        )?;
        let pitch = lock.pitch as usize;
        // IYUV: Y rows of `pitch`, then U and V rows of `pitch / 2`.
        let layout = [
            (0usize, pitch, w, h),
            (pitch * h, pitch / 2, w / 2, h / 2),
            (pitch * h + (pitch / 2) * (h / 2), pitch / 2, w / 2, h / 2),
        ];
        let mut short = None;
        for (p, (offset, dst_pitch, row, rows)) in layout.into_iter().enumerate() {
            let (src, stride) = planes[p];
            if src.len() < stride * (rows - 1) + row {
                short = Some(p);
                break;
            }
            for r in 0..rows {
                // SAFETY: the locked buffer holds `rows` rows of
                // `dst_pitch` bytes for this plane from `offset`.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        src.as_ptr().add(r * stride),
                        lock.bufferDataPtr.cast::<u8>().add(offset + r * dst_pitch),
                        row,
                    );
                }
            }
        }
        // SAFETY: unlocks what was locked above.
        ok(
            unsafe { unlock_input(self.encoder, self.input) },
            "nvEncUnlockInputBuffer",
        )?;
        if let Some(p) = short {
            return Err(NvencError(format!("plane {p} is smaller than the picture")));
        }
        let mut pic = frame_pic_params();
        pic.inputWidth = self.spec.width;
        pic.inputHeight = self.spec.height;
        pic.inputPitch = lock.pitch;
        pic.inputBuffer = self.input;
        pic.outputBitstream = self.output;
        pic.bufferFmt = nv::NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_IYUV;
        pic.inputTimeStamp = pts as u64;
        pic.frameIdx = self.frame;
        self.frame = self.frame.wrapping_add(1);
        let encode = entry(list.nvEncEncodePicture, "nvEncEncodePicture")?;
        // SAFETY: our buffers, a live session.
        ok(
            unsafe { encode(self.encoder, &mut pic) },
            "nvEncEncodePicture",
        )?;
        self.take_output(pts)
    }

    fn take_output(&mut self, pts: i64) -> Result<EncodedPacket, NvencError> {
        let list = self.list;
        // SAFETY: zero plus the picture structure (the driver overwrites it).
        let mut lock: nv::NV_ENC_LOCK_BITSTREAM = unsafe {
            zeroed_with(|p: *mut nv::NV_ENC_LOCK_BITSTREAM| {
                std::ptr::addr_of_mut!((*p).pictureStruct)
                    .write(nv::NV_ENC_PIC_STRUCT::NV_ENC_PIC_STRUCT_FRAME);
            })
        };
        lock.version = nv::NV_ENC_LOCK_BITSTREAM_VER;
        lock.outputBitstream = self.output;
        let lock_bs = entry(list.nvEncLockBitstream, "nvEncLockBitstream")?;
        let unlock_bs = entry(list.nvEncUnlockBitstream, "nvEncUnlockBitstream")?;
        // SAFETY: our bitstream buffer; waits for the picture.
        ok(
            unsafe { lock_bs(self.encoder, &mut lock) },
            "nvEncLockBitstream",
        )?;
        // SAFETY: the locked bitstream holds `bitstreamSizeInBytes` bytes.
        let data = unsafe {
            std::slice::from_raw_parts(
                lock.bitstreamBufferPtr.cast::<u8>(),
                lock.bitstreamSizeInBytes as usize,
            )
        }
        .to_vec();
        let keyframe = matches!(
            lock.pictureType,
            nv::NV_ENC_PIC_TYPE::NV_ENC_PIC_TYPE_IDR | nv::NV_ENC_PIC_TYPE::NV_ENC_PIC_TYPE_I
        );
        // SAFETY: unlocks what was locked above.
        ok(
            unsafe { unlock_bs(self.encoder, self.output) },
            "nvEncUnlockBitstream",
        )?;
        Ok(EncodedPacket {
            data,
            pts,
            keyframe,
        })
    }

    /// Ends the stream (nothing is held back: no B-frames).
    pub fn finish(&mut self) -> Result<(), NvencError> {
        let list = self.list;
        let _current = self.ctx.push().map_err(|e| NvencError(e.0))?;
        // EOS takes no buffers.
        let mut pic = frame_pic_params();
        pic.encodePicFlags = nv::NV_ENC_PIC_FLAGS::NV_ENC_PIC_FLAG_EOS as u32;
        let encode = entry(list.nvEncEncodePicture, "nvEncEncodePicture")?;
        // SAFETY: a live session.
        ok(unsafe { encode(self.encoder, &mut pic) }, "end of stream")
    }
}

impl Drop for NvencEncoder {
    fn drop(&mut self) {
        let list = self.list;
        let current = self.ctx.push();
        // SAFETY: handles of this session, destroyed once, in order.
        unsafe {
            if let (false, Some(f)) = (self.input.is_null(), list.nvEncDestroyInputBuffer) {
                f(self.encoder, self.input);
            }
            if let (false, Some(f)) = (self.output.is_null(), list.nvEncDestroyBitstreamBuffer) {
                f(self.encoder, self.output);
            }
            if let Some(f) = list.nvEncDestroyEncoder {
                f(self.encoder);
            }
        }
        drop(current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(width: u32, height: u32) -> EncoderSpec {
        EncoderSpec {
            width,
            height,
            fps: 30,
            bitrate: 4_000_000,
            maxrate: 6_000_000,
            vbv: 12_000_000,
            gop: 60,
        }
    }

    /// Without a device the session fails naming what is missing; on a
    /// device without an encoder (H100/H200) it fails as the probe says,
    /// "no encoder"; on an encoder card it encodes: a header with the SPS
    /// and PPS, and a keyframe first.
    #[test]
    fn a_session_encodes_where_the_card_has_an_encoder_and_says_why_not_elsewhere() {
        let probe = crate::probe_all();
        let encoder_present = probe
            .devices
            .first()
            .and_then(|d| d.nvenc.as_ref())
            .is_some_and(|n| n.encoder_present);
        let session = NvencEncoder::new(spec(256, 144));
        if !probe.present {
            let e = session.err().expect("no device here");
            assert!(
                e.0.contains("libnvidia-encode") || e.0.contains("device"),
                "{e}"
            );
            return;
        }
        if !encoder_present {
            let e = session
                .err()
                .expect("the probe found no encoder on this card");
            assert!(
                e.0.contains("UNSUPPORTED") || e.0.contains("encoder"),
                "the failure should say there is no encoder: {e}"
            );
            return;
        }
        let mut enc = session.expect("the probe opened a session on this card");
        // SPS (type 7) and PPS (type 8) NAL units in the Annex B header.
        let header = enc.header().to_vec();
        let nal_types: Vec<u8> = header
            .windows(4)
            .filter(|w| w[..3] == [0, 0, 1])
            .map(|w| w[3] & 0x1f)
            .collect();
        assert!(
            nal_types.contains(&7) && nal_types.contains(&8),
            "{nal_types:?}"
        );
        let (w, h) = (256usize, 144usize);
        let y = vec![120u8; w * h];
        let uv = vec![128u8; w * h / 4];
        let mut bytes = 0usize;
        let mut first_key = None;
        for pts in 0..10 {
            let p = enc
                .encode([(&y, w), (&uv, w / 2), (&uv, w / 2)], pts)
                .expect("a frame encodes");
            bytes += p.data.len();
            if first_key.is_none() && !p.data.is_empty() {
                first_key = Some(p.keyframe);
            }
        }
        enc.finish().expect("the session ends");
        assert!(bytes > 0, "ten frames gave no bytes");
        assert_eq!(first_key, Some(true), "the first packet is a keyframe");
    }
}
