//! CPU time of fitting one upload on the host, the same code the image consumer runs:
//! `cargo run --release -p media --example upload_cpu`. A 12 Mpx phone JPEG (4032x3024, EXIF
//! orientation 6) and a 4096x4096 PNG, each fitted five times; the median is printed.

use std::time::Instant;

use media::fit_upload;

#[allow(dead_code)]
#[path = "../src/samples.rs"]
mod samples;

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
    let jpeg = samples::jpeg_rgb(w, h, &noise(w, h), false);
    // EXIF orientation 6 after the start of image, as a phone writes it.
    samples::with_segments(&jpeg, &[(0xe1, &samples::exif(&[(0x0112, 3, 1, 6)]))])
}

fn square_png() -> Vec<u8> {
    let side = 4096;
    samples::png_rgb(side, side, &noise(side, side))
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
