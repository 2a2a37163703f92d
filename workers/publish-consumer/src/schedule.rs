//! The scheduler (the design's `scheduler.ts`): what the Cron Trigger runs every minute.
//!
//! Its clock is the event's scheduled time, not the wall clock, so a run is decided by when
//! it was due, and tests fire it at chosen times. Each run, in order:
//!
//! 1. timed posts whose time has come are queued, within the publishing quota; the rest are
//!    held with the reason and the expected time (`posts::queue_due`);
//! 2. publish messages overdue by `PUBLISH_LOST_AFTER_MINUTES` are queued again
//!    (`posts::requeue_lost`);
//! 3. drafts left `publishing` by a consumer that died are queued for reconciliation
//!    (`posts::recover_stuck`);
//! 4. stuck images are asked for again, then failed (`images::ask_again`);
//! 5. the reminder digest (`remind::remind`);
//! 6. housekeeping: expired keys and sessions, textless drafts, unreferenced images
//!    (`housekeeping`);
//! 7. the daily token check of every account (`token::check`);
//! 8. Instagram Login tokens renewed when due (`refresh::refresh`);
//! 9. tokens sealed by a previous key sealed again with the current one (`keys::reseal`).
//!
//! A task that fails does not stop the others; the next run tries again. Every write to a
//! draft is a conditional `DraftStore::apply`, so overlapping runs, a retried run and a run
//! that died halfway queue each draft once. The run is traced to LangSmith with its counts,
//! and the counts go to Analytics Engine.

use observe::langsmith::{RunType, Trace};
use platform::config::{number, or_default};
use platform::d1::Usage;
use platform::store::{DraftRow, DraftStore};
use platform::trace::Tracer;
use serde::Serialize;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::accounts::Accounts;
use crate::alert::Alerts;
use crate::settings::{LOCAL_MEDIA_BASE_URL, Settings};
use crate::tasks::Tasks;
use crate::{housekeeping, images, keys, posts, refresh, remind, token};

/// The scheduler's settings, from `[vars]`.
pub struct ScheduleSettings {
    /// A publish message overdue, or a claim lapsed, this long counts as lost
    /// (`PUBLISH_LOST_AFTER_MINUTES`).
    pub lost_after: Duration,
    /// An image pending this long since it was asked for is asked again
    /// (`IMAGE_STUCK_MINUTES`)...
    pub image_stuck: Duration,
    /// ... and failed once asked this many times (`IMAGE_MAX_REQUESTS`).
    pub image_max_requests: u32,
    /// A draft waiting for review longer than this is reminded (`REMIND_AFTER_HOURS`) ...
    pub remind_after: Duration,
    /// ... at most once per this (`REMIND_EVERY_HOURS`).
    pub remind_every: Duration,
    /// Where the review pages are (`REVIEW_BASE_URL`, else `PUBLIC_MEDIA_BASE_URL`: the api
    /// Worker's public origin).
    pub review_base_url: String,
    /// Images no draft points at are removed once this old (`ORPHAN_IMAGE_GRACE_MINUTES`).
    pub orphan_image_grace_minutes: i64,
    /// The api's `LLM_TIMEOUT_MS`: a textless draft younger than its generate lease may still
    /// get its text.
    pub llm_timeout_ms: u64,
}

