//! One claimed run: performs each action `domain::publish::Machine` returns (a Graph call,
//! or the conditional write that must be durable before the next call) and feeds its outcome
//! back until the machine ends the run. Log rows wait in `pending` and go with the run's
//! next write, saving round trips.

use domain::draft::DraftId;
use domain::message::QueueMessage;
use domain::publish::{Action, Machine, Outcome as Learned};
use observe::langsmith::RunType;
use platform::clock::{now, random_u64};
use platform::d1::Rows;
use platform::publish_log::{Entry, LogRow, Outcome, Step};
use platform::store::{Change, DraftRow, applied_row};
use platform::trace::Tracer;
use serde_json::{Value, json};
use time::OffsetDateTime;
use worker::D1PreparedStatement;

use super::error::{PublishError, crash_point};
use super::post::{Image, Post, PostError, post_of};
use super::{Ctx, Done, Start};
use crate::graph::{Failure, Graph};

/// A permalink read: the link or why not, and how long the call took (ms).
pub type PermalinkRead = (Result<String, Failure>, i64);

/// One claimed run.
pub struct Run<'a, 't> {
    pub(super) ctx: &'a Ctx<'a>,
    /// The Graph API as the draft's account.
    pub(super) graph: &'a Graph,
    /// The draft's account's id, for its token alert.
    pub(super) account: &'a str,
    pub(super) tracer: &'t mut Tracer,
    pub(super) message: &'a QueueMessage,
    pub(super) id: DraftId,
    pub(super) claim: String,
    /// The row as this run last wrote it.
    pub(super) row: DraftRow,
    /// This run's attempt within the approval, counted from 1.
    pub(super) attempt: u32,
    pub(super) graph_calls: u32,
    /// The run's last failed Graph call: a give-up names its class and code.
    pub(super) last_failure: Option<Failure>,
    /// For the failed queue's give-up: the logged failure that led to it.
    pub(super) cause: Option<Box<LogRow>>,
    /// Log rows (and a new container's record) not written yet: they go with the run's next
    /// write, saving a round trip.
    pub(super) pending: Vec<D1PreparedStatement>,
    /// The permalink read beside the write that recorded the media id, for that media id.
    pub(super) permalink: Option<(String, PermalinkRead)>,
    /// The container made while the claim was written, for the run's opening action.
    pub(super) early_container: Option<ContainerMade>,
}

