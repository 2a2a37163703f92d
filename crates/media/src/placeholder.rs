//! The placeholder image: the offline stand-in used when no image model is configured, a
//! two-colour diagonal gradient written by a small baseline JPEG encoder.
//!
//! The encoder follows ITU T.81 with the example tables of its Annex K: JFIF, YCbCr 4:2:0,
//! standard quantization tables scaled to quality 80, standard Huffman tables, one
//! interleaved scan, no restart markers. The DCT is the AAN float one of libjpeg's
//! jfdctflt.c, because the encoder runs inside a Worker's CPU-time budget.

use std::f32::consts::{FRAC_1_SQRT_2, PI, SQRT_2};

/// Quality on the libjpeg scale; 80 keeps the gradient free of visible blocks at ~21 KB for
/// 1080x1080.
const QUALITY: u32 = 80;

/// Annex K.1, Table K.1, in natural (row-major) order.
#[rustfmt::skip]
const LUMA_QUANT: [u8; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
];

/// Annex K.1, Table K.2, in natural (row-major) order.
#[rustfmt::skip]
const CHROMA_QUANT: [u8; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
];

/// The natural-order index of each zigzag position (Figure A.6).
#[rustfmt::skip]
const ZIGZAG: [usize; 64] = [
     0,  1,  8, 16,  9,  2,  3, 10, 17, 24, 32, 25, 18, 11,  4,  5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13,  6,  7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Annex K.3, Tables K.3 to K.6: code counts per length 1..=16, then the symbols.
const DC_LUMA_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CHROMA_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMA_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
#[rustfmt::skip]
const AC_LUMA_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];
const AC_CHROMA_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
#[rustfmt::skip]
const AC_CHROMA_VALUES: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

/// The four tables as in a DHT segment: class (0 DC, 1 AC) and id, counts, symbols.
const HUFFMAN_TABLES: [(u8, &[u8; 16], &[u8]); 4] = [
    (0x00, &DC_LUMA_BITS, &DC_VALUES),
    (0x10, &AC_LUMA_BITS, &AC_LUMA_VALUES),
    (0x01, &DC_CHROMA_BITS, &DC_VALUES),
    (0x11, &AC_CHROMA_BITS, &AC_CHROMA_VALUES),
];

/// The placeholder image: the offline stand-in used when no image model is configured.
///
/// Returns a baseline JFIF JPEG of `width` x `height` pixels showing a diagonal gradient from
/// the top-left to the bottom-right corner. Its two colours derive from `seed` alone, so one
/// seed always gives the same bytes. A zero dimension is drawn as 1 px.
pub fn placeholder_jpeg(width: u16, height: u16, seed: &[u8]) -> Vec<u8> {
    let (width, height) = (width.max(1), height.max(1));
    // YCbCr is linear in RGB, so interpolating it directly gives the same gradient.
    let [from, to] = gradient_colours(seed).map(ycbcr);
    let step: [f32; 3] = std::array::from_fn(|c| to[c] - from[c]);
    // The gradient's position is the mean of the horizontal and vertical fractions, so each
    // axis is computed once rather than per pixel.
    let axis = |len: u16| -> Vec<f32> {
        let last = f32::from(len.saturating_sub(1).max(1));
        (0..len).map(|i| f32::from(i) / last / 2.0).collect()
    };
    let (tx, ty) = (axis(width), axis(height));
    encode(width, height, |x, y| {
        let t = tx[x] + ty[y];
        let [luma, cb, cr] = from;
        [luma + step[0] * t, cb + step[1] * t, cr + step[2] * t]
    })
}

/// The gradient's top-left and bottom-right colours as sRGB, from an FNV-1a hash of `seed`.
fn gradient_colours(seed: &[u8]) -> [[u8; 3]; 2] {
    let hash = seed.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let hue = (hash % 360) as f32;
    // The second hue sits 120 to 240 degrees away, so the two colours never look alike.
    let other = hue + 120.0 + ((hash >> 32) % 121) as f32;
    [hsv(hue, 0.55, 0.95), hsv(other, 0.75, 0.55)]
}

/// An sRGB colour from hue in degrees (any number, it wraps), saturation and value in 0..=1.
fn hsv(hue: f32, saturation: f32, value: f32) -> [u8; 3] {
    let channel = |n: f32| {
        let k = (n + hue / 60.0) % 6.0;
        let v = value - value * saturation * k.min(4.0 - k).clamp(0.0, 1.0);
        (v * 255.0).round() as u8
    };
    [channel(5.0), channel(3.0), channel(1.0)]
}

/// JFIF's YCbCr of an sRGB colour, each channel shifted to centre on 0 as the DCT wants.
fn ycbcr([r, g, b]: [u8; 3]) -> [f32; 3] {
    let [r, g, b] = [r, g, b].map(f32::from);
    [
        0.299 * r + 0.587 * g + 0.114 * b - 128.0,
        -0.168_736 * r - 0.331_264 * g + 0.5 * b,
        0.5 * r - 0.418_688 * g - 0.081_312 * b,
    ]
}

