//! The publish-consumer Worker: publishes approved drafts from `PUBLISH_QUEUE` to Instagram
//! (`publish`), handles `FAILED_QUEUE` (`failed`), and runs the scheduler on its Cron Trigger
//! (`scheduler`): timed posts, recovery of lost and stuck work, reminders, housekeeping and
//! the daily token check. What the three share is beside them: the Graph API shell
//! (`graph`), the settings, the accounts and the operator's alerts. None of the three uses
//! another's parts but `failed`, which gives up through `publish`.
//!
//! This file is the shell: it parses the batch, runs each message's workflow with at most
//! [`IN_FLIGHT`] drafts at once, acks or retries each message by its outcome, and records
//! metrics and traces. A message is acked only once its outcome is recorded; an error leaves
//! it to the queue, which retries it and finally dead-letters it.

mod accounts;
mod alert;
mod failed;
mod graph;
mod publish;
mod scheduler;
mod settings;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use domain::message::QueueMessage;
use futures::StreamExt;
use observe::langsmith::Trace;
use platform::queue::{FAILED_QUEUE_NAME, PUBLISH_QUEUE_NAME, well_formed};
use platform::store::{DeadLetter, DraftRow, DraftStore};
use platform::trace::{LangSmith, Tracer};
use serde_json::json;
use time::OffsetDateTime;
use worker::{
    Context, Env, MessageBatch, MessageExt, RawMessage, ScheduleContext, ScheduledEvent, event,
};

use crate::publish::{Ctx, Done};
use crate::settings::Settings;

/// Drafts published at once, never more: the design's `processBatch`. With
/// `max_concurrency = 1` in wrangler/publish-consumer.toml this holds for the account too.
pub const IN_FLIGHT: usize = 5;

static ANNOUNCED: AtomicBool = AtomicBool::new(false);

#[event(queue)]
async fn queue(
    batch: MessageBatch<worker::wasm_bindgen::JsValue>,
    env: Env,
    ctx: Context,
) -> worker::Result<()> {
    let started = platform::clock::now();
    let queue_name = batch.queue();
    let ((), d1) = platform::d1::metered(handle_batch(&env, &ctx, &batch, &queue_name)).await;
    let duration = (platform::clock::now() - started).whole_milliseconds() as f64;
    let size = batch.raw_iter().count();
    platform::metrics::record_batch(&env, &queue_name, size, d1, duration);
    Ok(())
}

/// One batch, every D1 statement of it counted by the caller's meter (`platform::d1`).
async fn handle_batch(
    env: &Env,
    ctx: &Context,
    batch: &MessageBatch<worker::wasm_bindgen::JsValue>,
    queue_name: &str,
) {
    let messages = well_formed(env, batch).await;
    match queue_name {
        PUBLISH_QUEUE_NAME => publish_batch(env, ctx, messages).await,
        FAILED_QUEUE_NAME => {
            for (raw, message, received_at) in messages {
                failed_message(env, raw, &message, received_at).await;
            }
        }
        other => {
            for (raw, message, received_at) in messages {
                worker::console_error!(
                    "draft {}: this Worker does not consume {other}",
                    message.id
                );
                platform::metrics::record_message(env, other, &message, "retry", received_at);
                raw.retry();
            }
        }
    }
}

/// The Cron Trigger (every minute): one scheduler run at the event's scheduled time. Nothing
/// is lost when a run fails: the next one tries again.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, ctx: ScheduleContext) {
    let started = platform::clock::now();
    let at = OffsetDateTime::from_unix_timestamp_nanos(event.schedule() as i128 * 1_000_000)
        .unwrap_or(started);
    let cron = event.cron();
    // The run's D1 statements are counted: its data point and its trace carry the sum.
    let ((report, trace, secrets), d1) =
        platform::d1::metered(scheduler::run(&env, at, &cron)).await;
    let duration = (platform::clock::now() - started).whole_milliseconds() as f64;
    let outcome = if report.errors.is_empty() {
        "ok"
    } else {
        "errors"
    };
    platform::metrics::record_schedule_run(&env, outcome, &report.counts(duration, d1));
    let summary = serde_json::to_string(&report).unwrap_or_default();
    let cost = format!("D1 rows read {}, written {}", d1.rows_read, d1.rows_written);
    if report.errors.is_empty() {
        worker::console_log!("cron {cron}: schedule {summary}; {cost}");
    } else {
        worker::console_error!("cron {cron}: schedule {summary}; {cost}");
    }
    ctx.wait_until(async move {
        if let Some(langsmith) = LangSmith::from_env(&env) {
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            langsmith.send(&trace, &secrets).await;
        }
    });
}

