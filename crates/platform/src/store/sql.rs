//! The SQL the store renders and the values it binds, apart from the binding so the host
//! tests read them.

use domain::change::{Guard, Set, Value, WritePlan};
use domain::draft::DraftId;
use worker::wasm_bindgen::JsValue;

pub(super) use crate::d1::{optional_text, text, time};

/// What D1 is given for each value a statement binds.
pub(super) fn bind(values: &[Value]) -> Vec<JsValue> {
    values
        .iter()
        .map(|value| match value {
            Value::Null => JsValue::NULL,
            Value::Text(text) => JsValue::from_str(text),
            Value::Int(n) => JsValue::from_f64(*n as f64),
        })
        .collect()
}

/// `UPDATE drafts SET .. WHERE id = ? AND <guards> RETURNING *`, with numbered parameters.
pub(super) fn render(id: DraftId, plan: &WritePlan) -> (String, Vec<Value>) {
    let mut binds = Vec::new();
    let mut param = |value: &Value| {
        binds.push(value.clone());
        format!("?{}", binds.len())
    };
    let sets: Vec<String> = plan
        .sets
        .iter()
        .map(|(column, set)| match set {
            // A cleared column reads as such in the statement (and in D1's statement log).
            Set::To(Value::Null) => format!("{column} = NULL"),
            Set::To(value) => format!("{column} = {}", param(value)),
            Set::CopyOf(other) => format!("{column} = {other}"),
            Set::Increment => format!("{column} = {column} + 1"),
            Set::KeepOr(value) => format!("{column} = COALESCE({column}, {})", param(value)),
        })
        .collect();
    let mut guards = vec![format!("id = {}", param(&Value::Text(id.to_string())))];
    guards.extend(plan.guards.iter().map(|guard| match guard {
        Guard::Equals(column, value) => format!("{column} = {}", param(value)),
        Guard::Is(column, value) => format!("{column} IS {}", param(value)),
        Guard::AtMost(column, value) => {
            format!("({column} IS NULL OR {column} <= {})", param(value))
        }
        Guard::IsNull(column) => format!("{column} IS NULL"),
        Guard::NotNull(column) => format!("{column} IS NOT NULL"),
        Guard::MediaUnclaimed(value) => format!(
            "NOT EXISTS (SELECT 1 FROM drafts AS other WHERE other.media_id = {})",
            param(value)
        ),
    }));
    let sql = format!(
        "UPDATE drafts SET {} WHERE {} RETURNING *",
        sets.join(", "),
        guards.join(" AND ")
    );
    (sql, binds)
}

#[cfg(test)]
mod tests;
