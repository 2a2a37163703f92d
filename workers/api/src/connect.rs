//! Accounts on the review page: the list (never a token), connecting one with Instagram
//! Login (the authorization code flow, its `state` bound to the reviewer's session), or by
//! pasting a token (Facebook Login, a system user) checked against the Graph API first, and
//! disconnecting one. Every token is sealed (crates/vault, the account id bound in) before it
//! reaches D1; connecting, reconnecting and disconnecting are recorded with the reviewer.
//!
//! Without `INSTAGRAM_APP_ID`, Instagram Login goes to the local Graph API simulator (its app
//! id and secret), and the log says so.

use std::fmt::Write;

use instagram::GraphRequest;
use instagram::login::{self, LoginConfig};
use platform::accounts::{AccountStore, Connected};
use platform::clock::{now, random_bytes, random_hex, sha256_hex};
use platform::config::{number, optional, or_default};
use platform::http::{Call, HttpError, fetch_text};
use time::OffsetDateTime;
use vault::{KEY_SETTING, KeyRing, PREVIOUS_KEY_SETTING};
use worker::{Env, Request, Response};

use crate::auth::{self, Actor};
use crate::body::encode;
use crate::drafts::query_pairs;
use crate::reply::ApiError;
use crate::review::html::{
    esc, layout, page_response_sending_forms_to, redirect, time as show_time,
};
use crate::scope::Scope;

/// The local simulator (tests/fakes/graph-api.mjs): its default URL, app id and secret.
const SIMULATOR_BASE_URL: &str = "http://127.0.0.1:8790";
const SIMULATOR_APP_ID: &str = "990602627938098";
const SIMULATOR_APP_SECRET: &str = "local-simulator-app-secret";
/// How long a started Instagram Login may take to come back.
const LOGIN_MINUTES: i64 = 10;
const FORM_BYTES: usize = 8 * 1024;
const CALLBACK_PATH: &str = "/review/accounts/callback";

/// Where connecting goes, and the key that seals tokens.
struct Settings {
    login: LoginConfig,
    facebook_base_url: String,
    api_version: String,
    timeout_ms: u64,
    keys: KeyRing,
}

