//! The D1 draft store: every fact that more than one Worker changes.
//!
//! Status changes go through [`DraftStore::transition`], which asks `domain::draft::transition`
//! whether the change is legal and then applies it with `WHERE status = <from>`, so a change
//! that lost a race reports `false` instead of overwriting the winner.

use domain::draft::{DraftId, Event, ImageStatus, Status, transition};
use domain::message::format_rfc3339;
use serde::Deserialize;
use time::OffsetDateTime;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env};

pub const DB_BINDING: &str = "DB";

/// One row of `drafts`, as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct DraftRow {
    pub id: String,
    pub status: String,
    pub version: i64,
    pub language: String,
    pub provider: String,
    pub image_status: String,
    pub image_key: Option<String>,
    pub image_error: Option<String>,
    pub image_prompt: String,
    pub scheduled_at: Option<String>,
    pub approved_caption: Option<String>,
    pub approved_alt_text: Option<String>,
    pub approved_image_key: Option<String>,
    pub approved_at: Option<String>,
    pub approved_by: Option<String>,
    pub publish_attempts: i64,
    pub claim_expires_at: Option<String>,
    pub container_id: Option<String>,
    pub media_id: Option<String>,
    pub permalink: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl DraftRow {
    /// A status the schema's CHECK does not allow cannot be read back, so this only fails if
    /// the schema and the code disagree.
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Failed)
    }

    pub fn image_status(&self) -> ImageStatus {
        ImageStatus::parse(&self.image_status).unwrap_or(ImageStatus::Failed)
    }
}

/// What a new draft starts with.
pub struct NewDraft<'a> {
    pub id: DraftId,
    pub language: &'a str,
    pub provider: &'a str,
    pub image_prompt: &'a str,
    pub scheduled_at: Option<OffsetDateTime>,
    pub now: OffsetDateTime,
}

/// The outcome of claiming an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// This request is the first with the key and owns it.
    Claimed,
    /// An earlier request holds the key.
    Taken {
        fingerprint: String,
        draft_id: String,
    },
}

pub struct DraftStore {
    db: D1Database,
}

fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

