//! D1 `accounts`: the Instagram accounts drafts are published to, each with its token sealed
//! (crates/vault; this module never sees a plain token), its expiry and its state.
//!
//! A draft without an account (`drafts.account_id` NULL) belongs to the default account: the
//! oldest row. Rows are never deleted (a disconnected account keeps its row without a
//! token), so the default never moves.
//!
//! Every write that races another (a token refresh, a re-encryption, the state) is
//! conditional: on the refresh claim, or on the ciphertext it replaces.

use serde::Deserialize;
use time::OffsetDateTime;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

use crate::d1::{self, read_time, text, time};
use crate::store::DB_BINDING;

/// Accounts read at most per batch or run; far more than anyone runs.
pub const MAX_ACCOUNTS: u32 = 200;

/// One row of `accounts`, as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountRow {
    pub id: String,
    pub username: Option<String>,
    /// `instagram` or `facebook`.
    pub login: String,
    pub graph_base_url: String,
    pub token_ciphertext: Option<String>,
    pub token_key_id: Option<String>,
    pub token_expires_at: Option<String>,
    pub token_refreshed_at: String,
    /// `connected`, `needs_reconnect` or `disconnected`.
    pub state: String,
    pub state_reason: Option<String>,
    pub refresh_error: Option<String>,
    pub connected_by: String,
    pub connected_at: String,
    pub created_at: String,
}

impl AccountRow {
    /// How alerts and reasons name the account: `@username`, or its id while the username is
    /// not known.
    pub fn label(&self) -> String {
        match self.username.as_deref().filter(|u| !u.is_empty()) {
            Some(username) => format!("@{username}"),
            None => format!("account {}", self.id),
        }
    }

    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.token_expires_at.as_deref().and_then(read_time)
    }

    pub fn refreshed_at(&self) -> Option<OffsetDateTime> {
        read_time(&self.token_refreshed_at)
    }
}

/// An account as it is stored, whoever brings it: where it is reached, how it logs in, and
/// its token sealed, with the id of the key that sealed it.
pub struct SealedAccount<'a> {
    pub id: &'a str,
    pub login: &'a str,
    pub graph_base_url: &'a str,
    pub ciphertext: &'a str,
    pub key_id: &'a str,
    pub expires_at: Option<OffsetDateTime>,
}

impl SealedAccount<'_> {
    /// Its values in the order the statements below bind them first (`?1` to `?6`).
    fn values(&self) -> Vec<JsValue> {
        vec![
            text(self.id),
            text(self.login),
            text(self.graph_base_url),
            text(self.ciphertext),
            text(self.key_id),
            self.expires_at.map_or(JsValue::NULL, time),
        ]
    }
}

/// The account the settings name (`INSTAGRAM_ACCOUNT_ID` and the secret
/// `INSTAGRAM_ACCESS_TOKEN`, or the local simulator's), with its token already sealed.
pub struct Imported<'a> {
    pub account: SealedAccount<'a>,
    /// SHA-256 of the account id and the secret's token: a changed secret is taken once.
    pub token_sha256: &'a str,
    /// The ids of the keys the settings hold: a stored token sealed by neither (the key was
    /// lost) is taken again from the secret, the best that can be had.
    pub current_key_id: &'a str,
    pub previous_key_id: Option<&'a str>,
    /// Who connected it, in words (the setting it came from).
    pub connected_by: &'a str,
    /// Taken only while no other account exists (the local simulator's account).
    pub only_if_alone: bool,
}

/// An account connected from the review page, its token already sealed.
pub struct Connected<'a> {
    pub account: SealedAccount<'a>,
    pub username: &'a str,
    /// The reviewer who connected it.
    pub connected_by: &'a str,
}

/// One act on an account (`account_actions`).
#[derive(Debug, Clone, Deserialize)]
pub struct AccountAction {
    pub account_id: String,
    pub action: String,
    pub login: Option<String>,
    pub reviewer: String,
    pub created_at: String,
}

/// An Instagram Login under way, as the callback finds it.
#[derive(Debug, Clone, Deserialize)]
pub struct PendingLogin {
    pub reviewer: String,
    pub session_sha256: String,
    pub expires_at: String,
}

/// Acts on accounts shown on the accounts page.
pub const RECENT_ACTIONS: u32 = 20;

pub struct AccountStore {
    db: D1Database,
}

