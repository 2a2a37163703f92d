//! The publish workflow (the design's `publishWorkflow`) for one `PUBLISH_QUEUE` message.
//!
//! 1. Claim the draft (`approved -> publishing`, or a `publishing` draft whose lease lapsed)
//!    with one conditional write; a live claim, a published or unapproved draft steps aside.
//! 2. Without a container yet, create one from the approved snapshot only, and store its id
//!    before anything else. With one (an earlier attempt, a consumer that died), read its
//!    status first: never publish again blindly.
//! 3. `IN_PROGRESS`: release the claim and queue the same attempt again after a delay (a
//!    Worker does not sleep). `EXPIRED`/`ERROR`: a new container. `PUBLISHED`: it went out;
//!    find its media id and finish. `FINISHED`: `media_publish`.
//! 4. Store the media id the moment it is known; read the permalink (best effort); mark the
//!    draft published.
//!
//! A `media_publish` that fails in any way but a token refusal is followed by a status read:
//! a lost answer, a timeout or a 5xx may hide a post that is live. Every step is a row in
//! `publish_logs` and a child run of the message's trace.

use domain::content::{HARD_MAX_HASHTAGS, PostText};
use domain::draft::{DraftId, Status};
use domain::message::{Action, QueueMessage};
use instagram::{ContainerStatus, GraphError};
use observe::langsmith::RunType;
use platform::clock::{now, random_hex, random_u64};
use platform::publish_log::{Entry, Outcome, PublishLog, Step};
use platform::queue::{FAILED_QUEUE, PUBLISH_QUEUE, send};
use platform::store::{Change, DraftRow, DraftStore, StoreError, applied_row};
use platform::trace::Tracer;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

use crate::alert::{Alerts, TOKEN_INVALID};
use crate::decide::{Next, after_failure};
use crate::graph::{Failure, Graph};
use crate::settings::Settings;

/// How many of the account's newest posts are searched for a post whose answer was lost.
const RECENT_MEDIA: u32 = 25;

/// What the workflow needs, built once per batch.
pub struct Ctx<'a> {
    pub env: &'a Env,
    pub settings: &'a Settings,
    pub graph: Graph<'a>,
    pub store: DraftStore,
    pub log: PublishLog,
    pub alerts: Alerts,
    pub db: D1Database,
}

impl<'a> Ctx<'a> {
    pub fn new(env: &'a Env, settings: &'a Settings) -> worker::Result<Self> {
        Ok(Self {
            env,
            settings,
            graph: Graph::new(settings),
            store: DraftStore::from_env(env)?,
            log: PublishLog::from_env(env)?,
            alerts: Alerts::from_env(env)?,
            db: env.d1(platform::store::DB_BINDING)?,
        })
    }
}

/// How a message was handled; every one is acked. An `Err` from [`handle`] is not: the
/// queue retries that message, and finally dead-letters it to `FAILED_QUEUE`.
#[derive(Debug)]
pub enum Done {
    Published,
    Skipped(String),
    /// Another consumer holds a live claim; a check after its lease is queued.
    Busy,
    /// The container is being processed, or the quota is used up: the same attempt is
    /// queued again after a delay.
    Waiting,
    /// This attempt failed; the next one is queued.
    Retrying,
    /// The draft failed; `FAILED_QUEUE` tells the operator.
    Failed,
    /// The claim was lost meanwhile (its lease lapsed and another consumer took over, or the
    /// failed queue failed the draft); whoever holds the draft now finishes it.
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
            Done::Failed => "failed",
            Done::LostClaim => "lost_claim",
        }
    }
}

