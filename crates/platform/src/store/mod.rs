//! The D1 draft store: the one authoritative, versioned draft, and every fact that more than
//! one Worker changes.
//!
//! A draft changes only through [`DraftStore::apply`]: `domain::draft::transition` decides
//! whether the [`Change`] is legal from the state the caller read, and one
//! `UPDATE ... WHERE` conditional on that state (status, image, text present, and the
//! revision when the caller names one) writes it and returns the new row. A change that lost
//! a race, or names an old revision, writes nothing and returns `None`.

use domain::change::plan;
pub use domain::change::{Change, Deferral, Expected};
use domain::draft::{DraftId, Refusal, Status};
use domain::message::format_rfc3339;
use serde::Deserialize;
use time::OffsetDateTime;
use worker::D1PreparedStatement;
use worker::wasm_bindgen::JsValue;

use crate::d1::{self, Rows};

mod db;
mod keys;
mod review;
mod row;
pub mod search;
mod sql;

pub use db::{DB_BINDING, DraftStore};
pub use keys::KeyClaim;
pub use review::{DeadLetter, FailureCount, HISTORY_LIMIT, MAX_COMMENTS_PER_DRAFT, NewComment};
pub use row::DraftRow;
use sql::{bind, optional_text, render, text, time};

/// A time after every draft's: where the first page of drafts starts.
pub(super) const LAST_TIME: &str = "9999-12-31T23:59:59Z";
/// Accounts one filtered list names at most (D1 binds at most 100 parameters).
pub const MAX_ACCOUNTS_FILTERED: usize = 90;

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
    /// A post of the person's photos: no image is generated, so there is none to wait for
    /// (`image_status` ready without an image; approval needs its photos, `media_items`).
    pub photos: bool,
    pub now: OffsetDateTime,
}

