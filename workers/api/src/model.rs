//! The chat models that write captions, chosen by `LLM_PROVIDER`: any OpenAI-compatible Chat
//! Completions endpoint, the Workers AI binding, or the offline template writer (the default,
//! so the system runs without keys). Request bodies and answers are built and read by
//! `generation`; this module only moves them.

use generation::vision::VisionChain;
use generation::{ChatPrompt, GenerationChain, ModelError, openai, workers_ai};
use platform::ai::AiError;
use platform::config::{optional, or_default};
use platform::http::{Call, HttpError, fetch_text, post_json_with_bearer, within};
use serde_json::Value;
use worker::Env;
use worker::js_sys::JSON;

use crate::reply::ApiError;

/// A model's answer, with what the trace reports about the call.
pub struct Completion {
    pub text: String,
    /// The OpenAI-compatible response body, read again only when the call is traced.
    openai_body: Option<String>,
}

impl Completion {
    fn text(text: String) -> Self {
        Self {
            text,
            openai_body: None,
        }
    }

    /// The provider's token counts, when it reports them.
    pub fn usage(&self) -> Option<Value> {
        self.openai_body.as_deref().and_then(openai::usage)
    }

    /// The request's parameters (`max_tokens`, ...), when the call had any.
    pub fn params(&self) -> Option<Value> {
        self.openai_body.as_ref().map(|_| {
            serde_json::json!({ "max_tokens": openai::MAX_TOKENS, "temperature": openai::TEMPERATURE })
        })
    }
}

pub enum Writer {
    /// The offline template writer: deterministic text from the brief, no model at all.
    Template,
    OpenAi {
        base_url: String,
        model: String,
        api_key: String,
        structured_output: bool,
    },
    WorkersAi {
        model: String,
    },
}

impl Writer {
    pub fn from_env(env: &Env) -> Result<Self, ApiError> {
        let provider = or_default(env, "LLM_PROVIDER", "template");
        match provider.as_str() {
            "template" => Ok(Writer::Template),
            "openai" => Ok(Writer::OpenAi {
                base_url: or_default(env, "OPENAI_BASE_URL", "https://api.openai.com/v1")
                    .trim_end_matches('/')
                    .to_owned(),
                model: or_default(env, "OPENAI_MODEL", "gpt-4o-mini"),
                api_key: optional(env, "OPENAI_API_KEY").ok_or_else(|| {
                    ApiError::NotConfigured(
                        "LLM_PROVIDER is openai but the secret OPENAI_API_KEY is not set".into(),
                    )
                })?,
                structured_output: or_default(env, "OPENAI_STRUCTURED_OUTPUT", "true") != "false",
            }),
            "workers-ai" => Ok(Writer::WorkersAi {
                model: or_default(
                    env,
                    "WORKERS_AI_MODEL",
                    "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
                ),
            }),
            other => Err(ApiError::NotConfigured(format!(
                "LLM_PROVIDER is {other:?}, expected template, openai or workers-ai"
            ))),
        }
    }

    pub fn provider(&self) -> &'static str {
        match self {
            Writer::Template => "template",
            Writer::OpenAi { .. } => "openai",
            Writer::WorkersAi { .. } => "workers-ai",
        }
    }

    pub fn model(&self) -> Option<&str> {
        match self {
            Writer::Template => None,
            Writer::OpenAi { model, .. } | Writer::WorkersAi { model } => Some(model),
        }
    }

    pub fn is_offline(&self) -> bool {
        matches!(self, Writer::Template)
    }

    /// Values that must never appear in a trace, a log or an error message.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Writer::OpenAi { api_key, .. } => vec![api_key.as_str()],
            _ => Vec::new(),
        }
    }

    /// One round trip to the model: the prompt in, the raw answer text out.
    pub async fn complete(
        &self,
        env: &Env,
        prompt: &ChatPrompt,
        chain: &GenerationChain,
        timeout_ms: u64,
    ) -> Result<Completion, ModelError> {
        match self {
            Writer::Template => Ok(Completion::text(chain.offline_answer())),
            Writer::OpenAi {
                base_url,
                model,
                api_key,
                structured_output,
            } => {
                let body = openai::chat_request_body(model, prompt, *structured_output).to_string();
                post_openai(base_url, api_key, &body, timeout_ms).await
            }
            Writer::WorkersAi { model } => {
                run_workers_ai(env, model, &workers_ai::input(prompt), timeout_ms).await
            }
        }
    }

    /// The model that describes photos, `None` for the offline writer: `OPENAI_VISION_MODEL`
    /// (default: `OPENAI_MODEL`, which must then take images) or `WORKERS_AI_VISION_MODEL`.
    pub fn vision_model(&self, env: &Env) -> Option<String> {
        match self {
            Writer::Template => None,
            Writer::OpenAi { model, .. } => Some(or_default(env, "OPENAI_VISION_MODEL", model)),
            Writer::WorkersAi { .. } => Some(or_default(
                env,
                "WORKERS_AI_VISION_MODEL",
                DEFAULT_WORKERS_AI_VISION_MODEL,
            )),
        }
    }

    /// One round trip to the vision model `model` ([`Writer::vision_model`]): the prompt and
    /// the photos (`data:` URLs) in, the raw answer text out.
    pub async fn describe(
        &self,
        env: &Env,
        model: Option<&str>,
        prompt: &ChatPrompt,
        chain: &VisionChain,
        photos: &[String],
        timeout_ms: u64,
    ) -> Result<Completion, ModelError> {
        let model = model.unwrap_or_default();
        match self {
            Writer::Template => Ok(Completion::text(chain.offline_answer())),
            Writer::OpenAi {
                base_url,
                api_key,
                structured_output,
                ..
            } => {
                let body = openai::vision_request_body(model, prompt, photos, *structured_output);
                post_openai(base_url, api_key, &body.to_string(), timeout_ms).await
            }
            Writer::WorkersAi { .. } => {
                let input = workers_ai::vision_input(model, prompt, photos).map_err(|e| {
                    ModelError::Rejected {
                        status: 400,
                        message: e.to_string(),
                    }
                })?;
                run_workers_ai(env, model, &input, timeout_ms).await
            }
        }
    }
}

