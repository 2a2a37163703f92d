//! Images for the pipeline: the placeholder image (the offline stand-in drawn when no image
//! model is configured), the image providers' wire formats, the fitting of whatever a provider
//! answers to Instagram's rules, and the check of an image against those rules.
//!
//! This crate does no I/O: no HTTP, no storage, no clock, no randomness. Bytes come in and go
//! out as arguments; the placeholder's colours come from a seed the caller passes, so the same
//! seed always gives the same bytes. Decoding and encoding use pure-Rust codecs (zune-jpeg,
//! zune-png, image-webp, jpeg-encoder).

pub mod exif;
pub mod fit;
pub mod inspect;
pub mod placeholder;
pub mod provider;
pub mod upload;

#[cfg(test)]
mod samples;

pub use fit::{FitError, Fitted, Format, MAX_SOURCE_PIXELS, fit_for_instagram};
pub use inspect::{
    ImageInfo, MAX_ASPECT, MAX_BYTES, MAX_WIDTH, MIN_ASPECT, MIN_WIDTH, MediaError,
    check_instagram_image, inspect_jpeg,
};
pub use placeholder::placeholder_jpeg;
pub use provider::{Answer, ImageError};
pub use upload::{
    MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS, MIN_UPLOAD_SIDE, UploadError, UploadInfo, fit_upload,
    inspect_upload,
};
