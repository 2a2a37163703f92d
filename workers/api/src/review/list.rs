//! `/review`, the drafts by status a page at a time.

use domain::draft::Status;
use maud::{Markup, html};
use platform::accounts::AccountRow as Account;
use platform::store::DraftRow;
use platform::store::search::Found;
use worker::{Env, Request, Response};

use super::html::{layout, page_response, time};
use crate::auth::Actor;
use crate::drafts::query_pairs;
use crate::reply::ApiError;
use crate::views::{self, ListQuery};

/// `/review`: a page of drafts as the URL's filters and search say (see
/// [`crate::views::ListQuery`]), opening on the drafts that need review; the counts per
/// status beside the tabs when no search or filter narrows the list.
pub async fn list(req: &Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let pairs = query_pairs(&req.inner().url());
    // A view whose link is broken still shows: the parameters it cannot read are dropped.
    let pairs: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|pair| ListQuery::parse(std::slice::from_ref(pair), None).is_ok())
        .collect();
    let mut query = ListQuery::parse(&pairs, Some(Status::Draft)).unwrap_or_default();
    let f = &query.filter;
    let narrowed = f.text.is_some()
        || f.language.is_some()
        || f.reviewer.is_some()
        || f.from.is_some()
        || f.until.is_some();
    let (found, accounts) = match views::find(env, actor, &mut query, !narrowed).await {
        // An account that is not there shows an empty list, as another reviewer's would.
        Err(ApiError::Validation(_)) => (Found::default(), Vec::new()),
        other => other?,
    };
    let scope = crate::scope::Scope::of(actor, &accounts);
    let shown: Vec<&Account> = accounts
        .iter()
        .filter(|a| scope.allows_account(a))
        .collect();
    let here = query.query_string(None);
    let body = html! {
        h1 { "Drafts" }
        (search_form(&query, &shown))
        (tabs(&found.counts, &query, narrowed))
        @if found.partial {
            p class="hint" id="short-search" { "Words shorter than three characters are looked for in 2,000 drafts at a time: “Older” looks further." }
        }
        @if found.rows.is_empty() {
            p class="empty" { "No drafts here." }
        } @else {
            form class="bulk" id="bulk" {
                ul class="drafts" {
                    @for row in &found.rows { (list_item(row, &accounts)) }
                }
            }
        }
        nav class="pager" aria-label="Pages" {
            @if let Some(c) = &found.newer {
                a href={ "/review?" (here) "&before=" (c.encode()) } rel="prev" { "Newer drafts" }
            }
            @if let Some(c) = &found.older {
                a href={ "/review?" (here) "&cursor=" (c.encode()) } rel="next" { "Older drafts" }
            }
        }
        (super::calendar::time_dialog("Reschedule to", "Reschedule"))
        script src="/review/assets/views.js" defer {}
    };
    page_response(200, layout("Drafts", Some(&actor.name), body))
}

