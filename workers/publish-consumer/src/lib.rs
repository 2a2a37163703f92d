//! The publish-consumer Worker: consumes `PUBLISH_QUEUE` and `FAILED_QUEUE`.
//!
//! `FAILED_QUEUE` receives what the other consumers' queues gave up on (their dead-letter
//! queue); this Worker makes each such failure visible on the draft, so nothing accepted is
//! lost silently.

use domain::draft::{Event, Status};
use domain::message::{Action, QueueMessage};
use platform::clock::now;
use platform::queue::{FAILED_QUEUE_NAME, PUBLISH_QUEUE_NAME, well_formed};
use platform::store::DraftStore;
use worker::{Context, Env, MessageBatch, MessageExt, event};

#[event(queue)]
async fn queue(
    batch: MessageBatch<worker::wasm_bindgen::JsValue>,
    env: Env,
    _ctx: Context,
) -> worker::Result<()> {
    let queue_name = batch.queue();
    for (raw, message, received_at) in well_formed(&batch) {
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
                raw.retry();
            }
        }
    }
    Ok(())
}

/// Records on the draft that its work was given up on.
async fn handle_failed(env: &Env, message: &QueueMessage) -> Result<(), String> {
    let store = DraftStore::from_env(env).map_err(|e| e.to_string())?;
    match message.action {
        Action::GenerateImage => {
            let reason = format!(
                "image generation kept failing (attempt {})",
                message.attempt
            );
            store
                .image_failed(message.id, &reason, now())
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        }
        Action::Publish | Action::Retry => {
            // The publish queue gave up on this message. An approved or publishing draft
            // becomes failed with the reason, so a person can re-approve or regenerate it.
            let Some(draft) = store.get(message.id).await.map_err(|e| e.to_string())? else {
                return Ok(());
            };
            let from = draft.status();
            if !matches!(from, Status::Approved | Status::Publishing) {
                return Ok(());
            }
            let reason = format!(
                "publishing gave up after attempt {}: the message reached the failed queue",
                message.attempt
            );
            store
                .transition(message.id, from, Event::PublishFailed, Some(&reason), now())
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        }
    }
}
