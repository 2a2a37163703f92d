//! The scheduler's selections in D1: the drafts each task may pick (timed posts due, lost
//! publish messages, lapsed publish claims, stuck images, drafts due a reminder), the posts in
//! flight of an account and when its recent posts went out. Each is a range of an index that
//! holds what the task picks, limited per run (see ARCHITECTURE.md "Cost"); a status is named
//! by `domain::draft::Status`, written into the text so that SQLite matches the partial
//! indexes (migration 0009), whose conditions name it.

use domain::draft::{ImageStatus, Status};
use domain::message::format_rfc3339_millis;
use serde::Deserialize;
use time::OffsetDateTime;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::d1::{self, text, time};
use crate::publish_log::{Outcome, Step};
use crate::store::{DB_BINDING, DraftRow};

fn number(value: f64) -> JsValue {
    JsValue::from_f64(value)
}

/// Approved drafts with nothing queued whose time has come (?1: now), then the untimed
/// ones, each range at most ?2.
fn due_posts_sql() -> String {
    let approved = Status::Approved.as_str();
    format!(
        "SELECT * FROM (
             SELECT * FROM drafts INDEXED BY drafts_waiting_by_schedule
             WHERE status = '{approved}' AND publish_due_at IS NULL AND scheduled_at <= ?1
             ORDER BY scheduled_at LIMIT ?2)
         UNION ALL
         SELECT * FROM (
             SELECT * FROM drafts INDEXED BY drafts_waiting_by_schedule
             WHERE status = '{approved}' AND publish_due_at IS NULL AND scheduled_at IS NULL
             ORDER BY COALESCE(approved_at, updated_at) LIMIT ?2)"
    )
}

/// Approved drafts whose publish message was due at or before ?1, at most ?2.
fn lost_messages_sql() -> String {
    let approved = Status::Approved.as_str();
    format!(
        "SELECT * FROM drafts
         WHERE status = '{approved}' AND publish_due_at IS NOT NULL AND publish_due_at <= ?1
         ORDER BY publish_due_at, id LIMIT ?2"
    )
}

/// Publishing drafts whose claim lapsed at or before ?1 with nothing queued since, at most ?2.
fn stuck_publishing_sql() -> String {
    let publishing = Status::Publishing.as_str();
    format!(
        "SELECT * FROM drafts
         WHERE status = '{publishing}' AND claim_expires_at <= ?1
           AND (publish_due_at IS NULL OR publish_due_at <= ?1)
         ORDER BY claim_expires_at, id LIMIT ?2"
    )
}

/// Drafts under review whose image is pending, or generating under a lease lapsed by ?1,
/// last asked for at or before ?2, at most ?3.
fn stuck_images_sql() -> String {
    let draft = Status::Draft.as_str();
    let pending = ImageStatus::Pending.as_str();
    let generating = ImageStatus::Generating.as_str();
    format!(
        "SELECT * FROM drafts INDEXED BY drafts_unfinished_images
         WHERE status = '{draft}' AND image_status IN ('{pending}', '{generating}') AND caption IS NOT NULL
           AND (image_status = '{pending}' OR image_lease_expires_at <= ?1)
           AND COALESCE(image_requested_at, created_at) <= ?2
         ORDER BY COALESCE(image_requested_at, created_at), id LIMIT ?3"
    )
}

/// Drafts under review made at or before ?1, never reminded or last reminded at or before
/// ?2, each range at most ?3.
fn due_reminders_sql() -> String {
    let draft = Status::Draft.as_str();
    format!(
        "SELECT * FROM (
             SELECT * FROM drafts INDEXED BY drafts_for_review_by_reminder
             WHERE status = '{draft}' AND caption IS NOT NULL
               AND reminded_at IS NULL AND created_at <= ?1
             ORDER BY created_at LIMIT ?3)
         UNION ALL
         SELECT * FROM (
             SELECT * FROM drafts INDEXED BY drafts_for_review_by_reminder
             WHERE status = '{draft}' AND caption IS NOT NULL
               AND reminded_at <= ?2 AND created_at <= ?1
             ORDER BY created_at LIMIT ?3)"
    )
}

/// Posts of account ?1 (a draft without one is ?2's) queued or being published.
fn in_flight_sql() -> String {
    let approved = Status::Approved.as_str();
    let publishing = Status::Publishing.as_str();
    format!(
        "SELECT (SELECT COUNT(*) FROM drafts WHERE status = '{approved}' AND publish_due_at IS NOT NULL
                       AND COALESCE(account_id, ?2) = ?1)
                  + (SELECT COUNT(*) FROM drafts WHERE status = '{publishing}'
                       AND COALESCE(account_id, ?2) = ?1) AS n"
    )
}

