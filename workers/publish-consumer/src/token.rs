//! The scheduler's daily token check: one cheap Graph API call (the publishing quota) with
//! the access token. A 190 tells the operator (once a day, deduplicated in
//! `operator_alerts`); a token that works clears that alert, so a new failure is told at
//! once. With `INSTAGRAM_TOKEN_EXPIRES_AT` set, a token that expires within 7 days is told
//! once per expiry. The check is claimed in `scheduler_tasks` and recorded when done; one
//! that could not be made (no answer) is tried again by the next run.

use domain::message::format_rfc3339;
use instagram::GraphError;
use platform::clock::random_hex;
use time::Duration;

use crate::alert::{REPEAT_AFTER, TOKEN_INVALID};
use crate::graph::{Failure, Graph};
use crate::plan::token_expires_soon;
use crate::schedule::{Report, Run};
use crate::tasks::TOKEN_CHECK;

const EVERY: Duration = Duration::DAY;
const LEASE: Duration = Duration::minutes(5);

pub async fn check(run: &Run<'_>, report: &mut Report) -> Result<(), String> {
    let publish = run.publish.as_ref().map_err(Clone::clone)?;
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
        .await
        .map_err(|e| e.to_string())?;
    if !claimed {
        return Ok(());
    }
    let result = async {
        let answer = Graph::new(publish).publishing_limit().await;
        report.token = Some(match &answer {
            Ok(_) => "ok",
            Err(Failure::Graph(GraphError::TokenInvalid { .. })) => "invalid",
            Err(_) => "unknown",
        });
        match answer {
            Ok(_) => {
                let clear = run
                    .alerts
                    .clear_statement(TOKEN_INVALID)
                    .map_err(|e| e.to_string())?;
                platform::d1::all(clear)
                    .await
                    .and_then(|result| result.checked().map(|_| ()))
                    .map_err(|e| e.to_string())?;
            }
            Err(failure @ Failure::Graph(GraphError::TokenInvalid { .. })) => {
                let text = format!(
                    "Instagram publishing is stopped: the daily check found the access token expired or invalid ({failure}). Posts wait or fail until INSTAGRAM_ACCESS_TOKEN is replaced. This alert repeats at most once a day."
                );
                run.alerts
                    .raise(TOKEN_INVALID, &text, Some(REPEAT_AFTER))
                    .await?;
            }
            Err(failure) => return Err(format!("the daily token check got no answer: {failure}")),
        }
        if let Some(expires_at) = run.settings.token_expires_at
            && token_expires_soon(expires_at, run.now)
        {
            let at = format_rfc3339(expires_at);
            let text = format!(
                "The Instagram access token expires at {at} (INSTAGRAM_TOKEN_EXPIRES_AT): refresh it and replace INSTAGRAM_ACCESS_TOKEN before then, or publishing stops."
            );
            run.alerts
                .raise(&format!("token_expiring:{at}"), &text, None)
                .await?;
            report.token_expiring = true;
        }
        Ok(())
    }
    .await;
    let freed = match &result {
        Ok(()) => run.tasks.finish(TOKEN_CHECK, &claim, run.now).await,
        Err(_) => run.tasks.release(TOKEN_CHECK, &claim).await,
    };
    if let Err(error) = freed {
        report
            .errors
            .push(format!("freeing the token check: {error}"));
    }
    result
}
