//! Reading the Graph API's answers: new ids, container status, the publishing quota and
//! permalinks. Each parser takes the status, the `Retry-After` header and the body text.

use domain::publish::Reading;
use domain::timestamp::parse_rfc3339;
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::{Class, GraphError, build, classify, clean_message, subcode_class};

/// The id in the answer to a container creation (step 1) or to `media_publish` (step 3,
/// the published media's id): `{"id": "17889455560051444"}`.
///
/// After `media_publish`, an error other than [`GraphError::NotReady`] does not prove that
/// nothing was published: read the container status before publishing again.
pub fn parse_created_id(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
) -> Result<String, GraphError> {
    let value = success(status, retry_after, body)?;
    match &value["id"] {
        Value::String(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        // Ids are strings in Meta's answers; a number would lose digits in JavaScript, not here.
        Value::Number(id) => Ok(id.to_string()),
        _ => Err(malformed("the response has no id")),
    }
}

/// A container's `status_code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerStatus {
    /// Meta is still fetching or processing the image: poll again.
    InProgress,
    /// Ready for `media_publish`.
    Finished,
    /// Processing failed; `subcode` is read from the `status` text, `detail` is that text.
    Error {
        subcode: Option<i64>,
        detail: String,
    },
    /// Not published within 24 hours.
    Expired,
    /// Already published: after a doubtful `media_publish`, this is the proof it went out.
    Published,
}

impl ContainerStatus {
    /// What the status means to the publish workflow (`domain::publish`).
    pub fn reading(&self) -> Reading {
        match self {
            ContainerStatus::InProgress => Reading::InProgress,
            ContainerStatus::Finished => Reading::Finished,
            ContainerStatus::Published => Reading::Published,
            ContainerStatus::Expired | ContainerStatus::Error { .. } => {
                let failure = self.failure();
                Reading::Dead {
                    new_container_helps: matches!(
                        failure,
                        Some(GraphError::NeedsNewContainer { .. })
                    ),
                    reason: failure.map_or_else(String::new, |f| f.to_string()),
                }
            }
        }
    }

    /// Meta's spelling, for logs and D1.
    pub fn status_code(&self) -> &'static str {
        match self {
            ContainerStatus::InProgress => "IN_PROGRESS",
            ContainerStatus::Finished => "FINISHED",
            ContainerStatus::Error { .. } => "ERROR",
            ContainerStatus::Expired => "EXPIRED",
            ContainerStatus::Published => "PUBLISHED",
        }
    }

    /// Why this container can never be published, or `None` while it still can be (or
    /// already was). `EXPIRED` and `ERROR` need a new container, except an `ERROR` whose
    /// subcode says the image, caption or account is refused: a new container would fail the
    /// same way and count against the 400 containers allowed per 24 hours.
    pub fn failure(&self) -> Option<GraphError> {
        match self {
            ContainerStatus::InProgress
            | ContainerStatus::Finished
            | ContainerStatus::Published => None,
            ContainerStatus::Expired => Some(GraphError::NeedsNewContainer {
                code: None,
                subcode: None,
                message: "the container expired before it was published".to_owned(),
            }),
            ContainerStatus::Error { subcode, detail } => {
                let class = match subcode.and_then(subcode_class) {
                    Some(Class::Permanent) => Class::Permanent,
                    _ => Class::NeedsNewContainer,
                };
                let message = if detail.is_empty() {
                    "the container status is ERROR".to_owned()
                } else {
                    detail.clone()
                };
                Some(build(class, None, *subcode, None, message))
            }
        }
    }
}

/// The answer to `GET /{container}?fields=status_code,status`, for example
/// `{"status_code": "ERROR", "status": "Error: ... 2207003", "id": "..."}`.
pub fn parse_container_status(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
) -> Result<ContainerStatus, GraphError> {
    let value = success(status, retry_after, body)?;
    let Some(code) = value["status_code"].as_str() else {
        return Err(malformed("the response has no status_code"));
    };
    Ok(match code {
        "IN_PROGRESS" => ContainerStatus::InProgress,
        "FINISHED" => ContainerStatus::Finished,
        "EXPIRED" => ContainerStatus::Expired,
        "PUBLISHED" => ContainerStatus::Published,
        "ERROR" => {
            let detail = value["status"]
                .as_str()
                .map(clean_message)
                .unwrap_or_default();
            ContainerStatus::Error {
                subcode: status_subcode(&detail),
                detail,
            }
        }
        other => {
            return Err(malformed(&format!(
                "unknown container status_code {}",
                clean_message(other)
            )));
        }
    })
}

