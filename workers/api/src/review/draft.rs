//! `/review/{id}`: one draft with its preview, editor, the decisions open to it, and its
//! history. `app.js` makes it live through the JSON API.

use domain::content::RawPostText;
use domain::draft::{DraftState, Event, ImageStatus, Status};
use maud::{Markup, html};
use platform::store::{DraftRow, DraftStore};
use serde_json::{Value, json};
use worker::{Env, Request, Response};

use super::html::{error_class_words, json_block, layout, page_response, time};
use crate::auth::Actor;
use crate::drafts;
use crate::reply::ApiError;

/// `/review/{id}`: the draft, its preview, the editor and the decisions open to it.
pub async fn page(req: &Request, env: &Env, actor: &Actor, id: &str) -> Result<Response, ApiError> {
    let id = drafts::parse_id(id)?;
    let store = DraftStore::from_env(env)?;
    let row = drafts::visible_row(&store, id).await?;
    let (comments, steps) = store.history(id).await?;
    let max_hashtags = crate::config::max_hashtags(env)?;
    let view = drafts::view(&drafts::origin(req), &row, max_hashtags).unwrap_or(Value::Null);
    let text = row.text().unwrap_or_default();
    // The page shows the counts and the caption Instagram receives as `domain::content` has
    // them: here for the text it loads with, then from `POST /api/v1/text/check` as it changes.
    let generated = row.generated_text().map(|generated| {
        json!({ "instagramCaption": generated.instagram_caption(), "altText": generated.alt_text })
    });
    let data = json!({
        "draft": view,
        "generated": generated,
        "standing": crate::check::standing(&text, max_hashtags),
        "reviewer": actor.name,
    });
    let accounts = platform::accounts::AccountStore::from_env(env)?
        .all()
        .await?;
    let account = crate::scope::label(&accounts, row.account_id.as_deref());
    // A post of photos shows its first photo once fitted (the carousel is in the Photos
    // section); a post of its generated image, that image or the placeholder.
    let photos = view["mediaItems"]
        .as_array()
        .filter(|items| !items.is_empty());
    let image = match photos {
        Some(items) => items[0]["url"].as_str().unwrap_or("/media/pending.svg"),
        None => view["image"]["previewUrl"]
            .as_str()
            .unwrap_or("/media/pending.svg"),
    };
    let image_state = match photos {
        Some(items) => {
            let ready = items.iter().filter(|i| i["url"].is_string()).count();
            format!("Photos: {ready} of {} ready", items.len())
        }
        None => match &row.image_error {
            Some(error) => format!("Image: {} ({error})", row.image_status),
            None => format!("Image: {}", row.image_status),
        },
    };
    let body = html! {
        (heading(&row, &account))
        div id="conflict" class="notice conflict" role="alert" hidden {}
        (written_from(&row))
        div class="columns" {
            (preview(&text, &account, image, &image_state))
            (editor(&text, row.status() == Status::Draft))
        }
        (super::media::section(&view, row.status() == Status::Draft))
        (decisions(&row))
        section aria-labelledby="history-title" class="card" {
            h2 id="history-title" { "History" }
            form id="comment-form" class="stack" {
                label for="comment" { "Add a comment" }
                textarea id="comment" rows="2" required {}
                p class="problem hidden-characters" id="comment-hidden" role="alert" hidden {}
                div class="actions" { button type="submit" { "Comment" } }
            }
            ol class="history" id="history" {
                @for entry in history_entries(&comments, &steps) { (entry) }
            }
        }
        (json_block("draft-data", &data))
    };
    page_response(200, layout("Draft", Some(&actor.name), body))
}

