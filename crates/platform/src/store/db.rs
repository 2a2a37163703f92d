//! The draft store's binding: what the rest of `store` is written against.

use worker::{D1Database, D1PreparedStatement, Env};

use crate::d1::{self, Rows};

pub const DB_BINDING: &str = "DB";

pub struct DraftStore {
    pub(super) db: D1Database,
}

impl DraftStore {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            db: env.d1(DB_BINDING)?,
        })
    }

    /// Runs statements in one round trip and one transaction.
    pub async fn batch(&self, statements: Vec<D1PreparedStatement>) -> worker::Result<Vec<Rows>> {
        d1::batch(&self.db, statements).await
    }
}
