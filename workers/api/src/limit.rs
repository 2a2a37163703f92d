//! Limits on guessing credentials, with Workers' Rate Limiting bindings (`[[ratelimits]]` in
//! `wrangler/api.toml`; the local runtime implements the same binding).
//!
//! - `SIGN_IN_LIMIT`: every sign-in attempt, per client, counted before the token is
//!   compared: a client over it cannot sign in even with the right token.
//! - `AUTH_FAILURE_LIMIT`: bearer and sign-in failures per client.
//! - `AUTH_FAILURE_ALL_LIMIT`: the same failures from all clients together, so guesses spread
//!   over many addresses are bounded too.
//!
//! A failure over a limit is answered 429 with `Retry-After` instead of 401. Bearer requests
//! that succeed are not counted (an automation may call often); tokens carry at least 128
//! bits (`domain::credentials`), so the limit bounds the noise and makes it visible rather
//! than being the only thing between a guesser and a token. Every failure is logged with the
//! client and what failed, never the token.

use worker::{Env, Request};

use crate::reply::ApiError;

const SIGN_IN: &str = "SIGN_IN_LIMIT";
const FAILURES: &str = "AUTH_FAILURE_LIMIT";
const FAILURES_ALL: &str = "AUTH_FAILURE_ALL_LIMIT";
/// The bindings' period: a client over a limit waits at most this long.
pub const PERIOD_SECONDS: u64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    SignIn,
    Bearer,
}

impl Failure {
    fn words(self) -> &'static str {
        match self {
            Failure::SignIn => "a sign-in token matched no reviewer",
            Failure::Bearer => "a bearer token matched no credential",
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

/// A sign-in attempt, counted before its token is compared.
pub async fn attempt(req: &Request, env: &Env) -> Result<(), ApiError> {
    let client = client(req);
    if within(env, SIGN_IN, format!("client:{client}")).await {
        Ok(())
    } else {
        worker::console_warn!("auth: sign-in refused for client {client}: too many attempts");
        Err(too_many())
    }
}

/// Records a failed credential: counted per client and for all clients, logged without the
/// token. The error to answer with: 401, or 429 once over a limit.
pub async fn failed(req: &Request, env: &Env, failure: Failure) -> ApiError {
    let client = client(req);
    let path = req.path();
    let per_client = within(env, FAILURES, format!("client:{client}")).await;
    let all = within(env, FAILURES_ALL, "all".into()).await;
    worker::console_warn!(
        "auth: {} (client {client}, {} {path}){}",
        failure.words(),
        req.method(),
        if per_client && all {
            ""
        } else {
            "; over the failure limit"
        }
    );
    if per_client && all {
        ApiError::Unauthorized
    } else {
        too_many()
    }
}