impl ScheduleSettings {
    pub fn from_env(env: &Env) -> Result<Self, String> {
        let minutes = |name: &str, default: i64| -> Result<Duration, String> {
            Ok(Duration::minutes(number(env, name, default)?.max(1)))
        };
        let hours = |name: &str, default: i64| -> Result<Duration, String> {
            Ok(Duration::hours(number(env, name, default)?.max(1)))
        };
        let media_base = or_default(env, "PUBLIC_MEDIA_BASE_URL", LOCAL_MEDIA_BASE_URL);
        Ok(Self {
            lost_after: minutes("PUBLISH_LOST_AFTER_MINUTES", 10)?,
            image_stuck: minutes("IMAGE_STUCK_MINUTES", 15)?,
            image_max_requests: number(env, "IMAGE_MAX_REQUESTS", 3u32)?.max(1),
            remind_after: hours("REMIND_AFTER_HOURS", 24)?,
            remind_every: hours("REMIND_EVERY_HOURS", 24)?,
            review_base_url: or_default(env, "REVIEW_BASE_URL", &media_base)
                .trim_end_matches('/')
                .to_owned(),
            orphan_image_grace_minutes: number(env, "ORPHAN_IMAGE_GRACE_MINUTES", 60i64)?.max(0),
            llm_timeout_ms: number(env, "LLM_TIMEOUT_MS", 30_000u64)?,
        })
    }
}

/// What one run did. Also its trace's outputs and, as numbers, its Analytics Engine point.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Approved drafts whose time had come with nothing queued.
    pub due: usize,
    pub queued: usize,
    pub held: usize,
    /// Places left in the publishing quota's window when it was read.
    pub quota_free: Option<i64>,
    pub lost_requeued: usize,
    pub stuck_requeued: usize,
    pub images_asked_again: usize,
    pub images_failed: usize,
    pub digests_sent: usize,
    pub reminded: usize,
    pub keys_purged: usize,
    pub sessions_purged: usize,
    pub textless_finished: usize,
    pub textless_removed: usize,
    pub images_removed: usize,
    /// The daily token check's finding, when it ran: `ok`, `invalid`, `unknown` (the worst
    /// of the accounts').
    pub token: Option<&'static str>,
    pub token_expiring: bool,
    pub tokens_refreshed: usize,
    pub token_refreshes_failed: usize,
    pub accounts_need_reconnect: usize,
    /// Tokens sealed again with the current key.
    pub tokens_resealed: usize,
    pub errors: Vec<String>,
}

impl Report {
    /// The Analytics Engine doubles, in this order; the last two are the run's D1 rows read
    /// and written.
    pub fn counts(&self, duration_ms: f64, d1: Usage) -> [f64; 18] {
        let n = |v: usize| v as f64;
        [
            n(self.due),
            n(self.queued),
            n(self.held),
            n(self.lost_requeued),
            n(self.stuck_requeued),
            n(self.images_asked_again),
            n(self.images_failed),
            n(self.digests_sent),
            n(self.reminded),
            n(self.keys_purged),
            n(self.sessions_purged),
            n(self.textless_finished),
            n(self.textless_removed),
            n(self.images_removed),
            n(self.errors.len()),
            duration_ms,
            d1.rows_read as f64,
            d1.rows_written as f64,
        ]
    }
}

/// What the tasks of one run share.
pub struct Run<'a> {
    pub env: &'a Env,
    /// The run's clock: the event's scheduled time.
    pub now: OffsetDateTime,
    pub settings: ScheduleSettings,
    /// The publishing settings (the Graph API): `Err` when misconfigured, which stops only
    /// the tasks that call Instagram.
    pub publish: Result<Settings, String>,
    /// The accounts (the settings' account brought in first): `Err` when they cannot be read
    /// or the key is missing, which stops only the tasks that call Instagram.
    pub accounts: Result<Accounts, String>,
    pub store: DraftStore,
    pub db: D1Database,
    pub alerts: Alerts,
    pub tasks: Tasks,
}

