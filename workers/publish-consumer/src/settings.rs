//! The publish consumer's configuration, from `[vars]` and secrets, read once per batch.
//!
//! Accounts and their tokens live in D1 `accounts` (`crate::accounts`), sealed with
//! `TOKEN_ENCRYPTION_KEY`, which is required. The account the settings name
//! (`INSTAGRAM_ACCOUNT_ID` and the secret `INSTAGRAM_ACCESS_TOKEN`) is brought into D1 at the
//! start of every batch and run, so a deploy from before accounts keeps publishing. Without
//! `INSTAGRAM_ACCOUNT_ID` that account is the local Graph API simulator's
//! (`scripts/graph-simulator`, tests/fakes/graph-api.mjs), taken only while no other account
//! exists, and the log says so: a Worker cannot reach 127.0.0.1 once deployed, so nothing is
//! ever published to the real Instagram by accident.

use domain::backoff::{Backoff, QUEUE_MAX_DELAY_SECONDS};
use domain::publish::Policy;
use platform::config::{number, optional, or_default};
use time::OffsetDateTime;
use vault::{KEY_SETTING, KeyError, KeyRing, PREVIOUS_KEY_SETTING};
use worker::Env;

/// The simulator's defaults (tests/fakes/graph-api.mjs: DEFAULT_PORT, DEFAULT_TOKEN,
/// DEFAULT_USER_ID).
pub const SIMULATOR_BASE_URL: &str = "http://127.0.0.1:8790";
pub const SIMULATOR_TOKEN: &str = "local-simulator-token";
pub const SIMULATOR_ACCOUNT_ID: &str = "17841405822304914";
/// Where `scripts/dev` serves the api Worker, and with it `/media/{key}`.
pub const LOCAL_MEDIA_BASE_URL: &str = "http://127.0.0.1:8787";

/// The account the settings name, brought into D1 `accounts`.
pub struct SettingsAccount {
    pub user_id: String,
    /// The secret `INSTAGRAM_ACCESS_TOKEN` (or the simulator's); redacted from traces.
    pub token: String,
    /// `GRAPH_API_BASE_URL`.
    pub base_url: String,
    /// `INSTAGRAM_TOKEN_EXPIRES_AT`, if set: the secret's expiry, taken with it.
    pub expires_at: Option<OffsetDateTime>,
}

impl SettingsAccount {
    /// Facebook Login's host says `facebook`; everything else is Instagram Login.
    pub fn login(&self) -> &'static str {
        if self.base_url.contains("graph.facebook.com") {
            "facebook"
        } else {
            "instagram"
        }
    }
}

/// Why the settings cannot be used: every message waits in the queue for a fixed config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("INSTAGRAM_ACCOUNT_ID is set but the secret INSTAGRAM_ACCESS_TOKEN is not")]
    NoToken,
    /// `TOKEN_ENCRYPTION_KEY` (or the previous key) is missing or not a key.
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(
        "setting INSTAGRAM_TOKEN_EXPIRES_AT is {0:?}, expected an RFC 3339 time between 2010 and 2100 such as 2030-01-31T09:00:00Z"
    )]
    ExpiresAt(String),
    /// A numeric setting that does not parse, in `platform::config::number`'s words.
    #[error("{0}")]
    NotANumber(platform::config::NotANumber),
    #[error("setting PUBLISH_MAX_ATTEMPTS must be at least 1")]
    NoAttempts,
    #[error(
        "PUBLISH_CRASH_AFTER is a fault for tests against the local simulator; it is refused with INSTAGRAM_ACCOUNT_ID set"
    )]
    CrashAfterRefused,
    #[error("PUBLISH_CRASH_AFTER: {0:?} is not draft:point")]
    CrashAfterPair(String),
}

