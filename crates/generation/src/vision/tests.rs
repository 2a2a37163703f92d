use super::*;
use crate::chain::ChainError;
use crate::request::Tone;

fn request(hashtag_count: usize) -> GenerateRequest {
    GenerateRequest {
        brief: "Our new café opens in Shibuya on Friday".to_owned(),
        tone: Tone::Friendly,
        language: "en".to_owned(),
        keywords: vec!["coffee".to_owned()],
        hashtag_count,
        image_prompt: Some("a latte".to_owned()),
        scheduled_at: None,
        account: None,
        photos: true,
    }
}

fn answer(caption: &str, hashtags: &[&str], alt_texts: &[&str]) -> String {
    json!({ "caption": caption, "hashtags": hashtags, "altTexts": alt_texts }).to_string()
}

fn chain(photos: usize) -> VisionChain {
    VisionChain::new(&request(2), photos, 5, &Voice::default())
}

const THREE: [&str; 3] = ["A latte on a table", "The café's door", "A barista smiling"];

#[test]
fn a_good_answer_is_done_with_one_alt_text_per_photo_in_order() {
    let mut chain = chain(3);
    let step = chain.accept(&answer("Opening Friday!", &["coffee", "shibuya"], &THREE));
    let VisionStep::Done(description) = step else {
        panic!("{step:?}");
    };
    assert_eq!(description.alt_texts, THREE);
    let raw = description.text.to_raw();
    assert_eq!(raw.caption, "Opening Friday!");
    assert_eq!(raw.hashtags, ["coffee", "shibuya"]);
    // The draft's own alt text is the first photo's.
    assert_eq!(raw.alt_text, THREE[0]);
    assert_eq!(chain.attempts(), 1);
}

#[test]
fn the_wrong_number_of_alt_texts_is_repaired_then_refused() {
    let mut chain = chain(3);
    let two = answer("Hi", &["a", "b"], &THREE[..2]);
    assert_eq!(chain.accept(&two), VisionStep::Repair);
    let prompt = chain.prompt();
    assert_eq!(prompt.messages.len(), 4);
    assert_eq!(prompt.messages[2].content, two);
    assert_eq!(
        prompt.messages[3].content,
        "Your answer could not be used:\n\
- 2 alt texts given, but 3 photos were sent: exactly 3 are required, one per photo in order\n\n\
Reply with the corrected JSON object only, with exactly the fields caption, hashtags and \
altTexts, and no other text."
    );
    let four = answer("Hi", &["a", "b"], &[THREE[0], THREE[1], THREE[2], "extra"]);
    match chain.accept(&four) {
        VisionStep::Failed(ChainError::UnusableAnswer { attempts, problems }) => {
            assert_eq!(attempts, 2);
            assert_eq!(
                problems,
                [
                    "4 alt texts given, but 3 photos were sent: exactly 3 are required, one per photo in order"
                ]
            );
        }
        step => panic!("{step:?}"),
    }
}

#[test]
fn a_repaired_answer_is_done() {
    let mut chain = chain(1);
    assert_eq!(chain.accept("I see a cup."), VisionStep::Repair);
    let step = chain.accept(&answer("Hi", &["a", "b"], &["A cup"]));
    assert!(matches!(step, VisionStep::Done(_)), "{step:?}");
    assert_eq!(chain.attempts(), 2);
}

#[test]
fn the_text_rules_apply_to_the_caption_hashtags_and_each_alt_text() {
    let mut chain = chain(3);
    let long = "x".repeat(1_001);
    let bad = answer("Opening #Friday", &["a b", "c"], &["A cup", "", &long]);
    assert_eq!(chain.accept(&bad), VisionStep::Repair);
    let repair = chain.prompt().messages[3].content.clone();
    for problem in [
        "- altTexts[1]: alt text is empty",
        "- altTexts[2]: alt text has 1001 characters, at most 1000 are allowed",
        "- caption contains hashtags (#Friday)",
        "- hashtag \"a b\" is not valid",
    ] {
        assert!(repair.contains(problem), "{problem:?} not in {repair}");
    }
    // Not a problem of a stand-in: every alt text problem names its photo.
    assert!(!repair.contains("\n- alt text"), "{repair}");
}

#[test]
fn mistyped_and_missing_alt_texts() {
    let check = |answer: &str, expect: &[&str]| {
        let mut chain = chain(2);
        chain.accept(answer);
        let VisionStep::Failed(ChainError::UnusableAnswer { problems, .. }) = chain.accept(answer)
        else {
            panic!("{answer} was used");
        };
        assert_eq!(problems, expect, "{answer}");
    };
    check(
        r#"{"caption": "Hi", "hashtags": ["a", "b"], "altText": "A cup"}"#,
        &["missing field altTexts"],
    );
    check(
        r#"{"caption": "Hi", "hashtags": ["a", "b"], "altTexts": "A cup"}"#,
        &["altTexts must be an array of strings, got a string"],
    );
    check(
        r#"{"caption": "Hi", "hashtags": ["a", "b"], "altTexts": ["A cup", 3]}"#,
        &["altTexts[1] must be a string, got a number"],
    );
    check(
        r#"{"caption": "Hi", "hashtags": ["a", "b"], "altTexts": ["A\u200Bcup", "ok"]}"#,
        &[
            "altTexts[0]: alt text contains U+200B ZERO WIDTH SPACE at character 2, which a reader cannot see but which changes what the text shows; remove it",
        ],
    );
}

