//! JPEG encoding with libjpeg-turbo, straight from YUV 4:2:0 planes.
//!
//! FFmpeg's own `mjpeg` encoder spends about four times the CPU of
//! libjpeg-turbo's SIMD path on a full-resolution frame; encoding from
//! the planes also avoids any colour conversion. The accurate DCT is
//! used, and the quality was chosen so frames are at least as faithful as
//! FFmpeg's `-q:v 2` (see the calibration test in `tests/media.rs`).

use std::ffi::CStr;

use ffmpeg_next as ff;
use turbojpeg_sys as tj;

use crate::error::RenderError;

/// libjpeg quality at least as faithful as FFmpeg's `-q:v 2` on grainy phone
/// footage (q94 matches it; q95 leaves a margin). Files come out larger than
/// FFmpeg's: its entropy coding is tighter at this quality.
pub const QUALITY_FRAMES: i32 = 95;
/// Quality for thumbnails (small, viewed, not analysed).
pub const QUALITY_THUMBNAIL: i32 = 90;

/// A libjpeg-turbo compressor.
pub struct TurboJpeg {
    handle: tj::tjhandle,
    quality: i32,
}

// SAFETY: a TurboJPEG handle may be used from any one thread at a time;
// `TurboJpeg` is not `Sync`, so it never is used from two at once.
unsafe impl Send for TurboJpeg {}

impl TurboJpeg {
    /// A compressor at `quality` (1-100).
    pub fn new(quality: i32) -> Result<Self, RenderError> {
        // SAFETY: plain constructor; null means failure.
        let handle = unsafe { tj::tjInitCompress() };
        if handle.is_null() {
            return Err(RenderError::Init(
                "libjpeg-turbo could not start a compressor".into(),
            ));
        }
        Ok(Self {
            handle,
            quality: quality.clamp(1, 100),
        })
    }

    fn error(&self) -> String {
        // SAFETY: returns a static or handle-owned NUL-terminated string.
        unsafe {
            let p = tj::tjGetErrorStr2(self.handle);
            if p.is_null() {
                "unknown libjpeg-turbo error".into()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        }
    }

    /// Encodes a full-range YUV 4:2:0 frame (`yuvj420p`).
    pub fn encode(&mut self, frame: &ff::frame::Video) -> Result<Vec<u8>, RenderError> {
        if frame.format() != ff::format::Pixel::YUVJ420P {
            return Err(RenderError::Io(format!(
                "libjpeg-turbo expects yuvj420p, got {:?}",
                frame.format()
            )));
        }
        let (w, h) = (frame.width() as i32, frame.height() as i32);
        let mut planes: [*const libc::c_uchar; 3] = [
            frame.data(0).as_ptr(),
            frame.data(1).as_ptr(),
            frame.data(2).as_ptr(),
        ];
        let strides: [libc::c_int; 3] = [
            frame.stride(0) as i32,
            frame.stride(1) as i32,
            frame.stride(2) as i32,
        ];
        let mut buf: *mut libc::c_uchar = std::ptr::null_mut();
        let mut size: libc::c_ulong = 0;
        // SAFETY: the planes and strides describe the frame's own buffers,
        // which outlive the call; libjpeg-turbo allocates `buf`, freed below.
        let r = unsafe {
            tj::tjCompressFromYUVPlanes(
                self.handle,
                planes.as_mut_ptr(),
                w,
                strides.as_ptr(),
                h,
                tj::TJSAMP_TJSAMP_420 as libc::c_int,
                &mut buf,
                &mut size,
                self.quality,
                tj::TJFLAG_ACCURATEDCT as libc::c_int,
            )
        };
        if r != 0 || buf.is_null() {
            let msg = self.error();
            if !buf.is_null() {
                // SAFETY: allocated by libjpeg-turbo.
                unsafe { tj::tjFree(buf) };
            }
            return Err(RenderError::Io(format!("JPEG encoding failed: {msg}")));
        }
        // SAFETY: libjpeg-turbo wrote `size` bytes at `buf`; copied, then freed.
        let out = unsafe { std::slice::from_raw_parts(buf, size as usize).to_vec() };
        // SAFETY: allocated by libjpeg-turbo, not used again.
        unsafe { tj::tjFree(buf) };
        Ok(out)
    }
}

impl Drop for TurboJpeg {
    fn drop(&mut self) {
        // SAFETY: the handle came from tjInitCompress and is dropped once.
        unsafe {
            tj::tjDestroy(self.handle);
        }
    }
}
