//! The output parser: a model's answer (or the offline template writer's) checked against
//! every rule of `domain::content`, the generation policy and the account's voice, each
//! problem a plain sentence to feed back to the model.

use domain::content::{ContentError, Field, PostText, RawPostText, hashtags_in};
use domain::voice::Voice;
use serde_json::{Map, Value};

use crate::request::kind;

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
    let object = extract_object(answer).map_err(|problem| vec![problem.to_string()])?;
    check_object(&object, max_hashtags, expected_hashtags, voice)
}

/// [`parse_answer_in_voice`] past finding the object: every rule, on its fields.
pub(crate) fn check_object(
    object: &Map<String, Value>,
    max_hashtags: usize,
    expected_hashtags: usize,
    voice: &Voice,
) -> Result<PostText, Vec<String>> {
    let mut problems = Vec::new();

    let caption = string_field(object, "caption", &mut problems);
    let hashtags = hashtags_field(object, &mut problems);
    let alt_text = string_field(object, "altText", &mut problems);

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

/// Why an answer holds no object to read fields from.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NoObject {
    #[error("answer is not a JSON object")]
    NotObject,
    #[error("answer is not valid JSON: {0}")]
    NotJson(serde_json::Error),
}

/// Takes the outermost `{...}`; if that is not JSON (a stray `}` in the text after it), the
/// first complete JSON value starting at the first `{`.
pub(crate) fn extract_object(answer: &str) -> Result<Map<String, Value>, NoObject> {
    let start = answer.find('{').ok_or(NoObject::NotObject)?;
    let end = answer
        .rfind('}')
        .filter(|&end| end > start)
        .ok_or(NoObject::NotObject)?;
    let value = match serde_json::from_str::<Value>(&answer[start..=end]) {
        Ok(value) => value,
        Err(outermost) => serde_json::Deserializer::from_str(&answer[start..])
            .into_iter::<Value>()
            .next()
            .and_then(Result::ok)
            .ok_or(NoObject::NotJson(outermost))?,
    };
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(NoObject::NotObject),
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
