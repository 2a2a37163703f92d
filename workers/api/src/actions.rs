//! The other review actions, shared by the JSON API and the review page: comment, discard,
//! regenerate (new text, new image, or both), and the draft's history.

use domain::draft::{ImageStatus, Status};
use domain::message::{Action, QueueMessage};
use generation::{GenerateRules, parse_generate_request};
use platform::clock::now;
use platform::queue::{IMAGE_QUEUE, send};
use platform::store::{Change, DraftStore, MAX_COMMENTS_PER_DRAFT, NewComment};
use platform::trace::Tracer;
use serde_json::{Value, json};
use worker::{Context, Env, Request, Response};

use crate::auth::Actor;
use crate::config::ApiConfig;
use crate::decide::{Decision, Target};
use crate::reply::{self, ApiError};
use crate::{body, drafts};

/// `POST /api/v1/drafts/{id}/comments {comment}`: a comment on the draft as it is now.
pub async fn comment(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    actor: &Actor,
    id: &str,
) -> Result<Response, ApiError> {
    let id = drafts::parse_id(id)?;
    let body = crate::body::read_json(req, body::MAX_ACTION_BODY_BYTES).await?;
    let (fields, mut problems) = body::object(&body, &["comment"]).map_err(ApiError::Validation)?;
    let comment = body::comment(&fields, &mut problems);
    if comment.is_none() && problems.is_empty() {
        problems.push(body::problem("comment", "required: the comment's text"));
    }
    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    let comment = comment.unwrap_or_default();
    let store = DraftStore::from_env(env)?;
    let row = drafts::visible_row(&store, id).await?;
    let started = now();
    let recorded = store
        .add_comment(&NewComment {
            draft_id: id,
            revision: row.revision,
            status: row.status(),
            reviewer: &actor.name,
            decision: "comment",
            comment: &comment,
            now: started,
        })
        .await?;
    if !recorded {
        return Err(ApiError::Conflict(format!(
            "the draft has {MAX_COMMENTS_PER_DRAFT} comments, the most it keeps"
        )));
    }
    crate::review_trace::event(
        env,
        ctx,
        actor,
        "comment",
        &row,
        json!({ "comment": comment }),
    );
    reply::json(
        201,
        &json!({ "draftId": id.to_string(), "revision": row.revision, "reviewer": actor.name, "comment": comment }),
    )
}

/// `POST /api/v1/drafts/{id}/discard {revision, comment?}`: throws a draft under review, or a
/// failed one, away for good. Its image is removed by housekeeping.
pub async fn discard(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    actor: &Actor,
    id: &str,
) -> Result<Response, ApiError> {
    let id = drafts::parse_id(id)?;
    let body = crate::body::read_json(req, body::MAX_ACTION_BODY_BYTES).await?;
    let (fields, mut problems) =
        body::object(&body, &["revision", "comment"]).map_err(ApiError::Validation)?;
    let revision = body::revision(&fields, &mut problems);
    let comment = body::comment(&fields, &mut problems);
    let Some(revision) = revision.filter(|_| problems.is_empty()) else {
        return Err(ApiError::Validation(problems));
    };
    let target = Target::at_revision(req, env, id, revision).await?;
    if !matches!(target.row.status(), Status::Draft | Status::Failed) {
        return Err(ApiError::Conflict(format!(
            "the draft is {}; only a draft under review or a failed one can be discarded",
            target.row.status()
        )));
    }
    let record = Decision {
        reviewer: &actor.name,
        kind: "discard",
        comment: comment.as_deref().unwrap_or(""),
    };
    let row = target.decide(&Change::Discard, &record, now()).await?;
    drafts::refresh_copy(env, ctx, &row);
    let details = json!({ "comment": comment });
    crate::review_trace::event(env, ctx, actor, "discard", &row, details);
    reply::json(200, &target.view(&row)?)
}

