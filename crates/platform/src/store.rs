//! The D1 draft store: the one authoritative, versioned draft, and every fact that more than
//! one Worker changes.
//!
//! A draft changes only through [`DraftStore::apply`]: `domain::draft::transition` decides
//! whether the [`Change`] is legal from the state the caller read, and one
//! `UPDATE ... WHERE` conditional on that state (status, image, text present, and the
//! revision when the caller names one) writes it and returns the new row. A change that lost
//! a race, or names an old revision, writes nothing and returns `None`.

pub use domain::change::{Change, Deferral, Expected};
use domain::change::{Guard, Set, Value, WritePlan, plan};
use domain::content::RawPostText;
use domain::draft::{DraftId, DraftState, ImageStatus, Refusal, Status};
use domain::idempotency::HeldKey;
use domain::message::format_rfc3339;
use domain::publish::{Record, Sent};
use serde::Deserialize;
use time::OffsetDateTime;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

use crate::d1::{self, Rows};

pub const DB_BINDING: &str = "DB";
/// Plain comments a draft keeps at most; decisions are recorded regardless.
pub const MAX_COMMENTS_PER_DRAFT: usize = 200;
/// How many comments and decisions, and how many publish steps, a history shows: the newest.
pub const HISTORY_LIMIT: usize = 200;

/// A time after every draft's: where the first page of drafts starts.
const LAST_TIME: &str = "9999-12-31T23:59:59Z";
/// Accounts one filtered list names at most (D1 binds at most 100 parameters).
pub const MAX_ACCOUNTS_FILTERED: usize = 90;

