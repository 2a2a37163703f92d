//! Makes whatever an image provider answered fit for Instagram: decodes it (JPEG, PNG or
//! WebP), centre-crops it into the 4:5 to 1.91:1 range, scales it to 320..=1440 px wide and
//! encodes it as a baseline JPEG of at most 8 MiB. A JPEG that already meets every rule and
//! decodes cleanly is kept byte for byte.
//!
//! Pixels are taken as sRGB, which is what every image model emits, and the JPEG written
//! carries a JFIF header and no ICC profile, so readers take it as sRGB too. Transparency is
//! flattened onto white. Decoding is bounded: an image of more than [`MAX_SOURCE_PIXELS`] is
//! refused from its header, before any pixel is decoded, so a Worker's memory is safe.

use jpeg_encoder::{ColorType, Encoder, EncodingError, SamplingFactor};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;
use zune_png::PngDecoder;

use crate::exif::Orientation;
use crate::inspect::{
    ImageInfo, MAX_BYTES, MAX_WIDTH, MIN_WIDTH, MediaError, check_instagram_image, sniff,
};

/// The most pixels decoded from one answer: 8 Mpx, such as 4096x2048 or 2896x2896. Decoded
/// with alpha that is 32 MiB, a quarter of a Worker's memory.
pub const MAX_SOURCE_PIXELS: u64 = 1 << 23;

/// The JPEG quality of a re-encoded image, on the libjpeg scale; lower ones are tried only
/// when the image would otherwise exceed Instagram's 8 MiB.
pub const QUALITIES: [u8; 4] = [88, 75, 60, 45];

/// The image formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    WebP,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::WebP => "WebP",
        }
    }

    /// The format of `bytes` by their signature, or what they look like instead.
    pub fn sniff(bytes: &[u8]) -> Result<Format, &'static str> {
        match bytes {
            [0xff, 0xd8, 0xff, ..] => Ok(Format::Jpeg),
            _ => match sniff(bytes) {
                "PNG" => Ok(Format::Png),
                "WebP" => Ok(Format::WebP),
                other => Err(other),
            },
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An image ready for Instagram, and what was done to get it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    /// The JPEG to store: it passed [`check_instagram_image`] and decodes.
    pub jpeg: Vec<u8>,
    /// The stored JPEG's size and length.
    pub info: ImageInfo,
    pub source: Format,
    pub source_width: u32,
    pub source_height: u32,
    /// Whether the pixels were encoded anew (false only for a JPEG kept as it was).
    pub reencoded: bool,
    /// Whether the picture was cut to bring its aspect ratio within Instagram's range.
    pub cropped: bool,
    /// Whether the picture was scaled to bring its width within Instagram's range.
    pub scaled: bool,
}

/// Why an answer cannot be made into an image for Instagram. Each says what was received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    #[error("the answer is {found}, not a JPEG, PNG or WebP image")]
    NotAnImage { found: &'static str },
    #[error("the {format} image cannot be decoded: {reason}")]
    Undecodable { format: Format, reason: String },
    #[error("the {format} image is {width}x{height} px; at most {max_pixels} pixels are decoded")]
    TooManyPixels {
        format: Format,
        width: u64,
        height: u64,
        max_pixels: u64,
    },
    #[error("the image stays over {max_bytes} bytes even as a JPEG of quality {quality}")]
    TooLarge { max_bytes: usize, quality: u8 },
    #[error("the converted image breaks Instagram's rules: {0}")]
    Check(MediaError),
}

/// Makes `bytes` (a JPEG, PNG or WebP image) into a JPEG that Instagram accepts; see the
/// module documentation for what is done.
pub fn fit_for_instagram(bytes: &[u8]) -> Result<Fitted, FitError> {
    fit(bytes, MAX_BYTES)
}

/// [`fit_for_instagram`] with the byte limit as an argument, so tests can reach it.
pub(crate) fn fit(bytes: &[u8], max_bytes: usize) -> Result<Fitted, FitError> {
    let format = Format::sniff(bytes).map_err(|found| FitError::NotAnImage { found })?;
    let image = decode(bytes, format, MAX_SOURCE_PIXELS)?;
    let (source_width, source_height) = (image.width as u32, image.height as u32);

    // A JPEG already within every rule is kept as it is; decoding it above proved it whole.
    let kept = (format == Format::Jpeg && image.plain_colour && bytes.len() <= max_bytes)
        .then(|| check_instagram_image(bytes).ok())
        .flatten();
    if let Some(info) = kept {
        return Ok(Fitted {
            jpeg: bytes.to_vec(),
            info,
            source: format,
            source_width,
            source_height,
            reencoded: false,
            cropped: false,
            scaled: false,
        });
    }

    encode_fitted(image, format, Orientation::Upright, max_bytes)
}

