//! The review page: sign-in, the list of drafts, one draft with its editor, preview, diff and
//! history, and the failures view. Pages are rendered here with every piece of text escaped;
//! `app.js` makes them live by calling the same JSON API as any client, with the session
//! cookie, so the page and the API share one code path for every action.

pub(crate) mod html;
pub mod voice;

use std::fmt::Write;

use domain::content::{MAX_ALT_TEXT_CHARS, MAX_CAPTION_CHARS, MAX_MENTIONS};
use domain::credentials::{MAX_NAME_CHARS, check_secret};
use domain::draft::{DraftState, Event, ImageStatus, Status};
use platform::store::{DraftStore, PageCursor};
use serde_json::{Value, json};
use worker::{Env, Headers, Request, Response};

use crate::auth::{self, Actor};
use crate::drafts::{self, query_pairs};
use crate::reply::ApiError;
pub use html::{HSTS, security_headers};
use html::{esc, json_block, layout, page_response, redirect, time};

const PAGE_SIZE: u32 = 20;
const LOGIN_BODY_BYTES: usize = 4 * 1024;

const APP_JS: &str = include_str!("../../review/app.js");
const APP_CSS: &str = include_str!("../../review/app.css");
const VOICE_JS: &str = include_str!("../../review/voice.js");

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
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "voice.js" => (VOICE_JS, "text/javascript; charset=utf-8"),
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
    let next = query_pairs(&req.inner().url())
        .into_iter()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v)
        .unwrap_or_default();
    page_response(200, login_html(&next, "", None))
}

/// The sign-in form: the reviewer's name, then their token. After a failed attempt the name
/// is filled in again, unless it could be a token typed in the wrong field (never shown).
fn login_html(next: &str, name: &str, error: Option<&str>) -> String {
    let error = error.map_or(String::new(), |e| {
        format!(
            r#"<p class="error" role="alert" id="login-error">{}</p>"#,
            esc(e)
        )
    });
    let name = name.trim();
    let name: String = if check_secret(name).is_ok() {
        String::new()
    } else {
        name.chars().take(MAX_NAME_CHARS).collect()
    };
    let (name_focus, token_focus) = if name.is_empty() {
        (" autofocus", "")
    } else {
        ("", " autofocus")
    };
    let body = format!(
        r#"<section class="card narrow"><h1>Sign in to review</h1>{error}<form method="post" action="/review/login"><input type="hidden" name="next" value="{next}"><label for="name">Your name</label><input id="name" name="name" type="text" autocomplete="username" autocapitalize="none" autocorrect="off" spellcheck="false" maxlength="{MAX_NAME_CHARS}" value="{name}" required{name_focus}><p class="hint">As it is written in <code>REVIEWERS</code> (capitals do not matter).</p><label for="token">Reviewer token</label><input id="token" name="token" type="password" autocomplete="current-password" required{token_focus}><p class="hint">Your own token, as configured in <code>REVIEWERS</code>. It is never shown again.</p><button type="submit" class="primary">Sign in</button></form></section>"#,
        next = esc(next),
        name = esc(&name),
    );
    layout("Sign in", None, &body)
}

