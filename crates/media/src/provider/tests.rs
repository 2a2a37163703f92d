//! Tests of the providers' wire formats on answers shaped as the providers send them.

use super::{
    Answer, ImageError, clean_message, decode_base64, openai, retry_after_seconds, workers_ai,
};
use serde_json::json;

const PNG_START: &[u8] = b"\x89PNG\r\n\x1a\n";
/// `PNG_START` in base64.
const PNG_B64: &str = "iVBORw0KGgo=";

fn refused(status: Option<u16>, reason: &str) -> ImageError {
    ImageError::Refused {
        status,
        reason: reason.into(),
    }
}

#[test]
fn openai_request_body_names_model_prompt_and_one_image() {
    assert_eq!(
        openai::request_body("gpt-image-1", "A bowl of soup"),
        json!({ "model": "gpt-image-1", "prompt": "A bowl of soup", "n": 1 })
    );
}

/// `openai::parse_response` reads `body` with `status` as `expect`.
fn check(status: u16, body: &str, expect: Result<Answer, ImageError>) {
    assert_eq!(
        openai::parse_response(status, body),
        expect,
        "{status} {body}"
    );
}

/// An OpenAI-compatible images endpoint's answers that carry an image (as bytes or a URL),
/// and those that are not usable.
#[test]
fn openai_answers_with_an_image_or_unusable() {
    let ok = |data: serde_json::Value| json!({ "created": 1, "data": [data] }).to_string();

    check(
        200,
        &ok(json!({ "b64_json": PNG_B64 })),
        Ok(Answer::Bytes(PNG_START.to_vec())),
    );
    check(
        200,
        &ok(json!({ "url": "https://files.example/img.png", "revised_prompt": "soup" })),
        Ok(Answer::Url("https://files.example/img.png".into())),
    );
    // A null b64_json (dall-e with response_format url) falls through to the url.
    check(
        200,
        &ok(json!({ "b64_json": null, "url": "http://127.0.0.1:9/a.png" })),
        Ok(Answer::Url("http://127.0.0.1:9/a.png".into())),
    );
    check(
        200,
        &ok(json!({ "url": "file:///etc/passwd" })),
        Err(ImageError::Malformed(
            "data[0].url is not an http(s) URL".into(),
        )),
    );
    check(
        200,
        &ok(json!({ "b64_json": "not base64 at all!" })),
        Err(ImageError::Malformed(
            "the image data is not base64: Invalid symbol 33, offset 14.".into(),
        )),
    );
    check(
        200,
        &json!({ "data": [] }).to_string(),
        Err(ImageError::Malformed(
            "the response has neither data[0].b64_json nor data[0].url".into(),
        )),
    );
    check(
        200,
        "<html>",
        Err(ImageError::Malformed(
            "the response is not JSON: expected value at line 1 column 1".into(),
        )),
    );
}

/// An OpenAI-compatible images endpoint's refusals (the provider's words, keys removed),
/// rate limits, outages and answers that are not its own.
#[test]
fn openai_refusals_limits_and_outages() {
    // The refusal of OpenAI's safety system, as dall-e-3 answers it.
    let policy = json!({ "error": {
        "code": "content_policy_violation",
        "message": "Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.",
        "param": null, "type": "invalid_request_error" } });
    check(
        400,
        &policy.to_string(),
        Err(refused(
            Some(400),
            "content_policy_violation: Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.",
        )),
    );
    // gpt-image-1's moderation, and a wrong key whose echo must not survive.
    check(
        400,
        &json!({ "error": { "code": "moderation_blocked", "message": "Your request was rejected by the safety system." } }).to_string(),
        Err(refused(Some(400), "moderation_blocked: Your request was rejected by the safety system.")),
    );
    check(
        401,
        &json!({ "error": { "code": "invalid_api_key", "message": "Incorrect API key provided: sk-proj-****abcd. You can find your API key at https://platform.openai.com/account/api-keys." } }).to_string(),
        Err(refused(
            Some(401),
            "invalid_api_key: Incorrect API key provided: [redacted]. You can find your API key at https://platform.openai.com/account/api-keys.",
        )),
    );
    check(404, "Not Found", Err(refused(Some(404), "Not Found")));
    check(
        422,
        &json!({ "detail": "prompt too long" }).to_string(),
        Err(refused(Some(422), "prompt too long")),
    );

    check(
        429,
        &json!({ "error": { "code": "rate_limit_exceeded", "message": "Rate limit reached" } })
            .to_string(),
        Err(ImageError::RateLimited {
            retry_after_seconds: None,
        }),
    );
    check(
        429,
        &json!({ "error": { "code": "insufficient_quota", "message": "You exceeded your current quota." } }).to_string(),
        Err(refused(Some(429), "insufficient_quota: You exceeded your current quota.")),
    );
    check(500, "oops", Err(ImageError::Unavailable("HTTP 500".into())));
    check(503, "", Err(ImageError::Unavailable("HTTP 503".into())));
    check(408, "", Err(ImageError::Unavailable("HTTP 408".into())));
    check(
        302,
        "",
        Err(ImageError::Malformed("unexpected HTTP status 302".into())),
    );
}

