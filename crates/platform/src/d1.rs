//! D1 results read as JSON. The `worker` crate turns a result's rows into Rust with
//! serde_wasm_bindgen, several JS calls per column, and a draft row has over forty columns:
//! about half of all the calls from wasm to JS a generate request made. Here a statement's
//! rows cross into wasm as one JSON string, which serde_json reads.

use serde::de::DeserializeOwned;
use worker::js_sys::{Array, JSON};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::types::{D1Database as D1DatabaseSys, D1Result as D1ResultSys};
use worker::{D1Database, D1PreparedStatement, Error, Result};

/// One statement's outcome: whether it succeeded, and its rows as JSON.
#[derive(Debug)]
pub struct Rows {
    success: bool,
    error: Option<String>,
    json: String,
}

impl Rows {
    fn read(result: &JsValue) -> Result<Self> {
        let result: &D1ResultSys = result.unchecked_ref();
        let json = match result.results()? {
            Some(rows) => JSON::stringify(&rows)?
                .as_string()
                .ok_or_else(|| Error::RustError("D1 rows that are not JSON".into()))?,
            None => "[]".to_owned(),
        };
        Ok(Self {
            success: result.success()?,
            error: result.error()?,
            json,
        })
    }

    /// A result that is not a success is an error, never "no rows".
    pub fn checked(&self) -> Result<&Self> {
        if self.success {
            Ok(self)
        } else {
            Err(Error::RustError(format!(
                "D1 statement failed: {}",
                self.error.as_deref().unwrap_or_default()
            )))
        }
    }

    pub fn all<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        serde_json::from_str(&self.json).map_err(|e| Error::RustError(format!("a D1 row: {e}")))
    }

    pub fn first<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        Ok(self.all::<T>()?.into_iter().next())
    }
}

/// Runs `statement` and returns its rows.
pub async fn all(statement: D1PreparedStatement) -> Result<Rows> {
    let result = JsFuture::from(statement.inner().all()?).await?;
    Rows::read(&result)
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
