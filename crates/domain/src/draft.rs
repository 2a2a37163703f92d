//! The draft: its identity, its status, and the one function that decides which status
//! changes are legal.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A draft's id: a random (v4) UUID, written in lower-case hyphenated form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DraftId(Uuid);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a draft id (expected a UUID like 123e4567-e89b-42d3-a456-426614174000)")]
pub struct InvalidDraftId(pub String);

impl DraftId {
    /// The caller supplies the randomness, so this crate stays deterministic.
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    pub fn parse(text: &str) -> Result<Self, InvalidDraftId> {
        // Only the hyphenated form: ids appear in URLs and logs, one spelling keeps them greppable.
        if text.len() != 36 {
            return Err(InvalidDraftId(text.to_owned()));
        }
        Uuid::try_parse(text)
            .map(Self)
            .map_err(|_| InvalidDraftId(text.to_owned()))
    }
}

impl fmt::Display for DraftId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Where a draft is in its life. Stored in D1 as the lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Written, waiting for a person to review it.
    Draft,
    /// A person approved it; a publish is queued or scheduled.
    Approved,
    /// A publish consumer holds the claim and is talking to Instagram.
    Publishing,
    /// Instagram has it. Final.
    Published,
    /// Publishing gave up; a person must re-approve or regenerate it.
    Failed,
    /// A person threw it away. Final; its image is removed by housekeeping.
    Discarded,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Draft,
        Status::Approved,
        Status::Publishing,
        Status::Published,
        Status::Failed,
        Status::Discarded,
    ];

    /// Nothing happens to a draft after these.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Published | Status::Discarded)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Approved => "approved",
            Status::Publishing => "publishing",
            Status::Published => "published",
            Status::Failed => "failed",
            Status::Discarded => "discarded",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happens to a draft. Every change to a draft is one of these, applied by
/// [`transition`]'s verdict with one conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The caption writer's text is stored; until then the draft is invisible.
    TextWritten,
    /// A person changes the text of a draft under review.
    Edit,
    /// A person approves the draft as it is now (its text and its ready image).
    Approve,
    /// A person takes an approval back before it was published, to correct the post: an
    /// approved post not yet sent, or a failed one (its text to be edited and approved
    /// again). The write checks that no `media_publish` may have gone out for it.
    Withdraw,
    /// A publish consumer claims the draft with a lease; only one claim can win. A draft
    /// left `publishing` by a consumer that died is claimed again once its lease lapsed (the
    /// store checks the lease), and the new claimant reconciles before publishing.
    ClaimPublish,
    /// The publish consumer created the Instagram container; its id is stored at once.
    ContainerCreated,
    /// `media_publish` is about to be sent for the container: recorded first, so that from
    /// here on nothing fails the draft before a status read says the post is not live.
    PublishSent,
    /// `media_publish` answered with the media id; it is stored the moment it is known.
    MediaPublished,
    /// Instagram confirmed the post.
    PublishSucceeded,
    /// A publish attempt failed in a way worth retrying; the claim is released.
    PublishDeferred,
    /// Publishing gave up (a permanent error, or retries used up).
    PublishFailed,
    /// A person approves a failed draft again, unchanged.
    Reapprove,
    /// A person sends a failed draft back to be rewritten and reviewed.
    Regenerate,
    /// A person throws away a draft under review, or a failed one.
    Discard,
    /// An image job takes the image with a lease, so a duplicate delivery makes no second one.
    ImageClaimed,
    /// The image job stored the image in R2.
    ImageStored,
    /// The image job failed and will try again later; the claim is released.
    ImageDeferred,
    /// The image could not be made; the reviewer sees why.
    ImageFailed,
    /// A new image is asked for (after a failure, or to replace the current one); the current
    /// one stays until the new one is stored. Also asked again for an image stuck `pending`,
    /// or `generating` under a lapsed lease (the store checks the lease): its job was lost.
    ImageRequested,
    /// The publish message for an approved draft (or one stuck `publishing` whose consumer
    /// died) is queued; the store records when it is due, conditional on the due time it read,
    /// so two overlapping scheduler runs queue a draft once.
    PublishQueued,
    /// The scheduler holds a due draft back (the publishing quota is used up) and says why.
    PublishHeld,
    /// The operator was reminded of a draft waiting for review.
    Reminded,
    /// A person changes or clears the time of an approved post whose publish message is not
    /// queued yet (the store checks that).
    Reschedule,
    /// A person changes the post's images (adds, orders, removes) or its options.
    ItemsEdited,
    /// The image consumer records what it made of an upload: ready, or failed with why.
    ItemFitted,
}

