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
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Draft,
        Status::Approved,
        Status::Publishing,
        Status::Published,
        Status::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Approved => "approved",
            Status::Publishing => "publishing",
            Status::Published => "published",
            Status::Failed => "failed",
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

/// Something that happens to a draft and may change its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A person changes the text of a draft under review.
    Edit,
    /// A person approves the draft as it is now.
    Approve,
    /// A person takes an approval back before it was published.
    Withdraw,
    /// A publish consumer claims the draft; only one claim can win.
    ClaimPublish,
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
}

impl Event {
    pub const ALL: [Event; 9] = [
        Event::Edit,
        Event::Approve,
        Event::Withdraw,
        Event::ClaimPublish,
        Event::PublishSucceeded,
        Event::PublishDeferred,
        Event::PublishFailed,
        Event::Reapprove,
        Event::Regenerate,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a draft that is {from} cannot take the event {event:?}")]
pub struct IllegalTransition {
    pub from: Status,
    pub event: Event,
}

/// The only place that decides whether a status change is legal. Storage applies the result
/// with a conditional update on `from`, so two racing writers cannot both succeed.
pub fn transition(from: Status, event: Event) -> Result<Status, IllegalTransition> {
    use Event as E;
    use Status as S;
    let to = match (from, event) {
        (S::Draft, E::Edit) => S::Draft,
        (S::Draft, E::Approve) => S::Approved,
        (S::Approved, E::Withdraw) => S::Draft,
        (S::Approved, E::ClaimPublish) => S::Publishing,
        // The publish message died before any consumer could claim it (its queue gave up).
        (S::Approved, E::PublishFailed) => S::Failed,
        (S::Publishing, E::PublishSucceeded) => S::Published,
        (S::Publishing, E::PublishDeferred) => S::Approved,
        (S::Publishing, E::PublishFailed) => S::Failed,
        (S::Failed, E::Reapprove) => S::Approved,
        (S::Failed, E::Regenerate) => S::Draft,
        _ => return Err(IllegalTransition { from, event }),
    };
    Ok(to)
}

/// Where a draft's image is. The image consumer moves it from `Pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    Pending,
    Ready,
    Failed,
}

impl ImageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageStatus::Pending => "pending",
            ImageStatus::Ready => "ready",
            ImageStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            ImageStatus::Pending,
            ImageStatus::Ready,
            ImageStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (state, event) pair, with the expected outcome; anything not listed is illegal.
    #[test]
    fn every_state_event_pair() {
        use Event as E;
        use Status as S;
        let legal = [
            (S::Draft, E::Edit, S::Draft),
            (S::Draft, E::Approve, S::Approved),
            (S::Approved, E::Withdraw, S::Draft),
            (S::Approved, E::ClaimPublish, S::Publishing),
            (S::Approved, E::PublishFailed, S::Failed),
            (S::Publishing, E::PublishSucceeded, S::Published),
            (S::Publishing, E::PublishDeferred, S::Approved),
            (S::Publishing, E::PublishFailed, S::Failed),
            (S::Failed, E::Reapprove, S::Approved),
            (S::Failed, E::Regenerate, S::Draft),
        ];
        let mut checked = 0;
        for from in Status::ALL {
            for event in Event::ALL {
                let expected = legal
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|(_, _, to)| *to)
                    .ok_or(IllegalTransition { from, event });
                assert_eq!(transition(from, event), expected, "{from} + {event:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, Status::ALL.len() * Event::ALL.len());
    }

    #[test]
    fn published_is_final() {
        for event in Event::ALL {
            assert!(transition(Status::Published, event).is_err(), "{event:?}");
        }
    }

    #[test]
    fn only_a_claim_leads_to_publishing() {
        for from in Status::ALL {
            for event in Event::ALL {
                if transition(from, event) == Ok(Status::Publishing) {
                    assert_eq!((from, event), (Status::Approved, Event::ClaimPublish));
                }
            }
        }
    }

    #[test]
    fn status_names_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert_eq!(Status::parse("Draft"), None);
    }

    #[test]
    fn draft_ids() {
        let id = DraftId::from_random_bytes([7; 16]);
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4", "a v4 uuid");
        assert_eq!(DraftId::parse(&text), Ok(id));
        for bad in [
            "",
            "not-a-uuid",
            "0707070707074707870707070707070707",
            "{07070707-0707-4707-8707-070707070707}",
        ] {
            assert_eq!(
                DraftId::parse(bad),
                Err(InvalidDraftId(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
