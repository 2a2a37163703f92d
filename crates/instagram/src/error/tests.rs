use super::*;
use serde_json::json;

/// A Graph error body in the shape Meta sends.
fn meta(code: i64, subcode: Option<i64>, message: &str) -> String {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AvL2l9sX3a_4Ck0dQ0rEtSQ",
    });
    if let Some(subcode) = subcode {
        error["error_subcode"] = json!(subcode);
    }
    json!({ "error": error }).to_string()
}

fn check_class(status: u16, code: i64, subcode: Option<i64>, class: &str) {
    let error = classify(status, None, &meta(code, subcode, "m"));
    assert_eq!(
        (
            error.class(),
            error.code(),
            error.subcode(),
            error.message()
        ),
        (class, Some(code), subcode, "m"),
        "HTTP {status}, code {code}, subcode {subcode:?}"
    );
}

#[test]
fn every_code_and_subcode_in_the_notes() {
    let cases: &[(i64, Option<i64>, &str)] = &[
        (1, None, "transient"),
        (1, Some(99), "transient"),
        (2, None, "transient"),
        (341, None, "transient"),
        (-1, Some(2207001), "transient"),
        (-1, Some(2207032), "transient"),
        (-2, Some(2207003), "transient"),
        (9004, Some(2207052), "transient"),
        (24, Some(2207008), "transient"),
        (4, None, "rate_limited"),
        (4, Some(1349193), "rate_limited"),
        (17, None, "rate_limited"),
        (17, Some(2446079), "rate_limited"),
        (32, None, "rate_limited"),
        (613, None, "rate_limited"),
        (613, Some(1996), "rate_limited"),
        (80000, None, "rate_limited"),
        (80002, None, "rate_limited"),
        (80014, None, "rate_limited"),
        (9, Some(2207042), "rate_limited"),
        (9007, Some(2207027), "not_ready"),
        (-2, Some(2207020), "needs_new_container"),
        (190, None, "token_invalid"),
        (190, Some(458), "token_invalid"),
        (190, Some(459), "token_invalid"),
        (190, Some(460), "token_invalid"),
        (190, Some(463), "token_invalid"),
        (190, Some(467), "token_invalid"),
        (102, None, "token_invalid"),
        (36000, None, "permanent"),
        (36000, Some(2207004), "permanent"),
        (36001, None, "permanent"),
        (36001, Some(2207005), "permanent"),
        (36003, Some(2207009), "permanent"),
        (36004, Some(2207010), "permanent"),
        (100, Some(2207040), "permanent"),
        (25, Some(2207050), "permanent"),
        (4, Some(2207051), "permanent"),
        (10, None, "permanent"),
        (200, None, "permanent"),
        (250, None, "permanent"),
        (299, None, "permanent"),
    ];
    // Meta's status says little: the same body classifies the same way under each of them.
    for status in [400, 200, 403, 429, 500, 503] {
        for &(code, subcode, class) in cases {
            check_class(status, code, subcode, class);
        }
    }
}

#[test]
fn codes_the_notes_do_not_name_fall_back_to_the_status() {
    let unnamed: &[(i64, Option<i64>)] = &[
        (368, Some(1390008)),
        (100, Some(33)),
        (80015, None),
        (300, None),
        (9, None),
        (24, None),
        (9007, None),
        (-1, Some(2207999)),
        (-2, None),
    ];
    for &(code, subcode) in unnamed {
        check_class(400, code, subcode, "permanent");
        check_class(404, code, subcode, "permanent");
        check_class(200, code, subcode, "permanent");
        check_class(429, code, subcode, "rate_limited");
        check_class(500, code, subcode, "transient");
        check_class(503, code, subcode, "transient");
    }
}

fn check(status: u16, retry_after: Option<&str>, body: &str, expect: GraphError) {
    assert_eq!(
        classify(status, retry_after, body),
        expect,
        "HTTP {status}, Retry-After {retry_after:?}: {body}"
    );
}

fn transient(code: Option<i64>, subcode: Option<i64>, message: &str) -> GraphError {
    GraphError::Transient {
        code,
        subcode,
        message: message.to_owned(),
    }
}

fn limited(
    code: Option<i64>,
    subcode: Option<i64>,
    retry_after_seconds: Option<u64>,
    message: &str,
) -> GraphError {
    GraphError::RateLimited {
        code,
        subcode,
        retry_after_seconds,
        message: message.to_owned(),
    }
}

