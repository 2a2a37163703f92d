//! The first comment, once the post is live: Meta takes no idempotency key for
//! `POST /{media-id}/comments`, so a send is recorded before it goes out, and a send that
//! may have gone out (an unclear answer, or a run that died after the record) is looked for
//! among the post's comments before another. Throttling, the quota and a lookup that cannot
//! be made yet wait (the post is live, so the next run comes back here), for a bounded time
//! after the last send. Sends are bounded; whatever happens to the comment, the post ends
//! published, the comment's failure recorded beside it.

use time::{Duration, OffsetDateTime};

use super::{Action, Machine, Outcome, Trouble, whole_seconds};
use crate::change::Deferral;

/// A first comment is sent at most this many times: a second send only after a lookup
/// found the first nowhere among the post's comments.
pub const MAX_COMMENT_SENDS: u32 = 2;

/// The first comment's record, as stored on the draft.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommentRecord {
    /// Sends recorded (each before it went out).
    pub sends: u32,
    pub sent_at: Option<OffsetDateTime>,
    /// The posted comment's id.
    pub id: Option<String>,
    /// Why the comment was not posted, once that is final.
    pub failed: Option<String>,
}

/// How the first comment ended, recorded with the post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentEnd {
    /// Nothing to record: no first comment, or it was recorded before.
    Unchanged,
    Posted(String),
    Failed(String),
}

impl Machine {
    /// The post is live (`media_id` `None`: its media is unknown): its first comment next,
    /// if it has one still to post, else the success.
    pub(super) fn live(&mut self, media_id: Option<String>, found: bool, note: String) -> Action {
        let comment = &self.record.comment;
        let wanted =
            self.record.shape.first_comment && comment.id.is_none() && comment.failed.is_none();
        let Some(media_id) = media_id else {
            let comment = if wanted {
                CommentEnd::Failed(
                    "the post's media id is unknown, so its first comment could not be posted"
                        .into(),
                )
            } else {
                CommentEnd::Unchanged
            };
            return Action::Succeed {
                media_id: None,
                found,
                note,
                comment,
            };
        };
        if !wanted {
            return Action::Succeed {
                media_id: Some(media_id),
                found,
                note,
                comment: CommentEnd::Unchanged,
            };
        }
        self.live = Some((media_id.clone(), found, note));
        if self.record.comment.sends > 0 {
            // An earlier send may have gone out: looked for first.
            Action::FindComment { media_id }
        } else {
            Action::RecordComment
        }
    }

    pub(super) fn already_recorded(&mut self, media_id: String) -> Action {
        self.live(
            Some(media_id),
            false,
            "the media id was already recorded: the post is live".into(),
        )
    }

    pub(super) fn after_comment_step(&mut self, last: Action, outcome: Outcome) -> Action {
        let Some((media_id, _, _)) = self.live.clone() else {
            return self.comment_defect(&last, &outcome);
        };
        let sends = self.record.comment.sends;
        match (last, outcome) {
            (Action::RecordComment, Outcome::Recorded) => {
                self.record.comment.sends += 1;
                self.record.comment.sent_at = Some(self.now);
                Action::PostComment { media_id }
            }
            (Action::PostComment { .. }, Outcome::Commented { comment_id }) => {
                self.comment_end(CommentEnd::Posted(comment_id))
            }
            (Action::PostComment { .. }, Outcome::Failed(trouble))
                if trouble.leaves_publish_open() =>
            {
                Action::FindComment { media_id }
            }
            (
                Action::PostComment { .. },
                Outcome::Failed(
                    trouble @ (Trouble::Throttled { .. } | Trouble::Quota { .. } | Trouble::NotReady(_)),
                ),
            ) => self.comment_wait(&trouble, "Instagram holds the first comment back"),
            (Action::PostComment { .. }, Outcome::Failed(trouble)) => {
                self.comment_end(CommentEnd::Failed(format!(
                    "Instagram refused the first comment: {}",
                    trouble.reason()
                )))
            }
            (Action::FindComment { .. }, Outcome::Comment(Some(comment_id))) => {
                self.comment_end(CommentEnd::Posted(comment_id))
            }
            (Action::FindComment { .. }, Outcome::Comment(None)) if sends < MAX_COMMENT_SENDS => {
                Action::RecordComment
            }
            (Action::FindComment { .. }, Outcome::Comment(None)) => {
                self.comment_end(CommentEnd::Failed(format!(
                    "the first comment was sent {sends} times without a clear answer and is not among the post's comments; it is not sent again"
                )))
            }
            (Action::FindComment { .. }, Outcome::Failed(trouble))
                if !trouble.refuses_reading() =>
            {
                self.comment_wait(&trouble, "the post's comments cannot be read yet")
            }
            (Action::FindComment { .. }, Outcome::Failed(trouble)) => {
                self.comment_end(CommentEnd::Failed(format!(
                    "whether the first comment went out cannot be read ({}); it is not sent again, so it is never posted twice",
                    trouble.reason()
                )))
            }
            (last, outcome) => self.comment_defect(&last, &outcome),
        }
    }

    /// A wait that may help: the draft is looked at again later (no attempt spent), for at
    /// most `unresolved_alert_seconds` after the last send (or from now, before any); after
    /// that the comment fails with the reason.
    fn comment_wait(&mut self, trouble: &Trouble, what: &str) -> Action {
        let limit = Duration::seconds(i64::from(self.policy.unresolved_alert_seconds));
        let waited = self
            .record
            .comment
            .sent_at
            .map_or(Duration::ZERO, |at| self.now - at);
        if waited >= limit {
            return self.comment_end(CommentEnd::Failed(format!(
                "{what}, and still after {} minutes: {}",
                limit.whole_minutes(),
                trouble.reason()
            )));
        }
        let checks = u32::try_from(waited.whole_minutes()).unwrap_or(u32::MAX);
        let delay = match trouble {
            Trouble::Throttled {
                wait: Some(wait), ..
            }
            | Trouble::Quota {
                wait: Some(wait), ..
            } => u32::try_from(*wait).unwrap_or(u32::MAX),
            _ => self
                .policy
                .backoff
                .delay_seconds(checks.clamp(1, 16), self.seed),
        }
        .clamp(1, whole_seconds(limit - waited).max(1));
        self.live = None;
        Action::Defer {
            deferral: Deferral::Wait,
            delay,
            reason: format!(
                "the post is live; {what} ({}); tried again in {delay} s",
                trouble.reason()
            ),
        }
    }

    fn comment_end(&mut self, comment: CommentEnd) -> Action {
        match self.live.take() {
            Some((media_id, found, note)) => Action::Succeed {
                media_id: Some(media_id),
                found,
                note,
                comment,
            },
            None => Action::GiveUp {
                reason:
                    "the publish workflow ended a comment without a live post; this is a defect"
                        .into(),
                token: false,
            },
        }
    }

    /// An outcome that cannot answer the comment step: the post is live all the same.
    fn comment_defect(&mut self, last: &Action, outcome: &Outcome) -> Action {
        self.comment_end(CommentEnd::Failed(format!(
            "the publish workflow got {outcome:?} after {last:?}; this is a defect, reported as such"
        )))
    }
}
