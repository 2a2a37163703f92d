//! How a Graph API call can fail, classified by what the caller should do next.

use domain::error_class::ErrorClass;
use domain::publish::Trouble;
use serde_json::Value;

/// The one `Retry-After` reader, shared with the model providers' errors.
pub use domain::backoff::retry_after_seconds;

/// The longest Meta message kept in an error; enough for the reason, short enough for D1.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// A failed Graph API call. `code` and `subcode` are Meta's `error.code` and
/// `error.error_subcode`, kept for logs and D1; they are `None` when the answer carried no
/// Graph error (a bare HTTP 429, a proxy's HTML page, an expired container). Messages are
/// Meta's own words, on one line, redacted and at most [`MAX_MESSAGE_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Meta failed this time; the same call may succeed after a backoff.
    #[error("the Graph API failed temporarily ({}){}", codes(*.code, *.subcode), detail(.message))]
    Transient {
        code: Option<i64>,
        subcode: Option<i64>,
        message: String,
    },
    /// Throttling or the publishing quota: wait (for the window, if known) rather than spend
    /// retries.
    #[error(
        "the Graph API is throttling requests ({}){}{}",
        codes(*.code, *.subcode),
        wait(*.retry_after_seconds),
        detail(.message)
    )]
    RateLimited {
        code: Option<i64>,
        subcode: Option<i64>,
        retry_after_seconds: Option<u64>,
        message: String,
    },
    /// The container is still being processed: keep polling its status, do not publish yet.
    #[error("the container is not ready to publish yet ({}){}", codes(*.code, *.subcode), detail(.message))]
    NotReady {
        code: Option<i64>,
        subcode: Option<i64>,
        message: String,
    },
    /// This container can never be published; only a new container can go on.
    #[error(
        "the container cannot be published, a new container is needed ({}){}",
        codes(*.code, *.subcode),
        detail(.message)
    )]
    NeedsNewContainer {
        code: Option<i64>,
        subcode: Option<i64>,
        message: String,
    },
    /// The token is expired or revoked: stop publishing for the account and tell the operator.
    #[error(
        "the access token is expired or invalid ({}), publishing for this account needs a new token{}",
        codes(*.code, *.subcode),
        detail(.message)
    )]
    TokenInvalid {
        code: Option<i64>,
        subcode: Option<i64>,
        message: String,
    },
    /// The request itself is refused (media, caption, account, permission): retrying the same
    /// request fails the same way.
    #[error("the Graph API refused the request ({}){}", codes(*.code, *.subcode), detail(.message))]
    Permanent {
        code: Option<i64>,
        subcode: Option<i64>,
        message: String,
    },
    /// A server error or timeout that came without a Graph error body.
    #[error("the Graph API is unavailable (HTTP {status})")]
    Unavailable { status: u16 },
    /// A success status whose body is not the documented answer. After a publish this means
    /// the outcome is unknown: read the container status rather than publish again.
    #[error("the Graph API response was not usable: {0}")]
    Malformed(String),
}

fn codes(code: Option<i64>, subcode: Option<i64>) -> String {
    match (code, subcode) {
        (Some(code), Some(subcode)) => format!("code {code}, subcode {subcode}"),
        (Some(code), None) => format!("code {code}"),
        (None, Some(subcode)) => format!("subcode {subcode}"),
        (None, None) => "no error code".to_owned(),
    }
}

fn wait(seconds: Option<u64>) -> String {
    seconds
        .map(|s| format!(", retry after {s} seconds"))
        .unwrap_or_default()
}