fn permanent(code: Option<i64>, subcode: Option<i64>, message: &str) -> GraphError {
    GraphError::Permanent {
        code,
        subcode,
        message: message.to_owned(),
    }
}

#[test]
fn recorded_error_bodies() {
    check(
        400,
        None,
        r#"{"error":{"message":"Error validating access token: Session has expired on Friday, 13-Feb-26 10:00:00 PST. The current time is Saturday, 14-Feb-26 01:12:45 PST.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A8kWv1Qn2mZ"}}"#,
        GraphError::TokenInvalid {
            code: Some(190),
            subcode: Some(463),
            message: "Error validating access token: Session has expired on Friday, 13-Feb-26 10:00:00 PST. The current time is Saturday, 14-Feb-26 01:12:45 PST.".to_owned(),
        },
    );
    check(
        400,
        None,
        r#"{"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"AbC"}}"#,
        GraphError::TokenInvalid {
            code: Some(190),
            subcode: None,
            message: "Invalid OAuth access token - Cannot parse access token".to_owned(),
        },
    );
    check(
        400,
        Some("60"),
        r#"{"error":{"message":"Application request limit reached","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"AbC"}}"#,
        limited(Some(4), None, Some(60), "Application request limit reached"),
    );
    check(
        400,
        None,
        r#"{"error":{"message":"There have been too many calls to this Instagram account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.","type":"OAuthException","is_transient":true,"code":80002,"fbtrace_id":"AbC"}}"#,
        limited(
            Some(80002),
            None,
            None,
            "There have been too many calls to this Instagram account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
        ),
    );
    check(
        400,
        None,
        r#"{"error":{"message":"Application request limit reached","type":"OAuthException","is_transient":false,"code":9,"error_subcode":2207042,"error_user_title":"Max posts per day reached","error_user_msg":"You have reached the maximum number of posts that is allowed to be published within 24 hours.","fbtrace_id":"AbC"}}"#,
        limited(
            Some(9),
            Some(2207042),
            None,
            "Application request limit reached",
        ),
    );
    check(
        400,
        None,
        r#"{"error":{"message":"Application request limit reached","type":"OAuthException","is_transient":false,"code":4,"error_subcode":2207051,"error_user_title":"Action blocked","error_user_msg":"We restrict certain activity to protect our community.","fbtrace_id":"AbC"}}"#,
        permanent(Some(4), Some(2207051), "Application request limit reached"),
    );
    check(
        400,
        None,
        r#"{"error":{"message":"Media ID is not available","type":"OAuthException","is_transient":false,"code":9007,"error_subcode":2207027,"error_user_title":"Media not ready for publishing","error_user_msg":"The media is not ready for publishing, please wait for a moment","fbtrace_id":"AbC"}}"#,
        GraphError::NotReady {
            code: Some(9007),
            subcode: Some(2207027),
            message: "Media ID is not available".to_owned(),
        },
    );
    check(
        400,
        None,
        r#"{"error":{"message":"The media you are trying to access has expired. Please try to upload again.","type":"OAuthException","code":-2,"error_subcode":2207020,"fbtrace_id":"AbC"}}"#,
        GraphError::NeedsNewContainer {
            code: Some(-2),
            subcode: Some(2207020),
            message: "The media you are trying to access has expired. Please try to upload again."
                .to_owned(),
        },
    );
    check(
        500,
        None,
        r#"{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":-1,"error_subcode":2207001,"fbtrace_id":"AbC"}}"#,
        transient(
            Some(-1),
            Some(2207001),
            "An unexpected error has occurred. Please retry your request later.",
        ),
    );
    check(
        400,
        None,
        r#"{"error":{"message":"The media could not be fetched from this uri: https://media.example.com/p/1.jpg","type":"OAuthException","code":9004,"error_subcode":2207052,"fbtrace_id":"AbC"}}"#,
        transient(
            Some(9004),
            Some(2207052),
            "The media could not be fetched from this uri: https://media.example.com/p/1.jpg",
        ),
    );
    check(
        400,
        None,
        r#"{"error":{"message":"The submitted image with aspect ratio ('2.5:1') cannot be published. Please submit an image with a valid aspect ratio.","type":"OAuthException","code":36003,"error_subcode":2207009,"fbtrace_id":"AbC"}}"#,
        permanent(
            Some(36003),
            Some(2207009),
            "The submitted image with aspect ratio ('2.5:1') cannot be published. Please submit an image with a valid aspect ratio.",
        ),
    );
    check(
        403,
        None,
        r#"{"error":{"message":"(#10) Application does not have permission for this action","type":"OAuthException","code":10,"fbtrace_id":"AbC"}}"#,
        permanent(
            Some(10),
            None,
            "(#10) Application does not have permission for this action",
        ),
    );
}

