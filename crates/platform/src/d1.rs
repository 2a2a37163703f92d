//! D1 results read as JSON. The `worker` crate turns a result's rows into Rust with
//! serde_wasm_bindgen, several JS calls per column, and a draft row has over forty columns:
//! about half of all the calls from wasm to JS a generate request made. Here a statement's
//! rows cross into wasm as one JSON string, which serde_json reads.
//!
//! Every statement the Workers send goes through [`all`] or [`batch`] (clippy's
//! `disallowed-methods` refuses the `worker` crate's own `first`, `run`, `all`, `raw`, `batch`
//! and `exec`), and each result's `meta` (`rows_read`, `rows_written`: what D1 bills) is
//! added to the [`metered`] scopes the statement runs in: a request, a scheduler run, a queue
//! batch, one message of it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use worker::js_sys::{Array, JSON, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::types::{D1Database as D1DatabaseSys, D1Result as D1ResultSys};
use worker::{D1Database, D1PreparedStatement, Error, Result};

/// What goes wrong reading a statement's result (a `worker::Error` where it is read).
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    #[error("D1 rows that are not JSON")]
    RowsNotJson,
    /// The statement did not succeed, with D1's message.
    #[error("D1 statement failed: {0}")]
    Failed(String),
    #[error("a D1 row: {0}")]
    Row(serde_json::Error),
}

impl From<ResultError> for Error {
    fn from(error: ResultError) -> Self {
        Error::RustError(error.to_string())
    }
}

/// One statement's outcome: whether it succeeded, and its rows as JSON. Its rows are read
/// only from a success: a failed statement is an error of every reading, never "no rows".
#[derive(Debug)]
pub struct Rows {
    success: bool,
    error: Option<String>,
    json: String,
}

impl Rows {
    /// A result as D1 gives it: success, its error message, its rows as a JSON array.
    pub fn new(success: bool, error: Option<String>, json: String) -> Self {
        Self {
            success,
            error,
            json,
        }
    }

    fn read(result: &JsValue) -> Result<Self> {
        let result: &D1ResultSys = result.unchecked_ref();
        if let Ok(meta) = result.meta() {
            let count = |name: &str| {
                Reflect::get(&meta, &JsValue::from_str(name))
                    .ok()
                    .and_then(|n| n.as_f64())
                    .filter(|n| n.is_finite() && *n >= 0.0)
                    .map_or(0, |n| n as u64)
            };
            add(Usage {
                rows_read: count("rows_read"),
                rows_written: count("rows_written"),
            });
        }
        let json = match result.results()? {
            Some(rows) => JSON::stringify(&rows)?
                .as_string()
                .ok_or(ResultError::RowsNotJson)?,
            None => "[]".to_owned(),
        };
        Ok(Self::new(result.success()?, result.error()?, json))
    }

    /// A result that is not a success is an error, never "no rows". (Reading the rows checks
    /// this too; a write without `RETURNING` calls it alone.)
    pub fn checked(&self) -> Result<&Self> {
        if self.success {
            Ok(self)
        } else {
            let message = self.error.clone().unwrap_or_default();
            Err(ResultError::Failed(message).into())
        }
    }

    pub fn all<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        serde_json::from_str(&self.checked()?.json).map_err(|e| ResultError::Row(e).into())
    }

    pub fn first<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        Ok(self.all::<T>()?.into_iter().next())
    }

    /// How many rows came back: what a write with `RETURNING` changed.
    pub fn count(&self) -> Result<usize> {
        Ok(self.all::<serde::de::IgnoredAny>()?.len())
    }
}

/// Runs `statement` and returns its rows (none for a write without `RETURNING`). The one way
/// a single statement is run: D1's `first()` reports no `meta`, so a statement that wants one
/// row says `LIMIT 1`.
pub async fn all(statement: D1PreparedStatement) -> Result<Rows> {
    let result = JsFuture::from(statement.inner().all()?).await?;
    Rows::read(&result)
}

