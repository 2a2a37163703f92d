//! What a person may do to a post's images and options, decided here: add an upload, put
//! the images in an order, remove one, record what the image consumer made of an upload,
//! and check each option as Instagram would, every problem by field path.

use crate::content::{
    HARD_MAX_HASHTAGS, LAYOUT_CONTROLS, MAX_CAPTION_CHARS, MAX_MENTIONS, MAX_USERNAME_CHARS,
    char_count, code_point, control_characters, hashtags_in, invisible, mention_count,
    normalize_line_breaks,
};

use super::{ItemImage, MAX_COLLABORATORS, MediaItem, MediaItems, MediaItemsError, MediaSource};

/// The longest location id taken: a Facebook Page id is a number of at most 20 digits.
pub const MAX_LOCATION_ID_CHARS: usize = 20;

/// Why a change to the images cannot be made, for a 409 or 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemsChangeError {
    #[error(transparent)]
    Items(#[from] MediaItemsError),
    #[error("the post has no image {0:?}")]
    NoSuchItem(String),
    #[error("the order must name each of the post's {count} images once")]
    NotAPermutation { count: usize },
}

impl MediaItems {
    /// The images to change: the stored list, or for a draft without one its generated image
    /// (`image_key`, ready) as the first item, so that it can be part of a carousel.
    pub fn current_or_generated(
        stored: Option<Self>,
        generated: Option<GeneratedImage<'_>>,
    ) -> Vec<MediaItem> {
        match (stored, generated) {
            (Some(items), _) => items.0,
            (None, Some(image)) => vec![MediaItem {
                id: "generated".to_owned(),
                source: image.source,
                alt_text: image.alt_text.to_owned(),
                image: ItemImage::Ready {
                    key: image.key.to_owned(),
                    width: image.width,
                    height: image.height,
                },
            }],
            (None, None) => Vec::new(),
        }
    }

    /// The list with `item` added at the end; at most [`super::MAX_ITEMS`].
    pub fn appended(items: Vec<MediaItem>, item: MediaItem) -> Result<Self, ItemsChangeError> {
        let mut items = items;
        items.push(item);
        Ok(Self::new(items)?)
    }

    /// The same images in the order `ids` gives, which names each exactly once.
    pub fn reordered(&self, ids: &[String]) -> Result<Self, ItemsChangeError> {
        let count = self.0.len();
        let mut out = Vec::with_capacity(count);
        for id in ids {
            let item = self
                .0
                .iter()
                .find(|item| &item.id == id)
                .ok_or_else(|| ItemsChangeError::NoSuchItem(id.clone()))?;
            if out.iter().any(|taken: &MediaItem| taken.id == *id) {
                return Err(ItemsChangeError::NotAPermutation { count });
            }
            out.push(item.clone());
        }
        if out.len() != count {
            return Err(ItemsChangeError::NotAPermutation { count });
        }
        Ok(Self::new(out)?)
    }

    /// The list without image `id` (`None`: none left), and the removed item.
    pub fn without(&self, id: &str) -> Result<(Option<Self>, MediaItem), ItemsChangeError> {
        let at = self
            .0
            .iter()
            .position(|item| item.id == id)
            .ok_or_else(|| ItemsChangeError::NoSuchItem(id.to_owned()))?;
        let mut rest = self.0.clone();
        let removed = rest.remove(at);
        let rest = if rest.is_empty() {
            None
        } else {
            Some(Self::new(rest)?)
        };
        Ok((rest, removed))
    }

    /// The list with image `id`'s alt text replaced.
    pub fn with_alt_text(&self, id: &str, alt_text: &str) -> Result<Self, ItemsChangeError> {
        let mut items = self.0.clone();
        let item = items
            .iter_mut()
            .find(|item| item.id == id)
            .ok_or_else(|| ItemsChangeError::NoSuchItem(id.to_owned()))?;
        item.alt_text = alt_text.to_owned();
        Ok(Self::new(items)?)
    }

    /// The list with the upload at `upload` (still pending) ready or failed as `image` says;
    /// `None` when no item waits on that upload any more (removed, or already recorded).
    pub fn fitted(&self, upload: &str, image: ItemImage) -> Option<Self> {
        let mut items = self.0.clone();
        let item = items.iter_mut().find(|item| {
            matches!(&item.image, ItemImage::Pending { upload: waiting } if waiting == upload)
        })?;
        item.image = image;
        Some(Self(items))
    }

