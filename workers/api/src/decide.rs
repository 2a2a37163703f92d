//! A reviewer's decision applied together with its record: the comment row goes in only if
//! the draft is still at the revision and status the decision was about, and the change is
//! applied at that revision, in one D1 transaction. Of two decisions at once exactly one
//! does both; the other records nothing.

use domain::draft::{DraftId, ImageStatus, Status};
use generation::FieldError;
use platform::store::{
    Change, DraftRow, DraftStore, Expected, MAX_COMMENTS_PER_DRAFT, NewComment, applied_row,
};
use serde_json::Value;
use time::OffsetDateTime;
use worker::{Context, Env, Request};

use crate::auth::Actor;
use crate::reply::ApiError;
use crate::{body, drafts};

/// A draft action's body, read: what it names of the draft.
pub trait Action {
    /// The revision the person looked at; `None`: the action is about the draft as it is.
    fn revision(&self) -> Option<i64>;
}

/// The statuses an action is open to, and the rule a draft in another status is told
/// ("the draft is published; only a draft under review can be edited").
pub struct OpenTo(pub &'static [Status], pub &'static str);

impl OpenTo {
    /// Any status: the action judges the draft itself.
    pub const ANY: OpenTo = OpenTo(&Status::ALL, "");

    /// Open to a draft under review only.
    pub const fn under_review(rule: &'static str) -> OpenTo {
        OpenTo(&[Status::Draft], rule)
    }

    /// Open to a draft under review or a failed one.
    pub const fn under_review_or_failed(rule: &'static str) -> OpenTo {
        OpenTo(&[Status::Draft, Status::Failed], rule)
    }
}

/// One call of an action on one draft, as the router hands it over: the request, the
/// Worker's bindings and context, who acts, and the draft's id as the path gives it.
pub struct DraftCall<'a> {
    pub req: &'a mut Request,
    pub env: &'a Env,
    pub ctx: &'a Context,
    pub actor: &'a Actor,
    pub id: &'a str,
}

const TOO_LATE: &str =
    "media_publish may already have been called for this post, so it can no longer be withdrawn";

/// Why a draft action is refused as the draft stands (a 409, `From` below).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("the draft is {0}; {1}")]
    Status(Status, &'static str),
    #[error("the image is {0}; a draft is approved only with its image ready")]
    ImageNotReady(ImageStatus),
    #[error("the draft has no approved text and image to publish again; regenerate it")]
    NoApprovedSnapshot,
    #[error(
        "the post is already queued for publishing (due at {0}); its time can no longer be changed"
    )]
    AlreadyQueued(String),
    #[error("publishing has started: {TOO_LATE}")]
    PublishingStarted,
    #[error("the post is published: {TOO_LATE}")]
    Published,
    #[error("the draft has {MAX_COMMENTS_PER_DRAFT} comments, the most it keeps")]
    TooManyComments,
    #[error("the draft has no request to write from")]
    NoRequest,
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        ApiError::Conflict(refused.to_string())
    }
}

pub struct Decision<'a> {
    pub reviewer: &'a str,
    /// One of the schema's decisions: edit, approve, reapprove, regenerate, discard, ...
    pub kind: &'a str,
    pub comment: &'a str,
}

impl<'a> Decision<'a> {
    /// The `actor`'s decision of `kind`, with the comment the body gave (none: empty).
    pub fn by(actor: &'a Actor, kind: &'a str, comment: Option<&'a str>) -> Self {
        Self {
            reviewer: &actor.name,
            kind,
            comment: comment.unwrap_or(""),
        }
    }
}

pub async fn apply(
    store: &DraftStore,
    id: DraftId,
    expected: Expected,
    change: &Change<'_>,
    decision: &Decision<'_>,
    now: OffsetDateTime,
) -> Result<Option<DraftRow>, ApiError> {
    let revision = expected
        .revision
        .ok_or_else(|| ApiError::Internal("a decision without a revision".into()))?;
    let record = store.comment_statement(&NewComment {
        draft_id: id,
        revision,
        status: expected.state.status,
        reviewer: decision.reviewer,
        decision: decision.kind,
        comment: decision.comment,
        now,
    })?;
    let apply = store
        .apply_statement(id, expected, change, now)
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    let results = store.batch(vec![record, apply]).await?;
    Ok(results.get(1).map(applied_row).transpose()?.flatten())
}

