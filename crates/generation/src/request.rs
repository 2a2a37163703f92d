//! The body of `POST /api/v1/generate`: its validation, which lists every problem by field
//! path, and the validated request as stored for regeneration and the page. (A reused
//! Idempotency-Key is told by the SHA-256 of the body as sent, in the api.)

use domain::content::invisible;
use domain::content::{
    ContentError, HARD_MAX_HASHTAGS, LAYOUT_CONTROLS, char_count, code_point, control_characters,
    normalize_line_breaks,
};
use domain::timestamp::{EARLIEST_YEAR, LATEST_YEAR, TimeError, parse_rfc3339};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The longest brief accepted, counted in characters after trimming.
pub const MAX_BRIEF_CHARS: usize = 2_000;
/// More keywords than this dilute the prompt and the hashtags drawn from them.
pub const MAX_KEYWORDS: usize = 10;
/// The longest keyword accepted, counted in characters after trimming.
pub const MAX_KEYWORD_CHARS: usize = 50;
/// The longest image prompt accepted, counted in characters after trimming.
pub const MAX_IMAGE_PROMPT_CHARS: usize = 1_000;
pub use domain::language::{MAX_LANGUAGE_CHARS, canonical_language};
/// Longer than any tone's name and any RFC 3339 time worth sending.
const MAX_SHORT_FIELD_CHARS: usize = 64;

/// The largest body the schema admits, in any valid JSON encoding: every character of every
/// string at its longest escaped form (a character outside the BMP as two `\uXXXX` escapes,
/// 12 bytes), plus room for field names (also escapable), punctuation, numbers and spacing.
/// Python's `json.dumps` escapes all non-ASCII by default, so this is an everyday case.
pub const MAX_BODY_BYTES: usize = 12
    * (MAX_BRIEF_CHARS
        + MAX_KEYWORDS * MAX_KEYWORD_CHARS
        + MAX_IMAGE_PROMPT_CHARS
        + MAX_LANGUAGE_CHARS
        + 2 * MAX_SHORT_FIELD_CHARS)
    + 4 * 1024;

/// The fields a body may have, in the order their problems are reported.
pub const FIELDS: [&str; 9] = [
    "brief",
    "tone",
    "language",
    "keywords",
    "hashtagCount",
    "imagePrompt",
    "scheduledAt",
    "account",
    "photos",
];

/// The voice of the caption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    #[default]
    Friendly,
    Professional,
    Playful,
    Informative,
    Inspirational,
}

impl Tone {
    pub const ALL: [Tone; 5] = [
        Tone::Friendly,
        Tone::Professional,
        Tone::Playful,
        Tone::Informative,
        Tone::Inspirational,
    ];

    /// The name used in request bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Friendly => "friendly",
            Tone::Professional => "professional",
            Tone::Playful => "playful",
            Tone::Informative => "informative",
            Tone::Inspirational => "inspirational",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tone| tone.as_str() == name)
    }
}

/// What validation depends on besides the body; `now` comes from the shell's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateRules {
    pub default_language: String,
    /// Capped at [`HARD_MAX_HASHTAGS`] whatever the configuration says.
    pub max_hashtags: usize,
    pub now: OffsetDateTime,
}

/// A validated generation request, with defaults applied and texts trimmed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateRequest {
    pub brief: String,
    pub tone: Tone,
    /// A BCP 47 tag in canonical case, such as `ja`, `en-US` or `zh-Hant-TW`.
    pub language: String,
    pub keywords: Vec<String>,
    pub hashtag_count: usize,
    pub image_prompt: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub scheduled_at: Option<OffsetDateTime>,
    /// The account it is for, as named (`@username` or the id); `None`: the default account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// A post made of the person's own photos: no image is generated, and the text waits for
    /// the photos (it is written from them).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub photos: bool,
}

fn rfc3339<S: Serializer>(at: &Option<OffsetDateTime>, serializer: S) -> Result<S::Ok, S::Error> {
    match at {
        None => serializer.serialize_none(),
        Some(at) => {
            let text = at.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
            serializer.serialize_str(&text)
        }
    }
}

/// One problem with a request body; `path` is empty when the body as a whole is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub path: String,
    pub reason: String,
}

/// A problem with an edited post text, at its field path (`caption`, `hashtags[2]`, ...), so
/// that an edit is answered in the same shape as a generate request.
impl From<&ContentError> for FieldError {
    fn from(error: &ContentError) -> Self {
        Self::new(error.field().to_string(), error.to_string())
    }
}

