use super::*;

fn every_state() -> impl Iterator<Item = DraftState> {
    Status::ALL.into_iter().flat_map(|status| {
        ImageStatus::ALL.into_iter().flat_map(move |image| {
            [false, true].map(|has_text| DraftState {
                status,
                image,
                has_text,
            })
        })
    })
}

/// A new draft: no text yet, its image asked for.
const NEW: DraftState = DraftState {
    status: Status::Draft,
    image: ImageStatus::Pending,
    has_text: false,
};

/// Every state reachable from `from` through legal events, `from` included.
fn reachable(from: DraftState) -> Vec<DraftState> {
    let mut seen = vec![from];
    let mut i = 0;
    while i < seen.len() {
        for event in Event::ALL {
            if let Ok(to) = transition(seen[i], event)
                && !seen.contains(&to)
            {
                seen.push(to);
            }
        }
        i += 1;
    }
    seen
}

fn state(status: Status, image: ImageStatus) -> DraftState {
    DraftState {
        status,
        image,
        has_text: true,
    }
}

/// Properties over all 6 x 4 x 2 states and 22 events, rather than a copy of the rules.
#[test]
fn final_statuses_take_no_event() {
    for from in every_state().filter(|s| s.status.is_final()) {
        for event in Event::ALL {
            assert!(transition(from, event).is_err(), "{from:?} + {event}");
        }
    }
}

#[test]
fn only_a_claim_leads_into_publishing() {
    for from in every_state() {
        for event in Event::ALL {
            let Ok(to) = transition(from, event) else {
                continue;
            };
            if to.status == Status::Publishing && from.status != Status::Publishing {
                assert_eq!(
                    (from.status, event),
                    (Status::Approved, Event::ClaimPublish)
                );
            }
        }
    }
}

#[test]
fn nothing_is_approved_without_text_and_a_ready_image() {
    for from in reachable(NEW) {
        for event in Event::ALL {
            let Ok(to) = transition(from, event) else {
                continue;
            };
            if to.status == Status::Approved && from.status != Status::Approved {
                assert!(to.has_text, "{from:?} + {event}");
                if from.status == Status::Draft {
                    assert_eq!(to.image, ImageStatus::Ready, "{from:?} + {event}");
                }
            }
        }
    }
}

#[test]
fn image_events_change_only_the_image_and_only_under_review() {
    for from in every_state() {
        for event in Event::ALL {
            let result = transition(from, event);
            if event.is_image_event() {
                if let Ok(to) = result {
                    assert_eq!(from.status, Status::Draft, "{event}");
                    assert_eq!((to.status, to.has_text), (from.status, from.has_text));
                }
            } else if let Ok(to) = result {
                assert_eq!(to.image, from.image, "{from:?} + {event} moved the image");
            }
        }
    }
}

/// From a fresh draft, every status is reachable, and from every status but the final one
/// an end (published, or failed for a person to act on) is reachable: no dead ends.
#[test]
fn every_status_is_reachable_and_none_is_a_dead_end() {
    let from_start = reachable(NEW);
    for status in Status::ALL {
        assert!(
            from_start.iter().any(|s| s.status == status),
            "{status} unreachable"
        );
    }
    for from in &from_start {
        if !from.status.is_final() {
            assert!(
                reachable(*from)
                    .iter()
                    .any(|s| s.status == Status::Published),
                "{from:?} can never be published"
            );
        }
    }
}

#[test]
fn refusals_say_why() {
    use ImageStatus as I;
    use Status as S;
    let check = |from: DraftState, event: Event, expected: Result<DraftState, Refusal>| {
        assert_eq!(transition(from, event), expected, "{from:?} + {event}");
    };
    check(
        state(S::Draft, I::Pending),
        Event::Approve,
        Err(Refusal::WrongImage {
            image: I::Pending,
            event: Event::Approve,
            needed: "a ready image",
        }),
    );
    check(
        DraftState {
            has_text: false,
            ..state(S::Draft, I::Ready)
        },
        Event::Edit,
        Err(Refusal::NoText),
    );
    check(
        state(S::Draft, I::Ready),
        Event::TextWritten,
        Err(Refusal::TextExists),
    );
    check(
        state(S::Approved, I::Ready),
        Event::Edit,
        Err(Refusal::WrongStatus {
            status: S::Approved,
            event: Event::Edit,
        }),
    );
    check(
        state(S::Draft, I::Ready),
        Event::Approve,
        Ok(state(S::Approved, I::Ready)),
    );
    check(
        state(S::Draft, I::Generating),
        Event::ImageStored,
        Ok(state(S::Draft, I::Ready)),
    );
    check(
        state(S::Draft, I::Ready),
        Event::ImageClaimed,
        Err(Refusal::WrongImage {
            image: I::Ready,
            event: Event::ImageClaimed,
            needed: "one that is pending or being made",
        }),
    );
    check(
        state(S::Approved, I::Ready),
        Event::PublishFailed,
        Ok(state(S::Failed, I::Ready)),
    );
    // Only an approved post's time can change; it stays approved, at a new revision.
    check(
        state(S::Approved, I::Ready),
        Event::Reschedule,
        Ok(state(S::Approved, I::Ready)),
    );
    check(
        state(S::Failed, I::Ready),
        Event::Reschedule,
        Err(Refusal::WrongStatus {
            status: S::Failed,
            event: Event::Reschedule,
        }),
    );
    assert!(Event::Reschedule.starts_revision(state(S::Approved, I::Ready)));
}

