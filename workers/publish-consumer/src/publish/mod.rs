//! The publish workflow (the design's `publishWorkflow`) for one `PUBLISH_QUEUE` message, and
//! the failed queue's give-up of a publish: the shell that performs what
//! `domain::publish::Machine` decides.
//!
//! 1. Claim the draft (`approved -> publishing`, or a `publishing` draft whose lease lapsed)
//!    with one conditional write; a live claim, a published or unapproved draft steps aside.
//! 2. Ask the machine, perform its action (a Graph call, or the write that records what must
//!    be known before the next call), feed the outcome back, until it ends the run:
//!    published, deferred (the message queued again), unresolved (the same, and the operator
//!    told the draft needs a look), or given up (`failed`, then one alert).
//!
//! Every write after the claim is conditional on it, every Graph step is a row in
//! `publish_logs` and a child run of the message's trace.

mod early;
mod error;
mod finish;
mod media;
mod post;
mod run;
mod steps;

use domain::draft::{DraftId, Status};
use domain::error_class::ErrorClass;
use domain::message::{Action as MessageAction, QueueMessage};
use domain::publish::Machine;
use platform::clock::{now, random_hex};
use platform::publish_log::{Entry, LogRow, PublishLog};
use platform::schedule::ScheduleStore;
use platform::store::Change;
use platform::store::{DraftRow, DraftStore, applied_row};
use platform::trace::Tracer;
use time::{Duration, OffsetDateTime};
use worker::Env;

pub use self::error::PublishError;
use self::error::crash_point;
use self::post::post_of;
use self::run::{ContainerMade, Run, make_container};
use crate::accounts::{Account, Accounts};
use crate::alert::{self, Alerts, Raised};
use crate::graph::Graph;
use crate::settings::Settings;

/// What the workflow needs, built once per batch.
pub struct Ctx<'a> {
    pub env: &'a Env,
    pub settings: &'a Settings,
    /// The accounts, read (and the settings' account brought in) at the batch's start.
    pub accounts: Accounts,
    pub store: DraftStore,
    pub log: PublishLog,
    pub alerts: Alerts,
    /// The lookups of drafts by the media they published.
    pub lookup: ScheduleStore,
}

impl<'a> Ctx<'a> {
    pub async fn new(env: &'a Env, settings: &'a Settings) -> Result<Self, PublishError> {
        Ok(Self {
            env,
            settings,
            accounts: Accounts::prepare(env, settings, now())
                .await
                .map_err(PublishError::Accounts)?,
            store: DraftStore::from_env(env)?,
            log: PublishLog::from_env(env)?,
            alerts: Alerts::from_env(env)?,
            lookup: ScheduleStore::from_env(env)?,
        })
    }

    /// The draft's account, or why there is none: an error, so the message is retried.
    pub fn account(&self, draft: &DraftRow) -> Result<&Account, PublishError> {
        self.accounts
            .for_draft(draft.account_id.as_deref())
            .ok_or_else(|| match &draft.account_id {
                Some(id) => PublishError::UnknownAccount(id.clone()),
                None => PublishError::NoAccount,
            })
    }
}

/// How a message was handled; every one is acked. An `Err` from [`handle`] is not: the
/// queue retries that message, and finally dead-letters it to `FAILED_QUEUE`.
#[derive(Debug)]
pub enum Done {
    Published,
    Skipped(String),
    /// Another consumer holds a live claim and finishes the draft (or, if it died, the
    /// scheduler queues it again once the lease lapsed).
    Busy,
    /// The container is being processed, the quota is used up, Meta throttles, or whether
    /// the post went out is not known yet: the message is queued again after a delay.
    Waiting,
    /// This attempt failed; the next one is queued.
    Retrying,
    /// The post may be live and its container cannot be read: queued again, the operator
    /// told it needs a look.
    Unresolved,
    /// The draft failed; the operator was alerted.
    Failed,
    /// The claim was lost meanwhile (its lease lapsed and another consumer took over);
    /// whoever holds the draft now finishes it.
    LostClaim,
}

impl Done {
    pub fn label(&self) -> &'static str {
        match self {
            Done::Published => "published",
            Done::Skipped(_) => "skipped",
            Done::Busy => "busy",
            Done::Waiting => "waiting",
            Done::Retrying => "retrying",
            Done::Unresolved => "unresolved",
            Done::Failed => "failed",
            Done::LostClaim => "lost_claim",
        }
    }
}

/// How a run starts: the publish workflow, or the failed queue's give-up with its reason.
pub enum Start {
    /// `container_early`: a run that opens with a new container makes it while the claim is
    /// written. Only for a draft decided on the batch's snapshot and delivered once in it, so
    /// a duplicate delivery makes no container of its own.
    Publish { container_early: bool },
    /// The draft's account cannot publish now: the draft waits with this reason.
    AccountUnavailable(String),
    /// `cause`: the logged failure that led here, which the give-up row names.
    GiveUp {
        reason: String,
        token: bool,
        cause: Option<Box<LogRow>>,
    },
}

