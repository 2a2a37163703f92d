//! Tests of fitting answers to Instagram's rules, on real PNG, JPEG and WebP files made here
//! with independent encoders (the `png` crate, jpeg-encoder, image-webp's encoder); every
//! output is decoded by another independent decoder (jpeg-decoder) and its pixels compared.

use super::{
    FitError, Fitted, Format, MAX_SOURCE_PIXELS, QUALITIES, crop_rect, fit, fit_for_instagram,
    target_size,
};
use crate::inspect::{MAX_BYTES, check_instagram_image};
use crate::samples::{self, png_with};
use jpeg_decoder::{Decoder, PixelFormat};

/// A colour at (x, y) of a `width` x `height` picture.
type Pattern = fn(usize, usize, usize, usize) -> [u8; 4];

/// A smooth picture: red grows to the right, green downwards, blue is fixed; opaque.
fn smooth(x: usize, y: usize, w: usize, h: usize) -> [u8; 4] {
    [(x * 255 / w) as u8, (y * 255 / h) as u8, 96, 255]
}

/// Three horizontal bands: red on the top quarter, green in the middle, blue at the bottom.
fn bands(_: usize, y: usize, _: usize, h: usize) -> [u8; 4] {
    match y * 4 / h {
        0 => [220, 30, 30, 255],
        3 => [30, 30, 220, 255],
        _ => [30, 200, 30, 255],
    }
}

/// Three vertical stripes: red on the left quarter, green in the middle, blue on the right.
fn stripes(x: usize, y: usize, w: usize, h: usize) -> [u8; 4] {
    bands(y, x, h, w)
}

fn pixels(w: usize, h: usize, pattern: Pattern, channels: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(w * h * channels);
    for y in 0..h {
        for x in 0..w {
            let [r, g, b, a] = pattern(x, y, w, h);
            match channels {
                1 => out.push(r),
                2 => out.extend([r, a]),
                3 => out.extend([r, g, b]),
                _ => out.extend([r, g, b, a]),
            }
        }
    }
    out
}

fn png_rgb(w: usize, h: usize, pattern: Pattern) -> Vec<u8> {
    samples::png_rgb(w, h, &pixels(w, h, pattern, 3))
}

fn jpeg(w: usize, h: usize, pattern: Pattern, progressive: bool) -> Vec<u8> {
    samples::jpeg_rgb(w, h, &pixels(w, h, pattern, 3), progressive)
}

/// What a fitted image must be, besides its size.
struct Expect {
    width: u16,
    height: u16,
    reencoded: bool,
    cropped: bool,
    scaled: bool,
}

/// Fits `input`, checks the outcome and the stored bytes (Instagram's rules, an independent
/// decode, a baseline frame when re-encoded), and returns the decoded RGB pixels.
fn check(name: &str, input: &[u8], format: Format, expect: Expect) -> (Fitted, Vec<u8>) {
    let fitted = fit_for_instagram(input).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(fitted.source, format, "{name}: source format");
    assert_eq!(
        (fitted.info.width, fitted.info.height),
        (expect.width, expect.height),
        "{name}: size"
    );
    assert_eq!(
        (fitted.reencoded, fitted.cropped, fitted.scaled),
        (expect.reencoded, expect.cropped, expect.scaled),
        "{name}: (reencoded, cropped, scaled)"
    );
    assert_eq!(fitted.info.bytes, fitted.jpeg.len(), "{name}");
    assert_eq!(
        check_instagram_image(&fitted.jpeg),
        Ok(fitted.info),
        "{name}"
    );
    if !expect.reencoded {
        assert_eq!(
            fitted.jpeg, input,
            "{name}: a kept JPEG must be byte for byte"
        );
    } else {
        assert!(
            fitted.jpeg.windows(2).any(|w| w == [0xff, 0xc0]),
            "{name}: no baseline frame header"
        );
        assert!(
            !fitted.jpeg.windows(2).any(|w| w == [0xff, 0xc2]),
            "{name}: progressive"
        );
        // JFIF, the format readers take as sRGB.
        assert_eq!(&fitted.jpeg[6..11], b"JFIF\0", "{name}: no JFIF header");
    }
    let mut decoder = Decoder::new(&fitted.jpeg[..]);
    let rgb = decoder
        .decode()
        .unwrap_or_else(|e| panic!("{name}: stored JPEG does not decode: {e}"));
    let info = decoder.info().expect("info");
    assert_eq!(info.pixel_format, PixelFormat::RGB24, "{name}");
    assert_eq!(
        (info.width, info.height),
        (expect.width, expect.height),
        "{name}: decoded size"
    );
    (fitted, rgb)
}

