use super::*;

fn voice(avoid: &[&str], always: &[&str], never: &[&str]) -> Voice {
    Voice::parse(&RawVoice {
        always_hashtags: always.iter().map(|s| (*s).to_owned()).collect(),
        never_hashtags: never.iter().map(|s| (*s).to_owned()).collect(),
        avoid_words: avoid.iter().map(|s| (*s).to_owned()).collect(),
        ..RawVoice::default()
    })
    .expect("a valid voice")
}

fn post(caption: &str, hashtags: &[&str], alt_text: &str) -> RawPostText {
    RawPostText {
        caption: caption.to_owned(),
        hashtags: hashtags.iter().map(|s| (*s).to_owned()).collect(),
        alt_text: alt_text.to_owned(),
    }
}

/// The problems `text` has under `voice`, as (field path, message).
fn check(voice: &Voice, text: &RawPostText, expect: &[(&str, &str)]) {
    let got: Vec<(String, String)> = voice
        .check(text)
        .iter()
        .map(|e| (e.field().to_string(), e.to_string()))
        .collect();
    let want: Vec<(String, String)> = expect
        .iter()
        .map(|(p, m)| ((*p).to_owned(), (*m).to_owned()))
        .collect();
    assert_eq!(got, want, "{text:?}");
}

#[test]
fn avoided_words_are_found_as_whole_words_in_any_case_by_field() {
    let v = voice(&["cheap", "Straße", "お得", "best deal"], &[], &[]);
    check(
        &v,
        &post("Good value, not CHEAP!", &[], "x"),
        &[(
            "caption",
            r#"caption uses "cheap", a word this account avoids"#,
        )],
    );
    // Inside another word it is not the word.
    check(
        &v,
        &post("Cheapest? Cheapskate. ", &["cheapeats"], "x"),
        &[],
    );
    // Unicode letters around a match are part of the word; accents lowercase too.
    check(&v, &post("Hauptstraße, STRASSE", &[], "x"), &[]);
    check(
        &v,
        &post("Die STRAßE ist lang", &[], "x"),
        &[(
            "caption",
            r#"caption uses "Straße", a word this account avoids"#,
        )],
    );
    // Japanese has no spaces: the word is found inside a sentence.
    check(
        &v,
        &post("今日はお得な日", &[], "x"),
        &[(
            "caption",
            r#"caption uses "お得", a word this account avoids"#,
        )],
    );
    // A phrase, across the hashtags and the alt text; each field named.
    check(
        &v,
        &post("ok", &["fun", "Cheap"], "The best deal in town"),
        &[
            (
                "hashtags[1]",
                r#"hashtag uses "cheap", a word this account avoids"#,
            ),
            (
                "altText",
                r#"alt text uses "best deal", a word this account avoids"#,
            ),
        ],
    );
}

#[test]
fn never_used_hashtags_are_found_in_the_list_and_the_caption() {
    let v = voice(&[], &[], &["Sale", "fyp"]);
    check(
        &v,
        &post("Big news ＃sale today #SALE", &["food", "#FYP"], "x"),
        &[
            (
                "caption",
                "caption uses #Sale, a hashtag this account never uses",
            ),
            (
                "hashtags[1]",
                "hashtag uses #fyp, a hashtag this account never uses",
            ),
        ],
    );
    // The word without its sign is no hashtag.
    check(&v, &post("A sale, fyp", &["sales"], "x"), &[]);
    assert!(!v.allows_hashtag("#SALE"));
    assert!(v.allows_hashtag("sales"));
    assert!(!voice(&["cheap"], &[], &[]).allows_hashtag("Cheap"));
}

#[test]
fn always_used_hashtags_take_the_last_free_places() {
    let v = voice(&[], &["Shop", "Tokyo"], &[]);
    let tags = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    // Already there in another case: nothing changes.
    assert_eq!(
        v.with_always_hashtags(&tags(&["shop", "a", "TOKYO"]), 5),
        tags(&["shop", "a", "TOKYO"])
    );
    // Room under the cap: added.
    assert_eq!(
        v.with_always_hashtags(&tags(&["a"]), 5),
        tags(&["a", "Shop", "Tokyo"])
    );
    // At the cap: the last ones that are not always-used give way.
    assert_eq!(
        v.with_always_hashtags(&tags(&["a", "b", "shop"]), 3),
        tags(&["a", "Tokyo", "shop"])
    );
    assert_eq!(
        v.with_always_hashtags(&tags(&["a", "b"]), 2),
        tags(&["Tokyo", "Shop"])
    );
}

