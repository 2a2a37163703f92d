//! Fuzzing every parser of outside bytes in `generation`: generate request bodies, language
//! tags, publishing times, and the model providers' answers. Nothing panics, and what is
//! accepted keeps the rules.

#![cfg(not(target_arch = "wasm32"))]

use domain::content::invisible;
use domain::timestamp::{EARLIEST_YEAR, LATEST_YEAR};
use fuzzing::{field_name, time_text, tricky_text};
use generation::chain::parse_answer;
use generation::{GenerateRules, canonical_language, parse_generate_request, parse_scheduled_at};
use proptest::prelude::*;
use serde_json::{Value, json};
use time::macros::datetime;

/// The request's fields and those of the model providers' answers.
const FIELDS: fuzzing::Fields = &[
    &generation::request::FIELDS,
    &["caption", "hashtags", "altText", "choices", "message"],
    &["content", "response", "error", "result"],
];
/// Words those fields know.
const WORDS: &[&str] = &["ja", "en-US", "zh-Hant-TW", "es-419", "friendly", "playful"];

fn json_value() -> impl Strategy<Value = Value> {
    fuzzing::json_value(FIELDS, WORDS)
}

/// A body: an object of the request's fields, any JSON, or any bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    fuzzing::json_body(FIELDS, WORDS)
}

fn rules() -> GenerateRules {
    GenerateRules {
        default_language: "ja".into(),
        max_hashtags: 5,
        now: datetime!(2030-01-01 00:00 UTC),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn generate_bodies_are_accepted_within_the_rules_or_refused_by_path(body in body()) {
        match parse_generate_request(&body, &rules()) {
            Ok(request) => {
                prop_assert!(invisible::refused(&request.brief).is_empty());
                prop_assert!(request.hashtag_count <= 5);
                if let Some(at) = request.scheduled_at {
                    prop_assert!((EARLIEST_YEAR..=LATEST_YEAR).contains(&at.year()));
                }
                // The stored form is written without trouble.
                prop_assert!(serde_json::to_string(&request).is_ok());
            }
            Err(problems) => prop_assert!(!problems.is_empty()),
        }
    }

    #[test]
    fn language_tags_are_canonical_or_refused(tag in prop_oneof![
        tricky_text(14),
        prop::collection::vec(prop::sample::select(vec!["en", "EN", "zh", "Hant", "tw", "419", "x", "abcd", "ß", "ǅ"]), 0..4)
            .prop_map(|parts| parts.join("-")),
    ]) {
        if let Some(canonical) = canonical_language(&tag) {
            prop_assert!(canonical.len() <= generation::request::MAX_LANGUAGE_CHARS);
            prop_assert_eq!(canonical_language(&canonical), Some(canonical.clone()));
        }
    }

    #[test]
    fn publishing_times_are_future_and_within_the_years(text in prop_oneof![time_text(), tricky_text(30)]) {
        if let Ok(at) = parse_scheduled_at(&text, rules().now) {
            prop_assert!(at > rules().now);
            prop_assert!(at.year() <= LATEST_YEAR);
        }
    }

    /// A model's answer, whatever it is, becomes a post within the rules or a list of
    /// problems to feed back.
    #[test]
    fn model_answers_become_valid_posts_or_problems(answer in prop_oneof![
        prop::collection::vec((field_name(FIELDS), json_value()), 0..5)
            .prop_map(|fields| Value::Object(fields.into_iter().collect()).to_string()),
        (tricky_text(40), prop::collection::vec(tricky_text(8), 0..6), tricky_text(20))
            .prop_map(|(caption, hashtags, alt)| json!({"caption": caption, "hashtags": hashtags, "altText": alt}).to_string()),
        tricky_text(80),
    ]) {
        match parse_answer(&answer, 5, 3) {
            Ok(text) => {
                let raw = text.to_raw();
                prop_assert!(invisible::refused(&raw.caption).is_empty());
                prop_assert!(invisible::refused(&raw.alt_text).is_empty());
            }
            Err(problems) => prop_assert!(!problems.is_empty()),
        }
    }

    #[test]
    fn provider_answers_are_read_or_classified(
        status in prop_oneof![Just(200u16), Just(429), Just(500), any::<u16>()],
        body in prop_oneof![
            json_value().prop_map(|v| v.to_string()),
            json_value().prop_map(|content| json!({"choices": [{"message": {"content": content}}]}).to_string()),
            tricky_text(60),
        ],
        output in json_value(),
    ) {
        let _ = generation::openai::parse_chat_response(status, &body);
        let _ = generation::openai::usage(&body);
        let _ = generation::workers_ai::parse_output(&output);
        let _ = generation::workers_ai::parse_output(&json!({"response": output}));
    }
}
