//! What the machine does after a container's status read: the post found live (and its
//! media looked up), a wait while an unclear `media_publish` may still finish, a poll, a new
//! container, or the draft unresolved while its container cannot be read.

use time::Duration;

use super::{Action, Machine, Reading, Trouble, unreachable_published, whole_seconds};
use crate::change::Deferral;

impl Machine {
    fn is_sent(&self, container_id: &str) -> bool {
        self.record
            .sent
            .as_ref()
            .is_some_and(|sent| sent.container_id == container_id)
    }

    /// What a status read of `container_id` decides: the post found live, a wait while an
    /// unclear `media_publish` may still finish, the failed publish's next step, or the next
    /// step of this approval's own container.
    pub(super) fn after_reading(&mut self, container_id: String, reading: Reading) -> Action {
        if reading == Reading::Published {
            return Action::FindMedia {
                since: self.record.sent.as_ref().map(|sent| sent.at),
            };
        }
        let sent = self.is_sent(&container_id);
        if sent
            && reading == Reading::Finished
            && !self.settled
            && let Some(wait) = self.unsettled_wait()
        {
            return wait;
        }
        // From here the container is known not to be live.
        if sent || self.record.sent.is_none() {
            self.settled = true;
        }
        if let Some((reason, token)) = self.giving_up.take() {
            return Action::GiveUp { reason, token };
        }
        if let Some(trouble) = self.publish_failed.take() {
            return self.after_failed_publish(&container_id, reading, trouble);
        }
        if sent && self.record.container_id.as_deref() != Some(container_id.as_str()) {
            // A container sent under an earlier approval is not live: this approval goes on
            // with its own container, or a new one.
            return match self.record.container_id.clone() {
                Some(own) => Action::ReadStatus { container_id: own },
                None => self.new_container(),
            };
        }
        self.after_own_reading(container_id, sent, reading)
    }

    /// The sent container is `FINISHED` but not yet settled: while an unclear `media_publish`
    /// answer is younger than `settle_seconds`, Meta may still finish the call it received,
    /// so the draft waits; `None` once a read decides.
    fn unsettled_wait(&self) -> Option<Action> {
        let published_for = self
            .record
            .sent
            .as_ref()
            .map_or(Duration::ZERO, |s| self.now - s.at);
        let settle = Duration::seconds(i64::from(self.policy.settle_seconds));
        let unclear = self
            .publish_failed
            .as_ref()
            .is_none_or(Trouble::leaves_publish_open);
        if !unclear || published_for >= settle {
            return None;
        }
        let delay = whole_seconds(settle - published_for);
        let spent = self.publish_failed.is_some();
        Some(Action::Defer {
            deferral: if spent {
                Deferral::Retry
            } else {
                Deferral::Wait
            },
            delay,
            reason: format!(
                "whether media_publish went out is not known yet (the container is FINISHED); it is read again in {delay} s"
            ),
        })
    }

    /// This run's `media_publish` failed and the read says the container is not live.
    fn after_failed_publish(
        &mut self,
        container_id: &str,
        reading: Reading,
        trouble: Trouble,
    ) -> Action {
        match reading {
            Reading::InProgress => self.poll(container_id),
            Reading::Dead { .. } => self.dead(reading),
            _ if trouble.leaves_publish_open() => self.failed(trouble),
            Reading::Finished => match trouble {
                Trouble::NotReady(_) => self.poll(container_id),
                Trouble::NeedsNewContainer(_) if !self.made_new => self.replace_container(),
                other => self.failed(other),
            },
            Reading::Published => unreachable_published(),
        }
    }

    /// A read of this approval's own container, nothing failed on the way: `FINISHED` is
    /// sent (unless the attempts are spent), `IN_PROGRESS` polled, a dead one replaced or
    /// failed.
    fn after_own_reading(&mut self, container_id: String, sent: bool, reading: Reading) -> Action {
        match reading {
            Reading::Finished => {
                if sent
                    && !self
                        .policy
                        .backoff
                        .allows_retry_after(self.record.attempts_spent)
                {
                    return self.stop(
                        format!(
                            "publishing gave up after {} attempts: media_publish did not publish the container",
                            self.record.attempts_spent
                        ),
                        false,
                    );
                }
                Action::RecordSent { container_id }
            }
            Reading::InProgress => self.poll(&container_id),
            Reading::Dead { .. } => self.dead(reading),
            Reading::Published => unreachable_published(),
        }
    }

    /// The post is live and the lookup of its media id failed: looked up again later while
    /// that may help (no attempt spent), for at most `unresolved_alert_seconds` after the
    /// send; after that, or when Meta refuses the lookup, published with the media unknown.
    pub(super) fn lookup_failed(&mut self, trouble: Trouble) -> Action {
        let since_sent = self.record.sent.as_ref().map(|sent| self.now - sent.at);
        let limit = Duration::seconds(i64::from(self.policy.unresolved_alert_seconds));
        match since_sent {
            Some(waited) if !trouble.refuses_reading() && waited < limit => {
                let checks = u32::try_from(waited.whole_minutes()).unwrap_or(u32::MAX);
                let delay = self
                    .policy
                    .backoff
                    .delay_seconds(checks.clamp(1, 16), self.seed)
                    .clamp(1, whole_seconds(limit - waited).max(1));
                Action::Defer {
                    deferral: Deferral::Wait,
                    delay,
                    reason: format!(
                        "the post is live; its media id could not be looked up yet ({}); looked up again in {delay} s",
                        trouble.reason()
                    ),
                }
            }
            _ => self.live(
                None,
                false,
                format!(
                    "the container was published, but the media id could not be looked up: {}",
                    trouble.reason()
                ),
            ),
        }
    }

    fn dead(&mut self, reading: Reading) -> Action {
        let Reading::Dead {
            new_container_helps,
            reason,
        } = reading
        else {
            return unreachable_published();
        };
        if new_container_helps && !self.made_new {
            self.replace_container()
        } else {
            self.failed(if new_container_helps {
                Trouble::NeedsNewContainer(reason)
            } else {
                Trouble::Refused(reason)
            })
        }
    }

    pub(super) fn poll(&mut self, container_id: &str) -> Action {
        if self.record.polls < self.policy.max_polls {
            let delay = self.policy.poll_seconds.max(1);
            return Action::Defer {
                deferral: Deferral::Poll,
                delay,
                reason: format!(
                    "the container {container_id} is being processed (IN_PROGRESS); its status is read again in {delay} s"
                ),
            };
        }
        self.failed(Trouble::Transient(format!(
            "the container was still IN_PROGRESS after {} status reads",
            self.record.polls
        )))
    }

    /// A status read failed.
    pub(super) fn unreadable(&mut self, container_id: &str, trouble: Trouble) -> Action {
        if !self.is_sent(container_id) && self.publish_failed.is_none() {
            // Nothing was sent for it: an ordinary failure of this attempt.
            return self.failed(trouble);
        }
        let since = self.record.unresolved_since.unwrap_or(self.now);
        let waited = self.now - since;
        let alert = trouble.refuses_reading()
            || waited >= Duration::seconds(i64::from(self.policy.unresolved_alert_seconds));
        let checks = u32::try_from(waited.whole_seconds() / 60).unwrap_or(u32::MAX);
        let delay = self
            .policy
            .backoff
            .delay_seconds(checks.clamp(1, 16), self.seed)
            .max(1);
        Action::Unresolved {
            delay,
            reason: format!(
                "media_publish was sent for container {container_id}, and its status cannot be read ({}); the post may be live, so the draft waits and is read again in {delay} s",
                trouble.reason()
            ),
            alert,
        }
    }
}
