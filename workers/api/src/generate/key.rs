//! The request's `Idempotency-Key`: read from its header, claimed with a lease (or found
//! held: a replay of the draft it made, a mismatch, or still running), and the body's
//! fingerprint it is matched on.

use domain::idempotency::{KeyVerdict, judge, lease_for};
use platform::clock::{random_hex, sha256_hex};
use platform::store::{DraftStore, KeyClaim};
use serde_json::Value;
use time::OffsetDateTime;
use worker::{Request, Response};

use crate::config::ApiConfig;
use crate::drafts;
use crate::reply::{self, ApiError};

const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// The request's idempotency key, once this request owns it.
pub(super) struct OwnedKey {
    pub(super) key: String,
    pub(super) owner: String,
}

/// What claiming a request's idempotency key came to, short of an error.
pub(super) enum Claim {
    /// This request runs under the key.
    Owned(OwnedKey),
    /// The key's request finished: its draft is the answer.
    Replay(String),
}

/// Claims `key` for this request with a lease; a key held by another request is a replay of
/// its draft, a mismatch (422) or still running (409 with the wait).
pub(super) async fn claim(
    store: &DraftStore,
    config: &ApiConfig,
    key: &str,
    fingerprint: &str,
    started: OffsetDateTime,
) -> Result<Claim, ApiError> {
    let owner = random_hex::<16>();
    let claimed = store
        .claim_key(&KeyClaim {
            key,
            fingerprint,
            owner: &owner,
            lease_until: started + lease_for(config.model_timeout_ms),
            expires_at: started + config.idempotency_key_ttl,
            now: started,
        })
        .await?;
    if claimed {
        return Ok(Claim::Owned(OwnedKey {
            key: key.to_owned(),
            owner,
        }));
    }
    let verdict = store
        .held_key(key, started)
        .await?
        .map(|held| judge(&held, fingerprint, started));
    match verdict {
        Some(KeyVerdict::Replay { draft_id }) => Ok(Claim::Replay(draft_id)),
        Some(KeyVerdict::Mismatch) => Err(ApiError::Unprocessable(
            "Idempotency-Key was already used with a different request body".into(),
        )),
        Some(KeyVerdict::InProgress {
            retry_after_seconds,
        }) => Err(in_progress(retry_after_seconds)),
        // Another retry took the lapsed key over, or it expired, a moment ago.
        Some(KeyVerdict::TakeOver) | None => Err(in_progress(1)),
    }
}

fn in_progress(retry_after_seconds: u64) -> ApiError {
    ApiError::InProgress {
        message: "a request with this Idempotency-Key is still in progress; retry shortly".into(),
        retry_after_seconds,
    }
}

/// SHA-256 of the body as canonical JSON (keys sorted, no spaces), so a retry that only
/// reorders keys or spacing still matches; a body that is not JSON is hashed as sent.
pub(super) async fn request_fingerprint(body: &[u8]) -> Result<String, ApiError> {
    let canonical = serde_json::from_slice::<Value>(body)
        .map(|value| value.to_string().into_bytes())
        .unwrap_or_else(|_| body.to_vec());
    Ok(sha256_hex(&canonical).await?)
}

/// A repeated request with the same key returns the draft the first one made.
pub(super) async fn replay(
    store: &DraftStore,
    origin: &str,
    config: &ApiConfig,
    draft_id: &str,
) -> Result<Response, ApiError> {
    let id = drafts::parse_id(draft_id)?;
    let row = drafts::visible_row(store, id).await.map_err(|_| {
        ApiError::NotFound(format!(
            "the draft {id} made for this Idempotency-Key no longer exists"
        ))
    })?;
    let view = drafts::view(origin, &row, config.max_hashtags)
        .ok_or_else(|| ApiError::Internal("a visible draft without text".into()))?;
    let mut response = reply::json(200, &view)?;
    response.headers_mut().set("idempotent-replayed", "true")?;
    Ok(response)
}

pub(super) fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(key) = req.headers().get("idempotency-key")? else {
        return Ok(None);
    };
    let valid = !key.is_empty()
        && key.chars().count() <= MAX_IDEMPOTENCY_KEY_CHARS
        && key.chars().all(|c| c.is_ascii_graphic());
    if !valid {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
        )));
    }
    Ok(Some(key))
}
