//! Keeps secrets out of everything that leaves the Worker: traces, logs and error messages.
//!
//! Three ways, each for what the caller knows: [`redact_text`] removes secrets whose values
//! the shell holds (its own keys), [`redact_json`] also blanks the values of secret-named keys
//! ([`is_secret_key`]), and [`redact_token_shapes`] removes what looks like a token in text
//! that came from outside (a provider's error message that echoes a request).

use serde_json::Value;

pub const REDACTED: &str = "[redacted]";

/// Words that make a key secret. A word that ends with one counts too (`accesstoken`,
/// `setcookie`), but not a plural: `tokens` counts them.
const SECRET_WORDS: [&str; 10] = [
    "authorization",
    "bearer",
    "token",
    "secret",
    "password",
    "passphrase",
    "apikey",
    "cookie",
    "credential",
    "credentials",
];

/// Words that make the `key` right after them a secret: `api_key`, `x-api-key`, `apiKey`.
const KEY_KINDS: [&str; 5] = ["api", "private", "access", "signing", "encryption"];

/// A key ending with one of these words holds a number about secrets, not a secret:
/// `promptTokenCount`, `token_limit`.
const MEASURES: [&str; 3] = ["count", "limit", "length"];

/// Whether a JSON key or header name names a secret, decided by its words: split on anything
/// but letters and digits and at camelCase boundaries, lower-cased. `access_token`,
/// `accessToken`, `x-api-key`, `OPENAI_API_KEY` and `Authorization` are secret; `max_tokens`
/// and `prompt_tokens` are not.
pub fn is_secret_key(key: &str) -> bool {
    let words = words(key);
    if words
        .last()
        .is_some_and(|last| MEASURES.contains(&last.as_str()))
    {
        return false;
    }
    words
        .iter()
        .any(|word| SECRET_WORDS.iter().any(|secret| word.ends_with(secret)))
        || words
            .windows(2)
            .any(|pair| pair[1] == "key" && KEY_KINDS.contains(&pair[0].as_str()))
}

/// The lower-cased words of a key: `OPENAI_API_KEY`, `openaiApiKey` and `APIKey` split into
/// `openai`, `api`, `key` or `api`, `key`.
fn words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    for part in key.split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<char> = part.chars().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (before, here) = (chars[i - 1], chars[i]);
            let lower_next = chars.get(i + 1).is_some_and(|c| c.is_lowercase());
            // `apiKey` splits before `K`; `APIKey` before `K` too, as `Ke` starts a word.
            let boundary = here.is_uppercase()
                && (before.is_lowercase()
                    || before.is_ascii_digit()
                    || (before.is_uppercase() && lower_next));
            if boundary {
                words.push(chars[start..i].iter().collect::<String>().to_lowercase());
                start = i;
            }
        }
        if start < chars.len() {
            words.push(chars[start..].iter().collect::<String>().to_lowercase());
        }
    }
    words
}

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

