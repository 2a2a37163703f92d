//! Who is calling: the API's bearer token, or a reviewer signed in on the review page.
//!
//! Reviewers are configured in the secret `REVIEWERS` as `name:token` pairs, one per line or
//! separated by commas. Signing in with a token starts a session: a random id in an
//! `HttpOnly; Secure; SameSite=Strict` cookie, its SHA-256 in D1 with an expiry. A request
//! authenticated by the cookie that changes something must also come from this origin
//! (`Origin`), so no other site can make a signed-in browser act.

use platform::clock::{now, random_hex, sha256_hex};
use platform::config::number;
use platform::sessions::SessionStore;
use worker::{Env, Method, Request};

use crate::reply::ApiError;

pub const SESSION_COOKIE: &str = "review_session";
/// The name recorded on what the bearer token does.
pub const API_ACTOR: &str = "api";
const MIN_TOKEN_CHARS: usize = 16;
const MAX_NAME_CHARS: usize = 40;

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Recorded on comments and approvals (`approved_by`).
    pub name: String,
    pub via: Via,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    BearerToken,
    Session,
}

/// Fails closed: without a configured `API_TOKEN` no API route answers to a bearer token.
pub fn require_bearer(req: &Request, env: &Env) -> Result<Actor, ApiError> {
    let expected = platform::config::optional(env, "API_TOKEN")
        .ok_or_else(|| ApiError::NotConfigured("API_TOKEN is not set; the API is closed".into()))?;
    let given = bearer(req)?;
    if !given.is_empty() && constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(Actor {
            name: API_ACTOR.into(),
            via: Via::BearerToken,
        })
    } else {
        Err(ApiError::Unauthorized)
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

/// The bearer token if one is sent, else a reviewer's session (the review page calls the
/// same JSON API). A session's state-changing request must come from this origin.
pub async fn require_token_or_session(req: &Request, env: &Env) -> Result<Actor, ApiError> {
    if req.headers().get("authorization")?.is_some() {
        return require_bearer(req, env);
    }
    match session(req, env).await? {
        Some(actor) => {
            require_same_origin(req)?;
            Ok(actor)
        }
        None => Err(ApiError::Unauthorized),
    }
}

/// The signed-in reviewer, if the request carries a live session.
pub async fn session(req: &Request, env: &Env) -> Result<Option<Actor>, ApiError> {
    let Some(id) = session_id(req)? else {
        return Ok(None);
    };
    let id_hash = sha256_hex(id.as_bytes()).await?;
    let sessions = SessionStore::from_env(env)?;
    let Some(name) = sessions.reviewer(&id_hash, now()).await? else {
        return Ok(None);
    };
    // Someone taken off REVIEWERS is signed out at once, whatever their session says.
    let still_a_reviewer = reviewers(env).is_ok_and(|list| list.iter().any(|(n, _)| *n == name));
    if !still_a_reviewer {
        sessions.delete(&id_hash).await?;
        return Ok(None);
    }
    Ok(Some(Actor {
        name,
        via: Via::Session,
    }))
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
    if origin.as_deref() == Some(crate::drafts::origin(req).as_str()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "a signed-in change must come from the review page itself (Origin)".into(),
        ))
    }
}