/// The title, who it is for, and what stands in its way or happened to it: publishing as it
/// happens (the attempt that failed and when the next follows, which `app.js` keeps live),
/// why it failed, or where it is live. Never "on its way" beside "why it failed".
fn heading(row: &DraftRow, account: &str) -> Markup {
    let status = row.status();
    let on_its_way = matches!(status, Status::Approved | Status::Publishing);
    html! {
        p class="back" { a href="/review" { "← All drafts" } }
        h1 { "Draft " span class={ "badge " (row.status) } id="status" { (row.status) } }
        p class="meta" {
            "For " strong id="draft-account" { (account) }
            " · created " (time(&row.created_at))
            " · revision " span id="revision" { (row.revision) }
            " · written by " (row.provider)
        }
        @if let (Some(at), true) = (&row.scheduled_at, on_its_way) {
            p class="meta scheduled" id="scheduled" { "Scheduled for " (time(at)) }
        }
        div class="notice waiting" id="attempt" role="status" hidden[!on_its_way || row.last_error.is_none()] {
            strong { "Publishing:" } " " span id="attempt-text" { (row.last_error.as_deref().unwrap_or("")) }
        }
        @if let (Some(error), false) = (&row.last_error, on_its_way) {
            div class="notice failed" role="status" { strong { "Why it failed:" } " " (error) }
        }
        @if let Some(link) = &row.permalink {
            div class="notice published" {
                @if on_instagram(link) {
                    strong { "Published:" } " "
                } @else {
                    strong { "Published on the local Graph API simulator, not on Instagram:" } " "
                }
                a href=(link) rel="noopener noreferrer" target="_blank" { (link) }
            }
        } @else if status == Status::Published && row.media_id.is_none() {
            div class="notice published" role="status" {
                strong { "Published." }
                " The post is live, but Instagram did not say which post it is (its media id is unknown), so there is no link: look for it on the account."
            }
        }
    }
}

/// Whether a permalink is Instagram's own (`https://www.instagram.com/...`); the local
/// simulator's are on a host of its own, so the page does not pass them off as real posts.
fn on_instagram(link: &str) -> bool {
    let host = link
        .strip_prefix("https://")
        .and_then(|rest| rest.split(['/', '?', '#']).next())
        .unwrap_or("");
    matches!(host, "www.instagram.com" | "instagram.com")
}

/// What the post was written from: the brief, keywords and tone of the request, and the
/// prompt its image was made from.
fn written_from(row: &DraftRow) -> Markup {
    let request: Value = row
        .request
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let text = |key: &str| request[key].as_str().unwrap_or("").to_owned();
    let keywords: Vec<&str> = request["keywords"]
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let rows = [
        ("Brief", text("brief")),
        ("Keywords", keywords.join(", ")),
        ("Tone", text("tone")),
        ("Image prompt", row.image_prompt.clone()),
    ];
    html! {
        details class="card brief" id="brief" open {
            summary { "What it was written from" }
            dl {
                @for (name, value) in rows.iter().filter(|(_, value)| !value.is_empty()) {
                    dt { (name) } dd { (value) }
                }
            }
        }
    }
}

/// The post as the feed shows it, with its image's state.
fn preview(text: &RawPostText, account: &str, image: &str, image_state: &str) -> Markup {
    html! {
        section aria-labelledby="preview-title" class="card" {
            h2 id="preview-title" { "Preview" }
            figure class="post" {
                div class="post-head" {
                    span class="avatar" aria-hidden="true" {}
                    span { (account.trim_start_matches('@')) }
                }
                div class="frame" { img id="preview-image" src=(image) alt=(text.alt_text); }
                figcaption {
                    p class="post-caption" id="preview-caption" { (text.caption) }
                    p class="post-alt" {
                        strong { "Alt text:" } " " span id="preview-alt" { (text.alt_text) }
                    }
                }
            }
            p class="meta" id="image-status" { (image_state) }
        }
    }
}

/// The editor: live only while the draft is under review.
fn editor(text: &RawPostText, editable: bool) -> Markup {
    let tags: Vec<String> = text.hashtags.iter().map(|t| format!("#{t}")).collect();
    let disabled = !editable;
    let notes = |name: &str| {
        html! {
            p class="count" id={ (name) "-count" } aria-live="polite" {}
            p class="problem" id={ (name) "-problem" } {}
            p class="problem hidden-characters" id={ (name) "-hidden" } role="alert" hidden {}
        }
    };
    html! {
        section aria-labelledby="edit-title" class="card" {
            h2 id="edit-title" { "Text" }
            form id="edit-form" novalidate {
                div class="field" {
                    label for="caption" { "Caption" }
                    textarea id="caption" name="caption" rows="8" aria-describedby="caption-count caption-problem" disabled[disabled] { (text.caption) }
                    (notes("caption"))
                }
                div class="field" {
                    label for="hashtags" { "Hashtags " span class="hint" { "(separated by spaces)" } }
                    input id="hashtags" name="hashtags" value=(tags.join(" ")) aria-describedby="hashtags-count hashtags-problem" disabled[disabled];
                    (notes("hashtags"))
                }
                div class="field" {
                    label for="altText" { "Alt text" }
                    textarea id="altText" name="altText" rows="3" aria-describedby="altText-count altText-problem" disabled[disabled] { (text.alt_text) }
                    (notes("altText"))
                }
                @if editable {
                    div class="actions" {
                        button type="submit" class="primary" id="save" { "Save text" }
                        span id="save-status" role="status" {}
                    }
                }
            }
            details id="diff-box" open {
                summary { "What changed since the text was written" }
                div id="diff" class="diff" {}
            }
        }
    }
}

