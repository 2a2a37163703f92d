//! The OFFLINE TEMPLATE WRITER: the stand-in for a model when no model provider is configured,
//! so that the whole pipeline runs without keys.
//!
//! It writes no prose of its own beyond fixed sentence templates; it rearranges the request.
//! Its answer has the same JSON format as a model's and goes through the same output parser
//! ([`crate::answer`], as in [`crate::GenerationChain::accept`]), so the rest of the system
//! cannot tell the difference.
//! The answer is a pure function of the request: the same request gives the same post.

use domain::content::{
    Hashtag, MAX_ALT_TEXT_CHARS, MAX_CAPTION_CHARS, MAX_MENTIONS, char_count, is_hashtag_char,
    mention_count, strip_hashtag_signs, strip_mention_signs,
};
use domain::voice::Voice;
use serde_json::json;

use crate::request::{GenerateRequest, Tone};
use observe::remote::truncate;

/// Long tags are hard to read; this also keeps room for the caption when 30 tags are asked for.
const MAX_TAG_CHARS: usize = 30;

/// Words of an English brief too common to make a useful hashtag.
const STOPWORDS: [&str; 24] = [
    "about", "after", "also", "been", "before", "from", "have", "here", "into", "just", "more",
    "only", "over", "some", "than", "that", "their", "them", "then", "there", "this", "what",
    "when", "with",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    Japanese,
    English,
}

impl Language {
    fn of(request: &GenerateRequest) -> Self {
        if request.language.to_ascii_lowercase().starts_with("ja") {
            Language::Japanese
        } else {
            Language::English
        }
    }
}

/// The fixed sentences: two openings and two closings per tone and language.
fn phrases(language: Language, tone: Tone) -> ([&'static str; 2], [&'static str; 2]) {
    match (language, tone) {
        (Language::English, Tone::Friendly) => (
            ["Hi everyone! 👋", "Hello, friends!"],
            [
                "Let us know what you think in the comments!",
                "Share this with someone who would love it.",
            ],
        ),
        (Language::English, Tone::Professional) => (
            [
                "We have an update to share.",
                "Thank you for following our work.",
            ],
            [
                "Find out more through the link in our bio.",
                "We look forward to hearing from you.",
            ],
        ),
        (Language::English, Tone::Playful) => (
            ["Guess what? 🎉", "Drumroll, please! 🥁"],
            [
                "Tag a friend who needs to see this! ✨",
                "Double-tap if you are as excited as we are! 💃",
            ],
        ),
        (Language::English, Tone::Informative) => (
            ["Did you know?", "Here is something worth knowing."],
            [
                "Save this post for later.",
                "Share it with someone who will find it useful.",
            ],
        ),
        (Language::English, Tone::Inspirational) => (
            [
                "Every big journey starts with a small step. 🌱",
                "Today is a good day to begin.",
            ],
            [
                "Keep going, and share your story with us.",
                "We believe in you. Let's grow together.",
            ],
        ),
        (Language::Japanese, Tone::Friendly) => (
            ["こんにちは！", "みなさん、こんにちは😊"],
            [
                "ぜひコメントで感想を教えてください！",
                "気に入ったらシェアしてくださいね。",
            ],
        ),
        (Language::Japanese, Tone::Professional) => (
            ["お知らせです。", "いつもご覧いただきありがとうございます。"],
            [
                "詳しくはプロフィールのリンクからご覧ください。",
                "今後ともよろしくお願いいたします。",
            ],
        ),
        (Language::Japanese, Tone::Playful) => (
            ["じゃーん！🎉", "ちょっと聞いてください！✨"],
            ["お友だちをタグ付けしてね！", "保存して見返してね🙌"],
        ),
        (Language::Japanese, Tone::Informative) => (
            ["知っていましたか？", "今日のポイントをご紹介します。"],
            [
                "あとで見返せるように保存してください。",
                "役に立ったらシェアをお願いします。",
            ],
        ),
        (Language::Japanese, Tone::Inspirational) => (
            [
                "小さな一歩が大きな変化につながります。🌱",
                "今日も前を向いていきましょう。",
            ],
            [
                "あなたのストーリーもぜひ聞かせてください。",
                "一緒に続けていきましょう。",
            ],
        ),
    }
}

/// Hashtags used when the keywords and the brief give too few.
fn generic_tags(language: Language) -> &'static [&'static str] {
    match language {
        Language::English => &[
            "instagood",
            "photooftheday",
            "instadaily",
            "picoftheday",
            "happy",
            "love",
            "beautiful",
            "photography",
            "instagram",
            "follow",
        ],
        Language::Japanese => &[
            "インスタグラム",
            "今日の一枚",
            "日常",
            "おすすめ",
            "写真好きな人と繋がりたい",
            "instagood",
            "photooftheday",
            "japan",
        ],
    }
}

