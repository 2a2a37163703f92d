//! The `FAILED_QUEUE` consumer: makes each given-up piece of work visible on its draft and
//! tells the operator about failed posts.
//!
//! `FAILED_QUEUE` receives the dead letters of the other queues and the publish consumer's
//! own give-ups. A `generate_image` message marks the image failed, a `fit_uploads` one the
//! uploads still waiting. A `publish` or `retry`
//! message gives up an approved (or abandoned publishing) draft through the publish machine
//! (`publish::run` with [`Start::GiveUp`]): a container that may have been sent is read
//! first, so a live post is recorded as published and an unreadable one stays unresolved;
//! only a draft with nothing live becomes `failed`, with the reason from its publish logs,
//! and then the operator is alerted once (or the token alert, once a day). An alert that
//! cannot be sent is an error, so the message is retried and, after its retries, reaches
//! `failed-queue-dlq` and D1 `dead_letters`.

use domain::draft::{ImageStatus, Status};
use domain::error_class::ErrorClass;
use domain::message::{Action, QueueMessage};
use domain::post_format::{ItemImage, MediaItems};
use platform::clock::now;
use platform::publish_log::{LogRow, Step};
use platform::queue::FAILED_QUEUE_NAME;
use platform::store::{Change, DraftRow, DraftStore, StoreError};
use platform::trace::Tracer;
use serde_json::json;
use worker::Env;

use crate::publish::{self, Ctx, Done, PublishError, Start};
use crate::settings::{Settings, SettingsError};

