//! D1 `operator_alerts`: one row per kind of alert, so an alert raised by several consumers at
//! once is sent once. Raising claims the kind with one conditional write: the claim is new
//! when the kind was never sent or its quiet time has passed, and only the caller whose claim
//! came back sends. A send that fails releases the claim, so the next raise sends it.

use serde::Deserialize;
use time::OffsetDateTime;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

use crate::d1::{self, text, time};
use crate::store::DB_BINDING;

/// A kind raised: whether this caller's claim won (it sends), and how often it was raised.
#[derive(Debug, Deserialize)]
pub struct Claimed {
    claim: Option<String>,
    pub count: u32,
}

impl Claimed {
    /// Whether `claim` is the one stored: the caller sends the alert.
    pub fn won_by(&self, claim: &str) -> bool {
        self.claim.as_deref() == Some(claim)
    }
}

pub struct AlertStore {
    db: D1Database,
}

impl AlertStore {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            db: env.d1(DB_BINDING)?,
        })
    }

    /// Counts one more raise of `kind` at `at`, and claims it with `claim` when it was never
    /// sent, or last sent at or before `quiet_since`. `None` when the write gave no row.
    pub async fn claim(
        &self,
        kind: &str,
        at: OffsetDateTime,
        claim: &str,
        quiet_since: Option<OffsetDateTime>,
    ) -> worker::Result<Option<Claimed>> {
        let statement = self
            .db
            .prepare(
                "INSERT INTO operator_alerts (kind, first_at, last_at, count, claim, sent_at)
                 VALUES (?1, ?2, ?2, 1, ?3, ?2)
                 ON CONFLICT (kind) DO UPDATE SET
                     last_at = excluded.last_at,
                     count = operator_alerts.count + 1,
                     claim = CASE WHEN operator_alerts.sent_at IS NULL
                                    OR (?4 IS NOT NULL AND operator_alerts.sent_at <= ?4)
                                  THEN excluded.claim ELSE operator_alerts.claim END,
                     sent_at = CASE WHEN operator_alerts.sent_at IS NULL
                                      OR (?4 IS NOT NULL AND operator_alerts.sent_at <= ?4)
                                    THEN excluded.sent_at ELSE operator_alerts.sent_at END
                 RETURNING claim, count",
            )
            .bind(&[
                text(kind),
                time(at),
                text(claim),
                quiet_since.map_or(JsValue::NULL, time),
            ])?;
        d1::all(statement).await?.first::<Claimed>()
    }

    /// The send under `claim` failed: the kind is unsent again.
    pub async fn release(&self, kind: &str, claim: &str) -> worker::Result<()> {
        let statement = self
            .db
            .prepare(
                "UPDATE operator_alerts SET claim = NULL, sent_at = NULL
                 WHERE kind = ?1 AND claim = ?2",
            )
            .bind(&[text(kind), text(claim)])?;
        d1::run(statement).await
    }

    /// The statement that clears `kind`, so it alerts at once when it comes back; run in the
    /// caller's batch with the write that shows the cause gone.
    pub fn clear_statement(&self, kind: &str) -> worker::Result<D1PreparedStatement> {
        self.db
            .prepare("DELETE FROM operator_alerts WHERE kind = ?1")
            .bind(&[text(kind)])
    }
}
