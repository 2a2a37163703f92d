use super::format_tests::{check_carousel, check_comment};
use super::*;
use time::macros::datetime;

pub(super) const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

pub(super) const POLICY: Policy = Policy {
    backoff: Backoff {
        base_seconds: 30,
        cap_seconds: 1_800,
        max_attempts: 3,
    },
    poll_seconds: 10,
    max_polls: 4,
    quota_wait_seconds: 600,
    settle_seconds: 300,
    throttle_limit_seconds: 6 * 3_600,
    unresolved_alert_seconds: 900,
};

fn sent(container: &str, ago_seconds: i64) -> Option<Sent> {
    Some(Sent {
        container_id: container.into(),
        at: NOW - Duration::seconds(ago_seconds),
    })
}

fn start(record: Record) -> (Machine, Action) {
    Machine::start(POLICY, record, None, NOW, 7)
}

fn read(container: &str) -> Action {
    Action::ReadStatus {
        container_id: container.into(),
    }
}

fn dead(helps: bool) -> Reading {
    Reading::Dead {
        new_container_helps: helps,
        reason: "expired".into(),
    }
}

fn kind(action: &Action) -> &'static str {
    match action {
        Action::CreateContainer => "create",
        Action::CreateChild { .. } => "create_child",
        Action::ReadChild { .. } => "read_child",
        Action::CreateCarousel { .. } => "create_carousel",
        Action::RecordComment => "record_comment",
        Action::PostComment { .. } => "post_comment",
        Action::FindComment { .. } => "find_comment",
        Action::ReadStatus { .. } => "read",
        Action::RecordSent { .. } => "record_sent",
        Action::Publish { .. } => "publish",
        Action::FindMedia { .. } => "find_media",
        Action::Succeed { .. } => "succeed",
        Action::Defer { .. } => "defer",
        Action::Unresolved { .. } => "unresolved",
        Action::GiveUp { .. } => "give_up",
    }
}

/// Runs the machine through `outcomes`, returning every action's kind.
fn walk(record: Record, outcomes: Vec<Outcome>) -> Vec<String> {
    let (mut machine, mut action) = start(record);
    let mut seen = vec![kind(&action).to_owned()];
    for outcome in outcomes {
        assert!(
            !action.is_final(),
            "{action:?} is final, yet {outcome:?} followed"
        );
        action = machine.next(outcome);
        seen.push(kind(&action).to_owned());
    }
    seen
}

#[test]
fn a_clean_run_creates_reads_records_then_publishes() {
    let steps = walk(
        Record::default(),
        vec![
            Outcome::Created {
                container_id: "c1".into(),
            },
            Outcome::Status(Reading::Finished),
            Outcome::Recorded,
            Outcome::Published {
                media_id: "m1".into(),
            },
        ],
    );
    assert_eq!(
        steps,
        ["create", "read", "record_sent", "publish", "succeed"]
    );
}

/// Window 1 and 3: a `media_publish` whose answer was lost, then FINISHED, is not known yet:
/// the draft waits for the settle time, and is never given up on in that run.
#[test]
fn an_unclear_publish_followed_by_finished_stays_unknown() {
    for trouble in [
        Trouble::Unclear("timeout".into()),
        Trouble::Transient("code 2".into()),
    ] {
        let (mut machine, _) = start(Record {
            container_id: Some("c1".into()),
            // The last attempt: a give-up would follow any ordinary failure.
            attempts_spent: 2,
            ..Record::default()
        });
        assert_eq!(
            machine.next(Outcome::Status(Reading::Finished)),
            Action::RecordSent {
                container_id: "c1".into()
            }
        );
        assert_eq!(
            machine.next(Outcome::Recorded),
            Action::Publish {
                container_id: "c1".into()
            }
        );
        assert_eq!(machine.next(Outcome::Failed(trouble.clone())), read("c1"));
        let after = machine.next(Outcome::Status(Reading::Finished));
        match after {
            Action::Defer {
                deferral, delay, ..
            } => {
                assert_eq!(deferral, Deferral::Retry, "{trouble:?}");
                assert_eq!(delay, POLICY.settle_seconds);
            }
            other => panic!("{trouble:?}: expected a wait for the settle time, got {other:?}"),
        }
    }
}

