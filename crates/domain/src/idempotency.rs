//! Idempotency keys for `POST /api/v1/generate`: what a request does when its key is
//! already held. A key is claimed with a lease, so a request that died after its claim blocks
//! the key only until the lease lapses.

use time::{Duration, OffsetDateTime};

/// A key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldKey {
    pub fingerprint: String,
    pub done: bool,
    pub lease_expires_at: OffsetDateTime,
    pub draft_id: Option<String>,
}

/// What a request carrying a held key does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVerdict {
    /// The first request finished: answer with its draft.
    Replay { draft_id: String },
    /// The key was used with another body.
    Mismatch,
    /// The first request is still running; try again after this many seconds.
    InProgress { retry_after_seconds: u64 },
    /// The first request died (its lease lapsed): this one may take the key over.
    TakeOver,
}

pub fn judge(held: &HeldKey, fingerprint: &str, now: OffsetDateTime) -> KeyVerdict {
    if held.fingerprint != fingerprint {
        return KeyVerdict::Mismatch;
    }
    match (&held.draft_id, held.done) {
        (Some(draft_id), true) => KeyVerdict::Replay {
            draft_id: draft_id.clone(),
        },
        _ if held.lease_expires_at <= now => KeyVerdict::TakeOver,
        _ => KeyVerdict::InProgress {
            retry_after_seconds: seconds_until(held.lease_expires_at, now).clamp(1, 60),
        },
    }
}

/// How long a claim lasts: the longest a generate request can run, with room to finish.
pub fn lease_for(model_timeout_ms: u64) -> Duration {
    // Two model calls (the answer and one repair round), then a margin for storage.
    let millis = model_timeout_ms.saturating_mul(2).saturating_add(30_000);
    Duration::milliseconds(i64::try_from(millis).unwrap_or(i64::MAX))
}

fn seconds_until(at: OffsetDateTime, now: OffsetDateTime) -> u64 {
    let seconds = (at - now).as_seconds_f64().ceil();
    if seconds <= 0.0 { 0 } else { seconds as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 00:00:00 UTC);

    fn held(fingerprint: &str, done: bool, lease_in_seconds: i64) -> HeldKey {
        HeldKey {
            fingerprint: fingerprint.into(),
            done,
            lease_expires_at: NOW + Duration::seconds(lease_in_seconds),
            draft_id: done.then(|| "d1".to_owned()),
        }
    }

    fn check(key: HeldKey, fingerprint: &str, expected: KeyVerdict) {
        assert_eq!(judge(&key, fingerprint, NOW), expected, "{key:?}");
    }

    #[test]
    fn verdicts() {
        check(
            held("a", true, -10),
            "a",
            KeyVerdict::Replay {
                draft_id: "d1".into(),
            },
        );
        // A finished key replays even long after its lease.
        check(
            held("a", true, -86_000),
            "a",
            KeyVerdict::Replay {
                draft_id: "d1".into(),
            },
        );
        check(held("a", true, 10), "b", KeyVerdict::Mismatch);
        check(held("a", false, 10), "b", KeyVerdict::Mismatch);
        check(
            held("a", false, 10),
            "a",
            KeyVerdict::InProgress {
                retry_after_seconds: 10,
            },
        );
        check(
            held("a", false, 600),
            "a",
            KeyVerdict::InProgress {
                retry_after_seconds: 60,
            },
        );
        check(held("a", false, 0), "a", KeyVerdict::TakeOver);
        check(held("a", false, -1), "a", KeyVerdict::TakeOver);
    }

    #[test]
    fn the_lease_outlasts_two_model_calls() {
        assert_eq!(lease_for(30_000), Duration::seconds(90));
        assert!(lease_for(u64::MAX) > Duration::days(1));
    }
}
