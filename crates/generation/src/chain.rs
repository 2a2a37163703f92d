//! The generation chain as a sans-IO state machine: prompt template, then the model (called by
//! the shell), then the output parser, with one repair round when the answer is unusable.
//!
//! The shell loops: send [`GenerationChain::prompt`] to the model, hand the answer to
//! [`GenerationChain::accept`], and on [`ChainStep::Repair`] send the new prompt.

use domain::content::{MAX_ALT_TEXT_CHARS, MAX_CAPTION_CHARS, PostText};
use domain::voice::Voice;
use serde::Serialize;
use serde_json::{Value, json};

pub use crate::answer::{parse_answer, parse_answer_in_voice};
use crate::request::{GenerateRequest, Tone};
use crate::template_writer;
use observe::remote::truncate;

/// How much of each sample caption the prompt quotes: enough to show a style, and a prompt
/// stays short.
pub const SAMPLE_PROMPT_CHARS: usize = 300;

/// One first answer and one repaired answer; a model that fails twice is unlikely to do
/// better a third time, and each round costs a model call.
pub const MAX_ATTEMPTS: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub(crate) fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// What to send to a chat model: the conversation and the JSON Schema its answer must follow.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatPrompt {
    pub messages: Vec<ChatMessage>,
    pub output_schema: Value,
}

/// What the shell does next after an answer: `T` is what a usable answer gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainStep<T = PostText> {
    Done(T),
    /// The answer was unusable: call the chain's `prompt` again and send it.
    Repair,
    Failed(ChainError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("the model's answer was not usable after {attempts} attempts: {}", .problems.join("; "))]
    UnusableAnswer {
        attempts: u32,
        problems: Vec<String>,
    },
}

/// A chain's conversation: its system and user messages and answer schema, how many answers
/// it has seen, and the repair round.
#[derive(Debug, Clone)]
pub(crate) struct Conversation {
    system: String,
    user: String,
    output_schema: Value,
    /// The answer's fields, as the repair message names them ("caption, hashtags and altText").
    fields: &'static str,
    attempts: u32,
    /// The last unusable answer and its problems, shown to the model in the repair round.
    repair: Option<(String, Vec<String>)>,
}

impl Conversation {
    pub(crate) fn new(
        system: String,
        user: String,
        output_schema: Value,
        fields: &'static str,
    ) -> Self {
        Self {
            system,
            user,
            output_schema,
            fields,
            attempts: 0,
            repair: None,
        }
    }

    /// The system and user messages; after an unusable answer, also that answer and a
    /// message listing its problems.
    pub(crate) fn prompt(&self) -> ChatPrompt {
        let mut messages = vec![
            ChatMessage::new(Role::System, self.system.as_str()),
            ChatMessage::new(Role::User, self.user.as_str()),
        ];
        if let Some((answer, problems)) = &self.repair {
            messages.push(ChatMessage::new(Role::Assistant, answer.as_str()));
            messages.push(ChatMessage::new(
                Role::User,
                repair_message(problems, self.fields),
            ));
        }
        ChatPrompt {
            messages,
            output_schema: self.output_schema.clone(),
        }
    }

    /// Counts `answer`, parsed as `parsed`, and says what to do next: one repair round, then
    /// failure with the last problems.
    pub(crate) fn judge<T>(
        &mut self,
        answer: &str,
        parsed: Result<T, Vec<String>>,
    ) -> ChainStep<T> {
        self.attempts += 1;
        match parsed {
            Ok(done) => {
                self.repair = None;
                ChainStep::Done(done)
            }
            Err(problems) if self.attempts < MAX_ATTEMPTS => {
                self.repair = Some((answer.to_owned(), problems));
                ChainStep::Repair
            }
            Err(problems) => ChainStep::Failed(ChainError::UnusableAnswer {
                attempts: self.attempts,
                problems,
            }),
        }
    }

    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// The conversation for one request, and how many answers it has seen.
#[derive(Debug, Clone)]
pub struct GenerationChain {
    conversation: Conversation,
    max_hashtags: usize,
    expected_hashtags: usize,
    request: GenerateRequest,
    voice: Voice,
}

impl GenerationChain {
    /// `max_hashtags` is the configured cap; a request asking for more is held to the cap.
    /// `voice` is the account's: its always-used hashtags are among the post's (so the post
    /// has at least as many tags as they are, within the cap), its tone, never-used hashtags,
    /// words to avoid and sample captions go into the prompt, and answers are checked
    /// against it.
    pub fn new(request: &GenerateRequest, max_hashtags: usize, voice: &Voice) -> Self {
        let expected_hashtags = request
            .hashtag_count
            .max(voice.always_hashtags().len())
            .min(max_hashtags);
        Self {
            conversation: Conversation::new(
                system_message(&request.language, expected_hashtags, voice),
                user_message(request),
                output_schema(expected_hashtags),
                "caption, hashtags and altText",
            ),
            max_hashtags,
            expected_hashtags,
            request: request.clone(),
            voice: voice.clone(),
        }
    }

    /// The system and user messages; after an unusable answer, also that answer and a
    /// message listing its problems.
    pub fn prompt(&self) -> ChatPrompt {
        self.conversation.prompt()
    }

    /// Parses the model's answer and says what to do next. Calling it again after `Done` or
    /// `Failed` is a shell bug; it keeps counting attempts and never asks for another repair.
    pub fn accept(&mut self, answer: &str) -> ChainStep {
        let parsed = parse_answer_in_voice(
            answer,
            self.max_hashtags,
            self.expected_hashtags,
            &self.voice,
        );
        self.conversation.judge(answer, parsed)
    }