/// The next run, once the settle time passed, decides: FINISHED means it did not go out.
#[test]
fn after_the_settle_time_finished_means_not_published() {
    // Attempts left: publish again, the record first.
    let (_, action) = start(Record {
        container_id: Some("c1".into()),
        sent: sent("c1", 301),
        attempts_spent: 1,
        ..Record::default()
    });
    assert_eq!(action, read("c1"));
    let steps = walk(
        Record {
            container_id: Some("c1".into()),
            sent: sent("c1", 301),
            attempts_spent: 1,
            ..Record::default()
        },
        vec![Outcome::Status(Reading::Finished)],
    );
    assert_eq!(steps, ["read", "record_sent"]);
    // No attempts left: given up, after the read said it is not live.
    let steps = walk(
        Record {
            container_id: Some("c1".into()),
            sent: sent("c1", 301),
            attempts_spent: 3,
            ..Record::default()
        },
        vec![Outcome::Status(Reading::Finished)],
    );
    assert_eq!(steps, ["read", "give_up"]);
    // Within the settle time: still waiting, whatever the attempts.
    let steps = walk(
        Record {
            container_id: Some("c1".into()),
            sent: sent("c1", 100),
            attempts_spent: 3,
            ..Record::default()
        },
        vec![Outcome::Status(Reading::Finished)],
    );
    assert_eq!(steps, ["read", "defer"]);
}

/// Window 1 and 5: a status read that fails after a `media_publish` was sent leaves the
/// draft unresolved (waiting, the operator told when it lasts or the read is refused), never
/// given up on, whatever the attempt.
#[test]
fn an_unreadable_status_after_a_send_is_unresolved_never_failed() {
    for (trouble, unresolved_for, alert) in [
        (Trouble::Unclear("timeout".into()), 0, false),
        (Trouble::Unclear("timeout".into()), 900, true),
        (Trouble::Transient("code 1".into()), 60, false),
        (Trouble::TokenInvalid("code 190".into()), 0, true),
        (Trouble::Refused("code 100".into()), 0, true),
        (
            Trouble::Throttled {
                wait: None,
                reason: "code 4".into(),
            },
            0,
            false,
        ),
    ] {
        let (mut machine, action) = start(Record {
            container_id: Some("c1".into()),
            sent: sent("c1", 30),
            attempts_spent: 3,
            unresolved_since: Some(NOW - Duration::seconds(unresolved_for)),
            ..Record::default()
        });
        assert_eq!(action, read("c1"));
        match machine.next(Outcome::Failed(trouble.clone())) {
            Action::Unresolved {
                alert: raised,
                delay,
                ..
            } => {
                assert_eq!(raised, alert, "{trouble:?} after {unresolved_for} s");
                assert!(delay >= 1);
            }
            other => panic!("{trouble:?}: expected unresolved, got {other:?}"),
        }
    }
}

/// Window 5: the post is live but the lookup of its media is refused: published at once,
/// the media id unknown.
#[test]
fn a_refused_media_lookup_still_records_the_post_as_published() {
    let (mut machine, _) = start(Record {
        container_id: Some("c1".into()),
        sent: sent("c1", 30),
        ..Record::default()
    });
    assert_eq!(
        machine.next(Outcome::Status(Reading::Published)),
        Action::FindMedia {
            since: Some(NOW - Duration::seconds(30))
        }
    );
    match machine.next(Outcome::Failed(Trouble::Refused("code 100".into()))) {
        Action::Succeed {
            media_id, found, ..
        } => {
            assert_eq!(media_id, None);
            assert!(!found);
        }
        other => panic!("expected published, got {other:?}"),
    }
}

