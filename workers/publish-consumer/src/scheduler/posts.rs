//! The scheduler's publishing tasks: timed posts whose time has come (within the publishing
//! quota), publish messages that were lost, drafts left `publishing` by a consumer that died.
//! (The consumer's side of a scheduled post, a message that arrived before its time, is
//! `publish::early`.)
//!
//! A draft is queued with [`Change::PublishQueued`], a write conditional on the
//! `publish_due_at` it read, before its message is sent: of two overlapping runs exactly one
//! sends it. A run that dies between the write and the send leaves a due time with no
//! message, which the lost-message check queues again once it is overdue by
//! `PUBLISH_LOST_AFTER_MINUTES`; the publish workflow's claim and container check make a
//! duplicate harmless either way.

use domain::draft::DraftId;
use domain::message::{Action, QueueMessage, format_rfc3339};
use instagram::GraphError;
use platform::queue::{PUBLISH_QUEUE, send};
use platform::store::{Change, DraftRow};
use time::{Duration, OffsetDateTime};

use super::context::{PER_RUN, Report, Run, TaskError};
use super::plan::{self, DEFAULT_WINDOW};
use crate::accounts::Account;
use crate::alert::{REPEAT_AFTER, token_invalid_kind};
use crate::graph::{Failure, Graph};
use crate::settings::Settings;

/// (1) Approved drafts whose time has come and for which no message is queued, oldest due
/// first, as many as each account's publishing quota lets through; the rest are held with
/// the reason and the time they are expected to go. Each account is planned alone, so one
/// account's quota, token or state never holds another's posts.
pub async fn queue_due(run: &Run<'_>, report: &mut Report) -> Result<(), TaskError> {
    // Two ranges of the index of approved drafts with nothing queued, by time (migration
    // 0009), each in its order and limited: the timed posts whose time has come, and the
    // untimed ones (rare: a post whose message went missing before it was recorded). Rows
    // read are the due posts, not the history, the posts scheduled ahead nor the ones in
    // flight. They are merged here: a sort in D1 reads every row again.
    let mut due = run.select.due_posts(run.now, PER_RUN).await?;
    let due_order = |row: &DraftRow| {
        row.scheduled_at
            .clone()
            .or_else(|| row.approved_at.clone())
            .unwrap_or_else(|| row.updated_at.clone())
    };
    due.sort_by(|a, b| {
        due_order(a)
            .cmp(&due_order(b))
            .then_with(|| a.id.cmp(&b.id))
    });
    due.truncate(PER_RUN as usize);
    report.due = due.len();
    if due.is_empty() {
        return Ok(());
    }
    let (publish, accounts) = run.publishing()?;
    // The due drafts by account, each group oldest due first; a draft whose account is not
    // known goes with `None`.
    let mut groups: Vec<(Option<&Account>, Vec<&DraftRow>)> = Vec::new();
    for row in &due {
        let account = accounts.for_draft(row.account_id.as_deref());
        let key = account.map(Account::id);
        match groups.iter_mut().find(|(a, _)| a.map(Account::id) == key) {
            Some((_, rows)) => rows.push(row),
            None => groups.push((account, vec![row])),
        }
    }
    let default_id = accounts
        .default_account()
        .map(Account::id)
        .unwrap_or_default();
    for (account, rows) in groups {
        let (queue, holds) = match account {
            Some(account) => {
                plan_account(run, publish, account, default_id, rows.len(), report).await?
            }
            None => {
                let reason = "held back: the draft's account is not connected here".to_owned();
                (0, vec![(reason, None); rows.len()])
            }
        };
        for row in &rows[..queue] {
            if queue_one(run, row).await? {
                report.queued += 1;
            }
        }
        for (row, (reason, until)) in rows[queue..].iter().zip(holds) {
            hold(run, row, &reason, until, report).await?;
        }
    }
    Ok(())
}