impl Settings {
    fn from_env(env: &Env) -> Result<Self, ApiError> {
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
            timeout_ms: number(env, "GRAPH_TIMEOUT_MS", 15_000).map_err(ApiError::NotConfigured)?,
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
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

/// Sends `request` with `token` (as the bearer token, or as `access_token` where Meta
/// documents it so). Errors never quote the URL, which may hold a token or the secret.
async fn send(
    request: &GraphRequest,
    token: Option<&str>,
    timeout_ms: u64,
) -> Result<Answer, String> {
    let authorization = token.map(|t| format!("Bearer {t}"));
    let mut headers = Vec::new();
    let url = match token {
        Some(token) if request.token_in_query => format!(
            "{}&{}",
            request.url,
            instagram::form_urlencode(&[("access_token".into(), token.to_owned())])
        ),
        _ => {
            if let Some(authorization) = &authorization {
                headers.push(("authorization", authorization.as_str()));
            }
            request.url.clone()
        }
    };
    let body = request.body();
    if let Some(content_type) = request.content_type() {
        headers.push(("content-type", content_type));
    }
    let call = Call {
        method: request.method,
        url: &url,
        headers: &headers,
        body: body.as_deref(),
    };
    match fetch_text(&call, timeout_ms).await {
        Ok(answer) => Ok(Answer {
            status: answer.status,
            retry_after: answer.header("retry-after"),
            body: answer.body,
        }),
        Err(HttpError::Timeout(ms)) => Err(format!("no answer within {ms} ms")),
        Err(HttpError::Transport(_)) => Err("the request failed (could not reach it)".into()),
    }
}

/// `/review/accounts`: the accounts the reviewer may see, and the ways to connect one.
pub async fn page(req: &Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let query = query_pairs(&req.inner().url());
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let notice = match (get("connected"), get("disconnected")) {
        (Some(name), _) => Some((
            "published",
            format!("Connected {}.", name.chars().take(40).collect::<String>()),
        )),
        (_, Some(name)) => Some((
            "waiting",
            format!(
                "Disconnected {}.",
                name.chars().take(40).collect::<String>()
            ),
        )),
        _ => None,
    };
    render(
        env,
        actor,
        200,
        notice.as_ref().map(|(c, t)| (*c, t.as_str())),
    )
    .await
}

async fn render(
    env: &Env,
    actor: &Actor,
    status: u16,
    notice: Option<(&str, &str)>,
) -> Result<Response, ApiError> {
    let (accounts, actions) = AccountStore::from_env(env)?.overview().await?;
    let scope = Scope::of(actor, &accounts);
    let mut body = String::from("<h1>Accounts</h1>");
    if let Some((class, text)) = notice {
        let role = if class == "failed" { "alert" } else { "status" };
        let _ = write!(
            body,
            r#"<div class="notice {class}" role="{role}" id="accounts-notice">{}</div>"#,
            esc(text)
        );
    }
    let visible: Vec<_> = accounts
        .iter()
        .filter(|a| scope.allows_account(a))
        .collect();
    if visible.is_empty() {
        body.push_str(r#"<p class="empty">No accounts connected yet.</p>"#);
    } else {
        body.push_str(r#"<div class="scroll"><table id="accounts"><caption>Instagram accounts drafts are published to; the first is the default</caption><thead><tr><th scope="col">Account</th><th scope="col">Login</th><th scope="col">State</th><th scope="col">Token expires</th><th scope="col">Connected by</th><th scope="col"></th></tr></thead><tbody>"#);
        for account in &visible {
            let default = if accounts.first().is_some_and(|d| d.id == account.id) {
                r#" <span class="hint">(default)</span>"#
            } else {
                ""
            };
            let login_kind = match account.login.as_str() {
                "instagram" => "Instagram Login",
                _ => "Facebook Login",
            };
            let state = match account.state.as_str() {
                "connected" => "connected".to_owned(),
                "needs_reconnect" => "needs reconnect".to_owned(),
                other => other.replace('_', " "),
            };
            let reason = account
                .state_reason
                .as_deref()
                .map(|r| format!(r#"<br><span class="detail">{}</span>"#, esc(r)))
                .unwrap_or_default();
            let expires = account
                .token_expires_at
                .as_deref()
                .map_or_else(|| "does not expire".to_owned(), show_time);
            let disconnect = if account.token_ciphertext.is_some() {
                format!(
                    r#"<form method="post" action="/review/accounts/{id}/disconnect"><button type="submit" class="danger">Disconnect</button></form>"#,
                    id = esc(&account.id)
                )
            } else {
                String::new()
            };
            let _ = write!(
                body,
                r#"<tr data-account="{id}"><th scope="row">{label}{default}<br><span class="hint">{id}</span></th><td data-label="Login">{login_kind}</td><td data-label="State"><span class="badge {state_class}">{state}</span>{reason}</td><td data-label="Token expires">{expires}</td><td data-label="Connected by">{by}<br><span class="hint">{at}</span></td><td>{disconnect}</td></tr>"#,
                id = esc(&account.id),
                label = esc(&account.label()),
                state_class = esc(&account.state),
                state = esc(&state),
                by = esc(&account.connected_by),
                at = show_time(&account.connected_at),
            );
        }
        body.push_str("</tbody></table></div>");
    }
    if actor.accounts.is_none() {
        body.push_str(r#"<section class="card" aria-labelledby="connect-title"><h2 id="connect-title">Connect an account</h2><form method="post" action="/review/accounts/connect"><p class="hint">Instagram Login: you sign in on Instagram and allow publishing; the account comes back here connected. Connecting a connected account again gives it a new token.</p><button type="submit" class="primary" id="connect">Connect an Instagram account</button></form><form method="post" action="/review/accounts/token" class="stack" id="token-form"><h3>Or paste a token</h3><p class="hint">A Facebook Login or system-user token with instagram_basic and instagram_content_publish. It is checked against the Graph API before it is stored, and never shown again.</p><label for="account-id">Instagram account id</label><input id="account-id" name="account" inputmode="numeric" autocomplete="off" required><label for="token">Access token</label><input id="token" name="token" type="password" autocomplete="off" required><div class="actions"><button type="submit" id="paste">Check and connect</button></div></form></section>"#);
    }
    let shown: Vec<_> = actions
        .iter()
        .filter(|a| scope.allows(Some(&a.account_id)))
        .collect();
    if !shown.is_empty() {
        body.push_str(r#"<section class="card" aria-labelledby="acts-title"><h2 id="acts-title">Recent changes</h2><ol class="history">"#);
        for act in shown {
            let what = match act.action.as_str() {
                "connect" => "connected",
                "reconnect" => "connected again",
                _ => "disconnected",
            };
            let _ = write!(
                body,
                r#"<li><span class="when">{}</span> <strong>{}</strong> {what} {}</li>"#,
                show_time(&act.created_at),
                esc(&act.reviewer),
                esc(&crate::scope::label(&accounts, Some(&act.account_id))),
            );
        }
        body.push_str("</ol></section>");
    }
    // "Connect" answers with a redirect to Instagram Login's page, which `form-action` holds.
    let authorize = Settings::from_env(env)
        .map(|s| origin_of(&s.login.authorize_base_url))
        .unwrap_or_default();
    let authorize = if authorize.is_empty() || authorize.contains([';', ',', ' ', '\'', '"']) {
        "'none'".to_owned()
    } else {
        authorize
    };
    let html = layout("Accounts", Some(&actor.name), &body);
    if authorize == "'none'" {
        return crate::review::html::page_response(status, html);
    }
    page_response_sending_forms_to(status, html, &authorize)
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    url[..end].to_owned()
}

async fn refuse(env: &Env, actor: &Actor, text: &str) -> Result<Response, ApiError> {
    render(env, actor, 400, Some(("failed", text))).await
}

fn may_connect(actor: &Actor) -> Result<(), ApiError> {
    if actor.accounts.is_some() {
        return Err(ApiError::Forbidden(
            "connecting an account is for a reviewer not limited to some accounts".into(),
        ));
    }
    Ok(())
}

fn redirect_uri(req: &Request) -> String {
    format!("{}{CALLBACK_PATH}", crate::drafts::origin(req))
}

/// `POST /review/accounts/connect`: starts Instagram Login. A random `state`, kept only as
/// its SHA-256 and bound to this session, for `LOGIN_MINUTES`.
pub async fn start(req: &Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    auth::require_same_origin(req)?;
    may_connect(actor)?;
    let settings = Settings::from_env(env)?;
    let session = auth::session_sha256(req)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let state = random_hex::<32>();
    let started = now();
    AccountStore::from_env(env)?
        .begin_login(
            &sha256_hex(state.as_bytes()).await?,
            &actor.name,
            &session,
            started + time::Duration::minutes(LOGIN_MINUTES),
            started,
        )
        .await?;
    redirect(
        &settings.login.authorize_url(&redirect_uri(req), &state),
        None,
    )
}

/// `GET /review/accounts/callback?code=&state=`: the state must be one this session started,
/// unused and not lapsed; then the code becomes a short-lived token, that a long-lived one,
/// the account is read with it, and the token is sealed and stored.
pub async fn callback(req: &Request, env: &Env) -> Result<Response, ApiError> {
    let url = req.inner().url();
    let query = query_pairs(&url);
    let Some(actor) = auth::session(req, env).await? else {
        // Instagram sent the browser here from its own site, so the SameSite=Strict cookie
        // stayed behind. The same URL again, from this page, is a same-site navigation that
        // carries it; once only, then signing in is asked for.
        if query.iter().any(|(k, _)| k == "resumed") {
            return crate::review::sign_in_first(req);
        }
        let raw = url.split_once('?').map_or("", |(_, q)| q);
        let raw = raw.split('#').next().unwrap_or("");
        let again = format!("{CALLBACK_PATH}?{raw}&resumed=1");
        let html = format!(
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={0}"><title>Connecting · Review</title></head><body><p>Connecting the account… <a href="{0}">Continue</a></p></body></html>"#,
            esc(&again)
        );
        return crate::review::html::page_response(200, html);
    };
    let actor = &actor;
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let state = get("state");
    let valid_state = state.len() == 64 && state.bytes().all(|b| b.is_ascii_hexdigit());
    let pending = if valid_state {
        AccountStore::from_env(env)?
            .take_login(&sha256_hex(state.as_bytes()).await?)
            .await?
    } else {
        None
    };
    let session = auth::session_sha256(req).await?.unwrap_or_default();
    let bound = pending.as_ref().is_some_and(|p| {
        auth::constant_time_eq(p.session_sha256.as_bytes(), session.as_bytes())
            && p.reviewer == actor.name
    });
    let lapsed = pending.as_ref().is_none_or(|p| {
        domain::timestamp::parse_rfc3339(&p.expires_at).map_or(true, |at| at <= now())
    });
    if !bound || lapsed {
        worker::console_log!(
            "accounts: an Instagram Login came back to {} with a state this session did not start, used already or lapsed; refused",
            actor.name
        );
        return refuse(env, actor, "This Instagram Login was not started here, was used already, or took too long. Start again with \u{201c}Connect an Instagram account\u{201d}.").await;
    }
    may_connect(actor)?;
    if !get("error").is_empty() {
        return refuse(
            env,
            actor,
            "Instagram Login was cancelled; nothing was connected.",
        )
        .await;
    }
    let code = get("code");
    if code.is_empty() || code.len() > 2048 {
        return refuse(
            env,
            actor,
            "Instagram sent no authorization code back; nothing was connected.",
        )
        .await;
    }
    let settings = Settings::from_env(env)?;
    match connect_with_code(req, env, actor, &settings, &code).await {
        Ok(label) => redirect(
            &format!("/review/accounts?connected={}", encode(&label)),
            None,
        ),
        Err(reason) => {
            worker::console_error!("accounts: connecting for {} failed: {reason}", actor.name);
            refuse(
                env,
                actor,
                &format!("Connecting failed: {reason}. Nothing was stored."),
            )
            .await
        }
    }
}

async fn connect_with_code(
    req: &Request,
    env: &Env,
    actor: &Actor,
    settings: &Settings,
    code: &str,
) -> Result<String, String> {
    let timeout = settings.timeout_ms;
    let exchange = settings.login.exchange_code(&redirect_uri(req), code);
    let answer = send(&exchange, None, timeout)
        .await
        .map_err(|e| format!("exchanging the code: {e}"))?;
    let short = login::parse_short_lived(answer.status, &answer.body)
        .map_err(|e| format!("exchanging the code: {e}"))?;
    let answer = send(
        &settings.login.exchange_for_long_lived(),
        Some(&short.access_token),
        timeout,
    )
    .await
    .map_err(|e| format!("getting a long-lived token: {e}"))?;
    let long = login::parse_long_lived(answer.status, answer.retry_after.as_deref(), &answer.body)
        .map_err(|e| format!("getting a long-lived token: {e}"))?;
    let me = login::me(&settings.login.graph_base_url, &settings.api_version);
    let answer = send(&me, Some(&long.access_token), timeout)
        .await
        .map_err(|e| format!("reading the account: {e}"))?;
    let identity =
        login::parse_identity(answer.status, answer.retry_after.as_deref(), &answer.body)
            .map_err(|e| format!("reading the account: {e}"))?;
    if identity.user_id != short.user_id {
        return Err("the token is for another account than the one that signed in".into());
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
}

#[allow(clippy::too_many_arguments)]
async fn store(
    env: &Env,
    actor: &Actor,
    settings: &Settings,
    identity: &login::AccountIdentity,
    login_kind: &str,
    graph_base_url: &str,
    token: &str,
    expires_at: Option<OffsetDateTime>,
    at: OffsetDateTime,
) -> Result<String, String> {
    let sealed = settings.keys.seal(
        &identity.user_id,
        token,
        random_bytes::<{ vault::NONCE_BYTES }>(),
    );
    let new = AccountStore::from_env(env)
        .map_err(|e| e.to_string())?
        .connect(
            &Connected {
                id: &identity.user_id,
                username: &identity.username,
                login: login_kind,
                graph_base_url,
                ciphertext: &sealed.ciphertext,
                key_id: &sealed.key_id,
                expires_at,
                connected_by: &actor.name,
            },
            at,
        )
        .await
        .map_err(|e| format!("storing the account: {e}"))?;
    worker::console_log!(
        "accounts: {} {} @{} ({}, {login_kind})",
        actor.name,
        if new { "connected" } else { "connected again" },
        identity.username,
        identity.user_id
    );
    Ok(format!("@{}", identity.username))
}

/// `POST /review/accounts/token` (`account`, `token`): a Facebook Login or system-user token
/// for an Instagram account, stored only once the Graph API shows it reads that account.
pub async fn paste(req: &mut Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    auth::require_same_origin(req)?;
    may_connect(actor)?;
    let body = crate::body::read(req, FORM_BYTES).await?;
    let form = crate::body::form(&body);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let (account, token) = (field("account"), field("token"));
    let id_ok = !account.is_empty()
        && account.len() <= domain::account::MAX_ID_DIGITS
        && account.bytes().all(|b| b.is_ascii_digit());
    if !id_ok {
        return refuse(
            env,
            actor,
            "The Instagram account id is its number (digits only).",
        )
        .await;
    }
    if token.is_empty() || token.len() > 4096 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return refuse(
            env,
            actor,
            "That is not an access token: paste it whole, without spaces.",
        )
        .await;
    }
    let settings = Settings::from_env(env)?;
    let check = login::account(&settings.facebook_base_url, &settings.api_version, &account);
    let identity = match send(&check, Some(&token), settings.timeout_ms).await {
        Err(reason) => Err(format!("the Graph API could not be asked: {reason}")),
        Ok(answer) => {
            login::parse_identity(answer.status, answer.retry_after.as_deref(), &answer.body)
                .map_err(|e| format!("the Graph API refused the token for account {account}: {e}"))
        }
    };
    let identity = match identity {
        Ok(identity) if identity.user_id == account => identity,
        Ok(_) => {
            return refuse(
                env,
                actor,
                &format!("The token is not for account {account}; nothing was stored."),
            )
            .await;
        }
        Err(reason) => {
            worker::console_log!(
                "accounts: a pasted token from {} was refused: {reason}",
                actor.name
            );
            return refuse(env, actor, &format!("{reason}. Nothing was stored.")).await;
        }
    };
    let at = now();
    match store(
        env,
        actor,
        &settings,
        &identity,
        "facebook",
        &settings.facebook_base_url,
        &token,
        None,
        at,
    )
    .await
    {
        Ok(label) => redirect(
            &format!("/review/accounts?connected={}", encode(&label)),
            None,
        ),
        Err(reason) => refuse(env, actor, &format!("{reason}. Nothing was stored.")).await,
    }
}

/// `POST /review/accounts/{id}/disconnect`: the token removed, the account kept (its drafts
/// wait until it is connected again).
pub async fn disconnect(
    req: &Request,
    env: &Env,
    actor: &Actor,
    id: &str,
) -> Result<Response, ApiError> {
    auth::require_same_origin(req)?;
    let store = AccountStore::from_env(env)?;
    let accounts = store.all().await?;
    let scope = Scope::of(actor, &accounts);
    let Some(account) = accounts
        .iter()
        .find(|a| a.id == id && scope.allows_account(a))
    else {
        return Err(ApiError::NotFound(format!("no account {id}")));
    };
    store.disconnect(&account.id, &actor.name, now()).await?;
    worker::console_log!("accounts: {} disconnected {}", actor.name, account.label());
    redirect(
        &format!("/review/accounts?disconnected={}", encode(&account.label())),
        None,
    )
}
