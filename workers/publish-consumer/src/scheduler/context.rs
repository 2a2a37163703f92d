//! What the scheduler's tasks share: the settings, the run (its clock, bindings, accounts),
//! the report each task adds to, and what can stop a task.

use domain::draft::{DraftId, InvalidDraftId};
use platform::config::{number, or_default};
use platform::d1::Usage;
use platform::schedule::ScheduleStore;
use platform::scheduler_tasks::Tasks;
use platform::store::{Change, DraftRow, DraftStore, StoreError};
use serde::Serialize;
use std::rc::Rc;
use time::{Duration, OffsetDateTime};
use worker::Env;

use crate::accounts::{Accounts, AccountsError};
use crate::alert::{AlertError, Alerts, WebhookError};
use crate::graph::Failure;
use crate::settings::{LOCAL_MEDIA_BASE_URL, Settings, SettingsError};

/// Drafts looked at per task and run; the rest wait for the next run.
pub const PER_RUN: u32 = 50;

/// Why a run could not start: no task runs; the next run tries again.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// A scheduler setting cannot be used.
    #[error(transparent)]
    Settings(SettingsError),
    /// A binding (D1, KV, a queue) is missing.
    #[error(transparent)]
    Binding(#[from] worker::Error),
}

/// Why the tasks that call Instagram cannot run; the others do.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// The publishing settings cannot be used.
    #[error(transparent)]
    Settings(SettingsError),
    /// The accounts could not be brought in or read.
    #[error(transparent)]
    Accounts(AccountsError),
}

/// Why a task stopped; the run goes on with the next task, and the next run tries again.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The publishing settings or the accounts are not usable: only the tasks that call
    /// Instagram stop.
    #[error("{0}")]
    Unavailable(Rc<Unavailable>),
    /// D1, R2, KV or a queue failed.
    #[error(transparent)]
    Worker(#[from] worker::Error),
    #[error(transparent)]
    BadId(#[from] InvalidDraftId),
    /// A conditional write of a draft failed (not: found the draft changed).
    #[error("draft {id}: {doing}: {error}")]
    Draft {
        id: DraftId,
        doing: &'static str,
        error: StoreError,
    },
    #[error(
        "draft {id}: sending its publish message failed ({error}); it is queued again once overdue"
    )]
    PublishNotSent { id: DraftId, error: worker::Error },
    #[error("draft {id}: sending generate_image failed: {error}")]
    ImageNotSent { id: DraftId, error: worker::Error },
    /// The operator's alert could not be sent; it is raised again by the next run.
    #[error(transparent)]
    Alert(#[from] AlertError),
    #[error("the reminder digest was not sent ({0}); the next run tries again")]
    DigestNotSent(WebhookError),
    #[error("the daily token check got no answer: {}", joined(.0))]
    NoAnswer(Vec<AccountFailure>),
    /// Some accounts' work failed, each said; the others' was done.
    #[error("{}", joined(.0))]
    Accounts(Vec<AccountFailure>),
}

/// What went wrong with one account's work in a task (the account by its label).
#[derive(Debug, thiserror::Error)]
pub enum AccountFailure {
    /// Its token, sealed by a key still held, did not open to be sealed again.
    #[error("the token of {account}: {error}")]
    NotOpened {
        account: String,
        error: vault::OpenError,
    },
    /// The refresh's claim lapsed before the new token was stored; the old one stays.
    #[error(
        "{account}: the refreshed token came after the claim lapsed; the next run refreshes again"
    )]
    ClaimLapsed { account: String },
    /// The Graph API gave no answer about it.
    #[error("{account}: {failure}")]
    NoAnswer { account: String, failure: Failure },
    /// What the operator had to hear about it was not sent; the next run raises it again.
    #[error(transparent)]
    NotAlerted(AlertError),
}

fn joined(failures: &[AccountFailure]) -> String {
    let each: Vec<String> = failures.iter().map(ToString::to_string).collect();
    each.join("; ")
}

impl TaskError {
    /// `Ok` when nothing failed, else the accounts' failures as one error.
    pub fn of_accounts(errors: Vec<AccountFailure>) -> Result<(), TaskError> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(TaskError::Accounts(errors))
        }
    }
}

