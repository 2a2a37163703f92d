//! Review-page sessions in D1: who signed in, until when.

use serde::Deserialize;
use time::OffsetDateTime;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::store::DB_BINDING;

pub struct SessionStore {
    db: D1Database,
}

fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

fn time(value: OffsetDateTime) -> JsValue {
    text(&domain::message::format_rfc3339(value))
}

impl SessionStore {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            db: env.d1(DB_BINDING)?,
        })
    }

    pub async fn create(
        &self,
        id_hash: &str,
        reviewer: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> worker::Result<()> {
        self.db
            .prepare(
                "INSERT INTO review_sessions (id_hash, reviewer, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(&[text(id_hash), text(reviewer), time(now), time(expires_at)])?
            .run()
            .await?;
        Ok(())
    }

    /// The reviewer of a live session.
    pub async fn reviewer(
        &self,
        id_hash: &str,
        now: OffsetDateTime,
    ) -> worker::Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            reviewer: String,
        }
        Ok(self
            .db
            .prepare("SELECT reviewer FROM review_sessions WHERE id_hash = ?1 AND expires_at > ?2")
            .bind(&[text(id_hash), time(now)])?
            .first::<Row>(None)
            .await?
            .map(|row| row.reviewer))
    }

    pub async fn delete(&self, id_hash: &str) -> worker::Result<()> {
        self.db
            .prepare("DELETE FROM review_sessions WHERE id_hash = ?1")
            .bind(&[text(id_hash)])?
            .run()
            .await?;
        Ok(())
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_expired(&self, now: OffsetDateTime) -> worker::Result<usize> {
        let result = self
            .db
            .prepare("DELETE FROM review_sessions WHERE expires_at <= ?1 RETURNING id_hash")
            .bind(&[time(now)])?
            .all()
            .await?;
        Ok(result.results::<serde_json::Value>()?.len())
    }
}
