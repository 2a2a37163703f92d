//! Fuzzing the reader of stored tokens: whatever a row of `accounts` holds, it opens or is
//! refused, and nothing panics.

#![cfg(not(target_arch = "wasm32"))]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use vault::{KeyRing, decode_blob};

fn ring() -> KeyRing {
    KeyRing::parse(
        Some(&STANDARD.encode([5u8; 32])),
        Some(&STANDARD.encode([6u8; 32])),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn stored_blobs_open_or_are_refused(
        blob in prop_oneof![
            any::<String>(),
            prop::collection::vec(any::<u8>(), 0..120).prop_map(|b| STANDARD.encode(b)),
            "[A-Za-z0-9+/=]{0,80}",
        ],
        key_id in prop_oneof![any::<String>(), Just(vault::key_id(&[5u8; 32])), Just(vault::key_id(&[6u8; 32]))],
        account in any::<String>(),
    ) {
        let _ = decode_blob(&blob);
        let _ = ring().open(&account, &key_id, &blob);
    }

    #[test]
    fn a_sealed_token_opens_only_unchanged(
        token in any::<String>(),
        account in any::<String>(),
        nonce in any::<[u8; 12]>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let ring = ring();
        let sealed = ring.seal(&account, &token, nonce);
        prop_assert_eq!(ring.open(&account, &sealed.key_id, &sealed.ciphertext), Ok(token));
        let mut raw = STANDARD.decode(&sealed.ciphertext).unwrap();
        let at = flip.index(raw.len());
        raw[at] ^= 0x80;
        prop_assert!(ring.open(&account, &sealed.key_id, &STANDARD.encode(raw)).is_err());
    }

    #[test]
    fn key_settings_are_read_or_refused(current in any::<Option<String>>(), previous in any::<Option<String>>()) {
        if let Err(error) = KeyRing::parse(current.as_deref(), previous.as_deref()) {
            let text = error.to_string();
            for value in [&current, &previous].into_iter().flatten().filter(|v| v.len() > 8) {
                prop_assert!(!text.contains(value.as_str()));
            }
        }
    }
}
