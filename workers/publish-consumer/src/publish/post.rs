//! What Instagram receives from a claimed draft (its approved snapshot: text, images in
//! order with their alt texts, options), and the message that queues the same attempt again.

use domain::content::{ContentError, HARD_MAX_HASHTAGS, PostText};
use domain::message::{Action as MessageAction, QueueMessage};
use domain::post_format::{MAX_COLLABORATORS, MediaItemsError};
use instagram::PostFields;
use platform::store::DraftRow;
use time::{Duration, OffsetDateTime};

use crate::settings::Settings;

/// What Instagram receives: the approved snapshot, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub caption: String,
    /// One image, or a carousel's 2 to 10 in order.
    pub images: Vec<Image>,
    pub collaborators: Vec<String>,
    pub location_id: Option<String>,
    /// Sent as `is_ai_generated`: Instagram's "AI info" label.
    pub is_ai_generated: bool,
    /// Posted as the first comment once the post is live.
    pub first_comment: Option<String>,
}

/// One image as Instagram downloads it, and what a screen reader says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub url: String,
    pub alt_text: String,
}

impl Post {
    /// The fields that go on the single image's container or the carousel's parent.
    pub fn fields(&self) -> PostFields<'_> {
        PostFields {
            collaborators: &self.collaborators,
            location_id: self.location_id.as_deref(),
            is_ai_generated: self.is_ai_generated,
        }
    }
}

/// Why an approved snapshot cannot be posted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    #[error("the draft has no approved text")]
    NoText,
    #[error("the approved text breaks Instagram's rules: {}", joined(.0))]
    Text(Vec<ContentError>),
    #[error("the draft has no approved image")]
    NoImage,
    #[error("the approved images cannot be read: {0}")]
    Media(#[from] MediaItemsError),
    #[error("image {} of the approved post is not ready", .index + 1)]
    NotReady { index: usize },
    #[error("the approved post options cannot be read: {0}")]
    Options(String),
    #[error("{count} collaborators approved, Instagram takes at most {MAX_COLLABORATORS}")]
    TooManyCollaborators { count: usize },
}

fn joined(errors: &[ContentError]) -> String {
    let each: Vec<String> = errors.iter().map(ToString::to_string).collect();
    each.join("; ")
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
pub fn post_of(row: &DraftRow, settings: &Settings) -> Result<Post, PostError> {
    post_with(
        row,
        |key| settings.image_url(key),
        settings.image_provider != "placeholder",
    )
}

/// [`post_of`], each image's URL made by `image_url` from its key; `drawn`: a draft without
/// items had its one image drawn by an image model.
fn post_with(
    row: &DraftRow,
    image_url: impl Fn(&str) -> String,
    drawn: bool,
) -> Result<Post, PostError> {
    let raw = row.approved_text().ok_or(PostError::NoText)?;
    let text = PostText::parse(&raw, HARD_MAX_HASHTAGS).map_err(PostError::Text)?;
    let options = row
        .approved_options()
        .map_err(|error| PostError::Options(error.to_string()))?;
    if options.collaborators.len() > MAX_COLLABORATORS {
        return Err(PostError::TooManyCollaborators {
            count: options.collaborators.len(),
        });
    }
    let text_alt = text.alt_text.as_ref().to_owned();
    let (images, is_ai_generated) = match row.approved_media()? {
        Some(items) => {
            let single = !items.is_carousel();
            let images = items
                .items()
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    let key = item.ready_key().ok_or(PostError::NotReady { index })?;
                    let alt_text = match item.alt_text.trim() {
                        // A single image without its own alt text takes the text's.
                        "" if single => text_alt.clone(),
                        alt => alt.to_owned(),
                    };
                    Ok(Image {
                        url: image_url(key),
                        alt_text,
                    })
                })
                .collect::<Result<Vec<_>, PostError>>()?;
            (images, options.is_ai_generated(items.items()))
        }
        None => {
            let key = row
                .approved_image_key
                .as_deref()
                .ok_or(PostError::NoImage)?;
            let image = Image {
                url: image_url(key),
                alt_text: text_alt,
            };
            (vec![image], drawn || options.is_ai_generated(&[]))
        }
    };
    let first_comment = options
        .first_comment
        .map(|comment| comment.trim().to_owned())
        .filter(|comment| !comment.is_empty());
    Ok(Post {
        caption: text.instagram_caption(),
        images,
        collaborators: options.collaborators,
        location_id: options.location_id.filter(|id| !id.trim().is_empty()),
        is_ai_generated,
        first_comment,
    })
}

#[cfg(test)]
#[path = "post_tests.rs"]
mod tests;
