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
    let post = post_with(&row(json!({})), url, false).unwrap();
    assert_eq!(post.caption, "Autumn soup is back\n\n#cafe #autumn");
    assert_eq!(
        post.images,
        [Image {
            url: "https://example.com/media/images/d/1.jpg".into(),
            alt_text: "A bowl of squash soup".into(),
        }]
    );
    assert!(!post.is_ai_generated);
    assert_eq!(post.first_comment, None);
    // Its image drawn by an image model: labelled.
    assert!(
        post_with(&row(json!({})), url, true)
            .unwrap()
            .is_ai_generated
    );
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
        (
            json!({ "approved_media_items": "[]" }),
            "the approved images cannot be read: ",
        ),
        (
            json!({ "approved_media_items": items(&[("a", "imageModel", "ready"), ("b", "uploaded", "pending")]) }),
            "image 2 of the approved post is not ready",
        ),
        (
            json!({ "approved_post_options": r#"{"collaborators":["a","b","c","d","e","f"]}"# }),
            "6 collaborators approved, Instagram takes at most 5",
        ),
        (
            json!({ "approved_post_options": r#"{"unknown":1}"# }),
            "the approved post options cannot be read: ",
        ),
    ] {
        let error = post_with(&row(fields.clone()), url, false)
            .err()
            .map(|error| error.to_string())
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

/// Stored items as JSON: `(id, source, state)`, alt text "alt <id>".
fn items(list: &[(&str, &str, &str)]) -> String {
    let items: Vec<Value> = list
        .iter()
        .map(|(id, source, state)| {
            let image = match *state {
                "ready" => json!({ "state": "ready", "key": format!("images/d/{id}.jpg"), "width": 1080, "height": 1350 }),
                _ => json!({ "state": "pending", "upload": format!("uploads/d/{id}") }),
            };
            json!({ "id": id, "source": source, "altText": format!("alt {id}"), "image": image })
        })
        .collect();
    Value::Array(items).to_string()
}

#[test]
fn a_carousel_carries_its_images_in_order_with_their_alt_texts_and_the_options() {
    let stored = row(json!({
        "approved_media_items": items(&[("a", "uploaded", "ready"), ("b", "uploaded", "ready"), ("c", "uploaded", "ready")]),
        "approved_post_options": r#"{"firstComment":"  Menu in bio  ","collaborators":["maker.one"],"locationId":"1108"}"#,
    }));
    let post = post_with(&stored, url, true).unwrap();
    let urls: Vec<&str> = post.images.iter().map(|i| i.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://example.com/media/images/d/a.jpg",
            "https://example.com/media/images/d/b.jpg",
            "https://example.com/media/images/d/c.jpg"
        ]
    );
    let alts: Vec<&str> = post.images.iter().map(|i| i.alt_text.as_str()).collect();
    assert_eq!(alts, ["alt a", "alt b", "alt c"]);
    assert_eq!(post.collaborators, ["maker.one"]);
    assert_eq!(post.location_id.as_deref(), Some("1108"));
    assert_eq!(post.first_comment.as_deref(), Some("Menu in bio"));
    // Uploaded photos are not labelled, whatever drew the draft's own image...
    assert!(!post.is_ai_generated);
    assert_eq!(stored.publish_shape().children, 3);
    assert!(stored.publish_shape().first_comment);
    // ...unless a person says so, or an image model drew one of them.
    let labelled = row(json!({
        "approved_media_items": items(&[("a", "uploaded", "ready"), ("b", "imageModel", "ready")]),
    }));
    assert!(post_with(&labelled, url, false).unwrap().is_ai_generated);
    let said = row(json!({
        "approved_media_items": items(&[("a", "uploaded", "ready"), ("b", "uploaded", "ready")]),
        "approved_post_options": r#"{"aiLabel":"yes"}"#,
    }));
    assert!(post_with(&said, url, false).unwrap().is_ai_generated);
    // The placeholder is no image model.
    let placeholder = row(json!({
        "approved_media_items": items(&[("a", "placeholder", "ready")]),
    }));
    let post = post_with(&placeholder, url, true).unwrap();
    assert!(!post.is_ai_generated);
    // One item without its own alt text takes the text's.
    assert_eq!(post.images[0].alt_text, "alt a");
}
