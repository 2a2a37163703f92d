//! The one EXIF fact a photo needs before it is shown: its orientation (tag 0x0112), read
//! from a JPEG's `APP1 Exif` segment by a bounded reader that looks at nothing else. Every
//! offset is checked against the segment, so any bytes give an answer or `None`, never a
//! panic; the tests fuzz it.

/// How the stored pixels are turned to show the picture upright (EXIF 2.32, tag 0x0112).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// 1: as stored.
    Upright,
    /// 2: mirrored left to right.
    MirrorHorizontal,
    /// 3: turned half a circle.
    Rotate180,
    /// 4: mirrored top to bottom.
    MirrorVertical,
    /// 5: mirrored along the top-left to bottom-right diagonal.
    Transpose,
    /// 6: turned a quarter clockwise (a phone held upright, its camera's sensor sideways).
    Rotate90,
    /// 7: mirrored along the other diagonal.
    Transverse,
    /// 8: turned a quarter counter-clockwise.
    Rotate270,
}

impl Orientation {
    pub fn from_tag(value: u16) -> Option<Self> {
        Some(match value {
            1 => Self::Upright,
            2 => Self::MirrorHorizontal,
            3 => Self::Rotate180,
            4 => Self::MirrorVertical,
            5 => Self::Transpose,
            6 => Self::Rotate90,
            7 => Self::Transverse,
            8 => Self::Rotate270,
            _ => return None,
        })
    }

    /// Whether the upright picture's width is the stored height.
    pub fn swaps_sides(self) -> bool {
        matches!(
            self,
            Self::Transpose | Self::Rotate90 | Self::Transverse | Self::Rotate270
        )
    }

    /// The upright picture's size for stored pixels of `width` x `height`.
    pub fn upright_size(self, width: usize, height: usize) -> (usize, usize) {
        if self.swaps_sides() {
            (height, width)
        } else {
            (width, height)
        }
    }

    /// RGB pixels of `width` x `height` as stored, turned upright: (pixels, width, height).
    pub fn apply(self, pixels: &[u8], width: usize, height: usize) -> (Vec<u8>, usize, usize) {
        if self == Self::Upright {
            return (pixels.to_vec(), width, height);
        }
        let (out_w, out_h) = self.upright_size(width, height);
        let mut out = vec![0u8; out_w * out_h * 3];
        for y in 0..out_h {
            for x in 0..out_w {
                // The stored pixel shown at (x, y) of the upright picture.
                let (sx, sy) = match self {
                    Self::Upright => (x, y),
                    Self::MirrorHorizontal => (width - 1 - x, y),
                    Self::Rotate180 => (width - 1 - x, height - 1 - y),
                    Self::MirrorVertical => (x, height - 1 - y),
                    Self::Transpose => (y, x),
                    Self::Rotate90 => (y, height - 1 - x),
                    Self::Transverse => (width - 1 - y, height - 1 - x),
                    Self::Rotate270 => (width - 1 - y, x),
                };
                let from = (sy * width + sx) * 3;
                let to = (y * out_w + x) * 3;
                out[to..to + 3].copy_from_slice(&pixels[from..from + 3]);
            }
        }
        (out, out_w, out_h)
    }
}

/// The orientation a JPEG's EXIF declares; `Upright` when it has none, or one that cannot be
/// read (a viewer would show it as stored too).
pub fn jpeg_orientation(jpeg: &[u8]) -> Orientation {
    exif_segment(jpeg)
        .and_then(tiff_orientation)
        .and_then(Orientation::from_tag)
        .unwrap_or(Orientation::Upright)
}

/// The TIFF body of the first `APP1` segment that starts `Exif\0\0`, among the segments
/// before the first scan or frame header.
fn exif_segment(jpeg: &[u8]) -> Option<&[u8]> {
    if !jpeg.starts_with(&[0xff, 0xd8]) {
        return None;
    }
    let mut pos = 2;
    loop {
        if *jpeg.get(pos)? != 0xff {
            return None;
        }
        while jpeg.get(pos) == Some(&0xff) {
            pos += 1;
        }
        let marker = *jpeg.get(pos)?;
        let start = pos + 1;
        match marker {
            0x01 | 0xd0..=0xd7 => {
                pos = start;
                continue;
            }
            // A scan, a frame header, the end: EXIF comes before them all.
            0xc0..=0xcf | 0xd8..=0xda => return None,
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([
            *jpeg.get(start)?,
            *jpeg.get(start + 1)?,
        ]));
        if length < 2 {
            return None;
        }
        let segment = jpeg.get(start + 2..start + length)?;
        if marker == 0xe1
            && let Some(tiff) = segment.strip_prefix(b"Exif\0\0")
        {
            return Some(tiff);
        }
        pos = start + length;
    }
}

/// Tag 0x0112 of IFD0 in a TIFF structure, if it is there as one SHORT.
fn tiff_orientation(tiff: &[u8]) -> Option<u16> {
    let big_endian = match tiff.get(..4)? {
        [b'I', b'I', 42, 0] => false,
        [b'M', b'M', 0, 42] => true,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let bytes = [*tiff.get(at)?, *tiff.get(at.checked_add(1)?)?];
        Some(if big_endian {
            u16::from_be_bytes(bytes)
        } else {
            u16::from_le_bytes(bytes)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let bytes: [u8; 4] = tiff.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let count = usize::from(u16_at(ifd)?);
    // Each entry: tag, type, count (u32), value (4 bytes).
    for index in 0..count {
        let entry = ifd.checked_add(2)?.checked_add(index.checked_mul(12)?)?;
        if u16_at(entry)? != 0x0112 {
            continue;
        }
        // Type 3 is SHORT; one of them sits in the value field's first two bytes.
        if u16_at(entry + 2)? != 3 || u32_at(entry + 4)? != 1 {
            return None;
        }
        return u16_at(entry + 8);
    }
    None
}

#[cfg(test)]
mod tests;
