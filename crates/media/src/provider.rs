//! The image providers' wire formats, without I/O: what each is sent, how its answer is read,
//! and how its failures are classified, so the shell only moves bytes. Two providers: any
//! OpenAI-compatible images endpoint and the Workers AI binding.
//!
//! Messages a provider writes are cleaned before they go into an error: one line, anything
//! shaped like a key or token removed, cut to [`MAX_REASON_CHARS`]. The shell also removes
//! the keys it holds.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use observe::remote::{self, Class};
use serde_json::{Value, json};

/// The longest piece of a provider's message kept in a reason.
pub const MAX_REASON_CHARS: usize = 300;

/// A failed call to an image provider, classified by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("the image provider did not answer within {0} ms")]
    Timeout(u64),
    #[error("the image provider is rate limiting requests{}", retry_hint(*.retry_after_seconds))]
    RateLimited { retry_after_seconds: Option<u64> },
    #[error("the image provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider will not make this image: its safety system, a bad prompt, a key or model
    /// it does not accept. Asking again gives the same answer.
    #[error("the image provider refused the request{}: {reason}", status_hint(*.status))]
    Refused { status: Option<u16>, reason: String },
    #[error("the image provider's answer is not usable: {0}")]
    Malformed(String),
    #[error("could not reach the image provider: {0}")]
    Transport(String),
}

fn retry_hint(seconds: Option<u64>) -> String {
    seconds
        .map(|s| format!(", retry after {s} seconds"))
        .unwrap_or_default()
}

fn status_hint(status: Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

impl ImageError {
    /// What the caller should do about it, in the classes all remote errors share.
    pub fn class(&self) -> Class {
        match self {
            ImageError::Timeout(_) => Class::Timeout,
            ImageError::RateLimited { .. } => Class::RateLimited,
            ImageError::Unavailable(_) => Class::Unavailable,
            ImageError::Refused { .. } => Class::Refused,
            ImageError::Malformed(_) => Class::Malformed,
            ImageError::Transport(_) => Class::Transport,
        }
    }

    /// Whether asking again cannot help: a refusal, or an answer that is not an image.
    pub fn is_permanent(&self) -> bool {
        self.class().is_permanent()
    }

    /// The wait the provider asked for, if any.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            ImageError::RateLimited {
                retry_after_seconds,
            } => *retry_after_seconds,
            _ => None,
        }
    }

    /// Fills in the wait from a `Retry-After` header, which wins over a hint in the body.
    /// Other errors are returned unchanged.
    pub fn with_retry_after(self, header: Option<&str>) -> Self {
        match (self, header.and_then(retry_after_seconds)) {
            (ImageError::RateLimited { .. }, Some(seconds)) => ImageError::RateLimited {
                retry_after_seconds: Some(seconds),
            },
            (error, _) => error,
        }
    }
}

/// Reads a `Retry-After` header as `domain::backoff` does: whole seconds. An HTTP date gives
/// `None`, and the backoff's own delay is used (providers of images send seconds).
pub use domain::backoff::retry_after_seconds;

/// What a provider answered with: the image's bytes, or where to download them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Bytes(Vec<u8>),
    Url(String),
}

/// Decodes base64 image data, with or without a `data:` URI prefix or line breaks.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, ImageError> {
    let data = match text.split_once(";base64,") {
        Some((prefix, data)) if prefix.starts_with("data:") => data,
        _ => text,
    };
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| ImageError::Malformed(format!("the image data is not base64: {e}")))
}

/// Makes a provider's text fit for a reason: one line, token shapes redacted, at most
/// [`MAX_REASON_CHARS`] characters ([`observe::remote::clean_message`]).
pub fn clean_message(text: &str) -> String {
    remote::clean_message(text, MAX_REASON_CHARS)
}

/// The OpenAI Images API (`POST {base}/images/generations`) and compatible endpoints.
pub mod openai {
    use super::*;

    pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
    pub const DEFAULT_MODEL: &str = "gpt-image-1";

    /// The path under the base URL.
    pub const PATH: &str = "/images/generations";

    /// The request body. Neither `size` nor `response_format` is sent: models differ in which
    /// they accept (gpt-image-1 refuses `response_format`), and any size or answer form is
    /// made to fit afterwards.
    pub fn request_body(model: &str, prompt: &str) -> Value {
        json!({ "model": model, "prompt": prompt, "n": 1 })
    }

    /// The image from a response, or what went wrong.
    pub fn parse_response(status: u16, body: &str) -> Result<Answer, ImageError> {
        match status {
            200..=299 => answer(body),
            408 => Err(ImageError::Unavailable("HTTP 408".into())),
            429 => Err(rate_limited(body)),
            400..=499 => Err(ImageError::Refused {
                status: Some(status),
                reason: error_message(body),
            }),
            500..=599 => Err(ImageError::Unavailable(format!("HTTP {status}"))),
            _ => Err(ImageError::Malformed(format!(
                "unexpected HTTP status {status}"
            ))),
        }
    }

