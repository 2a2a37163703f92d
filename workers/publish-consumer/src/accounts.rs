//! The accounts a batch or a scheduler run publishes to: the settings' account brought into
//! D1 `accounts` (sealed with the current key), then every account read and its token
//! opened, in one round trip.
//!
//! A draft names its account (`drafts.account_id`); one that names none belongs to the
//! default account, the oldest row (`Accounts::for_draft`).

use instagram::GraphConfig;
use platform::accounts::{AccountRow, AccountStore, Imported, SealedAccount};
use platform::clock::{random_bytes, sha256_hex};
use time::OffsetDateTime;
use worker::Env;

use crate::settings::Settings;

/// Why an account's token is not in memory: never what it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoToken {
    /// Disconnected: the row holds no sealed token.
    #[error("the account {0} holds no token")]
    NotHeld(String),
    /// Sealed with a key the settings no longer hold, or not a sealed token.
    #[error("the token of {label}: {error}")]
    NotOpened {
        label: String,
        error: vault::OpenError,
    },
}

/// Why the accounts could not be brought in and read.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// The D1 binding, a statement or the token's fingerprint could not be made.
    #[error(transparent)]
    Worker(#[from] worker::Error),
    #[error("reading the accounts: {0}")]
    Read(worker::Error),
    #[error("reading the accounts: D1 answered no rows")]
    NoRows,
}

/// An account as read, its token opened (or why it could not be).
pub struct Account {
    pub row: AccountRow,
    /// The plain token, only in memory; `Err` says why it is not there (disconnected, or a
    /// key the settings no longer hold), never what it was.
    pub token: Result<String, NoToken>,
}

impl Account {
    pub fn id(&self) -> &str {
        &self.row.id
    }

    /// `@username`, or the id while the username is not known.
    pub fn label(&self) -> String {
        self.row.label()
    }

    /// Where and as whom its Graph calls go.
    pub fn graph(&self, api_version: &str) -> GraphConfig {
        GraphConfig {
            base_url: self.row.graph_base_url.clone(),
            api_version: api_version.to_owned(),
            user_id: self.row.id.clone(),
        }
    }

    /// Why it cannot publish now, in words for the draft, or `None` when it can.
    pub fn unavailable(&self) -> Option<String> {
        let label = self.label();
        let why = self
            .row
            .state_reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        match self.row.state.as_str() {
            "connected" => None,
            "disconnected" => Some(format!(
                "the account {label} is disconnected{why}; the post waits until it is connected again"
            )),
            _ => Some(format!(
                "the account {label} needs reconnecting{why}; the post waits and goes out once it is connected again"
            )),
        }
    }
}

pub struct Accounts {
    /// The default (oldest) first.
    list: Vec<Account>,
}

impl Accounts {
    /// Brings the settings' account in, then reads every account and opens its token.
    pub async fn prepare(
        env: &Env,
        settings: &Settings,
        now: OffsetDateTime,
    ) -> Result<Self, AccountsError> {
        let store = AccountStore::from_env(env)?;
        let own = &settings.account;
        let sealed = settings.keys.seal(
            &own.user_id,
            &own.token,
            random_bytes::<{ vault::NONCE_BYTES }>(),
        );
        let fingerprint = sha256_hex(format!("{}:{}", own.user_id, own.token).as_bytes()).await?;
        let imported = Imported {
            account: SealedAccount {
                id: &own.user_id,
                login: own.login(),
                graph_base_url: &own.base_url,
                ciphertext: &sealed.ciphertext,
                key_id: &sealed.key_id,
                expires_at: own.expires_at,
            },
            token_sha256: &fingerprint,
            current_key_id: settings.keys.current_id(),
            previous_key_id: settings.keys.previous_id(),
            connected_by: if settings.simulator {
                "the local Graph API simulator (no INSTAGRAM_ACCOUNT_ID is set)"
            } else {
                "the settings INSTAGRAM_ACCOUNT_ID and INSTAGRAM_ACCESS_TOKEN"
            },
            only_if_alone: settings.simulator,
        };
        let statements = vec![
            store.import_statement(&imported, now)?,
            store.all_statement()?,
        ];
        let results = store.batch(statements).await.map_err(AccountsError::Read)?;
        let rows: Vec<AccountRow> = match results.get(1) {
            Some(rows) => rows.all().map_err(AccountsError::Read)?,
            None => return Err(AccountsError::NoRows),
        };
        let list = rows
            .into_iter()
            .map(|row| {
                let token = match (&row.token_ciphertext, &row.token_key_id) {
                    (Some(ciphertext), Some(key_id)) => settings
                        .keys
                        .open(&row.id, key_id, ciphertext)
                        .map_err(|error| NoToken::NotOpened {
                            label: row.label(),
                            error,
                        }),
                    _ => Err(NoToken::NotHeld(row.label())),
                };
                Account { row, token }
            })
            .collect();
        Ok(Self { list })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Account> {
        self.list.iter()
    }

    /// The account drafts without one belong to: the oldest.
    pub fn default_account(&self) -> Option<&Account> {
        self.list.first()
    }

    /// The account of a draft whose `account_id` is this.
    pub fn for_draft(&self, account_id: Option<&str>) -> Option<&Account> {
        match account_id {
            None => self.default_account(),
            Some(id) => self.list.iter().find(|a| a.id() == id),
        }
    }

    /// The id and label alerts name a draft's account by.
    pub fn name_of(&self, account_id: Option<&str>) -> (String, String) {
        match self.for_draft(account_id) {
            Some(account) => (account.id().to_owned(), account.label()),
            None => {
                let id = account_id.unwrap_or("default").to_owned();
                let label = format!("account {id}");
                (id, label)
            }
        }
    }

    /// The plain tokens held: traces redact them.
    pub fn secrets(&self) -> Vec<String> {
        self.list
            .iter()
            .filter_map(|a| a.token.as_ref().ok().cloned())
            .collect()
    }
}
