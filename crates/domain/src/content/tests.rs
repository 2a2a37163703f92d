use super::*;

fn raw(caption: &str, hashtags: &[&str], alt_text: &str) -> RawPostText {
    RawPostText {
        caption: caption.into(),
        hashtags: hashtags.iter().map(|t| t.to_string()).collect(),
        alt_text: alt_text.into(),
    }
}

/// `count` distinct hashtags or mentions, written with `sign` and separated by spaces.
fn many(sign: &str, prefix: &str, count: usize) -> String {
    (0..count)
        .map(|i| format!("{sign}{prefix}{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What `PostText::parse` makes of a text: the caption Instagram receives, or every error.
fn check(input: RawPostText, max_hashtags: usize, expected: Result<&str, Vec<ContentError>>) {
    let parsed = PostText::parse(&input, max_hashtags).map(|text| text.instagram_caption());
    assert_eq!(
        parsed.as_deref().map_err(Clone::clone),
        expected,
        "{input:?}"
    );
}

#[test]
fn accepts_texts_within_the_limits() {
    check(
        raw(" Hello ", &["#Cafe", "latte"], "A cup"),
        5,
        Ok("Hello\n\n#Cafe #latte"),
    );
    check(
        raw("こんにちは☕️", &["＃カフェ", "秋_メニュー"], "写真"),
        5,
        Ok("こんにちは☕️\n\n#カフェ #秋_メニュー"),
    );
    check(raw("No tags", &[], "x"), 0, Ok("No tags"));
    let longest = "あ".repeat(MAX_CAPTION_CHARS);
    check(raw(&longest, &[], "x"), 5, Ok(&longest));
    // Line breaks and tabs are layout, not control characters to refuse.
    check(
        raw("Menu:\n\tlatte\n\tmocha", &[], "Two\tcups"),
        5,
        Ok("Menu:\n\tlatte\n\tmocha"),
    );
}

#[test]
fn reports_every_broken_limit() {
    check(
        raw("", &["a", "b", "c"], ""),
        2,
        Err(vec![
            ContentError::EmptyCaption,
            ContentError::TooManyHashtags { count: 3, max: 2 },
            ContentError::EmptyAltText,
        ]),
    );
    check(
        raw(&"x".repeat(2_201), &[], &"y".repeat(1_001)),
        5,
        Err(vec![
            ContentError::CaptionTooLong {
                chars: 2_201,
                max: 2_200,
            },
            ContentError::AltTextTooLong {
                chars: 1_001,
                max: 1_000,
            },
        ]),
    );
    // The hashtags count against the caption's limit: 2,190 + "\n\n" + "#abcdefghij" = 2,203.
    check(
        raw(&"x".repeat(2_190), &["abcdefghij"], "alt"),
        5,
        Err(vec![ContentError::CaptionWithHashtagsTooLong {
            chars: 2_203,
            max: 2_200,
        }]),
    );
    // Every bad item is listed, each with its index, with the cap before them.
    check(
        raw("c", &["Cafe", "#cafe", "2025", "two words", "#", "ok"], "a"),
        3,
        Err(vec![
            ContentError::TooManyHashtags { count: 4, max: 3 },
            ContentError::DuplicateHashtag {
                index: 1,
                tag: "#cafe".into(),
            },
            ContentError::InvalidHashtag {
                index: 2,
                tag: "2025".into(),
                reason: HashtagError::DigitsOnly,
            },
            ContentError::InvalidHashtag {
                index: 3,
                tag: "two words".into(),
                reason: HashtagError::NotTagCharacters,
            },
            ContentError::InvalidHashtag {
                index: 4,
                tag: "#".into(),
                reason: HashtagError::Empty,
            },
        ]),
    );
    // One caption can break several rules at once.
    let mentions = many("@", "user", 21);
    check(
        raw(&format!("{mentions}\u{7}{}", "x".repeat(2_200)), &[], "a"),
        5,
        Err(vec![
            ContentError::ControlCharacters {
                field: Field::Caption,
                characters: vec!['\u{7}'],
            },
            ContentError::CaptionTooLong {
                chars: mentions.chars().count() + 2_201,
                max: 2_200,
            },
            ContentError::TooManyMentions { count: 21, max: 20 },
        ]),
    );
}

#[test]
fn hashtags_in_the_caption_count_against_the_cap() {
    let too_many = |count| {
        Err(vec![ContentError::TooManyHashtagsWithCaption {
            count,
            max: 5,
        }])
    };
    // Exactly the cap, from both places.
    check(
        raw("Hi #a ＃b", &["c", "d", "e"], "x"),
        5,
        Ok("Hi #a ＃b\n\n#c #d #e"),
    );
    // One over the cap because of the caption.
    check(raw("Hi #a ＃b", &["c", "d", "e", "f"], "x"), 5, too_many(6));
    check(raw(&many("#", "tag", 6), &[], "x"), 5, too_many(6));
    check(
        raw("＃カフェ ＃渋谷 ＃ラテアート", &["a", "b", "c"], "写真"),
        5,
        too_many(6),
    );
    check(
        raw(
            "週末は ＃カフェ巡り🎉#コーヒー",
            &["a", "b", "c", "d"],
            "写真",
        ),
        5,
        too_many(6),
    );
    // Written inside a word, as without a space after Japanese text, a sign makes no tag.
    check(
        raw("週末は#カフェ巡り", &["a", "b", "c", "d", "e"], "写真"),
        5,
        Ok("週末は#カフェ巡り\n\n#a #b #c #d #e"),
    );
    // A tag written twice, in either place or in both and in any case, counts once.
    check(
        raw(
            "#Cafe and ＃cafe and #LATTE",
            &["cafe", "latte", "x", "y", "z"],
            "x",
        ),
        5,
        Ok("#Cafe and ＃cafe and #LATTE\n\n#cafe #latte #x #y #z"),
    );
    // What Instagram does not take for a hashtag does not count.
    check(
        raw("We're #1 in C# at a#b, #", &["a", "b", "c", "d", "e"], "x"),
        5,
        Ok("We're #1 in C# at a#b, #\n\n#a #b #c #d #e"),
    );
    // No configuration lifts the cap above 30.
    check(
        raw(&many("#", "tag", 31), &[], "x"),
        100,
        Err(vec![ContentError::TooManyHashtagsWithCaption {
            count: 31,
            max: HARD_MAX_HASHTAGS,
        }]),
    );
    check(
        raw("#only", &[], "x"),
        0,
        Err(vec![ContentError::TooManyHashtagsWithCaption {
            count: 1,
            max: 0,
        }]),
    );
}

#[test]
fn mentions_are_capped() {
    let twenty = many("@", "user", 20);
    check(raw(&twenty, &[], "x"), 5, Ok(&twenty));
    check(
        raw(&many("@", "user", 21), &[], "x"),
        5,
        Err(vec![ContentError::TooManyMentions { count: 21, max: 20 }]),
    );
    // One account mentioned again, in another case, is still one account.
    let repeated = format!("{twenty} @USER0 ＠user1");
    check(raw(&repeated, &[], "x"), 5, Ok(&repeated));
    let japanese = format!(
        "{} ＠カフェ 連絡はshop@example.jpまで",
        many("＠", "店", 21)
    );
    let japanese_mentions = format!("{japanese} {}", many("＠", "shop", 21));
    check(raw(&japanese, &[], "x"), 5, Ok(&japanese));
    check(
        raw(&japanese_mentions, &[], "x"),
        5,
        Err(vec![ContentError::TooManyMentions { count: 21, max: 20 }]),
    );
}

#[test]
fn control_characters_are_refused_in_every_field() {
    for c in ['\0', '\u{7}', '\u{7f}', '\u{85}', '\r'] {
        let text = format!("a{c}b");
        let control = |field| ContentError::ControlCharacters {
            field,
            characters: vec![c],
        };
        check(raw(&text, &[], "x"), 5, Err(vec![control(Field::Caption)]));
        check(raw("x", &[], &text), 5, Err(vec![control(Field::AltText)]));
        check(
            raw("x", &["ok", &text], "x"),
            5,
            Err(vec![ContentError::InvalidHashtag {
                index: 1,
                tag: text.clone(),
                reason: HashtagError::ControlCharacter(c),
            }]),
        );
        // At either end too, where trimming would otherwise hide U+0085.
        check(
            raw(&format!("{c}caption{c}"), &[], "x"),
            5,
            Err(vec![control(Field::Caption)]),
        );
    }
    check(
        raw("a\u{0}b\u{7}c\u{0}", &[], "x"),
        5,
        Err(vec![ContentError::ControlCharacters {
            field: Field::Caption,
            characters: vec!['\0', '\u{7}'],
        }]),
    );
}

#[test]
fn crlf_becomes_lf() {
    check(
        raw("Line one\r\nLine two\r\n", &["tag"], "Alt\r\ntext"),
        5,
        Ok("Line one\nLine two\n\n#tag"),
    );
    let text = PostText::parse(&raw("a\r\nb", &[], "c\r\n\r\nd"), 5).map(|t| t.to_raw());
    assert_eq!(text, Ok(raw("a\nb", &[], "c\n\nd")));
    // Counted after the change: 2,199 characters and one line break fit.
    check(
        raw(
            &format!("{}\r\n{}", "x".repeat(1_000), "y".repeat(1_199)),
            &[],
            "a",
        ),
        5,
        Ok(&format!("{}\n{}", "x".repeat(1_000), "y".repeat(1_199))),
    );
}

#[test]
fn the_configured_cap_never_exceeds_the_hard_cap() {
    let tags: Vec<String> = (0..31).map(|i| format!("tag{i}")).collect();
    assert_eq!(
        Hashtags::parse(&tags, 100),
        Err(vec![ContentError::TooManyHashtags {
            count: 31,
            max: HARD_MAX_HASHTAGS
        }])
    );
    assert_eq!(Hashtags::parse(&tags[..30], 100).map(|h| h.len()), Ok(30));
}

#[test]
fn raw_text_round_trips() {
    let text = PostText::parse(&raw("Hi", &["#One", "＃two"], "Alt"), 5).unwrap();
    assert_eq!(text.to_raw(), raw("Hi", &["One", "two"], "Alt"));
}

/// The field path and message of each problem with a text, in order.
fn check_fields(input: RawPostText, max_hashtags: usize, expect: &[(&str, &str)]) {
    let errors = PostText::parse(&input, max_hashtags)
        .err()
        .unwrap_or_default();
    let got: Vec<(String, String)> = errors
        .iter()
        .map(|e| (e.field().to_string(), e.to_string()))
        .collect();
    let got: Vec<(&str, &str)> = got.iter().map(|(p, r)| (p.as_str(), r.as_str())).collect();
    assert_eq!(got, expect, "{input:?}");
}

#[test]
fn problems_name_their_field() {
    check_fields(
        raw("Hi\u{7}", &["ok", "a b", "OK", "x\0"], " \u{85}"),
        5,
        &[
            (
                "caption",
                "caption contains the control character U+0007; only line breaks and tabs are allowed",
            ),
            (
                "hashtags[1]",
                r#"hashtag "a b" is not valid: only letters, digits and _ are allowed"#,
            ),
            ("hashtags[2]", r##"hashtag "#OK" appears more than once"##),
            (
                "hashtags[3]",
                r#"hashtag "x\0" is not valid: it contains the control character U+0000"#,
            ),
            (
                "altText",
                "alt text contains the control character U+0085; only line breaks and tabs are allowed",
            ),
            ("altText", "alt text is empty"),
        ],
    );
    check_fields(
        raw("#a #b", &["c", "d", "e", "f"], "x"),
        5,
        &[(
            "caption",
            "caption and hashtags together have 6 hashtags, at most 5 are allowed",
        )],
    );
    check_fields(
        raw("Hi", &["a", "b", "c", "d", "e", "f", "g"], "x"),
        5,
        &[("hashtags", "7 hashtags given, at most 5 are allowed")],
    );
    check_fields(
        raw(&many("@", "u", 21), &[], "\u{0}\u{7f}"),
        5,
        &[
            (
                "caption",
                "caption mentions 21 accounts, at most 20 are allowed",
            ),
            (
                "altText",
                "alt text contains the control characters U+0000, U+007F; only line breaks and tabs are allowed",
            ),
        ],
    );
    check_fields(raw("ok", &[], "ok"), 5, &[]);
    assert_eq!(
        serde_json::to_value([
            Field::Caption,
            Field::Hashtags,
            Field::Hashtag(3),
            Field::AltText
        ])
        .ok(),
        Some(serde_json::json!([
            "caption",
            "hashtags",
            "hashtags[3]",
            "altText"
        ]))
    );
}

fn check_hashtag(text: &str, expect: Result<&str, HashtagError>) {
    let got = Hashtag::parse(text);
    assert_eq!(
        got.as_ref().map(AsRef::as_ref).map_err(|e| *e),
        expect,
        "{text:?}"
    );
}

#[test]
fn one_hashtag() {
    check_hashtag("tag", Ok("tag"));
    check_hashtag("#Tag", Ok("Tag"));
    check_hashtag("＃タグ", Ok("タグ"));
    check_hashtag(" ＃渋谷_カフェ ", Ok("渋谷_カフェ"));
    check_hashtag("##twice", Ok("twice"));
    check_hashtag("2025年", Ok("2025年"));
    check_hashtag(
        &"a".repeat(MAX_HASHTAG_CHARS),
        Ok(&"a".repeat(MAX_HASHTAG_CHARS)),
    );
    check_hashtag("", Err(HashtagError::Empty));
    check_hashtag(" ＃ ", Err(HashtagError::Empty));
    check_hashtag(
        &"あ".repeat(101),
        Err(HashtagError::TooLong {
            chars: 101,
            max: 100,
        }),
    );
    check_hashtag("two words", Err(HashtagError::NotTagCharacters));
    check_hashtag("café☕", Err(HashtagError::NotTagCharacters));
    check_hashtag("a#b", Err(HashtagError::NotTagCharacters));
    check_hashtag("2025", Err(HashtagError::DigitsOnly));
    check_hashtag("#2025", Err(HashtagError::DigitsOnly));
    // No control character at all, not even one that trimming would remove.
    check_hashtag("a\0", Err(HashtagError::ControlCharacter('\0')));
    check_hashtag("\u{7}a", Err(HashtagError::ControlCharacter('\u{7}')));
    check_hashtag("a\u{7f}", Err(HashtagError::ControlCharacter('\u{7f}')));
    check_hashtag("tag\u{85}", Err(HashtagError::ControlCharacter('\u{85}')));
    check_hashtag("tag\n", Err(HashtagError::ControlCharacter('\n')));
    check_hashtag("a\tb", Err(HashtagError::ControlCharacter('\t')));
}

fn check_char_count(text: &str, expect: usize) {
    assert_eq!(char_count(text), expect, "{text:?}");
}

#[test]
fn characters_are_counted_as_scalar_values() {
    check_char_count("", 0);
    check_char_count("latte", 5);
    check_char_count("こんにちは", 5);
    check_char_count("☕", 1);
    check_char_count("😀", 1);
    // An accent written as a combining mark, and emoji joined by U+200D, count each part.
    check_char_count("e\u{301}", 2);
    check_char_count("👨‍👩‍👧", 5);
    check_char_count("a\r\nb", 4);
}

fn check_controls(text: &str, allowed: &[char], expect: &[char]) {
    assert_eq!(control_characters(text, allowed), expect, "{text:?}");
}

#[test]
fn control_characters_in_a_text() {
    check_controls("plain テキスト 😀", &[], &[]);
    check_controls("a\nb\tc", &LAYOUT_CONTROLS, &[]);
    check_controls("a\nb\tc", &[], &['\n', '\t']);
    check_controls(
        "\0\u{7}\u{1f}\u{7f}\u{85}\u{9f}\u{7}",
        &LAYOUT_CONTROLS,
        &['\0', '\u{7}', '\u{1f}', '\u{7f}', '\u{85}', '\u{9f}'],
    );
    // Invisible characters that are not controls stay: emoji need U+200D.
    check_controls("\u{200d}\u{200b}\u{a0}\u{2028}", &[], &[]);
    check_controls(
        &normalize_line_breaks("a\r\nb\rc"),
        &LAYOUT_CONTROLS,
        &['\r'],
    );
}

#[test]
fn invisible_characters_are_refused_by_field() {
    let paths = |input: RawPostText| -> Vec<String> {
        PostText::parse(&input, 5)
            .err()
            .unwrap_or_default()
            .iter()
            .map(|e| format!("{}: {e}", e.field()))
            .collect()
    };
    assert_eq!(
        paths(raw("Sale \u{202E}%05 ffo", &[], "x")),
        [
            "caption: caption contains U+202E RIGHT-TO-LEFT OVERRIDE at character 6, which a reader cannot see but which changes what the text shows; remove it"
        ]
    );
    assert_eq!(
        paths(raw("ok", &["ca\u{200B}fe"], "a\u{200B}b\u{2066}")),
        [
            "hashtags[0]: hashtag \"ca\\u{200b}fe\" is not valid: it contains the invisible character U+200B ZERO WIDTH SPACE",
            "altText: alt text contains U+200B ZERO WIDTH SPACE at character 2, U+2066 LEFT-TO-RIGHT ISOLATE at character 4, which a reader cannot see but which changes what the text shows; remove them",
        ]
    );
    // What real text needs: a ZWJ emoji sequence, a flag tag sequence, Persian with ZWNJ.
    for caption in [
        "Chef \u{1F469}\u{200D}\u{1F373} today",
        "Scotland \u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
        "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}",
    ] {
        assert_eq!(
            paths(raw(caption, &[], "x")),
            Vec::<String>::new(),
            "{caption}"
        );
    }
}

#[test]
fn counts_are_what_the_rules_count() {
    // Spaces, a sign on a tag, `\r\n`: counted as saved, so the count at the cap is the cap.
    let text_with = |n: usize| {
        let caption = format!("  @Cafe and @cafe. #Soup ＃soup #1\r\n{}  ", "あ".repeat(n));
        raw(&caption, &[" #soup", "秋"], " 🍂 ")
    };
    let text = text_with(2_158);
    let counts = text.counts();
    assert_eq!(
        counts,
        Counts {
            caption_chars: 2_200,
            mentions: 1,
            hashtags: 2,
            hashtags_in_caption: 2,
            alt_text_chars: 1,
        }
    );
    assert!(PostText::parse(&text, 2).is_ok());
    assert_eq!(
        PostText::parse(&text, 1).unwrap_err(),
        [ContentError::TooManyHashtags { count: 2, max: 1 }]
    );
    let longer = text_with(2_159);
    assert_eq!(longer.counts().caption_chars, 2_201);
    assert_eq!(
        PostText::parse(&longer, 2).unwrap_err(),
        [ContentError::CaptionWithHashtagsTooLong {
            chars: 2_201,
            max: 2_200
        }]
    );
    // A text no rule accepts is still counted.
    assert_eq!(raw(" ", &[], "").counts(), Counts::default());
    assert_eq!(raw("", &["", "#", "a b"], "").counts().hashtags, 1);
}

#[test]
fn hashtag_runs_mark_what_is_counted() {
    let runs = hashtag_runs("C# ##fun,＃秋 #1 a#b #x");
    let shown: Vec<(&str, bool)> = runs.iter().map(|r| (r.text, r.hashtag)).collect();
    assert_eq!(
        shown,
        [
            ("C# #", false),
            ("#fun", true),
            (",", false),
            ("＃秋", true),
            (" #1 a#b ", false),
            ("#x", true),
        ]
    );
    assert_eq!(hashtag_runs(""), []);
    assert_eq!(
        hashtag_runs("#a#b").len(),
        2,
        "#a then #b: `a#b` is inside a word"
    );
}