    fn answer(body: &str) -> Result<Answer, ImageError> {
        let value: Value = serde_json::from_str(body)
            .map_err(|e| ImageError::Malformed(format!("the response is not JSON: {e}")))?;
        let first = &value["data"][0];
        if let Some(data) = first["b64_json"].as_str().filter(|d| !d.is_empty()) {
            return decode_base64(data).map(Answer::Bytes);
        }
        if let Some(url) = first["url"].as_str() {
            if url.starts_with("https://") || url.starts_with("http://") {
                return Ok(Answer::Url(url.to_owned()));
            }
            return Err(ImageError::Malformed(
                "data[0].url is not an http(s) URL".into(),
            ));
        }
        if let Some(message) = value["error"]["message"].as_str() {
            return Err(ImageError::Malformed(format!(
                "the provider reported an error: {}",
                clean_message(message)
            )));
        }
        Err(ImageError::Malformed(
            "the response has neither data[0].b64_json nor data[0].url".into(),
        ))
    }

    /// OpenAI answers 429 for a rate limit and for a used-up quota or budget; only the first
    /// passes with time.
    fn rate_limited(body: &str) -> ImageError {
        let value: Value = serde_json::from_str(body).unwrap_or_default();
        let code = value["error"]["code"].as_str().unwrap_or_default();
        if matches!(code, "insufficient_quota" | "billing_hard_limit_reached") {
            return ImageError::Refused {
                status: Some(429),
                reason: error_message(body),
            };
        }
        ImageError::RateLimited {
            retry_after_seconds: None,
        }
    }

    /// The provider's own words ([`observe::remote::openai_error`]), with `error.code` when
    /// it has one (such as `content_policy_violation`).
    fn error_message(body: &str) -> String {
        let read = remote::openai_error(body, MAX_REASON_CHARS);
        let message = read
            .message
            .unwrap_or_else(|| "the response gave no reason".to_owned());
        match read.code {
            Some(code) => format!("{code}: {message}"),
            None => message,
        }
    }
}

/// The Workers AI binding's text-to-image models: flux-1-schnell answers `{ image: base64
/// JPEG }`, stable-diffusion-xl answers PNG bytes as a stream; the shell reads a stream or
/// bytes itself and hands an object to [`workers_ai::parse_object`].
pub mod workers_ai {
    use super::*;

    pub const DEFAULT_MODEL: &str = "@cf/black-forest-labs/flux-1-schnell";

    /// flux-1-schnell accepts prompts of at most 2,048 characters.
    pub const MAX_PROMPT_CHARS: usize = 2_048;

    pub fn input(prompt: &str) -> Value {
        let prompt: String = prompt.chars().take(MAX_PROMPT_CHARS).collect();
        json!({ "prompt": prompt })
    }

    /// The image in an object answer: `image` (the binding) or `result.image` (the REST API).
    pub fn parse_object(output: &Value) -> Result<Vec<u8>, ImageError> {
        let image = output["image"]
            .as_str()
            .or_else(|| output["result"]["image"].as_str());
        match image {
            Some(data) if !data.is_empty() => decode_base64(data),
            _ => Err(ImageError::Malformed(
                "the Workers AI answer has no image".into(),
            )),
        }
    }

    /// Classifies the error the binding threw, by the internal code in its message
    /// (developers.cloudflare.com/workers-ai/platform/errors) or its words.
    pub fn classify_error(message: &str) -> ImageError {
        let reason = clean_message(message);
        let lower = message.to_ascii_lowercase();
        if ["nsfw", "safety", "content policy", "inappropriate"]
            .iter()
            .any(|w| lower.contains(w))
        {
            return ImageError::Refused {
                status: None,
                reason,
            };
        }
        match internal_code(message) {
            // Out of capacity, or the account's daily allocation used up.
            Some(3040 | 3036) => ImageError::RateLimited {
                retry_after_seconds: None,
            },
            Some(3007 | 3008) => ImageError::Unavailable(reason),
            // Bad input, unknown or forbidden model, a request too large, an account blocked.
            Some(
                3003 | 3006 | 3010 | 3023 | 3039 | 3041 | 3042 | 5004 | 5005 | 5007 | 5016 | 5018
                | 5019,
            ) => ImageError::Refused {
                status: None,
                reason,
            },
            _ => ImageError::Unavailable(reason),
        }
    }

    /// The first four-digit number from 3000 to 5999 in the message.
    fn internal_code(message: &str) -> Option<u16> {
        message
            .split(|c: char| !c.is_ascii_digit())
            .filter(|digits| digits.len() == 4)
            .filter_map(|digits| digits.parse().ok())
            .find(|code| (3000..6000).contains(code))
    }
}

#[cfg(test)]
mod tests;
