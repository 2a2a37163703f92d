//! Sends finished workflow traces to LangSmith. Tracing is best effort: it runs after the
//! response through `waitUntil`, and its failures are logged, never raised.

use observe::langsmith::{Run, RunType, Trace, batch_body};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;
use worker::{Env, Method};

use crate::clock::{now, random_bytes};
use crate::config::{optional, or_default};
use crate::http::{Call, HttpError, TextAnswer, fetch_text};

const TIMEOUT_MS: u64 = 5_000;

/// Where traces go. Absent when `LANGSMITH_API_KEY` is unset, which turns tracing off.
pub struct LangSmith {
    endpoint: String,
    project: String,
    api_key: String,
}

impl LangSmith {
    pub fn from_env(env: &Env) -> Option<Self> {
        Some(Self {
            api_key: optional(env, "LANGSMITH_API_KEY")?,
            endpoint: or_default(env, "LANGSMITH_ENDPOINT", "https://api.smith.langchain.com")
                .trim_end_matches('/')
                .to_owned(),
            project: or_default(env, "LANGSMITH_PROJECT", "instagram-pipeline"),
        })
    }

    /// Sends the trace; `secrets` are removed from every field first, the key itself included.
    pub async fn send(&self, trace: &Trace, secrets: &[&str]) {
        let mut all_secrets = secrets.to_vec();
        all_secrets.push(&self.api_key);
        let body = batch_body(trace, &self.project, &all_secrets).to_string();
        let result = self
            .request(Method::Post, "/runs/batch", Some(&body))
            .await
            .map(|answer| answer.status);
        match result {
            Ok(status) if (200..300).contains(&status) => {}
            Ok(status) => worker::console_warn!("LangSmith answered {status} to a trace"),
            Err(error) => worker::console_warn!("sending a trace to LangSmith failed: {error}"),
        }
    }
}

/// Why a call to LangSmith's API (other than a trace's) gave no usable answer.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("LangSmith answered {status} to {path}")]
    Status { status: u16, path: String },
    #[error("no dataset id in the answer")]
    NoDatasetId,
}

impl LangSmith {
    /// Adds an example to the dataset named `dataset` (made on first use): how the prompts'
    /// output compares with what a person approved. Best effort, like traces.
    pub async fn add_example(&self, dataset: &str, example: Value, secrets: &[&str]) {
        let mut all_secrets = secrets.to_vec();
        all_secrets.push(&self.api_key);
        let example = observe::redact::redact_json(&example, &all_secrets);
        let result = async {
            let dataset_id = match self.dataset_id(dataset).await? {
                Some(id) => id,
                None => {
                    let created = self
                        .call(
                            Method::Post,
                            "/datasets",
                            Some(serde_json::json!({
                                "name": dataset,
                                "description": "Generated captions and the text a reviewer approved",
                            })),
                        )
                        .await?;
                    created["id"]
                        .as_str()
                        .map(str::to_owned)
                        .ok_or(ApiError::NoDatasetId)?
                }
            };
            let mut body = example;
            body["dataset_id"] = Value::String(dataset_id);
            self.call(Method::Post, "/examples", Some(body)).await?;
            Ok::<(), ApiError>(())
        }
        .await;
        if let Err(error) = result {
            worker::console_warn!("adding a LangSmith example failed: {error}");
        }
    }

    async fn dataset_id(&self, name: &str) -> Result<Option<String>, ApiError> {
        let encoded: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
        let found = self
            .call(Method::Get, &format!("/datasets?name={encoded}"), None)
            .await?;
        Ok(found
            .as_array()
            .and_then(|list| list.first())
            .and_then(|d| d["id"].as_str())
            .map(str::to_owned))
    }

