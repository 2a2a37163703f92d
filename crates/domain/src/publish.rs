//! The publish workflow as a pure machine: given the draft's publish record and the outcome
//! of the last step, it says what to do next. The publish consumer and the failed queue only
//! perform what it says (a Graph call, a write, a message) and feed the outcome back.
//!
//! The rules that make a post go out once, and never end `failed` while it is live:
//! - `media_publish` is sent only after [`Action::RecordSent`] stored which container it is
//!   for and when. From then on the post may be live.
//! - A draft whose container may have been sent is never given up on before a status read
//!   of that container said it is not `PUBLISHED`. When that read cannot be made, the draft
//!   is unresolved: it waits and is read again later, and the operator is told it needs a
//!   look ([`Action::Unresolved`]), never that it failed.
//! - An unclear `media_publish` answer (no answer, a 5xx, a timeout) followed by `FINISHED`
//!   is not "not published": Meta may still be working on the call it received. It stays
//!   unknown until `settle_seconds` after the call, and only a read after that decides.
//! - Reconciliation comes before anything else, validation of the snapshot included: a
//!   container that may have been sent is read first, whatever happened to the draft since.
//! - Throttling and the publishing quota wait without spending attempts; throttling is
//!   bounded by `throttle_limit_seconds`, after which the draft is given up on with a reason.
//! - Attempts count per approval, on the draft (`publish_attempts`), not per message.
//! - A draft whose account cannot publish (it needs reconnecting, or is disconnected) waits,
//!   spending nothing, and is never given up for it: the account may come back.
//! - A carousel is one post: its children (`carousel.rs`) are made, recorded and read ready
//!   before the parent is made from them, and only the parent is ever sent to
//!   `media_publish`; recorded children are reused by the next run.
//! - The first comment (`comment.rs`) follows the live post: its send is recorded before it
//!   goes out, a send that may have gone out is looked for before another, and whatever
//!   happens to it, the post ends published.

use time::{Duration, OffsetDateTime};

use crate::backoff::{Backoff, QUEUE_MAX_DELAY_SECONDS};
use crate::change::Deferral;

mod carousel;
mod comment;
mod reading;

pub use comment::{CommentEnd, CommentRecord, MAX_COMMENT_SENDS};

/// How long a draft whose account cannot publish waits before it is looked at again.
pub const ACCOUNT_WAIT_SECONDS: u32 = 900;

/// The publishing policy, from the consumer's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub backoff: Backoff,
    /// How long to wait before reading an `IN_PROGRESS` container again.
    pub poll_seconds: u32,
    /// How many `IN_PROGRESS` reads of one container are waited through.
    pub max_polls: u32,
    /// The wait when the publishing quota is used up and Meta gives none.
    pub quota_wait_seconds: u32,
    /// How long after an unclear `media_publish` a `FINISHED` container is still unknown.
    pub settle_seconds: u32,
    /// How long throttling may hold a draft before it is given up on.
    pub throttle_limit_seconds: u32,
    /// How long a draft may be unresolved before the operator is told, unless the read was
    /// refused outright (then at once); also how long after the send a live post's media id
    /// is looked up again before it is recorded as unknown.
    pub unresolved_alert_seconds: u32,
}

/// A `media_publish` that may have gone out: for which container, and when it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub container_id: String,
    pub at: OffsetDateTime,
}

/// The draft's publishing record, as read when the run claimed it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The container made from the approved snapshot, if one was.
    pub container_id: Option<String>,
    pub sent: Option<Sent>,
    pub media_id: Option<String>,
    /// Attempts this approval spent.
    pub attempts_spent: u32,
    /// `IN_PROGRESS` reads of the current container.
    pub polls: u32,
    pub throttled_since: Option<OffsetDateTime>,
    pub unresolved_since: Option<OffsetDateTime>,
    /// What the approved snapshot is made of (filled in from it by the shell).
    pub shape: Shape,
    /// A carousel's child containers made for this approval, in the items' order.
    pub children: Vec<String>,
    /// The first comment's record.
    pub comment: CommentRecord,
}

