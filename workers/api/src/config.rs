//! The api Worker's settings, read once per request from `[vars]` and secrets.

use domain::content::{DEFAULT_MAX_HASHTAGS, HARD_MAX_HASHTAGS};
use platform::config::{number, or_default};
use worker::Env;

use crate::model::Writer;
use crate::reply::ApiError;

pub struct ApiConfig {
    pub default_language: String,
    pub max_hashtags: usize,
    pub writer: Writer,
    pub model_timeout_ms: u64,
    /// How long an idempotency key is remembered (`IDEMPOTENCY_KEY_TTL_HOURS`, default 24).
    pub idempotency_key_ttl: time::Duration,
}

impl ApiConfig {
    pub fn from_env(env: &Env) -> Result<Self, ApiError> {
        Ok(Self {
            default_language: default_language(env)?,
            max_hashtags: max_hashtags(env)?,
            writer: Writer::from_env(env)?,
            model_timeout_ms: number(env, "LLM_TIMEOUT_MS", 30_000)?,
            idempotency_key_ttl: idempotency_key_ttl(env)?,
        })
    }
}

/// The hashtag cap alone, for routes that show drafts and need no caption writer.
pub fn max_hashtags(env: &Env) -> Result<usize, ApiError> {
    let max_hashtags = number(env, "MAX_HASHTAGS", DEFAULT_MAX_HASHTAGS)?;
    if max_hashtags > HARD_MAX_HASHTAGS {
        return Err(ApiError::NotConfigured(format!(
            "setting MAX_HASHTAGS is {max_hashtags}, Instagram allows at most {HARD_MAX_HASHTAGS}"
        )));
    }
    Ok(max_hashtags)
}

pub fn idempotency_key_ttl(env: &Env) -> Result<time::Duration, ApiError> {
    let hours: u32 = number(env, "IDEMPOTENCY_KEY_TTL_HOURS", 24)?;
    if hours == 0 {
        return Err(ApiError::NotConfigured(
            "setting IDEMPOTENCY_KEY_TTL_HOURS must be at least 1".into(),
        ));
    }
    Ok(time::Duration::hours(i64::from(hours)))
}

/// `DEFAULT_LANGUAGE`, checked like a request's `language` and in canonical case.
pub fn default_language(env: &Env) -> Result<String, ApiError> {
    let tag = or_default(env, "DEFAULT_LANGUAGE", "ja");
    generation::canonical_language(&tag).ok_or_else(|| {
        ApiError::NotConfigured(format!(
            "setting DEFAULT_LANGUAGE is {tag:?}, expected a language tag such as \"ja\" or \"en-US\""
        ))
    })
}

/// The settings the OpenAPI document states.
pub struct DocumentedConfig {
    pub max_hashtags: usize,
    pub default_language: String,
}

impl DocumentedConfig {
    pub fn from_env(env: &Env) -> Result<Self, ApiError> {
        Ok(Self {
            max_hashtags: max_hashtags(env)?,
            default_language: default_language(env)?,
        })
    }
}