/// Why a run stopped before the draft was published.
enum Halt {
    /// A Graph step failed; [`after_failure`] decides what follows. `logged` when its row is
    /// already written; `unknown` when a `media_publish` may have gone out unseen, so the
    /// draft must never be given up on before its container's status is read.
    Graph {
        step: Step,
        failure: Failure,
        container_id: Option<String>,
        logged: bool,
        unknown: bool,
    },
    /// The container is still being processed.
    InProgress {
        container_id: String,
    },
    LostClaim,
    /// The approved snapshot cannot be published as it is.
    Invalid(String),
    /// D1 failed; the message is retried by the queue.
    Store(String),
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

/// What Instagram receives: the approved snapshot, nothing else.
struct Post {
    caption: String,
    alt_text: String,
    image_url: String,
}

pub async fn handle(
    ctx: &Ctx<'_>,
    message: &QueueMessage,
    tracer: &mut Tracer,
) -> Result<Done, String> {
    if message.action == Action::GenerateImage {
        return Ok(Done::Skipped("not a publish message".into()));
    }
    let draft = ctx.store.get(message.id).await.map_err(|e| e.to_string())?;
    let Some(draft) = draft else {
        return Ok(Done::Skipped("the draft no longer exists".into()));
    };
    let started = now();
    let skip = match draft.status() {
        // A message that arrived before the post's time (the scheduler's side, posts.rs).
        Status::Approved => match draft.scheduled_at().filter(|at| *at > started) {
            Some(at) => {
                return crate::posts::arrived_early(ctx, message, &draft, at, started).await;
            }
            None => None,
        },
        Status::Publishing => match draft.claim_expires_at() {
            Some(lease) if lease > started => return step_aside(ctx, message, &draft, lease).await,
            _ => None,
        },
        Status::Published => Some("the draft is already published".to_owned()),
        // Under review, failed or discarded: nobody approved what would be published.
        _ => Some(format!("the draft is {}, not approved", draft.status)),
    };
    if let Some(reason) = skip {
        let entry = Entry {
            attempt: message.attempt,
            message: Some(&reason),
            container_id: draft.container_id.as_deref(),
            media_id: draft.media_id.as_deref(),
            ..Entry::default()
        };
        ctx.log
            .insert(message.id, Step::Claim, Outcome::Skipped, &entry, started)
            .await
            .map_err(|e| e.to_string())?;
        return Ok(Done::Skipped(reason));
    }

    let claim = random_hex::<16>();
    let lease_until = started + Duration::seconds(i64::from(ctx.settings.lease_seconds));
    let note = if draft.status() == Status::Publishing {
        "claimed again: the earlier claim's lease lapsed"
    } else {
        "claimed"
    };
    // The claim and its log row in one round trip; the row is written only if the claim won.
    let change = Change::ClaimPublish {
        claim: &claim,
        lease_until,
        now: started,
    };
    let claimed = async {
        let statements = vec![
            ctx.store
                .apply_statement(message.id, draft.expected_state(), &change, started)?,
            ctx.log
                .claimed_statement(message.id, message.attempt, &claim, note, started)?,
        ];
        let results = ctx.store.batch(statements).await?;
        Ok::<_, Halt>(results.first().map(applied_row).transpose()?.flatten())
    }
    .await
    .map_err(|halt| describe(&halt))?;
    let Some(claimed) = claimed else {
        // Another delivery claimed it between the read and the claim.
        return step_aside(ctx, message, &draft, lease_until).await;
    };

    let mut run = Run {
        ctx,
        tracer,
        message,
        id: message.id,
        claim,
        row: claimed,
        graph_calls: 0,
        pending: Vec::new(),
    };
    let result = run.run().await;
    let (mut done, class) = match result {
        Ok(()) => (Ok(Done::Published), String::new()),
        Err(halt) => run.halted(halt).await,
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
        message.attempt,
        label,
        &class,
        duration,
        run.graph_calls,
    );
    done
}

/// A live claim holds the draft: this delivery steps aside, and a check of the same
/// attempt is queued for when that lease lapses, so a consumer that died with the claim
/// does not strand the draft in `publishing`.
async fn step_aside(
    ctx: &Ctx<'_>,
    message: &QueueMessage,
    draft: &DraftRow,
    lease: OffsetDateTime,
) -> Result<Done, String> {
    let at = now();
    let delay = u32::try_from((lease - at).whole_seconds().max(0) + 1)
        .unwrap_or(u32::MAX)
        .min(domain::backoff::QUEUE_MAX_DELAY_SECONDS);
    send(ctx.env, PUBLISH_QUEUE, &again(message, at, delay), delay)
        .await
        .map_err(|e| e.to_string())?;
    let note = format!("another consumer holds the claim; checking again in {delay} s");
    let entry = Entry {
        attempt: message.attempt,
        message: Some(&note),
        container_id: draft.container_id.as_deref(),
        ..Entry::default()
    };
    ctx.log
        .insert(message.id, Step::Claim, Outcome::Skipped, &entry, at)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Done::Busy)
}

