//! The D1 `publish_logs` table: every publish attempt and each of its steps, written by the
//! publish consumer and shown on the draft. A row never holds a token: its texts are Graph
//! API messages, which `instagram` redacts, and the consumer's own words.

use domain::draft::DraftId;
use domain::message::format_rfc3339;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

use crate::d1::{self, optional_number, optional_text, text};
use crate::store::DB_BINDING;

/// A step of the publish workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The draft was claimed (or a delivery stepped aside).
    Claim,
    /// `POST /{user}/media`.
    Container,
    /// `GET /{container}?fields=status_code,status`.
    Status,
    /// `POST /{user}/media_publish`.
    Publish,
    /// `GET /{media}?fields=permalink`, best effort.
    Permalink,
    /// Finding out what a doubtful earlier step did, instead of doing it again.
    Reconcile,
    /// The run released the draft until a later message: why, and when it is due.
    Wait,
    /// Publishing stopped for good: the reason the draft failed.
    GiveUp,
    /// The post's first comment: its send, its lookup, how it ended.
    Comment,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Claim => "claim",
            Step::Container => "container",
            Step::Status => "status",
            Step::Publish => "publish",
            Step::Permalink => "permalink",
            Step::Reconcile => "reconcile",
            Step::Wait => "wait",
            Step::GiveUp => "give_up",
            Step::Comment => "comment",
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// It will be tried again (a later message).
    Retry,
    Failed,
    /// Nothing to do (a duplicate delivery, a draft no longer approved).
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Retry => "retry",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One row to write.
#[derive(Debug, Clone, Default)]
pub struct Entry<'a> {
    pub attempt: u32,
    pub error_class: Option<&'a str>,
    pub error_code: Option<i64>,
    pub error_subcode: Option<i64>,
    pub message: Option<&'a str>,
    pub container_id: Option<&'a str>,
    pub media_id: Option<&'a str>,
    pub duration_ms: Option<i64>,
}

/// One row as stored; serialised in the API's camelCase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "snake_case"))]
pub struct LogRow {
    pub attempt: i64,
    pub step: String,
    pub outcome: String,
    pub error_class: Option<String>,
    pub error_code: Option<i64>,
    pub error_subcode: Option<i64>,
    pub message: Option<String>,
    pub container_id: Option<String>,
    pub media_id: Option<String>,
    pub duration_ms: Option<i64>,
    pub created_at: String,
}

/// The most rows [`PublishLog::for_draft`] returns: the newest ones.
pub const MAX_ROWS: u32 = 200;

pub struct PublishLog {
    db: D1Database,
}

impl PublishLog {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            db: env.d1(DB_BINDING)?,
        })
    }

    /// The insert of one row, for a caller that batches it with the draft change it records.
    pub fn insert_statement(
        &self,
        id: DraftId,
        step: Step,
        outcome: Outcome,
        entry: &Entry<'_>,
        now: OffsetDateTime,
    ) -> worker::Result<D1PreparedStatement> {
        self.db
            .prepare(
                "INSERT INTO publish_logs (draft_id, attempt, step, outcome, error_class, error_code,
                                           error_subcode, message, container_id, media_id,
                                           duration_ms, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .bind(&[
                text(&id.to_string()),
                JsValue::from_f64(f64::from(entry.attempt)),
                text(step.as_str()),
                text(outcome.as_str()),
                optional_text(entry.error_class),
                optional_number(entry.error_code),
                optional_number(entry.error_subcode),
                optional_text(entry.message),
                optional_text(entry.container_id),
                optional_text(entry.media_id),
                optional_number(entry.duration_ms),
                text(&format_rfc3339(now)),
            ])
    }

    /// A `claim skipped` row, alone: a delivery that stepped aside, and why.
    pub async fn claim_skipped(
        &self,
        id: DraftId,
        entry: &Entry<'_>,
        now: OffsetDateTime,
    ) -> worker::Result<()> {
        let row = self.insert_statement(id, Step::Claim, Outcome::Skipped, entry, now)?;
        d1::run(row).await
    }

    /// The `claim ok` row of a claim, for the claim's own batch: written only if the claim
    /// won, with the container and media ids the claimed draft holds.
    pub fn claimed_statement(
        &self,
        id: DraftId,
        attempt: u32,
        claim: &str,
        message: &str,
        now: OffsetDateTime,
    ) -> worker::Result<D1PreparedStatement> {
        self.db
            .prepare(
                "INSERT INTO publish_logs (draft_id, attempt, step, outcome, message, container_id,
                                           media_id, created_at)
                 SELECT id, ?2, 'claim', 'ok', ?3, container_id, media_id, ?4 FROM drafts
                 WHERE id = ?1 AND publish_claim = ?5",
            )
            .bind(&[
                text(&id.to_string()),
                JsValue::from_f64(f64::from(attempt)),
                text(message),
                text(&format_rfc3339(now)),
                text(claim),
            ])
    }

    /// The draft's rows, oldest first: the newest [`MAX_ROWS`] of them. What
    /// `GET /api/v1/drafts/{id}` shows as `publishLog`.
    pub async fn for_draft(&self, id: DraftId) -> worker::Result<Vec<LogRow>> {
        let statement = self
            .db
            .prepare(
                "SELECT attempt, step, outcome, error_class, error_code, error_subcode, message,
                        container_id, media_id, duration_ms, created_at
                 FROM publish_logs WHERE draft_id = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .bind(&[
                text(&id.to_string()),
                JsValue::from_f64(f64::from(MAX_ROWS)),
            ])?;
        let mut rows = d1::all(statement).await?.all::<LogRow>()?;
        rows.reverse();
        Ok(rows)
    }

    /// The newest row that says why publishing stopped or last went wrong (a `give_up`, else
    /// the newest failed or retried step), for the failure's reason.
    pub async fn last_failure(&self, id: DraftId) -> worker::Result<Option<LogRow>> {
        let statement = self.db.prepare(
                "SELECT attempt, step, outcome, error_class, error_code, error_subcode, message,
                        container_id, media_id, duration_ms, created_at
                 FROM publish_logs
                 WHERE draft_id = ?1 AND outcome IN ('failed', 'retry') AND step NOT IN ('permalink', 'wait')
                 ORDER BY step = 'give_up' DESC, id DESC LIMIT 1",
            )
            .bind(&[text(&id.to_string())])?;
        d1::all(statement).await?.first()
    }
}
