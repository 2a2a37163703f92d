//! Who is calling: the automation's `API_TOKEN`, a reviewer's own token, or a reviewer signed
//! in on the review page.
//!
//! Reviewers are configured in the secret `REVIEWERS` as `name:token` pairs (see
//! `domain::credentials`). A reviewer's token works as a bearer token, so a script can act for
//! a person, and signs that person in on the review page. Signing in starts a session: a
//! random id in an `HttpOnly; Secure; SameSite=Strict` `__Host-` cookie; D1 keeps its SHA-256
//! and a fingerprint of the token it was made with, so a changed or removed token ends the
//! session at its next request. A request authenticated by the cookie that changes something
//! must also come from this origin (`Origin`), so no other site can make a signed-in browser
//! act.
//!
//! Approving, re-approving, rescheduling and withdrawing are a person's decisions: the
//! `API_TOKEN` may generate, read and edit, but gets 403 there.

use domain::account::AccountRef;
use domain::credentials::{Reviewer, check_secret, name_key, parse_reviewers};
use platform::clock::{now, random_hex, sha256_hex};
use platform::config::number;
use platform::sessions::{NewSession, SessionStore};
use worker::{Env, Method, Request};

use crate::limit::{self, Failure};
use crate::reply::ApiError;

/// `__Host-`: the browser keeps it only if it is `Secure`, has `Path=/` and no `Domain`, so
/// no other host (a sibling subdomain) can set or shadow it.
pub const SESSION_COOKIE: &str = "__Host-review_session";
/// The name recorded on what the `API_TOKEN` does.
pub const API_ACTOR: &str = "api";

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Recorded on comments and decisions (`approved_by`).
    pub name: String,
    pub via: Via,
    /// The accounts a reviewer is limited to (`REVIEWERS`); `None`: every account.
    pub accounts: Option<Vec<AccountRef>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The automation's `API_TOKEN`: no person.
    ApiToken,
    /// A reviewer's own token, as a bearer token.
    ReviewerToken,
    /// A reviewer's session from the review page.
    Session,
    /// A client's approval link, for the drafts it names (`client_link`).
    ClientLink,
}

impl Actor {
    /// A named person, not the automation.
    pub fn is_reviewer(&self) -> bool {
        self.via != Via::ApiToken
    }
}

/// The `API_TOKEN`, if set. A weak one closes the API with an error naming the variable.
fn api_token(env: &Env) -> Result<Option<String>, ApiError> {
    let Some(token) = platform::config::optional(env, "API_TOKEN") else {
        return Ok(None);
    };
    check_secret(&token).map_err(|weakness| {
        worker::console_error!(
            "API_TOKEN {weakness}; the API refuses every bearer token until it is replaced"
        );
        ApiError::NotConfigured(format!(
            "API_TOKEN {weakness}; the API is closed until it is replaced"
        ))
    })?;
    Ok(Some(token))
}

/// The reviewers. A list that cannot be read is logged (by entry number, never a name or a
/// token) and answered with a message that says nothing about it.
pub fn reviewers(env: &Env) -> Result<Vec<Reviewer>, ApiError> {
    let text = platform::config::optional(env, "REVIEWERS").ok_or_else(|| {
        ApiError::NotConfigured("no reviewers are configured; nobody can sign in to review".into())
    })?;
    parse_reviewers(&text).map_err(|error| {
        worker::console_error!("{error}; nobody can sign in to review until it is fixed");
        ApiError::NotConfigured(
            "reviewers are not configured correctly; the operator finds why in the Worker's log"
                .into(),
        )
    })
}

/// The header with which a script names the reviewer whose token it sends.
pub const REVIEWER_HEADER: &str = "x-reviewer";

/// Whoever the bearer token belongs to: the automation or a reviewer. Every configured
/// token is compared, in constant time, whichever matches. With `X-Reviewer`, the token must
/// be that reviewer's. A failure is counted against the client and, with `X-Reviewer`, against
/// the name (see `limit`).
pub async fn bearer_actor(req: &Request, env: &Env) -> Result<Actor, ApiError> {
    let given = bearer(req)?;
    let named = req.headers().get(REVIEWER_HEADER)?;
    let api = api_token(env)?;
    let people = reviewers(env).unwrap_or_default();
    let mut found = None;
    if let Some(api) = &api
        && constant_time_eq(given.as_bytes(), api.as_bytes())
        && named.is_none()
    {
        found = Some(Actor {
            name: API_ACTOR.into(),
            via: Via::ApiToken,
            accounts: None,
        });
    }
    if let Some(reviewer) = matching_reviewer(&people, named.as_deref(), &given) {
        found = Some(Actor {
            name: reviewer.name.clone(),
            via: Via::ReviewerToken,
            accounts: reviewer.accounts.clone(),
        });
    }
    match found {
        Some(actor) if !given.is_empty() => Ok(actor),
        // Fails closed: without `API_TOKEN` only reviewers' own tokens open anything.
        _ if api.is_none() && named.is_none() => Err(ApiError::NotConfigured(
            "API_TOKEN is not set; the API is closed".into(),
        )),
        // No token at all is no guess: not counted.
        _ if given.is_empty() => Err(ApiError::Unauthorized),
        _ => {
            let failure = Failure::Bearer {
                name: named.as_deref(),
            };
            Err(limit::failed(req, env, failure).await)
        }
    }
}

