//! Carousels and the first comment: their own runs, and the promises the exhaustive walk
//! (`tests::every_path_keeps_the_promises`) checks on every path.

use super::tests::{NOW, POLICY};
use super::*;

const CAROUSEL: Shape = Shape {
    children: 3,
    first_comment: true,
};

/// A carousel is made from children, each read ready, then only its parent is published;
/// the first comment follows, recorded before it is sent.
pub(super) fn check_carousel(record: &Record, path: &[(Action, Outcome)]) {
    let carousel = record.shape.children > 0;
    for (i, (action, _)) in path.iter().enumerate() {
        match action {
            Action::Publish { container_id } => assert!(
                !container_id.starts_with('k'),
                "a carousel item was sent to media_publish: {path:?}"
            ),
            Action::CreateContainer => {
                assert!(!carousel, "a carousel made as one image: {path:?}")
            }
            Action::CreateChild { .. } | Action::ReadChild { .. } => {
                assert!(carousel, "children for a single image: {path:?}")
            }
            Action::CreateCarousel { children } => {
                assert!(carousel, "a carousel parent for a single image: {path:?}");
                assert_eq!(children.len(), record.shape.children, "{path:?}");
                for child in children {
                    let ready = path[..i].iter().any(|(a, o)| {
                        matches!(a, Action::ReadChild { container_id, .. } if container_id == child)
                            && *o == Outcome::Status(Reading::Finished)
                    });
                    assert!(
                        ready,
                        "the parent made before {child} was read ready: {path:?}"
                    );
                }
            }
            _ => {}
        }
    }
}

pub(super) fn check_comment(record: &Record, path: &[(Action, Outcome)], last: &Action) {
    let recorded_here = path
        .iter()
        .filter(|(action, _)| *action == Action::RecordComment)
        .count() as u32;
    let sends_before = record.comment.sends - recorded_here;
    let mut posts = 0;
    let mut may_be_out = sends_before > 0;
    for (i, (action, outcome)) in path.iter().enumerate() {
        match action {
            Action::PostComment { .. } => {
                assert!(
                    record.shape.first_comment,
                    "a comment nobody asked for: {path:?}"
                );
                assert!(
                    i > 0 && path[i - 1].0 == Action::RecordComment,
                    "a comment sent without its record first: {path:?}"
                );
                let live = record.media_id.is_some()
                    || path[..i].iter().any(|(_, o)| {
                        matches!(o, Outcome::Published { .. } | Outcome::Media(Some(_)))
                    });
                assert!(live, "a comment before the post is live: {path:?}");
                assert!(
                    !may_be_out,
                    "a comment sent again while an earlier send may be out: {path:?}"
                );
                posts += 1;
                may_be_out = true;
            }
            Action::FindComment { .. } if *outcome == Outcome::Comment(None) => may_be_out = false,
            _ => {}
        }
    }
    assert!(
        sends_before + posts <= MAX_COMMENT_SENDS,
        "more sends than allowed: {path:?}"
    );
    if let Action::Succeed {
        media_id, comment, ..
    } = last
    {
        let wanted = record.shape.first_comment
            && record.comment.id.is_none()
            && record.comment.failed.is_none();
        let confirmed = path.iter().find_map(|(_, o)| match o {
            Outcome::Commented { comment_id } | Outcome::Comment(Some(comment_id)) => {
                Some(comment_id.clone())
            }
            _ => None,
        });
        match comment {
            CommentEnd::Unchanged => assert!(!wanted, "the comment left open: {path:?}"),
            CommentEnd::Posted(id) => assert_eq!(Some(id), confirmed.as_ref(), "{path:?}"),
            CommentEnd::Failed(_) => assert!(
                wanted && confirmed.is_none(),
                "a confirmed comment recorded as failed: {path:?}"
            ),
        }
        if media_id.is_none() {
            assert_eq!(posts, 0, "a comment on an unknown post: {path:?}");
        }
    }
}

fn start(record: Record) -> (Machine, Action) {
    Machine::start(POLICY, record, None, NOW, 7)
}

fn created(id: &str) -> Outcome {
    Outcome::Created {
        container_id: id.into(),
    }
}

fn child(index: usize, id: &str) -> Action {
    Action::ReadChild {
        index,
        container_id: id.into(),
    }
}

/// The carousel's three children made as `ids`, each asking for the next; then the first is
/// read.
fn create_children(machine: &mut Machine, ids: [&str; 3]) {
    for (index, id) in ids.iter().enumerate() {
        let then = match ids.get(index + 1) {
            Some(_) => Action::CreateChild { index: index + 1 },
            None => child(0, ids[0]),
        };
        assert_eq!(machine.next(created(id)), then, "after child {index}");
    }
}

