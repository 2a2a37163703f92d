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

use domain::change::Deferral;
use domain::content::{HARD_MAX_HASHTAGS, PostText};
use domain::draft::{DraftId, Status};
use domain::message::{Action as MessageAction, QueueMessage};
use domain::publish::{Action, Machine, Outcome as Learned, Trouble};
use observe::langsmith::RunType;
use platform::clock::{now, random_hex, random_u64};
use platform::d1::Rows;
use platform::publish_log::{Entry, LogRow, Outcome, PublishLog, Step};
use platform::queue::{FAILED_QUEUE, PUBLISH_QUEUE, send};
use platform::store::{Change, DraftRow, DraftStore, StoreError, applied_row};
use platform::trace::Tracer;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

use crate::accounts::{Account, Accounts};
use crate::alert::{Alerts, Raised, token_invalid_kind};
use crate::graph::{Failure, Graph};
use crate::settings::Settings;

/// Media per page of the account's recent media, and pages read at most, when a post whose
/// answer was lost is looked for. The lookup stops at the first post older than the send, so
/// it reads only what went out since; 1,000 posts is ten days of the publishing quota.
const MEDIA_PAGE: u32 = 50;
const MEDIA_PAGES: u32 = 20;
/// A post's timestamp on Instagram may be a little earlier than the time the call was sent
/// from here (clocks differ).
const CLOCK_SLACK: Duration = Duration::minutes(2);

/// What the workflow needs, built once per batch.
pub struct Ctx<'a> {
    pub env: &'a Env,
    pub settings: &'a Settings,
    /// The accounts, read (and the settings' account brought in) at the batch's start.
    pub accounts: Accounts,
    pub store: DraftStore,
    pub log: PublishLog,
    pub alerts: Alerts,
    pub db: D1Database,
}

impl<'a> Ctx<'a> {
    pub async fn new(env: &'a Env, settings: &'a Settings) -> Result<Self, String> {
        let text = |e: worker::Error| e.to_string();
        Ok(Self {
            env,
            settings,
            accounts: Accounts::prepare(env, settings, now()).await?,
            store: DraftStore::from_env(env).map_err(text)?,
            log: PublishLog::from_env(env).map_err(text)?,
            alerts: Alerts::from_env(env).map_err(text)?,
            db: env.d1(platform::store::DB_BINDING).map_err(text)?,
        })
    }

