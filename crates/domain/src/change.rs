//! The write rules: for every change to a draft, the exact write that makes it, as data.
//!
//! [`plan`] asks [`transition`] whether the change is legal from the state the caller read,
//! then says which columns the write sets and every guard it must be conditional on: the
//! status (and image, and text) the verdict depended on, the revision a person saw, the
//! claim's owner, a lapsed lease, a due time. `platform::store` only renders a [`WritePlan`]
//! as one `UPDATE drafts SET .. WHERE .. RETURNING *`; of two racing writers exactly one
//! matches its guards.

use time::OffsetDateTime;

use crate::content::RawPostText;
use crate::draft::{DraftState, ImageStatus, Refusal, Status, transition};
use crate::post_format::{MediaItems, PostOptions};

mod events;
mod write;
pub use events::reviewer_actions;
pub use write::{Guard, Set, Value, WritePlan};

/// What must still hold for a change to apply: the state it was decided from and, for a
/// person's edits and approvals, the revision they saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub state: DraftState,
    pub revision: Option<i64>,
}

/// How the consumer's deferral leaves the draft's publishing bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deferral {
    /// The attempt failed and a retry follows: one attempt of this approval is spent.
    Retry,
    /// The container is still being processed: one more status read counted.
    Poll,
    /// Meta throttles the app or account: no attempt spent; the throttling's start is kept,
    /// so that it is bounded.
    Throttled,
    /// A wait that spends nothing: the publishing quota, or a `media_publish` whose outcome
    /// is not known yet.
    Wait,
    /// The container's status cannot be read while a `media_publish` may have gone out: the
    /// draft is unresolved since the first such read, and checked again later.
    Unresolved,
}