/// Encodes the image whose colour at (x, y) is `pixel(x, y)`, given as by [`ycbcr`].
fn encode(width: u16, height: u16, pixel: impl Fn(usize, usize) -> [f32; 3]) -> Vec<u8> {
    let quant = [scaled(&LUMA_QUANT), scaled(&CHROMA_QUANT)];
    let mut out = Vec::with_capacity(64 * 1024);
    write_headers(&mut out, width, height, &quant);

    let divisors = quant.map(|q| divisors(&q));
    let codes = HUFFMAN_TABLES.map(|(_, bits, values)| huffman_codes(bits, values));
    let mut bits = BitWriter {
        out,
        acc: 0,
        len: 0,
    };
    let mut previous_dc = [0; 3];
    let (w, h) = (usize::from(width), usize::from(height));

    // One MCU is 16x16 pixels: four luma blocks, then one block each of Cb and Cr.
    for top in (0..h).step_by(16) {
        for left in (0..w).step_by(16) {
            let mut ycc = [[0.0_f32; 256]; 3];
            for dy in 0..16 {
                for dx in 0..16 {
                    // Replicating the edge pixels keeps partial blocks free of ringing.
                    let [y, cb, cr] = pixel((left + dx).min(w - 1), (top + dy).min(h - 1));
                    let i = dy * 16 + dx;
                    (ycc[0][i], ycc[1][i], ycc[2][i]) = (y, cb, cr);
                }
            }
            for (bx, by) in [(0, 0), (8, 0), (0, 8), (8, 8)] {
                let block = std::array::from_fn(|i| ycc[0][(by + i / 8) * 16 + bx + i % 8]);
                let coefficients = dct_quantize(block, &divisors[0]);
                bits.block(&coefficients, &mut previous_dc[0], &codes[0], &codes[1]);
            }
            for c in 1..3 {
                let block = std::array::from_fn(|i| {
                    let j = (i / 8) * 32 + (i % 8) * 2;
                    (ycc[c][j] + ycc[c][j + 1] + ycc[c][j + 16] + ycc[c][j + 17]) * 0.25
                });
                let coefficients = dct_quantize(block, &divisors[1]);
                bits.block(&coefficients, &mut previous_dc[c], &codes[2], &codes[3]);
            }
        }
    }
    let mut out = bits.finish();
    out.extend_from_slice(&[0xff, 0xd9]);
    out
}

/// Scales a base table to `QUALITY` the way libjpeg does for qualities of 50 and above.
fn scaled(base: &[u8; 64]) -> [u8; 64] {
    base.map(|q| ((u32::from(q) * (200 - 2 * QUALITY) + 50) / 100).clamp(1, 255) as u8)
}

