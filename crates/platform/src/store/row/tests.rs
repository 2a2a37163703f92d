use serde_json::{Value, json};

use super::*;
use crate::d1::Rows;

/// A row as D1 returns it for `SELECT *`: every column, unset ones as null.
fn stored() -> Value {
    serde_json::from_str(
        r#"{
        "id": "0190f3c2-7a3b-7c4d-8e5f-0123456789ab",
        "status": "approved", "revision": 2, "language": "en", "provider": "template",
        "caption": "Hello", "hashtags": "[\"cafe\"]", "alt_text": "A cup",
        "generated_caption": null, "generated_hashtags": null, "generated_alt_text": null,
        "request": null, "writer": null,
        "image_status": "ready", "image_key": "images/a.jpg", "image_error": null,
        "image_prompt": "a cup", "image_claim": null, "image_lease_expires_at": null,
        "image_requested_at": "2026-03-01T10:00:00Z", "image_requests": 1,
        "scheduled_at": "2026-03-02T09:00:00Z",
        "approved_revision": 2, "approved_caption": "Hello", "approved_hashtags": "[]",
        "approved_alt_text": "A cup", "approved_image_key": "images/a.jpg",
        "approved_at": "2026-03-01T11:00:00Z", "approved_by": "ana",
        "publish_attempts": 1, "publish_claim": null, "claim_expires_at": null,
        "publish_due_at": null, "publish_hold": null, "publish_hold_until": null,
        "container_id": "c1", "publish_sent_container": "c1",
        "publish_sent_at": "2026-03-02T09:00:01.250Z", "container_polls": 2,
        "throttled_since": null, "unresolved_since": null, "media_id": null,
        "permalink": null, "last_error": null, "reminded_at": null, "account_id": null,
        "created_at": "2026-03-01T10:00:00Z", "updated_at": "2026-03-01T11:00:00Z"
    }"#,
    )
    .unwrap()
}

fn read(row: &Value) -> worker::Result<Option<DraftRow>> {
    Rows::new(true, None, json!([row]).to_string()).first::<DraftRow>()
}

#[test]
fn a_stored_row_reads_into_typed_status_text_times_and_publish_record() {
    let row = read(&stored()).unwrap().unwrap();
    assert_eq!(row.status(), Status::Approved);
    assert_eq!(row.image_status(), ImageStatus::Ready);
    assert_eq!(row.expected().revision, Some(2));
    assert!(row.state().has_text);
    let text = row.text().unwrap();
    assert_eq!(
        (text.caption.as_str(), text.hashtags.as_slice()),
        ("Hello", &["cafe".to_owned()][..])
    );
    assert_eq!(row.generated_text(), None);
    assert_eq!(
        row.scheduled_at(),
        Some(time::macros::datetime!(2026-03-02 09:00 UTC))
    );
    let record = row.publish_record();
    let sent = record.sent.unwrap();
    assert_eq!(sent.container_id, "c1");
    assert_eq!(sent.at, time::macros::datetime!(2026-03-02 09:00:01.25 UTC));
    assert_eq!((record.attempts_spent, record.polls), (1, 2));
}

#[test]
fn an_unknown_status_is_an_error_of_the_read_never_a_default() {
    for (column, value) in [("status", "archived"), ("image_status", "lost")] {
        let mut row = stored();
        row[column] = json!(value);
        let error = read(&row).unwrap_err().to_string();
        assert!(error.starts_with("a D1 row: "), "{error}");
        assert!(error.contains(value), "{error}");
    }
}

#[test]
fn a_stored_time_that_is_not_one_is_an_error_of_the_read_never_absent() {
    for column in [
        "scheduled_at",
        "claim_expires_at",
        "created_at",
        "publish_sent_at",
    ] {
        let mut row = stored();
        row[column] = json!("2026-03-01 10:00:00");
        let error = read(&row).unwrap_err().to_string();
        assert!(error.contains("not RFC 3339"), "{column}: {error}");
    }
    let mut row = stored();
    row["claim_expires_at"] = json!("2026-03-01T10:05:00Z");
    assert_eq!(
        read(&row).unwrap().unwrap().claim_expires_at(),
        Some(time::macros::datetime!(2026-03-01 10:05 UTC))
    );
    // A stored time beyond the years an outside time may name (a lease held far ahead) is
    // still a time, and its accessor reads it as the row check did.
    row["claim_expires_at"] = json!("2999-01-01T00:00:00Z");
    assert_eq!(
        read(&row).unwrap().unwrap().claim_expires_at(),
        Some(time::macros::datetime!(2999-01-01 0:00 UTC))
    );
}

#[test]
fn columns_added_by_later_migrations_may_be_absent() {
    let mut row = stored();
    let object = row.as_object_mut().unwrap();
    for column in [
        "publish_sent_container",
        "publish_sent_at",
        "container_polls",
        "account_id",
    ] {
        object.remove(column);
    }
    let row = read(&row).unwrap().unwrap();
    assert_eq!(row.publish_record().sent, None);
    assert_eq!(row.account_id, None);
}
