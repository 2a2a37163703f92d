//! The texts of a post and every rule Instagram sets on them: lengths, the hashtag cap (the
//! caption's own `#tags` included), the mention cap, which control characters may appear,
//! and no invisible character that changes what a text shows ([`invisible`]).
//!
//! Each type can only be built through `parse`, so a value that exists is within limits. The
//! same rules serve a model's answer (`generation`) and a person's edit (the API), so the
//! detection functions ([`hashtags_in`], [`mentions_in`], [`char_count`]) are public and are
//! the only definitions in the workspace.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

mod error;
pub mod invisible;
mod signs;

pub use error::{ContentError, Field, HashtagError};
use signs::hashtags_at;
pub(crate) use signs::tag_key;
pub use signs::{
    hashtags_in, is_hashtag_char, is_hashtag_sign, mention_count, mentions_in, strip_hashtag_signs,
    strip_mention_signs,
};

/// Instagram rejects captions longer than this (counted by [`char_count`]).
pub const MAX_CAPTION_CHARS: usize = 2_200;
/// Instagram rejects alt text longer than this.
pub const MAX_ALT_TEXT_CHARS: usize = 1_000;
/// Instagram announced a cap of 5 hashtags per post; the cap is configuration.
pub const DEFAULT_MAX_HASHTAGS: usize = 5;
/// The API reference's historical cap; no configuration may exceed it.
pub const HARD_MAX_HASHTAGS: usize = 30;
/// A single hashtag's length; Instagram does not document one, this keeps them readable.
pub const MAX_HASHTAG_CHARS: usize = 100;
/// Instagram rejects a caption that mentions more accounts than this (error 2207040).
pub const MAX_MENTIONS: usize = 20;
/// Instagram usernames are at most this long; see [`mentions_in`] for longer runs.
pub const MAX_USERNAME_CHARS: usize = 30;
/// The control characters a multi-line text (caption, alt text, brief) may hold: line feed
/// and tab. A `\r\n` is first turned into `\n` by [`normalize_line_breaks`]; a lone `\r` is
/// refused like any other control character.
pub const LAYOUT_CONTROLS: [char; 2] = ['\n', '\t'];

/// The length of a text as Instagram's limits count it.
///
/// Meta's pages (and our notes) give the caption and alt text limits in "characters" without
/// saying what a character is, so this counts Unicode scalar values (Rust `char`s): `é`
/// written as `e` plus a combining accent is 2, and a family emoji joined with zero-width
/// joiners is 5. That is never less than the number of grapheme clusters, so a text that fits
/// here also fits if Instagram counts what a reader sees. Were it to count UTF-16 code units,
/// as JavaScript's `length` does, an emoji such as 😀 would be 2 there and 1 here. Every
/// length limit in the workspace uses this function.
pub fn char_count(text: &str) -> usize {
    text.chars().count()
}

/// `text` with every `\r\n` turned into `\n`, as a text pasted from Windows has them. Lone
/// `\r` stay, and are then refused as control characters.
pub fn normalize_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// The control characters (Unicode category Cc: U+0000 to U+001F, U+007F to U+009F) in `text`
/// other than `allowed`, each once, in the order they first appear.
pub fn control_characters(text: &str, allowed: &[char]) -> Vec<char> {
    let mut found = Vec::new();
    for c in text.chars() {
        if c.is_control() && !allowed.contains(&c) && !found.contains(&c) {
            found.push(c);
        }
    }
    found
}

/// `U+0007`: how errors name a character that cannot be shown.
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