#[test]
fn a_carousel_makes_and_reads_each_child_then_publishes_the_parent_then_comments() {
    let (mut machine, action) = start(Record {
        shape: CAROUSEL,
        ..Record::default()
    });
    assert_eq!(action, Action::CreateChild { index: 0 });
    create_children(&mut machine, ["k1", "k2", "k3"]);
    let finished = || Outcome::Status(Reading::Finished);
    assert_eq!(machine.next(finished()), child(1, "k2"));
    assert_eq!(machine.next(finished()), child(2, "k3"));
    assert_eq!(
        machine.next(finished()),
        Action::CreateCarousel {
            children: vec!["k1".into(), "k2".into(), "k3".into()]
        }
    );
    assert_eq!(machine.record().children, ["k1", "k2", "k3"]);
    assert_eq!(
        machine.next(created("p1")),
        Action::ReadStatus {
            container_id: "p1".into()
        }
    );
    assert_eq!(
        machine.next(finished()),
        Action::RecordSent {
            container_id: "p1".into()
        }
    );
    assert_eq!(
        machine.next(Outcome::Recorded),
        Action::Publish {
            container_id: "p1".into()
        }
    );
    assert_eq!(
        machine.next(Outcome::Published {
            media_id: "m1".into()
        }),
        Action::RecordComment
    );
    assert_eq!(
        machine.next(Outcome::Recorded),
        Action::PostComment {
            media_id: "m1".into()
        }
    );
    assert_eq!(machine.record().comment.sends, 1);
    let end = machine.next(Outcome::Commented {
        comment_id: "n1".into(),
    });
    assert!(
        matches!(&end, Action::Succeed { media_id: Some(m), comment: CommentEnd::Posted(n), .. } if m == "m1" && n == "n1"),
        "{end:?}"
    );
}

#[test]
fn recorded_children_are_reused_by_the_next_run() {
    let (_, action) = start(Record {
        shape: CAROUSEL,
        children: vec!["k1".into(), "k2".into()],
        ..Record::default()
    });
    assert_eq!(action, Action::CreateChild { index: 2 });
    let (_, action) = start(Record {
        shape: CAROUSEL,
        children: vec!["k1".into(), "k2".into(), "k3".into()],
        ..Record::default()
    });
    assert_eq!(action, child(0, "k1"));
    // Children of another snapshot (more than the post has) are not used.
    let (_, action) = start(Record {
        shape: Shape {
            children: 2,
            first_comment: false,
        },
        children: vec!["k1".into(), "k2".into(), "k3".into()],
        ..Record::default()
    });
    assert_eq!(action, Action::CreateChild { index: 0 });
    // A carousel never opens with a container made beside the claim.
    assert!(!Machine::opens_with_container(&Record {
        shape: CAROUSEL,
        ..Record::default()
    }));
}

#[test]
fn a_child_in_progress_is_polled_and_a_dead_one_replaces_the_children_once() {
    let record = Record {
        shape: CAROUSEL,
        children: vec!["k1".into(), "k2".into(), "k3".into()],
        ..Record::default()
    };
    let (mut machine, _) = start(record.clone());
    assert!(matches!(
        machine.next(Outcome::Status(Reading::InProgress)),
        Action::Defer {
            deferral: Deferral::Poll,
            ..
        }
    ));
    let dead = || {
        Outcome::Status(Reading::Dead {
            new_container_helps: true,
            reason: "EXPIRED".into(),
        })
    };
    let (mut machine, _) = start(record);
    assert_eq!(machine.next(dead()), Action::CreateChild { index: 0 });
    assert!(machine.record().children.is_empty());
    create_children(&mut machine, ["k4", "k5", "k6"]);
    // Made in this run and dead again: the attempt failed.
    assert!(matches!(
        machine.next(dead()),
        Action::Defer {
            deferral: Deferral::Retry,
            ..
        }
    ));
}

#[test]
fn a_dead_parent_is_replaced_with_new_children() {
    let (mut machine, action) = start(Record {
        shape: CAROUSEL,
        children: vec!["k1".into(), "k2".into(), "k3".into()],
        container_id: Some("p1".into()),
        ..Record::default()
    });
    assert_eq!(
        action,
        Action::ReadStatus {
            container_id: "p1".into()
        }
    );
    let next = machine.next(Outcome::Status(Reading::Dead {
        new_container_helps: true,
        reason: "EXPIRED".into(),
    }));
    assert_eq!(next, Action::CreateChild { index: 0 });
}