/// Asserts the decoded pixel at (x, y) is within `tolerance` of `colour` per channel.
fn assert_colour(name: &str, rgb: &[u8], width: usize, (x, y): (usize, usize), colour: [u8; 3]) {
    const TOLERANCE: i32 = 12;
    let at = (y * width + x) * 3;
    let actual = [rgb[at], rgb[at + 1], rgb[at + 2]];
    let off = (0..3)
        .map(|c| (i32::from(actual[c]) - i32::from(colour[c])).abs())
        .max()
        .unwrap_or(0);
    assert!(
        off <= TOLERANCE,
        "{name} at ({x}, {y}): expected {colour:?}, decoded {actual:?}"
    );
}

#[test]
fn a_square_png_is_reencoded_as_a_baseline_jpeg_with_its_pixels() {
    let input = png_rgb(1024, 1024, smooth);
    let (_, rgb) = check(
        "1024 PNG",
        &input,
        Format::Png,
        Expect {
            width: 1024,
            height: 1024,
            reencoded: true,
            cropped: false,
            scaled: false,
        },
    );
    for (x, y) in [(10, 10), (1013, 10), (10, 1013), (1013, 1013), (512, 300)] {
        let [r, g, b, _] = smooth(x, y, 1024, 1024);
        assert_colour("1024 PNG", &rgb, 1024, (x, y), [r, g, b]);
    }
}

#[test]
fn a_wide_image_is_scaled_to_1440_wide_and_keeps_its_aspect_ratio() {
    // What dall-e-3 answers for a landscape picture.
    let input = png_rgb(1792, 1024, stripes);
    let (_, rgb) = check(
        "1792x1024 PNG",
        &input,
        Format::Png,
        Expect {
            width: 1440,
            height: 823,
            reencoded: true,
            cropped: false,
            scaled: true,
        },
    );
    // The stripes scale with the picture: the red quarter ends near x = 360.
    assert_colour("1792x1024", &rgb, 1440, (200, 400), [220, 30, 30]);
    assert_colour("1792x1024", &rgb, 1440, (720, 400), [30, 200, 30]);
    assert_colour("1792x1024", &rgb, 1440, (1300, 400), [30, 30, 220]);
}

#[test]
fn a_tall_image_is_centre_cropped_to_4_by_5() {
    // 1024x1792 is 0.571:1; the centre 1024x1280 is kept, cutting 256 rows off each end, so
    // most of the red top and blue bottom bands (448 rows each) go.
    let input = png_rgb(1024, 1792, bands);
    let (_, rgb) = check(
        "1024x1792 PNG",
        &input,
        Format::Png,
        Expect {
            width: 1024,
            height: 1280,
            reencoded: true,
            cropped: true,
            scaled: false,
        },
    );
    // Rows 256..448 of the source were red; they are rows 0..192 now.
    assert_colour("tall", &rgb, 1024, (500, 100), [220, 30, 30]);
    assert_colour("tall", &rgb, 1024, (500, 640), [30, 200, 30]);
    assert_colour("tall", &rgb, 1024, (500, 1200), [30, 30, 220]);
}

