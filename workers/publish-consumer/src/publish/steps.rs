//! The steps of a carousel and of the first comment: a child container made and recorded,
//! the parent made from the children, the comment's send and its lookup, and how the
//! comment ended (recorded with the post, and the operator told once if it failed).

use domain::publish::{Action, CommentEnd, Outcome as Learned, Record};
use platform::clock::now;
use platform::publish_log::{Entry, Outcome, Step};
use platform::store::Change;
use serde_json::json;

use super::Done;
use super::error::PublishError;
use super::run::{ContainerMade, Run};

impl Run<'_, '_> {
    /// Performs a carousel's or the first comment's step; the machine's other actions are
    /// the run's own.
    pub(super) async fn format_step(
        &mut self,
        action: Action,
        record: &Record,
    ) -> Result<Learned, PublishError> {
        match action {
            Action::CreateChild { index } => {
                let earlier = record.children.get(..index).unwrap_or_default().to_vec();
                self.create_child(index, earlier).await
            }
            Action::ReadChild { container_id, .. } => self.read_status(&container_id).await,
            Action::CreateCarousel { children } => self.create_carousel(&children).await,
            Action::RecordComment => {
                let claim = self.claim.clone();
                let change = Change::CommentSent {
                    claim: &claim,
                    at: now(),
                };
                self.write(&change, Vec::new()).await?;
                Ok(Learned::Recorded)
            }
            Action::PostComment { media_id } => self.post_comment(&media_id).await,
            Action::FindComment { media_id } => self.find_comment(&media_id).await,
            other => Err(PublishError::NotAStep(other)),
        }
    }

    /// The post is live: how its first comment ended goes with the success's write, and a
    /// failed one is told to the operator once.
    pub(super) async fn succeed_with_comment(
        &mut self,
        media_id: Option<&str>,
        found: bool,
        note: &str,
        comment: &CommentEnd,
    ) -> Result<Done, PublishError> {
        self.comment_ended(comment)?;
        let done = self.succeed(media_id, found, note).await?;
        self.alert_comment(comment).await;
        Ok(done)
    }

    /// Makes the carousel's child `index`; the children made so far (`earlier` and the new
    /// one) are recorded with the run's next write, so a later run reuses them.
    pub(super) async fn create_child(
        &mut self,
        index: usize,
        mut earlier: Vec<String>,
    ) -> Result<Learned, PublishError> {
        let post = self.post()?;
        let Some(image) = post.images.get(index) else {
            return Err(PublishError::NoCarouselImage(index));
        };
        let started = now();
        let graph = self.graph;
        let (result, duration) = self
            .traced(
                "create_carousel_item",
                json!({ "index": index, "imageUrl": image.url, "altText": image.alt_text }),
                graph.create_carousel_item(&image.url, &image.alt_text),
                |id| json!({ "containerId": id }),
            )
            .await?;
        let container_id = match result {
            Ok(id) => id,
            Err(failure) => {
                self.log_failure(Step::Container, &failure, None).await?;
                return Ok(Learned::Failed(failure.trouble()));
            }
        };
        earlier.push(container_id.clone());
        let children = serde_json::to_string(&earlier).unwrap_or_else(|_| "[]".into());
        let note = format!("carousel item {} of {}", index + 1, post.images.len());
        let entry = Entry {
            message: Some(&note),
            container_id: Some(&container_id),
            duration_ms: Some(duration),
            ..self.entry()
        };
        let claim = self.claim.clone();
        let change = Change::ChildrenCreated {
            claim: &claim,
            children: &children,
        };
        self.pend(&change, Step::Container, &entry, started)?;
        Ok(Learned::Created { container_id })
    }

    /// The carousel's parent over its `FINISHED` children, with the caption and options.
    pub(super) async fn create_carousel(
        &mut self,
        children: &[String],
    ) -> Result<Learned, PublishError> {
        let post = self.post()?;
        let fields = post.fields();
        let started = now();
        let graph = self.graph;
        let (result, duration) = self
            .traced(
                "create_carousel",
                json!({
                    "children": children,
                    "caption": post.caption,
                    "collaborators": post.collaborators,
                    "locationId": post.location_id,
                    "isAiGenerated": post.is_ai_generated,
                }),
                graph.create_carousel(children, &post.caption, &fields),
                |id| json!({ "containerId": id }),
            )
            .await?;
        self.record_container(ContainerMade {
            result,
            duration,
            started,
        })
        .await
    }