/// What the approved post is made of, as far as the workflow's steps go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    /// How many child containers make the post: 0 for a single image, 2 to 10 for a carousel.
    pub children: usize,
    /// Whether a first comment follows the post.
    pub first_comment: bool,
}

/// What a container's status read said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    InProgress,
    Finished,
    Published,
    /// `EXPIRED` or `ERROR`: never published, never will be. `new_container_helps` unless
    /// the error says the image, caption or account is refused.
    Dead {
        new_container_helps: bool,
        reason: String,
    },
}

/// Why a Graph call failed, by what it means for the next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// No usable answer: a timeout, a lost connection, a 5xx, an unreadable body. The call
    /// may have taken effect.
    Unclear(String),
    /// Meta said the error is temporary (codes 1, 2 and the like).
    Transient(String),
    /// Throttled; `wait` is Meta's own estimate, in seconds.
    Throttled { wait: Option<u64>, reason: String },
    /// The publishing quota is used up.
    Quota { wait: Option<u64>, reason: String },
    /// The container is not ready for `media_publish` yet.
    NotReady(String),
    /// The container expired or failed: a new one is needed.
    NeedsNewContainer(String),
    /// The token is expired or invalid.
    TokenInvalid(String),
    /// Refused for good: the image, the caption, a permission.
    Refused(String),
}

impl Trouble {
    fn reason(&self) -> &str {
        match self {
            Trouble::Unclear(reason)
            | Trouble::Transient(reason)
            | Trouble::NotReady(reason)
            | Trouble::NeedsNewContainer(reason)
            | Trouble::TokenInvalid(reason)
            | Trouble::Refused(reason)
            | Trouble::Throttled { reason, .. }
            | Trouble::Quota { reason, .. } => reason,
        }
    }

    /// Whether, after `media_publish`, this answer leaves open that the post went out.
    fn leaves_publish_open(&self) -> bool {
        matches!(self, Trouble::Unclear(_) | Trouble::Transient(_))
    }

    /// Whether a status read that failed like this will not work by waiting a little.
    fn refuses_reading(&self) -> bool {
        matches!(self, Trouble::TokenInvalid(_) | Trouble::Refused(_))
    }
}

/// The next thing the shell does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create a container from the approved snapshot, and store its id.
    CreateContainer,
    /// Create the carousel's child container `index` (`is_carousel_item`, its image and alt
    /// text); the shell records the children made so far (`children[..index]` and the new
    /// one) with its next write.
    CreateChild { index: usize },
    /// Read a child container's status: the parent is made only from `FINISHED` children.
    ReadChild { index: usize, container_id: String },
    /// Create the carousel's parent container from `children`, with the caption and the
    /// post's options, and store its id like [`Action::CreateContainer`].
    CreateCarousel { children: Vec<String> },
    /// Read the container's status.
    ReadStatus { container_id: String },
    /// Store that `media_publish` is about to be sent for the container (a conditional
    /// write under the claim); only then [`Action::Publish`].
    RecordSent { container_id: String },
    /// Send `media_publish`, and store the media id the moment it answers.
    Publish { container_id: String },
    /// Look for the post among the account's recent media: published at or after `since`,
    /// with the approved caption, and recorded by no other draft.
    FindMedia { since: Option<OffsetDateTime> },
    /// Store that the first comment is about to be sent (one more send, and when), a
    /// conditional write under the claim; only then [`Action::PostComment`].
    RecordComment,
    /// Post the first comment on the live post.
    PostComment { media_id: String },
    /// Look for the first comment among the post's comments: a send may have gone out.
    FindComment { media_id: String },
    /// The post is live: record it (`media_id` `None`: live, media unknown). `found`: the
    /// id came from a lookup, so it is taken only if no other draft has it. `comment`: how
    /// the first comment ended, to record with it.
    Succeed {
        media_id: Option<String>,
        found: bool,
        note: String,
        comment: CommentEnd,
    },
    /// Release the claim and queue the message again after `delay` seconds.
    Defer {
        deferral: Deferral,
        delay: u32,
        reason: String,
    },
    /// The post may be live and its container cannot be read: the draft waits (released,
    /// queued again after `delay`), and, with `alert`, the operator is told it needs a look.
    Unresolved {
        delay: u32,
        reason: String,
        alert: bool,
    },
    /// Publishing stops: the draft becomes `failed` with the reason, then the operator is
    /// alerted once (`token`: the token alert).
    GiveUp { reason: String, token: bool },
}

