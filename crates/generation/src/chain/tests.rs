use super::*;

fn request(hashtag_count: usize) -> GenerateRequest {
    GenerateRequest {
        brief: "Our new café opens in Shibuya on Friday".to_owned(),
        tone: Tone::Playful,
        language: "en-US".to_owned(),
        keywords: vec!["coffee".to_owned(), "Shibuya".to_owned()],
        hashtag_count,
        image_prompt: Some("a latte with heart latte art".to_owned()),
        scheduled_at: None,
        account: None,
        photos: false,
    }
}

fn answer(caption: &str, hashtags: &[&str], alt_text: &str) -> String {
    json!({ "caption": caption, "hashtags": hashtags, "altText": alt_text }).to_string()
}

fn good() -> String {
    answer("Opening Friday!", &["coffee", "shibuya"], "A latte")
}

/// What the parser makes of an answer when 2 hashtags are expected out of at most 5:
/// the parsed texts, or a fragment of each problem, in order.
fn check(answer: &str, expect: Result<(&str, &[&str], &str), &[&str]>) {
    let got = parse_answer(answer, 5, 2);
    match (got, expect) {
        (Ok(text), Ok((caption, hashtags, alt_text))) => {
            let raw = text.to_raw();
            assert_eq!(raw.caption, caption, "{answer}");
            assert_eq!(raw.hashtags, hashtags, "{answer}");
            assert_eq!(raw.alt_text, alt_text, "{answer}");
        }
        (Err(problems), Err(fragments)) => {
            assert_eq!(problems.len(), fragments.len(), "{answer}: {problems:#?}");
            for (problem, fragment) in problems.iter().zip(fragments) {
                assert!(
                    problem.contains(fragment),
                    "{answer}: {problem:?} lacks {fragment:?}"
                );
            }
        }
        (got, _) => panic!("{answer}: unexpected {got:#?}"),
    }
}

#[test]
fn bare_object() {
    check(
        &good(),
        Ok(("Opening Friday!", &["coffee", "shibuya"], "A latte")),
    );
}

#[test]
fn fenced_or_surrounded_object() {
    let expect = Ok(("Opening Friday!", &["coffee", "shibuya"][..], "A latte"));
    check(&format!("```json\n{}\n```", good()), expect);
    check(&format!("```\n{}\n```\n", good()), expect);
    check(&format!("Here is your post:\n{}\nEnjoy!", good()), expect);
    check(
        &format!("Here it is: {} (note: {{ is a brace}}", good()),
        expect,
    );
    check(&format!("  \n{}  ", good()), expect);
}

#[test]
fn hash_prefixes_are_stripped() {
    check(
        &answer("Opening Friday!", &["#coffee", " ＃渋谷 "], "A latte"),
        Ok(("Opening Friday!", &["coffee", "渋谷"], "A latte")),
    );
}

#[test]
fn snake_case_alt_text_and_extra_fields_are_tolerated() {
    check(
        r#"{"caption": "Hi", "hashtags": ["a", "b"], "alt_text": "A cup", "mood": "happy"}"#,
        Ok(("Hi", &["a", "b"], "A cup")),
    );
}