/// Runs a write without `RETURNING`; a statement that failed is an error.
pub async fn run(statement: D1PreparedStatement) -> Result<()> {
    all(statement).await?.checked()?;
    Ok(())
}

/// Runs a write with `RETURNING`: whether it changed any row.
pub async fn changed(statement: D1PreparedStatement) -> Result<bool> {
    Ok(all(statement).await?.count()? > 0)
}

/// Runs `statements` in one transaction; a result per statement, in order. A batch of one is
/// the statement alone: D1's batch costs more than a single statement.
pub async fn batch(db: &D1Database, mut statements: Vec<D1PreparedStatement>) -> Result<Vec<Rows>> {
    if statements.len() == 1
        && let Some(statement) = statements.pop()
    {
        return Ok(vec![all(statement).await?]);
    }
    let sys: &D1DatabaseSys = db.as_ref().unchecked_ref();
    let statements: Array = statements
        .iter()
        .map(|statement| JsValue::from(statement.inner()))
        .collect();
    let results = JsFuture::from(sys.batch(statements)?).await?;
    let results: Array = results.dyn_into()?;
    results.iter().map(|result| Rows::read(&result)).collect()
}

/// The values a statement binds, as D1 takes them: text, a time as RFC 3339 text, a number,
/// or NULL for an absent one.
pub fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

pub fn optional_text(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

pub fn time(value: time::OffsetDateTime) -> JsValue {
    text(&domain::message::format_rfc3339(value))
}

/// A stored time as [`time`] wrote it, in UTC; `None` when it is not RFC 3339. The one reader
/// of a time from a row: unlike a time from outside (`domain::timestamp`), it is not bounded
/// to the years a person may name, since a stored lease or due time may lie beyond them; a
/// time whose UTC form has no year `time` can hold reads as `None`, never a panic.
pub fn read_time(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()?
        .checked_to_offset(time::UtcOffset::UTC)
}

pub fn optional_number(value: Option<i64>) -> JsValue {
    value.map_or(JsValue::NULL, |n| JsValue::from_f64(n as f64))
}

/// D1 rows read and written, as each result's `meta` counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub rows_read: u64,
    pub rows_written: u64,
}

thread_local! {
    /// The meters of the scopes being polled now, outermost first. A Worker's isolate runs one
    /// poll at a time, so while a statement's result is read, the stack holds exactly the
    /// scopes of the future that awaited it.
    static METERS: RefCell<Vec<Rc<Cell<Usage>>>> = const { RefCell::new(Vec::new()) };
}

fn add(usage: Usage) {
    METERS.with(|meters| {
        for meter in meters.borrow().iter() {
            let sum = meter.get();
            meter.set(Usage {
                rows_read: sum.rows_read + usage.rows_read,
                rows_written: sum.rows_written + usage.rows_written,
            });
        }
    });
}

/// What the innermost scope polled now has used so far; `None` outside every scope.
pub fn usage() -> Option<Usage> {
    METERS.with(|meters| meters.borrow().last().map(|meter| meter.get()))
}

/// Runs `future`, counting the rows of every D1 statement it runs, also in the scopes around
/// it; returns its output and the count.
pub async fn metered<F: Future>(future: F) -> (F::Output, Usage) {
    let meter = Rc::new(Cell::new(Usage::default()));
    let output = Metered {
        future: Box::pin(future),
        meter: meter.clone(),
    }
    .await;
    (output, meter.get())
}

struct Metered<F> {
    future: Pin<Box<F>>,
    meter: Rc<Cell<Usage>>,
}

/// Takes the meter off the stack however the poll ends.
struct Popped;