/// A reviewer's action on one draft, past the steps every action shares: the draft read from
/// D1 and found still at the revision the person named.
pub struct Target {
    pub id: DraftId,
    pub store: DraftStore,
    pub origin: String,
    pub max_hashtags: usize,
    pub row: DraftRow,
    /// The revision the person looked at.
    pub revision: i64,
}

impl Target {
    /// The steps every action on one draft takes first: the id from the path (404 when it is
    /// none), the JSON body of at most `max_bytes` read by `parse` (every problem by field
    /// path), the draft read (404), found at the revision the body names (409 with the draft
    /// as it is) and in a status the action is `open_to` (409 with the rule).
    pub async fn open<T: Action>(
        call: &mut DraftCall<'_>,
        max_bytes: usize,
        parse: impl FnOnce(&[u8]) -> Result<T, Vec<FieldError>>,
        open_to: OpenTo,
    ) -> Result<(T, Self), ApiError> {
        let (req, env) = (&mut *call.req, call.env);
        let id = drafts::parse_id(call.id)?;
        let body = body::read_json(req, max_bytes).await?;
        let request = parse(&body).map_err(ApiError::Validation)?;
        let store = DraftStore::from_env(env)?;
        let row = drafts::visible_row(&store, id).await?;
        let target = Self {
            id,
            store,
            origin: drafts::origin(req),
            max_hashtags: crate::config::max_hashtags(env)?,
            revision: request.revision().unwrap_or(row.revision),
            row,
        };
        if target.row.revision != target.revision {
            return Err(target.conflict(&target.row));
        }
        let OpenTo(statuses, rule) = open_to;
        let status = target.row.status();
        if !statuses.contains(&status) {
            return Err(Refused::Status(status, rule).into());
        }
        Ok((request, target))
    }

    /// [`Target::open`] for an action whose body is at most [`body::MAX_ACTION_BODY_BYTES`].
    pub async fn open_action<T: Action>(
        call: &mut DraftCall<'_>,
        parse: impl FnOnce(&[u8]) -> Result<T, Vec<FieldError>>,
        open_to: OpenTo,
    ) -> Result<(T, Self), ApiError> {
        Self::open(call, body::MAX_ACTION_BODY_BYTES, parse, open_to).await
    }

    /// What was read, with the revision the person named: what a decision expects to hold.
    pub fn expected(&self) -> Expected {
        Expected {
            revision: Some(self.revision),
            ..self.row.expected()
        }
    }

    /// A 409 with the draft as it is now (`row`), against the revision the person named.
    pub fn conflict(&self, row: &DraftRow) -> ApiError {
        drafts::revision_conflict(&self.origin, row, self.max_hashtags, self.revision)
    }

    /// Applies `change` alone (no record) where `expected` still holds of the draft; otherwise
    /// a 409 with `seen`, the draft as it was read.
    pub async fn apply(
        &self,
        expected: Expected,
        change: &Change<'_>,
        seen: &DraftRow,
    ) -> Result<DraftRow, ApiError> {
        self.store
            .apply(self.id, expected, change, platform::clock::now())
            .await
            .map_err(|e| ApiError::Conflict(e.to_string()))?
            .ok_or_else(|| self.conflict(seen))
    }

    /// Applies `change` with its record at the named revision; a decision that lost its race
    /// is a 409 with the draft as it is now.
    pub async fn decide(
        &self,
        change: &Change<'_>,
        decision: &Decision<'_>,
        now: OffsetDateTime,
    ) -> Result<DraftRow, ApiError> {
        match apply(&self.store, self.id, self.expected(), change, decision, now).await? {
            Some(row) => Ok(row),
            None => {
                let now_row = drafts::visible_row(&self.store, self.id).await?;
                Err(self.conflict(&now_row))
            }
        }
    }

    /// The draft as the API shows it.
    pub fn view(&self, row: &DraftRow) -> Result<serde_json::Value, ApiError> {
        drafts::view(&self.origin, row, self.max_hashtags)
            .ok_or_else(|| ApiError::Internal("a visible draft without text".into()))
    }

    /// What every decision does once written: the KV copy refreshed and the review trace sent
    /// with `details` (both after the response), and the draft as the API shows it now.
    pub fn recorded(
        &self,
        call: &DraftCall<'_>,
        kind: &str,
        row: &DraftRow,
        details: Value,
    ) -> Result<Value, ApiError> {
        drafts::refresh_copy(call.env, call.ctx, row);
        crate::review_trace::event(call.env, call.ctx, call.actor, kind, row, details);
        self.view(row)
    }
}