/// A change to a draft: a domain [`Event`](crate::draft::Event) with what it writes.
#[derive(Debug, Clone)]
pub enum Change<'a> {
    TextWritten {
        text: &'a RawPostText,
    },
    Edit {
        text: &'a RawPostText,
    },
    /// New text from the caption writer for a draft under review (regeneration): an edit
    /// that also becomes the new generated text.
    Rewritten {
        text: &'a RawPostText,
    },
    /// Copies the row's own text and image key into the approved snapshot, in the same write.
    /// `due_at`: when the publish message sent with the approval is due (`None` for a
    /// scheduled post: the scheduler queues it when its time comes). A container that a
    /// `media_publish` may have been sent for is kept: the publisher reads it first.
    Approve {
        by: &'a str,
        scheduled_at: Option<OffsetDateTime>,
        due_at: Option<OffsetDateTime>,
    },
    /// Only while no `media_publish` may have been sent for the draft.
    Withdraw,
    /// A claim with a lease. A `publishing` draft is claimed again only once its lease
    /// lapsed at `now`.
    ClaimPublish {
        claim: &'a str,
        lease_until: OffsetDateTime,
        now: OffsetDateTime,
    },
    /// A new container; an earlier one was read as never published (or there was none).
    ContainerCreated {
        claim: &'a str,
        container_id: &'a str,
    },
    /// Recorded before `media_publish` is sent for the container: from here on the post may
    /// be live, and nothing fails the draft before a status read says it is not.
    PublishSent {
        claim: &'a str,
        container_id: &'a str,
        at: OffsetDateTime,
    },
    MediaPublished {
        claim: &'a str,
        media_id: &'a str,
    },
    /// Releases the claim. `media_id` is `None` when the post is known to be live but its
    /// media could not be found; a found one (`found`) is taken only if no other draft
    /// recorded it.
    PublishSucceeded {
        claim: &'a str,
        media_id: Option<&'a str>,
        found: bool,
        permalink: Option<&'a str>,
    },
    /// Releases the claim; `due_at`: when the message the consumer queues next is due.
    /// `sent_not_live`: a status read in this run said the container a `media_publish` was
    /// sent for is not live, so that send is forgotten (the next run need not wait for it).
    PublishDeferred {
        claim: &'a str,
        reason: &'a str,
        due_at: OffsetDateTime,
        deferral: Deferral,
        sent_not_live: bool,
        now: OffsetDateTime,
    },
    /// By the holder of `claim`, only after a status read said the post is not live (or no
    /// `media_publish` was ever sent). `claim` is `None` only for a person's approval whose
    /// publish message could not be sent: no consumer has seen the draft.
    PublishFailed {
        claim: Option<&'a str>,
        reason: &'a str,
    },
    /// `due_at` as for [`Change::Approve`]. The container is kept: it is read first.
    Reapprove {
        by: &'a str,
        due_at: Option<OffsetDateTime>,
    },
    Regenerate,
    Discard,
    /// A generating image is taken over only once its lease lapsed at `now`.
    ImageClaimed {
        claim: &'a str,
        lease_until: OffsetDateTime,
        now: OffsetDateTime,
    },
    ImageStored {
        claim: &'a str,
        key: &'a str,
    },
    ImageDeferred {
        claim: &'a str,
        reason: &'a str,
    },
    /// `claim` is the job's own; `None` when the failed queue records a job that died.
    ImageFailed {
        claim: Option<&'a str>,
        reason: &'a str,
    },
    /// A person asks for a new image: a new series of requests.
    ImageRequested,
    /// The scheduler asks again for an image stuck `pending` (or `generating` under a lapsed
    /// lease), if it is still the `requests`-th request (so overlapping runs ask once).
    ImageAskedAgain {
        requests: i64,
    },
    /// The scheduler gives up on an image asked for `requests` times.
    ImageAbandoned {
        requests: i64,
        reason: &'a str,
    },
    /// A publish message due at `due_at` is queued, if the draft's `publish_due_at` is still
    /// `previous` (the column's text as read): of two overlapping runs one queues it. Clears
    /// a hold.
    PublishQueued {
        due_at: OffsetDateTime,
        previous: Option<&'a str>,
    },
    /// A due post held back (the publishing quota), while no message is queued for it:
    /// why, and when it is expected to go (`None`: unknown).
    PublishHeld {
        reason: &'a str,
        until: Option<OffsetDateTime>,
    },
    /// The operator was reminded of the draft, if nobody did since `previous` (as read).
    Reminded {
        previous: Option<&'a str>,
    },
    /// A person changes (`Some`) or clears (`None`: now) an approved post's time, while no
    /// publish message is queued for it; `due_at` as for [`Change::Approve`].
    Reschedule {
        scheduled_at: Option<OffsetDateTime>,
        due_at: Option<OffsetDateTime>,
    },
    /// The caption, hashtags and each photo's alt text written from the photos by a vision
    /// model (or the offline writer): the text as for [`Change::Rewritten`], and `items`
    /// (the `media_items` JSON with the new alt texts) in place of `items_read`, the column's
    /// text as read, so an item changed meanwhile makes the write miss.
    Described {
        text: &'a RawPostText,
        items: &'a str,
        items_read: &'a str,
    },
    /// A carousel's child containers made so far for this approval (`children`: a JSON list
    /// of ids, in the items' order). Any parent made before is replaced: it was read as
    /// never published (or there was none).
    ChildrenCreated {
        claim: &'a str,
        children: &'a str,
    },
    /// Recorded before the first comment is sent: one more send, and when.
    CommentSent {
        claim: &'a str,
        at: OffsetDateTime,
    },
    /// How the first comment ended: posted with its id, or failed with the reason.
    CommentEnded {
        claim: &'a str,
        comment_id: Option<&'a str>,
        error: Option<&'a str>,
    },
    /// A person's images: `items` the new list (`None`: none left), written only if the
    /// column still holds `previous` (its JSON as read), since the image consumer changes it
    /// without a new revision.
    ItemsEdited {
        previous: Option<&'a str>,
        items: Option<&'a MediaItems>,
    },
    /// A person's options for the post.
    OptionsEdited {
        options: &'a PostOptions,
    },
    /// The image consumer's outcome for an upload: `items` with it ready or failed, if the
    /// list is still `previous` (its JSON as read).
    ItemFitted {
        previous: &'a str,
        items: &'a MediaItems,
    },
}

