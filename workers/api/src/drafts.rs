//! The draft as the API shows it, read from its one authoritative D1 row, and the read copy
//! in Workers KV.
//!
//! KV holds the design's draft document under `draft:<id>`, written after D1 and carrying
//! the revision it copies. KV is eventually consistent, so nothing that decides (an edit's
//! base, an approval, what a reviewer approves, publishing) reads it.

use domain::content::{PostText, RawPostText};
use domain::draft::{DraftId, Status};
use platform::store::{DraftRow, DraftStore, PageCursor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use worker::{Context, Env, Request, Response};

pub use crate::origin::origin;
use crate::reply::{self, ApiError};
use crate::scope::not_found;

pub const KV_BINDING: &str = "DRAFTS";

/// Which writer produced the text; the review page shows it so nobody mistakes template
/// text for a model's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriterInfo {
    pub provider: String,
    pub model: Option<String>,
    pub offline: bool,
}

/// What KV holds under `draft:<id>`: a copy of the row's text at `revision`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DraftDocument {
    pub draft_id: String,
    /// The validated request the text was written from, kept for regeneration.
    pub request: Value,
    pub text: RawPostText,
    pub writer: Option<WriterInfo>,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl DraftDocument {
    /// The copy of a row; `None` while the row has no text.
    pub fn of(row: &DraftRow) -> Option<Self> {
        Some(Self {
            draft_id: row.id.clone(),
            request: json_column(&row.request),
            text: row.text()?,
            writer: row
                .writer
                .as_deref()
                .and_then(|w| serde_json::from_str(w).ok()),
            revision: row.revision,
            created_at: row.created_at.clone(),
            updated_at: row.updated_at.clone(),
        })
    }
}

fn json_column(column: &Option<String>) -> Value {
    column
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null)
}

fn kv_key(id: &str) -> String {
    format!("draft:{id}")
}

async fn save_copy(env: &Env, document: &DraftDocument) -> Result<(), ApiError> {
    env.kv(KV_BINDING)?
        .put(
            &kv_key(&document.draft_id),
            serde_json::to_string(document).map_err(|e| ApiError::Internal(e.to_string()))?,
        )?
        .execute()
        .await?;
    Ok(())
}

/// Refreshes the KV copy after the response, off the request's critical path. A failure
/// only leaves the copy behind, which is what a read copy may be.
pub fn refresh_copy(env: &Env, ctx: &Context, row: &DraftRow) {
    let Some(document) = DraftDocument::of(row) else {
        return;
    };
    let env = env.clone();
    ctx.wait_until(async move {
        if let Err(e) = save_copy(&env, &document).await {
            worker::console_error!(
                "draft {}: refreshing the KV copy failed: {e}",
                document.draft_id
            );
        }
    });
}

/// The public JSON view of a draft with text; `None` for a row whose text is not written.
pub fn view(origin: &str, row: &DraftRow, max_hashtags: usize) -> Option<Value> {
    serde_json::to_value(DraftView::of(origin, row, max_hashtags)?).ok()
}

/// The public view of a draft, as [`view`] gives it, for answers that send it as it is.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DraftView<'a> {
    draft_id: &'a str,
    status: &'a str,
    revision: i64,
    #[serde(flatten)]
    text: RawPostText,
    instagram_caption: Option<String>,
    language: &'a str,
    /// The account it is published to; `None`: the default account.
    account_id: Option<&'a str>,
    writer: Value,
    image: ImageView<'a>,
    scheduled_at: Option<&'a str>,
    approval: Option<ApprovalView<'a>>,
    last_error: Option<&'a str>,
    publish_hold: Option<HoldView<'a>>,
    /// Attempts spent by the current approval, and when the queued message is due: with
    /// `last_error`, what the review page shows of publishing as it happens.
    publish_attempts: i64,
    next_try_at: Option<&'a str>,
    /// How the post's first comment ended, once it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    first_comment: Option<CommentView<'a>>,
    created_at: &'a str,
    updated_at: &'a str,
    /// The post's images in order (`null`: the one generated image), and its options.
    media_items: Value,
    post_options: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageView<'a> {
    status: &'a str,
    url: Option<String>,
    preview_url: String,
    error: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalView<'a> {
    revision: i64,
    approved_at: Option<&'a str>,
    approved_by: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CommentView<'a> {
    comment_id: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HoldView<'a> {
    reason: &'a str,
    expected_at: Option<&'a str>,
}

impl<'a> DraftView<'a> {
    /// `None` for a row whose text is not written.
    pub fn of(origin: &str, row: &'a DraftRow, max_hashtags: usize) -> Option<Self> {
        let text = row.text()?;
        let instagram_caption = PostText::parse(&text, max_hashtags)
            .ok()
            .map(|t| t.instagram_caption());
        let media_url = |key: &String| format!("{origin}/media/{key}");
        let (media_items, post_options) = crate::item_view::view(origin, row);
        Some(Self {
            draft_id: &row.id,
            status: row.status.as_str(),
            revision: row.revision,
            text,
            instagram_caption,
            language: &row.language,
            account_id: row.account_id.as_deref(),
            writer: json_column(&row.writer),
            image: ImageView {
                status: row.image_status.as_str(),
                url: row.image_key.as_ref().map(media_url),
                preview_url: row
                    .image_key
                    .as_ref()
                    .map_or_else(|| format!("{origin}/media/pending.svg"), media_url),
                error: row.image_error.as_deref(),
            },
            scheduled_at: row.scheduled_at.as_deref(),
            approval: row.approved_revision.map(|revision| ApprovalView {
                revision,
                approved_at: row.approved_at.as_deref(),
                approved_by: row.approved_by.as_deref(),
            }),
            last_error: row.last_error.as_deref(),
            publish_hold: row.publish_hold.as_deref().map(|reason| HoldView {
                reason,
                expected_at: row.publish_hold_until.as_deref(),
            }),
            publish_attempts: row.publish_attempts,
            next_try_at: row.publish_due_at.as_deref(),
            first_comment: (row.comment_id.is_some() || row.comment_error.is_some()).then_some(
                CommentView {
                    comment_id: row.comment_id.as_deref(),
                    error: row.comment_error.as_deref(),
                },
            ),
            created_at: &row.created_at,
            updated_at: &row.updated_at,
            media_items,
            post_options,
        })
    }
}

