//! Review comments and decisions, a draft's history, failure counts and dead letters.

use serde::Deserialize;
use time::OffsetDateTime;
use worker::D1PreparedStatement;
use worker::wasm_bindgen::JsValue;

use super::db::DraftStore;
use super::row::DraftRow;
use super::sql::{text, time};
use crate::d1;
use domain::draft::{DraftId, Status};

/// Plain comments a draft keeps at most; decisions are recorded regardless.
pub const MAX_COMMENTS_PER_DRAFT: usize = 200;
/// How many comments and decisions, and how many publish steps, a history shows: the newest.
pub const HISTORY_LIMIT: usize = 200;

impl DraftStore {
    // --- review comments -------------------------------------------------------------------

    /// Records a review decision, only if the draft is still at `revision` and `status`:
    /// batched before the change it describes, a decision that lost its race records nothing.
    pub fn comment_statement(
        &self,
        comment: &NewComment<'_>,
    ) -> worker::Result<D1PreparedStatement> {
        self.db
            .prepare(
                "INSERT INTO review_comments (draft_id, revision, reviewer, decision, comment, created_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6
                 WHERE EXISTS (SELECT 1 FROM drafts WHERE id = ?1 AND revision = ?2 AND status = ?7)",
            )
            .bind(&comment_row(comment, text(comment.status.as_str())))
    }

    /// A plain comment (not a decision), only while the draft has fewer than
    /// [`MAX_COMMENTS_PER_DRAFT`] of them; whether it was recorded.
    pub async fn add_comment(&self, comment: &NewComment<'_>) -> worker::Result<bool> {
        let statement = self
            .db
            .prepare(
                "INSERT INTO review_comments (draft_id, revision, reviewer, decision, comment, created_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6
                 WHERE (SELECT COUNT(*) FROM review_comments WHERE draft_id = ?1 AND decision = ?4) < ?7
                 RETURNING id",
            )
            .bind(&comment_row(
                comment,
                JsValue::from_f64(MAX_COMMENTS_PER_DRAFT as f64),
            ))?;
        let inserted = d1::all(statement).await?;
        Ok(inserted.count()? == 1)
    }