fn code_points(chars: &[char]) -> String {
    chars
        .iter()
        .map(|&c| code_point(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Line breaks normalised, control and invisible characters refused, then trimmed. The
/// checks see the text as given, so such a character at either end is refused too, not
/// trimmed away.
fn multiline_text(text: &str, field: Field) -> (String, Vec<ContentError>) {
    let text = normalize_line_breaks(text);
    let mut errors = Vec::new();
    let characters = control_characters(&text, &LAYOUT_CONTROLS);
    if !characters.is_empty() {
        errors.push(ContentError::ControlCharacters { field, characters });
    }
    let characters = invisible::refused(&text);
    if !characters.is_empty() {
        errors.push(ContentError::InvisibleCharacters { field, characters });
    }
    (text.trim().to_owned(), errors)
}

/// A caption within Instagram's limits, without the post's hashtag list: not empty, at most
/// [`MAX_CAPTION_CHARS`], at most [`MAX_MENTIONS`] accounts mentioned, no control characters
/// but line breaks and tabs (`\r\n` is stored as `\n`).
///
/// The caption's own hashtags count against the post's cap together with the list, so that
/// rule is checked by [`PostText::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Caption(String);

impl Caption {
    pub fn parse(text: &str) -> Result<Self, Vec<ContentError>> {
        let (text, mut errors) = multiline_text(text, Field::Caption);
        let chars = char_count(&text);
        if chars == 0 {
            errors.push(ContentError::EmptyCaption);
        } else if chars > MAX_CAPTION_CHARS {
            errors.push(ContentError::CaptionTooLong {
                chars,
                max: MAX_CAPTION_CHARS,
            });
        }
        let mentions = mention_count(&text);
        if mentions > MAX_MENTIONS {
            errors.push(ContentError::TooManyMentions {
                count: mentions,
                max: MAX_MENTIONS,
            });
        }
        if errors.is_empty() {
            Ok(Self(text))
        } else {
            Err(errors)
        }
    }
}

impl AsRef<str> for Caption {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Alt text for the image: not empty, at most [`MAX_ALT_TEXT_CHARS`], no control characters
/// but line breaks and tabs (`\r\n` is stored as `\n`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AltText(String);

impl AltText {
    pub fn parse(text: &str) -> Result<Self, Vec<ContentError>> {
        let (text, mut errors) = multiline_text(text, Field::AltText);
        let chars = char_count(&text);
        if chars == 0 {
            errors.push(ContentError::EmptyAltText);
        } else if chars > MAX_ALT_TEXT_CHARS {
            errors.push(ContentError::AltTextTooLong {
                chars,
                max: MAX_ALT_TEXT_CHARS,
            });
        }
        if errors.is_empty() {
            Ok(Self(text))
        } else {
            Err(errors)
        }
    }
}

impl AsRef<str> for AltText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// One hashtag, stored without its sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Hashtag(String);

impl Hashtag {
    /// Accepts `"tag"`, `"#tag"` or `"＃tag"`, with spaces around it; letters, digits and `_`
    /// in any script. No control character is allowed anywhere, not even at the ends.
    pub fn parse(text: &str) -> Result<Self, HashtagError> {
        if let Some(&c) = control_characters(text, &[]).first() {
            return Err(HashtagError::ControlCharacter(c));
        }
        if let Some(found) = invisible::refused(text).first() {
            return Err(HashtagError::InvisibleCharacter(found.character));
        }
        let tag = bare_tag(text);
        let chars = char_count(tag);
        if chars == 0 {
            return Err(HashtagError::Empty);
        }
        if chars > MAX_HASHTAG_CHARS {
            return Err(HashtagError::TooLong {
                chars,
                max: MAX_HASHTAG_CHARS,
            });
        }
        if !tag.chars().all(is_hashtag_char) {
            return Err(HashtagError::NotTagCharacters);
        }
        if tag.chars().all(|c| c.is_ascii_digit()) {
            return Err(HashtagError::DigitsOnly);
        }
        Ok(Self(tag.to_owned()))
    }
}

/// A hashtag as given, without the spaces around it and its sign (or signs).
fn bare_tag(text: &str) -> &str {
    text.trim().trim_start_matches(is_hashtag_sign)
}

impl AsRef<str> for Hashtag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Hashtag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The hashtag list of one post: each valid, distinct (case-insensitively), and at most the
/// configured count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(transparent)]
pub struct Hashtags(Vec<Hashtag>);

impl Hashtags {
    /// Checks the list on its own; [`PostText::parse`] also counts the caption's hashtags.
    /// Reports every bad item, each with its index.
    pub fn parse<S: AsRef<str>>(tags: &[S], max: usize) -> Result<Self, Vec<ContentError>> {
        let mut errors: Vec<ContentError> = hashtag_cap("", tags, max).into_iter().collect();
        match keep(Self::parse_items(tags), &mut errors) {
            Some(hashtags) if errors.is_empty() => Ok(hashtags),
            _ => Err(errors),
        }
    }

    /// Every item valid and distinct; no cap.
    fn parse_items<S: AsRef<str>>(tags: &[S]) -> Result<Self, Vec<ContentError>> {
        let mut parsed: Vec<Hashtag> = Vec::with_capacity(tags.len());
        let mut errors = Vec::new();
        for (index, text) in tags.iter().enumerate() {
            let text = text.as_ref();
            match Hashtag::parse(text) {
                Err(reason) => errors.push(ContentError::InvalidHashtag {
                    index,
                    tag: text.to_owned(),
                    reason,
                }),
                Ok(tag)
                    if parsed
                        .iter()
                        .any(|seen| tag_key(&seen.0) == tag_key(&tag.0)) =>
                {
                    errors.push(ContentError::DuplicateHashtag {
                        index,
                        tag: tag.to_string(),
                    });
                }
                Ok(tag) => parsed.push(tag),
            }
        }
        if errors.is_empty() {
            Ok(Self(parsed))
        } else {
            Err(errors)
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Hashtag> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The cap on a post's hashtags: those written in the caption and those in the list count
/// together, and a tag written more than once, in either place or both, counts once
/// (`#Cafe` and `＃cafe` are one tag). The cap limits the tags a post is filed under, and a
/// caption that names its `#cafe` in a sentence and again in the list is filed under it once;
/// Meta does not document how repeats count, and counting them once is what the review page
/// can explain simply. Each list item counts, even one reported as invalid, since each is
/// meant as a tag. The cap is `max`, never more than [`HARD_MAX_HASHTAGS`].
fn hashtag_cap<S: AsRef<str>>(caption: &str, tags: &[S], max: usize) -> Option<ContentError> {
    let max = max.min(HARD_MAX_HASHTAGS);
    let (listed, all) = distinct_hashtags(caption, tags);
    if all.len() <= max {
        None
    } else if all.len() == listed.len() {
        Some(ContentError::TooManyHashtags {
            count: listed.len(),
            max,
        })
    } else {
        Some(ContentError::TooManyHashtagsWithCaption {
            count: all.len(),
            max,
        })
    }
}

/// The distinct tags of the list, and of the list and the caption together, as the cap
/// counts them (by [`tag_key`]).
fn distinct_hashtags<S: AsRef<str>>(
    caption: &str,
    tags: &[S],
) -> (HashSet<String>, HashSet<String>) {
    let listed: HashSet<String> = tags
        .iter()
        .map(|tag| tag_key(tag.as_ref()))
        .filter(|key| !key.is_empty())
        .collect();
    let mut all = listed.clone();
    all.extend(hashtags_in(caption).into_iter().map(tag_key));
    (listed, all)
}

/// `text` cut into runs, each either one hashtag Instagram finds (its sign and tag, as
/// [`hashtags_in`] finds them) or the text between two: for showing where the hashtags are.
/// The runs joined are `text`.
pub fn hashtag_runs(text: &str) -> Vec<Run<'_>> {
    let mut runs = Vec::new();
    let mut last = 0;
    for (sign, tag) in hashtags_at(text) {
        let end = sign + text[sign..].chars().next().map_or(0, char::len_utf8) + tag.len();
        if sign > last {
            runs.push(Run {
                text: &text[last..sign],
                hashtag: false,
            });
        }
        runs.push(Run {
            text: &text[sign..end],
            hashtag: true,
        });
        last = end;
    }
    if last < text.len() {
        runs.push(Run {
            text: &text[last..],
            hashtag: false,
        });
    }
    runs
}

/// One run of [`hashtag_runs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Run<'a> {
    pub text: &'a str,
    pub hashtag: bool,
}

/// Where a post's text stands against each of Instagram's limits, counted as
/// [`PostText::parse`] counts, for a text valid or not: what the review page shows while a
/// person writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// The caption with its hashtags, as Instagram receives it, in [`char_count`]s.
    pub caption_chars: usize,
    /// The accounts mentioned, by [`mention_count`].
    pub mentions: usize,
    /// The distinct hashtags of the list and the caption together, as the cap counts them.
    pub hashtags: usize,
    /// The hashtags written in the caption, repeats included.
    pub hashtags_in_caption: usize,
    pub alt_text_chars: usize,
}

/// The texts of a post as a person reviews them and as Instagram receives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostText {
    pub caption: Caption,
    pub hashtags: Hashtags,
    pub alt_text: AltText,
}

/// The unvalidated shape of [`PostText`], as stored and as edited on the review page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawPostText {
    pub caption: String,
    pub hashtags: Vec<String>,
    pub alt_text: String,
}

impl PostText {
    /// Checks every rule and reports every broken one, not just the first; each error's
    /// [`ContentError::field`] says where it is. `max_hashtags` is the configured cap, held to
    /// [`HARD_MAX_HASHTAGS`]; the caption's own hashtags count against it.
    pub fn parse(raw: &RawPostText, max_hashtags: usize) -> Result<Self, Vec<ContentError>> {
        let mut errors = Vec::new();
        let caption = keep(Caption::parse(&raw.caption), &mut errors);
        errors.extend(hashtag_cap(&raw.caption, &raw.hashtags, max_hashtags));
        let hashtags = keep(Hashtags::parse_items(&raw.hashtags), &mut errors);
        let alt_text = keep(AltText::parse(&raw.alt_text), &mut errors);
        if caption.is_some() && hashtags.is_some() {
            // Instagram counts the hashtags as part of the caption.
            let chars = char_count(&raw.normalized().instagram_caption());
            if chars > MAX_CAPTION_CHARS {
                errors.push(ContentError::CaptionWithHashtagsTooLong {
                    chars,
                    max: MAX_CAPTION_CHARS,
                });
            }
        }
        match (caption, hashtags, alt_text) {
            (Some(caption), Some(hashtags), Some(alt_text)) if errors.is_empty() => Ok(Self {
                caption,
                hashtags,
                alt_text,
            }),
            _ => Err(errors),
        }
    }

    /// The caption as Instagram receives it: the text, a blank line, then the hashtags.
    pub fn instagram_caption(&self) -> String {
        self.to_raw().instagram_caption()
    }

    pub fn to_raw(&self) -> RawPostText {
        RawPostText {
            caption: self.caption.as_ref().to_owned(),
            hashtags: self
                .hashtags
                .iter()
                .map(|t| t.as_ref().to_owned())
                .collect(),
            alt_text: self.alt_text.as_ref().to_owned(),
        }
    }
}

/// The value, or `None` with its errors added to `errors`.
fn keep<T>(result: Result<T, Vec<ContentError>>, errors: &mut Vec<ContentError>) -> Option<T> {
    result.map_err(|e| errors.extend(e)).ok()
}

impl RawPostText {
    /// The text as [`PostText::parse`] keeps it, before any rule is checked: line breaks
    /// normalised, caption and alt text trimmed, each hashtag trimmed and without its sign.
    pub fn normalized(&self) -> RawPostText {
        let multiline = |text: &str| normalize_line_breaks(text).trim().to_owned();
        RawPostText {
            caption: multiline(&self.caption),
            hashtags: self
                .hashtags
                .iter()
                .map(|tag| bare_tag(tag).to_owned())
                .collect(),
            alt_text: multiline(&self.alt_text),
        }
    }

    /// Where this text stands against Instagram's limits ([`Counts`]).
    pub fn counts(&self) -> Counts {
        let text = self.normalized();
        Counts {
            caption_chars: char_count(&text.instagram_caption()),
            mentions: mention_count(&text.caption),
            hashtags: distinct_hashtags(&text.caption, &text.hashtags).1.len(),
            hashtags_in_caption: hashtags_in(&text.caption).len(),
            alt_text_chars: char_count(&text.alt_text),
        }
    }

    /// The caption Instagram shows: the caption, then the hashtags on their own paragraph.
    /// Also for text stored before today's rules, which a container may have been made from.
    pub fn instagram_caption(&self) -> String {
        if self.hashtags.is_empty() {
            return self.caption.clone();
        }
        let tags: Vec<String> = self
            .hashtags
            .iter()
            .map(|tag| format!("#{}", tag.trim_start_matches('#')))
            .collect();
        format!("{}\n\n{}", self.caption, tags.join(" "))
    }
}

#[cfg(test)]
mod tests;