fn detail(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// The publishing quota's subcode (with code 9): "max posts per day reached".
pub const QUOTA_SUBCODE: i64 = 2_207_042;

impl GraphError {
    /// Whether this is the publishing quota rather than throttling.
    pub fn is_quota(&self) -> bool {
        matches!(self, GraphError::RateLimited { subcode, .. } if *subcode == Some(QUOTA_SUBCODE))
    }

    /// What the failure means to the publish workflow (`domain::publish`). A 5xx without a
    /// body and an unreadable answer say nothing about whether the call took effect.
    pub fn trouble(&self) -> Trouble {
        let reason = self.to_string();
        match self {
            GraphError::Unavailable { .. } | GraphError::Malformed(_) => Trouble::Unclear(reason),
            GraphError::Transient { .. } => Trouble::Transient(reason),
            GraphError::RateLimited {
                retry_after_seconds,
                ..
            } if self.is_quota() => Trouble::Quota {
                wait: *retry_after_seconds,
                reason,
            },
            GraphError::RateLimited {
                retry_after_seconds,
                ..
            } => Trouble::Throttled {
                wait: *retry_after_seconds,
                reason,
            },
            GraphError::NotReady { .. } => Trouble::NotReady(reason),
            GraphError::NeedsNewContainer { .. } => Trouble::NeedsNewContainer(reason),
            GraphError::TokenInvalid { .. } => Trouble::TokenInvalid(reason),
            GraphError::Permanent { .. } => Trouble::Refused(reason),
        }
    }

    /// Whether the same call may succeed later. A new container, a new token or a changed
    /// request is needed for the others; a malformed answer to a publish is no reason to
    /// publish again.
    pub fn is_retryable(&self) -> bool {
        match self {
            GraphError::Transient { .. }
            | GraphError::RateLimited { .. }
            | GraphError::NotReady { .. }
            | GraphError::Unavailable { .. } => true,
            GraphError::NeedsNewContainer { .. }
            | GraphError::TokenInvalid { .. }
            | GraphError::Permanent { .. }
            | GraphError::Malformed(_) => false,
        }
    }

    /// The class, as `publish_logs.error_class` names it.
    pub fn error_class(&self) -> ErrorClass {
        match self {
            GraphError::Transient { .. } => ErrorClass::Transient,
            GraphError::RateLimited { .. } => ErrorClass::RateLimited,
            GraphError::NotReady { .. } => ErrorClass::NotReady,
            GraphError::NeedsNewContainer { .. } => ErrorClass::NeedsNewContainer,
            GraphError::TokenInvalid { .. } => ErrorClass::TokenInvalid,
            GraphError::Permanent { .. } => ErrorClass::Permanent,
            GraphError::Unavailable { .. } => ErrorClass::Unavailable,
            GraphError::Malformed(_) => ErrorClass::Malformed,
        }
    }

    /// A stable name of the class, for logs, metrics and D1.
    pub fn class(&self) -> &'static str {
        self.error_class().as_str()
    }

    /// Meta's `error.code`, when the answer carried one.
    pub fn code(&self) -> Option<i64> {
        self.codes().0
    }

    /// Meta's `error.error_subcode`, when the answer carried one.
    pub fn subcode(&self) -> Option<i64> {
        self.codes().1
    }

    /// Meta's message, redacted; empty when there was none.
    pub fn message(&self) -> &str {
        match self {
            GraphError::Transient { message, .. }
            | GraphError::RateLimited { message, .. }
            | GraphError::NotReady { message, .. }
            | GraphError::NeedsNewContainer { message, .. }
            | GraphError::TokenInvalid { message, .. }
            | GraphError::Permanent { message, .. } => message,
            GraphError::Unavailable { .. } => "",
            GraphError::Malformed(message) => message,
        }
    }

    /// How long to wait before the next try, when Meta said so.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            GraphError::RateLimited {
                retry_after_seconds,
                ..
            } => *retry_after_seconds,
            _ => None,
        }
    }

    /// Fills in the wait of a rate limit from the `X-Business-Use-Case-Usage` header, which
    /// only the shell sees; the longer of it and `Retry-After` wins. Other errors are
    /// returned unchanged.
    pub fn with_business_use_case_usage(self, header: Option<&str>) -> Self {
        match (self, header.and_then(regain_access_seconds)) {
            (
                GraphError::RateLimited {
                    code,
                    subcode,
                    retry_after_seconds,
                    message,
                },
                Some(seconds),
            ) => GraphError::RateLimited {
                code,
                subcode,
                retry_after_seconds: Some(retry_after_seconds.map_or(seconds, |s| s.max(seconds))),
                message,
            },
            (error, _) => error,
        }
    }

    fn codes(&self) -> (Option<i64>, Option<i64>) {
        match self {
            GraphError::Transient { code, subcode, .. }
            | GraphError::RateLimited { code, subcode, .. }
            | GraphError::NotReady { code, subcode, .. }
            | GraphError::NeedsNewContainer { code, subcode, .. }
            | GraphError::TokenInvalid { code, subcode, .. }
            | GraphError::Permanent { code, subcode, .. } => (*code, *subcode),
            GraphError::Unavailable { .. } | GraphError::Malformed(_) => (None, None),
        }
    }
}

/// The classes a Graph error code or subcode can fall into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Transient,
    RateLimited,
    NotReady,
    NeedsNewContainer,
    TokenInvalid,
    Permanent,
}

/// The class of an Instagram publishing subcode (2207xxx). Meta gives each subcode one
/// meaning while its docs pair some with different codes, so a known subcode decides alone.
pub(crate) fn subcode_class(subcode: i64) -> Option<Class> {
    Some(match subcode {
        // Server error, container creation failed, download timed out, media not fetched, and
        // container not found yet (the caller makes a new container after a retry or two).
        2207001 | 2207032 | 2207003 | 2207052 | 2207008 => Class::Transient,
        // Publishing quota (code 9): nothing passes until the rolling window frees a slot.
        2207042 => Class::RateLimited,
        2207027 => Class::NotReady,
        2207020 => Class::NeedsNewContainer,
        // Image too large, format, aspect ratio, caption too long, too many @-mentions,
        // account restricted, restricted activity (code 4, which otherwise means throttling:
        // retrying suspected spam only makes it worse).
        2207004 | 2207005 | 2207009 | 2207010 | 2207040 | 2207050 | 2207051 => Class::Permanent,
        _ => return None,
    })
}