/// The outcome of the last action, as the shell saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created {
        container_id: String,
    },
    Status(Reading),
    /// [`Action::RecordSent`] was written.
    Recorded,
    Published {
        media_id: String,
    },
    Media(Option<String>),
    /// The first comment was posted, with this id.
    Commented {
        comment_id: String,
    },
    /// The first comment's lookup: its id, if it is among the post's comments.
    Comment(Option<String>),
    /// The Graph call of the last action failed.
    Failed(Trouble),
}

/// One claimed run of the workflow.
#[derive(Debug, Clone)]
pub struct Machine {
    policy: Policy,
    record: Record,
    now: OffsetDateTime,
    seed: u64,
    /// Why the approved snapshot cannot be sent, if it cannot.
    invalid: Option<String>,
    /// The last action, which the next outcome answers.
    last: Option<Action>,
    /// This run made a new container: another one will not help.
    made_new: bool,
    /// The sent container was read in this run and is not live (or none was sent).
    settled: bool,
    /// How this run's `media_publish` failed, until a status read decides.
    publish_failed: Option<Trouble>,
    /// A give-up waiting for a status read that says the post is not live.
    giving_up: Option<(String, bool)>,
    /// Child containers read `FINISHED` in this run, counted from the first.
    children_ready: usize,
    /// This run made new children: more will not help.
    made_children: bool,
    /// The live post, while its first comment is being seen to: media id, found, note.
    live: Option<(String, bool, String)>,
}

impl Machine {
    /// A run starts. `invalid`: why the approved snapshot breaks a rule today, if it does;
    /// it matters only when a new container would be made from it. `seed` spreads delays.
    pub fn start(
        policy: Policy,
        record: Record,
        invalid: Option<String>,
        now: OffsetDateTime,
        seed: u64,
    ) -> (Machine, Action) {
        let mut machine = Machine::new(policy, record, invalid, now, seed);
        let action = machine.first();
        machine.last = Some(action.clone());
        (machine, action)
    }

    /// The failed queue gives a draft up: the same rules hold, so a container that may have
    /// been sent is read first and a live post is recorded as published, not failed.
    pub fn give_up(
        policy: Policy,
        record: Record,
        reason: String,
        token: bool,
        now: OffsetDateTime,
        seed: u64,
    ) -> (Machine, Action) {
        let mut machine = Machine::new(policy, record, None, now, seed);
        let action = match machine.record.media_id.clone() {
            Some(media_id) => machine.already_recorded(media_id),
            None => machine.stop(reason, token),
        };
        machine.last = Some(action.clone());
        (machine, action)
    }

    /// The draft's account cannot publish now (`reason` says why, naming it): nothing can be
    /// read or sent without its token, and nothing is given up, since the account may come
    /// back. The draft waits, spending no attempt, whatever its record holds (a container
    /// that may have been sent is read once the account is back).
    pub fn account_unavailable(
        policy: Policy,
        record: Record,
        reason: String,
        now: OffsetDateTime,
        seed: u64,
    ) -> (Machine, Action) {
        let mut machine = Machine::new(policy, record, None, now, seed);
        // A deferral must not forget a send that no read has settled.
        machine.settled = machine.record.sent.is_none();
        let action = Action::Defer {
            deferral: Deferral::Wait,
            delay: ACCOUNT_WAIT_SECONDS,
            reason,
        };
        machine.last = Some(action.clone());
        (machine, action)
    }

    /// Whether a run that starts publishing from `record` opens with a new container (when its
    /// snapshot is valid). The consumer then makes that container while its claim is being
    /// written: a container never sent is harmless, so one made for a claim that is lost is
    /// only left to expire.
    pub fn opens_with_container(record: &Record) -> bool {
        record.shape.children == 0
            && record.media_id.is_none()
            && record.sent.is_none()
            && record.container_id.is_none()
    }

