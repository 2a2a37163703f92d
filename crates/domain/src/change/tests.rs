use super::*;
use crate::draft::Event;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

fn state(status: Status) -> DraftState {
    DraftState {
        status,
        image: ImageStatus::Ready,
        has_text: true,
    }
}

fn expected(status: Status) -> Expected {
    Expected {
        state: state(status),
        revision: None,
    }
}

fn text(value: &str) -> Value {
    Value::Text(value.into())
}

fn raw() -> RawPostText {
    RawPostText {
        caption: "Hello".into(),
        hashtags: vec!["cafe".into()],
        alt_text: "A cup".into(),
    }
}

#[test]
fn every_write_is_guarded_by_the_status_it_was_decided_from() {
    let plan = plan(expected(Status::Draft), &Change::Discard, NOW).unwrap();
    assert_eq!(plan.guards, [Guard::Equals("status", text("draft"))]);
    assert_eq!(plan.sets("status"), Some(&Set::To(text("discarded"))));
    assert_eq!(plan.sets("revision"), Some(&Set::Increment));
}

#[test]
fn a_person_names_the_revision_they_saw() {
    let raw = raw();
    let plan = plan(
        Expected {
            state: state(Status::Draft),
            revision: Some(4),
        },
        &Change::Edit { text: &raw },
        NOW,
    )
    .unwrap();
    assert!(
        plan.guards
            .contains(&Guard::Equals("revision", Value::Int(4)))
    );
    assert!(plan.guards.contains(&Guard::NotNull("caption")));
    assert_eq!(plan.sets("caption"), Some(&Set::To(text("Hello"))));
    assert_eq!(plan.sets("hashtags"), Some(&Set::To(text("[\"cafe\"]"))));
    assert_eq!(plan.sets("generated_caption"), None);
}

#[test]
fn an_illegal_change_plans_nothing() {
    assert!(plan(expected(Status::Published), &Change::Discard, NOW).is_err());
    assert!(plan(expected(Status::Draft), &Change::Withdraw, NOW).is_err());
}

/// Every write of the publish consumer is its claim's: a consumer whose lease lapsed and was
/// taken over writes nothing.
#[test]
fn publishing_writes_are_fenced_by_the_claim() {
    let claim = Guard::Equals("publish_claim", text("k"));
    let changes = [
        Change::ContainerCreated {
            claim: "k",
            container_id: "c",
        },
        Change::PublishSent {
            claim: "k",
            container_id: "c",
            at: NOW,
        },
        Change::MediaPublished {
            claim: "k",
            media_id: "m",
        },
        Change::PublishSucceeded {
            claim: "k",
            media_id: None,
            found: false,
            permalink: None,
        },
        Change::PublishDeferred {
            claim: "k",
            reason: "r",
            due_at: NOW,
            deferral: Deferral::Wait,
            sent_not_live: false,
            now: NOW,
        },
        Change::PublishFailed {
            claim: Some("k"),
            reason: "r",
        },
    ];
    for change in &changes {
        let plan = plan(expected(Status::Publishing), change, NOW).unwrap();
        assert!(plan.guards.contains(&claim), "{change:?}");
    }
}

/// Window 2: a failure recorded without a claim (a person's approval whose message could not
/// be sent) applies only where no consumer has been and nothing was sent.
#[test]
fn a_failure_without_a_claim_needs_an_untouched_draft() {
    let plan = planned(
        Status::Approved,
        &Change::PublishFailed {
            claim: None,
            reason: "the queue refused",
        },
    );
    assert!(plan.guards.contains(&Guard::IsNull("publish_claim")));
    assert!(
        plan.guards
            .contains(&Guard::IsNull("publish_sent_container"))
    );
}

/// Window 8: attempts count per approval; the deferral says which column moves.
#[test]
fn attempts_are_spent_only_by_retries_and_reset_by_approval() {
    assert_eq!(
        deferred(Deferral::Retry, false).sets("publish_attempts"),
        Some(&Set::Increment)
    );
    for deferral in [
        Deferral::Poll,
        Deferral::Throttled,
        Deferral::Wait,
        Deferral::Unresolved,
    ] {
        assert_eq!(
            deferred(deferral, false).sets("publish_attempts"),
            None,
            "{deferral:?}"
        );
    }
    assert_eq!(
        deferred(Deferral::Throttled, false).sets("throttled_since"),
        Some(&Set::KeepOr(text("2030-01-01T12:00:00Z")))
    );
    assert_eq!(
        deferred(Deferral::Poll, false).sets("container_polls"),
        Some(&Set::Increment)
    );
    // Approval and re-approval start a new series of attempts.
    let approvals = [
        (
            Status::Draft,
            Change::Approve {
                by: "aiko",
                scheduled_at: None,
                due_at: Some(NOW),
            },
        ),
        (
            Status::Failed,
            Change::Reapprove {
                by: "aiko",
                due_at: Some(NOW),
            },
        ),
    ];
    for (status, change) in &approvals {
        let attempts = planned(*status, change);
        let reset = Set::To(Value::Int(0));
        assert_eq!(
            attempts.sets("publish_attempts"),
            Some(&reset),
            "{change:?}"
        );
    }
    // A claim spends nothing: a duplicate delivery cannot use up the retries.
    let claim = planned(
        Status::Approved,
        &Change::ClaimPublish {
            claim: "k",
            lease_until: NOW,
            now: NOW,
        },
    );
    assert_eq!(claim.sets("publish_attempts"), None);
}

