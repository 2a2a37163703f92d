//! D1 `account_voices`: each account's voice (`domain::voice`), stored as the JSON of
//! `RawVoice` with a revision that every write names, like a draft's edit.
//!
//! The voice a draft is written in is its account's: `account_id`, or the default account
//! (the oldest row of `accounts`) for a draft without one. [`VoiceStore::for_account`] is the
//! one way to find it.

use domain::message::format_rfc3339;
use domain::voice::{RawVoice, Voice, VoiceError};
use serde::Deserialize;
use time::OffsetDateTime;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::accounts::MAX_ACCOUNTS;
use crate::d1;
use crate::store::DB_BINDING;

/// An account with its voice as stored; `revision` 0 and no voice while none was written.
#[derive(Debug, Clone, Deserialize)]
pub struct StoredVoice {
    pub account_id: String,
    pub username: Option<String>,
    pub state: String,
    pub voice: Option<String>,
    pub revision: i64,
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
}

impl StoredVoice {
    /// The stored voice as it was given (the empty one when none was written). A stored voice
    /// the rules of today refuse (they changed since) reads as it is, for a person to fix.
    pub fn raw(&self) -> RawVoice {
        self.voice
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default()
    }

    /// The voice writing follows: the empty voice if the stored one no longer passes today's
    /// rules (logged by the caller through the error).
    pub fn voice(&self) -> Result<Voice, UnusableVoice> {
        Voice::parse(&self.raw()).map_err(|errors| UnusableVoice {
            account_id: self.account_id.clone(),
            errors,
        })
    }
}

/// A stored voice today's rules refuse: every problem, each with its path.
#[derive(Debug, thiserror::Error)]
#[error(
    "the voice of account {account_id} is not usable: {}",
    problems(errors)
)]
pub struct UnusableVoice {
    pub account_id: String,
    pub errors: Vec<VoiceError>,
}

fn problems(errors: &[VoiceError]) -> String {
    let list: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {e}", e.path()))
        .collect();
    list.join("; ")
}

const SELECT: &str = "SELECT a.id AS account_id, a.username, a.state, v.voice,
        COALESCE(v.revision, 0) AS revision, v.updated_by, v.updated_at
    FROM accounts a LEFT JOIN account_voices v ON v.account_id = a.id";

pub struct VoiceStore {
    db: D1Database,
}

impl VoiceStore {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            db: env.d1(DB_BINDING)?,
        })
    }

    /// The voice of `account_id`, or of the default account (the oldest) for `None`; `None`
    /// when there is no such account (no account at all yet: the empty voice).
    pub async fn for_account(
        &self,
        account_id: Option<&str>,
    ) -> worker::Result<Option<StoredVoice>> {
        let sql = format!(
            "{SELECT} WHERE a.id = COALESCE(?1, (SELECT id FROM accounts ORDER BY created_at, id LIMIT 1)) LIMIT 1"
        );
        let statement = self
            .db
            .prepare(sql)
            .bind(&[account_id.map_or(JsValue::NULL, JsValue::from_str)])?;
        d1::all(statement).await?.first()
    }

    /// Every account with its voice, the default (oldest) first.
    pub async fn all(&self) -> worker::Result<Vec<StoredVoice>> {
        let sql = format!("{SELECT} ORDER BY a.created_at, a.id LIMIT ?1");
        let statement = self
            .db
            .prepare(sql)
            .bind(&[JsValue::from_f64(f64::from(MAX_ACCOUNTS))])?;
        d1::all(statement).await?.all()
    }

    /// Writes `voice` for `account_id` if its stored revision is still `revision` (0: none
    /// written yet) and the account exists; `None` otherwise, and nothing written.
    pub async fn put(
        &self,
        account_id: &str,
        voice: &RawVoice,
        revision: i64,
        by: &str,
        now: OffsetDateTime,
    ) -> worker::Result<Option<i64>> {
        let json = serde_json::to_string(voice)?;
        let statement = self
            .db
            .prepare(
                "INSERT INTO account_voices (account_id, voice, revision, updated_by, updated_at)
                 SELECT ?1, ?2, 1, ?3, ?4
                 WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?1)
                   AND (?5 = 0 OR EXISTS (SELECT 1 FROM account_voices WHERE account_id = ?1))
                 ON CONFLICT (account_id) DO UPDATE SET
                     voice = excluded.voice,
                     revision = account_voices.revision + 1,
                     updated_by = excluded.updated_by,
                     updated_at = excluded.updated_at
                 WHERE account_voices.revision = ?5
                 RETURNING revision",
            )
            .bind(&[
                JsValue::from_str(account_id),
                JsValue::from_str(&json),
                JsValue::from_str(by),
                JsValue::from_str(&format_rfc3339(now)),
                JsValue::from_f64(revision as f64),
            ])?;
        #[derive(Deserialize)]
        struct Written {
            revision: i64,
        }
        Ok(d1::all(statement)
            .await?
            .first::<Written>()?
            .map(|w| w.revision))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_voice_todays_rules_refuse_names_the_account_and_every_problem() {
        let stored = StoredVoice {
            account_id: "17841400000000001".into(),
            username: None,
            state: "connected".into(),
            voice: Some(r#"{"language": "not a tag!", "avoidWords": [""]}"#.into()),
            revision: 3,
            updated_by: None,
            updated_at: None,
        };
        let error = stored.voice().unwrap_err();
        assert_eq!(error.errors.len(), 2, "{error}");
        assert_eq!(
            error.to_string(),
            "the voice of account 17841400000000001 is not usable: language: \"not a tag!\" is not \
             a language tag such as \"en\", \"ja-JP\" or \"zh-Hant-TW\"; avoidWords[0]: a word to \
             avoid is empty"
        );
        let usable = StoredVoice {
            voice: Some(r#"{"language": "en"}"#.into()),
            ..stored
        };
        assert!(usable.voice().is_ok());
    }
}
