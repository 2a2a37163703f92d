//! Which accounts' drafts a caller may see and act on. A reviewer listed in `REVIEWERS` with
//! accounts sees only those accounts' drafts: another account's draft is not found when read
//! (404) and refused when acted on (403), and lists and counts leave it out. Everyone else
//! (the `API_TOKEN`, a reviewer without a list) sees every account.

use domain::account::AccountRef;
use domain::draft::DraftId;
use platform::accounts::{AccountRow, AccountStore};
use platform::store::DraftStore;
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

/// The scope of `actor`: every account without reading D1, else the accounts it names.
pub async fn resolve(env: &Env, actor: &Actor) -> Result<Scope, ApiError> {
    if actor.accounts.is_none() {
        return Ok(Scope::All);
    }
    let accounts = AccountStore::from_env(env)?.all().await?;
    Ok(Scope::of(actor, &accounts))
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
    let (account, accounts) = futures::join!(
        store.account_of(id),
        async { AccountStore::from_env(env)?.all().await }
    );
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
        Err(crate::drafts::not_found(id))
    }
}

/// The account `text` names among `accounts` (`@username` or the id), or why not.
pub fn find<'a>(accounts: &'a [AccountRow], text: &str) -> Result<&'a AccountRow, String> {
    let wanted = AccountRef::parse(text)
        .ok_or_else(|| format!("{text:?} is neither @username nor an account id"))?;
    accounts
        .iter()
        .find(|a| wanted.names(&a.id, a.username.as_deref()))
        .ok_or_else(|| format!("no account {wanted} is connected"))
}

/// How the page names an account: `@username`, or its id.
pub fn label(accounts: &[AccountRow], account_id: Option<&str>) -> String {
    let found = match account_id {
        None => accounts.first(),
        Some(id) => accounts.iter().find(|a| a.id == id),
    };
    match found {
        Some(account) => account.label(),
        None => account_id.map_or_else(|| "the default account".to_owned(), |id| format!("account {id}")),
    }
}