/// One row of `drafts`, as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct DraftRow {
    /// Only in pages of drafts: the row's insertion order, the cursor's tie-breaker.
    #[serde(default)]
    pub row_seq: Option<i64>,
    pub id: String,
    pub status: String,
    pub revision: i64,
    pub language: String,
    pub provider: String,
    pub caption: Option<String>,
    pub hashtags: Option<String>,
    pub alt_text: Option<String>,
    pub generated_caption: Option<String>,
    pub generated_hashtags: Option<String>,
    pub generated_alt_text: Option<String>,
    pub request: Option<String>,
    pub writer: Option<String>,
    pub image_status: String,
    pub image_key: Option<String>,
    pub image_error: Option<String>,
    pub image_prompt: String,
    pub image_claim: Option<String>,
    pub image_lease_expires_at: Option<String>,
    /// When the image was last asked for (the insert, a person, or the scheduler again).
    pub image_requested_at: Option<String>,
    /// How often it was asked for in this series; the scheduler gives up after a limit.
    #[serde(default)]
    pub image_requests: i64,
    pub scheduled_at: Option<String>,
    pub approved_revision: Option<i64>,
    pub approved_caption: Option<String>,
    pub approved_hashtags: Option<String>,
    pub approved_alt_text: Option<String>,
    pub approved_image_key: Option<String>,
    pub approved_at: Option<String>,
    pub approved_by: Option<String>,
    pub publish_attempts: i64,
    pub publish_claim: Option<String>,
    pub claim_expires_at: Option<String>,
    /// When the publish message now in flight is due; `None` while none is (a scheduled post
    /// not yet due, a held one).
    pub publish_due_at: Option<String>,
    /// Why the scheduler holds a due post back, and when it expects to queue it.
    pub publish_hold: Option<String>,
    pub publish_hold_until: Option<String>,
    pub container_id: Option<String>,
    /// The container a `media_publish` may have been sent for, and when (see
    /// `domain::publish`): until a status read says it is not live, nothing fails the draft.
    #[serde(default)]
    pub publish_sent_container: Option<String>,
    #[serde(default)]
    pub publish_sent_at: Option<String>,
    #[serde(default)]
    pub container_polls: i64,
    #[serde(default)]
    pub throttled_since: Option<String>,
    #[serde(default)]
    pub unresolved_since: Option<String>,
    pub media_id: Option<String>,
    pub permalink: Option<String>,
    pub last_error: Option<String>,
    pub reminded_at: Option<String>,
    /// The account it is published to; `None`: the default account (the oldest).
    #[serde(default)]
    pub account_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl DraftRow {
    /// A status the schema's CHECK does not allow cannot be read back, so the fallbacks only
    /// matter if the schema and the code disagree.
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Failed)
    }

    pub fn image_status(&self) -> ImageStatus {
        ImageStatus::parse(&self.image_status).unwrap_or(ImageStatus::Failed)
    }

    pub fn state(&self) -> DraftState {
        DraftState {
            status: self.status(),
            image: self.image_status(),
            has_text: self.caption.is_some(),
        }
    }

    /// What a change made from this read expects to still hold, revision included.
    pub fn expected(&self) -> Expected {
        Expected {
            state: self.state(),
            revision: Some(self.revision),
        }
    }

    /// The same without the revision: for Workers' own events (the image, publishing), which a
    /// reviewer's concurrent edit of the text must not make fail.
    pub fn expected_state(&self) -> Expected {
        Expected {
            state: self.state(),
            revision: None,
        }
    }

    /// The current text; `None` while it is still being written.
    pub fn text(&self) -> Option<RawPostText> {
        text_of(&self.caption, &self.hashtags, &self.alt_text)
    }

    /// The text as the caption writer wrote it.
    pub fn generated_text(&self) -> Option<RawPostText> {
        text_of(
            &self.generated_caption,
            &self.generated_hashtags,
            &self.generated_alt_text,
        )
    }

    /// The text a person approved: the only text the publisher sends.
    pub fn approved_text(&self) -> Option<RawPostText> {
        text_of(
            &self.approved_caption,
            &self.approved_hashtags,
            &self.approved_alt_text,
        )
    }

    pub fn image_lease_expires_at(&self) -> Option<OffsetDateTime> {
        parse_time(self.image_lease_expires_at.as_deref())
    }

    pub fn claim_expires_at(&self) -> Option<OffsetDateTime> {
        parse_time(self.claim_expires_at.as_deref())
    }

    pub fn scheduled_at(&self) -> Option<OffsetDateTime> {
        parse_time(self.scheduled_at.as_deref())
    }

    /// What the publish machine decides from.
    pub fn publish_record(&self) -> Record {
        let sent = match (&self.publish_sent_container, &self.publish_sent_at) {
            (Some(container_id), at) => Some(Sent {
                container_id: container_id.clone(),
                // Both are written together (`Change::PublishSent`, the migration's backfill).
                at: parse_time(at.as_deref()).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            }),
            (None, _) => None,
        };
        Record {
            container_id: self.container_id.clone(),
            sent,
            media_id: self.media_id.clone(),
            attempts_spent: u32::try_from(self.publish_attempts).unwrap_or(0),
            polls: u32::try_from(self.container_polls).unwrap_or(0),
            throttled_since: parse_time(self.throttled_since.as_deref()),
            unresolved_since: parse_time(self.unresolved_since.as_deref()),
        }
    }
}

fn text_of(
    caption: &Option<String>,
    hashtags: &Option<String>,
    alt_text: &Option<String>,
) -> Option<RawPostText> {
    Some(RawPostText {
        caption: caption.clone()?,
        hashtags: serde_json::from_str(hashtags.as_deref().unwrap_or("[]")).ok()?,
        alt_text: alt_text.clone()?,
    })
}

fn parse_time(text: Option<&str>) -> Option<OffsetDateTime> {
    domain::timestamp::parse_rfc3339(text?).ok()
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("D1: {0}")]
    D1(#[from] worker::Error),
}

/// What a new draft starts with; its text comes later, with [`Change::TextWritten`].
pub struct NewDraft<'a> {
    pub id: DraftId,
    pub language: &'a str,
    pub provider: &'a str,
    pub image_prompt: &'a str,
    pub scheduled_at: Option<OffsetDateTime>,
    /// The validated request and the writer, as JSON, kept for regeneration and the page.
    pub request: &'a str,
    pub writer: &'a str,
    /// The account it is for; `None`: the default account.
    pub account_id: Option<&'a str>,
    pub now: OffsetDateTime,
}

