//! A row of `drafts` as read: its status and image status typed, its times checked, at the
//! boundary: a row this code cannot read is an error of the read, never a default.

use domain::change::Expected;
use domain::content::RawPostText;
use domain::draft::{DraftState, ImageStatus, Status};
use domain::post_format::{MediaItems, MediaItemsError, PostOptions};
use domain::publish::{CommentRecord, Record, Sent, Shape};
use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;

/// One row of `drafts`, as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct DraftRow {
    /// Only in pages of drafts: the row's insertion order, the cursor's tie-breaker.
    #[serde(default)]
    pub row_seq: Option<i64>,
    pub id: String,
    pub status: Status,
    pub revision: i64,
    pub language: String,
    pub provider: String,
    pub caption: Option<String>,
    pub hashtags: Option<String>,
    pub alt_text: Option<String>,
    pub generated_caption: Option<String>,
    pub generated_hashtags: Option<String>,
    pub generated_alt_text: Option<String>,
    pub request: Option<String>,
    pub writer: Option<String>,
    pub image_status: ImageStatus,
    pub image_key: Option<String>,
    pub image_error: Option<String>,
    pub image_prompt: String,
    pub image_claim: Option<String>,
    #[serde(default, deserialize_with = "optional_time")]
    pub image_lease_expires_at: Option<String>,
    /// When the image was last asked for (the insert, a person, or the scheduler again).
    #[serde(default, deserialize_with = "optional_time")]
    pub image_requested_at: Option<String>,
    /// How often it was asked for in this series; the scheduler gives up after a limit.
    #[serde(default)]
    pub image_requests: i64,
    #[serde(default, deserialize_with = "optional_time")]
    pub scheduled_at: Option<String>,
    pub approved_revision: Option<i64>,
    pub approved_caption: Option<String>,
    pub approved_hashtags: Option<String>,
    pub approved_alt_text: Option<String>,
    pub approved_image_key: Option<String>,
    /// The post's images as JSON (`domain::post_format::MediaItems`); `None`: its one image
    /// is the generated `image_key`.
    #[serde(default)]
    pub media_items: Option<String>,
    #[serde(default)]
    pub approved_media_items: Option<String>,
    /// JSON of `domain::post_format::PostOptions`; `None`: the defaults.
    #[serde(default)]
    pub post_options: Option<String>,
    #[serde(default)]
    pub approved_post_options: Option<String>,
    #[serde(default, deserialize_with = "optional_time")]
    pub approved_at: Option<String>,
    pub approved_by: Option<String>,
    pub publish_attempts: i64,
    pub publish_claim: Option<String>,
    #[serde(default, deserialize_with = "optional_time")]
    pub claim_expires_at: Option<String>,
    /// When the publish message now in flight is due; `None` while none is (a scheduled post
    /// not yet due, a held one).
    #[serde(default, deserialize_with = "optional_time")]
    pub publish_due_at: Option<String>,
    /// Why the scheduler holds a due post back, and when it expects to queue it.
    pub publish_hold: Option<String>,
    #[serde(default, deserialize_with = "optional_time")]
    pub publish_hold_until: Option<String>,
    pub container_id: Option<String>,
    /// The container a `media_publish` may have been sent for, and when (see
    /// `domain::publish`): until a status read says it is not live, nothing fails the draft.
    #[serde(default)]
    pub publish_sent_container: Option<String>,
    #[serde(default, deserialize_with = "optional_time")]
    pub publish_sent_at: Option<String>,
    #[serde(default)]
    pub container_polls: i64,
    #[serde(default, deserialize_with = "optional_time")]
    pub throttled_since: Option<String>,
    #[serde(default, deserialize_with = "optional_time")]
    pub unresolved_since: Option<String>,
    pub media_id: Option<String>,
    pub permalink: Option<String>,
    pub last_error: Option<String>,
    /// A carousel's child containers made for this approval: a JSON list of ids, in order.
    #[serde(default)]
    pub child_containers: Option<String>,
    /// The first comment: sends recorded (each before it went out), the last send's time,
    /// the posted comment's id, or why it was not posted.
    #[serde(default)]
    pub comment_sends: i64,
    #[serde(default, deserialize_with = "optional_time")]
    pub comment_sent_at: Option<String>,
    #[serde(default)]
    pub comment_id: Option<String>,
    #[serde(default)]
    pub comment_error: Option<String>,
    #[serde(default, deserialize_with = "optional_time")]
    pub reminded_at: Option<String>,
    /// The account it is published to; `None`: the default account (the oldest).
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(deserialize_with = "checked_time")]
    pub created_at: String,
    #[serde(deserialize_with = "checked_time")]
    pub updated_at: String,
}

impl DraftRow {
    pub fn status(&self) -> Status {
        self.status
    }

    pub fn image_status(&self) -> ImageStatus {
        self.image_status
    }

    pub fn state(&self) -> DraftState {
        DraftState {
            status: self.status(),
            image: self.image_status(),
            has_text: self.caption.is_some(),
        }
    }

