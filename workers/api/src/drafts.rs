//! The draft as the API shows it: editable text from Workers KV (written only by this
//! Worker) joined with status and image facts from D1 (shared with the consumers).

use domain::content::{PostText, RawPostText};
use domain::draft::DraftId;
use platform::store::{DraftRow, DraftStore};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use worker::{Env, Request, Response};

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

/// What KV holds under `draft:<id>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DraftDocument {
    pub draft_id: String,
    /// The validated request the text was written from, kept for regeneration.
    pub request: Value,
    pub text: RawPostText,
    pub writer: WriterInfo,
    pub revision: u32,
    pub created_at: String,
    pub updated_at: String,
}

fn kv_key(id: DraftId) -> String {
    format!("draft:{id}")
}

pub async fn load_document(env: &Env, id: DraftId) -> Result<Option<DraftDocument>, ApiError> {
    Ok(env
        .kv(KV_BINDING)?
        .get(&kv_key(id))
        .json::<DraftDocument>()
        .await?)
}

pub async fn save_document(
    env: &Env,
    document: &DraftDocument,
    id: DraftId,
) -> Result<(), ApiError> {
    env.kv(KV_BINDING)?
        .put(
            &kv_key(id),
            serde_json::to_string(document).map_err(|e| ApiError::Internal(e.to_string()))?,
        )?
        .execute()
        .await?;
    Ok(())
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

/// The public JSON view of a draft.
pub fn view(origin: &str, row: &DraftRow, document: &DraftDocument, max_hashtags: usize) -> Value {
    let instagram_caption = PostText::parse(&document.text, max_hashtags)
        .ok()
        .map(|t| t.instagram_caption());
    json!({
        "draftId": row.id,
        "status": row.status,
        "caption": document.text.caption,
        "hashtags": document.text.hashtags,
        "altText": document.text.alt_text,
        "instagramCaption": instagram_caption,
        "language": row.language,
        "writer": document.writer,
        "image": {
            "status": row.image_status,
            "url": row.image_key.as_ref().map(|key| format!("{origin}/media/{key}")),
            "previewUrl": match &row.image_key {
                Some(key) => format!("{origin}/media/{key}"),
                None => format!("{origin}/media/pending.svg"),
            },
            "error": row.image_error,
        },
        "scheduledAt": row.scheduled_at,
        "revision": document.revision,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
    })
}

pub fn parse_id(text: &str) -> Result<DraftId, ApiError> {
    DraftId::parse(text).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// `GET /api/v1/drafts/:id`
pub async fn get(req: &Request, env: &Env, id: &str) -> Result<Response, ApiError> {
    let id = parse_id(id)?;
    let not_found = || ApiError::NotFound(format!("no draft with id {id}"));
    let row = DraftStore::from_env(env)?
        .get(id)
        .await?
        .ok_or_else(not_found)?;
    // A row without text is a draft still being written; to readers it does not exist yet.
    let document = load_document(env, id).await?.ok_or_else(not_found)?;
    let max_hashtags = crate::config::max_hashtags(env)?;
    reply::json(200, &view(&origin(req), &row, &document, max_hashtags))
}
