//! Renewing Instagram Login tokens: a long-lived token lasts 60 days and can be refreshed
//! once it is a day old, so the scheduler refreshes each one that is at least
//! [`REFRESH_AFTER`] old and expires within [`REFRESH_WITHIN`]. A token whose expiry is not
//! known (taken from the settings without `INSTAGRAM_TOKEN_EXPIRES_AT`) is refreshed once it
//! is a day old: the answer says when the new one expires, and from then on it is timed.
//!
//! - Exactly once when runs overlap: the refresh is claimed with one conditional write that
//!   also checks it is still due, with a lease, so a run that died frees it.
//! - The old token stays until the new one is stored, under the claim.
//! - Meta refusing the token (code 190: revoked, password changed) makes the account
//!   `needs_reconnect`, written under the claim, and the operator hears once; its drafts wait.
//! - Any other failure is recorded on the account and tried again by the next run; when the
//!   token expires within `plan::TOKEN_WARNING` the operator hears once per expiry.

use domain::message::format_rfc3339;
use instagram::{GraphError, RefreshedToken};
use platform::accounts::AccountStore;
use platform::clock::{random_bytes, random_hex};
use time::{Duration, OffsetDateTime};

use super::context::{AccountFailure, Report, Run, TaskError};
use super::plan::token_expires_soon;
use crate::accounts::Account;
use crate::alert::token_expiring_kind;
use crate::graph::{Failure, Graph};
use crate::settings::Settings;

/// A token is refreshed once at least this old ...
pub const REFRESH_AFTER: Duration = Duration::DAY;
/// ... and expiring within this.
pub const REFRESH_WITHIN: Duration = Duration::days(10);
const LEASE: Duration = Duration::minutes(5);
/// Accounts refreshed per run at most.
const PER_RUN: usize = 10;

/// Whether `account`'s token is due for a refresh at `now` (the claim checks it again).
pub fn due(account: &Account, now: OffsetDateTime) -> bool {
    let row = &account.row;
    row.state == "connected"
        && row.login == "instagram"
        && row.token_ciphertext.is_some()
        && row
            .refreshed_at()
            .is_some_and(|at| at <= now - REFRESH_AFTER)
        && row.expires_at().is_none_or(|at| at <= now + REFRESH_WITHIN)
}

pub async fn refresh(run: &Run<'_>, report: &mut Report) -> Result<(), TaskError> {
    let (settings, accounts) = run.publishing()?;
    let store = AccountStore::from_env(run.env)?;
    let now = run.now;
    let mut errors = Vec::new();
    for account in accounts.iter().filter(|a| due(a, now)).take(PER_RUN) {
        let claim = random_hex::<12>();
        let claimed = store
            .claim_refresh(
                account.id(),
                &claim,
                now,
                now + LEASE,
                now - REFRESH_AFTER,
                now + REFRESH_WITHIN,
            )
            .await?;
        if claimed {
            let one = Refresh {
                run,
                settings,
                store: &store,
                account,
                claim: &claim,
            };
            one.run(report, &mut errors).await?;
        }
    }
    TaskError::of_accounts(errors)
}

/// One account's refresh, under its claim.
struct Refresh<'a> {
    run: &'a Run<'a>,
    settings: &'a Settings,
    store: &'a AccountStore,
    account: &'a Account,
    claim: &'a str,
}

