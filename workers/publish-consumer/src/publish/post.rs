//! What Instagram receives from a claimed draft (its approved snapshot), and the message
//! that queues the same attempt again.

use domain::content::{HARD_MAX_HASHTAGS, PostText};
use domain::message::{Action as MessageAction, QueueMessage};
use platform::store::DraftRow;
use time::{Duration, OffsetDateTime};

use crate::settings::Settings;

/// What Instagram receives: the approved snapshot, nothing else.
pub struct Post {
    pub caption: String,
    pub alt_text: String,
    pub image_url: String,
}

/// The same attempt again, stamped with the time it is due so that queue latency does not
/// count the wait.
pub fn again(message: &QueueMessage, attempt: u32, at: OffsetDateTime, delay: u32) -> QueueMessage {
    let action = if attempt > 1 {
        MessageAction::Retry
    } else {
        MessageAction::Publish
    };
    QueueMessage {
        action,
        attempt,
        requested_at: at + Duration::seconds(i64::from(delay)),
        ..message.clone()
    }
}

/// The approved snapshot as Instagram receives it, or why it breaks a rule today.
pub fn post_of(row: &DraftRow, settings: &Settings) -> Result<Post, String> {
    post_with(row, |key| settings.image_url(key))
}

/// [`post_of`], the image's URL made by `image_url` from its key.
fn post_with(row: &DraftRow, image_url: impl Fn(&str) -> String) -> Result<Post, String> {
    let raw = row
        .approved_text()
        .ok_or("the draft has no approved text")?;
    let text = PostText::parse(&raw, HARD_MAX_HASHTAGS).map_err(|errors| {
        let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!(
            "the approved text breaks Instagram's rules: {}",
            reasons.join("; ")
        )
    })?;
    let key = row
        .approved_image_key
        .as_deref()
        .ok_or("the draft has no approved image")?;
    Ok(Post {
        caption: text.instagram_caption(),
        alt_text: text.alt_text.as_ref().to_owned(),
        image_url: image_url(key),
    })
}

#[cfg(test)]
#[path = "post_tests.rs"]
mod tests;
