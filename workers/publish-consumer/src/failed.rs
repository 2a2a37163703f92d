//! The `FAILED_QUEUE` consumer: makes each given-up piece of work visible on its draft and
//! tells the operator about failed posts.
//!
//! `FAILED_QUEUE` receives the dead letters of the other queues and the publish consumer's
//! own give-ups. A `generate_image` message marks the image failed. A `publish` or `retry`
//! message fails an approved (or abandoned publishing) draft with the reason from its
//! publish logs, then alerts the operator: once per failed draft, and once for every draft an
//! invalid token fails. An alert that cannot be sent is an error, so the message is retried
//! and, after its retries, reaches `failed-queue-dlq` and D1 `dead_letters`.

use domain::draft::{ImageStatus, Status};
use domain::message::{Action, QueueMessage};
use platform::clock::now;
use platform::publish_log::{Entry, LogRow, Outcome, PublishLog, Step};
use platform::queue::{PUBLISH_QUEUE, send};
use platform::store::{Change, DraftRow, DraftStore};
use worker::Env;

use crate::alert::{Alerts, REPEAT_AFTER, Raised, TOKEN_INVALID, draft_failed_kind};

/// Records on the draft that its work was given up on, and alerts.
pub async fn handle(env: &Env, message: &QueueMessage) -> Result<String, String> {
    let store = DraftStore::from_env(env).map_err(|e| e.to_string())?;
    let Some(draft) = store.get(message.id).await.map_err(|e| e.to_string())? else {
        return Ok("the draft no longer exists".into());
    };
    match message.action {
        Action::GenerateImage => image_failed(&store, message, &draft).await,
        Action::Publish | Action::Retry => publish_failed(env, &store, message, draft).await,
    }
}

async fn image_failed(
    store: &DraftStore,
    message: &QueueMessage,
    draft: &DraftRow,
) -> Result<String, String> {
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
        .await
        .map_err(|e| e.to_string())?;
    if applied.is_none() {
        // The draft moved meanwhile; the queue delivers again and the next read decides.
        return Err("the draft changed while its failure was recorded".into());
    }
    Ok("the image is marked failed".into())
}

async fn publish_failed(
    env: &Env,
    store: &DraftStore,
    message: &QueueMessage,
    draft: DraftRow,
) -> Result<String, String> {
    let log = PublishLog::from_env(env).map_err(|e| e.to_string())?;
    let at = now();
    let last = log
        .last_failure(message.id)
        .await
        .map_err(|e| e.to_string())?;
    let failed = match draft.status() {
        Status::Failed => draft,
        // A live claim's holder is still at work and records its own outcome: failing the
        // draft under it could mark a post failed that is about to go live.
        Status::Publishing if draft.claim_expires_at().is_some_and(|lease| lease > at) => {
            return Ok("a live claim holds the draft; its holder records the outcome".into());
        }
        // A `media_publish` was sent for its container and no answer settled it: the post may
        // be live, and a live post is never marked failed. The publish workflow reads the
        // container's status first, so the message goes back to it.
        Status::Approved | Status::Publishing if publish_outcome_unknown(&log, &draft).await? => {
            let again = QueueMessage {
                requested_at: at + time::Duration::seconds(i64::from(RECONCILE_DELAY_SECONDS)),
                ..message.clone()
            };
            send(env, PUBLISH_QUEUE, &again, RECONCILE_DELAY_SECONDS)
                .await
                .map_err(|e| e.to_string())?;
            return Ok("a media_publish of its container may have gone out: sent back to be reconciled, not failed".into());
        }
        Status::Approved | Status::Publishing => {
            let reason = reason_from(last.as_ref(), message);
            let change = Change::PublishFailed {
                claim: None,
                reason: &reason,
            };
            let Some(row) = store
                .apply(message.id, draft.expected_state(), &change, at)
                .await
                .map_err(|e| e.to_string())?
            else {
                return Err("the draft changed while its failure was recorded".into());
            };
            let entry = Entry {
                attempt: message.attempt,
                message: Some(&reason),
                error_class: last.as_ref().and_then(|l| l.error_class.as_deref()),
                error_code: last.as_ref().and_then(|l| l.error_code),
                error_subcode: last.as_ref().and_then(|l| l.error_subcode),
                container_id: row.container_id.as_deref(),
                ..Entry::default()
            };
            log.insert(message.id, Step::GiveUp, Outcome::Failed, &entry, at)
                .await
                .map_err(|e| e.to_string())?;
            row
        }
        // Under review, published or discarded: nothing to give up.
        _ => return Ok(format!("the draft is {}: nothing to give up", draft.status)),
    };
    alert(env, &failed, last.as_ref()).await
}

/// How long a dead-lettered publish whose outcome is unknown waits before it is reconciled.
const RECONCILE_DELAY_SECONDS: u32 = 60;

/// Whether a `media_publish` was ever sent for the draft's container without its media id
/// being stored: then the post may be live. The publish workflow settles it by reading the
/// container's status, and gives up by itself if it was not published.
async fn publish_outcome_unknown(log: &PublishLog, draft: &DraftRow) -> Result<bool, String> {
    let Some(container) = draft.container_id.as_deref() else {
        return Ok(false);
    };
    if draft.media_id.is_some() {
        return Ok(true);
    }
    log.publish_tried(message_id(draft)?, container)
        .await
        .map_err(|e| e.to_string())
}

fn message_id(draft: &DraftRow) -> Result<domain::draft::DraftId, String> {
    domain::draft::DraftId::parse(&draft.id).map_err(|e| e.to_string())
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

async fn alert(env: &Env, draft: &DraftRow, last: Option<&LogRow>) -> Result<String, String> {
    let alerts = Alerts::from_env(env).map_err(|e| e.to_string())?;
    let reason = draft.last_error.as_deref().unwrap_or("no reason recorded");
    let token = last.is_some_and(|row| row.error_class.as_deref() == Some("token_invalid"));
    let raised = if token {
        let text = format!(
            "Instagram publishing is stopped: the access token is expired or invalid. Every draft published until INSTAGRAM_ACCESS_TOKEN is replaced fails (the first was {id}: {reason}). This alert repeats at most once a day.",
            id = draft.id
        );
        alerts
            .raise(TOKEN_INVALID, &text, Some(REPEAT_AFTER))
            .await?
    } else {
        let text = format!(
            "An approved Instagram post failed (draft {id}): {reason}. Re-approve or regenerate it.",
            id = draft.id
        );
        alerts
            .raise(
                &draft_failed_kind(&draft.id, &draft.updated_at),
                &text,
                None,
            )
            .await?
    };
    Ok(match raised {
        Raised::Sent => "the draft is failed; the operator was alerted".into(),
        Raised::AlreadySent { count } => {
            format!("the draft is failed; the operator was already alerted ({count} occurrences)")
        }
    })
}
