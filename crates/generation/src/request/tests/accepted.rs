//! Bodies accepted: defaults, every field, the hashtag cap, the JSON form, and when two
//! bodies are the same request.

use super::*;

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
        photos: false,
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
            photos: false,
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

/// Checks whether two bodies are the same request: the same normalised values, whatever the
/// order, spacing, defaults written out or offset of a time.
fn check_same_request(a: &str, b: &str, same: bool) {
    let parse = |body: &str| {
        parse_generate_request(body.as_bytes(), &rules())
            .unwrap_or_else(|p| panic!("{body}: {p:?}"))
    };
    let (a_request, b_request) = (parse(a), parse(b));
    assert_eq!(a_request == b_request, same, "{a} vs {b}");
}

#[test]
fn equal_requests_are_equal_however_written() {
    check_same_request(r#"{"brief": "x"}"#, r#"{"brief": "x"}"#, true);
    check_same_request(
        r#"{"brief": "x", "tone": "friendly"}"#,
        r#"{"tone": "friendly", "brief": " x "}"#,
        true,
    );
    check_same_request(
        r#"{"brief": "x"}"#,
        r#"{"brief": "x", "language": "ja", "hashtagCount": 5}"#,
        true,
    );
    check_same_request(
        r#"{"brief": "x", "scheduledAt": "2030-01-02T09:00:00+09:00"}"#,
        r#"{"brief": "x", "scheduledAt": "2030-01-02T00:00:00Z"}"#,
        true,
    );
    check_same_request(r#"{"brief": "x"}"#, r#"{"brief": "y"}"#, false);
    check_same_request(
        r#"{"brief": "x"}"#,
        r#"{"brief": "x", "tone": "playful"}"#,
        false,
    );
    check_same_request(
        r#"{"brief": "x"}"#,
        r#"{"brief": "x", "hashtagCount": 4}"#,
        false,
    );
    check_same_request(
        r#"{"brief": "x"}"#,
        r#"{"brief": "x", "imagePrompt": "x"}"#,
        false,
    );
    check_same_request(
        r#"{"brief": "x", "keywords": ["a", "b"]}"#,
        r#"{"brief": "x", "keywords": ["b", "a"]}"#,
        false,
    );
    check_same_request(
        r#"{"brief": "x", "keywords": ["a,b"]}"#,
        r#"{"brief": "x", "keywords": ["a", "b"]}"#,
        false,
    );
    check_same_request(
        r#"{"brief": "x", "scheduledAt": "2030-01-02T00:00:00Z"}"#,
        r#"{"brief": "x", "scheduledAt": "2030-01-02T00:00:00.000000001Z"}"#,
        false,
    );
}

#[test]
fn brief_keeps_its_lines() {
    check_ok(
        r#"{"brief": " 新メニュー\n\t- 抹茶ラテ 🍵\r\n\t- ほうじ茶 \r\n"}"#,
        request("新メニュー\n\t- 抹茶ラテ 🍵\n\t- ほうじ茶"),
    );
}