#[test]
fn message_fallbacks_and_lenient_codes() {
    // Only the user-facing text: it is better than nothing.
    check(
        400,
        None,
        r#"{"error":{"code":36004,"error_subcode":2207010,"error_user_msg":"The caption was too long."}}"#,
        permanent(Some(36004), Some(2207010), "The caption was too long."),
    );
    check(
        400,
        None,
        r#"{"error":{"code":"190","error_subcode":"460"}}"#,
        GraphError::TokenInvalid {
            code: Some(190),
            subcode: Some(460),
            message: String::new(),
        },
    );
    check(
        400,
        None,
        &meta(
            100,
            Some(2207040),
            "Cannot use\nmore  than 20 tags\tper created media.",
        ),
        permanent(
            Some(100),
            Some(2207040),
            "Cannot use more than 20 tags per created media.",
        ),
    );
    let long = meta(1, None, &"x".repeat(1000));
    check(
        500,
        None,
        &long,
        transient(Some(1), None, &format!("{}…", "x".repeat(299))),
    );
}

#[test]
fn meta_transient_hint_decides_only_for_unnamed_codes() {
    let body = |code: i64, is_transient: bool| {
        json!({ "error": { "message": "m", "code": code, "is_transient": is_transient } })
            .to_string()
    };
    check(400, None, &body(368, true), transient(Some(368), None, "m"));
    check(
        400,
        None,
        &body(368, false),
        permanent(Some(368), None, "m"),
    );
    // A named code keeps its class whatever the hint says.
    check(
        400,
        None,
        &body(190, true),
        GraphError::TokenInvalid {
            code: Some(190),
            subcode: None,
            message: "m".to_owned(),
        },
    );
    check(
        400,
        None,
        &body(4, false),
        limited(Some(4), None, None, "m"),
    );
}

/// A rate limit (with the wait it gives, if it is a number of seconds) or an outage, told by
/// the HTTP status alone.
#[test]
fn throttled_and_unavailable_answers_without_a_graph_error() {
    check(
        429,
        None,
        "",
        limited(None, None, None, "HTTP 429 with no error body"),
    );
    check(
        429,
        Some(" 120 "),
        "Too Many Requests",
        limited(None, None, Some(120), "HTTP 429: Too Many Requests"),
    );
    check(
        429,
        Some("Wed, 21 Oct 2026 07:28:00 GMT"),
        "",
        limited(None, None, None, "HTTP 429 with no error body"),
    );
    check(500, None, "", GraphError::Unavailable { status: 500 });
    check(
        503,
        Some("30"),
        "<html><body>Service Unavailable</body></html>",
        GraphError::Unavailable { status: 503 },
    );
    check(
        502,
        None,
        r#"{"error":"bad gateway"}"#,
        GraphError::Unavailable { status: 502 },
    );
    check(408, None, "", GraphError::Unavailable { status: 408 });
}