impl Event {
    pub const ALL: [Event; 25] = [
        Event::TextWritten,
        Event::Edit,
        Event::Approve,
        Event::Withdraw,
        Event::ClaimPublish,
        Event::ContainerCreated,
        Event::PublishSent,
        Event::MediaPublished,
        Event::PublishSucceeded,
        Event::PublishDeferred,
        Event::PublishFailed,
        Event::Reapprove,
        Event::Regenerate,
        Event::Discard,
        Event::ImageClaimed,
        Event::ImageStored,
        Event::ImageDeferred,
        Event::ImageFailed,
        Event::ImageRequested,
        Event::PublishQueued,
        Event::PublishHeld,
        Event::Reminded,
        Event::Reschedule,
        Event::ItemsEdited,
        Event::ItemFitted,
    ];

    /// Whether the event, applied to a draft in state `from`, changes something a reviewer
    /// sees and approves, and so starts a new revision. A claim, publishing progress and the
    /// scheduler's bookkeeping do not: "pending" and "being made" look the same to an
    /// approval, so an image asked for again while it is still pending or being made changes
    /// nothing a reviewer could approve, and none of these must make a reviewer's edit
    /// conflict.
    pub fn starts_revision(self, from: DraftState) -> bool {
        match self {
            Event::ImageClaimed
            | Event::ContainerCreated
            | Event::PublishSent
            | Event::MediaPublished
            | Event::PublishQueued
            | Event::PublishHeld
            | Event::Reminded
            // An upload fitted is no edit: a reviewer's edit meanwhile must not conflict.
            | Event::ItemFitted => false,
            Event::ImageRequested => {
                !matches!(from.image, ImageStatus::Pending | ImageStatus::Generating)
            }
            _ => true,
        }
    }

    /// Whether the verdict depends on the image's state, so a write must find it unchanged.
    pub fn depends_on_image(self) -> bool {
        self.is_image_event() || self == Event::Approve
    }

    /// Whether the verdict depends on the text being there or not. Image work does not: an
    /// image may be stored before or after the caption writer's text.
    pub fn depends_on_text(self) -> bool {
        matches!(
            self,
            Event::TextWritten
                | Event::Edit
                | Event::Approve
                | Event::Reapprove
                | Event::Regenerate
        )
    }

    /// Whether the event concerns the image rather than the review status.
    pub fn is_image_event(self) -> bool {
        matches!(
            self,
            Event::ImageClaimed
                | Event::ImageStored
                | Event::ImageDeferred
                | Event::ImageFailed
                | Event::ImageRequested
        )
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&name)
    }
}

/// The facts about a draft that decide which events it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DraftState {
    pub status: Status,
    pub image: ImageStatus,
    /// The caption writer's text has been stored.
    pub has_text: bool,
}

/// Why an event cannot happen to a draft in its present state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a draft that is {status} cannot take the event {event}")]
    WrongStatus { status: Status, event: Event },
    #[error("the image is {image}; {event} needs {needed}")]
    WrongImage {
        image: ImageStatus,
        event: Event,
        needed: &'static str,
    },
    #[error("the draft has no text yet")]
    NoText,
    #[error("the draft's text is already written")]
    TextExists,
}