#[test]
fn not_an_object() {
    check(
        "I cannot help with that.",
        Err(&["answer is not a JSON object"]),
    );
    check("", Err(&["answer is not a JSON object"]));
    check("} oops {", Err(&["answer is not a JSON object"]));
    check(r#"["caption"]"#, Err(&["answer is not a JSON object"]));
}

#[test]
fn not_valid_json() {
    check(
        r#"{"caption": "Hi", "hashtags": [}"#,
        Err(&["answer is not valid JSON: "]),
    );
    check(
        "{caption: 'Hi'}",
        Err(&["answer is not valid JSON: key must be a string"]),
    );
}

#[test]
fn missing_and_mistyped_fields() {
    check(
        r#"{"caption": "Hi"}"#,
        Err(&["missing field hashtags", "missing field altText"]),
    );
    check(
        r##"{"caption": 1, "hashtags": "#a #b", "altText": null}"##,
        Err(&[
            "caption must be a string, got a number",
            "hashtags must be an array of strings, got a string",
            "altText must be a string, got null",
        ]),
    );
    check(
        r#"{"caption": "Hi", "hashtags": ["a", 2], "altText": "x"}"#,
        Err(&["hashtags[1] must be a string, got a number"]),
    );
}

#[test]
fn caption_too_long() {
    check(
        &answer(&"a".repeat(2_301), &["x", "y"], "A latte"),
        Err(&["caption has 2301 characters, at most 2200 are allowed"]),
    );
    // 2,190 characters leave too little room for "\n\n#coffee #shibuya".
    check(
        &answer(&"a".repeat(2_190), &["coffee", "shibuya"], "A latte"),
        Err(&["caption with its hashtags has 2208 characters, at most 2200 are allowed"]),
    );
}

#[test]
fn wrong_number_of_hashtags() {
    check(
        &answer("Hi", &["a", "b", "c"], "x"),
        Err(&["3 hashtags given, exactly 2 are required"]),
    );
    check(
        &answer("Hi", &["a"], "x"),
        Err(&["1 hashtag given, exactly 2 are required"]),
    );
    check(
        &answer("Hi", &["a", "b", "c", "d", "e", "f"], "x"),
        Err(&["6 hashtags given, exactly 2 are required"]),
    );
}

/// The count is checked against the request, the cap against the configuration.
fn check_count(hashtags: &[&str], max: usize, expected: usize, expect: &[&str]) {
    let got = parse_answer(&answer("Hi", hashtags, "x"), max, expected)
        .err()
        .unwrap_or_default();
    assert_eq!(got, expect, "{hashtags:?} max {max} expected {expected}");
}

#[test]
fn hashtag_count_against_expectation_and_cap() {
    check_count(&[], 5, 0, &[]);
    check_count(
        &["a"],
        5,
        0,
        &["1 hashtag given, but no hashtags are wanted: hashtags must be an empty array"],
    );
    check_count(&[], 5, 1, &["0 hashtags given, exactly 1 is required"]);
    check_count(&["a", "b", "c"], 3, 3, &[]);
    check_count(
        &["a", "b", "c"],
        2,
        3,
        &["3 hashtags given, at most 2 are allowed"],
    );
}

#[test]
fn bad_hashtags_are_all_listed() {
    check(
        &answer("Hi", &["summer vibes", "2024"], "x"),
        Err(&[
            r#"hashtag "summer vibes" is not valid: only letters, digits and _ are allowed"#,
            r#"hashtag "2024" is not valid: Instagram ignores hashtags made only of digits"#,
        ]),
    );
    check(
        &answer("Hi", &["Coffee", "#coffee"], "x"),
        Err(&[r##"hashtag "#coffee" appears more than once"##]),
    );
    check(
        &answer("Hi", &["a", ""], "x"),
        Err(&[r#"hashtag "" is not valid: it is empty"#]),
    );
}

#[test]
fn hashtags_inside_the_caption() {
    check(
        &answer("Opening Friday! #coffee ＃渋谷 ##fun", &["a", "b"], "x"),
        Err(&[
            "caption contains hashtags (#coffee, #渋谷, #fun); put every hashtag in the hashtags array",
        ]),
    );
    check(
        &answer("We're #1 for C# lovers", &["a", "b"], "x"),
        Ok(("We're #1 for C# lovers", &["a", "b"], "x")),
    );
    // A sign inside a word makes no hashtag, in Japanese text too.
    check(
        &answer("週末は#カフェ巡り、a#b", &["a", "b"], "x"),
        Ok(("週末は#カフェ巡り、a#b", &["a", "b"], "x")),
    );
    // Over the cap because of them: the one problem says what to do.
    check(
        &answer("Hi ＃a #b #c #d", &["x", "y"], "x"),
        Err(&["caption contains hashtags (#a, #b, #c, #d); put every hashtag"]),
    );
}

#[test]
fn mentions_are_capped() {
    let mentions = |count: usize| -> String {
        let names: Vec<String> = (0..count).map(|i| format!("@shop{i}")).collect();
        names.join(" ")
    };
    let twenty = mentions(20);
    check(
        &answer(&twenty, &["a", "b"], "x"),
        Ok((&twenty, &["a", "b"], "x")),
    );
    check(
        &answer(&mentions(21), &["a", "b"], "x"),
        Err(&["caption mentions 21 accounts, at most 20 are allowed"]),
    );
}

#[test]
fn control_characters_are_refused() {
    check(
        &answer("Hi\u{7}", &["a\u{0}", "b"], "A\u{7f}cup\u{85}"),
        Err(&[
            "caption contains the control character U+0007; only line breaks and tabs",
            r#"hashtag "a\0" is not valid: it contains the control character U+0000"#,
            "alt text contains the control characters U+007F, U+0085; only line breaks",
        ]),
    );
    check(
        &answer("Line one\r\nLine two\tend", &["a", "b"], "A\ncup"),
        Ok(("Line one\nLine two\tend", &["a", "b"], "A\ncup")),
    );
}

#[test]
fn a_missing_field_hides_no_other_problem() {
    check(
        r#"{"hashtags": ["a b", "x"], "altText": "\u0000"}"#,
        Err(&[
            "missing field caption",
            r#"hashtag "a b" is not valid"#,
            "alt text contains the control character U+0000",
        ]),
    );
    check(
        r##"{"caption": "#a #b #c #d #e #f", "altText": "x"}"##,
        Err(&[
            "missing field hashtags",
            "caption contains hashtags (#a, #b, #c, #d, #e, #f)",
        ]),
    );
}

#[test]
fn empty_texts_and_long_alt_text() {
    check(
        &answer(" ", &["a", "b"], &"x".repeat(1_001)),
        Err(&[
            "caption is empty",
            "alt text has 1001 characters, at most 1000 are allowed",
        ]),
    );
    check(&answer("Hi", &["a", "b"], ""), Err(&["alt text is empty"]));
}

fn user(content: &str) -> ChatMessage {
    ChatMessage::new(Role::User, content)
}

#[test]
fn good_answer_is_done_at_once() {
    let mut chain = GenerationChain::new(&request(2), 5, &Voice::default());
    assert_eq!(chain.prompt().messages.len(), 2);
    let step = chain.accept(&good());
    assert!(matches!(step, ChainStep::Done(_)), "{step:?}");
    assert_eq!(chain.attempts(), 1);
}

#[test]
fn bad_then_good_is_repaired() {
    let mut chain = GenerationChain::new(&request(2), 5, &Voice::default());
    let first = chain.prompt();
    let bad = answer("Opening #Friday", &["a"], "x");
    assert_eq!(chain.accept(&bad), ChainStep::Repair);

    let second = chain.prompt();
    assert_eq!(second.messages[..2], first.messages[..]);
    assert_eq!(
        second.messages[2],
        ChatMessage::new(Role::Assistant, bad.as_str())
    );
    assert_eq!(
        second.messages[3],
        user(
            "Your answer could not be used:\n\
- caption contains hashtags (#Friday); put every hashtag in the hashtags array instead\n\
- 1 hashtag given, exactly 2 are required\n\n\
Reply with the corrected JSON object only, with exactly the fields caption, hashtags and \
altText, and no other text."
        )
    );
    assert_eq!(second.messages.len(), 4);

    match chain.accept(&format!("```json\n{}\n```", good())) {
        ChainStep::Done(text) => assert_eq!(text.to_raw().caption, "Opening Friday!"),
        step => panic!("{step:?}"),
    }
    assert_eq!(chain.attempts(), 2);
}

/// A caption whose text runs the other way (U+202E) or hides a break (U+200B) reads
/// differently to a reviewer than to Instagram: the model is asked again, and an answer
/// that keeps them is refused.
#[test]
fn invisible_characters_are_repaired_or_refused() {
    let mut chain = GenerationChain::new(&request(2), 5, &Voice::default());
    let hidden = answer(
        "Sale \u{202E}%05 ffo",
        &["coffee", "shibuya"],
        "A\u{200B}latte",
    );
    assert_eq!(chain.accept(&hidden), ChainStep::Repair);
    let repair = chain.prompt().messages[3].content.clone();
    assert!(
        repair.contains("caption contains U+202E RIGHT-TO-LEFT OVERRIDE at character 6"),
        "{repair}"
    );
    assert!(
        repair.contains("alt text contains U+200B ZERO WIDTH SPACE"),
        "{repair}"
    );
    match chain.accept(&hidden) {
        ChainStep::Failed(ChainError::UnusableAnswer { problems, .. }) => {
            assert_eq!(problems.len(), 2, "{problems:?}");
        }
        step => panic!("{step:?}"),
    }
    // An emoji sequence and a flag are real text.
    let mut chain = GenerationChain::new(&request(2), 5, &Voice::default());
    let emoji = answer(
        "Chef \u{1F469}\u{200D}\u{1F373} \u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
        &["coffee", "shibuya"],
        "A latte",
    );
    assert!(matches!(chain.accept(&emoji), ChainStep::Done(_)));
}

#[test]
fn bad_twice_fails_with_the_last_problems() {
    let mut chain = GenerationChain::new(&request(2), 5, &Voice::default());
    assert_eq!(chain.accept("no"), ChainStep::Repair);
    let step = chain.accept(r#"{"caption": "Hi"}"#);
    let expect = ChainError::UnusableAnswer {
        attempts: 2,
        problems: vec![
            "missing field hashtags".to_owned(),
            "missing field altText".to_owned(),
        ],
    };
    assert_eq!(step, ChainStep::Failed(expect.clone()));
    assert_eq!(
        expect.to_string(),
        "the model's answer was not usable after 2 attempts: missing field hashtags; missing field altText"
    );
    assert_eq!(chain.attempts(), 2);
    // The repair round shows only the answer being repaired.
    assert_eq!(chain.prompt().messages[2].content, "no");
}

#[test]
fn expected_hashtags_are_held_to_the_cap() {
    let mut chain = GenerationChain::new(&request(5), 3, &Voice::default());
    assert!(
        chain.prompt().messages[0]
            .content
            .contains("Exactly 3 hashtags, all different.")
    );
    let step = chain.accept(&answer("Hi", &["a", "b", "c"], "x"));
    assert!(matches!(step, ChainStep::Done(_)), "{step:?}");
}

#[test]
fn prompt_template() {
    let chain = GenerationChain::new(&request(2), 5, &Voice::default());
    let prompt = chain.prompt();
    assert_eq!(prompt.messages[0].role, Role::System);
    assert_eq!(
        prompt.messages[0].content,
        // The whole system message, as the model reads it, for two hashtags in en-US.
        include_str!("system_prompt.txt").trim_end()
    );
    assert_eq!(
        prompt.messages[1],
        user(
            "Brief: Our new café opens in Shibuya on Friday\n\
Tone: playful (light-hearted and fun; emoji are welcome)\n\
Keywords to work in: coffee, Shibuya\n\
The image shows: a latte with heart latte art"
        )
    );
    assert_eq!(
        prompt.output_schema["required"],
        json!(["caption", "hashtags", "altText"])
    );
    assert_eq!(
        prompt.output_schema["properties"]["hashtags"]["description"],
        "Exactly 2 distinct hashtags, without the leading #"
    );
}

#[test]
fn prompt_without_keywords_image_or_hashtags() {
    let request = GenerateRequest {
        keywords: Vec::new(),
        image_prompt: None,
        tone: Tone::Informative,
        ..request(0)
    };
    let prompt = GenerationChain::new(&request, 5, &Voice::default()).prompt();
    assert!(
        prompt.messages[0]
            .content
            .contains("- No hashtags: \"hashtags\" is an empty array.\n")
    );
    assert_eq!(
        prompt.messages[1].content,
        "Brief: Our new café opens in Shibuya on Friday\n\
Tone: informative (factual and helpful; teach the reader something)\n\
Keywords to work in: none"
    );
}

fn shop_voice() -> Voice {
    Voice::parse(&domain::voice::RawVoice {
        tone: "warm, plain words".into(),
        always_hashtags: vec!["ShopTokyo".into()],
        never_hashtags: vec!["fyp".into()],
        avoid_words: vec!["cheap".into()],
        sample_captions: vec!["Fresh bread at eight.\nSee you!".into()],
        ..Default::default()
    })
    .expect("a valid voice")
}

#[test]
fn the_prompt_carries_the_voice() {
    let prompt = GenerationChain::new(&request(2), 5, &shop_voice()).prompt();
    let system = &prompt.messages[0].content;
    assert!(
        system.ends_with(
            "\n\nThe account's voice:\n- Its tone: warm, plain words\n\
- These hashtags must be among the hashtags: #ShopTokyo.\n\
- These hashtags must not appear, neither in the hashtags nor in the caption: #fyp.\n\
- Never use these words, in any case, in the caption, the hashtags or the alt text: \"cheap\".\n\
- Past captions of the account, for their style only:\n  > Fresh bread at eight. See you!"
        ),
        "{system}"
    );
    // Without a voice, nothing of it.
    let plain = GenerationChain::new(&request(2), 5, &Voice::default()).prompt();
    assert!(!plain.messages[0].content.contains("voice"));
}

#[test]
fn an_avoided_word_or_never_used_hashtag_is_repaired_and_always_used_hashtags_are_put_in() {
    let mut chain = GenerationChain::new(&request(2), 5, &shop_voice());
    let bad = answer("A CHEAP lunch #fyp", &["lunch", "Tokyo"], "Cheap bread");
    assert_eq!(chain.accept(&bad), ChainStep::Repair);
    let repair = &chain.prompt().messages[3].content;
    for problem in [
        "caption uses \"cheap\", a word this account avoids",
        "caption uses #fyp, a hashtag this account never uses",
        "alt text uses \"cheap\", a word this account avoids",
    ] {
        assert!(repair.contains(problem), "{repair}");
    }
    // The always-used hashtag left out takes the last place.
    let ChainStep::Done(text) = chain.accept(&answer("A good lunch", &["lunch", "Tokyo"], "Bread"))
    else {
        panic!("the repaired answer is used");
    };
    assert_eq!(text.to_raw().hashtags, ["lunch", "ShopTokyo"]);
}

#[test]
fn always_used_hashtags_count_within_the_cap() {
    let request = request(0);
    let chain = GenerationChain::new(&request, 5, &shop_voice());
    assert_eq!(
        chain.prompt().output_schema["properties"]["hashtags"]["description"],
        "Exactly 1 distinct hashtags, without the leading #"
    );
    assert_eq!(
        GenerationChain::new(&request, 0, &shop_voice()).expected_hashtags,
        0
    );
}

#[test]
fn the_offline_writer_keeps_the_voice() {
    let request = GenerateRequest {
        brief: "Cheap bread, fresh and CHEAP".into(),
        keywords: vec!["fyp".into(), "bread".into()],
        ..request(3)
    };
    let mut chain = GenerationChain::new(&request, 5, &shop_voice());
    let answer = chain.offline_answer();
    let ChainStep::Done(text) = chain.accept(&answer) else {
        panic!("the offline answer is usable: {answer}");
    };
    let raw = text.to_raw();
    assert_eq!(raw.hashtags[0], "ShopTokyo");
    assert!(!raw.hashtags.iter().any(|t| t == "fyp"), "{raw:?}");
    assert!(!raw.caption.to_lowercase().contains("cheap"), "{raw:?}");
    assert!(shop_voice().check(&raw).is_empty());
}

#[test]
fn the_offline_answer_is_done_as_the_parser_reads_it() {
    for (language, count) in [("en", 3), ("ja", 4), ("en-US", 0)] {
        let request = GenerateRequest {
            language: language.into(),
            ..request(count)
        };
        let mut chain = GenerationChain::new(&request, 30, &Voice::default());
        let answer = chain.offline_answer();
        let text = parse_answer(&answer, 30, count).unwrap_or_else(|p| panic!("{answer}\n{p:#?}"));
        assert_eq!(chain.accept(&answer), ChainStep::Done(text), "{answer}");
    }
}