impl FieldError {
    fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Validates a body and applies defaults, reporting every problem rather than the first.
///
/// An optional field given as `null` counts as absent, as many clients send it that way.
pub fn parse_generate_request(
    body: &[u8],
    rules: &GenerateRules,
) -> Result<GenerateRequest, Vec<FieldError>> {
    let fields = object(body)?;
    let mut problems = Problems::default();
    let max_hashtags = rules.max_hashtags.min(HARD_MAX_HASHTAGS);

    let brief = match fields.get("brief") {
        None => problems.push("brief", "required"),
        Some(value) => problems.text(value, "brief", MAX_BRIEF_CHARS, Lines::Many),
    };
    let tone = match optional(&fields, "tone") {
        None => Some(Tone::default()),
        Some(value) => problems.tone(value),
    };
    let language = match optional(&fields, "language") {
        None => Some(rules.default_language.clone()),
        Some(value) => problems.language(value),
    };
    let keywords = match optional(&fields, "keywords") {
        None => Some(Vec::new()),
        Some(value) => problems.keywords(value),
    };
    let hashtag_count = match optional(&fields, "hashtagCount") {
        None => Some(max_hashtags),
        Some(value) => problems.hashtag_count(value, max_hashtags),
    };
    let image_prompt = match optional(&fields, "imagePrompt") {
        None => Some(None),
        Some(value) => problems
            .text(value, "imagePrompt", MAX_IMAGE_PROMPT_CHARS, Lines::One)
            .map(Some),
    };
    let scheduled_at = match optional(&fields, "scheduledAt") {
        None => Some(None),
        Some(value) => problems.scheduled_at(value, rules.now).map(Some),
    };
    let account = match optional(&fields, "account") {
        None => Some(None),
        Some(value) => problems.account(value).map(Some),
    };
    let photos = optional(&fields, "photos").is_some_and(|value| problems.flag(value, "photos"));
    problems.unknown_fields(&fields);

    // Every field was read (a field that was not is `None` and has its problem).
    let read = || {
        Some(GenerateRequest {
            brief: brief?,
            tone: tone?,
            language: language?,
            keywords: keywords?,
            hashtag_count: hashtag_count?,
            image_prompt: image_prompt?,
            scheduled_at: scheduled_at?,
            account: account?,
            photos,
        })
    };
    match read() {
        Some(request) if problems.0.is_empty() => Ok(request),
        _ => Err(problems.0),
    }
}

/// The body as a JSON object, or the one problem that it is not.
fn object(body: &[u8]) -> Result<Map<String, Value>, Vec<FieldError>> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| vec![FieldError::new("", format!("body is not valid JSON: {e}"))])?;
    match value {
        Value::Object(fields) => Ok(fields),
        _ => Err(vec![FieldError::new("", "body must be a JSON object")]),
    }
}

fn optional<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).filter(|value| !value.is_null())
}

/// Whether a text may span lines: the brief may, with `\n` and tabs (`\r\n` becomes `\n`, as
/// in a caption); one-line texts take no control character at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    One,
    Many,
}

