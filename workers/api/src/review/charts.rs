//! `/review/charts`: what people would rather look at than read: posts published per day and
//! per week by account, publish failures by class, the time from draft to approval and from
//! approval to live, and the drafts waiting for review by age. Drawn here as inline SVG (no
//! script, nothing from elsewhere: within the page's CSP), each with its numbers in a table for
//! screen readers. The data are D1's kept aggregates (`platform::stats`), so the page costs the
//! same with a year of history as with a week; publishing's failures and durations come from
//! Analytics Engine's SQL API when it is configured (`charts/publishing.rs`).

use std::collections::BTreeMap;

use maud::{Markup, html};
use platform::accounts::AccountStore;
use platform::stats::{DayRow, StatsStore, Waiting};
use time::{Date, Duration};
use worker::{Env, Response};

use super::html::{layout, page_response};
use crate::auth::Actor;
use crate::reply::ApiError;
use crate::scope::{self, Scope};

/// Days in the daily charts, and weeks in the weekly ones.
const DAYS: i64 = 28;
const WEEKS: i64 = 12;

/// One bar: what it stands for, its size, and the number written beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub shown: String,
}

impl Bar {
    fn count(label: impl Into<String>, n: i64) -> Self {
        Self {
            label: label.into(),
            value: n as f64,
            shown: n.to_string(),
        }
    }
}

pub async fn page(env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let now = platform::clock::now();
    let first_week = monday_of(now.date()) - Duration::weeks(WEEKS - 1);
    let since = first_week.to_string();
    let stats = StatsStore::from_env(env)?;
    let everything = actor.accounts.is_none();
    let (days, accounts, waiting, publishing) = futures::join!(
        stats.days_since(&since),
        async { AccountStore::from_env(env)?.all().await },
        async {
            match everything {
                true => stats.waiting(now).await.map(Some),
                false => Ok(None),
            }
        },
        async {
            match everything {
                true => publishing::read(env, DAYS as u32, now.date())
                    .await
                    .map(Some),
                false => Ok(None),
            }
        },
    );
    let accounts = accounts?;
    let scope = Scope::of(actor, &accounts);
    let days: Vec<DayRow> = days?
        .into_iter()
        .filter(|d| scope.allows((!d.account_id.is_empty()).then_some(d.account_id.as_str())))
        .collect();
    let by_account = group_by_account(&days);
    let today = now.date();
    let body = html! {
        h1 { "Charts" }
        p class="hint" { "Days are UTC days. Counts come from what D1 keeps as posts are approved and published." }
        @if by_account.is_empty() {
            section class="card" { p class="empty" { "Nothing published or approved in the last " (WEEKS) " weeks." } }
        }
        @for (account, rows) in &by_account {
            @let label = scope::label(&accounts, (!account.is_empty()).then_some(account.as_str()));
            section class="card chart-card" {
                h2 { "Posts published on " (label) }
                (column_chart(&format!("Published per day, last {DAYS} days, {label}"), &per_day(rows, today), 7))
                (column_chart(&format!("Published per week, last {WEEKS} weeks, {label}"), &per_week(rows, first_week, |d| d.published), 2))
            }
        }
        section class="card chart-card" {
            h2 { "How long it takes" }
            (bar_chart("Average time from draft to approval, per week", &averages(&days, first_week, |d| (d.review_seconds, d.approved))))
            (bar_chart("Average time from approval to live, per week", &averages(&days, first_week, |d| (d.live_seconds, d.published))))
        }
        @if let Some(publishing) = publishing? {
            (publishing::render(&publishing, DAYS, today))
            section class="card chart-card" {
                h2 { "The review queue" }
                (bar_chart("Drafts waiting for review, by age", &waiting_bars(&waiting?.unwrap_or_default())))
            }
        } @else {
            section class="card" { p class="empty" { "Failures and the review queue are counted over every account, so shown only to reviewers of every account." } }
        }
    };
    page_response(200, layout("Charts", Some(&actor.name), body))
}

fn group_by_account(days: &[DayRow]) -> BTreeMap<String, Vec<&DayRow>> {
    let mut by_account: BTreeMap<String, Vec<&DayRow>> = BTreeMap::new();
    for day in days {
        by_account
            .entry(day.account_id.clone())
            .or_default()
            .push(day);
    }
    by_account.retain(|_, rows| rows.iter().any(|d| d.published > 0));
    by_account
}

fn monday_of(date: Date) -> Date {
    date - Duration::days(i64::from(date.weekday().number_days_from_monday()))
}

/// The last [`DAYS`] days up to `today`, each with its published posts.
fn per_day(rows: &[&DayRow], today: Date) -> Vec<Bar> {
    (0..DAYS)
        .rev()
        .map(|back| {
            let day = today - Duration::days(back);
            let key = day.to_string();
            let n = rows
                .iter()
                .filter(|d| d.day == key)
                .map(|d| d.published)
                .sum();
            Bar::count(
                format!("{} {}", day.month() as u8, day.day()).replace(' ', "/"),
                n,
            )
        })
        .collect()
}

/// [`WEEKS`] weeks from `first_week` (a Monday), each with the sum of `value`.
fn per_week(rows: &[&DayRow], first_week: Date, value: impl Fn(&DayRow) -> i64) -> Vec<Bar> {
    (0..WEEKS)
        .map(|week| {
            let start = first_week + Duration::weeks(week);
            let n = rows
                .iter()
                .filter(|d| in_week(&d.day, start))
                .map(|d| value(d))
                .sum();
            Bar::count(week_label(start), n)
        })
        .collect()
}

