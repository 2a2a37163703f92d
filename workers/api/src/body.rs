//! Reading the small JSON bodies of the draft actions (edit, approve, reapprove): every
//! problem by field path, as `generate` reports them.

use domain::content::{LAYOUT_CONTROLS, code_point, control_characters};
use generation::FieldError;
use serde_json::{Map, Value};

/// The largest body of a draft action other than an edit (a revision, a comment, a time).
pub const MAX_ACTION_BODY_BYTES: usize = 16 * 1024;

/// A comment's length limit, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;

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
    match fields.get("revision") {
        None | Some(Value::Null) => {
            problems.push(problem(
                "revision",
                "required: the revision of the draft you looked at",
            ));
            None
        }
        Some(value) => {
            let revision = value.as_i64().filter(|n| *n >= 1);
            if revision.is_none() {
                problems.push(problem(
                    "revision",
                    format!("expected a whole number from 1, got {value}"),
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
/// line breaks and tabs. Blank counts as none.
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
        let long = format!(r#"{{"comment": "{}"}}"#, "あ".repeat(MAX_COMMENT_CHARS + 1));
        check(&long, Err("2001 characters"));
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
