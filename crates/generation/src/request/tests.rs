use super::*;
use time::macros::datetime;

mod accepted;

/// Every string at its longest, every character an emoji escaped as a surrogate pair, and
/// every field name escaped too: accepted, and within the size limit.
#[test]
fn the_worst_case_body_fits_the_limit() {
    let escaped = |chars: usize| "\\uD83D\\uDE00".repeat(chars);
    let name = |name: &str| {
        name.chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect::<String>()
    };
    let keywords: Vec<String> = (0..MAX_KEYWORDS)
        .map(|_| format!("\"{}\"", escaped(MAX_KEYWORD_CHARS)))
        .collect();
    let body = format!(
        "{{ \"{}\" : \"{}\", \"{}\" : [ {} ], \"{}\" : \"{}\", \"{}\" : \"{}\", \"{}\" : \"{}\", \"{}\" : 5, \"{}\" : \"{}\" }}",
        name("brief"),
        escaped(MAX_BRIEF_CHARS),
        name("keywords"),
        keywords.join(" , "),
        name("imagePrompt"),
        escaped(MAX_IMAGE_PROMPT_CHARS),
        name("language"),
        name("zh-Hant-TW"),
        name("tone"),
        name("inspirational"),
        name("hashtagCount"),
        name("scheduledAt"),
        name("2030-01-31T09:00:00.123456789+09:00"),
    );
    assert!(
        body.len() <= MAX_BODY_BYTES,
        "{} > {MAX_BODY_BYTES}",
        body.len()
    );
    assert!(
        body.len() > MAX_BODY_BYTES * 4 / 5,
        "the limit is not tight: {}",
        body.len()
    );
    let request = parse_generate_request(body.as_bytes(), &rules());
    assert!(request.is_ok(), "{request:?}");
}

fn rules() -> GenerateRules {
    GenerateRules {
        default_language: "ja".to_owned(),
        max_hashtags: 5,
        now: datetime!(2030-01-01 00:00 UTC),
    }
}

/// Checks that `body` is rejected with exactly these problems, in this order: each is a
/// path and a fragment of its reason.
fn check(body: &str, expect: &[(&str, &str)]) {
    let problems = match parse_generate_request(body.as_bytes(), &rules()) {
        Ok(request) => panic!("{body} was accepted as {request:?}"),
        Err(problems) => problems,
    };
    let got: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| (p.path.as_str(), p.reason.as_str()))
        .collect();
    assert_eq!(got.len(), expect.len(), "{body}: {got:#?}");
    for ((path, reason), (want_path, fragment)) in got.iter().zip(expect) {
        assert_eq!(path, want_path, "{body}: {got:#?}");
        assert!(
            reason.contains(fragment),
            "{body}: {reason:?} lacks {fragment:?}"
        );
    }
}

#[test]
fn missing_brief() {
    check("{}", &[("brief", "required")]);
}

#[test]
fn brief_of_wrong_type() {
    check(
        r#"{"brief": 42}"#,
        &[("brief", "expected a string, got a number")],
    );
    check(
        r#"{"brief": null}"#,
        &[("brief", "expected a string, got null")],
    );
}

