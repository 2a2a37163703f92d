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

mod edits {
    use super::*;
    use crate::post_format::edit::{
        CollaboratorError, LocationIdError, collaborators, first_comment_problems, location_id,
    };

    fn pending(id: &str) -> MediaItem {
        MediaItem {
            id: id.to_owned(),
            source: MediaSource::Uploaded,
            alt_text: String::new(),
            image: ItemImage::Pending {
                upload: format!("uploads/d/{id}"),
            },
        }
    }

    #[test]
    fn images_are_added_ordered_and_removed_by_id() {
        let items =
            MediaItems::appended(vec![item("a", MediaSource::ImageModel)], pending("b")).unwrap();
        let items = MediaItems::appended(items.items().to_vec(), pending("c")).unwrap();
        let ids = |items: &MediaItems| -> Vec<String> {
            items.items().iter().map(|i| i.id.clone()).collect()
        };
        let order = vec!["c".to_owned(), "a".to_owned(), "b".to_owned()];
        assert_eq!(ids(&items.reordered(&order).unwrap()), order);
        assert!(items.reordered(&order[..2]).is_err());
        assert!(
            items
                .reordered(&["a".into(), "a".into(), "b".into()])
                .is_err()
        );
        assert!(
            items
                .reordered(&["a".into(), "b".into(), "z".into()])
                .is_err()
        );
        let (rest, removed) = items.without("a").unwrap();
        assert_eq!(removed.id, "a");
        assert_eq!(ids(&rest.unwrap()), ["b", "c"]);
        let one = MediaItems::new(vec![pending("x")]).unwrap();
        assert_eq!(one.without("x").unwrap().0, None);
        assert!(one.without("y").is_err());
        let ten: Vec<MediaItem> = (0..10).map(|i| pending(&format!("p{i}"))).collect();
        assert!(MediaItems::appended(ten, pending("q")).is_err());
    }

    #[test]
    fn an_upload_is_recorded_once_and_approvable_when_all_are_ready() {
        let items = MediaItems::new(vec![item("a", MediaSource::Uploaded), pending("b")]).unwrap();
        assert_eq!(items.pending_uploads(), ["uploads/d/b"]);
        assert!(
            items
                .unready()
                .unwrap()
                .contains("image 2 is still being fitted")
        );
        let ready = ItemImage::Ready {
            key: "images/d/b.jpg".into(),
            width: 1080,
            height: 1080,
        };
        let done = items.fitted("uploads/d/b", ready.clone()).unwrap();
        assert_eq!(done.unready(), None);
        // Recorded already, or never asked for: nothing to do.
        assert_eq!(done.fitted("uploads/d/b", ready.clone()), None);
        assert_eq!(items.fitted("uploads/d/zz", ready), None);
        let failed = items
            .fitted(
                "uploads/d/b",
                ItemImage::Failed {
                    reason: "not decodable".into(),
                },
            )
            .unwrap();
        assert!(
            failed
                .unready()
                .unwrap()
                .contains("image 2 failed (not decodable)")
        );
    }

    #[test]
    fn options_are_checked_as_instagram_would() {
        assert!(first_comment_problems("More at the shop #cafe @friend").is_empty());
        assert!(first_comment_problems("  ")[0].contains("empty"));
        assert!(first_comment_problems(&"a".repeat(2_201))[0].contains("2201 characters"));
        let tags: String = (0..31).map(|i| format!("#t{i} ")).collect();
        assert!(first_comment_problems(&tags)[0].contains("31 hashtags"));
        let at: String = (0..21).map(|i| format!("@u{i} ")).collect();
        assert!(first_comment_problems(&at)[0].contains("mentions 21"));
        assert!(first_comment_problems("hi\u{202E}there")[0].contains("RIGHT-TO-LEFT OVERRIDE"));
        assert!(first_comment_problems("bell\u{7}")[0].contains("U+0007"));

        assert_eq!(
            collaborators(&["@Aiko.Tanaka".into(), "ken_1".into()]),
            Ok(vec!["aiko.tanaka".to_owned(), "ken_1".to_owned()])
        );
        let six: Vec<String> = (0..6).map(|i| format!("u{i}")).collect();
        assert_eq!(collaborators(&six).unwrap_err()[0].0, None);
        let bad =
            collaborators(&["ok".into(), "no way".into(), "OK".into(), ".x".into()]).unwrap_err();
        let at: Vec<Option<usize>> = bad.iter().map(|(i, _)| *i).collect();
        assert_eq!(at, [Some(1), Some(2), Some(3)]);
        assert_eq!(bad[1].1, CollaboratorError::Twice("ok".into()));
        assert_eq!(bad[1].1.to_string(), "\"ok\" is named twice");
        assert_eq!(bad[0].1, CollaboratorError::Characters("no way".into()));
        assert_eq!(bad[2].1, CollaboratorError::Dots(".x".into()));

        assert_eq!(
            location_id(" 110843418940484 "),
            Ok("110843418940484".into())
        );
        assert_eq!(
            location_id("Tokyo"),
            Err(LocationIdError::NotDigits("Tokyo".into()))
        );
        assert_eq!(location_id(""), Err(LocationIdError::NotDigits("".into())));
        assert_eq!(
            location_id(&"1".repeat(21)).map_err(|e| e.to_string()),
            Err("a location id has at most 20 digits, got 21".into())
        );
    }
}