/// The class of a Graph error code that decides without its subcode.
fn code_class(code: i64) -> Option<Class> {
    Some(match code {
        1 | 2 | 341 => Class::Transient,
        4 | 17 | 32 | 613 | 80000..=80014 => Class::RateLimited,
        102 | 190 => Class::TokenInvalid,
        10 | 200..=299 | 36000 | 36001 => Class::Permanent,
        _ => return None,
    })
}

/// Classifies a failed answer: by the body's `error.code` / `error.error_subcode` when it
/// has them, by the HTTP status otherwise. `retry_after` is the `Retry-After` header. The
/// `parse_*` functions call this for every non-2xx answer and for 2xx answers with an error.
pub fn classify(status: u16, retry_after: Option<&str>, body: &str) -> GraphError {
    let retry_after_seconds = retry_after.and_then(retry_after_seconds);
    let value: Value = serde_json::from_str(body).unwrap_or_default();
    let error = &value["error"];
    let Some(code) = integer(&error["code"]) else {
        return without_graph_error(status, retry_after_seconds, error, body);
    };
    let subcode = integer(&error["error_subcode"]);
    let message = error["message"]
        .as_str()
        .or_else(|| error["error_user_msg"].as_str())
        .map(clean_message)
        .unwrap_or_default();
    let class = subcode
        .and_then(subcode_class)
        .or_else(|| code_class(code))
        .unwrap_or_else(|| {
            // Codes the notes do not name: trust the status, then Meta's own hint.
            if status == 429 {
                Class::RateLimited
            } else if (500..=599).contains(&status) || error["is_transient"] == true {
                Class::Transient
            } else {
                Class::Permanent
            }
        });
    build(class, Some(code), subcode, retry_after_seconds, message)
}

pub(crate) fn build(
    class: Class,
    code: Option<i64>,
    subcode: Option<i64>,
    retry_after_seconds: Option<u64>,
    message: String,
) -> GraphError {
    match class {
        Class::Transient => GraphError::Transient {
            code,
            subcode,
            message,
        },
        Class::RateLimited => GraphError::RateLimited {
            code,
            subcode,
            retry_after_seconds,
            message,
        },
        Class::NotReady => GraphError::NotReady {
            code,
            subcode,
            message,
        },
        Class::NeedsNewContainer => GraphError::NeedsNewContainer {
            code,
            subcode,
            message,
        },
        Class::TokenInvalid => GraphError::TokenInvalid {
            code,
            subcode,
            message,
        },
        Class::Permanent => GraphError::Permanent {
            code,
            subcode,
            message,
        },
    }
}

/// An answer without a Graph error code: a bare 429, a proxy's page, an empty body.
fn without_graph_error(
    status: u16,
    retry_after_seconds: Option<u64>,
    error: &Value,
    body: &str,
) -> GraphError {
    let text = error["message"].as_str().unwrap_or(body);
    let message = if text.trim().is_empty() {
        format!("HTTP {status} with no error body")
    } else {
        clean_message(&format!("HTTP {status}: {text}"))
    };
    match status {
        429 => GraphError::RateLimited {
            code: None,
            subcode: None,
            retry_after_seconds,
            message,
        },
        408 | 500..=599 => GraphError::Unavailable { status },
        400..=499 => GraphError::Permanent {
            code: None,
            subcode: None,
            message,
        },
        200..=299 => {
            GraphError::Malformed("the response is neither a result nor a Graph API error".into())
        }
        _ => GraphError::Malformed(format!("unexpected HTTP status {status}")),
    }
}

/// Meta sends codes as numbers; a string of digits is accepted too.
fn integer(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Reads the wait out of an `X-Business-Use-Case-Usage` header, whose
/// `estimated_time_to_regain_access` is in minutes, per business id and usage type; the
/// longest wait counts. `None` when nothing is throttled.
pub fn regain_access_seconds(header: &str) -> Option<u64> {
    let value: Value = serde_json::from_str(header).ok()?;
    let minutes = value
        .as_object()?
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|usage| usage["estimated_time_to_regain_access"].as_u64())
        .max()?;
    (minutes > 0).then(|| minutes.saturating_mul(60))
}

/// Makes Meta's text fit for an error message: tokens redacted, one line, at most
/// [`MAX_MESSAGE_CHARS`] characters ([`observe::remote::clean_message`]).
pub(crate) fn clean_message(text: &str) -> String {
    observe::remote::clean_message(text, MAX_MESSAGE_CHARS)
}

#[cfg(test)]
mod tests;
