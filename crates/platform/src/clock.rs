//! Time, randomness and hashing from the Workers runtime, which `domain` takes as arguments.

use time::OffsetDateTime;
use worker::js_sys::{self, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};

/// The runtime's wall clock. `std::time` panics on wasm32, so this reads `Date.now()`.
pub fn now() -> OffsetDateTime {
    let millis = worker::Date::now().as_millis();
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Cryptographically random bytes from `crypto.getRandomValues`.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let array = Uint8Array::new_with_length(N as u32);
    let filled = (|| -> Result<(), JsValue> {
        let crypto = Reflect::get(&js_sys::global(), &"crypto".into())?;
        let fill: js_sys::Function =
            Reflect::get(&crypto, &"getRandomValues".into())?.dyn_into()?;
        fill.call1(&crypto, &array)?;
        Ok(())
    })();
    // Every Workers runtime has Web Crypto; without it ids would not be unique, so stop here.
    filled.expect("crypto.getRandomValues is available in every Workers runtime");
    let mut bytes = [0u8; N];
    array.copy_to(&mut bytes);
    bytes
}

pub fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes::<8>())
}

/// Lower-case hex of random bytes, for claim owners and object names.
pub fn random_hex<const N: usize>() -> String {
    hex(&random_bytes::<N>())
}

pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// SHA-256 of `bytes` in lower-case hex, from Web Crypto (`crypto.subtle.digest`).
pub async fn sha256_hex(bytes: &[u8]) -> worker::Result<String> {
    let promise = (|| -> Result<js_sys::Promise, JsValue> {
        let crypto = Reflect::get(&js_sys::global(), &"crypto".into())?;
        let subtle = Reflect::get(&crypto, &"subtle".into())?;
        let digest: js_sys::Function = Reflect::get(&subtle, &"digest".into())?.dyn_into()?;
        digest
            .call2(&subtle, &"SHA-256".into(), &Uint8Array::from(bytes))?
            .dyn_into()
    })()
    .map_err(|e| worker::Error::RustError(format!("crypto.subtle.digest: {e:?}")))?;
    let buffer = worker::wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|e| worker::Error::RustError(format!("crypto.subtle.digest: {e:?}")))?;
    Ok(hex(&Uint8Array::new(&buffer).to_vec()))
}