/// The same attempt again, stamped with the time it is due so that queue latency does not
/// count the wait.
fn again(message: &QueueMessage, at: OffsetDateTime, delay: u32) -> QueueMessage {
    QueueMessage {
        requested_at: at + Duration::seconds(i64::from(delay)),
        ..message.clone()
    }
}

/// One claimed attempt.
struct Run<'a, 't> {
    ctx: &'a Ctx<'a>,
    tracer: &'t mut Tracer,
    message: &'a QueueMessage,
    id: DraftId,
    claim: String,
    /// The row as this run last wrote it.
    row: DraftRow,
    graph_calls: u32,
    /// Log rows not written yet: they go with the run's next write, saving a round trip.
    pending: Vec<D1PreparedStatement>,
}

impl Run<'_, '_> {
    async fn run(&mut self) -> Result<(), Halt> {
        let post = self.post()?;
        if let Some(media_id) = self.row.media_id.clone() {
            // An earlier holder published and stored the media id, then stopped.
            let container_id = self.row.container_id.clone();
            self.log(
                Step::Reconcile,
                Outcome::Ok,
                Entry {
                    message: Some("the media id was already recorded: the post is live"),
                    container_id: container_id.as_deref(),
                    media_id: Some(&media_id),
                    ..self.entry()
                },
            )
            .await?;
            return self.succeed(Some(&media_id)).await;
        }
        let mut container = self.row.container_id.clone();
        let mut made_new = false;
        loop {
            let container_id = match container.take() {
                Some(id) => id,
                None => {
                    made_new = true;
                    self.create_container(&post).await?
                }
            };
            let status = self.status(&container_id, Step::Status).await?;
            match status {
                ContainerStatus::Published => return self.reconciled(&container_id, &post).await,
                ContainerStatus::Finished => {}
                ContainerStatus::InProgress => return Err(Halt::InProgress { container_id }),
                ContainerStatus::Expired | ContainerStatus::Error { .. } => {
                    let failure = status.failure().unwrap_or(GraphError::NeedsNewContainer {
                        code: None,
                        subcode: None,
                        message: String::new(),
                    });
                    if matches!(failure, GraphError::NeedsNewContainer { .. }) && !made_new {
                        self.log_failure(
                            Step::Status,
                            Outcome::Retry,
                            &failure.clone().into(),
                            Some(&container_id),
                            "a new container is made",
                        )
                        .await?;
                        continue;
                    }
                    return Err(Halt::Graph {
                        step: Step::Status,
                        failure: failure.into(),
                        container_id: Some(container_id),
                        logged: false,
                        unknown: false,
                    });
                }
            }

            let started = now();
            let ctx = self.ctx;
            let (result, duration) = self
                .traced(
                    "media_publish",
                    json!({ "containerId": container_id }),
                    ctx.graph.publish(&container_id),
                    |media_id| json!({ "mediaId": media_id }),
                )
                .await;
            match result {
                Ok(media_id) => {
                    // Stored the moment it is known, with its log row.
                    let claim = self.claim.clone();
                    let change = Change::MediaPublished {
                        claim: &claim,
                        media_id: &media_id,
                    };
                    let entry = Entry {
                        container_id: Some(&container_id),
                        media_id: Some(&media_id),
                        duration_ms: Some(duration),
                        ..self.entry()
                    };
                    self.apply_with_log(&change, Step::Publish, Outcome::Ok, &entry, started)
                        .await?;
                    return self.succeed(Some(&media_id)).await;
                }
                Err(failure) => {
                    if matches!(failure, Failure::Graph(GraphError::TokenInvalid { .. })) {
                        return Err(Halt::Graph {
                            step: Step::Publish,
                            failure,
                            container_id: Some(container_id),
                            logged: false,
                            unknown: false,
                        });
                    }
                    // Never publish again blindly: the post may be live despite the answer.
                    self.log_failure(
                        Step::Publish,
                        Outcome::Retry,
                        &failure,
                        Some(&container_id),
                        "the outcome is checked by reading the container status",
                    )
                    .await?;
                    let status = match self.status(&container_id, Step::Reconcile).await {
                        Ok(status) => status,
                        // Unknown still: the next attempt reads the status first.
                        Err(Halt::Graph { .. }) => {
                            return Err(Halt::Graph {
                                step: Step::Publish,
                                failure,
                                container_id: Some(container_id),
                                logged: true,
                                unknown: true,
                            });
                        }
                        Err(other) => return Err(other),
                    };
                    match status {
                        ContainerStatus::Published => {
                            return self.reconciled(&container_id, &post).await;
                        }
                        ContainerStatus::InProgress => {
                            return Err(Halt::InProgress { container_id });
                        }
                        ContainerStatus::Finished
                            if matches!(failure, Failure::Graph(GraphError::NotReady { .. })) =>
                        {
                            return Err(Halt::InProgress { container_id });
                        }
                        ContainerStatus::Expired | ContainerStatus::Error { .. }
                            if !made_new
                                && matches!(
                                    status.failure(),
                                    Some(GraphError::NeedsNewContainer { .. })
                                ) =>
                        {
                            continue;
                        }
                        _ => {
                            return Err(Halt::Graph {
                                step: Step::Publish,
                                failure,
                                container_id: Some(container_id),
                                logged: true,
                                unknown: false,
                            });
                        }
                    }
                }
            }
        }
    }