fn optional_text(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

impl DraftStore {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            db: env.d1(DB_BINDING)?,
        })
    }

    pub async fn insert(&self, draft: &NewDraft<'_>) -> worker::Result<()> {
        let now = format_rfc3339(draft.now);
        let scheduled = draft.scheduled_at.map(format_rfc3339);
        self.db
            .prepare(
                "INSERT INTO drafts (id, language, provider, image_prompt, scheduled_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            )
            .bind(&[
                text(&draft.id.to_string()),
                text(draft.language),
                text(draft.provider),
                text(draft.image_prompt),
                optional_text(scheduled.as_deref()),
                text(&now),
            ])?
            .run()
            .await?;
        Ok(())
    }

    pub async fn get(&self, id: DraftId) -> worker::Result<Option<DraftRow>> {
        self.db
            .prepare("SELECT * FROM drafts WHERE id = ?1")
            .bind(&[text(&id.to_string())])?
            .first::<DraftRow>(None)
            .await
    }

    /// Removes a draft that never reached a reviewer (its text could not be written).
    ///
    /// Returns the key of the image the image consumer had already recorded for it, which the
    /// caller must delete from R2. An image recorded later finds no row, and the consumer
    /// deletes it itself.
    pub async fn discard_unreviewed(&self, id: DraftId) -> worker::Result<Option<String>> {
        #[derive(Deserialize)]
        struct Discarded {
            image_key: Option<String>,
        }
        let discarded = self
            .db
            .prepare("DELETE FROM drafts WHERE id = ?1 AND status = 'draft' RETURNING image_key")
            .bind(&[text(&id.to_string())])?
            .first::<Discarded>(None)
            .await?;
        Ok(discarded.and_then(|row| row.image_key))
    }

    /// Applies `event` if the state machine allows it from `from` and the row is still there,
    /// recording `last_error` when given (the reason a person sees). Returns whether this call
    /// made the change.
    pub async fn transition(
        &self,
        id: DraftId,
        from: Status,
        event: Event,
        last_error: Option<&str>,
        now: OffsetDateTime,
    ) -> worker::Result<bool> {
        let to = transition(from, event).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let result = self
            .db
            .prepare(
                "UPDATE drafts SET status = ?1, last_error = COALESCE(?2, last_error),
                        version = version + 1, updated_at = ?3
                 WHERE id = ?4 AND status = ?5",
            )
            .bind(&[
                text(to.as_str()),
                optional_text(last_error),
                text(&format_rfc3339(now)),
                text(&id.to_string()),
                text(from.as_str()),
            ])?
            .run()
            .await?;
        Ok(changed_rows(&result) == 1)
    }

    /// Records the stored image. Returns false when the draft no longer exists or another
    /// delivery of the same message recorded its image first; the caller then deletes its own.
    pub async fn image_ready(
        &self,
        id: DraftId,
        key: &str,
        now: OffsetDateTime,
    ) -> worker::Result<bool> {
        let result = self
            .db
            .prepare(
                "UPDATE drafts SET image_status = 'ready', image_key = ?1, image_error = NULL, updated_at = ?2
                 WHERE id = ?3 AND image_status <> 'ready'",
            )
            .bind(&[text(key), text(&format_rfc3339(now)), text(&id.to_string())])?
            .run()
            .await?;
        Ok(changed_rows(&result) == 1)
    }

    /// Records that the image could not be made, so the reviewer sees why.
    pub async fn image_failed(
        &self,
        id: DraftId,
        reason: &str,
        now: OffsetDateTime,
    ) -> worker::Result<bool> {
        let result = self
            .db
            .prepare(
                "UPDATE drafts SET image_status = 'failed', image_error = ?1, updated_at = ?2
                 WHERE id = ?3 AND image_status = 'pending'",
            )
            .bind(&[
                text(reason),
                text(&format_rfc3339(now)),
                text(&id.to_string()),
            ])?
            .run()
            .await?;
        Ok(changed_rows(&result) == 1)
    }

    /// Claims `key` for a new request. The primary key makes the first insert win.
    pub async fn claim_idempotency_key(
        &self,
        key: &str,
        fingerprint: &str,
        draft_id: DraftId,
        now: OffsetDateTime,
    ) -> worker::Result<KeyClaim> {
        let inserted = self
            .db
            .prepare(
                "INSERT INTO idempotency_keys (key, fingerprint, draft_id, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(&[text(key), text(fingerprint), text(&draft_id.to_string()), text(&format_rfc3339(now))])?
            .run()
            .await?;
        if changed_rows(&inserted) == 1 {
            return Ok(KeyClaim::Claimed);
        }
        #[derive(Deserialize)]
        struct Held {
            fingerprint: String,
            draft_id: String,
        }
        let held = self
            .db
            .prepare("SELECT fingerprint, draft_id FROM idempotency_keys WHERE key = ?1")
            .bind(&[text(key)])?
            .first::<Held>(None)
            .await?
            .ok_or_else(|| {
                worker::Error::RustError("idempotency key vanished while being read".into())
            })?;
        Ok(KeyClaim::Taken {
            fingerprint: held.fingerprint,
            draft_id: held.draft_id,
        })
    }

    /// Frees a key whose request failed, so that the client's retry can run.
    pub async fn release_idempotency_key(&self, key: &str) -> worker::Result<()> {
        self.db
            .prepare("DELETE FROM idempotency_keys WHERE key = ?1")
            .bind(&[text(key)])?
            .run()
            .await?;
        Ok(())
    }
}

fn changed_rows(result: &worker::D1Result) -> u64 {
    result
        .meta()
        .ok()
        .flatten()
        .and_then(|m| m.changes)
        .map_or(0, |c| c as u64)
}