#[test]
fn a_very_wide_image_is_cropped_to_1_91_and_scaled() {
    // 3000x1000 is 3:1: the centre 1910x1000 is kept, then scaled to 1440x754.
    let input = png_rgb(3000, 1000, stripes);
    let (_, rgb) = check(
        "3000x1000 PNG",
        &input,
        Format::Png,
        Expect {
            width: 1440,
            height: 754,
            reencoded: true,
            cropped: true,
            scaled: true,
        },
    );
    // Source x 545..750 was red (the red quarter ends at 750): output x 0..about 155.
    assert_colour("wide", &rgb, 1440, (60, 377), [220, 30, 30]);
    assert_colour("wide", &rgb, 1440, (720, 377), [30, 200, 30]);
    assert_colour("wide", &rgb, 1440, (1400, 377), [30, 30, 220]);
}

#[test]
fn a_small_image_is_enlarged_to_instagrams_narrowest() {
    let input = png_rgb(200, 250, bands);
    let (_, rgb) = check(
        "200x250 PNG",
        &input,
        Format::Png,
        Expect {
            width: 320,
            height: 400,
            reencoded: true,
            cropped: false,
            scaled: true,
        },
    );
    assert_colour("small", &rgb, 320, (160, 40), [220, 30, 30]);
    assert_colour("small", &rgb, 320, (160, 200), [30, 200, 30]);
}

#[test]
fn every_png_colour_type_and_depth_becomes_the_same_rgb() {
    let (w, h) = (400, 400);
    let expect = |channels_grey: bool| -> [u8; 3] {
        if channels_grey {
            [200; 3]
        } else {
            [200, 100, 50]
        }
    };
    let flat = |v: [u8; 4]| -> Vec<u8> { v.into_iter().cycle().take(w * h * 4).collect() };
    let cases: Vec<(&str, Vec<u8>, [u8; 3])> = vec![
        (
            "grey",
            png_with(
                400,
                400,
                png::ColorType::Grayscale,
                png::BitDepth::Eight,
                &vec![200; w * h],
            ),
            expect(true),
        ),
        (
            "grey with alpha, opaque",
            png_with(
                400,
                400,
                png::ColorType::GrayscaleAlpha,
                png::BitDepth::Eight,
                &[200, 255].repeat(w * h),
            ),
            expect(true),
        ),
        (
            "RGBA, opaque",
            png_with(
                400,
                400,
                png::ColorType::Rgba,
                png::BitDepth::Eight,
                &flat([200, 100, 50, 255]),
            ),
            expect(false),
        ),
        (
            // Transparent pixels show white, whatever colour they hold.
            "RGBA, transparent",
            png_with(
                400,
                400,
                png::ColorType::Rgba,
                png::BitDepth::Eight,
                &flat([0, 0, 0, 0]),
            ),
            [255; 3],
        ),
        (
            // Half-transparent black over white is mid grey.
            "RGBA, half transparent",
            png_with(
                400,
                400,
                png::ColorType::Rgba,
                png::BitDepth::Eight,
                &flat([0, 0, 0, 128]),
            ),
            [127; 3],
        ),
        (
            "RGB, 16 bits",
            png_with(
                400,
                400,
                png::ColorType::Rgb,
                png::BitDepth::Sixteen,
                &[200, 7, 100, 7, 50, 7].repeat(w * h),
            ),
            expect(false),
        ),
        ("palette", palette_png(w as u32, h as u32), expect(false)),
    ];
    for (name, input, colour) in cases {
        let (_, rgb) = check(
            name,
            &input,
            Format::Png,
            Expect {
                width: 400,
                height: 400,
                reencoded: true,
                cropped: false,
                scaled: false,
            },
        );
        for point in [(5, 5), (200, 200), (394, 394)] {
            assert_colour(name, &rgb, 400, point, colour);
        }
    }
}

fn palette_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(vec![0, 0, 0, 200, 100, 50]);
    let mut writer = encoder.write_header().expect("PNG header");
    writer
        .write_image_data(&vec![1; (w * h) as usize])
        .expect("PNG data");
    writer.finish().expect("PNG end");
    out
}

