//! The image-consumer Worker: for each `fit_uploads` message it fits the draft's uploaded
//! photos (`uploads`); for each `generate_image` message it claims the draft's image,
//! has the configured provider make it (`provider`), fits it to Instagram's rules
//! (`media::fit_for_instagram`: the bytes stored are checked, not the provider's word), stores
//! it in R2 and records it in D1. A batch runs at most [`IN_FLIGHT`] jobs at once.
//!
//! The claim (`generating`, with a lease) makes a duplicate delivery step aside while the
//! first job is live; a job that died is taken over once its lease lapses. Retries are
//! explicit: a failed attempt releases the claim and sends the next attempt with a backoff
//! delay (a provider's `Retry-After` wins); after the last attempt the image is marked failed,
//! so the reviewer sees why. A refusal, or an answer that is no usable image, fails at once:
//! asking again would give the same answer. A message is acked only once its outcome is
//! recorded, so a crash leaves it to the queue.

mod provider;
mod uploads;

use domain::backoff::{Backoff, QUEUE_MAX_DELAY_SECONDS};
use domain::draft::{DraftId, ImageStatus, Status};
use domain::message::{Action, QueueMessage};
use futures::StreamExt;
use media::provider::ImageError;
use observe::langsmith::RunType;
use platform::clock::{now, random_hex, random_u64};
use platform::config::number;
use platform::media::{MEDIA_BINDING, image_key};
use platform::queue::{IMAGE_QUEUE, IMAGE_QUEUE_NAME, send, well_formed};
use platform::store::{Change, DraftRow, DraftStore, StoreError};
use platform::trace::{LangSmith, Outcome, Tracer};
use provider::{ConfigError, Maker, redact};
use serde_json::json;
use time::Duration;
use worker::{Context, Env, MessageBatch, MessageExt, RawMessage, event};

/// Image jobs of one batch in flight at once. Each holds an outgoing connection while its
/// provider works, and a Worker invocation may keep six open.
pub const IN_FLIGHT: usize = 5;

/// How long a provider may take for one image, download included, unless `IMAGE_TIMEOUT_MS`
/// says otherwise.
const DEFAULT_TIMEOUT_MS: u64 = 60_000;

