//! Fuzzing every parser of outside text in `domain`: times, queue messages, draft ids, the
//! text rules, names given at sign-in, and account voices. Each property holds for every input, and nothing panics.

#![cfg(not(target_arch = "wasm32"))]

use domain::content::{PostText, RawPostText, invisible};
use domain::credentials::{MAX_NAME_CHARS, check_secret, name_for_log, name_key};
use domain::draft::DraftId;
use domain::message::{QueueMessage, format_rfc3339};
use domain::timestamp::{EARLIEST_YEAR, LATEST_YEAR, parse_rfc3339};
use domain::voice::{RawVoice, Voice};
use fuzzing::{time_text, tricky_text};
use proptest::prelude::*;
use time::UtcOffset;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn times_are_within_the_years_or_refused(text in prop_oneof![time_text(), ".{0,40}".prop_map(|s: String| s), tricky_text(40)]) {
        if let Ok(at) = parse_rfc3339(&text) {
            prop_assert!((EARLIEST_YEAR..=LATEST_YEAR).contains(&at.year()), "{text} -> {at}");
            prop_assert_eq!(at.offset(), UtcOffset::UTC);
            // Whatever is accepted can be written and read back.
            let written = format_rfc3339(at);
            prop_assert!(parse_rfc3339(&written).is_ok(), "{written}");
        }
    }
}

