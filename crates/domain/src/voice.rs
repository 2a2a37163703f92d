//! An account's voice: its default language, a short description of its tone, the hashtags it
//! always or never uses, the words it avoids and a few of its past captions. [`Voice::parse`]
//! bounds what a person gives (each problem by field path); [`Voice::check`] finds a post's
//! text that breaks the voice, with the same [`ContentError`]s by field as Instagram's rules.
//!
//! Words are matched in any case (both sides lowercased, nothing else normalised) and as whole
//! words: the characters around a match must not be letters, digits or `_`, so `ham` is not
//! found in `Shampoo`. Scripts written without spaces between words (Chinese, Japanese, Thai,
//! and their neighbours in [`unspaced`]) have no such boundary, so a word in them is found
//! wherever it appears.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::content::{
    Caption, ContentError, Field, Hashtag, HashtagError, RawPostText, char_count,
    control_characters, hashtags_in, invisible, is_hashtag_char, tag_key,
};
use crate::language::canonical_language;

/// A tone is a phrase or two ("warm, plain words, no exclamation marks"), not a brief.
pub const MAX_TONE_CHARS: usize = 200;
/// Always-used hashtags; a post holds them within its own cap, so a few at most.
pub const MAX_ALWAYS_HASHTAGS: usize = 10;
pub const MAX_NEVER_HASHTAGS: usize = 50;
pub const MAX_AVOID_WORDS: usize = 50;
/// One word or a short phrase.
pub const MAX_AVOID_WORD_CHARS: usize = 50;
/// A few past captions show the style; each is within Instagram's caption limit.
pub const MAX_SAMPLE_CAPTIONS: usize = 3;

/// The voice as stored in D1 and as `GET/PUT /api/v1/accounts/{id}/voice` carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RawVoice {
    pub language: Option<String>,
    pub tone: String,
    pub always_hashtags: Vec<String>,
    pub never_hashtags: Vec<String>,
    pub avoid_words: Vec<String>,
    pub sample_captions: Vec<String>,
}

/// Which list of a voice a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    AlwaysHashtags,
    NeverHashtags,
    AvoidWords,
    SampleCaptions,
}

impl List {
    fn path(self) -> &'static str {
        match self {
            List::AlwaysHashtags => "alwaysHashtags",
            List::NeverHashtags => "neverHashtags",
            List::AvoidWords => "avoidWords",
            List::SampleCaptions => "sampleCaptions",
        }
    }
}

/// Why a voice cannot be kept; [`VoiceError::path`] names the field as [`RawVoice`]'s JSON
/// spells it (`language`, `avoidWords[2]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoiceError {
    #[error("{0:?} is not a language tag such as \"en\", \"ja-JP\" or \"zh-Hant-TW\"")]
    Language(String),
    #[error("tone has {chars} characters, at most {max} are allowed")]
    ToneTooLong { chars: usize, max: usize },
    #[error("tone may not contain control or invisible characters")]
    ToneCharacters,
    #[error("{count} given, at most {max} are allowed")]
    TooMany {
        list: List,
        count: usize,
        max: usize,
    },
    #[error("hashtag {tag:?} is not valid: {reason}")]
    InvalidHashtag {
        list: List,
        index: usize,
        tag: String,
        reason: HashtagError,
    },
    #[error("{item:?} appears more than once")]
    Duplicate {
        list: List,
        index: usize,
        item: String,
    },
    #[error("#{tag} is also in neverHashtags")]
    AlwaysAndNever { index: usize, tag: String },
    #[error("a word to avoid is empty")]
    EmptyWord { index: usize },
    #[error("{word:?} has {chars} characters, at most {max} are allowed")]
    WordTooLong {
        index: usize,
        word: String,
        chars: usize,
        max: usize,
    },
    #[error("a word to avoid needs a letter or a digit and no control or invisible characters")]
    NotAWord { index: usize },
    #[error("{}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    SampleCaption {
        index: usize,
        errors: Vec<ContentError>,
    },
}