/// Crops the decoded picture, shown as `orientation` says, into Instagram's aspect ratios,
/// scales it, turns it upright and encodes it as a JPEG of at most `max_bytes`. The crop and
/// the scaling are done on the stored pixels and only the small result is turned, so a
/// photo costs no second full-size buffer.
pub(crate) fn encode_fitted(
    image: Rgb,
    format: Format,
    orientation: Orientation,
    max_bytes: usize,
) -> Result<Fitted, FitError> {
    let (source_width, source_height) = (image.width as u32, image.height as u32);
    let (upright_width, upright_height) = orientation.upright_size(image.width, image.height);
    let (_, _, crop_width, crop_height) = crop_rect(upright_width, upright_height);
    let cropped = (crop_width, crop_height) != (upright_width, upright_height);
    let image = if cropped {
        // The same centred rectangle, in the stored pixels' sides.
        let (stored_width, stored_height) = orientation.upright_size(crop_width, crop_height);
        let (x, y) = (
            (image.width - stored_width) / 2,
            (image.height - stored_height) / 2,
        );
        image.crop(x, y, stored_width, stored_height)
    } else {
        image
    };
    let (width, height) = target_size(crop_width, crop_height);
    let scaled = (width, height) != (crop_width, crop_height);
    let (stored_width, stored_height) = orientation.upright_size(width, height);
    let pixels = if scaled {
        resample(
            &image.pixels,
            image.width,
            image.height,
            stored_width,
            stored_height,
        )
    } else {
        image.pixels
    };
    let pixels = if orientation == Orientation::Upright {
        pixels
    } else {
        orientation.apply(&pixels, stored_width, stored_height).0
    };

    // Both fit in u16: the width is at most MAX_WIDTH and the height at most 5/4 of it.
    let (w16, h16) = (width as u16, height as u16);
    let mut last_quality = QUALITIES[0];
    for quality in QUALITIES {
        last_quality = quality;
        let jpeg =
            encode_jpeg(&pixels, w16, h16, quality).map_err(|reason| FitError::Undecodable {
                format,
                reason: format!("re-encoding failed: {reason}"),
            })?;
        if jpeg.len() > max_bytes {
            continue;
        }
        let info = check_instagram_image(&jpeg).map_err(FitError::Check)?;
        return Ok(Fitted {
            jpeg,
            info,
            source: format,
            source_width,
            source_height,
            reencoded: true,
            cropped,
            scaled,
        });
    }
    Err(FitError::TooLarge {
        max_bytes,
        quality: last_quality,
    })
}

/// Encodes 8-bit RGB pixels as a baseline JFIF JPEG with 4:2:0 chroma.
pub(crate) fn encode_jpeg(
    rgb: &[u8],
    width: u16,
    height: u16,
    quality: u8,
) -> Result<Vec<u8>, EncodingError> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let mut encoder = Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(SamplingFactor::F_2_2);
    encoder.encode(rgb, width, height, ColorType::Rgb)?;
    Ok(out)
}

/// Decoded pixels: 8-bit RGB, row by row.
pub(crate) struct Rgb {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
    /// A JPEG stored as YCbCr or grey, which may be kept as it is (not CMYK or YCCK).
    pub plain_colour: bool,
}

impl Rgb {
    /// The `width` x `height` rectangle at (`x`, `y`), reusing the buffer.
    fn crop(mut self, x: usize, y: usize, width: usize, height: usize) -> Rgb {
        for row in 0..height {
            let from = ((y + row) * self.width + x) * 3;
            self.pixels
                .copy_within(from..from + width * 3, row * width * 3);
        }
        self.pixels.truncate(width * height * 3);
        Rgb {
            width,
            height,
            pixels: self.pixels,
            plain_colour: self.plain_colour,
        }
    }
}

fn undecodable(format: Format) -> impl Fn(String) -> FitError {
    move |reason| FitError::Undecodable { format, reason }
}