/// Window 6: throttling waits without spending attempts, until its time bound.
#[test]
fn throttling_waits_without_attempts_until_its_bound() {
    let throttled = || Trouble::Throttled {
        wait: None,
        reason: "code 4".into(),
    };
    let (mut machine, _) = start(Record {
        attempts_spent: 2,
        throttled_since: Some(NOW - Duration::hours(5)),
        ..Record::default()
    });
    match machine.next(Outcome::Failed(throttled())) {
        Action::Defer { deferral, .. } => assert_eq!(deferral, Deferral::Throttled),
        other => panic!("expected a throttled wait, got {other:?}"),
    }
    let (mut machine, _) = start(Record {
        throttled_since: Some(NOW - Duration::hours(6)),
        ..Record::default()
    });
    assert!(matches!(
        machine.next(Outcome::Failed(throttled())),
        Action::GiveUp { token: false, .. }
    ));
    // Meta's own estimate is the wait.
    let (mut machine, _) = start(Record::default());
    match machine.next(Outcome::Failed(Trouble::Throttled {
        wait: Some(120),
        reason: "code 80002".into(),
    })) {
        Action::Defer { delay, .. } => assert_eq!(delay, 120),
        other => panic!("expected a wait, got {other:?}"),
    }
}

/// Window 9: reconciliation comes before validation: a snapshot that breaks today's rules
/// does not stop a run from finding its earlier post live.
#[test]
fn reconciliation_comes_before_validation() {
    let invalid = Some("the caption breaks a rule deployed since".to_owned());
    let (mut machine, action) = Machine::start(
        POLICY,
        Record {
            container_id: Some("c1".into()),
            sent: sent("c1", 600),
            ..Record::default()
        },
        invalid.clone(),
        NOW,
        7,
    );
    assert_eq!(action, read("c1"));
    assert!(matches!(
        machine.next(Outcome::Status(Reading::Published)),
        Action::FindMedia { .. }
    ));
    // Without any container, the invalid snapshot is given up at once.
    let (_, action) = Machine::start(POLICY, Record::default(), invalid, NOW, 7);
    assert!(matches!(action, Action::GiveUp { .. }));
}

/// Re-approval and regeneration keep the container that was sent: the next approval's run
/// reads it first, and a live one makes the draft published, not a second post.
#[test]
fn a_container_sent_under_an_earlier_approval_is_read_first() {
    let record = Record {
        container_id: None,
        sent: sent("old", 3_600),
        ..Record::default()
    };
    let steps = walk(record.clone(), vec![Outcome::Status(Reading::Published)]);
    assert_eq!(steps, ["read", "find_media"]);
    // Not live: this approval makes its own container.
    let steps = walk(record.clone(), vec![Outcome::Status(Reading::Finished)]);
    assert_eq!(steps, ["read", "create"]);
    let steps = walk(record, vec![Outcome::Status(dead(true))]);
    assert_eq!(steps, ["read", "create"]);
}

/// The failed queue's give-up reads a sent container first: live means published.
#[test]
fn the_failed_queue_gives_up_only_after_a_read_says_not_live() {
    let record = Record {
        container_id: Some("c1".into()),
        sent: sent("c1", 3_600),
        ..Record::default()
    };
    let (mut machine, action) =
        Machine::give_up(POLICY, record.clone(), "dead letter".into(), false, NOW, 7);
    assert_eq!(action, read("c1"));
    assert!(matches!(
        machine.next(Outcome::Status(Reading::Published)),
        Action::FindMedia { .. }
    ));
    let (mut machine, _) =
        Machine::give_up(POLICY, record.clone(), "dead letter".into(), false, NOW, 7);
    assert_eq!(
        machine.next(Outcome::Status(Reading::Finished)),
        Action::GiveUp {
            reason: "dead letter".into(),
            token: false
        }
    );
    let (mut machine, _) = Machine::give_up(POLICY, record, "dead letter".into(), false, NOW, 7);
    assert!(matches!(
        machine.next(Outcome::Failed(Trouble::Unclear("timeout".into()))),
        Action::Unresolved { .. }
    ));
    // Nothing sent: given up at once.
    let (_, action) = Machine::give_up(
        POLICY,
        Record {
            container_id: Some("c1".into()),
            ..Record::default()
        },
        "dead letter".into(),
        true,
        NOW,
        7,
    );
    assert!(matches!(action, Action::GiveUp { token: true, .. }));
    assert!(matches!(action, Action::GiveUp { .. }));
}