pub fn parse_id(text: &str) -> Result<DraftId, ApiError> {
    DraftId::parse(text).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// The draft's row if it is visible (its text is written).
pub async fn visible_row(store: &DraftStore, id: DraftId) -> Result<DraftRow, ApiError> {
    store
        .get(id)
        .await?
        .filter(|row| row.caption.is_some())
        .ok_or_else(|| not_found(id))
}

/// `GET /api/v1/drafts/:id`, from D1: what a reviewer approves must be what they were shown.
/// The one draft also carries its publish log, every attempt and step, oldest first.
pub async fn get(req: &Request, env: &Env, id: &str) -> Result<Response, ApiError> {
    let id = parse_id(id)?;
    let store = DraftStore::from_env(env)?;
    let log = platform::publish_log::PublishLog::from_env(env)?;
    let (row, steps) = futures::join!(visible_row(&store, id), log.for_draft(id));
    let row = row?;
    let max_hashtags = crate::config::max_hashtags(env)?;
    let mut body = view(&origin(req), &row, max_hashtags).ok_or_else(|| not_found(id))?;
    body["publishLog"] =
        serde_json::to_value(steps?).map_err(|e| ApiError::Internal(e.to_string()))?;
    reply::json(200, &body)
}

/// A 409 for a change that named an older revision, carrying the draft as it is now.
pub fn revision_conflict(
    origin: &str,
    row: &DraftRow,
    max_hashtags: usize,
    named: i64,
) -> ApiError {
    ApiError::RevisionConflict {
        message: format!(
            "the draft changed since revision {named}; it is at revision {} now (see error.current)",
            row.revision
        ),
        current: Box::new(view(origin, row, max_hashtags).unwrap_or(Value::Null)),
    }
}

/// Drafts per page by default, and at most.
const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;

/// `GET /api/v1/drafts?status=&account=&limit=&cursor=`: drafts newest first, one page per
/// call, with the count of drafts in each status; only the accounts the caller reviews, or the
/// one `account` names. Read from D1 in one round trip.
pub async fn list(
    req: &Request,
    env: &Env,
    actor: &crate::auth::Actor,
) -> Result<Response, ApiError> {
    let mut problems = Vec::new();
    let (mut status, mut limit, mut cursor, mut account) = (None, DEFAULT_PAGE, None, None);
    for (name, value) in query_pairs(&req.inner().url()) {
        match name.as_str() {
            "status" => match Status::parse(&value) {
                Some(s) => status = Some(s),
                None => {
                    let names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
                    problems.push(crate::body::problem(
                        "status",
                        format!("must be one of {}; got {value:?}", names.join(", ")),
                    ));
                }
            },
            "limit" => match value.parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => limit = n,
                _ => problems.push(crate::body::problem(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_PAGE}; got {value:?}"),
                )),
            },
            "cursor" => match PageCursor::decode(&value) {
                Some(c) => cursor = Some(c),
                None => problems.push(crate::body::problem(
                    "cursor",
                    "is not a cursor this API gave out (use nextCursor as it is)",
                )),
            },
            "account" => account = Some(value),
            other => problems.push(crate::body::problem(other, "unknown query parameter")),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    // One more than the page, to know whether another page follows.
    let (mut rows, counts, _) = crate::scope::page(
        env,
        actor,
        account.as_deref(),
        status,
        cursor.as_ref(),
        limit + 1,
        false,
    )
    .await?;
    let next = (rows.len() > limit as usize).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(|row| PageCursor::after(row).encode())
    });
    let max_hashtags = crate::config::max_hashtags(env)?;
    let origin = origin(req);
    let drafts: Vec<Value> = rows
        .iter()
        .filter_map(|row| view(&origin, row, max_hashtags))
        .collect();
    let mut by_status = serde_json::Map::new();
    for s in Status::ALL {
        let count = counts
            .iter()
            .find(|(name, _)| name == s.as_str())
            .map_or(0, |(_, n)| *n);
        by_status.insert(s.as_str().to_owned(), json!(count));
    }
    reply::json(
        200,
        &json!({ "drafts": drafts, "nextCursor": next.flatten(), "counts": by_status }),
    )
}

/// The query string's pairs, decoded as a form is (`+` is a space, `%XX` a byte).
pub fn query_pairs(url: &str) -> Vec<(String, String)> {
    let Some((_, query)) = url.split_once('?') else {
        return Vec::new();
    };
    let query = query.split('#').next().unwrap_or("");
    crate::body::form(query.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings() {
        let check = |url: &str, expected: &[(&str, &str)]| {
            let got = query_pairs(url);
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            assert_eq!(got, expected, "{url}");
        };
        check("http://x/api/v1/drafts", &[]);
        check(
            "http://x/a?status=draft&limit=5",
            &[("status", "draft"), ("limit", "5")],
        );
        check("http://x/a?q=%E3%81%82+b%2", &[("q", "あ b%2")]);
        check("http://x/a?flag&x=1#frag", &[("flag", ""), ("x", "1")]);
        check("http://x/a?x=%zz", &[("x", "%zz")]);
        check("http://x/a?x=%1é&y=%", &[("x", "%1é"), ("y", "%")]);
    }
}