    /// What a change made from this read expects to still hold, revision included.
    pub fn expected(&self) -> Expected {
        Expected {
            state: self.state(),
            revision: Some(self.revision),
        }
    }

    /// The same without the revision: for Workers' own events (the image, publishing), which a
    /// reviewer's concurrent edit of the text must not make fail.
    pub fn expected_state(&self) -> Expected {
        Expected {
            state: self.state(),
            revision: None,
        }
    }

    /// The current text; `None` while it is still being written.
    pub fn text(&self) -> Option<RawPostText> {
        text_of(&self.caption, &self.hashtags, &self.alt_text)
    }

    /// The text as the caption writer wrote it.
    pub fn generated_text(&self) -> Option<RawPostText> {
        text_of(
            &self.generated_caption,
            &self.generated_hashtags,
            &self.generated_alt_text,
        )
    }

    /// The text a person approved: the only text the publisher sends.
    pub fn approved_text(&self) -> Option<RawPostText> {
        text_of(
            &self.approved_caption,
            &self.approved_hashtags,
            &self.approved_alt_text,
        )
    }

    /// The images a person approved, in order; `Ok(None)`: the one approved image is
    /// `approved_image_key`.
    pub fn approved_media(&self) -> Result<Option<MediaItems>, MediaItemsError> {
        self.approved_media_items
            .as_deref()
            .map(MediaItems::from_json)
            .transpose()
    }

    /// The post's options as a person approved them.
    pub fn approved_options(&self) -> Result<PostOptions, serde_json::Error> {
        PostOptions::from_json(self.approved_post_options.as_deref())
    }

    pub fn image_lease_expires_at(&self) -> Option<OffsetDateTime> {
        parse_time(self.image_lease_expires_at.as_deref())
    }

    pub fn claim_expires_at(&self) -> Option<OffsetDateTime> {
        parse_time(self.claim_expires_at.as_deref())
    }

    pub fn scheduled_at(&self) -> Option<OffsetDateTime> {
        parse_time(self.scheduled_at.as_deref())
    }

    /// What the publish machine decides from.
    pub fn publish_record(&self) -> Record {
        let sent = match (&self.publish_sent_container, &self.publish_sent_at) {
            (Some(container_id), at) => Some(Sent {
                container_id: container_id.clone(),
                // Both are written together (`Change::PublishSent`, the migration's backfill).
                at: parse_time(at.as_deref()).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            }),
            (None, _) => None,
        };
        Record {
            container_id: self.container_id.clone(),
            sent,
            media_id: self.media_id.clone(),
            attempts_spent: u32::try_from(self.publish_attempts).unwrap_or(0),
            polls: u32::try_from(self.container_polls).unwrap_or(0),
            throttled_since: parse_time(self.throttled_since.as_deref()),
            unresolved_since: parse_time(self.unresolved_since.as_deref()),
            shape: self.publish_shape(),
            children: self
                .child_containers
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok())
                .unwrap_or_default(),
            comment: CommentRecord {
                sends: u32::try_from(self.comment_sends).unwrap_or(0),
                sent_at: parse_time(self.comment_sent_at.as_deref()),
                id: self.comment_id.clone(),
                failed: self.comment_error.clone(),
            },
        }
    }

    /// What the approved snapshot is made of: a carousel's children (2 or more images), and
    /// whether a first comment follows. A snapshot that cannot be read counts as one image
    /// with no comment; it is refused as invalid before any container is made from it.
    pub fn publish_shape(&self) -> Shape {
        let children = match self.approved_media() {
            Ok(Some(items)) if items.is_carousel() => items.items().len(),
            _ => 0,
        };
        let first_comment = self.approved_options().is_ok_and(|options| {
            options
                .first_comment
                .is_some_and(|comment| !comment.trim().is_empty())
        });
        Shape {
            children,
            first_comment,
        }
    }
}

fn text_of(
    caption: &Option<String>,
    hashtags: &Option<String>,
    alt_text: &Option<String>,
) -> Option<RawPostText> {
    Some(RawPostText {
        caption: caption.clone()?,
        hashtags: serde_json::from_str(hashtags.as_deref().unwrap_or("[]")).ok()?,
        alt_text: alt_text.clone()?,
    })
}

pub(super) fn parse_time(text: Option<&str>) -> Option<OffsetDateTime> {
    crate::d1::read_time(text?)
}

/// A stored time, kept as written once it reads as one ([`crate::d1::read_time`], which the
/// accessors read it through too): a time that does not is an error of the read, not a time
/// that is absent.
fn checked_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    match crate::d1::read_time(&text) {
        Some(_) => Ok(text),
        None => Err(serde::de::Error::custom(format!(
            "a stored time that is not RFC 3339: {text:?}"
        ))),
    }
}

fn optional_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Time(#[serde(deserialize_with = "checked_time")] String);
    Ok(Option::<Time>::deserialize(deserializer)?.map(|Time(text)| text))
}

#[cfg(test)]
mod tests;
