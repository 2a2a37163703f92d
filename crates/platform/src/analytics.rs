//! Reading back what the Workers write to Analytics Engine (`metrics.rs`), through its SQL
//! API: `POST {base}/accounts/{account id}/analytics_engine/sql`, the SQL text as the body,
//! an API token as the bearer token. Used by the charts page when deployed with
//! `ANALYTICS_ACCOUNT_ID` and `ANALYTICS_API_TOKEN` (both secrets: neither is ever logged,
//! put in an error or sent to a page). The queries and the readers of their answers are plain
//! functions, tested on the host; [`SqlApi::query`] is the one call out.

use serde::Deserialize;
use serde_json::Value;
use worker::Env;

use crate::config;
use crate::http::{Call, fetch_text};

/// Where the SQL API is (its base, tests point it at a local fake), and the dataset the
/// `METRICS` binding writes to (`wrangler/*.toml`).
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";
pub const DEFAULT_DATASET: &str = "instagram_pipeline";
/// One query's deadline: the page is not held long for a second opinion.
const TIMEOUT_MS: u64 = 5_000;

/// The SQL API with its credentials. Its `Debug` shows neither.
pub struct SqlApi {
    url: String,
    token: String,
    dataset: String,
}

impl std::fmt::Debug for SqlApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqlApi { .. }")
    }
}

/// Why the SQL API gave no figures. Its words never hold the account id or the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    #[error("Analytics Engine's SQL API refused the query (HTTP {0})")]
    Refused(u16),
    #[error("Analytics Engine's SQL API could not be reached")]
    Unreachable,
    #[error("Analytics Engine's SQL API answered something unreadable")]
    Unreadable,
}

impl SqlApi {
    /// The SQL API as the settings configure it; `None` without an account id or a token,
    /// or with a dataset name that is not a plain SQL name.
    pub fn from_env(env: &Env) -> Option<Self> {
        let account = config::optional(env, "ANALYTICS_ACCOUNT_ID")?;
        let token = config::optional(env, "ANALYTICS_API_TOKEN")?;
        let base = config::or_default(env, "ANALYTICS_SQL_BASE_URL", DEFAULT_BASE_URL);
        let dataset = config::or_default(env, "ANALYTICS_DATASET", DEFAULT_DATASET);
        Self::new(&base, &account, token, dataset)
    }

    pub fn new(base: &str, account: &str, token: String, dataset: String) -> Option<Self> {
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        (plain(account) && plain(&dataset) && !dataset.contains('-')).then(|| Self {
            url: format!(
                "{}/accounts/{account}/analytics_engine/sql",
                base.trim_end_matches('/')
            ),
            token,
            dataset,
        })
    }

    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// Runs `sql` and answers the body of a 2xx answer.
    pub async fn query(&self, sql: &str) -> Result<String, SqlError> {
        let authorization = format!("Bearer {}", self.token);
        let call = Call {
            method: "POST",
            url: &self.url,
            headers: &[
                ("content-type", "text/plain"),
                ("authorization", &authorization),
            ],
            body: Some(sql),
        };
        // A transport error's words may name the URL, and so the account: not kept.
        let answer = fetch_text(&call, TIMEOUT_MS)
            .await
            .map_err(|_| SqlError::Unreachable)?;
        if (200..300).contains(&answer.status) {
            Ok(answer.body)
        } else {
            Err(SqlError::Refused(answer.status))
        }
    }
}

/// Publish attempts that failed or will be retried in the last `days` days, by error class:
/// `record_publish_attempt`'s points (blob1 the event, blob2 the outcome, blob3 the class),
/// each weighed by its sample interval.
pub fn failures_sql(dataset: &str, days: u32) -> String {
    format!(
        "SELECT blob3 AS class, SUM(_sample_interval) AS attempts FROM {dataset} \
         WHERE blob1 = 'publish_attempt' AND blob2 IN ('retrying', 'failed') \
         AND timestamp > NOW() - INTERVAL '{days}' DAY \
         GROUP BY class ORDER BY attempts DESC FORMAT JSON"
    )
}

/// The average time a publish attempt took (double2, ms) per UTC day of the last `days`.
pub fn durations_sql(dataset: &str, days: u32) -> String {
    format!(
        "SELECT toStartOfDay(timestamp) AS day, \
         SUM(_sample_interval * double2) / SUM(_sample_interval) AS average_ms, \
         SUM(_sample_interval) AS attempts FROM {dataset} \
         WHERE blob1 = 'publish_attempt' AND timestamp > NOW() - INTERVAL '{days}' DAY \
         GROUP BY day ORDER BY day FORMAT JSON"
    )
}

