//! Custom metrics in Workers Analytics Engine: queue latency and processing outcomes.
//! Writing is fire-and-forget in the runtime; a missing binding only logs.

use domain::message::QueueMessage;
use time::OffsetDateTime;
use worker::{AnalyticsEngineDataPointBuilder, Env};

pub const METRICS_BINDING: &str = "METRICS";

/// One data point per handled message: blobs = [event, queue, action, outcome],
/// doubles = [queue_latency_ms, attempt], index = draft id.
pub fn record_message(
    env: &Env,
    queue: &str,
    message: &QueueMessage,
    outcome: &str,
    received_at: OffsetDateTime,
) {
    let latency_ms = (received_at - message.requested_at)
        .whole_milliseconds()
        .max(0) as f64;
    let write = || -> worker::Result<()> {
        let dataset = env.analytics_engine(METRICS_BINDING)?;
        AnalyticsEngineDataPointBuilder::new()
            .indexes([message.id.to_string().as_str()])
            .blobs(["queue_message", queue, message.action.as_str(), outcome])
            .doubles([latency_ms, f64::from(message.attempt)])
            .write_to(&dataset)
    };
    if let Err(error) = write() {
        worker::console_warn!("writing a metric failed: {error}");
    }
}

/// One data point per publish attempt that held the draft's claim: blobs = [event, outcome,
/// error class ("" when none)], doubles = [attempt, duration_ms, graph_calls], index = draft
/// id. `publish_attempts` is the count of these points; outcomes are `published`, `waiting`,
/// `retrying`, `failed`, `lost_claim`.
pub fn record_publish_attempt(
    env: &Env,
    draft_id: &str,
    attempt: u32,
    outcome: &str,
    error_class: &str,
    duration_ms: f64,
    graph_calls: u32,
) {
    let write = || -> worker::Result<()> {
        let dataset = env.analytics_engine(METRICS_BINDING)?;
        AnalyticsEngineDataPointBuilder::new()
            .indexes([draft_id])
            .blobs(["publish_attempt", outcome, error_class])
            .doubles([f64::from(attempt), duration_ms, f64::from(graph_calls)])
            .write_to(&dataset)
    };
    if let Err(error) = write() {
        worker::console_warn!("writing a metric failed: {error}");
    }
}

/// One data point per scheduler run (publish-consumer's Cron Trigger): blobs = [event,
/// outcome ("ok", or "errors" when a task failed)], doubles = `counts` in the order the
/// scheduler documents (at most 20), index = "schedule".
pub fn record_schedule_run(env: &Env, outcome: &str, counts: &[f64]) {
    let write = || -> worker::Result<()> {
        let dataset = env.analytics_engine(METRICS_BINDING)?;
        AnalyticsEngineDataPointBuilder::new()
            .indexes(["schedule"])
            .blobs(["schedule_run", outcome])
            .doubles(counts.iter().copied().take(20))
            .write_to(&dataset)
    };
    if let Err(error) = write() {
        worker::console_warn!("writing a metric failed: {error}");
    }
}
