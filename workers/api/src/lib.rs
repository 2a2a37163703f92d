//! The api Worker: the HTTP API (`/api/v1/...`), the review page, public media and health.
//! (The scheduler and housekeeping run on publish-consumer's Cron Trigger.)
//!
//! A thin shell: it authenticates, parses, and calls `generation` and `domain` for every
//! decision; storage and queues go through `platform`.

mod actions;
mod approve;
mod auth;
mod body;
mod check;
mod client_link;
mod config;
mod connect;
mod decide;
mod describe;
mod drafts;
mod edit;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod fuzz;
mod generate;
mod item_view;
mod items;
mod limit;
mod media;
mod model;
mod openapi;
mod origin;
mod reply;
mod review;
mod review_trace;
mod routes;
mod scope;
mod views;
mod voice;

use worker::{Context, Env, Method, Request, Response, event};

use crate::reply::ApiError;
use crate::routes::{Access, DraftAction, Match, Route};

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let started = platform::clock::now();
    let method = req.method();
    let head = method == Method::Head;
    let path = req.path();
    let page = path.starts_with("/review");
    // Every D1 statement the request runs is counted (`platform::d1`): the request's data
    // point carries the sum, and so does its trace, if it has one.
    let (answer, d1) = platform::d1::metered(route(&mut req, &env, &ctx)).await;
    let response = match answer {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    let pattern = match routes::find(method.as_ref(), &path) {
        Match::Found { def, .. } => def.pattern,
        _ => "",
    };
    platform::metrics::record_request(
        &env,
        method.as_ref(),
        pattern,
        response.status_code(),
        d1,
        (platform::clock::now() - started).whole_milliseconds() as f64,
    );
    // Everything on the review page's paths, errors included, carries its security headers.
    if page {
        let _ = review::security_headers(response.headers());
    }
    // Every answer: HTTPS only from now on, and no content sniffing (a JSON error that quotes
    // a request is never run as a page).
    let _ = response
        .headers()
        .set("strict-transport-security", review::HSTS);
    let _ = response.headers().set("x-content-type-options", "nosniff");
    // HEAD answers as GET would, headers and all, without the body.
    if head {
        return Ok(Response::empty()?
            .with_status(response.status_code())
            .with_headers(response.headers().clone()));
    }
    Ok(response)
}

async fn route(req: &mut Request, env: &Env, ctx: &Context) -> Result<Response, ApiError> {
    let path = req.path();
    let method = req.method();
    let (def, params) = match routes::find(method.as_ref(), &path) {
        Match::Found { def, params } => (def, params),
        Match::Options { allowed } => return reply::options(&allowed),
        Match::WrongMethod { allowed } => return Err(ApiError::MethodNotAllowed(allowed)),
        Match::NotFound => return Err(ApiError::NotFound(format!("no route for {path}"))),
    };
    let actor = match def.access {
        Access::Public => None,
        Access::ApiToken => Some(auth::require_api_token(req, env).await?),
        Access::TokenOrSession => Some(auth::require_any(req, env).await?),
        Access::Reviewer => Some(auth::require_reviewer(req, env).await?),
        Access::Session => match auth::session(req, env).await? {
            Some(actor) => Some(actor),
            None => return review::sign_in_first(req),
        },
    };
    let actor = actor.unwrap_or_else(|| auth::Actor {
        name: String::new(),
        via: auth::Via::Session,
        accounts: None,
    });
    // A reviewer limited to some accounts: another account's draft is not found when read,
    // refused when acted on.
    if let Some(acting) = draft_route(def.route) {
        let id = params.first().map(String::as_str).unwrap_or_default();
        scope::guard_draft(env, &actor, id, acting).await?;
    }
    dispatch(def.route, req, env, ctx, &actor, &params).await
}

