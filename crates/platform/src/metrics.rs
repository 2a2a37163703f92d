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