#[event(queue)]
async fn queue(
    batch: MessageBatch<worker::wasm_bindgen::JsValue>,
    env: Env,
    ctx: Context,
) -> worker::Result<()> {
    let messages = well_formed(&env, &batch).await;
    // Read once per batch; a configuration error fails each job, which retries it.
    let maker = Maker::from_env(&env);
    let (env, ctx, maker) = (&env, &ctx, &maker);
    // One job fits all of a draft's waiting uploads: its other messages in the batch step aside.
    let mut fitting = std::collections::HashSet::new();
    futures::stream::iter(messages)
        .map(|(raw, message, received_at)| {
            let again = message.action == Action::FitUploads && !fitting.insert(message.id);
            async move {
                let outcome = if again {
                    Ok(Done::Skipped(
                        "another message of this batch fits the draft's uploads",
                    ))
                } else {
                    handle(env, ctx, maker, &message).await
                };
                settle(env, raw, &message, outcome, received_at);
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<()>>()
        .await;
    Ok(())
}

/// Records the message's data point, then acks or retries it.
fn settle(
    env: &Env,
    raw: RawMessage,
    message: &QueueMessage,
    outcome: Result<Done, JobError>,
    received_at: time::OffsetDateTime,
) {
    let label = match &outcome {
        Ok(Done::Stored) => "stored",
        Ok(Done::Skipped(_)) => "skipped",
        Ok(Done::Busy) => "busy",
        Ok(Done::Retrying) => "retrying",
        Ok(Done::GaveUp) => "gave_up",
        Err(_) => "failed",
    };
    platform::metrics::record_message(env, IMAGE_QUEUE_NAME, message, label, received_at);
    match outcome {
        Ok(Done::Stored | Done::Retrying | Done::GaveUp) => raw.ack(),
        Ok(Done::Skipped(reason)) => {
            worker::console_log!("draft {}: image skipped: {reason}", message.id);
            raw.ack();
        }
        // The live job's own message stays unacked until its outcome is recorded, so if
        // it dies the queue hands that message out again.
        Ok(Done::Busy) => {
            worker::console_log!(
                "draft {}: another job holds the image; this delivery steps aside",
                message.id
            );
            raw.ack();
        }
        Err(error) => {
            // Could not even record the outcome: let the queue retry the whole message.
            worker::console_error!("draft {}: {error}", message.id);
            raw.retry();
        }
    }
}

enum Done {
    Stored,
    Skipped(&'static str),
    /// Another job holds a live claim on the image.
    Busy,
    /// The attempt failed; the next one is queued.
    Retrying,
    /// The image is marked failed: the provider refused, answered with no usable image, or
    /// the last attempt failed.
    GaveUp,
}

/// Why a job could not record its outcome: its message goes back to the queue.
#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error("D1: {0}")]
    D1(#[from] worker::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Setting(platform::config::NotANumber),
    #[error("queueing the next attempt: {0}")]
    Queue(worker::Error),
    #[error("recording the image failure failed: {0}")]
    Recording(Box<JobError>),
}

/// Why an attempt failed, and whether another may succeed.
enum Failure {
    /// An outage, a timeout, a rate limit (with the wait the provider asked for), a
    /// configuration error: the next attempt may succeed.
    Transient {
        reason: String,
        retry_after_seconds: Option<u64>,
    },
    /// Asking again would give the same answer.
    Permanent(String),
}

impl From<&ImageError> for Failure {
    fn from(error: &ImageError) -> Self {
        if error.is_permanent() {
            Failure::Permanent(error.to_string())
        } else {
            Failure::Transient {
                reason: error.to_string(),
                retry_after_seconds: error.retry_after_seconds(),
            }
        }
    }
}

impl Failure {
    fn transient(reason: impl Into<String>) -> Self {
        Failure::Transient {
            reason: reason.into(),
            retry_after_seconds: None,
        }
    }

    /// The same failure with the maker's keys and token shapes removed from its reason.
    fn redacted(self, secrets: &[String]) -> Self {
        match self {
            Failure::Transient {
                reason,
                retry_after_seconds,
            } => Failure::Transient {
                reason: redact(&reason, secrets),
                retry_after_seconds,
            },
            Failure::Permanent(reason) => Failure::Permanent(redact(&reason, secrets)),
        }
    }

    fn reason(&self) -> &str {
        match self {
            Failure::Transient { reason, .. } | Failure::Permanent(reason) => reason,
        }
    }
}

async fn handle(
    env: &Env,
    ctx: &Context,
    maker: &Result<Maker, ConfigError>,
    message: &QueueMessage,
) -> Result<Done, JobError> {
    if message.action == Action::FitUploads {
        return uploads::fit(env, message).await;
    }
    if message.action != Action::GenerateImage {
        return Ok(Done::Skipped("not a generate_image message"));
    }
    let store = DraftStore::from_env(env)?;
    let Some(draft) = store.get(message.id).await? else {
        // The api inserts the row before it queues the message, so a missing row was discarded.
        return Ok(Done::Skipped("the draft no longer exists"));
    };
    let started = now();
    if let Some(done) = step_aside(&draft, started) {
        return Ok(done);
    }
    let claim = random_hex::<16>();
    let timeout_ms: u64 =
        number(env, "IMAGE_TIMEOUT_MS", DEFAULT_TIMEOUT_MS).map_err(JobError::Setting)?;
    // The lease outlives the provider's deadline, so a live job is never taken over.
    let lease_seconds = number(env, "IMAGE_LEASE_SECONDS", 120i64)
        .map_err(JobError::Setting)?
        .max(i64::try_from(timeout_ms / 1000).unwrap_or(i64::MAX / 2) + 30);
    let claimed = store
        .apply(
            message.id,
            draft.expected_state(),
            &Change::ImageClaimed {
                claim: &claim,
                lease_until: started + Duration::seconds(lease_seconds),
                now: started,
            },
            started,
        )
        .await?;
    // Another delivery claimed it between the read and the claim.
    let Some(claimed) = claimed else {
        return Ok(Done::Busy);
    };
    let job = Job {
        env,
        store: &store,
        id: message.id,
        claimed: &claimed,
        claim: &claim,
        timeout_ms,
    };
    job.run(ctx, maker, message).await
}

/// Why this delivery has nothing to do for `draft`, if it has nothing to do.
fn step_aside(draft: &DraftRow, now: time::OffsetDateTime) -> Option<Done> {
    match draft.image_status() {
        ImageStatus::Ready => {
            return Some(Done::Skipped(
                "the image is already stored (a repeated delivery)",
            ));
        }
        ImageStatus::Failed => return Some(Done::Skipped("the image was given up on")),
        ImageStatus::Generating
            if draft
                .image_lease_expires_at()
                .is_some_and(|lease| lease > now) =>
        {
            return Some(Done::Busy);
        }
        ImageStatus::Pending | ImageStatus::Generating => {}
    }
    (draft.status() != Status::Draft)
        .then_some(Done::Skipped("the draft is no longer under review"))
}

/// One claimed image job.
struct Job<'a> {
    env: &'a Env,
    store: &'a DraftStore,
    id: DraftId,
    claimed: &'a DraftRow,
    claim: &'a str,
    timeout_ms: u64,
}

impl Job<'_> {
    /// Runs the claimed job, traced, and records its outcome: stored, retried or given up.
    async fn run(
        &self,
        ctx: &Context,
        maker: &Result<Maker, ConfigError>,
        message: &QueueMessage,
    ) -> Result<Done, JobError> {
        let (provider, model, secrets) = match maker {
            Ok(maker) => (maker.provider(), maker.model().to_owned(), maker.secrets()),
            Err(_) => ("unconfigured", String::new(), Vec::new()),
        };
        let draft_id = message.id.to_string();
        let mut tracer = Tracer::start(
            "generate_image",
            json!({
                "draftId": draft_id,
                "attempt": message.attempt,
                "prompt": self.claimed.image_prompt,
            }),
            json!({
                "provider": provider,
                "model": model,
                "draftId": draft_id,
                "attempt": message.attempt,
            }),
        );
        let failure = match self.make_and_store(maker, &mut tracer).await {
            Ok((done, outputs)) => {
                send_trace(self.env, ctx, tracer, Ok(outputs), secrets);
                return Ok(done);
            }
            Err(failure) => failure.redacted(&secrets),
        };
        worker::console_error!(
            "draft {}: image attempt {} failed: {}",
            message.id,
            message.attempt,
            failure.reason()
        );
        send_trace(self.env, ctx, tracer, Err(&failure.reason()), secrets);
        retry_or_give_up(
            self.env,
            self.store,
            message,
            self.claimed,
            self.claim,
            &failure,
        )
        .await
        .map_err(|e| JobError::Recording(Box::new(e)))
    }

    /// Makes the image, fits it, stores it and records it; answers the trace's outputs.
    async fn make_and_store(
        &self,
        maker: &Result<Maker, ConfigError>,
        tracer: &mut Tracer,
    ) -> Result<(Done, serde_json::Value), Failure> {
        let maker = maker
            .as_ref()
            .map_err(|error| Failure::transient(error.to_string()))?;
        let prompt = &self.claimed.image_prompt;
        let metadata = json!({ "provider": maker.provider(), "model": maker.model() });

        let call = tracer.start_child(
            "image_model",
            RunType::Llm,
            json!({ "prompt": prompt, "model": maker.model() }),
        );
        let made = maker.make(self.env, self.id, prompt, self.timeout_ms).await;
        let made = match made {
            Ok(made) => {
                let mut meta = metadata.clone();
                meta["bytes"] = json!(made.bytes.len());
                let outputs = json!({ "bytes": made.bytes.len(), "via": made.via });
                tracer.finish_child(call, Ok(outputs), meta);
                made
            }
            Err(error) => {
                tracer.finish_child(call, Err(&error), metadata);
                return Err(Failure::from(&error));
            }
        };
        let (jpeg, summary) = fit(maker.provider(), &made.bytes, tracer)?;

        let key = image_key(&self.id.to_string(), &random_hex::<8>());
        let done = self.store_image(&key, jpeg).await?;
        let mut outputs = summary;
        outputs["key"] = json!(key);
        outputs["outcome"] = json!(match done {
            Done::Stored => "stored",
            _ => "claim lost",
        });
        Ok((done, outputs))
    }

    /// Puts the image in R2 and records it with the claim; a replaced image goes once the new
    /// one is recorded, unless an approved snapshot still names it.
    async fn store_image(&self, key: &str, jpeg: Vec<u8>) -> Result<Done, Failure> {
        let r2 = |e: worker::Error| Failure::transient(format!("R2: {e}"));
        let bucket = self.env.bucket(MEDIA_BINDING).map_err(r2)?;
        let metadata = worker::HttpMetadata {
            content_type: Some("image/jpeg".into()),
            ..Default::default()
        };
        bucket
            .put(key, jpeg)
            .http_metadata(metadata)
            .execute()
            .await
            .map_err(r2)?;
        let recorded = self
            .store
            .apply(
                self.id,
                self.claimed.expected_state(),
                &Change::ImageStored {
                    claim: self.claim,
                    key,
                },
                now(),
            )
            .await;
        match recorded {
            Ok(Some(row)) => {
                let approved = [
                    row.approved_image_key.as_deref(),
                    self.claimed.approved_image_key.as_deref(),
                ];
                // The old image may be one of the post's items (a carousel keeps it).
                let in_items = |old: &str| {
                    [&row.media_items, &row.approved_media_items]
                        .into_iter()
                        .flatten()
                        .any(|json| json.contains(&format!("\"{old}\"")))
                };
                let old =
                    self.claimed.image_key.as_deref().filter(|old| {
                        *old != key && !approved.contains(&Some(*old)) && !in_items(old)
                    });
                if let Some(old) = old {
                    // The new image is recorded; an old one left behind is an orphan that
                    // housekeeping removes, so a failure here only logs.
                    if let Err(e) = bucket.delete(old).await {
                        worker::console_warn!("draft {}: removing old image {old}: {e}", self.id);
                    }
                }
                Ok(Done::Stored)
            }
            // The claim was lost (the lease lapsed and another job took over, or the draft was
            // discarded meanwhile): this object is nobody's, so it goes.
            Ok(None) => {
                bucket.delete(key).await.map_err(r2)?;
                Ok(Done::Skipped(
                    "the claim on the image was lost while it was made",
                ))
            }
            // Unknown whether it was recorded: keep the object. If it was not, housekeeping
            // removes it as an orphan; deleting it here could remove a recorded image.
            Err(e) => Err(Failure::transient(format!("recording image {key}: {e}"))),
        }
    }
}

/// Fits the provider's answer to Instagram's rules ([`media::fit_for_instagram`]), traced:
/// the JPEG and what was done to it.
fn fit(
    provider: &str,
    bytes: &[u8],
    tracer: &mut Tracer,
) -> Result<(Vec<u8>, serde_json::Value), Failure> {
    let step = tracer.start_child(
        "fit_for_instagram",
        RunType::Tool,
        json!({ "bytes": bytes.len() }),
    );
    let fitted = match media::fit_for_instagram(bytes) {
        Ok(fitted) => fitted,
        Err(error) => {
            let reason = format!("the {provider} answer is no usable image: {error}");
            tracer.finish_child(step, Err(&reason), json!({}));
            return Err(Failure::Permanent(reason));
        }
    };
    let summary = json!({
        "source": {
            "format": fitted.source.as_str(),
            "width": fitted.source_width,
            "height": fitted.source_height,
        },
        "width": fitted.info.width,
        "height": fitted.info.height,
        "bytes": fitted.info.bytes,
        "reencoded": fitted.reencoded,
        "cropped": fitted.cropped,
        "scaled": fitted.scaled,
    });
    tracer.finish_child(
        step,
        Ok(summary.clone()),
        json!({ "bytes": fitted.info.bytes }),
    );
    Ok((fitted.jpeg, summary))
}

/// Sends the job's trace to LangSmith after the batch, when a key is configured.
fn send_trace(env: &Env, ctx: &Context, tracer: Tracer, result: Outcome<'_>, secrets: Vec<String>) {
    let Some(langsmith) = LangSmith::from_env(env) else {
        return;
    };
    let trace = tracer.finish(result);
    ctx.wait_until(async move {
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        langsmith.send(&trace, &secrets).await;
    });
}

async fn retry_or_give_up(
    env: &Env,
    store: &DraftStore,
    message: &QueueMessage,
    claimed: &DraftRow,
    claim: &str,
    failure: &Failure,
) -> Result<Done, JobError> {
    let policy = Backoff::IMAGE;
    match failure {
        Failure::Transient {
            reason,
            retry_after_seconds,
        } if policy.allows_retry_after(message.attempt) => {
            // The provider's own wait wins over the policy's.
            let delay = match retry_after_seconds {
                Some(seconds) => u32::try_from(*seconds)
                    .unwrap_or(u32::MAX)
                    .min(QUEUE_MAX_DELAY_SECONDS),
                None => policy.delay_seconds(message.attempt, random_u64()),
            };
            // Stamped with the time it is due, so queue latency does not count the backoff.
            let due = now() + Duration::seconds(i64::from(delay));
            // Queue the next attempt first: if releasing the claim then fails, its lease lapses
            // and the next attempt takes over.
            send(env, IMAGE_QUEUE, &message.next_attempt(due), delay)
                .await
                .map_err(JobError::Queue)?;
            let reason = format!("attempt {} failed: {reason}", message.attempt);
            store
                .apply(
                    message.id,
                    claimed.expected_state(),
                    &Change::ImageDeferred {
                        claim,
                        reason: &reason,
                    },
                    now(),
                )
                .await?;
            Ok(Done::Retrying)
        }
        Failure::Transient { reason, .. } => {
            let reason = format!(
                "image generation failed {} times; last error: {reason}",
                message.attempt
            );
            record_failed(store, message, claimed, claim, &reason).await?;
            Ok(Done::GaveUp)
        }
        Failure::Permanent(reason) => {
            let reason = format!(
                "image generation gave up at attempt {} without retrying: {reason}",
                message.attempt
            );
            record_failed(store, message, claimed, claim, &reason).await?;
            Ok(Done::GaveUp)
        }
    }
}

async fn record_failed(
    store: &DraftStore,
    message: &QueueMessage,
    claimed: &DraftRow,
    claim: &str,
    reason: &str,
) -> Result<(), JobError> {
    store
        .apply(
            message.id,
            claimed.expected_state(),
            &Change::ImageFailed {
                claim: Some(claim),
                reason,
            },
            now(),
        )
        .await?;
    Ok(())
}
