//! Review-page sessions in D1: who signed in, until when, and with which token (a
//! fingerprint of it, keyed by the session's own id, never the token itself).

use serde::Deserialize;
use time::OffsetDateTime;
use worker::{D1Database, Env};

use crate::d1::{self, text, time};
use crate::store::DB_BINDING;

/// A session to store: only hashes of its id and of the token it was made with.
pub struct NewSession<'a> {
    pub id_hash: &'a str,
    pub reviewer: &'a str,
    pub token_fingerprint: &'a str,
    pub now: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Deserialize)]
pub struct LiveSession {
    pub reviewer: String,
    pub token_fingerprint: String,
}

pub struct SessionStore {
    db: D1Database,
}

impl SessionStore {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            db: env.d1(DB_BINDING)?,
        })
    }

    pub async fn create(&self, session: &NewSession<'_>) -> worker::Result<()> {
        let statement = self.db.prepare(
                "INSERT INTO review_sessions (id_hash, reviewer, token_fingerprint, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(&[
                text(session.id_hash),
                text(session.reviewer),
                text(session.token_fingerprint),
                time(session.now),
                time(session.expires_at),
            ])?;
        d1::run(statement).await
    }

    /// A live session: its reviewer and the fingerprint of the token it was made with.
    pub async fn live(
        &self,
        id_hash: &str,
        now: OffsetDateTime,
    ) -> worker::Result<Option<LiveSession>> {
        let statement = self
            .db
            .prepare(
                "SELECT reviewer, token_fingerprint FROM review_sessions
                 WHERE id_hash = ?1 AND expires_at > ?2 LIMIT 1",
            )
            .bind(&[text(id_hash), time(now)])?;
        d1::all(statement).await?.first()
    }

    /// Ends every session of `reviewer` ("sign out everywhere"); returns how many.
    pub async fn delete_all_of(&self, reviewer: &str) -> worker::Result<usize> {
        let statement = self
            .db
            .prepare("DELETE FROM review_sessions WHERE reviewer = ?1 RETURNING id_hash")
            .bind(&[text(reviewer)])?;
        d1::all(statement).await?.count()
    }

    pub async fn delete(&self, id_hash: &str) -> worker::Result<()> {
        let statement = self
            .db
            .prepare("DELETE FROM review_sessions WHERE id_hash = ?1")
            .bind(&[text(id_hash)])?;
        d1::run(statement).await
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_expired(&self, now: OffsetDateTime) -> worker::Result<usize> {
        let statement = self
            .db
            .prepare("DELETE FROM review_sessions WHERE expires_at <= ?1 RETURNING id_hash")
            .bind(&[time(now)])?;
        d1::all(statement).await?.count()
    }
}
