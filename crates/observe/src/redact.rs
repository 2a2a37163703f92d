//! Keeps secrets out of everything that leaves the Worker: traces, logs and error messages.

use serde_json::Value;

pub const REDACTED: &str = "[redacted]";

/// Field names whose values are never reported, whatever they hold.
const SECRET_KEYS: [&str; 7] = [
    "authorization",
    "api_key",
    "apikey",
    "token",
    "secret",
    "password",
    "x-api-key",
];

/// Replaces every occurrence of each secret in `text`. Secrets shorter than 4 characters are
/// ignored: they would blank out ordinary words and cannot be real keys.
pub fn redact_text(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

/// Redacts a JSON value: secret-looking keys lose their values, strings lose any secret.
pub fn redact_json(value: &Value, secrets: &[&str]) -> Value {
    match value {
        Value::String(text) => Value::String(redact_text(text, secrets)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| redact_json(v, secrets)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| {
                    let lower = key.to_ascii_lowercase();
                    let value = if SECRET_KEYS.iter().any(|s| lower.contains(s)) && !v.is_null() {
                        Value::String(REDACTED.into())
                    } else {
                        redact_json(v, secrets)
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(input: Value, secrets: &[&str], expected: Value) {
        assert_eq!(redact_json(&input, secrets), expected);
    }

    #[test]
    fn removes_secrets_wherever_they_are() {
        check(
            json!("key sk-live-123456 leaked"),
            &["sk-live-123456"],
            json!("key [redacted] leaked"),
        );
        check(
            json!({ "Authorization": "Bearer x" }),
            &[],
            json!({ "Authorization": "[redacted]" }),
        );
        check(
            json!({ "openai_api_key": null }),
            &[],
            json!({ "openai_api_key": null }),
        );
        check(
            json!({ "nested": [{ "msg": "token=abcdEFGH", "n": 3 }] }),
            &["abcdEFGH"],
            json!({ "nested": [{ "msg": "token=[redacted]", "n": 3 }] }),
        );
        check(
            json!({ "brief": "a cat" }),
            &["a"],
            json!({ "brief": "a cat" }),
        );
        check(
            json!({ "langsmithToken": "t" }),
            &[],
            json!({ "langsmithToken": "[redacted]" }),
        );
    }
}
