//! The message on `PUBLISH_QUEUE`, `IMAGE_QUEUE` and `FAILED_QUEUE`: a contract between
//! independently deployed Workers, so parsing is strict and never panics.
//!
//! Wire form, fixed by the design:
//! `{ "id": "<draft uuid>", "action": "publish" | "retry" | "generate_image" | "fit_uploads", "attempt": 1,
//! "requestedAt": "<RFC 3339>" }`

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::draft::DraftId;

/// What the receiving consumer is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Publish an approved draft (first attempt, from approval or the scheduler).
    Publish,
    /// Publish again after a failed attempt; `attempt` counts up.
    Retry,
    /// Generate the draft's image.
    GenerateImage,
    /// Fit the draft's uploaded photos still waiting (its items `Pending`) for Instagram.
    FitUploads,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::Publish,
        Action::Retry,
        Action::GenerateImage,
        Action::FitUploads,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Retry => "retry",
            Action::GenerateImage => "generate_image",
            Action::FitUploads => "fit_uploads",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub id: DraftId,
    pub action: Action,
    /// 1 for the first try; each retry sends a new message with the next number.
    pub attempt: u32,
    /// When the work was asked for; the consumer measures queue latency from it.
    pub requested_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("message is not a JSON object")]
    NotAnObject,
    #[error("message is missing the field {0:?}")]
    Missing(&'static str),
    #[error("message has an unknown field {0:?}")]
    UnknownField(String),
    #[error("message field {field:?} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// The wire form's fields, each as sent: a field outside these four is refused by serde
/// (`deny_unknown_fields`), one missing is `None`, and each is read by its own rule below so
/// that an error names the field and says what is wrong with it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Wire {
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    action: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    attempt: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    requested_at: Option<Value>,
}

/// A field that is there, `null` included (which is then not a string, not a number).
fn present<'de, D: serde::Deserializer<'de>>(field: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(field).map(Some)
}

impl Wire {
    fn read(value: &Value) -> Result<Self, MessageError> {
        if !value.is_object() {
            return Err(MessageError::NotAnObject);
        }
        Self::deserialize(value).map_err(|error| {
            // The one error an object can give here, a field outside the struct, in serde's
            // words: "unknown field `name`, expected one of ...".
            let text = error.to_string();
            match text
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.rsplit_once("`, expected"))
            {
                Some((name, _)) => MessageError::UnknownField(name.to_owned()),
                None => MessageError::NotAnObject,
            }
        })
    }
}

impl QueueMessage {
    pub fn new(id: DraftId, action: Action, attempt: u32, requested_at: OffsetDateTime) -> Self {
        Self {
            id,
            action,
            attempt,
            requested_at,
        }
    }

    /// The message for the next try of the same work.
    pub fn next_attempt(&self, requested_at: OffsetDateTime) -> Self {
        let action = match self.action {
            Action::Publish | Action::Retry => Action::Retry,
            Action::GenerateImage => Action::GenerateImage,
            Action::FitUploads => Action::FitUploads,
        };
        Self {
            id: self.id,
            action,
            attempt: self.attempt.saturating_add(1),
            requested_at,
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "id": self.id.to_string(),
            "action": self.action.as_str(),
            "attempt": self.attempt,
            "requestedAt": format_rfc3339(self.requested_at),
        })
    }

    /// Parses the wire form. Unknown fields are rejected: a message from a newer producer
    /// must go to the dead-letter queue rather than be half understood.
    pub fn parse(value: &Value) -> Result<Self, MessageError> {
        let wire = Wire::read(value)?;
        let id = string_field(&wire.id, "id")?;
        let id = DraftId::parse(id).map_err(|e| invalid("id", e.to_string()))?;
        let action = string_field(&wire.action, "action")?;
        let action = Action::ALL
            .into_iter()
            .find(|a| a.as_str() == action)
            .ok_or_else(|| {
                invalid(
                    "action",
                    format!("{action:?} is not one of publish, retry, generate_image, fit_uploads"),
                )
            })?;
        let attempt = wire
            .attempt
            .as_ref()
            .ok_or(MessageError::Missing("attempt"))?;
        let attempt = attempt
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| invalid("attempt", format!("{attempt} is not a whole number from 1")))?;
        let requested_at = string_field(&wire.requested_at, "requestedAt")?;
        let requested_at = crate::timestamp::parse_rfc3339(requested_at)
            .map_err(|e| invalid("requestedAt", format!("{requested_at:?} {e}")))?;
        Ok(Self {
            id,
            action,
            attempt,
            requested_at,
        })
    }

    pub fn parse_str(text: &str) -> Result<Self, MessageError> {
        let value: Value = serde_json::from_str(text).map_err(|_| MessageError::NotAnObject)?;
        Self::parse(&value)
    }
}

