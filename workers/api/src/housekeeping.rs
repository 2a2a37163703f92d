//! Housekeeping, run by the api Worker's Cron Trigger: nothing accepted is dropped, nothing
//! orphaned stays.
//!
//! - Idempotency keys past their expiry are purged.
//! - A draft whose text was never written (its generate request died after the insert) is
//!   finished from its KV copy when one exists (rows from before the text moved into D1),
//!   and otherwise removed with its image, once its request can no longer be running.
//! - R2 images no draft points at (a job that stored its image but could not record it)
//!   are removed after a grace period, a page of the bucket per run.

use domain::idempotency::lease_for;
use platform::clock::now;
use platform::config::number;
use platform::media::{IMAGE_PREFIX, MEDIA_BINDING};
use platform::store::{Change, DraftStore, Expected};
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use worker::Env;

use crate::drafts;
use crate::reply::ApiError;

/// Textless drafts looked at per run; the rest wait for the next.
const TEXTLESS_PER_RUN: u32 = 50;
/// R2 objects looked at per run.
const IMAGES_PER_RUN: u32 = 200;
/// Where the orphan sweep resumes; only this Worker writes it.
const MEDIA_CURSOR_KEY: &str = "housekeeping:media-cursor";

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub keys_purged: usize,
    pub textless_finished: usize,
    pub textless_removed: usize,
    pub orphan_images_removed: usize,
}

pub async fn run(env: &Env) -> Result<Report, ApiError> {
    let store = DraftStore::from_env(env)?;
    let started = now();
    let mut report = Report {
        keys_purged: store.purge_expired_keys(started).await?,
        ..Report::default()
    };
    sweep_textless(env, &store, started, &mut report).await?;
    sweep_orphan_images(env, &store, started, &mut report).await?;
    Ok(report)
}

async fn sweep_textless(
    env: &Env,
    store: &DraftStore,
    now: OffsetDateTime,
    report: &mut Report,
) -> Result<(), ApiError> {
    // A generate request may run this long; younger rows may still get their text.
    let timeout_ms = number(env, "LLM_TIMEOUT_MS", 30_000u64).map_err(ApiError::NotConfigured)?;
    let before = now - lease_for(timeout_ms);
    for row in store.textless_drafts(before, TEXTLESS_PER_RUN).await? {
        let copy = drafts::load_copy(env, &row.id).await?;
        if let (Some(copy), Ok(id)) = (copy, drafts::parse_id(&row.id)) {
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

async fn sweep_orphan_images(
    env: &Env,
    store: &DraftStore,
    now: OffsetDateTime,
    report: &mut Report,
) -> Result<(), ApiError> {
    let grace_minutes: i64 =
        number(env, "ORPHAN_IMAGE_GRACE_MINUTES", 60).map_err(ApiError::NotConfigured)?;
    // An image job stores its object before it records it; give it time to record.
    let uploaded_before_ms =
        (now - Duration::minutes(grace_minutes)).unix_timestamp() as f64 * 1000.0;
    let kv = env.kv(drafts::KV_BINDING)?;
    let cursor = kv.get(MEDIA_CURSOR_KEY).text().await?;
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
        let orphans: Vec<String> = old
            .into_iter()
            .filter(|key| !referenced.contains(key))
            .collect();
        if !orphans.is_empty() {
            worker::console_log!("housekeeping: removing orphan images {orphans:?}");
            report.orphan_images_removed = orphans.len();
            bucket.delete_multiple(orphans).await?;
        }
    }
    match page.cursor().filter(|_| page.truncated()) {
        Some(next) => kv.put(MEDIA_CURSOR_KEY, next)?.execute().await?,
        None => kv.delete(MEDIA_CURSOR_KEY).await?,
    }
    Ok(())
}
