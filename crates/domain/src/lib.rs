//! The heart of the pipeline: the draft and its status state machine, the queue messages the
//! Workers exchange, the texts of a post with Instagram's limits, and the retry policy.
//!
//! This crate does no I/O: no HTTP, no storage, no clock, no randomness. Time, ids and random
//! seeds enter as arguments from the Worker shells, so everything here is tested on the host.

pub mod account;
pub mod backoff;
pub mod change;
pub mod client_link;
pub mod content;
pub mod credentials;
pub mod draft;
pub mod error_class;
pub mod idempotency;
pub mod language;
pub mod message;
pub mod post_format;
pub mod publish;
pub mod timestamp;
pub mod voice;