    fn new(
        policy: Policy,
        record: Record,
        invalid: Option<String>,
        now: OffsetDateTime,
        seed: u64,
    ) -> Machine {
        Machine {
            settled: record.sent.is_none(),
            policy,
            record,
            now,
            seed,
            invalid,
            last: None,
            made_new: false,
            publish_failed: None,
            giving_up: None,
            children_ready: 0,
            made_children: false,
            live: None,
        }
    }

    /// The attempt this run is, counted from 1 within the approval.
    pub fn attempt(&self) -> u32 {
        self.record.attempts_spent + 1
    }

    pub fn record(&self) -> &Record {
        &self.record
    }

    /// Whether this run read the container a `media_publish` was sent for and found it not
    /// live (or nothing was sent): a deferral then forgets the send.
    pub fn sent_not_live(&self) -> bool {
        self.settled
    }

    /// The next action after `outcome` answered the last one. Call only after a
    /// non-final action; a final one ([`Action::is_final`]) ends the run.
    pub fn next(&mut self, outcome: Outcome) -> Action {
        let last = self.last.take();
        let action = match (last, outcome) {
            (
                Some(Action::CreateContainer | Action::CreateCarousel { .. }),
                Outcome::Created { container_id },
            ) => {
                self.made_new = true;
                self.record.container_id = Some(container_id.clone());
                // The new container replaces one read as never published.
                self.record.sent = None;
                self.record.polls = 0;
                self.settled = true;
                Action::ReadStatus { container_id }
            }
            (Some(Action::ReadStatus { container_id }), Outcome::Status(reading)) => {
                self.after_reading(container_id, reading)
            }
            (Some(Action::ReadStatus { container_id }), Outcome::Failed(trouble)) => {
                self.unreadable(&container_id, trouble)
            }
            (Some(Action::RecordSent { container_id }), Outcome::Recorded) => {
                self.record.sent = Some(Sent {
                    container_id: container_id.clone(),
                    at: self.now,
                });
                self.settled = false;
                Action::Publish { container_id }
            }
            (Some(Action::Publish { .. }), Outcome::Published { media_id }) => self.live(
                Some(media_id),
                false,
                "media_publish answered with the media id".into(),
            ),
            (Some(Action::Publish { container_id }), Outcome::Failed(trouble)) => {
                // Never publish again blindly, nor give up: the status decides.
                self.publish_failed = Some(trouble);
                Action::ReadStatus { container_id }
            }
            (Some(Action::FindMedia { .. }), Outcome::Media(found)) => match found {
                Some(media_id) => self.live(
                    Some(media_id),
                    true,
                    "the container was published: the post is live".into(),
                ),
                None => self.live(
                    None,
                    false,
                    "the container was published, but no recent post matches it: the media id is unknown".into(),
                ),
            },
            (Some(Action::FindMedia { .. }), Outcome::Failed(trouble)) => {
                self.lookup_failed(trouble)
            }
            (
                Some(Action::CreateContainer | Action::CreateCarousel { .. }),
                Outcome::Failed(trouble),
            ) => self.failed(trouble),
            (Some(Action::CreateChild { index }), outcome) => self.after_child_made(index, outcome),
            (Some(Action::ReadChild { index, container_id }), outcome) => {
                self.after_child_read(index, &container_id, outcome)
            }
            (
                Some(
                    last @ (Action::RecordComment
                    | Action::PostComment { .. }
                    | Action::FindComment { .. }),
                ),
                outcome,
            ) => self.after_comment_step(last, outcome),
            (last, outcome) => Action::GiveUp {
                reason: format!(
                    "the publish workflow got {outcome:?} after {last:?}; this is a defect, reported as such"
                ),
                token: false,
            },
        };
        self.last = Some(action.clone());
        action
    }

    fn first(&mut self) -> Action {
        if let Some(media_id) = self.record.media_id.clone() {
            return self.already_recorded(media_id);
        }
        if let Some(sent) = &self.record.sent {
            return Action::ReadStatus {
                container_id: sent.container_id.clone(),
            };
        }
        match self.record.container_id.clone() {
            Some(container_id) => Action::ReadStatus { container_id },
            None => self.new_container(),
        }
    }

