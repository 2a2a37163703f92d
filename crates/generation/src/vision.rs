//! The vision chain: the caption, the hashtags and one alt text per photo, written by a
//! vision model from the photos themselves and the brief, in the account's voice. A sans-IO
//! state machine like [`crate::GenerationChain`]: the shell sends [`VisionChain::prompt`]
//! with the photos, hands the answer to [`VisionChain::accept`], and on
//! [`ChainStep::Repair`] sends the new prompt.
//!
//! The prompt's messages are text only; the photos are put into the first user message by
//! [`messages_with_photos`] as the request body is built, so a trace of the messages never
//! holds their bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::content::{
    AltText, Field, MAX_ALT_TEXT_CHARS, MAX_CAPTION_CHARS, PostText, RawPostText,
};
use domain::voice::Voice;
use serde_json::{Map, Value, json};

use crate::answer::{check_object, extract_object};
use crate::chain::{
    ChainStep, ChatMessage, ChatPrompt, Conversation, Role, hashtag_rule, output_schema_with,
    user_message, voice_rules,
};
use crate::request::{GenerateRequest, kind};
use crate::template_writer;

/// The most photo bytes one request carries (before base64, which adds a third): a carousel
/// of ten fitted JPEGs fits, and the request stays well under what vision models take
/// (OpenAI: 50 MB a request; Workers AI's binding input is of the same order).
pub const MAX_PHOTO_BYTES: usize = 8 * 1024 * 1024;

/// A description of the photos: the post's text (its alt text the first photo's) and one
/// alt text per photo, in the order they were sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub text: PostText,
    pub alt_texts: Vec<String>,
}

/// What the shell does next after an answer.
pub type VisionStep = ChainStep<Description>;

/// Why photos cannot be sent to a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotosError {
    #[error("there are no photos to describe")]
    None,
    #[error(
        "the photos have {total} bytes together, more than the {MAX_PHOTO_BYTES} a request to the vision model carries"
    )]
    TooLarge { total: usize },
}

/// Checks the photos' sizes before any is read in full.
pub fn check_photo_sizes(sizes: &[usize]) -> Result<(), PhotosError> {
    let total: usize = sizes.iter().sum();
    match sizes.len() {
        0 => Err(PhotosError::None),
        _ if total > MAX_PHOTO_BYTES => Err(PhotosError::TooLarge { total }),
        _ => Ok(()),
    }
}

/// A JPEG as a `data:` URL, the form vision models take inline.
pub fn data_url(jpeg: &[u8]) -> String {
    format!("data:image/jpeg;base64,{}", STANDARD.encode(jpeg))
}

/// The messages as Chat Completions takes them, the first user message's content made of its
/// text and then the photos (`data_urls`) in order as `image_url` parts.
pub fn messages_with_photos(messages: &[ChatMessage], data_urls: &[String]) -> Value {
    let first_user = messages.iter().position(|m| m.role == Role::User);
    let list: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(index, message)| {
            if Some(index) != first_user {
                return json!(message);
            }
            let mut parts = vec![json!({ "type": "text", "text": message.content })];
            parts.extend(
                data_urls
                    .iter()
                    .map(|url| json!({ "type": "image_url", "image_url": { "url": url } })),
            );
            json!({ "role": message.role, "content": parts })
        })
        .collect();
    Value::Array(list)
}

/// The conversation about one set of photos, and how many answers it has seen.
#[derive(Debug, Clone)]
pub struct VisionChain {
    conversation: Conversation,
    photos: usize,
    max_hashtags: usize,
    expected_hashtags: usize,
    request: GenerateRequest,
    voice: Voice,
}

impl VisionChain {
    /// `photos` is how many photos go with the prompt; the other arguments as for
    /// [`crate::GenerationChain::new`]. The request's image prompt is left out: the photos
    /// show what is in them.
    pub fn new(
        request: &GenerateRequest,
        photos: usize,
        max_hashtags: usize,
        voice: &Voice,
    ) -> Self {
        let expected_hashtags = request
            .hashtag_count
            .max(voice.always_hashtags().len())
            .min(max_hashtags);
        let request = GenerateRequest {
            image_prompt: None,
            ..request.clone()
        };
        Self {
            conversation: Conversation::new(
                system_message(&request.language, expected_hashtags, photos, voice),
                format!("{}\n{}", user_message(&request), photos_line(photos)),
                output_schema(expected_hashtags, photos),
                "caption, hashtags and altTexts",
            ),
            photos,
            max_hashtags,
            expected_hashtags,
            request,
            voice: voice.clone(),
        }
    }

    /// The system and user messages (the photos go with the user message); after an
    /// unusable answer, also that answer and a message listing its problems.
    pub fn prompt(&self) -> ChatPrompt {
        self.conversation.prompt()
    }

    /// Parses the model's answer and says what to do next, as
    /// [`crate::GenerationChain::accept`] does.
    pub fn accept(&mut self, answer: &str) -> VisionStep {
        let parsed = self.parse(answer);
        self.conversation.judge(answer, parsed)
    }

    /// The offline template writer's answer: the caption and hashtags from the brief, and
    /// alt texts that say no model described the photos.
    pub fn offline_answer(&self) -> String {
        let answer =
            template_writer::write_answer(&self.request, &self.voice, self.expected_hashtags);
        let mut object: Map<String, Value> = serde_json::from_str(&answer).unwrap_or_default();
        object.remove("altText");
        let japanese = self.request.language.to_ascii_lowercase().starts_with("ja");
        let alt_texts: Vec<String> = (1..=self.photos)
            .map(|n| {
                let text = if japanese {
                    format!("写真 {n}/{}(モデルによる説明はありません)", self.photos)
                } else {
                    format!("Photo {n} of {}, not described by a model", self.photos)
                };
                self.voice.without_avoided_words(&text)
            })
            .collect();
        object.insert("altTexts".to_owned(), json!(alt_texts));
        Value::Object(object).to_string()
    }

