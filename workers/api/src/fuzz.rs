//! Fuzzing every parser in this Worker that sees outside bytes: form bodies and query
//! strings, the JSON bodies of the draft actions, the text check and an account's voice,
//! cookies, the bearer header, `Range`, `If-None-Match`, paths, and page cursors. Nothing
//! panics, and what is accepted keeps its rules.

use domain::content::invisible;
use domain::timestamp::LATEST_YEAR;
use fuzzing::tricky_text;
use proptest::prelude::*;
use time::macros::datetime;

use crate::media::{ByteRange, entity_tags};

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

/// The fields of the draft actions' and the voice's bodies.
const FIELDS: fuzzing::Fields = &[
    &crate::edit::FIELDS,
    &crate::check::FIELDS,
    &crate::voice::FIELDS,
    &["scheduledAt", "text", "image"],
];
/// Words those fields know.
const WORDS: &[&str] = &["en", "ja-JP", "friendly", "approve", "now"];

fn json_body() -> impl Strategy<Value = Vec<u8>> {
    fuzzing::json_body(FIELDS, WORDS)
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
