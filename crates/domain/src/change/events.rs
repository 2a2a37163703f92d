//! Which domain [`Event`] each [`Change`] is, and which events a reviewer may take from a
//! state: both answered by `transition`'s vocabulary, so `plan` and the review page agree.

use crate::draft::{DraftState, Event, transition};

use super::Change;

impl Change<'_> {
    pub fn event(&self) -> Event {
        match self {
            Change::TextWritten { .. } => Event::TextWritten,
            Change::Edit { .. } | Change::Rewritten { .. } => Event::Edit,
            Change::Approve { .. } => Event::Approve,
            Change::Withdraw => Event::Withdraw,
            Change::ClaimPublish { .. } => Event::ClaimPublish,
            Change::ContainerCreated { .. } => Event::ContainerCreated,
            Change::PublishSent { .. } => Event::PublishSent,
            Change::MediaPublished { .. } => Event::MediaPublished,
            Change::PublishSucceeded { .. } => Event::PublishSucceeded,
            Change::PublishDeferred { .. } => Event::PublishDeferred,
            Change::PublishFailed { .. } => Event::PublishFailed,
            Change::Reapprove { .. } => Event::Reapprove,
            Change::Regenerate => Event::Regenerate,
            Change::Discard => Event::Discard,
            Change::ImageClaimed { .. } => Event::ImageClaimed,
            Change::ImageStored { .. } => Event::ImageStored,
            Change::ImageDeferred { .. } => Event::ImageDeferred,
            Change::ImageFailed { .. } | Change::ImageAbandoned { .. } => Event::ImageFailed,
            Change::ImageRequested | Change::ImageAskedAgain { .. } => Event::ImageRequested,
            Change::PublishQueued { .. } => Event::PublishQueued,
            Change::PublishHeld { .. } => Event::PublishHeld,
            Change::Reminded { .. } => Event::Reminded,
            Change::Reschedule { .. } => Event::Reschedule,
            Change::Described { .. } => Event::Edit,
            // Publishing progress under the claim, like the container's.
            Change::ChildrenCreated { .. } => Event::ContainerCreated,
            Change::CommentSent { .. } | Change::CommentEnded { .. } => Event::MediaPublished,
            Change::ItemsEdited { .. } | Change::OptionsEdited { .. } => Event::ItemsEdited,
            Change::ItemFitted { .. } => Event::ItemFitted,
        }
    }
}

/// The actions a reviewer may take on a draft in `state`: the review page and the API ask
/// this, so a button is offered exactly when the write would be legal.
pub fn reviewer_actions(state: DraftState) -> Vec<Event> {
    [
        Event::Edit,
        Event::Approve,
        Event::Withdraw,
        Event::Reschedule,
        Event::Reapprove,
        Event::Regenerate,
        // "New image" on a draft under review.
        Event::ImageRequested,
        Event::Discard,
    ]
    .into_iter()
    .filter(|event| transition(state, *event).is_ok())
    .collect()
}
