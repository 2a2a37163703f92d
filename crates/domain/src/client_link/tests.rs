use time::macros::datetime;

use super::*;

fn id(n: u8) -> DraftId {
    DraftId::parse(&format!("123e4567-e89b-42d3-a456-4266141740{n:02}")).unwrap()
}

const NOW: OffsetDateTime = datetime!(2027-01-10 09:00 UTC);

#[test]
fn a_link_opens_for_its_drafts_until_it_expires_or_is_revoked() {
    let link = new_link("  Hana Sato ", vec![id(1), id(2)], Some(2), NOW).unwrap();
    assert_eq!(link.client_name, "Hana Sato");
    assert_eq!(link.decider(), "Hana Sato (via link)");
    assert_eq!(link.expires_at, datetime!(2027-01-12 09:00 UTC));
    assert_eq!(link.judge(NOW, None), Ok(()));
    assert_eq!(link.judge(NOW, Some(id(2))), Ok(()));
    assert_eq!(link.judge(NOW, Some(id(3))), Err(Refusal::NotInLink));
    assert_eq!(
        link.judge(link.expires_at, Some(id(1))),
        Err(Refusal::Expired)
    );
    let revoked = Link {
        revoked_at: Some(NOW),
        ..link
    };
    assert_eq!(revoked.judge(NOW, Some(id(1))), Err(Refusal::Revoked));
}

#[test]
fn a_link_names_a_person_and_a_few_drafts_for_a_bounded_time() {
    let problems = new_link(" ", vec![], Some(31), NOW).unwrap_err();
    assert_eq!(
        problems,
        vec![LinkError::EmptyName, LinkError::DraftCount, LinkError::Days]
    );
    assert_eq!(
        new_link("A\u{202e}B", vec![id(1), id(1)], Some(0), NOW).unwrap_err(),
        vec![
            LinkError::NameCharacters,
            LinkError::RepeatedDraft,
            LinkError::Days
        ]
    );
    let long = "x".repeat(MAX_NAME_CHARS + 1);
    assert_eq!(
        new_link(&long, vec![id(1)], None, NOW).unwrap_err(),
        vec![LinkError::NameTooLong]
    );
    let many = (0..=MAX_DRAFTS as u8).map(id).collect();
    assert_eq!(
        new_link("Hana", many, None, NOW).unwrap_err(),
        vec![LinkError::DraftCount]
    );
    let week = new_link("Hana", vec![id(1)], None, NOW).unwrap();
    assert_eq!(week.expires_at, NOW + Duration::days(DEFAULT_DAYS));
    assert_eq!(LinkError::Days.field(), "expiresInDays");
}