/// Signs in with a reviewer's token: the session id for the cookie and its lifetime.
pub async fn sign_in(env: &Env, token: &str) -> Result<(String, Actor, u64), ApiError> {
    let reviewers = reviewers(env)?;
    // Every configured token is compared, in constant time, whichever matches.
    let mut found = None;
    for (name, expected) in &reviewers {
        if constant_time_eq(token.trim().as_bytes(), expected.as_bytes()) {
            found = Some(name.clone());
        }
    }
    let name = found.ok_or(ApiError::Unauthorized)?;
    let hours: u64 = number(env, "REVIEW_SESSION_HOURS", 12).map_err(ApiError::NotConfigured)?;
    let seconds = hours.clamp(1, 24 * 30) * 3600;
    let id = random_hex::<32>();
    let started = now();
    SessionStore::from_env(env)?
        .create(
            &sha256_hex(id.as_bytes()).await?,
            &name,
            started,
            started + time::Duration::seconds(seconds as i64),
        )
        .await?;
    Ok((
        id,
        Actor {
            name,
            via: Via::Session,
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

pub fn session_cookie(id: &str, max_age_seconds: u64) -> String {
    format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age_seconds}"
    )
}

pub fn cleared_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

fn reviewers(env: &Env) -> Result<Vec<(String, String)>, ApiError> {
    let text = platform::config::optional(env, "REVIEWERS").ok_or_else(|| {
        ApiError::NotConfigured("REVIEWERS is not set; nobody can sign in to review".into())
    })?;
    parse_reviewers(&text).map_err(ApiError::NotConfigured)
}

/// `name:token` pairs, one per line or separated by commas. Names are what comments and
/// approvals record; tokens are long random secrets.
pub fn parse_reviewers(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut reviewers: Vec<(String, String)> = Vec::new();
    for (i, entry) in text
        .split(['\n', ','])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .enumerate()
    {
        let n = i + 1;
        let (name, token) = entry
            .split_once(':')
            .ok_or_else(|| format!("REVIEWERS entry {n} is not name:token"))?;
        let (name, token) = (name.trim(), token.trim());
        let name_ok = !name.is_empty()
            && name.chars().count() <= MAX_NAME_CHARS
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || " ._-".contains(c));
        if !name_ok {
            return Err(format!(
                "REVIEWERS entry {n}: the name must be 1 to {MAX_NAME_CHARS} letters, digits, spaces, '.', '_' or '-'"
            ));
        }
        if token.chars().count() < MIN_TOKEN_CHARS || token.chars().any(char::is_whitespace) {
            return Err(format!(
                "REVIEWERS entry {n} ({name}): the token must be at least {MIN_TOKEN_CHARS} characters without spaces"
            ));
        }
        if reviewers.iter().any(|(other, _)| other == name) {
            return Err(format!("REVIEWERS names {name} twice"));
        }
        if reviewers.iter().any(|(_, other)| other == token) {
            return Err(format!(
                "REVIEWERS entry {n} ({name}) reuses another reviewer's token"
            ));
        }
        reviewers.push((name.to_owned(), token.to_owned()));
    }
    if reviewers.is_empty() {
        return Err("REVIEWERS lists nobody".into());
    }
    Ok(reviewers)
}

/// Compares in time that depends only on the lengths, so a token cannot be guessed byte by
/// byte from response times.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        difference |= usize::from(x ^ y);
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviewer_lists() {
        let check = |text: &str, expected: Result<&[(&str, &str)], &str>| {
            let got = parse_reviewers(text);
            match expected {
                Ok(pairs) => {
                    let pairs: Vec<(String, String)> = pairs
                        .iter()
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .collect();
                    assert_eq!(got, Ok(pairs), "{text}");
                }
                Err(reason) => {
                    let error = got.expect_err(text);
                    assert!(error.contains(reason), "{text}: {error}");
                }
            }
        };
        check(
            "Aiko Tanaka:0123456789abcdef0123\nbob:fedcba9876543210fedc",
            Ok(&[
                ("Aiko Tanaka", "0123456789abcdef0123"),
                ("bob", "fedcba9876543210fedc"),
            ]),
        );
        check(
            " 佐藤 : 0123456789abcdef , x:aaaaaaaaaaaaaaaaaaaa ",
            Ok(&[("佐藤", "0123456789abcdef"), ("x", "aaaaaaaaaaaaaaaaaaaa")]),
        );
        check("", Err("lists nobody"));
        check("alice", Err("not name:token"));
        check("alice:short", Err("at least 16"));
        check("<b>:0123456789abcdef", Err("the name must be"));
        check(
            "a:0123456789abcdef,a:fedcba9876543210",
            Err("names a twice"),
        );
        check(
            "a:0123456789abcdef,b:0123456789abcdef",
            Err("reuses another"),
        );
    }

    #[test]
    fn equal_only_when_equal() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret-tokem"));
        assert!(!constant_time_eq(b"secret-token", b"secret-token-longer"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