/// `snapshot`: the draft as the batch read it (all of a batch's drafts in one round trip).
/// A message is decided on it; if the claim then finds the draft changed, the draft is read
/// again and the message decided again.
pub async fn handle(
    ctx: &Ctx<'_>,
    message: &QueueMessage,
    tracer: &mut Tracer,
    snapshot: Option<DraftRow>,
) -> Result<Done, PublishError> {
    if matches!(
        message.action,
        MessageAction::GenerateImage | MessageAction::FitUploads
    ) {
        return Ok(Done::Skipped("not a publish message".into()));
    }
    let mut snapshot = snapshot;
    loop {
        let read_now = snapshot.is_none();
        let draft = match snapshot.take() {
            Some(draft) => draft,
            None => match ctx.store.get(message.id).await? {
                Some(draft) => draft,
                None => return Ok(Done::Skipped("the draft no longer exists".into())),
            },
        };
        match decide(ctx, message, tracer, draft, read_now).await? {
            Some(done) => return Ok(done),
            // The batch's snapshot was behind: decided again on the draft as it is now.
            None => continue,
        }
    }
}

/// One decision on `draft`; `None` when the claim found the draft changed since a snapshot
/// (`read_now` false) was read.
async fn decide(
    ctx: &Ctx<'_>,
    message: &QueueMessage,
    tracer: &mut Tracer,
    draft: DraftRow,
    read_now: bool,
) -> Result<Option<Done>, PublishError> {
    let started = now();
    let skip = match draft.status() {
        // A message that arrived before the post's time (`early.rs`).
        Status::Approved => match draft.scheduled_at().filter(|at| *at > started) {
            Some(at) => {
                return early::arrived_early(ctx, message, &draft, at, started)
                    .await
                    .map(Some);
            }
            None => None,
        },
        Status::Publishing => match draft.claim_expires_at() {
            Some(lease) if lease > started => {
                return step_aside(ctx, message, &draft).await.map(Some);
            }
            _ => None,
        },
        // A give-up that died between the failure and its alert: the alert, once.
        Status::Failed => {
            let raised = alert_failed(ctx, &draft).await?;
            Some(format!("the draft is failed; {raised}"))
        }
        Status::Published => Some("the draft is already published".to_owned()),
        // Under review or discarded: nobody approved what would be published.
        _ => Some(format!("the draft is {}, not approved", draft.status)),
    };
    if let Some(reason) = skip {
        log_skip(ctx, message, &draft, &reason, started).await?;
        return Ok(Some(Done::Skipped(reason)));
    }
    let start = match ctx.account(&draft)?.unavailable() {
        Some(reason) => Start::AccountUnavailable(reason),
        None => Start::Publish {
            container_early: !read_now,
        },
    };
    match claim_and_run(ctx, message, tracer, &draft, start).await? {
        Some(done) => Ok(Some(done)),
        None if read_now => step_aside(ctx, message, &draft).await.map(Some),
        None => Ok(None),
    }
}

/// Claims `draft` and runs the machine from `start` until it ends the run.
pub async fn run(
    ctx: &Ctx<'_>,
    message: &QueueMessage,
    tracer: &mut Tracer,
    draft: DraftRow,
    start: Start,
) -> Result<Done, PublishError> {
    match claim_and_run(ctx, message, tracer, &draft, start).await? {
        Some(done) => Ok(done),
        // Another delivery claimed it between the read and the claim.
        None => step_aside(ctx, message, &draft).await,
    }
}

/// [`run`], or `None` when the claim's conditions no longer held: the draft changed since
/// it was read.
async fn claim_and_run(
    ctx: &Ctx<'_>,
    message: &QueueMessage,
    tracer: &mut Tracer,
    draft: &DraftRow,
    start: Start,
) -> Result<Option<Done>, PublishError> {
    let started = now();
    let account = ctx.account(draft)?;
    let graph = match (&start, Graph::new(ctx.settings, account)) {
        (_, Ok(graph)) => graph,
        // A disconnected account holds no token; its draft only waits, calling nothing.
        (Start::AccountUnavailable(_), Err(_)) => Graph::without_token(ctx.settings, account),
        (_, Err(error)) => return Err(PublishError::Token(error)),
    };
    let Some(claimed) = claim(ctx, message, tracer, draft, &start, &graph, started).await? else {
        return Ok(None);
    };
    let mut run = Run {
        ctx,
        graph: &graph,
        account: account.id(),
        tracer,
        message,
        id: message.id,
        claim: claimed.claim,
        row: claimed.row,
        attempt: claimed.attempt,
        graph_calls: 0,
        last_failure: None,
        cause: None,
        pending: Vec::new(),
        permalink: None,
        early_container: claimed.early_container,
    };
    let mut done = match run.run(start).await {
        Err(PublishError::LostClaim) => Ok(Done::LostClaim),
        other => other,
    };
    if let Err(error) = run.flush().await
        && done.is_ok()
    {
        done = Err(error);
    }
    let duration = (now() - started).whole_milliseconds() as f64;
    let label = done.as_ref().map_or("error", Done::label);
    platform::metrics::record_publish_attempt(
        ctx.env,
        &message.id.to_string(),
        run.attempt,
        label,
        "",
        duration,
        run.graph_calls,
    );
    done.map(Some)
}