#[test]
fn a_jpeg_within_the_rules_is_kept_byte_for_byte() {
    for (name, progressive) in [("baseline", false), ("progressive", true)] {
        let input = jpeg(1080, 1350, smooth, progressive);
        check(
            name,
            &input,
            Format::Jpeg,
            Expect {
                width: 1080,
                height: 1350,
                reencoded: false,
                cropped: false,
                scaled: false,
            },
        );
    }
}

#[test]
fn a_jpeg_outside_the_rules_is_reencoded() {
    let input = jpeg(2048, 2048, smooth, false);
    let (_, rgb) = check(
        "2048 JPEG",
        &input,
        Format::Jpeg,
        Expect {
            width: 1440,
            height: 1440,
            reencoded: true,
            cropped: false,
            scaled: true,
        },
    );
    let [r, g, b, _] = smooth(1024, 1024, 2048, 2048);
    assert_colour("2048 JPEG", &rgb, 1440, (720, 720), [r, g, b]);

    // A JPEG in the rules but over the byte limit is encoded again, smaller.
    let input = jpeg(1080, 1080, smooth, false);
    let fitted = fit(&input, input.len() - 1).expect("fits");
    assert!(fitted.reencoded && fitted.jpeg.len() < input.len());
}

#[test]
fn a_cmyk_jpeg_is_reencoded_as_rgb() {
    let (w, h) = (400, 500);
    // Plain CMYK, as Photoshop writes it: C, M, Y, K with 0 meaning no ink.
    let cmyk: Vec<u8> = [0, 155, 205, 55].repeat(w * h);
    let mut input = Vec::new();
    jpeg_encoder::Encoder::new(&mut input, 90)
        .encode(&cmyk, w as u16, h as u16, jpeg_encoder::ColorType::Cmyk)
        .expect("CMYK encodes");
    let (_, rgb) = check(
        "CMYK JPEG",
        &input,
        Format::Jpeg,
        Expect {
            width: 400,
            height: 500,
            reencoded: true,
            cropped: false,
            scaled: false,
        },
    );
    // Whatever the exact conversion, the pixels are one flat colour, not garbage.
    let first = [rgb[0], rgb[1], rgb[2]];
    assert_colour("CMYK JPEG", &rgb, 400, (200, 250), first);
}

#[test]
fn webp_is_reencoded() {
    let (w, h) = (600, 600);
    for (name, colour, channels) in [
        ("WebP RGB", image_webp::ColorType::Rgb8, 3),
        ("WebP RGBA", image_webp::ColorType::Rgba8, 4),
    ] {
        let data = pixels(w, h, stripes, channels);
        let mut input = Vec::new();
        image_webp::WebPEncoder::new(&mut input)
            .encode(&data, w as u32, h as u32, colour)
            .expect("WebP encodes");
        let (_, rgb) = check(
            name,
            &input,
            Format::WebP,
            Expect {
                width: 600,
                height: 600,
                reencoded: true,
                cropped: false,
                scaled: false,
            },
        );
        assert_colour(name, &rgb, 600, (60, 300), [220, 30, 30]);
        assert_colour(name, &rgb, 600, (540, 300), [30, 30, 220]);
    }
}

#[test]
fn what_is_not_a_usable_image_fails_with_a_reason() {
    let good_jpeg = jpeg(1080, 1080, smooth, false);
    let good_png = png_rgb(500, 500, smooth);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "empty",
            vec![],
            "the answer is empty, not a JPEG, PNG or WebP image",
        ),
        (
            "HTML",
            b"<html><body>Bad gateway</body></html>".to_vec(),
            "the answer is in an unknown format, not a JPEG, PNG or WebP image",
        ),
        (
            "GIF",
            b"GIF89a\x01\x00\x01\x00".to_vec(),
            "the answer is GIF, not a JPEG, PNG or WebP image",
        ),
        (
            "random bytes",
            (0..5000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "the answer is in an unknown format, not a JPEG, PNG or WebP image",
        ),
        (
            // The headers alone pass Instagram's check: only decoding finds the cut.
            "JPEG cut in half",
            good_jpeg[..good_jpeg.len() / 2].to_vec(),
            "the JPEG image cannot be decoded",
        ),
        (
            "JPEG header only",
            good_jpeg[..3].to_vec(),
            "the JPEG image cannot be decoded",
        ),
        (
            "PNG cut in half",
            good_png[..good_png.len() / 2].to_vec(),
            "the PNG image cannot be decoded",
        ),
        (
            "PNG signature only",
            good_png[..8].to_vec(),
            "the PNG image cannot be decoded",
        ),
        (
            "WebP header only",
            b"RIFF\x10\x00\x00\x00WEBPVP8 \x00\x00\x00\x00".to_vec(),
            "the WebP image cannot be decoded",
        ),
    ];
    for (name, input, reason) in cases {
        match fit_for_instagram(&input) {
            Ok(fitted) => panic!("{name}: fitted as {:?}", fitted.info),
            Err(error) => {
                let text = error.to_string();
                assert!(text.starts_with(reason), "{name}: {text}");
            }
        }
    }
}