/// Why a failed-queue message was not handled: it is retried, then dead-lettered.
#[derive(Debug, thiserror::Error)]
pub enum FailedError {
    /// The publish consumer's settings are not usable.
    #[error(transparent)]
    Settings(SettingsError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Worker(#[from] worker::Error),
    /// The draft moved meanwhile; the queue delivers again and the next read decides.
    #[error("the draft changed while its failure was recorded")]
    Changed,
}

/// Records on the draft that its work was given up on, and alerts.
pub async fn handle(env: &Env, message: &QueueMessage) -> Result<String, FailedError> {
    let store = DraftStore::from_env(env)?;
    let Some(draft) = store.get(message.id).await? else {
        return Ok("the draft no longer exists".into());
    };
    match message.action {
        Action::GenerateImage => image_failed(&store, message, &draft).await,
        Action::FitUploads => uploads_failed(&store, message, &draft).await,
        Action::Publish | Action::Retry => publish_failed(env, message, draft).await,
    }
}

/// The uploads still waiting when fitting them kept failing are marked failed, so the
/// reviewer sees why and can remove them.
async fn uploads_failed(
    store: &DraftStore,
    message: &QueueMessage,
    draft: &DraftRow,
) -> Result<String, FailedError> {
    let Some(Ok(items)) = draft.media_items.as_deref().map(MediaItems::from_json) else {
        return Ok("the draft has no uploads".into());
    };
    let mut failed = items.clone();
    for upload in items.pending_uploads() {
        let reason = "fitting the photo kept failing: its message reached the failed queue";
        if let Some(next) = failed.fitted(
            upload,
            ItemImage::Failed {
                reason: reason.into(),
            },
        ) {
            failed = next;
        }
    }
    if failed == items || draft.status() != Status::Draft {
        return Ok("no upload is waiting any more".into());
    }
    let previous = items.to_json();
    let change = Change::ItemFitted {
        previous: &previous,
        items: &failed,
    };
    let applied = store
        .apply(message.id, draft.expected_state(), &change, now())
        .await?;
    if applied.is_none() {
        return Err(FailedError::Changed);
    }
    Ok("the waiting uploads are marked failed".into())
}

async fn image_failed(
    store: &DraftStore,
    message: &QueueMessage,
    draft: &DraftRow,
) -> Result<String, FailedError> {
    if !matches!(
        draft.image_status(),
        ImageStatus::Pending | ImageStatus::Generating
    ) || draft.status() != Status::Draft
    {
        return Ok("the image is no longer being made".into());
    }
    let change = Change::ImageFailed {
        claim: None,
        reason: "image generation kept failing: its message reached the failed queue",
    };
    let applied = store
        .apply(message.id, draft.expected_state(), &change, now())
        .await?;
    if applied.is_none() {
        // The draft moved meanwhile; the queue delivers again and the next read decides.
        return Err(FailedError::Changed);
    }
    Ok("the image is marked failed".into())
}

async fn publish_failed(
    env: &Env,
    message: &QueueMessage,
    draft: DraftRow,
) -> Result<String, FailedError> {
    let settings = Settings::from_env(env).map_err(FailedError::Settings)?;
    let ctx = Ctx::new(env, &settings).await?;
    match draft.status() {
        // Failed by the consumer, whose alert did not go out: the alert, once.
        Status::Failed => {
            let raised = publish::alert_failed(&ctx, &draft).await?;
            return Ok(format!("the draft is failed; {raised}"));
        }
        // A live claim's holder is at work and records its own outcome.
        Status::Publishing if draft.claim_expires_at().is_some_and(|lease| lease > now()) => {
            return Ok("a live claim holds the draft; its holder records the outcome".into());
        }
        Status::Approved | Status::Publishing => {}
        // Under review, published or discarded: nothing to give up.
        _ => return Ok(format!("the draft is {}: nothing to give up", draft.status)),
    }
    // Given up the way the consumer gives up: under a claim of its own (so no other write
    // slips in between), and only after a status read says a sent container is not live.
    let last = ctx.log.last_failure(message.id).await?;
    let reason = reason_from(last.as_ref(), message);
    let token = last
        .as_ref()
        .is_some_and(|row| row.error_class.as_deref() == Some(ErrorClass::TokenInvalid.as_str()));
    let mut tracer = Tracer::start(
        "give_up",
        json!({ "draftId": message.id.to_string(), "attempt": message.attempt }),
        json!({ "queue": FAILED_QUEUE_NAME }),
    );
    let done = publish::run(
        &ctx,
        message,
        &mut tracer,
        draft,
        Start::GiveUp {
            reason,
            token,
            cause: last.map(Box::new),
        },
    )
    .await?;
    Ok(match done {
        Done::Failed => "the draft is failed; the operator was alerted".into(),
        Done::Published => "its post is live: recorded as published, not failed".into(),
        Done::Unresolved => {
            "its post may be live and could not be read: left unresolved, not failed".into()
        }
        // Another writer was first: a consumer that holds the draft now finishes it; anything
        // else, the next delivery reads the draft again.
        Done::Busy | Done::LostClaim => {
            let now_held = ctx.store.get(message.id).await?.is_some_and(|row| {
                row.status() == Status::Publishing
                    && row.claim_expires_at().is_some_and(|lease| lease > now())
            });
            if now_held {
                return Ok(
                    "a consumer claimed the draft meanwhile; its holder records the outcome".into(),
                );
            }
            return Err(FailedError::Changed);
        }
        other => format!("left to the publish workflow ({})", other.label()),
    })
}

/// The reason a dead-lettered publish gives its draft: the give-up the consumer logged, else
/// the last error it logged.
fn reason_from(last: Option<&LogRow>, message: &QueueMessage) -> String {
    let attempt = message.attempt;
    match last {
        Some(row) if row.step == Step::GiveUp.as_str() => row
            .message
            .clone()
            .unwrap_or_else(|| format!("publishing gave up after attempt {attempt}")),
        Some(row) => format!(
            "publishing gave up after attempt {attempt}: its message reached the failed queue; the last error ({} at step {}) was: {}",
            row.error_class.as_deref().unwrap_or("unknown"),
            row.step,
            row.message.as_deref().unwrap_or("no message")
        ),
        None => "publishing gave up: its message reached the failed queue".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use domain::draft::DraftId;
    use time::macros::datetime;

    use super::*;

    fn log_row(step: &str, class: Option<&str>, message: Option<&str>) -> LogRow {
        LogRow {
            attempt: 3,
            step: step.into(),
            outcome: "failed".into(),
            error_class: class.map(Into::into),
            error_code: None,
            error_subcode: None,
            message: message.map(Into::into),
            container_id: None,
            media_id: None,
            duration_ms: None,
            created_at: "2030-01-31T09:00:00Z".into(),
        }
    }

    #[test]
    fn a_dead_letter_gives_its_draft_the_reason_the_logs_hold() {
        let id = DraftId::parse("123e4567-e89b-42d3-a456-426614174000").unwrap();
        let message = QueueMessage::new(id, Action::Retry, 3, datetime!(2030-01-31 09:00 UTC));
        let give_up = log_row("give_up", None, Some("the container expired three times"));
        let failure = log_row("publish", Some("transient"), Some("HTTP 500"));
        for (last, reason) in [
            (Some(&give_up), "the container expired three times"),
            (
                Some(&log_row("give_up", None, None)),
                "publishing gave up after attempt 3",
            ),
            (
                Some(&failure),
                "publishing gave up after attempt 3: its message reached the failed queue; the last error (transient at step publish) was: HTTP 500",
            ),
            (
                None,
                "publishing gave up: its message reached the failed queue",
            ),
        ] {
            assert_eq!(reason_from(last, &message), reason);
        }
    }
}
