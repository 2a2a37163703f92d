//! The client's page behind an approval link (`client_link`), and the reviewers' links page.
//! The client's page shows only the link's drafts, as Instagram will show them, with no
//! navigation to anything else; its script is `review/client.js`.

use domain::client_link::{Link, Refusal};
use domain::content::PostText;
use domain::draft::{ImageStatus, Status};
use maud::{Markup, html};
use platform::client_links::LinkRow;
use platform::store::DraftRow;
use time::OffsetDateTime;
use worker::Response;

use super::html::{json_block, layout, page_response, time};
use crate::reply::ApiError;

/// A link that no longer opens: why, and nothing else.
pub fn closed(refusal: &Refusal) -> Result<Response, ApiError> {
    let body = html! {
        section class="card narrow" {
            h1 { "This link no longer works" }
            p { (refusal.to_string()) ". Ask the team that sent it for a new one." }
        }
    };
    page_response(410, layout("Link closed", None, body))
}

/// The drafts of an open link.
pub fn page(
    link: &Link,
    secret: &str,
    drafts: &[&DraftRow],
    now: OffsetDateTime,
) -> Result<Response, ApiError> {
    let expires = domain::message::format_rfc3339(link.expires_at);
    let body = html! {
        section class="card client-intro" {
            h1 { "Posts for " (link.client_name) " to review" }
            p { "You can approve each post as shown, ask for changes, or comment. Your decisions are recorded under your name. This link works until " (time(&expires)) "." }
        }
        @if drafts.is_empty() {
            section class="card" { p { "These posts are no longer available." } }
        }
        @for row in drafts { (client_draft(row, now)) }
        (json_block("client-link", &serde_json::json!({ "secret": secret })))
        script src="/review/assets/client.js" defer {}
    };
    let title = format!("Posts for {}", link.client_name);
    page_response(200, layout(&title, None, body))
}

fn client_draft(row: &DraftRow, now: OffsetDateTime) -> Markup {
    let Some(text) = row.text() else {
        return html! {};
    };
    // What Instagram receives: the caption with its hashtags (the raw caption if the text no
    // longer meets the rules, which approval then reports).
    let caption = PostText::parse(&text, usize::MAX)
        .map(|post| post.instagram_caption())
        .unwrap_or_else(|_| text.caption.clone());
    let image = row.image_key.as_ref().map(|key| format!("/media/{key}"));
    let approvable = row.status() == Status::Draft && row.image_status() == ImageStatus::Ready;
    let planned = row
        .scheduled_at()
        .filter(|at| *at > now)
        .and(row.scheduled_at.as_deref());
    html! {
        article class="card client-draft" data-draft=(row.id) data-revision=(row.revision) {
            figure class="post" {
                div class="frame" {
                    @if let Some(src) = &image { img src=(src) alt=(text.alt_text); }
                    @else { p class="frame-placeholder" { "The image is still being made." } }
                }
                figcaption {
                    p class="post-caption" { (caption) }
                    p class="post-alt" { strong { "Alt text:" } " " (text.alt_text) }
                }
            }
            @if let Some(at) = planned { p class="meta" { "Planned for " (time(at)) } }
            (client_status(row))
            @if approvable {
                div class="stack" {
                    label for=(format!("note-{}", row.id)) { "Your note (optional for approval)" }
                    textarea id=(format!("note-{}", row.id)) class="client-note" rows="2" {}
                    div class="actions" {
                        button type="button" class="primary" data-client="approve" { "Approve" }
                        button type="button" data-client="changes" { "Ask for changes" }
                        button type="button" data-client="comment" { "Comment" }
                    }
                    p class="problem" role="status" data-client-result {}
                }
            }
        }
    }
}

fn client_status(row: &DraftRow) -> Markup {
    let approved = |by: &Option<String>| {
        html! {
            @if let (Some(by), Some(at)) = (by, &row.approved_at) {
                p class="meta" { "Approved by " (by) " on " (time(at)) "." }
            }
        }
    };
    match row.status() {
        Status::Draft if row.image_status() != ImageStatus::Ready => {
            html! { p class="meta" { "Waiting for its image; come back in a minute." } }
        }
        Status::Draft => html! {},
        Status::Approved | Status::Publishing => approved(&row.approved_by),
        Status::Published => html! { p class="meta" { "Published." } (approved(&row.approved_by)) },
        Status::Failed => html! { p class="meta" { "The team is looking at this post." } },
        _ => html! { p class="meta" { "This post is no longer planned." } },
    }
}