    /// One call to the API with the key, within [`TIMEOUT_MS`].
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> Result<TextAnswer, HttpError> {
        let url = format!("{}{path}", self.endpoint);
        let call = Call {
            method: method.as_ref(),
            url: &url,
            headers: &[
                ("content-type", "application/json"),
                ("x-api-key", &self.api_key),
            ],
            body,
        };
        fetch_text(&call, TIMEOUT_MS).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        let body = body.map(|body| body.to_string());
        let answer = self.request(method, path, body.as_deref()).await?;
        let status = answer.status;
        if !(200..300).contains(&status) {
            let path = path.to_owned();
            return Err(ApiError::Status { status, path });
        }
        Ok(serde_json::from_str(&answer.body).unwrap_or(Value::Null))
    }
}

/// Collects the runs of one workflow while it runs. A tracer that is off (LangSmith not
/// configured) records nothing, and callers skip building what it would record.
pub struct Tracer {
    on: bool,
    root_id: Uuid,
    name: String,
    start: OffsetDateTime,
    inputs: Value,
    metadata: Value,
    children: Vec<Run>,
}

/// A started child run; finish it with [`Tracer::finish_child`].
pub struct ChildRun {
    id: Uuid,
    name: String,
    run_type: RunType,
    start: OffsetDateTime,
    inputs: Value,
}

pub fn new_run_id() -> Uuid {
    uuid::Builder::from_random_bytes(random_bytes::<16>()).into_uuid()
}

impl Tracer {
    pub fn start(name: &str, inputs: Value, metadata: Value) -> Self {
        Self {
            on: true,
            root_id: new_run_id(),
            name: name.to_owned(),
            start: now(),
            inputs,
            metadata,
            children: Vec::new(),
        }
    }

    /// A tracer that records nothing, for when the trace would go nowhere.
    pub fn off() -> Self {
        Self {
            on: false,
            root_id: Uuid::nil(),
            name: String::new(),
            start: OffsetDateTime::UNIX_EPOCH,
            inputs: Value::Null,
            metadata: Value::Null,
            children: Vec::new(),
        }
    }

    /// Whether anything is recorded: callers build inputs and outputs only then.
    pub fn is_on(&self) -> bool {
        self.on
    }

    pub fn start_child(&self, name: &str, run_type: RunType, inputs: Value) -> ChildRun {
        ChildRun {
            id: if self.on { new_run_id() } else { Uuid::nil() },
            name: name.to_owned(),
            run_type,
            start: now(),
            inputs,
        }
    }

    /// Records `child` with its outputs, or with the error it ended with, as the operation's
    /// own error type says it: a trace holds the words, whatever the type.
    pub fn finish_child(&mut self, child: ChildRun, result: Outcome<'_>, metadata: Value) {
        if !self.on {
            return;
        }
        let (outputs, error) = split(result);
        self.children.push(Run {
            id: child.id,
            name: child.name,
            run_type: child.run_type,
            inputs: child.inputs,
            outputs,
            error,
            start: child.start,
            end: now(),
            metadata,
        });
    }

    /// The root run, with what the workflow cost in D1 so far in its metadata (`d1_rows_read`,
    /// `d1_rows_written`) when it runs in a [`crate::d1::metered`] scope.
    pub fn finish(mut self, result: Outcome<'_>) -> Trace {
        if let Some(usage) = crate::d1::usage() {
            if !self.metadata.is_object() {
                self.metadata = Value::Object(serde_json::Map::new());
            }
            if let Some(metadata) = self.metadata.as_object_mut() {
                metadata.insert("d1_rows_read".into(), usage.rows_read.into());
                metadata.insert("d1_rows_written".into(), usage.rows_written.into());
            }
        }
        let (outputs, error) = split(result);
        Trace {
            root: Run {
                id: self.root_id,
                name: self.name,
                run_type: RunType::Chain,
                inputs: self.inputs,
                outputs,
                error,
                start: self.start,
                end: now(),
                metadata: self.metadata,
            },
            children: self.children,
        }
    }
}

/// How a run ended: its outputs, or the error it ended with (any operation's typed error).
pub type Outcome<'a> = Result<Value, &'a dyn std::fmt::Display>;

fn split(result: Outcome<'_>) -> (Option<Value>, Option<String>) {
    match result {
        Ok(outputs) => (Some(outputs), None),
        Err(error) => (None, Some(error.to_string())),
    }
}