#[test]
fn blank_brief() {
    check(r#"{"brief": "   "}"#, &[("brief", "must not be empty")]);
}

#[test]
fn brief_too_long() {
    let body = format!(r#"{{"brief": "{}"}}"#, "a".repeat(2_001));
    check(&body, &[("brief", "at most 2000 characters, got 2001")]);
}

#[test]
fn unknown_field() {
    check(
        r#"{"brief": "x", "topic": "y"}"#,
        &[("topic", "unknown field")],
    );
}

#[test]
fn keywords_not_an_array() {
    check(
        r#"{"brief": "x", "keywords": "coffee, tea"}"#,
        &[("keywords", "expected an array of strings, got a string")],
    );
}

#[test]
fn keyword_too_long_or_of_wrong_type() {
    let body = format!(
        r#"{{"brief": "x", "keywords": ["ok", "{}", 3, " "]}}"#,
        "k".repeat(51)
    );
    check(
        &body,
        &[
            ("keywords[1]", "at most 50 characters, got 51"),
            ("keywords[2]", "expected a string, got a number"),
            ("keywords[3]", "must not be empty"),
        ],
    );
}

#[test]
fn too_many_keywords() {
    let keywords: Vec<String> = (0..11).map(|i| format!("\"k{i}\"")).collect();
    let body = format!(r#"{{"brief": "x", "keywords": [{}]}}"#, keywords.join(","));
    check(&body, &[("keywords", "at most 10 items, got 11")]);
}

#[test]
fn hashtag_count_out_of_range_or_not_an_integer() {
    check(
        r#"{"brief": "x", "hashtagCount": -1}"#,
        &[("hashtagCount", "between 0 and 5, got -1")],
    );
    check(
        r#"{"brief": "x", "hashtagCount": 6}"#,
        &[("hashtagCount", "between 0 and 5, got 6")],
    );
    check(
        r#"{"brief": "x", "hashtagCount": 2.5}"#,
        &[("hashtagCount", "expected an integer, got 2.5")],
    );
    check(
        r#"{"brief": "x", "hashtagCount": "3"}"#,
        &[("hashtagCount", "expected an integer, got a string")],
    );
    check(
        r#"{"brief": "x", "hashtagCount": 18446744073709551616}"#,
        &[("hashtagCount", "between 0 and 5")],
    );
}

#[test]
fn bad_language() {
    for tag in [
        "english",
        "e",
        "en_US",
        "en-",
        "ja-JP-x",
        "en-US-GB",
        "日本語",
        "",
    ] {
        let body = format!(r#"{{"brief": "x", "language": "{tag}"}}"#);
        check(&body, &[("language", "must be a language tag such as")]);
    }
    check(
        r#"{"brief": "x", "language": ["ja"]}"#,
        &[("language", "expected a string, got an array")],
    );
}

#[test]
fn bad_tone() {
    check(
        r#"{"brief": "x", "tone": "angry"}"#,
        &[(
            "tone",
            r#"must be one of "friendly", "professional", "playful", "informative", "inspirational", got "angry""#,
        )],
    );
    check(
        r#"{"brief": "x", "tone": "Friendly"}"#,
        &[("tone", "must be one of")],
    );
    check(
        r#"{"brief": "x", "tone": true}"#,
        &[("tone", "expected a string, got a boolean")],
    );
}

#[test]
fn scheduled_at_not_rfc3339() {
    for text in ["tomorrow", "2030-01-02 09:00", "2030-13-01T00:00:00Z"] {
        let body = format!(r#"{{"brief": "x", "scheduledAt": "{text}"}}"#);
        check(
            &body,
            &[("scheduledAt", "RFC 3339 date-time with a UTC offset")],
        );
    }
    // The common mistake gets its own reason, in words a person understands.
    for text in ["2030-01-02T09:00:00", "2030-01-02T09:00"] {
        let body = format!(r#"{{"brief": "x", "scheduledAt": "{text}"}}"#);
        check(
            &body,
            &[("scheduledAt", "needs a UTC offset such as +09:00 or Z")],
        );
    }
    check(
        r#"{"brief": "x", "scheduledAt": 1893456000}"#,
        &[("scheduledAt", "expected a string, got a number")],
    );
}

#[test]
fn scheduled_at_outside_the_years_instagram_can_use() {
    // In UTC this is the year 10000, which no conversion survives.
    check(
        r#"{"brief": "x", "scheduledAt": "9999-12-31T23:30:00-01:00"}"#,
        &[("scheduledAt", "must be a time in the years 2010 to 2100")],
    );
    check(
        r#"{"brief": "x", "scheduledAt": "2101-01-01T00:00:00Z"}"#,
        &[("scheduledAt", "must be a time in the years 2010 to 2100")],
    );
}

#[test]
fn invisible_characters_in_the_brief_and_keywords() {
    check(
        r#"{"brief": "a\u202eb", "keywords": ["k\u200b"], "imagePrompt": "\u2066p"}"#,
        &[
            (
                "brief",
                "invisible characters that change what it shows, got U+202E RIGHT-TO-LEFT OVERRIDE",
            ),
            ("keywords[0]", "got U+200B ZERO WIDTH SPACE"),
            ("imagePrompt", "got U+2066 LEFT-TO-RIGHT ISOLATE"),
        ],
    );
}

#[test]
fn scheduled_at_not_in_the_future() {
    check(
        r#"{"brief": "x", "scheduledAt": "2029-12-31T23:59:59Z"}"#,
        &[(
            "scheduledAt",
            "must be later than now (2030-01-01T00:00:00Z)",
        )],
    );
    // The same instant as now, written with another offset, is not later.
    check(
        r#"{"brief": "x", "scheduledAt": "2030-01-01T09:00:00+09:00"}"#,
        &[("scheduledAt", "must be later than now")],
    );
}

#[test]
fn image_prompt_bad() {
    let body = format!(
        r#"{{"brief": "x", "imagePrompt": "{}"}}"#,
        "p".repeat(1_001)
    );
    check(
        &body,
        &[("imagePrompt", "at most 1000 characters, got 1001")],
    );
    check(
        r#"{"brief": "x", "imagePrompt": {}}"#,
        &[("imagePrompt", "expected a string, got an object")],
    );
}

#[test]
fn control_characters() {
    // Line feeds and tabs are the brief's layout; everything else is refused, by field.
    for (escaped, named) in [
        ("\\u0000", "U+0000"),
        ("\\u0007", "U+0007"),
        ("\\u007f", "U+007F"),
        ("\\u0085", "U+0085"),
        ("\\r", "U+000D"),
    ] {
        check(
            &format!(r#"{{"brief": "a{escaped}b"}}"#),
            &[(
                "brief",
                &format!(
                    "must not contain control characters other than line breaks and tabs, got {named}"
                ),
            )],
        );
        check(
            &format!(
                r#"{{"brief": "x", "keywords": ["ok", "{escaped}k"], "imagePrompt": "p{escaped}"}}"#
            ),
            &[
                (
                    "keywords[1]",
                    &format!("must not contain control characters, got {named}"),
                ),
                (
                    "imagePrompt",
                    &format!("must not contain control characters, got {named}"),
                ),
            ],
        );
    }
    check(
        r#"{"brief": "x", "keywords": ["a\nb", "a\tb"], "imagePrompt": "\u0000\u0007\u0000"}"#,
        &[
            (
                "keywords[0]",
                "must not contain control characters, got U+000A",
            ),
            (
                "keywords[1]",
                "must not contain control characters, got U+0009",
            ),
            (
                "imagePrompt",
                "must not contain control characters, got U+0000, U+0007",
            ),
        ],
    );
    // At the ends too, where trimming would hide U+0085.
    check(r#"{"brief": "\u0085x\u0085"}"#, &[("brief", "got U+0085")]);
}

#[test]
fn post_text_problems_by_field_path() {
    let raw = domain::content::RawPostText {
        caption: "#a #b #c".to_owned(),
        hashtags: vec!["d".to_owned(), "e\u{7}".to_owned(), "f".to_owned()],
        alt_text: "x".to_owned(),
    };
    let errors = domain::content::PostText::parse(&raw, 5)
        .err()
        .unwrap_or_default();
    let problems: Vec<FieldError> = errors.iter().map(FieldError::from).collect();
    assert_eq!(
        problems,
        [
            FieldError::new(
                "caption",
                "caption and hashtags together have 6 hashtags, at most 5 are allowed"
            ),
            FieldError::new(
                "hashtags[1]",
                r#"hashtag "e\u{7}" is not valid: it contains the control character U+0007"#
            ),
        ]
    );
}

#[test]
fn body_not_json() {
    check(
        "{\"brief\": ",
        &[("", "body is not valid JSON: EOF while parsing")],
    );
    check("", &[("", "body is not valid JSON")]);
    check("\u{feff}{}", &[("", "body is not valid JSON")]);
}

#[test]
fn body_not_an_object() {
    check(r#"[{"brief": "x"}]"#, &[("", "body must be a JSON object")]);
    check(r#""brief""#, &[("", "body must be a JSON object")]);
    check("null", &[("", "body must be a JSON object")]);
}

#[test]
fn several_problems_at_once_are_all_listed() {
    check(
        r#"{"tone": "grumpy", "language": "xx-yy-zz", "keywords": ["a", 1],
            "hashtagCount": 99, "imagePrompt": "", "scheduledAt": "soon", "extra": 1, "another": 2}"#,
        &[
            ("brief", "required"),
            ("tone", "must be one of"),
            ("language", "must be a language tag"),
            ("keywords[1]", "expected a string, got a number"),
            ("hashtagCount", "between 0 and 5, got 99"),
            ("imagePrompt", "must not be empty"),
            ("scheduledAt", "RFC 3339"),
            ("another", "unknown field"),
            ("extra", "unknown field"),
        ],
    );
}

#[test]
fn a_refused_publishing_time_says_which_way_it_is_wrong() {
    use ScheduledAtError::*;
    let now = datetime!(2030-01-01 00:00 UTC);
    let (late, tokyo) = ("2101-01-01T00:00:00Z", "2030-01-01T09:00:00+09:00");
    for (text, error) in [
        (late, OutOfRange(late.into())),
        ("2030-01-02T09:00", NoOffset("2030-01-02T09:00".into())),
        ("tomorrow", NotRfc3339("tomorrow".into())),
        (
            tokyo,
            NotLater {
                text: tokyo.into(),
                now,
            },
        ),
    ] {
        assert_eq!(parse_scheduled_at(text, now), Err(error), "{text}");
    }
    let at = parse_scheduled_at("2030-01-01T09:00:01+09:00", now);
    assert_eq!(at, Ok(datetime!(2030-01-01 00:00:01 UTC)));
}
