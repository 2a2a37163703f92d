//! The scheduler's decisions, pure so that they are tested on the host: how many due posts
//! the publishing quota lets through and when each held one is expected to go, the words of
//! the reminder digest, and whether the token's known expiry is close.

use domain::message::format_rfc3339;
use instagram::PublishingLimit;
use time::{Duration, OffsetDateTime};

/// What the quota allows of the due posts, oldest due first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaPlan {
    /// The first `queue` due posts are queued now.
    pub queue: usize,
    /// For each post held back after them, in order: when the window frees a place for it
    /// (`None`: unknown, such as posts published outside this pipeline).
    pub held_until: Vec<Option<OffsetDateTime>>,
    /// Places left in the window before these posts; `None` when Meta named no total.
    pub free: Option<u32>,
}

/// The quota's rolling window when Meta does not say.
pub const DEFAULT_WINDOW: Duration = Duration::DAY;

/// Plans `due` posts against `limit`. `in_flight` posts are queued or being published but
/// not yet counted by Meta: they take places first. `published` are the times of this
/// pipeline's posts within the window, oldest first: the n-th of them leaves the window
/// (and frees a place) at its time plus the window.
pub fn plan_quota(
    due: usize,
    limit: &PublishingLimit,
    in_flight: u32,
    published: &[OffsetDateTime],
) -> QuotaPlan {
    let Some(remaining) = limit.remaining() else {
        return QuotaPlan {
            queue: due,
            held_until: Vec::new(),
            free: None,
        };
    };
    let window = limit
        .quota_duration_seconds
        .map_or(DEFAULT_WINDOW, |s| Duration::seconds(i64::from(s)));
    let free = remaining.saturating_sub(in_flight);
    let queue = due.min(free as usize);
    // Posts in flight beyond the free places wait for the first places the window frees.
    let ahead = in_flight.saturating_sub(remaining) as usize;
    let held_until = (0..due - queue)
        .map(|i| published.get(ahead + i).map(|at| *at + window))
        .collect();
    QuotaPlan {
        queue,
        held_until,
        free: Some(free),
    }
}

/// How many of the window's publish times [`plan_quota`] reads for `due` posts: none when
/// every one fits, else one per post ahead of them and one per held post.
pub fn published_needed(due: usize, limit: &PublishingLimit, in_flight: u32) -> usize {
    let Some(remaining) = limit.remaining() else {
        return 0;
    };
    let held = due.saturating_sub(remaining.saturating_sub(in_flight) as usize);
    if held == 0 {
        return 0;
    }
    in_flight.saturating_sub(remaining) as usize + held
}

/// Why a post is held, in words, for the draft.
pub fn hold_reason(
    limit: &PublishingLimit,
    in_flight: u32,
    until: Option<OffsetDateTime>,
) -> String {
    let total = limit.quota_total.unwrap_or(limit.quota_usage);
    let hours = limit
        .quota_duration_seconds
        .map_or(24, |s| (s / 3600).max(1));
    let when = match until {
        Some(at) => format!("expected to be queued from {}", format_rfc3339(at)),
        None => {
            "when it frees up is not known (posts made outside this pipeline count too)".to_owned()
        }
    };
    format!(
        "held back: Instagram's publishing quota ({total} posts per {hours} h) is used up: {} published in the window, {in_flight} queued or publishing; {when}",
        limit.quota_usage
    )
}

/// One draft waiting for review, for the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub id: String,
    pub created_at: String,
}

/// Links shown in one digest; the rest are counted.
pub const DIGEST_LINKS: usize = 10;

/// The reminder digest: a Slack-compatible text with the count, the oldest draft and links
/// to the review pages, oldest first. `waiting` is never empty.
pub fn digest(waiting: &[Waiting], review_base_url: &str, after_hours: u32) -> String {
    let base = review_base_url.trim_end_matches('/');
    let link = |w: &Waiting| format!("<{base}/review/{}|{}>", w.id, w.id);
    let count = waiting.len();
    let noun = if count == 1 { "draft is" } else { "drafts are" };
    let mut text = format!("{count} {noun} waiting for review for more than {after_hours} h.");
    if let Some(oldest) = waiting.first() {
        text.push_str(&format!(
            " The oldest, since {}: {}",
            oldest.created_at,
            link(oldest)
        ));
    }
    for w in waiting.iter().take(DIGEST_LINKS) {
        text.push_str(&format!("\n• {} (since {})", link(w), w.created_at));
    }
    if count > DIGEST_LINKS {
        text.push_str(&format!("\n… and {} more", count - DIGEST_LINKS));
    }
    text
}

/// How long before the token's known expiry the operator is told.
pub const TOKEN_WARNING: Duration = Duration::days(7);