/// Decisions open to the draft: what the write rules allow (`reviewer_actions`), so a button
/// is shown exactly when its write would be legal. Approval waits for the image: the form is
/// there, its button enabled by the page once the image is ready. The main actions sit in a
/// `decide-bar`, which a phone keeps at the bottom of the screen.
fn decisions(row: &DraftRow) -> Markup {
    let state = row.state();
    let offered = domain::change::reviewer_actions(state);
    let offers = |event: Event| offered.contains(&event);
    let approvable_once_ready = domain::change::reviewer_actions(DraftState {
        image: ImageStatus::Ready,
        ..state
    })
    .contains(&Event::Approve);
    // Taking the approval back (to correct the post) is offered while nothing can have gone
    // to Instagram yet: the guards of the withdraw write.
    let correctable = offers(Event::Withdraw)
        && row.publish_claim.is_none()
        && row.publish_sent_container.is_none();
    let discard = html! {
        @if offers(Event::Discard) { button type="button" id="discard" class="danger" { "Discard" } }
    };
    let edit = html! {
        @if correctable { button type="button" id="edit-again" { "Edit" } }
    };
    // A person's edits are kept unless they ask for new text.
    let edited = row.text() != row.generated_text();
    html! {
        section aria-labelledby="decide-title" class="card" id="decide" {
            h2 id="decide-title" { "Decide" }
            p id="decide-status" role="status" {}
            @if approvable_once_ready {
                (approve_form(row, !offers(Event::Approve), &discard, offers(Event::ImageRequested)))
            } @else if offers(Event::Reapprove) {
                div class="actions decide-bar" {
                    button type="button" class="primary" id="reapprove" { "Publish again with the approved text" }
                    (edit)
                }
                @if correctable {
                    p class="hint" { "Edit returns the draft to review with its text, to correct it and approve it again." }
                } @else {
                    p class="hint" { "Instagram may have received this post: publishing again checks that first, so it is never posted twice. Its text can no longer be edited." }
                }
                @if offers(Event::Regenerate) {
                    fieldset class="stack" {
                        legend { "Or regenerate and review again" }
                        label { input type="checkbox" id="regen-text" checked[!edited]; " New text" }
                        @if edited { p class="hint" { "The text was edited by a person: tick New text to replace it." } }
                        label { input type="checkbox" id="regen-image"; " New image" }
                        div class="actions" { button type="button" id="regenerate" { "Regenerate" } (discard) }
                    }
                }
            } @else if offers(Event::Reschedule) && row.scheduled_at.is_some() && row.publish_due_at.is_none() {
                // A timed post not queued yet: its time can still change, or it can go now.
                p { "Approved, waiting for its time (above). This page updates by itself." }
                form id="schedule-form" class="stack" {
                    label for="new-schedule" { "Change the time" }
                    input id="new-schedule" type="datetime-local" data-at=[row.scheduled_at.as_deref()];
                    p class="hint" id="zone" {}
                    p class="problem" id="schedule-problem" {}
                    div class="actions decide-bar" {
                        button type="submit" class="primary" id="reschedule" { "Change the time" }
                        button type="button" id="publish-now" { "Publish now" }
                        (edit)
                    }
                }
            } @else {
                p id="settled" { (settled(row)) }
                @if correctable { div class="actions decide-bar" { (edit) } }
            }
            @if correctable && row.status() == Status::Approved {
                div class="stack withdraw" {
                    label for="withdraw-comment" { "Why withdraw (optional)" }
                    textarea id="withdraw-comment" rows="2" {}
                    p class="hint" { "Withdrawing stops publishing and returns the draft to review; Edit does the same and opens the text." }
                    div class="actions" { button type="button" id="withdraw" class="danger" { "Withdraw approval" } }
                }
            }
        }
    }
}