    /// The approved snapshot as Instagram receives it.
    fn post(&self) -> Result<Post, Halt> {
        let raw = self
            .row
            .approved_text()
            .ok_or_else(|| Halt::Invalid("the draft has no approved text".into()))?;
        let text = PostText::parse(&raw, HARD_MAX_HASHTAGS).map_err(|errors| {
            let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
            Halt::Invalid(format!(
                "the approved text breaks Instagram's rules: {}",
                reasons.join("; ")
            ))
        })?;
        let key = self
            .row
            .approved_image_key
            .as_deref()
            .ok_or_else(|| Halt::Invalid("the draft has no approved image".into()))?;
        Ok(Post {
            caption: text.instagram_caption(),
            alt_text: text.alt_text.as_ref().to_owned(),
            image_url: self.ctx.settings.image_url(key),
        })
    }

    async fn create_container(&mut self, post: &Post) -> Result<String, Halt> {
        let started = now();
        let ctx = self.ctx;
        let (result, duration) = self
            .traced(
                "create_container",
                json!({
                    "imageUrl": post.image_url,
                    "caption": post.caption,
                    "altText": post.alt_text,
                }),
                ctx.graph
                    .create_container(&post.image_url, &post.caption, &post.alt_text),
                |id| json!({ "containerId": id }),
            )
            .await;
        let container_id = result.map_err(|failure| Halt::Graph {
            step: Step::Container,
            failure,
            container_id: None,
            logged: false,
            unknown: false,
        })?;
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
        self.apply_with_log(&change, Step::Container, Outcome::Ok, &entry, started)
            .await?;
        Ok(container_id)
    }

