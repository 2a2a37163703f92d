//! What can stop a publish run, or keep a message from being handled: an error is not
//! acked, so the queue retries the message and finally dead-letters it.

use domain::draft::{DraftId, InvalidDraftId};
use domain::publish::Action;
use platform::store::StoreError;

use super::post::PostError;
use crate::accounts::{AccountsError, NoToken};
use crate::alert::AlertError;
use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The accounts could not be brought in or read.
    #[error(transparent)]
    Accounts(AccountsError),
    #[error("the draft's account {0} is not in D1 accounts")]
    UnknownAccount(String),
    #[error("no account is connected: the draft has nowhere to go")]
    NoAccount,
    /// The draft's account's token cannot be opened (the reason names no token).
    #[error(transparent)]
    Token(NoToken),
    /// The draft's id cannot be read.
    #[error(transparent)]
    BadId(#[from] InvalidDraftId),
    /// The machine asked for a carousel's image the approved post does not have.
    #[error("the carousel has no image {}", .0 + 1)]
    NoCarouselImage(usize),
    /// The machine asked for a first comment the approved post does not have.
    #[error("the approved post has no first comment")]
    NoFirstComment,
    /// The machine asked the steps of a carousel or a comment for another action.
    #[error("{0:?} is not a carousel's or a comment's step")]
    NotAStep(Action),
    /// The approved snapshot cannot be posted, where the machine had said it could.
    #[error(transparent)]
    Post(#[from] PostError),
    /// A write found its conditions gone: another consumer holds the draft now.
    #[error("the claim was lost")]
    LostClaim,
    /// D1 refused a read or a write of the draft.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// D1 (a log row, a lookup) or the queue failed.
    #[error(transparent)]
    Worker(#[from] worker::Error),
    /// The operator's alert could not be sent.
    #[error(transparent)]
    Alert(#[from] AlertError),
    /// The run stopped dead at a crash point (`PUBLISH_CRASH_AFTER`, simulator only).
    #[error("stopped dead after {0} (PUBLISH_CRASH_AFTER)")]
    Crash(String),
}

/// Crash points already passed in this isolate: each crashes once, like a consumer that died
/// there and whose message came back to a new one.
static CRASHED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Whether the run stops dead after `point` (a Graph call's name, or the event a write
/// recorded): only with `PUBLISH_CRASH_AFTER` naming this draft and point, which the settings
/// accept for the local simulator only, and once per draft and point.
pub fn crash_point(settings: &Settings, id: DraftId, point: &str) -> Result<(), PublishError> {
    let id = id.to_string();
    if !settings
        .crash_after
        .iter()
        .any(|(draft, at)| *draft == id && at == point)
    {
        return Ok(());
    }
    let key = format!("{id}:{point}");
    let mut crashed = CRASHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if crashed.contains(&key) {
        return Ok(());
    }
    crashed.push(key);
    Err(PublishError::Crash(point.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crash-point tests and the queue's logs read these words.
    #[test]
    fn a_run_that_stops_says_where_and_why() {
        assert_eq!(
            PublishError::Crash("media_publish".into()).to_string(),
            "stopped dead after media_publish (PUBLISH_CRASH_AFTER)"
        );
        assert_eq!(PublishError::LostClaim.to_string(), "the claim was lost");
        assert_eq!(
            PublishError::UnknownAccount("1784".into()).to_string(),
            "the draft's account 1784 is not in D1 accounts"
        );
        assert_eq!(
            PublishError::NoAccount.to_string(),
            "no account is connected: the draft has nowhere to go"
        );
    }
}
