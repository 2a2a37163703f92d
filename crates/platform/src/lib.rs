//! The Cloudflare side of the pipeline, shared by the three Workers: the D1 draft store, queue
//! sending and receiving, the clock and randomness, outgoing HTTP with a timeout, and
//! configuration. Each piece is a thin wrapper over a `worker` binding; the decisions are
//! made in `domain`.

pub mod accounts;
pub mod ai;
pub mod alerts;
pub mod analytics;
pub mod client_links;
pub mod clock;
pub mod config;
pub mod d1;
pub mod http;
pub mod media;
pub mod metrics;
pub mod publish_log;
pub mod queue;
pub mod schedule;
pub mod scheduler_tasks;
pub mod sessions;
pub mod stats;
pub mod store;
pub mod trace;
pub mod voice;