/// A Workers AI model that takes several photos, as `image_url` content parts.
pub const DEFAULT_WORKERS_AI_VISION_MODEL: &str = "@cf/meta/llama-4-scout-17b-16e-instruct";

/// `POST {base_url}/chat/completions` with `body`, read as a Chat Completions answer.
async fn post_openai(
    base_url: &str,
    api_key: &str,
    body: &str,
    timeout_ms: u64,
) -> Result<Completion, ModelError> {
    let url = format!("{base_url}/chat/completions");
    // The deadline covers the body too: an answer that stalls halfway is none.
    let fetch = async |call: &Call<'_>| fetch_text(call, timeout_ms).await;
    let answer = post_json_with_bearer(&url, api_key, body, fetch);
    let answer = answer.await.map_err(|e| match e {
        HttpError::Timeout(_) => ModelError::Timeout,
        HttpError::Transport(message) => ModelError::Transport(message),
    })?;
    // A rate limit's wait comes in the header; the api passes it on to the client.
    let retry_after = answer.header("retry-after");
    let (status, text) = (answer.status, answer.body);
    let answer = openai::parse_chat_response(status, &text)
        .map_err(|error| error.with_retry_after(retry_after.as_deref()))?;
    Ok(Completion {
        text: answer,
        openai_body: Some(text),
    })
}

/// A binding call has no deadline of its own either; a hung one must not hold the request.
/// It cannot be aborted, only no longer waited for.
async fn run_workers_ai(
    env: &Env,
    model: &str,
    input: &Value,
    timeout_ms: u64,
) -> Result<Completion, ModelError> {
    let output = within(run_ai_binding(env, model, input), timeout_ms)
        .await
        .ok_or(ModelError::Timeout)??;
    workers_ai::parse_output(&output).map(Completion::text)
}

/// Calls the Workers AI binding and reads its answer as JSON.
async fn run_ai_binding(env: &Env, model: &str, input: &Value) -> Result<Value, ModelError> {
    let output = platform::ai::run(env, model, input, "wrangler/api.toml")
        .await
        .map_err(|error| match error {
            AiError::Binding(what) => ModelError::Transport(what),
            AiError::Failed(message) => binding_failure(&message),
        })?;
    let text: String = JSON::stringify(&output)
        .map(String::from)
        .map_err(|_| ModelError::Malformed("Workers AI answer is not JSON".into()))?;
    serde_json::from_str(&text)
        .map_err(|_| ModelError::Malformed("Workers AI answer is not JSON".into()))
}

/// Classifies the error a failed `run` throws. The binding has no status, only a message that
/// carries Workers AI's code: 3040 (out of capacity, HTTP 429) is a rate limit the client may
/// wait out, while 3036 (the daily allocation is used up, also HTTP 429) is not over before
/// tomorrow; it stays a failed call, as does everything else.
fn binding_failure(message: &str) -> ModelError {
    let lower = message.to_ascii_lowercase();
    let mut words = lower.split(|c: char| !c.is_ascii_alphanumeric());
    let limited = !lower.contains("3036")
        && (words.any(|word| word == "3040" || word == "429")
            || [
                "rate limit",
                "too many requests",
                "capacity temporarily exceeded",
            ]
            .iter()
            .any(|phrase| lower.contains(phrase)));
    if limited {
        ModelError::RateLimited {
            retry_after_seconds: None,
        }
    } else {
        ModelError::Transport(format!("Workers AI: {message}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(message: &str, limited: bool) {
        let expect = if limited {
            ModelError::RateLimited {
                retry_after_seconds: None,
            }
        } else {
            ModelError::Transport(format!("Workers AI: {message}"))
        };
        assert_eq!(binding_failure(message), expect, "{message:?}");
    }

    #[test]
    fn binding_rate_limits_by_code_or_words() {
        for (message, limited) in [
            ("AiError: 3040: Capacity temporarily exceeded", true),
            ("InferenceUpstreamError: 3040: Out of capacity", true),
            ("Capacity temporarily exceeded, please try again.", true),
            ("AiError: HTTP 429 Too Many Requests", true),
            ("Rate limited: too many requests", true),
            ("you hit the rate limit", true),
            (
                "AiError: 3036: You have used up your daily free allocation of 10,000 neurons",
                false,
            ),
            ("AiError: 5007: No such model @cf/x/y", false),
            ("AiError: 3007: Request timeout", false),
            ("model @cf/x/llama-4290 failed", false),
            ("the call failed", false),
        ] {
            check(message, limited);
        }
    }
}
