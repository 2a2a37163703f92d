//! The views over many drafts, for any client and for the review page alike:
//! `GET /api/v1/search` (filters and full-text search, paged both ways), `GET /api/v1/up-next`
//! (approved posts in the order they go out) and `GET /api/v1/calendar` (scheduled and
//! published posts in a span of time). Only the accounts the caller reviews.

use domain::draft::Status;
use domain::message::format_rfc3339;
use domain::timestamp::parse_rfc3339;
use generation::FieldError;
use platform::accounts::{AccountRow, AccountStore};
use platform::store::search::{Filter, Found, Towards};
use platform::store::{DraftRow, DraftStore, PageCursor};
use serde_json::{Value, json};
use worker::{Env, Request, Response};

use crate::auth::Actor;
use crate::body::problem;
use crate::drafts::query_pairs;
use crate::reply::{self, ApiError};
use crate::scope::Scope;

const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;
/// The longest span a calendar asks for: a month's grid, with a week either side.
const MAX_CALENDAR_DAYS: i64 = 50;

/// A list's query, as the URL gives it (`/review` and `/api/v1/search` read the same names).
#[derive(Debug, Default)]
pub struct ListQuery {
    pub filter: Filter,
    /// `status=all`, or no status on the API: every status.
    pub account: Option<String>,
    pub cursor: Option<PageCursor>,
    pub towards: Option<Towards>,
    pub limit: u32,
}

impl ListQuery {
    /// Reads `q, status, account, language, reviewer, from, to, cursor | before, limit`.
    /// Without `status`, `default_status` (the page opens on drafts that need review).
    pub fn parse(
        pairs: &[(String, String)],
        default_status: Option<Status>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut problems = Vec::new();
        let mut query = ListQuery {
            limit: DEFAULT_PAGE,
            ..ListQuery::default()
        };
        let mut status = default_status;
        for (name, value) in pairs {
            let value = value.trim();
            let text = || (!value.is_empty()).then(|| value.to_owned());
            match name.as_str() {
                "q" => query.filter.text = text(),
                "status" if value == "all" => status = None,
                "status" => match Status::parse(value) {
                    Some(s) => status = Some(s),
                    None => problems.push(problem(
                        "status",
                        format!("must be all or a status; got {value:?}"),
                    )),
                },
                "account" => query.account = text(),
                "language" => query.filter.language = text(),
                "reviewer" => query.filter.reviewer = text(),
                "from" | "to" if value.is_empty() => {}
                "from" => match day_or_time(value, false) {
                    Some(at) => query.filter.from = Some(at),
                    None => problems.push(problem(
                        "from",
                        "must be a date (2027-03-14) or an RFC 3339 time",
                    )),
                },
                "to" => match day_or_time(value, true) {
                    Some(at) => query.filter.until = Some(at),
                    None => problems.push(problem(
                        "to",
                        "must be a date (2027-03-14) or an RFC 3339 time",
                    )),
                },
                "cursor" | "before" => match PageCursor::decode(value) {
                    Some(c) => {
                        query.cursor = Some(c);
                        query.towards = Some(if name == "cursor" {
                            Towards::Older
                        } else {
                            Towards::Newer
                        });
                    }
                    None => problems.push(problem(name, "is not a cursor this API gave out")),
                },
                "limit" => match value.parse::<u32>() {
                    Ok(n) if (1..=MAX_PAGE).contains(&n) => query.limit = n,
                    _ => problems.push(problem(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_PAGE}"),
                    )),
                },
                other => problems.push(problem(other, "unknown query parameter")),
            }
        }
        query.filter.status = status;
        if problems.is_empty() {
            Ok(query)
        } else {
            Err(problems)
        }
    }

    /// The query string that shows this list again, without its cursor (for links that
    /// change one thing: a tab, a page).
    pub fn query_string(&self, status: Option<&str>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let f = &self.filter;
        let status = status.map_or_else(
            || f.status.map_or("all".to_owned(), |s| s.as_str().to_owned()),
            str::to_owned,
        );
        pairs.push(("status", status));
        let mut add = |name: &'static str, value: &Option<String>| {
            if let Some(v) = value {
                pairs.push((name, v.clone()));
            }
        };
        add("q", &f.text);
        add("account", &self.account);
        add("language", &f.language);
        add("reviewer", &f.reviewer);
        add("from", &f.from);
        add("to", &f.until);
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::body::encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A date (`2027-03-14`, a whole UTC day: `to` takes the day in) or an RFC 3339 time, as
/// the RFC 3339 UTC text the store compares.
fn day_or_time(text: &str, end: bool) -> Option<String> {
    if text.len() == 10 {
        let at = parse_rfc3339(&format!("{text}T00:00:00Z")).ok()?;
        let at = if end {
            at + time::Duration::days(1)
        } else {
            at
        };
        return Some(format_rfc3339(at));
    }
    parse_rfc3339(text).ok().map(format_rfc3339)
}