impl VoiceError {
    pub fn path(&self) -> String {
        let item = |list: List, index: &usize| format!("{}[{index}]", list.path());
        match self {
            VoiceError::Language(_) => "language".to_owned(),
            VoiceError::ToneTooLong { .. } | VoiceError::ToneCharacters => "tone".to_owned(),
            VoiceError::TooMany { list, .. } => list.path().to_owned(),
            VoiceError::InvalidHashtag { list, index, .. }
            | VoiceError::Duplicate { list, index, .. } => item(*list, index),
            VoiceError::AlwaysAndNever { index, .. } => item(List::AlwaysHashtags, index),
            VoiceError::EmptyWord { index }
            | VoiceError::WordTooLong { index, .. }
            | VoiceError::NotAWord { index } => item(List::AvoidWords, index),
            VoiceError::SampleCaption { index, .. } => item(List::SampleCaptions, index),
        }
    }
}

/// A word or phrase to avoid, as given and lowercased for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AvoidWord {
    given: String,
    lower: String,
}

/// A voice within every bound; the empty voice changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Voice {
    language: Option<String>,
    tone: Option<String>,
    always: Vec<Hashtag>,
    never: Vec<Hashtag>,
    avoid: Vec<AvoidWord>,
    samples: Vec<Caption>,
}

impl Voice {
    /// Checks every field and reports every problem, each with its path. Texts are trimmed,
    /// the language put in canonical case, hashtags stored without their sign.
    pub fn parse(raw: &RawVoice) -> Result<Self, Vec<VoiceError>> {
        let mut errors = Vec::new();
        let language = match raw.language.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(tag) => {
                let canonical = canonical_language(tag);
                if canonical.is_none() {
                    errors.push(VoiceError::Language(tag.to_owned()));
                }
                canonical
            }
        };
        let tone = raw.tone.trim();
        let chars = char_count(tone);
        if chars > MAX_TONE_CHARS {
            errors.push(VoiceError::ToneTooLong {
                chars,
                max: MAX_TONE_CHARS,
            });
        }
        if !control_characters(&raw.tone, &[]).is_empty() || !invisible::refused(tone).is_empty() {
            errors.push(VoiceError::ToneCharacters);
        }
        let always = hashtag_list(
            &raw.always_hashtags,
            List::AlwaysHashtags,
            MAX_ALWAYS_HASHTAGS,
            &mut errors,
        );
        let never = hashtag_list(
            &raw.never_hashtags,
            List::NeverHashtags,
            MAX_NEVER_HASHTAGS,
            &mut errors,
        );
        for (index, tag) in &always {
            if never
                .iter()
                .any(|(_, n)| tag_key(n.as_ref()) == tag_key(tag.as_ref()))
            {
                errors.push(VoiceError::AlwaysAndNever {
                    index: *index,
                    tag: tag.as_ref().to_owned(),
                });
            }
        }
        let avoid = avoid_words(&raw.avoid_words, &mut errors);
        if raw.sample_captions.len() > MAX_SAMPLE_CAPTIONS {
            errors.push(VoiceError::TooMany {
                list: List::SampleCaptions,
                count: raw.sample_captions.len(),
                max: MAX_SAMPLE_CAPTIONS,
            });
        }
        let mut samples = Vec::new();
        for (index, text) in raw.sample_captions.iter().enumerate() {
            match Caption::parse(text) {
                Ok(caption) => samples.push(caption),
                Err(errors_of_sample) => errors.push(VoiceError::SampleCaption {
                    index,
                    errors: errors_of_sample,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            language,
            tone: (!tone.is_empty()).then(|| tone.to_owned()),
            always: always.into_iter().map(|(_, tag)| tag).collect(),
            never: never.into_iter().map(|(_, tag)| tag).collect(),
            avoid,
            samples,
        })
    }

    pub fn to_raw(&self) -> RawVoice {
        let tags = |list: &[Hashtag]| list.iter().map(|t| t.as_ref().to_owned()).collect();
        RawVoice {
            language: self.language.clone(),
            tone: self.tone.clone().unwrap_or_default(),
            always_hashtags: tags(&self.always),
            never_hashtags: tags(&self.never),
            avoid_words: self.avoid.iter().map(|w| w.given.clone()).collect(),
            sample_captions: self.samples.iter().map(|c| c.as_ref().to_owned()).collect(),
        }
    }

    /// The account's language, used when a request names none.
    pub fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }

    pub fn tone(&self) -> Option<&str> {
        self.tone.as_deref()
    }

    pub fn always_hashtags(&self) -> &[Hashtag] {
        &self.always
    }

    pub fn never_hashtags(&self) -> &[Hashtag] {
        &self.never
    }