/// The reviewer whose token `token` is, and, when a name is given, whose name it is too (by
/// `name_key`). Every reviewer's token and name are compared, in constant time, whoever
/// matches, so the work is the same whether the name is a reviewer's or not.
fn matching_reviewer<'a>(
    people: &'a [Reviewer],
    name: Option<&str>,
    token: &str,
) -> Option<&'a Reviewer> {
    let name = name.map(name_key);
    let mut found = None;
    for reviewer in people {
        let token_matches = constant_time_eq(token.as_bytes(), reviewer.token.as_bytes());
        let name_matches = name.as_ref().is_none_or(|name| {
            constant_time_eq(name.as_bytes(), name_key(&reviewer.name).as_bytes())
        });
        if token_matches & name_matches {
            found = Some(reviewer);
        }
    }
    found.filter(|_| !token.is_empty())
}

/// Only the `API_TOKEN` (generate, the OpenAPI document).
pub async fn require_api_token(req: &Request, env: &Env) -> Result<Actor, ApiError> {
    let actor = bearer_actor(req, env).await?;
    if actor.via == Via::ApiToken {
        Ok(actor)
    } else {
        Err(ApiError::Forbidden(
            "this route takes the API_TOKEN; a reviewer's token is for reviewing".into(),
        ))
    }
}

fn bearer(req: &Request) -> Result<String, ApiError> {
    let header = req.headers().get("authorization")?.unwrap_or_default();
    Ok(bearer_token(&header).to_owned())
}

/// The token of an `Authorization: Bearer <token>` header; empty for any other header.
pub(crate) fn bearer_token(header: &str) -> &str {
    // The scheme name is case-insensitive (RFC 9110, section 11.1).
    match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => "",
    }
}

/// A bearer token (the `API_TOKEN` or a reviewer's) if one is sent, else a reviewer's session
/// (the review page calls the same JSON API). A session's state-changing request must come
/// from this origin.
pub async fn require_any(req: &Request, env: &Env) -> Result<Actor, ApiError> {
    if req.headers().get("authorization")?.is_some() {
        return bearer_actor(req, env).await;
    }
    match session(req, env).await? {
        Some(actor) => {
            require_same_origin(req)?;
            Ok(actor)
        }
        None => Err(ApiError::Unauthorized),
    }
}

/// A named reviewer, by session or by their own token: the `API_TOKEN` is refused (403).
pub async fn require_reviewer(req: &Request, env: &Env) -> Result<Actor, ApiError> {
    let actor = require_any(req, env).await?;
    if actor.is_reviewer() {
        Ok(actor)
    } else {
        Err(ApiError::Forbidden(
            "approving, re-approving, rescheduling and withdrawing are a reviewer's decisions: send a reviewer's own token (REVIEWERS) or use the review page; the API_TOKEN cannot".into(),
        ))
    }
}

/// The fingerprint of the token a session was made with: SHA-256 of the session's secret id
/// and the token, so the stored value alone is no help in guessing the token.
async fn token_fingerprint(session_id: &str, token: &str) -> Result<String, ApiError> {
    Ok(sha256_hex(format!("{session_id}\n{token}").as_bytes()).await?)
}

