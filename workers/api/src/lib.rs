//! The api Worker: the HTTP API (`/api/v1/...`), public media, and health.
//!
//! A thin shell: it authenticates, parses, and calls `generation` and `domain` for every
//! decision; storage and queues go through `platform`.

mod auth;
mod config;
mod drafts;
mod generate;
mod media;
mod model;
mod reply;

use worker::{Context, Env, Method, Request, Response, event};

use crate::reply::ApiError;

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let response = match route(&mut req, &env, &ctx).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    Ok(response)
}

async fn route(req: &mut Request, env: &Env, ctx: &Context) -> Result<Response, ApiError> {
    let path = req.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method();
    match (&method, segments.as_slice()) {
        (Method::Get, ["healthz"]) => reply::json(
            200,
            &serde_json::json!({ "status": "ok", "worker": "api", "version": env!("CARGO_PKG_VERSION") }),
        ),
        (Method::Get, ["media", "pending.svg"]) => media::pending_placeholder(),
        (Method::Get, ["media", rest @ ..]) => media::serve(env, &rest.join("/")).await,
        (_, ["api", "v1", ..]) => {
            auth::require_bearer(req, env)?;
            match (method, &segments[2..]) {
                (Method::Post, ["generate"]) => generate::handle(req, env, ctx).await,
                (Method::Get, ["drafts", id]) => drafts::get(req, env, id).await,
                (_, ["generate"] | ["drafts", _]) => Err(ApiError::MethodNotAllowed),
                _ => Err(ApiError::NotFound("no such API route".into())),
            }
        }
        _ => Err(ApiError::NotFound("no such page".into())),
    }
}