#[test]
fn permanence_decides_retrying() {
    let permanent = [refused(Some(400), "no"), ImageError::Malformed("x".into())];
    let transient = [
        ImageError::Timeout(100),
        ImageError::RateLimited {
            retry_after_seconds: Some(3),
        },
        ImageError::Unavailable("HTTP 502".into()),
        ImageError::Transport("reset".into()),
    ];
    assert!(permanent.iter().all(ImageError::is_permanent));
    assert!(!transient.iter().any(ImageError::is_permanent));
}

#[test]
fn retry_after_header_wins_over_the_body() {
    assert_eq!(retry_after_seconds("37"), Some(37));
    assert_eq!(retry_after_seconds("Tue, 21 Oct 2025 07:29:30 GMT"), None);
    let limited = ImageError::RateLimited {
        retry_after_seconds: None,
    };
    assert_eq!(
        limited
            .clone()
            .with_retry_after(Some("37"))
            .retry_after_seconds(),
        Some(37)
    );
    assert_eq!(limited.clone().with_retry_after(None), limited);
    assert_eq!(limited.clone().with_retry_after(Some("soon")), limited);
    // Only a rate limit takes a wait.
    let down = ImageError::Unavailable("HTTP 503".into());
    assert_eq!(down.clone().with_retry_after(Some("37")), down);
}

#[test]
fn base64_with_a_data_uri_or_line_breaks() {
    assert_eq!(decode_base64(PNG_B64), Ok(PNG_START.to_vec()));
    assert_eq!(
        decode_base64(&format!("data:image/png;base64,{PNG_B64}")),
        Ok(PNG_START.to_vec())
    );
    assert_eq!(decode_base64("iVBORw0K\r\nGgo="), Ok(PNG_START.to_vec()));
}

#[test]
fn workers_ai_input_and_answers() {
    assert_eq!(workers_ai::input("soup"), json!({ "prompt": "soup" }));
    let long = "x".repeat(5000);
    assert_eq!(
        workers_ai::input(&long)["prompt"].as_str().map(str::len),
        Some(workers_ai::MAX_PROMPT_CHARS)
    );
    assert_eq!(
        workers_ai::parse_object(&json!({ "image": PNG_B64 })),
        Ok(PNG_START.to_vec())
    );
    assert_eq!(
        workers_ai::parse_object(&json!({ "result": { "image": PNG_B64 }, "success": true })),
        Ok(PNG_START.to_vec())
    );
    let none = Err(ImageError::Malformed(
        "the Workers AI answer has no image".into(),
    ));
    assert_eq!(
        workers_ai::parse_object(&json!({ "response": "text" })),
        none
    );
    assert_eq!(workers_ai::parse_object(&json!({ "image": "" })), none);
}

#[test]
fn workers_ai_errors_are_classified_by_code_and_words() {
    let check = |message: &str, expect: ImageError| {
        assert_eq!(workers_ai::classify_error(message), expect, "{message}");
    };
    let limited = ImageError::RateLimited {
        retry_after_seconds: None,
    };
    check(
        "AiError: 3040: Capacity temporarily exceeded",
        limited.clone(),
    );
    check(
        "3036: You have used up your daily free allocation of 10,000 neurons.",
        limited,
    );
    check(
        "AiError: Input prompt contains NSFW content.",
        refused(None, "AiError: Input prompt contains NSFW content."),
    );
    check(
        "5007: No such model @cf/x or task",
        refused(None, "5007: No such model @cf/x or task"),
    );
    check(
        "AiError: 3010: Invalid or incomplete input for the model",
        refused(
            None,
            "AiError: 3010: Invalid or incomplete input for the model",
        ),
    );
    check(
        "3007: Request timeout",
        ImageError::Unavailable("3007: Request timeout".into()),
    );
    check(
        "InferenceUpstreamError: 500",
        ImageError::Unavailable("InferenceUpstreamError: 500".into()),
    );
    // A year is not an error code.
    check(
        "failed in 2025",
        ImageError::Unavailable("failed in 2025".into()),
    );
}

#[test]
fn provider_messages_are_cleaned() {
    assert_eq!(clean_message("a\n  b\tc"), "a b c");
    assert_eq!(
        clean_message("key sk-abc123def456ghi789 leaked"),
        "key [redacted] leaked"
    );
    assert_eq!(
        clean_message("Authorization: Bearer abc.def"),
        "Authorization: Bearer [redacted]"
    );
    let long = clean_message(&"word ".repeat(200));
    assert_eq!(long.chars().count(), super::MAX_REASON_CHARS);
    assert!(long.ends_with('…'));
}
