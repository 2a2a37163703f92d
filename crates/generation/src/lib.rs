//! The logic of the generation workflow behind `POST /api/v1/generate`: it validates the
//! request, builds the prompt, parses and checks the model's answer (with one repair round),
//! and speaks the request and response formats of the model providers. When no provider is
//! configured, the offline template writer answers in the model's place.
//!
//! This crate never does I/O: no HTTP, no storage, no clock, no randomness, and it does not
//! depend on `worker`. The Worker shell sends the prompts, hands back the answers and passes
//! the current time in as an argument, so everything here is tested on the host.

pub mod answer;
pub mod chain;
pub mod model;
pub mod openai;
pub mod request;
pub mod template_writer;
pub mod vision;
pub mod workers_ai;

pub use answer::{parse_answer, parse_answer_in_voice};
pub use chain::{ChainError, ChainStep, ChatMessage, ChatPrompt, GenerationChain, Role};
pub use model::ModelError;
pub use request::{
    FieldError, GenerateRequest, GenerateRules, MAX_BODY_BYTES, ScheduledAtError, Tone,
    canonical_language, parse_generate_request, parse_scheduled_at,
};
