use super::*;

fn id() -> DraftId {
    DraftId::parse("0190f3c2-7a3b-7c4d-8e5f-0123456789ab").unwrap()
}

#[test]
fn a_plan_renders_as_one_conditional_update_with_numbered_parameters() {
    let plan = WritePlan {
        sets: vec![
            ("status", Set::To(Value::Text("approved".into()))),
            ("last_error", Set::To(Value::Null)),
            ("approved_caption", Set::CopyOf("caption")),
            ("revision", Set::Increment),
            ("container_id", Set::KeepOr(Value::Text("c1".into()))),
        ],
        guards: vec![
            Guard::Equals("status", Value::Text("draft".into())),
            Guard::Is("account_id", Value::Null),
            Guard::AtMost(
                "claim_expires_at",
                Value::Text("2026-01-01T00:00:00Z".into()),
            ),
            Guard::IsNull("media_id"),
            Guard::NotNull("caption"),
            Guard::MediaUnclaimed(Value::Text("m1".into())),
            Guard::Equals("revision", Value::Int(3)),
        ],
    };
    let (sql, binds) = render(id(), &plan);
    assert_eq!(
        sql,
        "UPDATE drafts SET status = ?1, last_error = NULL, approved_caption = caption, \
         revision = revision + 1, container_id = COALESCE(container_id, ?2) \
         WHERE id = ?3 AND status = ?4 AND account_id IS ?5 \
         AND (claim_expires_at IS NULL OR claim_expires_at <= ?6) AND media_id IS NULL \
         AND caption IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM drafts AS other WHERE other.media_id = ?7) \
         AND revision = ?8 RETURNING *"
    );
    assert_eq!(
        binds,
        vec![
            Value::Text("approved".into()),
            Value::Text("c1".into()),
            Value::Text(id().to_string()),
            Value::Text("draft".into()),
            Value::Null,
            Value::Text("2026-01-01T00:00:00Z".into()),
            Value::Text("m1".into()),
            Value::Int(3),
        ]
    );
}

#[test]
fn a_planned_change_renders_its_guards_from_the_state_it_expects() {
    use domain::change::{Change, Expected, plan};
    use domain::draft::{DraftState, ImageStatus, Status};
    let expected = Expected {
        state: DraftState {
            status: Status::Draft,
            image: ImageStatus::Ready,
            has_text: true,
        },
        revision: Some(2),
    };
    let now = time::macros::datetime!(2026-03-01 12:00 UTC);
    let plan = plan(expected, &Change::Discard, now).unwrap();
    let (sql, binds) = render(id(), &plan);
    assert!(sql.starts_with("UPDATE drafts SET status = ?1"), "{sql}");
    assert!(sql.contains("WHERE id = ?"), "{sql}");
    assert!(sql.ends_with(" RETURNING *"), "{sql}");
    assert_eq!(binds.first(), Some(&Value::Text("discarded".into())));
    assert!(binds.contains(&Value::Int(2)), "{binds:?}");
    assert_eq!(sql.matches('?').count(), binds.len());
}
