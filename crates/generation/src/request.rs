//! The body of `POST /api/v1/generate`: its validation, which lists every problem by field
//! path, and its fingerprint for detecting a reused Idempotency-Key.

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
const FIELDS: [&str; 8] = [
    "brief",
    "tone",
    "language",
    "keywords",
    "hashtagCount",
    "imagePrompt",
    "scheduledAt",
    "account",
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
}

impl GenerateRequest {
    /// A canonical string that is equal for two requests exactly when they are equal.
    ///
    /// The schedule is written as a Unix timestamp because equal instants given with
    /// different offsets are equal requests.
    pub fn fingerprint(&self) -> String {
        serde_json::json!([
            self.brief,
            self.tone,
            self.language,
            self.keywords,
            self.hashtag_count,
            self.image_prompt,
            self.scheduled_at
                .map(|at| at.unix_timestamp_nanos().to_string()),
            self.account,
        ])
        .to_string()
    }
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
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| vec![FieldError::new("", format!("body is not valid JSON: {e}"))])?;
    let Value::Object(fields) = value else {
        return Err(vec![FieldError::new("", "body must be a JSON object")]);
    };
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
        Some(Value::String(text)) => match domain::account::AccountRef::parse(text) {
            Some(account) => Some(Some(account.to_string())),
            None => problems.push(
                "account",
                "must be an account's @username or its id, such as @shop_tokyo or 17841400000000001",
            ),
        },
        Some(_) => problems.push("account", "must be a string: @username or the account id"),
    };
    for name in fields.keys() {
        if !FIELDS.contains(&name.as_str()) {
            let known = FIELDS.join(", ");
            problems.push::<()>(name, format!("unknown field, the known fields are {known}"));
        }
    }

    match (
        brief,
        tone,
        language,
        keywords,
        hashtag_count,
        image_prompt,
        scheduled_at,
        account,
    ) {
        (
            Some(brief),
            Some(tone),
            Some(language),
            Some(keywords),
            Some(hashtag_count),
            Some(image_prompt),
            Some(scheduled_at),
            Some(account),
        ) if problems.0.is_empty() => Ok(GenerateRequest {
            brief,
            tone,
            language,
            keywords,
            hashtag_count,
            image_prompt,
            scheduled_at,
            account,
        }),
        _ => Err(problems.0),
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

/// A publishing time as a person gives it: RFC 3339 with a UTC offset, later than `now`.
/// Returned in UTC, as it is stored; the reason for a refusal is meant for a person.
pub fn parse_scheduled_at(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let at = parse_rfc3339(text).map_err(|error| match error {
        TimeError::OutOfRange => format!(
            "must be a time in the years {EARLIEST_YEAR} to {LATEST_YEAR}; got {text:?}"
        ),
        TimeError::NotRfc3339 => {
            // "YYYY-MM-DDThh:mm..." without a trailing "Z" or "+hh:mm"/"-hh:mm".
            let has_time = matches!(text.as_bytes().get(10), Some(b'T' | b't'));
            let has_offset = text.ends_with(['Z', 'z'])
                || text.get(11..).is_some_and(|t| t.contains(['+', '-']));
            if has_time && !has_offset {
                format!(
                    "needs a UTC offset such as +09:00 or Z, as in \"2030-01-31T09:00:00+09:00\"; got {text:?}"
                )
            } else {
                format!(
                    "must be an RFC 3339 date-time with a UTC offset, such as \"2030-01-31T09:00:00+09:00\"; got {text:?}"
                )
            }
        }
    })?;
    if at <= now {
        let now = now.format(&Rfc3339).unwrap_or_else(|_| now.to_string());
        return Err(format!("must be later than now ({now}), got {text}"));
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
mod tests {
    use super::*;
    use time::macros::datetime;

    /// Every string at its longest, every character an emoji escaped as a surrogate pair, and
    /// every field name escaped too: accepted, and within the size limit.
    #[test]
    fn the_worst_case_body_fits_the_limit() {
        let escaped = |chars: usize| "\\uD83D\\uDE00".repeat(chars);
        let name = |name: &str| {
            name.chars()
                .map(|c| format!("\\u{:04x}", c as u32))
                .collect::<String>()
        };
        let keywords: Vec<String> = (0..MAX_KEYWORDS)
            .map(|_| format!("\"{}\"", escaped(MAX_KEYWORD_CHARS)))
            .collect();
        let body = format!(
            "{{ \"{}\" : \"{}\", \"{}\" : [ {} ], \"{}\" : \"{}\", \"{}\" : \"{}\", \"{}\" : \"{}\", \"{}\" : 5, \"{}\" : \"{}\" }}",
            name("brief"),
            escaped(MAX_BRIEF_CHARS),
            name("keywords"),
            keywords.join(" , "),
            name("imagePrompt"),
            escaped(MAX_IMAGE_PROMPT_CHARS),
            name("language"),
            name("zh-Hant-TW"),
            name("tone"),
            name("inspirational"),
            name("hashtagCount"),
            name("scheduledAt"),
            name("2030-01-31T09:00:00.123456789+09:00"),
        );
        assert!(
            body.len() <= MAX_BODY_BYTES,
            "{} > {MAX_BODY_BYTES}",
            body.len()
        );
        assert!(
            body.len() > MAX_BODY_BYTES * 4 / 5,
            "the limit is not tight: {}",
            body.len()
        );
        let request = parse_generate_request(body.as_bytes(), &rules());
        assert!(request.is_ok(), "{request:?}");
    }

    fn rules() -> GenerateRules {
        GenerateRules {
            default_language: "ja".to_owned(),
            max_hashtags: 5,
            now: datetime!(2030-01-01 00:00 UTC),
        }
    }

    /// Checks that `body` is rejected with exactly these problems, in this order: each is a
    /// path and a fragment of its reason.
    fn check(body: &str, expect: &[(&str, &str)]) {
        let problems = match parse_generate_request(body.as_bytes(), &rules()) {
            Ok(request) => panic!("{body} was accepted as {request:?}"),
            Err(problems) => problems,
        };
        let got: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.path.as_str(), p.reason.as_str()))
            .collect();
        assert_eq!(got.len(), expect.len(), "{body}: {got:#?}");
        for ((path, reason), (want_path, fragment)) in got.iter().zip(expect) {
            assert_eq!(path, want_path, "{body}: {got:#?}");
            assert!(
                reason.contains(fragment),
                "{body}: {reason:?} lacks {fragment:?}"
            );
        }
    }

    #[test]
    fn missing_brief() {
        check("{}", &[("brief", "required")]);
    }

    #[test]
    fn brief_of_wrong_type() {
        check(
            r#"{"brief": 42}"#,
            &[("brief", "expected a string, got a number")],
        );
        check(
            r#"{"brief": null}"#,
            &[("brief", "expected a string, got null")],
        );
    }

    #[test]
    fn blank_brief() {
        check(r#"{"brief": "   "}"#, &[("brief", "must not be empty")]);
    }

    #[test]
    fn brief_too_long() {
        let body = format!(r#"{{"brief": "{}"}}"#, "a".repeat(2_001));
        check(&body, &[("brief", "at most 2000 characters, got 2001")]);
    }

    #[test]
    fn unknown_field() {
        check(
            r#"{"brief": "x", "topic": "y"}"#,
            &[("topic", "unknown field")],
        );
    }

    #[test]
    fn keywords_not_an_array() {
        check(
            r#"{"brief": "x", "keywords": "coffee, tea"}"#,
            &[("keywords", "expected an array of strings, got a string")],
        );
    }

    #[test]
    fn keyword_too_long_or_of_wrong_type() {
        let body = format!(
            r#"{{"brief": "x", "keywords": ["ok", "{}", 3, " "]}}"#,
            "k".repeat(51)
        );
        check(
            &body,
            &[
                ("keywords[1]", "at most 50 characters, got 51"),
                ("keywords[2]", "expected a string, got a number"),
                ("keywords[3]", "must not be empty"),
            ],
        );
    }

    #[test]
    fn too_many_keywords() {
        let keywords: Vec<String> = (0..11).map(|i| format!("\"k{i}\"")).collect();
        let body = format!(r#"{{"brief": "x", "keywords": [{}]}}"#, keywords.join(","));
        check(&body, &[("keywords", "at most 10 items, got 11")]);
    }

    #[test]
    fn hashtag_count_out_of_range_or_not_an_integer() {
        check(
            r#"{"brief": "x", "hashtagCount": -1}"#,
            &[("hashtagCount", "between 0 and 5, got -1")],
        );
        check(
            r#"{"brief": "x", "hashtagCount": 6}"#,
            &[("hashtagCount", "between 0 and 5, got 6")],
        );
        check(
            r#"{"brief": "x", "hashtagCount": 2.5}"#,
            &[("hashtagCount", "expected an integer, got 2.5")],
        );
        check(
            r#"{"brief": "x", "hashtagCount": "3"}"#,
            &[("hashtagCount", "expected an integer, got a string")],
        );
        check(
            r#"{"brief": "x", "hashtagCount": 18446744073709551616}"#,
            &[("hashtagCount", "between 0 and 5")],
        );
    }

    #[test]
    fn bad_language() {
        for tag in [
            "english",
            "e",
            "en_US",
            "en-",
            "ja-JP-x",
            "en-US-GB",
            "日本語",
            "",
        ] {
            let body = format!(r#"{{"brief": "x", "language": "{tag}"}}"#);
            check(&body, &[("language", "must be a language tag such as")]);
        }
        check(
            r#"{"brief": "x", "language": ["ja"]}"#,
            &[("language", "expected a string, got an array")],
        );
    }

    #[test]
    fn bad_tone() {
        check(
            r#"{"brief": "x", "tone": "angry"}"#,
            &[(
                "tone",
                r#"must be one of "friendly", "professional", "playful", "informative", "inspirational", got "angry""#,
            )],
        );
        check(
            r#"{"brief": "x", "tone": "Friendly"}"#,
            &[("tone", "must be one of")],
        );
        check(
            r#"{"brief": "x", "tone": true}"#,
            &[("tone", "expected a string, got a boolean")],
        );
    }

    #[test]
    fn scheduled_at_not_rfc3339() {
        for text in ["tomorrow", "2030-01-02 09:00", "2030-13-01T00:00:00Z"] {
            let body = format!(r#"{{"brief": "x", "scheduledAt": "{text}"}}"#);
            check(
                &body,
                &[("scheduledAt", "RFC 3339 date-time with a UTC offset")],
            );
        }
        // The common mistake gets its own reason, in words a person understands.
        for text in ["2030-01-02T09:00:00", "2030-01-02T09:00"] {
            let body = format!(r#"{{"brief": "x", "scheduledAt": "{text}"}}"#);
            check(
                &body,
                &[("scheduledAt", "needs a UTC offset such as +09:00 or Z")],
            );
        }
        check(
            r#"{"brief": "x", "scheduledAt": 1893456000}"#,
            &[("scheduledAt", "expected a string, got a number")],
        );
    }

    #[test]
    fn scheduled_at_outside_the_years_instagram_can_use() {
        // In UTC this is the year 10000, which no conversion survives.
        check(
            r#"{"brief": "x", "scheduledAt": "9999-12-31T23:30:00-01:00"}"#,
            &[("scheduledAt", "must be a time in the years 2010 to 2100")],
        );
        check(
            r#"{"brief": "x", "scheduledAt": "2101-01-01T00:00:00Z"}"#,
            &[("scheduledAt", "must be a time in the years 2010 to 2100")],
        );
    }

    #[test]
    fn invisible_characters_in_the_brief_and_keywords() {
        check(
            r#"{"brief": "a\u202eb", "keywords": ["k\u200b"], "imagePrompt": "\u2066p"}"#,
            &[
                (
                    "brief",
                    "invisible characters that change what it shows, got U+202E RIGHT-TO-LEFT OVERRIDE",
                ),
                ("keywords[0]", "got U+200B ZERO WIDTH SPACE"),
                ("imagePrompt", "got U+2066 LEFT-TO-RIGHT ISOLATE"),
            ],
        );
    }

    #[test]
    fn scheduled_at_not_in_the_future() {
        check(
            r#"{"brief": "x", "scheduledAt": "2029-12-31T23:59:59Z"}"#,
            &[(
                "scheduledAt",
                "must be later than now (2030-01-01T00:00:00Z)",
            )],
        );
        // The same instant as now, written with another offset, is not later.
        check(
            r#"{"brief": "x", "scheduledAt": "2030-01-01T09:00:00+09:00"}"#,
            &[("scheduledAt", "must be later than now")],
        );
    }

    #[test]
    fn image_prompt_bad() {
        let body = format!(
            r#"{{"brief": "x", "imagePrompt": "{}"}}"#,
            "p".repeat(1_001)
        );
        check(
            &body,
            &[("imagePrompt", "at most 1000 characters, got 1001")],
        );
        check(
            r#"{"brief": "x", "imagePrompt": {}}"#,
            &[("imagePrompt", "expected a string, got an object")],
        );
    }

    #[test]
    fn control_characters() {
        // Line feeds and tabs are the brief's layout; everything else is refused, by field.
        for (escaped, named) in [
            ("\\u0000", "U+0000"),
            ("\\u0007", "U+0007"),
            ("\\u007f", "U+007F"),
            ("\\u0085", "U+0085"),
            ("\\r", "U+000D"),
        ] {
            check(
                &format!(r#"{{"brief": "a{escaped}b"}}"#),
                &[(
                    "brief",
                    &format!(
                        "must not contain control characters other than line breaks and tabs, got {named}"
                    ),
                )],
            );
            check(
                &format!(
                    r#"{{"brief": "x", "keywords": ["ok", "{escaped}k"], "imagePrompt": "p{escaped}"}}"#
                ),
                &[
                    (
                        "keywords[1]",
                        &format!("must not contain control characters, got {named}"),
                    ),
                    (
                        "imagePrompt",
                        &format!("must not contain control characters, got {named}"),
                    ),
                ],
            );
        }
        check(
            r#"{"brief": "x", "keywords": ["a\nb", "a\tb"], "imagePrompt": "\u0000\u0007\u0000"}"#,
            &[
                (
                    "keywords[0]",
                    "must not contain control characters, got U+000A",
                ),
                (
                    "keywords[1]",
                    "must not contain control characters, got U+0009",
                ),
                (
                    "imagePrompt",
                    "must not contain control characters, got U+0000, U+0007",
                ),
            ],
        );
        // At the ends too, where trimming would hide U+0085.
        check(r#"{"brief": "\u0085x\u0085"}"#, &[("brief", "got U+0085")]);
    }

    #[test]
    fn brief_keeps_its_lines() {
        check_ok(
            r#"{"brief": " 新メニュー\n\t- 抹茶ラテ 🍵\r\n\t- ほうじ茶 \r\n"}"#,
            request("新メニュー\n\t- 抹茶ラテ 🍵\n\t- ほうじ茶"),
        );
    }

    #[test]
    fn post_text_problems_by_field_path() {
        let raw = domain::content::RawPostText {
            caption: "#a #b #c".to_owned(),
            hashtags: vec!["d".to_owned(), "e\u{7}".to_owned(), "f".to_owned()],
            alt_text: "x".to_owned(),
        };
        let errors = domain::content::PostText::parse(&raw, 5)
            .err()
            .unwrap_or_default();
        let problems: Vec<FieldError> = errors.iter().map(FieldError::from).collect();
        assert_eq!(
            problems,
            [
                FieldError::new(
                    "caption",
                    "caption and hashtags together have 6 hashtags, at most 5 are allowed"
                ),
                FieldError::new(
                    "hashtags[1]",
                    r#"hashtag "e\u{7}" is not valid: it contains the control character U+0007"#
                ),
            ]
        );
    }

    #[test]
    fn body_not_json() {
        check(
            "{\"brief\": ",
            &[("", "body is not valid JSON: EOF while parsing")],
        );
        check("", &[("", "body is not valid JSON")]);
        check("\u{feff}{}", &[("", "body is not valid JSON")]);
    }

    #[test]
    fn body_not_an_object() {
        check(r#"[{"brief": "x"}]"#, &[("", "body must be a JSON object")]);
        check(r#""brief""#, &[("", "body must be a JSON object")]);
        check("null", &[("", "body must be a JSON object")]);
    }

    #[test]
    fn several_problems_at_once_are_all_listed() {
        check(
            r#"{"tone": "grumpy", "language": "xx-yy-zz", "keywords": ["a", 1],
                "hashtagCount": 99, "imagePrompt": "", "scheduledAt": "soon", "extra": 1, "another": 2}"#,
            &[
                ("brief", "required"),
                ("tone", "must be one of"),
                ("language", "must be a language tag"),
                ("keywords[1]", "expected a string, got a number"),
                ("hashtagCount", "between 0 and 5, got 99"),
                ("imagePrompt", "must not be empty"),
                ("scheduledAt", "RFC 3339"),
                ("another", "unknown field"),
                ("extra", "unknown field"),
            ],
        );
    }

    /// Checks that `body` is accepted as `expect`.
    fn check_ok(body: &str, expect: GenerateRequest) {
        match parse_generate_request(body.as_bytes(), &rules()) {
            Ok(request) => assert_eq!(request, expect, "{body}"),
            Err(problems) => panic!("{body} was rejected: {problems:#?}"),
        }
    }

    fn request(brief: &str) -> GenerateRequest {
        GenerateRequest {
            brief: brief.to_owned(),
            tone: Tone::Friendly,
            language: "ja".to_owned(),
            keywords: Vec::new(),
            hashtag_count: 5,
            image_prompt: None,
            scheduled_at: None,
            account: None,
        }
    }

    #[test]
    fn defaults_are_applied() {
        check_ok(r#"{"brief": "  新しいカフェ  "}"#, request("新しいカフェ"));
        check_ok(
            r#"{"brief": "x", "tone": null, "language": null, "keywords": null,
                "hashtagCount": null, "imagePrompt": null, "scheduledAt": null}"#,
            request("x"),
        );
    }

    #[test]
    fn every_field_given() {
        let body = format!(
            r#"{{"brief": "{}", "tone": "playful", "language": "EN-us", "keywords": [" latte ", "{}"],
                "hashtagCount": 0, "imagePrompt": " a latte ", "scheduledAt": "2030-01-01T09:00:01+09:00"}}"#,
            "b".repeat(2_000),
            "k".repeat(50),
        );
        check_ok(
            &body,
            GenerateRequest {
                brief: "b".repeat(2_000),
                tone: Tone::Playful,
                language: "en-US".to_owned(),
                keywords: vec!["latte".to_owned(), "k".repeat(50)],
                hashtag_count: 0,
                image_prompt: Some("a latte".to_owned()),
                scheduled_at: Some(datetime!(2030-01-01 00:00:01 UTC)),
                account: None,
            },
        );
        check_ok(
            r#"{"brief": "x", "hashtagCount": 3.0, "language": "zh-hant-tw"}"#,
            GenerateRequest {
                hashtag_count: 3,
                language: "zh-Hant-TW".to_owned(),
                ..request("x")
            },
        );
        check_ok(
            r#"{"brief": "x", "language": "es-419"}"#,
            GenerateRequest {
                language: "es-419".to_owned(),
                ..request("x")
            },
        );
    }

    #[test]
    fn max_hashtags_is_capped_by_the_hard_limit() {
        let rules = GenerateRules {
            max_hashtags: 100,
            ..rules()
        };
        let request = parse_generate_request(br#"{"brief": "x"}"#, &rules);
        assert_eq!(request.map(|r| r.hashtag_count), Ok(HARD_MAX_HASHTAGS));
        let problems = parse_generate_request(br#"{"brief": "x", "hashtagCount": 31}"#, &rules);
        assert_eq!(
            problems.map_err(|p| p[0].reason.clone()),
            Err("must be between 0 and 30, got 31".to_owned())
        );
    }

    #[test]
    fn serializes_in_camel_case_with_rfc3339() {
        let request = GenerateRequest {
            keywords: vec!["k".to_owned()],
            scheduled_at: Some(datetime!(2030-01-01 09:00 +09:00)),
            account: None,
            ..request("x")
        };
        assert_eq!(
            serde_json::to_value(&request).ok(),
            Some(serde_json::json!({
                "brief": "x", "tone": "friendly", "language": "ja", "keywords": ["k"],
                "hashtagCount": 5, "imagePrompt": null, "scheduledAt": "2030-01-01T09:00:00+09:00"
            }))
        );
    }

    /// Checks whether two bodies have the same fingerprint, and that this agrees with `==`.
    fn check_fingerprint(a: &str, b: &str, same: bool) {
        let parse = |body: &str| {
            parse_generate_request(body.as_bytes(), &rules())
                .unwrap_or_else(|p| panic!("{body}: {p:?}"))
        };
        let (a_request, b_request) = (parse(a), parse(b));
        assert_eq!(
            a_request.fingerprint() == b_request.fingerprint(),
            same,
            "{a} vs {b}"
        );
        assert_eq!(a_request == b_request, same, "{a} vs {b}");
    }

    #[test]
    fn fingerprint_is_equal_iff_requests_are_equal() {
        check_fingerprint(r#"{"brief": "x"}"#, r#"{"brief": "x"}"#, true);
        check_fingerprint(
            r#"{"brief": "x", "tone": "friendly"}"#,
            r#"{"tone": "friendly", "brief": " x "}"#,
            true,
        );
        check_fingerprint(
            r#"{"brief": "x"}"#,
            r#"{"brief": "x", "language": "ja", "hashtagCount": 5}"#,
            true,
        );
        check_fingerprint(
            r#"{"brief": "x", "scheduledAt": "2030-01-02T09:00:00+09:00"}"#,
            r#"{"brief": "x", "scheduledAt": "2030-01-02T00:00:00Z"}"#,
            true,
        );
        check_fingerprint(r#"{"brief": "x"}"#, r#"{"brief": "y"}"#, false);
        check_fingerprint(
            r#"{"brief": "x"}"#,
            r#"{"brief": "x", "tone": "playful"}"#,
            false,
        );
        check_fingerprint(
            r#"{"brief": "x"}"#,
            r#"{"brief": "x", "hashtagCount": 4}"#,
            false,
        );
        check_fingerprint(
            r#"{"brief": "x"}"#,
            r#"{"brief": "x", "imagePrompt": "x"}"#,
            false,
        );
        check_fingerprint(
            r#"{"brief": "x", "keywords": ["a", "b"]}"#,
            r#"{"brief": "x", "keywords": ["b", "a"]}"#,
            false,
        );
        check_fingerprint(
            r#"{"brief": "x", "keywords": ["a,b"]}"#,
            r#"{"brief": "x", "keywords": ["a", "b"]}"#,
            false,
        );
        check_fingerprint(
            r#"{"brief": "x", "scheduledAt": "2030-01-02T00:00:00Z"}"#,
            r#"{"brief": "x", "scheduledAt": "2030-01-02T00:00:00.000000001Z"}"#,
            false,
        );
    }
}