fn shop_voice() -> Voice {
    Voice::parse(&domain::voice::RawVoice {
        tone: "warm".into(),
        always_hashtags: vec!["ShopTokyo".into()],
        avoid_words: vec!["cheap".into()],
        ..Default::default()
    })
    .expect("a valid voice")
}

#[test]
fn the_voice_is_in_the_prompt_and_checks_every_alt_text() {
    let mut chain = VisionChain::new(&request(2), 2, 5, &shop_voice());
    let system = chain.prompt().messages[0].content.clone();
    assert!(system.contains("- Its tone: warm"), "{system}");
    assert!(system.contains("#ShopTokyo"), "{system}");
    let bad = answer("Lunch", &["lunch", "bread"], &["Bread", "A cheap sandwich"]);
    assert_eq!(chain.accept(&bad), VisionStep::Repair);
    let repair = chain.prompt().messages[3].content.clone();
    assert!(
        repair.contains("- altTexts[1]: alt text uses \"cheap\", a word this account avoids"),
        "{repair}"
    );
    let VisionStep::Done(description) = chain.accept(&answer(
        "Lunch",
        &["lunch", "bread"],
        &["Bread", "A sandwich"],
    )) else {
        panic!("the repaired answer is used");
    };
    assert_eq!(description.text.to_raw().hashtags, ["lunch", "ShopTokyo"]);
}

#[test]
fn the_prompt_asks_for_one_alt_text_per_photo_without_the_image_prompt() {
    let prompt = chain(3).prompt();
    let system = &prompt.messages[0].content;
    assert!(
        system.contains("\"altTexts\": an array of exactly 3 strings, the alt text of each photo in the order they were sent"),
        "{system}"
    );
    assert!(
        system.contains("Exactly 2 hashtags, all different."),
        "{system}"
    );
    assert_eq!(
        prompt.messages[1].content,
        "Brief: Our new café opens in Shibuya on Friday\n\
Tone: friendly (warm and approachable, like talking to a friend)\n\
Keywords to work in: coffee\n\
Photos: 3, attached in order."
    );
    assert_eq!(
        prompt.output_schema["required"],
        json!(["caption", "hashtags", "altTexts"])
    );
    assert_eq!(
        prompt.output_schema["properties"]["altTexts"]["description"],
        "Exactly 3 alt texts, one per photo in order, for screen-reader users"
    );
}

#[test]
fn the_offline_answer_is_done_and_says_no_model_described_the_photos() {
    for (language, expect) in [
        ("en", "Photo 2 of 3, not described by a model"),
        ("ja", "写真 2/3(モデルによる説明はありません)"),
    ] {
        let request = GenerateRequest {
            language: language.into(),
            ..request(2)
        };
        let mut chain = VisionChain::new(&request, 3, 5, &Voice::default());
        let answer = chain.offline_answer();
        let VisionStep::Done(description) = chain.accept(&answer) else {
            panic!("the offline answer is usable: {answer}");
        };
        assert_eq!(description.alt_texts.len(), 3);
        assert_eq!(description.alt_texts[1], expect);
        assert!(description.text.to_raw().caption.contains("Shibuya") || language == "ja");
    }
}

#[test]
fn photos_go_into_the_first_user_message_after_its_text() {
    let prompt = chain(2).prompt();
    let urls = vec![data_url(&[0xff, 0xd8, 0xff]), data_url(b"jpeg")];
    assert_eq!(urls[0], "data:image/jpeg;base64,/9j/");
    let messages = messages_with_photos(&prompt.messages, &urls);
    assert_eq!(
        messages[0],
        json!({ "role": "system", "content": prompt.messages[0].content })
    );
    assert_eq!(
        messages[1],
        json!({ "role": "user", "content": [
            { "type": "text", "text": prompt.messages[1].content },
            { "type": "image_url", "image_url": { "url": "data:image/jpeg;base64,/9j/" } },
            { "type": "image_url", "image_url": { "url": "data:image/jpeg;base64,anBlZw==" } },
        ] })
    );
    // The repair round's messages stay text.
    let mut repaired = chain(2);
    repaired.accept("no");
    let messages = messages_with_photos(&repaired.prompt().messages, &urls);
    assert_eq!(messages.as_array().map(Vec::len), Some(4));
    assert!(messages[3]["content"].is_string());
    assert_eq!(messages[1]["content"].as_array().map(Vec::len), Some(3));
}

#[test]
fn photo_sizes_are_bounded() {
    assert_eq!(check_photo_sizes(&[]), Err(PhotosError::None));
    assert_eq!(check_photo_sizes(&[MAX_PHOTO_BYTES]), Ok(()));
    assert_eq!(
        check_photo_sizes(&[MAX_PHOTO_BYTES / 2, MAX_PHOTO_BYTES / 2 + 1]),
        Err(PhotosError::TooLarge {
            total: MAX_PHOTO_BYTES + 1
        })
    );
}