#[test]
fn an_image_too_big_to_decode_is_refused_from_its_header() {
    // 1-bit grey keeps the file small; its header declares 5000x5000 px.
    let side = 5000u32;
    let row = side.div_ceil(8) as usize;
    let input = png_with(
        side,
        side,
        png::ColorType::Grayscale,
        png::BitDepth::One,
        &vec![0b1010_1010; row * side as usize],
    );
    assert_eq!(
        fit_for_instagram(&input),
        Err(FitError::TooManyPixels {
            format: Format::Png,
            width: 5000,
            height: 5000,
            max_pixels: MAX_SOURCE_PIXELS,
        })
    );
    assert!(u64::from(side) * u64::from(side) > MAX_SOURCE_PIXELS);
}

#[test]
fn quality_steps_down_until_the_image_fits_the_byte_limit() {
    // Noise compresses badly, so each quality gives a clearly different size.
    let (w, h) = (800, 800);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..w * h * 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let input = png_with(
        w as u32,
        h as u32,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        &noise,
    );
    let sizes: Vec<usize> = QUALITIES
        .iter()
        .map(|&q| {
            super::encode_jpeg(&noise, w as u16, h as u16, q)
                .expect("encodes")
                .len()
        })
        .collect();
    assert!(sizes.windows(2).all(|s| s[0] > s[1]), "{sizes:?}");

    let fitted = fit(&input, MAX_BYTES).expect("fits");
    assert_eq!(fitted.jpeg.len(), sizes[0], "the first quality fits 8 MiB");
    let limit = sizes[2] + 1;
    let fitted = fit(&input, limit).expect("fits at a lower quality");
    assert_eq!(fitted.jpeg.len(), sizes[2]);
    assert_eq!(
        fit(&input, sizes[3] - 1),
        Err(FitError::TooLarge {
            max_bytes: sizes[3] - 1,
            quality: QUALITIES[3]
        })
    );
}

#[test]
fn every_size_is_cropped_and_scaled_into_instagrams_ranges() {
    let sizes = (1..=60)
        .map(|i| i * 67)
        .chain([1, 2, 3, 319, 320, 321, 1439, 1440, 1441, 4096]);
    let sizes: Vec<usize> = sizes.collect();
    for &w in &sizes {
        for &h in &sizes {
            let (x, y, cw, ch) = crop_rect(w, h);
            assert!(x + cw <= w && y + ch <= h, "{w}x{h}: crop outside");
            // Centred: the margins differ by at most one pixel.
            assert!((w - cw - 2 * x) <= 1 && (h - ch - 2 * y) <= 1, "{w}x{h}");
            let (tw, th) = target_size(cw, ch);
            assert!((320..=1440).contains(&tw), "{w}x{h} -> {tw}x{th}");
            assert!(
                5 * tw >= 4 * th && 100 * tw <= 191 * th,
                "{w}x{h} -> {cw}x{ch} -> {tw}x{th}"
            );
            // Nothing is cut from a picture already in range.
            if 5 * w >= 4 * h && 100 * w <= 191 * h {
                assert_eq!((cw, ch), (w, h));
            }
        }
    }
}
