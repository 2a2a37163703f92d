//! The scheduler's daily token check: for every connected account, one cheap Graph API call
//! (the publishing quota) with its token. A 190 tells the operator (once a day per account,
//! deduplicated in `operator_alerts`); a token that works clears that alert, so a new
//! failure is told at once. A token whose known expiry is within 7 days is told once per
//! account and expiry (an Instagram Login token is renewed before then by `refresh`, so this
//! means renewing failed; a Facebook Login token is not renewed here). The check is claimed
//! in `scheduler_tasks` and recorded when done; one that could not be made for some account
//! (no answer) is tried again by the next run.

use domain::message::format_rfc3339;
use instagram::GraphError;
use platform::clock::random_hex;
use time::Duration;

use platform::scheduler_tasks::TOKEN_CHECK;

use super::context::{AccountFailure, Report, Run, TaskError};
use super::plan::token_expires_soon;
use crate::accounts::{Account, Accounts};
use crate::alert::{REPEAT_AFTER, token_expiring_kind, token_invalid_kind};
use crate::graph::{Failure, Graph};
use crate::settings::Settings;

const EVERY: Duration = Duration::DAY;
const LEASE: Duration = Duration::minutes(5);

pub async fn check(run: &Run<'_>, report: &mut Report) -> Result<(), TaskError> {
    let (publish, accounts) = run.publishing()?;
    let claim = random_hex::<12>();
    let claimed = run
        .tasks
        .claim(
            TOKEN_CHECK,
            &claim,
            run.now,
            run.now + LEASE,
            Some(run.now - EVERY),
        )
        .await?;
    if !claimed {
        return Ok(());
    }
    let result = check_accounts(run, publish, accounts, report).await;
    run.free_task(
        TOKEN_CHECK,
        &claim,
        result.is_ok(),
        "the token check",
        report,
    )
    .await;
    result
}

/// Every connected account's token, checked; the report says the worst finding.
async fn check_accounts(
    run: &Run<'_>,
    publish: &Settings,
    accounts: &Accounts,
    report: &mut Report,
) -> Result<(), TaskError> {
    let mut unanswered = Vec::new();
    let mut finding = "ok";
    for account in accounts.iter().filter(|a| a.row.state == "connected") {
        match check_one(run, publish, account).await? {
            Some(Ok(())) => {}
            Some(Err(failure)) => {
                if finding == "ok" {
                    finding = "unknown";
                }
                unanswered.push(AccountFailure::NoAnswer {
                    account: account.label(),
                    failure,
                });
            }
            None => finding = "invalid",
        }
        if let Some(expires_at) = account.row.expires_at()
            && token_expires_soon(expires_at, run.now)
        {
            let label = account.label();
            let at = format_rfc3339(expires_at);
            let text = format!(
                "The Instagram access token of {label} expires at {at}: connect the account again (or replace INSTAGRAM_ACCESS_TOKEN) before then, or publishing to it stops."
            );
            run.alerts
                .raise(&token_expiring_kind(account.id(), &at), &text, None)
                .await?;
            report.token_expiring = true;
        }
    }
    report.token = Some(finding);
    if unanswered.is_empty() {
        Ok(())
    } else {
        Err(TaskError::NoAnswer(unanswered))
    }
}

/// One account's token: `Some(Ok)` works (its alert cleared), `Some(Err)` no answer,
/// `None` invalid (the operator told, once a day).
async fn check_one(
    run: &Run<'_>,
    publish: &Settings,
    account: &Account,
) -> Result<Option<Result<(), Failure>>, TaskError> {
    let label = account.label();
    let answer = match Graph::new(publish, account) {
        Ok(graph) => graph.publishing_limit().await,
        Err(error) => Err(Failure::NoAnswer(error.to_string())),
    };
    match answer {
        Ok(_) => {
            let clear = run
                .alerts
                .clear_statement(&token_invalid_kind(account.id()))?;
            platform::d1::run(clear).await?;
            Ok(Some(Ok(())))
        }
        Err(failure @ Failure::Graph(GraphError::TokenInvalid { .. })) => {
            let text = format!(
                "Instagram publishing to {label} is stopped: the daily check found its access token expired or invalid ({failure}). Its posts wait or fail until the token is replaced (INSTAGRAM_ACCESS_TOKEN, or connecting the account again). This alert repeats at most once a day."
            );
            run.alerts
                .raise(&token_invalid_kind(account.id()), &text, Some(REPEAT_AFTER))
                .await?;
            Ok(None)
        }
        Err(failure) => Ok(Some(Err(failure))),
    }
}
