//! Fuzzing image decoding and the image providers' answers: whatever bytes a provider sends
//! (valid images damaged at random, or noise), fitting them either gives an image Instagram
//! takes or an error, and nothing panics.

#![cfg(not(target_arch = "wasm32"))]

use media::provider::{decode_base64, openai, workers_ai};
use media::{Format, check_instagram_image, fit_for_instagram, inspect_jpeg, placeholder_jpeg};
use proptest::prelude::*;
use serde_json::{Value, json};

#[allow(dead_code)]
#[path = "../src/samples.rs"]
mod samples;

fn small_png() -> Vec<u8> {
    let pixels: Vec<u8> = (0..12 * 10 * 3).map(|i| (i * 7 % 251) as u8).collect();
    samples::png_rgb(12, 10, &pixels)
}

/// Seeds worth damaging: a JPEG Instagram takes as it is, a tiny one, a tiny PNG, and the
/// bare signatures of each format.
fn seeds() -> Vec<Vec<u8>> {
    vec![
        placeholder_jpeg(320, 320, b"fuzz"),
        placeholder_jpeg(16, 16, b"fuzz"),
        small_png(),
        b"\xff\xd8\xff".to_vec(),
        b"\x89PNG\r\n\x1a\n".to_vec(),
        b"RIFF\x00\x00\x00\x00WEBPVP8 ".to_vec(),
    ]
}

/// A seed with some bytes changed, some cut off, or noise after a signature.
fn damaged() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(seeds()),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        prop::option::of(any::<prop::sample::Index>()),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(mut bytes, flips, cut, tail)| {
            if !bytes.is_empty() {
                for (at, value) in flips {
                    let i = at.index(bytes.len());
                    bytes[i] = value;
                }
                if let Some(cut) = cut {
                    bytes.truncate(cut.index(bytes.len() + 1));
                }
            }
            if bytes.len() < 16 {
                bytes.extend(tail);
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn any_bytes_fit_instagram_or_are_refused(bytes in prop_oneof![3 => damaged(), 1 => prop::collection::vec(any::<u8>(), 0..256)]) {
        let _ = Format::sniff(&bytes);
        let _ = inspect_jpeg(&bytes);
        let _ = check_instagram_image(&bytes);
        if let Ok(fitted) = fit_for_instagram(&bytes) {
            prop_assert!(check_instagram_image(&fitted.jpeg).is_ok());
        }
    }
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            any::<char>(),
            prop::sample::select(vec!['A', '/', '+', '=', '\n', ':', ';', ','])
        ],
        0..max,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        text(24).prop_map(Value::from),
        Just(Value::from("data:image/png;base64,iVBORw0KGgo=")),
    ];
    leaf.prop_recursive(3, 20, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "data", "b64_json", "url", "image", "error", "message", "code", "x"
                    ]),
                    inner
                ),
                0..4,
            )
            .prop_map(|f| Value::Object(f.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn provider_answers_are_read_or_classified(
        status in prop_oneof![Just(200u16), Just(400), Just(429), Just(500), any::<u16>()],
        body in prop_oneof![json_value().prop_map(|v| v.to_string()), text(60)],
        output in json_value(),
        message in text(60),
    ) {
        let _ = openai::parse_response(status, &body);
        let _ = workers_ai::parse_object(&output);
        let _ = workers_ai::parse_object(&json!({ "image": output }));
        let _ = workers_ai::classify_error(&message);
        let _ = decode_base64(&message);
    }
}
