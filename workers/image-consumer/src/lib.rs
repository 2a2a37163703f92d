//! The image-consumer Worker: for each `generate_image` message it claims the draft's image,
//! makes it, checks it against Instagram's rules, stores it in R2 and records it in D1.
//!
//! The claim (`generating`, with a lease) makes a duplicate delivery step aside while the
//! first job is live; a job that died is taken over once its lease lapses. Retries are
//! explicit: a failed attempt releases the claim and sends the next attempt with a backoff
//! delay; after the last attempt the image is marked failed, so the reviewer sees why. A
//! message is acked only once its outcome is recorded, so a crash leaves it to the queue.

use domain::backoff::Backoff;
use domain::draft::{DraftId, ImageStatus, Status};
use domain::message::{Action, QueueMessage};
use platform::clock::{now, random_hex, random_u64};
use platform::config::{number, or_default};
use platform::media::{MEDIA_BINDING, image_key};
use platform::queue::{IMAGE_QUEUE, IMAGE_QUEUE_NAME, send, well_formed};
use platform::store::{Change, DraftRow, DraftStore};
use time::Duration;
use worker::{Context, Env, MessageBatch, MessageExt, event};

#[event(queue)]
async fn queue(
    batch: MessageBatch<worker::wasm_bindgen::JsValue>,
    env: Env,
    _ctx: Context,
) -> worker::Result<()> {
    for (raw, message, received_at) in well_formed(&env, &batch).await {
        let outcome = handle(&env, &message).await;
        let label = match &outcome {
            Ok(Done::Stored) => "stored",
            Ok(Done::Skipped(_)) => "skipped",
            Ok(Done::Busy) => "busy",
            Ok(Done::Retrying) => "retrying",
            Err(_) => "failed",
        };
        platform::metrics::record_message(&env, IMAGE_QUEUE_NAME, &message, label, received_at);
        match outcome {
            Ok(Done::Stored | Done::Retrying) => raw.ack(),
            Ok(Done::Skipped(reason)) => {
                worker::console_log!("draft {}: image skipped: {reason}", message.id);
                raw.ack();
            }
            // The live job's own message stays unacked until its outcome is recorded, so if
            // it dies the queue hands that message out again.
            Ok(Done::Busy) => {
                worker::console_log!(
                    "draft {}: another job holds the image; this delivery steps aside",
                    message.id
                );
                raw.ack();
            }
            Err(error) => {
                // Could not even record the outcome: let the queue retry the whole message.
                worker::console_error!("draft {}: {error}", message.id);
                raw.retry();
            }
        }
    }
    Ok(())
}

enum Done {
    Stored,
    Skipped(&'static str),
    /// Another job holds a live claim on the image.
    Busy,
    /// The attempt failed; the next one is queued, or the image is marked failed.
    Retrying,
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
    let started = now();
    match draft.image_status() {
        ImageStatus::Ready => {
            return Ok(Done::Skipped(
                "the image is already stored (a repeated delivery)",
            ));
        }
        ImageStatus::Failed => return Ok(Done::Skipped("the image was given up on")),
        ImageStatus::Generating
            if draft
                .image_lease_expires_at()
                .is_some_and(|lease| lease > started) =>
        {
            return Ok(Done::Busy);
        }
        ImageStatus::Pending | ImageStatus::Generating => {}
    }
    if draft.status() != Status::Draft {
        return Ok(Done::Skipped("the draft is no longer under review"));
    }

    let claim = random_hex::<16>();
    let lease_seconds: i64 = number(env, "IMAGE_LEASE_SECONDS", 120)?;
    let claimed = store
        .apply(
            message.id,
            draft.expected_state(),
            &Change::ImageClaimed {
                claim: &claim,
                lease_until: started + Duration::seconds(lease_seconds),
                now: started,
            },
            started,
        )
        .await
        .map_err(|e| e.to_string())?;
    // Another delivery claimed it between the read and the claim.
    let Some(claimed) = claimed else {
        return Ok(Done::Busy);
    };

    match make_and_store(env, &store, message.id, &claimed, &claim).await {
        Ok(done) => Ok(done),
        Err(error) => {
            worker::console_error!(
                "draft {}: image attempt {} failed: {error}",
                message.id,
                message.attempt
            );
            retry_or_give_up(env, &store, message, &claimed, &claim, &error)
                .await
                .map_err(|e| format!("recording the image failure failed: {e}"))?;
            Ok(Done::Retrying)
        }
    }
}

async fn make_and_store(
    env: &Env,
    store: &DraftStore,
    id: DraftId,
    claimed: &DraftRow,
    claim: &str,
) -> Result<Done, String> {
    let image = make_image(env, id, &claimed.image_prompt)?;
    media::check_instagram_image(&image)
        .map_err(|e| format!("the image breaks Instagram's rules: {e}"))?;

    let key = image_key(&id.to_string(), &random_hex::<8>());
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
        .apply(
            id,
            claimed.expected_state(),
            &Change::ImageStored { claim, key: &key },
            now(),
        )
        .await;
    match recorded {
        Ok(Some(_)) => {
            // A replaced image goes once the new one is recorded.
            if let Some(old) = claimed.image_key.as_deref().filter(|old| *old != key) {
                bucket.delete(old).await.map_err(|e| e.to_string())?;
            }
            Ok(Done::Stored)
        }
        // The claim was lost (the lease lapsed and another job took over, or the draft was
        // discarded meanwhile): this object is nobody's, so it goes.
        Ok(None) => {
            bucket.delete(&key).await.map_err(|e| e.to_string())?;
            Ok(Done::Skipped(
                "the claim on the image was lost while it was made",
            ))
        }
        // Unknown whether it was recorded: keep the object. If it was not, housekeeping
        // removes it as an orphan; deleting it here could remove a recorded image.
        Err(e) => Err(format!("recording image {key}: {e}")),
    }
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

async fn retry_or_give_up(
    env: &Env,
    store: &DraftStore,
    message: &QueueMessage,
    claimed: &DraftRow,
    claim: &str,
    error: &str,
) -> Result<(), String> {
    let policy = Backoff::IMAGE;
    if policy.allows_retry_after(message.attempt) {
        let delay = policy.delay_seconds(message.attempt, random_u64());
        // Stamped with the time it is due, so queue latency does not count the backoff.
        let due = now() + Duration::seconds(i64::from(delay));
        // Queue the next attempt first: if releasing the claim then fails, its lease lapses
        // and the next attempt takes over.
        send(env, IMAGE_QUEUE, &message.next_attempt(due), delay)
            .await
            .map_err(|e| e.to_string())?;
        let reason = format!("attempt {} failed: {error}", message.attempt);
        store
            .apply(
                message.id,
                claimed.expected_state(),
                &Change::ImageDeferred {
                    claim,
                    reason: &reason,
                },
                now(),
            )
            .await
            .map_err(|e| e.to_string())?;
    } else {
        let reason = format!(
            "image generation failed {} times; last error: {error}",
            message.attempt
        );
        store
            .apply(
                message.id,
                claimed.expected_state(),
                &Change::ImageFailed {
                    claim: Some(claim),
                    reason: &reason,
                },
                now(),
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
