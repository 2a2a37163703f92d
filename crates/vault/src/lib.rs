//! Access tokens sealed at rest: AES-256-GCM (RustCrypto's `aes-gcm`) under a key ring read
//! from the settings, so a plain token never reaches D1.
//!
//! - The ring holds the current key (`TOKEN_ENCRYPTION_KEY`, 32 random bytes in base64) and,
//!   while tokens sealed by the one before are re-encrypted, that previous key
//!   (`TOKEN_ENCRYPTION_KEY_PREVIOUS`), kept for opening only.
//! - Each sealed token is stored with the id of the key that sealed it ([`key_id`]: a short
//!   hash of the key, which says nothing about the key), so rotation knows what to re-encrypt
//!   and opening knows which key to use.
//! - The account's id is the associated data: a sealed token copied onto another account's
//!   row does not open.
//! - The stored form is base64 of `nonce (12 bytes) || ciphertext || tag (16 bytes)`; the
//!   nonce is random per seal and comes from the caller, since this crate does no I/O and
//!   has no randomness (the Worker takes it from `crypto.getRandomValues`).
//!
//! **Architecture Invariant:** no error or `Debug` output of this crate holds a key, a
//! token or a setting's value: errors name the setting, and the ring shows key ids only.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// The setting that holds the current key.
pub const KEY_SETTING: &str = "TOKEN_ENCRYPTION_KEY";
/// The setting that holds the previous key, for opening only.
pub const PREVIOUS_KEY_SETTING: &str = "TOKEN_ENCRYPTION_KEY_PREVIOUS";
pub const KEY_BYTES: usize = 32;
pub const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
/// The longest stored blob read: far more than any token, so a corrupt row is refused
/// before it is decoded.
pub const MAX_BLOB_CHARS: usize = 16 * 1024;
/// Separates this use of the account id as associated data from any other.
const AAD_PREFIX: &[u8] = b"instagram-pipeline/token/v1:";

/// Why the key settings cannot be used. Each names the setting, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the secret {0} is not set: it must be 32 random bytes in base64 (`openssl rand -base64 32`)"
    )]
    Missing(&'static str),
    #[error(
        "the secret {0} is not base64: it must be 32 random bytes in base64 (`openssl rand -base64 32`)"
    )]
    NotBase64(&'static str),
    #[error(
        "the secret {setting} holds {bytes} bytes, not 32: it must be 32 random bytes in base64 (`openssl rand -base64 32`)"
    )]
    WrongLength { setting: &'static str, bytes: usize },
}

/// Why a stored token does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the stored token is not a sealed token: {0}")]
    Malformed(&'static str),
    #[error(
        "the token was sealed with key {0}, which neither TOKEN_ENCRYPTION_KEY nor TOKEN_ENCRYPTION_KEY_PREVIOUS is"
    )]
    UnknownKey(String),
    #[error(
        "the stored token does not open with its key: it was altered, or sealed for another account"
    )]
    Refused,
}

/// One key and its id.
struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl Key {
    fn new(bytes: &[u8; KEY_BYTES]) -> Self {
        Key {
            id: key_id(bytes),
            cipher: Aes256Gcm::new(bytes.into()),
        }
    }
}

/// The keys a Worker seals and opens with.
pub struct KeyRing {
    current: Key,
    previous: Option<Key>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current.id)
            .field("previous", &self.previous.as_ref().map(|k| &k.id))
            .finish()
    }
}

/// A token as stored: the blob and the id of the key that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub ciphertext: String,
    pub key_id: String,
}

/// The id stored beside a ciphertext: the first 8 bytes of SHA-256 over a label and the key,
/// in hex. It tells keys apart and reveals nothing about them.
pub fn key_id(key: &[u8; KEY_BYTES]) -> String {
    let digest = Sha256::new()
        .chain_update(b"instagram-pipeline/token-key-id/v1:")
        .chain_update(key)
        .finalize();
    hex::encode(&digest[..8])
}