/// The search box and the filters, all in the URL so a view can be shared.
fn search_form(query: &ListQuery, accounts: &[&Account]) -> Markup {
    let f = &query.filter;
    let day = |at: &Option<String>, end: bool| {
        at.as_deref().map(|t| {
            let day = t.get(..10).unwrap_or_default().to_owned();
            // `to` is kept as the next day's start: the form shows the last day taken in.
            if end {
                domain::timestamp::parse_rfc3339(t)
                    .map(|at| domain::message::format_rfc3339(at - time::Duration::days(1)))
                    .map_or(day, |s| s[..10].to_owned())
            } else {
                day
            }
        })
    };
    let selected = |a: &Account| {
        query.account.as_deref().is_some_and(|wanted| {
            domain::account::AccountRef::parse(wanted)
                .is_some_and(|r| r.names(&a.id, a.username.as_deref()))
        })
    };
    let open =
        f.language.is_some() || f.reviewer.is_some() || f.from.is_some() || f.until.is_some();
    html! {
        form method="get" action="/review" class="search" id="search" role="search" {
            input type="hidden" name="status" value=(f.status.map_or("all", |s| s.as_str()));
            label for="q" class="visually-hidden" { "Search" }
            input id="q" name="q" type="search" value=[f.text.as_deref()] placeholder="Search captions, hashtags, alt text, briefs" maxlength="200";
            @if accounts.len() > 1 || query.account.is_some() {
                label { "Account "
                    select name="account" {
                        option value="" { "All accounts" }
                        @for a in accounts {
                            option value=(a.username.as_deref().map_or_else(|| a.id.clone(), |u| format!("@{u}"))) selected[selected(a)] { (a.label()) }
                        }
                    }
                }
            }
            button type="submit" class="primary" { "Search" }
            details class="filters" open[open] {
                summary { "Filters" }
                div class="filter-fields" {
                    label { "Language " input name="language" type="text" size="6" value=[f.language.as_deref()] placeholder="ja"; }
                    label { "Approved by " input name="reviewer" type="text" size="10" value=[f.reviewer.as_deref()]; }
                    // The days are UTC days here; `views.js` shows and sends them as the
                    // viewer's (`data-at`: the instant the filter holds).
                    label { "From " input name="from" type="date" value=[day(&f.from, false)] data-at=[f.from.as_deref()]; }
                    label { "To " input name="to" type="date" value=[day(&f.until, true)] data-at=[f.until.as_deref()]; }
                }
            }
        }
    }
}

/// One tab per status, "needs review" first, then all; each with its count unless the
/// list is narrowed (the counts are of the drafts in scope, not of a search).
fn tabs(counts: &[(String, i64)], query: &ListQuery, narrowed: bool) -> Markup {
    let count = |s: Status| {
        counts
            .iter()
            .find(|(name, _)| name == s.as_str())
            .map_or(0, |(_, n)| *n)
    };
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let current = query.filter.status;
    let tab = |status: &str, label: &str, n: i64, is_current: bool| {
        html! {
            a href={ "/review?" (query.query_string(Some(status))) } aria-current=[is_current.then_some("page")] {
                (label)
                @if !narrowed { " " span class="count" { (n) } }
            }
        }
    };
    html! {
        nav class="tabs" aria-label="Status" {
            @for s in Status::ALL {
                @let label = if s == Status::Draft { "Needs review".to_owned() } else { capitalise(s.as_str()) };
                (tab(s.as_str(), &label, count(s), current == Some(s)))
            }
            (tab("all", "All", total, current.is_none()))
        }
    }
}

fn list_item(row: &DraftRow, accounts: &[Account]) -> Markup {
    let text = row.text().unwrap_or_default();
    let image = row.image_key.as_ref().map_or_else(
        || "/media/pending.svg".to_owned(),
        |key| format!("/media/{key}"),
    );
    let brief = views::brief(row).map(|b| b.chars().take(120).collect::<String>());
    html! {
        li {
            input type="checkbox" name="draft" value=(row.id) data-revision=(row.revision) data-status=(row.status) aria-label="Select";
            a href={ "/review/" (row.id) } {
                img src=(image) alt=(text.alt_text) width="72" height="72" loading="lazy";
                span class="summary" {
                    span class="caption" { (views::first_line(row, 90)) }
                    @if let Some(brief) = brief { span class="brief" { "Brief: " (brief) } }
                    span class="meta" {
                        span class={ "badge " (row.status) } { (row.status) } " "
                        span class="account" { (crate::scope::label(accounts, row.account_id.as_deref())) } " · "
                        span class="language" title="Language" { span class="visually-hidden" { "Language: " } (row.language) } " · "
                        @if let Some(at) = &row.scheduled_at {
                            span class="when" { "scheduled for " (time(at)) }
                        } @else {
                            span class="when" { "made " (time(&row.created_at)) }
                        }
                        @if let Some(by) = &row.approved_by { " · " span class="approver" { "approved by " (by) } }
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