/// Any other answer without a Graph API error: a refusal in the words it came with, or not
/// an answer of the Graph API at all.
#[test]
fn other_answers_without_a_graph_error() {
    check(
        400,
        None,
        "<html><body>Bad Request</body></html>",
        permanent(
            None,
            None,
            "HTTP 400: <html><body>Bad Request</body></html>",
        ),
    );
    check(
        404,
        None,
        r#"{"error":{"message":"Unknown path components: /v25.0/mediaa","type":"OAuthException"}}"#,
        permanent(
            None,
            None,
            "HTTP 404: Unknown path components: /v25.0/mediaa",
        ),
    );
    check(
        403,
        None,
        "",
        permanent(None, None, "HTTP 403 with no error body"),
    );
    check(
        400,
        None,
        r#"{"error":"oops"}"#,
        permanent(None, None, r#"HTTP 400: {"error":"oops"}"#),
    );
    check(
        200,
        None,
        r#"{"id":"1"}"#,
        GraphError::Malformed("the response is neither a result nor a Graph API error".to_owned()),
    );
    check(
        302,
        None,
        "",
        GraphError::Malformed("unexpected HTTP status 302".to_owned()),
    );
    check(
        400,
        None,
        &"<p>".repeat(200),
        permanent(None, None, &format!("HTTP 400: {}<…", "<p>".repeat(96))),
    );
}

#[test]
fn an_error_body_with_http_200_is_an_error() {
    check(
        200,
        None,
        &meta(190, Some(463), "Error validating access token"),
        GraphError::TokenInvalid {
            code: Some(190),
            subcode: Some(463),
            message: "Error validating access token".to_owned(),
        },
    );
    check(
        200,
        None,
        &meta(2, None, "Service temporarily unavailable"),
        transient(Some(2), None, "Service temporarily unavailable"),
    );
}

const IG_TOKEN: &str = "IGAAJZBxyz0123456789abcdefGHIJKLmnopQRSTuvwx_yz-0123456789";
const FB_TOKEN: &str = "EAAGm0PX4ZCpsBAKZCZAb3ZBo0abcdefghijklmnopqrstuvwxyz0123";

fn check_clean(text: &str, expect: &str) {
    let cleaned = clean_message(text);
    assert_eq!(cleaned, expect, "{text:?}");
    assert!(!cleaned.contains("IGAAJZB") && !cleaned.contains("EAAGm0"));
}

#[test]
fn messages_never_carry_a_token() {
    check_clean(
        &format!(
            "Malformed access token https://graph.instagram.com/v25.0/me?fields=id&access_token={IG_TOKEN}&x=1"
        ),
        "Malformed access token https://graph.instagram.com/v25.0/me?fields=id&access_token=[redacted]&x=1",
    );
    check_clean(
        &format!("bad ACCESS_TOKEN={FB_TOKEN}."),
        "bad ACCESS_TOKEN=[redacted]",
    );
    check_clean(
        &format!("url: https%3A%2F%2Fx%3Faccess_token%3D{IG_TOKEN}%26a%3Db end"),
        "url: https%3A%2F%2Fx%3Faccess_token%3D[redacted] end",
    );
    check_clean(
        &format!(r#"request {{"access_token":"{IG_TOKEN}","a":1}}"#),
        r#"request {"access_token":"[redacted]","a":1}"#,
    );
    check_clean(
        "input_token=123456|abcdefSECRET and fb_exchange_token=short",
        "input_token=[redacted] and fb_exchange_token=[redacted]",
    );
    check_clean(
        "header Authorization: Bearer abc.def-ghi rejected",
        "header Authorization: Bearer [redacted] rejected",
    );
    check_clean(
        &format!("Authorization: bearer\n{IG_TOKEN}"),
        "Authorization: bearer [redacted]",
    );
    check_clean(
        &format!("the token ({FB_TOKEN}) is invalid, also {IG_TOKEN}!"),
        "the token ([redacted]) is invalid, also [redacted]!",
    );
    check_clean(
        "token= is empty, access_token=",
        "token= is empty, access_token=",
    );
    // Ordinary words, ids and short capitalised words stay.
    check_clean(
        "EAA IGQ Error validating access token: Session has expired; media 17889455560051444",
        "EAA IGQ Error validating access token: Session has expired; media 17889455560051444",
    );
    check_clean("春の新作　☕  #カフェ", "春の新作 ☕ #カフェ");
    // The token goes before the cut, so no stub of it survives the truncation.
    let long = format!("{} access_token={IG_TOKEN}", "a".repeat(290));
    check_clean(
        &long,
        &format!("{} access_token=[redacted]", "a".repeat(290))
            .chars()
            .take(299)
            .chain(['…'])
            .collect::<String>(),
    );
}

#[test]
fn classified_messages_are_redacted() {
    let body = meta(
        190,
        Some(467),
        &format!("Invalid OAuth access token: GET /v25.0/me?access_token={IG_TOKEN}"),
    );
    let error = classify(400, None, &body);
    assert_eq!(
        error.message(),
        "Invalid OAuth access token: GET /v25.0/me?access_token=[redacted]"
    );
    assert!(!error.to_string().contains(IG_TOKEN));
    let error = classify(403, None, &format!("<p>Bearer {FB_TOKEN}</p>"));
    assert_eq!(error.message(), "HTTP 403: <p>Bearer [redacted]");
}

fn check_error(error: GraphError, expect: (&str, &str, bool, Option<i64>, Option<i64>)) {
    assert_eq!(
        (
            error.to_string().as_str(),
            error.class(),
            error.is_retryable(),
            error.code(),
            error.subcode()
        ),
        expect,
        "{error:?}"
    );
}

/// The errors a later attempt may get past: each error's words, class, codes, and that it
/// is retried.
#[test]
fn retryable_errors_display_class_and_codes() {
    check_error(
        transient(Some(-1), Some(2207001), "An unexpected error has occurred."),
        (
            "the Graph API failed temporarily (code -1, subcode 2207001): An unexpected error has occurred.",
            "transient",
            true,
            Some(-1),
            Some(2207001),
        ),
    );
    check_error(
        limited(
            Some(4),
            None,
            Some(300),
            "Application request limit reached",
        ),
        (
            "the Graph API is throttling requests (code 4), retry after 300 seconds: Application request limit reached",
            "rate_limited",
            true,
            Some(4),
            None,
        ),
    );
    check_error(
        limited(None, None, None, "HTTP 429 with no error body"),
        (
            "the Graph API is throttling requests (no error code): HTTP 429 with no error body",
            "rate_limited",
            true,
            None,
            None,
        ),
    );
    check_error(
        GraphError::NotReady {
            code: Some(9007),
            subcode: Some(2207027),
            message: "Media ID is not available".to_owned(),
        },
        (
            "the container is not ready to publish yet (code 9007, subcode 2207027): Media ID is not available",
            "not_ready",
            true,
            Some(9007),
            Some(2207027),
        ),
    );
    check_error(
        GraphError::Unavailable { status: 503 },
        (
            "the Graph API is unavailable (HTTP 503)",
            "unavailable",
            true,
            None,
            None,
        ),
    );
}

/// The errors that are not retried: a new container, a new token, or nothing will help.
#[test]
fn final_errors_display_class_and_codes() {
    check_error(
        GraphError::NeedsNewContainer {
            code: None,
            subcode: Some(2207003),
            message: String::new(),
        },
        (
            "the container cannot be published, a new container is needed (subcode 2207003)",
            "needs_new_container",
            false,
            None,
            Some(2207003),
        ),
    );
    check_error(
        GraphError::TokenInvalid {
            code: Some(190),
            subcode: Some(463),
            message: "Session has expired".to_owned(),
        },
        (
            "the access token is expired or invalid (code 190, subcode 463), publishing for this account needs a new token: Session has expired",
            "token_invalid",
            false,
            Some(190),
            Some(463),
        ),
    );
    check_error(
        permanent(Some(36004), Some(2207010), "The caption was too long."),
        (
            "the Graph API refused the request (code 36004, subcode 2207010): The caption was too long.",
            "permanent",
            false,
            Some(36004),
            Some(2207010),
        ),
    );
    check_error(
        GraphError::Malformed("the response has no id".to_owned()),
        (
            "the Graph API response was not usable: the response has no id",
            "malformed",
            false,
            None,
            None,
        ),
    );
}

fn check_usage(error: GraphError, header: Option<&str>, expect: GraphError) {
    assert_eq!(
        error.with_business_use_case_usage(header),
        expect,
        "{header:?}"
    );
}

#[test]
fn business_use_case_usage_fills_in_the_wait() {
    let header = r#"{"17841405822304914":[{"type":"instagram","call_count":100,"total_cputime":12,"total_time":30,"estimated_time_to_regain_access":5}]}"#;
    let throttled = |s| limited(Some(80002), None, s, "m");
    check_usage(throttled(None), Some(header), throttled(Some(300)));
    check_usage(throttled(Some(60)), Some(header), throttled(Some(300)));
    check_usage(throttled(Some(900)), Some(header), throttled(Some(900)));
    check_usage(throttled(Some(60)), None, throttled(Some(60)));
    let token = GraphError::TokenInvalid {
        code: Some(190),
        subcode: None,
        message: "m".to_owned(),
    };
    check_usage(token.clone(), Some(header), token);
}

fn check_regain(header: &str, expect: Option<u64>) {
    assert_eq!(regain_access_seconds(header), expect, "{header}");
}

#[test]
fn reading_business_use_case_usage() {
    check_regain(
        r#"{"1":[{"type":"instagram","call_count":100,"estimated_time_to_regain_access":5}]}"#,
        Some(300),
    );
    check_regain(
        r#"{"1":[{"type":"pages","estimated_time_to_regain_access":2},{"type":"instagram","estimated_time_to_regain_access":12}],"2":[{"estimated_time_to_regain_access":7}]}"#,
        Some(720),
    );
    check_regain(
        r#"{"1":[{"type":"instagram","call_count":28,"estimated_time_to_regain_access":0}]}"#,
        None,
    );
    check_regain(r#"{"1":[{"type":"instagram"}]}"#, None);
    check_regain("{}", None);
    check_regain("not json", None);
    check_regain("[1,2]", None);
}