/// A container that a `media_publish` may have been sent for is never forgotten by a
/// person's action: approval, re-approval and regeneration keep it, so it is read first.
#[test]
fn no_reviewer_action_forgets_a_sent_container() {
    let raw = raw();
    let changes = [
        (
            Status::Draft,
            Change::Approve {
                by: "aiko",
                scheduled_at: None,
                due_at: None,
            },
        ),
        (
            Status::Failed,
            Change::Reapprove {
                by: "aiko",
                due_at: None,
            },
        ),
        (Status::Failed, Change::Regenerate),
        (Status::Draft, Change::Edit { text: &raw }),
        (Status::Failed, Change::Discard),
    ];
    for (status, change) in &changes {
        let plan = plan(expected(*status), change, NOW).unwrap();
        assert_eq!(plan.sets("publish_sent_container"), None, "{change:?}");
        assert_eq!(plan.sets("publish_sent_at"), None, "{change:?}");
    }
    // Re-approval keeps the container itself too: the same snapshot, read first.
    let reapprove = planned(
        Status::Failed,
        &Change::Reapprove {
            by: "aiko",
            due_at: None,
        },
    );
    assert_eq!(reapprove.sets("container_id"), None);
}

/// Withdrawal only while nothing may have gone out.
#[test]
fn a_withdrawal_needs_nothing_sent() {
    let plan = plan(expected(Status::Approved), &Change::Withdraw, NOW).unwrap();
    assert!(
        plan.guards
            .contains(&Guard::IsNull("publish_sent_container"))
    );
    assert_eq!(plan.sets("status"), Some(&Set::To(text("draft"))));
    assert_eq!(plan.sets("approved_caption"), Some(&Set::To(Value::Null)));
}

/// A failed post is corrected the same way: back to review with its text, on the same
/// guards, so a container that may be live is never left behind by an edit.
#[test]
fn a_failed_post_goes_back_to_review_only_while_nothing_was_sent() {
    let plan = plan(expected(Status::Failed), &Change::Withdraw, NOW).unwrap();
    assert!(
        plan.guards
            .contains(&Guard::IsNull("publish_sent_container"))
    );
    assert!(plan.guards.contains(&Guard::IsNull("publish_claim")));
    assert_eq!(plan.sets("status"), Some(&Set::To(text("draft"))));
    assert_eq!(plan.sets("caption"), None, "the text stays for the edit");
    for status in [Status::Publishing, Status::Published, Status::Discarded] {
        assert!(
            super::plan(expected(status), &Change::Withdraw, NOW).is_err(),
            "{status}"
        );
    }
}

/// Window 10: a post found by a lookup is taken only if no other draft recorded it.
#[test]
fn a_found_post_belongs_to_one_draft() {
    let succeed = |found| {
        planned(
            Status::Publishing,
            &Change::PublishSucceeded {
                claim: "k",
                media_id: Some("m1"),
                found,
                permalink: None,
            },
        )
    };
    let unclaimed = Guard::MediaUnclaimed(text("m1"));
    assert!(succeed(true).guards.contains(&unclaimed));
    assert!(!succeed(false).guards.contains(&unclaimed));
}

#[test]
fn the_page_offers_exactly_the_legal_actions() {
    assert_eq!(
        reviewer_actions(state(Status::Draft)),
        [
            Event::Edit,
            Event::Approve,
            Event::ImageRequested,
            Event::Discard
        ]
    );
    assert_eq!(
        reviewer_actions(state(Status::Approved)),
        [Event::Withdraw, Event::Reschedule]
    );
    assert_eq!(
        reviewer_actions(state(Status::Failed)),
        [
            Event::Withdraw,
            Event::Reapprove,
            Event::Regenerate,
            Event::Discard
        ]
    );
    assert!(reviewer_actions(state(Status::Published)).is_empty());
    assert!(reviewer_actions(state(Status::Publishing)).is_empty());
}

/// A send a status read proved not live is forgotten by the deferral, so the next run does
/// not wait for it to settle; a send not read stays remembered.
#[test]
fn a_deferral_forgets_a_send_only_when_it_was_read_not_live() {
    assert!(
        deferred(Deferral::Wait, true)
            .sets("publish_sent_container")
            .is_some()
    );
    assert!(
        deferred(Deferral::Wait, true)
            .sets("publish_sent_at")
            .is_some()
    );
    assert!(
        deferred(Deferral::Wait, false)
            .sets("publish_sent_container")
            .is_none()
    );
}