impl Run<'_> {
    /// Applies `change` to the draft `row` as read, at the run's time: `Some` with the new
    /// row when it won, `None` when the draft changed meanwhile. `doing` names the write in
    /// the error.
    pub async fn apply(
        &self,
        row: &DraftRow,
        change: &Change<'_>,
        doing: &'static str,
    ) -> Result<Option<DraftRow>, TaskError> {
        let id = DraftId::parse(&row.id)?;
        self.store
            .apply(id, row.expected_state(), change, self.now)
            .await
            .map_err(|error| TaskError::Draft { id, doing, error })
    }

    /// Frees the periodic `task` this run claimed: recorded as done when its work succeeded
    /// (`done`), else released at once for the next run. A failure to free it is reported
    /// as freeing `what`; its lease frees it anyway.
    pub async fn free_task(
        &self,
        task: &str,
        claim: &str,
        done: bool,
        what: &str,
        report: &mut Report,
    ) {
        let freed = if done {
            self.tasks.finish(task, claim, self.now).await
        } else {
            self.tasks.release(task, claim).await
        };
        if let Err(error) = freed {
            report.errors.push(format!("freeing {what}: {error}"));
        }
    }

    /// The publishing settings, or why the tasks that call Instagram cannot run.
    pub fn publishing(&self) -> Result<(&Settings, &Accounts), TaskError> {
        let unavailable = |e: &Rc<Unavailable>| TaskError::Unavailable(Rc::clone(e));
        let accounts = self.accounts.as_ref().map_err(unavailable)?;
        // The accounts are read only with usable settings: never `Err` here.
        let settings = self
            .publish
            .as_ref()
            .map_err(|e| TaskError::Unavailable(Rc::new(Unavailable::Settings(e.clone()))))?;
        Ok((settings, accounts))
    }
}

/// The scheduler's settings, from `[vars]`.
pub struct ScheduleSettings {
    /// A publish message overdue, or a claim lapsed, this long counts as lost
    /// (`PUBLISH_LOST_AFTER_MINUTES`).
    pub lost_after: Duration,
    /// An image pending this long since it was asked for is asked again
    /// (`IMAGE_STUCK_MINUTES`)...
    pub image_stuck: Duration,
    /// ... and failed once asked this many times (`IMAGE_MAX_REQUESTS`).
    pub image_max_requests: u32,
    /// A draft waiting for review longer than this is reminded (`REMIND_AFTER_HOURS`) ...
    pub remind_after: Duration,
    /// ... at most once per this (`REMIND_EVERY_HOURS`).
    pub remind_every: Duration,
    /// Where the review pages are (`REVIEW_BASE_URL`, else `PUBLIC_MEDIA_BASE_URL`: the api
    /// Worker's public origin).
    pub review_base_url: String,
    /// Images no draft points at are removed once this old (`ORPHAN_IMAGE_GRACE_MINUTES`).
    pub orphan_image_grace_minutes: i64,
    /// The api's `LLM_TIMEOUT_MS`: a textless draft younger than its generate lease may still
    /// get its text.
    pub llm_timeout_ms: u64,
}

impl ScheduleSettings {
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let number = |name: &str, default: i64| {
            number(env, name, default).map_err(SettingsError::NotANumber)
        };
        let minutes = |name: &str, default: i64| -> Result<Duration, SettingsError> {
            Ok(Duration::minutes(number(name, default)?.max(1)))
        };
        let hours = |name: &str, default: i64| -> Result<Duration, SettingsError> {
            Ok(Duration::hours(number(name, default)?.max(1)))
        };
        let media_base = or_default(env, "PUBLIC_MEDIA_BASE_URL", LOCAL_MEDIA_BASE_URL);
        Ok(Self {
            lost_after: minutes("PUBLISH_LOST_AFTER_MINUTES", 10)?,
            image_stuck: minutes("IMAGE_STUCK_MINUTES", 15)?,
            image_max_requests: platform::config::number(env, "IMAGE_MAX_REQUESTS", 3u32)
                .map_err(SettingsError::NotANumber)?
                .max(1),
            remind_after: hours("REMIND_AFTER_HOURS", 24)?,
            remind_every: hours("REMIND_EVERY_HOURS", 24)?,
            review_base_url: or_default(env, "REVIEW_BASE_URL", &media_base)
                .trim_end_matches('/')
                .to_owned(),
            orphan_image_grace_minutes: number("ORPHAN_IMAGE_GRACE_MINUTES", 60)?.max(0),
            llm_timeout_ms: platform::config::number(env, "LLM_TIMEOUT_MS", 30_000u64)
                .map_err(SettingsError::NotANumber)?,
        })
    }
}

