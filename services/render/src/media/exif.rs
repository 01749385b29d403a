//! A JPEG's EXIF orientation (tag 0x0112): phones store photos as the
//! sensor saw them and say in EXIF how to turn them. FFmpeg's image reader
//! does not apply it, so stills are turned here, the way a photo viewer
//! turns them.

use std::io::Read as _;
use std::path::Path;

/// How much of the file the EXIF block is looked for in (it is in the
/// first APP segments, which are at most 64 KiB each).
const HEAD_BYTES: u64 = 256 * 1024;

/// The EXIF orientation of a JPEG file: 1 (as stored) to 8; 1 when the
/// file is not a JPEG, has no EXIF or cannot be read.
pub fn orientation(path: &Path) -> u8 {
    let mut head = Vec::new();
    match std::fs::File::open(path) {
        Ok(f) => {
            if f.take(HEAD_BYTES).read_to_end(&mut head).is_err() {
                return 1;
            }
        }
        Err(_) => return 1,
    }
    orientation_of(&head)
}

/// The EXIF orientation in a JPEG's first bytes (1 without one).
pub fn orientation_of(jpeg: &[u8]) -> u8 {
    if jpeg.get(..2) != Some(&[0xFF, 0xD8]) {
        return 1;
    }
    let mut at = 2;
    while at + 4 <= jpeg.len() {
        if jpeg[at] != 0xFF {
            return 1;
        }
        let marker = jpeg[at + 1];
        // Start of scan: no more metadata segments.
        if marker == 0xDA || marker == 0xD9 {
            return 1;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        let body = jpeg.get(at + 4..at + 2 + len).unwrap_or_default();
        if marker == 0xE1
            && let Some(tiff) = body.strip_prefix(b"Exif\0\0")
            && let Some(o) = tiff_orientation(tiff)
        {
            return o;
        }
        at += 2 + len;
    }
    1
}

fn tiff_orientation(tiff: &[u8]) -> Option<u8> {
    let big = match tiff.get(..2)? {
        b"MM" => true,
        b"II" => false,
        _ => return None,
    };
    let u16_at = |i: usize| -> Option<u16> {
        let b = tiff.get(i..i + 2)?;
        Some(if big {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    };
    let u32_at = |i: usize| -> Option<u32> {
        let b = tiff.get(i..i + 4)?;
        Some(if big {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        })
    };
    if u16_at(2)? != 42 {
        return None;
    }
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let entries = usize::from(u16_at(ifd)?);
    for e in 0..entries.min(512) {
        let entry = ifd + 2 + 12 * e;
        // Orientation, type SHORT: the value sits in the entry itself.
        if u16_at(entry)? == 0x0112 && u16_at(entry + 2)? == 3 {
            let o = u16_at(entry + 8)?;
            return u8::try_from(o).ok().filter(|o| (1..=8).contains(o));
        }
    }
    None
}

/// The libavfilter chain that shows an image of orientation `o` upright
/// ("" for none).
pub fn filter(o: u8) -> &'static str {
    match o {
        2 => "hflip",
        3 => "hflip,vflip",
        4 => "vflip",
        5 => "transpose=cclock_flip",
        6 => "transpose=clock",
        7 => "transpose=clock_flip",
        8 => "transpose=cclock",
        _ => "",
    }
}

/// Whether orientation `o` swaps width and height.
pub fn swaps(o: u8) -> bool {
    (5..=8).contains(&o)
}

/// The clockwise rotation orientation `o` includes (its mirror aside).
pub fn rotation(o: u8) -> i32 {
    match o {
        3 | 4 => 180,
        5 | 6 => 90,
        7 | 8 => 270,
        _ => 0,
    }
}

/// A minimal EXIF APP1 segment carrying orientation `o`, for tests and
/// tools that make oriented JPEGs (FFmpeg writes none).
pub fn app1_segment(o: u8) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08");
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&u16::from(o).to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    let mut body = b"Exif\0\0".to_vec();
    body.extend_from_slice(&tiff);
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    seg.extend_from_slice(&body);
    seg
}

/// `jpeg` with an EXIF orientation segment inserted after its SOI marker.
pub fn with_orientation(jpeg: &[u8], o: u8) -> Vec<u8> {
    let mut out = jpeg.get(..2).unwrap_or_default().to_vec();
    out.extend_from_slice(&app1_segment(o));
    out.extend_from_slice(jpeg.get(2..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientation_is_read_in_both_byte_orders() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xD9];
        assert_eq!(orientation_of(&jpeg), 1);
        for o in 1..=8 {
            assert_eq!(orientation_of(&with_orientation(&jpeg, o)), o);
        }
        // Little-endian, with a JFIF segment before it.
        let mut le = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0];
        let tiff = b"II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0";
        le.extend_from_slice(&[0xFF, 0xE1]);
        le.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
        le.extend_from_slice(b"Exif\0\0");
        le.extend_from_slice(tiff);
        assert_eq!(orientation_of(&le), 6);
    }

    #[test]
    fn damaged_or_foreign_bytes_say_as_stored() {
        assert_eq!(orientation_of(b"\x89PNG\r\n"), 1);
        assert_eq!(orientation_of(&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF]), 1);
        let mut bad = with_orientation(&[0xFF, 0xD8], 6);
        bad.truncate(20);
        assert_eq!(orientation_of(&bad), 1);
        assert_eq!(filter(6), "transpose=clock");
        assert!(swaps(8) && !swaps(3));
    }
}
