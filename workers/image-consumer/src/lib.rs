//! The image-consumer Worker: for each `generate_image` message it makes the draft's image,
//! checks it against Instagram's rules, stores it in R2 and records it in D1.
//!
//! Retries are explicit: a failed attempt sends the next attempt with a backoff delay and
//! acks the current one; after the last attempt the image is marked failed, so the reviewer
//! sees why. The queue's own retries and dead-letter queue only catch crashes.

use domain::backoff::Backoff;
use domain::draft::{DraftId, ImageStatus};
use domain::message::{Action, QueueMessage};
use platform::clock::{now, random_bytes, random_u64};
use platform::config::{number, or_default};
use platform::queue::{IMAGE_QUEUE, IMAGE_QUEUE_NAME, send, well_formed};
use platform::store::DraftStore;
use worker::{Context, Env, MessageBatch, MessageExt, event};

const MEDIA_BINDING: &str = "MEDIA";

#[event(queue)]
async fn queue(
    batch: MessageBatch<worker::wasm_bindgen::JsValue>,
    env: Env,
    _ctx: Context,
) -> worker::Result<()> {
    for (raw, message, received_at) in well_formed(&batch) {
        let outcome = handle(&env, &message).await;
        let label = match &outcome {
            Ok(Done::Stored) => "stored",
            Ok(Done::Skipped(_)) => "skipped",
            Err(_) => "failed",
        };
        platform::metrics::record_message(&env, IMAGE_QUEUE_NAME, &message, label, received_at);
        match outcome {
            Ok(Done::Stored) => raw.ack(),
            Ok(Done::Skipped(reason)) => {
                worker::console_log!("draft {}: image skipped: {reason}", message.id);
                raw.ack();
            }
            Err(error) => {
                worker::console_error!(
                    "draft {}: image attempt {} failed: {error}",
                    message.id,
                    message.attempt
                );
                match retry_or_give_up(&env, &message, &error).await {
                    Ok(()) => raw.ack(),
                    // Could not even record the failure: let the queue retry the whole message.
                    Err(e) => {
                        worker::console_error!(
                            "draft {}: recording the image failure failed: {e}",
                            message.id
                        );
                        raw.retry();
                    }
                }
            }
        }
    }
    Ok(())
}

enum Done {
    Stored,
    Skipped(&'static str),
}

async fn handle(env: &Env, message: &QueueMessage) -> Result<Done, String> {
    if message.action != Action::GenerateImage {
        return Ok(Done::Skipped("not a generate_image message"));
    }
    let store = DraftStore::from_env(env).map_err(|e| e.to_string())?;
    let Some(draft) = store.get(message.id).await.map_err(|e| e.to_string())? else {
        // The api inserts the row before it queues the message, so a missing row was discarded.
        return Ok(Done::Skipped("the draft no longer exists"));
    };
    if draft.image_status() == ImageStatus::Ready {
        return Ok(Done::Skipped(
            "the image is already stored (a repeated delivery)",
        ));
    }
    let image = make_image(env, message.id, &draft.image_prompt)?;
    media::check_instagram_image(&image)
        .map_err(|e| format!("the image breaks Instagram's rules: {e}"))?;

    let key = format!("images/{}/{}.jpg", message.id, hex(&random_bytes::<8>()));
    let bucket = env.bucket(MEDIA_BINDING).map_err(|e| e.to_string())?;
    let metadata = worker::HttpMetadata {
        content_type: Some("image/jpeg".into()),
        ..Default::default()
    };
    bucket
        .put(&key, image)
        .http_metadata(metadata)
        .execute()
        .await
        .map_err(|e| e.to_string())?;
    let recorded = store
        .image_ready(message.id, &key, now())
        .await
        .map_err(|e| e.to_string())?;
    if !recorded {
        // The draft was discarded while the image was being made; leave no orphan behind.
        bucket.delete(&key).await.map_err(|e| e.to_string())?;
        return Ok(Done::Skipped(
            "the draft was discarded while its image was made",
        ));
    }
    Ok(Done::Stored)
}

/// The offline placeholder image is the only image maker so far; it needs no keys.
fn make_image(env: &Env, id: DraftId, prompt: &str) -> Result<Vec<u8>, String> {
    let provider = or_default(env, "IMAGE_PROVIDER", "placeholder");
    if provider != "placeholder" {
        return Err(format!(
            "IMAGE_PROVIDER is {provider:?}; only \"placeholder\" is available"
        ));
    }
    let width = number(env, "IMAGE_WIDTH", 1080u16)?;
    let height = number(env, "IMAGE_HEIGHT", 1080u16)?;
    let seed = format!("{id}:{prompt}");
    Ok(media::placeholder_jpeg(width, height, seed.as_bytes()))
}

async fn retry_or_give_up(env: &Env, message: &QueueMessage, error: &str) -> worker::Result<()> {
    let policy = Backoff::IMAGE;
    if policy.allows_retry_after(message.attempt) {
        let delay = policy.delay_seconds(message.attempt, random_u64());
        // Stamped with the time it is due, so queue latency does not count the backoff.
        let due = now() + time::Duration::seconds(i64::from(delay));
        send(env, IMAGE_QUEUE, &message.next_attempt(due), delay).await
    } else {
        let reason = format!(
            "image generation failed {} times; last error: {error}",
            message.attempt
        );
        DraftStore::from_env(env)?
            .image_failed(message.id, &reason, now())
            .await
            .map(|_| ())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