/// A claim won: the row as the claim wrote it, the claim's id, the attempt it runs, and the
/// container made meanwhile, if the run opens with one.
struct Claimed {
    row: DraftRow,
    claim: String,
    attempt: u32,
    early_container: Option<ContainerMade>,
}

/// Claims `draft` with a lease (the claim and its log row in one round trip; the row is
/// written only if the claim won); `None` when its conditions no longer held.
async fn claim(
    ctx: &Ctx<'_>,
    message: &QueueMessage,
    tracer: &mut Tracer,
    draft: &DraftRow,
    start: &Start,
    graph: &Graph,
    started: OffsetDateTime,
) -> Result<Option<Claimed>, PublishError> {
    let claim = random_hex::<16>();
    let lease_until = started + Duration::seconds(i64::from(ctx.settings.lease_seconds));
    let note = match (start, draft.status()) {
        (Start::GiveUp { .. }, _) => {
            "claimed by the failed queue, to give up only if nothing is live"
        }
        (_, Status::Publishing) => "claimed again: the earlier claim's lease lapsed",
        _ => "claimed",
    };
    let change = Change::ClaimPublish {
        claim: &claim,
        lease_until,
        now: started,
    };
    let attempt = draft.publish_record().attempts_spent + 1;
    let claimed = async {
        let statements = vec![
            ctx.store
                .apply_statement(message.id, draft.expected_state(), &change, started)?,
            ctx.log
                .claimed_statement(message.id, attempt, &claim, note, started)?,
        ];
        let results = ctx.store.batch(statements).await?;
        crash_point(ctx.settings, message.id, "ClaimPublish")?;
        Ok::<_, PublishError>(results.first().map(applied_row).transpose()?.flatten())
    };
    // A run that opens with a new container makes it while the claim is written: one round
    // trip less per draft. The claim's conditions are the snapshot's, so a claim that holds
    // holds for the text the container was made from.
    let early_post = match start {
        Start::Publish {
            container_early: true,
        } if Machine::opens_with_container(&draft.publish_record()) => {
            post_of(draft, ctx.settings).ok()
        }
        _ => None,
    };
    let early = async {
        match &early_post {
            Some(post) => Some(make_container(graph, tracer, post).await),
            None => None,
        }
    };
    let (claimed, early_container) = futures::join!(claimed, early);
    Ok(claimed?.map(|row| Claimed {
        row,
        claim,
        attempt,
        early_container,
    }))
}

async fn log_skip(
    ctx: &Ctx<'_>,
    message: &QueueMessage,
    draft: &DraftRow,
    reason: &str,
    at: OffsetDateTime,
) -> Result<(), PublishError> {
    let entry = Entry {
        attempt: message.attempt,
        message: Some(reason),
        container_id: draft.container_id.as_deref(),
        media_id: draft.media_id.as_deref(),
        ..Entry::default()
    };
    ctx.log.claim_skipped(message.id, &entry, at).await?;
    Ok(())
}

/// A live claim holds the draft: this delivery steps aside and queues nothing, so duplicate
/// deliveries never multiply the work. If the holder died, the scheduler's recovery queues
/// the draft again once the lease lapsed (`scheduler::posts`).
async fn step_aside(
    ctx: &Ctx<'_>,
    message: &QueueMessage,
    draft: &DraftRow,
) -> Result<Done, PublishError> {
    let note = "another consumer holds the claim and finishes the draft";
    log_skip(ctx, message, draft, note, now()).await?;
    Ok(Done::Busy)
}

/// The failed draft's alert, once per failure (deduplicated in D1 `operator_alerts`).
pub async fn alert_failed(ctx: &Ctx<'_>, draft: &DraftRow) -> Result<String, PublishError> {
    let id = DraftId::parse(&draft.id)?;
    let last = ctx.log.last_failure(id).await?;
    let token = last
        .as_ref()
        .is_some_and(|row| row.error_class.as_deref() == Some(ErrorClass::TokenInvalid.as_str()));
    let account = ctx.accounts.name_of(draft.account_id.as_deref());
    let raised = alert::draft_failed(&ctx.alerts, draft, token, &account).await?;
    Ok(match raised {
        Raised::Sent => "the operator was alerted".into(),
        Raised::AlreadySent { count } => {
            format!("the operator was already alerted ({count} occurrences)")
        }
    })
}