async fn publish_batch(
    env: &Env,
    ctx: &Context,
    messages: Vec<(RawMessage, QueueMessage, OffsetDateTime)>,
) {
    let settings = match Settings::from_env(env) {
        Ok(settings) => settings,
        Err(error) => {
            // Not the drafts' fault: their messages wait in the queue for a fixed config.
            worker::console_error!("publish-consumer is misconfigured: {error}");
            for (raw, message, received_at) in messages {
                platform::metrics::record_message(
                    env,
                    PUBLISH_QUEUE_NAME,
                    &message,
                    "retry",
                    received_at,
                );
                raw.retry();
            }
            return;
        }
    };
    if !ANNOUNCED.swap(true, Ordering::Relaxed) {
        announce(&settings);
    }
    // Every draft of the batch in one round trip, read while the accounts are; a message
    // whose draft this misses (or all, if the read fails) reads its own.
    let ids: Vec<_> = messages.iter().map(|(_, message, _)| message.id).collect();
    let snapshots = async {
        let store = DraftStore::from_env(env).ok()?;
        store.get_many(&ids).await.ok()
    };
    let (publish_ctx, snapshots) = futures::join!(Ctx::new(env, &settings), snapshots);
    let publish_ctx = match publish_ctx {
        Ok(c) => c,
        Err(error) => {
            worker::console_error!("publish-consumer: {error}");
            for (raw, _, _) in messages {
                raw.retry();
            }
            return;
        }
    };
    let publish_ctx = &publish_ctx;
    let messages = with_snapshots(messages, snapshots);
    let traces: Vec<Trace> = futures::stream::iter(messages)
        .map(|(raw, message, received_at, snapshot)| async move {
            // Each message's own D1 cost goes in its trace (and counts in the batch's too).
            platform::d1::metered(publish_message(
                publish_ctx,
                raw,
                &message,
                received_at,
                snapshot,
            ))
            .await
            .0
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let mut secrets = settings.secrets();
    secrets.extend(publish_ctx.accounts.secrets());
    secrets.extend(publish_ctx.alerts.secrets());
    let env = env.clone();
    ctx.wait_until(async move {
        if let Some(langsmith) = LangSmith::from_env(&env) {
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            for trace in &traces {
                langsmith.send(trace, &secrets).await;
            }
        }
    });
}

/// Each message with its draft as the batch read it, if it did. A draft delivered twice in
/// one batch: every delivery reads it afresh (and so makes no container before its claim).
fn with_snapshots(
    messages: Vec<(RawMessage, QueueMessage, OffsetDateTime)>,
    snapshots: Option<Vec<DraftRow>>,
) -> Vec<(RawMessage, QueueMessage, OffsetDateTime, Option<DraftRow>)> {
    let mut snapshots: HashMap<String, DraftRow> = snapshots
        .map(|rows| rows.into_iter().map(|row| (row.id.clone(), row)).collect())
        .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    for (_, message, _) in &messages {
        if !seen.insert(message.id) {
            snapshots.remove(&message.id.to_string());
        }
    }
    messages
        .into_iter()
        .map(|(raw, message, received_at)| {
            let snapshot = snapshots.remove(&message.id.to_string());
            (raw, message, received_at, snapshot)
        })
        .collect()
}

/// Says once per isolate where posts go: the local simulator, or the settings' account.
fn announce(settings: &Settings) {
    if settings.simulator {
        worker::console_log!(
            "publish-consumer: no INSTAGRAM_ACCOUNT_ID is set, so while no other account is connected posts go to the LOCAL Graph API simulator at {} (account {}), not to Instagram; images are offered at {}/media/",
            settings.account.base_url,
            settings.account.user_id,
            settings.public_media_base_url
        );
    } else {
        worker::console_log!(
            "publish-consumer: the settings' account {} publishes through {} {}",
            settings.account.user_id,
            settings.account.base_url,
            settings.api_version
        );
    }
}

async fn publish_message(
    ctx: &Ctx<'_>,
    raw: RawMessage,
    message: &QueueMessage,
    received_at: OffsetDateTime,
    snapshot: Option<DraftRow>,
) -> Trace {
    let mut tracer = Tracer::start(
        "publish",
        json!({
            "draftId": message.id.to_string(),
            "action": message.action.as_str(),
            "attempt": message.attempt,
        }),
        json!({ "queue": PUBLISH_QUEUE_NAME, "simulator": ctx.settings.simulator }),
    );
    let outcome = publish::handle(ctx, message, &mut tracer, snapshot).await;
    let label = outcome.as_ref().map_or("error", Done::label);
    platform::metrics::record_message(ctx.env, PUBLISH_QUEUE_NAME, message, label, received_at);
    match &outcome {
        Ok(done) => {
            if let Done::Skipped(reason) = done {
                worker::console_log!("draft {}: publish skipped: {reason}", message.id);
            }
            raw.ack();
            tracer.finish(Ok(json!({ "outcome": done.label() })))
        }
        Err(error) => {
            // Never ack what was not handled: the queue retries it, then dead-letters it.
            worker::console_error!("draft {}: publishing: {error}", message.id);
            raw.retry();
            tracer.finish(Err(error))
        }
    }
}

async fn failed_message(
    env: &Env,
    raw: RawMessage,
    message: &QueueMessage,
    received_at: OffsetDateTime,
) {
    let outcome = failed::handle(env, message).await;
    let label = if outcome.is_ok() { "handled" } else { "retry" };
    platform::metrics::record_message(env, FAILED_QUEUE_NAME, message, label, received_at);
    match outcome {
        Ok(what) => {
            worker::console_log!("draft {}: failed queue: {what}", message.id);
            raw.ack();
        }
        Err(error) => {
            worker::console_error!("draft {}: failed queue: {error}", message.id);
            record_unhandled(env, &raw.id(), message, &error.to_string()).await;
            raw.retry();
        }
    }
}

/// The failed queue's own failure: kept in D1 for an operator, best effort (the message also
/// goes on to the failed queue's dead-letter queue after its retries).
async fn record_unhandled(env: &Env, message_id: &str, message: &QueueMessage, error: &str) {
    let body = message.to_json().to_string();
    let letter = DeadLetter {
        message_id,
        queue: FAILED_QUEUE_NAME,
        body: &body,
        reason: error,
    };
    let recorded = match DraftStore::from_env(env) {
        Ok(store) => {
            store
                .record_dead_letter(&letter, platform::clock::now())
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = recorded {
        worker::console_error!("draft {}: recording the unhandled failure: {e}", message.id);
    }
}