impl DraftStore {
    pub fn insert_statement(&self, draft: &NewDraft<'_>) -> worker::Result<D1PreparedStatement> {
        let scheduled = draft.scheduled_at.map(format_rfc3339);
        self.db
            .prepare(
                // Revision 0 until the text is written: the first revision a person sees is 1.
                "INSERT INTO drafts (id, revision, language, provider, image_prompt, scheduled_at, request,
                                     writer, image_requested_at, image_requests, created_at, updated_at,
                                     account_id, image_status)
                 VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?10, ?8, ?8, ?9, ?11)",
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
                JsValue::from_f64(if draft.photos { 0.0 } else { 1.0 }),
                text(if draft.photos { "ready" } else { "pending" }),
            ])
    }

    pub async fn insert(&self, draft: &NewDraft<'_>) -> worker::Result<()> {
        d1::run(self.insert_statement(draft)?).await
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
        let ids = serde_json::to_string(&ids)?;
        let statement = self
            .db
            .prepare("SELECT * FROM drafts WHERE id IN (SELECT value FROM json_each(?1))")
            .bind(&[text(&ids)])?;
        d1::all(statement).await?.all()
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
        let counts = self.counts_statement(None)?;
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
    /// created_at), at most a page read from each.
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
        let status_clause = if status.is_some() {
            " AND status = ?4"
        } else {
            ""
        };
        // One newest-first range of an index by (account, [status,] created_at) for each
        // account, at most a page from each, merged: an OR of the accounts (or an IN of
        // several) would read every draft of them all to sort them.
        let first_id = 5;
        let mut accounts: Vec<String> = (0..ids.len())
            .map(|i| format!("account_id = ?{}", first_id + i))
            .collect();
        if default_too {
            accounts.push("account_id IS NULL".to_owned());
        }
        let branches: Vec<String> = accounts
            .iter()
            .map(|account| {
                format!(
                    "SELECT * FROM (SELECT rowid AS row_seq, * FROM drafts
                     WHERE {account}{status_clause} AND (created_at, rowid) < (?1, ?2) AND caption IS NOT NULL
                     ORDER BY created_at DESC, rowid DESC LIMIT ?3)"
                )
            })
            .collect();
        let page_sql = format!(
            "SELECT * FROM ({}) ORDER BY created_at DESC, row_seq DESC LIMIT ?3",
            branches.join(" UNION ALL ")
        );
        let mut binds = vec![
            text(after_created),
            JsValue::from_f64(after_seq as f64),
            JsValue::from_f64(f64::from(limit)),
            text(status.map_or("", |s| s.as_str())),
        ];
        binds.extend(ids.iter().map(|id| text(id)));
        let page = self.db.prepare(page_sql).bind(&binds)?;
        let counts = self.counts_statement(Some(&(ids.to_vec(), default_too)))?;
        page_and_counts(&d1::batch(&self.db, vec![page, counts]).await?)
    }

    /// The count of visible drafts in each status, of every account (`None`) or of some
    /// accounts' drafts (their ids, and whether the default account's, naming none, are in).
    pub(super) fn counts_statement(
        &self,
        accounts: Option<&(Vec<String>, bool)>,
    ) -> worker::Result<D1PreparedStatement> {
        let Some((ids, default_too)) = accounts else {
            // Kept in step with every write by the triggers of migration 0008: six rows read.
            return Ok(self
                .db
                .prepare("SELECT status, count FROM draft_counts WHERE count > 0"));
        };
        let ids = &ids[..ids.len().min(MAX_ACCOUNTS_FILTERED)];
        // Kept per account by the triggers of migration 0022: six rows per account read, the
        // default account's under ''. No account at all counts nothing (a reviewer of no
        // connected account): the list is then empty.
        let mut keys: Vec<&str> = ids.iter().map(String::as_str).collect();
        if *default_too {
            keys.push("");
        }
        let list: Vec<String> = (1..=keys.len()).map(|i| format!("?{i}")).collect();
        let counts_sql = format!(
            "SELECT status, SUM(count) AS count FROM account_draft_counts
             WHERE account_id IN ({}) AND count > 0 GROUP BY status",
            if list.is_empty() {
                "NULL".to_owned()
            } else {
                list.join(", ")
            }
        );
        let binds: Vec<JsValue> = keys.iter().map(|key| text(key)).collect();
        self.db.prepare(counts_sql).bind(&binds)
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
        Ok(self.db.prepare(sql).bind(&bind(&binds))?)
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

    /// Of `keys`, the R2 objects some draft still points at (its image or its approved one, or
    /// an item of its images or of the approved ones). A discarded draft points at nothing:
    /// its images are removed with the orphans. An item's key names its draft
    /// (`images/<draft id>/...`), so its draft is found by the primary key, never by a scan.
    pub async fn referenced_images(&self, keys: &[String]) -> worker::Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Key {
            key: String,
        }
        let list = serde_json::to_string(keys)?;
        let statement = self
            .db
            .prepare(
                "SELECT image_key AS key FROM drafts
                 WHERE status != 'discarded' AND image_key IN (SELECT value FROM json_each(?1))
                 UNION
                 SELECT approved_image_key AS key FROM drafts
                 WHERE status != 'discarded' AND approved_image_key IN (SELECT value FROM json_each(?1))
                 UNION
                 SELECT k.value AS key FROM json_each(?1) AS k
                 JOIN drafts AS d ON d.id = substr(k.value, 8, 36)
                 WHERE d.status != 'discarded'
                   AND (instr(coalesce(d.media_items, ''), '\"' || k.value || '\"') > 0
                        OR instr(coalesce(d.approved_media_items, ''), '\"' || k.value || '\"') > 0)",
            )
            .bind(&[text(&list)])?;
        Ok(d1::all(statement)
            .await?
            .all::<Key>()?
            .into_iter()
            .map(|k| k.key)
            .collect())
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
        hex::encode(format!("{}|{}", self.created_at, self.seq))
    }

    pub fn decode(token: &str) -> Option<Self> {
        if token.len() > 256 {
            return None;
        }
        let text = String::from_utf8(hex::decode(token).ok()?).ok()?;
        let (created_at, seq) = text.split_once('|')?;
        // A cursor comes from outside: its time is bounded like any other.
        domain::timestamp::parse_rfc3339(created_at).ok()?;
        Some(Self {
            created_at: created_at.to_owned(),
            seq: seq.parse().ok().filter(|n: &i64| *n >= 0)?,
        })
    }
}

/// A page of drafts, and the count of visible drafts per status.
pub type Page = (Vec<DraftRow>, Vec<(String, i64)>);

/// A page's rows and its per-status counts, from the batch `[page, counts]`.
pub(super) fn page_and_counts(results: &[Rows]) -> worker::Result<Page> {
    let rows = match results.first() {
        Some(result) => result.all::<DraftRow>()?,
        None => Vec::new(),
    };
    let counts = match results.get(1) {
        Some(result) => counts_of(result)?,
        None => Vec::new(),
    };
    Ok((rows, counts))
}

/// The per-status counts a counts statement read.
pub(super) fn counts_of(result: &Rows) -> worker::Result<Vec<(String, i64)>> {
    #[derive(Deserialize)]
    struct Count {
        status: String,
        count: i64,
    }
    Ok(result
        .all::<Count>()?
        .into_iter()
        .map(|c| (c.status, c.count))
        .collect())
}

/// The row an applied change returned; `None` when its conditions no longer held. A result
/// that is not a success is an error, never "nothing changed".
pub fn applied_row(result: &Rows) -> worker::Result<Option<DraftRow>> {
    result.first()
}