/// JSON with the message's fields, each of a random kind and value.
fn message_json() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just(serde_json::json!(null)),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>().prop_map(|n| serde_json::json!(n)),
        time_text().prop_map(|t| serde_json::json!(t)),
        prop::sample::select(vec![
            "publish",
            "retry",
            "generate_image",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            ""
        ])
        .prop_map(|t| serde_json::json!(t)),
        tricky_text(20).prop_map(|t| serde_json::json!(t)),
    ];
    prop::collection::vec(
        (
            prop::sample::select(vec!["id", "action", "attempt", "requestedAt", "x"]),
            value,
        ),
        0..6,
    )
    .prop_map(|fields| {
        let object: serde_json::Map<String, serde_json::Value> =
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        serde_json::Value::Object(object).to_string()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn queue_messages_parse_or_are_refused(text in prop_oneof![message_json(), tricky_text(60)]) {
        if let Ok(message) = QueueMessage::parse_str(&text) {
            let again = QueueMessage::parse(&message.to_json());
            prop_assert!(again.is_ok(), "{text}: {again:?}");
        }
    }

    #[test]
    fn draft_ids_parse_or_are_refused(text in tricky_text(40)) {
        if let Ok(id) = DraftId::parse(&text) {
            prop_assert_eq!(id.to_string(), text.to_ascii_lowercase());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    /// An accepted text holds no refused character, and every place named is in the text.
    #[test]
    fn texts_pass_the_rules_or_are_refused_by_field(
        caption in tricky_text(60),
        hashtags in prop::collection::vec(tricky_text(8), 0..6),
        alt_text in tricky_text(30),
    ) {
        for text in [&caption, &alt_text] {
            let count = text.chars().count();
            for found in invisible::refused(text) {
                prop_assert!(found.at < count);
                prop_assert_eq!(text.chars().nth(found.at), Some(found.character));
            }
        }
        let raw = RawPostText { caption, hashtags, alt_text };
        match PostText::parse(&raw, 5) {
            Ok(text) => {
                let raw = text.to_raw();
                prop_assert!(invisible::refused(&raw.caption).is_empty());
                prop_assert!(invisible::refused(&raw.alt_text).is_empty());
                prop_assert!(raw.hashtags.iter().all(|t| invisible::refused(t).is_empty()));
            }
            Err(errors) => prop_assert!(!errors.is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    /// A given name's key is bounded and ignores case and surrounding spaces; what a log shows
    /// of it is plain, bounded, and never a string that could be a token.
    #[test]
    fn names_given_are_bounded_and_logged_plainly(
        name in prop_oneof![tricky_text(80), "[A-Za-z0-9_-]{20,48}".prop_map(|s: String| s)],
    ) {
        let key = name_key(&name);
        prop_assert!(key.chars().count() <= MAX_NAME_CHARS);
        prop_assert_eq!(name_key(&format!("  {}\n", name.to_uppercase())), name_key(&name.to_lowercase()));
        match name_for_log(&name) {
            Some(shown) => {
                prop_assert!(shown.chars().count() <= MAX_NAME_CHARS);
                prop_assert!(shown.chars().all(|c| c.is_alphanumeric() || " ._-?".contains(c)), "{shown:?}");
            }
            None => prop_assert!(check_secret(name.trim()).is_ok()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    /// An account as named (generate's `account`, `?account=`, a `REVIEWERS` entry) is read or
    /// refused, and what is read is a username or an id within bounds that names itself.
    #[test]
    fn account_names_are_read_or_refused(
        text in prop_oneof![tricky_text(40), "@?[A-Za-z0-9._]{0,32}".prop_map(|s: String| s), "[0-9]{1,32}".prop_map(|s: String| s)],
    ) {
        use domain::account::{AccountRef, MAX_ID_DIGITS, MAX_USERNAME_CHARS, is_username};
        if let Some(account) = AccountRef::parse(&text) {
            match &account {
                AccountRef::Username(name) => {
                    prop_assert!(is_username(name) && name.len() <= MAX_USERNAME_CHARS);
                    prop_assert!(account.names("x", Some(&name.to_uppercase())));
                }
                AccountRef::Id(id) => {
                    prop_assert!(id.len() <= MAX_ID_DIGITS && id.bytes().all(|b| b.is_ascii_digit()));
                    prop_assert!(account.names(id, None));
                }
            }
            prop_assert_eq!(AccountRef::parse(&account.to_string()), Some(account));
        }
    }

    /// A `REVIEWERS` entry with anything after the token is read as accounts or refused by its
    /// place, and the refusal never quotes the token.
    #[test]
    fn reviewer_accounts_are_read_or_refused(rest in tricky_text(40)) {
        const TOKEN: &str = "5d41402abc4b2a76b9719d911017c592";
        let text = format!("Aiko:{TOKEN} {rest}");
        match domain::credentials::parse_reviewers(&text) {
            Ok(people) => {
                prop_assert!(people.iter().all(|p| p.token != TOKEN || p.name == "Aiko"));
            }
            Err(error) => prop_assert!(!error.to_string().contains(TOKEN), "{error}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// A voice from anything is kept or refused with a path into the body; a kept one reads
    /// back the same, checks any text without panicking, and finds each of its own words to
    /// avoid in a caption that holds it between spaces.
    #[test]
    fn voices_parse_or_are_refused_by_path(
        language in prop::option::of(tricky_text(14)),
        tone in tricky_text(30),
        always in prop::collection::vec(tricky_text(8), 0..4),
        never in prop::collection::vec(tricky_text(8), 0..4),
        avoid in prop::collection::vec(tricky_text(8), 0..4),
        samples in prop::collection::vec(tricky_text(30), 0..4),
        caption in tricky_text(60),
        hashtags in prop::collection::vec(tricky_text(8), 0..4),
    ) {
        let raw = RawVoice {
            language,
            tone,
            always_hashtags: always,
            never_hashtags: never,
            avoid_words: avoid,
            sample_captions: samples,
        };
        match Voice::parse(&raw) {
            Ok(voice) => {
                prop_assert_eq!(Voice::parse(&voice.to_raw()), Ok(voice.clone()));
                let text = RawPostText { caption: caption.clone(), hashtags, alt_text: caption };
                for error in voice.check(&text) {
                    let path = error.field().to_string();
                    prop_assert!(path == "caption" || path == "altText" || path.starts_with("hashtags["));
                }
                for word in voice.avoid_words() {
                    let text = RawPostText { caption: format!("a {word} b"), ..RawPostText::default() };
                    prop_assert!(!voice.check(&text).is_empty(), "{word:?} not found");
                }
                let _ = voice.without_avoided_words(&text.caption);
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for error in errors {
                    let path = error.path();
                    prop_assert!(
                        ["language", "tone", "alwaysHashtags", "neverHashtags", "avoidWords", "sampleCaptions"]
                            .iter()
                            .any(|field| path.starts_with(field)),
                        "{path}"
                    );
                }
            }
        }
    }
}