/// A token refused by `media_publish` is read first too; with the status unreadable for the
/// same reason, the draft is unresolved and the operator told.
#[test]
fn a_token_refusal_after_a_send_reads_first() {
    let (mut machine, _) = start(Record {
        container_id: Some("c1".into()),
        ..Record::default()
    });
    machine.next(Outcome::Status(Reading::Finished));
    machine.next(Outcome::Recorded);
    assert_eq!(
        machine.next(Outcome::Failed(Trouble::TokenInvalid("190".into()))),
        read("c1")
    );
    assert!(matches!(
        machine.next(Outcome::Failed(Trouble::TokenInvalid("190".into()))),
        Action::Unresolved { alert: true, .. }
    ));
}

#[test]
fn in_progress_is_polled_then_counts_as_a_failed_attempt() {
    let steps = walk(
        Record {
            container_id: Some("c1".into()),
            polls: 3,
            ..Record::default()
        },
        vec![Outcome::Status(Reading::InProgress)],
    );
    assert_eq!(steps, ["read", "defer"]);
    let (mut machine, _) = start(Record {
        container_id: Some("c1".into()),
        polls: 4,
        ..Record::default()
    });
    match machine.next(Outcome::Status(Reading::InProgress)) {
        Action::Defer { deferral, .. } => assert_eq!(deferral, Deferral::Retry),
        other => panic!("expected a retry, got {other:?}"),
    }
}

#[test]
fn a_dead_container_is_replaced_once_per_run() {
    let steps = walk(
        Record {
            container_id: Some("c1".into()),
            ..Record::default()
        },
        vec![
            Outcome::Status(dead(true)),
            Outcome::Created {
                container_id: "c2".into(),
            },
            Outcome::Status(dead(true)),
        ],
    );
    assert_eq!(steps, ["read", "create", "read", "defer"]);
    let steps = walk(
        Record {
            container_id: Some("c1".into()),
            ..Record::default()
        },
        vec![Outcome::Status(dead(false))],
    );
    assert_eq!(steps, ["read", "give_up"]);
}

#[test]
fn a_recorded_media_id_finishes_at_once() {
    let (_, action) = start(Record {
        media_id: Some("m1".into()),
        sent: sent("c1", 5),
        ..Record::default()
    });
    assert!(matches!(action, Action::Succeed { found: false, .. }));
}

