//! Display rotation, read the way the ffmpeg CLI reads it, so our frames
//! are turned exactly as FFmpeg's own autorotation turns them.

use ff::codec::packet::side_data::Type as SideDataType;
use ffmpeg_next as ff;

/// Clockwise rotation to apply for display: 0, 90, 180 or 270.
pub fn display_rotation(stream: &ff::format::stream::Stream<'_>) -> i32 {
    for sd in stream.side_data() {
        if sd.kind() == SideDataType::DisplayMatrix && sd.data().len() >= 36 {
            let mut matrix = [0i32; 9];
            for (i, chunk) in sd.data().chunks_exact(4).take(9).enumerate() {
                matrix[i] = i32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            }
            // SAFETY: av_display_rotation_get reads exactly nine i32 values.
            let ccw = unsafe { ff::ffi::av_display_rotation_get(matrix.as_ptr()) };
            return normalize(-ccw);
        }
    }
    0
}

/// Snaps an angle in degrees to 0/90/180/270 (what the ffmpeg CLI does).
pub fn normalize(degrees: f64) -> i32 {
    if !degrees.is_finite() {
        return 0;
    }
    let mut theta = degrees.round() as i64 % 360;
    if theta < 0 {
        theta += 360;
    }
    match theta {
        45..=134 => 90,
        135..=224 => 180,
        225..=314 => 270,
        _ => 0,
    }
}

/// The libavfilter chain that turns a frame upright, or "" for none.
pub fn filter(rotation: i32) -> &'static str {
    match rotation {
        90 => "transpose=clock",
        180 => "hflip,vflip",
        270 => "transpose=cclock",
        _ => "",
    }
}

/// Display size after rotation.
pub fn display_size(width: u32, height: u32, rotation: i32) -> (u32, u32) {
    if rotation == 90 || rotation == 270 {
        (height, width)
    } else {
        (width, height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angles_snap_like_the_cli() {
        assert_eq!(normalize(90.0), 90);
        assert_eq!(normalize(-90.0), 270);
        assert_eq!(normalize(-270.0), 90);
        assert_eq!(normalize(180.0), 180);
        assert_eq!(normalize(-179.9), 180);
        assert_eq!(normalize(0.4), 0);
        assert_eq!(normalize(f64::NAN), 0);
        assert_eq!(display_size(1280, 720, 90), (720, 1280));
    }
}