    pub fn avoid_words(&self) -> impl Iterator<Item = &str> {
        self.avoid.iter().map(|w| w.given.as_str())
    }

    pub fn sample_captions(&self) -> &[Caption] {
        &self.samples
    }

    /// Whether the generation prompt has anything of this voice to say.
    pub fn guides_writing(&self) -> bool {
        self.tone.is_some()
            || !self.always.is_empty()
            || !self.never.is_empty()
            || !self.avoid.is_empty()
            || !self.samples.is_empty()
    }

    /// Where `text` breaks this voice: a word to avoid in the caption, a hashtag or the alt
    /// text, and a never-used hashtag in the list or written in the caption. Each word and
    /// hashtag is named once per field. Always-used hashtags that are missing are not a
    /// problem here: a person may leave one out; generation adds them
    /// ([`Voice::with_always_hashtags`]).
    pub fn check(&self, text: &RawPostText) -> Vec<ContentError> {
        let mut errors = Vec::new();
        let words = |field: Field, text: &str, errors: &mut Vec<ContentError>| {
            for word in &self.avoid {
                if !matches(text, &word.lower).is_empty() {
                    errors.push(ContentError::AvoidedWord {
                        field,
                        word: word.given.clone(),
                    });
                }
            }
        };
        words(Field::Caption, &text.caption, &mut errors);
        let mut caption_tags: Vec<String> = hashtags_in(&text.caption)
            .into_iter()
            .map(tag_key)
            .collect();
        caption_tags.dedup();
        for tag in &self.never {
            if caption_tags.contains(&tag_key(tag.as_ref())) {
                errors.push(ContentError::NeverUsedHashtag {
                    field: Field::Caption,
                    tag: tag.as_ref().to_owned(),
                });
            }
        }
        for (index, given) in text.hashtags.iter().enumerate() {
            let key = tag_key(given);
            if let Some(tag) = self.never.iter().find(|t| tag_key(t.as_ref()) == key) {
                errors.push(ContentError::NeverUsedHashtag {
                    field: Field::Hashtag(index),
                    tag: tag.as_ref().to_owned(),
                });
            }
            words(Field::Hashtag(index), given, &mut errors);
        }
        words(Field::AltText, &text.alt_text, &mut errors);
        errors
    }

    /// Whether a hashtag may be used: not a never-used one, and no word to avoid in it.
    pub fn allows_hashtag(&self, tag: &str) -> bool {
        let key = tag_key(tag);
        !self.never.iter().any(|t| tag_key(t.as_ref()) == key)
            && self.avoid.iter().all(|w| matches(tag, &w.lower).is_empty())
    }

    /// `hashtags` with every always-used hashtag it lacks, keeping its length where it can:
    /// a missing one takes the place of the last tag that is not always-used, or is added
    /// while the list is shorter than `max`. Compared in any case and without the sign.
    pub fn with_always_hashtags(&self, hashtags: &[String], max: usize) -> Vec<String> {
        let is_always = |tag: &str| {
            let key = tag_key(tag);
            self.always.iter().any(|a| tag_key(a.as_ref()) == key)
        };
        let mut tags = hashtags.to_vec();
        for always in &self.always {
            let key = tag_key(always.as_ref());
            if tags.iter().any(|t| tag_key(t) == key) {
                continue;
            }
            if tags.len() < max {
                tags.push(always.as_ref().to_owned());
            } else if let Some(place) = tags.iter().rposition(|t| !is_always(t)) {
                tags[place] = always.as_ref().to_owned();
            }
        }
        tags
    }

    /// `text` without the words it avoids (the offline writer's way to keep a brief's words
    /// out of a post); spaces left doubled by a removal are made single.
    pub fn without_avoided_words(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for word in &self.avoid {
            while let Some(range) = matches(&text, &word.lower).into_iter().next() {
                let before_space = text[..range.start].ends_with(' ');
                let after_space = text[range.end..].starts_with(' ');
                let end = if before_space && after_space {
                    range.end + 1
                } else {
                    range.end
                };
                text.replace_range(range.start..end, "");
            }
        }
        text
    }
}

