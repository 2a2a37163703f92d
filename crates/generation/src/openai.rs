//! OpenAI-compatible Chat Completions: the request body and the reading of the response.
//! The shell sends the body with its key and passes back the status and the body text.

use serde_json::{Value, json};

use crate::chain::ChatPrompt;
use observe::remote;

use crate::model::{MAX_MESSAGE_CHARS, ModelError, clean_message};

/// Varied enough that two posts from similar briefs differ, low enough to follow the format.
pub const TEMPERATURE: f64 = 0.7;
/// Enough for the longest post Instagram takes (2,200 + 1,000 characters, which in Japanese
/// can be a token each) with the JSON around it; a runaway answer stops here.
pub const MAX_TOKENS: u32 = 4_096;

/// The body of `POST {base}/chat/completions`. With `structured_output` the provider is held
/// to the prompt's schema; providers without structured outputs get no `response_format`,
/// and the prompt and the parser do the work.
pub fn chat_request_body(model: &str, prompt: &ChatPrompt, structured_output: bool) -> Value {
    let mut body = json!({
        "model": model,
        "messages": prompt.messages,
        "temperature": TEMPERATURE,
        "max_tokens": MAX_TOKENS,
    });
    if structured_output {
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": {
                "name": "instagram_post",
                "strict": true,
                "schema": prompt.output_schema,
            },
        });
    }
    body
}

/// [`chat_request_body`] with the photos (`data:` URLs, [`crate::vision::data_url`]) in the
/// first user message, as `image_url` content parts.
pub fn vision_request_body(
    model: &str,
    prompt: &ChatPrompt,
    data_urls: &[String],
    structured_output: bool,
) -> Value {
    let mut body = chat_request_body(model, prompt, structured_output);
    body["messages"] = crate::vision::messages_with_photos(&prompt.messages, data_urls);
    body
}

/// The token counts a successful answer reports (`usage`), for the trace.
pub fn usage(body: &str) -> Option<Value> {
    serde_json::from_str::<Value>(body)
        .ok()
        .map(|value| value["usage"].clone())
        .filter(|usage| usage.is_object())
}

/// The model's answer text, or what went wrong, classified.
pub fn parse_chat_response(status: u16, body: &str) -> Result<String, ModelError> {
    match status {
        200..=299 => answer(body),
        408 => Err(ModelError::Timeout),
        429 => Err(rate_limited(body)),
        400..=499 => Err(ModelError::Rejected {
            status,
            message: error_message(body),
        }),
        500..=599 => Err(ModelError::Unavailable { status }),
        _ => Err(ModelError::Malformed(format!(
            "unexpected HTTP status {status}"
        ))),
    }
}

fn answer(body: &str) -> Result<String, ModelError> {
    let malformed = |reason: String| Err(ModelError::Malformed(reason));
    let value: Value = match serde_json::from_str(body) {
        Ok(value) => value,
        Err(e) => return malformed(format!("response body is not JSON: {e}")),
    };
    let choice = &value["choices"][0];
    let message = &choice["message"];
    if let Some(refusal) = message["refusal"].as_str().filter(|r| !r.trim().is_empty()) {
        return malformed(format!("the model refused: {}", clean_message(refusal)));
    }
    match &message["content"] {
        Value::String(content) => return Ok(content.clone()),
        // Some compatible providers send the content as a list of text parts.
        Value::Array(parts) if !parts.is_empty() => {
            let texts: Option<Vec<&str>> = parts.iter().map(|part| part["text"].as_str()).collect();
            if let Some(texts) = texts {
                return Ok(texts.concat());
            }
        }
        _ => {}
    }
    if let Some(error) = value["error"]["message"].as_str() {
        return malformed(format!(
            "the provider reported an error: {}",
            clean_message(error)
        ));
    }
    if choice["finish_reason"] == "content_filter" {
        return malformed("the provider's content filter withheld the answer".to_owned());
    }
    if choice.is_null() {
        return malformed("the response has no choices".to_owned());
    }
    malformed("the response has no text in choices[0].message.content".to_owned())
}

/// OpenAI answers 429 both for a rate limit and for an exhausted quota; only the first passes.
fn rate_limited(body: &str) -> ModelError {
    let value: Value = serde_json::from_str(body).unwrap_or_default();
    if value["error"]["code"] == "insufficient_quota" {
        return ModelError::Rejected {
            status: 429,
            message: error_message(body),
        };
    }
    let retry_after_seconds = value["error"]["message"].as_str().and_then(retry_hint);
    ModelError::RateLimited {
        retry_after_seconds,
    }
}

