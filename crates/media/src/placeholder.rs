//! The placeholder image: the offline stand-in used when no image model is configured, a
//! two-colour diagonal gradient encoded as a baseline JPEG by the same encoder that fits
//! providers' images.

/// Quality on the libjpeg scale; 80 keeps the gradient free of visible blocks at ~21 KB for
/// 1080x1080.
const QUALITY: u8 = 80;

/// The placeholder image: the offline stand-in used when no image model is configured.
///
/// Returns a baseline JFIF JPEG of `width` x `height` pixels showing a diagonal gradient from
/// the top-left to the bottom-right corner. Its two colours derive from `seed` alone, so one
/// seed always gives the same bytes. A zero dimension is drawn as 1 px.
pub fn placeholder_jpeg(width: u16, height: u16, seed: &[u8]) -> Vec<u8> {
    let (width, height) = (width.max(1), height.max(1));
    let [from, to] = gradient_colours(seed).map(|c| c.map(f32::from));
    // The gradient's position is the mean of the horizontal and vertical fractions, so each
    // axis is computed once rather than per pixel.
    let axis = |len: u16| -> Vec<f32> {
        let last = f32::from(len.saturating_sub(1).max(1));
        (0..len).map(|i| f32::from(i) / last / 2.0).collect()
    };
    let (tx, ty) = (axis(width), axis(height));
    let mut pixels = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    for y in &ty {
        for x in &tx {
            let t = x + y;
            pixels.extend((0..3).map(|c| (from[c] + (to[c] - from[c]) * t).round() as u8));
        }
    }
    // The encoder fails only on a zero size or a short buffer, which cannot happen here.
    crate::fit::encode_jpeg(&pixels, width, height, QUALITY).unwrap_or_default()
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

#[cfg(test)]
mod tests;
