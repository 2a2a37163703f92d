//! The other review actions, shared by the JSON API and the review page: comment, discard,
//! regenerate (new text, new image, or both), and the draft's history.

use domain::draft::{ImageStatus, Status};
use domain::message::{Action, QueueMessage};
use generation::FieldError;
use generation::{GenerateRequest, GenerateRules, parse_generate_request};
use platform::clock::now;
use platform::queue::{IMAGE_QUEUE, send};
use platform::store::{Change, DraftRow, DraftStore, NewComment};
use platform::trace::Tracer;
use serde_json::{Value, json};
use worker::{Context, Env, Response};

use crate::auth::Actor;
use crate::config::ApiConfig;
use crate::decide::{self, Decision, DraftCall, OpenTo, Refused, Target};
use crate::reply::{self, ApiError};
use crate::{body, drafts};

/// What a comment, discard or regeneration body says.
pub(crate) struct ActionRequest {
    pub(crate) revision: Option<i64>,
    pub(crate) comment: Option<String>,
    pub(crate) new_text: bool,
    pub(crate) new_image: bool,
}

impl decide::Action for ActionRequest {
    fn revision(&self) -> Option<i64> {
        self.revision
    }
}

/// `{comment}`: the comment is required; it is about the draft as it is now.
pub(crate) fn parse_comment(body: &[u8]) -> Result<ActionRequest, Vec<FieldError>> {
    let (fields, mut problems) = body::object(body, &["comment"])?;
    let comment = body::comment(&fields, &mut problems);
    if comment.is_none() && problems.is_empty() {
        problems.push(body::problem("comment", "required: the comment's text"));
    }
    match comment {
        Some(_) if problems.is_empty() => Ok(ActionRequest {
            revision: None,
            comment,
            new_text: false,
            new_image: false,
        }),
        _ => Err(problems),
    }
}

/// `{revision, comment?}`, and with `regenerate`, `{text, image}`, at least one true.
pub(crate) fn parse_decision(
    body: &[u8],
    regenerate: bool,
) -> Result<ActionRequest, Vec<FieldError>> {
    let allowed: &[&str] = if regenerate {
        &["revision", "text", "image", "comment"]
    } else {
        &["revision", "comment"]
    };
    let (fields, mut problems) = body::object(body, allowed)?;
    let revision = body::revision(&fields, &mut problems);
    let comment = body::comment(&fields, &mut problems);
    let mut flag = |name: &str| match fields.get(name) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            problems.push(body::problem(
                name,
                format!("expected true or false, got {other}"),
            ));
            false
        }
    };
    let (new_text, new_image) = if regenerate {
        (flag("text"), flag("image"))
    } else {
        (false, false)
    };
    if regenerate && !new_text && !new_image && problems.is_empty() {
        problems.push(body::problem(
            "",
            "nothing to regenerate: set text, image, or both to true",
        ));
    }
    match revision {
        Some(_) if problems.is_empty() => Ok(ActionRequest {
            revision,
            comment,
            new_text,
            new_image,
        }),
        _ => Err(problems),
    }
}

/// `POST /api/v1/drafts/{id}/comments {comment}`: a comment on the draft as it is now.
pub async fn comment(mut call: DraftCall<'_>) -> Result<Response, ApiError> {
    let (request, target) = Target::open_action(&mut call, parse_comment, OpenTo::ANY).await?;
    let DraftCall {
        env, ctx, actor, ..
    } = call;
    let (row, comment) = (&target.row, request.comment.unwrap_or_default());
    let recorded = target
        .store
        .add_comment(&NewComment {
            draft_id: target.id,
            revision: row.revision,
            status: row.status(),
            reviewer: &actor.name,
            decision: "comment",
            comment: &comment,
            now: now(),
        })
        .await?;
    if !recorded {
        return Err(Refused::TooManyComments.into());
    }
    let details = json!({ "comment": comment });
    crate::review_trace::event(env, ctx, actor, "comment", row, details);
    reply::json(
        201,
        &json!({ "draftId": target.id.to_string(), "revision": row.revision, "reviewer": actor.name, "comment": comment }),
    )
}

/// `POST /api/v1/drafts/{id}/discard {revision, comment?}`: throws a draft under review, or a
/// failed one, away for good. Its image is removed by housekeeping.
pub async fn discard(mut call: DraftCall<'_>) -> Result<Response, ApiError> {
    let rule = "only a draft under review or a failed one can be discarded";
    let parse = |body: &[u8]| parse_decision(body, false);
    let (request, target) =
        Target::open_action(&mut call, parse, OpenTo::under_review_or_failed(rule)).await?;
    let record = Decision::by(call.actor, "discard", request.comment.as_deref());
    let row = target.decide(&Change::Discard, &record, now()).await?;
    let details = json!({ "comment": request.comment });
    reply::json(200, &target.recorded(&call, "discard", &row, details)?)
}

