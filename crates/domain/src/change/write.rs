//! The write a change makes, as data: the columns it sets ([`Set`]) to [`Value`]s and the
//! [`Guard`]s it is conditional on, which `platform::store` renders as one `UPDATE`.

use time::OffsetDateTime;

use crate::content::RawPostText;
use crate::draft::ImageStatus;
use crate::message::{format_rfc3339, format_rfc3339_millis};

/// A value a write sets or compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Int(i64),
}

impl Value {
    pub(super) fn text(value: &str) -> Self {
        Value::Text(value.to_owned())
    }

    /// With milliseconds: a column whose order within a second matters (`publish_sent_at`).
    pub(super) fn precise_time(at: OffsetDateTime) -> Self {
        Value::Text(format_rfc3339_millis(at))
    }

    pub(super) fn time(at: OffsetDateTime) -> Self {
        Value::Text(format_rfc3339(at))
    }

    pub(super) fn optional_text(value: Option<&str>) -> Self {
        value.map_or(Value::Null, Value::text)
    }

    pub(super) fn optional_time(at: Option<OffsetDateTime>) -> Self {
        at.map_or(Value::Null, Value::time)
    }
}

/// What a write does to one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Set {
    To(Value),
    /// A copy of another column of the same row, as it was before the write.
    CopyOf(&'static str),
    /// One more than before.
    Increment,
    /// The value, unless the column already has one.
    KeepOr(Value),
}

/// A condition the row must meet for the write to apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Guard {
    /// `column = value`.
    Equals(&'static str, Value),
    /// `column IS value`: like `Equals`, but NULL matches NULL.
    Is(&'static str, Value),
    /// `column <= value`, or `column` unset: a lease or due time that has passed (a lease
    /// never written holds nothing).
    AtMost(&'static str, Value),
    IsNull(&'static str),
    NotNull(&'static str),
    /// No other draft recorded this media id: a post found by a lookup is one draft's.
    MediaUnclaimed(Value),
}

/// The one write that applies a change: every column it sets and every guard.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WritePlan {
    pub sets: Vec<(&'static str, Set)>,
    pub guards: Vec<Guard>,
}

impl WritePlan {
    pub(super) fn set(&mut self, column: &'static str, value: Value) {
        self.sets.push((column, Set::To(value)));
    }

    pub(super) fn clear(&mut self, columns: &[&'static str]) {
        for column in columns {
            self.set(column, Value::Null);
        }
    }

    pub(super) fn guard(&mut self, guard: Guard) {
        self.guards.push(guard);
    }

    /// What the plan sets `column` to, if anything (for tests and callers that check).
    pub fn sets(&self, column: &str) -> Option<&Set> {
        self.sets
            .iter()
            .find(|(name, _)| *name == column)
            .map(|(_, set)| set)
    }

    /// Sets when the publish message in flight is due (`None`: none is); either way a hold
    /// no longer applies.
    pub(super) fn due(&mut self, due_at: Option<OffsetDateTime>) {
        self.set("publish_due_at", Value::optional_time(due_at));
        self.clear(&["publish_hold", "publish_hold_until"]);
    }

    pub(super) fn text(&mut self, columns: [&'static str; 3], raw: &RawPostText) {
        let [caption, hashtags, alt_text] = columns;
        self.set(caption, Value::text(&raw.caption));
        let tags = serde_json::to_string(&raw.hashtags).unwrap_or_else(|_| "[]".into());
        self.set(hashtags, Value::Text(tags));
        self.set(alt_text, Value::text(&raw.alt_text));
    }

    /// An image `generating` under a claim is taken from its job only once the lease lapsed
    /// at `now`; the claim is released either way.
    pub(super) fn lapsed_image_lease(&mut self, image: ImageStatus, now: OffsetDateTime) {
        if image == ImageStatus::Generating {
            self.guard(Guard::AtMost("image_lease_expires_at", Value::time(now)));
        }
        self.clear(&["image_claim", "image_lease_expires_at"]);
    }

    /// A fresh start for a new approval: no attempt spent, no poll, no wait.
    pub(super) fn fresh_publishing(&mut self) {
        self.set("publish_attempts", Value::Int(0));
        self.set("container_polls", Value::Int(0));
        self.clear(&["last_error", "throttled_since", "unresolved_since"]);
    }

    pub(super) fn release_claim(&mut self) {
        self.clear(&["publish_claim", "claim_expires_at"]);
    }
}
