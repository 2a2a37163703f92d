//! Time and randomness from the Workers runtime, which `domain` takes as arguments.

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