/// A write checks only what its verdict depends on; this proves the rest cannot matter.
#[test]
fn verdicts_ignore_what_they_do_not_depend_on() {
    for from in every_state() {
        for event in Event::ALL {
            let verdict = transition(from, event).map(|to| to.status);
            if !event.depends_on_text() {
                let other = DraftState {
                    has_text: !from.has_text,
                    ..from
                };
                assert_eq!(transition(other, event).map(|to| to.status), verdict);
            }
            if !event.depends_on_image() {
                for image in ImageStatus::ALL {
                    let other = DraftState { image, ..from };
                    assert_eq!(
                        transition(other, event).map(|to| to.status),
                        verdict,
                        "{from:?} + {event} with image {image}"
                    );
                }
            }
        }
    }
}

#[test]
fn only_claims_publishing_progress_and_scheduling_keep_the_revision() {
    let ready = state(Status::Draft, ImageStatus::Ready);
    let keeping: Vec<Event> = Event::ALL
        .into_iter()
        .filter(|e| !e.starts_revision(ready))
        .collect();
    assert_eq!(
        keeping,
        [
            Event::ContainerCreated,
            Event::PublishSent,
            Event::MediaPublished,
            Event::ImageClaimed,
            Event::PublishQueued,
            Event::PublishHeld,
            Event::Reminded,
            Event::ItemFitted,
        ]
    );
}

/// An image asked for again while it is still pending or being made changes nothing a
/// reviewer sees; asked for instead of a ready or failed one, it does.
#[test]
fn an_image_asked_again_starts_a_revision_only_when_the_reviewer_sees_a_change() {
    for image in ImageStatus::ALL {
        let from = state(Status::Draft, image);
        assert_eq!(
            transition(from, Event::ImageRequested),
            Ok(state(Status::Draft, ImageStatus::Pending)),
            "{image}"
        );
        assert_eq!(
            Event::ImageRequested.starts_revision(from),
            matches!(image, ImageStatus::Ready | ImageStatus::Failed),
            "{image}"
        );
    }
}

/// The scheduler's bookkeeping never moves a draft: status, image and text stay, and each
/// applies only where the scheduler looks for it.
#[test]
fn scheduling_events_change_nothing_but_their_columns() {
    use Status as S;
    let legal_in = |event: Event| -> &'static [Status] {
        match event {
            Event::PublishQueued => &[S::Approved, S::Publishing],
            Event::PublishHeld => &[S::Approved],
            _ => &[S::Draft],
        }
    };
    for event in [Event::PublishQueued, Event::PublishHeld, Event::Reminded] {
        assert!(!event.is_image_event());
        assert!(
            !event.depends_on_image() && !event.depends_on_text(),
            "{event}"
        );
        for from in every_state() {
            match transition(from, event) {
                Ok(to) => {
                    assert_eq!(to, from, "{from:?} + {event}");
                    assert!(legal_in(event).contains(&from.status), "{from:?} + {event}");
                    assert!(!event.starts_revision(from));
                }
                Err(refusal) => {
                    assert!(
                        !legal_in(event).contains(&from.status),
                        "{from:?} + {event}"
                    );
                    assert_eq!(
                        refusal,
                        Refusal::WrongStatus {
                            status: from.status,
                            event
                        }
                    );
                }
            }
        }
    }
}

#[test]
fn status_names_round_trip() {
    for status in Status::ALL {
        assert_eq!(Status::parse(status.as_str()), Some(status));
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(json, format!("\"{}\"", status.as_str()));
    }
    assert_eq!(Status::parse("Draft"), None);
}

#[test]
fn draft_ids() {
    let id = DraftId::from_random_bytes([7; 16]);
    let text = id.to_string();
    assert_eq!(text.len(), 36);
    assert_eq!(&text[14..15], "4", "a v4 uuid");
    assert_eq!(DraftId::parse(&text), Ok(id));
    for bad in [
        "",
        "not-a-uuid",
        "0707070707074707870707070707070707",
        "{07070707-0707-4707-8707-070707070707}",
    ] {
        assert_eq!(
            DraftId::parse(bad),
            Err(InvalidDraftId(bad.to_owned())),
            "{bad}"
        );
    }
}