/// How many of `due` posts of `account` go now, and why and until when each other waits.
async fn plan_account(
    run: &Run<'_>,
    publish: &Settings,
    account: &Account,
    default_id: &str,
    due: usize,
    report: &mut Report,
) -> Result<(usize, Vec<(String, Option<OffsetDateTime>)>), TaskError> {
    if let Some(reason) = account.unavailable() {
        return Ok((0, vec![(format!("held back: {reason}"), None); due]));
    }
    let graph = match Graph::new(publish, account) {
        Ok(graph) => graph,
        Err(error) => {
            report.errors.push(error.to_string());
            return Ok((0, vec![(format!("held back: {error}"), None); due]));
        }
    };
    let label = account.label();
    Ok(match graph.publishing_limit().await {
        Ok(limit) => {
            let in_flight = run.select.in_flight(account.id(), default_id).await?;
            let window = limit
                .quota_duration_seconds
                .map_or(DEFAULT_WINDOW, |s| Duration::seconds(i64::from(s)));
            // When places free up matters only to posts held back: the window's publish
            // times are read only then, and only as many as they wait for.
            let needed = plan::published_needed(due, &limit, in_flight);
            let published = if needed > 0 {
                run.select
                    .published_since(run.now - window, needed, account.id(), default_id)
                    .await?
            } else {
                Vec::new()
            };
            let plan = plan::plan_quota(due, &limit, in_flight, &published);
            if let Some(free) = plan.free {
                report.quota_free = Some(report.quota_free.unwrap_or(0) + i64::from(free));
            }
            let holds = plan
                .held_until
                .iter()
                .map(|until| (plan::hold_reason(&limit, in_flight, *until), *until))
                .collect();
            (plan.queue, holds)
        }
        // Publishing cannot work: the posts wait, the operator is told (once a day).
        Err(failure @ Failure::Graph(GraphError::TokenInvalid { .. })) => {
            let text = format!(
                "Instagram publishing to {label} is stopped: the access token is expired or invalid ({failure}). {due} due post(s) wait until the token is replaced (INSTAGRAM_ACCESS_TOKEN, or connecting the account again). This alert repeats at most once a day."
            );
            if let Err(error) = run
                .alerts
                .raise(&token_invalid_kind(account.id()), &text, Some(REPEAT_AFTER))
                .await
            {
                report.errors.push(error.to_string());
            }
            let reason = format!(
                "held back: the Instagram access token of {label} is expired or invalid ({failure}); the post is queued once it works again"
            );
            (0, vec![(reason, None); due])
        }
        // The quota is unknown: queue them; the publish consumer waits for the quota itself.
        Err(failure) => {
            report.errors.push(format!(
                "reading the publishing quota of {label}: {failure}"
            ));
            (due, Vec::new())
        }
    })
}

/// Holds a due draft back with `reason`, unless it already says so.
async fn hold(
    run: &Run<'_>,
    row: &DraftRow,
    reason: &str,
    until: Option<OffsetDateTime>,
    report: &mut Report,
) -> Result<(), TaskError> {
    let until_text = until.map(format_rfc3339);
    if row.publish_hold.as_deref() == Some(reason) && row.publish_hold_until == until_text {
        report.held += 1;
        return Ok(());
    }
    let change = Change::PublishHeld { reason, until };
    let held = run.apply(row, &change, "holding it").await?;
    if held.is_some() {
        report.held += 1;
    }
    Ok(())
}

/// (2) Approved drafts whose publish message is overdue by the grace: it was lost (a crash
/// between the write and the send, a message dropped). Queued again, for the attempt the
/// logs reached.
pub async fn requeue_lost(run: &Run<'_>, report: &mut Report) -> Result<(), TaskError> {
    let overdue = run.now - run.settings.lost_after;
    let lost = run.select.lost_messages(overdue, PER_RUN).await?;
    report.lost_requeued += requeue(run, &lost, |row| {
        format!(
            "its publish message was due at {} and never handled; queued again",
            row.publish_due_at.as_deref().unwrap_or("?")
        )
    })
    .await?;
    Ok(())
}

/// (3) Drafts left `publishing` by a consumer that died: the claim lapsed longer ago than the
/// grace and no message was queued for them since. The consumer that gets the new message
/// claims the draft again and reads its container's status before anything else, so a post
/// that went out is marked published and never posted twice.
pub async fn recover_stuck(run: &Run<'_>, report: &mut Report) -> Result<(), TaskError> {
    let lapsed = run.now - run.settings.lost_after;
    let stuck = run.select.stuck_publishing(lapsed, PER_RUN).await?;
    report.stuck_requeued += requeue(run, &stuck, |row| {
        format!(
            "stuck publishing since its claim lapsed at {}; queued for reconciliation",
            row.claim_expires_at.as_deref().unwrap_or("?")
        )
    })
    .await?;
    Ok(())
}

/// Queues each of `rows` again, logging `note` of each queued; how many were.
async fn requeue(
    run: &Run<'_>,
    rows: &[DraftRow],
    note: impl Fn(&DraftRow) -> String,
) -> Result<usize, TaskError> {
    let mut queued = 0;
    for row in rows {
        if queue_one(run, row).await? {
            worker::console_log!("draft {}: {}", row.id, note(row));
            queued += 1;
        }
    }
    Ok(queued)
}

/// Queues the draft's publish message if no other run did since `row` was read. `Ok(false)`:
/// another run (or a consumer) was first.
async fn queue_one(run: &Run<'_>, row: &DraftRow) -> Result<bool, TaskError> {
    let id = DraftId::parse(&row.id)?;
    let change = Change::PublishQueued {
        due_at: run.now,
        previous: row.publish_due_at.as_deref(),
    };
    let won = run.apply(row, &change, "queueing it").await?;
    if won.is_none() {
        return Ok(false);
    }
    // The attempt the approval reached: a message queued again repeats it rather than spend
    // or reset the retries.
    let attempt = row.publish_record().attempts_spent + 1;
    let action = if attempt > 1 {
        Action::Retry
    } else {
        Action::Publish
    };
    let message = QueueMessage::new(id, action, attempt, run.now);
    send(run.env, PUBLISH_QUEUE, &message, 0)
        .await
        .map_err(|error| TaskError::PublishNotSent { id, error })?;
    Ok(true)
}
