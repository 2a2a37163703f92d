//! The scheduler's image task: an image stuck `pending` (or `generating` under a lapsed
//! lease: its job died) longer than `IMAGE_STUCK_MINUTES` since it was last asked for is asked
//! for again, and once asked `IMAGE_MAX_REQUESTS` times it is marked failed with the reason,
//! so the reviewer sees it and can ask for a new one.
//!
//! Each write is conditional on the request count it read (and on the lapsed lease), so two
//! overlapping runs ask once; the image consumer's claim makes a duplicate message harmless.

use domain::draft::DraftId;
use domain::message::{Action, QueueMessage, format_rfc3339};
use platform::queue::{IMAGE_QUEUE, send};
use platform::store::Change;
use worker::wasm_bindgen::JsValue;

use crate::posts::PER_RUN;
use crate::schedule::{Report, Run, select_drafts};

pub async fn ask_again(run: &Run<'_>, report: &mut Report) -> Result<(), String> {
    let asked_before = run.now - run.settings.image_stuck;
    // A range of the index of unfinished images under review by when they were asked for
    // (migration 0009): rows read are the images overdue, not every draft waiting.
    let stuck = select_drafts(
        &run.db,
        "SELECT * FROM drafts INDEXED BY drafts_unfinished_images
         WHERE status = 'draft' AND image_status IN ('pending', 'generating') AND caption IS NOT NULL
           AND (image_status = 'pending' OR image_lease_expires_at <= ?1)
           AND COALESCE(image_requested_at, created_at) <= ?2
         ORDER BY COALESCE(image_requested_at, created_at), id LIMIT ?3",
        &[
            JsValue::from_str(&format_rfc3339(run.now)),
            JsValue::from_str(&format_rfc3339(asked_before)),
            JsValue::from_f64(f64::from(PER_RUN)),
        ],
    )
    .await?;
    for row in &stuck {
        let id = DraftId::parse(&row.id).map_err(|e| e.to_string())?;
        let requests = row.image_requests;
        if requests >= i64::from(run.settings.image_max_requests) {
            let reason = format!(
                "the image was asked for {requests} times and never made; ask for a new one"
            );
            let change = Change::ImageAbandoned {
                requests,
                reason: &reason,
            };
            let failed = run
                .store
                .apply(id, row.expected_state(), &change, run.now)
                .await
                .map_err(|e| format!("draft {id}: failing its image: {e}"))?;
            if failed.is_some() {
                report.images_failed += 1;
            }
            continue;
        }
        let change = Change::ImageAskedAgain { requests };
        let asked = run
            .store
            .apply(id, row.expected_state(), &change, run.now)
            .await
            .map_err(|e| format!("draft {id}: asking for its image again: {e}"))?;
        if asked.is_none() {
            continue;
        }
        let message = QueueMessage::new(id, Action::GenerateImage, 1, run.now);
        send(run.env, IMAGE_QUEUE, &message, 0)
            .await
            .map_err(|e| format!("draft {id}: sending generate_image failed: {e}"))?;
        report.images_asked_again += 1;
    }
    Ok(())
}