pub struct DraftStore {
    db: D1Database,
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

fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

fn optional_text(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

fn time(value: OffsetDateTime) -> JsValue {
    text(&format_rfc3339(value))
}

impl DraftStore {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            db: env.d1(DB_BINDING)?,
        })
    }

    pub fn insert_statement(&self, draft: &NewDraft<'_>) -> worker::Result<D1PreparedStatement> {
        let scheduled = draft.scheduled_at.map(format_rfc3339);
        self.db
            .prepare(
                // Revision 0 until the text is written: the first revision a person sees is 1.
                "INSERT INTO drafts (id, revision, language, provider, image_prompt, scheduled_at, request,
                                     writer, image_requested_at, image_requests, created_at, updated_at,
                                     account_id)
                 VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?8, ?8, ?9)",
            )
            .bind(&[
                text(&draft.id.to_string()),
                text(draft.language),
                text(draft.provider),
                text(draft.image_prompt),
                optional_text(scheduled.as_deref()),
                text(draft.request),
                text(draft.writer),
                time(draft.now),
                optional_text(draft.account_id),
            ])
    }

    pub async fn insert(&self, draft: &NewDraft<'_>) -> worker::Result<()> {
        d1::all(self.insert_statement(draft)?).await?.checked()?;
        Ok(())
    }

    pub async fn get(&self, id: DraftId) -> worker::Result<Option<DraftRow>> {
        let statement = self
            .db
            .prepare("SELECT * FROM drafts WHERE id = ?1")
            .bind(&[text(&id.to_string())])?;
        d1::all(statement).await?.first()
    }

    /// The drafts with these ids that exist, in one round trip (by the primary key).
    pub async fn get_many(&self, ids: &[DraftId]) -> worker::Result<Vec<DraftRow>> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let ids =
            serde_json::to_string(&ids).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let statement = self
            .db
            .prepare("SELECT * FROM drafts WHERE id IN (SELECT value FROM json_each(?1))")
            .bind(&[text(&ids)])?;
        d1::all(statement).await?.checked()?.all()
    }

    /// A page of visible drafts (with text), newest first, optionally of one status,
    /// starting after `after` (the last draft of the previous page), and the number of
    /// visible drafts in each status: one round trip.
    pub async fn page(
        &self,
        status: Option<Status>,
        after: Option<&PageCursor>,
        limit: u32,
    ) -> worker::Result<Page> {
        // The first page continues after a cursor past every draft, so that each page is one
        // range of an index: by (status, created_at) for one status, else by created_at.
        let (after_created, after_seq) =
            after.map_or((LAST_TIME, 1_i64 << 53), |c| (c.created_at.as_str(), c.seq));
        let (sql, mut binds) = match status {
            // Times are whole seconds; the rowid (insertion order) breaks ties, so drafts
            // made in the same second are still newest first.
            Some(status) => (
                "SELECT rowid AS row_seq, * FROM drafts
                 WHERE status = ?4 AND (created_at, rowid) < (?1, ?2) AND caption IS NOT NULL
                 ORDER BY created_at DESC, rowid DESC
                 LIMIT ?3",
                vec![text(status.as_str())],
            ),
            None => (
                "SELECT rowid AS row_seq, * FROM drafts
                 WHERE (created_at, rowid) < (?1, ?2) AND caption IS NOT NULL
                 ORDER BY created_at DESC, rowid DESC
                 LIMIT ?3",
                Vec::new(),
            ),
        };
        binds.splice(
            0..0,
            [
                text(after_created),
                JsValue::from_f64(after_seq as f64),
                JsValue::from_f64(f64::from(limit)),
            ],
        );
        let page = self.db.prepare(sql).bind(&binds)?;
        // Kept in step with every write by the triggers of migration 0008: six rows read.
        let counts = self
            .db
            .prepare("SELECT status, count FROM draft_counts WHERE count > 0");
        page_and_counts(&d1::batch(&self.db, vec![page, counts]).await?)
    }

    /// The account a draft names: `None` for no such draft, `Some(None)` for a draft of the
    /// default account (no account named).
    pub async fn account_of(&self, id: DraftId) -> worker::Result<Option<Option<String>>> {
        #[derive(Deserialize)]
        struct Named {
            account_id: Option<String>,
        }
        let statement = self
            .db
            .prepare("SELECT account_id FROM drafts WHERE id = ?1")
            .bind(&[text(&id.to_string())])?;
        Ok(d1::all(statement)
            .await?
            .first::<Named>()?
            .map(|n| n.account_id))
    }

    /// [`Self::page`] for the drafts of some accounts only: those naming one of `ids`, and,
    /// with `default_too`, those naming none (the default account's). The counts are of
    /// those drafts too. Each account's drafts are a range of an index by (account,
    /// created_at), merged in order.
    pub async fn page_of_accounts(
        &self,
        ids: &[String],
        default_too: bool,
        status: Option<Status>,
        after: Option<&PageCursor>,
        limit: u32,
    ) -> worker::Result<Page> {
        // D1 binds at most 100 parameters.
        let ids = &ids[..ids.len().min(MAX_ACCOUNTS_FILTERED)];
        if ids.is_empty() && !default_too {
            return Ok((Vec::new(), Vec::new()));
        }
        let (after_created, after_seq) =
            after.map_or((LAST_TIME, 1_i64 << 53), |c| (c.created_at.as_str(), c.seq));
        let first_id = 5;
        let list: Vec<String> = (0..ids.len())
            .map(|i| format!("?{}", first_id + i))
            .collect();
        let mut accounts = Vec::new();
        if !ids.is_empty() {
            accounts.push(format!("account_id IN ({})", list.join(", ")));
        }
        if default_too {
            accounts.push("account_id IS NULL".to_owned());
        }
        let accounts = format!("({})", accounts.join(" OR "));
        let status_clause = if status.is_some() {
            " AND status = ?4"
        } else {
            ""
        };
        let page_sql = format!(
            "SELECT rowid AS row_seq, * FROM drafts
             WHERE {accounts}{status_clause} AND (created_at, rowid) < (?1, ?2) AND caption IS NOT NULL
             ORDER BY created_at DESC, rowid DESC
             LIMIT ?3"
        );
        let mut binds = vec![
            text(after_created),
            JsValue::from_f64(after_seq as f64),
            JsValue::from_f64(f64::from(limit)),
            text(status.map_or("", |s| s.as_str())),
        ];
        binds.extend(ids.iter().map(|id| text(id)));
        let page = self.db.prepare(page_sql).bind(&binds)?;
        // Counted per branch, each a range of the (account, status) index, then added up: an
        // OR here would make the planner walk every draft by status.
        let mut branches = Vec::new();
        if !ids.is_empty() {
            let list: Vec<String> = (1..=ids.len()).map(|i| format!("?{i}")).collect();
            branches.push(format!(
                "SELECT status, COUNT(*) AS n FROM drafts
                 WHERE account_id IN ({}) AND caption IS NOT NULL GROUP BY status",
                list.join(", ")
            ));
        }
        if default_too {
            branches.push(
                "SELECT status, COUNT(*) AS n FROM drafts
                 WHERE account_id IS NULL AND caption IS NOT NULL GROUP BY status"
                    .to_owned(),
            );
        }
        let counts_sql = format!(
            "SELECT status, SUM(n) AS count FROM ({}) GROUP BY status",
            branches.join(" UNION ALL ")
        );
        let id_binds: Vec<JsValue> = ids.iter().map(|id| text(id)).collect();
        let counts = self.db.prepare(counts_sql).bind(&id_binds)?;
        page_and_counts(&d1::batch(&self.db, vec![page, counts]).await?)
    }

    /// The statement that applies `change` if the draft still is as `expected`, returning the
    /// new row: `domain::change::plan` decides every column and guard, this only renders it.
    /// Refused without touching D1 when the state machine forbids the change. Callers that
    /// batch it with other writes read its result with [`applied_row`].
    pub fn apply_statement(
        &self,
        id: DraftId,
        expected: Expected,
        change: &Change<'_>,
        now: OffsetDateTime,
    ) -> Result<D1PreparedStatement, StoreError> {
        let plan = plan(expected, change, now)?;
        let (sql, binds) = render(id, &plan);
        Ok(self.db.prepare(sql).bind(&binds)?)
    }

    /// Applies `change` if the draft is still as `expected`. `Ok(None)`: it is not (another
    /// writer won, or the revision is old); the caller reads the draft again to tell which.
    pub async fn apply(
        &self,
        id: DraftId,
        expected: Expected,
        change: &Change<'_>,
        now: OffsetDateTime,
    ) -> Result<Option<DraftRow>, StoreError> {
        let result = d1::all(self.apply_statement(id, expected, change, now)?).await?;
        Ok(applied_row(&result)?)
    }

    /// Runs statements in one round trip and one transaction.
    pub async fn batch(&self, statements: Vec<D1PreparedStatement>) -> worker::Result<Vec<Rows>> {
        d1::batch(&self.db, statements).await
    }

    /// Removes a draft whose text was never written (generate failed), returning the key of
    /// an image already recorded for it, which the caller deletes from R2. A draft with text
    /// is never removed here.
    pub fn discard_textless_statement(&self, id: &str) -> worker::Result<D1PreparedStatement> {
        self.db
            .prepare(
                "DELETE FROM drafts WHERE id = ?1 AND caption IS NULL AND status = 'draft'
                 RETURNING image_key",
            )
            .bind(&[text(id)])
    }

    pub async fn discard_textless(&self, id: &str) -> worker::Result<Option<Option<String>>> {
        #[derive(Deserialize)]
        struct Discarded {
            image_key: Option<String>,
        }
        let result = d1::all(self.discard_textless_statement(id)?).await?;
        Ok(result
            .checked()?
            .all::<Discarded>()?
            .into_iter()
            .next()
            .map(|row| row.image_key))
    }

    /// Drafts whose text was never written and that were created before `before`: a generate
    /// request that died between its insert and its text, or a row from before the text moved
    /// into D1. The sweep finishes or removes them.
    pub async fn textless_drafts(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> worker::Result<Vec<DraftRow>> {
        let statement = self
            .db
            .prepare(
                "SELECT * FROM drafts WHERE caption IS NULL AND created_at < ?1
                 ORDER BY created_at LIMIT ?2",
            )
            .bind(&[time(before), JsValue::from_f64(f64::from(limit))])?;
        d1::all(statement).await?.all()
    }

    /// Of `keys`, the R2 objects some draft still points at (its image or its approved one). A
    /// discarded draft points at nothing: its images are removed with the orphans.
    pub async fn referenced_images(&self, keys: &[String]) -> worker::Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Key {
            key: String,
        }
        let list =
            serde_json::to_string(keys).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let statement = self
            .db
            .prepare(
                "SELECT image_key AS key FROM drafts
                 WHERE status != 'discarded' AND image_key IN (SELECT value FROM json_each(?1))
                 UNION
                 SELECT approved_image_key AS key FROM drafts
                 WHERE status != 'discarded' AND approved_image_key IN (SELECT value FROM json_each(?1))",
            )
            .bind(&[text(&list)])?;
        Ok(d1::all(statement)
            .await?
            .checked()?
            .all::<Key>()?
            .into_iter()
            .map(|k| k.key)
            .collect())
    }

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
        Ok(inserted.checked()?.count()? == 1)
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
            let mut rows: Vec<serde_json::Value> = results
                .get(i)
                .map_or(Ok(Vec::new()), |r| r.checked()?.all())?;
            for row in &mut rows {
                if let Some(object) = row.as_object_mut() {
                    object.remove("id");
                }
            }
            Ok(rows)
        };
        Ok((rows(0)?, rows(1)?))
    }

    /// Failed or retried publish steps of the last `days` days, by day (UTC) and error class,
    /// newest day first.
    pub async fn failure_counts(&self, days: u32) -> worker::Result<Vec<(String, String, i64)>> {
        #[derive(Deserialize)]
        struct Row {
            day: String,
            class: String,
            count: i64,
        }
        let statement = self
            .db
            .prepare(
                // An attempt logs several steps; each failed attempt counts once.
                "SELECT substr(created_at, 1, 10) AS day, COALESCE(error_class, 'unknown') AS class,
                        COUNT(DISTINCT draft_id || ':' || attempt) AS count
                 FROM publish_logs
                 WHERE outcome IN ('failed', 'retry')
                   AND created_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1)
                 GROUP BY day, class ORDER BY day DESC, class",
            )
            .bind(&[text(&format!("-{days} days"))])?;
        let rows = d1::all(statement).await?.checked()?.all::<Row>()?;
        Ok(rows
            .into_iter()
            .map(|r| (r.day, r.class, r.count))
            .collect())
    }

    // --- idempotency keys ------------------------------------------------------------------

    /// Claims `key` for this request (`owner`): a new key, an expired one, or one whose
    /// running claim lapsed with the same body. Returns whether this request now owns it.
    pub async fn claim_key(&self, claim: &KeyClaim<'_>) -> worker::Result<bool> {
        #[derive(Deserialize)]
        struct Owner {
            owner: String,
        }
        let statement = self
            .db
            .prepare(
                "INSERT INTO idempotency_keys
                     (key, fingerprint, state, owner, lease_expires_at, draft_id, created_at, expires_at)
                 VALUES (?1, ?2, 'running', ?3, ?4, NULL, ?5, ?6)
                 ON CONFLICT (key) DO UPDATE SET
                     fingerprint = excluded.fingerprint, state = 'running', owner = excluded.owner,
                     lease_expires_at = excluded.lease_expires_at, draft_id = NULL,
                     created_at = excluded.created_at, expires_at = excluded.expires_at
                 WHERE idempotency_keys.expires_at <= ?5
                    OR (idempotency_keys.state = 'running' AND idempotency_keys.lease_expires_at <= ?5
                        AND idempotency_keys.fingerprint = excluded.fingerprint)
                 RETURNING owner",
            )
            .bind(&[
                text(claim.key),
                text(claim.fingerprint),
                text(claim.owner),
                time(claim.lease_until),
                time(claim.now),
                time(claim.expires_at),
            ])?;
        let owner = d1::all(statement).await?.checked()?.first::<Owner>()?;
        Ok(owner.is_some_and(|o| o.owner == claim.owner))
    }

    /// The key as held now; an expired key counts as absent.
    pub async fn held_key(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> worker::Result<Option<HeldKey>> {
        #[derive(Deserialize)]
        struct Row {
            fingerprint: String,
            state: String,
            lease_expires_at: String,
            draft_id: Option<String>,
        }
        let statement = self
            .db
            .prepare(
                "SELECT fingerprint, state, lease_expires_at, draft_id FROM idempotency_keys
                 WHERE key = ?1 AND expires_at > ?2 LIMIT 1",
            )
            .bind(&[text(key), time(now)])?;
        let row = d1::all(statement).await?.checked()?.first::<Row>()?;
        Ok(row.map(|row| HeldKey {
            fingerprint: row.fingerprint,
            done: row.state == "done",
            lease_expires_at: parse_time(Some(&row.lease_expires_at))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            draft_id: row.draft_id,
        }))
    }

    /// Marks the key done with its draft; only its owner can.
    pub fn finish_key_statement(
        &self,
        key: &str,
        owner: &str,
        draft_id: DraftId,
    ) -> worker::Result<D1PreparedStatement> {
        self.db
            .prepare(
                "UPDATE idempotency_keys SET state = 'done', draft_id = ?3
                 WHERE key = ?1 AND owner = ?2 AND state = 'running'",
            )
            .bind(&[text(key), text(owner), text(&draft_id.to_string())])
    }

    /// Frees a key whose request failed, so the client's retry can run; only its owner can.
    pub fn release_key_statement(
        &self,
        key: &str,
        owner: &str,
    ) -> worker::Result<D1PreparedStatement> {
        self.db
            .prepare(
                "DELETE FROM idempotency_keys WHERE key = ?1 AND owner = ?2 AND state = 'running'",
            )
            .bind(&[text(key), text(owner)])
    }

    /// Deletes the keys that expired before `now`; returns how many.
    pub async fn purge_expired_keys(&self, now: OffsetDateTime) -> worker::Result<usize> {
        let statement = self
            .db
            .prepare("DELETE FROM idempotency_keys WHERE expires_at <= ?1 RETURNING key")
            .bind(&[time(now)])?;
        d1::all(statement).await?.checked()?.count()
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
        if result.checked()?.count()? == 1 {
            Ok(())
        } else {
            Err(worker::Error::RustError(
                "recording a dead letter wrote no row".into(),
            ))
        }
    }
}