/// The approval: now, or at the time typed (prefilled with the time the post had before it
/// came back to review); `app.js` names the time on the button, and saves unsaved text first.
fn approve_form(row: &DraftRow, waits: bool, discard: &Markup, new_image: bool) -> Markup {
    html! {
        form id="approve-form" class="stack" {
            label for="approve-comment" { "Comment (optional)" }
            textarea id="approve-comment" rows="2" {}
            label for="schedule" { "Publish at (optional; empty publishes now)" }
            input id="schedule" type="datetime-local" data-at=[row.scheduled_at.as_deref()];
            p class="hint" id="zone" {}
            p class="problem" id="schedule-problem" {}
            p class="hint" { "Approving sends exactly the text and image shown, at this revision; unsaved changes are saved first. The changes from the written text are shown above." }
            @if waits {
                p class="hint" id="approve-waits" { "Approving is possible once the image is ready." }
            }
            div class="actions decide-bar" {
                button type="submit" class="primary" id="approve" disabled[waits] { "Approve" }
                (discard)
                @if new_image { button type="button" id="new-image" { "New image" } }
            }
        }
    }
}

/// What a draft with nothing to decide says; an approved post that is being retried says
/// so (its attempt is shown above), not that it is on its way.
fn settled(row: &DraftRow) -> &'static str {
    match row.status() {
        Status::Approved | Status::Publishing if row.last_error.is_some() => {
            "Approved; publishing is being retried (the attempts are shown above). This page updates by itself."
        }
        Status::Approved | Status::Publishing => {
            "Approved; publishing is on its way. This page updates by itself."
        }
        Status::Published => "Published.",
        Status::Discarded => "Discarded.",
        _ => "Nothing to decide now.",
    }
}

