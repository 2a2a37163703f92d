//! A client's approval link: a reviewer names a person outside the team and the drafts they
//! may see; the link shows those drafts' previews and lets that person approve, ask for
//! changes or comment, recorded under their name "via link". The link's secret is only in
//! the link (stored as its SHA-256); it expires, and a reviewer can revoke it.
//!
//! These are the rules; the api Worker reads and writes the link.

use time::{Duration, OffsetDateTime};

use crate::content::invisible;
use crate::draft::DraftId;

/// The most drafts one link shows.
pub const MAX_DRAFTS: usize = 20;
/// A link lasts a week unless the reviewer says otherwise, and at most thirty days.
pub const DEFAULT_DAYS: i64 = 7;
pub const MAX_DAYS: i64 = 30;
/// A client's name as shown in the history, in characters.
pub const MAX_NAME_CHARS: usize = 60;

/// A link as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub client_name: String,
    pub draft_ids: Vec<DraftId>,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

/// Why a link does not open, or not for a draft.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this link was withdrawn by the team that sent it")]
    Revoked,
    #[error("this link has expired")]
    Expired,
    #[error("this link does not show that draft")]
    NotInLink,
}

impl Link {
    /// Whether the link opens at `now`, and for `draft` when one is named.
    pub fn judge(&self, now: OffsetDateTime, draft: Option<DraftId>) -> Result<(), Refusal> {
        if self.revoked_at.is_some() {
            return Err(Refusal::Revoked);
        }
        if now >= self.expires_at {
            return Err(Refusal::Expired);
        }
        match draft {
            Some(id) if !self.draft_ids.contains(&id) => Err(Refusal::NotInLink),
            _ => Ok(()),
        }
    }

    /// The name a decision through the link is recorded under.
    pub fn decider(&self) -> String {
        via_link(&self.client_name)
    }
}

pub fn via_link(client_name: &str) -> String {
    format!("{client_name} (via link)")
}

/// What is wrong with a reviewer's request for a link, by field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("a client's name is needed")]
    EmptyName,
    #[error("a client's name has at most {MAX_NAME_CHARS} characters")]
    NameTooLong,
    #[error("a client's name cannot contain control or invisible characters")]
    NameCharacters,
    #[error("a link shows 1 to {MAX_DRAFTS} drafts")]
    DraftCount,
    #[error("the same draft is named twice")]
    RepeatedDraft,
    #[error("a link lasts 1 to {MAX_DAYS} days")]
    Days,
}

impl LinkError {
    /// The request field the problem is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::EmptyName | Self::NameTooLong | Self::NameCharacters => "clientName",
            Self::DraftCount | Self::RepeatedDraft => "draftIds",
            Self::Days => "expiresInDays",
        }
    }
}

/// A new link's content, checked: the name trimmed, the drafts distinct, the expiry bounded.
pub fn new_link(
    client_name: &str,
    draft_ids: Vec<DraftId>,
    days: Option<i64>,
    now: OffsetDateTime,
) -> Result<Link, Vec<LinkError>> {
    let mut problems = Vec::new();
    let name = client_name.trim();
    if name.is_empty() {
        problems.push(LinkError::EmptyName);
    } else if name.chars().count() > MAX_NAME_CHARS {
        problems.push(LinkError::NameTooLong);
    } else if name.chars().any(char::is_control) || !invisible::refused(name).is_empty() {
        problems.push(LinkError::NameCharacters);
    }
    if draft_ids.is_empty() || draft_ids.len() > MAX_DRAFTS {
        problems.push(LinkError::DraftCount);
    } else if draft_ids
        .iter()
        .enumerate()
        .any(|(i, id)| draft_ids[..i].contains(id))
    {
        problems.push(LinkError::RepeatedDraft);
    }
    let days = days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        problems.push(LinkError::Days);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Link {
        client_name: name.to_owned(),
        draft_ids,
        expires_at: now + Duration::days(days),
        revoked_at: None,
    })
}

#[cfg(test)]
mod tests;
