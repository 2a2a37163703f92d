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
}

impl ApiConfig {
    pub fn from_env(env: &Env) -> Result<Self, ApiError> {
        Ok(Self {
            default_language: or_default(env, "DEFAULT_LANGUAGE", "ja"),
            max_hashtags: max_hashtags(env)?,
            writer: Writer::from_env(env)?,
            model_timeout_ms: number(env, "LLM_TIMEOUT_MS", 30_000)
                .map_err(ApiError::NotConfigured)?,
        })
    }
}

/// The hashtag cap alone, for routes that show drafts and need no caption writer.
pub fn max_hashtags(env: &Env) -> Result<usize, ApiError> {
    let max_hashtags =
        number(env, "MAX_HASHTAGS", DEFAULT_MAX_HASHTAGS).map_err(ApiError::NotConfigured)?;
    if max_hashtags > HARD_MAX_HASHTAGS {
        return Err(ApiError::NotConfigured(format!(
            "setting MAX_HASHTAGS is {max_hashtags}, Instagram allows at most {HARD_MAX_HASHTAGS}"
        )));
    }
    Ok(max_hashtags)
}
