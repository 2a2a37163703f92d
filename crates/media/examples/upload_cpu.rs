//! CPU time of fitting one upload on the host, the same code the image consumer runs:
//! `cargo run --release -p media --example upload_cpu`. A 12 Mpx phone JPEG (4032x3024, EXIF
//! orientation 6) and a 4096x4096 PNG, each fitted five times; the median is printed.

use std::time::Instant;

use media::fit_upload;

fn noise(width: usize, height: usize) -> Vec<u8> {
    // A smooth picture with some grain, as a photo has: not all flat, not all noise.
    let mut seed = 0x2545_f491_u32;
    let mut out = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let grain = (seed & 15) as usize;
            out.extend([
                ((x * 255 / width + grain) & 255) as u8,
                ((y * 255 / height + grain) & 255) as u8,
                (((x + y) * 128 / (width + height) + grain) & 255) as u8,
            ]);
        }
    }
    out
}

fn phone_jpeg() -> Vec<u8> {
    let (w, h) = (4032, 3024);
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 90)
        .encode(
            &noise(w, h),
            w as u16,
            h as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .expect("JPEG encodes");
    // EXIF orientation 6 after the start of image, as a phone writes it.
    let tiff: &[u8] = b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0";
    let mut out = jpeg[..2].to_vec();
    out.extend([0xff, 0xe1]);
    out.extend(((tiff.len() + 2) as u16).to_be_bytes());
    out.extend(tiff);
    out.extend(&jpeg[2..]);
    out
}

fn square_png() -> Vec<u8> {
    let side = 4096u32;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("PNG header");
    writer
        .write_image_data(&noise(side as usize, side as usize))
        .expect("PNG data");
    writer.finish().expect("PNG end");
    out
}

fn main() {
    for (name, bytes) in [
        ("12 Mpx JPEG 4032x3024", phone_jpeg()),
        ("PNG 4096x4096", square_png()),
    ] {
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let started = Instant::now();
                let fitted = fit_upload(&bytes).expect("fits");
                std::hint::black_box(fitted);
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let fitted = fit_upload(&bytes).expect("fits");
        println!(
            "{name} ({} bytes) -> {}x{} JPEG ({} bytes): median {:.0} ms, min {:.0} ms",
            bytes.len(),
            fitted.info.width,
            fitted.info.height,
            fitted.info.bytes,
            times[2],
            times[0]
        );
    }
}
