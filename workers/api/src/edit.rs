//! `PATCH /api/v1/drafts/{id}`: the one way a draft's text changes after generation.
//!
//! Optimistic concurrency: the body names the revision the person edited. The change is
//! written only if the draft is still at that revision and under review; otherwise the
//! answer is a conflict carrying the current draft, so nothing anyone wrote is lost unseen.

use domain::content::{PostText, RawPostText};
use generation::FieldError;
use platform::clock::now;
use platform::store::Change;
use serde_json::Value;
use worker::Response;

use crate::body;
use crate::decide::{self, Decision, DraftCall, OpenTo, Target};
use crate::reply::{self, ApiError};

/// The largest edit the schema allows (2,200-character caption, 30 tags, 1,000-character
/// alt text) with every character escaped as `\uXXXX\uXXXX`, and room for the rest.
pub const MAX_EDIT_BYTES: usize = 64 * 1024;

pub(crate) const FIELDS: [&str; 4] = ["revision", "caption", "hashtags", "altText"];

/// An edit as sent: the revision it was made on, and the fields it changes.
#[derive(Debug)]
pub(crate) struct EditRequest {
    pub(crate) revision: i64,
    pub(crate) caption: Option<String>,
    pub(crate) hashtags: Option<Vec<String>>,
    pub(crate) alt_text: Option<String>,
}

pub async fn handle(mut call: DraftCall<'_>) -> Result<Response, ApiError> {
    let open_to = OpenTo::under_review("only a draft under review can be edited");
    let (edit, target) = Target::open(&mut call, MAX_EDIT_BYTES, parse_edit, open_to).await?;
    let (env, actor) = (call.env, call.actor);
    let current = target
        .row
        .text()
        .ok_or_else(|| ApiError::Internal("a visible draft without text".into()))?;
    let merged = RawPostText {
        caption: edit.caption.unwrap_or(current.caption),
        hashtags: edit.hashtags.unwrap_or(current.hashtags),
        alt_text: edit.alt_text.unwrap_or(current.alt_text),
    };
    // The same rules as generation: Instagram's and the account's voice, whoever wrote the
    // text; every problem at once.
    let voice = crate::voice::of_account(env, target.row.account_id.as_deref()).await?;
    let parsed = PostText::parse(&merged, target.max_hashtags);
    let mut errors = parsed.as_ref().err().cloned().unwrap_or_default();
    errors.extend(voice.check(&merged));
    let text = match parsed {
        Ok(text) if errors.is_empty() => text.to_raw(),
        _ => {
            return Err(ApiError::Validation(
                errors.iter().map(FieldError::from).collect(),
            ));
        }
    };
    let record = Decision::by(actor, "edit", None);
    // Someone else changing it between the read and the write is a 409 from `decide`.
    let row = target
        .decide(&Change::Edit { text: &text }, &record, now())
        .await?;
    let details = serde_json::json!({ "text": text });
    reply::json(200, &target.recorded(&call, "edit", &row, details)?)
}

impl decide::Action for EditRequest {
    fn revision(&self) -> Option<i64> {
        Some(self.revision)
    }
}

/// Checks the body's shape, listing every problem by field path.
pub(crate) fn parse_edit(body: &[u8]) -> Result<EditRequest, Vec<FieldError>> {
    let (fields, mut problems) = body::object(body, &FIELDS)?;
    let revision = body::revision(&fields, &mut problems);
    let caption = body::string(&fields, "caption", &mut problems);
    let alt_text = body::string(&fields, "altText", &mut problems);
    let hashtags = match fields.get("hashtags") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut tags = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(tag) => tags.push(tag.to_owned()),
                    None => problems.push(body::problem(
                        &format!("hashtags[{i}]"),
                        format!("expected a string, got {item}"),
                    )),
                }
            }
            Some(tags)
        }
        Some(other) => {
            problems.push(body::problem(
                "hashtags",
                format!("expected an array of strings, got {other}"),
            ));
            None
        }
    };
    if caption.is_none() && hashtags.is_none() && alt_text.is_none() && problems.is_empty() {
        problems.push(body::problem(
            "",
            "nothing to change: give at least one of caption, hashtags, altText",
        ));
    }
    match revision {
        Some(revision) if problems.is_empty() => Ok(EditRequest {
            revision,
            caption,
            hashtags,
            alt_text,
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (revision, caption given, hashtags given, alt text given)
    type Given = (i64, bool, bool, bool);

    fn check(body: &str, expected: Result<Given, &[(&str, &str)]>) {
        let parsed = parse_edit(body.as_bytes()).map(|e| {
            (
                e.revision,
                e.caption.is_some(),
                e.hashtags.is_some(),
                e.alt_text.is_some(),
            )
        });
        match (parsed, expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{body}"),
            (Err(problems), Err(want)) => {
                assert_eq!(problems.len(), want.len(), "{body}: {problems:?}");
                for (problem, (path, reason)) in problems.iter().zip(want) {
                    assert_eq!(problem.path, *path, "{body}");
                    assert!(
                        problem.reason.contains(reason),
                        "{body}: {:?} lacks {reason:?}",
                        problem.reason
                    );
                }
            }
            (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn edit_bodies() {
        check(
            r#"{"revision": 3, "caption": "x"}"#,
            Ok((3, true, false, false)),
        );
        check(
            r#"{"revision": 1, "hashtags": ["a"], "altText": "b"}"#,
            Ok((1, false, true, true)),
        );
        check(r#"{"caption": "x"}"#, Err(&[("revision", "required")]));
        check(
            r#"{"revision": 0, "caption": 5, "hashtags": [1, "a"], "extra": true}"#,
            Err(&[
                ("extra", "unknown field"),
                ("revision", "from 1, got 0"),
                ("caption", "expected a string, got 5"),
                ("hashtags[0]", "expected a string, got 1"),
            ]),
        );
        check(r#"{"revision": 2}"#, Err(&[("", "nothing to change")]));
        check(r#"[1]"#, Err(&[("", "JSON object")]));
        check(r#"{"#, Err(&[("", "not valid JSON")]));
        check(
            r#"{"revision": 2.5, "hashtags": "a"}"#,
            Err(&[
                ("revision", "whole number"),
                ("hashtags", "an array of strings"),
            ]),
        );
    }
}