/// The accounts a list is limited to (`None`: every account), and every account (for
/// labels): those the caller reviews, or the one `account` names among them.
pub async fn accounts_in_view(
    env: &Env,
    actor: &Actor,
    account: Option<&str>,
) -> Result<(Option<(Vec<String>, bool)>, Vec<AccountRow>, Scope), ApiError> {
    let accounts = AccountStore::from_env(env)?.all().await?;
    let scope = Scope::of(actor, &accounts);
    let limited = match account {
        Some(text) => {
            let found = crate::scope::find(&accounts, text)?;
            if scope.allows_account(found) {
                let default = accounts.first().is_some_and(|d| d.id == found.id);
                // The default account's drafts may name it or no account.
                Some((vec![found.id.clone()], default))
            } else {
                Some((Vec::new(), false))
            }
        }
        None => match &scope {
            Scope::All => None,
            Scope::Some { ids, default_too } => Some((ids.clone(), *default_too)),
        },
    };
    Ok((limited, accounts, scope))
}

/// A page of the list the query asks for, with the counts per status when `counts`.
pub async fn find(
    env: &Env,
    actor: &Actor,
    query: &mut ListQuery,
    counts: bool,
) -> Result<(Found, Vec<AccountRow>), ApiError> {
    let (limited, accounts, _) = accounts_in_view(env, actor, query.account.as_deref()).await?;
    query.filter.accounts = limited;
    let found = DraftStore::from_env(env)?
        .find(
            &query.filter,
            query.cursor.as_ref(),
            query.towards.unwrap_or(Towards::Older),
            query.limit,
            counts,
        )
        .await?;
    Ok((found, accounts))
}

/// `GET /api/v1/search?q=&status=&account=&language=&reviewer=&from=&to=&cursor=|before=&limit=`
pub async fn search(req: &Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let mut query =
        ListQuery::parse(&query_pairs(&req.inner().url()), None).map_err(ApiError::Validation)?;
    let (found, _) = find(env, actor, &mut query, false).await?;
    let max_hashtags = crate::config::max_hashtags(env)?;
    let origin = crate::origin::origin(req);
    let drafts: Vec<Value> = found
        .rows
        .iter()
        .filter_map(|row| crate::drafts::view(&origin, row, max_hashtags))
        .collect();
    reply::json(
        200,
        &json!({
            "drafts": drafts,
            "olderCursor": found.older.map(|c| c.encode()),
            "newerCursor": found.newer.map(|c| c.encode()),
            "partial": found.partial,
        }),
    )
}

/// When a post in up next or the calendar goes out or went out.
pub fn post_time(row: &DraftRow) -> Option<&str> {
    if row.status == Status::Published {
        row.publish_sent_at.as_deref()
    } else {
        row.scheduled_at.as_deref().or(row.approved_at.as_deref())
    }
}

/// The first line of a post's caption, cut to `chars`.
pub fn first_line(row: &DraftRow, chars: usize) -> String {
    let caption = row.caption.as_deref().unwrap_or_default();
    caption
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(chars)
        .collect()
}

/// The brief a draft was written from.
pub fn brief(row: &DraftRow) -> Option<String> {
    let request: Value = serde_json::from_str(row.request.as_deref()?).ok()?;
    request["brief"].as_str().map(str::to_owned)
}

/// A post as up next and the calendar show it.
fn post(row: &DraftRow, accounts: &[AccountRow]) -> Value {
    json!({
        "draftId": row.id,
        "status": row.status.as_str(),
        "revision": row.revision,
        "at": post_time(row),
        "scheduledAt": row.scheduled_at,
        "asSoonAsPossible": row.status == Status::Approved && row.scheduled_at.is_none(),
        "account": crate::scope::label(accounts, row.account_id.as_deref()),
        "caption": first_line(row, 120),
        "thumbnail": row.image_key.as_ref().map_or_else(|| "/media/pending.svg".to_owned(), |k| format!("/media/{k}")),
        "approvedBy": row.approved_by,
        "approvedAt": row.approved_at,
        "publishHold": row.publish_hold.as_ref().map(|reason| json!({ "reason": reason, "expectedAt": row.publish_hold_until })),
        "permalink": row.permalink,
    })
}

/// Up next, as the caller may see it: `limit` approved posts after `after`, in order.
pub async fn up_next_rows(
    env: &Env,
    actor: &Actor,
    after: Option<&PageCursor>,
    limit: u32,
) -> Result<(Vec<DraftRow>, Vec<AccountRow>), ApiError> {
    // The caller's accounts are a clause of the statement: a page is full of their posts.
    let (limited, accounts, _) = accounts_in_view(env, actor, None).await?;
    let after = after.map(|c| (c.created_at.as_str(), c.seq));
    let rows = DraftStore::from_env(env)?
        .up_next(after, limit, limited.as_ref())
        .await?;
    Ok((rows, accounts))
}

