//! Checks an image against Instagram's publishing requirements before anyone tries to publish
//! it, reading only the JPEG headers, never the pixels.

/// Instagram's largest accepted image file: 8 MiB.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
/// Instagram's narrowest accepted image, in pixels.
pub const MIN_WIDTH: u16 = 320;
/// Instagram's widest accepted image, in pixels.
pub const MAX_WIDTH: u16 = 1440;
/// The tallest accepted aspect ratio, width / height: 4:5 portrait.
pub const MIN_ASPECT: f64 = 0.8;
/// The widest accepted aspect ratio, width / height: 1.91:1 landscape.
pub const MAX_ASPECT: f64 = 1.91;

/// What the headers of a JPEG say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub width: u16,
    pub height: u16,
    /// The file's length in bytes.
    pub bytes: usize,
}

/// Why an image cannot be read or cannot be published on Instagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("image is {found}, Instagram accepts only JPEG")]
    NotJpeg { found: &'static str },
    #[error("JPEG is truncated: its {bytes} bytes end before the frame header")]
    Truncated { bytes: usize },
    #[error("JPEG is malformed at byte {offset}: {reason}")]
    Malformed { offset: usize, reason: &'static str },
    #[error("JPEG uses process SOF{}, Instagram accepts only baseline or progressive", .marker - 0xc0)]
    UnsupportedProcess { marker: u8 },
    #[error("image is {bytes} bytes, Instagram accepts at most {MAX_BYTES} (8 MiB)")]
    TooLarge { bytes: usize },
    #[error("image is {width} px wide, Instagram accepts {MIN_WIDTH} to {MAX_WIDTH}")]
    WidthOutOfRange { width: u16 },
    #[error(
        "image is {width}x{height} px, aspect ratio {:.3}, Instagram accepts {MIN_ASPECT} (4:5) to {MAX_ASPECT} (1.91:1)",
        f64::from(*.width) / f64::from(*.height)
    )]
    AspectRatioOutOfRange { width: u16, height: u16 },
}

/// Reads the size of a JPEG from its frame header (SOF0, SOF1 or SOF2).
pub fn inspect_jpeg(bytes: &[u8]) -> Result<ImageInfo, MediaError> {
    if !bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Err(MediaError::NotJpeg {
            found: sniff(bytes),
        });
    }
    let truncated = MediaError::Truncated { bytes: bytes.len() };
    let malformed = |offset, reason| MediaError::Malformed { offset, reason };
    let mut pos = 2;
    loop {
        if *bytes.get(pos).ok_or(truncated.clone())? != 0xff {
            return Err(malformed(pos, "expected a marker"));
        }
        // Any number of 0xFF fill bytes may precede a marker (B.1.1.2).
        while bytes.get(pos) == Some(&0xff) {
            pos += 1;
        }
        let marker = *bytes.get(pos).ok_or(truncated.clone())?;
        let start = pos + 1;
        match marker {
            // TEM and RSTn stand alone, without a length.
            0x01 | 0xd0..=0xd7 => {
                pos = start;
                continue;
            }
            0xd8 => return Err(malformed(pos, "second start of image")),
            0xd9 => return Err(malformed(pos, "end of image before the frame header")),
            0xda => return Err(malformed(pos, "scan before the frame header")),
            _ => {}
        }
        let length = match bytes.get(start..start + 2) {
            Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
            _ => return Err(truncated),
        };
        if length < 2 {
            return Err(malformed(start, "segment length below 2"));
        }
        match marker {
            0xc0..=0xc2 => {
                // The whole segment must be present, or the file was cut short inside it.
                let segment = bytes.get(start..start + length).ok_or(truncated)?;
                // Length, precision, height, width, then the components.
                let &[_, _, _, h1, h0, w1, w0, ..] = segment else {
                    return Err(malformed(start, "frame header shorter than 8 bytes"));
                };
                let height = u16::from_be_bytes([h1, h0]);
                let width = u16::from_be_bytes([w1, w0]);
                if width == 0 || height == 0 {
                    return Err(malformed(start, "frame header declares a zero dimension"));
                }
                return Ok(ImageInfo {
                    width,
                    height,
                    bytes: bytes.len(),
                });
            }
            // The other SOFn; 0xC4 (DHT), 0xC8 (JPG) and 0xCC (DAC) are not frame headers.
            0xc3 | 0xc5..=0xc7 | 0xc9..=0xcb | 0xcd..=0xcf => {
                return Err(MediaError::UnsupportedProcess { marker });
            }
            _ => pos = start + length,
        }
    }
}

/// Checks that `bytes` are an image Instagram accepts for publishing: a JPEG of at most
/// `MAX_BYTES`, `MIN_WIDTH` to `MAX_WIDTH` px wide, aspect ratio from 4:5 to 1.91:1 inclusive.
///
/// Only the headers are read, so a file cut short after its frame header still passes.
pub fn check_instagram_image(bytes: &[u8]) -> Result<ImageInfo, MediaError> {
    let info = inspect_jpeg(bytes)?;
    if info.bytes > MAX_BYTES {
        return Err(MediaError::TooLarge { bytes: info.bytes });
    }
    if !(MIN_WIDTH..=MAX_WIDTH).contains(&info.width) {
        return Err(MediaError::WidthOutOfRange { width: info.width });
    }
    // Integer cross-multiplication keeps both bounds exactly inclusive: 4/5 <= w/h <= 191/100.
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    if 5 * w < 4 * h || 100 * w > 191 * h {
        return Err(MediaError::AspectRatioOutOfRange {
            width: info.width,
            height: info.height,
        });
    }
    Ok(info)
}

/// Names the format of bytes that are not a JPEG, for the error message.
pub(crate) fn sniff(bytes: &[u8]) -> &'static str {
    match bytes {
        [] => "empty",
        [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, ..] => "PNG",
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => "GIF",
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => "WebP",
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => "HEIF or another ISO media file",
        _ => "in an unknown format",
    }
}

#[cfg(test)]
mod tests;
