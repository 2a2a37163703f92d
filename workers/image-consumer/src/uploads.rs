//! `fit_uploads`: the draft's uploaded photos still waiting (items `Pending`) are fitted for
//! Instagram with `media::fit_upload` (turned upright as their EXIF says, cropped, scaled,
//! encoded anew without any metadata), stored in R2 under `images/`, and recorded on the
//! item (ready, or failed with why) by a write that compares the list as read; the raw
//! upload is deleted once its outcome is recorded. Only the fitted JPEG is ever served or
//! published.
//!
//! A job fits at most [`PER_JOB`] uploads and queues a new message for the rest. An R2 or D1
//! error leaves the message to the queue: the next delivery finds the uploads
//! still pending and fits them again. A photo that cannot be used fails at once: trying
//! again would give the same answer.

use domain::draft::{DraftId, Status};
use domain::message::{Action, QueueMessage};
use domain::post_format::{ItemImage, MediaItems};
use platform::clock::{now, random_hex};
use platform::media::{MEDIA_BINDING, image_key};
use platform::queue::{IMAGE_QUEUE, send};
use platform::store::{Change, DraftStore};
use worker::{Bucket, Env};

use crate::{Done, JobError};

/// A write that lost its race to another is tried again from a new read this many times.
const RECORD_TRIES: usize = 4;
/// Uploads one job fits at most: a 12 Mpx photo takes 1.5 to 4 s of CPU, and an invocation
/// has 30 s by default; the rest go to a new message.
const PER_JOB: usize = 4;

pub(crate) async fn fit(env: &Env, message: &QueueMessage) -> Result<Done, JobError> {
    let store = DraftStore::from_env(env)?;
    let bucket = env.bucket(MEDIA_BINDING)?;
    let mut fitted = 0;
    // Each upload from a fresh read: another delivery may have fitted some meanwhile.
    loop {
        let Some(draft) = store.get(message.id).await? else {
            return Ok(Done::Skipped("the draft no longer exists"));
        };
        if draft.status() != Status::Draft {
            return Ok(Done::Skipped("the draft is no longer under review"));
        }
        let Some(Ok(items)) = draft.media_items.as_deref().map(MediaItems::from_json) else {
            return Ok(Done::Skipped("the draft has no uploads"));
        };
        let pending = items.pending_uploads();
        if fitted >= PER_JOB && !pending.is_empty() {
            let next = QueueMessage::new(message.id, Action::FitUploads, 1, now());
            send(env, IMAGE_QUEUE, &next, 0)
                .await
                .map_err(JobError::Queue)?;
            return Ok(Done::Stored);
        }
        let Some(upload) = pending.first().map(|u| (*u).to_owned()) else {
            return Ok(if fitted > 0 {
                Done::Stored
            } else {
                Done::Skipped("no upload is waiting (a repeated delivery)")
            });
        };
        let image = fit_one(&bucket, message.id, &upload).await?;
        record(&store, &bucket, message.id, &upload, image).await?;
        // Recorded (or nobody's any more): the raw upload with its metadata goes.
        bucket.delete(&upload).await?;
        fitted += 1;
    }
}

/// Fits the upload at `upload` and stores the JPEG; the item's new image, ready or failed.
async fn fit_one(bucket: &Bucket, id: DraftId, upload: &str) -> Result<ItemImage, JobError> {
    let Some(object) = bucket.get(upload).execute().await? else {
        return Ok(ItemImage::Failed {
            reason: "the uploaded file is gone; upload it again".into(),
        });
    };
    let bytes = match object.body() {
        Some(body) => body.bytes().await?,
        None => Vec::new(),
    };
    let started = now();
    let fitted = match media::fit_upload(&bytes) {
        Ok(fitted) => fitted,
        Err(error) => {
            worker::console_log!("draft {id}: upload {upload} cannot be used: {error}");
            return Ok(ItemImage::Failed {
                reason: format!("the photo cannot be used: {error}"),
            });
        }
    };
    worker::console_log!(
        "draft {id}: fitted {upload} ({} {}x{}) to {}x{} in {} ms",
        fitted.source,
        fitted.source_width,
        fitted.source_height,
        fitted.info.width,
        fitted.info.height,
        (now() - started).whole_milliseconds()
    );
    let key = image_key(&id.to_string(), &random_hex::<8>());
    let metadata = worker::HttpMetadata {
        content_type: Some("image/jpeg".into()),
        ..Default::default()
    };
    bucket
        .put(&key, fitted.jpeg)
        .http_metadata(metadata)
        .execute()
        .await?;
    Ok(ItemImage::Ready {
        key,
        width: u32::from(fitted.info.width),
        height: u32::from(fitted.info.height),
    })
}

/// Records `image` on the item waiting for `upload`, comparing the list as read; a write
/// that lost to a person's edit is tried again on the list as it is then. An item removed
/// meanwhile takes its new JPEG with it.
async fn record(
    store: &DraftStore,
    bucket: &Bucket,
    id: DraftId,
    upload: &str,
    image: ItemImage,
) -> Result<(), JobError> {
    for _ in 0..RECORD_TRIES {
        let Some(draft) = store.get(id).await? else {
            break;
        };
        let items = draft
            .media_items
            .as_deref()
            .and_then(|json| MediaItems::from_json(json).ok().map(|items| (json, items)));
        let next = items
            .as_ref()
            .filter(|_| draft.status() == Status::Draft)
            .and_then(|(json, items)| Some((*json, items.fitted(upload, image.clone())?)));
        let Some((previous, next)) = next else {
            break;
        };
        let change = Change::ItemFitted {
            previous,
            items: &next,
        };
        if store
            .apply(id, draft.expected_state(), &change, now())
            .await?
            .is_some()
        {
            return Ok(());
        }
    }
    // Nobody waits for it: the item was removed, or the draft left review.
    if let ItemImage::Ready { key, .. } = &image {
        bucket.delete(key).await?;
    }
    Ok(())
}
