//! The consumer's side of a scheduled post: a message that arrived before the post's time
//! is not published but queued again for it (the scheduler queues scheduled posts when they
//! are due, `scheduler::posts`).

use domain::backoff::QUEUE_MAX_DELAY_SECONDS;
use domain::message::{QueueMessage, format_rfc3339};
use platform::publish_log::Entry;
use platform::queue::{PUBLISH_QUEUE, send};
use platform::store::{Change, DraftRow};
use time::{Duration, OffsetDateTime};

use super::error::PublishError;
use super::{Ctx, Done};

/// The publish consumer got a message for an approved draft whose `scheduled_at` is still
/// ahead (a message that arrived early, such as one from before the scheduler queued
/// scheduled posts): it is not published; the same attempt is queued again for its time (at
/// most a queue's longest delay ahead), recorded as the draft's due message. If another
/// message was queued meanwhile, that one stands and this one is dropped.
pub async fn arrived_early(
    ctx: &Ctx<'_>,
    message: &QueueMessage,
    draft: &DraftRow,
    scheduled_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Done, PublishError> {
    let delay = u32::try_from((scheduled_at - now).whole_seconds().max(1))
        .unwrap_or(u32::MAX)
        .min(QUEUE_MAX_DELAY_SECONDS);
    let due_at = now + Duration::seconds(i64::from(delay));
    let change = Change::PublishQueued {
        due_at,
        previous: draft.publish_due_at.as_deref(),
    };
    let queued = ctx
        .store
        .apply(message.id, draft.expected_state(), &change, now)
        .await?;
    let note = if queued.is_some() {
        let again = QueueMessage {
            requested_at: due_at,
            ..message.clone()
        };
        send(ctx.env, PUBLISH_QUEUE, &again, delay).await?;
        format!(
            "the post is scheduled for {}; checked again in {delay} s",
            format_rfc3339(scheduled_at)
        )
    } else {
        format!(
            "the post is scheduled for {}; another message is queued for it",
            format_rfc3339(scheduled_at)
        )
    };
    let entry = Entry {
        attempt: message.attempt,
        message: Some(&note),
        ..Entry::default()
    };
    ctx.log.claim_skipped(message.id, &entry, now).await?;
    Ok(Done::Skipped(note))
}