/// `POST /api/v1/drafts/{id}/regenerate {revision, text, image, comment?}`: new text from
/// the caption writer, a new image, or both. A failed draft returns to `draft` for review
/// first; a draft under review stays there. The old image stays until the new one is stored.
pub async fn regenerate(mut call: DraftCall<'_>) -> Result<Response, ApiError> {
    let rule = "only a draft under review or a failed one can be regenerated";
    let parse = |body: &[u8]| parse_decision(body, true);
    let (request, target) =
        Target::open_action(&mut call, parse, OpenTo::under_review_or_failed(rule)).await?;
    let DraftCall {
        env, ctx, actor, ..
    } = call;
    let config = ApiConfig::from_env(env)?;
    // 1. Back under review (a failed draft), recorded with the decision.
    let mut row = back_under_review(&target, actor, request.comment.as_deref()).await?;
    // 2. A new image: the image consumer makes it and replaces the old one once stored.
    if request.new_image {
        row = new_image(env, &target, row).await?;
    }
    // 3. New text from the caption writer, from the request the draft was made from.
    if request.new_text {
        row = new_text(env, ctx, &config, &target, row).await?;
    }
    let details = json!({ "text": request.new_text, "image": request.new_image });
    reply::json(200, &target.recorded(&call, "regenerate", &row, details)?)
}

/// A failed draft returns to review with the decision's record; a draft under review gets
/// the record alone, conditional on the revision (the text or image change follows).
async fn back_under_review(
    target: &Target,
    actor: &Actor,
    comment: Option<&str>,
) -> Result<DraftRow, ApiError> {
    let record = Decision::by(actor, "regenerate", comment);
    let started = now();
    if target.row.status() == Status::Failed {
        return target.decide(&Change::Regenerate, &record, started).await;
    }
    let record = target.store.comment_statement(&NewComment {
        draft_id: target.id,
        revision: target.revision,
        status: Status::Draft,
        reviewer: &actor.name,
        decision: "regenerate",
        comment: record.comment,
        now: started,
    })?;
    platform::d1::run(record).await?;
    Ok(target.row.clone())
}

/// Asks the image consumer for a new image; a ready or failed one is marked pending first.
async fn new_image(env: &Env, target: &Target, row: DraftRow) -> Result<DraftRow, ApiError> {
    let mut row = row;
    if matches!(row.image_status(), ImageStatus::Ready | ImageStatus::Failed) {
        row = target
            .apply(row.expected_state(), &Change::ImageRequested, &row)
            .await?;
    }
    let message = QueueMessage::new(target.id, Action::GenerateImage, 1, now());
    send(env, IMAGE_QUEUE, &message, 0).await?;
    Ok(row)
}

/// New text from the caption writer, in the voice the draft's account has now, from the
/// request the draft was made from (its schedule left out: it belongs to the approval now,
/// and may have passed).
async fn new_text(
    env: &Env,
    ctx: &Context,
    config: &ApiConfig,
    target: &Target,
    row: DraftRow,
) -> Result<DraftRow, ApiError> {
    let request = stored_request(&row, config)?;
    let voice = crate::voice::of_account(env, row.account_id.as_deref()).await?;
    let mut tracer = Tracer::start(
        "regenerate",
        json!({ "draftId": target.id.to_string(), "request": request }),
        json!({ "workflow": "regenerate", "provider": config.writer.provider() }),
    );
    let written = crate::generate::write_post(env, config, &request, &voice, &mut tracer).await;
    let outcome = match &written {
        Ok(text) => Ok(json!({ "text": text.to_raw() })),
        Err(error) => Err(error as &dyn std::fmt::Display),
    };
    crate::generate::send_trace(env, ctx, tracer, outcome, &config.writer);
    let text = written?.to_raw();
    // The new text replaces the text the reviewer asked at. If someone edited it (or
    // decided) while the model ran, this conflicts like an edit and the new text is
    // dropped; an image that arrived meanwhile changes nothing the text depends on.
    let latest = drafts::visible_row(&target.store, target.id).await?;
    if latest.revision != row.revision
        && (latest.text() != row.text() || latest.status() != row.status())
    {
        return Err(target.conflict(&latest));
    }
    target
        .apply(
            latest.expected(),
            &Change::Rewritten { text: &text },
            &latest,
        )
        .await
}

/// The request the draft was made from, read again under today's rules, its schedule left
/// out (it belongs to the approval now, and may have passed).
pub(crate) fn stored_request(
    row: &DraftRow,
    config: &ApiConfig,
) -> Result<GenerateRequest, ApiError> {
    let mut request: Value = row
        .request
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .ok_or(Refused::NoRequest)?;
    if let Some(object) = request.as_object_mut() {
        object.remove("scheduledAt");
    }
    let rules = GenerateRules {
        default_language: config.default_language.clone(),
        max_hashtags: config.max_hashtags,
        now: now(),
    };
    parse_generate_request(request.to_string().as_bytes(), &rules).map_err(ApiError::Validation)
}

/// `GET /api/v1/drafts/{id}/history`: comments and decisions, then every publish step, oldest
/// first.
pub async fn history(env: &Env, id: &str) -> Result<Response, ApiError> {
    let id = drafts::parse_id(id)?;
    let store = DraftStore::from_env(env)?;
    drafts::visible_row(&store, id).await?;
    let (comments, steps) = store.history(id).await?;
    reply::json(200, &json!({ "comments": comments, "publishLog": steps }))
}
