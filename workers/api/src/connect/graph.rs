//! The outside side of connecting: where Instagram Login and the Graph API are (the
//! settings, the simulator without `INSTAGRAM_APP_ID`), the calls with their typed errors,
//! and a checked token sealed and stored.

use instagram::login::{self, LoginConfig};
use instagram::{GraphError, GraphRequest};
use platform::accounts::{AccountStore, Connected, SealedAccount};
use platform::clock::{now, random_bytes};
use platform::config::{number, optional, or_default};
use platform::http::{HttpError, send_graph};
use time::OffsetDateTime;
use vault::{KEY_SETTING, KeyRing, PREVIOUS_KEY_SETTING};
use worker::Env;

use crate::auth::Actor;
use crate::reply::ApiError;

/// The local simulator (tests/fakes/graph-api.mjs): its default URL, app id and secret.
const SIMULATOR_BASE_URL: &str = "http://127.0.0.1:8790";
const SIMULATOR_APP_ID: &str = "990602627938098";
const SIMULATOR_APP_SECRET: &str = "local-simulator-app-secret";

/// Where connecting goes, and the key that seals tokens.
pub(super) struct Settings {
    pub(super) login: LoginConfig,
    pub(super) facebook_base_url: String,
    pub(super) api_version: String,
    pub(super) timeout_ms: u64,
    pub(super) keys: KeyRing,
}

impl Settings {
    pub(super) fn from_env(env: &Env) -> Result<Self, ApiError> {
        let keys = KeyRing::parse(
            optional(env, KEY_SETTING).as_deref(),
            optional(env, PREVIOUS_KEY_SETTING).as_deref(),
        )
        .map_err(|e| ApiError::NotConfigured(e.to_string()))?;
        let app_id = optional(env, "INSTAGRAM_APP_ID");
        let (defaults, app_id, app_secret) = match app_id {
            Some(app_id) => {
                let secret = optional(env, "INSTAGRAM_APP_SECRET").ok_or_else(|| {
                    ApiError::NotConfigured(
                        "INSTAGRAM_APP_ID is set but the secret INSTAGRAM_APP_SECRET is not".into(),
                    )
                })?;
                (
                    [
                        "https://www.instagram.com",
                        "https://api.instagram.com",
                        "https://graph.instagram.com",
                        "https://graph.facebook.com",
                    ],
                    app_id,
                    secret,
                )
            }
            None => {
                simulator_notice();
                (
                    [SIMULATOR_BASE_URL; 4],
                    SIMULATOR_APP_ID.to_owned(),
                    or_default(env, "INSTAGRAM_APP_SECRET", SIMULATOR_APP_SECRET),
                )
            }
        };
        let url = |name: &str, default: &str| {
            or_default(env, name, default)
                .trim_end_matches('/')
                .to_owned()
        };
        Ok(Self {
            login: LoginConfig {
                authorize_base_url: url("INSTAGRAM_AUTHORIZE_BASE_URL", defaults[0]),
                token_base_url: url("INSTAGRAM_TOKEN_BASE_URL", defaults[1]),
                graph_base_url: url("INSTAGRAM_GRAPH_BASE_URL", defaults[2]),
                app_id,
                app_secret,
            },
            facebook_base_url: url("FACEBOOK_GRAPH_BASE_URL", defaults[3]),
            api_version: or_default(env, "GRAPH_API_VERSION", "v25.0"),
            timeout_ms: number(env, "GRAPH_TIMEOUT_MS", 15_000)?,
            keys,
        })
    }
}

/// Said once per instance: connecting goes to the simulator, not to Instagram.
fn simulator_notice() {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        worker::console_log!(
            "api: no INSTAGRAM_APP_ID is set, so \"Connect an Instagram account\" uses the LOCAL Graph API simulator's Instagram Login (its app {SIMULATOR_APP_ID}, {SIMULATOR_BASE_URL} unless INSTAGRAM_*_BASE_URL say otherwise), not Instagram"
        );
    });
}

/// What a Graph or OAuth call answered.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) retry_after: Option<String>,
    pub(super) body: String,
}

/// Why a call got no answer. Never the URL, which may hold a token or the secret.
#[derive(Debug, thiserror::Error)]
pub(super) enum CallError {
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("the request failed (could not reach it)")]
    Unreachable,
}

/// Why connecting with an Instagram Login code failed, said on the page and in the log.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectError {
    #[error("{0}: {1}")]
    NoAnswer(Step, CallError),
    #[error("{0}: {1}")]
    Refused(Step, GraphError),
    #[error("the token is for another account than the one that signed in")]
    OtherAccount,
    #[error("storing the account: {0}")]
    Store(ApiError),
}

/// Why a pasted token was not taken.
#[derive(Debug, thiserror::Error)]
pub(super) enum PasteError {
    #[error("the Graph API could not be asked: {0}")]
    NoAnswer(CallError),
    #[error("the Graph API refused the token for account {0}: {1}")]
    Refused(String, GraphError),
    #[error("the token is for another account")]
    OtherAccount,
}