    /// The draft's newest [`HISTORY_LIMIT`] review comments and decisions, and its newest
    /// [`HISTORY_LIMIT`] publish steps, each oldest first, as JSON objects with camel-case
    /// names: one round trip, bounded however long the draft's life.
    pub async fn history(
        &self,
        id: DraftId,
    ) -> worker::Result<(Vec<serde_json::Value>, Vec<serde_json::Value>)> {
        let id = text(&id.to_string());
        let limit = JsValue::from_f64(HISTORY_LIMIT as f64);
        let comments = self
            .db
            .prepare(
                "SELECT * FROM (
                     SELECT id, revision, reviewer, decision, comment, created_at AS createdAt
                     FROM review_comments WHERE draft_id = ?1 ORDER BY id DESC LIMIT ?2
                 ) ORDER BY id",
            )
            .bind(&[id.clone(), limit.clone()])?;
        let steps = self
            .db
            .prepare(
                "SELECT * FROM (
                     SELECT id, attempt, step, outcome, error_class AS errorClass,
                            error_code AS errorCode, error_subcode AS errorSubcode, message,
                            container_id AS containerId, media_id AS mediaId,
                            duration_ms AS durationMs, created_at AS createdAt
                     FROM publish_logs WHERE draft_id = ?1 ORDER BY id DESC LIMIT ?2
                 ) ORDER BY id",
            )
            .bind(&[id, limit])?;
        let results = d1::batch(&self.db, vec![comments, steps]).await?;
        let rows = |i: usize| -> worker::Result<Vec<serde_json::Value>> {
            let mut rows: Vec<serde_json::Value> =
                results.get(i).map_or(Ok(Vec::new()), |r| r.all())?;
            for row in &mut rows {
                if let Some(object) = row.as_object_mut() {
                    object.remove("id");
                }
            }
            Ok(rows)
        };
        Ok((rows(0)?, rows(1)?))
    }

    /// Failed or retried publish attempts of the last `days` days by error class and quarter
    /// hour (UTC, the start of the quarter as RFC 3339), newest first: an attempt counts once
    /// per class, at its first failed step. Quarter hours, so the page can add them up into
    /// the days of any zone (every zone's offset is a whole number of quarter hours). From
    /// `failures_by_quarter` (migration 0025): a row per quarter and class that had failures,
    /// however long the publish log.
    pub async fn failure_counts(&self, days: u32) -> worker::Result<Vec<FailureCount>> {
        let statement = self
            .db
            .prepare(
                "SELECT quarter, error_class AS class, attempts AS count FROM failures_by_quarter
                 WHERE quarter >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1) AND attempts > 0
                 ORDER BY quarter DESC, class",
            )
            .bind(&[text(&format!("-{days} days"))])?;
        d1::all(statement).await?.all::<FailureCount>()
    }

    /// The drafts (at most `limit`) with a failed or retried publish step of `class` in
    /// `[from, until)`: what a count of the failures view stands for.
    pub async fn failed_in(
        &self,
        class: &str,
        from: &str,
        until: &str,
        limit: u32,
    ) -> worker::Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Row {
            draft_id: String,
        }
        let statement = self
            .db
            .prepare(
                "SELECT DISTINCT draft_id FROM publish_logs
                 WHERE outcome IN ('failed', 'retry') AND created_at >= ?1 AND created_at < ?2
                   AND COALESCE(error_class, 'unknown') = ?3
                 LIMIT ?4",
            )
            .bind(&[
                text(from),
                text(until),
                text(class),
                JsValue::from_f64(f64::from(limit)),
            ])?;
        let rows = d1::all(statement).await?.all::<Row>()?;
        Ok(rows.into_iter().map(|r| r.draft_id).collect())
    }

    /// Drafts being retried: approved or being published, their last attempt failed, the
    /// next one due; the soonest due first, at most `limit`, of the accounts `accounts`
    /// names (`None`: every account; else the ids, and whether the default account's drafts,
    /// which name none, are in). A range of the partial index `drafts_retrying`.
    pub async fn retrying(
        &self,
        accounts: Option<&(Vec<String>, bool)>,
        limit: u32,
    ) -> worker::Result<Vec<DraftRow>> {
        let mut binds = vec![JsValue::from_f64(f64::from(limit))];
        let clause = match accounts {
            None => "",
            Some((ids, default_too)) => {
                binds.push(text(&serde_json::to_string(ids).unwrap_or_default()));
                if *default_too {
                    " AND (account_id IN (SELECT value FROM json_each(?2)) OR account_id IS NULL)"
                } else {
                    " AND account_id IN (SELECT value FROM json_each(?2))"
                }
            }
        };
        let statement = self
            .db
            .prepare(format!(
                "SELECT rowid AS row_seq, * FROM drafts INDEXED BY drafts_retrying
                 WHERE status IN ('approved', 'publishing') AND last_error IS NOT NULL
                   AND COALESCE(publish_due_at, '') >= '' AND publish_attempts > 0{clause}
                 ORDER BY COALESCE(publish_due_at, '') LIMIT ?1"
            ))
            .bind(&binds)?;
        d1::all(statement).await?.all()
    }

    // --- dead letters ----------------------------------------------------------------------

    /// Records a message nobody could handle, once per queue message (a redelivery counts up).
    pub async fn record_dead_letter(
        &self,
        letter: &DeadLetter<'_>,
        now: OffsetDateTime,
    ) -> worker::Result<()> {
        let statement = self
            .db
            .prepare(
                "INSERT INTO dead_letters (message_id, queue, body, reason, first_seen_at, last_seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT (message_id) DO UPDATE SET
                     deliveries = deliveries + 1, reason = excluded.reason, last_seen_at = excluded.last_seen_at
                 RETURNING id",
            )
            .bind(&[
                text(letter.message_id),
                text(letter.queue),
                text(letter.body),
                text(letter.reason),
                time(now),
            ])?;
        let result = d1::all(statement).await?;
        if result.count()? == 1 {
            Ok(())
        } else {
            Err(worker::Error::RustError(
                "recording a dead letter wrote no row".into(),
            ))
        }
    }
}

/// A comment's six columns (?1..?6), then the statement's own condition (?7).
fn comment_row(comment: &NewComment<'_>, condition: JsValue) -> [JsValue; 7] {
    [
        text(&comment.draft_id.to_string()),
        JsValue::from_f64(comment.revision as f64),
        text(comment.reviewer),
        text(comment.decision),
        text(comment.comment),
        time(comment.now),
        condition,
    ]
}

/// A review decision about one revision of a draft.
pub struct NewComment<'a> {
    pub draft_id: DraftId,
    pub revision: i64,
    /// The status the draft must still have.
    pub status: Status,
    pub reviewer: &'a str,
    /// One of the schema's decisions: comment, edit, approve, withdraw, reapprove, ...
    pub decision: &'a str,
    pub comment: &'a str,
    pub now: OffsetDateTime,
}

/// Failed or retried publish attempts of one error class in a quarter hour (UTC).
#[derive(Debug, Clone, Deserialize)]
pub struct FailureCount {
    /// The quarter hour's start, RFC 3339 UTC.
    pub quarter: String,
    pub class: String,
    pub count: i64,
}

/// A queue message that could not be handled, as received.
pub struct DeadLetter<'a> {
    pub message_id: &'a str,
    pub queue: &'a str,
    pub body: &'a str,
    pub reason: &'a str,
}
