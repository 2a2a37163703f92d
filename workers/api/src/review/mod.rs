//! The review page: sign-in, the list of drafts, one draft with its editor, preview, diff and
//! history, and the failures view. Pages are rendered here with every piece of text escaped;
//! `app.js` makes them live by calling the same JSON API as any client, with the session
//! cookie, so the page and the API share one code path for every action.

mod calendar;
pub mod charts;
pub(crate) mod client;
mod draft;
mod failures;
pub(crate) mod html;
mod list;
mod media;
mod upnext;
pub mod voice;

use domain::credentials::{MAX_NAME_CHARS, check_secret};
use maud::html;
use worker::{Env, Headers, Request, Response};

use crate::auth::{self, Actor};
use crate::body::encode;
use crate::drafts::query_pairs;
use crate::reply::ApiError;
pub use client::links;
pub use draft::page as draft;
pub use failures::page as failures;
pub use html::{HSTS, security_headers};
use html::{layout, page_response, redirect};
pub use list::list;
pub use upnext::page as up_next;

pub fn calendar(_env: &worker::Env, actor: &Actor) -> Result<Response, ApiError> {
    calendar::page(actor)
}
const LOGIN_BODY_BYTES: usize = 4 * 1024;

const API_JS: &str = include_str!("../../review/api.js");
const APP_JS: &str = include_str!("../../review/app.js");
const APP_CSS: &str = include_str!("../../review/app.css");
const VOICE_JS: &str = include_str!("../../review/voice.js");
const CLIENT_JS: &str = include_str!("../../review/client.js");
const VIEWS_JS: &str = include_str!("../../review/views.js");
const MEDIA_JS: &str = include_str!("../../review/media.js");

/// Where a signed-out visitor goes: the sign-in page, coming back here afterwards.
pub fn sign_in_first(req: &Request) -> Result<Response, ApiError> {
    // The path with its query, so the visitor comes back to the same view.
    let url = req.inner().url();
    let after_host = url.find("://").map_or(0, |i| i + 3);
    let path = url[after_host..]
        .find('/')
        .map_or("/review", |i| &url[after_host + i..]);
    if req.method() == worker::Method::Get {
        redirect(&format!("/review/login?next={}", encode(path)), None)
    } else {
        Err(ApiError::Unauthorized)
    }
}