/// Redacts a JSON value: secret-named keys ([`is_secret_key`]) lose their values, strings
/// lose any secret. A `null` stays `null`, so a trace still shows that no key was set.
pub fn redact_json(value: &Value, secrets: &[&str]) -> Value {
    match value {
        Value::String(text) => Value::String(redact_text(text, secrets)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| redact_json(v, secrets)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| {
                    let value = if is_secret_key(key) && !v.is_null() {
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

/// Removes whatever looks like a token or key from text the pipeline did not write, such as a
/// provider's error message that echoes the request:
/// - the values of `access_token=`, `api_key=`, `client_secret=` and the like, URL-encoded
///   (`%3D`) or as JSON (`"access_token":"..."`);
/// - Meta tokens (`EAA...`, `IGQ...`, `IGAA...`, long), OpenAI-style keys (`sk-...`, masked
///   ones such as `sk-proj-****abcd` included) and LangSmith keys (`lsv2_...`), wherever they
///   stand;
/// - the word after `Bearer`, whatever it holds.
///
/// Whitespace is kept as it was, so a caller that cuts the text redacts first and no stub of a
/// token survives the cut in a shape no longer recognised.
pub fn redact_token_shapes(text: &str) -> String {
    redact_after_bearer(&redact_shapes(&redact_values(text)))
}

/// The values after a secret-named parameter or JSON field.
fn redact_values(text: &str) -> String {
    const NAMES: [&str; 3] = ["token", "key", "secret"];
    const SEPARATORS: [&str; 4] = ["=", "%3d", "\":\"", "\": \""];
    let markers: Vec<String> = NAMES
        .iter()
        .flat_map(|name| SEPARATORS.iter().map(move |sep| format!("{name}{sep}")))
        .collect();
    // ASCII lowercasing keeps every byte offset, so positions found in `lower` fit `text`.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    loop {
        let next = markers
            .iter()
            .filter_map(|marker| lower[from..].find(marker).map(|i| (from + i, marker.len())))
            .min();
        let Some((at, marker_len)) = next else { break };
        let start = at + marker_len;
        let len = text[start..]
            .find(|c: char| !is_value_char(c))
            .unwrap_or(text.len() - start);
        if len > 0 {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = start + len;
        }
        from = start + len;
    }
    out.push_str(&text[copied..]);
    out
}

/// Meta app tokens are `id|secret`; `%` keeps an encoded value whole.
fn is_value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '|' | '%')
}

/// Tokens recognised by their shape, in runs of letters, digits, `-` and `_`.
fn redact_shapes(text: &str) -> String {
    let is_run = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let run = rest.find(|c: char| !is_run(c)).unwrap_or(rest.len());
        if run == 0 {
            let next = rest.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..next]);
            rest = &rest[next..];
            continue;
        }
        // OpenAI echoes a wrong key masked, `sk-proj-abc****wxyz`: the mask and the characters
        // after it belong to the key.
        let masked = rest
            .find(|c: char| !(is_run(c) || c == '*'))
            .unwrap_or(rest.len());
        let end = if is_key_shaped(&rest[..masked]) {
            masked
        } else if is_meta_token(&rest[..run]) {
            run
        } else {
            out.push_str(&rest[..run]);
            rest = &rest[run..];
            continue;
        };
        out.push_str(REDACTED);
        rest = &rest[end..];
    }
    out
}

/// Facebook tokens start with `EAA`, Instagram ones with `IGQ` or `IGAA`, and both are long.
fn is_meta_token(word: &str) -> bool {
    const PREFIXES: [&str; 3] = ["EAA", "IGQ", "IGAA"];
    const MIN_LEN: usize = 32;
    word.len() >= MIN_LEN && PREFIXES.iter().any(|p| word.starts_with(p))
}

/// OpenAI (and Anthropic) keys start with `sk-`, LangSmith ones with `lsv2_`. Any part of a
/// key is too much, so a short one counts.
fn is_key_shaped(word: &str) -> bool {
    ["sk-", "lsv2_"]
        .iter()
        .any(|prefix| word.len() > prefix.len() && word.starts_with(prefix))
}

