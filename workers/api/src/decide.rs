//! A reviewer's decision applied together with its record: the comment row goes in only if
//! the draft is still at the revision and status the decision was about, and the change is
//! applied at that revision, in one D1 transaction. Of two decisions at once exactly one
//! does both; the other records nothing.

use domain::draft::DraftId;
use platform::store::{Change, DraftRow, DraftStore, Expected, NewComment, applied_row};
use time::OffsetDateTime;
use worker::{Env, Request};

use crate::drafts;
use crate::reply::ApiError;

pub struct Decision<'a> {
    pub reviewer: &'a str,
    /// One of the schema's decisions: edit, approve, reapprove, regenerate, discard, ...
    pub kind: &'a str,
    pub comment: &'a str,
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
    /// Reads draft `id`; a revision other than `revision` is a 409 carrying the draft as it is.
    pub async fn at_revision(
        req: &Request,
        env: &Env,
        id: DraftId,
        revision: i64,
    ) -> Result<Self, ApiError> {
        let store = DraftStore::from_env(env)?;
        let row = drafts::visible_row(&store, id).await?;
        let target = Self {
            id,
            store,
            origin: drafts::origin(req),
            max_hashtags: crate::config::max_hashtags(env)?,
            row,
            revision,
        };
        if target.row.revision != revision {
            return Err(target.conflict(&target.row));
        }
        Ok(target)
    }

    /// What was read, with the revision the person named: what a decision expects to hold.
    pub fn expected(&self) -> Expected {
        Expected {
            revision: Some(self.revision),
            ..self.row.expected()
        }
    }

    fn conflict(&self, row: &DraftRow) -> ApiError {
        drafts::revision_conflict(&self.origin, row, self.max_hashtags, self.revision)
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
}
