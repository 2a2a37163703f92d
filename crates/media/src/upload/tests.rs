//! Uploads: the header checks on every format, and the fitting of a phone photo (turned
//! upright, every metadata segment left behind), decoded by an independent decoder.

use super::{MAX_UPLOAD_PIXELS, MIN_UPLOAD_SIDE, UploadError, fit_upload, inspect_upload};
use crate::fit::Format;
use crate::inspect::check_instagram_image;
use crate::samples;
use jpeg_decoder::Decoder;

/// Red on the left quarter, green in the middle, blue on the right quarter.
fn stripes(w: usize, h: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(w * h * 3);
    for _ in 0..h {
        for x in 0..w {
            out.extend(match x * 4 / w {
                0 => [220, 30, 30],
                3 => [30, 30, 220],
                _ => [30, 200, 30],
            });
        }
    }
    out
}

fn jpeg(w: usize, h: usize) -> Vec<u8> {
    samples::jpeg_rgb(w, h, &stripes(w, h), false)
}

fn png(w: u32, h: u32) -> Vec<u8> {
    samples::png_rgb(w as usize, h as usize, &stripes(w as usize, h as usize))
}

/// `jpeg` with segments inserted after its start: a phone's EXIF (orientation, a GPS IFD with
/// a latitude), XMP, and a Photoshop APP13.
fn phone_photo(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut exif = samples::exif(&[(0x0112, 3, 1, u32::from(orientation)), (0x8825, 4, 1, 38)]);
    // The GPS IFD at offset 38: GPSLatitudeRef "N", and a marker text to look for.
    exif.extend(1u16.to_le_bytes());
    exif.extend([1, 0, 2, 0, 2, 0, 0, 0, b'N', 0, 0, 0]);
    exif.extend(0u32.to_le_bytes());
    exif.extend(b"GPS-LATITUDE-35.6586");
    let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>GPS-XMP</x:xmpmeta>";
    let app13 = b"Photoshop 3.0\0GPS-IPTC";
    samples::with_segments(jpeg, &[(0xe1, &exif), (0xe1, xmp), (0xed, app13)])
}

