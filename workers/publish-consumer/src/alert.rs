//! Telling the operator: a Slack-compatible webhook (`{"text": ...}`) at
//! `ALERT_WEBHOOK_URL`, deduplicated through D1 `operator_alerts`.
//!
//! An alert is claimed before it is sent, with one conditional write, so of several
//! consumers raising the same kind at once exactly one sends it; a send that fails releases
//! the claim and is an error, so the caller's queue message is retried and the alert is
//! never lost silently. Without a webhook the alert goes to the Worker's error log.

use platform::alerts::AlertStore;
use platform::clock::{now, random_hex};
use platform::config::optional;
use platform::http::{Call, HttpError, fetch_text};
use platform::store::DraftRow;
use time::Duration;
use worker::{D1PreparedStatement, Env};

/// The kind of an account's expired or invalid token: one alert for every draft it fails,
/// again after a day.
pub fn token_invalid_kind(account_id: &str) -> String {
    format!("token_invalid:{account_id}")
}
/// The kind of "the token of this account expires at this time": once per account and
/// expiry, whether the daily check or a failed refresh saw it first.
pub fn token_expiring_kind(account_id: &str, expires_at: &str) -> String {
    format!("token_expiring:{account_id}:{expires_at}")
}

/// How long an alert of a lasting cause stays quiet.
pub const REPEAT_AFTER: Duration = Duration::DAY;
const WEBHOOK_TIMEOUT_MS: u64 = 10_000;

/// The kind of one draft's failure, once per failure: a draft failed again after a
/// re-approval is a new failure.
pub fn draft_failed_kind(draft_id: &str, failed_at: &str) -> String {
    format!("publish_failed:{draft_id}:{failed_at}")
}

/// Tells the operator that `draft` failed: once per failure, or, when an invalid token
/// failed it, the account's token alert (once a day for every draft it fails). `account` is
/// the draft's account's id and label.
pub async fn draft_failed(
    alerts: &Alerts,
    draft: &DraftRow,
    token: bool,
    account: &(String, String),
) -> Result<Raised, AlertError> {
    let reason = draft.last_error.as_deref().unwrap_or("no reason recorded");
    let (account_id, label) = account;
    if token {
        let text = format!(
            "Instagram publishing to {label} is stopped: the access token is expired or invalid. Every draft of {label} published until its token is replaced (INSTAGRAM_ACCESS_TOKEN, or connecting the account again) fails (the first was {id}: {reason}). This alert repeats at most once a day.",
            id = draft.id
        );
        return alerts
            .raise(&token_invalid_kind(account_id), &text, Some(REPEAT_AFTER))
            .await;
    }
    let text = format!(
        "An approved Instagram post failed (draft {id}, {label}): {reason}. It was not published (its container was read, or never sent). Re-approve or regenerate it.",
        id = draft.id
    );
    alerts
        .raise(
            &draft_failed_kind(&draft.id, &draft.updated_at),
            &text,
            None,
        )
        .await
}

/// Why an alert was not raised: it is unsent, and the next raise tries again.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("claiming the alert {kind}: {error}")]
    Claim { kind: String, error: worker::Error },
    #[error("claiming the alert {kind} wrote no row")]
    NoRow { kind: String },
    #[error("the operator alert could not be sent: {0}")]
    NotSent(WebhookError),
}

/// Why the webhook did not take a message. Never its URL: the URL is its secret.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the alert webhook gave no answer within {0} ms")]
    Timeout(u64),
    /// The runtime's own text is dropped: it can quote the URL.
    #[error(
        "the alert webhook could not be reached (the error's text is not logged: it can contain the webhook's URL)"
    )]
    Unreachable,
    #[error("the alert webhook answered HTTP {0}")]
    Status(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// This call sent it.
    Sent,
    /// Sent before (by this or another message); `count` occurrences so far.
    AlreadySent { count: u32 },
}

pub struct Alerts {
    store: AlertStore,
    webhook: Option<String>,
}

impl Alerts {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            store: AlertStore::from_env(env)?,
            webhook: optional(env, "ALERT_WEBHOOK_URL"),
        })
    }

    /// The webhook URL is a secret (it carries its own key): traces redact it.
    pub fn secrets(&self) -> Vec<String> {
        self.webhook.iter().cloned().collect()
    }

    /// Raises alert `kind` with `message`. It is sent unless it was sent before and
    /// `repeat_after` (if any) has not passed since. `Err` when the webhook failed: the alert
    /// is unsent and the next raise tries again.
    pub async fn raise(
        &self,
        kind: &str,
        message: &str,
        repeat_after: Option<Duration>,
    ) -> Result<Raised, AlertError> {
        let at = now();
        let claim = random_hex::<12>();
        let claimed = self
            .store
            .claim(kind, at, &claim, repeat_after.map(|quiet| at - quiet))
            .await
            .map_err(|error| AlertError::Claim {
                kind: kind.to_owned(),
                error,
            })?
            .ok_or_else(|| AlertError::NoRow {
                kind: kind.to_owned(),
            })?;
        if !claimed.won_by(&claim) {
            return Ok(Raised::AlreadySent {
                count: claimed.count,
            });
        }
        match self.send(message).await {
            Ok(()) => Ok(Raised::Sent),
            Err(error) => {
                let released = self.store.release(kind, &claim).await;
                if let Err(e) = released {
                    // The claim stays; the alert is still not lost, as the caller retries.
                    worker::console_error!("releasing the alert {kind}: {e}");
                }
                Err(AlertError::NotSent(error))
            }
        }
    }

    /// Sends `message` as it is, without deduplication: the scheduler's reminder digest,
    /// which deduplicates per draft itself. `Err` when the webhook failed.
    pub async fn notify(&self, message: &str) -> Result<(), WebhookError> {
        self.send(message).await
    }

    /// The statement that clears `kind`, so it alerts at once when it comes back.
    pub fn clear_statement(&self, kind: &str) -> worker::Result<D1PreparedStatement> {
        self.store.clear_statement(kind)
    }

    async fn send(&self, message: &str) -> Result<(), WebhookError> {
        let Some(url) = &self.webhook else {
            worker::console_error!("OPERATOR ALERT (no ALERT_WEBHOOK_URL is set): {message}");
            return Ok(());
        };
        let body = serde_json::json!({ "text": message }).to_string();
        let call = Call {
            method: "POST",
            url,
            headers: &[("content-type", "application/json")],
            body: Some(&body),
        };
        // Errors name no URL: the webhook's URL is its secret, and the runtime's own fetch
        // errors can quote it ("Fetch API cannot load: <url>"), so their text is dropped.
        let response =
            fetch_text(&call, WEBHOOK_TIMEOUT_MS)
                .await
                .map_err(|error| match error {
                    HttpError::Timeout(ms) => WebhookError::Timeout(ms),
                    HttpError::Transport(_) => WebhookError::Unreachable,
                })?;
        let status = response.status;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(WebhookError::Status(status))
        }
    }
}