pub async fn login(req: &mut Request, env: &Env) -> Result<Response, ApiError> {
    auth::require_same_origin(req)?;
    let body = crate::body::read(req, LOGIN_BODY_BYTES).await?;
    let form = crate::body::form(&body);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let next = safe_next(&field("next"));
    let name = field("name");
    match auth::sign_in(req, env, &name, &field("token")).await {
        Ok((id, _, seconds)) => redirect(&next, Some(&auth::session_cookie(&id, seconds))),
        // The same words whether or not the name is a reviewer's.
        Err(ApiError::Unauthorized) => page_response(
            401,
            login_html(
                &next,
                &name,
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
                    &name,
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

fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `/review`: drafts by status, newest first, a page at a time, one query for the page and
/// the counts.
pub async fn list(req: &Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let query = query_pairs(&req.inner().url());
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let status = param("status").and_then(Status::parse);
    let cursor = param("cursor").and_then(PageCursor::decode);
    let account = param("account").filter(|a| !a.is_empty());
    let (mut rows, counts, accounts) = match crate::scope::page(
        env,
        actor,
        account,
        status,
        cursor.as_ref(),
        PAGE_SIZE + 1,
        true,
    )
    .await
    {
        // An account that is not there shows an empty list, as another reviewer's would.
        Err(ApiError::Validation(_)) => (Vec::new(), Vec::new(), Vec::new()),
        other => other?,
    };
    let scope = crate::scope::Scope::of(actor, &accounts);
    let account_query = account.map_or(String::new(), |a| format!("&account={}", encode(a)));
    let more = rows.len() > PAGE_SIZE as usize;
    rows.truncate(PAGE_SIZE as usize);
    let count = |s: Status| {
        counts
            .iter()
            .find(|(name, _)| name == s.as_str())
            .map_or(0, |(_, n)| *n)
    };
    let mut body = String::from(r#"<h1>Drafts</h1><nav class="tabs" aria-label="Status">"#);
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let tab = |body: &mut String, href: &str, label: &str, n: i64, current: bool| {
        let _ = write!(
            body,
            r#"<a href="{href}"{}>{label} <span class="count">{n}</span></a>"#,
            if current {
                r#" aria-current="page""#
            } else {
                ""
            }
        );
    };
    let all_href = match account {
        Some(a) => format!("/review?account={}", encode(a)),
        None => "/review".to_owned(),
    };
    tab(&mut body, &all_href, "All", total, status.is_none());
    for s in Status::ALL {
        tab(
            &mut body,
            &format!("/review?status={s}{account_query}"),
            &capitalise(s.as_str()),
            count(s),
            status == Some(s),
        );
    }
    body.push_str("</nav>");
    // The account filter: the accounts this reviewer reviews.
    let shown: Vec<_> = accounts
        .iter()
        .filter(|a| scope.allows_account(a))
        .collect();
    if shown.len() > 1 || account.is_some() {
        body.push_str(r#"<form method="get" action="/review" class="filter" id="account-filter"><label for="account">Account</label><select id="account" name="account"><option value="">All accounts</option>"#);
        for a in &shown {
            let value = a
                .username
                .as_deref()
                .map_or_else(|| a.id.clone(), |u| format!("@{u}"));
            let selected = account.is_some_and(|wanted| {
                domain::account::AccountRef::parse(wanted)
                    .is_some_and(|r| r.names(&a.id, a.username.as_deref()))
            });
            let _ = write!(
                body,
                r#"<option value="{}"{}>{}</option>"#,
                esc(&value),
                if selected { " selected" } else { "" },
                esc(&a.label())
            );
        }
        if let Some(s) = status {
            let _ = write!(
                body,
                r#"</select><input type="hidden" name="status" value="{s}">"#
            );
        } else {
            body.push_str("</select>");
        }
        body.push_str(r#"<button type="submit">Show</button></form>"#);
    }
    if rows.is_empty() {
        body.push_str(r#"<p class="empty">No drafts here.</p>"#);
    } else {
        body.push_str(r#"<ul class="drafts">"#);
        for row in &rows {
            let text = row.text().unwrap_or_default();
            let first_line = text.caption.lines().next().unwrap_or("");
            let preview: String = first_line.chars().take(90).collect();
            let image = row.image_key.as_ref().map_or_else(
                || "/media/pending.svg".to_owned(),
                |key| format!("/media/{key}"),
            );
            let _ = write!(
                body,
                r#"<li><a href="/review/{id}"><img src="{image}" alt="{alt}" width="72" height="72" loading="lazy"><span class="summary"><span class="caption">{preview}</span><span class="meta"><span class="badge {status}">{status}</span> <span class="account">{account}</span> {created}</span></span></a></li>"#,
                id = esc(&row.id),
                account = esc(&crate::scope::label(&accounts, row.account_id.as_deref())),
                image = esc(&image),
                alt = esc(&text.alt_text),
                preview = esc(&preview),
                status = esc(row.status.as_str()),
                created = time(&row.created_at),
            );
        }
        body.push_str("</ul>");
    }
    if more && let Some(last) = rows.last() {
        let mut href = format!("/review?cursor={}", PageCursor::after(last).encode());
        if let Some(s) = status {
            let _ = write!(href, "&status={s}");
        }
        href.push_str(&account_query);
        let _ = write!(
            body,
            r#"<p class="pager"><a href="{}" rel="next">Older drafts</a></p>"#,
            esc(&href)
        );
    }
    page_response(200, layout("Drafts", Some(&actor.name), &body))
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or(String::new(), |c| c.to_uppercase().chain(chars).collect())
}

/// `/review/{id}`: the draft, its preview, the editor and the decisions open to it.
pub async fn draft(
    req: &Request,
    env: &Env,
    actor: &Actor,
    id: &str,
) -> Result<Response, ApiError> {
    let id = drafts::parse_id(id)?;
    let store = DraftStore::from_env(env)?;
    let row = drafts::visible_row(&store, id).await?;
    let (comments, steps) = store.history(id).await?;
    let max_hashtags = crate::config::max_hashtags(env)?;
    let origin = drafts::origin(req);
    let view = drafts::view(&origin, &row, max_hashtags).unwrap_or(Value::Null);
    let generated = row.generated_text();
    let data = json!({
        "draft": view,
        "generated": generated,
        "limits": {
            "caption": MAX_CAPTION_CHARS,
            "altText": MAX_ALT_TEXT_CHARS,
            "hashtags": max_hashtags,
            "mentions": MAX_MENTIONS,
        },
        "reviewer": actor.name,
    });
    let status = row.status();
    let text = row.text().unwrap_or_default();
    let accounts = platform::accounts::AccountStore::from_env(env)?
        .all()
        .await?;
    let account_label = crate::scope::label(&accounts, row.account_id.as_deref());
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<p class="back"><a href="/review">← All drafts</a></p><h1>Draft <span class="badge {s}" id="status">{s}</span></h1><p class="meta">For <strong id="draft-account">{account}</strong> · created {created} · revision <span id="revision">{rev}</span> · written by {writer}</p>"#,
        account = esc(&account_label),
        s = esc(row.status.as_str()),
        created = time(&row.created_at),
        rev = row.revision,
        writer = esc(&row.provider),
    );
    if let Some(error) = &row.last_error {
        // On a draft still on its way, the reason is why it waits, not a failure.
        let (class, label) = match status {
            Status::Approved | Status::Publishing => ("waiting", "Waiting:"),
            _ => ("failed", "Why it failed:"),
        };
        let _ = write!(
            body,
            r#"<div class="notice {class}" role="status"><strong>{label}</strong> {}</div>"#,
            esc(error)
        );
    }
    if let Some(link) = &row.permalink {
        let _ = write!(
            body,
            r#"<div class="notice published"><strong>Published:</strong> <a href="{0}" rel="noopener noreferrer" target="_blank">{0}</a></div>"#,
            esc(link)
        );
    } else if status == Status::Published && row.media_id.is_none() {
        body.push_str(r#"<div class="notice published" role="status"><strong>Published.</strong> The post is live, but Instagram did not say which post it is (its media id is unknown), so there is no link: look for it on the account.</div>"#);
    }
    if let Some(at) = &row.scheduled_at {
        let _ = write!(body, r#"<p class="meta">Scheduled for {}</p>"#, time(at));
    }
    body.push_str(r#"<div id="conflict" class="notice conflict" role="alert" hidden></div><div class="columns"><section aria-labelledby="preview-title" class="card"><h2 id="preview-title">Preview</h2>"#);
    let image = view["image"]["previewUrl"]
        .as_str()
        .unwrap_or("/media/pending.svg");
    let _ = write!(
        body,
        r#"<figure class="post"><div class="post-head"><span class="avatar" aria-hidden="true"></span><span>{handle}</span></div><div class="frame"><img id="preview-image" src="{image}" alt="{alt}"></div><figcaption><p class="post-caption" id="preview-caption">{caption}</p><p class="post-alt"><strong>Alt text:</strong> <span id="preview-alt">{alt}</span></p></figcaption></figure><p class="meta" id="image-status">Image: {istatus}{ierror}</p>"#,
        image = esc(image),
        handle = esc(account_label.trim_start_matches('@')),
        alt = esc(&text.alt_text),
        caption = esc(&text.caption),
        istatus = esc(row.image_status.as_str()),
        ierror = row
            .image_error
            .as_ref()
            .map_or(String::new(), |e| format!(" ({})", esc(e))),
    );
    body.push_str("</section>");

    // The editor: live only while the draft is under review.
    let editable = status == Status::Draft;
    let disabled = if editable { "" } else { " disabled" };
    let _ = write!(
        body,
        r#"<section aria-labelledby="edit-title" class="card"><h2 id="edit-title">Text</h2><form id="edit-form" novalidate><div class="field"><label for="caption">Caption</label><textarea id="caption" name="caption" rows="8" aria-describedby="caption-count caption-problem"{disabled}>{caption}</textarea><p class="count" id="caption-count" aria-live="polite"></p><p class="problem" id="caption-problem"></p><p class="problem hidden-characters" id="caption-hidden" role="alert" hidden></p></div><div class="field"><label for="hashtags">Hashtags <span class="hint">(separated by spaces)</span></label><input id="hashtags" name="hashtags" value="{tags}" aria-describedby="hashtags-count hashtags-problem"{disabled}><p class="count" id="hashtags-count" aria-live="polite"></p><p class="problem" id="hashtags-problem"></p><p class="problem hidden-characters" id="hashtags-hidden" role="alert" hidden></p></div><div class="field"><label for="altText">Alt text</label><textarea id="altText" name="altText" rows="3" aria-describedby="altText-count altText-problem"{disabled}>{alt}</textarea><p class="count" id="altText-count" aria-live="polite"></p><p class="problem" id="altText-problem"></p><p class="problem hidden-characters" id="altText-hidden" role="alert" hidden></p></div>"#,
        caption = esc(&text.caption),
        tags = esc(&text
            .hashtags
            .iter()
            .map(|t| format!("#{t}"))
            .collect::<Vec<_>>()
            .join(" ")),
        alt = esc(&text.alt_text),
    );
    if editable {
        body.push_str(r#"<div class="actions"><button type="submit" class="primary" id="save">Save text</button><span id="save-status" role="status"></span></div>"#);
    }
    body.push_str(r#"</form><details id="diff-box" open><summary>What changed since the text was written</summary><p id="diff" class="diff"></p></details></section></div>"#);

    // Decisions open to the draft.
    body.push_str(r#"<section aria-labelledby="decide-title" class="card"><h2 id="decide-title">Decide</h2><p id="decide-status" role="status"></p>"#);
    // What the draft offers is what the write rules allow (`reviewer_actions`), so a button is
    // shown exactly when its write would be legal. Approval waits for the image: the form is
    // there, its button enabled by the page once the image is ready.
    let state = row.state();
    let offered = domain::change::reviewer_actions(state);
    let offers = |event: Event| offered.contains(&event);
    let approvable_once_ready = domain::change::reviewer_actions(DraftState {
        image: ImageStatus::Ready,
        ..state
    })
    .contains(&Event::Approve);
    if approvable_once_ready {
        let waits = !offers(Event::Approve);
        body.push_str(r#"<form id="approve-form" class="stack"><label for="approve-comment">Comment (optional)</label><textarea id="approve-comment" rows="2"></textarea><label for="schedule">Publish at (optional; empty publishes now)</label><input id="schedule" type="datetime-local"><p class="hint" id="zone"></p><p class="problem" id="schedule-problem"></p><p class="hint">Approving sends exactly the text and image shown, at this revision. The changes from the written text are shown above.</p>"#);
        if waits {
            body.push_str(r#"<p class="hint" id="approve-waits">Approving is possible once the image is ready.</p>"#);
        }
        body.push_str(r#"<div class="actions">"#);
        body.push_str(if waits {
            r#"<button type="submit" class="primary" id="approve" disabled>Approve</button>"#
        } else {
            r#"<button type="submit" class="primary" id="approve">Approve</button>"#
        });
        if offers(Event::Discard) {
            body.push_str(r#"<button type="button" id="discard" class="danger">Discard</button>"#);
        }
        if offers(Event::ImageRequested) {
            body.push_str(r#"<button type="button" id="new-image">New image</button>"#);
        }
        body.push_str("</div></form>");
    } else if offers(Event::Reapprove) {
        body.push_str(r#"<div class="actions"><button type="button" class="primary" id="reapprove">Publish again with the approved text</button></div>"#);
        if offers(Event::Regenerate) {
            body.push_str(r#"<fieldset class="stack"><legend>Or regenerate and review again</legend><label><input type="checkbox" id="regen-text" checked> New text</label><label><input type="checkbox" id="regen-image"> New image</label><div class="actions"><button type="button" id="regenerate">Regenerate</button>"#);
            if offers(Event::Discard) {
                body.push_str(
                    r#"<button type="button" id="discard" class="danger">Discard</button>"#,
                );
            }
            body.push_str("</div></fieldset>");
        }
    } else if offers(Event::Reschedule)
        && row.scheduled_at.is_some()
        && row.publish_due_at.is_none()
    {
        // A timed post not queued yet: its time can still change, or it can go now.
        body.push_str(r#"<p>Approved, waiting for its time. This page updates by itself.</p><form id="schedule-form" class="stack"><label for="new-schedule">Change the time</label><input id="new-schedule" type="datetime-local"><p class="hint" id="zone"></p><p class="problem" id="schedule-problem"></p><div class="actions"><button type="submit" class="primary" id="reschedule">Change the time</button><button type="button" id="publish-now">Publish now</button></div></form>"#);
    } else {
        body.push_str(match status {
            Status::Approved | Status::Publishing => {
                r#"<p>Approved; publishing is on its way. This page updates by itself.</p>"#
            }
            Status::Published => r#"<p>Published.</p>"#,
            Status::Discarded => r#"<p>Discarded.</p>"#,
            _ => r#"<p>Nothing to decide now.</p>"#,
        });
    }
    // Taking the approval back: offered while nothing can have gone to Instagram yet (the
    // guards of the withdraw write).
    if offers(Event::Withdraw)
        && row.publish_claim.is_none()
        && row.publish_sent_container.is_none()
    {
        body.push_str(r#"<div class="stack withdraw"><label for="withdraw-comment">Why withdraw (optional)</label><textarea id="withdraw-comment" rows="2"></textarea><p class="hint">Withdrawing stops publishing and returns the draft to review.</p><div class="actions"><button type="button" id="withdraw" class="danger">Withdraw approval</button></div></div>"#);
    }
    body.push_str(r#"</section>"#);

    // Comments and history.
    body.push_str(r#"<section aria-labelledby="history-title" class="card"><h2 id="history-title">History</h2><form id="comment-form" class="stack"><label for="comment">Add a comment</label><textarea id="comment" rows="2" required></textarea><p class="problem hidden-characters" id="comment-hidden" role="alert" hidden></p><div class="actions"><button type="submit">Comment</button></div></form><ol class="history" id="history">"#);
    for entry in history_entries(&comments, &steps) {
        body.push_str(&entry);
    }
    body.push_str("</ol></section>");
    body.push_str(&json_block("draft-data", &data));
    page_response(200, layout("Draft", Some(&actor.name), &body))
}

/// Comments, decisions and publish steps in one list, oldest first.
fn history_entries(comments: &[Value], steps: &[Value]) -> Vec<String> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_owned();
    for c in comments {
        let decision = s(c, "decision");
        let what = match decision.as_str() {
            "comment" => "commented on",
            "edit" => "edited the text of",
            "approve" => "approved",
            "reapprove" => "re-approved",
            "reschedule" => "changed the publishing time of",
            "regenerate" => "asked for new text or image for",
            "discard" => "discarded",
            "withdraw" => "withdrew the approval of",
            _ => "acted",
        };
        let comment = s(c, "comment");
        let quote = if comment.is_empty() {
            String::new()
        } else {
            format!(r#"<blockquote>{}</blockquote>"#, esc(&comment))
        };
        entries.push((
            s(c, "createdAt"),
            format!(
                r#"<li><span class="when">{}</span> <strong>{}</strong> {what} revision {}{quote}</li>"#,
                time(&s(c, "createdAt")),
                esc(&s(c, "reviewer")),
                c["revision"],
            ),
        ));
    }
    for step in steps {
        let outcome = s(step, "outcome");
        let class = s(step, "errorClass");
        let reason = if class.is_empty() {
            String::new()
        } else {
            let code = match (step["errorCode"].as_i64(), step["errorSubcode"].as_i64()) {
                (Some(c), Some(sc)) => format!(" (code {c}/{sc})"),
                (Some(c), None) => format!(" (code {c})"),
                _ => String::new(),
            };
            format!(
                r#": {}{code}. <span class="detail">{}</span>"#,
                html::error_class_words(&class),
                esc(&s(step, "message"))
            )
        };
        entries.push((
            s(step, "createdAt"),
            format!(
                r#"<li class="step {outcome}"><span class="when">{}</span> Publish attempt {}: {} <em>{}</em>{reason}</li>"#,
                time(&s(step, "createdAt")),
                step["attempt"],
                esc(&s(step, "step")),
                esc(&outcome),
            ),
        ));
    }
    // Stable: equal times keep comments before steps, each in its own order.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().map(|(_, html)| html).collect()
}

/// `/review/failures`: failed drafts, and publish errors by class and day, so a pattern (an
/// expired token, the quota, an image problem) shows at a glance.
pub async fn failures(env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let store = DraftStore::from_env(env)?;
    let (failed, _, _) =
        crate::scope::page(env, actor, None, Some(Status::Failed), None, 50, false).await?;
    // The errors by day are every account's: a reviewer limited to some accounts sees only
    // their failed drafts.
    let by_day = if actor.accounts.is_none() {
        store.failure_counts(30).await?
    } else {
        Vec::new()
    };
    let mut body = String::from("<h1>Failures</h1>");
    body.push_str(r#"<section class="card"><h2>Publish errors by day (30 days)</h2>"#);
    if actor.accounts.is_some() {
        body.push_str(r#"<p class="empty">Counted over every account, so shown only to reviewers of every account. Your accounts' failed drafts are below.</p>"#);
    } else if by_day.is_empty() {
        body.push_str(r#"<p class="empty">No publish errors.</p>"#);
    } else {
        let mut classes: Vec<String> = by_day.iter().map(|(_, c, _)| c.clone()).collect();
        classes.sort();
        classes.dedup();
        let mut days: Vec<String> = by_day.iter().map(|(d, _, _)| d.clone()).collect();
        days.dedup();
        body.push_str(r#"<div class="scroll"><table><caption>Failed or retried publish steps</caption><thead><tr><th scope="col">Day (UTC)</th>"#);
        for class in &classes {
            let _ = write!(
                body,
                r#"<th scope="col" title="{}">{}</th>"#,
                esc(html::error_class_words(class)),
                esc(class)
            );
        }
        body.push_str("</tr></thead><tbody>");
        for day in &days {
            let _ = write!(body, r#"<tr><th scope="row">{}</th>"#, esc(day));
            for class in &classes {
                let n = by_day
                    .iter()
                    .find(|(d, c, _)| d == day && c == class)
                    .map_or(0, |(_, _, n)| *n);
                let _ = write!(
                    body,
                    r#"<td class="{}">{n}</td>"#,
                    if n > 0 { "hot" } else { "" }
                );
            }
            body.push_str("</tr>");
        }
        body.push_str("</tbody></table></div><dl class=\"legend\">");
        for class in &classes {
            let _ = write!(
                body,
                "<dt>{}</dt><dd>{}</dd>",
                esc(class),
                esc(html::error_class_words(class))
            );
        }
        body.push_str("</dl>");
    }
    body.push_str(r#"</section><section class="card"><h2>Failed drafts</h2>"#);
    if failed.is_empty() {
        body.push_str(r#"<p class="empty">No failed drafts.</p>"#);
    } else {
        body.push_str(r#"<ul class="failures">"#);
        for row in &failed {
            let caption: String = row
                .caption
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(80)
                .collect();
            let _ = write!(
                body,
                r#"<li><a href="/review/{}">{}</a><p class="reason">{}</p><p class="meta">{}</p></li>"#,
                esc(&row.id),
                esc(&caption),
                esc(row.last_error.as_deref().unwrap_or("no reason recorded")),
                time(&row.updated_at),
            );
        }
        body.push_str("</ul>");
    }
    body.push_str("</section>");
    page_response(200, layout("Failures", Some(&actor.name), &body))
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
    fn history_escapes_and_orders() {
        let comments = vec![
            json!({"revision": 2, "reviewer": "<b>x</b>", "decision": "comment", "comment": "<script>", "createdAt": "2030-01-01T00:00:02Z"}),
        ];
        let steps = vec![
            json!({"attempt": 1, "step": "publish", "outcome": "failed", "errorClass": "token_invalid", "errorCode": 190, "errorSubcode": 463, "message": "expired", "createdAt": "2030-01-01T00:00:01Z"}),
        ];
        let entries = history_entries(&comments, &steps);
        assert_eq!(entries.len(), 2);
        assert!(entries[0].contains("access token"), "{}", entries[0]);
        assert!(entries[0].contains("code 190/463"));
        assert!(entries[1].contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(!entries[1].contains("<script>"));
    }
}