fn string_field<'a>(
    value: &'a Option<Value>,
    field: &'static str,
) -> Result<&'a str, MessageError> {
    let value = value.as_ref().ok_or(MessageError::Missing(field))?;
    value
        .as_str()
        .ok_or_else(|| invalid(field, format!("{value} is not a string")))
}

fn invalid(field: &'static str, reason: String) -> MessageError {
    MessageError::Invalid { field, reason }
}

/// RFC 3339 in UTC with whole seconds; the form every time in this system is written in.
/// `at` in UTC with milliseconds, always three digits (`2026-02-14T09:12:45.120Z`), so that
/// such texts order as their times do: for a column whose order within a second matters.
pub fn format_rfc3339_millis(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let seconds = format_rfc3339(at);
    let stem = seconds.strip_suffix('Z').unwrap_or(&seconds);
    format!("{stem}.{:03}Z", at.millisecond())
}

pub fn format_rfc3339(at: OffsetDateTime) -> String {
    let at = at
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at);
    at.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn times_with_milliseconds_order_as_text_as_they_do_in_time() {
        let at = datetime!(2026-02-14 09:12:45.1204 UTC);
        assert_eq!(format_rfc3339_millis(at), "2026-02-14T09:12:45.120Z");
        let whole = datetime!(2026-02-14 09:12:45 UTC);
        assert_eq!(format_rfc3339_millis(whole), "2026-02-14T09:12:45.000Z");
        let later = datetime!(2026-02-14 09:12:45.9 +09:00);
        assert!(format_rfc3339_millis(whole) < format_rfc3339_millis(at));
        assert_eq!(format_rfc3339_millis(later), "2026-02-14T00:12:45.900Z");
    }

    const ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    fn check(input: Value, expected: Result<(Action, u32), MessageError>) {
        let parsed = QueueMessage::parse(&input).map(|m| (m.action, m.attempt));
        assert_eq!(parsed, expected, "{input}");
    }

    fn message(action: &str, attempt: Value, requested_at: &str) -> Value {
        json!({ "id": ID, "action": action, "attempt": attempt, "requestedAt": requested_at })
    }

    #[test]
    fn parses_every_action() {
        check(
            message("publish", json!(1), "2025-01-01T00:00:00Z"),
            Ok((Action::Publish, 1)),
        );
        check(
            message("retry", json!(3), "2025-01-01T09:00:00+09:00"),
            Ok((Action::Retry, 3)),
        );
        check(
            message("generate_image", json!(1), "2025-01-01T00:00:00.123Z"),
            Ok((Action::GenerateImage, 1)),
        );
        check(
            message("fit_uploads", json!(2), "2025-01-01T00:00:00Z"),
            Ok((Action::FitUploads, 2)),
        );
    }

    #[test]
    fn rejects_bad_messages_with_a_reason() {
        let bad_action = Err(invalid(
            "action",
            r#""delete" is not one of publish, retry, generate_image, fit_uploads"#.into(),
        ));
        check(
            message("delete", json!(1), "2025-01-01T00:00:00Z"),
            bad_action,
        );
        check(
            message("Publish", json!(1), "2025-01-01T00:00:00Z"),
            Err(invalid(
                "action",
                r#""Publish" is not one of publish, retry, generate_image, fit_uploads"#.into(),
            )),
        );
        check(
            message("publish", json!(0), "2025-01-01T00:00:00Z"),
            Err(invalid("attempt", "0 is not a whole number from 1".into())),
        );
        check(
            message("publish", json!(-1), "2025-01-01T00:00:00Z"),
            Err(invalid("attempt", "-1 is not a whole number from 1".into())),
        );
        check(
            message("publish", json!(1.5), "2025-01-01T00:00:00Z"),
            Err(invalid(
                "attempt",
                "1.5 is not a whole number from 1".into(),
            )),
        );
        check(
            message("publish", json!("1"), "2025-01-01T00:00:00Z"),
            Err(invalid(
                "attempt",
                "\"1\" is not a whole number from 1".into(),
            )),
        );
        check(
            message("publish", json!(5_000_000_000u64), "2025-01-01T00:00:00Z"),
            Err(invalid(
                "attempt",
                "5000000000 is not a whole number from 1".into(),
            )),
        );
        check(
            message("publish", json!(1), "yesterday"),
            Err(invalid(
                "requestedAt",
                "\"yesterday\" is not an RFC 3339 date-time with a UTC offset".into(),
            )),
        );
        check(
            message("publish", json!(1), "2025-01-01 00:00:00"),
            Err(invalid(
                "requestedAt",
                "\"2025-01-01 00:00:00\" is not an RFC 3339 date-time with a UTC offset".into(),
            )),
        );
        // A time whose UTC year passes 9999 would overflow on its way to UTC.
        check(
            message("publish", json!(1), "9999-12-31T23:30:00-01:00"),
            Err(invalid(
                "requestedAt",
                "\"9999-12-31T23:30:00-01:00\" is outside the years 2010 to 2100 (in UTC)".into(),
            )),
        );
        check(json!({ "id": "42", "action": "publish", "attempt": 1, "requestedAt": "2025-01-01T00:00:00Z" }), Err(invalid("id", r#""42" is not a draft id (expected a UUID like 123e4567-e89b-42d3-a456-426614174000)"#.into())));
        check(
            json!({ "id": 42, "action": "publish", "attempt": 1, "requestedAt": "2025-01-01T00:00:00Z" }),
            Err(invalid("id", "42 is not a string".into())),
        );
        check(
            json!({ "action": "publish", "attempt": 1, "requestedAt": "2025-01-01T00:00:00Z" }),
            Err(MessageError::Missing("id")),
        );
        check(
            json!({ "id": ID, "attempt": 1, "requestedAt": "2025-01-01T00:00:00Z" }),
            Err(MessageError::Missing("action")),
        );
        check(
            json!({ "id": ID, "action": "publish", "requestedAt": "2025-01-01T00:00:00Z" }),
            Err(MessageError::Missing("attempt")),
        );
        check(
            json!({ "id": ID, "action": "publish", "attempt": 1 }),
            Err(MessageError::Missing("requestedAt")),
        );
        check(
            json!({ "id": ID, "action": "publish", "attempt": 1, "requestedAt": "2025-01-01T00:00:00Z", "v": 2 }),
            Err(MessageError::UnknownField("v".into())),
        );
        check(
            json!({ "id": ID, "action": "publish", "attempt": 1, "requestedAt": "2025-01-01T00:00:00Z", "a`b": 2 }),
            Err(MessageError::UnknownField("a`b".into())),
        );
        check(
            json!({ "id": null, "action": "publish", "attempt": 1, "requestedAt": "2025-01-01T00:00:00Z" }),
            Err(invalid("id", "null is not a string".into())),
        );
        check(json!([ID]), Err(MessageError::NotAnObject));
        check(json!(null), Err(MessageError::NotAnObject));
        assert_eq!(
            QueueMessage::parse_str("{not json"),
            Err(MessageError::NotAnObject)
        );
    }

    #[test]
    fn round_trips_through_the_wire_form() {
        let id = DraftId::parse(ID).unwrap();
        let sent = QueueMessage::new(
            id,
            Action::Publish,
            1,
            datetime!(2025-01-01 09:30:00 +09:00),
        );
        let wire = sent.to_json();
        assert_eq!(
            wire,
            json!({ "id": ID, "action": "publish", "attempt": 1, "requestedAt": "2025-01-01T00:30:00Z" })
        );
        assert_eq!(QueueMessage::parse(&wire), Ok(sent.clone()));
        let next = sent.next_attempt(datetime!(2025-01-01 00:31:00 UTC));
        assert_eq!((next.action, next.attempt, next.id), (Action::Retry, 2, id));
        let image = QueueMessage::new(
            id,
            Action::GenerateImage,
            1,
            datetime!(2025-01-01 00:00 UTC),
        );
        assert_eq!(
            image.next_attempt(datetime!(2025-01-01 00:00 UTC)).action,
            Action::GenerateImage
        );
    }
}
