//! The draft as the API shows it, read from its one authoritative D1 row, and the read copy
//! in Workers KV.
//!
//! KV holds the design's draft document under `draft:<id>`, written after D1 and carrying
//! the revision it copies. KV is eventually consistent, so nothing that decides (an edit's
//! base, an approval, what a reviewer approves, publishing) reads it.

use domain::content::{PostText, RawPostText};
use domain::draft::DraftId;
use platform::store::{DraftRow, DraftStore};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use worker::{Context, Env, Request, Response};

use crate::reply::{self, ApiError};

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

/// Reads the KV copy. Only housekeeping uses it: rows written before the text moved into
/// D1 have their text only there.
pub async fn load_copy(env: &Env, id: &str) -> Result<Option<DraftDocument>, ApiError> {
    Ok(env
        .kv(KV_BINDING)?
        .get(&kv_key(id))
        .json::<DraftDocument>()
        .await?)
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

/// The origin clients reach this Worker at, for absolute media URLs. Sliced from the
/// runtime's already-normalised URL: parsing it with the `url` crate would add its IDNA
/// tables, over 100 KiB, to the wasm.
pub fn origin(req: &Request) -> String {
    let url = req.inner().url();
    let host_start = url.find("://").map_or(0, |i| i + 3);
    let end = url[host_start..]
        .find('/')
        .map_or(url.len(), |i| host_start + i);
    url[..end].to_owned()
}

/// The public JSON view of a draft with text; `None` for a row whose text is not written.
pub fn view(origin: &str, row: &DraftRow, max_hashtags: usize) -> Option<Value> {
    let text = row.text()?;
    let instagram_caption = PostText::parse(&text, max_hashtags)
        .ok()
        .map(|t| t.instagram_caption());
    let media_url = |key: &String| format!("{origin}/media/{key}");
    Some(json!({
        "draftId": row.id,
        "status": row.status,
        "revision": row.revision,
        "caption": text.caption,
        "hashtags": text.hashtags,
        "altText": text.alt_text,
        "instagramCaption": instagram_caption,
        "language": row.language,
        "writer": json_column(&row.writer),
        "image": {
            "status": row.image_status,
            "url": row.image_key.as_ref().map(media_url),
            "previewUrl": row.image_key.as_ref().map_or_else(|| format!("{origin}/media/pending.svg"), media_url),
            "error": row.image_error,
        },
        "scheduledAt": row.scheduled_at,
        "approval": row.approved_revision.map(|revision| json!({
            "revision": revision,
            "approvedAt": row.approved_at,
            "approvedBy": row.approved_by,
        })),
        "lastError": row.last_error,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
    }))
}

pub fn parse_id(text: &str) -> Result<DraftId, ApiError> {
    DraftId::parse(text).map_err(|e| ApiError::BadRequest(e.to_string()))
}

pub fn not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::NotFound(format!("no draft with id {id}"))
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
pub async fn get(req: &Request, env: &Env, id: &str) -> Result<Response, ApiError> {
    let id = parse_id(id)?;
    let row = visible_row(&DraftStore::from_env(env)?, id).await?;
    let max_hashtags = crate::config::max_hashtags(env)?;
    let body = view(&origin(req), &row, max_hashtags).ok_or_else(|| not_found(id))?;
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