fn hashtag_list(
    given: &[String],
    list: List,
    max: usize,
    errors: &mut Vec<VoiceError>,
) -> Vec<(usize, Hashtag)> {
    if given.len() > max {
        errors.push(VoiceError::TooMany {
            list,
            count: given.len(),
            max,
        });
    }
    let mut tags: Vec<(usize, Hashtag)> = Vec::new();
    for (index, text) in given.iter().enumerate() {
        match Hashtag::parse(text) {
            Err(reason) => errors.push(VoiceError::InvalidHashtag {
                list,
                index,
                tag: text.clone(),
                reason,
            }),
            Ok(tag)
                if tags
                    .iter()
                    .any(|(_, seen)| tag_key(seen.as_ref()) == tag_key(tag.as_ref())) =>
            {
                errors.push(VoiceError::Duplicate {
                    list,
                    index,
                    item: tag.to_string(),
                });
            }
            Ok(tag) => tags.push((index, tag)),
        }
    }
    tags
}

fn avoid_words(given: &[String], errors: &mut Vec<VoiceError>) -> Vec<AvoidWord> {
    if given.len() > MAX_AVOID_WORDS {
        errors.push(VoiceError::TooMany {
            list: List::AvoidWords,
            count: given.len(),
            max: MAX_AVOID_WORDS,
        });
    }
    let mut words: Vec<AvoidWord> = Vec::new();
    for (index, text) in given.iter().enumerate() {
        let word = text.trim();
        let chars = char_count(word);
        if chars == 0 {
            errors.push(VoiceError::EmptyWord { index });
        } else if chars > MAX_AVOID_WORD_CHARS {
            errors.push(VoiceError::WordTooLong {
                index,
                word: word.chars().take(MAX_AVOID_WORD_CHARS).collect(),
                chars,
                max: MAX_AVOID_WORD_CHARS,
            });
        } else if !control_characters(text, &[]).is_empty()
            || !invisible::refused(word).is_empty()
            || !word.chars().any(is_hashtag_char)
        {
            errors.push(VoiceError::NotAWord { index });
        } else {
            let lower = word.to_lowercase();
            if words.iter().any(|w| w.lower == lower) {
                errors.push(VoiceError::Duplicate {
                    list: List::AvoidWords,
                    index,
                    item: word.to_owned(),
                });
            } else {
                words.push(AvoidWord {
                    given: word.to_owned(),
                    lower,
                });
            }
        }
    }
    words
}

/// Whether a script is written without spaces between words, so a word in it has no
/// boundary to check: Han, Hiragana and Katakana, Thai, Lao, Myanmar, Khmer.
pub fn unspaced(c: char) -> bool {
    matches!(c,
        '\u{0E00}'..='\u{0EFF}'
        | '\u{1000}'..='\u{109F}'
        | '\u{1780}'..='\u{17FF}'
        | '\u{3040}'..='\u{30FF}'
        | '\u{31F0}'..='\u{31FF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{FF66}'..='\u{FF9F}'
        | '\u{20000}'..='\u{3FFFF}')
}

/// The byte ranges of `text` where `lower` (already lowercased) appears as a whole word in
/// any case. `text` is lowercased a character at a time, so each match maps back to whole
/// characters of `text`; a match that would split one character's lowercase is none.
fn matches(text: &str, lower: &str) -> Vec<Range<usize>> {
    let (Some(first), Some(last)) = (lower.chars().next(), lower.chars().next_back()) else {
        return Vec::new();
    };
    // Each character's start in the lowercased text beside its start in `text`.
    let mut lowered = String::with_capacity(text.len());
    let mut starts: Vec<(usize, usize)> = Vec::with_capacity(text.len());
    for (at, c) in text.char_indices() {
        starts.push((lowered.len(), at));
        lowered.extend(c.to_lowercase());
    }
    starts.push((lowered.len(), text.len()));
    let original = |lowered_at: usize| {
        starts
            .binary_search_by_key(&lowered_at, |&(l, _)| l)
            .ok()
            .map(|i| starts[i].1)
    };
    let needs_edge = |c: char| is_hashtag_char(c) && !unspaced(c);
    let mut found = Vec::new();
    for (at, _) in lowered.match_indices(lower) {
        let end = at + lower.len();
        let before = lowered[..at].chars().next_back();
        let after = lowered[end..].chars().next();
        let open = !needs_edge(first) || !before.is_some_and(is_hashtag_char);
        let close = !needs_edge(last) || !after.is_some_and(is_hashtag_char);
        if open
            && close
            && let (Some(start), Some(stop)) = (original(at), original(end))
        {
            found.push(start..stop);
        }
    }
    found
}

#[cfg(test)]
mod tests;