    fn new_container(&mut self) -> Action {
        match self.invalid.clone() {
            Some(reason) => self.stop(reason, false),
            None if self.record.shape.children == 0 => Action::CreateContainer,
            None => self.carousel_step(),
        }
    }

    /// A step failed at a point where nothing is live: retry, wait, or give up, by class.
    fn failed(&mut self, trouble: Trouble) -> Action {
        let attempt = self.attempt();
        let backoff = self.policy.backoff;
        match trouble {
            Trouble::Quota { wait, reason } => {
                let delay = wait.map_or(self.policy.quota_wait_seconds, clamp).max(1);
                Action::Defer {
                    deferral: Deferral::Wait,
                    delay,
                    reason: format!("{reason}; the publishing quota is used up, waiting {delay} s"),
                }
            }
            Trouble::Throttled { wait, reason } => {
                let since = self.record.throttled_since.unwrap_or(self.now);
                let limit = Duration::seconds(i64::from(self.policy.throttle_limit_seconds));
                if self.now - since >= limit {
                    return self.stop(
                        format!(
                            "publishing gave up: Instagram kept throttling it for {} hours ({reason})",
                            limit.whole_hours()
                        ),
                        false,
                    );
                }
                let waited = u32::try_from((self.now - since).whole_minutes()).unwrap_or(0);
                let delay = wait
                    .map(clamp)
                    .unwrap_or_else(|| backoff.delay_seconds(waited.clamp(1, 16), self.seed))
                    .max(1);
                Action::Defer {
                    deferral: Deferral::Throttled,
                    delay,
                    reason: format!("{reason}; throttled, tried again in {delay} s (no attempt used)"),
                }
            }
            Trouble::TokenInvalid(reason) => self.stop(
                format!("publishing stopped at attempt {attempt}: the access token is expired or invalid ({reason})"),
                true,
            ),
            Trouble::Refused(reason) => self.stop(
                format!("publishing gave up at attempt {attempt}: Instagram refused it ({reason})"),
                false,
            ),
            Trouble::Unclear(reason)
            | Trouble::Transient(reason)
            | Trouble::NotReady(reason)
            | Trouble::NeedsNewContainer(reason) => {
                if backoff.allows_retry_after(attempt) {
                    let delay = backoff.delay_seconds(attempt, self.seed).max(1);
                    Action::Defer {
                        deferral: Deferral::Retry,
                        delay,
                        reason: format!(
                            "attempt {attempt} of {} failed: {reason}; the next follows in {delay} s",
                            backoff.max_attempts
                        ),
                    }
                } else {
                    self.stop(
                        format!("publishing gave up after attempt {attempt}: {reason}"),
                        false,
                    )
                }
            }
        }
    }

    /// Give up, once nothing may be live: a container that may have been sent is read first.
    fn stop(&mut self, reason: String, token: bool) -> Action {
        match &self.record.sent {
            Some(sent) if !self.settled => {
                let container_id = sent.container_id.clone();
                self.giving_up = Some((reason, token));
                Action::ReadStatus { container_id }
            }
            _ => Action::GiveUp { reason, token },
        }
    }
}

impl Action {
    /// Whether the run ends with this action.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Action::Succeed { .. }
                | Action::Defer { .. }
                | Action::Unresolved { .. }
                | Action::GiveUp { .. }
        )
    }
}

/// `Published` is handled before any branch that could meet it.
fn unreachable_published() -> Action {
    Action::GiveUp {
        reason: "the publish workflow misread a PUBLISHED container; this is a defect".into(),
        token: false,
    }
}

fn whole_seconds(duration: Duration) -> u32 {
    u32::try_from(duration.whole_seconds().max(1))
        .unwrap_or(u32::MAX)
        .min(QUEUE_MAX_DELAY_SECONDS)
}

fn clamp(seconds: u64) -> u32 {
    u32::try_from(seconds)
        .unwrap_or(u32::MAX)
        .min(QUEUE_MAX_DELAY_SECONDS)
}

#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod tests;