    /// The approved first comment; the machine asks for it only when there is one.
    fn comment_text(&self) -> Result<String, PublishError> {
        self.post()?
            .first_comment
            .ok_or(PublishError::NoFirstComment)
    }

    pub(super) async fn post_comment(&mut self, media_id: &str) -> Result<Learned, PublishError> {
        let message = self.comment_text()?;
        let graph = self.graph;
        let (result, duration) = self
            .traced(
                "post_comment",
                json!({ "mediaId": media_id, "message": message }),
                graph.post_comment(media_id, &message),
                |id| json!({ "commentId": id }),
            )
            .await?;
        match result {
            Ok(comment_id) => {
                let entry = Entry {
                    message: Some("the first comment was posted"),
                    media_id: Some(media_id),
                    duration_ms: Some(duration),
                    ..self.entry()
                };
                self.pend_log(Step::Comment, &entry)?;
                Ok(Learned::Commented { comment_id })
            }
            Err(failure) => {
                self.log_failure(Step::Comment, &failure, None).await?;
                Ok(Learned::Failed(failure.trouble()))
            }
        }
    }

    /// The first comment among the post's comments, by its text.
    pub(super) async fn find_comment(&mut self, media_id: &str) -> Result<Learned, PublishError> {
        let message = self.comment_text()?;
        let graph = self.graph;
        let (result, _) = self
            .traced(
                "comments",
                json!({ "mediaId": media_id }),
                graph.comments(media_id),
                |comments| json!({ "comments": comments.len() }),
            )
            .await?;
        match result {
            Ok(comments) => {
                let found = comments
                    .into_iter()
                    .find(|comment| comment.text.trim() == message)
                    .map(|comment| comment.id);
                let note = match found {
                    Some(_) => "the first comment is among the post's comments",
                    None => "the first comment is not among the post's comments",
                };
                let entry = Entry {
                    message: Some(note),
                    media_id: Some(media_id),
                    ..self.entry()
                };
                self.pend_log(Step::Reconcile, &entry)?;
                Ok(Learned::Comment(found))
            }
            Err(failure) => {
                self.log_failure(Step::Reconcile, &failure, None).await?;
                Ok(Learned::Failed(failure.trouble()))
            }
        }
    }

    /// A step's log row, to go with the run's next write.
    fn pend_log(&mut self, step: Step, entry: &Entry<'_>) -> Result<(), PublishError> {
        let row = self
            .ctx
            .log
            .insert_statement(self.id, step, Outcome::Ok, entry, now())?;
        self.pending.push(row);
        Ok(())
    }

    /// How the first comment ended goes with the success's write (one round trip).
    fn comment_ended(&mut self, comment: &CommentEnd) -> Result<(), PublishError> {
        let (comment_id, error) = match comment {
            CommentEnd::Unchanged => return Ok(()),
            CommentEnd::Posted(id) => (Some(id.as_str()), None),
            CommentEnd::Failed(reason) => (None, Some(reason.as_str())),
        };
        let claim = self.claim.clone();
        let change = Change::CommentEnded {
            claim: &claim,
            comment_id,
            error,
        };
        let apply =
            self.ctx
                .store
                .apply_statement(self.id, self.row.expected_state(), &change, now())?;
        let entry = Entry {
            message: Some(error.unwrap_or("the first comment is recorded")),
            ..self.entry()
        };
        let outcome = if error.is_some() {
            Outcome::Failed
        } else {
            Outcome::Ok
        };
        let log = self
            .ctx
            .log
            .insert_statement(self.id, Step::Comment, outcome, &entry, now())?;
        self.pending.extend([log, apply]);
        Ok(())
    }

    /// A post published without its first comment: the operator is told once. The post is
    /// live and recorded whatever happens here, so a failed alert is only logged.
    async fn alert_comment(&mut self, comment: &CommentEnd) {
        let CommentEnd::Failed(reason) = comment else {
            return;
        };
        let account = self.ctx.accounts.name_of(self.row.account_id.as_deref());
        let text = format!(
            "An Instagram post was published without its first comment (draft {id}, {label}): {reason}.",
            id = self.id,
            label = account.1
        );
        let kind = format!("first_comment:{}", self.id);
        if let Err(error) = self.ctx.alerts.raise(&kind, &text, None).await {
            worker::console_warn!("draft {}: the first comment's alert: {error}", self.id);
        }
    }
}