/// Failed or retried attempts of one class (`unknown` for none recorded).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassCount {
    pub class: String,
    pub attempts: f64,
}

/// One UTC day's publish attempts: how many, and their average duration.
#[derive(Debug, Clone, PartialEq)]
pub struct DayDuration {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub average_ms: f64,
    pub attempts: f64,
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<serde_json::Map<String, Value>>,
}

/// A number as the SQL API's JSON gives it: a number, or a string for 64-bit integers.
fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

fn rows(body: &str) -> Result<Vec<serde_json::Map<String, Value>>, SqlError> {
    serde_json::from_str::<Answer>(body)
        .map(|a| a.data)
        .map_err(|_| SqlError::Unreadable)
}

/// Reads the answer to [`failures_sql`].
pub fn parse_failures(body: &str) -> Result<Vec<ClassCount>, SqlError> {
    rows(body)?
        .iter()
        .map(|row| {
            let class = row.get("class").and_then(Value::as_str).unwrap_or_default();
            Ok(ClassCount {
                class: if class.is_empty() { "unknown" } else { class }.to_owned(),
                attempts: number(row.get("attempts")).ok_or(SqlError::Unreadable)?,
            })
        })
        .collect()
}

/// Reads the answer to [`durations_sql`]: `day` as `YYYY-MM-DD hh:mm:ss` (or RFC 3339).
pub fn parse_durations(body: &str) -> Result<Vec<DayDuration>, SqlError> {
    rows(body)?
        .iter()
        .map(|row| {
            let day = row
                .get("day")
                .and_then(Value::as_str)
                .and_then(|d| d.get(..10))
                .filter(|d| d.as_bytes().get(4) == Some(&b'-'))
                .ok_or(SqlError::Unreadable)?;
            Ok(DayDuration {
                day: day.to_owned(),
                average_ms: number(row.get("average_ms")).ok_or(SqlError::Unreadable)?,
                attempts: number(row.get("attempts")).ok_or(SqlError::Unreadable)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_names_the_account_and_the_debug_form_hides_the_credentials() {
        let api = SqlApi::new(
            "http://127.0.0.1:9/client/v4/",
            "abc123",
            "secret-token".into(),
            DEFAULT_DATASET.into(),
        )
        .unwrap();
        assert_eq!(
            api.url,
            "http://127.0.0.1:9/client/v4/accounts/abc123/analytics_engine/sql"
        );
        assert_eq!(format!("{api:?}"), "SqlApi { .. }");
        // A dataset or an account that is not a plain name is no configuration.
        for (account, dataset) in [("a/b", "d"), ("a", "d; DROP"), ("a", "d-x"), ("", "d")] {
            assert!(SqlApi::new("http://x", account, "t".into(), dataset.into()).is_none());
        }
    }

    #[test]
    fn the_queries_read_the_publish_attempt_points() {
        let sql = failures_sql("instagram_pipeline", 28);
        assert!(sql.contains("FROM instagram_pipeline"), "{sql}");
        assert!(sql.contains("blob1 = 'publish_attempt'"), "{sql}");
        assert!(sql.contains("blob2 IN ('retrying', 'failed')"), "{sql}");
        assert!(sql.contains("INTERVAL '28' DAY"), "{sql}");
        assert!(durations_sql("d", 28).contains("double2"));
    }

    #[test]
    fn answers_are_read_with_numbers_as_numbers_or_strings() {
        let failures = parse_failures(
            r#"{"meta":[],"data":[{"class":"transient","attempts":"7"},{"class":"","attempts":2}],"rows":2}"#,
        )
        .unwrap();
        assert_eq!(
            failures,
            vec![
                ClassCount {
                    class: "transient".into(),
                    attempts: 7.0
                },
                ClassCount {
                    class: "unknown".into(),
                    attempts: 2.0
                },
            ]
        );
        let days = parse_durations(
            r#"{"data":[{"day":"2026-12-05 00:00:00","average_ms":1234.5,"attempts":"3"}]}"#,
        )
        .unwrap();
        assert_eq!(days[0].day, "2026-12-05");
        assert_eq!(days[0].average_ms, 1234.5);
        assert_eq!(days[0].attempts, 3.0);
        for bad in [
            "",
            "{}",
            r#"{"data":[{"class":"x"}]}"#,
            r#"{"data":[{"day":"soon","average_ms":1,"attempts":1}]}"#,
        ] {
            assert!(
                parse_failures(bad).is_err() || parse_durations(bad).is_err(),
                "{bad}"
            );
        }
    }
}