    /// The draft's account, or why there is none: an error, so the message is retried.
    pub fn account(&self, draft: &DraftRow) -> Result<&Account, String> {
        self.accounts
            .for_draft(draft.account_id.as_deref())
            .ok_or_else(|| match &draft.account_id {
                Some(id) => format!("the draft's account {id} is not in D1 accounts"),
                None => "no account is connected: the draft has nowhere to go".to_owned(),
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

/// Why a run stopped before its machine ended it.
enum Halt {
    /// A write found its conditions gone: another consumer holds the draft now.
    LostClaim,
    /// D1 or the queue failed; the message is retried by the queue.
    Store(String),
    /// The run stopped dead at a crash point (`PUBLISH_CRASH_AFTER`, simulator only).
    Crash(String),
}

impl From<StoreError> for Halt {
    fn from(error: StoreError) -> Self {
        Halt::Store(error.to_string())
    }
}

impl From<worker::Error> for Halt {
    fn from(error: worker::Error) -> Self {
        Halt::Store(error.to_string())
    }
}

/// How a run starts: the publish workflow, or the failed queue's give-up with its reason.
pub enum Start {
    Publish,
    /// The draft's account cannot publish now: the draft waits with this reason.
    AccountUnavailable(String),
    /// `cause`: the logged failure that led here, which the give-up row names.
    GiveUp {
        reason: String,
        token: bool,
        cause: Option<Box<LogRow>>,
    },
}

/// What Instagram receives: the approved snapshot, nothing else.
struct Post {
    caption: String,
    alt_text: String,
    image_url: String,
}

/// `snapshot`: the draft as the batch read it (all of a batch's drafts in one round trip).
/// A message is decided on it; if the claim then finds the draft changed, the draft is read
/// again and the message decided again.
pub async fn handle(
    ctx: &Ctx<'_>,
    message: &QueueMessage,
    tracer: &mut Tracer,
    snapshot: Option<DraftRow>,
) -> Result<Done, String> {
    if message.action == MessageAction::GenerateImage {
        return Ok(Done::Skipped("not a publish message".into()));
    }
    let mut snapshot = snapshot;
    loop {
        let read_now = snapshot.is_none();
        let draft = match snapshot.take() {
            Some(draft) => draft,
            None => match ctx.store.get(message.id).await.map_err(|e| e.to_string())? {
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
) -> Result<Option<Done>, String> {
    let started = now();
    let skip = match draft.status() {
        // A message that arrived before the post's time (the scheduler's side, posts.rs).
        Status::Approved => match draft.scheduled_at().filter(|at| *at > started) {
            Some(at) => {
                return crate::posts::arrived_early(ctx, message, &draft, at, started)
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
        None => Start::Publish,
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
) -> Result<Done, String> {
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
) -> Result<Option<Done>, String> {
    let started = now();
    let account = ctx.account(draft)?;
    let graph = match (&start, Graph::new(ctx.settings, account)) {
        (_, Ok(graph)) => graph,
        // A disconnected account holds no token; its draft only waits, calling nothing.
        (Start::AccountUnavailable(_), Err(_)) => Graph::without_token(ctx.settings, account),
        (_, Err(error)) => return Err(error),
    };
    let claim = random_hex::<16>();
    let lease_until = started + Duration::seconds(i64::from(ctx.settings.lease_seconds));
    let note = match (&start, draft.status()) {
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
    // The claim and its log row in one round trip; the row is written only if the claim won.
    let claimed = async {
        let statements = vec![
            ctx.store
                .apply_statement(message.id, draft.expected_state(), &change, started)?,
            ctx.log
                .claimed_statement(message.id, attempt, &claim, note, started)?,
        ];
        let results = ctx.store.batch(statements).await?;
        crash_point(ctx.settings, message.id, "ClaimPublish")?;
        Ok::<_, Halt>(results.first().map(applied_row).transpose()?.flatten())
    };
    // A run that opens with a new container makes it while the claim is written: one round
    // trip less per draft. The claim's conditions are the snapshot's, so a claim that holds
    // holds for the text the container was made from.
    let early_post = match start {
        Start::Publish if Machine::opens_with_container(&draft.publish_record()) => {
            post_of(draft, ctx.settings).ok()
        }
        _ => None,
    };
    let early = async {
        match &early_post {
            Some(post) => Some(make_container(&graph, tracer, post).await),
            None => None,
        }
    };
    let (claimed, early_container) = futures::join!(claimed, early);
    let claimed = claimed.map_err(|halt| describe(&halt))?;
    let Some(claimed) = claimed else {
        return Ok(None);
    };

    let mut run = Run {
        ctx,
        graph: &graph,
        account: account.id(),
        tracer,
        message,
        id: message.id,
        claim,
        row: claimed,
        attempt,
        graph_calls: 0,
        last_failure: None,
        cause: None,
        pending: Vec::new(),
        permalink: None,
        early_container,
    };
    let result = run.run(start).await;
    let mut done = match result {
        Ok(done) => Ok(done),
        Err(Halt::LostClaim) => Ok(Done::LostClaim),
        Err(halt) => Err(describe(&halt)),
    };
    if let Err(halt) = run.flush().await
        && done.is_ok()
    {
        done = Err(describe(&halt));
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

async fn log_skip(
    ctx: &Ctx<'_>,
    message: &QueueMessage,
    draft: &DraftRow,
    reason: &str,
    at: OffsetDateTime,
) -> Result<(), String> {
    let entry = Entry {
        attempt: message.attempt,
        message: Some(reason),
        container_id: draft.container_id.as_deref(),
        media_id: draft.media_id.as_deref(),
        ..Entry::default()
    };
    ctx.log
        .insert(message.id, Step::Claim, Outcome::Skipped, &entry, at)
        .await
        .map_err(|e| e.to_string())
}

/// A live claim holds the draft: this delivery steps aside and queues nothing, so duplicate
/// deliveries never multiply the work. If the holder died, the scheduler's recovery queues
/// the draft again once the lease lapsed (posts.rs).
async fn step_aside(
    ctx: &Ctx<'_>,
    message: &QueueMessage,
    draft: &DraftRow,
) -> Result<Done, String> {
    let note = "another consumer holds the claim and finishes the draft";
    log_skip(ctx, message, draft, note, now()).await?;
    Ok(Done::Busy)
}

/// The failed draft's alert, once per failure (deduplicated in D1 `operator_alerts`).
pub async fn alert_failed(ctx: &Ctx<'_>, draft: &DraftRow) -> Result<String, String> {
    let last = ctx
        .log
        .last_failure(DraftId::parse(&draft.id).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    let token = last
        .as_ref()
        .is_some_and(|row| row.error_class.as_deref() == Some("token_invalid"));
    let account = ctx.accounts.name_of(draft.account_id.as_deref());
    let raised = crate::alert::draft_failed(&ctx.alerts, draft, token, &account).await?;
    Ok(match raised {
        Raised::Sent => "the operator was alerted".into(),
        Raised::AlreadySent { count } => {
            format!("the operator was already alerted ({count} occurrences)")
        }
    })
}

/// The same attempt again, stamped with the time it is due so that queue latency does not
/// count the wait.
fn again(message: &QueueMessage, attempt: u32, at: OffsetDateTime, delay: u32) -> QueueMessage {
    let action = if attempt > 1 {
        MessageAction::Retry
    } else {
        MessageAction::Publish
    };
    QueueMessage {
        action,
        attempt,
        requested_at: at + Duration::seconds(i64::from(delay)),
        ..message.clone()
    }
}

/// The approved snapshot as Instagram receives it, or why it breaks a rule today.
fn post_of(row: &DraftRow, settings: &Settings) -> Result<Post, String> {
    let raw = row
        .approved_text()
        .ok_or("the draft has no approved text")?;
    let text = PostText::parse(&raw, HARD_MAX_HASHTAGS).map_err(|errors| {
        let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!(
            "the approved text breaks Instagram's rules: {}",
            reasons.join("; ")
        )
    })?;
    let key = row
        .approved_image_key
        .as_deref()
        .ok_or("the draft has no approved image")?;
    Ok(Post {
        caption: text.instagram_caption(),
        alt_text: text.alt_text.as_ref().to_owned(),
        image_url: settings.image_url(key),
    })
}

/// A permalink read: the link or why not, and how long the call took (ms).
type PermalinkRead = (Result<String, Failure>, i64);

/// One claimed run.
struct Run<'a, 't> {
    ctx: &'a Ctx<'a>,
    /// The Graph API as the draft's account.
    graph: &'a Graph,
    /// The draft's account's id, for its token alert.
    account: &'a str,
    tracer: &'t mut Tracer,
    message: &'a QueueMessage,
    id: DraftId,
    claim: String,
    /// The row as this run last wrote it.
    row: DraftRow,
    /// This run's attempt within the approval, counted from 1.
    attempt: u32,
    graph_calls: u32,
    /// The run's last failed Graph call: a give-up names its class and code.
    last_failure: Option<Failure>,
    /// For the failed queue's give-up: the logged failure that led to it.
    cause: Option<Box<LogRow>>,
    /// Log rows (and a new container's record) not written yet: they go with the run's next
    /// write, saving a round trip.
    pending: Vec<D1PreparedStatement>,
    /// The permalink read beside the write that recorded the media id, for that media id.
    permalink: Option<(String, PermalinkRead)>,
    /// The container made while the claim was written, for the run's opening action.
    early_container: Option<ContainerMade>,
}

impl Run<'_, '_> {
    async fn run(&mut self, start: Start) -> Result<Done, Halt> {
        let record = self.row.publish_record();
        let at = now();
        let (mut machine, mut action) = match start {
            Start::Publish => Machine::start(
                self.ctx.settings.policy(),
                record,
                self.post().err(),
                at,
                random_u64(),
            ),
            Start::AccountUnavailable(reason) => Machine::account_unavailable(
                self.ctx.settings.policy(),
                record,
                reason,
                at,
                random_u64(),
            ),
            Start::GiveUp {
                reason,
                token,
                cause,
            } => {
                self.cause = cause;
                Machine::give_up(
                    self.ctx.settings.policy(),
                    record,
                    reason,
                    token,
                    at,
                    random_u64(),
                )
            }
        };
        loop {
            let outcome = match action {
                Action::CreateContainer => self.create_container().await?,
                Action::ReadStatus { container_id } => self.read_status(&container_id).await?,
                Action::RecordSent { container_id } => {
                    let claim = self.claim.clone();
                    let change = Change::PublishSent {
                        claim: &claim,
                        container_id: &container_id,
                        at: now(),
                    };
                    self.write(&change, Vec::new()).await?;
                    Learned::Recorded
                }
                Action::Publish { container_id } => self.publish(&container_id).await?,
                Action::FindMedia { since } => self.find_media(since).await?,
                Action::Succeed {
                    media_id,
                    found,
                    note,
                } => return self.succeed(media_id.as_deref(), found, &note).await,
                Action::Defer {
                    deferral,
                    delay,
                    reason,
                } => {
                    let sent_not_live = machine.sent_not_live();
                    return self.defer(deferral, delay, &reason, sent_not_live).await;
                }
                Action::Unresolved {
                    delay,
                    reason,
                    alert,
                } => return self.unresolved(delay, &reason, alert).await,
                Action::GiveUp { reason, token } => return self.give_up(&reason, token).await,
            };
            action = machine.next(outcome);
        }
    }

    fn post(&self) -> Result<Post, String> {
        post_of(&self.row, self.ctx.settings)
    }

    async fn create_container(&mut self) -> Result<Learned, Halt> {
        let made = match self.early_container.take() {
            Some(made) => made,
            None => {
                // The machine asks for a container only when the snapshot is valid.
                let post = self.post().map_err(Halt::Store)?;
                make_container(self.graph, self.tracer, &post).await
            }
        };
        self.graph_calls += 1;
        self.crash_point("create_container")?;
        let ContainerMade {
            result,
            duration,
            started,
        } = made;
        let container_id = match result {
            Ok(id) => id,
            Err(failure) => {
                self.log_failure(Step::Container, &failure, None).await?;
                return Ok(Learned::Failed(failure.trouble()));
            }
        };
        let claim = self.claim.clone();
        let change = Change::ContainerCreated {
            claim: &claim,
            container_id: &container_id,
        };
        let entry = Entry {
            container_id: Some(&container_id),
            duration_ms: Some(duration),
            ..self.entry()
        };
        // Written with the run's next write (the send's record, or the deferral), saving a
        // round trip: a container lost with a run that died first was never sent, and a new
        // one is made.
        let log = self.ctx.log.insert_statement(
            self.id,
            Step::Container,
            Outcome::Ok,
            &entry,
            started,
        )?;
        let apply =
            self.ctx
                .store
                .apply_statement(self.id, self.row.expected_state(), &change, now())?;
        self.pending.extend([log, apply]);
        Ok(Learned::Created { container_id })
    }

    async fn read_status(&mut self, container_id: &str) -> Result<Learned, Halt> {
        let graph = self.graph;
        let (result, duration) = self
            .traced(
                "container_status",
                json!({ "containerId": container_id }),
                graph.container_status(container_id),
                |status| json!({ "statusCode": status.status_code() }),
            )
            .await?;
        match result {
            Ok(status) => {
                let entry = Entry {
                    message: Some(status.status_code()),
                    container_id: Some(container_id),
                    duration_ms: Some(duration),
                    ..self.entry()
                };
                let row = self.ctx.log.insert_statement(
                    self.id,
                    Step::Status,
                    Outcome::Ok,
                    &entry,
                    now(),
                )?;
                self.pending.push(row);
                Ok(Learned::Status(status.reading()))
            }
            Err(failure) => {
                self.log_failure(Step::Status, &failure, Some(container_id))
                    .await?;
                Ok(Learned::Failed(failure.trouble()))
            }
        }
    }

    async fn publish(&mut self, container_id: &str) -> Result<Learned, Halt> {
        let started = now();
        let graph = self.graph;
        let (result, duration) = self
            .traced(
                "media_publish",
                json!({ "containerId": container_id }),
                graph.publish(container_id),
                |media_id| json!({ "mediaId": media_id }),
            )
            .await?;
        match result {
            Ok(media_id) => {
                // Stored the moment it is known, with its log row.
                let claim = self.claim.clone();
                let change = Change::MediaPublished {
                    claim: &claim,
                    media_id: &media_id,
                };
                let entry = Entry {
                    container_id: Some(container_id),
                    media_id: Some(&media_id),
                    duration_ms: Some(duration),
                    ..self.entry()
                };
                let log = self.ctx.log.insert_statement(
                    self.id,
                    Step::Publish,
                    Outcome::Ok,
                    &entry,
                    started,
                )?;
                let (statements, at) = self.batch_for(&change, vec![log])?;
                // The permalink, read next once the post is live, is read meanwhile: the
                // write's round trip hides behind the Graph call.
                let ctx = self.ctx;
                let (results, link) =
                    futures::join!(ctx.store.batch(statements), self.read_permalink(&media_id));
                self.written(&change, &results?, at)?;
                self.permalink = Some((media_id.clone(), link?));
                Ok(Learned::Published { media_id })
            }
            Err(failure) => {
                self.log_failure(Step::Publish, &failure, Some(container_id))
                    .await?;
                Ok(Learned::Failed(failure.trouble()))
            }
        }
    }

    /// The post among the account's recent media: published at or after `since` (less some
    /// clock slack), with the approved caption, recorded by no other draft; the oldest such
    /// post, as the first sent is the first published. Pages until the posts are older.
    async fn find_media(&mut self, since: Option<OffsetDateTime>) -> Result<Learned, Halt> {
        let caption = match self.post() {
            Ok(post) => post.caption,
            // The snapshot no longer validates: its text as stored is what was sent.
            Err(_) => self
                .row
                .approved_text()
                .map(|raw| raw.instagram_caption())
                .unwrap_or_default(),
        };
        let caption = caption.trim().to_owned();
        let since = since.map(|at| at - CLOCK_SLACK);
        let mut after: Option<String> = None;
        let mut candidates = Vec::new();
        for _ in 0..MEDIA_PAGES {
            let graph = self.graph;
            let cursor = after.clone();
            let (result, _) = self
                .traced(
                    "recent_media",
                    json!({ "limit": MEDIA_PAGE, "after": cursor }),
                    graph.recent_media(MEDIA_PAGE, cursor.as_deref()),
                    |page| json!({ "items": page.items.len(), "more": page.after.is_some() }),
                )
                .await?;
            let page = match result {
                Ok(page) => page,
                Err(failure) => return Ok(Learned::Failed(failure.trouble())),
            };
            let mut older = false;
            for item in &page.items {
                let at = item.published_at();
                if let (Some(at), Some(since)) = (at, since)
                    && at < since
                {
                    older = true;
                    continue;
                }
                if item.caption.trim() == caption {
                    candidates.push((at, item.id.clone()));
                }
            }
            after = page.after;
            if older || after.is_none() {
                break;
            }
        }
        // Oldest first: of drafts with the same caption, the first sent is the first out. So
        // this draft's post is the one after those of the same-caption drafts sent before it
        // that have not found theirs yet.
        candidates.sort();
        let mut untaken = Vec::new();
        for (_, media_id) in candidates {
            if !self.media_taken(&media_id).await? {
                untaken.push(media_id);
            }
        }
        if untaken.is_empty() {
            return Ok(Learned::Media(None));
        }
        let earlier = self.earlier_twins(since).await?;
        Ok(Learned::Media(untaken.into_iter().nth(earlier)))
    }

    /// Drafts with this draft's approved text, sent to `media_publish` since `since` and
    /// before this one, whose post may be live and is not matched yet (drafts_by_publish_sent_at).
    async fn earlier_twins(&self, since: Option<OffsetDateTime>) -> Result<usize, Halt> {
        #[derive(serde::Deserialize)]
        struct Count {
            n: usize,
        }
        let (Some(mine), Some(since)) = (self.row.publish_sent_at.as_deref(), since) else {
            return Ok(0);
        };
        let text = |value: Option<&str>| value.map_or(JsValue::NULL, JsValue::from_str);
        let statement = self
            .ctx
            .db
            .prepare(
                "SELECT COUNT(*) AS n FROM drafts
                 WHERE publish_sent_at >= ?1
                   AND (publish_sent_at < ?2 OR (publish_sent_at = ?2 AND id < ?3))
                   AND media_id IS NULL AND status IN ('approved', 'publishing', 'published')
                   AND approved_caption IS ?4 AND approved_hashtags IS ?5",
            )
            .bind(&[
                JsValue::from_str(&domain::message::format_rfc3339_millis(since)),
                JsValue::from_str(mine),
                JsValue::from_str(&self.id.to_string()),
                text(self.row.approved_caption.as_deref()),
                text(self.row.approved_hashtags.as_deref()),
            ])?;
        let count = platform::d1::all(statement)
            .await?
            .checked()?
            .first::<Count>()?;
        Ok(count.map_or(0, |c| c.n))
    }

    /// Whether another draft recorded `media_id` (drafts_by_media_id).
    async fn media_taken(&self, media_id: &str) -> Result<bool, Halt> {
        let statement = self
            .ctx
            .db
            .prepare("SELECT id FROM drafts WHERE media_id = ?1 AND id != ?2 LIMIT 1")
            .bind(&[
                JsValue::from_str(media_id),
                JsValue::from_str(&self.id.to_string()),
            ])?;
        let row = platform::d1::all(statement)
            .await?
            .checked()?
            .first::<Value>()?;
        Ok(row.is_some())
    }

    /// The post is live: its permalink (best effort), then `published`, with the token alert
    /// cleared (a token that publishes works). `media_id` is `None` when the post is known to
    /// be live but its media was not found: the column stays empty, there is no permalink.
    async fn succeed(
        &mut self,
        media_id: Option<&str>,
        found: bool,
        note: &str,
    ) -> Result<Done, Halt> {
        let started = now();
        if found || media_id.is_none() {
            let container_id = self.row.container_id.clone();
            let entry = Entry {
                message: Some(note),
                container_id: container_id.as_deref(),
                media_id,
                ..self.entry()
            };
            self.log(Step::Reconcile, Outcome::Ok, entry).await?;
        }
        let mut permalink = None;
        let mut failure = None;
        let mut duration = None;
        if let Some(media_id) = media_id {
            let (result, ms) = match self.permalink.take() {
                Some((read_for, read)) if read_for == media_id => read,
                _ => self.read_permalink(media_id).await?,
            };
            duration = Some(ms);
            match result {
                Ok(link) => permalink = Some(link),
                Err(f) => failure = Some(f),
            }
        }
        let message = match (&permalink, &failure) {
            (Some(link), _) => link.clone(),
            (None, Some(f)) => format!("the post is live; its permalink could not be read: {f}"),
            (None, None) => "the post is live; without its media id there is no permalink".into(),
        };
        let entry = Entry {
            message: Some(&message),
            container_id: self.row.container_id.as_deref(),
            media_id,
            duration_ms: duration,
            error_class: failure.as_ref().map(Failure::class),
            error_code: failure.as_ref().and_then(Failure::code),
            error_subcode: failure.as_ref().and_then(Failure::subcode),
            ..self.entry()
        };
        let outcome = if failure.is_none() {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        let claim = self.claim.clone();
        let change = Change::PublishSucceeded {
            claim: &claim,
            media_id,
            found,
            permalink: permalink.as_deref(),
        };
        let applied = self
            .write(
                &change,
                vec![
                    self.ctx.log.insert_statement(
                        self.id,
                        Step::Permalink,
                        outcome,
                        &entry,
                        started,
                    )?,
                    self.ctx
                        .alerts
                        .clear_statement(&token_invalid_kind(self.account))?,
                ],
            )
            .await;
        match applied {
            // A found post that another draft recorded meanwhile is not this one's: live,
            // media unknown.
            Err(Halt::LostClaim) if found => {
                let change = Change::PublishSucceeded {
                    claim: &claim,
                    media_id: None,
                    found: false,
                    permalink: None,
                };
                self.write(&change, Vec::new()).await?;
            }
            other => other?,
        }
        Ok(Done::Published)
    }

    /// Releases the claim (`publishing -> approved`), then queues the message again. If
    /// queueing fails, the message is retried by the queue, so no work is lost.
    async fn defer(
        &mut self,
        deferral: Deferral,
        delay: u32,
        reason: &str,
        sent_not_live: bool,
    ) -> Result<Done, Halt> {
        let next_attempt = match deferral {
            Deferral::Retry => self.attempt + 1,
            _ => self.attempt,
        };
        self.release(deferral, delay, reason, next_attempt, sent_not_live)
            .await?;
        Ok(match deferral {
            Deferral::Retry => Done::Retrying,
            _ => Done::Waiting,
        })
    }

    async fn release(
        &mut self,
        deferral: Deferral,
        delay: u32,
        reason: &str,
        next_attempt: u32,
        sent_not_live: bool,
    ) -> Result<(), Halt> {
        let at = now();
        let claim = self.claim.clone();
        let change = Change::PublishDeferred {
            claim: &claim,
            reason,
            // The scheduler's lost-message check reads when the next message is due.
            due_at: at + Duration::seconds(i64::from(delay)),
            deferral,
            sent_not_live,
            now: at,
        };
        let row = self.ctx.log.insert_statement(
            self.id,
            Step::Wait,
            Outcome::Retry,
            &Entry {
                message: Some(reason),
                container_id: self.row.container_id.as_deref(),
                ..self.entry()
            },
            at,
        )?;
        self.pending.push(row);
        self.write(&change, Vec::new()).await?;
        send(
            self.ctx.env,
            PUBLISH_QUEUE,
            &again(self.message, next_attempt, at, delay),
            delay,
        )
        .await?;
        self.crash_point("queue_send")?;
        Ok(())
    }

    /// The post may be live and its container cannot be read: waits like a deferral, and the
    /// operator hears once per episode that the draft needs a look.
    async fn unresolved(&mut self, delay: u32, reason: &str, alert: bool) -> Result<Done, Halt> {
        self.release(Deferral::Unresolved, delay, reason, self.attempt, false)
            .await?;
        if alert {
            let since = self
                .row
                .unresolved_since
                .clone()
                .unwrap_or_else(|| self.row.updated_at.clone());
            let kind = format!("publish_unresolved:{}:{since}", self.id);
            let (_, label) = self.ctx.accounts.name_of(self.row.account_id.as_deref());
            let text = format!(
                "An approved Instagram post needs a look (draft {}, {label}): {reason}. It is not marked failed, because it may be live; check the account, and the draft is settled at the next successful read.",
                self.id
            );
            if let Err(error) = self.ctx.alerts.raise(&kind, &text, None).await {
                // Raised again at the next check: the draft stays unresolved until then.
                worker::console_error!("draft {}: {error}", self.id);
            }
        }
        Ok(Done::Unresolved)
    }

    /// Publishing stops: the draft becomes `failed` (under this claim), then the operator is
    /// alerted once. If the alert cannot be sent, the message goes to `FAILED_QUEUE`, whose
    /// consumer alerts with retries; if even that fails, this message is retried, and its
    /// next delivery meets the failed draft and alerts.
    async fn give_up(&mut self, reason: &str, token: bool) -> Result<Done, Halt> {
        let last = self.last_failure.as_ref();
        let cause = self.cause.as_ref();
        let entry = Entry {
            message: Some(reason),
            error_class: if token {
                Some("token_invalid")
            } else {
                last.map(Failure::class)
                    .or_else(|| cause.and_then(|c| c.error_class.as_deref()))
            },
            error_code: last
                .and_then(Failure::code)
                .or_else(|| cause.and_then(|c| c.error_code)),
            error_subcode: last
                .and_then(Failure::subcode)
                .or_else(|| cause.and_then(|c| c.error_subcode)),
            container_id: self.row.container_id.as_deref(),
            ..self.entry()
        };
        let row =
            self.ctx
                .log
                .insert_statement(self.id, Step::GiveUp, Outcome::Failed, &entry, now())?;
        self.pending.push(row);
        let claim = self.claim.clone();
        let change = Change::PublishFailed {
            claim: Some(&claim),
            reason,
        };
        self.write(&change, Vec::new()).await?;
        let account = self.ctx.accounts.name_of(self.row.account_id.as_deref());
        if let Err(error) =
            crate::alert::draft_failed(&self.ctx.alerts, &self.row, token, &account).await
        {
            worker::console_error!("draft {}: {error}; the failed queue alerts", self.id);
            send(self.ctx.env, FAILED_QUEUE, self.message, 0).await?;
        }
        self.crash_point("alert")?;
        Ok(Done::Failed)
    }

    async fn read_permalink(&mut self, media_id: &str) -> Result<PermalinkRead, Halt> {
        let graph = self.graph;
        self.traced(
            "permalink",
            json!({ "mediaId": media_id }),
            graph.permalink(media_id),
            |link| json!({ "permalink": link }),
        )
        .await
    }

    /// Applies a change after the pending log rows and before `rest`, in one batch (one round
    /// trip, one transaction). `LostClaim` when the change's conditions no longer held.
    async fn write(
        &mut self,
        change: &Change<'_>,
        rest: Vec<D1PreparedStatement>,
    ) -> Result<(), Halt> {
        let (statements, at) = self.batch_for(change, rest)?;
        let results = self.ctx.store.batch(statements).await?;
        self.written(change, &results, at)
    }

    /// The batch [`Run::write`] sends, and where the change's own statement is in it.
    fn batch_for(
        &mut self,
        change: &Change<'_>,
        rest: Vec<D1PreparedStatement>,
    ) -> Result<(Vec<D1PreparedStatement>, usize), Halt> {
        let apply =
            self.ctx
                .store
                .apply_statement(self.id, self.row.expected_state(), change, now())?;
        let mut statements = std::mem::take(&mut self.pending);
        let at = statements.len();
        statements.push(apply);
        statements.extend(rest);
        Ok((statements, at))
    }

    /// Takes the row a batch from [`Run::batch_for`] wrote, or `LostClaim`.
    fn written(&mut self, change: &Change<'_>, results: &[Rows], at: usize) -> Result<(), Halt> {
        self.crash_point(&format!("{:?}", change.event()))?;
        match results.get(at).map(applied_row).transpose()?.flatten() {
            Some(row) => {
                self.row = row;
                Ok(())
            }
            None => Err(Halt::LostClaim),
        }
    }

    /// Writes the pending log rows, if any.
    async fn flush(&mut self) -> Result<(), Halt> {
        if !self.pending.is_empty() {
            let statements = std::mem::take(&mut self.pending);
            self.ctx.store.batch(statements).await?;
        }
        Ok(())
    }

    fn entry(&self) -> Entry<'static> {
        Entry {
            attempt: self.attempt,
            ..Entry::default()
        }
    }

    async fn log(&mut self, step: Step, outcome: Outcome, entry: Entry<'_>) -> Result<(), Halt> {
        let row = self
            .ctx
            .log
            .insert_statement(self.id, step, outcome, &entry, now())?;
        self.pending.push(row);
        self.flush().await
    }

    /// A failed Graph step's row; it goes with the run's next write.
    async fn log_failure(
        &mut self,
        step: Step,
        failure: &Failure,
        container_id: Option<&str>,
    ) -> Result<(), Halt> {
        let message = failure.to_string();
        let entry = Entry {
            error_class: Some(failure.class()),
            error_code: failure.code(),
            error_subcode: failure.subcode(),
            message: Some(&message),
            container_id,
            ..self.entry()
        };
        let row = self
            .ctx
            .log
            .insert_statement(self.id, step, Outcome::Retry, &entry, now())?;
        self.pending.push(row);
        self.last_failure = Some(failure.clone());
        Ok(())
    }

    /// One Graph API call as a child run of the trace; returns its result and duration.
    async fn traced<T>(
        &mut self,
        name: &str,
        inputs: Value,
        call: impl Future<Output = Result<T, Failure>>,
        describe: impl Fn(&T) -> Value,
    ) -> Result<(Result<T, Failure>, i64), Halt> {
        self.graph_calls += 1;
        let traced = traced_call(self.tracer, name, inputs, call, describe).await;
        self.crash_point(name)?;
        Ok(traced)
    }

    /// Stops the run dead here if the settings say so: a fault for the crash-point tests.
    fn crash_point(&self, point: &str) -> Result<(), Halt> {
        crash_point(self.ctx.settings, self.id, point)
    }
}

/// One Graph API call as a child run of the trace; returns its result and duration (ms).
async fn traced_call<T>(
    tracer: &mut Tracer,
    name: &str,
    inputs: Value,
    call: impl Future<Output = Result<T, Failure>>,
    describe: impl Fn(&T) -> Value,
) -> (Result<T, Failure>, i64) {
    let child = tracer.start_child(name, RunType::Tool, inputs);
    let started = now();
    let result = call.await;
    let duration = (now() - started).whole_milliseconds() as i64;
    let metadata = json!({
        "durationMs": duration,
        "errorClass": result.as_ref().err().map(Failure::class),
        "errorCode": result.as_ref().err().and_then(Failure::code),
        "errorSubcode": result.as_ref().err().and_then(Failure::subcode),
    });
    let traced = match &result {
        Ok(value) => Ok(describe(value)),
        Err(failure) => Err(failure.to_string()),
    };
    tracer.finish_child(child, traced, metadata);
    (result, duration)
}

/// A container made (or refused): the call's result, how long it took (ms), when it began.
struct ContainerMade {
    result: Result<String, Failure>,
    duration: i64,
    started: OffsetDateTime,
}

async fn make_container(graph: &Graph, tracer: &mut Tracer, post: &Post) -> ContainerMade {
    let started = now();
    let (result, duration) = traced_call(
        tracer,
        "create_container",
        json!({
            "imageUrl": post.image_url,
            "caption": post.caption,
            "altText": post.alt_text,
        }),
        graph.create_container(&post.image_url, &post.caption, &post.alt_text),
        |id| json!({ "containerId": id }),
    )
    .await;
    ContainerMade {
        result,
        duration,
        started,
    }
}

/// Crash points already passed in this isolate: each crashes once, like a consumer that died
/// there and whose message came back to a new one.
static CRASHED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Whether the run stops dead after `point` (a Graph call's name, or the event a write
/// recorded): only with `PUBLISH_CRASH_AFTER` naming this draft and point, which the settings
/// accept for the local simulator only, and once per draft and point.
fn crash_point(settings: &Settings, id: DraftId, point: &str) -> Result<(), Halt> {
    let id = id.to_string();
    if !settings
        .crash_after
        .iter()
        .any(|(draft, at)| *draft == id && at == point)
    {
        return Ok(());
    }
    let key = format!("{id}:{point}");
    let mut crashed = CRASHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if crashed.contains(&key) {
        return Ok(());
    }
    crashed.push(key);
    Err(Halt::Crash(point.to_owned()))
}

fn describe(halt: &Halt) -> String {
    match halt {
        Halt::LostClaim => "the claim was lost".into(),
        Halt::Store(reason) => reason.clone(),
        Halt::Crash(point) => format!("stopped dead after {point} (PUBLISH_CRASH_AFTER)"),
    }
}

impl Failure {
    /// What the failure means to the machine.
    pub fn trouble(&self) -> Trouble {
        match self {
            Failure::Graph(error) => error.trouble(),
            Failure::NoAnswer(reason) => Trouble::Unclear(reason.clone()),
        }
    }
}
