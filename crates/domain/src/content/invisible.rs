//! Characters a reader cannot see that change what a text shows: direction overrides and
//! isolates, direction marks, zero-width characters and stray tag characters. A caption, alt
//! text or comment holding one can say something its reviewer never saw, so every text from
//! outside (a brief, a model's answer, an edit, a comment) is checked with [`refused`].
//!
//! What real text needs stays: the zero-width joiner inside an emoji sequence (👩‍🍳), the
//! zero-width joiner and non-joiner between letters of the scripts that shape with them
//! (Persian, Devanagari, Sinhala, ...), and tag characters inside an emoji tag
//! sequence (the flag of Scotland). This is the one definition: the review page asks the
//! API (`POST /api/v1/text/check`) rather than keeping a list of its own.

use std::ops::RangeInclusive;

use serde::Serialize;

/// The characters refused wherever they appear, with their Unicode names.
pub const ALWAYS_REFUSED: [(RangeInclusive<u32>, &str); 12] = [
    (0x061C..=0x061C, "ARABIC LETTER MARK"),
    (0x200B..=0x200B, "ZERO WIDTH SPACE"),
    (0x200E..=0x200E, "LEFT-TO-RIGHT MARK"),
    (0x200F..=0x200F, "RIGHT-TO-LEFT MARK"),
    (0x202A..=0x202E, "directional embedding or override"),
    (0x2060..=0x2060, "WORD JOINER"),
    (0x2061..=0x2064, "invisible operator"),
    (0x2066..=0x2069, "directional isolate"),
    (0x206A..=0x206F, "deprecated format character"),
    (0xFEFF..=0xFEFF, "ZERO WIDTH NO-BREAK SPACE"),
    (0xE0001..=0xE0001, "LANGUAGE TAG"),
    (0xE0002..=0xE001F, "unassigned tag character"),
];

const ZWNJ: char = '\u{200C}';
const ZWJ: char = '\u{200D}';
const VARIATION_SELECTOR_16: char = '\u{FE0F}';
const WAVING_BLACK_FLAG: char = '\u{1F3F4}';
const CANCEL_TAG: char = '\u{E007F}';
/// The tag characters an emoji tag sequence spells its subdivision with.
const TAG_SPELLING: RangeInclusive<char> = '\u{E0020}'..='\u{E007E}';

/// One character [`refused`] found: where (in characters from the start, as the review page
/// counts them) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refused {
    /// The index of the character among the text's characters (Unicode scalar values).
    pub at: usize,
    pub character: char,
    /// `U+202E RIGHT-TO-LEFT OVERRIDE`: how messages and the page name it.
    pub name: String,
}

/// The invisible characters of `text` that change what it shows, in order, each occurrence.
pub fn refused(text: &str) -> Vec<Refused> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        // A whole emoji tag sequence is skipped: black flag, spelling, cancel tag.
        if c == WAVING_BLACK_FLAG
            && let Some(end) = tag_sequence_end(&chars, i + 1)
        {
            i = end;
            continue;
        }
        let refuse = match c {
            ZWJ => !(joins_emoji(&chars, i) || joins_letters(&chars, i)),
            ZWNJ => !joins_letters(&chars, i),
            '\u{E0000}'..='\u{E007F}' => true,
            _ => always_refused(c).is_some(),
        };
        if refuse {
            found.push(Refused {
                at: i,
                character: c,
                name: describe(c),
            });
        }
        i += 1;
    }
    found
}

/// `U+202E RIGHT-TO-LEFT OVERRIDE`.
pub fn describe(c: char) -> String {
    let name = match c {
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        ZWJ => "ZERO WIDTH JOINER outside an emoji sequence or a joining script",
        ZWNJ => "ZERO WIDTH NON-JOINER outside a joining script",
        '\u{E0000}'..='\u{E007F}' if always_refused(c).is_none() => {
            "TAG character outside an emoji flag sequence"
        }
        _ => always_refused(c).unwrap_or("invisible character"),
    };
    format!("{} {name}", super::code_point(c))
}

fn always_refused(c: char) -> Option<&'static str> {
    ALWAYS_REFUSED
        .iter()
        .find(|(range, _)| range.contains(&u32::from(c)))
        .map(|(_, name)| *name)
}

/// The index after an emoji tag sequence's cancel tag, if one starts at `start` (just after
/// the black flag): at least one spelling tag, then U+E007F.
fn tag_sequence_end(chars: &[char], start: usize) -> Option<usize> {
    let spelled = chars[start..]
        .iter()
        .take_while(|c| TAG_SPELLING.contains(c))
        .count();
    let cancel = start + spelled;
    (spelled > 0 && chars.get(cancel) == Some(&CANCEL_TAG)).then_some(cancel + 1)
}