/// Writes the answer a model would give for `request` in the account's `voice`, with
/// exactly `hashtag_count` tags, as a JSON object string. The voice's always-used hashtags
/// come first, its never-used hashtags and words to avoid are left out (the words removed
/// from the texts taken from the request and from the fixed sentences).
pub fn write_answer(request: &GenerateRequest, voice: &Voice, hashtag_count: usize) -> String {
    let language = Language::of(request);
    let hashtags = hashtags(request, language, voice, hashtag_count);
    json!({
        "caption": voice.without_avoided_words(&caption(request, language, &hashtags)),
        "hashtags": hashtags,
        "altText": voice.without_avoided_words(&alt_text(request, language)),
    })
    .to_string()
}

/// Opening, brief, keywords and closing, with the brief shortened if the caption and its
/// hashtags would pass Instagram's limit.
fn caption(request: &GenerateRequest, language: Language, hashtags: &[String]) -> String {
    let (openings, closings) = phrases(language, request.tone);
    let seed = fnv1a(request.brief.as_bytes());
    let opening = openings[(seed % 2) as usize];
    let closing = closings[((seed >> 1) % 2) as usize];
    let keywords: Vec<String> = request
        .keywords
        .iter()
        .map(|k| strip_hashtag_signs(k))
        .collect();
    let keyword_line = match (keywords.is_empty(), language) {
        (true, _) => String::new(),
        (false, Language::English) => format!("Topics: {}", keywords.join(", ")),
        (false, Language::Japanese) => format!("テーマ：{}", keywords.join("、")),
    };

    // Instagram receives the caption, a blank line, then the hashtags (see `PostText`).
    let tag_block: Vec<String> = hashtags.iter().map(|t| format!("#{t}")).collect();
    let tag_chars = match tag_block.len() {
        0 => 0,
        _ => 2 + char_count(&tag_block.join(" ")),
    };
    let fixed: usize = [opening, keyword_line.as_str(), closing]
        .iter()
        .filter(|part| !part.is_empty())
        .map(|part| char_count(part) + 2)
        .sum();
    let room = MAX_CAPTION_CHARS.saturating_sub(tag_chars + fixed);
    let brief = truncate(strip_hashtag_signs(&request.brief).trim(), room);

    let caption = [opening, brief.as_str(), keyword_line.as_str(), closing]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    // Over the cap, the names are kept as plain words; which 20 to keep is no template's call.
    if mention_count(&caption) > MAX_MENTIONS {
        return strip_mention_signs(&caption);
    }
    caption
}

/// Exactly `hashtag_count` distinct tags the voice allows: its always-used ones, then from
/// the keywords, then from words of the brief, then generic ones, then numbered ones so that
/// any count can be met.
fn hashtags(
    request: &GenerateRequest,
    language: Language,
    voice: &Voice,
    hashtag_count: usize,
) -> Vec<String> {
    let candidates = voice
        .always_hashtags()
        .iter()
        .map(|tag| tag.as_ref().to_owned())
        .chain(
            request
                .keywords
                .iter()
                .map(|keyword| tag_from_keyword(keyword)),
        )
        .chain(brief_words(&request.brief))
        .chain(generic_tags(language).iter().map(|tag| (*tag).to_owned()))
        .chain((2..).map(|n| format!("post{n}")));
    let mut tags: Vec<String> = Vec::with_capacity(hashtag_count);
    for candidate in candidates {
        if tags.len() >= hashtag_count {
            break;
        }
        let candidate: String = candidate.chars().take(MAX_TAG_CHARS).collect();
        let taken = tags
            .iter()
            .any(|tag| tag.to_lowercase() == candidate.to_lowercase());
        if !taken && Hashtag::parse(&candidate).is_ok() && voice.allows_hashtag(&candidate) {
            tags.push(candidate);
        }
    }
    tags
}

/// Joins the words of a keyword; several words are capitalised (`SummerSale`) because
/// screen readers read camel-case hashtags word by word.
fn tag_from_keyword(keyword: &str) -> String {
    let words: Vec<&str> = keyword
        .split(|c| !is_hashtag_char(c))
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() == 1 {
        return words[0].to_owned();
    }
    words
        .iter()
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// Words of the brief that make readable tags; long runs of CJK text (which has no spaces)
/// are skipped.
fn brief_words(brief: &str) -> impl Iterator<Item = String> + '_ {
    brief.split(|c| !is_hashtag_char(c)).filter_map(|word| {
        let chars = word.chars().count();
        let fits = if word.is_ascii() {
            (4..=20).contains(&chars) && !STOPWORDS.contains(&word.to_ascii_lowercase().as_str())
        } else {
            (2..=12).contains(&chars)
        };
        fits.then(|| word.to_lowercase())
    })
}