/// When each media id first published after ?1 by account ?2 (?3 for drafts without one)
/// went out, oldest first, at most ?4.
fn published_since_sql() -> String {
    let publish = Step::Publish.as_str();
    let reconcile = Step::Reconcile.as_str();
    let ok = Outcome::Ok.as_str();
    format!(
        "SELECT MIN(created_at) AS at FROM publish_logs AS recent INDEXED BY publish_logs_by_step_time
             WHERE step IN ('{publish}', '{reconcile}') AND created_at > ?1
               AND outcome = '{ok}' AND media_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM publish_logs AS earlier INDEXED BY publish_logs_by_media_id
                               WHERE earlier.media_id = recent.media_id
                                 AND earlier.step IN ('{publish}', '{reconcile}')
                                 AND earlier.outcome = '{ok}' AND earlier.created_at <= ?1)
               AND EXISTS (SELECT 1 FROM drafts WHERE drafts.id = recent.draft_id
                                                  AND COALESCE(drafts.account_id, ?3) = ?2)
             GROUP BY media_id
             ORDER BY at LIMIT ?4"
    )
}

/// Drafts sent to `media_publish` from ?1 and before ?2 (or then, with an id below ?3), not
/// matched to a media yet, whose post may be live, with the approved caption ?4 and
/// hashtags ?5.
fn earlier_twins_sql() -> String {
    let [approved, publishing, published] = [
        Status::Approved.as_str(),
        Status::Publishing.as_str(),
        Status::Published.as_str(),
    ];
    format!(
        "SELECT COUNT(*) AS n FROM drafts
                 WHERE publish_sent_at >= ?1
                   AND (publish_sent_at < ?2 OR (publish_sent_at = ?2 AND id < ?3))
                   AND media_id IS NULL AND status IN ('{approved}', '{publishing}', '{published}')
                   AND approved_caption IS ?4 AND approved_hashtags IS ?5"
    )
}

#[derive(Deserialize)]
struct Count {
    n: u32,
}

/// The scheduler's and the publish workflow's reads of drafts by what is due or matched.
pub struct ScheduleStore {
    db: D1Database,
}