    /// How many answers have been given to [`VisionChain::accept`].
    pub fn attempts(&self) -> u32 {
        self.conversation.attempts()
    }

    /// Every rule of a text answer for the caption and hashtags, and for each alt text the
    /// alt text rules and the voice; exactly one alt text per photo.
    fn parse(&self, answer: &str) -> Result<Description, Vec<String>> {
        let mut object = extract_object(answer).map_err(|problem| vec![problem.to_string()])?;
        let mut problems = Vec::new();
        let alt_texts = self.alt_texts(&object, &mut problems);
        // The caption and hashtags are checked as a text answer's, its alt text standing in
        // as the first photo's; what is said of it is said of each photo below.
        object.insert("altText".to_owned(), json!("-"));
        let text = match check_object(
            &object,
            self.max_hashtags,
            self.expected_hashtags,
            &self.voice,
        ) {
            Ok(text) => Some(text),
            Err(found) => {
                problems.extend(found.into_iter().filter(|p| !p.starts_with("alt text")));
                None
            }
        };
        match (text, alt_texts) {
            (Some(text), Some(alt_texts)) if problems.is_empty() => {
                let raw = text.to_raw();
                let first = alt_texts.first().cloned().unwrap_or_default();
                let text = PostText::parse(
                    &RawPostText {
                        alt_text: first,
                        ..raw
                    },
                    self.max_hashtags,
                )
                .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
                Ok(Description { text, alt_texts })
            }
            _ => Err(problems),
        }
    }

    /// The alt texts, one per photo, each checked; `None` when any is unusable.
    fn alt_texts(
        &self,
        object: &Map<String, Value>,
        problems: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        let items = match object.get("altTexts") {
            Some(Value::Array(items)) => items,
            None => {
                problems.push("missing field altTexts".to_owned());
                return None;
            }
            Some(other) => {
                problems.push(format!(
                    "altTexts must be an array of strings, got {}",
                    kind(other)
                ));
                return None;
            }
        };
        let before = problems.len();
        if items.len() != self.photos {
            problems.push(count_problem(items.len(), self.photos));
        }
        let mut texts = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let Value::String(text) = item else {
                problems.push(format!(
                    "altTexts[{index}] must be a string, got {}",
                    kind(item)
                ));
                continue;
            };
            let raw = RawPostText {
                alt_text: text.clone(),
                ..RawPostText::default()
            };
            let parsed = AltText::parse(text);
            let mut errors = parsed.as_ref().err().cloned().unwrap_or_default();
            errors.extend(
                self.voice
                    .check(&raw)
                    .into_iter()
                    .filter(|e| e.field() == Field::AltText),
            );
            match parsed {
                Ok(alt) if errors.is_empty() => texts.push(alt.as_ref().to_owned()),
                _ => problems.extend(
                    errors
                        .iter()
                        .map(|error| format!("altTexts[{index}]: {error}")),
                ),
            }
        }
        (problems.len() == before).then_some(texts)
    }
}

fn count_problem(given: usize, photos: usize) -> String {
    let given = match given {
        1 => "1 alt text given".to_owned(),
        n => format!("{n} alt texts given"),
    };
    match photos {
        1 => format!("{given}, but 1 photo was sent: exactly 1 is required"),
        n => format!(
            "{given}, but {n} photos were sent: exactly {n} are required, one per photo in order"
        ),
    }
}

fn photos_line(photos: usize) -> String {
    match photos {
        1 => "Photos: 1, attached.".to_owned(),
        n => format!("Photos: {n}, attached in order."),
    }
}

fn system_message(language: &str, hashtags: usize, photos: usize, voice: &Voice) -> String {
    let alt_rule = match photos {
        1 => "exactly 1 string, the alt text of the photo".to_owned(),
        n => format!("exactly {n} strings, the alt text of each photo in the order they were sent"),
    };
    format!(
        "You write Instagram posts from the photos you are shown. From what is in the photos and \
the brief you are given, write the caption, the hashtags and the alt text of every photo.

Answer with one JSON object and nothing else. It has exactly these fields:
- \"caption\": a string, the caption. Do not put any hashtags in it.
- \"hashtags\": an array of strings, each one hashtag without the leading '#', made of \
letters, digits and _ only.
- \"altTexts\": an array of {alt_rule}: what the photo shows, for people who use screen readers.

Limits:
- The caption and the hashtags together have at most {MAX_CAPTION_CHARS} characters.
- {}
- Each alt text has at most {MAX_ALT_TEXT_CHARS} characters.
- Describe only what the photos show; do not invent people, places or text that are not there.

Write the caption, the hashtags and the alt texts in the language whose BCP 47 tag is \
\"{language}\".{}",
        hashtag_rule(hashtags),
        voice_rules(voice)
    )
}

fn output_schema(hashtags: usize, photos: usize) -> Value {
    output_schema_with(
        hashtags,
        "altTexts",
        json!({
            "type": "array",
            "items": { "type": "string" },
            "description": format!("Exactly {photos} alt texts, one per photo in order, for screen-reader users")
        }),
    )
}

#[cfg(test)]
mod tests;