impl Run<'_, '_> {
    pub(super) async fn run(&mut self, start: Start) -> Result<Done, PublishError> {
        let record = self.row.publish_record();
        let at = now();
        let (mut machine, mut action) = match start {
            Start::Publish { .. } => Machine::start(
                self.ctx.settings.policy(),
                record,
                self.post().err().map(|error| error.to_string()),
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
                    comment,
                } => {
                    return self
                        .succeed_with_comment(media_id.as_deref(), found, &note, &comment)
                        .await;
                }
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
                // A carousel's or the first comment's step.
                other => self.format_step(other, machine.record()).await?,
            };
            action = machine.next(outcome);
        }
    }

    pub(super) fn post(&self) -> Result<Post, PostError> {
        post_of(&self.row, self.ctx.settings)
    }

    pub(super) async fn create_container(&mut self) -> Result<Learned, PublishError> {
        let made = match self.early_container.take() {
            Some(made) => made,
            None => {
                // The machine asks for a container only when the snapshot is valid.
                let post = self.post()?;
                make_container(self.graph, self.tracer, &post).await
            }
        };
        self.graph_calls += 1;
        self.crash_point("create_container")?;
        self.record_container(made).await
    }

    /// A container made (a single image's, or a carousel's parent): its id recorded with the
    /// run's next write, or its failure logged.
    pub(super) async fn record_container(
        &mut self,
        made: ContainerMade,
    ) -> Result<Learned, PublishError> {
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
        self.pend(&change, Step::Container, &entry, started)?;
        Ok(Learned::Created { container_id })
    }

    /// A change and its log row, to go with the run's next write.
    pub(super) fn pend(
        &mut self,
        change: &Change<'_>,
        step: Step,
        entry: &Entry<'_>,
        started: OffsetDateTime,
    ) -> Result<(), PublishError> {
        let log = self
            .ctx
            .log
            .insert_statement(self.id, step, Outcome::Ok, entry, started)?;
        let apply =
            self.ctx
                .store
                .apply_statement(self.id, self.row.expected_state(), change, now())?;
        self.pending.extend([log, apply]);
        Ok(())
    }

    pub(super) async fn read_status(
        &mut self,
        container_id: &str,
    ) -> Result<Learned, PublishError> {
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

    pub(super) async fn publish(&mut self, container_id: &str) -> Result<Learned, PublishError> {
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

    /// Applies a change after the pending log rows and before `rest`, in one batch (one round
    /// trip, one transaction). `LostClaim` when the change's conditions no longer held.
    pub(super) async fn write(
        &mut self,
        change: &Change<'_>,
        rest: Vec<D1PreparedStatement>,
    ) -> Result<(), PublishError> {
        let (statements, at) = self.batch_for(change, rest)?;
        let results = self.ctx.store.batch(statements).await?;
        self.written(change, &results, at)
    }

    /// The batch [`Run::write`] sends, and where the change's own statement is in it.
    pub(super) fn batch_for(
        &mut self,
        change: &Change<'_>,
        rest: Vec<D1PreparedStatement>,
    ) -> Result<(Vec<D1PreparedStatement>, usize), PublishError> {
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
    pub(super) fn written(
        &mut self,
        change: &Change<'_>,
        results: &[Rows],
        at: usize,
    ) -> Result<(), PublishError> {
        self.crash_point(&crash_point_name(change))?;
        match results.get(at).map(applied_row).transpose()?.flatten() {
            Some(row) => {
                self.row = row;
                Ok(())
            }
            None => Err(PublishError::LostClaim),
        }
    }

    /// Writes the pending log rows, if any.
    pub(super) async fn flush(&mut self) -> Result<(), PublishError> {
        if !self.pending.is_empty() {
            let statements = std::mem::take(&mut self.pending);
            self.ctx.store.batch(statements).await?;
        }
        Ok(())
    }

    pub(super) fn entry(&self) -> Entry<'static> {
        Entry {
            attempt: self.attempt,
            ..Entry::default()
        }
    }

    pub(super) async fn log(
        &mut self,
        step: Step,
        outcome: Outcome,
        entry: Entry<'_>,
    ) -> Result<(), PublishError> {
        let row = self
            .ctx
            .log
            .insert_statement(self.id, step, outcome, &entry, now())?;
        self.pending.push(row);
        self.flush().await
    }

    /// A failed Graph step's row; it goes with the run's next write.
    pub(super) async fn log_failure(
        &mut self,
        step: Step,
        failure: &Failure,
        container_id: Option<&str>,
    ) -> Result<(), PublishError> {
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
    pub(super) async fn traced<T>(
        &mut self,
        name: &str,
        inputs: Value,
        call: impl Future<Output = Result<T, Failure>>,
        describe: impl Fn(&T) -> Value,
    ) -> Result<(Result<T, Failure>, i64), PublishError> {
        self.graph_calls += 1;
        let traced = traced_call(self.tracer, name, inputs, call, describe).await;
        self.crash_point(name)?;
        Ok(traced)
    }

    /// Stops the run dead here if the settings say so: a fault for the crash-point tests.
    pub(super) fn crash_point(&self, point: &str) -> Result<(), PublishError> {
        crash_point(self.ctx.settings, self.id, point)
    }
}

/// The crash point after a write: the event it recorded, or the first comment's own step.
fn crash_point_name(change: &Change<'_>) -> String {
    match change {
        Change::CommentSent { .. } => "CommentSent".into(),
        Change::CommentEnded { .. } => "CommentEnded".into(),
        Change::ChildrenCreated { .. } => "ChildrenCreated".into(),
        other => format!("{:?}", other.event()),
    }
}

/// One Graph API call as a child run of the trace; returns its result and duration (ms).
pub async fn traced_call<T>(
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
        Err(failure) => Err(failure as &dyn std::fmt::Display),
    };
    tracer.finish_child(child, traced, metadata);
    (result, duration)
}

/// A container made (or refused): the call's result, how long it took (ms), when it began.
pub struct ContainerMade {
    pub(super) result: Result<String, Failure>,
    pub(super) duration: i64,
    pub(super) started: OffsetDateTime,
}

/// A single image's container, with the post's fields.
pub async fn make_container(graph: &Graph, tracer: &mut Tracer, post: &Post) -> ContainerMade {
    let started = now();
    let image = post.images.first().cloned().unwrap_or(Image {
        url: String::new(),
        alt_text: String::new(),
    });
    let fields = post.fields();
    let (result, duration) = traced_call(
        tracer,
        "create_container",
        json!({
            "imageUrl": image.url,
            "caption": post.caption,
            "altText": image.alt_text,
            "collaborators": post.collaborators,
            "locationId": post.location_id,
            "isAiGenerated": post.is_ai_generated,
        }),
        graph.create_container(&image.url, &post.caption, &image.alt_text, &fields),
        |id| json!({ "containerId": id }),
    )
    .await;
    ContainerMade {
        result,
        duration,
        started,
    }
}