/// The links page's content: the reviewers' view of clients' links: make one for drafts under review,
/// see who has one and until when, revoke.
pub fn links_page(
    reviewer: &str,
    links: &[LinkRow],
    under_review: &[DraftRow],
) -> Result<Response, ApiError> {
    let body = html! {
        section class="card" aria-labelledby="new-link-title" {
            h1 id="new-link-title" { "Client links" }
            p class="hint" { "A link lets a person outside the team see the drafts you pick as Instagram will show them, and approve them, ask for changes or comment, under their name. It expires, and you can revoke it." }
            form id="new-link" class="stack" {
                label for="client-name" { "Client's name" }
                input id="client-name" name="clientName" required maxlength="60" autocomplete="off";
                label for="link-days" { "Works for (days)" }
                input id="link-days" name="expiresInDays" type="number" min="1" max="30" value="7";
                fieldset class="stack" {
                    legend { "Drafts to show" }
                    @if under_review.is_empty() { p class="hint" { "No draft is under review." } }
                    @for row in under_review {
                        label class="pick" {
                            input type="checkbox" name="draftIds" value=(row.id);
                            " " (first_line(row))
                        }
                    }
                }
                div class="actions" { button type="submit" class="primary" { "Make the link" } }
                p class="problem" role="status" id="new-link-result" {}
                p hidden id="new-link-made" {
                    "Send this link to your client (it is shown once): "
                    input id="new-link-url" readonly;
                }
            }
        }
        section class="card" aria-labelledby="links-title" {
            h2 id="links-title" { "Links made" }
            @if links.is_empty() { p id="no-links" { "No link yet." } }
            ul class="links" {
                @for link in links {
                    li {
                        strong { (link.client_name) } " · "
                        (serde_json::from_str::<Vec<String>>(&link.draft_ids).map_or(0, |ids| ids.len())) " drafts · made by " (link.created_by) " · "
                        @if let Some(at) = &link.revoked_at {
                            "revoked " (time(at))
                            @if let Some(by) = &link.revoked_by { " by " (by) }
                        } @else {
                            "until " (time(&link.expires_at)) " "
                            button type="button" class="danger" data-revoke=(link.id) { "Revoke" }
                        }
                    }
                }
            }
        }
        script src="/review/assets/client.js" defer {}
    };
    page_response(200, layout("Client links", Some(reviewer), body))
}

/// How a draft is told apart in the picker: its first line, and the brief it was written from.
fn first_line(row: &DraftRow) -> String {
    let caption = row.caption.as_deref().unwrap_or_default();
    let line: String = caption
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(60)
        .collect();
    let brief = row
        .request
        .as_deref()
        .and_then(|request| serde_json::from_str::<serde_json::Value>(request).ok())
        .and_then(|request| {
            request["brief"]
                .as_str()
                .map(|b| b.chars().take(80).collect::<String>())
        });
    match brief {
        Some(brief) if !line.is_empty() => format!("{line} — {brief}"),
        Some(brief) => brief,
        None if line.is_empty() => row.id.clone(),
        None => line,
    }
}

/// `/review/links`: clients' approval links, and the drafts under review one can be made for.
pub async fn links(env: &worker::Env, actor: &crate::auth::Actor) -> Result<Response, ApiError> {
    use domain::draft::Status;
    use platform::client_links::ClientLinkStore;
    use platform::store::DraftStore;
    let store = DraftStore::from_env(env)?;
    let (links, page) = futures::join!(
        async { ClientLinkStore::from_env(env)?.newest().await },
        store.page(Some(Status::Draft), None, 50)
    );
    let (under_review, _) = page?;
    let accounts = platform::accounts::AccountStore::from_env(env)?
        .all()
        .await?;
    let scope = crate::scope::Scope::of(actor, &accounts);
    let mine: Vec<_> = under_review
        .into_iter()
        .filter(|row| scope.allows(row.account_id.as_deref()))
        .collect();
    links_page(&actor.name, &links?, &mine)
}
