//! The charts of publishing: failed or retried attempts by error class, and the time a
//! publish attempt takes per day. From Analytics Engine's SQL API (the points
//! `platform::metrics::record_publish_attempt` writes) when it is configured; from D1
//! (`publish_logs`) when it is not or when it fails, and the page says which and why.

use maud::{Markup, html};
use platform::analytics::{
    ClassCount, DayDuration, SqlApi, SqlError, durations_sql, failures_sql, parse_durations,
    parse_failures,
};
use platform::stats::StatsStore;
use time::{Date, Duration};
use worker::Env;

use super::{Bar, bar_chart, column_chart, duration_words};
use crate::reply::ApiError;
use crate::review::html::error_class_words;

/// Where the figures came from.
#[derive(Debug)]
pub enum Source {
    AnalyticsEngine,
    NotConfigured,
    Failed(SqlError),
}

pub struct Publishing {
    failures: Vec<ClassCount>,
    durations: Vec<DayDuration>,
    source: Source,
}

/// The last `days` days of publishing, from Analytics Engine if it answers, else from D1.
pub async fn read(env: &Env, days: u32, today: Date) -> Result<Publishing, ApiError> {
    let Some(api) = SqlApi::from_env(env) else {
        return from_d1(env, days, today, Source::NotConfigured).await;
    };
    let (failures_sql, durations_sql) = (
        failures_sql(api.dataset(), days),
        durations_sql(api.dataset(), days),
    );
    let (failures, durations) = futures::join!(api.query(&failures_sql), api.query(&durations_sql));
    let read = || -> Result<_, SqlError> {
        Ok((parse_failures(&failures?)?, parse_durations(&durations?)?))
    };
    match read() {
        Ok((failures, durations)) => Ok(Publishing {
            failures,
            durations,
            source: Source::AnalyticsEngine,
        }),
        Err(error) => {
            // The error's words name no account and no token.
            worker::console_warn!("charts: {error}; D1's figures are shown instead");
            from_d1(env, days, today, Source::Failed(error)).await
        }
    }
}

async fn from_d1(
    env: &Env,
    days: u32,
    today: Date,
    source: Source,
) -> Result<Publishing, ApiError> {
    let since = format!("{}T00:00:00Z", today - Duration::days(i64::from(days) - 1));
    let stats = StatsStore::from_env(env)?;
    let (counts, durations) = futures::join!(
        stats.failures_by_class(&since),
        stats.attempt_durations(&since)
    );
    Ok(Publishing {
        failures: counts?
            .into_iter()
            .map(|(class, attempts)| ClassCount {
                class,
                attempts: attempts as f64,
            })
            .collect(),
        durations: durations?,
        source,
    })
}

/// What the page says of where the figures come from.
fn source_words(source: &Source) -> String {
    match source {
        Source::AnalyticsEngine => {
            "From Analytics Engine: the data points the Workers write, read through its SQL API."
                .to_owned()
        }
        Source::NotConfigured => "From D1's publish log: Analytics Engine's SQL API is not configured (ANALYTICS_ACCOUNT_ID and ANALYTICS_API_TOKEN).".to_owned(),
        Source::Failed(error) => format!("From D1's publish log, because {error}."),
    }
}

pub fn render(publishing: &Publishing, days: i64, today: Date) -> Markup {
    let mut failures: Vec<Bar> = publishing
        .failures
        .iter()
        .map(|c| Bar {
            // The class's name fits beside a bar; the legend puts it in words.
            label: c.class.clone(),
            value: c.attempts,
            shown: format!("{}", c.attempts.round()),
        })
        .collect();
    failures.sort_by(|a, b| b.value.total_cmp(&a.value));
    let durations: Vec<Bar> = (0..days)
        .rev()
        .map(|back| {
            let day = today - Duration::days(back);
            let key = day.to_string();
            let found = publishing.durations.iter().find(|d| d.day == key);
            Bar {
                label: format!("{}/{}", day.month() as u8, day.day()),
                value: found.map_or(0.0, |d| d.average_ms),
                shown: found.map_or("–".to_owned(), |d| milliseconds(d.average_ms)),
            }
        })
        .collect();
    let analytics = matches!(publishing.source, Source::AnalyticsEngine);
    html! {
        section class="card chart-card" id="publishing" data-source=(if analytics { "analytics-engine" } else { "d1" }) {
            h2 { "Publishing" }
            p class=(if analytics { "hint" } else { "hint notice" }) id="publishing-source" { (source_words(&publishing.source)) }
            (bar_chart(&format!("Publish failures by class, last {days} days"), &failures))
            @if !publishing.failures.is_empty() {
                dl class="legend" {
                    @for c in &publishing.failures { dt { (c.class) } dd { (error_class_words(&c.class)) } }
                }
            }
            (column_chart(&format!("Average time of a publish attempt per day, last {days} days"), &durations, 7))
        }
    }
}

/// A duration in ms as a person reads it: `850 ms`, `4 s`, `2.5 min`.
fn milliseconds(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        duration_words(ms / 1000.0)
    }
}
