//! What the host fuzz tests share (a dev-dependency only): characters that trouble text
//! rules and parsers, text made of them, RFC 3339 look-alikes, and JSON values and bodies a
//! few levels deep with the field names and words of the parser under test.

#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use serde_json::{Value, json};

/// Characters that trouble text rules and parsers: invisible and direction-changing ones,
/// joiners, tags, emoji parts, controls, scripts that use joiners, the signs of hashtags and
/// mentions, and what forms, headers and JSON give meaning to.
const TRICKY: &[char] = &[
    '\u{200B}',
    '\u{200C}',
    '\u{200D}',
    '\u{200E}',
    '\u{200F}',
    '\u{202A}',
    '\u{202E}',
    '\u{2060}',
    '\u{2066}',
    '\u{2069}',
    '\u{FEFF}',
    '\u{061C}',
    '\u{FE0F}',
    '\u{E0001}',
    '\u{E0020}',
    '\u{E0067}',
    '\u{E007F}',
    '\u{1F3F4}',
    '\u{1F469}',
    '\u{1F373}',
    '\u{1F3FD}',
    '\u{2764}',
    '#',
    '＃',
    '@',
    '＠',
    '\r',
    '\n',
    '\t',
    '\u{0}',
    '\u{85}',
    '\u{0645}',
    '\u{06CC}',
    '\u{0915}',
    '\u{094D}',
    'é',
    'a',
    'F',
    'W',
    'Z',
    '1',
    ' ',
    '.',
    '_',
    '%',
    '+',
    '&',
    '=',
    ';',
    ',',
    '"',
    '\\',
    '-',
    '/',
    '*',
    '{',
    '}',
];

/// Any character, or often one that troubles a parser.
pub fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        3 => prop::sample::select(TRICKY),
    ]
}

/// Up to `max` characters, many of them troubling.
pub fn tricky_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..max).prop_map(|chars| chars.into_iter().collect())
}

/// RFC 3339 look-alikes: every field anywhere in its digits' range, or beyond it, with or
/// without a fraction, at `Z` or any offset (so some are past the year 9999 in UTC).
pub fn time_text() -> impl Strategy<Value = String> {
    (
        (0u32..=9999, 0u32..=13, 0u32..=32),
        (0u32..=25, 0u32..=61, 0u32..=61),
        prop::option::of(0u32..1_000_000_000),
        prop_oneof![
            Just("Z".to_owned()),
            (any::<bool>(), 0u32..=25, 0u32..=61)
                .prop_map(|(east, h, m)| format!("{}{h:02}:{m:02}", if east { '+' } else { '-' }))
        ],
    )
        .prop_map(|((y, mo, d), (h, mi, s), frac, offset)| {
            let frac = frac.map_or(String::new(), |f| format!(".{f}"));
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{offset}")
        })
}

/// The field names a parser knows, as lists (its own constants, so they stay its own).
pub type Fields = &'static [&'static [&'static str]];

/// A field name: often one of `fields` (the parser's own), sometimes troubling text.
pub fn field_name(fields: Fields) -> impl Strategy<Value = String> {
    let known: Vec<&'static str> = fields
        .iter()
        .flat_map(|list| list.iter().copied())
        .collect();
    prop_oneof![
        4 => prop::sample::select(known).prop_map(str::to_owned),
        1 => tricky_text(8),
    ]
}

/// Any JSON value, a few levels deep: numbers at the edges, troubling text, times, `words`
/// the parser knows, and objects with `fields`.
pub fn json_value(fields: Fields, words: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|n| json!(n)),
        tricky_text(30).prop_map(Value::from),
        time_text().prop_map(Value::from),
        prop::sample::select(words).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((field_name(fields), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A body: an object of `fields` with any values, any JSON, or any bytes.
pub fn json_body(fields: Fields, words: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec((field_name(fields), json_value(fields, words)), 0..8)
            .prop_map(|fields| Value::Object(fields.into_iter().collect()).to_string().into_bytes()),
        1 => json_value(fields, words).prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}
