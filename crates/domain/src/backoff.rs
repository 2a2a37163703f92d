//! How long to wait before the next try: exponential, capped, with jitter.
//!
//! The jitter comes from a seed the caller passes, so the policy is a pure function and the
//! same inputs always give the same delay.

/// Retry policy for one kind of work. Delays are whole seconds because queue retries are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the second attempt, before jitter.
    pub base_seconds: u32,
    /// No delay exceeds this, jitter included.
    pub cap_seconds: u32,
    /// Attempts in all, the first included; after the last one the work is handed over.
    pub max_attempts: u32,
}

/// Cloudflare Queues accept a retry delay of at most 12 hours.
pub const QUEUE_MAX_DELAY_SECONDS: u32 = 43_200;

impl Backoff {
    pub const PUBLISH: Backoff = Backoff {
        base_seconds: 30,
        cap_seconds: 1_800,
        max_attempts: 5,
    };
    pub const IMAGE: Backoff = Backoff {
        base_seconds: 10,
        cap_seconds: 300,
        max_attempts: 4,
    };

    /// The delay after `attempt` failed (attempt counts from 1), before attempt + 1.
    ///
    /// "Equal jitter": half of the exponential step is fixed and half is spread by the seed,
    /// so retries from many drafts do not arrive together, yet none comes back too soon.
    pub fn delay_seconds(&self, attempt: u32, seed: u64) -> u32 {
        let exponent = attempt.saturating_sub(1).min(31);
        let step = u64::from(self.base_seconds).saturating_mul(1 << exponent);
        let cap = u64::from(self.cap_seconds.min(QUEUE_MAX_DELAY_SECONDS));
        let step = step.min(cap);
        let half = step / 2;
        let jitter = if half == 0 {
            0
        } else {
            mix(seed ^ u64::from(attempt)) % (step - half + 1)
        };
        u32::try_from(half + jitter).unwrap_or(u32::MAX)
    }

    /// Whether another attempt after `attempt` is allowed.
    pub fn allows_retry_after(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }
}

/// Reads a `Retry-After` header: a whole number of seconds, as OpenAI-compatible providers and
/// Meta send it. An HTTP-date gives `None`, as turning it into a wait needs the clock this
/// crate does not have; callers then wait their own default.
pub fn retry_after_seconds(header: &str) -> Option<u64> {
    let seconds = header.trim();
    // Digits only, as RFC 9110 has it: `parse` alone would take `+5`.
    if seconds.is_empty() || !seconds.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    seconds.parse().ok()
}

/// SplitMix64's finaliser: spreads nearby seeds (such as consecutive ids) far apart.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Backoff = Backoff {
        base_seconds: 10,
        cap_seconds: 300,
        max_attempts: 4,
    };

    /// For each attempt, the delay lies in [step/2, step] where step = min(base * 2^(n-1), cap).
    #[test]
    fn delays_grow_and_stay_within_their_window() {
        let windows = [
            (1, 5, 10),
            (2, 10, 20),
            (3, 20, 40),
            (4, 40, 80),
            (5, 80, 160),
            (6, 150, 300),
            (7, 150, 300),
            (40, 150, 300),
        ];
        for (attempt, low, high) in windows {
            for seed in 0..500 {
                let delay = POLICY.delay_seconds(attempt, seed);
                assert!(
                    (low..=high).contains(&delay),
                    "attempt {attempt} seed {seed}: {delay}"
                );
            }
        }
    }

    #[test]
    fn jitter_depends_on_the_seed_only() {
        assert_eq!(POLICY.delay_seconds(3, 99), POLICY.delay_seconds(3, 99));
        let distinct: std::collections::BTreeSet<u32> =
            (0..200).map(|seed| POLICY.delay_seconds(5, seed)).collect();
        assert!(
            distinct.len() > 40,
            "only {} distinct delays",
            distinct.len()
        );
    }

    #[test]
    fn never_exceeds_what_queues_accept() {
        let huge = Backoff {
            base_seconds: u32::MAX,
            cap_seconds: u32::MAX,
            max_attempts: 100,
        };
        for attempt in [1, 2, 31, 32, 1000, u32::MAX] {
            assert!(huge.delay_seconds(attempt, 7) <= QUEUE_MAX_DELAY_SECONDS);
        }
        let zero = Backoff {
            base_seconds: 0,
            cap_seconds: 0,
            max_attempts: 1,
        };
        assert_eq!(zero.delay_seconds(3, 7), 0);
    }

    #[test]
    fn reading_retry_after() {
        for (header, expect) in [
            ("120", Some(120)),
            (" 0 ", Some(0)),
            ("17\r\n", Some(17)),
            ("-1", None),
            ("+5", None),
            ("1.5", None),
            ("30s", None),
            ("18446744073709551616", None),
            ("Wed, 21 Oct 2026 07:28:00 GMT", None),
            ("", None),
        ] {
            assert_eq!(retry_after_seconds(header), expect, "{header:?}");
        }
    }

    #[test]
    fn retries_stop_at_max_attempts() {
        let allowed: Vec<bool> = (1..=5).map(|a| POLICY.allows_retry_after(a)).collect();
        assert_eq!(allowed, [true, true, true, false, false]);
    }
}
