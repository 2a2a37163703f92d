//! `/review/failures`: what went wrong publishing, so a pattern (an expired token, the quota,
//! an image problem) shows at a glance: the drafts being retried (with the attempt that
//! failed and when the next follows), the drafts that gave up, and the errors by day and
//! class, each count a link to the drafts it counts. The days are the viewer's: the counts
//! come by quarter hour (UTC) and `views.js` adds them up into the days of the viewer's zone
//! (the table as rendered, by UTC day, is what shows without script).

use domain::draft::{DraftId, Status};
use domain::error_class::ErrorClass;
use domain::message::format_rfc3339;
use domain::timestamp::parse_rfc3339;
use maud::{Markup, html};
use platform::store::search::{Filter, Towards};
use platform::store::{DraftRow, DraftStore, FailureCount};
use serde_json::json;
use worker::{Env, Request, Response};

use super::html::{error_class_words, json_block, layout, page_response, time};
use crate::auth::Actor;
use crate::drafts::query_pairs;
use crate::reply::ApiError;
use crate::scope::Scope;

/// Days of errors counted, and drafts listed in each part at most.
const DAYS: u32 = 30;
const LISTED: u32 = 50;

/// The drafts behind one count: an error class in a span of time (`?class=&from=&to=`).
struct Focus {
    class: String,
    from: String,
    until: String,
}

impl Focus {
    /// From the query, when it names a known class and a span of at most a few days.
    fn parse(pairs: &[(String, String)]) -> Option<Self> {
        let value = |name: &str| crate::body::value(pairs, name);
        let class = value("class")?;
        if class != "unknown" && ErrorClass::parse(class).is_none() {
            return None;
        }
        let from = parse_rfc3339(value("from")?).ok()?;
        let until = parse_rfc3339(value("to")?).ok()?;
        let days = (until - from).whole_days();
        (until > from && days <= 3).then(|| Focus {
            class: class.to_owned(),
            from: format_rfc3339(from),
            until: format_rfc3339(until),
        })
    }

    /// The drafts it names that the caller may see.
    async fn drafts(&self, store: &DraftStore, scope: &Scope) -> Result<Vec<DraftRow>, ApiError> {
        let ids = store
            .failed_in(&self.class, &self.from, &self.until, LISTED)
            .await?;
        let ids: Vec<DraftId> = ids
            .iter()
            .filter_map(|id| DraftId::parse(id).ok())
            .collect();
        let mut rows = store.get_many(&ids).await?;
        rows.retain(|r| r.caption.is_some() && scope.allows(r.account_id.as_deref()));
        rows.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
        Ok(rows)
    }
}