/// The whitespace-separated word after `Bearer` (also `<p>Bearer`, `Bearer:`) goes whole: a
/// token may hold characters no shape expects.
fn redact_after_bearer(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut after_bearer = false;
    let mut rest = text;
    loop {
        let space = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        out.push_str(&rest[..space]);
        rest = &rest[space..];
        if rest.is_empty() {
            return out;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        out.push_str(if after_bearer { REDACTED } else { word });
        after_bearer = word
            .trim_end_matches(|c: char| !c.is_alphanumeric())
            .to_ascii_lowercase()
            .ends_with("bearer");
        rest = &rest[end..];
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
        check(
            json!({ "usage": { "prompt_tokens": 100, "completion_tokens": 50 }, "max_tokens": 1024 }),
            &[],
            json!({ "usage": { "prompt_tokens": 100, "completion_tokens": 50 }, "max_tokens": 1024 }),
        );
        check(
            json!({ "headers": { "x-api-key": "lsv2_x", "content-type": "application/json" } }),
            &[],
            json!({ "headers": { "x-api-key": "[redacted]", "content-type": "application/json" } }),
        );
    }

    fn check_key(key: &str, secret: bool) {
        assert_eq!(is_secret_key(key), secret, "{key:?}");
    }

    #[test]
    fn secret_keys_by_their_words() {
        for (key, secret) in [
            ("max_tokens", false),
            ("prompt_tokens", false),
            ("completion_tokens", false),
            ("total_tokens", false),
            ("tokens", false),
            ("maxTokens", false),
            ("input_tokens", false),
            ("promptTokenCount", false),
            ("token_limit", false),
            ("tokenizer", false),
            ("keywords", false),
            ("monkey", false),
            ("key", false),
            ("idempotency-key", false),
            ("brief", false),
            ("", false),
            ("access_token", true),
            ("accessToken", true),
            ("accesstoken", true),
            ("refresh_token", true),
            ("token", true),
            ("TOKEN", true),
            ("langsmithToken", true),
            ("x-api-key", true),
            ("apiKey", true),
            ("APIKey", true),
            ("apikey", true),
            ("OPENAI_API_KEY", true),
            ("openai.api.key", true),
            ("Authorization", true),
            ("proxy-authorization", true),
            ("client_secret", true),
            ("clientSecret", true),
            ("password", true),
            ("db_password", true),
            ("Set-Cookie", true),
            ("private_key", true),
            ("AWS_ACCESS_KEY_ID", true),
            ("oauth2Token", true),
        ] {
            check_key(key, secret);
        }
    }

    fn check_shapes(text: &str, expect: &str) {
        assert_eq!(redact_token_shapes(text), expect, "{text:?}");
    }

    const IG_TOKEN: &str = "IGAAJZBxyz0123456789abcdefGHIJKLmnopQRSTuvwx_yz-0123456789";
    const FB_TOKEN: &str = "EAAGm0PX4ZCpsBAKZCZAb3ZBo0abcdefghijklmnopqrstuvwxyz0123";

    #[test]
    fn token_values_after_their_names() {
        check_shapes(
            &format!(
                "GET https://graph.instagram.com/v25.0/me?fields=id&access_token={IG_TOKEN}&x=1"
            ),
            "GET https://graph.instagram.com/v25.0/me?fields=id&access_token=[redacted]&x=1",
        );
        check_shapes("bad ACCESS_TOKEN=abc.", "bad ACCESS_TOKEN=[redacted]");
        check_shapes(
            "url: https%3A%2F%2Fx%3Faccess_token%3Dabc%26a%3Db end",
            "url: https%3A%2F%2Fx%3Faccess_token%3D[redacted] end",
        );
        check_shapes(
            r#"request {"access_token":"abc","a":1} {"token": "def"}"#,
            r#"request {"access_token":"[redacted]","a":1} {"token": "[redacted]"}"#,
        );
        check_shapes(
            "input_token=123456|abcdefSECRET and fb_exchange_token=short",
            "input_token=[redacted] and fb_exchange_token=[redacted]",
        );
        check_shapes(
            "?api_key=AIzaSyD-x&client_secret=c0ffee&key=k",
            "?api_key=[redacted]&client_secret=[redacted]&key=[redacted]",
        );
        check_shapes(
            "token= is empty, access_token=",
            "token= is empty, access_token=",
        );
    }

    #[test]
    fn tokens_and_keys_by_their_shape() {
        check_shapes(
            &format!("the token ({FB_TOKEN}) is invalid, also {IG_TOKEN}!"),
            "the token ([redacted]) is invalid, also [redacted]!",
        );
        check_shapes(
            "Incorrect API key provided: sk-proj-abc*****wxyz. You can find your API key at https://x.",
            "Incorrect API key provided: [redacted]. You can find your API key at https://x.",
        );
        check_shapes("token 'sk-abc' is bad", "token '[redacted]' is bad");
        check_shapes(
            "invalid credentials (api_key sk-test-e2e-7Qx2Lk9PzR4mWv8N)",
            "invalid credentials (api_key [redacted])",
        );
        check_shapes("key:sk-ant-api03-x", "key:[redacted]");
        check_shapes("key sk-****abcd.", "key [redacted].");
        check_shapes(
            "the key lsv2_pt_abc_123 is wrong",
            "the key [redacted] is wrong",
        );
        // Ordinary words, ids, short capitalised words and words with `sk-` inside stay.
        check_shapes(
            "EAA IGQ Error validating access token: Session has expired; media 17889455560051444",
            "EAA IGQ Error validating access token: Session has expired; media 17889455560051444",
        );
        check_shapes(
            "task-force desk-lamp sk- ask-me",
            "task-force desk-lamp sk- ask-me",
        );
        check_shapes(
            "**bold** 春の新作　☕  #カフェ",
            "**bold** 春の新作　☕  #カフェ",
        );
    }

    #[test]
    fn the_word_after_bearer() {
        check_shapes(
            "header Authorization: Bearer abc.def-ghi rejected",
            "header Authorization: Bearer [redacted] rejected",
        );
        check_shapes(
            "Authorization: bearer\nab/c+d==",
            "Authorization: bearer\n[redacted]",
        );
        check_shapes(
            &format!("<p>Bearer {FB_TOKEN}</p> x"),
            "<p>Bearer [redacted] x",
        );
        check_shapes("Bearer: a1 b2", "Bearer: [redacted] b2");
        check_shapes("ends with Bearer", "ends with Bearer");
    }
}
