//! Review events to LangSmith: each decision as a run, and, when a person changed the
//! generated text before approving it, the pair (generated, approved) as an example in a
//! dataset, so the prompts can be evaluated against human edits. Everything goes through
//! `waitUntil` after the answer: LangSmith being down never blocks a review.

use platform::config::or_default;
use platform::store::DraftRow;
use platform::trace::{LangSmith, Tracer};
use serde_json::{Value, json};
use worker::{Context, Env};

use crate::auth::Actor;

/// Records `kind` (edit, approve, comment, ...) done by `actor` to `row`.
pub fn event(env: &Env, ctx: &Context, actor: &Actor, kind: &str, row: &DraftRow, details: Value) {
    let Some(langsmith) = LangSmith::from_env(env) else {
        return;
    };
    let tracer = Tracer::start(
        &format!("review.{kind}"),
        json!({ "draftId": row.id, "revision": row.revision, "reviewer": actor.name }),
        json!({ "workflow": "review", "decision": kind }),
    );
    let trace = tracer.finish(Ok(json!({ "status": row.status, "details": details })));
    let secrets = secrets(env);
    ctx.wait_until(async move {
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        langsmith.send(&trace, &secrets).await;
    });
}

/// After an approval: the example (request, generated text) -> approved text, when the person
/// changed something.
pub fn learn_from_approval(env: &Env, ctx: &Context, row: &DraftRow) {
    let Some(langsmith) = LangSmith::from_env(env) else {
        return;
    };
    let (Some(generated), Some(approved)) = (row.generated_text(), row.approved_text()) else {
        return;
    };
    if generated == approved {
        return;
    }
    let request: Value = row
        .request
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let example = json!({
        "inputs": { "request": request, "generated": generated },
        "outputs": { "approved": approved },
        "metadata": {
            "draftId": row.id,
            "revision": row.approved_revision,
            "approvedBy": row.approved_by,
            "writer": row.provider,
        },
    });
    let dataset = or_default(env, "LANGSMITH_DATASET", "instagram-pipeline-approvals");
    let secrets = secrets(env);
    ctx.wait_until(async move {
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        langsmith.add_example(&dataset, example, &secrets).await;
    });
}

fn secrets(env: &Env) -> Vec<String> {
    ["API_TOKEN", "REVIEWERS", "OPENAI_API_KEY"]
        .into_iter()
        .filter_map(|name| platform::config::optional(env, name))
        .flat_map(|value| {
            // REVIEWERS holds name:token pairs: each token is a secret of its own.
            let tokens: Vec<String> = value
                .split(['\n', ','])
                .filter_map(|entry| entry.split_once(':').map(|(_, t)| t.trim().to_owned()))
                .collect();
            std::iter::once(value).chain(tokens)
        })
        .collect()
}