/// Reads account `account` with a pasted `token`: whose it is, if it is that account's.
pub(super) async fn check_pasted(
    settings: &Settings,
    account: &str,
    token: &str,
) -> Result<login::AccountIdentity, PasteError> {
    let check = login::account(&settings.facebook_base_url, &settings.api_version, account);
    let answer = send(&check, Some(token), settings.timeout_ms)
        .await
        .map_err(PasteError::NoAnswer)?;
    let identity =
        login::parse_identity(answer.status, answer.retry_after.as_deref(), &answer.body)
            .map_err(|e| PasteError::Refused(account.to_owned(), e))?;
    if identity.user_id != account {
        return Err(PasteError::OtherAccount);
    }
    Ok(identity)
}

/// The steps of connecting with a code.
#[derive(Debug, Clone, Copy)]
pub(super) enum Step {
    Exchange,
    LongLived,
    Identity,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Exchange => "exchanging the code",
            Step::LongLived => "getting a long-lived token",
            Step::Identity => "reading the account",
        })
    }
}

/// Sends `request` with `token` (as the bearer token, or as `access_token` where Meta
/// documents it so).
async fn send(
    request: &GraphRequest,
    token: Option<&str>,
    timeout_ms: u64,
) -> Result<Answer, CallError> {
    match send_graph(request, token, timeout_ms).await {
        Ok(answer) => Ok(Answer {
            status: answer.status,
            retry_after: answer.header("retry-after"),
            body: answer.body,
        }),
        Err(HttpError::Timeout(ms)) => Err(CallError::Timeout(ms)),
        Err(HttpError::Transport(_)) => Err(CallError::Unreachable),
    }
}

/// The code exchanged for a short-lived token, that for a long-lived one, the account read
/// with it and the token sealed and stored; the account's label.
pub(super) async fn connect_with_code(
    env: &Env,
    actor: &Actor,
    settings: &Settings,
    redirect_uri: &str,
    code: &str,
) -> Result<String, ConnectError> {
    let timeout = settings.timeout_ms;
    let call = async |step: Step, request: &GraphRequest, token: Option<&str>| {
        send(request, token, timeout)
            .await
            .map_err(|e| ConnectError::NoAnswer(step, e))
    };
    let exchange = settings.login.exchange_code(redirect_uri, code);
    let answer = call(Step::Exchange, &exchange, None).await?;
    let short = login::parse_short_lived(answer.status, &answer.body)
        .map_err(|e| ConnectError::Refused(Step::Exchange, e))?;
    let long_lived = settings.login.exchange_for_long_lived();
    let answer = call(Step::LongLived, &long_lived, Some(&short.access_token)).await?;
    let long = login::parse_long_lived(answer.status, answer.retry_after.as_deref(), &answer.body)
        .map_err(|e| ConnectError::Refused(Step::LongLived, e))?;
    let me = login::me(&settings.login.graph_base_url, &settings.api_version);
    let answer = call(Step::Identity, &me, Some(&long.access_token)).await?;
    let identity =
        login::parse_identity(answer.status, answer.retry_after.as_deref(), &answer.body)
            .map_err(|e| ConnectError::Refused(Step::Identity, e))?;
    if identity.user_id != short.user_id {
        return Err(ConnectError::OtherAccount);
    }
    let connected_at = now();
    let expires_at = connected_at + time::Duration::seconds(long.expires_in_seconds as i64);
    store(
        env,
        actor,
        settings,
        &identity,
        "instagram",
        &settings.login.graph_base_url,
        &long.access_token,
        Some(expires_at),
        connected_at,
    )
    .await
    .map_err(ConnectError::Store)
}

/// The token sealed under the account's id and stored; the account's label.
#[allow(clippy::too_many_arguments)]
pub(super) async fn store(
    env: &Env,
    actor: &Actor,
    settings: &Settings,
    identity: &login::AccountIdentity,
    login_kind: &str,
    graph_base_url: &str,
    token: &str,
    expires_at: Option<OffsetDateTime>,
    at: OffsetDateTime,
) -> Result<String, ApiError> {
    let sealed = settings.keys.seal(
        &identity.user_id,
        token,
        random_bytes::<{ vault::NONCE_BYTES }>(),
    );
    let new = AccountStore::from_env(env)?
        .connect(
            &Connected {
                account: SealedAccount {
                    id: &identity.user_id,
                    login: login_kind,
                    graph_base_url,
                    ciphertext: &sealed.ciphertext,
                    key_id: &sealed.key_id,
                    expires_at,
                },
                username: &identity.username,
                connected_by: &actor.name,
            },
            at,
        )
        .await?;
    worker::console_log!(
        "accounts: {} {} @{} ({}, {login_kind})",
        actor.name,
        if new { "connected" } else { "connected again" },
        identity.username,
        identity.user_id
    );
    Ok(format!("@{}", identity.username))
}
