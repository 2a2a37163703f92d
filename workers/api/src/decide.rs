//! A reviewer's decision applied together with its record: the comment row goes in only if
//! the draft is still at the revision and status the decision was about, and the change is
//! applied at that revision, in one D1 transaction. Of two decisions at once exactly one
//! does both; the other records nothing.

use domain::draft::DraftId;
use platform::store::{Change, DraftRow, DraftStore, Expected, NewComment, applied_row};
use time::OffsetDateTime;

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
