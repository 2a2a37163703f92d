//! Key rotation: tokens sealed by a key other than `TOKEN_ENCRYPTION_KEY` (the previous one,
//! `TOKEN_ENCRYPTION_KEY_PREVIOUS`) are opened and sealed again with the current key, a
//! batch per scheduler run. Each write is conditional on the ciphertext it replaces, so a
//! token refreshed meanwhile is never overwritten with the old one. Once no row names the
//! previous key's id, that key can be removed.

use platform::accounts::AccountStore;
use platform::clock::random_bytes;

use super::context::{AccountFailure, Report, Run, TaskError};

/// Tokens sealed again per run.
const PER_RUN: u32 = 20;

pub async fn reseal(run: &Run<'_>, report: &mut Report) -> Result<(), TaskError> {
    let (settings, _) = run.publishing()?;
    let keys = &settings.keys;
    let store = AccountStore::from_env(run.env)?;
    let stale = store
        .sealed_by_other_keys(keys.current_id(), PER_RUN)
        .await?;
    let mut errors = Vec::new();
    for row in &stale {
        let (Some(ciphertext), Some(key_id)) = (&row.token_ciphertext, &row.token_key_id) else {
            continue;
        };
        let token = match keys.open(&row.id, key_id, ciphertext) {
            Ok(token) => token,
            Err(error) => {
                errors.push(AccountFailure::NotOpened {
                    account: row.label(),
                    error,
                });
                continue;
            }
        };
        let sealed = keys.seal(&row.id, &token, random_bytes::<{ vault::NONCE_BYTES }>());
        let replaced = store
            .reseal(
                &row.id,
                ciphertext,
                &sealed.ciphertext,
                &sealed.key_id,
                run.now,
            )
            .await?;
        if replaced {
            report.tokens_resealed += 1;
        }
    }
    TaskError::of_accounts(errors)
}
