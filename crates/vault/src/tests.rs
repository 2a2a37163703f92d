use super::*;

const KEY_A: [u8; 32] = [7; 32];
const KEY_B: [u8; 32] = [42; 32];
const TOKEN: &str = "IGAAT0kenForTests1234567890abcdef";

fn b64(key: &[u8]) -> String {
    STANDARD.encode(key)
}

fn ring(current: &[u8; 32], previous: Option<&[u8; 32]>) -> KeyRing {
    let previous = previous.map(|k| b64(k));
    KeyRing::parse(Some(&b64(current)), previous.as_deref()).unwrap()
}

#[test]
fn a_sealed_token_opens_for_its_account_and_holds_no_plain_text() {
    let ring = ring(&KEY_A, None);
    let sealed = ring.seal("1784", TOKEN, [1; 12]);
    assert_eq!(sealed.key_id, key_id(&KEY_A));
    assert!(!sealed.ciphertext.contains(TOKEN));
    let raw = STANDARD.decode(&sealed.ciphertext).unwrap();
    assert_eq!(raw.len(), 12 + TOKEN.len() + 16);
    assert!(
        !raw.windows(8)
            .any(|w| TOKEN.as_bytes().windows(8).any(|t| t == w))
    );
    assert_eq!(
        ring.open("1784", &sealed.key_id, &sealed.ciphertext)
            .unwrap(),
        TOKEN
    );
    // Another nonce, another blob.
    assert_ne!(
        ring.seal("1784", TOKEN, [2; 12]).ciphertext,
        sealed.ciphertext
    );
}

#[test]
fn a_token_moved_to_another_account_or_altered_does_not_open() {
    let ring = ring(&KEY_A, None);
    let sealed = ring.seal("1784", TOKEN, [1; 12]);
    assert_eq!(
        ring.open("1785", &sealed.key_id, &sealed.ciphertext),
        Err(OpenError::Refused)
    );
    let mut raw = STANDARD.decode(&sealed.ciphertext).unwrap();
    for at in [0, 12, raw.len() - 1] {
        raw[at] ^= 1;
        let altered = STANDARD.encode(&raw);
        assert_eq!(
            ring.open("1784", &sealed.key_id, &altered),
            Err(OpenError::Refused),
            "byte {at}"
        );
        raw[at] ^= 1;
    }
}

#[test]
fn the_previous_key_opens_until_rotation_and_an_unknown_key_is_named() {
    let old = ring(&KEY_A, None);
    let sealed = old.seal("1784", TOKEN, [3; 12]);
    let rotated = ring(&KEY_B, Some(&KEY_A));
    assert!(rotated.is_stale(&sealed.key_id));
    assert_eq!(rotated.previous_id(), Some(sealed.key_id.as_str()));
    assert_eq!(old.previous_id(), None);
    assert_eq!(
        rotated
            .open("1784", &sealed.key_id, &sealed.ciphertext)
            .unwrap(),
        TOKEN
    );
    let resealed = rotated.seal("1784", TOKEN, [4; 12]);
    assert!(!rotated.is_stale(&resealed.key_id));
    let only_new = ring(&KEY_B, None);
    assert_eq!(
        only_new.open("1784", &sealed.key_id, &sealed.ciphertext),
        Err(OpenError::UnknownKey(key_id(&KEY_A)))
    );
    // A key id that is not one is shown only as hex.
    assert_eq!(
        only_new.open("1784", "<script>zz", &sealed.ciphertext),
        Err(OpenError::UnknownKey("c".into()))
    );
}

#[test]
fn key_ids_are_short_stable_and_differ_by_key() {
    assert_eq!(key_id(&KEY_A), key_id(&KEY_A));
    assert_ne!(key_id(&KEY_A), key_id(&KEY_B));
    assert_eq!(key_id(&KEY_A).len(), 16);
    assert!(key_id(&KEY_A).chars().all(|c| c.is_ascii_hexdigit()));
    // Stored beside every sealed token: the same key must keep the same id, lowercase hex.
    assert_eq!(key_id(&KEY_A), "8d8b40206d178621");
}

#[test]
fn key_settings_are_refused_by_name_never_by_value() {
    let check = |current: Option<&str>, previous: Option<&str>, expect: KeyError| {
        let error = KeyRing::parse(current, previous).unwrap_err();
        assert_eq!(error, expect, "{current:?} {previous:?}");
        let text = error.to_string();
        for value in [current, previous]
            .into_iter()
            .flatten()
            .filter(|v| v.len() > 3)
        {
            assert!(!text.contains(value), "{text} shows {value}");
        }
    };
    let good = b64(&KEY_A);
    check(None, None, KeyError::Missing("TOKEN_ENCRYPTION_KEY"));
    check(Some("  "), None, KeyError::Missing("TOKEN_ENCRYPTION_KEY"));
    check(
        Some("not base64 at all!"),
        None,
        KeyError::NotBase64("TOKEN_ENCRYPTION_KEY"),
    );
    check(
        Some(&b64(&[9; 16])),
        None,
        KeyError::WrongLength {
            setting: "TOKEN_ENCRYPTION_KEY",
            bytes: 16,
        },
    );
    check(
        Some(&good),
        Some(&b64(&[9; 31])),
        KeyError::WrongLength {
            setting: "TOKEN_ENCRYPTION_KEY_PREVIOUS",
            bytes: 31,
        },
    );
    check(
        Some(&good),
        Some("%%%%"),
        KeyError::NotBase64("TOKEN_ENCRYPTION_KEY_PREVIOUS"),
    );
    assert!(KeyRing::parse(Some(&format!(" {good}\n")), Some("")).is_ok());
    assert!(
        KeyError::Missing(KEY_SETTING)
            .to_string()
            .contains("TOKEN_ENCRYPTION_KEY")
    );
}

#[test]
fn the_ring_shows_key_ids_only() {
    let ring = ring(&KEY_A, Some(&KEY_B));
    let shown = format!("{ring:?}");
    assert!(
        shown.contains(&key_id(&KEY_A)) && shown.contains(&key_id(&KEY_B)),
        "{shown}"
    );
    assert!(
        !shown.contains(&b64(&KEY_A)) && !shown.contains("7, 7"),
        "{shown}"
    );
}

#[test]
fn stored_blobs_that_are_not_sealed_tokens_are_refused() {
    let ring = ring(&KEY_A, None);
    let id = key_id(&KEY_A);
    for (blob, expect) in [
        ("", OpenError::Malformed("it is too short")),
        ("AAAA", OpenError::Malformed("it is too short")),
        ("***", OpenError::Malformed("it is not base64")),
        (&*b64(&[0; 28]), OpenError::Refused),
        (
            &*"A".repeat(MAX_BLOB_CHARS + 4),
            OpenError::Malformed("it is too long"),
        ),
    ] {
        assert_eq!(ring.open("1784", &id, blob), Err(expect), "{blob:.20}");
    }
}