/// The only place that decides whether a change to a draft is legal, and what the draft
/// looks like after it. Storage applies the answer with a write conditional on `from`, so of
/// two racing writers only one succeeds.
pub fn transition(from: DraftState, event: Event) -> Result<DraftState, Refusal> {
    use Event as E;
    use ImageStatus as I;
    use Status as S;
    let wrong_status = Refusal::WrongStatus {
        status: from.status,
        event,
    };
    let wrong_image = |needed| Refusal::WrongImage {
        image: from.image,
        event,
        needed,
    };
    let mut to = from;
    match event {
        E::TextWritten => {
            if from.status != S::Draft {
                return Err(wrong_status);
            }
            if from.has_text {
                return Err(Refusal::TextExists);
            }
            to.has_text = true;
        }
        E::Edit => {
            if from.status != S::Draft {
                return Err(wrong_status);
            }
            if !from.has_text {
                return Err(Refusal::NoText);
            }
        }
        E::Approve => {
            if from.status != S::Draft {
                return Err(wrong_status);
            }
            if !from.has_text {
                return Err(Refusal::NoText);
            }
            // What Instagram receives is what the person saw: a ready image, nothing less.
            if from.image != I::Ready {
                return Err(wrong_image("a ready image"));
            }
            to.status = S::Approved;
        }
        E::Withdraw => {
            if !matches!(from.status, S::Approved | S::Failed) {
                return Err(wrong_status);
            }
            to.status = S::Draft;
        }
        E::ClaimPublish => {
            if !matches!(from.status, S::Approved | S::Publishing) {
                return Err(wrong_status);
            }
            to.status = S::Publishing;
        }
        E::Discard => {
            if !matches!(from.status, S::Draft | S::Failed) {
                return Err(wrong_status);
            }
            to.status = S::Discarded;
        }
        E::ContainerCreated | E::PublishSent | E::MediaPublished => {
            if from.status != S::Publishing {
                return Err(wrong_status);
            }
        }
        // Approved: a due post, or one whose message was lost. Publishing: its consumer died
        // holding the claim; the new message's consumer claims it again and reconciles.
        E::PublishQueued => {
            if !matches!(from.status, S::Approved | S::Publishing) {
                return Err(wrong_status);
            }
        }
        E::PublishHeld | E::Reschedule => {
            if from.status != S::Approved {
                return Err(wrong_status);
            }
        }
        // The images and options are the draft's under review; an approval copies them.
        E::Reminded | E::ItemsEdited | E::ItemFitted => {
            if from.status != S::Draft {
                return Err(wrong_status);
            }
        }
        E::PublishSucceeded | E::PublishDeferred => {
            if from.status != S::Publishing {
                return Err(wrong_status);
            }
            to.status = match event {
                E::PublishSucceeded => S::Published,
                _ => S::Approved,
            };
        }
        // From approved too: the publish message died before any consumer could claim it.
        E::PublishFailed => {
            if !matches!(from.status, S::Approved | S::Publishing) {
                return Err(wrong_status);
            }
            to.status = S::Failed;
        }
        E::Reapprove | E::Regenerate => {
            if from.status != S::Failed {
                return Err(wrong_status);
            }
            if !from.has_text {
                return Err(Refusal::NoText);
            }
            to.status = match event {
                E::Reapprove => S::Approved,
                _ => S::Draft,
            };
        }
        // The image belongs to the draft under review; an approved snapshot's image is fixed.
        E::ImageClaimed
        | E::ImageStored
        | E::ImageDeferred
        | E::ImageFailed
        | E::ImageRequested => {
            if from.status != S::Draft {
                return Err(wrong_status);
            }
            to.image = match (event, from.image) {
                // A generating image is claimed again only once its lease lapsed (the store
                // checks the lease): its job died.
                (E::ImageClaimed, I::Pending | I::Generating) => I::Generating,
                (E::ImageStored, I::Generating) => I::Ready,
                (E::ImageDeferred, I::Generating) => I::Pending,
                (E::ImageFailed, I::Pending | I::Generating) => I::Failed,
                // Pending or generating: asked again, as its job was lost.
                (E::ImageRequested, _) => I::Pending,
                (E::ImageClaimed | E::ImageFailed, _) => {
                    return Err(wrong_image("one that is pending or being made"));
                }
                _ => return Err(wrong_image("one that is being made")),
            };
        }
    }
    Ok(to)
}

/// Where a draft's image is. The image consumer moves it from `Pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    Pending,
    /// An image job holds it under a lease.
    Generating,
    Ready,
    Failed,
}

impl ImageStatus {
    pub const ALL: [ImageStatus; 4] = [
        ImageStatus::Pending,
        ImageStatus::Generating,
        ImageStatus::Ready,
        ImageStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImageStatus::Pending => "pending",
            ImageStatus::Generating => "generating",
            ImageStatus::Ready => "ready",
            ImageStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for ImageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