impl ScheduleStore {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            db: env.d1(DB_BINDING)?,
        })
    }

    async fn drafts(&self, sql: &str, binds: &[JsValue]) -> worker::Result<Vec<DraftRow>> {
        let statement = self.db.prepare(sql).bind(binds)?;
        d1::all(statement).await?.all()
    }

    /// Timed posts due at `now` and untimed ones with nothing queued, at most `limit` of
    /// each, in no order: the caller merges them.
    pub async fn due_posts(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> worker::Result<Vec<DraftRow>> {
        self.drafts(&due_posts_sql(), &[time(now), number(f64::from(limit))])
            .await
    }

    /// Approved drafts whose message was due at or before `overdue`.
    pub async fn lost_messages(
        &self,
        overdue: OffsetDateTime,
        limit: u32,
    ) -> worker::Result<Vec<DraftRow>> {
        self.drafts(
            &lost_messages_sql(),
            &[time(overdue), number(f64::from(limit))],
        )
        .await
    }

    /// Publishing drafts whose claim lapsed at or before `lapsed`.
    pub async fn stuck_publishing(
        &self,
        lapsed: OffsetDateTime,
        limit: u32,
    ) -> worker::Result<Vec<DraftRow>> {
        self.drafts(
            &stuck_publishing_sql(),
            &[time(lapsed), number(f64::from(limit))],
        )
        .await
    }

    /// Images unfinished at `now`, last asked for at or before `asked_before`.
    pub async fn stuck_images(
        &self,
        now: OffsetDateTime,
        asked_before: OffsetDateTime,
        limit: u32,
    ) -> worker::Result<Vec<DraftRow>> {
        let binds = [time(now), time(asked_before), number(f64::from(limit))];
        self.drafts(&stuck_images_sql(), &binds).await
    }

    /// Drafts under review made at or before `made_before`, never reminded or reminded at
    /// or before `reminded_before`; at most `limit` of each, in no order.
    pub async fn due_reminders(
        &self,
        made_before: OffsetDateTime,
        reminded_before: OffsetDateTime,
        limit: u32,
    ) -> worker::Result<Vec<DraftRow>> {
        let binds = [
            time(made_before),
            time(reminded_before),
            number(f64::from(limit)),
        ];
        self.drafts(&due_reminders_sql(), &binds).await
    }

    /// Posts of `account_id` queued or being published (a draft without an account is
    /// `default_id`'s).
    pub async fn in_flight(&self, account_id: &str, default_id: &str) -> worker::Result<u32> {
        let statement = self
            .db
            .prepare(in_flight_sql())
            .bind(&[text(account_id), text(default_id)])?;
        let count = d1::all(statement).await?.first::<Count>()?;
        Ok(count.map_or(0, |c| c.n))
    }

    /// When this pipeline's posts of `account_id` published after `since` went out, oldest
    /// first, at most `limit`: the first log row that recorded each media id.
    pub async fn published_since(
        &self,
        since: OffsetDateTime,
        limit: usize,
        account_id: &str,
        default_id: &str,
    ) -> worker::Result<Vec<OffsetDateTime>> {
        #[derive(Deserialize)]
        struct At {
            at: String,
        }
        let statement = self.db.prepare(published_since_sql()).bind(&[
            time(since),
            text(account_id),
            text(default_id),
            number(limit as f64),
        ])?;
        let rows = d1::all(statement).await?.all::<At>()?;
        Ok(rows
            .iter()
            .filter_map(|row| crate::d1::read_time(&row.at))
            .collect())
    }

    /// How many drafts with the same approved text (`caption`, `hashtags`) were sent to
    /// `media_publish` from `since` and before `draft_id` was (at `sent_at`), and have not
    /// matched their post yet (drafts_by_publish_sent_at).
    pub async fn earlier_twins(
        &self,
        draft_id: &str,
        sent_at: &str,
        since: OffsetDateTime,
        caption: Option<&str>,
        hashtags: Option<&str>,
    ) -> worker::Result<usize> {
        let optional = |value: Option<&str>| value.map_or(JsValue::NULL, text);
        let statement = self.db.prepare(earlier_twins_sql()).bind(&[
            text(&format_rfc3339_millis(since)),
            text(sent_at),
            text(draft_id),
            optional(caption),
            optional(hashtags),
        ])?;
        let count = d1::all(statement).await?.first::<Count>()?;
        Ok(count.map_or(0, |c| c.n as usize))
    }

    /// Whether a draft other than `draft_id` recorded `media_id` (drafts_by_media_id).
    pub async fn media_taken(&self, media_id: &str, draft_id: &str) -> worker::Result<bool> {
        let statement = self
            .db
            .prepare("SELECT id FROM drafts WHERE media_id = ?1 AND id != ?2 LIMIT 1")
            .bind(&[text(media_id), text(draft_id)])?;
        let row = d1::all(statement).await?.first::<serde_json::Value>()?;
        Ok(row.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each selection names the statuses of the partial index it reads, as the index's
    /// condition does (migration 0009), and nothing else.
    #[test]
    fn selections_name_the_statuses_of_their_indexes() {
        for (sql, has, lacks) in [
            (due_posts_sql(), "status = 'approved'", "'publishing'"),
            (lost_messages_sql(), "status = 'approved'", "'publishing'"),
            (
                stuck_publishing_sql(),
                "status = 'publishing'",
                "'approved'",
            ),
            (
                stuck_images_sql(),
                "image_status IN ('pending', 'generating')",
                "'approved'",
            ),
            (due_reminders_sql(), "status = 'draft'", "'approved'"),
            (
                earlier_twins_sql(),
                "status IN ('approved', 'publishing', 'published')",
                "'draft'",
            ),
            (
                published_since_sql(),
                "step IN ('publish', 'reconcile')",
                "'approved'",
            ),
        ] {
            assert!(sql.contains(has), "{sql}");
            assert!(!sql.contains(lacks), "{sql}");
        }
        assert!(in_flight_sql().contains("status = 'approved'"));
        assert!(in_flight_sql().contains("status = 'publishing'"));
        assert!(published_since_sql().contains("outcome = 'ok'"));
    }

    #[test]
    fn the_partial_indexes_are_named_where_the_planner_would_miss_them() {
        assert!(due_posts_sql().contains("INDEXED BY drafts_waiting_by_schedule"));
        assert!(stuck_images_sql().contains("INDEXED BY drafts_unfinished_images"));
        assert!(due_reminders_sql().contains("INDEXED BY drafts_for_review_by_reminder"));
        assert!(published_since_sql().contains("INDEXED BY publish_logs_by_media_id"));
    }
}
