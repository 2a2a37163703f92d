//! What a post is made of beyond its text: its images in order (one image, or a carousel of
//! 2 to 10) and the options Instagram takes with it (a first comment, collaborators, a place,
//! the "AI info" label). Stored as JSON in `drafts.media_items` and `drafts.post_options`,
//! copied to `approved_media_items` and `approved_post_options` by an approval like the text:
//! the publisher sends the approved copies and nothing else.

use serde::{Deserialize, Serialize};

pub mod edit;

/// Instagram's carousel limit; one item is a single-image post.
pub const MAX_ITEMS: usize = 10;
/// Meta's reference allows up to five collaborators on a feed post or carousel.
pub const MAX_COLLABORATORS: usize = 5;

/// Where an image came from, which decides the "AI info" label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MediaSource {
    /// Drawn by an image model.
    ImageModel,
    /// The offline placeholder: no model drew it.
    Placeholder,
    /// A person's own photo.
    Uploaded,
}

/// One image of a post: where it stands and what a screen reader says of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MediaItem {
    /// Stable while the items are reordered, so a change names the item it is about.
    pub id: String,
    pub source: MediaSource,
    pub alt_text: String,
    pub image: ItemImage,
}

/// An item's image: a person's upload waits for the image consumer to fit it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase", deny_unknown_fields)]
pub enum ItemImage {
    /// The upload as received, at `upload` in R2, not yet fitted.
    Pending { upload: String },
    /// The fitted JPEG at `key` in R2, as Instagram receives it.
    Ready {
        key: String,
        width: u32,
        height: u32,
    },
    /// What made the upload unusable, in words for the person who sent it.
    Failed { reason: String },
}

impl MediaItem {
    /// The fitted image's R2 key, once there is one.
    pub fn ready_key(&self) -> Option<&str> {
        match &self.image {
            ItemImage::Ready { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// A post's images in the order Instagram shows them: 1 to [`MAX_ITEMS`], ids distinct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MediaItems(Vec<MediaItem>);

/// Why a stored or requested list of images cannot be a post's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaItemsError {
    #[error("a post needs at least one image")]
    Empty,
    #[error("{count} images given, at most {MAX_ITEMS} are allowed in a carousel")]
    TooMany { count: usize },
    #[error("image {index} has an empty id")]
    EmptyId { index: usize },
    #[error("image {index} appears twice")]
    Repeated { index: usize },
    #[error("the images cannot be read: {0}")]
    Malformed(String),
}

impl MediaItems {
    pub fn new(items: Vec<MediaItem>) -> Result<Self, MediaItemsError> {
        if items.is_empty() {
            return Err(MediaItemsError::Empty);
        }
        if items.len() > MAX_ITEMS {
            return Err(MediaItemsError::TooMany { count: items.len() });
        }
        for (index, item) in items.iter().enumerate() {
            if item.id.trim().is_empty() {
                return Err(MediaItemsError::EmptyId { index });
            }
            if items[..index].iter().any(|earlier| earlier.id == item.id) {
                return Err(MediaItemsError::Repeated { index });
            }
        }
        Ok(Self(items))
    }

    /// Reads the stored JSON form.
    pub fn from_json(json: &str) -> Result<Self, MediaItemsError> {
        let items: Vec<MediaItem> = serde_json::from_str(json)
            .map_err(|error| MediaItemsError::Malformed(error.to_string()))?;
        Self::new(items)
    }

    pub fn to_json(&self) -> String {
        // A list of plain structs always serializes.
        serde_json::to_string(&self.0).unwrap_or_else(|_| "[]".to_owned())
    }

    pub fn items(&self) -> &[MediaItem] {
        &self.0
    }

    /// The fitted images' keys in order, once every item is ready: what may be approved.
    pub fn ready_keys(&self) -> Option<Vec<&str>> {
        self.0.iter().map(MediaItem::ready_key).collect()
    }

    /// The items with the alt texts `(id, text)` written into the items they name; an id
    /// of no item changes nothing.
    pub fn with_alt_texts(&self, alt_texts: &[(&str, &str)]) -> Self {
        let mut items = self.0.clone();
        for item in &mut items {
            if let Some((_, text)) = alt_texts.iter().find(|(id, _)| *id == item.id) {
                item.alt_text = (*text).to_owned();
            }
        }
        Self(items)
    }

    /// Two or more images are published as one carousel.
    pub fn is_carousel(&self) -> bool {
        self.0.len() > 1
    }
}

/// Whether the post carries Instagram's "AI info" label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AiLabel {
    /// Labelled when an image model drew any of its images.
    #[default]
    Auto,
    /// Labelled because a person said so (an uploaded photo made with AI).
    Yes,
}

/// What Instagram takes with a post besides its images and text, as stored (unchecked
/// beyond its shape; the api checks each field before it is written).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostOptions {
    /// Sent as the post's first comment after it is published, exactly once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_comment: Option<String>,
    /// Instagram usernames, without `@`, at most [`MAX_COLLABORATORS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collaborators: Vec<String>,
    /// A Facebook Page id of a place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
    #[serde(default)]
    pub ai_label: AiLabel,
}

impl PostOptions {
    /// Reads the stored JSON form; `None` (no options stored) is the default.
    pub fn from_json(json: Option<&str>) -> Result<Self, serde_json::Error> {
        match json {
            None => Ok(Self::default()),
            Some(json) => serde_json::from_str(json),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Whether a post with these images is sent with `is_ai_generated`.
    pub fn is_ai_generated(&self, items: &[MediaItem]) -> bool {
        self.ai_label == AiLabel::Yes
            || items
                .iter()
                .any(|item| item.source == MediaSource::ImageModel)
    }
}

#[cfg(test)]
mod tests;