/// Where a page of drafts continues: after this draft, in newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    pub created_at: String,
    /// The draft's insertion order, breaking ties between drafts of the same second.
    pub seq: i64,
}

impl PageCursor {
    pub fn after(row: &DraftRow) -> Self {
        Self {
            created_at: row.created_at.clone(),
            seq: row.row_seq.unwrap_or(0),
        }
    }

    /// An opaque token for URLs: hex of `created_at|seq`.
    pub fn encode(&self) -> String {
        crate::clock::hex(format!("{}|{}", self.created_at, self.seq).as_bytes())
    }

    pub fn decode(token: &str) -> Option<Self> {
        if !token.len().is_multiple_of(2) || token.len() > 256 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
            .collect();
        let text = String::from_utf8(bytes?).ok()?;
        let (created_at, seq) = text.split_once('|')?;
        parse_time(Some(created_at))?;
        Some(Self {
            created_at: created_at.to_owned(),
            seq: seq.parse().ok().filter(|n: &i64| *n >= 0)?,
        })
    }
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

/// A claim on an idempotency key.
pub struct KeyClaim<'a> {
    pub key: &'a str,
    pub fingerprint: &'a str,
    pub owner: &'a str,
    pub lease_until: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub now: OffsetDateTime,
}

/// A queue message that could not be handled, as received.
pub struct DeadLetter<'a> {
    pub message_id: &'a str,
    pub queue: &'a str,
    pub body: &'a str,
    pub reason: &'a str,
}

