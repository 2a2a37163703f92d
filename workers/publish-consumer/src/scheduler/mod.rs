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

mod context;
mod housekeeping;
mod images;
mod keys;
mod plan;
mod posts;
mod refresh;
mod remind;
mod token;

use observe::langsmith::{RunType, Trace};
use platform::schedule::ScheduleStore;
use platform::scheduler_tasks::Tasks;
use platform::store::DraftStore;
use platform::trace::Tracer;
use serde_json::{Value, json};
use std::rc::Rc;
use time::OffsetDateTime;
use worker::Env;

pub use self::context::Report;
use self::context::{PrepareError, Run, ScheduleSettings, TaskError, Unavailable};
use crate::accounts::Accounts;
use crate::alert::Alerts;
use crate::settings::Settings;

/// Runs every task once at `now`; returns the report, the trace and what the trace must not
/// show.
pub async fn run(env: &Env, now: OffsetDateTime, cron: &str) -> (Report, Trace, Vec<String>) {
    let mut tracer = Tracer::start(
        "schedule",
        json!({ "cron": cron, "scheduledTime": domain::message::format_rfc3339(now) }),
        json!({ "worker": "publish-consumer" }),
    );
    let mut report = Report::default();
    let run = match prepare(env, now).await {
        Ok(run) => run,
        Err(error) => {
            report.errors.push(error.to_string());
            return (report, tracer.finish(Err(&error)), Vec::new());
        }
    };
    if let Err(error) = &run.accounts {
        worker::console_error!("schedule: the accounts: {error}");
    }
    let mut secrets = run.publish.as_ref().map_or(Vec::new(), Settings::secrets);
    secrets.extend(run.accounts.as_ref().map_or(Vec::new(), Accounts::secrets));
    secrets.extend(run.alerts.secrets());
    run_tasks(&run, &mut tracer, &mut report).await;
    let outputs = serde_json::to_value(&report).unwrap_or(Value::Null);
    let trace = if report.errors.is_empty() {
        tracer.finish(Ok(outputs))
    } else {
        tracer.finish(Err(&report.errors.join("; ")))
    };
    (report, trace, secrets)
}

/// Each task in order, each a child run of the trace with the report's fields it changed.
async fn run_tasks(run: &Run<'_>, tracer: &mut Tracer, report: &mut Report) {
    macro_rules! task {
        ($name:literal, $call:expr) => {{
            let child = tracer.start_child($name, RunType::Tool, json!({}));
            let before = serde_json::to_value(&*report).unwrap_or(Value::Null);
            let result: Result<(), TaskError> = $call.await;
            if let Err(error) = &result {
                worker::console_error!("schedule: {}: {error}", $name);
                report.errors.push(format!("{}: {error}", $name));
            }
            let after = serde_json::to_value(&*report).unwrap_or(Value::Null);
            let outcome = match &result {
                Ok(()) => Ok(changed(&before, &after)),
                Err(error) => Err(error as &dyn std::fmt::Display),
            };
            tracer.finish_child(child, outcome, json!({}));
        }};
    }
    task!("timed_posts", posts::queue_due(run, report));
    task!("lost_messages", posts::requeue_lost(run, report));
    task!("stuck_publishing", posts::recover_stuck(run, report));
    task!("stuck_images", images::ask_again(run, report));
    task!("reminders", remind::remind(run, report));
    task!("purge", housekeeping::purge(run, report));
    task!("textless_drafts", housekeeping::sweep_textless(run, report));
    task!(
        "unreferenced_images",
        housekeeping::sweep_images(run, report)
    );
    task!("token_check", token::check(run, report));
    task!("token_refresh", refresh::refresh(run, report));
    task!("token_keys", keys::reseal(run, report));
}

/// The run's settings and bindings, then its accounts (the settings' account brought in
/// first): unusable publishing settings or accounts stop only the tasks that call Instagram.
async fn prepare(env: &Env, now: OffsetDateTime) -> Result<Run<'_>, PrepareError> {
    let settings = ScheduleSettings::from_env(env).map_err(PrepareError::Settings)?;
    let (store, select) = (DraftStore::from_env(env)?, ScheduleStore::from_env(env)?);
    let (alerts, tasks) = (Alerts::from_env(env)?, Tasks::from_env(env)?);
    let publish = Settings::from_env(env);
    let accounts = match &publish {
        Ok(publish) => Accounts::prepare(env, publish, now)
            .await
            .map_err(Unavailable::Accounts),
        Err(error) => Err(Unavailable::Settings(error.clone())),
    };
    Ok(Run {
        env,
        now,
        settings,
        publish,
        accounts: accounts.map_err(Rc::new),
        store,
        select,
        alerts,
        tasks,
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
