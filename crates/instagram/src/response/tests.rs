use super::*;

const TOKEN_EXPIRED: &str = r#"{"error":{"message":"Error validating access token: Session has expired on Friday, 13-Feb-26 10:00:00 PST.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A8kWv1Qn2mZ"}}"#;

fn token_expired() -> GraphError {
    GraphError::TokenInvalid {
        code: Some(190),
        subcode: Some(463),
        message:
            "Error validating access token: Session has expired on Friday, 13-Feb-26 10:00:00 PST."
                .to_owned(),
    }
}

fn bad(reason: &str) -> GraphError {
    GraphError::Malformed(reason.to_owned())
}

fn check_id(status: u16, body: &str, expect: Result<&str, GraphError>) {
    assert_eq!(
        parse_created_id(status, None, body),
        expect.map(str::to_owned),
        "{status} {body}"
    );
}

#[test]
fn created_ids() {
    check_id(
        200,
        r#"{"id":"17889455560051444"}"#,
        Ok("17889455560051444"),
    );
    check_id(
        200,
        r#"{ "id": "17920238422030506" }"#,
        Ok("17920238422030506"),
    );
    check_id(200, r#"{"id":17920238422030506}"#, Ok("17920238422030506"));
    check_id(201, r#"{"id":" 7 "}"#, Ok("7"));
    check_id(200, r#"{"id":""}"#, Err(bad("the response has no id")));
    check_id(
        200,
        r#"{"success":true}"#,
        Err(bad("the response has no id")),
    );
    check_id(200, "[]", Err(bad("the response has no id")));
    check_id(
        200,
        "",
        Err(bad(
            "the response body is not JSON: EOF while parsing a value at line 1 column 0",
        )),
    );
    check_id(
        200,
        "<html>ok</html>",
        Err(bad(
            "the response body is not JSON: expected value at line 1 column 1",
        )),
    );
    check_id(400, TOKEN_EXPIRED, Err(token_expired()));
    check_id(200, TOKEN_EXPIRED, Err(token_expired()));
    check_id(
        400,
        r#"{"error":{"message":"Media ID is not available","type":"OAuthException","code":9007,"error_subcode":2207027,"is_transient":false,"error_user_title":"Media not ready for publishing","error_user_msg":"The media is not ready for publishing, please wait for a moment","fbtrace_id":"AbC"}}"#,
        Err(GraphError::NotReady {
            code: Some(9007),
            subcode: Some(2207027),
            message: "Media ID is not available".to_owned(),
        }),
    );
    check_id(500, "", Err(GraphError::Unavailable { status: 500 }));
}

#[test]
fn retry_after_reaches_the_error() {
    assert_eq!(
        parse_created_id(429, Some("45"), ""),
        Err(GraphError::RateLimited {
            code: None,
            subcode: None,
            retry_after_seconds: Some(45),
            message: "HTTP 429 with no error body".to_owned(),
        })
    );
}

fn check_status(status: u16, body: &str, expect: Result<ContainerStatus, GraphError>) {
    assert_eq!(
        parse_container_status(status, None, body),
        expect,
        "{status} {body}"
    );
}

fn container_error(subcode: Option<i64>, detail: &str) -> ContainerStatus {
    ContainerStatus::Error {
        subcode,
        detail: detail.to_owned(),
    }
}

#[test]
fn container_statuses() {
    check_status(
        200,
        r#"{"status_code":"IN_PROGRESS","status":"In Progress: Media is still being processed.","id":"17889455560051444"}"#,
        Ok(ContainerStatus::InProgress),
    );
    check_status(
        200,
        r#"{"status_code":"FINISHED","status":"Finished: Media has been uploaded and it is complete.","id":"17889455560051444"}"#,
        Ok(ContainerStatus::Finished),
    );
    check_status(
        200,
        r#"{"status_code":"PUBLISHED","id":"17889455560051444"}"#,
        Ok(ContainerStatus::Published),
    );
    check_status(
        200,
        r#"{"status_code":"EXPIRED","id":"17889455560051444"}"#,
        Ok(ContainerStatus::Expired),
    );
    check_status(
        200,
        r#"{"status_code":"ERROR","status":"Error: Media upload has failed with error code 2207003","id":"17889455560051444"}"#,
        Ok(container_error(
            Some(2207003),
            "Error: Media upload has failed with error code 2207003",
        )),
    );
    check_status(
        200,
        r#"{"status_code":"ERROR","status":"Error: 2207009 The submitted image with aspect ratio ('2.5:1') cannot be published (container 17889455560051444, 1440 px)","id":"17889455560051444"}"#,
        Ok(container_error(
            Some(2207009),
            "Error: 2207009 The submitted image with aspect ratio ('2.5:1') cannot be published (container 17889455560051444, 1440 px)",
        )),
    );
    check_status(
        200,
        r#"{"status_code":"ERROR","id":"17889455560051444"}"#,
        Ok(container_error(None, "")),
    );
    check_status(
        200,
        r#"{"status_code":"ERROR","status":"Error: Unknown error (8 MB)"}"#,
        Ok(container_error(None, "Error: Unknown error (8 MB)")),
    );
    check_status(
        200,
        r#"{"status":"Finished","id":"1"}"#,
        Err(bad("the response has no status_code")),
    );
    check_status(
        200,
        r#"{"status_code":"SCHEDULED"}"#,
        Err(bad("unknown container status_code SCHEDULED")),
    );
    check_status(400, TOKEN_EXPIRED, Err(token_expired()));
    check_status(
        400,
        r#"{"error":{"message":"Unsupported get request. Object with ID '1788' does not exist, cannot be loaded due to missing permissions, or does not support this operation.","type":"GraphMethodException","code":100,"error_subcode":33,"fbtrace_id":"AbC"}}"#,
        Err(GraphError::Permanent {
            code: Some(100),
            subcode: Some(33),
            message: "Unsupported get request. Object with ID '1788' does not exist, cannot be loaded due to missing permissions, or does not support this operation.".to_owned(),
        }),
    );
    check_status(
        503,
        "upstream connect error",
        Err(GraphError::Unavailable { status: 503 }),
    );
}

fn check_failure(status: ContainerStatus, expect: Option<(&str, Option<i64>)>) {
    let failure = status.failure();
    assert_eq!(
        failure.as_ref().map(|e| (e.class(), e.subcode())),
        expect,
        "{status:?}"
    );
    assert!(failure.is_none_or(|e| !e.is_retryable()), "{status:?}");
}

#[test]
fn what_a_container_status_means() {
    check_failure(ContainerStatus::InProgress, None);
    check_failure(ContainerStatus::Finished, None);
    check_failure(ContainerStatus::Published, None);
    check_failure(
        ContainerStatus::Expired,
        Some(("needs_new_container", None)),
    );
    check_failure(
        container_error(None, ""),
        Some(("needs_new_container", None)),
    );
    for subcode in [2207001, 2207003, 2207020, 2207026, 2207052] {
        check_failure(
            container_error(Some(subcode), "Error"),
            Some(("needs_new_container", Some(subcode))),
        );
    }
    // A new container would be refused the same way, and count against the 400 a day.
    for subcode in [
        2207004, 2207005, 2207009, 2207010, 2207040, 2207050, 2207051,
    ] {
        check_failure(
            container_error(Some(subcode), "Error"),
            Some(("permanent", Some(subcode))),
        );
    }
    assert_eq!(
        container_error(None, "").failure().map(|e| e.to_string()),
        Some(
            "the container cannot be published, a new container is needed (no error code): the container status is ERROR"
                .to_owned()
        )
    );
    assert_eq!(
        ContainerStatus::Expired.failure().map(|e| e.to_string()),
        Some(
            "the container cannot be published, a new container is needed (no error code): the container expired before it was published"
                .to_owned()
        )
    );
    let codes: Vec<&str> = [
        ContainerStatus::InProgress,
        ContainerStatus::Finished,
        container_error(None, ""),
        ContainerStatus::Expired,
        ContainerStatus::Published,
    ]
    .iter()
    .map(ContainerStatus::status_code)
    .collect();
    assert_eq!(
        codes,
        ["IN_PROGRESS", "FINISHED", "ERROR", "EXPIRED", "PUBLISHED"]
    );
}

fn check_limit(
    status: u16,
    body: &str,
    expect: Result<(u32, Option<u32>, Option<u32>), GraphError>,
) {
    let parsed = parse_publishing_limit(status, None, body)
        .map(|l| (l.quota_usage, l.quota_total, l.quota_duration_seconds));
    assert_eq!(parsed, expect, "{status} {body}");
}

#[test]
fn publishing_limits() {
    check_limit(
        200,
        r#"{"data":[{"quota_usage":2,"config":{"quota_total":100,"quota_duration":86400}}]}"#,
        Ok((2, Some(100), Some(86400))),
    );
    check_limit(
        200,
        r#"{"data":[{"quota_usage":50,"config":{"quota_total":50,"quota_duration":86400}}]}"#,
        Ok((50, Some(50), Some(86400))),
    );
    check_limit(200, r#"{"data":[{"quota_usage":0}]}"#, Ok((0, None, None)));
    check_limit(
        200,
        r#"{"quota_usage":3,"config":{"quota_total":25}}"#,
        Ok((3, Some(25), None)),
    );
    check_limit(
        200,
        r#"{"data":[]}"#,
        Err(bad("the response's data is empty")),
    );
    check_limit(
        200,
        r#"{"data":[{"config":{"quota_total":100}}]}"#,
        Err(bad("the response has no quota_usage")),
    );
    check_limit(
        200,
        r#"{"data":[{"quota_usage":-1}]}"#,
        Err(bad("the response has no quota_usage")),
    );
    check_limit(400, TOKEN_EXPIRED, Err(token_expired()));
    check_limit(
        400,
        r#"{"error":{"message":"(#10) Application does not have permission for this action","type":"OAuthException","code":10,"fbtrace_id":"AbC"}}"#,
        Err(GraphError::Permanent {
            code: Some(10),
            subcode: None,
            message: "(#10) Application does not have permission for this action".to_owned(),
        }),
    );
}

#[test]
fn remaining_quota() {
    let limit = |quota_usage, quota_total| PublishingLimit {
        quota_usage,
        quota_total,
        quota_duration_seconds: None,
    };
    assert_eq!(limit(2, Some(100)).remaining(), Some(98));
    assert_eq!(limit(100, Some(100)).remaining(), Some(0));
    assert_eq!(limit(120, Some(100)).remaining(), Some(0));
    assert_eq!(limit(2, None).remaining(), None);
}

fn check_permalink(status: u16, body: &str, expect: Result<&str, GraphError>) {
    assert_eq!(
        parse_permalink(status, None, body),
        expect.map(str::to_owned),
        "{status} {body}"
    );
}

#[test]
fn permalinks() {
    check_permalink(
        200,
        r#"{"permalink":"https://www.instagram.com/p/C3xYz_AbCdE/","id":"17920238422030506"}"#,
        Ok("https://www.instagram.com/p/C3xYz_AbCdE/"),
    );
    check_permalink(
        200,
        r#"{"id":"17920238422030506"}"#,
        Err(bad("the response has no permalink")),
    );
    check_permalink(
        200,
        r#"{"permalink":null}"#,
        Err(bad("the response has no permalink")),
    );
    check_permalink(400, TOKEN_EXPIRED, Err(token_expired()));
    check_permalink(
        400,
        r#"{"error":{"message":"There have been too many calls to this Instagram account. Wait a bit and try again.","type":"OAuthException","is_transient":true,"code":80002,"fbtrace_id":"AbC"}}"#,
        Err(GraphError::RateLimited {
            code: Some(80002),
            subcode: None,
            retry_after_seconds: None,
            message: "There have been too many calls to this Instagram account. Wait a bit and try again."
                .to_owned(),
        }),
    );
}

#[test]
fn media_lists() {
    let item = |id: &str, caption: &str, timestamp: Option<&str>| MediaItem {
        id: id.to_owned(),
        caption: caption.to_owned(),
        timestamp: timestamp.map(str::to_owned),
    };
    assert_eq!(
        parse_media_page(
            200,
            None,
            r#"{"data":[{"id":"17920238422030507","caption":"Soup\n\n#autumn","timestamp":"2026-02-14T09:12:45+0000"},{"id":17920238422030506},{"caption":"no id"}],"paging":{"cursors":{}}}"#,
        ),
        Ok(MediaPage {
            items: vec![
                item(
                    "17920238422030507",
                    "Soup\n\n#autumn",
                    Some("2026-02-14T09:12:45+0000")
                ),
                item("17920238422030506", "", None),
            ],
            after: None
        })
    );
    let empty = MediaPage {
        items: vec![],
        after: None,
    };
    assert_eq!(
        parse_media_page(200, None, r#"{"data":[]}"#),
        Ok(empty.clone())
    );
    // The cursor counts only with a next page.
    assert_eq!(
        parse_media_page(
            200,
            None,
            r#"{"data":[],"paging":{"cursors":{"after":"QVFI"},"next":"https://graph/next"}}"#
        ),
        Ok(MediaPage {
            after: Some("QVFI".into()),
            ..empty.clone()
        })
    );
    assert_eq!(
        parse_media_page(
            200,
            None,
            r#"{"data":[],"paging":{"cursors":{"after":"QVFI"}}}"#
        ),
        Ok(empty)
    );
    assert_eq!(
        parse_media_page(200, None, r#"{"id":"1"}"#),
        Err(bad("the response has no data list"))
    );
    assert_eq!(
        parse_media_page(400, None, TOKEN_EXPIRED),
        Err(token_expired())
    );
}

#[test]
fn refreshed_tokens() {
    let check = |status: u16, body: &str, expect: Result<(&str, u64), GraphError>| {
        assert_eq!(
            parse_refreshed_token(status, None, body),
            expect.map(|(token, seconds)| RefreshedToken {
                access_token: token.to_owned(),
                expires_in_seconds: seconds,
            }),
            "{status} {body}"
        );
    };
    check(
        200,
        r#"{"access_token":"IGQVJYnewtoken123","token_type":"bearer","expires_in":5183944}"#,
        Ok(("IGQVJYnewtoken123", 5_183_944)),
    );
    check(
        200,
        r#"{"access_token":"IGQ","expires_in":1}"#,
        Ok(("IGQ", 1)),
    );
    check(
        200,
        r#"{"expires_in":5183944}"#,
        Err(bad("the response has no access_token")),
    );
    for token in [r#""""#, r#""has space""#, r#""tab\there""#, r#""é""#] {
        check(
            200,
            &format!(r#"{{"access_token":{token},"expires_in":5}}"#),
            Err(bad("the refreshed access_token is not a token")),
        );
    }
    check(
        200,
        &format!(
            r#"{{"access_token":"{}","expires_in":5}}"#,
            "a".repeat(MAX_TOKEN_CHARS + 1)
        ),
        Err(bad("the refreshed access_token is not a token")),
    );
    for expires in ["0", "-5", "1.5", "\"5183944\"", "99999999999"] {
        let body = format!(r#"{{"access_token":"IGQ","expires_in":{expires}}}"#);
        let expect = if expires.starts_with('"') {
            bad("the response has no expires_in")
        } else {
            bad("the response's expires_in is not a lifetime")
        };
        check(200, &body, Err(expect));
    }
    check(400, TOKEN_EXPIRED, Err(token_expired()));
    let shown = format!(
        "{:?}",
        parse_refreshed_token(200, None, r#"{"access_token":"IGQsecret","expires_in":9}"#)
    );
    assert!(!shown.contains("IGQsecret"), "{shown}");
}

#[test]
fn a_posts_comments_are_read_with_their_text() {
    let body = r#"{"data":[{"id":"1791","text":"Menu in bio","username":"cafe"},{"text":"no id"},{"id":1792,"text":"nice"}]}"#;
    assert_eq!(
        parse_comments(200, None, body).unwrap(),
        vec![
            Comment {
                id: "1791".into(),
                text: "Menu in bio".into()
            },
            Comment {
                id: "1792".into(),
                text: "nice".into()
            },
        ]
    );
    assert!(parse_comments(200, None, r#"{"nodata":1}"#).is_err());
    assert!(parse_comments(500, None, "down").is_err());
}