pub async fn page(req: &Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let focus = Focus::parse(&query_pairs(&req.inner().url()));
    let store = DraftStore::from_env(env)?;
    let (limited, _, scope) = crate::views::accounts_in_view(env, actor, None).await?;
    // The errors by day are every account's: a reviewer limited to some accounts sees only
    // their drafts.
    let everything = actor.accounts.is_none();
    let failed_filter = Filter {
        status: Some(Status::Failed),
        accounts: limited.clone(),
        ..Filter::default()
    };
    let (failed, retrying, counts, focused) = futures::join!(
        store.find(&failed_filter, None, Towards::Older, LISTED, false),
        store.retrying(limited.as_ref(), LISTED),
        async {
            match everything {
                true => store.failure_counts(DAYS + 1).await,
                false => Ok(Vec::new()),
            }
        },
        async {
            match &focus {
                Some(focus) => focus.drafts(&store, &scope).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let (failed, retrying, counts, focused) = (failed?.rows, retrying?, counts?, focused?);
    let body = html! {
        h1 { "Failures" }
        @if let (Some(focus), Some(rows)) = (&focus, &focused) {
            section class="card" id="focus" {
                h2 { "“" (error_class_words(&focus.class)) "”" }
                p class="meta" { "Publish errors of class " code { (focus.class) } " from " (time(&focus.from)) " until " (time(&focus.until)) "." }
                (drafts_list(rows, "No draft you review had this error then."))
                p { a href="/review/failures" { "All failures" } }
            }
        }
        section class="card" {
            h2 { "Being retried" }
            @if retrying.is_empty() {
                p class="empty" { "No post is being retried." }
            } @else {
                ul class="failures retrying" id="retrying" {
                    @for row in &retrying { (retrying_item(row)) }
                }
            }
        }
        section class="card" {
            h2 { "Publish errors by day (" (DAYS) " days)" }
            @if !everything {
                p class="empty" { "Counted over every account, so shown only to reviewers of every account. Your accounts' failed drafts are below." }
            } @else if counts.is_empty() {
                p class="empty" { "No publish errors." }
            } @else {
                (errors_by_day(&counts))
            }
        }
        section class="card" {
            h2 { "Failed drafts" }
            (drafts_list(&failed, "No failed drafts."))
        }
        script src="/review/assets/views.js" defer {}
    };
    page_response(200, layout("Failures", Some(&actor.name), body))
}

/// Drafts with why they failed (the last error) and when.
fn drafts_list(rows: &[DraftRow], empty: &str) -> Markup {
    html! {
        @if rows.is_empty() {
            p class="empty" { (empty) }
        } @else {
            ul class="failures" {
                @for row in rows {
                    li data-id=(row.id) {
                        a href={ "/review/" (row.id) } { (crate::views::first_line(row, 80)) }
                        " " span class={ "badge " (row.status) } { (row.status) }
                        p class="reason" { (row.last_error.as_deref().unwrap_or("no reason recorded")) }
                        p class="meta" { (time(&row.updated_at)) }
                    }
                }
            }
        }
    }
}

/// A post being retried: the attempt that failed ("attempt 2 of 5 failed: ..."), and when
/// the next is due, in the viewer's zone.
fn retrying_item(row: &DraftRow) -> Markup {
    let reason = row.last_error.as_deref().unwrap_or_default();
    // The stored reason ends with the delay as the consumer saw it; the page says when.
    let reason = reason
        .split("; the next follows in")
        .next()
        .unwrap_or(reason);
    html! {
        li data-id=(row.id) {
            a href={ "/review/" (row.id) } { (crate::views::first_line(row, 80)) }
            " " span class={ "badge " (row.status) } { (row.status) }
            p class="reason" { (reason) }
            p class="meta next-try" {
                @if row.status == Status::Publishing {
                    "Being tried again now."
                } @else if let Some(at) = &row.publish_due_at {
                    "Next try at " (time(at)) "."
                }
            }
        }
    }
}

/// The table of failed or retried publish attempts, a row a day and a column an error class,
/// each count a link to its drafts; by UTC day until `views.js` regroups it by the viewer's.
fn errors_by_day(counts: &[FailureCount]) -> Markup {
    let mut classes: Vec<&str> = counts.iter().map(|c| c.class.as_str()).collect();
    classes.sort();
    classes.dedup();
    let mut days: Vec<&str> = counts.iter().filter_map(|c| c.quarter.get(..10)).collect();
    days.dedup();
    let count = |day: &str, class: &str| -> i64 {
        counts
            .iter()
            .filter(|c| c.quarter.starts_with(day) && c.class == class)
            .map(|c| c.count)
            .sum()
    };
    let data = json!({
        "classes": classes,
        "quarters": counts.iter().map(|c| json!({ "quarter": c.quarter, "class": c.class, "count": c.count })).collect::<Vec<_>>(),
    });
    html! {
        (json_block("failure-counts", &data))
        div class="scroll" {
            table id="failures-by-day" {
                caption { "Failed or retried publish attempts" }
                thead {
                    tr {
                        th scope="col" id="failures-day-heading" { "Day (UTC)" }
                        @for class in &classes { th scope="col" title=(error_class_words(class)) { (class) } }
                    }
                }
                tbody {
                    @for day in &days {
                        tr {
                            th scope="row" { (day) }
                            @for class in &classes {
                                @let n = count(day, class);
                                td class=[(n > 0).then_some("hot")] {
                                    @if n > 0 {
                                        a href=(focus_link(class, day)) { (n) }
                                    } @else { "0" }
                                }
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

/// The failures view of one class's drafts on one UTC day.
fn focus_link(class: &str, day: &str) -> String {
    let from = parse_rfc3339(&format!("{day}T00:00:00Z"));
    let until = from.map(|at| format_rfc3339(at + time::Duration::days(1)));
    format!(
        "/review/failures?class={}&from={day}T00:00:00Z&to={}",
        crate::body::encode(class),
        until.unwrap_or_default()
    )
}