/// The image prompt describes the image best; without one, the image is about the brief.
fn alt_text(request: &GenerateRequest, language: Language) -> String {
    if let Some(image) = request
        .image_prompt
        .as_deref()
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        return truncate(image, MAX_ALT_TEXT_CHARS);
    }
    let (before, after, without_brief) = match language {
        Language::English => ("Image for a post about: ", "", "Image for a post"),
        Language::Japanese => ("「", "」についての投稿の画像", "投稿の画像"),
    };
    let brief = request.brief.trim();
    if brief.is_empty() {
        // Only a request built by hand has an empty brief; the alt text must still not be empty.
        return without_brief.to_owned();
    }
    let room = MAX_ALT_TEXT_CHARS - char_count(before) - char_count(after);
    format!("{before}{}{after}", truncate(brief, room))
}

/// A stable hash, so that the choice of sentences varies between briefs but never between runs.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_of(request: &GenerateRequest) -> String {
        write_answer(request, &Voice::default(), request.hashtag_count)
    }
    use crate::answer::parse_answer;

    fn request(
        language: &str,
        brief: &str,
        keywords: &[&str],
        hashtag_count: usize,
    ) -> GenerateRequest {
        GenerateRequest {
            brief: brief.to_owned(),
            tone: Tone::Friendly,
            language: language.to_owned(),
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
            hashtag_count,
            image_prompt: None,
            scheduled_at: None,
            account: None,
            photos: false,
        }
    }

    struct Expect<'a> {
        hashtags: &'a [&'a str],
        japanese: bool,
        alt_text: &'a str,
    }

    /// Checks that the answer passes the same parser as a model's, and what it contains.
    fn check(request: &GenerateRequest, expect: Expect<'_>) {
        let answer = answer_of(request);
        assert_eq!(answer_of(request), answer, "not deterministic");
        let text = match parse_answer(&answer, 30, request.hashtag_count) {
            Ok(text) => text,
            Err(problems) => panic!("{request:?}\n{answer}\n{problems:#?}"),
        };
        let raw = text.to_raw();
        assert_eq!(raw.hashtags, expect.hashtags, "{answer}");
        let japanese = raw
            .caption
            .chars()
            .any(|c| ('\u{3040}'..='\u{30ff}').contains(&c));
        assert_eq!(japanese, expect.japanese, "{answer}");
        assert!(raw.alt_text.starts_with(expect.alt_text), "{answer}");
        assert!(char_count(&text.instagram_caption()) <= MAX_CAPTION_CHARS);
    }

    #[test]
    fn english_with_keywords() {
        check(
            &request(
                "en",
                "Our new café opens in Shibuya on Friday",
                &["coffee", "latte art"],
                3,
            ),
            Expect {
                hashtags: &["coffee", "LatteArt", "café"],
                japanese: false,
                alt_text: "Image for a post about: Our new café opens in Shibuya on Friday",
            },
        );
    }

    #[test]
    fn japanese_with_keywords_in_cjk() {
        check(
            &request(
                "ja",
                "渋谷に新しいカフェがオープンします。金曜日から！",
                &["カフェ", "渋谷 グルメ"],
                4,
            ),
            Expect {
                hashtags: &["カフェ", "渋谷グルメ", "金曜日から", "インスタグラム"],
                japanese: true,
                alt_text: "「渋谷に新しいカフェがオープンします。金曜日から！」についての投稿の画像",
            },
        );
        check(
            &request("ja-JP", "Sale", &[], 1),
            Expect {
                hashtags: &["sale"],
                japanese: true,
                alt_text: "「Sale」",
            },
        );
    }

    #[test]
    fn zero_hashtags() {
        check(
            &request("en-US", "Spring menu", &["matcha"], 0),
            Expect {
                hashtags: &[],
                japanese: false,
                alt_text: "Image for a post about: Spring menu",
            },
        );
    }

    /// The caption the writer makes for a brief, after the parser.
    fn check_caption(brief: &str, keywords: &[&str], expect: &str) {
        let request = request("en", brief, keywords, 0);
        let answer = answer_of(&request);
        let text = parse_answer(&answer, 5, 0).unwrap_or_else(|p| panic!("{answer}\n{p:#?}"));
        let caption = text.to_raw().caption;
        assert!(caption.contains(expect), "{caption:?} lacks {expect:?}");
    }

    #[test]
    fn hashtag_and_mention_signs_in_the_brief() {
        check_caption("A #sale on ＃全角 and C#", &[], "A sale on 全角 and C#");
        check_caption(
            "Thanks @cafe and a#b",
            &["#latte"],
            "Thanks @cafe and a#b\n\nTopics: latte",
        );
        // Twenty accounts may be mentioned; past that, the names stay as plain words.
        let names =
            |count: usize| -> Vec<String> { (0..count).map(|i| format!("@shop{i}")).collect() };
        let twenty = names(20).join(" ");
        check_caption(&twenty, &[], &twenty);
        let (brief, keyword) = (names(20).join(" "), "@shop20");
        check_caption(&brief, &[keyword], "shop0 shop1");
        check_caption(&brief, &[keyword], "Topics: shop20");
    }

    #[test]
    fn keywords_with_spaces_punctuation_digits_and_marks() {
        check(
            &request(
                "en",
                "A #sale on C# books",
                &[
                    "summer sale!",
                    "#BlackFriday",
                    "2024",
                    "  café & bar  ",
                    "!!!",
                    "black friday",
                    "C#",
                ],
                5,
            ),
            Expect {
                hashtags: &["SummerSale", "BlackFriday", "CaféBar", "C", "sale"],
                japanese: false,
                alt_text: "Image for a post about: A #sale on C# books",
            },
        );
    }

    #[test]
    fn brief_words_then_generic_then_numbered_tags() {
        check(
            &request(
                "en",
                "This is about coffee, with 2024 beans and more",
                &[],
                4,
            ),
            Expect {
                hashtags: &["coffee", "beans", "instagood", "photooftheday"],
                japanese: false,
                alt_text: "Image for a post about",
            },
        );
        let many: Vec<String> = generic_tags(Language::English)
            .iter()
            .map(|t| (*t).to_owned())
            .chain(["post2", "post3"].map(str::to_owned))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        check(
            &request("en", "Hi", &[], 12),
            Expect {
                hashtags: &many,
                japanese: false,
                alt_text: "Image for a post about: Hi",
            },
        );
    }

    #[test]
    fn long_brief_is_shortened_to_fit_with_many_long_tags() {
        let keywords: Vec<String> = (0..10).map(|i| format!("{i}{}", "k".repeat(49))).collect();
        let keywords: Vec<&str> = keywords.iter().map(String::as_str).collect();
        let mut request = request("en", &"word ".repeat(400), &keywords, 30);
        request.tone = Tone::Inspirational;
        let answer = answer_of(&request);
        let text = parse_answer(&answer, 30, 30).unwrap_or_else(|p| panic!("{answer}\n{p:#?}"));
        let raw = text.to_raw();
        assert_eq!(raw.hashtags.len(), 30);
        assert!(
            raw.hashtags[..10]
                .iter()
                .all(|tag| tag.chars().count() == MAX_TAG_CHARS)
        );
        // Only the brief is shortened, and only by what the limit requires.
        assert!(
            char_count(&text.instagram_caption()) >= MAX_CAPTION_CHARS - 1,
            "{answer}"
        );
        assert!(raw.caption.contains("…\n\nTopics: 0kkk"), "{answer}");
        assert!(raw.alt_text.ends_with('…'), "{answer}");
    }

    #[test]
    fn every_tone_and_language_passes_the_parser() {
        let long_cjk = "新".repeat(2_000);
        let long_latin = "a".repeat(2_000);
        let many_mentions: Vec<String> = (0..30).map(|i| format!("@shop{i}")).collect();
        let many_mentions = many_mentions.join(" ");
        let long_keywords: Vec<String> = (0..10)
            .map(|i| format!("キーワード {i} {}", "語".repeat(40)))
            .collect();
        let long_keywords: Vec<&str> = long_keywords.iter().map(String::as_str).collect();
        for tone in Tone::ALL {
            for language in ["ja", "en", "pt-BR", "zh-Hant-TW"] {
                for (brief, keywords) in [
                    (long_cjk.as_str(), &long_keywords[..]),
                    (long_latin.as_str(), &[][..]),
                    ("x", &["#", "##", "a b c"][..]),
                    ("#####", &[][..]),
                    (many_mentions.as_str(), &["@a", "＠b", "#c"][..]),
                    ("行く\n＃東京\tへ", &[][..]),
                ] {
                    for count in [0, 1, 5, 30] {
                        let mut request = request(language, brief, keywords, count);
                        request.tone = tone;
                        request.image_prompt = (count == 5).then(|| "画".repeat(1_000));
                        let answer = answer_of(&request);
                        if let Err(problems) = parse_answer(&answer, 30, count) {
                            panic!("{request:?}\n{answer}\n{problems:#?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sentences_vary_with_the_brief_but_not_between_runs() {
        let captions: Vec<String> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|brief| {
                let answer = answer_of(&request("en", brief, &[], 0));
                parse_answer(&answer, 5, 0)
                    .map(|t| t.to_raw().caption)
                    .unwrap_or(answer)
            })
            .collect();
        let openings: std::collections::BTreeSet<&str> = captions
            .iter()
            .filter_map(|c| c.split("\n\n").next())
            .collect();
        assert_eq!(openings.len(), 2, "{captions:#?}");
    }
}
