//! Idempotency keys with leases.

use domain::draft::DraftId;
use domain::idempotency::HeldKey;
use serde::Deserialize;
use time::OffsetDateTime;
use worker::D1PreparedStatement;

use super::db::DraftStore;
use super::row::parse_time;
use super::sql::{text, time};
use crate::d1;

impl DraftStore {
    // --- idempotency keys ------------------------------------------------------------------

    /// Claims `key` for this request (`owner`): a new key, an expired one, or one whose
    /// running claim lapsed with the same body. Returns whether this request now owns it.
    pub async fn claim_key(&self, claim: &KeyClaim<'_>) -> worker::Result<bool> {
        #[derive(Deserialize)]
        struct Owner {
            owner: String,
        }
        let statement = self
            .db
            .prepare(
                "INSERT INTO idempotency_keys
                     (key, fingerprint, state, owner, lease_expires_at, draft_id, created_at, expires_at)
                 VALUES (?1, ?2, 'running', ?3, ?4, NULL, ?5, ?6)
                 ON CONFLICT (key) DO UPDATE SET
                     fingerprint = excluded.fingerprint, state = 'running', owner = excluded.owner,
                     lease_expires_at = excluded.lease_expires_at, draft_id = NULL,
                     created_at = excluded.created_at, expires_at = excluded.expires_at
                 WHERE idempotency_keys.expires_at <= ?5
                    OR (idempotency_keys.state = 'running' AND idempotency_keys.lease_expires_at <= ?5
                        AND idempotency_keys.fingerprint = excluded.fingerprint)
                 RETURNING owner",
            )
            .bind(&[
                text(claim.key),
                text(claim.fingerprint),
                text(claim.owner),
                time(claim.lease_until),
                time(claim.now),
                time(claim.expires_at),
            ])?;
        let owner = d1::all(statement).await?.first::<Owner>()?;
        Ok(owner.is_some_and(|o| o.owner == claim.owner))
    }

    /// The key as held now; an expired key counts as absent.
    pub async fn held_key(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> worker::Result<Option<HeldKey>> {
        #[derive(Deserialize)]
        struct Row {
            fingerprint: String,
            state: String,
            lease_expires_at: String,
            draft_id: Option<String>,
        }
        let statement = self
            .db
            .prepare(
                "SELECT fingerprint, state, lease_expires_at, draft_id FROM idempotency_keys
                 WHERE key = ?1 AND expires_at > ?2 LIMIT 1",
            )
            .bind(&[text(key), time(now)])?;
        let row = d1::all(statement).await?.first::<Row>()?;
        Ok(row.map(|row| HeldKey {
            fingerprint: row.fingerprint,
            done: row.state == "done",
            lease_expires_at: parse_time(Some(&row.lease_expires_at))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            draft_id: row.draft_id,
        }))
    }

    /// Marks the key done with its draft; only its owner can.
    pub fn finish_key_statement(
        &self,
        key: &str,
        owner: &str,
        draft_id: DraftId,
    ) -> worker::Result<D1PreparedStatement> {
        self.db
            .prepare(
                "UPDATE idempotency_keys SET state = 'done', draft_id = ?3
                 WHERE key = ?1 AND owner = ?2 AND state = 'running'",
            )
            .bind(&[text(key), text(owner), text(&draft_id.to_string())])
    }

    /// Frees a key whose request failed, so the client's retry can run; only its owner can.
    pub fn release_key_statement(
        &self,
        key: &str,
        owner: &str,
    ) -> worker::Result<D1PreparedStatement> {
        self.db
            .prepare(
                "DELETE FROM idempotency_keys WHERE key = ?1 AND owner = ?2 AND state = 'running'",
            )
            .bind(&[text(key), text(owner)])
    }

    /// Deletes the keys that expired before `now`; returns how many.
    pub async fn purge_expired_keys(&self, now: OffsetDateTime) -> worker::Result<usize> {
        let statement = self
            .db
            .prepare("DELETE FROM idempotency_keys WHERE expires_at <= ?1 RETURNING key")
            .bind(&[time(now)])?;
        d1::all(statement).await?.count()
    }
}

/// A claim on an idempotency key.
pub struct KeyClaim<'a> {
    pub key: &'a str,
    pub fingerprint: &'a str,
    pub owner: &'a str,
    pub lease_until: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub now: OffsetDateTime,
}
