//! Images for the pipeline: the placeholder image, the offline stand-in drawn when no image
//! model is configured, and the check of an image against Instagram's publishing requirements.
//!
//! This crate does no I/O: no HTTP, no storage, no clock, no randomness. Bytes come in and go
//! out as arguments; the placeholder's colours come from a seed the caller passes, so the same
//! seed always gives the same bytes. It never decodes pixels, resizes or re-encodes a foreign
//! image: inspection reads only the JPEG headers.

pub mod inspect;
pub mod placeholder;

pub use inspect::{
    ImageInfo, MAX_ASPECT, MAX_BYTES, MAX_WIDTH, MIN_ASPECT, MIN_WIDTH, MediaError,
    check_instagram_image, inspect_jpeg,
};
pub use placeholder::placeholder_jpeg;
