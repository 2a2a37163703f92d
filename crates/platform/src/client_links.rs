//! D1 `client_links`: clients' approval links (`domain::client_link`), by the SHA-256 of
//! their secret; never the secret itself.

use serde::Deserialize;
use time::OffsetDateTime;
use worker::{D1Database, Env};

use crate::d1::{self, text, time};
use crate::store::DB_BINDING;

/// The most links the links page lists, newest first.
pub const LIST_LIMIT: u32 = 50;

/// A link to store.
pub struct NewLink<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub client_name: &'a str,
    /// JSON array of draft ids.
    pub draft_ids: &'a str,
    pub created_by: &'a str,
    pub now: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A link as stored (without its hash).
#[derive(Debug, Clone, Deserialize)]
pub struct LinkRow {
    pub id: String,
    pub client_name: String,
    pub draft_ids: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
}

const COLUMNS: &str =
    "id, client_name, draft_ids, created_by, created_at, expires_at, revoked_at, revoked_by";

pub struct ClientLinkStore {
    db: D1Database,
}

impl ClientLinkStore {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            db: env.d1(DB_BINDING)?,
        })
    }

    pub async fn create(&self, link: &NewLink<'_>) -> worker::Result<()> {
        let statement = self
            .db
            .prepare(
                "INSERT INTO client_links (id, token_hash, client_name, draft_ids, created_by, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .bind(&[
                text(link.id),
                text(link.token_hash),
                text(link.client_name),
                text(link.draft_ids),
                text(link.created_by),
                time(link.now),
                time(link.expires_at),
            ])?;
        d1::run(statement).await
    }

    /// The link whose secret hashes to `token_hash`, revoked or expired included (the page
    /// says which).
    pub async fn by_token_hash(&self, token_hash: &str) -> worker::Result<Option<LinkRow>> {
        let statement = self
            .db
            .prepare(format!(
                "SELECT {COLUMNS} FROM client_links WHERE token_hash = ?1"
            ))
            .bind(&[text(token_hash)])?;
        d1::all(statement).await?.first()
    }

    /// The newest links, at most [`LIST_LIMIT`].
    pub async fn newest(&self) -> worker::Result<Vec<LinkRow>> {
        let statement = self.db.prepare(format!(
            "SELECT {COLUMNS} FROM client_links ORDER BY created_at DESC LIMIT {LIST_LIMIT}"
        ));
        d1::all(statement).await?.all()
    }

    /// Revokes a live link; `false` when there is none by that id or it was revoked already.
    pub async fn revoke(&self, id: &str, by: &str, now: OffsetDateTime) -> worker::Result<bool> {
        let statement = self
            .db
            .prepare(
                "UPDATE client_links SET revoked_at = ?2, revoked_by = ?3
                 WHERE id = ?1 AND revoked_at IS NULL RETURNING id",
            )
            .bind(&[text(id), time(now), text(by)])?;
        d1::changed(statement).await
    }
}
