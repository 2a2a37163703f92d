//! Housekeeping, run by the scheduler: nothing accepted is dropped, nothing orphaned stays.
//! Nothing else is deleted.
//!
//! - Idempotency keys past their expiry and review sessions past theirs are purged.
//! - A draft whose text was never written (its generate request died after the insert) is
//!   finished from its KV copy when one exists (rows from before the text moved into D1;
//!   this Worker only reads KV), and otherwise removed with its image, once its request can
//!   no longer be running.
//! - R2 images no draft points at (a job that stored its image but could not record it, the
//!   images of a discarded draft) are removed after a grace period, a page of the bucket per
//!   run; where the sweep resumes is kept in D1 `scheduler_tasks`.

use domain::content::RawPostText;
use domain::draft::DraftId;
use domain::idempotency::lease_for;
use platform::media::{IMAGE_PREFIX, MEDIA_BINDING};
use platform::scheduler_tasks::ORPHAN_IMAGES;
use platform::sessions::SessionStore;
use platform::store::{Change, Expected};
use serde::Deserialize;
use time::Duration;

use super::context::{Report, Run, TaskError};

/// The api's read copies in KV: `draft:<id>`.
const KV_BINDING: &str = "DRAFTS";
/// Textless drafts looked at per run; the rest wait for the next.
const TEXTLESS_PER_RUN: u32 = 50;
/// R2 objects looked at per run.
const IMAGES_PER_RUN: u32 = 200;

/// The part of the api's KV draft document this needs.
#[derive(Deserialize)]
struct Copy {
    text: RawPostText,
}

pub async fn purge(run: &Run<'_>, report: &mut Report) -> Result<(), TaskError> {
    report.keys_purged = run.store.purge_expired_keys(run.now).await?;
    report.sessions_purged = SessionStore::from_env(run.env)?
        .purge_expired(run.now)
        .await?;
    Ok(())
}

pub async fn sweep_textless(run: &Run<'_>, report: &mut Report) -> Result<(), TaskError> {
    let (env, store, settings, now) = (run.env, &run.store, &run.settings, run.now);
    // A generate request may run this long; younger rows may still get their text.
    let before = now - lease_for(settings.llm_timeout_ms);
    for row in store.textless_drafts(before, TEXTLESS_PER_RUN).await? {
        let copy = env
            .kv(KV_BINDING)?
            .get(&format!("draft:{}", row.id))
            .json::<Copy>()
            .await
            .map_err(worker::Error::from)?;
        if let (Some(copy), Ok(id)) = (copy, DraftId::parse(&row.id)) {
            let applied = store
                .apply(
                    id,
                    Expected {
                        revision: None,
                        ..row.expected()
                    },
                    &Change::TextWritten { text: &copy.text },
                    now,
                )
                .await;
            match applied {
                Ok(Some(_)) => report.textless_finished += 1,
                Ok(None) => {}
                Err(e) => worker::console_error!("draft {}: copying its text: {e}", row.id),
            }
            continue;
        }
        if let Some(image_key) = store.discard_textless(&row.id).await? {
            report.textless_removed += 1;
            if let Some(key) = image_key {
                env.bucket(MEDIA_BINDING)?.delete(&key).await?;
            }
        }
    }
    Ok(())
}

pub async fn sweep_images(run: &Run<'_>, report: &mut Report) -> Result<(), TaskError> {
    let (env, store, tasks, now) = (run.env, &run.store, &run.tasks, run.now);
    let settings = &run.settings;
    // An image job stores its object before it records it; give it time to record.
    let uploaded_before_ms = (now - Duration::minutes(settings.orphan_image_grace_minutes))
        .unix_timestamp() as f64
        * 1000.0;
    let cursor = tasks.cursor(ORPHAN_IMAGES).await?;
    let bucket = env.bucket(MEDIA_BINDING)?;
    let mut list = bucket.list().prefix(IMAGE_PREFIX).limit(IMAGES_PER_RUN);
    if let Some(cursor) = cursor {
        list = list.cursor(cursor);
    }
    let page = list.execute().await?;
    let old: Vec<String> = page
        .objects()
        .into_iter()
        .filter(|object| object.uploaded().as_millis() as f64 <= uploaded_before_ms)
        .map(|object| object.key())
        .collect();
    if !old.is_empty() {
        let referenced = store.referenced_images(&old).await?;
        let unreferenced: Vec<String> = old
            .into_iter()
            .filter(|key| !referenced.contains(key))
            .collect();
        if !unreferenced.is_empty() {
            worker::console_log!("housekeeping: removing unreferenced images {unreferenced:?}");
            report.images_removed = unreferenced.len();
            bucket.delete_multiple(unreferenced).await?;
        }
    }
    let next = page.cursor().filter(|_| page.truncated());
    tasks.set_cursor(ORPHAN_IMAGES, next.as_deref()).await?;
    Ok(())
}
