//! A test picture for the compose tests.

use ffmpeg_next as ff;

/// A smooth 640x360 picture with detail in every plane.
pub fn picture() -> ff::frame::Video {
    let (w, h) = (640usize, 360usize);
    let mut f = ff::frame::Video::new(ff::format::Pixel::YUV420P, w as u32, h as u32);
    for p in 0..3 {
        let (pw, ph) = if p == 0 { (w, h) } else { (w / 2, h / 2) };
        let stride = f.stride(p);
        let data = f.data_mut(p);
        for y in 0..ph {
            for x in 0..pw {
                let (fx, fy) = (x as f64, y as f64);
                let v = match p {
                    0 => 126.0 + 60.0 * (fx / 17.0).sin() * (fy / 23.0).cos() + 0.08 * fx,
                    1 => 128.0 + 40.0 * (fx / 31.0).sin(),
                    _ => 128.0 + 40.0 * (fy / 29.0).cos(),
                };
                data[y * stride + x] = v.round().clamp(16.0, 240.0) as u8;
            }
        }
    }
    f.set_pts(Some(0));
    f
}
