//! The review decisions that send a draft to Instagram (the design's `ReviewWorkflow`):
//! `POST /api/v1/drafts/{id}/approve` and, for a failed draft, `.../reapprove`.
//!
//! An approval names the revision the person looked at. In one D1 transaction the review
//! comment is recorded (only if the draft is still at that revision) and the draft moves
//! `draft -> approved`, copying that revision's own text and image key into the approved
//! snapshot; of two approvals at once exactly one does both. Only then is the publish
//! message sent; if that fails, the draft is marked `failed` with the reason (a reviewer
//! approves it again), so no draft waits in `approved` with no message.
//!
//! `.../withdraw` takes an approval back while no `media_publish` may have been called for
//! it: the draft returns to review and nothing is published. So is a failed post corrected:
//! back to review with its text, edited, and approved again from the edited revision.
//!
//! These are a named reviewer's acts (a session, or the reviewer's own token); the route
//! table refuses the `API_TOKEN` before any of this runs.
//!
//! A post with a `scheduledAt` is not queued here: the scheduler (publish-consumer's Cron
//! Trigger) queues it when its time comes, however far ahead, and holds it back while the
//! publishing quota is used up.

use domain::content::PostText;
use domain::draft::{ImageStatus, Status};
use domain::message::{Action, QueueMessage};
use generation::{FieldError, parse_scheduled_at};
use platform::clock::now;
use platform::queue::{PUBLISH_QUEUE, send};
use platform::store::{Change, DraftRow, DraftStore};
use serde_json::json;
use time::OffsetDateTime;
use worker::{Env, Response};

use crate::decide::{self, Decision, DraftCall, OpenTo, Refused, Target};
use crate::reply::{self, ApiError};
use crate::{body, drafts};

pub(crate) struct ApprovalRequest {
    pub(crate) revision: i64,
    pub(crate) comment: Option<String>,
    pub(crate) scheduled_at: Option<OffsetDateTime>,
}

impl decide::Action for ApprovalRequest {
    fn revision(&self) -> Option<i64> {
        Some(self.revision)
    }
}

pub async fn approve(call: DraftCall<'_>) -> Result<Response, ApiError> {
    approve_with(call, Approver::Reviewer).await
}

