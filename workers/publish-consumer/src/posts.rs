//! The scheduler's publishing tasks: timed posts whose time has come (within the publishing
//! quota), publish messages that were lost, drafts left `publishing` by a consumer that died,
//! and the consumer's side of a scheduled post: a message that arrived before its time.
//!
//! A draft is queued with [`Change::PublishQueued`], a write conditional on the
//! `publish_due_at` it read, before its message is sent: of two overlapping runs exactly one
//! sends it. A run that dies between the write and the send leaves a due time with no
//! message, which the lost-message check queues again once it is overdue by
//! `PUBLISH_LOST_AFTER_MINUTES`; the publish workflow's claim and container check make a
//! duplicate harmless either way.

use domain::backoff::QUEUE_MAX_DELAY_SECONDS;
use domain::draft::DraftId;
use domain::message::{Action, QueueMessage, format_rfc3339};
use instagram::GraphError;
use platform::publish_log::{Entry, Outcome, Step};
use platform::queue::{PUBLISH_QUEUE, send};
use platform::store::{Change, DraftRow};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use worker::wasm_bindgen::JsValue;

use crate::accounts::Account;
use crate::alert::{REPEAT_AFTER, token_invalid_kind};
use crate::graph::{Failure, Graph};
use crate::plan::{self, DEFAULT_WINDOW};
use crate::publish::{Ctx, Done};
use crate::schedule::{Report, Run, select_drafts};
use crate::settings::Settings;

/// Drafts looked at per task and run; the rest wait for the next run.
pub const PER_RUN: u32 = 50;

fn time(at: OffsetDateTime) -> JsValue {
    JsValue::from_str(&format_rfc3339(at))
}