/// Comments, decisions and publish steps in one list, oldest first, in plain words ("Aiko
/// approved the text she edited" reads "Aiko approved the text after editing it"; "Instagram
/// published it"). A publish attempt's routine steps (claimed, container made, read) are left
/// out: what is told is each failure and how it ended.
pub(super) fn history_entries(comments: &[Value], steps: &[Value]) -> Vec<Markup> {
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_owned();
    let mut entries: Vec<(String, Markup)> = Vec::new();
    // Who last changed the text by hand, as of each decision.
    let mut editor: Option<String> = None;
    for c in comments {
        let who = s(c, "reviewer");
        let what = match s(c, "decision").as_str() {
            "comment" => "commented".to_owned(),
            "edit" => {
                editor = Some(who.clone());
                "edited the text".to_owned()
            }
            "approve" => match &editor {
                None => "approved the text as it was written".to_owned(),
                Some(by) if *by == who => "approved the text after editing it".to_owned(),
                Some(by) => format!("approved the text {by} edited"),
            },
            "reapprove" => "asked to publish it again with the approved text".to_owned(),
            "reschedule" => "changed the publishing time".to_owned(),
            "regenerate" => {
                editor = None;
                "asked for new text or image".to_owned()
            }
            "discard" => "discarded it".to_owned(),
            "withdraw" => "took the approval back to correct it".to_owned(),
            _ => "acted".to_owned(),
        };
        let comment = s(c, "comment");
        let entry = html! {
            li {
                span class="when" { (time(&s(c, "createdAt"))) } " "
                strong { (who) } " " (what) " "
                span class="revision" { "(revision " (c["revision"].to_string()) ")" }
                @if !comment.is_empty() { blockquote { (comment) } }
            }
        };
        entries.push((s(c, "createdAt"), entry));
    }
    for step in steps {
        let (name, outcome) = (s(step, "step"), s(step, "outcome"));
        let class = s(step, "errorClass");
        let code = match (step["errorCode"].as_i64(), step["errorSubcode"].as_i64()) {
            (Some(c), Some(sc)) => format!(" (code {c}/{sc})"),
            (Some(c), None) => format!(" (code {c})"),
            _ => String::new(),
        };
        let attempt = step["attempt"].to_string();
        let said = match (name.as_str(), outcome.as_str()) {
            ("publish", "ok") => format!("Instagram published it (attempt {attempt})"),
            ("reconcile", "ok") => {
                "Instagram had published it already: found live, not posted again".to_owned()
            }
            ("give_up", _) => format!("Publishing gave up after attempt {attempt}"),
            (_, "retry" | "failed") => format!("Attempt {attempt} failed"),
            _ => continue,
        };
        let entry = html! {
            li class={ "step " (outcome) } {
                span class="when" { (time(&s(step, "createdAt"))) } " "
                (said)
                @if !class.is_empty() {
                    ": " (error_class_words(&class)) (code) ". "
                    span class="detail" { (s(step, "message")) }
                } @else if outcome != "ok" && name != "give_up" {
                    ": " span class="detail" { (s(step, "message")) }
                } @else {
                    "."
                }
            }
        };
        entries.push((s(step, "createdAt"), entry));
    }
    // Stable: equal times keep comments before steps, each in its own order.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().map(|(_, html)| html).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_instagram_permalinks_read_as_instagram() {
        assert!(on_instagram("https://www.instagram.com/p/C3xYz/"));
        assert!(on_instagram("https://instagram.com/p/C3xYz/"));
        for other in [
            "https://graph-simulator.invalid/p/C3xYz/",
            "http://www.instagram.com/p/C3xYz/",
            "https://www.instagram.com.example/p/x/",
            "https://evil.example/www.instagram.com/",
        ] {
            assert!(!on_instagram(other), "{other}");
        }
    }

    #[test]
    fn history_escapes_and_orders() {
        let comments = vec![
            json!({"revision": 2, "reviewer": "<b>x</b>", "decision": "comment", "comment": "<script>", "createdAt": "2030-01-01T00:00:02Z"}),
        ];
        let steps = vec![
            json!({"attempt": 1, "step": "publish", "outcome": "failed", "errorClass": "token_invalid", "errorCode": 190, "errorSubcode": 463, "message": "expired", "createdAt": "2030-01-01T00:00:01Z"}),
        ];
        let entries: Vec<String> = history_entries(&comments, &steps)
            .into_iter()
            .map(Markup::into_string)
            .collect();
        assert_eq!(entries.len(), 2);
        assert!(entries[0].contains("access token"), "{}", entries[0]);
        assert!(entries[0].contains("code 190/463"));
        assert!(entries[1].contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(!entries[1].contains("<script>"));
        assert!(entries[1].contains("revision 2"), "{}", entries[1]);
    }

    #[test]
    fn history_says_who_edited_what_was_approved_and_leaves_routine_steps_out() {
        let c = |who: &str, decision: &str, at: &str| json!({"revision": 3, "reviewer": who, "decision": decision, "comment": null, "createdAt": at});
        let step = |step: &str, outcome: &str, at: &str| json!({"attempt": 1, "step": step, "outcome": outcome, "createdAt": at});
        let said = |comments: &[Value], steps: &[Value]| -> Vec<String> {
            history_entries(comments, steps)
                .into_iter()
                .map(Markup::into_string)
                .collect()
        };
        let own = said(
            &[
                c("Aiko", "edit", "2030-01-01T00:00:01Z"),
                c("Aiko", "approve", "2030-01-01T00:00:02Z"),
            ],
            &[
                step("claim", "ok", "2030-01-01T00:00:03Z"),
                step("container", "ok", "2030-01-01T00:00:04Z"),
                step("publish", "ok", "2030-01-01T00:00:05Z"),
            ],
        );
        assert_eq!(own.len(), 3, "{own:?}");
        assert!(
            own[1].contains("approved the text after editing it"),
            "{}",
            own[1]
        );
        assert!(own[2].contains("Instagram published it"), "{}", own[2]);
        let other = said(
            &[
                c("Ben", "edit", "2030-01-01T00:00:01Z"),
                c("Aiko", "approve", "2030-01-01T00:00:02Z"),
            ],
            &[],
        );
        assert!(
            other[1].contains("approved the text Ben edited"),
            "{}",
            other[1]
        );
        let written = said(&[c("Aiko", "approve", "2030-01-01T00:00:02Z")], &[]);
        assert!(
            written[0].contains("approved the text as it was written"),
            "{}",
            written[0]
        );
    }
}
