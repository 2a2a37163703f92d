//! Errors from outside (a chat model, an image provider, the Graph API), the parts every
//! caller of a remote service shares: the classes a failure falls into, and how a remote's own
//! words are made fit for an error message (token shapes redacted, one line, cut short).
//! `generation::ModelError`, `media::provider::ImageError` and `instagram::GraphError` keep
//! their own variants, which the Workers match on; each says its [`Class`] here.

use serde_json::Value;

use crate::redact::redact_token_shapes;

/// What a caller should do about a failed call to a remote service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// No answer within the deadline: ask again later.
    Timeout,
    /// The remote asks for fewer requests: ask again after its wait.
    RateLimited,
    /// The remote is down or overloaded: ask again later.
    Unavailable,
    /// The remote will not do this (a bad request, a key or quota it refuses): asking again
    /// gives the same answer.
    Refused,
    /// The answer came but cannot be used.
    Malformed,
    /// The remote could not be reached.
    Transport,
}

impl Class {
    /// Whether asking again cannot help.
    pub fn is_permanent(self) -> bool {
        matches!(self, Class::Refused | Class::Malformed)
    }
}

/// Makes a remote's text fit for an error message: token shapes redacted
/// ([`redact_token_shapes`]), one line, at most `max` characters. Redaction comes first, so a
/// cut cannot leave part of a token behind in a shape the redaction no longer recognises.
pub fn clean_message(text: &str, max: usize) -> String {
    let text = redact_token_shapes(text);
    let words: Vec<&str> = text.split_whitespace().collect();
    truncate(&words.join(" "), max)
}

/// Cuts `text` to at most `max` characters (`char`s), marking the cut with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    if max > 0 {
        cut.push('…');
    }
    cut
}

/// An OpenAI-compatible error body's own words: `error.message` as OpenAI sends it, or the
/// forms compatible providers use (`error` as a string, `message`, `detail`), else the body
/// itself; cleaned, and `None` when nothing is left. With it, `error.code` when there is one
/// (`insufficient_quota`, `content_policy_violation`).
pub fn openai_error(body: &str, max: usize) -> OpenAiError {
    let value: Value = serde_json::from_str(body).unwrap_or_default();
    let message = value["error"]["message"]
        .as_str()
        .or_else(|| value["error"].as_str())
        .or_else(|| value["message"].as_str())
        .or_else(|| value["detail"].as_str())
        .unwrap_or(body);
    OpenAiError {
        message: Some(clean_message(message, max)).filter(|m| !m.is_empty()),
        code: value["error"]["code"]
            .as_str()
            .filter(|code| !code.is_empty())
            .map(str::to_owned),
    }
}

/// What [`openai_error`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiError {
    pub message: Option<String>,
    pub code: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_redacted_joined_and_cut() {
        assert_eq!(clean_message("a\n  b\tc", 10), "a b c");
        assert_eq!(
            clean_message("header Authorization: Bearer abc123 rejected", 100),
            "header Authorization: Bearer [redacted] rejected"
        );
        assert_eq!(
            clean_message("token 'sk-abc' is bad", 100),
            "token '[redacted]' is bad"
        );
        assert_eq!(clean_message(&"é".repeat(5), 5), "ééééé");
        assert_eq!(clean_message(&"é".repeat(6), 5), "éééé…");
        assert_eq!(clean_message("ab   cd", 4), "ab…");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn an_openai_error_body_is_read_in_each_form() {
        let read = |body: &str| openai_error(body, 100);
        assert_eq!(
            read(r#"{"error":{"message":"bad key sk-abc123","code":"invalid_api_key"}}"#),
            OpenAiError {
                message: Some("bad key [redacted]".into()),
                code: Some("invalid_api_key".into())
            }
        );
        assert_eq!(read(r#"{"error":"down"}"#).message.as_deref(), Some("down"));
        assert_eq!(read(r#"{"message":"m"}"#).message.as_deref(), Some("m"));
        assert_eq!(read(r#"{"detail":"d"}"#).message.as_deref(), Some("d"));
        assert_eq!(
            read("<html> oops </html>").message.as_deref(),
            Some("<html> oops </html>")
        );
        assert_eq!(
            read(r#"{"error":{"message":"  ","code":""}}"#),
            OpenAiError {
                message: None,
                code: None
            }
        );
        assert!(Class::Refused.is_permanent() && !Class::Timeout.is_permanent());
    }
}
