//! `POST /api/v1/text/check`: which characters of a text the text rules refuse as invisible,
//! with their places, so the review page can show them before anything is saved. The answer
//! comes from `domain::content::invisible`, the rule every save is checked with.

use domain::content::{code_point, invisible};
use generation::FieldError;
use serde_json::{Value, json};
use worker::{Request, Response};

use crate::body;
use crate::reply::{self, ApiError};

/// The texts a check may name: a post's, and a comment.
const FIELDS: [&str; 4] = ["caption", "hashtags", "altText", "comment"];

pub async fn handle(req: &mut Request) -> Result<Response, ApiError> {
    let body = body::read_json(req, crate::edit::MAX_EDIT_BYTES).await?;
    let refused = refused_in(&body).map_err(ApiError::Validation)?;
    reply::json(200, &json!({ "refused": refused }))
}

/// Every refused character of the body's texts, by field path, in field order.
pub(crate) fn refused_in(body: &[u8]) -> Result<Vec<Value>, Vec<FieldError>> {
    let (fields, mut problems) = body::object(body, &FIELDS)?;
    let mut texts: Vec<(String, String)> = Vec::new();
    for name in ["caption", "altText", "comment"] {
        if let Some(text) = body::string(&fields, name, &mut problems) {
            texts.push((name.to_owned(), text));
        }
    }
    match fields.get("hashtags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("hashtags[{i}]");
                match item.as_str() {
                    Some(tag) => texts.push((path, tag.to_owned())),
                    None => problems.push(body::problem(
                        &path,
                        format!("expected a string, got {item}"),
                    )),
                }
            }
        }
        Some(other) => problems.push(body::problem(
            "hashtags",
            format!("expected an array of strings, got {other}"),
        )),
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(texts
        .iter()
        .flat_map(|(path, text)| {
            invisible::refused(text).into_iter().map(move |r| {
                json!({ "path": path, "at": r.at, "codePoint": code_point(r.character), "name": r.name })
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_refused_character_by_path() {
        let got = refused_in(
            r#"{"caption": "ok\u202e", "hashtags": ["a", "b\u200b"], "altText": "\ud83d\udc69\u200d\ud83c\udf73"}"#
                .as_bytes(),
        );
        assert_eq!(
            got,
            Ok(vec![
                json!({ "path": "caption", "at": 2, "codePoint": "U+202E", "name": "U+202E RIGHT-TO-LEFT OVERRIDE" }),
                json!({ "path": "hashtags[1]", "at": 1, "codePoint": "U+200B", "name": "U+200B ZERO WIDTH SPACE" }),
            ])
        );
        let problems = refused_in(br#"{"caption": 1, "hashtags": [2], "x": 3}"#)
            .expect_err("bad shapes are refused");
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["x", "caption", "hashtags[0]"]);
    }
}
