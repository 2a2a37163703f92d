//! The scheduler's image task: an image stuck `pending` (or `generating` under a lapsed
//! lease: its job died) longer than `IMAGE_STUCK_MINUTES` since it was last asked for is asked
//! for again, and once asked `IMAGE_MAX_REQUESTS` times it is marked failed with the reason,
//! so the reviewer sees it and can ask for a new one.
//!
//! Each write is conditional on the request count it read (and on the lapsed lease), so two
//! overlapping runs ask once; the image consumer's claim makes a duplicate message harmless.

use domain::draft::DraftId;
use domain::message::{Action, QueueMessage};
use platform::queue::{IMAGE_QUEUE, send};
use platform::store::Change;

use super::context::{PER_RUN, Report, Run, TaskError};

pub async fn ask_again(run: &Run<'_>, report: &mut Report) -> Result<(), TaskError> {
    let asked_before = run.now - run.settings.image_stuck;
    // A range of the index of unfinished images under review by when they were asked for
    // (migration 0009): rows read are the images overdue, not every draft waiting.
    let stuck = run
        .select
        .stuck_images(run.now, asked_before, PER_RUN)
        .await?;
    for row in &stuck {
        let id = DraftId::parse(&row.id)?;
        let requests = row.image_requests;
        if requests >= i64::from(run.settings.image_max_requests) {
            let reason = format!(
                "the image was asked for {requests} times and never made; ask for a new one"
            );
            let change = Change::ImageAbandoned {
                requests,
                reason: &reason,
            };
            let failed = run.apply(row, &change, "failing its image").await?;
            if failed.is_some() {
                report.images_failed += 1;
            }
            continue;
        }
        let change = Change::ImageAskedAgain { requests };
        let asked = run
            .apply(row, &change, "asking for its image again")
            .await?;
        if asked.is_none() {
            continue;
        }
        let message = QueueMessage::new(id, Action::GenerateImage, 1, run.now);
        send(run.env, IMAGE_QUEUE, &message, 0)
            .await
            .map_err(|error| TaskError::ImageNotSent { id, error })?;
        report.images_asked_again += 1;
    }
    Ok(())
}