/// Runs the handler of `route` for a caller already authenticated for it.
async fn dispatch(
    route: Route,
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    actor: &auth::Actor,
    params: &[String],
) -> Result<Response, ApiError> {
    let param = |i: usize| params.get(i).map(String::as_str).unwrap_or_default();
    match route {
        Route::Healthz => reply::json(
            200,
            &serde_json::json!({ "status": "ok", "worker": "api", "version": env!("CARGO_PKG_VERSION"), "instance": instance() }),
        ),
        Route::OpenApi => {
            let config = config::DocumentedConfig::from_env(env)?;
            let document = openapi::configured(config.max_hashtags, &config.default_language)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            reply::raw_json(&document)
        }
        Route::Generate => generate::handle(req, env, ctx).await,
        Route::ListDrafts => drafts::list(req, env, actor).await,
        Route::GetDraft => drafts::get(req, env, param(0)).await,
        Route::DraftHistory => actions::history(env, param(0)).await,
        Route::CheckText => check::handle(req, env).await,
        Route::GetVoice => voice::get(env, actor, param(0)).await,
        Route::PutVoice => voice::put(req, env, actor, param(0)).await,
        Route::ReviewVoice => review::voice::page(env, actor).await,
        Route::CreateClientLink => client_link::create(req, env, actor).await,
        Route::ListClientLinks => client_link::list(env).await,
        Route::RevokeClientLink => client_link::revoke(env, actor, param(0)).await,
        Route::ReviewLinks => review::links(env, actor).await,
        Route::ReviewCharts => review::charts::page(env, actor).await,
        Route::ClientPage => client_link::page(env, param(0)).await,
        Route::ClientApprove => {
            let action = client_link::ClientAction::Approve;
            client_link::act(req, env, ctx, param(0), param(1), action).await
        }
        Route::ClientComment => {
            let action = client_link::ClientAction::Comment;
            client_link::act(req, env, ctx, param(0), param(1), action).await
        }
        Route::ReviewList => review::list(req, env, actor).await,
        Route::ReviewFailures => review::failures(req, env, actor).await,
        Route::ReviewLoginPage => review::login_page(req, env).await,
        Route::ReviewLogin => review::login(req, env).await,
        Route::ReviewLogout => review::logout(req, env).await,
        Route::ReviewLogoutEverywhere => review::logout_everywhere(req, env, actor).await,
        Route::ReviewAsset => review::asset(param(0)),
        Route::ReviewDraft => review::draft(req, env, actor, param(0)).await,
        Route::ReviewAccounts => connect::page(req, env, actor).await,
        Route::ConnectAccount => connect::start(req, env, actor).await,
        Route::AccountCallback => connect::callback(req, env).await,
        Route::PasteToken => connect::paste(req, env, actor).await,
        Route::DisconnectAccount => connect::disconnect(req, env, actor, param(0)).await,
        Route::PendingImage => media::pending_placeholder(),
        Route::Media => media::serve(req, env, param(0)).await,
        Route::SearchDrafts => views::search(req, env, actor).await,
        Route::UpNext => views::up_next(req, env, actor).await,
        Route::Calendar => views::calendar(req, env, actor).await,
        Route::ReviewUpNext => review::up_next(req, env, actor).await,
        Route::ReviewCalendar => review::calendar(env, actor),
        Route::Act(action) => {
            let call = decide::DraftCall {
                req,
                env,
                ctx,
                actor,
                id: param(0),
            };
            act_on_draft(action, call).await
        }
    }
}

/// Runs `action` on one draft.
async fn act_on_draft(
    action: DraftAction,
    call: decide::DraftCall<'_>,
) -> Result<Response, ApiError> {
    match action {
        DraftAction::Edit => edit::handle(call).await,
        DraftAction::Approve => approve::approve(call).await,
        DraftAction::Reapprove => approve::reapprove(call).await,
        DraftAction::Schedule => approve::reschedule(call).await,
        DraftAction::Withdraw => approve::withdraw(call).await,
        DraftAction::Comment => actions::comment(call).await,
        DraftAction::Discard => actions::discard(call).await,
        DraftAction::Regenerate => actions::regenerate(call).await,
        DraftAction::Describe => describe::handle(call).await,
        DraftAction::AddImage => items::upload(call).await,
        DraftAction::OrderImages => items::order(call).await,
        DraftAction::EditOptions => items::options(call).await,
    }
}

/// For a route about one draft: whether it acts on it (`true`) or reads it. Every route is
/// named, so a new one cannot skip the check of the caller's accounts unnoticed.
fn draft_route(route: Route) -> Option<bool> {
    match route {
        Route::Act(_) => Some(true),
        Route::GetDraft | Route::DraftHistory | Route::ReviewDraft => Some(false),
        Route::Healthz
        | Route::OpenApi
        | Route::Generate
        | Route::ListDrafts
        | Route::CheckText
        | Route::GetVoice
        | Route::PutVoice
        | Route::ReviewVoice
        | Route::ReviewList
        | Route::ReviewFailures
        | Route::ReviewLoginPage
        | Route::ReviewLogin
        | Route::ReviewLogout
        | Route::ReviewLogoutEverywhere
        | Route::ReviewAsset
        | Route::ReviewAccounts
        | Route::ConnectAccount
        | Route::AccountCallback
        | Route::PasteToken
        | Route::DisconnectAccount
        | Route::PendingImage
        | Route::Media
        | Route::CreateClientLink
        | Route::ListClientLinks
        | Route::RevokeClientLink
        | Route::ReviewLinks
        | Route::ReviewCharts
        | Route::ClientPage
        | Route::ClientApprove
        | Route::ClientComment
        | Route::SearchDrafts
        | Route::UpNext
        | Route::Calendar
        | Route::ReviewUpNext
        | Route::ReviewCalendar => None,
    }
}

/// A random id made once per instance of this Worker's wasm: `/healthz` shows it, so a
/// change means the instance was started again (after a crash, a deploy, or an eviction).
fn instance() -> &'static str {
    static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    INSTANCE.get_or_init(platform::clock::random_hex::<8>)
}
