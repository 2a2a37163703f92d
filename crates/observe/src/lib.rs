//! What the pipeline reports about itself, as plain data: LangSmith runs (one per workflow,
//! with child runs for model calls) and the redaction that keeps secrets out of them and out
//! of the error messages other crates build from outside answers.
//!
//! Nothing here sends anything; the Workers' `platform::trace` does, through `waitUntil`.

pub mod langsmith;
pub mod redact;
pub mod remote;