/// Every path, walked: a small model of Instagram answers each action with every outcome it
/// could give, and the machine must keep the promises in every run.
#[test]
fn every_path_keeps_the_promises() {
    let troubles = [
        Trouble::Unclear("lost".into()),
        Trouble::Transient("2".into()),
        Trouble::Throttled {
            wait: None,
            reason: "4".into(),
        },
        Trouble::Quota {
            wait: None,
            reason: "9".into(),
        },
        Trouble::NotReady("9007".into()),
        Trouble::NeedsNewContainer("expired".into()),
        Trouble::TokenInvalid("190".into()),
        Trouble::Refused("100".into()),
    ];
    let readings = [
        Reading::InProgress,
        Reading::Finished,
        Reading::Published,
        dead(true),
        dead(false),
    ];
    let records = [
        Record::default(),
        Record {
            container_id: Some("c0".into()),
            ..Record::default()
        },
        Record {
            container_id: Some("c0".into()),
            sent: sent("c0", 10),
            attempts_spent: 2,
            ..Record::default()
        },
        Record {
            container_id: Some("c0".into()),
            sent: sent("c0", 1_000),
            attempts_spent: 3,
            ..Record::default()
        },
        Record {
            sent: sent("old", 10_000),
            ..Record::default()
        },
        Record {
            container_id: Some("c0".into()),
            polls: 4,
            throttled_since: Some(NOW - Duration::hours(7)),
            ..Record::default()
        },
    ];
    let shapes = [
        Shape::default(),
        Shape {
            children: 0,
            first_comment: true,
        },
        Shape {
            children: 2,
            first_comment: true,
        },
    ];
    let mut records: Vec<Record> = shapes
        .iter()
        .flat_map(|shape| {
            records.iter().map(|record| Record {
                shape: *shape,
                ..record.clone()
            })
        })
        .collect();
    // A carousel with a child recorded by an earlier run, and a live post whose first
    // comment was sent by a run that died.
    records.push(Record {
        shape: shapes[2],
        children: vec!["k0".into()],
        polls: 2,
        ..Record::default()
    });
    records.push(Record {
        shape: shapes[2],
        children: vec!["k0".into(), "k1".into()],
        container_id: Some("c0".into()),
        ..Record::default()
    });
    records.push(Record {
        shape: shapes[1],
        media_id: Some("m0".into()),
        comment: CommentRecord {
            sends: 1,
            sent_at: Some(NOW - Duration::seconds(30)),
            ..CommentRecord::default()
        },
        ..Record::default()
    });
    let mut runs = 0;
    for record in &records {
        for give_up in [false, true] {
            let (machine, action) = if give_up {
                Machine::give_up(POLICY, record.clone(), "dead letter".into(), false, NOW, 3)
            } else {
                start(record.clone())
            };
            explore(machine, action, &troubles, &readings, Vec::new(), &mut runs);
        }
    }
    assert!(runs > 100_000, "only {runs} runs explored");
}

fn explore(
    machine: Machine,
    action: Action,
    troubles: &[Trouble],
    readings: &[Reading],
    path: Vec<(Action, Outcome)>,
    runs: &mut usize,
) {
    if action.is_final() || path.len() > 24 {
        assert!(action.is_final(), "no end after {path:?}");
        check_promises(machine.record(), &path, &action);
        *runs += 1;
        return;
    }
    let mut outcomes: Vec<Outcome> = troubles.iter().cloned().map(Outcome::Failed).collect();
    match &action {
        Action::CreateContainer => outcomes.push(Outcome::Created {
            container_id: format!("c{}", path.len() + 1),
        }),
        Action::ReadStatus { .. } => {
            outcomes.extend(readings.iter().cloned().map(Outcome::Status));
        }
        Action::RecordSent { .. } => outcomes = vec![Outcome::Recorded],
        Action::Publish { .. } => outcomes.push(Outcome::Published {
            media_id: "m".into(),
        }),
        Action::FindMedia { .. } => {
            outcomes.push(Outcome::Media(Some("m".into())));
            outcomes.push(Outcome::Media(None));
        }
        Action::CreateChild { index } => outcomes.push(Outcome::Created {
            container_id: format!("k{index}-{}", path.len()),
        }),
        Action::ReadChild { .. } => {
            outcomes.extend(readings.iter().cloned().map(Outcome::Status));
        }
        Action::CreateCarousel { .. } => outcomes.push(Outcome::Created {
            container_id: format!("p{}", path.len() + 1),
        }),
        Action::RecordComment => outcomes = vec![Outcome::Recorded],
        Action::PostComment { .. } => outcomes.push(Outcome::Commented {
            comment_id: "n".into(),
        }),
        Action::FindComment { .. } => {
            outcomes.push(Outcome::Comment(Some("n".into())));
            outcomes.push(Outcome::Comment(None));
        }
        _ => unreachable!(),
    }
    for outcome in outcomes {
        let mut next_machine = machine.clone();
        let next = next_machine.next(outcome.clone());
        let mut next_path = path.clone();
        next_path.push((action.clone(), outcome));
        explore(next_machine, next, troubles, readings, next_path, runs);
    }
}

