use super::*;
use crate::content::MAX_USERNAME_CHARS;

fn check_hashtags_in(text: &str, expect: &[&str]) {
    assert_eq!(hashtags_in(text), expect, "{text:?}");
}

#[test]
fn hashtags_inside_a_text() {
    check_hashtags_in(
        "Opening Friday! #coffee ＃渋谷 ##fun",
        &["coffee", "渋谷", "fun"],
    );
    check_hashtags_in(
        "#start, (#paren) and\n#line_2.",
        &["start", "paren", "line_2"],
    );
    check_hashtags_in("🎉#party ☕＃カフェ巡り。", &["party", "カフェ巡り"]);
    check_hashtags_in("#Cafe #cafe", &["Cafe", "cafe"]);
    check_hashtags_in("#12abc #_ #2024 #１２", &["12abc", "_", "１２"]);
    // Not hashtags: a sign inside a word, a sign alone, digits only.
    check_hashtags_in("We're #1 for C# lovers", &[]);
    check_hashtags_in("a#b x_#y カフェ#cafe 2025#tag", &[]);
    check_hashtags_in("#a#b x##y", &["a"]);
    check_hashtags_in("# ＃ ## #.", &[]);
    check_hashtags_in("", &[]);
}

fn check_mentions_in(text: &str, expect: &[&str]) {
    assert_eq!(mentions_in(text), expect, "{text:?}");
}

#[test]
fn mentions_inside_a_text() {
    check_mentions_in(
        "Thanks @cafe_tokyo and @Latte.Art.",
        &["cafe_tokyo", "Latte.Art"],
    );
    check_mentions_in("(@a) ＠b、@c!", &["a", "b", "c"]);
    check_mentions_in("写真は ＠photo_jpさん", &["photo_jp"]);
    check_mentions_in("写真は＠photo_jp", &[]);
    let longest = "a".repeat(MAX_USERNAME_CHARS);
    check_mentions_in(&format!("@{longest}"), &[longest.as_str()]);
    // Longer than any username, and still counted: see `mentions_in`.
    let longer = format!("{longest}b");
    check_mentions_in(&format!("@{longer}"), &[longer.as_str()]);
    // Not mentions: an e-mail address, a sign alone, a name no username can have.
    check_mentions_in("mail shop@cafe.jp", &[]);
    check_mentions_in("@ @. @カフェ", &[]);
}

fn check_strip(text: &str, expect: &str) {
    let stripped = strip_hashtag_signs(text);
    assert_eq!(stripped, expect, "{text:?}");
    assert_eq!(hashtags_in(&stripped), Vec::<&str>::new(), "{text:?}");
}

#[test]
fn stripping_signs_leaves_no_hashtag() {
    check_strip("Big #sale today", "Big sale today");
    check_strip(
        "##double and ＃全角 and #＃mixed",
        "double and 全角 and mixed",
    );
    check_strip(
        "C# and F# and #1 and # alone",
        "C# and F# and #1 and # alone",
    );
    check_strip("a#b#c and #a#b", "a#b#c and a#b");
    check_strip("#12abc #_", "12abc _");
    check_strip("###", "###");
    check_strip("x##y", "x##y");
    check_strip("(##y)", "(y)");
}

fn check_strip_mentions(text: &str, expect: &str) {
    let stripped = strip_mention_signs(text);
    assert_eq!(stripped, expect, "{text:?}");
    assert_eq!(mentions_in(&stripped), Vec::<&str>::new(), "{text:?}");
}

#[test]
fn stripping_signs_leaves_no_mention() {
    check_strip_mentions(
        "Thanks @cafe and ＠ラテ ＠latte. ラテ@latte",
        "Thanks cafe and ＠ラテ latte. ラテ@latte",
    );
    check_strip_mentions("@@twice (@@x) y@@z", "twice (x) y@@z");
    check_strip_mentions("shop@example.jp @ @.", "shop@example.jp @ @.");
}
