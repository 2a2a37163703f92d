//! Reading request bodies: the one body reader (counting bytes as they arrive, stopping at
//! the limit), form decoding, and the small JSON bodies of the draft actions (edit, approve,
//! reapprove, ...) with every problem by field path, as `generate` reports them.

use domain::content::{LAYOUT_CONTROLS, code_point, control_characters, invisible};
use futures::StreamExt;
use generation::FieldError;
use serde_json::{Map, Value};
use worker::Request;

use crate::reply::ApiError;

/// The largest body of a draft action other than an edit (a revision, a comment, a time).
pub const MAX_ACTION_BODY_BYTES: usize = 16 * 1024;

/// A comment's length limit, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;

/// The body of `req`, at most `max_bytes`: a declared `Content-Length` over the limit is
/// refused before anything is read, and every body, declared or chunked, is counted as it
/// arrives and dropped (413) the moment it passes the limit, so memory never holds more.
pub async fn read(req: &mut Request, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get("content-length")?
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes as u64) {
        return Err(ApiError::TooLarge(max_bytes));
    }
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let mut body = Limited::new(max_bytes);
    let mut chunks = req.stream()?;
    while let Some(chunk) = chunks.next().await {
        body.push(&chunk?)?;
    }
    Ok(body.bytes)
}

/// A JSON body, at most `max_bytes`; any other content type is refused (415) unread.
pub async fn read_json(req: &mut Request, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
    let content_type = req
        .headers()
        .get("content-type")?
        .unwrap_or_default()
        .to_ascii_lowercase();
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type != "application/json" {
        return Err(ApiError::UnsupportedMediaType);
    }
    read(req, max_bytes).await
}

/// Bytes gathered up to a limit: a chunk that would pass it is refused, not kept.
#[derive(Debug)]
pub struct Limited {
    bytes: Vec<u8>,
    max: usize,
}