    /// The container's status; a usable answer other than `IN_PROGRESS` is logged under
    /// `step`, a failure is returned for the caller to log.
    async fn status(&mut self, container_id: &str, step: Step) -> Result<ContainerStatus, Halt> {
        let ctx = self.ctx;
        let (result, duration) = self
            .traced(
                "container_status",
                json!({ "containerId": container_id }),
                ctx.graph.container_status(container_id),
                |status| json!({ "statusCode": status.status_code() }),
            )
            .await;
        match result {
            Ok(status) => {
                if status == ContainerStatus::Finished || status == ContainerStatus::Published {
                    let entry = Entry {
                        message: Some(status.status_code()),
                        container_id: Some(container_id),
                        duration_ms: Some(duration),
                        ..self.entry()
                    };
                    let row =
                        self.ctx
                            .log
                            .insert_statement(self.id, step, Outcome::Ok, &entry, now())?;
                    self.pending.push(row);
                }
                Ok(status)
            }
            // Unreadable, the status of a container some `media_publish` was sent for leaves
            // the post's fate unknown.
            Err(failure) => Err(Halt::Graph {
                step,
                failure,
                container_id: Some(container_id.to_owned()),
                logged: false,
                unknown: self.ctx.log.publish_tried(self.id, container_id).await?,
            }),
        }
    }

    /// The container says `PUBLISHED`: the post is live. Its media id is looked up by the
    /// caption it was sent with; a post is never marked failed because that lookup failed.
    async fn reconciled(&mut self, container_id: &str, post: &Post) -> Result<(), Halt> {
        let found = self.find_media(post).await;
        if let Err(failure) = &found
            && self
                .ctx
                .settings
                .backoff
                .allows_retry_after(self.message.attempt)
        {
            // The next attempt finds the container PUBLISHED again and looks once more.
            return Err(Halt::Graph {
                step: Step::Reconcile,
                failure: failure.clone(),
                container_id: Some(container_id.to_owned()),
                logged: false,
                unknown: true,
            });
        }
        let (media_id, note, failure) = match found {
            Ok(Some(id)) => (Some(id), "the container was published: the post is live".to_owned(), None),
            Ok(None) => (
                None,
                "the container was published, but no recent post has its caption: the media id is unknown".to_owned(),
                None,
            ),
            Err(failure) => (
                None,
                format!("the container was published, but the media id could not be looked up: {failure}"),
                Some(failure),
            ),
        };
        let entry = Entry {
            message: Some(&note),
            container_id: Some(container_id),
            media_id: media_id.as_deref(),
            error_class: failure.as_ref().map(Failure::class),
            error_code: failure.as_ref().and_then(Failure::code),
            error_subcode: failure.as_ref().and_then(Failure::subcode),
            ..self.entry()
        };
        self.log(Step::Reconcile, Outcome::Ok, entry).await?;
        self.succeed(media_id.as_deref()).await
    }

    async fn find_media(&mut self, post: &Post) -> Result<Option<String>, Failure> {
        let ctx = self.ctx;
        let (result, _) = self
            .traced(
                "recent_media",
                json!({ "limit": RECENT_MEDIA }),
                ctx.graph.recent_media(RECENT_MEDIA),
                |items| json!({ "count": items.len() }),
            )
            .await;
        let caption = post.caption.trim();
        for item in result?.iter().filter(|item| item.caption.trim() == caption) {
            // Two drafts may share a caption: a post another draft recorded is not ours.
            let taken = self
                .ctx
                .db
                .prepare("SELECT id FROM drafts WHERE media_id = ?1 AND id != ?2 LIMIT 1")
                .bind(&[
                    JsValue::from_str(&item.id),
                    JsValue::from_str(&self.id.to_string()),
                ])
                .map_err(|e| Failure::NoAnswer(e.to_string()))?
                .first::<Value>(None)
                .await
                .map_err(|e| Failure::NoAnswer(e.to_string()))?;
            if taken.is_none() {
                return Ok(Some(item.id.clone()));
            }
        }
        Ok(None)
    }

