//! Test images made with encoders independent of this crate (the `png` crate, jpeg-encoder),
//! and the camera metadata a phone puts in a JPEG. Shared by the host tests, the fuzz tests and
//! the CPU example (which include this file by path); never built into a Worker.

/// A PNG of `data` as pixels of `colour` and `depth`.
pub fn png_with(
    w: u32,
    h: u32,
    colour: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(colour);
    encoder.set_depth(depth);
    let mut writer = encoder.write_header().expect("PNG header");
    writer.write_image_data(data).expect("PNG data");
    writer.finish().expect("PNG end");
    out
}

/// An 8-bit RGB PNG of `rgb`.
pub fn png_rgb(w: usize, h: usize, rgb: &[u8]) -> Vec<u8> {
    png_with(
        w as u32,
        h as u32,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        rgb,
    )
}

/// A JPEG of `rgb` at quality 90, baseline or progressive.
pub fn jpeg_rgb(w: usize, h: usize, rgb: &[u8], progressive: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    encoder.set_progressive(progressive);
    encoder
        .encode(rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
        .expect("JPEG encodes");
    out
}

/// `jpeg` with `segments` (marker, data) right after its start of image, as a camera writes
/// its metadata.
pub fn with_segments(jpeg: &[u8], segments: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    for (marker, data) in segments {
        out.extend([0xff, *marker]);
        out.extend(((data.len() + 2) as u16).to_be_bytes());
        out.extend(*data);
    }
    out.extend(&jpeg[2..]);
    out
}

/// An APP1 EXIF segment's data: `Exif\0\0` and a TIFF body whose IFD0 holds `entries`
/// (tag, type, count, value), little-endian.
pub fn exif(entries: &[(u16, u16, u32, u32)]) -> Vec<u8> {
    let mut out = b"Exif\0\0".to_vec();
    out.extend(tiff(false, entries));
    out
}

/// A TIFF body (after `Exif\0\0`) whose IFD0 holds `entries` (tag, type, count, value).
pub fn tiff(big_endian: bool, entries: &[(u16, u16, u32, u32)]) -> Vec<u8> {
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend(if big_endian { *b"MM\0*" } else { *b"II*\0" });
    out.extend(u32b(8));
    out.extend(u16b(entries.len() as u16));
    for &(tag, kind, count, value) in entries {
        out.extend(u16b(tag));
        out.extend(u16b(kind));
        out.extend(u32b(count));
        if kind == 3 {
            out.extend(u16b(value as u16));
            out.extend([0, 0]);
        } else {
            out.extend(u32b(value));
        }
    }
    out.extend(u32b(0));
    out
}
