//! The R2 bucket of images, shared by the api (which serves them) and the image consumer
//! (which stores them).

/// The bucket's binding name, the same in both Workers' configs.
pub const MEDIA_BINDING: &str = "MEDIA";

/// Where every stored image lives; `/media/` serves only keys under it.
pub const IMAGE_PREFIX: &str = "images/";

/// A fresh key for an image of draft `id`. Keys are never reused, so the bytes behind one
/// never change and may be cached for good.
pub fn image_key(id: &str, random_hex: &str) -> String {
    format!("{IMAGE_PREFIX}{id}/{random_hex}.jpg")
}