pub struct Settings {
    /// The path's version segment of every Graph call (`GRAPH_API_VERSION`).
    pub api_version: String,
    pub account: SettingsAccount,
    /// `TOKEN_ENCRYPTION_KEY` and, while tokens are re-encrypted, the previous key.
    pub keys: KeyRing,
    /// No account is configured: the settings' account is the local simulator's.
    pub simulator: bool,
    /// The public origin of the api Worker, whose `/media/{key}` Meta downloads.
    pub public_media_base_url: String,
    /// The rules of the publish machine, from `PUBLISH_MAX_ATTEMPTS` (attempts in all, the
    /// first included), `PUBLISH_RETRY_BASE_SECONDS` (the delay before the second attempt,
    /// before jitter; it doubles with each), `PUBLISH_POLL_SECONDS`, `PUBLISH_MAX_POLLS`,
    /// `PUBLISH_QUOTA_WAIT_SECONDS`, `PUBLISH_SETTLE_SECONDS`, `PUBLISH_THROTTLE_LIMIT_SECONDS`
    /// and `PUBLISH_UNRESOLVED_ALERT_SECONDS`.
    pub policy: Policy,
    /// How long a claim on a draft lasts (`PUBLISH_LEASE_SECONDS`).
    pub lease_seconds: u32,
    /// The most a Graph API call may take, answer body included.
    pub graph_timeout_ms: u64,
    /// Where a run stops dead, as `(draft id, point)` pairs (`PUBLISH_CRASH_AFTER`,
    /// `draft:point,...`): the crash-point tests' fault, accepted only with the simulator.
    pub crash_after: Vec<(String, String)>,
    /// The image consumer's `IMAGE_PROVIDER`: a draft without items whose one image it drew
    /// carries Instagram's "AI info" label, unless that is the offline placeholder.
    pub image_provider: String,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let number =
            |name: &str, default| number(env, name, default).map_err(SettingsError::NotANumber);
        let account = optional(env, "INSTAGRAM_ACCOUNT_ID");
        let simulator = account.is_none();
        let (user_id, token, default_base) = match account {
            Some(account) => {
                let token =
                    optional(env, "INSTAGRAM_ACCESS_TOKEN").ok_or(SettingsError::NoToken)?;
                (account, token, "https://graph.instagram.com")
            }
            None => (
                SIMULATOR_ACCOUNT_ID.to_owned(),
                or_default(env, "INSTAGRAM_ACCESS_TOKEN", SIMULATOR_TOKEN),
                SIMULATOR_BASE_URL,
            ),
        };
        let keys = KeyRing::parse(
            optional(env, KEY_SETTING).as_deref(),
            optional(env, PREVIOUS_KEY_SETTING).as_deref(),
        )?;
        let expires_at = match optional(env, "INSTAGRAM_TOKEN_EXPIRES_AT") {
            None => None,
            Some(text) => Some(
                domain::timestamp::parse_rfc3339(&text)
                    .map_err(|_| SettingsError::ExpiresAt(text))?,
            ),
        };
        let max_attempts = number("PUBLISH_MAX_ATTEMPTS", Backoff::PUBLISH.max_attempts)?;
        if max_attempts == 0 {
            return Err(SettingsError::NoAttempts);
        }
        let seconds = |name: &str, default: u32| -> Result<u32, SettingsError> {
            Ok(number(name, default)?.min(QUEUE_MAX_DELAY_SECONDS))
        };
        Ok(Self {
            api_version: or_default(env, "GRAPH_API_VERSION", "v25.0"),
            account: SettingsAccount {
                user_id,
                token,
                base_url: or_default(env, "GRAPH_API_BASE_URL", default_base),
                expires_at,
            },
            keys,
            simulator,
            public_media_base_url: or_default(env, "PUBLIC_MEDIA_BASE_URL", LOCAL_MEDIA_BASE_URL)
                .trim_end_matches('/')
                .to_owned(),
            policy: Policy {
                backoff: Backoff {
                    max_attempts,
                    base_seconds: seconds(
                        "PUBLISH_RETRY_BASE_SECONDS",
                        Backoff::PUBLISH.base_seconds,
                    )?
                    .max(1),
                    ..Backoff::PUBLISH
                },
                poll_seconds: seconds("PUBLISH_POLL_SECONDS", 10)?.max(1),
                max_polls: number("PUBLISH_MAX_POLLS", 30)?,
                quota_wait_seconds: seconds("PUBLISH_QUOTA_WAIT_SECONDS", 3_600)?.max(1),
                settle_seconds: seconds("PUBLISH_SETTLE_SECONDS", 300)?,
                throttle_limit_seconds: number("PUBLISH_THROTTLE_LIMIT_SECONDS", 21_600)?,
                unresolved_alert_seconds: number("PUBLISH_UNRESOLVED_ALERT_SECONDS", 900)?,
            },
            lease_seconds: seconds("PUBLISH_LEASE_SECONDS", 120)?.max(1),
            graph_timeout_ms: platform::config::number(env, "GRAPH_TIMEOUT_MS", 15_000)
                .map_err(SettingsError::NotANumber)?,
            crash_after: crash_after(optional(env, "PUBLISH_CRASH_AFTER"), simulator)?,
            image_provider: or_default(env, "IMAGE_PROVIDER", "placeholder"),
        })
    }

    /// The rules of the publish machine.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The URL Meta downloads the approved image from.
    pub fn image_url(&self, key: &str) -> String {
        format!("{}/media/{key}", self.public_media_base_url)
    }

    /// What must never reach a trace or a log (the accounts' tokens: `Accounts::secrets`).
    pub fn secrets(&self) -> Vec<String> {
        vec![self.account.token.clone()]
    }
}

fn crash_after(
    value: Option<String>,
    simulator: bool,
) -> Result<Vec<(String, String)>, SettingsError> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    if !simulator {
        return Err(SettingsError::CrashAfterRefused);
    }
    value
        .split(',')
        .map(|pair| {
            pair.trim()
                .split_once(':')
                .map(|(draft, point)| (draft.to_owned(), point.to_owned()))
                .ok_or_else(|| SettingsError::CrashAfterPair(pair.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_points_are_pairs_taken_only_with_the_simulator() {
        let some = |text: &str| Some(text.to_owned());
        assert_eq!(
            crash_after(some("d1:container, d2:publish"), true),
            Ok(vec![
                ("d1".into(), "container".into()),
                ("d2".into(), "publish".into())
            ])
        );
        assert_eq!(crash_after(some("  "), false), Ok(Vec::new()));
        assert_eq!(crash_after(None, false), Ok(Vec::new()));
        assert_eq!(
            crash_after(some("d1:container"), false),
            Err(SettingsError::CrashAfterRefused)
        );
        assert_eq!(
            crash_after(some("d1:container,d2"), true),
            Err(SettingsError::CrashAfterPair("d2".into()))
        );
        assert_eq!(
            SettingsError::CrashAfterPair("d2".into()).to_string(),
            "PUBLISH_CRASH_AFTER: \"d2\" is not draft:point"
        );
    }
}