/// Where up next continues after `row`: its time and rowid.
pub fn up_next_cursor(row: &DraftRow) -> Option<PageCursor> {
    Some(PageCursor {
        created_at: post_time(row)?.to_owned(),
        seq: row.row_seq?,
    })
}

/// `GET /api/v1/up-next?cursor=&limit=`
pub async fn up_next(req: &Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let pairs = query_pairs(&req.inner().url());
    if let Some((name, _)) = pairs.iter().find(|(n, _)| n != "cursor" && n != "limit") {
        return Err(ApiError::Validation(vec![problem(
            name,
            "unknown query parameter",
        )]));
    }
    let query = ListQuery::parse(&pairs, None).map_err(ApiError::Validation)?;
    let (mut rows, accounts) =
        up_next_rows(env, actor, query.cursor.as_ref(), query.limit + 1).await?;
    let more = rows.len() > query.limit as usize;
    rows.truncate(query.limit as usize);
    let next = rows.last().filter(|_| more).and_then(up_next_cursor);
    let posts: Vec<Value> = rows.iter().map(|r| post(r, &accounts)).collect();
    reply::json(
        200,
        &json!({ "posts": posts, "nextCursor": next.map(|c| c.encode()) }),
    )
}

/// `GET /api/v1/calendar?from=&to=`: posts scheduled or published in `[from, to)`, RFC 3339
/// times at most 50 days apart (by default from now, four weeks).
pub async fn calendar(req: &Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let pairs = query_pairs(&req.inner().url());
    // Without a span: the next four weeks.
    let time = |name: &str, default: time::OffsetDateTime| match crate::body::value(&pairs, name) {
        None => Ok(default),
        Some(t) => parse_rfc3339(t).map_err(|_| problem(name, "must be an RFC 3339 time")),
    };
    let from = time("from", platform::clock::now());
    let until = time(
        "to",
        *from.as_ref().unwrap_or(&platform::clock::now()) + time::Duration::days(28),
    );
    let (from, until) = match (from, until) {
        (Ok(from), Ok(until))
            if until > from && (until - from).whole_days() <= MAX_CALENDAR_DAYS =>
        {
            (from, until)
        }
        (Ok(_), Ok(_)) => {
            return Err(ApiError::Validation(vec![problem(
                "to",
                format!("must be after from, at most {MAX_CALENDAR_DAYS} days"),
            )]));
        }
        (a, b) => {
            return Err(ApiError::Validation(
                [a.err(), b.err()].into_iter().flatten().collect(),
            ));
        }
    };
    if let Some((name, _)) = pairs.iter().find(|(n, _)| n != "from" && n != "to") {
        return Err(ApiError::Validation(vec![problem(
            name,
            "unknown query parameter",
        )]));
    }
    let (limited, accounts, _) = accounts_in_view(env, actor, None).await?;
    let rows = DraftStore::from_env(env)?
        .calendar(
            &format_rfc3339(from),
            &format_rfc3339(until),
            limited.as_ref(),
        )
        .await?;
    let posts: Vec<Value> = rows.iter().map(|r| post(r, &accounts)).collect();
    reply::json(200, &json!({ "posts": posts }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn the_page_opens_on_drafts_that_need_review() {
        let q = ListQuery::parse(&[], Some(Status::Draft)).unwrap();
        assert_eq!(q.filter.status, Some(Status::Draft));
        let q = ListQuery::parse(&pairs(&[("status", "all")]), Some(Status::Draft)).unwrap();
        assert_eq!(q.filter.status, None);
    }

    #[test]
    fn a_shared_view_reads_back_the_same() {
        let q = ListQuery::parse(
            &pairs(&[
                ("q", "桜 満開"),
                ("language", "ja"),
                ("from", "2027-03-01"),
                ("to", "2027-03-14"),
            ]),
            Some(Status::Draft),
        )
        .unwrap();
        assert_eq!(q.filter.until.as_deref(), Some("2027-03-15T00:00:00Z"));
        let again =
            ListQuery::parse(&crate::body::form(q.query_string(None).as_bytes()), None).unwrap();
        assert_eq!(again.filter, q.filter);
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let problems = ListQuery::parse(
            &pairs(&[
                ("status", "x"),
                ("from", "soon"),
                ("limit", "0"),
                ("nope", ""),
            ]),
            None,
        )
        .unwrap_err();
        let names: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(names, ["status", "from", "limit", "nope"]);
    }
}
