//! The scheduler's reminders: drafts waiting for review longer than `REMIND_AFTER_HOURS` go to
//! the operator webhook as one digest per run (count, the oldest, links to their review
//! pages), then each is marked reminded, and is not reminded again for `REMIND_EVERY_HOURS`.
//! A webhook that fails marks nothing: the next run tries again. The task is claimed in
//! `scheduler_tasks`, so overlapping runs send one digest.

use domain::draft::DraftId;
use platform::clock::random_hex;
use platform::scheduler_tasks::REMINDERS;
use platform::store::Change;
use time::Duration;

use super::context::{Report, Run, TaskError};
use super::plan::{self, Waiting};

/// Drafts in one digest at most (a run reads and marks each): more wait for the next run's
/// digest.
const PER_DIGEST: u32 = 100;
/// How long a run may hold the task.
const LEASE: Duration = Duration::minutes(5);

pub async fn remind(run: &Run<'_>, report: &mut Report) -> Result<(), TaskError> {
    let claim = random_hex::<12>();
    let claimed = run
        .tasks
        .claim(REMINDERS, &claim, run.now, run.now + LEASE, None)
        .await?;
    if !claimed {
        return Ok(());
    }
    let result = digest(run, report).await;
    run.free_task(
        REMINDERS,
        &claim,
        result.is_ok(),
        "the reminders task",
        report,
    )
    .await;
    result
}

async fn digest(run: &Run<'_>, report: &mut Report) -> Result<(), TaskError> {
    let settings = &run.settings;
    // Two ranges of the index of drafts under review by reminder and age (migration 0009):
    // never reminded and old enough (in index order), and reminded long enough ago. Rows
    // read are the drafts due a reminder, not every draft waiting. They are merged here: a
    // sort in D1 reads every row again.
    let mut waiting = run
        .select
        .due_reminders(
            run.now - settings.remind_after,
            run.now - settings.remind_every,
            PER_DIGEST,
        )
        .await?;
    waiting.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
    waiting.truncate(PER_DIGEST as usize);
    if waiting.is_empty() {
        return Ok(());
    }
    let listed: Vec<Waiting> = waiting
        .iter()
        .map(|row| Waiting {
            id: row.id.clone(),
            created_at: row.created_at.clone(),
        })
        .collect();
    let after_hours = u32::try_from(settings.remind_after.whole_hours()).unwrap_or(0);
    let text = plan::digest(&listed, &settings.review_base_url, after_hours);
    run.alerts
        .notify(&text)
        .await
        .map_err(TaskError::DigestNotSent)?;
    report.digests_sent += 1;
    for row in &waiting {
        let id = DraftId::parse(&row.id)?;
        let change = Change::Reminded {
            previous: row.reminded_at.as_deref(),
        };
        match run
            .store
            .apply(id, row.expected_state(), &change, run.now)
            .await
        {
            Ok(Some(_)) => report.reminded += 1,
            // Reviewed meanwhile: nothing to mark.
            Ok(None) => {}
            Err(e) => report
                .errors
                .push(format!("draft {id}: marking it reminded: {e}")),
        }
    }
    Ok(())
}