/// Publishing subcodes have seven digits (2207xxx); container and media ids are longer, and
/// limits quoted in the text ("8 MB", "1440 px") shorter.
fn status_subcode(text: &str) -> Option<i64> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|digits| digits.len() == 7)
        .and_then(|digits| digits.parse().ok())
}

/// How much of the rolling 24-hour publishing quota is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishingLimit {
    /// Posts published in the current window.
    pub quota_usage: u32,
    /// `config.quota_total`: posts allowed per window, when Meta says.
    pub quota_total: Option<u32>,
    /// `config.quota_duration`: the window in seconds, when Meta says.
    pub quota_duration_seconds: Option<u32>,
}

impl PublishingLimit {
    /// Posts still allowed in the window; `None` when the total is unknown.
    pub fn remaining(&self) -> Option<u32> {
        self.quota_total
            .map(|total| total.saturating_sub(self.quota_usage))
    }
}

/// The answer to `GET /{user}/content_publishing_limit?fields=quota_usage,config`:
/// `{"data": [{"quota_usage": 2, "config": {"quota_total": 100, "quota_duration": 86400}}]}`.
pub fn parse_publishing_limit(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
) -> Result<PublishingLimit, GraphError> {
    let value = success(status, retry_after, body)?;
    let limit = match &value["data"] {
        Value::Array(items) => match items.first() {
            Some(limit) => limit,
            None => return Err(malformed("the response's data is empty")),
        },
        // Tolerates a fake server or proxy that drops the `data` wrapper.
        _ => &value,
    };
    let number = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    let Some(quota_usage) = number(&limit["quota_usage"]) else {
        return Err(malformed("the response has no quota_usage"));
    };
    Ok(PublishingLimit {
        quota_usage,
        quota_total: number(&limit["config"]["quota_total"]),
        quota_duration_seconds: number(&limit["config"]["quota_duration"]),
    })
}

/// The answer to `GET /{media}?fields=permalink`:
/// `{"permalink": "https://www.instagram.com/p/C3xYz/", "id": "..."}`.
pub fn parse_permalink(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
) -> Result<String, GraphError> {
    let value = success(status, retry_after, body)?;
    match value["permalink"].as_str().map(str::trim) {
        Some(permalink) if !permalink.is_empty() => Ok(permalink.to_owned()),
        _ => Err(malformed("the response has no permalink")),
    }
}

/// One post of the account, as `GET /{user}/media?fields=id,caption,timestamp` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaItem {
    pub id: String,
    /// Empty for a post without a caption.
    pub caption: String,
    pub timestamp: Option<String>,
}

impl MediaItem {
    /// When the post went out, if its timestamp reads as one.
    pub fn published_at(&self) -> Option<OffsetDateTime> {
        self.timestamp.as_deref().and_then(instagram_time)
    }
}

/// Instagram's timestamps (`2026-02-14T09:12:45+0000`): RFC 3339 but for the offset's colon,
/// within the years `domain::timestamp` accepts.
pub fn instagram_time(text: &str) -> Option<OffsetDateTime> {
    if let Ok(at) = parse_rfc3339(text) {
        return Some(at);
    }
    let (head, offset) = text.split_at_checked(text.len().checked_sub(5)?)?;
    let (sign, digits) = offset.split_at_checked(1)?;
    if !matches!(sign, "+" | "-") || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    parse_rfc3339(&format!("{head}{sign}{}:{}", &digits[..2], &digits[2..])).ok()
}

/// A page of the account's media, and the cursor of the next page if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPage {
    pub items: Vec<MediaItem>,
    pub after: Option<String>,
}

