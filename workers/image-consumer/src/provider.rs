//! The image makers, chosen by `IMAGE_PROVIDER`: the Workers AI binding, any OpenAI-compatible
//! images endpoint, or the offline placeholder (the default, so the system runs without
//! keys). Request bodies and answers are built and read by `media::provider`; this module only
//! moves them, each call within `IMAGE_TIMEOUT_MS`, a download included.

use domain::draft::DraftId;
use media::provider::{Answer, ImageError, openai, workers_ai};
use platform::ai::AiError;
use platform::config::{number, optional, or_default};
use platform::http::{
    BytesAnswer, BytesError, Call, Deadline, HttpError, fetch_bytes, post_json_with_bearer, within,
};
use serde_json::Value;
use worker::Env;
use worker::js_sys::{ArrayBuffer, JSON, Uint8Array};
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;

/// The longest answer read, base64 JSON included: a 2048x2048 PNG is about 8 MB.
const MAX_ANSWER_BYTES: usize = 48 * 1024 * 1024;

/// Why the configured maker cannot be made; the job retries it like an outage.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Setting(platform::config::NotANumber),
    #[error("IMAGE_PROVIDER is openai but the secret IMAGE_OPENAI_API_KEY is not set")]
    MissingKey,
    #[error("IMAGE_PROVIDER is {0:?}, expected placeholder, workers-ai or openai")]
    UnknownProvider(String),
}

pub enum Maker {
    /// The offline placeholder: a gradient drawn from the draft, no model at all.
    Placeholder {
        width: u16,
        height: u16,
    },
    WorkersAi {
        model: String,
    },
    OpenAi {
        base_url: String,
        model: String,
        api_key: String,
    },
}

/// The image bytes a provider answered, and how they came.
pub struct Made {
    pub bytes: Vec<u8>,
    /// `placeholder`, `b64_json`, `url`, `base64` (a Workers AI object) or `binary`.
    pub via: &'static str,
}

impl Maker {
    /// The configured maker. A missing key or unknown provider is a configuration error, which
    /// the job retries like an outage: an operator can fix it before the attempts run out.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let provider = or_default(env, "IMAGE_PROVIDER", "placeholder");
        match provider.as_str() {
            "placeholder" => Ok(Maker::Placeholder {
                width: number(env, "IMAGE_WIDTH", 1080u16).map_err(ConfigError::Setting)?,
                height: number(env, "IMAGE_HEIGHT", 1080u16).map_err(ConfigError::Setting)?,
            }),
            "workers-ai" => Ok(Maker::WorkersAi {
                model: or_default(env, "IMAGE_MODEL", workers_ai::DEFAULT_MODEL),
            }),
            "openai" => Ok(Maker::OpenAi {
                base_url: or_default(env, "IMAGE_OPENAI_BASE_URL", openai::DEFAULT_BASE_URL)
                    .trim_end_matches('/')
                    .to_owned(),
                model: or_default(env, "IMAGE_OPENAI_MODEL", openai::DEFAULT_MODEL),
                api_key: optional(env, "IMAGE_OPENAI_API_KEY").ok_or(ConfigError::MissingKey)?,
            }),
            other => Err(ConfigError::UnknownProvider(other.to_owned())),
        }
    }

    pub fn provider(&self) -> &'static str {
        match self {
            Maker::Placeholder { .. } => "placeholder",
            Maker::WorkersAi { .. } => "workers-ai",
            Maker::OpenAi { .. } => "openai",
        }
    }

    pub fn model(&self) -> &str {
        match self {
            Maker::Placeholder { .. } => "offline-placeholder",
            Maker::WorkersAi { model } | Maker::OpenAi { model, .. } => model,
        }
    }

    /// Values that must never appear in a trace, a log or a reason stored on the draft.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            Maker::OpenAi { api_key, .. } => vec![api_key.clone()],
            _ => Vec::new(),
        }
    }

    /// Makes one image for `prompt`, waiting at most `timeout_ms` for all of it.
    pub async fn make(
        &self,
        env: &Env,
        id: DraftId,
        prompt: &str,
        timeout_ms: u64,
    ) -> Result<Made, ImageError> {
        match self {
            Maker::Placeholder { width, height } => {
                let seed = format!("{id}:{prompt}");
                Ok(Made {
                    bytes: media::placeholder_jpeg(*width, *height, seed.as_bytes()),
                    via: "placeholder",
                })
            }
            Maker::WorkersAi { model } => {
                // A binding call cannot be aborted, only no longer waited for.
                within(run_ai_binding(env, model, prompt), timeout_ms)
                    .await
                    .ok_or(ImageError::Timeout(timeout_ms))?
            }
            Maker::OpenAi {
                base_url,
                model,
                api_key,
            } => {
                // One deadline for the answer and the download it may point at; on it the
                // runtime closes the connection, so a hung provider is not left waiting on.
                let deadline = Deadline::after(timeout_ms);
                openai_image(base_url, model, api_key, prompt, &deadline).await
            }
        }
    }
}

