//! Custom metrics in Workers Analytics Engine: queue latency, processing outcomes, and what
//! each request, scheduler run and queue batch cost in D1 (rows read and written, from each
//! result's `meta`, see [`crate::d1::metered`]). Writing is fire-and-forget in the runtime; a
//! missing binding only logs.

use domain::message::QueueMessage;
use time::OffsetDateTime;
use worker::{AnalyticsEngineDataPointBuilder, Env};

use crate::d1::Usage;

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

/// One data point per api request: blobs = [event, method, route (its pattern, such as
/// `/api/v1/drafts/{id}`, or "" when none matched), status], doubles = [d1_rows_read,
/// d1_rows_written, duration_ms], index = "api".
pub fn record_request(
    env: &Env,
    method: &str,
    route: &str,
    status: u16,
    d1: Usage,
    duration_ms: f64,
) {
    let write = || -> worker::Result<()> {
        let dataset = env.analytics_engine(METRICS_BINDING)?;
        AnalyticsEngineDataPointBuilder::new()
            .indexes(["api"])
            .blobs(["api_request", method, route, status.to_string().as_str()])
            .doubles([d1.rows_read as f64, d1.rows_written as f64, duration_ms])
            .write_to(&dataset)
    };
    if let Err(error) = write() {
        worker::console_warn!("writing a metric failed: {error}");
    }
}

/// One data point per queue batch a consumer handled: blobs = [event, queue], doubles =
/// [messages, d1_rows_read, d1_rows_written, duration_ms], index = the queue.
pub fn record_batch(env: &Env, queue: &str, messages: usize, d1: Usage, duration_ms: f64) {
    let write = || -> worker::Result<()> {
        let dataset = env.analytics_engine(METRICS_BINDING)?;
        AnalyticsEngineDataPointBuilder::new()
            .indexes([queue])
            .blobs(["queue_batch", queue])
            .doubles([
                messages as f64,
                d1.rows_read as f64,
                d1.rows_written as f64,
                duration_ms,
            ])
            .write_to(&dataset)
    };
    if let Err(error) = write() {
        worker::console_warn!("writing a metric failed: {error}");
    }
}

/// One data point per scheduler run (publish-consumer's Cron Trigger): blobs = [event,
/// outcome ("ok", or "errors" when a task failed)], doubles = `counts` in the order the
/// scheduler documents (at most 20; the run's D1 rows read and written among them), index =
/// "schedule".
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