/// Refuses an image too big to decode, from the size its header declares.
fn bounded(format: Format, width: usize, height: usize, max_pixels: u64) -> Result<(), FitError> {
    let (width, height) = (width as u64, height as u64);
    if width == 0 || height == 0 {
        return Err(FitError::Undecodable {
            format,
            reason: format!("its header declares {width}x{height} px"),
        });
    }
    if width * height > max_pixels {
        return Err(FitError::TooManyPixels {
            format,
            width,
            height,
            max_pixels,
        });
    }
    Ok(())
}

/// Decodes `bytes` of `format`, refusing from the header an image of over `max_pixels`.
pub(crate) fn decode(bytes: &[u8], format: Format, max_pixels: u64) -> Result<Rgb, FitError> {
    let fail = undecodable(format);
    let (width, height, channels, pixels, plain_colour) = match format {
        Format::Jpeg => {
            let options = DecoderOptions::new_safe()
                .jpeg_set_out_colorspace(ColorSpace::RGB)
                // A cut or corrupt file is an error, not a picture with a grey bottom.
                .set_strict_mode(true);
            let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
            decoder.decode_headers().map_err(|e| fail(e.to_string()))?;
            let (width, height) = decoder
                .dimensions()
                .ok_or_else(|| fail("no frame header".into()))?;
            bounded(format, width, height, max_pixels)?;
            let plain = matches!(
                decoder.input_colorspace(),
                Some(ColorSpace::YCbCr | ColorSpace::Luma | ColorSpace::RGB)
            );
            let pixels = decoder.decode().map_err(|e| fail(e.to_string()))?;
            (width, height, 3, pixels, plain)
        }
        Format::Png => {
            let options = DecoderOptions::new_safe().png_set_strip_to_8bit(true);
            let mut decoder = PngDecoder::new_with_options(ZCursor::new(bytes), options);
            decoder.decode_headers().map_err(|e| fail(e.to_string()))?;
            let (width, height) = decoder
                .dimensions()
                .ok_or_else(|| fail("no IHDR chunk".into()))?;
            bounded(format, width, height, max_pixels)?;
            let channels = decoder
                .colorspace()
                .map(|c| c.num_components())
                .ok_or_else(|| fail("no colour type".into()))?;
            let pixels = decoder.decode_raw().map_err(|e| fail(e.to_string()))?;
            (width, height, channels, pixels, false)
        }
        #[cfg(feature = "webp")]
        Format::WebP => {
            let mut decoder = image_webp::WebPDecoder::new(std::io::Cursor::new(bytes))
                .map_err(|e| fail(e.to_string()))?;
            let (width, height) = decoder.dimensions();
            let (width, height) = (width as usize, height as usize);
            bounded(format, width, height, max_pixels)?;
            let channels = if decoder.has_alpha() { 4 } else { 3 };
            let mut pixels = vec![0; width * height * channels];
            decoder
                .read_image(&mut pixels)
                .map_err(|e| fail(e.to_string()))?;
            (width, height, channels, pixels, false)
        }
        #[cfg(not(feature = "webp"))]
        Format::WebP => {
            return Err(fail(
                "this build reads no WebP (media's feature webp)".into(),
            ));
        }
    };
    if pixels.len() < width * height * channels {
        return Err(fail(format!(
            "{} bytes of pixels for {width}x{height} px",
            pixels.len()
        )));
    }
    Ok(Rgb {
        width,
        height,
        pixels: to_rgb(pixels, width * height, channels),
        plain_colour,
    })
}

