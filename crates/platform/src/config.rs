//! Reading `[vars]` and secrets, where an empty value counts as unset.

use worker::Env;

/// A plain variable or a secret; `None` when unset or blank.
pub fn optional(env: &Env, name: &str) -> Option<String> {
    // Vars and secrets are both plain strings on `env`: one read, no error built for a
    // setting that is simply absent.
    let value = worker::js_sys::Reflect::get(env.as_ref(), &name.into())
        .ok()?
        .as_string()?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// A variable with a default, for settings that always have a sensible value.
pub fn or_default(env: &Env, name: &str, default: &str) -> String {
    optional(env, name).unwrap_or_else(|| default.to_owned())
}

/// A numeric setting that is not a number (settings are not secrets: its value is shown).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting {name} is {value:?}, expected a number")]
pub struct NotANumber {
    pub name: String,
    pub value: String,
}

/// A numeric setting; a value that does not parse is a configuration error worth reporting.
pub fn number<T: std::str::FromStr>(env: &Env, name: &str, default: T) -> Result<T, NotANumber> {
    match optional(env, name) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| NotANumber {
            name: name.to_owned(),
            value: text,
        }),
    }
}