/// The text from the photos and the items' alt texts in one write, which misses when the
/// revision moved on or the items are no longer as read.
#[test]
fn a_description_writes_the_text_and_the_items_as_read() {
    let raw = raw();
    let change = Change::Described {
        text: &raw,
        items: "[new]",
        items_read: "[old]",
    };
    let at = |revision| Expected {
        state: state(Status::Draft),
        revision: Some(revision),
    };
    let plan = plan(at(3), &change, NOW).unwrap();
    for guard in [
        Guard::Equals("status", text("draft")),
        Guard::Equals("revision", Value::Int(3)),
        Guard::Equals("media_items", text("[old]")),
        Guard::NotNull("caption"),
    ] {
        assert!(
            plan.guards.contains(&guard),
            "{guard:?} in {:?}",
            plan.guards
        );
    }
    assert_eq!(plan.sets("media_items"), Some(&Set::To(text("[new]"))));
    assert_eq!(plan.sets("caption"), Some(&Set::To(text("Hello"))));
    assert_eq!(
        plan.sets("generated_alt_text"),
        Some(&Set::To(text("A cup")))
    );
    assert_eq!(plan.sets("revision"), Some(&Set::Increment));
    // Only a draft under review is described.
    assert!(plan_for(Status::Approved, &change).is_err());
}

/// A publishing run's deferral, by `deferral`, with a send a status read proved not live or not.
fn deferred(deferral: Deferral, sent_not_live: bool) -> WritePlan {
    planned(
        Status::Publishing,
        &Change::PublishDeferred {
            claim: "k",
            reason: "r",
            due_at: NOW,
            deferral,
            sent_not_live,
            now: NOW,
        },
    )
}

/// The plan of a change the domain allows from `status`.
fn planned(status: Status, change: &Change<'_>) -> WritePlan {
    plan_for(status, change).unwrap()
}

fn plan_for(status: Status, change: &Change<'_>) -> Result<WritePlan, Refusal> {
    plan(expected(status), change, NOW)
}

/// One upload, not yet fitted.
fn pending_upload() -> crate::post_format::MediaItems {
    use crate::post_format::{ItemImage, MediaItem, MediaItems, MediaSource};
    MediaItems::new(vec![MediaItem {
        id: "a".into(),
        source: MediaSource::Uploaded,
        alt_text: String::new(),
        image: ItemImage::Pending {
            upload: "uploads/d/a".into(),
        },
    }])
    .unwrap()
}

/// The image consumer's write holds only if the list is still the one it read, starts no
/// revision, and is refused once the draft is approved (its images are the approval's).
#[test]
fn an_upload_fitted_compares_the_list_as_read() {
    use crate::post_format::ItemImage;
    let pending = pending_upload();
    let previous = pending.to_json();
    let ready = pending
        .fitted(
            "uploads/d/a",
            ItemImage::Ready {
                key: "images/d/x.jpg".into(),
                width: 1080,
                height: 1350,
            },
        )
        .unwrap();
    let change = Change::ItemFitted {
        previous: &previous,
        items: &ready,
    };
    let fitted = plan(expected(Status::Draft), &change, NOW).unwrap();
    assert!(
        fitted
            .guards
            .contains(&Guard::Equals("media_items", text(&previous)))
    );
    assert_eq!(
        fitted.sets("media_items"),
        Some(&Set::To(Value::Text(ready.to_json())))
    );
    assert_eq!(fitted.sets("revision"), None);
    assert!(plan(expected(Status::Approved), &change, NOW).is_err());
}

/// A person's change to the images holds only if the list is still the one read (or there
/// was none) at the revision seen, and starts a revision; options are written whole, and
/// not once the draft is approved.
#[test]
fn a_persons_image_and_option_edits_compare_the_list_as_read() {
    use crate::post_format::PostOptions;
    let pending = pending_upload();
    let previous = pending.to_json();
    let edited = plan(
        Expected {
            revision: Some(4),
            ..expected(Status::Draft)
        },
        &Change::ItemsEdited {
            previous: None,
            items: Some(&pending),
        },
        NOW,
    )
    .unwrap();
    assert!(
        edited
            .guards
            .contains(&Guard::Is("media_items", Value::Null))
    );
    assert!(
        edited
            .guards
            .contains(&Guard::Equals("revision", Value::Int(4)))
    );
    assert_eq!(edited.sets("revision"), Some(&Set::Increment));
    let removed = planned(
        Status::Draft,
        &Change::ItemsEdited {
            previous: Some(&previous),
            items: None,
        },
    );
    assert!(
        removed
            .guards
            .contains(&Guard::Is("media_items", text(&previous)))
    );
    assert_eq!(removed.sets("media_items"), Some(&Set::To(Value::Null)));
    let options = PostOptions::default();
    let change = Change::OptionsEdited { options: &options };
    let set = plan(expected(Status::Draft), &change, NOW).unwrap();
    assert_eq!(
        set.sets("post_options"),
        Some(&Set::To(text("{\"aiLabel\":\"auto\"}")))
    );
    assert!(plan(expected(Status::Approved), &change, NOW).is_err());
}