    /// The post is live: its permalink (best effort), then `published`, with the token alert
    /// cleared (a token that publishes works).
    /// Records the post as live. `media_id` is `None` when a reconciliation saw the container
    /// published but could not find its media: the column stays empty, and there is no
    /// permalink to read.
    async fn succeed(&mut self, media_id: Option<&str>) -> Result<(), Halt> {
        let started = now();
        let mut permalink = None;
        let mut failure = None;
        let mut duration = None;
        if let Some(media_id) = media_id {
            let ctx = self.ctx;
            let (result, ms) = self
                .traced(
                    "permalink",
                    json!({ "mediaId": media_id }),
                    ctx.graph.permalink(media_id),
                    |link| json!({ "permalink": link }),
                )
                .await;
            duration = Some(ms);
            match result {
                Ok(link) => permalink = Some(link),
                Err(f) => failure = Some(f),
            }
        }
        let note = match (&permalink, &failure) {
            (Some(link), _) => link.clone(),
            (None, Some(f)) => format!("the post is live; its permalink could not be read: {f}"),
            (None, None) => "the post is live; without its media id there is no permalink".into(),
        };
        let entry = Entry {
            message: Some(&note),
            container_id: self.row.container_id.as_deref(),
            media_id,
            duration_ms: duration,
            error_class: failure.as_ref().map(Failure::class),
            error_code: failure.as_ref().and_then(Failure::code),
            error_subcode: failure.as_ref().and_then(Failure::subcode),
            ..self.entry()
        };
        let outcome = if permalink.is_some() || failure.is_none() {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        let change = Change::PublishSucceeded {
            claim: Some(&self.claim),
            media_id,
            permalink: permalink.as_deref(),
        };
        let apply =
            self.ctx
                .store
                .apply_statement(self.id, self.row.expected_state(), &change, now())?;
        let rest = vec![
            self.ctx
                .log
                .insert_statement(self.id, Step::Permalink, outcome, &entry, started)?,
            self.ctx.alerts.clear_statement(TOKEN_INVALID)?,
        ];
        self.write(apply, rest).await
    }

    /// What follows a halt: the next message, the draft's failure, or nothing.
    async fn halted(&mut self, halt: Halt) -> (Result<Done, String>, String) {
        match self.after(halt).await {
            Ok((done, class)) => (Ok(done), class),
            Err(Halt::LostClaim) => (Ok(Done::LostClaim), String::new()),
            Err(Halt::Store(e)) => (Err(e), "store".into()),
            Err(other) => (Err(describe(&other)), String::new()),
        }
    }

    async fn after(&mut self, halt: Halt) -> Result<(Done, String), Halt> {
        let settings = self.ctx.settings;
        let attempt = self.message.attempt;
        let (step, failure, container_id, logged, unknown) = match halt {
            Halt::Graph {
                step,
                failure,
                container_id,
                logged,
                unknown,
            } => (step, failure, container_id, logged, unknown),
            Halt::InProgress { container_id } => {
                let polls = self
                    .ctx
                    .log
                    .count(
                        self.id,
                        attempt,
                        Step::Status,
                        Outcome::Retry,
                        &container_id,
                    )
                    .await?;
                if polls < settings.max_polls {
                    let delay = settings.poll_seconds;
                    let note = format!(
                        "the container is IN_PROGRESS; its status is read again in {delay} s"
                    );
                    self.log(
                        Step::Status,
                        Outcome::Retry,
                        Entry {
                            message: Some(&note),
                            container_id: Some(&container_id),
                            ..self.entry()
                        },
                    )
                    .await?;
                    self.defer(&note, again(self.message, now(), delay), delay)
                        .await?;
                    return Ok((Done::Waiting, String::new()));
                }
                let failure = Failure::Graph(GraphError::Transient {
                    code: None,
                    subcode: None,
                    message: format!(
                        "the container was still IN_PROGRESS after {polls} status reads"
                    ),
                });
                (Step::Status, failure, Some(container_id), false, false)
            }
            Halt::Invalid(reason) => {
                self.give_up(
                    &format!("publishing gave up after attempt {attempt}: {reason}"),
                    None,
                    None,
                )
                .await?;
                return Ok((Done::Failed, "invalid".into()));
            }
            other => return Err(other),
        };
        let class = failure.class().to_owned();
        let seed = random_u64();
        let mut next = after_failure(
            &failure,
            attempt,
            &settings.backoff,
            settings.quota_wait_seconds,
            seed,
        );
        // The post may be live: the draft is never given up on; it waits, using up no
        // attempt, until the container's status can be read (a token fixed, Meta back).
        if unknown && !next.continues() {
            let capped = attempt.min(settings.backoff.max_attempts);
            next = Next::Wait {
                delay: settings.backoff.delay_seconds(capped, seed).max(1),
            };
            if matches!(failure, Failure::Graph(GraphError::TokenInvalid { .. })) {
                self.alert_token(&failure).await;
            }
        }
        if !logged {
            let outcome = if next.continues() {
                Outcome::Retry
            } else {
                Outcome::Failed
            };
            let note = match next {
                Next::Retry { delay } => format!("attempt {} follows in {delay} s", attempt + 1),
                Next::Wait { delay } if unknown => format!(
                    "whether media_publish went out is unknown; the container status is read again in {delay} s"
                ),
                Next::Wait { delay } => {
                    format!("the publishing quota is used up; waiting {delay} s")
                }
                _ => String::new(),
            };
            self.log_failure(step, outcome, &failure, container_id.as_deref(), &note)
                .await?;
        }
        let reason = format!("attempt {attempt} failed: {failure}");
        match next {
            Next::Retry { delay } => {
                let next_message = self
                    .message
                    .next_attempt(now() + Duration::seconds(i64::from(delay)));
                self.defer(&reason, next_message, delay).await?;
                Ok((Done::Retrying, class))
            }
            Next::Wait { delay } => {
                self.defer(&reason, again(self.message, now(), delay), delay)
                    .await?;
                Ok((Done::Waiting, class))
            }
            Next::Fail | Next::GiveUp | Next::TokenInvalid => {
                let reason = format!("publishing gave up after attempt {attempt}: {failure}");
                self.give_up(&reason, Some(&failure), container_id.as_deref())
                    .await?;
                Ok((Done::Failed, class))
            }
        }
    }

    /// Releases the claim (`publishing -> approved`, the container id kept), then queues
    /// `next`. If queueing fails, the message is retried by the queue, so no work is lost.
    async fn defer(&mut self, reason: &str, next: QueueMessage, delay: u32) -> Result<(), Halt> {
        let change = Change::PublishDeferred {
            claim: &self.claim,
            reason,
            // The scheduler's lost-message check reads when the next message is due.
            due_at: now() + Duration::seconds(i64::from(delay)),
        };
        let released = self
            .ctx
            .store
            .apply(self.id, self.row.expected_state(), &change, now())
            .await?;
        let Some(row) = released else {
            return Err(Halt::LostClaim);
        };
        self.row = row;
        send(self.ctx.env, PUBLISH_QUEUE, &next, delay).await?;
        Ok(())
    }

    /// Publishing stops: the reason is logged, the message goes to `FAILED_QUEUE` (whose
    /// consumer alerts the operator, and fails the draft if this run cannot), then the draft
    /// fails. In this order, a crash anywhere leaves the failure to the failed queue.
    async fn give_up(
        &mut self,
        reason: &str,
        failure: Option<&Failure>,
        container_id: Option<&str>,
    ) -> Result<(), Halt> {
        let stored = self.row.container_id.clone();
        self.log(
            Step::GiveUp,
            Outcome::Failed,
            Entry {
                message: Some(reason),
                error_class: failure.map(Failure::class),
                error_code: failure.and_then(Failure::code),
                error_subcode: failure.and_then(Failure::subcode),
                container_id: container_id.or(stored.as_deref()),
                ..self.entry()
            },
        )
        .await?;
        send(self.ctx.env, FAILED_QUEUE, self.message, 0).await?;
        let change = Change::PublishFailed {
            claim: Some(&self.claim),
            reason,
        };
        // `None`: the failed queue was quicker; the draft is failed either way.
        if let Some(row) = self
            .ctx
            .store
            .apply(self.id, self.row.expected_state(), &change, now())
            .await?
        {
            self.row = row;
        }
        Ok(())
    }

    /// Applies `change` together with its log row, in one transaction.
    async fn apply_with_log(
        &mut self,
        change: &Change<'_>,
        step: Step,
        outcome: Outcome,
        entry: &Entry<'_>,
        started: OffsetDateTime,
    ) -> Result<(), Halt> {
        let apply =
            self.ctx
                .store
                .apply_statement(self.id, self.row.expected_state(), change, now())?;
        let row = self
            .ctx
            .log
            .insert_statement(self.id, step, outcome, entry, started)?;
        self.write(apply, vec![row]).await
    }

    /// Applies a change after the pending log rows and before `rest`, in one batch (one round
    /// trip, one transaction). `LostClaim` when the change's conditions no longer held.
    async fn write(
        &mut self,
        apply: D1PreparedStatement,
        rest: Vec<D1PreparedStatement>,
    ) -> Result<(), Halt> {
        let mut statements = std::mem::take(&mut self.pending);
        let at = statements.len();
        statements.push(apply);
        statements.extend(rest);
        let results = self.ctx.store.batch(statements).await?;
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

    /// The token alert, raised here for a draft that waits rather than fails (a draft that
    /// fails raises it through the failed queue). Best effort: other drafts raise it too.
    async fn alert_token(&self, failure: &Failure) {
        let text = format!(
            "Instagram publishing is stopped: the access token is expired or invalid ({failure}). Drafts wait or fail until INSTAGRAM_ACCESS_TOKEN is replaced. This alert repeats at most once a day."
        );
        let raised = self
            .ctx
            .alerts
            .raise(TOKEN_INVALID, &text, Some(crate::alert::REPEAT_AFTER))
            .await;
        if let Err(error) = raised {
            worker::console_error!("draft {}: {error}", self.id);
        }
    }

    fn entry(&self) -> Entry<'static> {
        Entry {
            attempt: self.message.attempt,
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

    async fn log_failure(
        &mut self,
        step: Step,
        outcome: Outcome,
        failure: &Failure,
        container_id: Option<&str>,
        note: &str,
    ) -> Result<(), Halt> {
        let message = if note.is_empty() {
            failure.to_string()
        } else {
            format!("{failure}; {note}")
        };
        self.log(
            step,
            outcome,
            Entry {
                error_class: Some(failure.class()),
                error_code: failure.code(),
                error_subcode: failure.subcode(),
                message: Some(&message),
                container_id,
                ..self.entry()
            },
        )
        .await
    }

    /// One Graph API call as a child run of the trace; returns its result and duration.
    async fn traced<T>(
        &mut self,
        name: &str,
        inputs: Value,
        call: impl Future<Output = Result<T, Failure>>,
        describe: impl Fn(&T) -> Value,
    ) -> (Result<T, Failure>, i64) {
        self.graph_calls += 1;
        let child = self.tracer.start_child(name, RunType::Tool, inputs);
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
        self.tracer.finish_child(child, traced, metadata);
        (result, duration)
    }
}

fn describe(halt: &Halt) -> String {
    match halt {
        Halt::Graph { failure, .. } => failure.to_string(),
        Halt::InProgress { container_id } => format!("container {container_id} is in progress"),
        Halt::LostClaim => "the claim was lost".into(),
        Halt::Invalid(reason) | Halt::Store(reason) => reason.clone(),
    }
}