/// The promises of one run that ended with `last`.
fn check_promises(record: &Record, path: &[(Action, Outcome)], last: &Action) {
    check_carousel(record, path);
    check_comment(record, path, last);
    // `media_publish` is sent only right after the record that it is sent.
    for (i, (action, _)) in path.iter().enumerate() {
        if let Action::Publish { container_id } = action {
            assert!(
                matches!(i.checked_sub(1).map(|p| &path[p].0), Some(Action::RecordSent { container_id: c }) if c == container_id),
                "publish without its record first: {path:?}"
            );
        }
    }
    // A container is sent to `media_publish` at most once a run, and another container only
    // after a read said the one sent before is dead.
    let mut sent_before: Option<&str> = None;
    for (i, (action, _)) in path.iter().enumerate() {
        if let Action::Publish { container_id } = action {
            if let Some(before) = sent_before {
                assert_ne!(before, container_id, "one container sent twice: {path:?}");
                let read_dead = path[..i].iter().any(|(a, o)| {
                    matches!(a, Action::ReadStatus { container_id: c } if c == before)
                        && matches!(o, Outcome::Status(Reading::Dead { .. }))
                });
                // Or Meta refused that `media_publish` outright, which says it published nothing.
                let refused = path[..i].iter().any(|(a, o)| {
                    matches!(a, Action::Publish { container_id: c } if c == before)
                        && matches!(o, Outcome::Failed(t) if !t.leaves_publish_open())
                });
                assert!(
                    read_dead || refused,
                    "a second container sent while the first may be live: {path:?}"
                );
            }
            sent_before = Some(container_id);
        }
    }
    // A published reading ends in success, or, when the media lookup failed in a way that
    // waiting may cure, in a wait that spends no attempt (bounded by the time since the send).
    if path.iter().any(|(action, outcome)| {
        matches!(action, Action::ReadStatus { .. })
            && outcome == &Outcome::Status(Reading::Published)
    }) {
        // Or the first comment waits for Instagram (throttled, its comments not readable yet).
        let lookup_failed = matches!(
            path.last(),
            Some((Action::FindMedia { .. } | Action::FindComment { .. }, Outcome::Failed(t))) if !t.refuses_reading()
        ) || matches!(
            path.last(),
            Some((
                Action::PostComment { .. },
                Outcome::Failed(
                    Trouble::Throttled { .. } | Trouble::Quota { .. } | Trouble::NotReady(_)
                )
            ))
        );
        assert!(
            matches!(last, Action::Succeed { .. })
                || (lookup_failed
                    && matches!(
                        last,
                        Action::Defer {
                            deferral: Deferral::Wait,
                            ..
                        }
                    )),
            "live but ended {last:?}: {path:?}"
        );
    }
    // Give up only when nothing may be live: no container sent, or its last read in this
    // run said it is not live and (after an unclear answer) the settle time had passed.
    if let Action::GiveUp { .. } = last
        && let Some(sent) = &record.sent
    {
        let last_read = path
            .iter()
            .rev()
            .find_map(|(action, outcome)| match (action, outcome) {
                (Action::ReadStatus { container_id }, Outcome::Status(reading))
                    if *container_id == sent.container_id =>
                {
                    Some(reading.clone())
                }
                _ => None,
            });
        // This run's `media_publish` was refused outright, which says it did not publish.
        let refused_outright = path.iter().any(|(action, outcome)| {
            matches!(action, Action::Publish { .. })
                && matches!(outcome, Outcome::Failed(t) if !t.leaves_publish_open())
        });
        match last_read {
            Some(Reading::InProgress | Reading::Dead { .. }) => {}
            Some(Reading::Finished) => assert!(
                NOW - sent.at >= Duration::seconds(i64::from(POLICY.settle_seconds))
                    || refused_outright,
                "gave up on a FINISHED container within the settle time: {path:?}"
            ),
            other => {
                panic!("gave up with {other:?} as the last read of the sent container: {path:?}")
            }
        }
    }
}

