//! How a call to a model provider can fail, classified by what the caller should do about it.

use domain::backoff::retry_after_seconds;
use observe::remote::{self, Class};

/// The longest provider message kept in an error; provider bodies can be whole HTML pages.
pub const MAX_MESSAGE_CHARS: usize = 200;

/// A failed call to a model provider. Messages never contain request headers or keys: the
/// parsers never see them, and provider messages that echo a key are redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("the model provider did not answer in time")]
    Timeout,
    #[error("the model provider is rate limiting requests{}", retry_hint(*.retry_after_seconds))]
    RateLimited { retry_after_seconds: Option<u64> },
    #[error("the model provider is unavailable (HTTP {status})")]
    Unavailable { status: u16 },
    #[error("the model provider rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("the model provider's response was not usable: {0}")]
    Malformed(String),
    #[error("could not reach the model provider: {0}")]
    Transport(String),
}

fn retry_hint(seconds: Option<u64>) -> String {
    seconds
        .map(|s| format!(", retry after {s} seconds"))
        .unwrap_or_default()
}

impl ModelError {
    /// What the caller should do about it, in the classes all remote errors share.
    pub fn class(&self) -> Class {
        match self {
            ModelError::Timeout => Class::Timeout,
            ModelError::RateLimited { .. } => Class::RateLimited,
            ModelError::Unavailable { .. } => Class::Unavailable,
            ModelError::Rejected { .. } => Class::Refused,
            ModelError::Malformed(_) => Class::Malformed,
            ModelError::Transport(_) => Class::Transport,
        }
    }

    /// Fills in the wait from a `Retry-After` header, which only the shell sees; the header
    /// wins over a hint found in the body. Other errors are returned unchanged.
    pub fn with_retry_after(self, header: Option<&str>) -> Self {
        match (self, header.and_then(retry_after_seconds)) {
            (ModelError::RateLimited { .. }, Some(seconds)) => ModelError::RateLimited {
                retry_after_seconds: Some(seconds),
            },
            (error, _) => error,
        }
    }
}

/// Makes a provider's text fit for an error message: keys and tokens redacted, one line, at
/// most [`MAX_MESSAGE_CHARS`] characters ([`observe::remote::clean_message`]).
pub(crate) fn clean_message(text: &str) -> String {
    remote::clean_message(text, MAX_MESSAGE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(error: ModelError, expect: &str) {
        assert_eq!(error.to_string(), expect, "{error:?}");
    }

    #[test]
    fn messages() {
        check(
            ModelError::Timeout,
            "the model provider did not answer in time",
        );
        check(
            ModelError::RateLimited {
                retry_after_seconds: None,
            },
            "the model provider is rate limiting requests",
        );
        check(
            ModelError::RateLimited {
                retry_after_seconds: Some(20),
            },
            "the model provider is rate limiting requests, retry after 20 seconds",
        );
        check(
            ModelError::Unavailable { status: 503 },
            "the model provider is unavailable (HTTP 503)",
        );
        check(
            ModelError::Rejected {
                status: 400,
                message: "bad model".to_owned(),
            },
            "the model provider rejected the request (HTTP 400): bad model",
        );
        check(
            ModelError::Malformed("the model refused: no".to_owned()),
            "the model provider's response was not usable: the model refused: no",
        );
        check(
            ModelError::Transport("connection reset".to_owned()),
            "could not reach the model provider: connection reset",
        );
    }

    fn check_retry_after(error: ModelError, header: Option<&str>, expect: ModelError) {
        assert_eq!(error.with_retry_after(header), expect, "{header:?}");
    }

    #[test]
    fn retry_after_header_fills_in_rate_limits_only() {
        let limited = |s| ModelError::RateLimited {
            retry_after_seconds: s,
        };
        check_retry_after(limited(None), Some(" 30 "), limited(Some(30)));
        check_retry_after(limited(Some(2)), Some("30"), limited(Some(30)));
        check_retry_after(limited(Some(2)), None, limited(Some(2)));
        check_retry_after(
            limited(None),
            Some("Wed, 21 Oct 2015 07:28:00 GMT"),
            limited(None),
        );
        check_retry_after(ModelError::Timeout, Some("30"), ModelError::Timeout);
    }

    fn check_clean(text: &str, expect: &str) {
        assert_eq!(clean_message(text), expect, "{text:?}");
    }

    #[test]
    fn clean_message_redacts_keys_and_truncates() {
        check_clean(
            "Incorrect API key provided: sk-proj-****abcd. You can find your API key at https://x.",
            "Incorrect API key provided: [redacted]. You can find your API key at https://x.",
        );
        check_clean("token 'sk-abc' is bad", "token '[redacted]' is bad");
        check_clean(
            "invalid credentials (api_key=sk-abc123)",
            "invalid credentials (api_key=[redacted])",
        );
        check_clean(
            "header Authorization: Bearer abc123 rejected",
            "header Authorization: Bearer [redacted] rejected",
        );
        check_clean("line one\n\n  line two", "line one line two");
        check_clean(&"é".repeat(300), &format!("{}…", "é".repeat(199)));
        check_clean(&"é".repeat(200), &"é".repeat(200));
    }
}