impl Limited {
    pub fn new(max: usize) -> Self {
        Self {
            bytes: Vec::new(),
            max,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        if chunk.len() > self.max - self.bytes.len() {
            return Err(ApiError::TooLarge(self.max));
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }
}

/// The name-value pairs of an `application/x-www-form-urlencoded` text (a form body, or a
/// URL's query), decoded as the URL standard says; bytes that are not UTF-8 become U+FFFD.
pub fn form(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).into_owned().collect()
}

/// The first value named `name` among decoded `pairs` (a form's, a query's).
pub fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `text` as one value of an `application/x-www-form-urlencoded` query (`form`'s inverse).
pub fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub fn problem(path: &str, reason: impl Into<String>) -> FieldError {
    FieldError {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// A body's fields, and the problems found so far.
pub type Fields = (Map<String, Value>, Vec<FieldError>);

/// The body as a JSON object, with a problem for each field not in `allowed`.
pub fn object(body: &[u8], allowed: &[&str]) -> Result<Fields, Vec<FieldError>> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| vec![problem("", format!("body is not valid JSON: {e}"))])?;
    let Value::Object(fields) = value else {
        return Err(vec![problem("", "body must be a JSON object")]);
    };
    let problems = fields
        .keys()
        .filter(|key| !allowed.contains(&key.as_str()))
        .map(|key| problem(key, "unknown field"))
        .collect();
    Ok((fields, problems))
}

/// The required `revision`: the draft revision the person looked at.
pub fn revision(fields: &Map<String, Value>, problems: &mut Vec<FieldError>) -> Option<i64> {
    counted_revision(fields, problems, 1, "the draft you looked at")
}

/// The required `revision`, a whole number from `first`: the revision of `what` the person
/// looked at.
pub fn counted_revision(
    fields: &Map<String, Value>,
    problems: &mut Vec<FieldError>,
    first: i64,
    what: &str,
) -> Option<i64> {
    match fields.get("revision") {
        None | Some(Value::Null) => {
            problems.push(problem(
                "revision",
                format!("required: the revision of {what}"),
            ));
            None
        }
        Some(value) => {
            let revision = value.as_i64().filter(|n| *n >= first);
            if revision.is_none() {
                problems.push(problem(
                    "revision",
                    format!("expected a whole number from {first}, got {value}"),
                ));
            }
            revision
        }
    }
}

/// An optional string field; `null` counts as absent.
pub fn string(
    fields: &Map<String, Value>,
    name: &str,
    problems: &mut Vec<FieldError>,
) -> Option<String> {
    match fields.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => {
            problems.push(problem(name, format!("expected a string, got {other}")));
            None
        }
    }
}

/// An optional review comment: at most [`MAX_COMMENT_CHARS`], no control characters but
/// line breaks and tabs, no invisible character that changes what it shows. Blank counts as
/// none.
pub fn comment(fields: &Map<String, Value>, problems: &mut Vec<FieldError>) -> Option<String> {
    let text = string(fields, "comment", problems)?;
    let text = text.trim();
    let chars = text.chars().count();
    if chars > MAX_COMMENT_CHARS {
        problems.push(problem(
            "comment",
            format!("has {chars} characters, at most {MAX_COMMENT_CHARS} are allowed"),
        ));
        return None;
    }
    let controls = control_characters(text, &LAYOUT_CONTROLS);
    if let Some(c) = controls.first() {
        problems.push(problem(
            "comment",
            format!("contains the control character {}", code_point(*c)),
        ));
        return None;
    }
    let hidden = invisible::refused(text);
    if !hidden.is_empty() {
        let names: Vec<&str> = hidden.iter().map(|r| r.name.as_str()).collect();
        problems.push(problem(
            "comment",
            format!(
                "contains {}, which a reader cannot see but which changes what the text shows",
                names.join(", ")
            ),
        ));
        return None;
    }
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn comments() {
        let check = |json: &str, expected: Result<Option<&str>, &str>| {
            let mut problems = Vec::new();
            let got = comment(&fields(json), &mut problems);
            match expected {
                Ok(text) => {
                    assert!(problems.is_empty(), "{json}: {problems:?}");
                    assert_eq!(got.as_deref(), text, "{json}");
                }
                Err(reason) => {
                    assert_eq!(problems.len(), 1, "{json}");
                    assert!(problems[0].reason.contains(reason), "{json}: {problems:?}");
                }
            }
        };
        check(r#"{}"#, Ok(None));
        check(r#"{"comment": "  "}"#, Ok(None));
        check(
            r#"{"comment": " 良いです👍\n次も "}"#,
            Ok(Some("良いです👍\n次も")),
        );
        check(r#"{"comment": "a\u0007b"}"#, Err("U+0007"));
        check(r#"{"comment": 5}"#, Err("expected a string"));
        check(
            r#"{"comment": "ok \u202e"}"#,
            Err("U+202E RIGHT-TO-LEFT OVERRIDE"),
        );
        check(r#"{"comment": "\u200bhidden"}"#, Err("U+200B"));
        check(
            r#"{"comment": "\ud83d\udc69\u200d\ud83c\udf73"}"#,
            Ok(Some("\u{1F469}\u{200D}\u{1F373}")),
        );
        let long = format!(r#"{{"comment": "{}"}}"#, "あ".repeat(MAX_COMMENT_CHARS + 1));
        check(&long, Err("2001 characters"));
    }

    #[test]
    fn bodies_stop_at_their_limit() {
        let mut body = Limited::new(10);
        assert!(body.push(b"0123").is_ok());
        assert!(body.push(b"456789").is_ok());
        assert!(matches!(body.push(b"x"), Err(ApiError::TooLarge(10))));
        assert_eq!(body.bytes, b"0123456789");
        let mut body = Limited::new(3);
        assert!(matches!(body.push(b"abcd"), Err(ApiError::TooLarge(3))));
        assert!(body.bytes.is_empty());
    }

    #[test]
    fn form_bodies() {
        let check = |body: &[u8], expected: &[(&str, &str)]| {
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            assert_eq!(form(body), expected, "{body:?}");
        };
        check(
            b"token=abc&next=%2Freview",
            &[("token", "abc"), ("next", "/review")],
        );
        // A percent sign before a multi-byte character is kept as it is, never split.
        check("token=%1é".as_bytes(), &[("token", "%1é")]);
        check(b"a=%E3%81%82+b%2", &[("a", "あ b%2")]);
        check(b"x=%ff", &[("x", "\u{FFFD}")]);
        check(b"&&flag&=v", &[("flag", ""), ("", "v")]);
        for text in ["/review/abc?x=1&y=2", "@shop osaka", "あ%+#", ""] {
            let encoded = encode(text);
            assert!(!encoded.contains(['&', '=', '#', '?', ' ']), "{encoded}");
            assert_eq!(
                form(format!("x={encoded}").as_bytes()),
                [("x".to_owned(), text.to_owned())]
            );
        }
    }

    #[test]
    fn revisions() {
        let check = |json: &str, expected: Option<i64>| {
            let mut problems = Vec::new();
            assert_eq!(revision(&fields(json), &mut problems), expected, "{json}");
            assert_eq!(problems.is_empty(), expected.is_some(), "{json}");
        };
        check(r#"{"revision": 4}"#, Some(4));
        check(r#"{}"#, None);
        check(r#"{"revision": 0}"#, None);
        check(r#"{"revision": "4"}"#, None);
        check(r#"{"revision": 1.5}"#, None);
    }
}
