//! The texts of a post and Instagram's limits on them.
//!
//! Each type can only be built through `parse`, so a value that exists is within limits.

use serde::{Deserialize, Serialize};

/// Instagram rejects captions longer than this (counted in characters).
pub const MAX_CAPTION_CHARS: usize = 2_200;
/// Instagram rejects alt text longer than this.
pub const MAX_ALT_TEXT_CHARS: usize = 1_000;
/// Instagram announced a cap of 5 hashtags per post; the cap is configuration.
pub const DEFAULT_MAX_HASHTAGS: usize = 5;
/// The API reference's historical cap; no configuration may exceed it.
pub const HARD_MAX_HASHTAGS: usize = 30;
/// A single hashtag's length; Instagram does not document one, this keeps them readable.
pub const MAX_HASHTAG_CHARS: usize = 100;

/// Why a text breaks a limit. The message names the limit so it can be fed back to a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("caption is empty")]
    EmptyCaption,
    #[error("caption has {chars} characters, at most {max} are allowed")]
    CaptionTooLong { chars: usize, max: usize },
    #[error("caption with its hashtags has {chars} characters, at most {max} are allowed")]
    CaptionWithHashtagsTooLong { chars: usize, max: usize },
    #[error("alt text is empty")]
    EmptyAltText,
    #[error("alt text has {chars} characters, at most {max} are allowed")]
    AltTextTooLong { chars: usize, max: usize },
    #[error("{count} hashtags given, at most {max} are allowed")]
    TooManyHashtags { count: usize, max: usize },
    #[error("hashtag {tag:?} is not valid: {reason}")]
    InvalidHashtag { tag: String, reason: &'static str },
    #[error("hashtag {tag:?} appears more than once")]
    DuplicateHashtag { tag: String },
}

/// A caption within Instagram's length limit, without its hashtags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Caption(String);

impl Caption {
    pub fn parse(text: &str) -> Result<Self, ContentError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ContentError::EmptyCaption);
        }
        let chars = text.chars().count();
        if chars > MAX_CAPTION_CHARS {
            return Err(ContentError::CaptionTooLong {
                chars,
                max: MAX_CAPTION_CHARS,
            });
        }
        Ok(Self(text.to_owned()))
    }
}

impl AsRef<str> for Caption {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Alt text for the image, within Instagram's length limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AltText(String);

impl AltText {
    pub fn parse(text: &str) -> Result<Self, ContentError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ContentError::EmptyAltText);
        }
        let chars = text.chars().count();
        if chars > MAX_ALT_TEXT_CHARS {
            return Err(ContentError::AltTextTooLong {
                chars,
                max: MAX_ALT_TEXT_CHARS,
            });
        }
        Ok(Self(text.to_owned()))
    }
}

impl AsRef<str> for AltText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// One hashtag, stored without its leading `#`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Hashtag(String);

impl Hashtag {
    /// Accepts `"#tag"` or `"tag"`; letters, digits and `_` in any script.
    pub fn parse(text: &str) -> Result<Self, ContentError> {
        let tag = text.trim().trim_start_matches('#');
        let invalid = |reason| ContentError::InvalidHashtag {
            tag: text.to_owned(),
            reason,
        };
        if tag.is_empty() {
            return Err(invalid("it is empty"));
        }
        if tag.chars().count() > MAX_HASHTAG_CHARS {
            return Err(invalid("it is too long"));
        }
        if !tag.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(invalid("only letters, digits and _ are allowed"));
        }
        if tag.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid("Instagram ignores hashtags made only of digits"));
        }
        Ok(Self(tag.to_owned()))
    }
}

impl AsRef<str> for Hashtag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Hashtag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The hashtags of one post: distinct (case-insensitively) and at most the configured count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(transparent)]
pub struct Hashtags(Vec<Hashtag>);

impl Hashtags {
    pub fn parse<S: AsRef<str>>(tags: &[S], max: usize) -> Result<Self, ContentError> {
        let max = max.min(HARD_MAX_HASHTAGS);
        if tags.len() > max {
            return Err(ContentError::TooManyHashtags {
                count: tags.len(),
                max,
            });
        }
        let mut parsed: Vec<Hashtag> = Vec::with_capacity(tags.len());
        for tag in tags {
            let tag = Hashtag::parse(tag.as_ref())?;
            if parsed
                .iter()
                .any(|seen| seen.0.to_lowercase() == tag.0.to_lowercase())
            {
                return Err(ContentError::DuplicateHashtag {
                    tag: tag.to_string(),
                });
            }
            parsed.push(tag);
        }
        Ok(Self(parsed))
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

/// The texts of a post as a person reviews them and as Instagram receives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostText {
    pub caption: Caption,
    pub hashtags: Hashtags,
    pub alt_text: AltText,
}

/// The unvalidated shape of [`PostText`], as stored and as edited on the review page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawPostText {
    pub caption: String,
    pub hashtags: Vec<String>,
    pub alt_text: String,
}