pub fn asset(name: &str) -> Result<Response, ApiError> {
    let (body, content_type) = match name {
        "api.js" => (API_JS, "text/javascript; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "voice.js" => (VOICE_JS, "text/javascript; charset=utf-8"),
        "client.js" => (CLIENT_JS, "text/javascript; charset=utf-8"),
        "views.js" => (VIEWS_JS, "text/javascript; charset=utf-8"),
        "media.js" => (MEDIA_JS, "text/javascript; charset=utf-8"),
        _ => return Err(ApiError::NotFound("no such asset".into())),
    };
    let headers = Headers::new();
    security_headers(&headers)?;
    headers.set("content-type", content_type)?;
    // Deploys change them: revalidate rather than cache for long.
    headers.set("cache-control", "no-cache")?;
    Ok(Response::ok(body)?.with_headers(headers))
}

pub async fn login_page(req: &Request, env: &Env) -> Result<Response, ApiError> {
    if auth::session(req, env).await?.is_some() {
        return redirect("/review", None);
    }
    let query = query_pairs(&req.inner().url());
    let next = crate::body::value(&query, "next").unwrap_or_default();
    page_response(200, login_html(next, "", None))
}

/// The sign-in form: the reviewer's name, then their token. After a failed attempt the name
/// is filled in again, unless it could be a token typed in the wrong field (never shown).
fn login_html(next: &str, name: &str, error: Option<&str>) -> String {
    let name = name.trim();
    let name: String = if check_secret(name).is_ok() {
        String::new()
    } else {
        name.chars().take(MAX_NAME_CHARS).collect()
    };
    let body = html! {
        section class="card narrow" {
            h1 { "Sign in to review" }
            @if let Some(error) = error {
                p class="error" role="alert" id="login-error" { (error) }
            }
            form method="post" action="/review/login" {
                input type="hidden" name="next" value=(next);
                label for="name" { "Your name" }
                input id="name" name="name" type="text" autocomplete="username" autocapitalize="none" autocorrect="off" spellcheck="false" maxlength=(MAX_NAME_CHARS) value=(name) required autofocus[name.is_empty()];
                p class="hint" { "As it is written in " code { "REVIEWERS" } " (capitals do not matter)." }
                label for="token" { "Reviewer token" }
                input id="token" name="token" type="password" autocomplete="current-password" required autofocus[!name.is_empty()];
                p class="hint" { "Your own token, as configured in " code { "REVIEWERS" } ". It is never shown again." }
                button type="submit" class="primary" { "Sign in" }
            }
        }
    };
    layout("Sign in", None, body)
}

pub async fn login(req: &mut Request, env: &Env) -> Result<Response, ApiError> {
    auth::require_same_origin(req)?;
    let body = crate::body::read(req, LOGIN_BODY_BYTES).await?;
    let form = crate::body::form(&body);
    let field = |name: &str| crate::body::value(&form, name).unwrap_or_default();
    let next = safe_next(field("next"));
    let name = field("name");
    match auth::sign_in(req, env, name, field("token")).await {
        Ok((id, _, seconds)) => redirect(&next, Some(&auth::session_cookie(&id, seconds))),
        // The same words whether or not the name is a reviewer's.
        Err(ApiError::Unauthorized) => page_response(
            401,
            login_html(
                &next,
                name,
                Some("That name and token are not a reviewer's."),
            ),
        ),
        Err(ApiError::TooManyAttempts {
            retry_after_seconds,
        }) => {
            let response = page_response(
                429,
                login_html(
                    &next,
                    name,
                    Some("Too many attempts to sign in. Wait a minute and try again."),
                ),
            )?;
            response
                .headers()
                .set("retry-after", &retry_after_seconds.to_string())?;
            Ok(response)
        }
        // What is wrong with the configuration is in the log (auth::reviewers), never here:
        // it could name people, or print a token written in the wrong place.
        Err(ApiError::NotConfigured(_)) => page_response(
            503,
            login_html(
                &next,
                "",
                Some(
                    "Sign-in is not available right now. The operator can see why in the Worker's log.",
                ),
            ),
        ),
        Err(other) => Err(other),
    }
}

pub async fn logout(req: &Request, env: &Env) -> Result<Response, ApiError> {
    auth::require_same_origin(req)?;
    auth::sign_out(req, env).await?;
    redirect("/review/login", Some(&auth::cleared_cookie()))
}

/// "Sign out everywhere": ends every session of the signed-in reviewer, this one included
/// (a lost phone, a shared computer).
pub async fn logout_everywhere(
    req: &Request,
    env: &Env,
    actor: &Actor,
) -> Result<Response, ApiError> {
    auth::require_same_origin(req)?;
    auth::sign_out_everywhere(env, actor).await?;
    redirect("/review/login", Some(&auth::cleared_cookie()))
}

/// Only a path of this page, never another site.
fn safe_next(next: &str) -> String {
    if next.starts_with("/review") && !next.starts_with("//") && !next.contains('\\') {
        next.to_owned()
    } else {
        "/review".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_the_review_page() {
        assert_eq!(safe_next("/review/abc"), "/review/abc");
        assert_eq!(safe_next("https://evil.example/"), "/review");
        assert_eq!(safe_next("//evil.example/review"), "/review");
        assert_eq!(safe_next("/review\\@evil"), "/review");
        assert_eq!(safe_next(""), "/review");
    }

    #[test]
    fn a_name_that_could_be_a_token_is_not_shown_again() {
        let token = "k3Jq9vX2mP7wR4tZ8nB6cY1dF5gH0sLa";
        assert!(check_secret(token).is_ok());
        let page = login_html("/review", token, Some("no"));
        assert!(!page.contains(token));
        let page = login_html("/review\"><b>", "Aiko <x>", None);
        assert!(page.contains(r#"value="Aiko &lt;x&gt;""#), "{page}");
        assert!(
            page.contains(r#"value="/review&quot;&gt;&lt;b&gt;""#),
            "{page}"
        );
    }
}
