//! What Instagram finds inside a text: hashtags and mentions, where they start and end.

use std::collections::HashSet;

// What Instagram finds inside a text. Neither Meta's pages nor our notes say how it finds
// hashtags and mentions, so these follow the common convention (as in twitter-text): a sign
// at the start of the text or after a character that cannot be part of a word (so `a#b` and
// `me@example.com` are neither a hashtag nor a mention, and Japanese text needs a space or
// punctuation before `＃`), then the longest run of allowed characters.

/// The signs that start a hashtag: `#` and the full-width `＃` (U+FF03) of Japanese input.
pub fn is_hashtag_sign(c: char) -> bool {
    c == '#' || c == '＃'
}

/// The characters of a hashtag: letters and digits in any script, and `_`.
pub fn is_hashtag_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_mention_sign(c: char) -> bool {
    c == '@' || c == '＠'
}

/// The characters of an Instagram username: ASCII letters and digits, `.` and `_`.
fn is_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '_'
}

/// The signs in `text` that may start a hashtag or mention: those at the start of the text
/// or after a character that is not part of a word, other signs aside (`x##y` is inside a
/// word, `(##y` is not). Yields each sign's byte index and the text after it.
fn signs(text: &str, is_sign: fn(char) -> bool) -> impl Iterator<Item = (usize, &str)> {
    let mut inside_word = false;
    text.char_indices().filter_map(move |(index, c)| {
        if !is_sign(c) {
            inside_word = is_hashtag_char(c);
            return None;
        }
        (!inside_word).then(|| (index, &text[index + c.len_utf8()..]))
    })
}

/// The hashtags of `text` with the byte index of each one's sign.
pub(super) fn hashtags_at(text: &str) -> impl Iterator<Item = (usize, &str)> {
    signs(text, is_hashtag_sign).filter_map(|(index, rest)| {
        let tag = &rest[..rest.find(|c| !is_hashtag_char(c)).unwrap_or(rest.len())];
        // Instagram ignores a tag made only of digits, as in "we're #1".
        let counts = !tag.is_empty() && !tag.chars().all(|c| c.is_ascii_digit());
        counts.then_some((index, tag))
    })
}

/// The hashtags Instagram finds in `text`, without their sign, in order and with repeats.
///
/// `#tag` and `＃tag` both count; `C#`, `#1` and `a#b` do not; in `##fun` the tag is `fun`.
pub fn hashtags_in(text: &str) -> Vec<&str> {
    hashtags_at(text).map(|(_, tag)| tag).collect()
}

/// The mentions of `text` with the byte index of each one's sign.
fn mentions_at(text: &str) -> impl Iterator<Item = (usize, &str)> {
    signs(text, is_mention_sign).filter_map(|(index, rest)| {
        let run = &rest[..rest.find(|c| !is_username_char(c)).unwrap_or(rest.len())];
        let name = run.trim_end_matches('.');
        (!name.is_empty()).then_some((index, name))
    })
}

/// The accounts `text` mentions (`@name` or `＠name`), without their sign, in order and with
/// repeats. A name is a run of username characters without its trailing `.` (a sentence's
/// full stop). A run longer than [`MAX_USERNAME_CHARS`](super::MAX_USERNAME_CHARS) still counts: no username is that
/// long, but counting it keeps the cap on the safe side and means that cutting a text short
/// never adds a mention.
pub fn mentions_in(text: &str) -> Vec<&str> {
    mentions_at(text).map(|(_, name)| name).collect()
}

/// How many accounts `text` mentions, as the cap of [`MAX_MENTIONS`] counts them: one account
/// mentioned twice, in any case, is one (usernames are case-insensitive).
pub fn mention_count(text: &str) -> usize {
    let accounts: HashSet<String> = mentions_in(text)
        .into_iter()
        .map(str::to_ascii_lowercase)
        .collect();
    accounts.len()
}

/// `text` with the signs of its hashtags removed, so that `#sale` reads `sale` and Instagram
/// finds no hashtag in the result. Other signs, as in `C#`, `#1` or `a#b`, stay.
pub fn strip_hashtag_signs(text: &str) -> String {
    strip_signs(text, hashtags_at(text), is_hashtag_sign)
}

/// `text` with the signs of its mentions removed, so that `@cafe` reads `cafe` and Instagram
/// finds no mention in the result. Other signs, as in `shop@example.jp`, stay.
pub fn strip_mention_signs(text: &str) -> String {
    strip_signs(text, mentions_at(text), is_mention_sign)
}

/// Removes the sign of each `found` item, and the run of signs before it: removing only the
/// last of `##fun` would leave the tag `#fun`.
fn strip_signs<'a>(
    text: &str,
    found: impl Iterator<Item = (usize, &'a str)>,
    is_sign: fn(char) -> bool,
) -> String {
    let removed: Vec<(usize, usize)> = found
        .map(|(sign, _)| {
            let run_start = text[..sign].trim_end_matches(is_sign).len();
            let sign_end = sign + text[sign..].chars().next().map_or(0, char::len_utf8);
            (run_start, sign_end)
        })
        .collect();
    text.char_indices()
        .filter(|(index, _)| {
            !removed
                .iter()
                .any(|&(start, end)| (start..end).contains(index))
        })
        .map(|(_, c)| c)
        .collect()
}

/// The key under which Instagram treats two hashtags as one: `#Cafe`, `＃cafe` and `cafe`
/// are the same tag.
pub(crate) fn tag_key(tag: &str) -> String {
    tag.trim()
        .trim_start_matches(is_hashtag_sign)
        .to_lowercase()
}

#[cfg(test)]
mod tests;
