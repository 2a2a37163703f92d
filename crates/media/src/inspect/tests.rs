//! Tests of the Instagram image check, on real placeholder bytes and on hand-built headers.

use super::{ImageInfo, MAX_BYTES, MediaError, check_instagram_image, inspect_jpeg};
use crate::placeholder_jpeg;

fn check(name: &str, bytes: &[u8], expect: Result<(u16, u16), MediaError>) {
    let expect = expect.map(|(width, height)| ImageInfo {
        width,
        height,
        bytes: bytes.len(),
    });
    assert_eq!(check_instagram_image(bytes), expect, "{name}");
}

/// A JPEG header up to its frame header: SOI, the given segments, then SOF0 and EOI.
fn header(width: u16, height: u16, segments: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = vec![0xff, 0xd8];
    let [h1, h0] = height.to_be_bytes();
    let [w1, w0] = width.to_be_bytes();
    let sof: &[u8] = &[8, h1, h0, w1, w0, 1, 1, 0x11, 0];
    for &(marker, payload) in segments.iter().chain([&(0xc0, sof)]) {
        out.extend_from_slice(&[0xff, marker]);
        out.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
        out.extend_from_slice(payload);
    }
    out.extend_from_slice(&[0xff, 0xd9]);
    out
}

#[test]
fn instagram_requirements() {
    use MediaError::*;

    check(
        "placeholder",
        &placeholder_jpeg(1080, 1080, b"seed"),
        Ok((1080, 1080)),
    );
    check("bare header", &header(1080, 1350, &[]), Ok((1080, 1350)));
    check("narrowest, 4:5", &header(320, 400, &[]), Ok((320, 400)));
    check("widest, 1.91:1", &header(1440, 754, &[]), Ok((1440, 754)));
    check("exactly 1.91:1", &header(382, 200, &[]), Ok((382, 200)));

    // A fake frame header inside APP1 would fool a scanner that looks for 0xFFC0 anywhere.
    let exif: &[u8] = b"Exif\0\0\xff\xc0\0\x11\x08\x00\x10\x00\x10";
    check(
        "APP1 before SOF",
        &header(1080, 1080, &[(0xe1, exif)]),
        Ok((1080, 1080)),
    );
    let jfif: &[u8] = b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0";
    let tables = [
        (0xe0, jfif),
        (0xe1, exif),
        (0xfe, &b"comment"[..]),
        (0xdb, &[0; 65][..]),
    ];
    check(
        "APP0, APP1, COM, DQT before SOF",
        &header(1200, 1000, &tables),
        Ok((1200, 1000)),
    );
    let mut fill = header(640, 640, &[]);
    fill.splice(2..2, [0xff, 0xff]);
    check("fill bytes before a marker", &fill, Ok((640, 640)));

    check(
        "PNG",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
        Err(NotJpeg { found: "PNG" }),
    );
    check(
        "GIF",
        b"GIF89a\x38\x04\x38\x04",
        Err(NotJpeg { found: "GIF" }),
    );
    check(
        "WebP",
        b"RIFF\0\0\0\0WEBPVP8 ",
        Err(NotJpeg { found: "WebP" }),
    );
    check(
        "HEIC",
        b"\0\0\0\x18ftypheic",
        Err(NotJpeg {
            found: "HEIF or another ISO media file",
        }),
    );
    check(
        "text",
        b"<html>",
        Err(NotJpeg {
            found: "in an unknown format",
        }),
    );
    check("empty", b"", Err(NotJpeg { found: "empty" }));

    let real = placeholder_jpeg(1080, 1080, b"seed");
    // Cut in the middle of the segment before the frame header, whichever that is.
    let frame = real
        .windows(2)
        .position(|w| w == [0xff, 0xc0])
        .expect("a baseline frame header");
    let before = real[..frame]
        .windows(2)
        .rposition(|w| w[0] == 0xff && w[1] != 0 && w[1] != 0xff)
        .expect("a segment before the frame header");
    let cut = before + 5;
    check(
        "truncated in the segment before SOF",
        &real[..cut],
        Err(Truncated { bytes: cut }),
    );
    let full = header(1080, 1080, &[]);
    let cut = &full[..full.len() - 5];
    check("truncated in SOF", cut, Err(Truncated { bytes: cut.len() }));
    check("SOI only", &[0xff, 0xd8, 0xff], Err(Truncated { bytes: 3 }));
    check(
        "garbage after a segment",
        &[0xff, 0xd8, 0xff, 0xe0, 0, 2, 0x12, 0x34],
        Err(Malformed {
            offset: 6,
            reason: "expected a marker",
        }),
    );
    check(
        "scan before frame",
        &[0xff, 0xd8, 0xff, 0xda, 0, 2],
        Err(Malformed {
            offset: 3,
            reason: "scan before the frame header",
        }),
    );
    let mut lossless = header(1080, 1080, &[]);
    lossless[3] = 0xc3;
    check(
        "lossless",
        &lossless,
        Err(UnsupportedProcess { marker: 0xc3 }),
    );
    check(
        "zero height",
        &header(1080, 0, &[]),
        Err(Malformed {
            offset: 4,
            reason: "frame header declares a zero dimension",
        }),
    );

    check(
        "too wide",
        &header(1500, 1000, &[]),
        Err(WidthOutOfRange { width: 1500 }),
    );
    check(
        "too narrow",
        &header(319, 319, &[]),
        Err(WidthOutOfRange { width: 319 }),
    );
    check(
        "taller than 4:5",
        &header(1080, 1351, &[]),
        Err(AspectRatioOutOfRange {
            width: 1080,
            height: 1351,
        }),
    );
    check(
        "wider than 1.91:1",
        &header(1440, 753, &[]),
        Err(AspectRatioOutOfRange {
            width: 1440,
            height: 753,
        }),
    );

    let mut huge = header(1080, 1080, &[]);
    huge.resize(MAX_BYTES + 1, 0);
    check(
        "over 8 MB",
        &huge,
        Err(TooLarge {
            bytes: MAX_BYTES + 1,
        }),
    );
    huge.truncate(MAX_BYTES);
    check("exactly 8 MB", &huge, Ok((1080, 1080)));
}

#[test]
fn inspect_reads_any_size() {
    let info = inspect_jpeg(&header(4000, 100, &[])).expect("valid header");
    assert_eq!((info.width, info.height), (4000, 100));
}

#[test]
fn messages_carry_the_numbers() {
    let cases = [
        (
            MediaError::WidthOutOfRange { width: 1500 },
            "image is 1500 px wide, Instagram accepts 320 to 1440",
        ),
        (
            MediaError::AspectRatioOutOfRange {
                width: 1080,
                height: 1920,
            },
            "image is 1080x1920 px, aspect ratio 0.562, Instagram accepts 0.8 (4:5) to 1.91 (1.91:1)",
        ),
        (
            MediaError::TooLarge { bytes: 9_000_000 },
            "image is 9000000 bytes, Instagram accepts at most 8388608 (8 MiB)",
        ),
        (
            MediaError::NotJpeg { found: "PNG" },
            "image is PNG, Instagram accepts only JPEG",
        ),
        (
            MediaError::UnsupportedProcess { marker: 0xc3 },
            "JPEG uses process SOF3, Instagram accepts only baseline or progressive",
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message);
    }
}
