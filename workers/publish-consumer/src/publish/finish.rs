//! How a claimed run ends: published (the permalink read, best effort), deferred (the claim
//! released and the message queued again), unresolved (the same, and the operator told), or
//! given up (`failed` first, then one alert).

use domain::change::Deferral;
use domain::error_class::ErrorClass;
use platform::clock::now;
use platform::publish_log::{Entry, Outcome, Step};
use platform::queue::{FAILED_QUEUE, PUBLISH_QUEUE, send};
use platform::store::Change;
use serde_json::json;
use time::Duration;

use super::Done;
use super::error::PublishError;
use super::post::again;
use super::run::{PermalinkRead, Run};
use crate::alert::{self, token_invalid_kind};
use crate::graph::Failure;

impl Run<'_, '_> {
    /// The post is live: its permalink (best effort), then `published`, with the token alert
    /// cleared (a token that publishes works). `media_id` is `None` when the post is known to
    /// be live but its media was not found: the column stays empty, there is no permalink.
    pub(super) async fn succeed(
        &mut self,
        media_id: Option<&str>,
        found: bool,
        note: &str,
    ) -> Result<Done, PublishError> {
        let started = now();
        if found || media_id.is_none() {
            let container_id = self.row.container_id.clone();
            let entry = Entry {
                message: Some(note),
                container_id: container_id.as_deref(),
                media_id,
                ..self.entry()
            };
            self.log(Step::Reconcile, Outcome::Ok, entry).await?;
        }
        let (permalink, failure, duration) = match media_id {
            Some(media_id) => {
                let (result, ms) = self.permalink_of(media_id).await?;
                match result {
                    Ok(link) => (Some(link), None, Some(ms)),
                    Err(failure) => (None, Some(failure), Some(ms)),
                }
            }
            None => (None, None, None),
        };
        let message = permalink_note(permalink.as_deref(), failure.as_ref());
        let entry = Entry {
            message: Some(&message),
            container_id: self.row.container_id.as_deref(),
            media_id,
            duration_ms: duration,
            error_class: failure.as_ref().map(Failure::class),
            error_code: failure.as_ref().and_then(Failure::code),
            error_subcode: failure.as_ref().and_then(Failure::subcode),
            ..self.entry()
        };
        let outcome = failure.as_ref().map_or(Outcome::Ok, |_| Outcome::Failed);
        let claim = self.claim.clone();
        let change = Change::PublishSucceeded {
            claim: &claim,
            media_id,
            found,
            permalink: permalink.as_deref(),
        };
        let applied = self
            .write(
                &change,
                vec![
                    self.ctx.log.insert_statement(
                        self.id,
                        Step::Permalink,
                        outcome,
                        &entry,
                        started,
                    )?,
                    self.ctx
                        .alerts
                        .clear_statement(&token_invalid_kind(self.account))?,
                ],
            )
            .await;
        match applied {
            // A found post that another draft recorded meanwhile is not this one's: live,
            // media unknown.
            Err(PublishError::LostClaim) if found => {
                let change = Change::PublishSucceeded {
                    claim: &claim,
                    media_id: None,
                    found: false,
                    permalink: None,
                };
                self.write(&change, Vec::new()).await?;
            }
            other => other?,
        }
        Ok(Done::Published)
    }

    /// Releases the claim (`publishing -> approved`), then queues the message again. If
    /// queueing fails, the message is retried by the queue, so no work is lost.
    pub(super) async fn defer(
        &mut self,
        deferral: Deferral,
        delay: u32,
        reason: &str,
        sent_not_live: bool,
    ) -> Result<Done, PublishError> {
        let next_attempt = match deferral {
            Deferral::Retry => self.attempt + 1,
            _ => self.attempt,
        };
        self.release(deferral, delay, reason, next_attempt, sent_not_live)
            .await?;
        Ok(match deferral {
            Deferral::Retry => Done::Retrying,
            _ => Done::Waiting,
        })
    }

    async fn release(
        &mut self,
        deferral: Deferral,
        delay: u32,
        reason: &str,
        next_attempt: u32,
        sent_not_live: bool,
    ) -> Result<(), PublishError> {
        let at = now();
        let claim = self.claim.clone();
        let change = Change::PublishDeferred {
            claim: &claim,
            reason,
            // The scheduler's lost-message check reads when the next message is due.
            due_at: at + Duration::seconds(i64::from(delay)),
            deferral,
            sent_not_live,
            now: at,
        };
        let row = self.ctx.log.insert_statement(
            self.id,
            Step::Wait,
            Outcome::Retry,
            &Entry {
                message: Some(reason),
                container_id: self.row.container_id.as_deref(),
                ..self.entry()
            },
            at,
        )?;
        self.pending.push(row);
        self.write(&change, Vec::new()).await?;
        send(
            self.ctx.env,
            PUBLISH_QUEUE,
            &again(self.message, next_attempt, at, delay),
            delay,
        )
        .await?;
        self.crash_point("queue_send")?;
        Ok(())
    }

