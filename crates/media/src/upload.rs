//! A person's own photo: what its first bytes say (the format by signature, the size from
//! the header, never the pixels), checked before it is kept, and its fitting for Instagram.
//!
//! A photo is always encoded anew, never kept byte for byte: its EXIF (the place it was
//! taken, the camera, the time), XMP, ICC and every other application segment stay behind,
//! and the JPEG written carries a JFIF header and nothing else. The EXIF orientation is
//! applied first, so a phone's portrait photo stays upright.

use crate::exif::{Orientation, jpeg_orientation};
use crate::fit::{FitError, Fitted, Format, decode, encode_fitted};
use crate::inspect::{MAX_BYTES, MediaError, inspect_jpeg};

/// The largest upload accepted: a phone's photo is a few MiB; more is refused while the body
/// streams, before it is kept.
pub const MAX_UPLOAD_BYTES: usize = 20 * 1024 * 1024;
/// The most pixels an upload may have: 16 Mpx, such as 4096x4096, or a 12 Mpx phone photo.
pub const MAX_UPLOAD_PIXELS: u64 = 1 << 24;
/// The shortest side accepted: Instagram shows nothing narrower than 320 px, and a smaller
/// photo would have to be blown up.
pub const MIN_UPLOAD_SIDE: u32 = 320;

/// What an upload's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadInfo {
    pub format: Format,
    /// As stored; an EXIF orientation may turn it.
    pub width: u32,
    pub height: u32,
}

/// Why an upload is refused, in words for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("it is {found}, not a JPEG, PNG or WebP image")]
    NotAnImage { found: &'static str },
    #[error("its {format} header cannot be read: {reason}")]
    Unreadable { format: Format, reason: String },
    #[error("it is {width}x{height} px; a photo needs at least {MIN_UPLOAD_SIDE} px on each side")]
    TooSmall { width: u32, height: u32 },
    #[error("it is {width}x{height} px; at most {MAX_UPLOAD_PIXELS} pixels are taken")]
    TooManyPixels { width: u32, height: u32 },
}

impl UploadError {
    /// Whether the file is of a type not taken (415), rather than an image not usable (422).
    pub fn is_wrong_type(&self) -> bool {
        matches!(self, UploadError::NotAnImage { .. })
    }
}

/// Reads the format and size of an upload from its first bytes, and checks them.
pub fn inspect_upload(bytes: &[u8]) -> Result<UploadInfo, UploadError> {
    let format = Format::sniff(bytes).map_err(|found| UploadError::NotAnImage { found })?;
    let unreadable = |reason: String| UploadError::Unreadable { format, reason };
    let (width, height) = match format {
        Format::Jpeg => {
            let info = inspect_jpeg(bytes).map_err(|e: MediaError| unreadable(e.to_string()))?;
            (u32::from(info.width), u32::from(info.height))
        }
        Format::Png => png_size(bytes).ok_or_else(|| unreadable("no IHDR chunk".into()))?,
        Format::WebP => {
            webp_size(bytes).ok_or_else(|| unreadable("no VP8, VP8L or VP8X chunk".into()))?
        }
    };
    if width == 0 || height == 0 {
        return Err(unreadable(format!("it declares {width}x{height} px")));
    }
    if width.min(height) < MIN_UPLOAD_SIDE {
        return Err(UploadError::TooSmall { width, height });
    }
    if u64::from(width) * u64::from(height) > MAX_UPLOAD_PIXELS {
        return Err(UploadError::TooManyPixels { width, height });
    }
    Ok(UploadInfo {
        format,
        width,
        height,
    })
}

/// Makes a person's photo into a JPEG Instagram accepts: turned upright as its EXIF says,
/// centre-cropped into 4:5..1.91:1, at most 1440 px wide, under 8 MiB, and without any of
/// its metadata.
pub fn fit_upload(bytes: &[u8]) -> Result<Fitted, FitError> {
    let format = Format::sniff(bytes).map_err(|found| FitError::NotAnImage { found })?;
    let orientation = match format {
        Format::Jpeg => jpeg_orientation(bytes),
        // PNG and WebP photos are stored upright by every camera app that writes them.
        Format::Png | Format::WebP => Orientation::Upright,
    };
    let image = decode(bytes, format, MAX_UPLOAD_PIXELS)?;
    encode_fitted(image, format, orientation, MAX_BYTES)
}

fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    // Signature, then the IHDR chunk: length, "IHDR", width, height (big-endian).
    if bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(bytes.get(16..20)?.try_into().ok()?);
    let height = u32::from_be_bytes(bytes.get(20..24)?.try_into().ok()?);
    Some((width, height))
}

fn webp_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let le24 = |at: usize| -> Option<u32> {
        let b = bytes.get(at..at + 3)?;
        Some(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
    };
    match bytes.get(12..16)? {
        // Extended: the canvas size, each less one, in 24 bits.
        b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
        // Lossless: a signature byte, then 14 bits each of width and height, less one.
        b"VP8L" => {
            if *bytes.get(20)? != 0x2f {
                return None;
            }
            let bits = u32::from_le_bytes(bytes.get(21..25)?.try_into().ok()?);
            Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        // Lossy: a key frame's start code, then 14 bits each of width and height.
        b"VP8 " => {
            if bytes.get(23..26)? != [0x9d, 0x01, 0x2a] {
                return None;
            }
            let width = u16::from_le_bytes(bytes.get(26..28)?.try_into().ok()?) & 0x3fff;
            let height = u16::from_le_bytes(bytes.get(28..30)?.try_into().ok()?) & 0x3fff;
            Some((u32::from(width), u32::from(height)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
