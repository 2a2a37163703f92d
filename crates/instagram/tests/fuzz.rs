//! Fuzzing the readers of Meta's answers: whatever the Graph API (or something in front of
//! it) answers, each is read or classified, and nothing panics.

#![cfg(not(target_arch = "wasm32"))]

use instagram::{
    classify, instagram_time, parse_container_status, parse_created_id, parse_media_page,
    parse_permalink, parse_publishing_limit, parse_refreshed_token, regain_access_seconds,
    retry_after_seconds,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            any::<char>(),
            prop::sample::select(vec![
                '{', '}', '"', ':', ',', '1', '-', ' ', 'e', '\u{202E}'
            ])
        ],
        0..max,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|n| json!(n)),
        prop::sample::select(vec![
            1i64, 2, 4, 9, 17, 24, 25, 32, 100, 190, 368, 9004, 9007, 36003, 80002, 2207027,
            2207042
        ])
        .prop_map(Value::from),
        text(8).prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        number(),
        text(20).prop_map(Value::from),
        any::<bool>().prop_map(Value::from)
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "id",
                        "error",
                        "code",
                        "error_subcode",
                        "message",
                        "status_code",
                        "status",
                        "data",
                        "config",
                        "quota_usage",
                        "quota_total",
                        "permalink",
                        "paging",
                        "cursors",
                        "after",
                        "next",
                        "caption",
                        "timestamp",
                        "access_token",
                        "expires_in",
                        "is_transient",
                        "estimated_time_to_regain_access",
                        "x",
                    ]),
                    inner
                ),
                0..6,
            )
            .prop_map(|f| Value::Object(f.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// Graph-shaped answers: an error object with codes, a data page, or anything at all.
fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        (number(), number(), text(30)).prop_map(|(code, sub, message)| {
            json!({"error": {"code": code, "error_subcode": sub, "message": message}}).to_string()
        }),
        json_value()
            .prop_map(|v| json!({"data": [v], "paging": {"cursors": {"after": "x"}}}).to_string()),
        json_value().prop_map(|v| v.to_string()),
        text(80),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn graph_answers_are_read_or_classified(
        status in prop_oneof![Just(200u16), Just(400), Just(429), Just(500), any::<u16>()],
        retry_after in prop::option::of(prop_oneof![text(12), (0u64..=u64::MAX).prop_map(|n| n.to_string())]),
        body in body(),
    ) {
        let retry_after = retry_after.as_deref();
        let error = classify(status, retry_after, &body);
        let _ = (error.class(), error.message(), error.retry_after_seconds(), error.is_retryable());
        let _ = parse_created_id(status, retry_after, &body);
        if let Ok(container) = parse_container_status(status, retry_after, &body) {
            let _ = (container.status_code(), container.failure());
        }
        if let Ok(limit) = parse_publishing_limit(status, retry_after, &body) {
            let _ = limit.remaining();
        }
        let _ = parse_permalink(status, retry_after, &body);
        if let Ok(token) = parse_refreshed_token(status, retry_after, &body) {
            prop_assert!(!token.access_token.is_empty() && token.expires_in_seconds > 0);
        }
        if let Ok(page) = parse_media_page(status, retry_after, &body) {
            for item in &page.items {
                let _ = item.published_at();
            }
        }
    }

    #[test]
    fn instagram_times_are_read_within_the_years_or_refused(
        text in prop_oneof![
            text(30),
            (0i64..=99_999, 0u32..=99, 0u32..=99, 0u32..=99, prop_oneof![Just("+"), Just("-"), Just("Z"), Just("é")], 0u32..=9_999)
                .prop_map(|(y, mo, d, h, sign, off)| format!("{y:04}-{mo:02}-{d:02}T{h:02}:12:45{sign}{off:04}")),
        ],
    ) {
        if let Some(at) = instagram_time(&text) {
            prop_assert!((2010..=2100).contains(&at.year()), "{text} read as {at}");
        }
    }

    #[test]
    fn usage_and_retry_headers_are_read_or_ignored(header in prop_oneof![
        text(40),
        json_value().prop_map(|v| json!({"1": [{"estimated_time_to_regain_access": v}]}).to_string()),
    ]) {
        let _ = regain_access_seconds(&header);
        let _ = retry_after_seconds(&header);
        let _ = classify(400, Some(&header), "{}").with_business_use_case_usage(Some(&header));
    }
}

/// Answers of the Instagram Login calls: the code exchange, the long-lived exchange and the
/// account read, in the shapes Meta uses and broken ones, with ids as numbers and strings.
fn login_body() -> impl Strategy<Value = String> {
    let id = prop_oneof![
        (1u64..=u64::MAX).prop_map(|n| n.to_string()),
        Just("17841405822304914".to_owned()),
        Just("1.7841405822304914e16".to_owned()),
        Just("-1".to_owned()),
        Just("\"17841405822304914\"".to_owned()),
        Just("\"12a\"".to_owned()),
        Just("null".to_owned()),
    ];
    let token = prop_oneof![
        Just("\"IGAAtoken\"".to_owned()),
        Just("\"\"".to_owned()),
        Just("\"with space\"".to_owned()),
        Just("7".to_owned()),
    ];
    let name = prop_oneof![
        Just("\"shop_tokyo\"".to_owned()),
        Just("\"a b\"".to_owned()),
        Just("\"\"".to_owned()),
        Just("null".to_owned()),
    ];
    prop_oneof![
        (token.clone(), id.clone()).prop_map(|(t, i)| format!(
            r#"{{"access_token":{t},"user_id":{i},"permissions":"instagram_business_basic"}}"#
        )),
        (token.clone(), id.clone())
            .prop_map(|(t, i)| format!(r#"{{"data":[{{"access_token":{t},"user_id":{i}}}]}}"#)),
        (id.clone(), name)
            .prop_map(|(i, n)| format!(r#"{{"user_id":{i},"username":{n},"id":{i}}}"#)),
        text(80).prop_map(|m| {
            json!({"error_type": "OAuthException", "code": 400, "error_message": m}).to_string()
        }),
        text(120),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    /// Whatever Instagram Login answers is read or refused, nothing panics, an id read is
    /// digits, and no error quotes the token in the answer.
    #[test]
    fn login_answers_are_read_or_refused(
        status in prop_oneof![Just(200u16), Just(400u16), 100u16..=599],
        body in login_body(),
    ) {
        use instagram::login::{parse_identity, parse_long_lived, parse_short_lived};
        match parse_short_lived(status, &body) {
            Ok(token) => {
                prop_assert!(!token.user_id.is_empty() && token.user_id.bytes().all(|b| b.is_ascii_digit()));
                prop_assert!(!token.access_token.is_empty());
            }
            Err(error) => prop_assert!(!error.to_string().contains("IGAAtoken")),
        }
        if let Err(error) = parse_long_lived(status, None, &body) {
            prop_assert!(!error.to_string().contains("IGAAtoken"));
        }
        if let Ok(identity) = parse_identity(status, None, &body) {
            prop_assert!(identity.user_id.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(domain::account::is_username(&identity.username));
        }
    }
}