impl Drop for Popped {
    fn drop(&mut self) {
        METERS.with(|meters| meters.borrow_mut().pop());
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        METERS.with(|meters| meters.borrow_mut().push(this.meter.clone()));
        let _popped = Popped;
        this.future.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_stored_time_reads_in_utc_beyond_the_years_a_person_names_and_never_panics() {
        assert_eq!(
            read_time("2026-03-02T09:00:01.250Z"),
            Some(datetime!(2026-03-02 09:00:01.25 UTC))
        );
        // An offset is converted: the instant is kept, the offset is UTC.
        let at = read_time("2026-03-02T18:00:00+09:00").unwrap();
        assert_eq!(
            (at, at.offset()),
            (datetime!(2026-03-02 09:00 UTC), time::UtcOffset::UTC)
        );
        // Outside 2010..=2100, where `domain::timestamp` refuses a time from outside.
        assert_eq!(
            read_time("2999-01-01T00:00:00Z"),
            Some(datetime!(2999-01-01 0:00 UTC))
        );
        assert_eq!(
            read_time("2001-01-01T00:00:00Z"),
            Some(datetime!(2001-01-01 0:00 UTC))
        );
        // In UTC this is the year 10000, which `to_offset` would panic on.
        assert_eq!(read_time("9999-12-31T23:59:59-23:59"), None);
        for text in ["2026-03-01 10:00:00", "2026-03-01T10:00:00", "", "soon"] {
            assert_eq!(read_time(text), None, "{text}");
        }
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Row {
        id: String,
        n: i64,
    }

    #[test]
    fn a_failed_statement_is_an_error_of_every_reading_never_no_rows() {
        let failed = Rows::new(false, Some("no such table: drafts".into()), "[]".into());
        for error in [
            failed.checked().map(|_| ()).unwrap_err(),
            failed.all::<Row>().map(|_| ()).unwrap_err(),
            failed.first::<Row>().map(|_| ()).unwrap_err(),
            failed.count().map(|_| ()).unwrap_err(),
        ] {
            assert_eq!(
                error.to_string(),
                "D1 statement failed: no such table: drafts"
            );
        }
    }

    #[test]
    fn rows_are_read_and_counted_and_a_row_that_does_not_fit_is_an_error() {
        let rows = Rows::new(true, None, r#"[{"id":"a","n":1},{"id":"b","n":2}]"#.into());
        assert_eq!(rows.count().unwrap(), 2);
        assert_eq!(
            rows.first::<Row>().unwrap(),
            Some(Row {
                id: "a".into(),
                n: 1
            })
        );
        assert_eq!(rows.all::<Row>().unwrap().len(), 2);
        assert_eq!(
            Rows::new(true, None, "[]".into()).first::<Row>().unwrap(),
            None
        );
        let wrong = Rows::new(true, None, r#"[{"id":"a","n":"one"}]"#.into());
        assert!(
            wrong
                .all::<Row>()
                .unwrap_err()
                .to_string()
                .starts_with("a D1 row: ")
        );
    }

    /// The futures here never wait: one poll finishes them.
    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = Box::pin(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(std::task::Waker::noop()))
        {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("a future that waits"),
        }
    }

    #[test]
    fn a_statement_counts_in_every_scope_it_runs_in_and_no_other() {
        let counted = |read, written| Usage {
            rows_read: read,
            rows_written: written,
        };
        add(counted(100, 100)); // outside every scope: nowhere
        assert_eq!(usage(), None);
        let ((inner, sibling), outer) = block_on(metered(async {
            add(counted(3, 1));
            let (_, inner) = metered(async {
                add(counted(5, 2));
                assert_eq!(usage(), Some(counted(5, 2)));
            })
            .await;
            let (_, sibling) = metered(async { add(counted(7, 0)) }).await;
            assert_eq!(usage(), Some(counted(15, 3)));
            (inner, sibling)
        }));
        assert_eq!(inner, counted(5, 2));
        assert_eq!(sibling, counted(7, 0));
        assert_eq!(outer, counted(15, 3));
        assert_eq!(usage(), None);
    }
}
