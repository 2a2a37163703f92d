//! `/review`, the drafts by status a page at a time, and `/review/failures`.

use domain::draft::Status;
use maud::{Markup, html};
use platform::accounts::AccountRow as Account;
use platform::store::{DraftRow, DraftStore, PageCursor};
use worker::{Env, Request, Response};

use super::html::{error_class_words, layout, page_response, time};
use crate::auth::Actor;
use crate::body::encode;
use crate::drafts::query_pairs;
use crate::reply::ApiError;

const PAGE_SIZE: u32 = 20;

/// `/review`: drafts by status, newest first, a page at a time, one query for the page and
/// the counts.
pub async fn list(req: &Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let query = query_pairs(&req.inner().url());
    let param = |name: &str| crate::body::value(&query, name);
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
    // The account filter: the accounts this reviewer reviews.
    let shown: Vec<&Account> = accounts
        .iter()
        .filter(|a| scope.allows_account(a))
        .collect();
    let older = rows.last().filter(|_| more).map(|last| {
        let mut href = format!("/review?cursor={}", PageCursor::after(last).encode());
        if let Some(s) = status {
            href.push_str(&format!("&status={s}"));
        }
        href + &account_query
    });
    let body = html! {
        h1 { "Drafts" }
        (tabs(&counts, status, account, &account_query))
        @if shown.len() > 1 || account.is_some() { (account_filter(&shown, account, status)) }
        @if rows.is_empty() {
            p class="empty" { "No drafts here." }
        } @else {
            ul class="drafts" {
                @for row in &rows { (list_item(row, &accounts)) }
            }
        }
        @if let Some(href) = older {
            p class="pager" { a href=(href) rel="next" { "Older drafts" } }
        }
    };
    page_response(200, layout("Drafts", Some(&actor.name), body))
}

/// All, then one tab per status, each with its count.
fn tabs(
    counts: &[(String, i64)],
    status: Option<Status>,
    account: Option<&str>,
    account_query: &str,
) -> Markup {
    let count = |s: Status| {
        counts
            .iter()
            .find(|(name, _)| name == s.as_str())
            .map_or(0, |(_, n)| *n)
    };
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let all_href = match account {
        Some(a) => format!("/review?account={}", encode(a)),
        None => "/review".to_owned(),
    };
    let tab = |href: &str, label: &str, n: i64, current: bool| {
        html! {
            a href=(href) aria-current=[current.then_some("page")] {
                (label) " " span class="count" { (n) }
            }
        }
    };
    html! {
        nav class="tabs" aria-label="Status" {
            (tab(&all_href, "All", total, status.is_none()))
            @for s in Status::ALL {
                (tab(&format!("/review?status={s}{account_query}"), &capitalise(s.as_str()), count(s), status == Some(s)))
            }
        }
    }
}

fn account_filter(shown: &[&Account], account: Option<&str>, status: Option<Status>) -> Markup {
    let selected = |a: &Account| {
        account.is_some_and(|wanted| {
            domain::account::AccountRef::parse(wanted)
                .is_some_and(|r| r.names(&a.id, a.username.as_deref()))
        })
    };
    html! {
        form method="get" action="/review" class="filter" id="account-filter" {
            label for="account" { "Account" }
            select id="account" name="account" {
                option value="" { "All accounts" }
                @for a in shown {
                    option value=(a.username.as_deref().map_or_else(|| a.id.clone(), |u| format!("@{u}"))) selected[selected(a)] { (a.label()) }
                }
            }
            @if let Some(s) = status { input type="hidden" name="status" value=(s); }
            button type="submit" { "Show" }
        }
    }
}

fn list_item(row: &DraftRow, accounts: &[Account]) -> Markup {
    let text = row.text().unwrap_or_default();
    let first_line = text.caption.lines().next().unwrap_or("");
    let preview: String = first_line.chars().take(90).collect();
    let image = row.image_key.as_ref().map_or_else(
        || "/media/pending.svg".to_owned(),
        |key| format!("/media/{key}"),
    );
    html! {
        li {
            a href={ "/review/" (row.id) } {
                img src=(image) alt=(text.alt_text) width="72" height="72" loading="lazy";
                span class="summary" {
                    span class="caption" { (preview) }
                    span class="meta" {
                        span class={ "badge " (row.status) } { (row.status) } " "
                        span class="account" { (crate::scope::label(accounts, row.account_id.as_deref())) }
                        " " (time(&row.created_at))
                    }
                }
            }
        }
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or(String::new(), |c| c.to_uppercase().chain(chars).collect())
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
    let body = html! {
        h1 { "Failures" }
        section class="card" {
            h2 { "Publish errors by day (30 days)" }
            @if actor.accounts.is_some() {
                p class="empty" { "Counted over every account, so shown only to reviewers of every account. Your accounts' failed drafts are below." }
            } @else if by_day.is_empty() {
                p class="empty" { "No publish errors." }
            } @else {
                (errors_by_day(&by_day))
            }
        }
        section class="card" {
            h2 { "Failed drafts" }
            @if failed.is_empty() {
                p class="empty" { "No failed drafts." }
            } @else {
                ul class="failures" {
                    @for row in &failed {
                        li {
                            a href={ "/review/" (row.id) } { (row.caption.as_deref().unwrap_or("").chars().take(80).collect::<String>()) }
                            p class="reason" { (row.last_error.as_deref().unwrap_or("no reason recorded")) }
                            p class="meta" { (time(&row.updated_at)) }
                        }
                    }
                }
            }
        }
    };
    page_response(200, layout("Failures", Some(&actor.name), body))
}

/// The table of failed or retried publish steps, a row a day and a column an error class.
fn errors_by_day(by_day: &[(String, String, i64)]) -> Markup {
    let mut classes: Vec<&str> = by_day.iter().map(|(_, c, _)| c.as_str()).collect();
    classes.sort();
    classes.dedup();
    let mut days: Vec<&str> = by_day.iter().map(|(d, _, _)| d.as_str()).collect();
    days.dedup();
    let count = |day: &str, class: &str| {
        by_day
            .iter()
            .find(|(d, c, _)| d == day && c == class)
            .map_or(0, |(_, _, n)| *n)
    };
    html! {
        div class="scroll" {
            table {
                caption { "Failed or retried publish steps" }
                thead {
                    tr {
                        th scope="col" { "Day (UTC)" }
                        @for class in &classes { th scope="col" title=(error_class_words(class)) { (class) } }
                    }
                }
                tbody {
                    @for day in &days {
                        tr {
                            th scope="row" { (day) }
                            @for class in &classes {
                                @let n = count(day, class);
                                td class=[(n > 0).then_some("hot")] { (n) }
                            }
                        }
                    }
                }
            }
        }
        dl class="legend" {
            @for class in &classes { dt { (class) } dd { (error_class_words(class)) } }
        }
    }
}
