//! `/review/up-next`: approved posts in the order they go out, each with its time, account
//! and approver, and why the scheduler holds it back (the publishing quota) until when.

use maud::html;
use platform::store::PageCursor;
use worker::{Env, Request, Response};

use super::html::{layout, page_response, time};
use crate::auth::Actor;
use crate::drafts::query_pairs;
use crate::reply::ApiError;
use crate::views::{first_line, post_time, up_next_cursor, up_next_rows};

const PAGE_SIZE: u32 = 30;

pub async fn page(req: &Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let pairs = query_pairs(&req.inner().url());
    let cursor = crate::body::value(&pairs, "cursor").and_then(PageCursor::decode);
    let (mut rows, accounts) = up_next_rows(env, actor, cursor.as_ref(), PAGE_SIZE + 1).await?;
    let more = rows.len() > PAGE_SIZE as usize;
    rows.truncate(PAGE_SIZE as usize);
    let next = rows.last().filter(|_| more).and_then(up_next_cursor);
    let body = html! {
        h1 { "Up next" }
        p class="hint" { "Approved posts in the order they go out: by their time, or, for “as soon as possible”, by when they were approved." }
        @if rows.is_empty() {
            p class="empty" { "Nothing is waiting to go out." }
        } @else {
            ol class="up-next" id="up-next" {
                @for row in &rows {
                    li data-id=(row.id) {
                        img src=(row.image_key.as_ref().map_or_else(|| "/media/pending.svg".to_owned(), |k| format!("/media/{k}"))) alt="" width="56" height="56" loading="lazy";
                        div {
                            p class="when" {
                                @if row.scheduled_at.is_some() {
                                    @if let Some(at) = post_time(row) { (time(at)) }
                                } @else {
                                    "As soon as possible"
                                    @if let Some(at) = &row.approved_at { " (approved " (time(at)) ")" }
                                }
                            }
                            a href={ "/review/" (row.id) } class="caption" { (first_line(row, 90)) }
                            p class="meta" {
                                span class="account" { (crate::scope::label(&accounts, row.account_id.as_deref())) }
                                @if let Some(by) = &row.approved_by { " · approved by " span class="approver" { (by) } }
                            }
                            @if let Some(reason) = &row.publish_hold {
                                p class="hold" role="note" {
                                    strong { "Held back: " } (reason) ". "
                                    @match &row.publish_hold_until {
                                        Some(until) => { "Expected to go out " (time(until)) "." }
                                        None => { "When it can go out is not known yet." }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(c) = next {
            p class="pager" { a href={ "/review/up-next?cursor=" (c.encode()) } rel="next" { "Later posts" } }
        }
    };
    page_response(200, layout("Up next", Some(&actor.name), body))
}