#[test]
fn avoided_words_are_removed_for_the_offline_writer() {
    let v = voice(&["cheap", "お得"], &[], &[]);
    assert_eq!(
        v.without_avoided_words("A Cheap lunch, cheap! Cheapest お得な"),
        "A lunch, ! Cheapest な"
    );
}

/// Checks that `raw` is refused with exactly these (path, part of the message).
fn refused(raw: RawVoice, expect: &[(&str, &str)]) {
    let errors = Voice::parse(&raw).expect_err("refused");
    let got: Vec<(String, String)> = errors.iter().map(|e| (e.path(), e.to_string())).collect();
    assert_eq!(got.len(), expect.len(), "{got:?}");
    for ((path, message), (want_path, want)) in got.iter().zip(expect) {
        assert_eq!(path, want_path, "{got:?}");
        assert!(message.contains(want), "{message:?} lacks {want:?}");
    }
}

#[test]
fn voices_are_bounded_by_field() {
    let strings = |n: usize, f: fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>();
    refused(
        RawVoice {
            language: Some("english".into()),
            tone: "x".repeat(MAX_TONE_CHARS + 1),
            ..RawVoice::default()
        },
        &[
            ("language", "not a language tag"),
            ("tone", "201 characters"),
        ],
    );
    refused(
        RawVoice {
            tone: "warm\u{202E}".into(),
            always_hashtags: vec!["ok".into(), "no tag".into(), "OK".into(), "sale".into()],
            never_hashtags: vec!["#Sale".into()],
            ..RawVoice::default()
        },
        &[
            ("tone", "control or invisible"),
            ("alwaysHashtags[1]", "only letters, digits and _"),
            ("alwaysHashtags[2]", "more than once"),
            ("alwaysHashtags[3]", "also in neverHashtags"),
        ],
    );
    refused(
        RawVoice {
            avoid_words: vec![
                " ".into(),
                "w".repeat(MAX_AVOID_WORD_CHARS + 1),
                "!!".into(),
                "Cheap".into(),
                "cheap ".into(),
                "a\u{200B}b".into(),
            ],
            ..RawVoice::default()
        },
        &[
            ("avoidWords[0]", "empty"),
            ("avoidWords[1]", "51 characters"),
            ("avoidWords[2]", "needs a letter"),
            ("avoidWords[4]", "more than once"),
            ("avoidWords[5]", "needs a letter"),
        ],
    );
    refused(
        RawVoice {
            never_hashtags: strings(MAX_NEVER_HASHTAGS + 1, |i| format!("t{i}")),
            avoid_words: strings(MAX_AVOID_WORDS + 1, |i| format!("w{i}")),
            always_hashtags: strings(MAX_ALWAYS_HASHTAGS + 1, |i| format!("a{i}")),
            sample_captions: vec![
                "fine".into(),
                "x".repeat(2_201),
                String::new(),
                "fine".into(),
            ],
            ..RawVoice::default()
        },
        &[
            ("alwaysHashtags", "11 given, at most 10"),
            ("neverHashtags", "51 given, at most 50"),
            ("avoidWords", "51 given, at most 50"),
            ("sampleCaptions", "4 given, at most 3"),
            ("sampleCaptions[1]", "2201 characters"),
            ("sampleCaptions[2]", "caption is empty"),
        ],
    );
}

#[test]
fn a_valid_voice_is_kept_in_canonical_form() {
    let raw = RawVoice {
        language: Some(" JA-jp ".into()),
        tone: "  warm, plain words ".into(),
        always_hashtags: vec!["#Shop".into()],
        never_hashtags: vec!["＃fyp".into()],
        avoid_words: vec![" cheap ".into()],
        sample_captions: vec![" New cake today.\r\nCome by! ".into()],
    };
    let v = Voice::parse(&raw).expect("valid");
    assert_eq!(
        v.to_raw(),
        RawVoice {
            language: Some("ja-JP".into()),
            tone: "warm, plain words".into(),
            always_hashtags: vec!["Shop".into()],
            never_hashtags: vec!["fyp".into()],
            avoid_words: vec!["cheap".into()],
            sample_captions: vec!["New cake today.\nCome by!".into()],
        }
    );
    assert!(v.guides_writing());
    assert_eq!(Voice::parse(&v.to_raw()), Ok(v));
    let empty = Voice::parse(&RawVoice::default()).expect("the empty voice");
    assert!(!empty.guides_writing());
    assert_eq!(empty.language(), None);
}