/// A ZWJ between two emoji: 👩‍🍳, ❤️‍🔥 (a variation selector or skin tone before it counts
/// with its emoji).
fn joins_emoji(chars: &[char], i: usize) -> bool {
    let before = chars[..i]
        .iter()
        .rev()
        .find(|&&c| c != VARIATION_SELECTOR_16)
        .copied();
    let after = chars.get(i + 1).copied();
    before.is_some_and(is_emoji) && after.is_some_and(is_emoji)
}

/// Pictographic characters that take part in emoji ZWJ sequences, skin tones included.
fn is_emoji(c: char) -> bool {
    matches!(u32::from(c),
        0x00A9 | 0x00AE | 0x203C | 0x2049 | 0x2122 | 0x2139 | 0x2194..=0x21AA
        | 0x2300..=0x23FF | 0x24C2 | 0x25A0..=0x25FF | 0x2600..=0x27BF | 0x2934..=0x2935
        | 0x2B00..=0x2BFF | 0x3030 | 0x303D | 0x3297 | 0x3299 | 0x1F000..=0x1FAFF)
}

/// A ZWJ or ZWNJ between two characters of a script that shapes its letters with them.
fn joins_letters(chars: &[char], i: usize) -> bool {
    let before = i.checked_sub(1).and_then(|b| chars.get(b)).copied();
    let after = chars.get(i + 1).copied();
    before.is_some_and(in_joining_script) && after.is_some_and(in_joining_script)
}

/// Arabic, Syriac, Thaana, N'Ko, the Indic scripts from Devanagari to Sinhala, Myanmar,
/// Khmer, Mongolian, and the Arabic presentation forms: the scripts whose spelling uses
/// ZWJ and ZWNJ.
fn in_joining_script(c: char) -> bool {
    let c = u32::from(c);
    matches!(c,
        0x0600..=0x06FF | 0x0700..=0x074F | 0x0750..=0x077F | 0x0780..=0x07BF
        | 0x07C0..=0x07FF | 0x0860..=0x08FF | 0x0900..=0x0DFF | 0x1000..=0x109F
        | 0x1780..=0x17FF | 0x1800..=0x18AF | 0xA8E0..=0xA8FF | 0xFB50..=0xFDFF
        | 0xFE70..=0xFEFE)
        && c != 0x061C
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code points `refused` finds in `text`.
    fn check(text: &str, expect: &[u32]) {
        let got: Vec<u32> = refused(text)
            .iter()
            .map(|r| u32::from(r.character))
            .collect();
        assert_eq!(got, expect, "{text:?}");
    }

    #[test]
    fn refuses_direction_changes_and_zero_width_characters() {
        check("abc\u{202E}fed", &[0x202E]);
        for c in [
            0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F,
            0x061C, 0x200B, 0x2060, 0xFEFF,
        ] {
            let text = format!("a{}b", char::from_u32(c).unwrap());
            check(&text, &[c]);
        }
        check("\u{200B}\u{200B}x", &[0x200B, 0x200B]);
    }

    #[test]
    fn keeps_joiners_inside_emoji_and_joining_scripts() {
        check("👩\u{200D}🍳", &[]);
        check(
            "❤\u{FE0F}\u{200D}🔥 👨🏽\u{200D}💻 🧑\u{200D}🤝\u{200D}🧑",
            &[],
        );
        check("می\u{200C}خواهم", &[]);
        check("क्\u{200D}ष", &[]);
        // Between Latin letters, or at an end, they hide something.
        check("pay\u{200D}pal", &[0x200D]);
        check("a\u{200C}b", &[0x200C]);
        check("👩\u{200D}", &[0x200D]);
        check("\u{200C}می", &[0x200C]);
    }

    #[test]
    fn keeps_tag_characters_only_inside_a_flag_sequence() {
        check(
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            &[],
        );
        check(
            "Scotland 🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} and Wales 🏴\u{E0067}\u{E0062}\u{E0077}\u{E006C}\u{E0073}\u{E007F}",
            &[],
        );
        // Bare tags spell hidden ASCII ("hi").
        check("ok\u{E0068}\u{E0069}", &[0xE0068, 0xE0069]);
        // A flag sequence without its cancel tag is no flag.
        check("🏴\u{E0067}\u{E0062}", &[0xE0067, 0xE0062]);
        check("🏴\u{E007F}", &[0xE007F]);
        check("\u{E0001}en", &[0xE0001]);
    }

    #[test]
    fn names_each_character_and_its_place() {
        assert_eq!(
            refused("ab\u{202E}c"),
            [Refused {
                at: 2,
                character: '\u{202E}',
                name: "U+202E RIGHT-TO-LEFT OVERRIDE".into()
            }]
        );
        assert_eq!(describe('\u{200B}'), "U+200B ZERO WIDTH SPACE");
    }
}