/// Reads OpenAI's "Please try again in 20s." (also `1.5s`, `6m0s`, `120ms`), rounded up.
fn retry_hint(message: &str) -> Option<u64> {
    const MARKER: &str = "try again in ";
    let start = message.find(MARKER)? + MARKER.len();
    let duration = message[start..]
        .split_whitespace()
        .next()?
        .trim_end_matches(['.', ',']);
    let mut rest = duration;
    let mut seconds = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, unit_len) = if rest.starts_with("ms") {
            (0.001, 2)
        } else if rest.starts_with('h') {
            (3600.0, 1)
        } else if rest.starts_with('m') {
            (60.0, 1)
        } else if rest.starts_with('s') {
            (1.0, 1)
        } else {
            return None;
        };
        seconds += number * unit;
        rest = &rest[unit_len..];
    }
    Some(seconds.ceil() as u64)
}

/// The provider's own words for a failure ([`observe::remote::openai_error`]).
fn error_message(body: &str) -> String {
    remote::openai_error(body, MAX_MESSAGE_CHARS)
        .message
        .unwrap_or_else(|| "the response gave no error message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{ChatMessage, Role};

    fn prompt() -> ChatPrompt {
        ChatPrompt {
            messages: vec![
                ChatMessage {
                    role: Role::System,
                    content: "Write.".to_owned(),
                },
                ChatMessage {
                    role: Role::User,
                    content: "Brief: x".to_owned(),
                },
            ],
            output_schema: json!({ "type": "object" }),
        }
    }

    fn check_body(structured_output: bool, expect: Value) {
        assert_eq!(
            chat_request_body("gpt-4o-mini", &prompt(), structured_output),
            expect
        );
    }

    #[test]
    fn request_body_with_and_without_structured_output() {
        let messages = json!([
            { "role": "system", "content": "Write." },
            { "role": "user", "content": "Brief: x" },
        ]);
        check_body(
            true,
            json!({
                "model": "gpt-4o-mini",
                "messages": messages,
                "temperature": 0.7,
                "max_tokens": 4096,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": { "name": "instagram_post", "strict": true, "schema": { "type": "object" } },
                },
            }),
        );
        check_body(
            false,
            json!({ "model": "gpt-4o-mini", "messages": messages, "temperature": 0.7, "max_tokens": 4096 }),
        );
    }

    #[test]
    fn vision_body_carries_the_photos_in_the_user_message() {
        let urls = vec!["data:image/jpeg;base64,AA==".to_owned()];
        let body = vision_request_body("gpt-4o-mini", &prompt(), &urls, true);
        assert_eq!(
            body["messages"][1]["content"],
            json!([
                { "type": "text", "text": "Brief: x" },
                { "type": "image_url", "image_url": { "url": "data:image/jpeg;base64,AA==" } },
            ])
        );
        assert_eq!(body["messages"][0]["content"], "Write.");
        assert_eq!(
            body["response_format"]["json_schema"]["schema"],
            json!({ "type": "object" })
        );
        assert_eq!(body["max_tokens"], 4096);
    }

    #[test]
    fn usage_is_read_when_reported() {
        let body =
            json!({ "choices": [], "usage": { "prompt_tokens": 3, "completion_tokens": 4 } });
        assert_eq!(
            usage(&body.to_string()),
            Some(json!({ "prompt_tokens": 3, "completion_tokens": 4 }))
        );
        assert_eq!(usage(r#"{"choices": []}"#), None);
        assert_eq!(usage("not json"), None);
    }

    fn check(status: u16, body: &str, expect: Result<&str, ModelError>) {
        assert_eq!(
            parse_chat_response(status, body),
            expect.map(str::to_owned),
            "{status} {body}"
        );
    }

    fn completion(message: Value) -> String {
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{ "index": 0, "message": message, "finish_reason": "stop" }],
        })
        .to_string()
    }

    #[test]
    fn success() {
        check(
            200,
            &completion(
                json!({ "role": "assistant", "content": "{\"caption\":\"Hi\"}", "refusal": null }),
            ),
            Ok("{\"caption\":\"Hi\"}"),
        );
        check(
            200,
            &completion(
                json!({ "role": "assistant", "content": [{ "type": "text", "text": "{\"a\"" }, { "type": "text", "text": ":1}" }] }),
            ),
            Ok("{\"a\":1}"),
        );
    }

    #[test]
    fn refusal() {
        check(
            200,
            &completion(
                json!({ "role": "assistant", "content": null, "refusal": "I can't help with that." }),
            ),
            Err(ModelError::Malformed(
                "the model refused: I can't help with that.".to_owned(),
            )),
        );
    }

    #[test]
    fn success_status_without_an_answer() {
        let malformed = |m: &str| Err(ModelError::Malformed(m.to_owned()));
        check(
            200,
            &completion(json!({ "role": "assistant", "content": null })),
            malformed("the response has no text in choices[0].message.content"),
        );
        check(
            200,
            r#"{"choices": []}"#,
            malformed("the response has no choices"),
        );
        check(
            200,
            r#"{"id": "x"}"#,
            malformed("the response has no choices"),
        );
        check(
            200,
            r#"{"choices": [{"message": {"content": null}, "finish_reason": "content_filter"}]}"#,
            malformed("the provider's content filter withheld the answer"),
        );
        check(
            200,
            r#"{"error": {"message": "upstream failed"}}"#,
            malformed("the provider reported an error: upstream failed"),
        );
        check(
            200,
            "<html>502 Bad Gateway</html>",
            malformed("response body is not JSON: expected value at line 1 column 1"),
        );
        check(
            200,
            "",
            malformed("response body is not JSON: EOF while parsing a value at line 1 column 0"),
        );
    }

    #[test]
    fn rate_limited_with_and_without_a_hint() {
        let limited = |s| {
            Err(ModelError::RateLimited {
                retry_after_seconds: s,
            })
        };
        let body = |message: &str| {
            json!({ "error": { "message": message, "type": "requests", "code": "rate_limit_exceeded" } })
                .to_string()
        };
        check(
            429,
            &body(
                "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3. Please try again in 20s. Visit https://x.",
            ),
            limited(Some(20)),
        );
        check(429, &body("Please try again in 1.5s."), limited(Some(2)));
        check(429, &body("Please try again in 6m0s."), limited(Some(360)));
        check(429, &body("Please try again in 120ms."), limited(Some(1)));
        check(429, &body("Please try again in a moment."), limited(None));
        check(429, &body("Slow down."), limited(None));
        check(429, "", limited(None));
    }

    #[test]
    fn exhausted_quota_is_not_a_rate_limit() {
        let body = r#"{"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota", "code": "insufficient_quota"}}"#;
        let error = parse_chat_response(429, body).err();
        assert_eq!(
            error,
            Some(ModelError::Rejected {
                status: 429,
                message: "You exceeded your current quota.".to_owned()
            })
        );
        // A `Retry-After` on it does not make it a rate limit either.
        assert_eq!(
            error.map(|e| e.with_retry_after(Some("20"))),
            Some(ModelError::Rejected {
                status: 429,
                message: "You exceeded your current quota.".to_owned()
            })
        );
    }

    #[test]
    fn server_errors_and_timeouts() {
        check(
            500,
            r#"{"error": {"message": "internal"}}"#,
            Err(ModelError::Unavailable { status: 500 }),
        );
        check(503, "", Err(ModelError::Unavailable { status: 503 }));
        check(408, "", Err(ModelError::Timeout));
        check(
            302,
            "",
            Err(ModelError::Malformed(
                "unexpected HTTP status 302".to_owned(),
            )),
        );
    }

    #[test]
    fn rejected_requests_carry_the_provider_message() {
        let rejected = |status, message: &str| {
            Err(ModelError::Rejected {
                status,
                message: message.to_owned(),
            })
        };
        check(
            400,
            r#"{"error": {"message": "Invalid schema for response_format 'instagram_post'.", "type": "invalid_request_error"}}"#,
            rejected(400, "Invalid schema for response_format 'instagram_post'."),
        );
        check(
            401,
            r#"{"error": {"message": "Incorrect API key provided: sk-proj-abc*****wxyz. You can find your API key at https://platform.openai.com/account/api-keys."}}"#,
            rejected(
                401,
                "Incorrect API key provided: [redacted]. You can find your API key at https://platform.openai.com/account/api-keys.",
            ),
        );
        check(
            404,
            r#"{"error": "model not found"}"#,
            rejected(404, "model not found"),
        );
        check(
            422,
            r#"{"message": "bad input"}"#,
            rejected(422, "bad input"),
        );
        check(
            403,
            "<html><body>Forbidden</body></html>",
            rejected(403, "<html><body>Forbidden</body></html>"),
        );
        check(400, "", rejected(400, "the response gave no error message"));
        let long = json!({ "error": { "message": "x".repeat(500) } }).to_string();
        check(400, &long, rejected(400, &format!("{}…", "x".repeat(199))));
    }
}