/// A client's approval through their link (`client_link`): every rule of a reviewer's (the
/// revision they saw, the image ready, the text within the rules), without a time of their
/// own: the time the team planned, if it is still ahead, stands.
pub async fn approve_via_link(call: DraftCall<'_>) -> Result<Response, ApiError> {
    approve_with(call, Approver::Client).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Approver {
    Reviewer,
    Client,
}

async fn approve_with(mut call: DraftCall<'_>, approver: Approver) -> Result<Response, ApiError> {
    let started = now();
    let fields: &[&str] = match approver {
        Approver::Reviewer => &["revision", "comment", "scheduledAt"],
        Approver::Client => &["revision", "comment"],
    };
    let parse = |body: &[u8]| parse_request(body, fields, started);
    let open_to = OpenTo::under_review("only a draft under review can be approved");
    let (mut request, target) = Target::open_action(&mut call, parse, open_to).await?;
    let row = &target.row;
    if row.image_status() != ImageStatus::Ready {
        return Err(Refused::ImageNotReady(row.image_status()).into());
    }
    // A carousel's images: every one ready. The approval's revision guard keeps them so:
    // only a pending upload changes without a new revision.
    crate::items::approvable(row)?;
    // The rules may have changed since the text was written (a lower hashtag cap).
    let text = row
        .text()
        .ok_or_else(|| ApiError::Internal("a visible draft without text".into()))?;
    PostText::parse(&text, target.max_hashtags)
        .map_err(|errors| ApiError::Validation(errors.iter().map(FieldError::from).collect()))?;

    if approver == Approver::Client {
        request.scheduled_at = row.scheduled_at().filter(|at| *at > started);
    }
    // Published now: the message goes out right after the write, due now. Scheduled: none.
    let due_at = request.scheduled_at.is_none().then_some(started);
    let change = Change::Approve {
        by: &call.actor.name,
        scheduled_at: request.scheduled_at,
        due_at,
    };
    send_to_instagram(&call, &target, &change, "approve", &request, due_at).await
}

/// `POST /api/v1/drafts/{id}/reapprove`: a failed draft gets a new series of attempts with
/// the same approved snapshot; its earlier publish logs stay.
pub async fn reapprove(mut call: DraftCall<'_>) -> Result<Response, ApiError> {
    let started = now();
    let parse = |body: &[u8]| parse_request(body, &["revision", "comment"], started);
    let open_to = OpenTo(
        &[Status::Failed],
        "only a failed draft can be approved again",
    );
    let (request, target) = Target::open_action(&mut call, parse, open_to).await?;
    let row = &target.row;
    let approved_image = row.approved_image_key.is_some() || row.approved_media_items.is_some();
    if row.approved_text().is_none() || !approved_image {
        return Err(Refused::NoApprovedSnapshot.into());
    }
    // Its schedule stands: still ahead, the scheduler queues it then; passed, it goes now.
    let due_at = row
        .scheduled_at()
        .is_none_or(|at| at <= started)
        .then_some(started);
    let change = Change::Reapprove {
        by: &call.actor.name,
        due_at,
    };
    send_to_instagram(&call, &target, &change, "reapprove", &request, due_at).await
}

/// What approval, re-approval and rescheduling share: the decision with its record, the
/// publish message when it is due now, the trace, and the answer.
async fn send_to_instagram(
    call: &DraftCall<'_>,
    target: &Target,
    change: &Change<'_>,
    kind: &str,
    request: &ApprovalRequest,
    due_at: Option<OffsetDateTime>,
) -> Result<Response, ApiError> {
    let record = Decision::by(call.actor, kind, request.comment.as_deref());
    let approved = target.decide(change, &record, now()).await?;
    let queued = queue_publish(call.env, &target.store, &approved, due_at).await?;
    let details = json!({ "comment": request.comment });
    let mut view = target.recorded(call, kind, &approved, details)?;
    if kind == "approve" {
        crate::review_trace::learn_from_approval(call.env, call.ctx, &approved);
    }
    view["publish"] = match queued {
        Queued::Now => json!({ "queued": "now" }),
        Queued::AtScheduledTime => json!({ "queued": "at_scheduled_time" }),
    };
    reply::json(200, &view)
}

/// `POST /api/v1/drafts/{id}/schedule`: a person changes the time of an approved post whose
/// publish message is not queued yet (a scheduled post not yet due, or one held back by the
/// quota), or clears it (`null`), which queues the post at once as an approval without a time
/// does. It names the revision the person saw.
pub async fn reschedule(mut call: DraftCall<'_>) -> Result<Response, ApiError> {
    let started = now();
    let parse = |body: &[u8]| parse_reschedule(body, started);
    let open_to = OpenTo(
        &[Status::Approved],
        "only an approved post's time can be changed",
    );
    let (request, target) = Target::open_action(&mut call, parse, open_to).await?;
    let row = &target.row;
    if let Some(due) = &row.publish_due_at {
        return Err(Refused::AlreadyQueued(due.clone()).into());
    }
    // Cleared: it goes now, as an approval without a time. Changed: the scheduler queues it.
    let due_at = request.scheduled_at.is_none().then_some(started);
    let change = Change::Reschedule {
        scheduled_at: request.scheduled_at,
        due_at,
    };
    send_to_instagram(&call, &target, &change, "reschedule", &request, due_at).await
}

/// `POST /api/v1/drafts/{id}/withdraw {revision, comment?}`: an approved (or failed) post
/// goes back to review, its approval undone, as long as no `media_publish` may have been called for it
/// (`Change::Withdraw` is conditional on no claim and no sent container). A publish message
/// already queued finds a draft under review and publishes nothing.
pub async fn withdraw(mut call: DraftCall<'_>) -> Result<Response, ApiError> {
    let parse = |body: &[u8]| parse_request(body, &["revision", "comment"], now());
    let (request, target) = Target::open_action(&mut call, parse, OpenTo::ANY).await?;
    let id = target.id;
    withdrawable(&target.row)?;
    let record = Decision::by(call.actor, "withdraw", request.comment.as_deref());
    let started = now();
    let row = match crate::decide::apply(
        &target.store,
        id,
        target.expected(),
        &Change::Withdraw,
        &record,
        started,
    )
    .await?
    {
        Some(row) => row,
        None => {
            // Lost a race: a consumer may have claimed it meanwhile, or someone else acted.
            let now_row = drafts::visible_row(&target.store, id).await?;
            withdrawable(&now_row)?;
            return Err(target.conflict(&now_row));
        }
    };
    let details = json!({ "comment": request.comment });
    reply::json(200, &target.recorded(&call, "withdraw", &row, details)?)
}

/// Whether an approval can still be taken back: approved or failed, and no publisher holds
/// it or may have called `media_publish` for it (a failed post whose container may be live
/// is published again with its approved text, which reads that container first).
fn withdrawable(row: &DraftRow) -> Result<(), Refused> {
    match row.status() {
        Status::Approved | Status::Failed
            if row.publish_claim.is_none() && row.publish_sent_container.is_none() =>
        {
            Ok(())
        }
        Status::Approved | Status::Publishing | Status::Failed => Err(Refused::PublishingStarted),
        Status::Published => Err(Refused::Published),
        other => Err(Refused::Status(
            other,
            "only an approved or failed post can be withdrawn",
        )),
    }
}

/// What happened to the publish request.
enum Queued {
    Now,
    /// Nothing is queued yet: the scheduler queues it at `scheduledAt`.
    AtScheduledTime,
}

/// Sends the publish message due at `due_at`, the time the approval recorded; `None`: the
/// post is scheduled, and the scheduler sends it.
async fn queue_publish(
    env: &Env,
    store: &DraftStore,
    approved: &DraftRow,
    due_at: Option<OffsetDateTime>,
) -> Result<Queued, ApiError> {
    let id = drafts::parse_id(&approved.id)?;
    let Some(due_at) = due_at else {
        return Ok(Queued::AtScheduledTime);
    };
    let message = QueueMessage::new(id, Action::Publish, 1, due_at);
    match send(env, PUBLISH_QUEUE, &message, 0).await {
        Ok(()) => Ok(Queued::Now),
        Err(error) => {
            worker::console_error!("draft {id}: queueing the publish message failed: {error}");
            // Undo the approval, so no draft waits in `approved` with no message.
            let undo =
                match approved.status() {
                    Status::Approved => store
                        .apply(
                            id,
                            approved.expected(),
                            &Change::PublishFailed {
                                claim: None,
                                reason: "the publish request could not be queued; approve it again",
                            },
                            platform::clock::now(),
                        )
                        .await,
                    _ => Ok(None),
                };
            if !matches!(undo, Ok(Some(_))) {
                worker::console_error!(
                    "draft {id}: the approval could not be undone ({undo:?}); the scheduler queues it again once its message is overdue"
                );
            }
            Err(ApiError::Unavailable {
                message: "the publish request could not be queued; the draft is marked failed with the reason, approve it again".into(),
                retry_after_seconds: Some(5),
            })
        }
    }
}

/// A reschedule names the time, or `null` to publish now.
fn parse_reschedule(body: &[u8], now: OffsetDateTime) -> Result<ApprovalRequest, Vec<FieldError>> {
    let names_time = serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|value| value.get("scheduledAt").is_some());
    let request = parse_request(body, &["revision", "comment", "scheduledAt"], now)?;
    names_time.then_some(request).ok_or_else(|| {
        vec![body::problem(
            "scheduledAt",
            "required: the new time with its UTC offset, or null to publish now",
        )]
    })
}

pub(crate) fn parse_request(
    body: &[u8],
    allowed: &[&str],
    now: OffsetDateTime,
) -> Result<ApprovalRequest, Vec<FieldError>> {
    let (fields, mut problems) = body::object(body, allowed)?;
    let revision = body::revision(&fields, &mut problems);
    let comment = body::comment(&fields, &mut problems);
    let scheduled_at = body::string(&fields, "scheduledAt", &mut problems).and_then(|text| {
        parse_scheduled_at(&text, now)
            .map_err(|reason| problems.push(body::problem("scheduledAt", reason)))
            .ok()
    });
    match revision {
        Some(revision) if problems.is_empty() => Ok(ApprovalRequest {
            revision,
            comment,
            scheduled_at,
        }),
        _ => Err(problems),
    }
}