fn read_key(setting: &'static str, value: &str) -> Result<[u8; KEY_BYTES], KeyError> {
    let bytes = STANDARD
        .decode(value.trim())
        .map_err(|_| KeyError::NotBase64(setting))?;
    <[u8; KEY_BYTES]>::try_from(bytes.as_slice()).map_err(|_| KeyError::WrongLength {
        setting,
        bytes: bytes.len(),
    })
}

impl KeyRing {
    /// The ring from the two settings' values (`None` or blank: unset). The current key is
    /// required; the previous one is optional.
    pub fn parse(current: Option<&str>, previous: Option<&str>) -> Result<Self, KeyError> {
        let current = current
            .filter(|v| !v.trim().is_empty())
            .ok_or(KeyError::Missing(KEY_SETTING))?;
        let current = Key::new(&read_key(KEY_SETTING, current)?);
        let previous = match previous.filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(value) => Some(Key::new(&read_key(PREVIOUS_KEY_SETTING, value)?)),
        };
        Ok(KeyRing { current, previous })
    }

    /// The id of the key new tokens are sealed with.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// The id of the previous key, while one is set.
    pub fn previous_id(&self) -> Option<&str> {
        self.previous.as_ref().map(|key| key.id.as_str())
    }

    /// Whether a token sealed by `key_id` should be sealed again with the current key.
    pub fn is_stale(&self, key_id: &str) -> bool {
        key_id != self.current.id
    }

    /// Seals `token` for `account_id` with the current key and `nonce`, which must be random
    /// and never used before with this key.
    pub fn seal(&self, account_id: &str, token: &str, nonce: [u8; NONCE_BYTES]) -> Sealed {
        let aad = aad(account_id);
        let payload = Payload {
            msg: token.as_bytes(),
            aad: &aad,
        };
        // Encryption fails only for a message longer than GCM allows (64 GiB).
        let sealed = self
            .current
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut blob = Vec::with_capacity(NONCE_BYTES + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Sealed {
            ciphertext: STANDARD.encode(blob),
            key_id: self.current.id.clone(),
        }
    }

    /// Opens a token stored for `account_id`, sealed by the key `key_id`.
    pub fn open(
        &self,
        account_id: &str,
        key_id: &str,
        ciphertext: &str,
    ) -> Result<String, OpenError> {
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|key| key.id == key_id)
            .ok_or_else(|| OpenError::UnknownKey(printable_id(key_id)))?;
        let (nonce, sealed) = decode_blob(ciphertext)?;
        let aad = aad(account_id);
        let plain = key
            .cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Refused)?;
        String::from_utf8(plain).map_err(|_| OpenError::Malformed("the token is not UTF-8"))
    }
}

/// Splits a stored blob into its nonce and the sealed bytes (ciphertext and tag).
pub fn decode_blob(blob: &str) -> Result<([u8; NONCE_BYTES], Vec<u8>), OpenError> {
    if blob.len() > MAX_BLOB_CHARS {
        return Err(OpenError::Malformed("it is too long"));
    }
    let bytes = STANDARD
        .decode(blob.trim())
        .map_err(|_| OpenError::Malformed("it is not base64"))?;
    if bytes.len() < NONCE_BYTES + TAG_BYTES {
        return Err(OpenError::Malformed("it is too short"));
    }
    let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
    let mut out = [0u8; NONCE_BYTES];
    out.copy_from_slice(nonce);
    Ok((out, sealed.to_vec()))
}

fn aad(account_id: &str) -> Vec<u8> {
    let mut aad = AAD_PREFIX.to_vec();
    aad.extend_from_slice(account_id.as_bytes());
    aad
}

/// A stored key id as an error may show it: hex, at most 16 characters.
fn printable_id(key_id: &str) -> String {
    key_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(16)
        .collect()
}

#[cfg(test)]
mod tests;