/// `POST /api/v1/drafts/{id}/regenerate {revision, text, image, comment?}`: new text from
/// the caption writer, a new image, or both. A failed draft returns to `draft` for review
/// first; a draft under review stays there. The old image stays until the new one is stored.
pub async fn regenerate(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    actor: &Actor,
    id: &str,
) -> Result<Response, ApiError> {
    let id = drafts::parse_id(id)?;
    let body = crate::body::read_json(req, body::MAX_ACTION_BODY_BYTES).await?;
    let (fields, mut problems) = body::object(&body, &["revision", "text", "image", "comment"])
        .map_err(ApiError::Validation)?;
    let revision = body::revision(&fields, &mut problems);
    let comment = body::comment(&fields, &mut problems);
    let flag = |name: &str, problems: &mut Vec<generation::FieldError>| match fields.get(name) {
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
    let (new_text, new_image) = (flag("text", &mut problems), flag("image", &mut problems));
    if !new_text && !new_image && problems.is_empty() {
        problems.push(body::problem(
            "",
            "nothing to regenerate: set text, image, or both to true",
        ));
    }
    let Some(revision) = revision.filter(|_| problems.is_empty()) else {
        return Err(ApiError::Validation(problems));
    };
    let config = ApiConfig::from_env(env)?;
    let target = Target::at_revision(req, env, id, revision).await?;
    let store = &target.store;
    let started = now();
    // 1. Back under review (a failed draft), recorded with the decision.
    let record = Decision {
        reviewer: &actor.name,
        kind: "regenerate",
        comment: comment.as_deref().unwrap_or(""),
    };
    let mut row = match target.row.status() {
        Status::Failed => target.decide(&Change::Regenerate, &record, started).await?,
        Status::Draft => {
            // The record alone, conditional on the revision; the text or image change follows.
            let record = store.comment_statement(&NewComment {
                draft_id: id,
                revision,
                status: Status::Draft,
                reviewer: &actor.name,
                decision: "regenerate",
                comment: record.comment,
                now: started,
            })?;
            platform::d1::all(record).await?.checked()?;
            target.row.clone()
        }
        other => {
            return Err(ApiError::Conflict(format!(
                "the draft is {other}; only a draft under review or a failed one can be regenerated"
            )));
        }
    };
    let conflict = |row: &platform::store::DraftRow| {
        drafts::revision_conflict(&target.origin, row, target.max_hashtags, revision)
    };
    // 2. A new image: the image consumer makes it and replaces the old one once stored.
    if new_image {
        if matches!(row.image_status(), ImageStatus::Ready | ImageStatus::Failed) {
            row = store
                .apply(id, row.expected_state(), &Change::ImageRequested, now())
                .await
                .map_err(|e| ApiError::Conflict(e.to_string()))?
                .ok_or_else(|| conflict(&row))?;
        }
        let message = QueueMessage::new(id, Action::GenerateImage, 1, now());
        send(env, IMAGE_QUEUE, &message, 0).await?;
    }
    // 3. New text from the caption writer, from the request the draft was made from.
    if new_text {
        let mut request: Value = row
            .request
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .ok_or_else(|| ApiError::Conflict("the draft has no request to write from".into()))?;
        // The schedule belongs to the approval now, and may have passed.
        if let Some(object) = request.as_object_mut() {
            object.remove("scheduledAt");
        }
        // Written in the voice the draft's account has now.
        let voice = crate::voice::of_account(env, row.account_id.as_deref()).await?;
        let rules = GenerateRules {
            default_language: config.default_language.clone(),
            max_hashtags: config.max_hashtags,
            now: started,
        };
        let request = parse_generate_request(request.to_string().as_bytes(), &rules)
            .map_err(ApiError::Validation)?;
        let mut tracer = Tracer::start(
            "regenerate",
            json!({ "draftId": id.to_string(), "request": request }),
            json!({ "workflow": "regenerate", "provider": config.writer.provider() }),
        );
        let written =
            crate::generate::write_post(env, &config, &request, &voice, &mut tracer).await;
        let text = match written {
            Ok(text) => text.to_raw(),
            Err(error) => {
                crate::generate::send_trace(
                    env,
                    ctx,
                    tracer,
                    Err(error.to_string()),
                    &config.writer,
                );
                return Err(error);
            }
        };
        crate::generate::send_trace(
            env,
            ctx,
            tracer,
            Ok(json!({ "text": text })),
            &config.writer,
        );
        // The new text replaces the text the reviewer asked at. If someone edited it (or
        // decided) while the model ran, this conflicts like an edit and the new text is
        // dropped; an image that arrived meanwhile changes nothing the text depends on.
        let latest = drafts::visible_row(store, id).await?;
        if latest.revision != row.revision
            && (latest.text() != row.text() || latest.status() != row.status())
        {
            return Err(conflict(&latest));
        }
        row = store
            .apply(
                id,
                latest.expected(),
                &Change::Rewritten { text: &text },
                now(),
            )
            .await
            .map_err(|e| ApiError::Conflict(e.to_string()))?
            .ok_or_else(|| conflict(&latest))?;
    }
    drafts::refresh_copy(env, ctx, &row);
    let details = json!({ "text": new_text, "image": new_image });
    crate::review_trace::event(env, ctx, actor, "regenerate", &row, details);
    reply::json(200, &target.view(&row)?)
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