/// What one run did. Also its trace's outputs and, as numbers, its Analytics Engine point.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Approved drafts whose time had come with nothing queued.
    pub due: usize,
    pub queued: usize,
    pub held: usize,
    /// Places left in the publishing quota's window when it was read.
    pub quota_free: Option<i64>,
    pub lost_requeued: usize,
    pub stuck_requeued: usize,
    pub images_asked_again: usize,
    pub images_failed: usize,
    pub digests_sent: usize,
    pub reminded: usize,
    pub keys_purged: usize,
    pub sessions_purged: usize,
    pub textless_finished: usize,
    pub textless_removed: usize,
    pub images_removed: usize,
    /// The daily token check's finding, when it ran: `ok`, `invalid`, `unknown` (the worst
    /// of the accounts').
    pub token: Option<&'static str>,
    pub token_expiring: bool,
    pub tokens_refreshed: usize,
    pub token_refreshes_failed: usize,
    pub accounts_need_reconnect: usize,
    /// Tokens sealed again with the current key.
    pub tokens_resealed: usize,
    pub errors: Vec<String>,
}

impl Report {
    /// The Analytics Engine doubles, in this order; the last two are the run's D1 rows read
    /// and written.
    pub fn counts(&self, duration_ms: f64, d1: Usage) -> [f64; 18] {
        let n = |v: usize| v as f64;
        [
            n(self.due),
            n(self.queued),
            n(self.held),
            n(self.lost_requeued),
            n(self.stuck_requeued),
            n(self.images_asked_again),
            n(self.images_failed),
            n(self.digests_sent),
            n(self.reminded),
            n(self.keys_purged),
            n(self.sessions_purged),
            n(self.textless_finished),
            n(self.textless_removed),
            n(self.images_removed),
            n(self.errors.len()),
            duration_ms,
            d1.rows_read as f64,
            d1.rows_written as f64,
        ]
    }
}

/// What the tasks of one run share.
pub struct Run<'a> {
    pub env: &'a Env,
    /// The run's clock: the event's scheduled time.
    pub now: OffsetDateTime,
    pub settings: ScheduleSettings,
    /// The publishing settings (the Graph API): `Err` when misconfigured, which stops only
    /// the tasks that call Instagram.
    pub publish: Result<Settings, SettingsError>,
    /// The accounts (the settings' account brought in first): `Err` when they cannot be read
    /// or the key is missing, which stops only the tasks that call Instagram.
    pub accounts: Result<Accounts, Rc<Unavailable>>,
    pub store: DraftStore,
    /// The tasks' selections of drafts.
    pub select: ScheduleStore,
    pub alerts: Alerts,
    pub tasks: Tasks,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run's report and log carry these words; the end-to-end tests read some of them.
    #[test]
    fn a_task_error_says_which_draft_and_what_was_being_done() {
        let id = DraftId::parse("123e4567-e89b-42d3-a456-426614174000").unwrap();
        let d1 = || worker::Error::RustError("D1_ERROR: busy".into());
        assert_eq!(
            TaskError::Draft {
                id,
                doing: "holding it",
                error: StoreError::D1(d1()),
            }
            .to_string(),
            format!("draft {id}: holding it: D1: D1_ERROR: busy")
        );
        assert_eq!(
            TaskError::PublishNotSent { id, error: d1() }.to_string(),
            format!(
                "draft {id}: sending its publish message failed (D1_ERROR: busy); it is queued again once overdue"
            )
        );
        let no_answer = |account: &str, reason: &str| AccountFailure::NoAnswer {
            account: account.into(),
            failure: Failure::NoAnswer(reason.into()),
        };
        assert_eq!(
            TaskError::NoAnswer(vec![no_answer("@a", "x"), no_answer("@b", "y")]).to_string(),
            "the daily token check got no answer: @a: no answer from the Graph API: x; @b: no answer from the Graph API: y"
        );
        assert_eq!(TaskError::of_accounts(Vec::new()).ok(), Some(()));
        let lapsed = AccountFailure::ClaimLapsed {
            account: "@a".into(),
        };
        let not_opened = AccountFailure::NotOpened {
            account: "@b".into(),
            error: vault::OpenError::Refused,
        };
        assert_eq!(
            TaskError::of_accounts(vec![lapsed, not_opened])
                .unwrap_err()
                .to_string(),
            format!(
                "@a: the refreshed token came after the claim lapsed; the next run refreshes again; the token of @b: {}",
                vault::OpenError::Refused
            )
        );
    }
}
