//! What is wrong with a post's text: [`ContentError`], by the [`Field`] it concerns, and
//! [`HashtagError`] for one hashtag. Each message names the limit, so it can be fed back to a
//! model.

use std::fmt;

use serde::{Serialize, Serializer};

use super::{code_point, code_points, invisible};

/// Which part of a post a problem concerns, written as the path of its field in the JSON of
/// [`RawPostText`](super::RawPostText): `caption`, `hashtags`, `hashtags[2]`, `altText`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Caption,
    /// The list as a whole.
    Hashtags,
    /// One item of the list, by its index in the list as given.
    Hashtag(usize),
    AltText,
}

impl Field {
    /// The field's name in a sentence.
    pub(super) fn noun(self) -> &'static str {
        match self {
            Field::Caption => "caption",
            Field::Hashtags => "hashtags",
            Field::Hashtag(_) => "hashtag",
            Field::AltText => "alt text",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Caption => f.write_str("caption"),
            Field::Hashtags => f.write_str("hashtags"),
            Field::Hashtag(index) => write!(f, "hashtags[{index}]"),
            Field::AltText => f.write_str("altText"),
        }
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Why one hashtag is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashtagError {
    #[error("it is empty")]
    Empty,
    #[error("it has {chars} characters, at most {max} are allowed")]
    TooLong { chars: usize, max: usize },
    #[error("it contains the control character {}", code_point(*.0))]
    ControlCharacter(char),
    #[error("it contains the invisible character {}", invisible::describe(*.0))]
    InvisibleCharacter(char),
    #[error("only letters, digits and _ are allowed")]
    NotTagCharacters,
    #[error("Instagram ignores hashtags made only of digits")]
    DigitsOnly,
}

/// Why a text breaks a rule. The message names the limit so it can be fed back to a model;
/// [`ContentError::field`] says which field to show it at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("caption is empty")]
    EmptyCaption,
    #[error("caption has {chars} characters, at most {max} are allowed")]
    CaptionTooLong { chars: usize, max: usize },
    #[error("caption with its hashtags has {chars} characters, at most {max} are allowed")]
    CaptionWithHashtagsTooLong { chars: usize, max: usize },
    #[error("caption mentions {count} accounts, at most {max} are allowed")]
    TooManyMentions { count: usize, max: usize },
    #[error("alt text is empty")]
    EmptyAltText,
    #[error("alt text has {chars} characters, at most {max} are allowed")]
    AltTextTooLong { chars: usize, max: usize },
    /// Only in the caption or the alt text; a hashtag's are [`HashtagError::ControlCharacter`].
    #[error(
        "{} contains the control character{} {}; only line breaks and tabs are allowed",
        .field.noun(),
        if .characters.len() == 1 { "" } else { "s" },
        code_points(.characters)
    )]
    ControlCharacters { field: Field, characters: Vec<char> },
    /// Only in the caption or the alt text; a hashtag's are [`HashtagError::InvisibleCharacter`].
    #[error(
        "{} contains {}, which a reader cannot see but which changes what the text shows; remove {}",
        .field.noun(),
        invisible_list(.characters),
        if .characters.len() == 1 { "it" } else { "them" }
    )]
    InvisibleCharacters {
        field: Field,
        characters: Vec<invisible::Refused>,
    },
    /// The list alone is over the cap.
    #[error("{count} hashtags given, at most {max} are allowed")]
    TooManyHashtags { count: usize, max: usize },
    /// The caption's own hashtags bring the post over the cap.
    #[error("caption and hashtags together have {count} hashtags, at most {max} are allowed")]
    TooManyHashtagsWithCaption { count: usize, max: usize },
    #[error("hashtag {tag:?} is not valid: {reason}")]
    InvalidHashtag {
        index: usize,
        tag: String,
        reason: HashtagError,
    },
    #[error("hashtag {tag:?} appears more than once")]
    DuplicateHashtag { index: usize, tag: String },
    /// A word the account's voice avoids ([`crate::voice`]), as a whole word in any case.
    #[error("{} uses {word:?}, a word this account avoids", .field.noun())]
    AvoidedWord { field: Field, word: String },
    /// A hashtag the account's voice never uses ([`crate::voice`]), in the list or the caption.
    #[error("{} uses #{tag}, a hashtag this account never uses", .field.noun())]
    NeverUsedHashtag { field: Field, tag: String },
}

impl ContentError {
    /// The field the problem concerns, for answering an edit by field path. The rules about
    /// the caption and the list together are the caption's: the length with the hashtags, and
    /// the cap once the caption's own hashtags count (the list alone over the cap is the
    /// list's).
    pub fn field(&self) -> Field {
        match self {
            ContentError::EmptyCaption
            | ContentError::CaptionTooLong { .. }
            | ContentError::CaptionWithHashtagsTooLong { .. }
            | ContentError::TooManyMentions { .. }
            | ContentError::TooManyHashtagsWithCaption { .. } => Field::Caption,
            ContentError::EmptyAltText | ContentError::AltTextTooLong { .. } => Field::AltText,
            ContentError::ControlCharacters { field, .. }
            | ContentError::InvisibleCharacters { field, .. }
            | ContentError::AvoidedWord { field, .. }
            | ContentError::NeverUsedHashtag { field, .. } => *field,
            ContentError::TooManyHashtags { .. } => Field::Hashtags,
            ContentError::InvalidHashtag { index, .. }
            | ContentError::DuplicateHashtag { index, .. } => Field::Hashtag(*index),
        }
    }
}

/// `U+202E RIGHT-TO-LEFT OVERRIDE at character 4, ...`.
fn invisible_list(characters: &[invisible::Refused]) -> String {
    characters
        .iter()
        .map(|r| format!("{} at character {}", r.name, r.at + 1))
        .collect::<Vec<_>>()
        .join(", ")
}
