use super::*;

fn item(id: &str, source: MediaSource) -> MediaItem {
    MediaItem {
        id: id.to_owned(),
        source,
        alt_text: format!("alt of {id}"),
        image: ItemImage::Ready {
            key: format!("images/d/{id}.jpg"),
            width: 1080,
            height: 1350,
        },
    }
}

#[test]
fn a_post_has_one_to_ten_distinct_images() {
    assert_eq!(MediaItems::new(vec![]), Err(MediaItemsError::Empty));
    let eleven = (0..11)
        .map(|i| item(&format!("k{i}"), MediaSource::Uploaded))
        .collect();
    assert_eq!(
        MediaItems::new(eleven),
        Err(MediaItemsError::TooMany { count: 11 })
    );
    let repeated = vec![
        item("a", MediaSource::Uploaded),
        item("a", MediaSource::Uploaded),
    ];
    assert_eq!(
        MediaItems::new(repeated),
        Err(MediaItemsError::Repeated { index: 1 })
    );
    assert_eq!(
        MediaItems::new(vec![item(" ", MediaSource::Uploaded)]),
        Err(MediaItemsError::EmptyId { index: 0 })
    );
    let one = MediaItems::new(vec![item("a", MediaSource::Uploaded)]).unwrap();
    assert!(!one.is_carousel());
    let two = MediaItems::new(vec![
        item("a", MediaSource::Uploaded),
        item("b", MediaSource::ImageModel),
    ])
    .unwrap();
    assert!(two.is_carousel());
    assert_eq!(
        two.ready_keys(),
        Some(vec!["images/d/a.jpg", "images/d/b.jpg"])
    );
}

#[test]
fn a_post_is_ready_when_every_image_is_fitted() {
    let mut waiting = item("b", MediaSource::Uploaded);
    waiting.image = ItemImage::Pending {
        upload: "uploads/d/b".to_owned(),
    };
    let items = MediaItems::new(vec![item("a", MediaSource::Uploaded), waiting]).unwrap();
    assert_eq!(items.ready_keys(), None);
}

#[test]
fn the_stored_form_reads_back_and_refuses_unknown_fields() {
    let items = MediaItems::new(vec![
        item("a", MediaSource::Uploaded),
        item("b", MediaSource::ImageModel),
    ])
    .unwrap();
    assert_eq!(MediaItems::from_json(&items.to_json()), Ok(items));
    assert!(matches!(
        MediaItems::from_json(
            r#"[{"id":"a","source":"uploaded","altText":"x","image":{"state":"ready","key":"k","width":1,"height":1},"gps":"1,2"}]"#
        ),
        Err(MediaItemsError::Malformed(_))
    ));
    let options = PostOptions {
        first_comment: Some("#first".to_owned()),
        collaborators: vec!["aiko".to_owned()],
        location_id: Some("110123".to_owned()),
        ai_label: AiLabel::Yes,
    };
    assert_eq!(
        PostOptions::from_json(Some(&options.to_json())).unwrap(),
        options
    );
    assert_eq!(
        PostOptions::from_json(None).unwrap(),
        PostOptions::default()
    );
}

#[test]
fn the_ai_label_follows_an_image_model_or_a_person() {
    let auto = PostOptions::default();
    assert!(auto.is_ai_generated(&[item("a", MediaSource::ImageModel)]));
    assert!(!auto.is_ai_generated(&[item("a", MediaSource::Uploaded)]));
    assert!(!auto.is_ai_generated(&[item("a", MediaSource::Placeholder)]));
    let said = PostOptions {
        ai_label: AiLabel::Yes,
        ..PostOptions::default()
    };
    assert!(said.is_ai_generated(&[item("a", MediaSource::Uploaded)]));
}

#[test]
fn alt_texts_are_written_into_the_items_they_name() {
    let items = MediaItems::new(vec![
        item("a", MediaSource::Uploaded),
        item("b", MediaSource::Uploaded),
    ])
    .unwrap();
    let written = items.with_alt_texts(&[("b", "A dog"), ("zz", "nothing"), ("a", "A cat")]);
    let alts: Vec<&str> = written
        .items()
        .iter()
        .map(|i| i.alt_text.as_str())
        .collect();
    assert_eq!(alts, ["A cat", "A dog"]);
    assert_eq!(written.items()[0].image, items.items()[0].image);
    let partly = items.with_alt_texts(&[("b", "A dog")]);
    assert_eq!(partly.items()[0].alt_text, "alt of a");
}