impl PostText {
    /// Checks every limit and reports every broken one, not just the first.
    pub fn parse(raw: &RawPostText, max_hashtags: usize) -> Result<Self, Vec<ContentError>> {
        let caption = Caption::parse(&raw.caption);
        let hashtags = Hashtags::parse(&raw.hashtags, max_hashtags);
        let alt_text = AltText::parse(&raw.alt_text);
        match (caption, hashtags, alt_text) {
            (Ok(caption), Ok(hashtags), Ok(alt_text)) => {
                let text = Self {
                    caption,
                    hashtags,
                    alt_text,
                };
                // Instagram counts the hashtags as part of the caption.
                let chars = text.instagram_caption().chars().count();
                if chars > MAX_CAPTION_CHARS {
                    return Err(vec![ContentError::CaptionWithHashtagsTooLong {
                        chars,
                        max: MAX_CAPTION_CHARS,
                    }]);
                }
                Ok(text)
            }
            (caption, hashtags, alt_text) => Err([caption.err(), hashtags.err(), alt_text.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }

    /// The caption as Instagram receives it: the text, a blank line, then the hashtags.
    pub fn instagram_caption(&self) -> String {
        if self.hashtags.is_empty() {
            return self.caption.as_ref().to_owned();
        }
        let tags: Vec<String> = self.hashtags.iter().map(ToString::to_string).collect();
        format!("{}\n\n{}", self.caption.as_ref(), tags.join(" "))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(caption: &str, hashtags: &[&str], alt_text: &str) -> RawPostText {
        RawPostText {
            caption: caption.into(),
            hashtags: hashtags.iter().map(|t| t.to_string()).collect(),
            alt_text: alt_text.into(),
        }
    }

    fn check(input: RawPostText, max_hashtags: usize, expected: Result<&str, Vec<ContentError>>) {
        let parsed = PostText::parse(&input, max_hashtags).map(|text| text.instagram_caption());
        assert_eq!(
            parsed.as_deref().map_err(Clone::clone),
            expected,
            "{input:?}"
        );
    }

    #[test]
    fn accepts_texts_within_the_limits() {
        check(
            raw(" Hello ", &["#Cafe", "latte"], "A cup"),
            5,
            Ok("Hello\n\n#Cafe #latte"),
        );
        check(
            raw("こんにちは", &["カフェ", "秋_メニュー"], "写真"),
            5,
            Ok("こんにちは\n\n#カフェ #秋_メニュー"),
        );
        check(raw("No tags", &[], "x"), 0, Ok("No tags"));
        let longest = "あ".repeat(MAX_CAPTION_CHARS);
        check(raw(&longest, &[], "x"), 5, Ok(&longest));
    }

    #[test]
    fn reports_every_broken_limit() {
        check(
            raw("", &["a", "b", "c"], ""),
            2,
            Err(vec![
                ContentError::EmptyCaption,
                ContentError::TooManyHashtags { count: 3, max: 2 },
                ContentError::EmptyAltText,
            ]),
        );
        check(
            raw(&"x".repeat(2_201), &[], &"y".repeat(1_001)),
            5,
            Err(vec![
                ContentError::CaptionTooLong {
                    chars: 2_201,
                    max: 2_200,
                },
                ContentError::AltTextTooLong {
                    chars: 1_001,
                    max: 1_000,
                },
            ]),
        );
        // The hashtags count against the caption's limit: 2,190 + "\n\n" + "#abcdefghij" = 2,203.
        check(
            raw(&"x".repeat(2_190), &["abcdefghij"], "alt"),
            5,
            Err(vec![ContentError::CaptionWithHashtagsTooLong {
                chars: 2_203,
                max: 2_200,
            }]),
        );
        check(
            raw("c", &["Cafe", "#cafe"], "a"),
            5,
            Err(vec![ContentError::DuplicateHashtag {
                tag: "#cafe".into(),
            }]),
        );
        check(
            raw("c", &["2025"], "a"),
            5,
            Err(vec![ContentError::InvalidHashtag {
                tag: "2025".into(),
                reason: "Instagram ignores hashtags made only of digits",
            }]),
        );
        check(
            raw("c", &["two words"], "a"),
            5,
            Err(vec![ContentError::InvalidHashtag {
                tag: "two words".into(),
                reason: "only letters, digits and _ are allowed",
            }]),
        );
        check(
            raw("c", &["#"], "a"),
            5,
            Err(vec![ContentError::InvalidHashtag {
                tag: "#".into(),
                reason: "it is empty",
            }]),
        );
    }

    #[test]
    fn the_configured_cap_never_exceeds_the_hard_cap() {
        let tags: Vec<String> = (0..31).map(|i| format!("tag{i}")).collect();
        assert_eq!(
            Hashtags::parse(&tags, 100),
            Err(ContentError::TooManyHashtags {
                count: 31,
                max: HARD_MAX_HASHTAGS
            })
        );
    }

    #[test]
    fn raw_text_round_trips() {
        let text = PostText::parse(&raw("Hi", &["#One", "two"], "Alt"), 5).unwrap();
        assert_eq!(text.to_raw(), raw("Hi", &["One", "two"], "Alt"));
    }
}
