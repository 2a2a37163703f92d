//! Tests of the placeholder image: every output is decoded by an independent decoder and its
//! pixels compared with the gradient it should show.

use super::{QUALITY, gradient_colours, placeholder_jpeg};
use crate::fit::encode_jpeg;
use crate::{ImageInfo, check_instagram_image};
use jpeg_decoder::{Decoder, PixelFormat};

/// JPEG loss and 4:2:0 chroma on a smooth gradient stay well inside this, per channel; wrong
/// colours or DC coding put pixels far outside it. The gradient barely exercises the AC
/// coefficients, so `the_encoder_keeps_detail` guards those.
const TOLERANCE: i32 = 8;

/// Decodes `placeholder_jpeg(width, height, seed)` and compares pixels near the corners and
/// the centre with the gradient computed here independently.
fn check(width: u16, height: u16, seed: &[u8]) {
    let jpeg = placeholder_jpeg(width, height, seed);
    let mut decoder = Decoder::new(&jpeg[..]);
    let pixels = decoder.decode().expect("placeholder decodes");
    let info = decoder.info().expect("decoded info");
    assert_eq!((info.width, info.height), (width, height), "decoded size");
    assert_eq!(info.pixel_format, PixelFormat::RGB24);

    let [from, to] = gradient_colours(seed);
    let (w, h) = (usize::from(width), usize::from(height));
    let inset = 3;
    for (x, y) in [
        (inset, inset),
        (w - 1 - inset, inset),
        (inset, h - 1 - inset),
        (w - 1 - inset, h - 1 - inset),
        (w / 2, h / 2),
    ] {
        let t = (x as f64 / (w - 1) as f64 + y as f64 / (h - 1) as f64) / 2.0;
        let expected: [i32; 3] = std::array::from_fn(|c| {
            (f64::from(from[c]) + (f64::from(to[c]) - f64::from(from[c])) * t).round() as i32
        });
        let at = (y * w + x) * 3;
        let actual: [i32; 3] = std::array::from_fn(|c| i32::from(pixels[at + c]));
        let off = (0..3)
            .map(|c| (expected[c] - actual[c]).abs())
            .max()
            .unwrap_or(0);
        assert!(
            off <= TOLERANCE,
            "{width}x{height} at ({x}, {y}): expected {expected:?}, decoded {actual:?}"
        );
    }

    assert_eq!(
        check_instagram_image(&jpeg),
        Ok(ImageInfo {
            width,
            height,
            bytes: jpeg.len()
        })
    );
}

#[test]
fn decodes_to_the_requested_gradient() {
    check(1080, 1080, b"default");
    check(1080, 1350, b"portrait");
    check(1440, 754, b"landscape");
    check(320, 320, b"smallest");
    check(1001, 777, b"not a multiple of 16");
    check(1080, 1080, b"");
}

#[test]
fn the_two_colours_differ_clearly() {
    for seed in [&b""[..], b"a", b"b", b"draft-0001", b"draft-0002"] {
        let [from, to] = gradient_colours(seed);
        let distance: i32 = (0..3)
            .map(|c| (i32::from(from[c]) - i32::from(to[c])).abs())
            .sum();
        assert!(distance > 100, "{seed:?}: {from:?} and {to:?} look alike");
    }
}

#[test]
fn the_seed_alone_decides_the_bytes() {
    let a = placeholder_jpeg(320, 400, b"draft-0001");
    assert_eq!(a, placeholder_jpeg(320, 400, b"draft-0001"));
    assert_ne!(a, placeholder_jpeg(320, 400, b"draft-0002"));
    assert_ne!(
        gradient_colours(b"draft-0001"),
        gradient_colours(b"draft-0002")
    );
}

#[test]
fn a_zero_dimension_is_drawn_as_one_pixel() {
    let jpeg = placeholder_jpeg(0, 0, b"x");
    let mut decoder = Decoder::new(&jpeg[..]);
    assert_eq!(decoder.decode().expect("decodes").len(), 3);
}

/// Encodes `pattern` through the same encoder as the placeholder, decodes it, and demands a
/// peak signal-to-noise ratio of at least `min_psnr` dB, which only a correct encoder reaches
/// on a picture with sharp edges and fine detail.
fn check_fidelity(width: u16, height: u16, pattern: fn(usize, usize) -> [u8; 3], min_psnr: f64) {
    let (w, h) = (usize::from(width), usize::from(height));
    let rgb: Vec<u8> = (0..w * h).flat_map(|i| pattern(i % w, i / w)).collect();
    let jpeg = encode_jpeg(&rgb, width, height, QUALITY).expect("pattern encodes");
    let pixels = Decoder::new(&jpeg[..]).decode().expect("pattern decodes");
    assert_eq!(pixels.len(), w * h * 3, "{width}x{height} decoded length");
    let mut squared = 0.0;
    for y in 0..h {
        for x in 0..w {
            let expected = pattern(x, y);
            for c in 0..3 {
                let e = f64::from(expected[c]) - f64::from(pixels[(y * w + x) * 3 + c]);
                squared += e * e;
            }
        }
    }
    let psnr = 10.0 * (255.0_f64.powi(2) / (squared / (w * h * 3) as f64)).log10();
    assert!(
        psnr >= min_psnr,
        "{width}x{height}: PSNR {psnr:.1} dB, want {min_psnr}"
    );
}

#[test]
fn the_encoder_keeps_detail() {
    // The gradient alone barely exercises the AC coefficients, so a wrong quantization table
    // or DCT would pass unseen; these patterns reach about 31.8 and 27.1 dB when the encoder
    // is right and at most 17.7 and 10.4 dB with such mistakes.
    check_fidelity(96, 80, grey_stripes_and_checks, 28.0);
    check_fidelity(101, 67, colour_patches, 24.0);
}

/// Hard luma edges at several scales, no chroma.
fn grey_stripes_and_checks(x: usize, y: usize) -> [u8; 3] {
    [((x / 3 + y / 5) % 2 * 160 + (x ^ y) % 16 * 4 + 20) as u8; 3]
}

/// Saturated patches aligned to 2x2, so 4:2:0 chroma loses nothing inside a patch.
fn colour_patches(x: usize, y: usize) -> [u8; 3] {
    let h = (x / 24 * 31 + y / 16 * 17) as u32;
    [h * 53 % 256, h * 97 % 256, h * 151 % 256].map(|c| c as u8)
}