fn write_headers(out: &mut Vec<u8>, width: u16, height: u16, quant: &[[u8; 64]; 2]) {
    out.extend_from_slice(&[0xff, 0xd8]);
    // JFIF 1.01, no units, 1:1 pixel aspect, no thumbnail.
    segment(out, 0xe0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");

    let mut dqt = Vec::with_capacity(130);
    for (id, table) in quant.iter().enumerate() {
        dqt.push(id as u8);
        dqt.extend(ZIGZAG.iter().map(|&n| table[n]));
    }
    segment(out, 0xdb, &dqt);

    let [h1, h0] = height.to_be_bytes();
    let [w1, w0] = width.to_be_bytes();
    // Three components: Y sampled 2x2 with table 0, Cb and Cr 1x1 with table 1.
    segment(
        out,
        0xc0,
        &[8, h1, h0, w1, w0, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1],
    );

    let mut dht = Vec::with_capacity(420);
    for (class_and_id, bits, values) in HUFFMAN_TABLES {
        dht.push(class_and_id);
        dht.extend_from_slice(bits);
        dht.extend_from_slice(values);
    }
    segment(out, 0xc4, &dht);

    // One interleaved scan over all 64 coefficients: Y with tables 0/0, Cb and Cr with 1/1.
    segment(out, 0xda, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
}

fn segment(out: &mut Vec<u8>, marker: u8, payload: &[u8]) {
    out.extend_from_slice(&[0xff, marker]);
    out.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(payload);
}

/// The reciprocal of each quantizer in natural order, with the scale factors the AAN DCT
/// leaves on its outputs folded in, so quantizing is one multiplication per coefficient.
fn divisors(quant: &[u8; 64]) -> [f32; 64] {
    // Output k comes out scaled by cos(k π / 16) √2, or 1 for k = 0, and the whole by 8.
    let scale = |k: usize| {
        if k == 0 {
            1.0
        } else {
            (k as f32 * PI / 16.0).cos() * SQRT_2
        }
    };
    std::array::from_fn(|n| 1.0 / (f32::from(quant[n]) * scale(n / 8) * scale(n % 8) * 8.0))
}

/// One unscaled 8-point DCT in place, by Arai, Agui and Nakajima as in libjpeg's jfdctflt.c:
/// five multiplications instead of sixty-four. `b[at + k * stride]` is the k-th sample.
fn aan_8(b: &mut [f32; 64], at: usize, stride: usize) {
    let d: [f32; 8] = std::array::from_fn(|k| b[at + k * stride]);
    let (t0, t7) = (d[0] + d[7], d[0] - d[7]);
    let (t1, t6) = (d[1] + d[6], d[1] - d[6]);
    let (t2, t5) = (d[2] + d[5], d[2] - d[5]);
    let (t3, t4) = (d[3] + d[4], d[3] - d[4]);

    let (t10, t13) = (t0 + t3, t0 - t3);
    let (t11, t12) = (t1 + t2, t1 - t2);
    let z1 = (t12 + t13) * FRAC_1_SQRT_2;
    b[at] = t10 + t11;
    b[at + 4 * stride] = t10 - t11;
    b[at + 2 * stride] = t13 + z1;
    b[at + 6 * stride] = t13 - z1;

    let (o10, o11, o12) = (t4 + t5, t5 + t6, t6 + t7);
    let z5 = (o10 - o12) * 0.382_683_43;
    let z2 = 0.541_196_1 * o10 + z5;
    let z4 = 1.306_563 * o12 + z5;
    let z3 = o11 * FRAC_1_SQRT_2;
    let (z11, z13) = (t7 + z3, t7 - z3);
    b[at + 5 * stride] = z13 + z2;
    b[at + 3 * stride] = z13 - z2;
    b[at + stride] = z11 + z4;
    b[at + 7 * stride] = z11 - z4;
}

/// Transforms rows, then columns, quantizes and reorders into zigzag order.
fn dct_quantize(mut block: [f32; 64], divisors: &[f32; 64]) -> [i32; 64] {
    for i in 0..8 {
        aan_8(&mut block, i * 8, 1);
    }
    for i in 0..8 {
        aan_8(&mut block, i, 8);
    }
    ZIGZAG.map(|n| {
        let v = block[n] * divisors[n];
        // Rounds half away from zero without a libm call; `as` truncates toward zero.
        (v + 0.5_f32.copysign(v)) as i32
    })
}

/// The Huffman code of each symbol as (code, length in bits).
type Codes = [(u16, u8); 256];

/// The canonical codes of a table given as in a DHT segment, built as in Annex C.
fn huffman_codes(bits: &[u8; 16], values: &[u8]) -> Codes {
    let mut codes = [(0, 0); 256];
    let (mut code, mut k) = (0_u32, 0);
    for (length, &count) in (1_u8..).zip(bits) {
        for _ in 0..count {
            codes[usize::from(values[k])] = (code as u16, length);
            code += 1;
            k += 1;
        }
        code <<= 1;
    }
    codes
}

/// The magnitude category of `v` and its additional bits (F.1.2.1): negative values are
/// stored as `v - 1` in the low bits, that is in ones' complement.
fn category(v: i32) -> (u8, u32) {
    let size = 32 - v.unsigned_abs().leading_zeros();
    let bits = if v < 0 { (v - 1) as u32 } else { v as u32 };
    (size as u8, bits & ((1 << size) - 1))
}

struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    len: u32,
}

impl BitWriter {
    fn put(&mut self, bits: u32, len: u8) {
        self.acc = (self.acc << len) | bits;
        self.len += u32::from(len);
        while self.len >= 8 {
            self.len -= 8;
            let byte = (self.acc >> self.len) as u8;
            self.out.push(byte);
            // A data 0xFF would read as a marker, so it is stuffed with a zero byte.
            if byte == 0xff {
                self.out.push(0);
            }
        }
        self.acc &= (1 << self.len) - 1;
    }

    fn code(&mut self, (code, len): (u16, u8)) {
        self.put(u32::from(code), len);
    }

    /// Writes one block: the DC difference, then runs of zeros and AC values (F.1.2).
    fn block(&mut self, zz: &[i32; 64], previous_dc: &mut i32, dc: &Codes, ac: &Codes) {
        let (size, bits) = category(zz[0] - *previous_dc);
        *previous_dc = zz[0];
        self.code(dc[usize::from(size)]);
        self.put(bits, size);
        let mut run = 0;
        for &v in &zz[1..] {
            if v == 0 {
                run += 1;
                continue;
            }
            while run >= 16 {
                self.code(ac[0xf0]);
                run -= 16;
            }
            let (size, bits) = category(v);
            self.code(ac[(run << 4) | usize::from(size)]);
            self.put(bits, size);
            run = 0;
        }
        if run > 0 {
            self.code(ac[0x00]);
        }
    }

    /// Pads the last byte with one bits, as B.1.1.5 asks.
    fn finish(mut self) -> Vec<u8> {
        if self.len > 0 {
            let pad = 8 - self.len as u8;
            self.put((1 << pad) - 1, pad);
        }
        self.out
    }
}

#[cfg(test)]
mod tests;
