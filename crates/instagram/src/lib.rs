//! The Instagram Graph API content-publishing client for single images and carousels, with
//! their first comment: it builds the
//! requests of the container -> status -> `media_publish` flow and reads Meta's answers,
//! classifying every failure by what the caller should do next.
//!
//! This crate never does I/O: no HTTP, no clock, no randomness, and it does not depend on
//! `worker`. The Worker shell sends each [`GraphRequest`] with an
//! `Authorization: Bearer <token>` header and hands back the status, the `Retry-After` header
//! and the body text.
//!
//! **Architecture Invariant:** the access token never enters this crate. It is in no URL, form
//! or error message built here, so a logged request or a stored error cannot leak it; Meta's
//! own messages are redacted in case they echo a token back. The one request Meta documents
//! with the token as a query parameter (`refresh_access_token`) is marked so, and the shell
//! adds it; the refreshed token it reads back is redacted from `Debug` and from errors.
//!
//! **Architecture Invariant:** failures are classified by the body's `error.code` and
//! `error.error_subcode`, never by the HTTP status alone: Meta answers most errors, throttling
//! included, with HTTP 400.

pub mod error;
pub mod login;
pub mod request;
pub mod response;

pub use error::{
    GraphError, MAX_MESSAGE_CHARS, QUOTA_SUBCODE, classify, regain_access_seconds,
    retry_after_seconds,
};
pub use request::{
    FORM_CONTENT_TYPE, GraphConfig, GraphRequest, PostFields, form_urlencode, refresh_access_token,
};
pub use response::{
    Comment, ContainerStatus, MediaItem, MediaPage, PublishingLimit, RefreshedToken,
    instagram_time, parse_comments, parse_container_status, parse_created_id, parse_media_page,
    parse_permalink, parse_publishing_limit, parse_refreshed_token,
};
