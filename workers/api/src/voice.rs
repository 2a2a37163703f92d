//! `GET/PUT /api/v1/accounts/{id}/voice`: an account's voice, which generation writes in and
//! edits are checked against (`domain::voice`). A write names the revision it was made on (0
//! before the first), as a draft's edit does: two reviewers never overwrite each other
//! unseen, and the loser gets 409 with the voice as it now is. A reviewer limited to some
//! accounts (`REVIEWERS`) reads and saves only theirs: another account's voice is not found
//! when read (404) and refused when saved (403).

use domain::voice::{RawVoice, Voice};
use generation::FieldError;
use platform::clock::now;
use platform::voice::{StoredVoice, VoiceStore};
use serde_json::{Value, json};
use worker::{Env, Request, Response};

use crate::auth::Actor;
use crate::body;
use crate::reply::{self, ApiError};
use crate::scope::Scope;

/// Three sample captions at Instagram's limit, every character escaped as a surrogate pair
/// (12 bytes), and room for the lists.
pub const MAX_VOICE_BYTES: usize = 128 * 1024;

pub(crate) const FIELDS: [&str; 7] = [
    "revision",
    "language",
    "tone",
    "alwaysHashtags",
    "neverHashtags",
    "avoidWords",
    "sampleCaptions",
];

/// The voice a draft of `account_id` is written in and checked against: its account's, or
/// the default account's for `None`. No account yet, or a stored voice that today's rules
/// refuse (logged), is the empty voice: writing goes on as without one.
pub(crate) async fn of_account(env: &Env, account_id: Option<&str>) -> Result<Voice, ApiError> {
    let stored = VoiceStore::from_env(env)?.for_account(account_id).await?;
    Ok(match stored.map(|s| s.voice()) {
        None => Voice::default(),
        Some(Ok(voice)) => voice,
        Some(Err(problem)) => {
            worker::console_error!("{problem}; writing without it");
            Voice::default()
        }
    })
}

pub async fn get(env: &Env, actor: &Actor, account_id: &str) -> Result<Response, ApiError> {
    guard(env, actor, account_id, false).await?;
    let stored = account(env, account_id).await?;
    reply::json(200, &view(&stored))
}

pub async fn put(
    req: &mut Request,
    env: &Env,
    actor: &Actor,
    account_id: &str,
) -> Result<Response, ApiError> {
    guard(env, actor, account_id, true).await?;
    let body = body::read_json(req, MAX_VOICE_BYTES).await?;
    let (revision, voice) = parse_put(&body).map_err(ApiError::Validation)?;
    let store = VoiceStore::from_env(env)?;
    let raw = voice.to_raw();
    match store
        .put(account_id, &raw, revision, &actor.name, now())
        .await?
    {
        Some(_) => reply::json(200, &view(&account(env, account_id).await?)),
        None => {
            let current = account(env, account_id).await?;
            Err(ApiError::RevisionConflict {
                message: format!(
                    "the voice is at revision {}, not {revision}: someone saved it meanwhile",
                    current.revision
                ),
                current: Box::new(view(&current)),
            })
        }
    }
}

/// Refuses an account outside the caller's: 404 to read its voice, 403 to save it. An
/// account that does not exist is left to the route (its own 404).
async fn guard(env: &Env, actor: &Actor, account_id: &str, acting: bool) -> Result<(), ApiError> {
    if actor.accounts.is_none() {
        return Ok(());
    }
    let accounts = platform::accounts::AccountStore::from_env(env)?
        .all()
        .await?;
    match accounts.iter().find(|a| a.id == account_id) {
        Some(found) if !Scope::of(actor, &accounts).allows_account(found) => Err(if acting {
            ApiError::Forbidden("this account is not one you review".into())
        } else {
            ApiError::NotFound(format!("no account {account_id}"))
        }),
        _ => Ok(()),
    }
}

async fn account(env: &Env, account_id: &str) -> Result<StoredVoice, ApiError> {
    VoiceStore::from_env(env)?
        .for_account(Some(account_id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no account {account_id}")))
}

/// The API's view of an account's voice.
pub(crate) fn view(stored: &StoredVoice) -> Value {
    json!({
        "accountId": stored.account_id,
        "username": stored.username,
        "revision": stored.revision,
        "voice": stored.raw(),
        "updatedBy": stored.updated_by,
        "updatedAt": stored.updated_at,
    })
}

/// The body's shape, then the voice's own bounds, every problem by field path.
pub(crate) fn parse_put(body: &[u8]) -> Result<(i64, Voice), Vec<FieldError>> {
    let (fields, mut problems) = body::object(body, &FIELDS)?;
    let revision = body::counted_revision(
        &fields,
        &mut problems,
        0,
        "the voice you looked at (0 before the first)",
    );
    let list = |name: &str, problems: &mut Vec<FieldError>| -> Vec<String> {
        match fields.get(name) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match item {
                    Value::String(text) => Some(text.clone()),
                    other => {
                        problems.push(body::problem(
                            &format!("{name}[{i}]"),
                            format!("expected a string, got {other}"),
                        ));
                        None
                    }
                })
                .collect(),
            Some(other) => {
                problems.push(body::problem(
                    name,
                    format!("expected an array of strings, got {other}"),
                ));
                Vec::new()
            }
        }
    };
    let raw = RawVoice {
        always_hashtags: list("alwaysHashtags", &mut problems),
        never_hashtags: list("neverHashtags", &mut problems),
        avoid_words: list("avoidWords", &mut problems),
        sample_captions: list("sampleCaptions", &mut problems),
        language: body::string(&fields, "language", &mut problems),
        tone: body::string(&fields, "tone", &mut problems).unwrap_or_default(),
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let voice = Voice::parse(&raw).map_err(|errors| {
        errors
            .iter()
            .map(|e| body::problem(&e.path(), e.to_string()))
            .collect::<Vec<_>>()
    })?;
    match revision {
        Some(revision) => Ok((revision, voice)),
        None => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(body: &str) -> Vec<String> {
        parse_put(body.as_bytes())
            .expect_err("refused")
            .into_iter()
            .map(|p| p.path)
            .collect()
    }

    #[test]
    fn voice_bodies() {
        let (revision, voice) = parse_put(
            br##"{"revision": 0, "language": "ja", "tone": "warm", "alwaysHashtags": ["#Shop"], "avoidWords": ["cheap"]}"##,
        )
        .expect("valid");
        assert_eq!(revision, 0);
        assert_eq!(voice.language(), Some("ja"));
        assert_eq!(voice.always_hashtags()[0].as_ref(), "Shop");
        assert_eq!(
            paths(r#"{"tone": 1, "avoidWords": [2], "x": 0}"#),
            ["x", "revision", "avoidWords[0]", "tone"]
        );
        assert_eq!(
            paths(r#"{"revision": -1, "neverHashtags": "a"}"#),
            ["revision", "neverHashtags"]
        );
        assert_eq!(
            paths(r#"{"revision": 1, "avoidWords": ["ok", " "], "language": "nope!"}"#),
            ["language", "avoidWords[1]"]
        );
    }
}