fn in_week(day: &str, start: Date) -> bool {
    let end = (start + Duration::days(7)).to_string();
    day >= start.to_string().as_str() && day < end.as_str()
}

fn week_label(start: Date) -> String {
    format!("{}/{}", start.month() as u8, start.day())
}

/// Per week, the summed seconds over the count, as a duration a person reads.
fn averages(days: &[DayRow], first_week: Date, sums: impl Fn(&DayRow) -> (i64, i64)) -> Vec<Bar> {
    (0..WEEKS)
        .map(|week| {
            let start = first_week + Duration::weeks(week);
            let (seconds, n) = days
                .iter()
                .filter(|d| in_week(&d.day, start))
                .map(&sums)
                .fold((0_i64, 0_i64), |(s, c), (ds, dc)| (s + ds, c + dc));
            let value = if n == 0 {
                0.0
            } else {
                seconds as f64 / n as f64
            };
            Bar {
                label: week_label(start),
                value,
                shown: if n == 0 {
                    "–".into()
                } else {
                    duration_words(value)
                },
            }
        })
        .collect()
}

/// `42 s`, `3.5 min`, `2.0 h`, `1.5 days`.
fn duration_words(seconds: f64) -> String {
    match seconds {
        s if s < 90.0 => format!("{s:.0} s"),
        s if s < 90.0 * 60.0 => format!("{:.1} min", s / 60.0),
        s if s < 36.0 * 3600.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86400.0),
    }
}

fn waiting_bars(waiting: &Waiting) -> Vec<Bar> {
    vec![
        Bar::count("under an hour", waiting.under_hour),
        Bar::count("1 to 24 hours", waiting.under_day),
        Bar::count("1 to 3 days", waiting.under_three_days),
        Bar::count("3 to 7 days", waiting.under_week),
        Bar::count("over a week", waiting.older),
    ]
}

/// A column chart as inline SVG for a series over time (days, weeks): a column per bar,
/// scaled to the largest, every `label_every`th labelled below; its numbers also in a table.
pub fn column_chart(title: &str, bars: &[Bar], label_every: usize) -> Markup {
    const WIDTH: f64 = 600.0;
    const PLOT: f64 = 120.0;
    let max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    if bars.is_empty() || max <= 0.0 {
        return html! { figure class="chart" { figcaption { (title) } p class="empty" { "Nothing to show yet." } } };
    }
    let step = WIDTH / bars.len() as f64;
    html! {
        figure class="chart" {
            figcaption { (title) }
            svg viewBox=(format!("-16 0 {} {}", WIDTH + 32.0, PLOT + 40.0)) role="img" aria-label=(title) class="chart-svg" {
                title { (title) }
                @for (i, bar) in bars.iter().enumerate() {
                    @let h = bar.value / max * PLOT;
                    @let x = i as f64 * step;
                    rect x=(format!("{:.1}", x + step * 0.15)) y=(format!("{:.1}", 16.0 + PLOT - h)) width=(format!("{:.1}", step * 0.7)) height=(format!("{h:.1}")) class="chart-bar" {}
                    @if bar.value > 0.0 {
                        text x=(format!("{:.1}", x + step / 2.0)) y=(format!("{:.1}", 12.0 + PLOT - h)) text-anchor="middle" class="chart-value" { (bar.shown) }
                    }
                    @if (bars.len() - 1 - i).is_multiple_of(label_every.max(1)) {
                        text x=(format!("{:.1}", x + step / 2.0)) y=(PLOT + 34.0) text-anchor="middle" class="chart-label" { (bar.label) }
                    }
                }
            }
            (numbers(title, bars))
        }
    }
}

/// The numbers of a chart, for screen readers. A table is as wide as its content whatever
/// its width: hidden in a box that is not.
fn numbers(title: &str, bars: &[Bar]) -> Markup {
    html! {
        div class="visually-hidden" {
            table {
                caption { (title) }
                @for bar in bars { tr { th scope="row" { (bar.label) } td { (bar.shown) } } }
            }
        }
    }
}

/// A horizontal bar chart as inline SVG, a row per bar, scaled to the largest; its numbers
/// also in a table for screen readers. Empty (or all zero) says so instead.
pub fn bar_chart(title: &str, bars: &[Bar]) -> Markup {
    const ROW: f64 = 22.0;
    const LABEL: f64 = 150.0;
    const WIDTH: f64 = 600.0;
    let max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    if bars.is_empty() || max <= 0.0 {
        return html! { figure class="chart" { figcaption { (title) } p class="empty" { "Nothing to show yet." } } };
    }
    let height = ROW * bars.len() as f64;
    let room = WIDTH - LABEL - 50.0;
    html! {
        figure class="chart" {
            figcaption { (title) }
            svg viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-label=(title) class="chart-svg" {
                title { (title) }
                @for (i, bar) in bars.iter().enumerate() {
                    @let y = i as f64 * ROW;
                    @let w = (bar.value / max * room).max(if bar.value > 0.0 { 1.0 } else { 0.0 });
                    text x=(LABEL - 6.0) y=(y + 15.0) text-anchor="end" class="chart-label" { (bar.label) }
                    rect x=(LABEL) y=(y + 4.0) width=(format!("{w:.1}")) height="14" class="chart-bar" {}
                    text x=(LABEL + w + 4.0) y=(y + 15.0) class="chart-value" { (bar.shown) }
                }
            }
            (numbers(title, bars))
        }
    }
}

mod publishing;
#[cfg(test)]
mod tests;