/// The answer to `GET /{user}/media`: `{"data": [{"id": "...", "caption": "...",
/// "timestamp": "..."}], "paging": {"cursors": {"after": "..."}, "next": "..."}}`, newest
/// first. Entries without an id are skipped; without `paging.next` there is no next page.
pub fn parse_media_page(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
) -> Result<MediaPage, GraphError> {
    let value = success(status, retry_after, body)?;
    let Value::Array(items) = &value["data"] else {
        return Err(malformed("the response has no data list"));
    };
    let after = match (
        &value["paging"]["next"],
        &value["paging"]["cursors"]["after"],
    ) {
        (Value::String(_), Value::String(cursor)) if !cursor.is_empty() => Some(cursor.clone()),
        _ => None,
    };
    let items = items
        .iter()
        .filter_map(|item| {
            Some(MediaItem {
                id: item_id(item)?,
                caption: item["caption"].as_str().unwrap_or_default().to_owned(),
                timestamp: item["timestamp"].as_str().map(str::to_owned),
            })
        })
        .collect();
    Ok(MediaPage { items, after })
}

/// A listed item's id: a non-empty string or a number; `None` skips the item.
fn item_id(item: &Value) -> Option<String> {
    match &item["id"] {
        Value::String(id) if !id.trim().is_empty() => Some(id.trim().to_owned()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

/// A comment on a post, as `GET /{media-id}/comments` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: String,
    pub text: String,
}

/// The answer to `GET /{media-id}/comments`: `{"data": [{"id": "...", "text": "..."}]}`.
/// Entries without an id are skipped.
pub fn parse_comments(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
) -> Result<Vec<Comment>, GraphError> {
    let value = success(status, retry_after, body)?;
    let Value::Array(items) = &value["data"] else {
        return Err(malformed("the response has no data list"));
    };
    Ok(items
        .iter()
        .filter_map(|item| {
            Some(Comment {
                id: item_id(item)?,
                text: item["text"].as_str().unwrap_or_default().to_owned(),
            })
        })
        .collect())
}

/// The longest token accepted from a refresh: Meta's are a few hundred characters.
pub const MAX_TOKEN_CHARS: usize = 4096;
/// The longest lifetime accepted from a refresh (Meta's is 60 days).
pub const MAX_EXPIRES_IN_SECONDS: u64 = 366 * 24 * 3600;

/// A refreshed access token and how long it lasts. Its `Debug` shows no token.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshedToken {
    pub access_token: String,
    pub expires_in_seconds: u64,
}

impl std::fmt::Debug for RefreshedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshedToken")
            .field("access_token", &"[redacted]")
            .field("expires_in_seconds", &self.expires_in_seconds)
            .finish()
    }
}

/// The answer to `refresh_access_token`:
/// `{"access_token": "IGQV...", "token_type": "bearer", "expires_in": 5183944}`. A token
/// must be 1 to [`MAX_TOKEN_CHARS`] visible ASCII characters and its lifetime 1 s to a
/// year; errors never quote the token.
pub fn parse_refreshed_token(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
) -> Result<RefreshedToken, GraphError> {
    let value = success(status, retry_after, body)?;
    let access_token = match value["access_token"].as_str() {
        Some(token)
            if (1..=MAX_TOKEN_CHARS).contains(&token.len())
                && token.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            token.to_owned()
        }
        Some(_) => return Err(malformed("the refreshed access_token is not a token")),
        None => return Err(malformed("the response has no access_token")),
    };
    let expires_in_seconds = match &value["expires_in"] {
        Value::Number(n) => n
            .as_u64()
            .filter(|s| (1..=MAX_EXPIRES_IN_SECONDS).contains(s))
            .ok_or_else(|| malformed("the response's expires_in is not a lifetime"))?,
        _ => return Err(malformed("the response has no expires_in")),
    };
    Ok(RefreshedToken {
        access_token,
        expires_in_seconds,
    })
}

/// The body of a 2xx answer without an error. Meta sometimes reports an error with HTTP
/// 200, so the body is checked too.
fn success(status: u16, retry_after: Option<&str>, body: &str) -> Result<Value, GraphError> {
    if !(200..=299).contains(&status) {
        return Err(classify(status, retry_after, body));
    }
    let value: Value = serde_json::from_str(body)
        .map_err(|e| malformed(&format!("the response body is not JSON: {e}")))?;
    if !value["error"].is_null() {
        return Err(classify(status, retry_after, body));
    }
    Ok(value)
}

fn malformed(reason: &str) -> GraphError {
    GraphError::Malformed(reason.to_owned())
}

#[cfg(test)]
mod tests;
