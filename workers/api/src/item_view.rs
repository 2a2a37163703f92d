//! A draft's images and options as the API shows them (`mediaItems`, `postOptions`), read
//! from its row; `items` changes them.

use domain::draft::ImageStatus;
use domain::post_format::edit::GeneratedImage;
use domain::post_format::{AiLabel, MediaItem, MediaItems, MediaSource, PostOptions};
use platform::store::DraftRow;
use serde_json::{Value, json};

use crate::reply::ApiError;

pub fn stored_items(row: &DraftRow) -> Result<Option<MediaItems>, ApiError> {
    row.media_items
        .as_deref()
        .map(MediaItems::from_json)
        .transpose()
        .map_err(|e| ApiError::Internal(format!("draft {}: {e}", row.id)))
}

/// The draft's generated image, once ready, as an item. The row does not say which provider
/// drew it, so it counts as an image model's (labelled as made with AI: the safe side); its
/// size is not recorded (0: the page reads it from the image).
pub fn generated(row: &DraftRow) -> Option<GeneratedImage<'_>> {
    let key = row.image_key.as_deref()?;
    (row.image_status() == ImageStatus::Ready).then(|| GeneratedImage {
        key,
        source: MediaSource::ImageModel,
        alt_text: row.alt_text.as_deref().unwrap_or(""),
        width: 0,
        height: 0,
    })
}

/// The draft view's `mediaItems` (with each ready image's URL; `null`: the one generated
/// image) and `postOptions` (with whether the post is labelled as made with AI, and why).
pub fn view(origin: &str, row: &DraftRow) -> (Value, Value) {
    let stored = stored_items(row).ok().flatten();
    let items = stored.as_ref().map_or(Value::Null, |items| {
        Value::Array(
            items
                .items()
                .iter()
                .map(|item| {
                    let mut value = serde_json::to_value(item).unwrap_or(Value::Null);
                    if let (Some(key), Value::Object(map)) = (item.ready_key(), &mut value) {
                        map.insert("url".into(), json!(format!("{origin}/media/{key}")));
                    }
                    value
                })
                .collect(),
        )
    });
    let options = PostOptions::from_json(row.post_options.as_deref()).unwrap_or_default();
    let all: Vec<MediaItem> = MediaItems::current_or_generated(stored, generated(row));
    let labelled = options.is_ai_generated(&all);
    let why = if options.ai_label == AiLabel::Yes {
        Some("you said an image was made with AI")
    } else if labelled {
        Some("an image model drew one of the images")
    } else {
        None
    };
    let mut options = serde_json::to_value(&options).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut options {
        map.insert("aiGenerated".into(), json!(labelled));
        map.insert("aiGeneratedBecause".into(), json!(why));
    }
    (items, options)
}
