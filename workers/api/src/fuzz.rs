//! Fuzzing every parser in this Worker that sees outside bytes: form bodies and query
//! strings, the JSON bodies of the draft actions, the text check and an account's voice,
//! cookies, the bearer header, `Range`, `If-None-Match`, paths, and page cursors. Nothing
//! panics, and what is accepted keeps its rules.

use domain::content::invisible;
use domain::timestamp::LATEST_YEAR;
use proptest::prelude::*;
use serde_json::{Value, json};
use time::macros::datetime;

use crate::media::{ByteRange, entity_tags};

fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        3 => prop::sample::select(vec![
            '%', '+', '&', '=', ';', ',', '"', '-', '/', '.', '*', ' ', '\t', 'é', '1', 'a', 'F',
            'W', '\u{202E}', '\u{200B}', '\u{200D}', '\u{FEFF}', '\u{0}',
        ]),
    ]
}

fn tricky_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..max).prop_map(|chars| chars.into_iter().collect())
}

/// Bytes that look like a form (`a=%1é&b`), or anything at all, UTF-8 or not.
fn form_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        tricky_text(60).prop_map(String::into_bytes),
        prop::collection::vec(
            prop_oneof![
                any::<u8>(),
                prop::sample::select(b"%=&+0123456789abcdefABCDEF".to_vec()),
            ],
            0..80,
        ),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|n| json!(n)),
        tricky_text(24).prop_map(Value::from),
        (0u32..=9999, any::<bool>()).prop_map(|(y, east)| {
            Value::from(format!(
                "{y:04}-12-31T23:30:00{}01:00",
                if east { '+' } else { '-' }
            ))
        }),
    ];
    leaf.prop_recursive(3, 20, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..5)
                .prop_map(|f| Value::Object(f.into_iter().collect())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "revision", "caption", "hashtags", "altText", "comment", "scheduledAt", "text",
            "image", "language", "tone", "alwaysHashtags", "neverHashtags", "avoidWords",
            "sampleCaptions",
        ])
        .prop_map(str::to_owned),
        1 => tricky_text(6),
    ]
}

fn json_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec((field_name(), json_value()), 0..6)
            .prop_map(|f| Value::Object(f.into_iter().collect()).to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..100),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn forms_and_query_strings_decode_anything(bytes in form_bytes(), text in tricky_text(60)) {
        let pairs = crate::body::form(&bytes);
        prop_assert!(pairs.len() <= bytes.len() / 2 + 1);
        let _ = crate::drafts::query_pairs(&format!("http://x/review?{text}"));
        // What the pages put in a link comes back whole, as one value.
        let encoded = crate::body::encode(&text);
        prop_assert_eq!(crate::body::form(format!("v={encoded}").as_bytes()), vec![("v".to_owned(), text)]);
    }

    #[test]
    fn tokens_compare_equal_only_when_equal(a in tricky_text(40), b in tricky_text(40)) {
        prop_assert_eq!(crate::auth::constant_time_eq(a.as_bytes(), b.as_bytes()), a == b);
    }

    #[test]
    fn action_bodies_are_read_or_refused_by_path(body in json_body()) {
        let now = datetime!(2030-01-01 00:00 UTC);
        if let Ok(request) = crate::approve::parse_request(&body, &["revision", "comment", "scheduledAt"], now) {
            prop_assert!(request.revision >= 1);
            if let Some(at) = request.scheduled_at {
                prop_assert!(at > now && at.year() <= LATEST_YEAR);
            }
            if let Some(comment) = &request.comment {
                prop_assert!(invisible::refused(comment).is_empty());
            }
        }
        if let Ok(request) = crate::actions::parse_decision(&body, true) {
            prop_assert!(request.revision.is_some_and(|r| r >= 1));
            prop_assert!(request.new_text || request.new_image);
        }
        if let Ok(request) = crate::actions::parse_comment(&body) {
            prop_assert!(request.revision.is_none());
            prop_assert!(request.comment.is_some_and(|c| !c.is_empty()));
        }
        if let Ok(edit) = crate::edit::parse_edit(&body) {
            prop_assert!(edit.revision >= 1);
        }
        if let Ok(found) = crate::check::answer(&body, 5) {
            prop_assert!(found["refused"].as_array().is_some_and(|r| r.iter().all(|r| r["path"].is_string())));
            prop_assert!(found["counts"]["captionChars"].is_u64());
        }
        match crate::voice::parse_put(&body) {
            Ok((revision, voice)) => {
                prop_assert!(revision >= 0);
                prop_assert_eq!(domain::voice::Voice::parse(&voice.to_raw()), Ok(voice));
            }
            Err(problems) => prop_assert!(!problems.is_empty()),
        }
    }

    #[test]
    fn headers_are_read_or_ignored(header in tricky_text(80), size in any::<u64>()) {
        let _ = crate::auth::session_id_in(&header);
        let _ = crate::auth::bearer_token(&header);
        let _ = entity_tags(&header);
        if let Some(range) = ByteRange::parse(&header)
            && let Some((offset, length)) = range.resolve(size)
        {
            prop_assert!(length >= 1 && offset.checked_add(length).is_some_and(|end| end <= size));
        }
        let _ = platform::store::PageCursor::decode(&header);
    }

    #[test]
    fn ranges_resolve_within_the_object(
        spec in prop_oneof![
            (any::<Option<u64>>(), any::<Option<u64>>()).prop_map(|(a, b)| format!(
                "bytes={}-{}",
                a.map_or(String::new(), |n| n.to_string()),
                b.map_or(String::new(), |n| n.to_string())
            )),
            tricky_text(30).prop_map(|t| format!("bytes={t}")),
        ],
        size in prop_oneof![0u64..2_000, any::<u64>()],
    ) {
        if let Some(range) = ByteRange::parse(&spec)
            && let Some((offset, length)) = range.resolve(size)
        {
            prop_assert!(length >= 1 && offset.checked_add(length).is_some_and(|end| end <= size), "{spec} of {size}");
        }
    }

    #[test]
    fn any_path_finds_a_route_or_none(
        method in prop::sample::select(vec!["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "get", ""]),
        path in prop_oneof![
            tricky_text(40).prop_map(|t| format!("/{t}")),
            prop::collection::vec(prop::sample::select(vec!["api", "v1", "drafts", "review", "media", "images", "x", "", "..", "%2F"]), 0..6)
                .prop_map(|segments| format!("/{}", segments.join("/"))),
        ],
    ) {
        let _ = crate::routes::find(method, &path);
    }
}
