//! Limits on guessing credentials, with Workers' Rate Limiting bindings (`[[ratelimits]]` in
//! `wrangler/api.toml`; the local runtime implements the same binding).
//!
//! - `SIGN_IN_LIMIT`: every sign-in attempt, per client, counted before the token is
//!   compared: a client over it cannot sign in even with the right token.
//! - `AUTH_FAILURE_LIMIT`: bearer and sign-in failures per client.
//! - `AUTH_FAILURE_ALL_LIMIT`: the same failures from all clients together, so guesses spread
//!   over many addresses are bounded too.
//! - `AUTH_NAME_LIMIT`: per name given, from any client: every sign-in attempt (counted before
//!   the token is compared, so a name over it cannot sign in even with the right token, from
//!   anywhere), and bearer failures that name a reviewer in `X-Reviewer`. A name that is no
//!   reviewer's is counted the same way under its own key, so the answers do not tell who is
//!   a reviewer. The key is a hash of the name's `domain::credentials::name_key`, so a token
//!   typed as a name is not sent to the limiter either.
//!
//! A failure over a limit is answered 429 with `Retry-After` instead of 401. Bearer requests
//! that succeed are not counted (an automation may call often); tokens carry at least 128
//! bits (`domain::credentials`), so the limit bounds the noise and makes it visible rather
//! than being the only thing between a guesser and a token. Every failure is logged with the
//! client, the name given (`domain::credentials::name_for_log`) and what failed, never the
//! token.

use domain::credentials::{name_for_log, name_key};
use platform::clock::sha256_hex;
use worker::{Env, Request};

use crate::reply::ApiError;

const SIGN_IN: &str = "SIGN_IN_LIMIT";
const FAILURES: &str = "AUTH_FAILURE_LIMIT";
const FAILURES_ALL: &str = "AUTH_FAILURE_ALL_LIMIT";
const NAMES: &str = "AUTH_NAME_LIMIT";
/// The bindings' period: a client over a limit waits at most this long.
pub const PERIOD_SECONDS: u64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure<'a> {
    /// A sign-in whose name and token are not a reviewer's. The name was counted already, as
    /// an attempt (`attempt`).
    SignIn { name: &'a str },
    /// A bearer token that is no credential, or, with `X-Reviewer`, not that reviewer's.
    Bearer { name: Option<&'a str> },
}

impl<'a> Failure<'a> {
    fn words(self) -> &'static str {
        match self {
            Failure::SignIn { .. } => "a sign-in's name and token matched no reviewer",
            Failure::Bearer { name: None } => "a bearer token matched no credential",
            Failure::Bearer { name: Some(_) } => {
                "a bearer token was not the token of the reviewer named in X-Reviewer"
            }
        }
    }

    fn name(self) -> Option<&'a str> {
        match self {
            Failure::SignIn { name } => Some(name),
            Failure::Bearer { name } => name,
        }
    }
}

/// A given name as the log shows it: plain, bounded, and never something that could be a
/// token.
fn logged(name: &str) -> String {
    name_for_log(name).map_or_else(
        || "(a name shaped like a token, not shown)".into(),
        |name| format!("{name:?}"),
    )
}

/// The limiter's key for a given name: the same for every spelling `name_key` makes equal.
async fn name_limit_key(name: &str) -> String {
    match sha256_hex(name_key(name).as_bytes()).await {
        Ok(hash) => format!("name:{hash}"),
        Err(error) => {
            worker::console_error!("rate limit {NAMES}: the name could not be hashed ({error})");
            "name:unhashed".into()
        }
    }
}

/// The client as Cloudflare saw it (`CF-Connecting-IP`, which a client cannot set itself).
fn client(req: &Request) -> String {
    req.headers()
        .get("cf-connecting-ip")
        .ok()
        .flatten()
        .filter(|ip| !ip.is_empty() && ip.len() <= 64)
        .unwrap_or_else(|| "unknown".into())
}

/// Counts one call against `binding` for `key`; whether it is still within the limit. A
/// missing binding or a failing limiter lets the call through, with a log line.
async fn within(env: &Env, binding: &str, key: String) -> bool {
    let limiter = match env.rate_limiter(binding) {
        Ok(limiter) => limiter,
        Err(error) => {
            worker::console_error!("rate limit {binding} is not bound ({error}); not limiting");
            return true;
        }
    };
    match limiter.limit(key).await {
        Ok(outcome) => outcome.success,
        Err(error) => {
            worker::console_error!("rate limit {binding} failed ({error}); not limiting");
            true
        }
    }
}

fn too_many() -> ApiError {
    ApiError::TooManyAttempts {
        retry_after_seconds: PERIOD_SECONDS,
    }
}

/// A sign-in attempt as `name`, counted per client and per name before its token is
/// compared: over either limit, even the right token is refused.
pub async fn attempt(req: &Request, env: &Env, name: &str) -> Result<(), ApiError> {
    let client = client(req);
    if !within(env, SIGN_IN, format!("client:{client}")).await {
        worker::console_warn!("auth: sign-in refused for client {client}: too many attempts");
        return Err(too_many());
    }
    if !within(env, NAMES, name_limit_key(name).await).await {
        worker::console_warn!(
            "auth: sign-in refused for name {} (client {client}): too many attempts for this name",
            logged(name)
        );
        return Err(too_many());
    }
    Ok(())
}

/// Records a failed credential: counted per client, for all clients and, for a bearer token
/// with `X-Reviewer`, per name; logged with the client and the name, without the token. The
/// error to answer with: 401, or 429 once over a limit.
pub async fn failed(req: &Request, env: &Env, failure: Failure<'_>) -> ApiError {
    let client = client(req);
    let path = req.path();
    let per_client = within(env, FAILURES, format!("client:{client}")).await;
    let all = within(env, FAILURES_ALL, "all".into()).await;
    let per_name = match failure {
        Failure::Bearer { name: Some(name) } => {
            within(env, NAMES, name_limit_key(name).await).await
        }
        // A sign-in's name was counted with the attempt.
        _ => true,
    };
    let within_limits = per_client && all && per_name;
    let name = failure
        .name()
        .map_or(String::new(), |name| format!("name {}, ", logged(name)));
    worker::console_warn!(
        "auth: {} ({name}client {client}, {} {path}){}",
        failure.words(),
        req.method(),
        if within_limits {
            ""
        } else {
            "; over the failure limit"
        }
    );
    if within_limits {
        ApiError::Unauthorized
    } else {
        too_many()
    }
}