/// Whether a token expiring at `expires_at` should be renewed now (it expires within
/// [`TOKEN_WARNING`], or has expired).
pub fn token_expires_soon(expires_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    expires_at - now <= TOKEN_WARNING
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-31 09:00 UTC);

    fn limit(usage: u32, total: Option<u32>) -> PublishingLimit {
        PublishingLimit {
            quota_usage: usage,
            quota_total: total,
            quota_duration_seconds: Some(86_400),
        }
    }

    fn hours_ago(h: i64) -> OffsetDateTime {
        NOW - Duration::hours(h)
    }

    /// Plans `due` posts and checks the plan, and that the publish times the scheduler reads
    /// for it are exactly the ones it needs.
    fn check(due: usize, usage: u32, in_flight: u32, expect: QuotaPlan) {
        let published = [hours_ago(20), hours_ago(10), hours_ago(2)];
        let limit = limit(usage, Some(5));
        assert_eq!(
            plan_quota(due, &limit, in_flight, &published),
            expect,
            "{due} due, {usage} used, {in_flight} in flight"
        );
        // The scheduler reads only the publish times the plan uses: none when nothing is
        // held.
        let needed = published_needed(due, &limit, in_flight);
        assert_eq!(needed == 0, expect.held_until.is_empty());
        assert_eq!(
            plan_quota(
                due,
                &limit,
                in_flight,
                &published[..needed.min(published.len())]
            ),
            expect,
            "with the {needed} publish times read"
        );
        if needed > 0 && needed <= published.len() {
            assert_ne!(
                plan_quota(due, &limit, in_flight, &published[..needed - 1]),
                expect,
                "one publish time fewer than read would do"
            );
        }
    }

    #[test]
    fn the_quota_lets_through_what_fits_and_dates_the_rest() {
        // Room for all.
        check(
            2,
            3,
            0,
            QuotaPlan {
                queue: 2,
                held_until: vec![],
                free: Some(2),
            },
        );
        // Two places, four due: the third waits for the oldest post to leave the window.
        check(
            4,
            3,
            0,
            QuotaPlan {
                queue: 2,
                held_until: vec![
                    Some(hours_ago(20) + Duration::DAY),
                    Some(hours_ago(10) + Duration::DAY),
                ],
                free: Some(2),
            },
        );
        // One place, taken by a post in flight.
        check(
            2,
            4,
            1,
            QuotaPlan {
                queue: 0,
                held_until: vec![
                    Some(hours_ago(20) + Duration::DAY),
                    Some(hours_ago(10) + Duration::DAY),
                ],
                free: Some(0),
            },
        );
        // Used up, two in flight beyond it: they take the first two places that free up.
        check(
            2,
            5,
            2,
            QuotaPlan {
                queue: 0,
                held_until: vec![Some(hours_ago(2) + Duration::DAY), None],
                free: Some(0),
            },
        );
    }

    #[test]
    fn without_a_total_nothing_is_held() {
        assert_eq!(
            plan_quota(3, &limit(40, None), 7, &[]),
            QuotaPlan {
                queue: 3,
                held_until: vec![],
                free: None,
            }
        );
    }

    #[test]
    fn a_hold_says_why_and_until_when() {
        let text = hold_reason(&limit(5, Some(5)), 1, Some(NOW));
        assert!(text.contains("(5 posts per 24 h)"), "{text}");
        assert!(
            text.contains("5 published in the window, 1 queued"),
            "{text}"
        );
        assert!(text.contains("from 2030-01-31T09:00:00Z"), "{text}");
        let text = hold_reason(&limit(5, Some(5)), 0, None);
        assert!(text.contains("not known"), "{text}");
    }

    #[test]
    fn the_digest_counts_names_the_oldest_and_links_each() {
        let waiting: Vec<Waiting> = (0..12)
            .map(|i| Waiting {
                id: format!("id-{i:02}"),
                created_at: format!("2030-01-{:02}T09:00:00Z", i + 1),
            })
            .collect();
        let text = digest(&waiting, "https://pipeline.example/", 24);
        assert!(
            text.starts_with("12 drafts are waiting for review for more than 24 h. The oldest, since 2030-01-01T09:00:00Z: <https://pipeline.example/review/id-00|id-00>"),
            "{text}"
        );
        assert_eq!(
            text.matches("\n• <https://pipeline.example/review/")
                .count(),
            10
        );
        assert!(text.ends_with("\n… and 2 more"), "{text}");
        let one = digest(&waiting[..1], "http://127.0.0.1:8787", 48);
        assert!(
            one.starts_with("1 draft is waiting for review for more than 48 h."),
            "{one}"
        );
        assert!(!one.contains("… and"), "{one}");
    }

    #[test]
    fn the_token_warning_starts_a_week_before_expiry() {
        for (expires, soon) in [
            (NOW + Duration::days(8), false),
            (NOW + Duration::days(7) + Duration::SECOND, false),
            (NOW + Duration::days(7), true),
            (NOW + Duration::HOUR, true),
            (NOW - Duration::DAY, true),
        ] {
            assert_eq!(token_expires_soon(expires, NOW), soon, "{expires}");
        }
    }
}
