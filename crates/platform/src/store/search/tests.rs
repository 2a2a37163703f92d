use super::*;

/// A search for `text` and nothing else.
fn searching(text: &str) -> Filter {
    Filter {
        text: Some(text.into()),
        ..Filter::default()
    }
}

#[test]
fn words_lose_their_hash_and_are_bounded() {
    assert_eq!(terms("  #花見  soup "), vec!["花見", "soup"]);
    assert_eq!(terms(&"a ".repeat(20)).len(), MAX_TERMS);
    assert_eq!(terms(&"x".repeat(100))[0].chars().count(), MAX_TERM_CHARS);
}

#[test]
fn three_characters_or_more_use_the_index() {
    let filter = Filter {
        status: Some(Status::Draft),
        ..searching("満開の 桜")
    };
    let (sql, binds) = page_sql(&filter, None, Towards::Older, 21, None);
    assert!(sql.contains("drafts_search MATCH ?1"), "{sql}");
    assert_eq!(binds[0], Value::Text("\"満開の\"".into()));
    assert!(sql.contains("instr(lower(s.body), lower(?2))"), "{sql}");
    assert!(sql.contains("ORDER BY s.rowid DESC"), "{sql}");
}

#[test]
fn a_quote_in_a_word_stays_inside_its_phrase() {
    let filter = searching("say\"OR\"x");
    let (_, binds) = page_sql(&filter, None, Towards::Older, 21, None);
    assert_eq!(binds[0], Value::Text("\"say\"\"OR\"\"x\"".into()));
}

#[test]
fn short_words_read_the_index_by_the_trigrams_they_begin() {
    let filter = searching("東京 タワー #OK");
    assert_eq!(short_words(&filter), vec!["東京", "ok"]);
    let (sql, binds) = trigrams_sql("東京");
    assert!(
        sql.contains("FROM drafts_search_terms WHERE term >= ?1 AND term < ?2"),
        "{sql}"
    );
    assert_eq!(binds[1], Value::Text("東京\u{10FFFF}".into()));
    assert_eq!(binds[2], Value::Int(MAX_SHORT_WORD_TRIGRAMS as i64 + 1));
    let trigrams = vec![
        vec!["東京で".to_owned(), "東京\"".to_owned()],
        vec!["ok ".to_owned()],
    ];
    let (sql, binds) = page_sql(&filter, None, Towards::Older, 21, Some(&trigrams));
    assert!(sql.contains("drafts_search MATCH ?1"), "{sql}");
    assert!(!sql.contains(&format!("- {SHORT_WINDOW}")), "{sql}");
    assert_eq!(
        binds[0],
        Value::Text("\"タワー\" AND (\"東京で\" OR \"東京\"\"\") AND (\"ok \")".into())
    );
    // The words themselves are still checked in the text.
    assert!(sql.contains("instr(lower(s.body), lower(?2))"), "{sql}");
    // Trigrams for some short words only: the index is read for the long word alone.
    let (_, binds) = page_sql(&filter, None, Towards::Older, 21, Some(&trigrams[..1]));
    assert_eq!(binds[0], Value::Text("\"タワー\"".into()));
}

#[test]
fn short_words_read_a_bounded_window() {
    let filter = searching("桜");
    let (sql, _) = page_sql(&filter, None, Towards::Older, 21, None);
    assert!(!sql.contains("MATCH"), "{sql}");
    assert!(sql.contains(&format!("- {SHORT_WINDOW}")), "{sql}");
}

#[test]
fn every_filter_is_a_bound_parameter() {
    let filter = Filter {
        status: Some(Status::Approved),
        accounts: Some((vec!["17841400000000001".into()], true)),
        language: Some("ja".into()),
        reviewer: Some("Aiko'; DROP".into()),
        from: Some("2026-01-01T00:00:00Z".into()),
        until: Some("2026-02-01T00:00:00Z".into()),
        text: None,
    };
    let (sql, binds) = page_sql(&filter, None, Towards::Newer, 21, None);
    assert!(!sql.contains("DROP"), "{sql}");
    assert!(sql.contains("(d.created_at, d.rowid) > (?2, ?1)"), "{sql}");
    assert!(sql.contains("OR d.account_id IS NULL"), "{sql}");
    assert!(sql.contains("ORDER BY d.created_at ASC"), "{sql}");
    assert_eq!(binds.len(), 9);
}

#[test]
fn up_next_and_the_calendar_are_limited_to_the_accounts_in_the_statement() {
    let some = (vec!["17841400000000002".to_owned()], false);
    let (sql, binds) = up_next_sql(None, 31, Some(&some));
    assert!(
        sql.contains("account_id IN (SELECT value FROM json_each(?4))"),
        "{sql}"
    );
    assert!(!sql.contains("IS NULL"), "{sql}");
    assert_eq!(binds[3], Value::Text("[\"17841400000000002\"]".into()));
    let (sql, binds) = calendar_sql("a", "b", Some(&(some.0.clone(), true)));
    assert_eq!(sql.matches("OR account_id IS NULL").count(), 2, "{sql}");
    assert_eq!(binds.len(), 4);
    let (sql, binds) = up_next_sql(None, 31, None);
    assert!(!sql.contains("json_each"), "{sql}");
    assert_eq!(binds.len(), 3);
}