/// Collects problems; each check returns `None` exactly when it recorded one.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn account(&mut self, value: &Value) -> Option<String> {
        let Value::String(text) = value else {
            return self.push("account", "must be a string: @username or the account id");
        };
        match domain::account::AccountRef::parse(text) {
            Some(account) => Some(account.to_string()),
            None => self.push(
                "account",
                "must be an account's @username or its id, such as @shop_tokyo or 17841400000000001",
            ),
        }
    }

    fn unknown_fields(&mut self, fields: &Map<String, Value>) {
        for name in fields.keys() {
            if !FIELDS.contains(&name.as_str()) {
                let known = FIELDS.join(", ");
                self.push::<()>(name, format!("unknown field, the known fields are {known}"));
            }
        }
    }

    /// A true-or-false field; anything else is a problem and counts as false.
    fn flag(&mut self, value: &Value, path: &str) -> bool {
        match value {
            Value::Bool(flag) => *flag,
            _ => {
                self.push::<()>(path, "must be true or false");
                false
            }
        }
    }

    fn push<T>(&mut self, path: &str, reason: impl Into<String>) -> Option<T> {
        self.0.push(FieldError::new(path, reason));
        None
    }

    fn expected<T>(&mut self, path: &str, expected: &str, got: &Value) -> Option<T> {
        let got = kind(got);
        self.push(path, format!("expected {expected}, got {got}"))
    }

    /// A string without control characters (but line breaks and tabs in a [`Lines::Many`]
    /// text) that is trimmed and must then have 1 to `max` characters.
    fn text(&mut self, value: &Value, path: &str, max: usize, lines: Lines) -> Option<String> {
        let Value::String(text) = value else {
            return self.expected(path, "a string", value);
        };
        let (text, allowed, but) = match lines {
            Lines::Many => (
                normalize_line_breaks(text),
                &LAYOUT_CONTROLS[..],
                " other than line breaks and tabs",
            ),
            Lines::One => (text.clone(), &[][..], ""),
        };
        let controls = control_characters(&text, allowed);
        if !controls.is_empty() {
            let controls: Vec<String> = controls.into_iter().map(code_point).collect();
            let controls = controls.join(", ");
            return self.push(
                path,
                format!("must not contain control characters{but}, got {controls}"),
            );
        }
        let hidden = invisible::refused(&text);
        if !hidden.is_empty() {
            let names: Vec<&str> = hidden.iter().map(|r| r.name.as_str()).collect();
            let names = names.join(", ");
            return self.push(
                path,
                format!(
                    "must not contain invisible characters that change what it shows, got {names}"
                ),
            );
        }
        let text = text.trim();
        let chars = char_count(text);
        if chars == 0 {
            return self.push(path, "must not be empty");
        }
        if chars > max {
            return self.push(
                path,
                format!("must have at most {max} characters, got {chars}"),
            );
        }
        Some(text.to_owned())
    }

    fn tone(&mut self, value: &Value) -> Option<Tone> {
        let Value::String(name) = value else {
            return self.expected("tone", "a string", value);
        };
        Tone::parse(name).or_else(|| {
            let names: Vec<String> = Tone::ALL
                .iter()
                .map(|t| format!("{:?}", t.as_str()))
                .collect();
            let names = names.join(", ");
            self.push("tone", format!("must be one of {names}, got {name:?}"))
        })
    }

    fn language(&mut self, value: &Value) -> Option<String> {
        let Value::String(tag) = value else {
            return self.expected("language", "a string", value);
        };
        canonical_language(tag).or_else(|| {
            let reason = format!(
                "must be a language tag such as \"ja\", \"en\", \"en-US\" or \"pt-BR\", got {tag:?}"
            );
            self.push("language", reason)
        })
    }

    fn keywords(&mut self, value: &Value) -> Option<Vec<String>> {
        let Value::Array(items) = value else {
            return self.expected("keywords", "an array of strings", value);
        };
        let mut valid = true;
        if items.len() > MAX_KEYWORDS {
            let count = items.len();
            self.push::<()>(
                "keywords",
                format!("must have at most {MAX_KEYWORDS} items, got {count}"),
            );
            valid = false;
        }
        let mut keywords = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let path = format!("keywords[{index}]");
            match self.text(item, &path, MAX_KEYWORD_CHARS, Lines::One) {
                Some(keyword) => keywords.push(keyword),
                None => valid = false,
            }
        }
        valid.then_some(keywords)
    }

    fn hashtag_count(&mut self, value: &Value, max: usize) -> Option<usize> {
        let Value::Number(number) = value else {
            return self.expected("hashtagCount", "an integer", value);
        };
        // JSON has one number type, so 3.0 is the integer 3, as in JavaScript.
        let integer = number
            .as_i64()
            .map(i128::from)
            .or_else(|| number.as_u64().map(i128::from))
            .or_else(|| {
                let float = number.as_f64()?;
                (float.is_finite() && float.fract() == 0.0).then_some(float as i128)
            });
        let Some(integer) = integer else {
            return self.push("hashtagCount", format!("expected an integer, got {number}"));
        };
        match usize::try_from(integer) {
            Ok(count) if count <= max => Some(count),
            _ => self.push(
                "hashtagCount",
                format!("must be between 0 and {max}, got {number}"),
            ),
        }
    }

    fn scheduled_at(&mut self, value: &Value, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let Value::String(text) = value else {
            return self.expected("scheduledAt", "a string", value);
        };
        match parse_scheduled_at(text, now) {
            Ok(at) => Some(at),
            Err(reason) => self.push("scheduledAt", reason),
        }
    }
}

/// Why a publishing time is refused, in words meant for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduledAtError {
    #[error("must be a time in the years {EARLIEST_YEAR} to {LATEST_YEAR}; got {0:?}")]
    OutOfRange(String),
    /// `YYYY-MM-DDThh:mm...` without a trailing `Z` or `+hh:mm`/`-hh:mm`.
    #[error(
        "needs a UTC offset such as +09:00 or Z, as in \"2030-01-31T09:00:00+09:00\"; got {0:?}"
    )]
    NoOffset(String),
    #[error(
        "must be an RFC 3339 date-time with a UTC offset, such as \"2030-01-31T09:00:00+09:00\"; got {0:?}"
    )]
    NotRfc3339(String),
    #[error("must be later than now ({}), got {text}", domain::message::format_rfc3339(*.now))]
    NotLater { text: String, now: OffsetDateTime },
}

impl From<ScheduledAtError> for String {
    fn from(error: ScheduledAtError) -> Self {
        error.to_string()
    }
}

/// A publishing time as a person gives it: RFC 3339 with a UTC offset, later than `now`.
/// Returned in UTC, as it is stored.
pub fn parse_scheduled_at(
    text: &str,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, ScheduledAtError> {
    let at = parse_rfc3339(text).map_err(|error| match error {
        TimeError::OutOfRange => ScheduledAtError::OutOfRange(text.to_owned()),
        TimeError::NotRfc3339 => {
            let has_time = matches!(text.as_bytes().get(10), Some(b'T' | b't'));
            let has_offset = text.ends_with(['Z', 'z'])
                || text.get(11..).is_some_and(|t| t.contains(['+', '-']));
            if has_time && !has_offset {
                ScheduledAtError::NoOffset(text.to_owned())
            } else {
                ScheduledAtError::NotRfc3339(text.to_owned())
            }
        }
    })?;
    if at <= now {
        return Err(ScheduledAtError::NotLater {
            text: text.to_owned(),
            now,
        });
    }
    Ok(at)
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