impl AccountStore {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            db: env.d1(DB_BINDING)?,
        })
    }

    /// Brings the settings' account in: inserted when missing (for the simulator's account,
    /// only while no other account exists), its token taken again only when the secret
    /// changed since it was last taken (so a token the scheduler refreshed since is kept),
    /// its Graph base URL kept in step with the settings. A changed secret also connects
    /// the account again. A stored token sealed by a key the settings no longer hold is
    /// taken again from the secret too.
    pub fn import_statement(
        &self,
        account: &Imported<'_>,
        now: OffsetDateTime,
    ) -> worker::Result<D1PreparedStatement> {
        const FRESH: &str = "(accounts.imported_token_sha256 IS NOT excluded.imported_token_sha256
             OR (accounts.token_key_id IS NOT NULL AND accounts.token_key_id IS NOT ?11
                 AND accounts.token_key_id IS NOT ?12))";
        let sql = format!(
            "INSERT INTO accounts (id, login, graph_base_url, token_ciphertext, token_key_id,
                 token_expires_at, token_refreshed_at, imported_token_sha256, state,
                 connected_by, connected_at, created_at, updated_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'connected', ?9, ?7, ?7, ?7
             WHERE ?10 = 0 OR NOT EXISTS (SELECT 1 FROM accounts WHERE id != ?1)
             ON CONFLICT (id) DO UPDATE SET
                 graph_base_url = excluded.graph_base_url,
                 token_ciphertext = CASE WHEN {FRESH} THEN excluded.token_ciphertext ELSE accounts.token_ciphertext END,
                 token_key_id = CASE WHEN {FRESH} THEN excluded.token_key_id ELSE accounts.token_key_id END,
                 token_expires_at = CASE WHEN {FRESH} THEN excluded.token_expires_at ELSE accounts.token_expires_at END,
                 token_refreshed_at = CASE WHEN {FRESH} THEN excluded.token_refreshed_at ELSE accounts.token_refreshed_at END,
                 state = CASE WHEN {FRESH} THEN 'connected' ELSE accounts.state END,
                 state_reason = CASE WHEN {FRESH} THEN NULL ELSE accounts.state_reason END,
                 refresh_error = CASE WHEN {FRESH} THEN NULL ELSE accounts.refresh_error END,
                 imported_token_sha256 = excluded.imported_token_sha256,
                 updated_at = excluded.updated_at
             WHERE {FRESH} OR accounts.graph_base_url IS NOT excluded.graph_base_url"
        );
        let mut values = account.account.values();
        values.extend([
            time(now),
            text(account.token_sha256),
            text(account.connected_by),
            JsValue::from_f64(if account.only_if_alone { 1.0 } else { 0.0 }),
            text(account.current_key_id),
            account.previous_key_id.map_or(JsValue::NULL, text),
        ]);
        self.db.prepare(sql).bind(&values)
    }

    /// Connects an account, or connects it again with a new token: the row is inserted or its
    /// token, username, login and state replaced, and the act recorded (`connect` for a new
    /// account, `reconnect` for a known one), in one transaction. Whether it was new.
    pub async fn connect(
        &self,
        connected: &Connected<'_>,
        now: OffsetDateTime,
    ) -> worker::Result<bool> {
        let account = &connected.account;
        let action = self
            .db
            .prepare(
                "INSERT INTO account_actions (account_id, action, login, reviewer, created_at)
                 SELECT ?1, CASE WHEN EXISTS (SELECT 1 FROM accounts WHERE id = ?1)
                                 THEN 'reconnect' ELSE 'connect' END, ?2, ?3, ?4
                 RETURNING action",
            )
            .bind(&[
                text(account.id),
                text(account.login),
                text(connected.connected_by),
                time(now),
            ])?;
        let upsert = self
            .db
            .prepare(
                "INSERT INTO accounts (id, username, login, graph_base_url, token_ciphertext,
                     token_key_id, token_expires_at, token_refreshed_at, state, connected_by,
                     connected_at, created_at, updated_at)
                 VALUES (?1, ?9, ?2, ?3, ?4, ?5, ?6, ?7, 'connected', ?8, ?7, ?7, ?7)
                 ON CONFLICT (id) DO UPDATE SET
                     username = excluded.username, login = excluded.login,
                     graph_base_url = excluded.graph_base_url,
                     token_ciphertext = excluded.token_ciphertext,
                     token_key_id = excluded.token_key_id,
                     token_expires_at = excluded.token_expires_at,
                     token_refreshed_at = excluded.token_refreshed_at,
                     state = 'connected', state_reason = NULL, refresh_error = NULL,
                     refresh_claim = NULL, refresh_claimed_until = NULL,
                     connected_by = excluded.connected_by, connected_at = excluded.connected_at,
                     updated_at = excluded.updated_at",
            )
            .bind(&{
                let mut values = account.values();
                values.extend([
                    time(now),
                    text(connected.connected_by),
                    text(connected.username),
                ]);
                values
            })?;
        let results = d1::batch(&self.db, vec![action, upsert]).await?;
        #[derive(Deserialize)]
        struct Done {
            action: String,
        }
        let done: Option<Done> = match results.first() {
            Some(rows) => rows.first()?,
            None => None,
        };
        Ok(done.is_some_and(|d| d.action == "connect"))
    }

    /// Disconnects an account: its token removed (ciphertext NULL), its state
    /// `disconnected`, the act recorded. Whether the account exists.
    pub async fn disconnect(
        &self,
        id: &str,
        reviewer: &str,
        now: OffsetDateTime,
    ) -> worker::Result<bool> {
        let action = self
            .db
            .prepare(
                "INSERT INTO account_actions (account_id, action, login, reviewer, created_at)
                 SELECT id, 'disconnect', login, ?2, ?3 FROM accounts WHERE id = ?1",
            )
            .bind(&[text(id), text(reviewer), time(now)])?;
        let update = self
            .db
            .prepare(
                "UPDATE accounts SET token_ciphertext = NULL, token_key_id = NULL,
                     state = 'disconnected', state_reason = ?2, refresh_claim = NULL,
                     refresh_claimed_until = NULL, updated_at = ?3
                 WHERE id = ?1 RETURNING id",
            )
            .bind(&[
                text(id),
                text(&format!("disconnected by {reviewer}")),
                time(now),
            ])?;
        let results = d1::batch(&self.db, vec![action, update]).await?;
        Ok(match results.get(1) {
            Some(rows) => rows.count()? > 0,
            None => false,
        })
    }

    /// Every account, the default first, and the latest acts on accounts, newest first.
    pub async fn overview(&self) -> worker::Result<(Vec<AccountRow>, Vec<AccountAction>)> {
        let actions = self
            .db
            .prepare(
                "SELECT account_id, action, login, reviewer, created_at FROM account_actions
                 ORDER BY id DESC LIMIT ?1",
            )
            .bind(&[JsValue::from_f64(f64::from(RECENT_ACTIONS))])?;
        let results = d1::batch(&self.db, vec![self.all_statement()?, actions]).await?;
        let rows = match results.first() {
            Some(rows) => rows.all()?,
            None => Vec::new(),
        };
        let actions = match results.get(1) {
            Some(rows) => rows.all()?,
            None => Vec::new(),
        };
        Ok((rows, actions))
    }

    /// Every account, the default first.
    pub async fn all(&self) -> worker::Result<Vec<AccountRow>> {
        d1::all(self.all_statement()?).await?.all()
    }

    /// Starts an Instagram Login: its `state` (by SHA-256) bound to the reviewer and the
    /// session, until `expires_at`. Lapsed ones are removed in the same transaction.
    pub async fn begin_login(
        &self,
        state_sha256: &str,
        reviewer: &str,
        session_sha256: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> worker::Result<()> {
        let purge = self
            .db
            .prepare("DELETE FROM oauth_states WHERE expires_at <= ?1")
            .bind(&[time(now)])?;
        let insert = self
            .db
            .prepare(
                "INSERT INTO oauth_states (state_sha256, reviewer, session_sha256, expires_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(&[
                text(state_sha256),
                text(reviewer),
                text(session_sha256),
                time(expires_at),
                time(now),
            ])?;
        for result in d1::batch(&self.db, vec![purge, insert]).await? {
            result.checked()?;
        }
        Ok(())
    }

    /// Takes the login whose `state` hashes to `state_sha256`, once: it is deleted as it is
    /// read, so a second callback with the same state finds nothing. Lapsed or not; the
    /// caller checks `expires_at`.
    pub async fn take_login(&self, state_sha256: &str) -> worker::Result<Option<PendingLogin>> {
        let statement = self
            .db
            .prepare(
                "DELETE FROM oauth_states WHERE state_sha256 = ?1
                 RETURNING reviewer, session_sha256, expires_at",
            )
            .bind(&[text(state_sha256)])?;
        d1::all(statement).await?.first()
    }

    /// Every account, the default (oldest) first.
    pub fn all_statement(&self) -> worker::Result<D1PreparedStatement> {
        self.db
            .prepare("SELECT * FROM accounts ORDER BY created_at, id LIMIT ?1")
            .bind(&[JsValue::from_f64(f64::from(MAX_ACCOUNTS))])
    }

    /// Runs `statements` in one transaction, a result per statement.
    pub async fn batch(
        &self,
        statements: Vec<D1PreparedStatement>,
    ) -> worker::Result<Vec<d1::Rows>> {
        d1::batch(&self.db, statements).await
    }

    /// Accounts whose token is sealed by a key other than `current_key_id`, at most `limit`.
    pub async fn sealed_by_other_keys(
        &self,
        current_key_id: &str,
        limit: u32,
    ) -> worker::Result<Vec<AccountRow>> {
        let statement = self
            .db
            .prepare(
                "SELECT * FROM accounts
                 WHERE token_ciphertext IS NOT NULL AND token_key_id != ?1
                 ORDER BY id LIMIT ?2",
            )
            .bind(&[text(current_key_id), JsValue::from_f64(f64::from(limit))])?;
        d1::all(statement).await?.all()
    }

    /// Replaces a token by the same token sealed with another key, unless the stored one
    /// changed since it was read (a refresh won meanwhile). Whether it was replaced.
    pub async fn reseal(
        &self,
        id: &str,
        previous_ciphertext: &str,
        ciphertext: &str,
        key_id: &str,
        now: OffsetDateTime,
    ) -> worker::Result<bool> {
        let statement = self
            .db
            .prepare(
                "UPDATE accounts SET token_ciphertext = ?3, token_key_id = ?4, updated_at = ?5
                 WHERE id = ?1 AND token_ciphertext = ?2 RETURNING id",
            )
            .bind(&[
                text(id),
                text(previous_ciphertext),
                text(ciphertext),
                text(key_id),
                time(now),
            ])?;
        d1::changed(statement).await
    }

    /// Takes the refresh of account `id` for the run `claim` until `until`, if the account is
    /// still connected, no live claim holds it, and it is still due: its token obtained at or
    /// before `refreshed_before` and expiring at or before `expires_before`. Of two runs at
    /// once exactly one gets it, and a run after a refresh finds it no longer due.
    pub async fn claim_refresh(
        &self,
        id: &str,
        claim: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        refreshed_before: OffsetDateTime,
        expires_before: OffsetDateTime,
    ) -> worker::Result<bool> {
        let statement = self
            .db
            .prepare(
                "UPDATE accounts SET refresh_claim = ?2, refresh_claimed_until = ?3
                 WHERE id = ?1 AND state = 'connected' AND login = 'instagram'
                   AND token_ciphertext IS NOT NULL
                   AND (refresh_claim IS NULL OR refresh_claimed_until <= ?4)
                   AND token_refreshed_at <= ?5
                   AND (token_expires_at IS NULL OR token_expires_at <= ?6)
                 RETURNING id",
            )
            .bind(&[
                text(id),
                text(claim),
                time(until),
                time(now),
                time(refreshed_before),
                time(expires_before),
            ])?;
        d1::changed(statement).await
    }

    /// The refreshed token, stored under the claim; the old one stays until this write.
    pub async fn refreshed(
        &self,
        id: &str,
        claim: &str,
        ciphertext: &str,
        key_id: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> worker::Result<bool> {
        let statement = self
            .db
            .prepare(
                "UPDATE accounts SET token_ciphertext = ?3, token_key_id = ?4, token_expires_at = ?5,
                     token_refreshed_at = ?6, refresh_claim = NULL, refresh_claimed_until = NULL,
                     refresh_error = NULL, updated_at = ?6
                 WHERE id = ?1 AND refresh_claim = ?2 RETURNING id",
            )
            .bind(&[
                text(id),
                text(claim),
                text(ciphertext),
                text(key_id),
                time(expires_at),
                time(now),
            ])?;
        d1::changed(statement).await
    }

    /// The refresh failed for a reason that may pass: the claim is freed for the next run,
    /// the token kept, the reason recorded.
    pub async fn refresh_failed(&self, id: &str, claim: &str, error: &str) -> worker::Result<()> {
        let statement = self
            .db
            .prepare(
                "UPDATE accounts SET refresh_claim = NULL, refresh_claimed_until = NULL, refresh_error = ?3
                 WHERE id = ?1 AND refresh_claim = ?2",
            )
            .bind(&[text(id), text(claim), text(error)])?;
        crate::d1::run(statement).await
    }

    /// Meta refused the token for good (code 190): the account needs reconnecting. Written
    /// under the claim, so exactly one run records it. Whether this run did.
    pub async fn needs_reconnect(
        &self,
        id: &str,
        claim: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> worker::Result<bool> {
        let statement = self
            .db
            .prepare(
                "UPDATE accounts SET state = 'needs_reconnect', state_reason = ?3,
                     refresh_claim = NULL, refresh_claimed_until = NULL, refresh_error = ?3,
                     updated_at = ?4
                 WHERE id = ?1 AND refresh_claim = ?2 RETURNING id",
            )
            .bind(&[text(id), text(claim), text(reason), time(now)])?;
        d1::changed(statement).await
    }
}
