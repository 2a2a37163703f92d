//! LangSmith runs: one `chain` run per workflow, with `llm` child runs for model calls, sent
//! together to the `/runs/batch` endpoint once the workflow ends.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

use crate::redact::{redact_json, redact_text, redact_token_shapes};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunType {
    Chain,
    Llm,
    Tool,
}

impl RunType {
    fn as_str(self) -> &'static str {
        match self {
            RunType::Chain => "chain",
            RunType::Llm => "llm",
            RunType::Tool => "tool",
        }
    }
}

/// A finished run. Ids come from the caller, who has the randomness.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: Uuid,
    pub name: String,
    pub run_type: RunType,
    pub inputs: Value,
    pub outputs: Option<Value>,
    pub error: Option<String>,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub metadata: Value,
}

impl Run {
    pub fn duration_ms(&self) -> i64 {
        (self.end - self.start).whole_milliseconds() as i64
    }

    pub fn status(&self) -> &'static str {
        if self.error.is_some() {
            "error"
        } else {
            "success"
        }
    }
}

/// A workflow's run and its children, in the order they started.
#[derive(Debug, Clone)]
pub struct Trace {
    pub root: Run,
    pub children: Vec<Run>,
}

/// LangSmith orders runs by `dotted_order`: start time in microseconds, then the run id,
/// each child's appended to its parent's after a dot.
fn dotted_segment(run: &Run) -> String {
    let format =
        format_description!("[year][month][day]T[hour][minute][second][subsecond digits:6]Z");
    let start = run.start.to_offset(time::UtcOffset::UTC);
    format!("{}{}", start.format(&format).unwrap_or_default(), run.id)
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn run_json(
    run: &Run,
    trace_id: Uuid,
    parent: Option<(&Run, &str)>,
    project: &str,
    secrets: &[&str],
) -> Value {
    let own = dotted_segment(run);
    let dotted_order = match parent {
        Some((_, parent_order)) => format!("{parent_order}.{own}"),
        None => own,
    };
    let mut metadata = run.metadata.clone();
    if let Value::Object(map) = &mut metadata {
        map.insert("duration_ms".into(), json!(run.duration_ms()));
        map.insert("status".into(), json!(run.status()));
    }
    json!({
        "id": run.id.to_string(),
        "trace_id": trace_id.to_string(),
        "parent_run_id": parent.map(|(p, _)| p.id.to_string()),
        "dotted_order": dotted_order,
        "name": run.name,
        "run_type": run.run_type.as_str(),
        "inputs": redact_json(&run.inputs, secrets),
        "outputs": run.outputs.as_ref().map(|o| redact_json(o, secrets)),
        // An error can carry a provider's words, which may echo a key the shell does not hold.
        "error": run.error.as_deref().map(|e| redact_token_shapes(&redact_text(e, secrets))),
        "start_time": rfc3339(run.start),
        "end_time": rfc3339(run.end),
        "session_name": project,
        "extra": { "metadata": redact_json(&metadata, secrets) },
    })
}

/// The body for `POST {endpoint}/runs/batch`, with every secret removed.
pub fn batch_body(trace: &Trace, project: &str, secrets: &[&str]) -> Value {
    let trace_id = trace.root.id;
    let root_order = dotted_segment(&trace.root);
    let mut post = vec![run_json(&trace.root, trace_id, None, project, secrets)];
    for child in &trace.children {
        post.push(run_json(
            child,
            trace_id,
            Some((&trace.root, &root_order)),
            project,
            secrets,
        ));
    }
    json!({ "post": post })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn run(id: u128, name: &str, start: OffsetDateTime, ms: i64, error: Option<&str>) -> Run {
        Run {
            id: Uuid::from_u128(id),
            name: name.into(),
            run_type: if id == 1 {
                RunType::Chain
            } else {
                RunType::Llm
            },
            inputs: json!({ "brief": "cats", "api_key": "sk-secret-value", "max_tokens": 1024 }),
            outputs: error
                .is_none()
                .then(|| json!({ "caption": "sk-secret-value in text" })),
            error: error.map(str::to_owned),
            start,
            end: start + time::Duration::milliseconds(ms),
            metadata: json!({ "workflow": name }),
        }
    }

    #[test]
    fn parent_and_child_share_a_trace_and_order() {
        let start = datetime!(2025-01-02 03:04:05.123456 UTC);
        let trace = Trace {
            root: run(1, "generate", start, 250, None),
            children: vec![run(
                2,
                "chat_model",
                start + time::Duration::milliseconds(5),
                200,
                Some("rejected: Authorization: Bearer abc123"),
            )],
        };
        let body = batch_body(&trace, "proj", &["sk-secret-value"]);
        let post = body["post"].as_array().unwrap();
        assert_eq!(post.len(), 2);
        let (root, child) = (&post[0], &post[1]);
        assert_eq!(
            root["dotted_order"],
            "20250102T030405123456Z00000000-0000-0000-0000-000000000001"
        );
        assert_eq!(
            child["dotted_order"],
            "20250102T030405123456Z00000000-0000-0000-0000-000000000001.20250102T030405128456Z00000000-0000-0000-0000-000000000002"
        );
        assert_eq!(child["parent_run_id"], root["id"]);
        assert_eq!(child["trace_id"], root["id"]);
        assert_eq!(root["parent_run_id"], Value::Null);
        assert_eq!(root["run_type"], "chain");
        assert_eq!(child["run_type"], "llm");
        assert_eq!(root["extra"]["metadata"]["duration_ms"], 250);
        assert_eq!(root["extra"]["metadata"]["status"], "success");
        assert_eq!(child["extra"]["metadata"]["status"], "error");
        assert_eq!(child["error"], "rejected: Authorization: Bearer [redacted]");
        assert_eq!(root["session_name"], "proj");
        assert_eq!(root["end_time"], "2025-01-02T03:04:05.373456Z");
        let text = body.to_string();
        assert!(!text.contains("sk-secret-value"), "{text}");
        assert_eq!(root["outputs"]["caption"], "[redacted] in text");
        assert_eq!(root["inputs"]["api_key"], "[redacted]");
        assert_eq!(child["inputs"]["max_tokens"], 1024);
    }
}
