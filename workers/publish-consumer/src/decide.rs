//! What a failed publish attempt leads to, decided from the failure's class alone: pure, so
//! the table is tested on the host.

use domain::backoff::{Backoff, QUEUE_MAX_DELAY_SECONDS};
use instagram::GraphError;

use crate::graph::Failure;

/// The publishing quota's subcode (with code 9): "max posts per day reached".
pub const QUOTA_SUBCODE: i64 = 2_207_042;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The next attempt (attempt + 1) after `delay` seconds.
    Retry { delay: u32 },
    /// The same attempt again after `delay` seconds: waiting uses up no attempt.
    Wait { delay: u32 },
    /// The request itself is refused: the draft fails at once.
    Fail,
    /// The retries are used up: the draft fails.
    GiveUp,
    /// The token is expired or invalid: the draft fails and the operator is told, once.
    TokenInvalid,
}

impl Next {
    /// The `publish_logs` outcome of the step that failed.
    pub fn continues(self) -> bool {
        matches!(self, Next::Retry { .. } | Next::Wait { .. })
    }
}

/// Whether `error` is the publishing quota rather than throttling.
pub fn is_quota(error: &GraphError) -> bool {
    matches!(error, GraphError::RateLimited { subcode, .. } if *subcode == Some(QUOTA_SUBCODE))
}

/// What follows `failure` in attempt `attempt` (counted from 1). Transient failures and
/// throttling retry with `backoff`, a throttling answer's own wait winning; the quota waits
/// `quota_wait` seconds (or Meta's wait) without using up an attempt; refusals fail at once.
pub fn after_failure(
    failure: &Failure,
    attempt: u32,
    backoff: &Backoff,
    quota_wait: u32,
    seed: u64,
) -> Next {
    let retry = |wait: Option<u64>| {
        if backoff.allows_retry_after(attempt) {
            let delay = match wait {
                Some(seconds) => clamp(seconds),
                None => backoff.delay_seconds(attempt, seed),
            };
            Next::Retry { delay }
        } else {
            Next::GiveUp
        }
    };
    match failure {
        Failure::NoAnswer(_) => retry(None),
        Failure::Graph(error) => match error {
            GraphError::RateLimited {
                retry_after_seconds,
                ..
            } if is_quota(error) => Next::Wait {
                delay: retry_after_seconds.map_or(quota_wait, clamp).max(1),
            },
            GraphError::RateLimited {
                retry_after_seconds,
                ..
            } => retry(*retry_after_seconds),
            GraphError::Transient { .. }
            | GraphError::Unavailable { .. }
            | GraphError::NotReady { .. }
            | GraphError::Malformed(_)
            // Reaches here only when this attempt already made a new container.
            | GraphError::NeedsNewContainer { .. } => retry(None),
            GraphError::TokenInvalid { .. } => Next::TokenInvalid,
            GraphError::Permanent { .. } => Next::Fail,
        },
    }
}

fn clamp(seconds: u64) -> u32 {
    u32::try_from(seconds)
        .unwrap_or(u32::MAX)
        .min(QUEUE_MAX_DELAY_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Backoff = Backoff {
        base_seconds: 30,
        cap_seconds: 1_800,
        max_attempts: 3,
    };

    fn check(failure: Failure, attempt: u32, expect: Next) {
        assert_eq!(
            after_failure(&failure, attempt, &POLICY, 600, 7),
            expect,
            "{failure:?} in attempt {attempt}"
        );
    }

    fn graph(status: u16, retry_after: Option<&str>, body: &str) -> Failure {
        Failure::Graph(instagram::classify(status, retry_after, body))
    }

    fn error(code: i64, subcode: Option<i64>) -> String {
        match subcode {
            Some(s) => {
                format!(r#"{{"error":{{"message":"m","code":{code},"error_subcode":{s}}}}}"#)
            }
            None => format!(r#"{{"error":{{"message":"m","code":{code}}}}}"#),
        }
    }

    #[test]
    fn each_class_of_failure() {
        let backoff = |attempt| Next::Retry {
            delay: POLICY.delay_seconds(attempt, 7),
        };
        // Transient: backoff, then give up after the last attempt.
        for body in [error(2, None), error(1, None), error(-1, Some(2_207_001))] {
            check(graph(400, None, &body), 1, backoff(1));
            check(graph(400, None, &body), 2, backoff(2));
            check(graph(400, None, &body), 3, Next::GiveUp);
        }
        check(graph(502, None, "<html>"), 1, backoff(1));
        check(Failure::NoAnswer("timeout".into()), 2, backoff(2));
        check(Failure::NoAnswer("timeout".into()), 3, Next::GiveUp);
        // Throttling: the answer's own wait wins, capped at what a queue accepts.
        check(graph(429, Some("120"), ""), 1, Next::Retry { delay: 120 });
        check(
            graph(429, Some("5"), &error(4, None)),
            2,
            Next::Retry { delay: 5 },
        );
        check(graph(400, None, &error(80002, None)), 1, backoff(1));
        check(
            graph(429, Some("999999"), ""),
            1,
            Next::Retry { delay: 43_200 },
        );
        check(graph(429, Some("120"), ""), 3, Next::GiveUp);
        // The quota waits for its window in every attempt, the last one too.
        let quota = error(9, Some(QUOTA_SUBCODE));
        check(graph(400, None, &quota), 1, Next::Wait { delay: 600 });
        check(graph(400, None, &quota), 3, Next::Wait { delay: 600 });
        check(graph(400, Some("90"), &quota), 3, Next::Wait { delay: 90 });
        // Refusals and the token.
        for body in [
            error(36003, Some(2_207_009)),
            error(36001, Some(2_207_005)),
            error(10, None),
            error(4, Some(2_207_051)),
        ] {
            check(graph(400, None, &body), 1, Next::Fail);
        }
        check(
            graph(400, None, &error(190, Some(463))),
            1,
            Next::TokenInvalid,
        );
        check(graph(400, None, &error(190, None)), 2, Next::TokenInvalid);
    }

    #[test]
    fn only_the_quota_is_the_quota() {
        let quota = instagram::classify(400, None, &error(9, Some(QUOTA_SUBCODE)));
        assert!(is_quota(&quota));
        assert!(!is_quota(&instagram::classify(400, None, &error(4, None))));
        assert!(!is_quota(&instagram::classify(429, None, "")));
    }
}