/// The markers of a JPEG's segments before its first scan.
fn markers(jpeg: &[u8]) -> Vec<u8> {
    let mut found = Vec::new();
    let mut pos = 2;
    while pos + 4 <= jpeg.len() && jpeg[pos] == 0xff {
        let marker = jpeg[pos + 1];
        found.push(marker);
        if marker == 0xda {
            break;
        }
        pos += 2 + usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_phone_photo_turned_sideways_is_stored_upright_without_its_metadata() {
    // Stored 1200x900 with orientation 6: the camera's left edge is the picture's top.
    let input = phone_photo(&jpeg(1200, 900), 6);
    assert!(contains(&input, b"GPS-LATITUDE"));
    let fitted = fit_upload(&input).expect("fits");
    // Upright it is 900x1200 (3:4), cropped to 4:5.
    assert_eq!((fitted.info.width, fitted.info.height), (900, 1125));
    assert!(fitted.reencoded && fitted.cropped && !fitted.scaled);
    assert_eq!(check_instagram_image(&fitted.jpeg), Ok(fitted.info));
    let mut decoder = Decoder::new(&fitted.jpeg[..]);
    let rgb = decoder.decode().expect("decodes");
    let at = |x: usize, y: usize| &rgb[(y * 900 + x) * 3..(y * 900 + x) * 3 + 3];
    // The stored left (red) quarter is now the top, the right (blue) the bottom.
    let (top, bottom) = (at(450, 60), at(450, 1060));
    assert!(top[0] > 180 && top[2] < 80, "top is {top:?}, not red");
    assert!(
        bottom[2] > 180 && bottom[0] < 80,
        "bottom is {bottom:?}, not blue"
    );
    // Nothing but the JFIF header before the frame: no EXIF, XMP or APP13.
    assert_eq!(
        markers(&fitted.jpeg)
            .iter()
            .filter(|m| (0xe1..=0xef).contains(*m))
            .count(),
        0
    );
    for needle in [&b"Exif"[..], b"GPS-", b"xap/1.0", b"Photoshop"] {
        assert!(!contains(&fitted.jpeg, needle), "{needle:?} kept");
    }
}

#[test]
fn an_upright_photo_within_the_rules_is_still_encoded_anew() {
    // 1080x1080 would be kept byte for byte as a generated image; a photo never is.
    let input = phone_photo(&jpeg(1080, 1080), 1);
    let fitted = fit_upload(&input).expect("fits");
    assert!(fitted.reencoded);
    assert_eq!((fitted.info.width, fitted.info.height), (1080, 1080));
    assert!(!contains(&fitted.jpeg, b"GPS-"));
    let rgb = Decoder::new(&fitted.jpeg[..]).decode().expect("decodes");
    assert!(
        rgb[(540 * 1080 + 20) * 3] > 180,
        "left is not red: stored turned"
    );
}

#[test]
fn every_orientation_gives_the_upright_size() {
    for tag in 1..=8u16 {
        let fitted = fit_upload(&phone_photo(&jpeg(800, 640), tag)).expect("fits");
        let want = if tag >= 5 { (640, 800) } else { (800, 640) };
        assert_eq!(
            (fitted.info.width, fitted.info.height),
            want,
            "orientation {tag}"
        );
    }
}

#[test]
fn a_portrait_png_is_cropped_and_a_wide_one_scaled() {
    let tall = fit_upload(&png(600, 1200)).expect("fits");
    assert_eq!((tall.info.width, tall.info.height), (600, 750));
    assert!(tall.cropped);
    let wide = fit_upload(&png(1800, 1000)).expect("fits");
    assert_eq!((wide.info.width, wide.info.height), (1440, 800));
    assert!(wide.scaled);
}

#[test]
fn the_header_tells_format_and_size() {
    assert_eq!(
        inspect_upload(&jpeg(1200, 900)).map(|i| (i.format, i.width, i.height)),
        Ok((Format::Jpeg, 1200, 900))
    );
    assert_eq!(
        inspect_upload(&png(640, 480)).map(|i| (i.format, i.width, i.height)),
        Ok((Format::Png, 640, 480))
    );
    let mut lossless = Vec::new();
    image_webp::WebPEncoder::new(&mut lossless)
        .encode(&stripes(500, 400), 500, 400, image_webp::ColorType::Rgb8)
        .expect("WebP encodes");
    assert_eq!(
        inspect_upload(&lossless).map(|i| (i.format, i.width, i.height)),
        Ok((Format::WebP, 500, 400))
    );
    // Lossy and extended headers, as cameras and browsers write them.
    let mut lossy = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a".to_vec();
    lossy.extend(1000u16.to_le_bytes());
    lossy.extend(750u16.to_le_bytes());
    assert_eq!(
        inspect_upload(&lossy).map(|i| (i.width, i.height)),
        Ok((1000, 750))
    );
    let mut extended = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
    extended.extend([0xff, 0x0f, 0x00, 0x1f, 0x03, 0x00]);
    assert_eq!(
        inspect_upload(&extended).map(|i| (i.width, i.height)),
        Ok((4096, 800))
    );
}

#[test]
fn what_cannot_be_a_photo_is_refused_from_its_header() {
    assert_eq!(
        inspect_upload(b"hello, this is text"),
        Err(UploadError::NotAnImage {
            found: "in an unknown format"
        })
    );
    assert!(inspect_upload(b"hello").unwrap_err().is_wrong_type());
    assert_eq!(
        inspect_upload(&png(100, 100)),
        Err(UploadError::TooSmall {
            width: 100,
            height: 100
        })
    );
    let side = MIN_UPLOAD_SIDE;
    assert!(inspect_upload(&png(side, side)).is_ok());
    assert!(matches!(
        inspect_upload(&png(side - 1, 2000)),
        Err(UploadError::TooSmall { .. })
    ));
    // A header declaring 5000x5000 px is refused before any pixel.
    let mut big = png(400, 400);
    big[16..20].copy_from_slice(&5000u32.to_be_bytes());
    big[20..24].copy_from_slice(&5000u32.to_be_bytes());
    assert_eq!(
        inspect_upload(&big),
        Err(UploadError::TooManyPixels {
            width: 5000,
            height: 5000
        })
    );
    const { assert!(5000u64 * 5000 > MAX_UPLOAD_PIXELS) };
    // A JPEG cut before its frame header.
    assert!(matches!(
        inspect_upload(&jpeg(400, 400)[..20]),
        Err(UploadError::Unreadable { .. })
    ));
}

#[cfg(not(target_arch = "wasm32"))]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_bytes_give_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..64),
                                    prefix in 0usize..4) {
            let prefixes: [&[u8]; 4] = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBP"];
            let mut input = prefixes[prefix].to_vec();
            input.extend(&bytes);
            let _ = inspect_upload(&input);
            let _ = fit_upload(&input);
        }
    }
}
