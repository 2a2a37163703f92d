//! Bearer-token authentication for every API route.

use worker::{Env, Request};

use crate::reply::ApiError;

/// Fails closed: without a configured `API_TOKEN` no API route answers.
pub fn require_bearer(req: &Request, env: &Env) -> Result<(), ApiError> {
    let expected = platform::config::optional(env, "API_TOKEN")
        .ok_or_else(|| ApiError::NotConfigured("API_TOKEN is not set; the API is closed".into()))?;
    let header = req.headers().get("authorization")?.unwrap_or_default();
    // The scheme name is case-insensitive (RFC 9110, section 11.1).
    let given = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => "",
    };
    if !given.is_empty() && constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// Compares in time that depends only on the lengths, so the token cannot be guessed byte by
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