    /// The offline template writer's answer to this chain's request, in its voice, as a
    /// model's would be given to [`GenerationChain::accept`].
    pub fn offline_answer(&self) -> String {
        template_writer::write_answer(&self.request, &self.voice, self.expected_hashtags)
    }

    /// How many answers have been given to [`GenerationChain::accept`].
    pub fn attempts(&self) -> u32 {
        self.conversation.attempts()
    }
}

// The prompt template. Everything the model is told lives in the functions below.

fn system_message(language: &str, hashtags: usize, voice: &Voice) -> String {
    let hashtag_rule = hashtag_rule(hashtags);
    format!(
        "You write Instagram posts. From the brief you are given, write the caption, the \
hashtags and the alt text of the post's image.

Answer with one JSON object and nothing else. It has exactly these fields:
- \"caption\": a string, the caption. Do not put any hashtags in it.
- \"hashtags\": an array of strings, each one hashtag without the leading '#', made of \
letters, digits and _ only.
- \"altText\": a string describing the image for people who use screen readers.

Limits:
- The caption and the hashtags together have at most {MAX_CAPTION_CHARS} characters.
- {hashtag_rule}
- The alt text has at most {MAX_ALT_TEXT_CHARS} characters.

Write the caption, the hashtags and the alt text in the language whose BCP 47 tag is \
\"{language}\".{}",
        voice_rules(voice)
    )
}

pub(crate) fn hashtag_rule(hashtags: usize) -> String {
    match hashtags {
        0 => "No hashtags: \"hashtags\" is an empty array.".to_owned(),
        1 => "Exactly 1 hashtag.".to_owned(),
        n => format!("Exactly {n} hashtags, all different."),
    }
}

/// The account's voice, when it has one: short lines, each a rule the answer is checked by
/// or a hint of style.
pub(crate) fn voice_rules(voice: &Voice) -> String {
    if !voice.guides_writing() {
        return String::new();
    }
    let tags = |list: &[domain::content::Hashtag]| {
        list.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut rules = String::from("\n\nThe account's voice:");
    if let Some(tone) = voice.tone() {
        rules.push_str(&format!("\n- Its tone: {tone}"));
    }
    if !voice.always_hashtags().is_empty() {
        rules.push_str(&format!(
            "\n- These hashtags must be among the hashtags: {}.",
            tags(voice.always_hashtags())
        ));
    }
    if !voice.never_hashtags().is_empty() {
        rules.push_str(&format!(
            "\n- These hashtags must not appear, neither in the hashtags nor in the caption: {}.",
            tags(voice.never_hashtags())
        ));
    }
    let words: Vec<String> = voice.avoid_words().map(|w| format!("\"{w}\"")).collect();
    if !words.is_empty() {
        rules.push_str(&format!(
            "\n- Never use these words, in any case, in the caption, the hashtags or the alt text: {}.",
            words.join(", ")
        ));
    }
    if !voice.sample_captions().is_empty() {
        rules.push_str("\n- Past captions of the account, for their style only:");
        for sample in voice.sample_captions() {
            let sample = truncate(sample.as_ref(), SAMPLE_PROMPT_CHARS).replace('\n', " ");
            rules.push_str(&format!("\n  > {sample}"));
        }
    }
    rules
}

pub(crate) fn user_message(request: &GenerateRequest) -> String {
    let tone = request.tone.as_str();
    let tone_hint = tone_hint(request.tone);
    let keywords = match request.keywords.as_slice() {
        [] => "none".to_owned(),
        keywords => keywords.join(", "),
    };
    let mut message = format!(
        "Brief: {}\nTone: {tone} ({tone_hint})\nKeywords to work in: {keywords}",
        request.brief
    );
    if let Some(image) = &request.image_prompt {
        message.push_str(&format!("\nThe image shows: {image}"));
    }
    message
}

fn tone_hint(tone: Tone) -> &'static str {
    match tone {
        Tone::Friendly => "warm and approachable, like talking to a friend",
        Tone::Professional => "clear, polite and businesslike",
        Tone::Playful => "light-hearted and fun; emoji are welcome",
        Tone::Informative => "factual and helpful; teach the reader something",
        Tone::Inspirational => "uplifting and motivating",
    }
}

fn repair_message(problems: &[String], fields: &str) -> String {
    let list: Vec<String> = problems.iter().map(|p| format!("- {p}")).collect();
    format!(
        "Your answer could not be used:\n{}\n\nReply with the corrected JSON object only, with \
exactly the fields {fields}, and no other text.",
        list.join("\n")
    )
}

/// Limits that depend on the text are left to the descriptions: strict structured outputs
/// reject schemas with length constraints, and the parser checks them anyway.
fn output_schema(hashtags: usize) -> Value {
    output_schema_with(
        hashtags,
        "altText",
        json!({
            "type": "string",
            "description": "A description of the image for screen-reader users"
        }),
    )
}

/// The answer's schema: the caption, `hashtags` hashtags, and the alt text field `alt_field`
/// of schema `alt_schema`.
pub(crate) fn output_schema_with(hashtags: usize, alt_field: &str, alt_schema: Value) -> Value {
    json!({
        "type": "object",
        "properties": {
            "caption": {
                "type": "string",
                "description": "The caption, without hashtags"
            },
            "hashtags": {
                "type": "array",
                "items": { "type": "string" },
                "description": format!("Exactly {hashtags} distinct hashtags, without the leading #")
            },
            alt_field: alt_schema
        },
        "required": ["caption", "hashtags", alt_field],
        "additionalProperties": false
    })
}

#[cfg(test)]
mod tests;
