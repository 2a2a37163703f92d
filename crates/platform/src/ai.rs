//! The Workers AI binding, called with a plain JS object as input: the `worker` crate's
//! `Ai::run` serialises JSON maps as JS `Map`s, which the binding does not read.

use serde_json::Value;
use worker::Env;
use worker::js_sys::{self, JSON, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;

/// The binding's name, the same in every Worker that has one.
pub const AI_BINDING: &str = "AI";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AiError {
    /// The binding is missing or unusable; the text says how.
    Binding(String),
    /// `run` threw: the binding's message, which carries Workers AI's error code.
    Failed(String),
}

/// `env.AI.run(model, input)`'s answer, as the binding gives it (an object, a stream, bytes).
/// `config` names the Worker's wrangler config, for the hint when the binding is missing.
pub async fn run(env: &Env, model: &str, input: &Value, config: &str) -> Result<JsValue, AiError> {
    let fail = |what: &str| AiError::Binding(format!("Workers AI binding {AI_BINDING}: {what}"));
    let env_value: &JsValue = env.as_ref();
    let binding = Reflect::get(env_value, &AI_BINDING.into()).map_err(|_| fail("missing"))?;
    if binding.is_undefined() {
        return Err(fail(&format!(
            "not bound; add [ai] binding = \"AI\" to {config}"
        )));
    }
    let run: js_sys::Function = Reflect::get(&binding, &"run".into())
        .and_then(|f| f.dyn_into())
        .map_err(|_| fail("has no run method"))?;
    let input = JSON::parse(&input.to_string()).map_err(|_| fail("input is not JSON"))?;
    let promise: js_sys::Promise = run
        .call2(&binding, &JsValue::from_str(model), &input)
        .and_then(|p| p.dyn_into())
        .map_err(|_| fail("run did not return a promise"))?;
    JsFuture::from(promise).await.map_err(|error| {
        AiError::Failed(
            error
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .or_else(|| error.as_string())
                .unwrap_or_else(|| "the call failed".into()),
        )
    })
}