#[test]
fn a_lost_comment_answer_is_looked_for_and_never_sent_twice_blindly() {
    let live = Record {
        shape: Shape {
            children: 0,
            first_comment: true,
        },
        media_id: Some("m1".into()),
        ..Record::default()
    };
    // Lost answer, then found among the comments: posted once.
    let (mut machine, action) = start(live.clone());
    assert_eq!(action, Action::RecordComment);
    machine.next(Outcome::Recorded);
    let find = Action::FindComment {
        media_id: "m1".into(),
    };
    assert_eq!(
        machine.next(Outcome::Failed(Trouble::Unclear("lost".into()))),
        find
    );
    assert!(matches!(
        machine.next(Outcome::Comment(Some("n1".into()))),
        Action::Succeed { comment: CommentEnd::Posted(ref n), .. } if n == "n1"
    ));
    // A run that died after the record: looked for before anything is sent.
    let (mut machine, action) = start(Record {
        comment: CommentRecord {
            sends: 1,
            sent_at: Some(NOW),
            ..CommentRecord::default()
        },
        ..live.clone()
    });
    assert_eq!(action, find);
    assert_eq!(machine.next(Outcome::Comment(None)), Action::RecordComment);
    machine.next(Outcome::Recorded);
    assert_eq!(
        machine.next(Outcome::Failed(Trouble::Unclear("lost".into()))),
        find
    );
    // The sends are spent: the post ends published, the comment failed with a reason.
    assert!(matches!(
        machine.next(Outcome::Comment(None)),
        Action::Succeed {
            media_id: Some(_),
            comment: CommentEnd::Failed(_),
            ..
        }
    ));
    // A refusal fails the comment, never the post.
    let (mut machine, _) = start(live.clone());
    machine.next(Outcome::Recorded);
    let end = machine.next(Outcome::Failed(Trouble::Refused("code 10".into())));
    assert!(
        matches!(&end, Action::Succeed { media_id: Some(_), comment: CommentEnd::Failed(reason), .. } if reason.contains("code 10")),
        "{end:?}"
    );
    // A comment recorded before is left alone.
    let (_, action) = start(Record {
        comment: CommentRecord {
            id: Some("n1".into()),
            sends: 1,
            ..CommentRecord::default()
        },
        ..live
    });
    assert!(matches!(
        action,
        Action::Succeed {
            comment: CommentEnd::Unchanged,
            ..
        }
    ));
}

#[test]
fn a_live_post_with_its_media_unknown_records_the_comment_as_failed() {
    let (mut machine, _) = start(Record {
        shape: Shape {
            children: 0,
            first_comment: true,
        },
        container_id: Some("c1".into()),
        sent: Some(Sent {
            container_id: "c1".into(),
            at: NOW - Duration::seconds(60),
        }),
        ..Record::default()
    });
    assert!(matches!(
        machine.next(Outcome::Status(Reading::Published)),
        Action::FindMedia { .. }
    ));
    assert!(matches!(
        machine.next(Outcome::Media(None)),
        Action::Succeed {
            media_id: None,
            comment: CommentEnd::Failed(_),
            ..
        }
    ));
}

#[test]
fn a_throttled_comment_waits_a_bounded_time_after_its_send_then_fails_with_the_reason() {
    let record = |sent_ago: i64| Record {
        shape: Shape {
            children: 0,
            first_comment: true,
        },
        media_id: Some("m1".into()),
        comment: CommentRecord {
            sends: 1,
            sent_at: Some(NOW - Duration::seconds(sent_ago)),
            ..CommentRecord::default()
        },
        ..Record::default()
    };
    let throttled = || {
        Outcome::Failed(Trouble::Throttled {
            wait: None,
            reason: "code 4".into(),
        })
    };
    // Looked for, not there, sent again, throttled: the draft waits, the post stays live.
    let (mut machine, _) = start(record(60));
    machine.next(Outcome::Comment(None));
    machine.next(Outcome::Recorded);
    let waited = machine.next(throttled());
    assert!(
        matches!(&waited, Action::Defer { deferral: Deferral::Wait, delay, .. } if *delay >= 1),
        "{waited:?}"
    );
    // The comments cannot be read yet: the same wait.
    let (mut machine, _) = start(record(60));
    assert!(matches!(
        machine.next(Outcome::Failed(Trouble::Transient("busy".into()))),
        Action::Defer {
            deferral: Deferral::Wait,
            ..
        }
    ));
    // Past the bound: the comment fails with the reason, the post is published.
    let past = i64::from(POLICY.unresolved_alert_seconds) + 1;
    let (mut machine, _) = start(record(past));
    let end = machine.next(Outcome::Failed(Trouble::Transient("busy".into())));
    assert!(
        matches!(&end, Action::Succeed { media_id: Some(_), comment: CommentEnd::Failed(reason), .. } if reason.contains("busy")),
        "{end:?}"
    );
}
