//! Accounts on the review page: the list (never a token), connecting one with Instagram
//! Login (the authorization code flow, its `state` bound to the reviewer's session), or by
//! pasting a token (Facebook Login, a system user) checked against the Graph API first, and
//! disconnecting one. Every token is sealed (crates/vault, the account id bound in) before it
//! reaches D1; connecting, reconnecting and disconnecting are recorded with the reviewer.
//!
//! Without `INSTAGRAM_APP_ID`, Instagram Login goes to the local Graph API simulator (its app
//! id and secret), and the log says so.

mod graph;
mod page;

use platform::accounts::AccountStore;
use platform::clock::{now, random_hex, sha256_hex};
use worker::{Env, Request, Response};

use crate::auth::{self, Actor};
use crate::body::encode;
use crate::drafts::query_pairs;
use crate::reply::ApiError;
use crate::review::html::redirect;
use crate::scope::Scope;
use graph::{Settings, store};
pub use page::page;
use page::render;

/// How long a started Instagram Login may take to come back.
const LOGIN_MINUTES: i64 = 10;
const FORM_BYTES: usize = 8 * 1024;
const CALLBACK_PATH: &str = "/review/accounts/callback";

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
        return crate::review::html::page_response(200, page::resume(&again));
    };
    let actor = &actor;
    let get = |name: &str| crate::body::value(&query, name).unwrap_or_default();
    if !started_here(req, env, actor, get("state")).await? {
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
    match graph::connect_with_code(env, actor, &settings, &redirect_uri(req), code).await {
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

/// Whether `state` is one this session started, unused and not lapsed (it is used now).
async fn started_here(
    req: &Request,
    env: &Env,
    actor: &Actor,
    state: &str,
) -> Result<bool, ApiError> {
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
    Ok(bound && !lapsed)
}

/// `POST /review/accounts/token` (`account`, `token`): a Facebook Login or system-user token
/// for an Instagram account, stored only once the Graph API shows it reads that account.
pub async fn paste(req: &mut Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    auth::require_same_origin(req)?;
    may_connect(actor)?;
    let body = crate::body::read(req, FORM_BYTES).await?;
    let form = crate::body::form(&body);
    let field = |name: &str| crate::body::value(&form, name).unwrap_or_default().trim();
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
    let identity = match graph::check_pasted(&settings, account, token).await {
        Ok(identity) => identity,
        Err(graph::PasteError::OtherAccount) => {
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
        token,
        None,
        at,
    )
    .await
    {
        Ok(label) => redirect(
            &format!("/review/accounts?connected={}", encode(&label)),
            None,
        ),
        Err(error) => {
            let reason = graph::ConnectError::Store(error);
            refuse(env, actor, &format!("{reason}. Nothing was stored.")).await
        }
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
