//! The generation chain as a sans-IO state machine: prompt template, then the model (called by
//! the shell), then the output parser, with one repair round when the answer is unusable.
//!
//! The shell loops: send [`GenerationChain::prompt`] to the model, hand the answer to
//! [`GenerationChain::accept`], and on [`ChainStep::Repair`] send the new prompt.

use domain::content::{
    ContentError, Field, MAX_ALT_TEXT_CHARS, MAX_CAPTION_CHARS, PostText, RawPostText, hashtags_in,
};
use domain::voice::Voice;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::model::truncate;
use crate::request::{GenerateRequest, Tone, kind};
use crate::template_writer;

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
    fn new(role: Role, content: impl Into<String>) -> Self {
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

/// What the shell does next after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainStep {
    Done(PostText),
    /// The answer was unusable: call [`GenerationChain::prompt`] again and send it.
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

/// The conversation for one request, and how many answers it has seen.
#[derive(Debug, Clone)]
pub struct GenerationChain {
    system: String,
    user: String,
    output_schema: Value,
    max_hashtags: usize,
    expected_hashtags: usize,
    request: GenerateRequest,
    voice: Voice,
    attempts: u32,
    /// The last unusable answer and its problems, shown to the model in the repair round.
    repair: Option<(String, Vec<String>)>,
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
            system: system_message(&request.language, expected_hashtags, voice),
            user: user_message(request),
            output_schema: output_schema(expected_hashtags),
            max_hashtags,
            expected_hashtags,
            request: request.clone(),
            voice: voice.clone(),
            attempts: 0,
            repair: None,
        }
    }

    /// The system and user messages; after an unusable answer, also that answer and a
    /// message listing its problems.
    pub fn prompt(&self) -> ChatPrompt {
        let mut messages = vec![
            ChatMessage::new(Role::System, self.system.as_str()),
            ChatMessage::new(Role::User, self.user.as_str()),
        ];
        if let Some((answer, problems)) = &self.repair {
            messages.push(ChatMessage::new(Role::Assistant, answer.as_str()));
            messages.push(ChatMessage::new(Role::User, repair_message(problems)));
        }
        ChatPrompt {
            messages,
            output_schema: self.output_schema.clone(),
        }
    }

    /// Parses the model's answer and says what to do next. Calling it again after `Done` or
    /// `Failed` is a shell bug; it keeps counting attempts and never asks for another repair.
    pub fn accept(&mut self, answer: &str) -> ChainStep {
        self.attempts += 1;
        match parse_answer_in_voice(
            answer,
            self.max_hashtags,
            self.expected_hashtags,
            &self.voice,
        ) {
            Ok(text) => {
                self.repair = None;
                ChainStep::Done(text)
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

    /// The offline template writer's answer to this chain's request, in its voice, as a
    /// model's would be given to [`GenerationChain::accept`].
    pub fn offline_answer(&self) -> String {
        template_writer::write_answer(&self.request, &self.voice, self.expected_hashtags)
    }

    /// How many answers have been given to [`GenerationChain::accept`].
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

// The prompt template. Everything the model is told lives in the functions below.

fn system_message(language: &str, hashtags: usize, voice: &Voice) -> String {
    let hashtag_rule = match hashtags {
        0 => "No hashtags: \"hashtags\" is an empty array.".to_owned(),
        1 => "Exactly 1 hashtag.".to_owned(),
        n => format!("Exactly {n} hashtags, all different."),
    };
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

/// The account's voice, when it has one: short lines, each a rule the answer is checked by
/// or a hint of style.
fn voice_rules(voice: &Voice) -> String {
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

fn user_message(request: &GenerateRequest) -> String {
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

fn repair_message(problems: &[String]) -> String {
    let list: Vec<String> = problems.iter().map(|p| format!("- {p}")).collect();
    format!(
        "Your answer could not be used:\n{}\n\nReply with the corrected JSON object only, with \
exactly the fields caption, hashtags and altText, and no other text.",
        list.join("\n")
    )
}

/// Limits that depend on the text are left to the descriptions: strict structured outputs
/// reject schemas with length constraints, and the parser checks them anyway.
fn output_schema(hashtags: usize) -> Value {
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
            "altText": {
                "type": "string",
                "description": "A description of the image for screen-reader users"
            }
        },
        "required": ["caption", "hashtags", "altText"],
        "additionalProperties": false
    })
}

/// The output parser: finds the JSON object in a model's answer and checks it against every
/// rule of `domain::content`, and against this chain's own policy: exactly the requested
/// number of hashtags, and none written in the caption. Problems are plain sentences meant to
/// be fed back to the model.
///
/// Tolerated: code fences or text around the object, `#` or `＃` before hashtags, spaces
/// around them, `alt_text` for `altText`, and extra fields, which are ignored.
pub fn parse_answer(
    answer: &str,
    max_hashtags: usize,
    expected_hashtags: usize,
) -> Result<PostText, Vec<String>> {
    parse_answer_in_voice(answer, max_hashtags, expected_hashtags, &Voice::default())
}

/// [`parse_answer`], then the account's voice: its always-used hashtags that the answer left
/// out are put in (in place of the answer's last other tags, so the count stays: a model's
/// choice of tags is worth less than a repair round), and every word to avoid and never-used
/// hashtag is a problem, by field, for the repair round.
pub fn parse_answer_in_voice(
    answer: &str,
    max_hashtags: usize,
    expected_hashtags: usize,
    voice: &Voice,
) -> Result<PostText, Vec<String>> {
    let object = extract_object(answer).map_err(|problem| vec![problem])?;
    let mut problems = Vec::new();

    let caption = string_field(&object, "caption", &mut problems);
    let hashtags = hashtags_field(&object, &mut problems);
    let alt_text = string_field(&object, "altText", &mut problems);

    // Instagram would count them against the cap too, but the policy is stricter: a generated
    // caption has none, so that the list is the whole of what a person reviews.
    let caption_tags: Vec<String> = caption
        .as_deref()
        .map(hashtags_in)
        .unwrap_or_default()
        .into_iter()
        .map(|tag| format!("#{tag}"))
        .collect();
    if !caption_tags.is_empty() {
        problems.push(format!(
            "caption contains hashtags ({}); put every hashtag in the hashtags array instead",
            caption_tags.join(", ")
        ));
    }
    let mut count_reported = false;
    if let Some(tags) = &hashtags
        && tags.len() != expected_hashtags
    {
        count_reported = true;
        problems.push(count_problem(tags.len(), expected_hashtags));
    }

    // A missing field is reported already: it stands in as empty, and the domain's problems
    // with it are left out, so that the problems of the other fields are all listed.
    let missing = |field: Field| match field {
        Field::Caption => caption.is_none(),
        Field::Hashtags | Field::Hashtag(_) => hashtags.is_none(),
        Field::AltText => alt_text.is_none(),
    };
    let mut raw = RawPostText {
        caption: caption.clone().unwrap_or_default(),
        hashtags: hashtags.clone().unwrap_or_default(),
        alt_text: alt_text.clone().unwrap_or_default(),
    };
    if hashtags.is_some() && !count_reported {
        raw.hashtags = voice.with_always_hashtags(&raw.hashtags, expected_hashtags);
    }
    for error in voice.check(&raw) {
        if !missing(error.field()) {
            problems.push(error.to_string());
        }
    }
    let errors = match PostText::parse(&raw, max_hashtags) {
        Ok(text) if problems.is_empty() => return Ok(text),
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    };
    for error in errors {
        let already_reported = match error {
            ContentError::TooManyHashtags { .. } => count_reported,
            ContentError::TooManyHashtagsWithCaption { .. } => !caption_tags.is_empty(),
            _ => false,
        };
        if !already_reported && !missing(error.field()) {
            problems.push(error.to_string());
        }
    }
    Err(problems)
}

/// Takes the outermost `{...}`; if that is not JSON (a stray `}` in the text after it), the
/// first complete JSON value starting at the first `{`.
fn extract_object(answer: &str) -> Result<Map<String, Value>, String> {
    let not_object = || "answer is not a JSON object".to_owned();
    let start = answer.find('{').ok_or_else(not_object)?;
    let end = answer
        .rfind('}')
        .filter(|&end| end > start)
        .ok_or_else(not_object)?;
    let value = match serde_json::from_str::<Value>(&answer[start..=end]) {
        Ok(value) => value,
        Err(outermost) => serde_json::Deserializer::from_str(&answer[start..])
            .into_iter::<Value>()
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| format!("answer is not valid JSON: {outermost}"))?,
    };
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(not_object()),
    }
}

fn string_field(
    object: &Map<String, Value>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<String> {
    let value = object.get(name).or_else(|| match name {
        "altText" => object.get("alt_text"),
        _ => None,
    });
    match value {
        None => {
            problems.push(format!("missing field {name}"));
            None
        }
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => {
            problems.push(format!("{name} must be a string, got {}", kind(other)));
            None
        }
    }
}

/// The hashtags as given, without spaces around them; `Hashtag::parse` takes off their sign.
fn hashtags_field(object: &Map<String, Value>, problems: &mut Vec<String>) -> Option<Vec<String>> {
    let items = match object.get("hashtags") {
        None => {
            problems.push("missing field hashtags".to_owned());
            return None;
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            problems.push(format!(
                "hashtags must be an array of strings, got {}",
                kind(other)
            ));
            return None;
        }
    };
    let mut tags = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match item {
            Value::String(tag) => tags.push(tag.trim().to_owned()),
            other => problems.push(format!(
                "hashtags[{index}] must be a string, got {}",
                kind(other)
            )),
        }
    }
    (tags.len() == items.len()).then_some(tags)
}

fn count_problem(given: usize, expected: usize) -> String {
    let given = match given {
        1 => "1 hashtag given".to_owned(),
        n => format!("{n} hashtags given"),
    };
    match expected {
        0 => format!("{given}, but no hashtags are wanted: hashtags must be an empty array"),
        1 => format!("{given}, exactly 1 is required"),
        n => format!("{given}, exactly {n} are required"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(hashtag_count: usize) -> GenerateRequest {
        GenerateRequest {
            brief: "Our new café opens in Shibuya on Friday".to_owned(),
            tone: Tone::Playful,
            language: "en-US".to_owned(),
            keywords: vec!["coffee".to_owned(), "Shibuya".to_owned()],
            hashtag_count,
            image_prompt: Some("a latte with heart latte art".to_owned()),
            scheduled_at: None,
            account: None,
        }
    }

    fn answer(caption: &str, hashtags: &[&str], alt_text: &str) -> String {
        json!({ "caption": caption, "hashtags": hashtags, "altText": alt_text }).to_string()
    }

    fn good() -> String {
        answer("Opening Friday!", &["coffee", "shibuya"], "A latte")
    }

    /// What the parser makes of an answer when 2 hashtags are expected out of at most 5:
    /// the parsed texts, or a fragment of each problem, in order.
    fn check(answer: &str, expect: Result<(&str, &[&str], &str), &[&str]>) {
        let got = parse_answer(answer, 5, 2);
        match (got, expect) {
            (Ok(text), Ok((caption, hashtags, alt_text))) => {
                let raw = text.to_raw();
                assert_eq!(raw.caption, caption, "{answer}");
                assert_eq!(raw.hashtags, hashtags, "{answer}");
                assert_eq!(raw.alt_text, alt_text, "{answer}");
            }
            (Err(problems), Err(fragments)) => {
                assert_eq!(problems.len(), fragments.len(), "{answer}: {problems:#?}");
                for (problem, fragment) in problems.iter().zip(fragments) {
                    assert!(
                        problem.contains(fragment),
                        "{answer}: {problem:?} lacks {fragment:?}"
                    );
                }
            }
            (got, _) => panic!("{answer}: unexpected {got:#?}"),
        }
    }

    #[test]
    fn bare_object() {
        check(
            &good(),
            Ok(("Opening Friday!", &["coffee", "shibuya"], "A latte")),
        );
    }

    #[test]
    fn fenced_or_surrounded_object() {
        let expect = Ok(("Opening Friday!", &["coffee", "shibuya"][..], "A latte"));
        check(&format!("```json\n{}\n```", good()), expect);
        check(&format!("```\n{}\n```\n", good()), expect);
        check(&format!("Here is your post:\n{}\nEnjoy!", good()), expect);
        check(
            &format!("Here it is: {} (note: {{ is a brace}}", good()),
            expect,
        );
        check(&format!("  \n{}  ", good()), expect);
    }

    #[test]
    fn hash_prefixes_are_stripped() {
        check(
            &answer("Opening Friday!", &["#coffee", " ＃渋谷 "], "A latte"),
            Ok(("Opening Friday!", &["coffee", "渋谷"], "A latte")),
        );
    }

    #[test]
    fn snake_case_alt_text_and_extra_fields_are_tolerated() {
        check(
            r#"{"caption": "Hi", "hashtags": ["a", "b"], "alt_text": "A cup", "mood": "happy"}"#,
            Ok(("Hi", &["a", "b"], "A cup")),
        );
    }

    #[test]
    fn not_an_object() {
        check(
            "I cannot help with that.",
            Err(&["answer is not a JSON object"]),
        );
        check("", Err(&["answer is not a JSON object"]));
        check("} oops {", Err(&["answer is not a JSON object"]));
        check(r#"["caption"]"#, Err(&["answer is not a JSON object"]));
    }

    #[test]
    fn not_valid_json() {
        check(
            r#"{"caption": "Hi", "hashtags": [}"#,
            Err(&["answer is not valid JSON: "]),
        );
        check(
            "{caption: 'Hi'}",
            Err(&["answer is not valid JSON: key must be a string"]),
        );
    }

    #[test]
    fn missing_and_mistyped_fields() {
        check(
            r#"{"caption": "Hi"}"#,
            Err(&["missing field hashtags", "missing field altText"]),
        );
        check(
            r##"{"caption": 1, "hashtags": "#a #b", "altText": null}"##,
            Err(&[
                "caption must be a string, got a number",
                "hashtags must be an array of strings, got a string",
                "altText must be a string, got null",
            ]),
        );
        check(
            r#"{"caption": "Hi", "hashtags": ["a", 2], "altText": "x"}"#,
            Err(&["hashtags[1] must be a string, got a number"]),
        );
    }

    #[test]
    fn caption_too_long() {
        check(
            &answer(&"a".repeat(2_301), &["x", "y"], "A latte"),
            Err(&["caption has 2301 characters, at most 2200 are allowed"]),
        );
        // 2,190 characters leave too little room for "\n\n#coffee #shibuya".
        check(
            &answer(&"a".repeat(2_190), &["coffee", "shibuya"], "A latte"),
            Err(&["caption with its hashtags has 2208 characters, at most 2200 are allowed"]),
        );
    }

    #[test]
    fn wrong_number_of_hashtags() {
        check(
            &answer("Hi", &["a", "b", "c"], "x"),
            Err(&["3 hashtags given, exactly 2 are required"]),
        );
        check(
            &answer("Hi", &["a"], "x"),
            Err(&["1 hashtag given, exactly 2 are required"]),
        );
        check(
            &answer("Hi", &["a", "b", "c", "d", "e", "f"], "x"),
            Err(&["6 hashtags given, exactly 2 are required"]),
        );
    }

    /// The count is checked against the request, the cap against the configuration.
    fn check_count(hashtags: &[&str], max: usize, expected: usize, expect: &[&str]) {
        let got = parse_answer(&answer("Hi", hashtags, "x"), max, expected)
            .err()
            .unwrap_or_default();
        assert_eq!(got, expect, "{hashtags:?} max {max} expected {expected}");
    }

    #[test]
    fn hashtag_count_against_expectation_and_cap() {
        check_count(&[], 5, 0, &[]);
        check_count(
            &["a"],
            5,
            0,
            &["1 hashtag given, but no hashtags are wanted: hashtags must be an empty array"],
        );
        check_count(&[], 5, 1, &["0 hashtags given, exactly 1 is required"]);
        check_count(&["a", "b", "c"], 3, 3, &[]);
        check_count(
            &["a", "b", "c"],
            2,
            3,
            &["3 hashtags given, at most 2 are allowed"],
        );
    }

    #[test]
    fn bad_hashtags_are_all_listed() {
        check(
            &answer("Hi", &["summer vibes", "2024"], "x"),
            Err(&[
                r#"hashtag "summer vibes" is not valid: only letters, digits and _ are allowed"#,
                r#"hashtag "2024" is not valid: Instagram ignores hashtags made only of digits"#,
            ]),
        );
        check(
            &answer("Hi", &["Coffee", "#coffee"], "x"),
            Err(&[r##"hashtag "#coffee" appears more than once"##]),
        );
        check(
            &answer("Hi", &["a", ""], "x"),
            Err(&[r#"hashtag "" is not valid: it is empty"#]),
        );
    }

    #[test]
    fn hashtags_inside_the_caption() {
        check(
            &answer("Opening Friday! #coffee ＃渋谷 ##fun", &["a", "b"], "x"),
            Err(&[
                "caption contains hashtags (#coffee, #渋谷, #fun); put every hashtag in the hashtags array",
            ]),
        );
        check(
            &answer("We're #1 for C# lovers", &["a", "b"], "x"),
            Ok(("We're #1 for C# lovers", &["a", "b"], "x")),
        );
        // A sign inside a word makes no hashtag, in Japanese text too.
        check(
            &answer("週末は#カフェ巡り、a#b", &["a", "b"], "x"),
            Ok(("週末は#カフェ巡り、a#b", &["a", "b"], "x")),
        );
        // Over the cap because of them: the one problem says what to do.
        check(
            &answer("Hi ＃a #b #c #d", &["x", "y"], "x"),
            Err(&["caption contains hashtags (#a, #b, #c, #d); put every hashtag"]),
        );
    }

    #[test]
    fn mentions_are_capped() {
        let mentions = |count: usize| -> String {
            let names: Vec<String> = (0..count).map(|i| format!("@shop{i}")).collect();
            names.join(" ")
        };
        let twenty = mentions(20);
        check(
            &answer(&twenty, &["a", "b"], "x"),
            Ok((&twenty, &["a", "b"], "x")),
        );
        check(
            &answer(&mentions(21), &["a", "b"], "x"),
            Err(&["caption mentions 21 accounts, at most 20 are allowed"]),
        );
    }

    #[test]
    fn control_characters_are_refused() {
        check(
            &answer("Hi\u{7}", &["a\u{0}", "b"], "A\u{7f}cup\u{85}"),
            Err(&[
                "caption contains the control character U+0007; only line breaks and tabs",
                r#"hashtag "a\0" is not valid: it contains the control character U+0000"#,
                "alt text contains the control characters U+007F, U+0085; only line breaks",
            ]),
        );
        check(
            &answer("Line one\r\nLine two\tend", &["a", "b"], "A\ncup"),
            Ok(("Line one\nLine two\tend", &["a", "b"], "A\ncup")),
        );
    }

    #[test]
    fn a_missing_field_hides_no_other_problem() {
        check(
            r#"{"hashtags": ["a b", "x"], "altText": "\u0000"}"#,
            Err(&[
                "missing field caption",
                r#"hashtag "a b" is not valid"#,
                "alt text contains the control character U+0000",
            ]),
        );
        check(
            r##"{"caption": "#a #b #c #d #e #f", "altText": "x"}"##,
            Err(&[
                "missing field hashtags",
                "caption contains hashtags (#a, #b, #c, #d, #e, #f)",
            ]),
        );
    }

    #[test]
    fn empty_texts_and_long_alt_text() {
        check(
            &answer(" ", &["a", "b"], &"x".repeat(1_001)),
            Err(&[
                "caption is empty",
                "alt text has 1001 characters, at most 1000 are allowed",
            ]),
        );
        check(&answer("Hi", &["a", "b"], ""), Err(&["alt text is empty"]));
    }

    fn user(content: &str) -> ChatMessage {
        ChatMessage::new(Role::User, content)
    }

    #[test]
    fn good_answer_is_done_at_once() {
        let mut chain = GenerationChain::new(&request(2), 5, &Voice::default());
        assert_eq!(chain.prompt().messages.len(), 2);
        let step = chain.accept(&good());
        assert!(matches!(step, ChainStep::Done(_)), "{step:?}");
        assert_eq!(chain.attempts(), 1);
    }

    #[test]
    fn bad_then_good_is_repaired() {
        let mut chain = GenerationChain::new(&request(2), 5, &Voice::default());
        let first = chain.prompt();
        let bad = answer("Opening #Friday", &["a"], "x");
        assert_eq!(chain.accept(&bad), ChainStep::Repair);

        let second = chain.prompt();
        assert_eq!(second.messages[..2], first.messages[..]);
        assert_eq!(
            second.messages[2],
            ChatMessage::new(Role::Assistant, bad.as_str())
        );
        assert_eq!(
            second.messages[3],
            user(
                "Your answer could not be used:\n\
- caption contains hashtags (#Friday); put every hashtag in the hashtags array instead\n\
- 1 hashtag given, exactly 2 are required\n\n\
Reply with the corrected JSON object only, with exactly the fields caption, hashtags and \
altText, and no other text."
            )
        );
        assert_eq!(second.messages.len(), 4);

        match chain.accept(&format!("```json\n{}\n```", good())) {
            ChainStep::Done(text) => assert_eq!(text.to_raw().caption, "Opening Friday!"),
            step => panic!("{step:?}"),
        }
        assert_eq!(chain.attempts(), 2);
    }

    /// A caption whose text runs the other way (U+202E) or hides a break (U+200B) reads
    /// differently to a reviewer than to Instagram: the model is asked again, and an answer
    /// that keeps them is refused.
    #[test]
    fn invisible_characters_are_repaired_or_refused() {
        let mut chain = GenerationChain::new(&request(2), 5, &Voice::default());
        let hidden = answer(
            "Sale \u{202E}%05 ffo",
            &["coffee", "shibuya"],
            "A\u{200B}latte",
        );
        assert_eq!(chain.accept(&hidden), ChainStep::Repair);
        let repair = chain.prompt().messages[3].content.clone();
        assert!(
            repair.contains("caption contains U+202E RIGHT-TO-LEFT OVERRIDE at character 6"),
            "{repair}"
        );
        assert!(
            repair.contains("alt text contains U+200B ZERO WIDTH SPACE"),
            "{repair}"
        );
        match chain.accept(&hidden) {
            ChainStep::Failed(ChainError::UnusableAnswer { problems, .. }) => {
                assert_eq!(problems.len(), 2, "{problems:?}");
            }
            step => panic!("{step:?}"),
        }
        // An emoji sequence and a flag are real text.
        let mut chain = GenerationChain::new(&request(2), 5, &Voice::default());
        let emoji = answer(
            "Chef \u{1F469}\u{200D}\u{1F373} \u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            &["coffee", "shibuya"],
            "A latte",
        );
        assert!(matches!(chain.accept(&emoji), ChainStep::Done(_)));
    }

    #[test]
    fn bad_twice_fails_with_the_last_problems() {
        let mut chain = GenerationChain::new(&request(2), 5, &Voice::default());
        assert_eq!(chain.accept("no"), ChainStep::Repair);
        let step = chain.accept(r#"{"caption": "Hi"}"#);
        let expect = ChainError::UnusableAnswer {
            attempts: 2,
            problems: vec![
                "missing field hashtags".to_owned(),
                "missing field altText".to_owned(),
            ],
        };
        assert_eq!(step, ChainStep::Failed(expect.clone()));
        assert_eq!(
            expect.to_string(),
            "the model's answer was not usable after 2 attempts: missing field hashtags; missing field altText"
        );
        assert_eq!(chain.attempts(), 2);
        // The repair round shows only the answer being repaired.
        assert_eq!(chain.prompt().messages[2].content, "no");
    }

    #[test]
    fn expected_hashtags_are_held_to_the_cap() {
        let mut chain = GenerationChain::new(&request(5), 3, &Voice::default());
        assert!(
            chain.prompt().messages[0]
                .content
                .contains("Exactly 3 hashtags, all different.")
        );
        let step = chain.accept(&answer("Hi", &["a", "b", "c"], "x"));
        assert!(matches!(step, ChainStep::Done(_)), "{step:?}");
    }

    #[test]
    fn prompt_template() {
        let chain = GenerationChain::new(&request(2), 5, &Voice::default());
        let prompt = chain.prompt();
        assert_eq!(prompt.messages[0].role, Role::System);
        assert_eq!(
            prompt.messages[0].content,
            "You write Instagram posts. From the brief you are given, write the caption, the \
hashtags and the alt text of the post's image.

Answer with one JSON object and nothing else. It has exactly these fields:
- \"caption\": a string, the caption. Do not put any hashtags in it.
- \"hashtags\": an array of strings, each one hashtag without the leading '#', made of \
letters, digits and _ only.
- \"altText\": a string describing the image for people who use screen readers.

Limits:
- The caption and the hashtags together have at most 2200 characters.
- Exactly 2 hashtags, all different.
- The alt text has at most 1000 characters.

Write the caption, the hashtags and the alt text in the language whose BCP 47 tag is \"en-US\"."
        );
        assert_eq!(
            prompt.messages[1],
            user(
                "Brief: Our new café opens in Shibuya on Friday\n\
Tone: playful (light-hearted and fun; emoji are welcome)\n\
Keywords to work in: coffee, Shibuya\n\
The image shows: a latte with heart latte art"
            )
        );
        assert_eq!(
            prompt.output_schema["required"],
            json!(["caption", "hashtags", "altText"])
        );
        assert_eq!(
            prompt.output_schema["properties"]["hashtags"]["description"],
            "Exactly 2 distinct hashtags, without the leading #"
        );
    }

    #[test]
    fn prompt_without_keywords_image_or_hashtags() {
        let request = GenerateRequest {
            keywords: Vec::new(),
            image_prompt: None,
            tone: Tone::Informative,
            ..request(0)
        };
        let prompt = GenerationChain::new(&request, 5, &Voice::default()).prompt();
        assert!(
            prompt.messages[0]
                .content
                .contains("- No hashtags: \"hashtags\" is an empty array.\n")
        );
        assert_eq!(
            prompt.messages[1].content,
            "Brief: Our new café opens in Shibuya on Friday\n\
Tone: informative (factual and helpful; teach the reader something)\n\
Keywords to work in: none"
        );
    }

    fn shop_voice() -> Voice {
        Voice::parse(&domain::voice::RawVoice {
            tone: "warm, plain words".into(),
            always_hashtags: vec!["ShopTokyo".into()],
            never_hashtags: vec!["fyp".into()],
            avoid_words: vec!["cheap".into()],
            sample_captions: vec!["Fresh bread at eight.\nSee you!".into()],
            ..Default::default()
        })
        .expect("a valid voice")
    }

    #[test]
    fn the_prompt_carries_the_voice() {
        let prompt = GenerationChain::new(&request(2), 5, &shop_voice()).prompt();
        let system = &prompt.messages[0].content;
        assert!(
            system.ends_with(
                "\n\nThe account's voice:\n- Its tone: warm, plain words\n\
- These hashtags must be among the hashtags: #ShopTokyo.\n\
- These hashtags must not appear, neither in the hashtags nor in the caption: #fyp.\n\
- Never use these words, in any case, in the caption, the hashtags or the alt text: \"cheap\".\n\
- Past captions of the account, for their style only:\n  > Fresh bread at eight. See you!"
            ),
            "{system}"
        );
        // Without a voice, nothing of it.
        let plain = GenerationChain::new(&request(2), 5, &Voice::default()).prompt();
        assert!(!plain.messages[0].content.contains("voice"));
    }

    #[test]
    fn an_avoided_word_or_never_used_hashtag_is_repaired_and_always_used_hashtags_are_put_in() {
        let mut chain = GenerationChain::new(&request(2), 5, &shop_voice());
        let bad = answer("A CHEAP lunch #fyp", &["lunch", "Tokyo"], "Cheap bread");
        assert_eq!(chain.accept(&bad), ChainStep::Repair);
        let repair = &chain.prompt().messages[3].content;
        for problem in [
            "caption uses \"cheap\", a word this account avoids",
            "caption uses #fyp, a hashtag this account never uses",
            "alt text uses \"cheap\", a word this account avoids",
        ] {
            assert!(repair.contains(problem), "{repair}");
        }
        // The always-used hashtag left out takes the last place.
        let ChainStep::Done(text) =
            chain.accept(&answer("A good lunch", &["lunch", "Tokyo"], "Bread"))
        else {
            panic!("the repaired answer is used");
        };
        assert_eq!(text.to_raw().hashtags, ["lunch", "ShopTokyo"]);
    }

    #[test]
    fn always_used_hashtags_count_within_the_cap() {
        let request = request(0);
        let chain = GenerationChain::new(&request, 5, &shop_voice());
        assert_eq!(
            chain.prompt().output_schema["properties"]["hashtags"]["description"],
            "Exactly 1 distinct hashtags, without the leading #"
        );
        assert_eq!(
            GenerationChain::new(&request, 0, &shop_voice()).expected_hashtags,
            0
        );
    }

    #[test]
    fn the_offline_writer_keeps_the_voice() {
        let request = GenerateRequest {
            brief: "Cheap bread, fresh and CHEAP".into(),
            keywords: vec!["fyp".into(), "bread".into()],
            ..request(3)
        };
        let mut chain = GenerationChain::new(&request, 5, &shop_voice());
        let answer = chain.offline_answer();
        let ChainStep::Done(text) = chain.accept(&answer) else {
            panic!("the offline answer is usable: {answer}");
        };
        let raw = text.to_raw();
        assert_eq!(raw.hashtags[0], "ShopTokyo");
        assert!(!raw.hashtags.iter().any(|t| t == "fyp"), "{raw:?}");
        assert!(!raw.caption.to_lowercase().contains("cheap"), "{raw:?}");
        assert!(shop_voice().check(&raw).is_empty());
    }
}
