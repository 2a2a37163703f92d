//! The orientation reader on hand-made EXIF segments, both byte orders, and fuzzed; the
//! eight turns checked corner by corner.

use super::{Orientation, jpeg_orientation};
use crate::samples::tiff;

/// A JPEG start with one APP1 Exif segment of `tiff`, and a frame header after it.
fn jpeg_with(tiff: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0];
    let length = (tiff.len() + 8) as u16;
    out.extend([0xff, 0xe1]);
    out.extend(length.to_be_bytes());
    out.extend(b"Exif\0\0");
    out.extend(tiff);
    out.extend([0xff, 0xc0, 0, 11, 8, 0, 16, 0, 16, 1, 1, 0x11, 0]);
    out
}

#[test]
fn reads_the_orientation_in_either_byte_order() {
    for big_endian in [false, true] {
        for value in 1..=8u16 {
            // Another tag first, as cameras write the make and model before it.
            let body = tiff(
                big_endian,
                &[
                    (0x010f, 2, 4, 0x4142_4300),
                    (0x0112, 3, 1, u32::from(value)),
                ],
            );
            assert_eq!(
                jpeg_orientation(&jpeg_with(&body)),
                Orientation::from_tag(value).unwrap(),
                "value {value}, big endian {big_endian}"
            );
        }
    }
}

#[test]
fn anything_else_is_upright() {
    let cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"not a jpeg".to_vec(),
        // No EXIF at all.
        vec![
            0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0, 16, 0, 16, 1, 1, 0x11, 0,
        ],
        // Out of range, of the wrong type, with a count of two.
        jpeg_with(&tiff(false, &[(0x0112, 3, 1, 9)])),
        jpeg_with(&tiff(false, &[(0x0112, 4, 1, 6)])),
        jpeg_with(&tiff(false, &[(0x0112, 3, 2, 6)])),
        // A bad byte-order mark, an IFD offset past the end.
        jpeg_with(b"XX*\0\x08\0\0\0"),
        jpeg_with(b"II*\0\xff\xff\xff\x7f"),
    ];
    for case in cases {
        assert_eq!(jpeg_orientation(&case), Orientation::Upright, "{case:?}");
    }
    // A segment that claims more bytes than there are.
    let mut cut = jpeg_with(&tiff(false, &[(0x0112, 3, 1, 6)]));
    cut.truncate(20);
    assert_eq!(jpeg_orientation(&cut), Orientation::Upright);
}

#[test]
fn each_turn_puts_the_corners_where_a_viewer_shows_them() {
    // Stored 3x2: each pixel's red is its index, so a corner is known by its value.
    let (w, h) = (3, 2);
    let pixels: Vec<u8> = (0..w * h).flat_map(|i| [i as u8, 0, 0]).collect();
    let top_left = 0u8;
    let top_right = (w - 1) as u8;
    // Where the stored top-left and top-right corners are shown (x, y), by orientation.
    type At = (usize, usize);
    let expect: [(u16, At, At); 8] = [
        (1, (0, 0), (2, 0)),
        (2, (2, 0), (0, 0)),
        (3, (2, 1), (0, 1)),
        (4, (0, 1), (2, 1)),
        (5, (0, 0), (0, 2)),
        (6, (1, 0), (1, 2)),
        (7, (1, 2), (1, 0)),
        (8, (0, 2), (0, 0)),
    ];
    for (tag, tl, tr) in expect {
        let orientation = Orientation::from_tag(tag).unwrap();
        let (out, ow, oh) = orientation.apply(&pixels, w, h);
        assert_eq!((ow, oh), orientation.upright_size(w, h), "{orientation:?}");
        let at = |(x, y): (usize, usize)| out[(y * ow + x) * 3];
        assert_eq!(at(tl), top_left, "{orientation:?} top-left");
        assert_eq!(at(tr), top_right, "{orientation:?} top-right");
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_bytes_give_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = jpeg_orientation(&bytes);
            let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe1];
            jpeg.extend(&bytes);
            let _ = jpeg_orientation(&jpeg);
        }

        #[test]
        fn any_tiff_gives_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..128),
                                    big in any::<bool>()) {
            let mut body = if big { b"MM\0*".to_vec() } else { b"II*\0".to_vec() };
            body.extend(&bytes);
            let _ = jpeg_orientation(&jpeg_with(&body));
        }
    }
}