    /// The uploads still waiting to be fitted, in order.
    pub fn pending_uploads(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter_map(|item| match &item.image {
                ItemImage::Pending { upload } => Some(upload.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Why the images cannot be approved as they are, if they cannot: each must be ready.
    pub fn unready(&self) -> Option<String> {
        let waiting: Vec<String> = self
            .0
            .iter()
            .enumerate()
            .filter_map(|(index, item)| match &item.image {
                ItemImage::Ready { .. } => None,
                ItemImage::Pending { .. } => {
                    Some(format!("image {} is still being fitted", index + 1))
                }
                ItemImage::Failed { reason } => {
                    Some(format!("image {} failed ({reason}); remove it", index + 1))
                }
            })
            .collect();
        (!waiting.is_empty()).then(|| waiting.join("; "))
    }
}

/// A draft's generated image, as the first item of a list made from it.
#[derive(Debug, Clone, Copy)]
pub struct GeneratedImage<'a> {
    pub key: &'a str,
    pub source: MediaSource,
    pub alt_text: &'a str,
    pub width: u32,
    pub height: u32,
}

/// The problems of a first comment: the caption's rules (length, hashtags, mentions, control
/// and invisible characters). Empty: it is fine.
pub fn first_comment_problems(text: &str) -> Vec<String> {
    let text = normalize_line_breaks(text);
    let mut problems = Vec::new();
    let chars = char_count(text.trim());
    if chars == 0 {
        problems.push("first comment is empty; leave it out to post none".to_owned());
    } else if chars > MAX_CAPTION_CHARS {
        problems.push(format!(
            "first comment has {chars} characters, at most {MAX_CAPTION_CHARS} are allowed"
        ));
    }
    let tags = hashtags_in(&text).len();
    if tags > HARD_MAX_HASHTAGS {
        problems.push(format!(
            "first comment has {tags} hashtags, at most {HARD_MAX_HASHTAGS} are allowed"
        ));
    }
    let mentions = mention_count(&text);
    if mentions > MAX_MENTIONS {
        problems.push(format!(
            "first comment mentions {mentions} accounts, at most {MAX_MENTIONS} are allowed"
        ));
    }
    let controls = control_characters(&text, &LAYOUT_CONTROLS);
    if !controls.is_empty() {
        let list: Vec<String> = controls.iter().map(|&c| code_point(c)).collect();
        problems.push(format!(
            "first comment contains the control characters {}; only line breaks and tabs are allowed",
            list.join(", ")
        ));
    }
    let hidden = invisible::refused(&text);
    if !hidden.is_empty() {
        let list: Vec<&str> = hidden.iter().map(|r| r.name.as_str()).collect();
        problems.push(format!(
            "first comment contains {}, which a reader cannot see; remove it",
            list.join(", ")
        ));
    }
    problems
}

/// Why collaborators cannot be named as given: the list, or one name (as given, `@` dropped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollaboratorError {
    #[error("{0} collaborators given, at most {MAX_COLLABORATORS} are allowed")]
    TooMany(usize),
    #[error("a username is empty")]
    Empty,
    #[error("{0:?} is longer than {MAX_USERNAME_CHARS} characters, more than a username has")]
    TooLong(String),
    #[error("{0:?} is not a username: only letters, digits, _ and . are allowed")]
    Characters(String),
    #[error("{0:?} is not a username: a . cannot start or end it or follow another")]
    Dots(String),
    #[error("{0:?} is named twice")]
    Twice(String),
}

/// An Instagram username as a collaborator is named: `@` dropped, lower case; or why not.
pub fn collaborator(name: &str) -> Result<String, CollaboratorError> {
    let name = name.trim();
    let bare = name.strip_prefix('@').unwrap_or(name);
    if bare.is_empty() {
        return Err(CollaboratorError::Empty);
    }
    if char_count(bare) > MAX_USERNAME_CHARS {
        return Err(CollaboratorError::TooLong(bare.to_owned()));
    }
    if !bare
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return Err(CollaboratorError::Characters(bare.to_owned()));
    }
    if bare.starts_with('.') || bare.ends_with('.') || bare.contains("..") {
        return Err(CollaboratorError::Dots(bare.to_owned()));
    }
    Ok(bare.to_ascii_lowercase())
}

/// The collaborators as stored, or each problem with the index of the name it is about
/// (`None`: the list); at most [`MAX_COLLABORATORS`], each once.
pub fn collaborators(
    names: &[String],
) -> Result<Vec<String>, Vec<(Option<usize>, CollaboratorError)>> {
    let mut problems = Vec::new();
    if names.len() > MAX_COLLABORATORS {
        problems.push((None, CollaboratorError::TooMany(names.len())));
    }
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        match collaborator(name) {
            Ok(name) if out.contains(&name) => {
                problems.push((Some(index), CollaboratorError::Twice(name)));
            }
            Ok(name) => out.push(name),
            Err(reason) => problems.push((Some(index), reason)),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Why a text is not a location id (a Facebook Page id).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationIdError {
    #[error("{0:?} is not a location id: a Facebook Page id is made of digits")]
    NotDigits(String),
    #[error("a location id has at most {MAX_LOCATION_ID_CHARS} digits, got {0}")]
    TooLong(usize),
}

/// A location id as stored, or why it is not one: digits only.
pub fn location_id(id: &str) -> Result<String, LocationIdError> {
    let id = id.trim();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(LocationIdError::NotDigits(id.to_owned()));
    }
    if id.len() > MAX_LOCATION_ID_CHARS {
        return Err(LocationIdError::TooLong(id.len()));
    }
    Ok(id.to_owned())
}