/// (1) Approved drafts whose time has come and for which no message is queued, oldest due
/// first, as many as each account's publishing quota lets through; the rest are held with
/// the reason and the time they are expected to go. Each account is planned alone, so one
/// account's quota, token or state never holds another's posts.
pub async fn queue_due(run: &Run<'_>, report: &mut Report) -> Result<(), String> {
    // Two ranges of the index of approved drafts with nothing queued, by time (migration
    // 0009), each in its order and limited: the timed posts whose time has come, and the
    // untimed ones (rare: a post whose message went missing before it was recorded). Rows
    // read are the due posts, not the history, the posts scheduled ahead nor the ones in
    // flight. They are merged here: a sort in D1 reads every row again.
    let mut due = select_drafts(
        &run.db,
        "SELECT * FROM (
             SELECT * FROM drafts INDEXED BY drafts_waiting_by_schedule
             WHERE status = 'approved' AND publish_due_at IS NULL AND scheduled_at <= ?1
             ORDER BY scheduled_at LIMIT ?2)
         UNION ALL
         SELECT * FROM (
             SELECT * FROM drafts INDEXED BY drafts_waiting_by_schedule
             WHERE status = 'approved' AND publish_due_at IS NULL AND scheduled_at IS NULL
             ORDER BY COALESCE(approved_at, updated_at) LIMIT ?2)",
        &[time(run.now), JsValue::from_f64(f64::from(PER_RUN))],
    )
    .await?;
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
    let publish = run.publish.as_ref().map_err(Clone::clone)?;
    let accounts = run.accounts.as_ref().map_err(Clone::clone)?;
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
) -> Result<(usize, Vec<(String, Option<OffsetDateTime>)>), String> {
    if let Some(reason) = account.unavailable() {
        return Ok((0, vec![(format!("held back: {reason}"), None); due]));
    }
    let graph = match Graph::new(publish, account) {
        Ok(graph) => graph,
        Err(error) => {
            report.errors.push(error.clone());
            return Ok((0, vec![(format!("held back: {error}"), None); due]));
        }
    };
    let label = account.label();
    Ok(match graph.publishing_limit().await {
        Ok(limit) => {
            let in_flight = in_flight(run, account.id(), default_id).await?;
            let window = limit
                .quota_duration_seconds
                .map_or(DEFAULT_WINDOW, |s| Duration::seconds(i64::from(s)));
            // When places free up matters only to posts held back: the window's publish
            // times are read only then, and only as many as they wait for.
            let needed = plan::published_needed(due, &limit, in_flight);
            let published = if needed > 0 {
                published_since(run, run.now - window, needed, account.id(), default_id).await?
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
                report.errors.push(error);
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
) -> Result<(), String> {
    let until_text = until.map(format_rfc3339);
    if row.publish_hold.as_deref() == Some(reason) && row.publish_hold_until == until_text {
        report.held += 1;
        return Ok(());
    }
    let change = Change::PublishHeld { reason, until };
    let id = draft_id(row)?;
    let held = run
        .store
        .apply(id, row.expected_state(), &change, run.now)
        .await
        .map_err(|e| format!("draft {id}: holding it: {e}"))?;
    if held.is_some() {
        report.held += 1;
    }
    Ok(())
}

/// (2) Approved drafts whose publish message is overdue by the grace: it was lost (a crash
/// between the write and the send, a message dropped). Queued again, for the attempt the
/// logs reached.
pub async fn requeue_lost(run: &Run<'_>, report: &mut Report) -> Result<(), String> {
    let overdue = run.now - run.settings.lost_after;
    let lost = select_drafts(
        &run.db,
        "SELECT * FROM drafts
         WHERE status = 'approved' AND publish_due_at IS NOT NULL AND publish_due_at <= ?1
         ORDER BY publish_due_at, id LIMIT ?2",
        &[time(overdue), JsValue::from_f64(f64::from(PER_RUN))],
    )
    .await?;
    for row in &lost {
        if queue_one(run, row).await? {
            worker::console_log!(
                "draft {}: its publish message was due at {} and never handled; queued again",
                row.id,
                row.publish_due_at.as_deref().unwrap_or("?")
            );
            report.lost_requeued += 1;
        }
    }
    Ok(())
}

/// (3) Drafts left `publishing` by a consumer that died: the claim lapsed longer ago than the
/// grace and no message was queued for them since. The consumer that gets the new message
/// claims the draft again and reads its container's status before anything else, so a post
/// that went out is marked published and never posted twice.
pub async fn recover_stuck(run: &Run<'_>, report: &mut Report) -> Result<(), String> {
    let lapsed = run.now - run.settings.lost_after;
    let stuck = select_drafts(
        &run.db,
        "SELECT * FROM drafts
         WHERE status = 'publishing' AND claim_expires_at <= ?1
           AND (publish_due_at IS NULL OR publish_due_at <= ?1)
         ORDER BY claim_expires_at, id LIMIT ?2",
        &[time(lapsed), JsValue::from_f64(f64::from(PER_RUN))],
    )
    .await?;
    for row in &stuck {
        if queue_one(run, row).await? {
            worker::console_log!(
                "draft {}: stuck publishing since its claim lapsed at {}; queued for reconciliation",
                row.id,
                row.claim_expires_at.as_deref().unwrap_or("?")
            );
            report.stuck_requeued += 1;
        }
    }
    Ok(())
}

/// Queues the draft's publish message if no other run did since `row` was read. `Ok(false)`:
/// another run (or a consumer) was first.
async fn queue_one(run: &Run<'_>, row: &DraftRow) -> Result<bool, String> {
    let id = draft_id(row)?;
    let change = Change::PublishQueued {
        due_at: run.now,
        previous: row.publish_due_at.as_deref(),
    };
    let won = run
        .store
        .apply(id, row.expected_state(), &change, run.now)
        .await
        .map_err(|e| format!("draft {id}: queueing it: {e}"))?;
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
    send(run.env, PUBLISH_QUEUE, &message, 0).await.map_err(|e| {
        format!("draft {id}: sending its publish message failed ({e}); it is queued again once overdue")
    })?;
    Ok(true)
}

/// Posts of the account that will count against its quota but that Meta does not count
/// yet: queued or being published. A draft without an account is the default account's.
async fn in_flight(run: &Run<'_>, account_id: &str, default_id: &str) -> Result<u32, String> {
    #[derive(Deserialize)]
    struct Count {
        n: u32,
    }
    // Two ranges of the (status, publish_due_at) index: rows read are the posts in flight,
    // not the history.
    let statement = run
        .db
        .prepare(
            "SELECT (SELECT COUNT(*) FROM drafts WHERE status = 'approved' AND publish_due_at IS NOT NULL
                       AND COALESCE(account_id, ?2) = ?1)
                  + (SELECT COUNT(*) FROM drafts WHERE status = 'publishing'
                       AND COALESCE(account_id, ?2) = ?1) AS n",
        )
        .bind(&[JsValue::from_str(account_id), JsValue::from_str(default_id)])
        .map_err(|e| e.to_string())?;
    let count = platform::d1::all(statement)
        .await
        .and_then(|result| result.checked()?.first::<Count>())
        .map_err(|e| e.to_string())?;
    Ok(count.map_or(0, |c| c.n))
}

/// When this pipeline's posts within the quota's window went out, oldest first, at most
/// `limit`: the first log row that recorded each media id. Reads the window's successful
/// publish steps (an index by step, outcome and time) and, for each media id among them,
/// whether an older row recorded it (an index by media id): rows in proportion to the
/// window, which Meta's quota itself bounds, not to the history; and only in a run that
/// holds posts back. The indexes are named: left to itself the planner walks every media id
/// in order for the GROUP BY.
async fn published_since(
    run: &Run<'_>,
    since: OffsetDateTime,
    limit: usize,
    account_id: &str,
    default_id: &str,
) -> Result<Vec<OffsetDateTime>, String> {
    #[derive(Deserialize)]
    struct At {
        at: String,
    }
    let statement = run
        .db
        .prepare(
            "SELECT MIN(created_at) AS at FROM publish_logs AS recent INDEXED BY publish_logs_by_step_time
             WHERE step IN ('publish', 'reconcile') AND created_at > ?1
               AND outcome = 'ok' AND media_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM publish_logs AS earlier INDEXED BY publish_logs_by_media_id
                               WHERE earlier.media_id = recent.media_id
                                 AND earlier.step IN ('publish', 'reconcile')
                                 AND earlier.outcome = 'ok' AND earlier.created_at <= ?1)
               AND EXISTS (SELECT 1 FROM drafts WHERE drafts.id = recent.draft_id
                                                  AND COALESCE(drafts.account_id, ?3) = ?2)
             GROUP BY media_id
             ORDER BY at LIMIT ?4",
        )
        .bind(&[
            time(since),
            JsValue::from_str(account_id),
            JsValue::from_str(default_id),
            JsValue::from_f64(limit as f64),
        ])
        .map_err(|e| e.to_string())?;
    let rows = platform::d1::all(statement)
        .await
        .and_then(|result| result.checked()?.all::<At>())
        .map_err(|e| e.to_string())?;
    Ok(rows
        .iter()
        .filter_map(|row| domain::timestamp::parse_rfc3339(&row.at).ok())
        .collect())
}

fn draft_id(row: &DraftRow) -> Result<DraftId, String> {
    DraftId::parse(&row.id).map_err(|e| e.to_string())
}

/// The publish consumer got a message for an approved draft whose `scheduled_at` is still
/// ahead (a message that arrived early, such as one from before the scheduler queued
/// scheduled posts): it is not published; the same attempt is queued again for its time (at
/// most a queue's longest delay ahead), recorded as the draft's due message. If another
/// message was queued meanwhile, that one stands and this one is dropped.
pub async fn arrived_early(
    ctx: &Ctx<'_>,
    message: &QueueMessage,
    draft: &DraftRow,
    scheduled_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Done, String> {
    let delay = u32::try_from((scheduled_at - now).whole_seconds().max(1))
        .unwrap_or(u32::MAX)
        .min(QUEUE_MAX_DELAY_SECONDS);
    let due_at = now + Duration::seconds(i64::from(delay));
    let change = Change::PublishQueued {
        due_at,
        previous: draft.publish_due_at.as_deref(),
    };
    let queued = ctx
        .store
        .apply(message.id, draft.expected_state(), &change, now)
        .await
        .map_err(|e| e.to_string())?;
    let note = if queued.is_some() {
        let again = QueueMessage {
            requested_at: due_at,
            ..message.clone()
        };
        send(ctx.env, PUBLISH_QUEUE, &again, delay)
            .await
            .map_err(|e| e.to_string())?;
        format!(
            "the post is scheduled for {}; checked again in {delay} s",
            format_rfc3339(scheduled_at)
        )
    } else {
        format!(
            "the post is scheduled for {}; another message is queued for it",
            format_rfc3339(scheduled_at)
        )
    };
    let entry = Entry {
        attempt: message.attempt,
        message: Some(&note),
        ..Entry::default()
    };
    ctx.log
        .insert(message.id, Step::Claim, Outcome::Skipped, &entry, now)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Done::Skipped(note))
}