impl Refresh<'_> {
    /// Asks Meta for a new token and records the outcome; what the operator must hear and
    /// could not be told goes to `errors`.
    async fn run(
        &self,
        report: &mut Report,
        errors: &mut Vec<AccountFailure>,
    ) -> Result<(), TaskError> {
        let answer = match Graph::new(self.settings, self.account) {
            Ok(graph) => graph.refresh_token().await,
            Err(error) => Err(Failure::NoAnswer(error.to_string())),
        };
        match answer {
            Ok(fresh) => self.store_token(&fresh, report, errors).await,
            Err(failure) => self.failed(&failure, report, errors).await,
        }
    }

    async fn store_token(
        &self,
        fresh: &RefreshedToken,
        report: &mut Report,
        errors: &mut Vec<AccountFailure>,
    ) -> Result<(), TaskError> {
        let (id, now) = (self.account.id(), self.run.now);
        let sealed = self.settings.keys.seal(
            id,
            &fresh.access_token,
            random_bytes::<{ vault::NONCE_BYTES }>(),
        );
        let lifetime =
            Duration::seconds(i64::try_from(fresh.expires_in_seconds).unwrap_or(i64::MAX));
        let stored = self
            .store
            .refreshed(
                id,
                self.claim,
                &sealed.ciphertext,
                &sealed.key_id,
                now + lifetime,
                now,
            )
            .await?;
        if stored {
            report.tokens_refreshed += 1;
        } else {
            errors.push(AccountFailure::ClaimLapsed {
                account: self.account.label(),
            });
        }
        Ok(())
    }

    /// Tells the operator once per `kind`; an alert not sent goes to `errors`.
    async fn alert(&self, kind: &str, text: &str, errors: &mut Vec<AccountFailure>) {
        if let Err(error) = self.run.alerts.raise(kind, text, None).await {
            errors.push(AccountFailure::NotAlerted(error));
        }
    }

    /// Meta refused the token (190): the account needs reconnecting, the operator hears once.
    /// Any other failure: recorded on the account, tried again next run; the operator hears
    /// once per expiry when the token expires soon.
    async fn failed(
        &self,
        failure: &Failure,
        report: &mut Report,
        errors: &mut Vec<AccountFailure>,
    ) -> Result<(), TaskError> {
        let (id, now, label) = (self.account.id(), self.run.now, self.account.label());
        if let Failure::Graph(GraphError::TokenInvalid { .. }) = failure {
            let reason = format!("Instagram refused its token when it was renewed: {failure}");
            let marked = self
                .store
                .needs_reconnect(id, self.claim, &reason, now)
                .await?;
            if marked {
                report.accounts_need_reconnect += 1;
                let text = format!(
                    "The Instagram account {label} needs reconnecting: {reason}. Its posts wait, none fails, until it is connected again (replace INSTAGRAM_ACCESS_TOKEN for the account in the settings, or connect it again)."
                );
                let kind = format!("account_needs_reconnect:{id}:{}", format_rfc3339(now));
                self.alert(&kind, &text, errors).await;
            }
            return Ok(());
        }
        report.token_refreshes_failed += 1;
        let reason = failure.to_string();
        self.store.refresh_failed(id, self.claim, &reason).await?;
        worker::console_error!(
            "the token of {label} could not be renewed: {reason}; the next run tries again"
        );
        if let Some(expires_at) = self.account.row.expires_at()
            && token_expires_soon(expires_at, now)
        {
            let at = format_rfc3339(expires_at);
            let text = format!(
                "The Instagram access token of {label} expires at {at} and could not be renewed ({reason}). It is tried again every run; if it keeps failing, connect the account again (or replace INSTAGRAM_ACCESS_TOKEN) before then, or publishing to it stops."
            );
            self.alert(&token_expiring_kind(id, &at), &text, errors)
                .await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::accounts::AccountRow;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-31 09:00 UTC);

    fn account(login: &str, state: &str, age_days: i64, expires_in_days: Option<i64>) -> Account {
        let at = |t: OffsetDateTime| format_rfc3339(t);
        Account {
            row: AccountRow {
                id: "1784".into(),
                username: Some("cafe".into()),
                login: login.into(),
                graph_base_url: "https://graph.instagram.com".into(),
                token_ciphertext: Some("sealed".into()),
                token_key_id: Some("k".into()),
                token_expires_at: expires_in_days.map(|d| at(NOW + Duration::days(d))),
                token_refreshed_at: at(NOW - Duration::days(age_days)),
                state: state.into(),
                state_reason: None,
                refresh_error: None,
                connected_by: "Aiko".into(),
                connected_at: at(NOW),
                created_at: at(NOW),
            },
            token: Ok("token".into()),
        }
    }

    #[test]
    fn a_token_is_due_once_a_day_old_and_within_ten_days_of_its_expiry_or_with_none_known() {
        for (login, state, age, expires, due_now) in [
            ("instagram", "connected", 2, Some(9), true),
            ("instagram", "connected", 1, Some(10), true),
            ("instagram", "connected", 0, Some(9), false),
            ("instagram", "connected", 2, Some(11), false),
            ("instagram", "connected", 2, Some(-1), true),
            ("instagram", "connected", 30, None, true),
            ("instagram", "connected", 0, None, false),
            ("facebook", "connected", 2, Some(9), false),
            ("instagram", "needs_reconnect", 2, Some(9), false),
            ("instagram", "disconnected", 2, Some(9), false),
        ] {
            assert_eq!(
                due(&account(login, state, age, expires), NOW),
                due_now,
                "{login} {state} {age} days old, expires in {expires:?} days"
            );
        }
    }
}