    /// The post may be live and its container cannot be read: waits like a deferral, and the
    /// operator hears once per episode that the draft needs a look.
    pub(super) async fn unresolved(
        &mut self,
        delay: u32,
        reason: &str,
        alert: bool,
    ) -> Result<Done, PublishError> {
        self.release(Deferral::Unresolved, delay, reason, self.attempt, false)
            .await?;
        if alert {
            let since = self
                .row
                .unresolved_since
                .clone()
                .unwrap_or_else(|| self.row.updated_at.clone());
            let kind = format!("publish_unresolved:{}:{since}", self.id);
            let (_, label) = self.ctx.accounts.name_of(self.row.account_id.as_deref());
            let text = format!(
                "An approved Instagram post needs a look (draft {}, {label}): {reason}. It is not marked failed, because it may be live; check the account, and the draft is settled at the next successful read.",
                self.id
            );
            if let Err(error) = self.ctx.alerts.raise(&kind, &text, None).await {
                // Raised again at the next check: the draft stays unresolved until then.
                worker::console_error!("draft {}: {error}", self.id);
            }
        }
        Ok(Done::Unresolved)
    }

    /// Publishing stops: the draft becomes `failed` (under this claim), then the operator is
    /// alerted once. If the alert cannot be sent, the message goes to `FAILED_QUEUE`, whose
    /// consumer alerts with retries; if even that fails, this message is retried, and its
    /// next delivery meets the failed draft and alerts.
    pub(super) async fn give_up(
        &mut self,
        reason: &str,
        token: bool,
    ) -> Result<Done, PublishError> {
        let last = self.last_failure.as_ref();
        let cause = self.cause.as_ref();
        let entry = Entry {
            message: Some(reason),
            error_class: if token {
                Some(ErrorClass::TokenInvalid.as_str())
            } else {
                last.map(Failure::class)
                    .or_else(|| cause.and_then(|c| c.error_class.as_deref()))
            },
            error_code: last
                .and_then(Failure::code)
                .or_else(|| cause.and_then(|c| c.error_code)),
            error_subcode: last
                .and_then(Failure::subcode)
                .or_else(|| cause.and_then(|c| c.error_subcode)),
            container_id: self.row.container_id.as_deref(),
            ..self.entry()
        };
        let row =
            self.ctx
                .log
                .insert_statement(self.id, Step::GiveUp, Outcome::Failed, &entry, now())?;
        self.pending.push(row);
        let claim = self.claim.clone();
        let change = Change::PublishFailed {
            claim: Some(&claim),
            reason,
        };
        self.write(&change, Vec::new()).await?;
        let account = self.ctx.accounts.name_of(self.row.account_id.as_deref());
        if let Err(error) = alert::draft_failed(&self.ctx.alerts, &self.row, token, &account).await
        {
            worker::console_error!("draft {}: {error}; the failed queue alerts", self.id);
            send(self.ctx.env, FAILED_QUEUE, self.message, 0).await?;
        }
        self.crash_point("alert")?;
        Ok(Done::Failed)
    }

    /// The permalink of `media_id`: the one read beside the media id's write, else read now.
    async fn permalink_of(&mut self, media_id: &str) -> Result<PermalinkRead, PublishError> {
        match self.permalink.take() {
            Some((read_for, read)) if read_for == media_id => Ok(read),
            _ => self.read_permalink(media_id).await,
        }
    }

    pub(super) async fn read_permalink(
        &mut self,
        media_id: &str,
    ) -> Result<PermalinkRead, PublishError> {
        let graph = self.graph;
        self.traced(
            "permalink",
            json!({ "mediaId": media_id }),
            graph.permalink(media_id),
            |link| json!({ "permalink": link }),
        )
        .await
    }
}

/// The permalink step's log message: the link, or why there is none.
pub(super) fn permalink_note(permalink: Option<&str>, failure: Option<&Failure>) -> String {
    match (permalink, failure) {
        (Some(link), _) => link.to_owned(),
        (None, Some(f)) => format!("the post is live; its permalink could not be read: {f}"),
        (None, None) => "the post is live; without its media id there is no permalink".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permalink_step_logs_the_link_or_why_there_is_none() {
        let failure = Failure::NoAnswer("no answer within 15000 ms".into());
        for (permalink, failure, note) in [
            (
                Some("https://instagram.com/p/x"),
                None,
                "https://instagram.com/p/x",
            ),
            (
                None,
                Some(&failure),
                "the post is live; its permalink could not be read: no answer from the Graph API: no answer within 15000 ms",
            ),
            (
                None,
                None,
                "the post is live; without its media id there is no permalink",
            ),
        ] {
            assert_eq!(permalink_note(permalink, failure), note);
        }
    }
}
