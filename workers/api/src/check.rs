//! `POST /api/v1/text/check`: what the text rules make of a text while it is written, before
//! anything is saved. Which characters they refuse as invisible, with their places
//! (`domain::content::invisible`, the rule every save is checked with), and where a post's
//! text stands against Instagram's limits (`RawPostText::counts`, counted as every save
//! counts), with the hashtags Instagram finds in the caption it receives. The review page
//! shows its counters, warnings and preview from this answer, and from the same answer for
//! the saved text in the page it loads with.

use domain::content::{
    MAX_ALT_TEXT_CHARS, MAX_CAPTION_CHARS, MAX_MENTIONS, RawPostText, code_point, hashtag_runs,
    invisible,
};
use generation::FieldError;
use serde_json::{Value, json};
use worker::{Env, Request, Response};

use crate::body;
use crate::reply::{self, ApiError};

/// The texts a check may name: a post's, and a comment.
pub(crate) const FIELDS: [&str; 4] = ["caption", "hashtags", "altText", "comment"];

pub async fn handle(req: &mut Request, env: &Env) -> Result<Response, ApiError> {
    let max_hashtags = crate::config::max_hashtags(env)?;
    let body = body::read_json(req, crate::edit::MAX_EDIT_BYTES).await?;
    let answer = answer(&body, max_hashtags).map_err(ApiError::Validation)?;
    reply::json(200, &answer)
}

/// The answer to a check of `body`: `refused` and the post's [`standing`] (of empty texts
/// where the body names none).
pub(crate) fn answer(body: &[u8], max_hashtags: usize) -> Result<Value, Vec<FieldError>> {
    let (texts, post) = texts_in(body)?;
    let refused: Vec<Value> = texts
        .iter()
        .flat_map(|(path, text)| {
            invisible::refused(text).into_iter().map(move |r| {
                json!({ "path": path, "at": r.at, "codePoint": code_point(r.character), "name": r.name })
            })
        })
        .collect();
    let mut answer = standing(&post, max_hashtags);
    answer["refused"] = Value::Array(refused);
    Ok(answer)
}

/// Where a post's text stands: its `counts` against the `limits`, and the caption Instagram
/// receives (`instagramCaption`) as runs of text and hashtags, for the page's preview.
pub(crate) fn standing(text: &RawPostText, max_hashtags: usize) -> Value {
    let caption = text.normalized().instagram_caption();
    json!({
        "counts": text.counts(),
        "limits": {
            "caption": MAX_CAPTION_CHARS,
            "altText": MAX_ALT_TEXT_CHARS,
            "hashtags": max_hashtags,
            "mentions": MAX_MENTIONS,
        },
        "instagramCaption": hashtag_runs(&caption),
    })
}

/// Every text of the body by field path, in field order, and the post they make.
type Texts = (Vec<(String, String)>, RawPostText);

fn texts_in(body: &[u8]) -> Result<Texts, Vec<FieldError>> {
    let (fields, mut problems) = body::object(body, &FIELDS)?;
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut post = RawPostText::default();
    for name in ["caption", "altText", "comment"] {
        if let Some(text) = body::string(&fields, name, &mut problems) {
            match name {
                "caption" => post.caption.clone_from(&text),
                "altText" => post.alt_text.clone_from(&text),
                _ => {}
            }
            texts.push((name.to_owned(), text));
        }
    }
    match fields.get("hashtags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("hashtags[{i}]");
                match item.as_str() {
                    Some(tag) => {
                        post.hashtags.push(tag.to_owned());
                        texts.push((path, tag.to_owned()));
                    }
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
    if problems.is_empty() {
        Ok((texts, post))
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_refused_character_by_path() {
        let got = answer(
            r#"{"caption": "ok\u202e", "hashtags": ["a", "b\u200b"], "altText": "\ud83d\udc69\u200d\ud83c\udf73"}"#
                .as_bytes(),
            5,
        )
        .expect("a well-formed body");
        assert_eq!(
            got["refused"],
            json!([
                { "path": "caption", "at": 2, "codePoint": "U+202E", "name": "U+202E RIGHT-TO-LEFT OVERRIDE" },
                { "path": "hashtags[1]", "at": 1, "codePoint": "U+200B", "name": "U+200B ZERO WIDTH SPACE" },
            ])
        );
        let problems = answer(br#"{"caption": 1, "hashtags": [2], "x": 3}"#, 5)
            .expect_err("bad shapes are refused");
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["x", "caption", "hashtags[0]"]);
    }

    #[test]
    fn counts_the_post_as_saving_counts_it() {
        let got = answer(
            r##"{"caption": " Hi @Cafe, @cafe. #Soup\r\n", "hashtags": ["#soup", "秋"], "altText": " 🍂 ", "comment": "#x @y"}"##
                .as_bytes(),
            3,
        )
        .expect("a well-formed body");
        assert_eq!(
            got["counts"],
            json!({ "captionChars": 32, "mentions": 1, "hashtags": 2, "hashtagsInCaption": 1, "altTextChars": 1 })
        );
        assert_eq!(
            got["limits"],
            json!({ "caption": 2200, "altText": 1000, "hashtags": 3, "mentions": 20 })
        );
        assert_eq!(
            got["instagramCaption"],
            json!([
                { "text": "Hi @Cafe, @cafe. ", "hashtag": false },
                { "text": "#Soup", "hashtag": true },
                { "text": "\n\n", "hashtag": false },
                { "text": "#soup", "hashtag": true },
                { "text": " ", "hashtag": false },
                { "text": "#秋", "hashtag": true },
            ])
        );
        // A comment alone: the post's texts are empty.
        let got = answer(br##"{"comment": "#a #b"}"##, 3).expect("a well-formed body");
        assert_eq!(got["counts"]["hashtags"], 0);
        assert_eq!(got["instagramCaption"], json!([]));
    }
}