/// Runs every task once at `now`; returns the report and the trace.
pub async fn run(env: &Env, now: OffsetDateTime, cron: &str) -> (Report, Trace, Vec<String>) {
    let mut tracer = Tracer::start(
        "schedule",
        json!({ "cron": cron, "scheduledTime": domain::message::format_rfc3339(now) }),
        json!({ "worker": "publish-consumer" }),
    );
    let mut report = Report::default();
    let mut run = match prepare(env, now) {
        Ok(run) => run,
        Err(error) => {
            report.errors.push(error.clone());
            return (report, tracer.finish(Err(error)), Vec::new());
        }
    };
    run.accounts = match &run.publish {
        Ok(settings) => Accounts::prepare(env, settings, now).await,
        Err(error) => Err(error.clone()),
    };
    if let Err(error) = &run.accounts {
        worker::console_error!("schedule: the accounts: {error}");
    }
    let mut secrets = run.publish.as_ref().map_or(Vec::new(), Settings::secrets);
    secrets.extend(run.accounts.as_ref().map_or(Vec::new(), Accounts::secrets));
    secrets.extend(run.alerts.secrets());

    macro_rules! task {
        ($name:literal, $call:expr) => {{
            let child = tracer.start_child($name, RunType::Tool, json!({}));
            let before = serde_json::to_value(&report).unwrap_or(Value::Null);
            let result = $call.await;
            if let Err(error) = &result {
                worker::console_error!("schedule: {}: {error}", $name);
                report.errors.push(format!("{}: {error}", $name));
            }
            let after = serde_json::to_value(&report).unwrap_or(Value::Null);
            tracer.finish_child(child, result.map(|()| changed(&before, &after)), json!({}));
        }};
    }
    task!("timed_posts", posts::queue_due(&run, &mut report));
    task!("lost_messages", posts::requeue_lost(&run, &mut report));
    task!("stuck_publishing", posts::recover_stuck(&run, &mut report));
    task!("stuck_images", images::ask_again(&run, &mut report));
    task!("reminders", remind::remind(&run, &mut report));
    task!("purge", async {
        housekeeping::purge(env, &run.store, now, &mut report)
            .await
            .map_err(|e| e.to_string())
    });
    task!("textless_drafts", async {
        housekeeping::sweep_textless(env, &run.store, &run.settings, now, &mut report)
            .await
            .map_err(|e| e.to_string())
    });
    task!("unreferenced_images", async {
        housekeeping::sweep_images(env, &run.store, &run.tasks, &run.settings, now, &mut report)
            .await
            .map_err(|e| e.to_string())
    });
    task!("token_check", token::check(&run, &mut report));
    task!("token_refresh", refresh::refresh(&run, &mut report));
    task!("token_keys", keys::reseal(&run, &mut report));
    let outputs = serde_json::to_value(&report).unwrap_or(Value::Null);
    let trace = if report.errors.is_empty() {
        tracer.finish(Ok(outputs))
    } else {
        tracer.finish(Err(report.errors.join("; ")))
    };
    (report, trace, secrets)
}

fn prepare(env: &Env, now: OffsetDateTime) -> Result<Run<'_>, String> {
    let text = |e: worker::Error| e.to_string();
    Ok(Run {
        env,
        now,
        settings: ScheduleSettings::from_env(env)?,
        publish: Settings::from_env(env),
        accounts: Err("not read yet".into()),
        store: DraftStore::from_env(env).map_err(text)?,
        db: env.d1(platform::store::DB_BINDING).map_err(text)?,
        alerts: Alerts::from_env(env).map_err(text)?,
        tasks: Tasks::from_env(env).map_err(text)?,
    })
}

/// The report's fields a task changed, for its child run.
fn changed(before: &Value, after: &Value) -> Value {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return Value::Null;
    };
    Value::Object(
        after
            .iter()
            .filter(|(key, value)| key.as_str() != "errors" && before.get(*key) != Some(value))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    )
}

/// Drafts by a read-only query.
pub async fn select_drafts(
    db: &D1Database,
    sql: &str,
    binds: &[JsValue],
) -> Result<Vec<DraftRow>, String> {
    let statement = db.prepare(sql).bind(binds).map_err(|e| e.to_string())?;
    platform::d1::all(statement)
        .await
        .and_then(|rows| rows.all::<DraftRow>())
        .map_err(|e| e.to_string())
}
