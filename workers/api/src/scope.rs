//! Which accounts' drafts a caller may see and act on. A reviewer listed in `REVIEWERS` with
//! accounts sees only those accounts' drafts: another account's draft is not found when read
//! (404) and refused when acted on (403), and lists and counts leave it out. Everyone else
//! (the `API_TOKEN`, a reviewer without a list) sees every account.

use domain::account::AccountRef;
use domain::draft::DraftId;
use domain::draft::Status;
use platform::accounts::{AccountRow, AccountStore};
use platform::store::{DraftRow, DraftStore, PageCursor};
use worker::Env;

use crate::auth::Actor;
use crate::reply::ApiError;

/// The accounts a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Some {
        /// The ids of the accounts, as D1 names them.
        ids: Vec<String>,
        /// Whether the default account (the oldest) is one: its drafts may name no account.
        default_too: bool,
    },
}

impl Scope {
    /// The scope of `actor`, given every account (the default first).
    pub fn of(actor: &Actor, accounts: &[AccountRow]) -> Self {
        let Some(refs) = &actor.accounts else {
            return Scope::All;
        };
        let ids: Vec<String> = accounts
            .iter()
            .filter(|a| refs.iter().any(|r| r.names(&a.id, a.username.as_deref())))
            .map(|a| a.id.clone())
            .collect();
        let default_too = accounts.first().is_some_and(|d| ids.contains(&d.id));
        Scope::Some { ids, default_too }
    }

    /// Whether a draft naming `account_id` (`None`: the default account) is in scope.
    pub fn allows(&self, account_id: Option<&str>) -> bool {
        match (self, account_id) {
            (Scope::All, _) => true,
            (Scope::Some { default_too, .. }, None) => *default_too,
            (Scope::Some { ids, .. }, Some(id)) => ids.iter().any(|i| i == id),
        }
    }

    /// Whether an account is in scope.
    pub fn allows_account(&self, account: &AccountRow) -> bool {
        self.allows(Some(&account.id))
    }
}

/// Refuses a draft outside the caller's accounts: 404 to read it, 403 to act on it. A draft
/// that does not exist is left to the route (its own 404).
pub async fn guard_draft(env: &Env, actor: &Actor, id: &str, acting: bool) -> Result<(), ApiError> {
    if actor.accounts.is_none() {
        return Ok(());
    }
    let Ok(id) = DraftId::parse(id) else {
        return Ok(());
    };
    let store = DraftStore::from_env(env)?;
    let (account, accounts) = futures::join!(store.account_of(id), async {
        AccountStore::from_env(env)?.all().await
    });
    let Some(account) = account? else {
        return Ok(());
    };
    if Scope::of(actor, &accounts?).allows(account.as_deref()) {
        Ok(())
    } else if acting {
        Err(ApiError::Forbidden(
            "this draft belongs to an account you do not review".into(),
        ))
    } else {
        Err(not_found(id))
    }
}

/// The answer for a draft that does not exist or that the caller may not see: the same 404,
/// so a reviewer cannot tell another account's draft from none.
pub fn not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::NotFound(format!("no draft with id {id}"))
}

/// Why `account` names no account.
#[derive(Debug, thiserror::Error)]
pub enum NoAccount {
    #[error("{0:?} is neither @username nor an account id")]
    NotAName(String),
    #[error("no account {0} is connected")]
    NotConnected(AccountRef),
}

/// A problem on the request's `account` (400).
impl From<NoAccount> for ApiError {
    fn from(reason: NoAccount) -> Self {
        ApiError::Validation(vec![crate::body::problem("account", reason.to_string())])
    }
}

/// The account `text` names among `accounts` (`@username` or the id), or why not.
pub fn find<'a>(accounts: &'a [AccountRow], text: &str) -> Result<&'a AccountRow, NoAccount> {
    let wanted = AccountRef::parse(text).ok_or_else(|| NoAccount::NotAName(text.to_owned()))?;
    accounts
        .iter()
        .find(|a| wanted.names(&a.id, a.username.as_deref()))
        .ok_or(NoAccount::NotConnected(wanted))
}

/// How the page names an account: `@username`, or its id.
pub fn label(accounts: &[AccountRow], account_id: Option<&str>) -> String {
    let found = match account_id {
        None => accounts.first(),
        Some(id) => accounts.iter().find(|a| a.id == id),
    };
    match found {
        Some(account) => account.label(),
        None => account_id.map_or_else(
            || "the default account".to_owned(),
            |id| format!("account {id}"),
        ),
    }
}

/// A page of drafts as `actor` may see them, of one account if `account` names one (else
/// of every account in scope), with the counts per status of the same drafts, and every
/// account (for labels). An `account` that names no account is a problem on `account`.
pub async fn page(
    env: &Env,
    actor: &Actor,
    account: Option<&str>,
    status: Option<Status>,
    cursor: Option<&PageCursor>,
    limit: u32,
    labels: bool,
) -> Result<(Vec<DraftRow>, Vec<(String, i64)>, Vec<AccountRow>), ApiError> {
    let store = DraftStore::from_env(env)?;
    if account.is_none() && actor.accounts.is_none() && !labels {
        // Every draft, and no account read.
        let (rows, counts) = store.page(status, cursor, limit).await?;
        return Ok((rows, counts, Vec::new()));
    }
    let accounts = AccountStore::from_env(env)?.all().await?;
    let scope = Scope::of(actor, &accounts);
    let (ids, default_too) = match account {
        Some(text) => {
            let found = find(&accounts, text)?;
            if scope.allows_account(found) {
                let default = accounts.first().is_some_and(|d| d.id == found.id);
                (vec![found.id.clone()], default)
            } else {
                // Another account's drafts are not there for this reviewer.
                (Vec::new(), false)
            }
        }
        None => match scope {
            Scope::All => {
                let (rows, counts) = store.page(status, cursor, limit).await?;
                return Ok((rows, counts, accounts));
            }
            Scope::Some { ids, default_too } => (ids, default_too),
        },
    };
    let (rows, counts) = store
        .page_of_accounts(&ids, default_too, status, cursor, limit)
        .await?;
    Ok((rows, counts, accounts))
}