/// `UPDATE drafts SET .. WHERE id = ? AND <guards> RETURNING *`, with numbered parameters.
fn render(id: DraftId, plan: &WritePlan) -> (String, Vec<JsValue>) {
    let mut binds = Vec::new();
    let mut param = |value: &Value| {
        binds.push(match value {
            Value::Null => JsValue::NULL,
            Value::Text(text) => JsValue::from_str(text),
            Value::Int(n) => JsValue::from_f64(*n as f64),
        });
        format!("?{}", binds.len())
    };
    let sets: Vec<String> = plan
        .sets
        .iter()
        .map(|(column, set)| match set {
            // A cleared column reads as such in the statement (and in D1's statement log).
            Set::To(Value::Null) => format!("{column} = NULL"),
            Set::To(value) => format!("{column} = {}", param(value)),
            Set::CopyOf(other) => format!("{column} = {other}"),
            Set::Increment => format!("{column} = {column} + 1"),
            Set::KeepOr(value) => format!("{column} = COALESCE({column}, {})", param(value)),
        })
        .collect();
    let mut guards = vec![format!("id = {}", param(&Value::Text(id.to_string())))];
    guards.extend(plan.guards.iter().map(|guard| match guard {
        Guard::Equals(column, value) => format!("{column} = {}", param(value)),
        Guard::Is(column, value) => format!("{column} IS {}", param(value)),
        Guard::AtMost(column, value) => {
            format!("({column} IS NULL OR {column} <= {})", param(value))
        }
        Guard::IsNull(column) => format!("{column} IS NULL"),
        Guard::NotNull(column) => format!("{column} IS NOT NULL"),
        Guard::MediaUnclaimed(value) => format!(
            "NOT EXISTS (SELECT 1 FROM drafts AS other WHERE other.media_id = {})",
            param(value)
        ),
    }));
    let sql = format!(
        "UPDATE drafts SET {} WHERE {} RETURNING *",
        sets.join(", "),
        guards.join(" AND ")
    );
    (sql, binds)
}

/// The row an applied change returned; `None` when its conditions no longer held. A result
/// that is not a success is an error, never "nothing changed".
/// A page of drafts, and the count of visible drafts per status.
pub type Page = (Vec<DraftRow>, Vec<(String, i64)>);

/// A page's rows and its per-status counts, from the batch `[page, counts]`.
fn page_and_counts(results: &[Rows]) -> worker::Result<Page> {
    #[derive(Deserialize)]
    struct Count {
        status: String,
        count: i64,
    }
    let rows = match results.first() {
        Some(result) => result.all::<DraftRow>()?,
        None => Vec::new(),
    };
    let counts = match results.get(1) {
        Some(result) => result
            .all::<Count>()?
            .into_iter()
            .map(|c| (c.status, c.count))
            .collect(),
        None => Vec::new(),
    };
    Ok((rows, counts))
}

pub fn applied_row(result: &Rows) -> worker::Result<Option<DraftRow>> {
    result.checked()?.first()
}