/// Window 5: a live post whose media lookup fails is looked up again while that may help,
/// and recorded as published with its media unknown once Meta refuses the lookup or the
/// bound since the send has passed: never a wait without end.
#[test]
fn a_failed_media_lookup_waits_a_bounded_time_then_publishes_with_the_media_unknown() {
    let record = |sent_ago: i64| Record {
        container_id: Some("c1".into()),
        sent: Some(Sent {
            container_id: "c1".into(),
            at: NOW - Duration::seconds(sent_ago),
        }),
        ..Record::default()
    };
    let lookup = |sent_ago: i64, trouble: Trouble| {
        let (mut machine, action) = start(record(sent_ago));
        assert!(matches!(action, Action::ReadStatus { .. }));
        assert!(matches!(
            machine.next(Outcome::Status(Reading::Published)),
            Action::FindMedia { .. }
        ));
        machine.next(Outcome::Failed(trouble))
    };
    let transient = || Trouble::Transient("busy".into());
    assert!(matches!(
        lookup(60, transient()),
        Action::Defer {
            deferral: Deferral::Wait,
            ..
        }
    ));
    let past = i64::from(POLICY.unresolved_alert_seconds) + 1;
    assert!(matches!(
        lookup(past, transient()),
        Action::Succeed { media_id: None, .. }
    ));
    for refusal in [
        Trouble::Refused("code 100".into()),
        Trouble::TokenInvalid("code 190".into()),
    ] {
        assert!(matches!(
            lookup(60, refusal),
            Action::Succeed { media_id: None, .. }
        ));
    }
}

#[test]
fn an_account_that_cannot_publish_makes_the_draft_wait_whatever_its_record() {
    let reason = "the account @cafe needs reconnecting".to_owned();
    for record in [
        Record::default(),
        Record {
            container_id: Some("c1".into()),
            sent: sent("c1", 30),
            attempts_spent: 4,
            ..Record::default()
        },
    ] {
        let sent_before = record.sent.is_some();
        let (machine, action) =
            Machine::account_unavailable(POLICY, record, reason.clone(), NOW, 7);
        assert_eq!(
            action,
            Action::Defer {
                deferral: Deferral::Wait,
                delay: ACCOUNT_WAIT_SECONDS,
                reason: reason.clone(),
            }
        );
        // A send no read settled is kept by the deferral.
        assert_eq!(machine.sent_not_live(), !sent_before);
    }
}

#[test]
fn a_run_opens_with_a_container_exactly_when_it_says_so() {
    let records = [
        Record::default(),
        Record {
            container_id: Some("c1".into()),
            ..Record::default()
        },
        Record {
            container_id: Some("c1".into()),
            sent: sent("c1", 60),
            ..Record::default()
        },
        Record {
            sent: sent("c1", 60),
            ..Record::default()
        },
        Record {
            media_id: Some("m1".into()),
            ..Record::default()
        },
        Record {
            attempts_spent: 2,
            polls: 3,
            ..Record::default()
        },
    ];
    for record in records {
        let opens = Machine::opens_with_container(&record);
        let (_, action) = start(record.clone());
        assert_eq!(opens, action == Action::CreateContainer, "{record:?}");
        // An invalid snapshot never opens with a container.
        let (_, action) = Machine::start(POLICY, record, Some("too long".into()), NOW, 7);
        assert_ne!(action, Action::CreateContainer);
    }
}
