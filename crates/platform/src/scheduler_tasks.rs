//! D1 `scheduler_tasks`: the scheduler's periodic tasks that must not run twice at once or
//! more often than their interval (the reminder digest, the daily token check), and where the
//! orphan-image sweep resumes.
//!
//! A run takes a task with one conditional write, as `operator_alerts` claims an alert: of
//! two overlapping runs exactly one gets it. The claim has a lease, so a run that died frees
//! the task; a run that finished records `done_at`, and one that failed only releases it.

use domain::message::format_rfc3339;
use serde::Deserialize;
use time::OffsetDateTime;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::d1::{self, text, time};
use crate::store::DB_BINDING;

pub const REMINDERS: &str = "reminders";
pub const TOKEN_CHECK: &str = "token_check";
pub const ORPHAN_IMAGES: &str = "orphan_images";

pub struct Tasks {
    db: D1Database,
}

impl Tasks {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            db: env.d1(DB_BINDING)?,
        })
    }

    /// Takes `task` for the run `claim` until `until`, unless a live claim holds it or it was
    /// done after `done_since` (when given). Returns whether this run has it.
    pub async fn claim(
        &self,
        task: &str,
        claim: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        done_since: Option<OffsetDateTime>,
    ) -> worker::Result<bool> {
        #[derive(Deserialize)]
        struct Claimed {
            claim: Option<String>,
        }
        let done_since = done_since.map(format_rfc3339);
        let statement = self
            .db
            .prepare(
                "INSERT INTO scheduler_tasks (task, claim, claimed_until) VALUES (?1, ?2, ?3)
                 ON CONFLICT (task) DO UPDATE SET
                     claim = excluded.claim, claimed_until = excluded.claimed_until
                 WHERE (scheduler_tasks.claim IS NULL OR scheduler_tasks.claimed_until <= ?4)
                   AND (?5 IS NULL OR scheduler_tasks.done_at IS NULL OR scheduler_tasks.done_at <= ?5)
                 RETURNING claim",
            )
            .bind(&[
                text(task),
                text(claim),
                time(until),
                time(now),
                done_since.as_deref().map_or(JsValue::NULL, text),
            ])?;
        let claimed = d1::all(statement).await?.first::<Claimed>()?;
        Ok(claimed.is_some_and(|c| c.claim.as_deref() == Some(claim)))
    }

    /// The task is done: recorded, and free again.
    pub async fn finish(&self, task: &str, claim: &str, now: OffsetDateTime) -> worker::Result<()> {
        let statement = self
            .db
            .prepare(
                "UPDATE scheduler_tasks SET claim = NULL, claimed_until = NULL, done_at = ?3
                 WHERE task = ?1 AND claim = ?2",
            )
            .bind(&[text(task), text(claim), time(now)])?;
        d1::run(statement).await
    }

    /// The task failed: free again at once, not recorded as done, so the next run tries.
    pub async fn release(&self, task: &str, claim: &str) -> worker::Result<()> {
        let statement = self
            .db
            .prepare(
                "UPDATE scheduler_tasks SET claim = NULL, claimed_until = NULL
                 WHERE task = ?1 AND claim = ?2",
            )
            .bind(&[text(task), text(claim)])?;
        d1::run(statement).await
    }

    pub async fn cursor(&self, task: &str) -> worker::Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            cursor: Option<String>,
        }
        let statement = self
            .db
            .prepare("SELECT cursor FROM scheduler_tasks WHERE task = ?1 LIMIT 1")
            .bind(&[text(task)])?;
        Ok(d1::all(statement)
            .await?
            .first::<Row>()?
            .and_then(|row| row.cursor))
    }

    pub async fn set_cursor(&self, task: &str, cursor: Option<&str>) -> worker::Result<()> {
        let statement = self
            .db
            .prepare(
                "INSERT INTO scheduler_tasks (task, cursor) VALUES (?1, ?2)
                 ON CONFLICT (task) DO UPDATE SET cursor = excluded.cursor",
            )
            .bind(&[text(task), cursor.map_or(JsValue::NULL, text)])?;
        d1::run(statement).await
    }
}
