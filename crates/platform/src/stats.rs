//! What the charts page reads: D1 `daily_posts` (kept by triggers, migration 0021) for a
//! window of days, the ages of the drafts waiting for review, by the status index, and the
//! publish attempts' durations by day from `publish_logs`: rows read grow with the window and
//! with what waits, never with the history.

use domain::draft::Status;
use serde::Deserialize;
use time::OffsetDateTime;
use worker::{D1Database, Env};

use crate::d1::{self, text, time};
use crate::store::DB_BINDING;

/// One UTC day of one account.
#[derive(Debug, Clone, Deserialize)]
pub struct DayRow {
    pub day: String,
    /// `""`: the default account.
    pub account_id: String,
    pub published: i64,
    pub live_seconds: i64,
    pub approved: i64,
    pub review_seconds: i64,
}

/// Drafts under review by how long they have waited.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub struct Waiting {
    pub under_hour: i64,
    pub under_day: i64,
    pub under_three_days: i64,
    pub under_week: i64,
    pub older: i64,
}

pub struct StatsStore {
    db: D1Database,
}

impl StatsStore {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            db: env.d1(DB_BINDING)?,
        })
    }

    /// Every kept day from `since_day` (YYYY-MM-DD) on, oldest first, by the primary key.
    pub async fn days_since(&self, since_day: &str) -> worker::Result<Vec<DayRow>> {
        let statement = self
            .db
            .prepare(
                "SELECT day, account_id, published, live_seconds, approved, review_seconds
                 FROM daily_posts WHERE day >= ?1 ORDER BY day",
            )
            .bind(&[text(since_day)])?;
        d1::all(statement).await?.all()
    }

    /// How long the drafts under review have waited at `now`, counted on the index by status
    /// and creation time.
    pub async fn waiting(&self, now: OffsetDateTime) -> worker::Result<Waiting> {
        use time::Duration;
        let statement = self
            .db
            .prepare(
                "SELECT COALESCE(SUM(created_at >= ?1), 0) AS under_hour,
                        COALESCE(SUM(created_at < ?1 AND created_at >= ?2), 0) AS under_day,
                        COALESCE(SUM(created_at < ?2 AND created_at >= ?3), 0) AS under_three_days,
                        COALESCE(SUM(created_at < ?3 AND created_at >= ?4), 0) AS under_week,
                        COALESCE(SUM(created_at < ?4), 0) AS older
                 FROM drafts WHERE status = ?5 AND caption IS NOT NULL",
            )
            .bind(&[
                time(now - Duration::hours(1)),
                time(now - Duration::days(1)),
                time(now - Duration::days(3)),
                time(now - Duration::days(7)),
                text(Status::Draft.as_str()),
            ])?;
        Ok(d1::all(statement).await?.first()?.unwrap_or_default())
    }

    /// Failed or retried publish attempts per error class from `since` (RFC 3339, its day)
    /// on, an attempt once per class: from `failures_by_day` (migration 0025), a row per day
    /// and class.
    pub async fn failures_by_class(&self, since: &str) -> worker::Result<Vec<(String, i64)>> {
        #[derive(Deserialize)]
        struct Row {
            class: String,
            attempts: i64,
        }
        let statement = self
            .db
            .prepare(
                "SELECT error_class AS class, SUM(attempts) AS attempts FROM failures_by_day
                 WHERE day >= substr(?1, 1, 10) GROUP BY error_class ORDER BY error_class",
            )
            .bind(&[text(since)])?;
        let rows: Vec<Row> = d1::all(statement).await?.all()?;
        Ok(rows.into_iter().map(|r| (r.class, r.attempts)).collect())
    }

    /// Per UTC day from `since` (RFC 3339) on, the publish attempts logged and the time their
    /// steps took together, as [`crate::analytics::DayDuration`]s: the D1 side of the charts'
    /// publish durations. A row a day, kept (migration 0025), not a read of the log.
    pub async fn attempt_durations(
        &self,
        since: &str,
    ) -> worker::Result<Vec<crate::analytics::DayDuration>> {
        #[derive(Deserialize)]
        struct Row {
            day: String,
            total_ms: f64,
            attempts: f64,
        }
        let statement = self
            .db
            .prepare(
                // Kept per day by a trigger on `publish_logs` (migration 0025).
                "SELECT day, total_ms, attempts FROM publish_time_by_day
                 WHERE day >= substr(?1, 1, 10) ORDER BY day",
            )
            .bind(&[text(since)])?;
        let rows: Vec<Row> = d1::all(statement).await?.all()?;
        Ok(rows
            .into_iter()
            .filter(|r| r.attempts > 0.0)
            .map(|r| crate::analytics::DayDuration {
                day: r.day,
                average_ms: r.total_ms / r.attempts,
                attempts: r.attempts,
            })
            .collect())
    }
}
