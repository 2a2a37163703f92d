//! The publish-consumer Worker: consumes `PUBLISH_QUEUE` and `FAILED_QUEUE`.
//!
//! `FAILED_QUEUE` receives what the other consumers' queues gave up on (their dead-letter
//! queue); this Worker makes each such failure visible on the draft, so nothing accepted is
//! lost silently. When even that cannot be done, the message is recorded in D1
//! `dead_letters` and retried into the failed queue's own dead-letter queue, the last resort
//! an operator reads.

use domain::draft::{ImageStatus, Status};
use domain::message::{Action, QueueMessage};
use platform::clock::now;
use platform::queue::{FAILED_QUEUE_NAME, PUBLISH_QUEUE_NAME, well_formed};
use platform::store::{Change, DeadLetter, DraftStore};
use worker::{Context, Env, MessageBatch, MessageExt, event};

#[event(queue)]
async fn queue(
    batch: MessageBatch<worker::wasm_bindgen::JsValue>,
    env: Env,
    _ctx: Context,
) -> worker::Result<()> {
    let queue_name = batch.queue();
    for (raw, message, received_at) in well_formed(&env, &batch).await {
        let outcome = match queue_name.as_str() {
            FAILED_QUEUE_NAME => handle_failed(&env, &message).await,
            PUBLISH_QUEUE_NAME => {
                Err("publishing to Instagram is not available in this version".to_owned())
            }
            other => Err(format!("this Worker does not consume {other}")),
        };
        let label = if outcome.is_ok() { "handled" } else { "retry" };
        platform::metrics::record_message(&env, &queue_name, &message, label, received_at);
        match outcome {
            Ok(()) => raw.ack(),
            Err(error) => {
                // Never ack what was not handled: the queue retries it, then dead-letters it.
                worker::console_error!("draft {}: {error}", message.id);
                if queue_name == FAILED_QUEUE_NAME {
                    record_unhandled(&env, &raw.id(), &message, &error).await;
                }
                raw.retry();
            }
        }
    }
    Ok(())
}

/// Records on the draft that its work was given up on.
async fn handle_failed(env: &Env, message: &QueueMessage) -> Result<(), String> {
    let store = DraftStore::from_env(env).map_err(|e| e.to_string())?;
    let Some(draft) = store.get(message.id).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let change = match message.action {
        Action::GenerateImage => {
            if !matches!(
                draft.image_status(),
                ImageStatus::Pending | ImageStatus::Generating
            ) || draft.status() != Status::Draft
            {
                return Ok(());
            }
            Change::ImageFailed {
                claim: None,
                reason: "image generation kept failing: its message reached the failed queue",
            }
        }
        // The publish queue gave up on this message. An approved or publishing draft becomes
        // failed with the reason, so a person can re-approve or regenerate it.
        Action::Publish | Action::Retry => {
            if !matches!(draft.status(), Status::Approved | Status::Publishing) {
                return Ok(());
            }
            Change::PublishFailed {
                claim: None,
                reason: "publishing gave up: its message reached the failed queue",
            }
        }
    };
    let applied = store
        .apply(message.id, draft.expected_state(), &change, now())
        .await
        .map_err(|e| e.to_string())?;
    if applied.is_none() {
        // The draft moved meanwhile; the queue delivers again and the next read decides.
        return Err("the draft changed while its failure was recorded".into());
    }
    Ok(())
}

/// The failed queue's own failure: kept in D1 for an operator, best effort (the message also
/// goes on to the failed queue's dead-letter queue).
async fn record_unhandled(env: &Env, message_id: &str, message: &QueueMessage, error: &str) {
    let body = message.to_json().to_string();
    let letter = DeadLetter {
        message_id,
        queue: FAILED_QUEUE_NAME,
        body: &body,
        reason: error,
    };
    let recorded = match DraftStore::from_env(env) {
        Ok(store) => store.record_dead_letter(&letter, now()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = recorded {
        worker::console_error!("draft {}: recording the unhandled failure: {e}", message.id);
    }
}
