//! `PATCH /api/v1/drafts/{id}/options`: `{revision, firstComment?, collaborators?,
//! locationId?, aiLabel?}`, each checked as Instagram would, every problem by field path.

use domain::post_format::edit::{self, first_comment_problems};
use domain::post_format::{AiLabel, PostOptions};
use generation::FieldError;
use platform::store::Change;
use serde_json::{Value, json};
use worker::Response;

use super::strings;
use crate::body::{self, problem};
use crate::decide::{self, DraftCall, OpenTo, Target};
use crate::reply::{self, ApiError};

/// What `PATCH .../options` changes: each field given, `null` to clear.
struct OptionsRequest {
    revision: i64,
    first_comment: Option<Option<String>>,
    collaborators: Option<Vec<String>>,
    location_id: Option<Option<String>>,
    ai_label: Option<AiLabel>,
}

impl decide::Action for OptionsRequest {
    fn revision(&self) -> Option<i64> {
        Some(self.revision)
    }
}

const OPTION_FIELDS: [&str; 5] = [
    "revision",
    "firstComment",
    "collaborators",
    "locationId",
    "aiLabel",
];

fn parse_options(bytes: &[u8]) -> Result<OptionsRequest, Vec<FieldError>> {
    let (fields, mut problems) = body::object(bytes, &OPTION_FIELDS)?;
    let revision = body::revision(&fields, &mut problems);
    let first_comment = first_comment(fields.get("firstComment"), &mut problems);
    let collaborators =
        strings(&fields, "collaborators", &mut problems).and_then(
            |names| match edit::collaborators(&names) {
                Ok(names) => Some(names),
                Err(found) => {
                    for (index, reason) in found {
                        let path = index.map_or("collaborators".to_owned(), |i| {
                            format!("collaborators[{i}]")
                        });
                        problems.push(problem(&path, reason.to_string()));
                    }
                    None
                }
            },
        );
    let location_id = location_id(fields.get("locationId"), &mut problems);
    let ai_label = match fields.get("aiLabel") {
        None => None,
        Some(value) => match value.as_str() {
            Some("auto") => Some(AiLabel::Auto),
            Some("yes") => Some(AiLabel::Yes),
            _ => {
                problems.push(problem(
                    "aiLabel",
                    format!("expected \"auto\" or \"yes\", got {value}"),
                ));
                None
            }
        },
    };
    let nothing = fields.len() == usize::from(fields.contains_key("revision"));
    if nothing && problems.is_empty() {
        problems.push(problem(
            "",
            "nothing to change: give at least one of firstComment, collaborators, locationId, aiLabel",
        ));
    }
    match revision {
        Some(revision) if problems.is_empty() => Ok(OptionsRequest {
            revision,
            first_comment,
            collaborators,
            location_id,
            ai_label,
        }),
        _ => Err(problems),
    }
}

/// `firstComment`: absent, `null` to clear, or a text checked as Instagram would.
fn first_comment(value: Option<&Value>, problems: &mut Vec<FieldError>) -> Option<Option<String>> {
    match value {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(text)) => {
            for reason in first_comment_problems(text) {
                problems.push(problem("firstComment", reason));
            }
            Some(Some(text.trim().to_owned()))
        }
        Some(other) => {
            problems.push(problem(
                "firstComment",
                format!("expected a string or null, got {other}"),
            ));
            None
        }
    }
}

/// `locationId`: absent, `null` to clear, or a Facebook Page id.
fn location_id(value: Option<&Value>, problems: &mut Vec<FieldError>) -> Option<Option<String>> {
    match value {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(id)) => match edit::location_id(id) {
            Ok(id) => Some(Some(id)),
            Err(reason) => {
                problems.push(problem("locationId", reason.to_string()));
                None
            }
        },
        Some(other) => {
            problems.push(problem(
                "locationId",
                format!("expected a string of digits or null, got {other}"),
            ));
            None
        }
    }
}

/// `PATCH /api/v1/drafts/{id}/options`
pub async fn options(mut call: DraftCall<'_>) -> Result<Response, ApiError> {
    let open_to = OpenTo::under_review("only a draft under review changes its options");
    let (request, target) = Target::open_action(&mut call, parse_options, open_to).await?;
    let mut options = PostOptions::from_json(target.row.post_options.as_deref())
        .map_err(|e| ApiError::Internal(format!("draft {}: options: {e}", target.id)))?;
    if let Some(first_comment) = request.first_comment {
        options.first_comment = first_comment;
    }
    if let Some(collaborators) = request.collaborators {
        options.collaborators = collaborators;
    }
    if let Some(location_id) = request.location_id {
        options.location_id = location_id;
    }
    if let Some(ai_label) = request.ai_label {
        options.ai_label = ai_label;
    }
    let change = Change::OptionsEdited { options: &options };
    let row = target
        .apply(target.expected(), &change, &target.row)
        .await?;
    let details = json!({ "options": options });
    let view = target.recorded(&call, "options", &row, details)?;
    reply::json(200, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(body: &str) -> Vec<(String, String)> {
        match parse_options(body.as_bytes()) {
            Ok(_) => Vec::new(),
            Err(found) => found.into_iter().map(|p| (p.path, p.reason)).collect(),
        }
    }

    #[test]
    fn each_option_problem_names_its_field() {
        assert!(problems(r#"{"revision": 2, "firstComment": "more #cafe", "collaborators": ["@aiko"], "locationId": "123", "aiLabel": "yes"}"#).is_empty());
        assert!(
            problems(r#"{"revision": 2, "firstComment": null, "locationId": null}"#).is_empty()
        );
        let found = problems(
            r#"{"revision": 2, "firstComment": "a\u202eb", "collaborators": ["ok", "bad name"], "locationId": "Tokyo", "aiLabel": "maybe"}"#,
        );
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            ["firstComment", "collaborators[1]", "locationId", "aiLabel"]
        );
        assert_eq!(problems(r#"{"revision": 2}"#)[0].0, "");
        assert_eq!(problems(r#"{"firstComment": "x"}"#)[0].0, "revision");
        let six = r#"{"revision": 1, "collaborators": ["a","b","c","d","e","f"]}"#;
        assert_eq!(problems(six)[0].0, "collaborators");
    }
}