const CURRENT_TEXT: [&str; 3] = ["caption", "hashtags", "alt_text"];
const GENERATED_TEXT: [&str; 3] = [
    "generated_caption",
    "generated_hashtags",
    "generated_alt_text",
];

/// The write that applies `change` to a draft read as `expected`, or why the change is not
/// legal from there.
pub fn plan(
    expected: Expected,
    change: &Change<'_>,
    now: OffsetDateTime,
) -> Result<WritePlan, Refusal> {
    let event = change.event();
    let from = expected.state;
    let to = transition(from, event)?;
    let mut plan = WritePlan::default();
    // Only what the event changes is written, so a field it did not decide on is never
    // overwritten with a stale value.
    if to.status != from.status {
        plan.set("status", Value::text(to.status.as_str()));
    }
    if to.image != from.image {
        plan.set("image_status", Value::text(to.image.as_str()));
    }
    plan.set("updated_at", Value::time(now));
    if event.starts_revision(from) {
        plan.sets.push(("revision", Set::Increment));
    }
    // The write checks exactly what the verdict depended on (the domain proves the rest
    // cannot change it), so image work and a reviewer's edit do not collide.
    plan.guard(Guard::Equals("status", Value::text(from.status.as_str())));
    if event.depends_on_image() {
        plan.guard(Guard::Equals(
            "image_status",
            Value::text(from.image.as_str()),
        ));
    }
    if event.depends_on_text() {
        plan.guard(if from.has_text {
            Guard::NotNull("caption")
        } else {
            Guard::IsNull("caption")
        });
    }
    if let Some(revision) = expected.revision {
        plan.guard(Guard::Equals("revision", Value::Int(revision)));
    }
    match change {
        Change::TextWritten { text } | Change::Rewritten { text } => {
            plan.text(CURRENT_TEXT, text);
            plan.text(GENERATED_TEXT, text);
        }
        Change::Edit { text } => plan.text(CURRENT_TEXT, text),
        Change::Discard => {}
        Change::Approve {
            by,
            scheduled_at,
            due_at,
        } => {
            for (snapshot, column) in [
                ("approved_caption", "caption"),
                ("approved_hashtags", "hashtags"),
                ("approved_alt_text", "alt_text"),
                ("approved_image_key", "image_key"),
                ("approved_media_items", "media_items"),
                ("approved_post_options", "post_options"),
                ("approved_revision", "revision"),
            ] {
                plan.sets.push((snapshot, Set::CopyOf(column)));
            }
            plan.set("approved_at", Value::time(now));
            plan.set("approved_by", Value::text(by));
            plan.set("scheduled_at", Value::optional_time(*scheduled_at));
            plan.due(*due_at);
            // A new snapshot needs a new container; one that a `media_publish` may have
            // been sent for stays in `publish_sent_container` until it is read.
            plan.clear(&["container_id", "media_id", "permalink"]);
            plan.clear(&[
                "child_containers",
                "comment_sent_at",
                "comment_id",
                "comment_error",
            ]);
            plan.set("comment_sends", Value::Int(0));
            plan.fresh_publishing();
        }
        Change::Withdraw => {
            // Once a `media_publish` may have gone out, an approval cannot be taken back.
            plan.guard(Guard::IsNull("publish_sent_container"));
            plan.guard(Guard::IsNull("publish_claim"));
            clear_snapshot(&mut plan);
        }
        Change::Regenerate => clear_snapshot(&mut plan),
        Change::ClaimPublish {
            claim,
            lease_until,
            now,
        } => {
            plan.set("publish_claim", Value::text(claim));
            plan.set("claim_expires_at", Value::time(*lease_until));
            if from.status == Status::Publishing {
                plan.guard(Guard::AtMost("claim_expires_at", Value::time(*now)));
            }
        }
        Change::ContainerCreated {
            claim,
            container_id,
        } => {
            plan.guard(owner(claim));
            plan.set("container_id", Value::text(container_id));
            plan.set("container_polls", Value::Int(0));
            // Made only after the earlier container was read as never published.
            plan.clear(&["publish_sent_container", "publish_sent_at"]);
        }
        Change::PublishSent {
            claim,
            container_id,
            at,
        } => {
            plan.guard(owner(claim));
            plan.set("publish_sent_container", Value::text(container_id));
            // Of same-text drafts, the first sent takes the first post: the order counts.
            plan.set("publish_sent_at", Value::precise_time(*at));
        }
        Change::MediaPublished { claim, media_id } => {
            plan.guard(owner(claim));
            plan.set("media_id", Value::text(media_id));
        }
        Change::PublishSucceeded {
            claim,
            media_id,
            found,
            permalink,
        } => {
            plan.guard(owner(claim));
            if let Some(media_id) = media_id {
                if *found {
                    plan.guard(Guard::MediaUnclaimed(Value::text(media_id)));
                }
                plan.set("media_id", Value::text(media_id));
            }
            plan.set("permalink", Value::optional_text(*permalink));
            // The attempt that ended it counts: the draft shows the attempts it took.
            plan.sets.push(("publish_attempts", Set::Increment));
            plan.release_claim();
            plan.clear(&["last_error", "throttled_since", "unresolved_since"]);
            plan.due(None);
        }
        Change::PublishDeferred {
            claim,
            reason,
            due_at,
            deferral,
            sent_not_live,
            now,
        } => {
            plan.guard(owner(claim));
            if *sent_not_live {
                plan.clear(&["publish_sent_container", "publish_sent_at"]);
            }
            plan.set("last_error", Value::text(reason));
            plan.release_claim();
            plan.due(Some(*due_at));
            match deferral {
                Deferral::Retry => {
                    plan.sets.push(("publish_attempts", Set::Increment));
                    plan.clear(&["throttled_since", "unresolved_since"]);
                }
                Deferral::Poll => plan.sets.push(("container_polls", Set::Increment)),
                Deferral::Throttled => plan
                    .sets
                    .push(("throttled_since", Set::KeepOr(Value::time(*now)))),
                Deferral::Wait => {}
                Deferral::Unresolved => plan
                    .sets
                    .push(("unresolved_since", Set::KeepOr(Value::time(*now)))),
            }
        }
        Change::PublishFailed { claim, reason } => {
            match claim {
                Some(claim) => {
                    plan.guard(owner(claim));
                    plan.sets.push(("publish_attempts", Set::Increment));
                }
                // No consumer has seen it: nothing may have been sent.
                None => {
                    plan.guard(Guard::IsNull("publish_claim"));
                    plan.guard(Guard::IsNull("publish_sent_container"));
                }
            }
            plan.set("last_error", Value::text(reason));
            plan.release_claim();
            plan.clear(&["throttled_since", "unresolved_since"]);
            plan.due(None);
        }
        Change::Reapprove { by, due_at } => {
            plan.set("approved_by", Value::text(by));
            plan.due(*due_at);
            plan.fresh_publishing();
        }
        Change::PublishQueued { due_at, previous } => {
            plan.guard(Guard::Is("publish_due_at", Value::optional_text(*previous)));
            plan.due(Some(*due_at));
        }
        Change::PublishHeld { reason, until } => {
            // A draft whose message is queued meanwhile is not held.
            plan.guard(Guard::IsNull("publish_due_at"));
            plan.set("publish_hold", Value::text(reason));
            plan.set("publish_hold_until", Value::optional_time(*until));
        }
        Change::Reschedule {
            scheduled_at,
            due_at,
        } => {
            // Once its message is queued, the post's time is the queue's business.
            plan.guard(Guard::IsNull("publish_due_at"));
            plan.set("scheduled_at", Value::optional_time(*scheduled_at));
            plan.due(*due_at);
        }
        Change::Reminded { previous } => {
            plan.guard(Guard::Is("reminded_at", Value::optional_text(*previous)));
            plan.set("reminded_at", Value::time(now));
        }
        Change::ImageClaimed {
            claim,
            lease_until,
            now,
        } => {
            plan.set("image_claim", Value::text(claim));
            plan.set("image_lease_expires_at", Value::time(*lease_until));
            if from.image == ImageStatus::Generating {
                plan.guard(Guard::AtMost("image_lease_expires_at", Value::time(*now)));
            }
        }
        Change::ImageStored { claim, key } => {
            plan.guard(Guard::Equals("image_claim", Value::text(claim)));
            plan.set("image_key", Value::text(key));
            plan.clear(&["image_error", "image_claim", "image_lease_expires_at"]);
        }
        Change::ImageDeferred { claim, reason } => {
            plan.guard(Guard::Equals("image_claim", Value::text(claim)));
            plan.set("image_error", Value::text(reason));
            plan.clear(&["image_claim", "image_lease_expires_at"]);
        }
        Change::ImageFailed { claim, reason } => {
            if let Some(claim) = claim {
                plan.guard(Guard::Equals("image_claim", Value::text(claim)));
            }
            plan.set("image_error", Value::text(reason));
            plan.clear(&["image_claim", "image_lease_expires_at"]);
        }
        Change::ImageRequested => {
            plan.lapsed_image_lease(from.image, now);
            plan.set("image_requests", Value::Int(1));
            plan.set("image_requested_at", Value::time(now));
            plan.clear(&["image_error"]);
        }
        Change::ImageAskedAgain { requests } => {
            plan.lapsed_image_lease(from.image, now);
            plan.guard(Guard::Equals("image_requests", Value::Int(*requests)));
            plan.sets.push(("image_requests", Set::Increment));
            plan.set("image_requested_at", Value::time(now));
            plan.clear(&["image_error"]);
        }
        Change::ImageAbandoned { requests, reason } => {
            plan.lapsed_image_lease(from.image, now);
            plan.guard(Guard::Equals("image_requests", Value::Int(*requests)));
            plan.set("image_error", Value::text(reason));
        }
        Change::Described {
            text,
            items,
            items_read,
        } => {
            plan.text(CURRENT_TEXT, text);
            plan.text(GENERATED_TEXT, text);
            plan.guard(Guard::Equals("media_items", Value::text(items_read)));
            plan.set("media_items", Value::text(items));
        }
        Change::ChildrenCreated { claim, children } => {
            plan.guard(owner(claim));
            plan.set("child_containers", Value::text(children));
            plan.set("container_polls", Value::Int(0));
            plan.clear(&["container_id"]);
        }
        Change::CommentSent { claim, at } => {
            plan.guard(owner(claim));
            plan.sets.push(("comment_sends", Set::Increment));
            plan.set("comment_sent_at", Value::precise_time(*at));
        }
        Change::CommentEnded {
            claim,
            comment_id,
            error,
        } => {
            plan.guard(owner(claim));
            plan.set("comment_id", Value::optional_text(*comment_id));
            plan.set("comment_error", Value::optional_text(*error));
        }
        Change::ItemsEdited { previous, items } => {
            plan.guard(Guard::Is("media_items", Value::optional_text(*previous)));
            plan.set(
                "media_items",
                items.map_or(Value::Null, |items| Value::Text(items.to_json())),
            );
        }
        Change::OptionsEdited { options } => {
            plan.set("post_options", Value::Text(options.to_json()));
        }
        Change::ItemFitted { previous, items } => {
            plan.guard(Guard::Equals("media_items", Value::text(previous)));
            plan.set("media_items", Value::Text(items.to_json()));
        }
    }
    Ok(plan)
}

fn owner(claim: &str) -> Guard {
    Guard::Equals("publish_claim", Value::text(claim))
}

/// An approval taken back, or a failed draft sent back to be rewritten: the snapshot goes.
fn clear_snapshot(plan: &mut WritePlan) {
    plan.clear(&[
        "approved_revision",
        "approved_caption",
        "approved_hashtags",
        "approved_alt_text",
        "approved_image_key",
        "approved_media_items",
        "approved_post_options",
        "approved_at",
        "approved_by",
    ]);
    plan.due(None);
}

#[cfg(test)]
mod tests;