/// Grey, grey with alpha, RGB or RGBA pixels as RGB, in place; alpha is flattened onto white.
fn to_rgb(mut pixels: Vec<u8>, count: usize, channels: usize) -> Vec<u8> {
    let over_white = |c: u8, a: u8| -> u8 {
        // c * a + 255 * (255 - a), divided by 255 and rounded.
        ((u32::from(c) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255) as u8
    };
    match channels {
        3 => {}
        // Later pixels are written behind earlier ones only when the output is wider, so grey
        // goes from the end backwards; the others shrink and go forwards.
        1 => {
            pixels.resize(count * 3, 0);
            for i in (0..count).rev() {
                let v = pixels[i];
                pixels[i * 3..i * 3 + 3].fill(v);
            }
        }
        2 => {
            pixels.resize(count * 3, 0);
            for i in (0..count).rev() {
                let v = over_white(pixels[i * 2], pixels[i * 2 + 1]);
                pixels[i * 3..i * 3 + 3].fill(v);
            }
        }
        _ => {
            for i in 0..count {
                let at = i * channels;
                let a = pixels[at + 3];
                let [r, g, b] = [0, 1, 2].map(|c| over_white(pixels[at + c], a));
                pixels[i * 3..i * 3 + 3].copy_from_slice(&[r, g, b]);
            }
        }
    }
    pixels.truncate(count * 3);
    pixels
}

/// The largest centred rectangle of a `width` x `height` picture whose aspect ratio is
/// within 4:5 to 1.91:1, as (x, y, width, height); the whole picture when it already is.
pub(crate) fn crop_rect(width: usize, height: usize) -> (usize, usize, usize, usize) {
    if 100 * width > 191 * height {
        let w = (191 * height / 100).max(1);
        ((width - w) / 2, 0, w, height)
    } else if 5 * width < 4 * height {
        let h = (5 * width / 4).max(1);
        (0, (height - h) / 2, width, h)
    } else {
        (0, 0, width, height)
    }
}

/// The size a picture of an accepted aspect ratio is scaled to: its width brought within
/// Instagram's 320 to 1440 px, its height in proportion, rounded so that the aspect ratio
/// stays within 4:5 to 1.91:1.
pub(crate) fn target_size(width: usize, height: usize) -> (usize, usize) {
    let target_width = width.clamp(usize::from(MIN_WIDTH), usize::from(MAX_WIDTH));
    if target_width == width {
        return (width, height);
    }
    let exact = (height * target_width + width / 2) / width;
    let lowest = (100 * target_width).div_ceil(191);
    let highest = 5 * target_width / 4;
    (target_width, exact.clamp(lowest, highest).max(1))
}

/// For each output sample along one axis, the first source sample it reads and the weights
/// of the samples from there: a triangle filter, widened by the scale when shrinking so that
/// every source pixel counts and nothing aliases.
fn taps(source: usize, target: usize) -> Vec<(usize, Vec<f32>)> {
    let ratio = source as f32 / target as f32;
    let support = ratio.max(1.0);
    (0..target)
        .map(|i| {
            let centre = (i as f32 + 0.5) * ratio;
            let first = (centre - support).floor().max(0.0) as usize;
            let end = ((centre + support).ceil() as usize).min(source);
            let mut weights: Vec<f32> = (first..end)
                .map(|j| (1.0 - ((j as f32 + 0.5 - centre) / support).abs()).max(0.0))
                .collect();
            let sum: f32 = weights.iter().sum();
            if sum > 0.0 {
                weights.iter_mut().for_each(|w| *w /= sum);
                (first, weights)
            } else {
                // Cannot happen for a sane size; the nearest sample keeps it total anyway.
                ((centre as usize).min(source - 1), vec![1.0])
            }
        })
        .collect()
}

/// Scales RGB pixels from `width` x `height` to `to_width` x `to_height`: rows first, into an
/// 8-bit buffer, then columns.
pub(crate) fn resample(
    pixels: &[u8],
    width: usize,
    height: usize,
    to_width: usize,
    to_height: usize,
) -> Vec<u8> {
    let clamp = |v: f32| (v + 0.5).clamp(0.0, 255.0) as u8;
    let across = taps(width, to_width);
    let mut rows = vec![0u8; to_width * height * 3];
    for y in 0..height {
        let source = &pixels[y * width * 3..(y + 1) * width * 3];
        let out = &mut rows[y * to_width * 3..(y + 1) * to_width * 3];
        for (x, (first, weights)) in across.iter().enumerate() {
            let mut sum = [0.0f32; 3];
            for (k, w) in weights.iter().enumerate() {
                let at = (first + k) * 3;
                for c in 0..3 {
                    sum[c] += f32::from(source[at + c]) * w;
                }
            }
            for c in 0..3 {
                out[x * 3 + c] = clamp(sum[c]);
            }
        }
    }
    let down = taps(height, to_height);
    let mut out = vec![0u8; to_width * to_height * 3];
    let mut sum = vec![0.0f32; to_width * 3];
    for (y, (first, weights)) in down.iter().enumerate() {
        sum.fill(0.0);
        for (k, w) in weights.iter().enumerate() {
            let row = &rows[(first + k) * to_width * 3..(first + k + 1) * to_width * 3];
            for (s, &v) in sum.iter_mut().zip(row) {
                *s += f32::from(v) * w;
            }
        }
        for (o, s) in out[y * to_width * 3..(y + 1) * to_width * 3]
            .iter_mut()
            .zip(&sum)
        {
            *o = clamp(*s);
        }
    }
    out
}

#[cfg(test)]
mod tests;