/// The signed-in reviewer, if the request carries a live session made with the reviewer's
/// current token. A session whose reviewer was removed, or whose token changed, ends here.
pub async fn session(req: &Request, env: &Env) -> Result<Option<Actor>, ApiError> {
    let Some(id) = session_id(req)? else {
        return Ok(None);
    };
    let id_hash = sha256_hex(id.as_bytes()).await?;
    let sessions = SessionStore::from_env(env)?;
    let Some(live) = sessions.live(&id_hash, now()).await? else {
        return Ok(None);
    };
    let people = reviewers(env).unwrap_or_default();
    let reviewer = people.iter().find(|r| r.name == live.reviewer);
    let current = match reviewer {
        Some(reviewer) => Some(token_fingerprint(&id, &reviewer.token).await?),
        None => None,
    };
    let still_valid = current.is_some_and(|fingerprint| {
        constant_time_eq(fingerprint.as_bytes(), live.token_fingerprint.as_bytes())
    });
    if !still_valid {
        sessions.delete(&id_hash).await?;
        worker::console_log!(
            "review session of {} ended: the reviewer's token changed or was removed",
            live.reviewer
        );
        return Ok(None);
    }
    Ok(Some(Actor {
        name: live.reviewer,
        via: Via::Session,
        accounts: reviewer.and_then(|r| r.accounts.clone()),
    }))
}

/// The SHA-256 of the request's session id, which an Instagram Login is bound to.
pub async fn session_sha256(req: &Request) -> Result<Option<String>, ApiError> {
    match session_id(req)? {
        Some(id) => Ok(Some(sha256_hex(id.as_bytes()).await?)),
        None => Ok(None),
    }
}

fn session_id(req: &Request) -> Result<Option<String>, ApiError> {
    let cookies = req.headers().get("cookie")?.unwrap_or_default();
    Ok(session_id_in(&cookies))
}

/// The session id of a `Cookie` header, if it holds one of the form this Worker gives out.
pub(crate) fn session_id_in(cookies: &str) -> Option<String> {
    cookies
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Refuses a state-changing request whose `Origin` is not this Worker's own: with a cookie,
/// a browser would otherwise act for any page that posts here.
pub fn require_same_origin(req: &Request) -> Result<(), ApiError> {
    if matches!(req.method(), Method::Get | Method::Head | Method::Options) {
        return Ok(());
    }
    let origin = req.headers().get("origin")?;
    if origin.as_deref() == Some(crate::origin::origin(req).as_str()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "a signed-in change must come from the review page itself (Origin)".into(),
        ))
    }
}

/// Signs in with a reviewer's name and token: the session id for the cookie and its
/// lifetime. Every attempt counts against the client's and the name's limits before the token
/// is compared; a name that is no reviewer's is counted and answered the same way.
pub async fn sign_in(
    req: &Request,
    env: &Env,
    name: &str,
    token: &str,
) -> Result<(String, Actor, u64), ApiError> {
    limit::attempt(req, env, name).await?;
    let reviewers = reviewers(env)?;
    let Some(reviewer) = matching_reviewer(&reviewers, Some(name), token.trim()) else {
        return Err(limit::failed(req, env, Failure::SignIn { name }).await);
    };
    let hours: u64 = number(env, "REVIEW_SESSION_HOURS", 12)?;
    let seconds = hours.clamp(1, 24 * 30) * 3600;
    let id = random_hex::<32>();
    let started = now();
    SessionStore::from_env(env)?
        .create(&NewSession {
            id_hash: &sha256_hex(id.as_bytes()).await?,
            reviewer: &reviewer.name,
            token_fingerprint: &token_fingerprint(&id, &reviewer.token).await?,
            now: started,
            expires_at: started + time::Duration::seconds(seconds as i64),
        })
        .await?;
    Ok((
        id,
        Actor {
            name: reviewer.name.clone(),
            via: Via::Session,
            accounts: reviewer.accounts.clone(),
        },
        seconds,
    ))
}

pub async fn sign_out(req: &Request, env: &Env) -> Result<(), ApiError> {
    if let Some(id) = session_id(req)? {
        SessionStore::from_env(env)?
            .delete(&sha256_hex(id.as_bytes()).await?)
            .await?;
    }
    Ok(())
}

/// Ends every session of the signed-in reviewer, on every device.
pub async fn sign_out_everywhere(env: &Env, actor: &Actor) -> Result<usize, ApiError> {
    let ended = SessionStore::from_env(env)?
        .delete_all_of(&actor.name)
        .await?;
    worker::console_log!("{} signed out everywhere ({ended} sessions)", actor.name);
    Ok(ended)
}

pub fn session_cookie(id: &str, max_age_seconds: u64) -> String {
    format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age_seconds}"
    )
}

pub fn cleared_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

/// Compares in time that depends only on the lengths (`subtle`), so a token cannot be guessed
/// byte by byte from response times.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_only_when_equal() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret-tokem"));
        assert!(!constant_time_eq(b"secret-token", b"secret-token-longer"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn the_session_cookie_is_host_only() {
        let cookie = session_cookie(&"a".repeat(64), 60);
        assert!(cookie.starts_with("__Host-"), "{cookie}");
        for part in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
            assert!(cookie.contains(part), "{cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
    }
}