async fn openai_image(
    base_url: &str,
    model: &str,
    api_key: &str,
    prompt: &str,
    deadline: &Deadline,
) -> Result<Made, ImageError> {
    let body = openai::request_body(model, prompt).to_string();
    let url = format!("{base_url}{}", openai::PATH);
    let fetch = async |call: &Call<'_>| send(call, deadline).await;
    let answer = post_json_with_bearer(&url, api_key, &body, fetch).await?;
    let text = String::from_utf8_lossy(&answer.body);
    let retry_after = answer.header("retry-after");
    let image = openai::parse_response(answer.status, &text)
        .map_err(|e| e.with_retry_after(retry_after.as_deref()))?;
    match image {
        Answer::Bytes(bytes) => Ok(Made {
            bytes,
            via: "b64_json",
        }),
        Answer::Url(url) => {
            // The key stays with the provider's API: a download link is often another host.
            let call = Call {
                method: "GET",
                url: &url,
                headers: &[],
                body: None,
            };
            let download = send(&call, deadline).await?;
            match download.status {
                200..=299 => Ok(Made {
                    bytes: download.body,
                    via: "url",
                }),
                429 => Err(ImageError::RateLimited {
                    retry_after_seconds: None,
                }
                .with_retry_after(download.header("retry-after").as_deref())),
                // An expired or missing link: the next attempt asks for a new image and link.
                status => Err(ImageError::Unavailable(format!(
                    "downloading the image answered HTTP {status}"
                ))),
            }
        }
    }
}

/// Sends `call` and reads its whole body, at most [`MAX_ANSWER_BYTES`], before `deadline`.
async fn send(call: &Call<'_>, deadline: &Deadline) -> Result<BytesAnswer, ImageError> {
    fetch_bytes(call, deadline, MAX_ANSWER_BYTES)
        .await
        .map_err(|error| match error {
            BytesError::Http(HttpError::Timeout(ms)) => ImageError::Timeout(ms),
            BytesError::Http(HttpError::Transport(what)) => ImageError::Transport(what),
            BytesError::TooLong(_) => too_long(),
        })
}

fn too_long() -> ImageError {
    ImageError::Malformed(format!("the answer is over {MAX_ANSWER_BYTES} bytes"))
}

/// Calls `env.AI.run(model, { prompt })` and reads the answer, whichever form it takes: an
/// object with a base64 image (flux-1-schnell), a stream or bytes (stable-diffusion-xl).
async fn run_ai_binding(env: &Env, model: &str, prompt: &str) -> Result<Made, ImageError> {
    let input = workers_ai::input(prompt);
    let output = platform::ai::run(env, model, &input, "wrangler/image-consumer.toml")
        .await
        .map_err(|error| match error {
            AiError::Binding(what) => ImageError::Transport(what),
            AiError::Failed(message) => workers_ai::classify_error(&message),
        })?;
    if let Some(bytes) = output.dyn_ref::<Uint8Array>() {
        return binary(bytes.to_vec());
    }
    if let Some(buffer) = output.dyn_ref::<ArrayBuffer>() {
        return binary(Uint8Array::new(buffer).to_vec());
    }
    if let Some(stream) = output.dyn_ref::<worker::web_sys::ReadableStream>() {
        let read = worker::web_sys::Response::new_with_opt_readable_stream(Some(stream))
            .and_then(|response| response.array_buffer())
            .map_err(|_| {
                ImageError::Transport("Workers AI binding AI: its stream cannot be read".into())
            })?;
        let buffer = JsFuture::from(read)
            .await
            .map_err(|_| ImageError::Transport("reading the Workers AI stream failed".into()))?;
        return binary(Uint8Array::new(&buffer).to_vec());
    }
    let text: String = JSON::stringify(&output)
        .map(String::from)
        .map_err(|_| ImageError::Malformed("the Workers AI answer is not JSON".into()))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|_| ImageError::Malformed("the Workers AI answer is not JSON".into()))?;
    Ok(Made {
        bytes: workers_ai::parse_object(&value)?,
        via: "base64",
    })
}

fn binary(bytes: Vec<u8>) -> Result<Made, ImageError> {
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(too_long());
    }
    Ok(Made {
        bytes,
        via: "binary",
    })
}

/// Removes the maker's keys and anything shaped like a token from text that leaves the Worker.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    observe::redact::redact_token_shapes(&observe::redact::redact_text(text, &secrets))
}
