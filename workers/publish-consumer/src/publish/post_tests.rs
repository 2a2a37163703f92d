use domain::draft::DraftId;
use serde_json::{Value, json};
use time::macros::datetime;

use super::*;

fn row(fields: Value) -> DraftRow {
    let mut row = json!({
        "id": "123e4567-e89b-42d3-a456-426614174000",
        "status": "publishing",
        "revision": 3,
        "language": "en",
        "provider": "template",
        "image_status": "ready",
        "image_prompt": "soup",
        "publish_attempts": 0,
        "created_at": "2030-01-01T00:00:00Z",
        "updated_at": "2030-01-01T00:00:00Z",
        "approved_caption": "Autumn soup is back",
        "approved_hashtags": r#"["cafe","autumn"]"#,
        "approved_alt_text": "A bowl of squash soup",
        "approved_image_key": "images/d/1.jpg",
    });
    for (key, value) in fields.as_object().into_iter().flatten() {
        row[key] = value.clone();
    }
    serde_json::from_value(row).unwrap()
}

fn url(key: &str) -> String {
    format!("https://example.com/media/{key}")
}

#[test]
fn instagram_receives_the_approved_snapshot_with_its_hashtags_in_the_caption() {
    let post = post_with(&row(json!({})), url).unwrap();
    assert_eq!(post.caption, "Autumn soup is back\n\n#cafe #autumn");
    assert_eq!(post.alt_text, "A bowl of squash soup");
    assert_eq!(post.image_url, "https://example.com/media/images/d/1.jpg");
}

#[test]
fn a_snapshot_that_cannot_be_posted_says_why() {
    for (fields, reason) in [
        (
            json!({ "approved_caption": null }),
            "the draft has no approved text",
        ),
        (
            json!({ "approved_image_key": null }),
            "the draft has no approved image",
        ),
        (
            json!({ "approved_caption": "a\u{0007}b" }),
            "the approved text breaks Instagram's rules: ",
        ),
    ] {
        let error = post_with(&row(fields.clone()), url)
            .err()
            .unwrap_or_default();
        assert!(error.starts_with(reason), "{fields}: {error}");
    }
}

#[test]
fn a_message_queued_again_repeats_its_attempt_due_after_the_delay() {
    let id = DraftId::parse("123e4567-e89b-42d3-a456-426614174000").unwrap();
    let at = datetime!(2030-01-31 09:00 UTC);
    let first = QueueMessage::new(id, MessageAction::Publish, 1, at);
    let same = again(&first, 1, at, 30);
    assert_eq!(same.action, MessageAction::Publish);
    assert_eq!(same.attempt, 1);
    assert_eq!(same.requested_at, at + Duration::seconds(30));
    assert_eq!(same.id, id);
    let next = again(&first, 2, at, 0);
    assert_eq!(next.action, MessageAction::Retry);
    assert_eq!(next.attempt, 2);
    assert_eq!(next.requested_at, at);
}
