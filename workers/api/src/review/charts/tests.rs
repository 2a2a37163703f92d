use time::macros::date;

use super::*;

fn row(day: &str, account: &str, published: i64) -> DayRow {
    DayRow {
        day: day.into(),
        account_id: account.into(),
        published,
        live_seconds: published * 120,
        approved: published,
        review_seconds: published * 7200,
    }
}

#[test]
fn bars_are_scaled_to_the_largest_and_the_numbers_are_also_a_table() {
    let bars = vec![Bar::count("a", 2), Bar::count("b", 4), Bar::count("c", 0)];
    let svg = bar_chart("Posts", &bars).into_string();
    // The largest takes the whole room (600 - 150 - 50), the half of it half.
    assert!(svg.contains(r#"width="400.0""#), "{svg}");
    assert!(svg.contains(r#"width="200.0""#), "{svg}");
    assert!(svg.contains(r#"width="0.0""#), "{svg}");
    assert!(svg.contains("<th scope=\"row\">b</th><td>4</td>"), "{svg}");
    assert!(svg.contains("<title>Posts</title>"));
}

#[test]
fn columns_rise_to_the_largest_and_every_seventh_is_labelled_from_the_latest() {
    let bars: Vec<Bar> = (0..14)
        .map(|i| Bar::count(format!("d{i}"), i % 3))
        .collect();
    let svg = column_chart("Days", &bars, 7).into_string();
    assert!(
        svg.contains(r#"height="120.0""#),
        "the largest is the whole plot: {svg}"
    );
    assert!(svg.contains(">d13</text>") && svg.contains(">d6</text>"));
    assert!(!svg.contains(">d12</text>"));
    assert!(svg.contains("<th scope=\"row\">d13</th><td>1</td>"));
}

#[test]
fn an_empty_chart_says_so_and_escapes_its_labels() {
    let none = bar_chart("Nothing", &[Bar::count("x", 0)]).into_string();
    assert!(none.contains("Nothing to show yet."));
    assert!(!none.contains("<svg"));
    let hostile = bar_chart("t", &[Bar::count("<script>", 1)]).into_string();
    assert!(!hostile.contains("<script>"));
}

#[test]
fn days_weeks_and_averages_come_from_the_kept_rows() {
    let rows = [
        row("2027-03-01", "", 2),
        row("2027-03-07", "", 1),
        row("2027-03-08", "", 5),
    ];
    let refs: Vec<&DayRow> = rows.iter().collect();
    let days = per_day(&refs, date!(2027 - 03 - 08));
    assert_eq!(days.len(), DAYS as usize);
    assert_eq!(days.last().unwrap().value, 5.0);
    assert_eq!(days.last().unwrap().label, "3/8");
    // 2027-03-01 is a Monday: that week holds the 1st and the 7th.
    let first = date!(2027 - 03 - 01) - Duration::weeks(WEEKS - 2);
    assert_eq!(monday_of(date!(2027 - 03 - 07)), date!(2027 - 03 - 01));
    let weeks = per_week(&refs, first, |d| d.published);
    assert_eq!(weeks[WEEKS as usize - 2].value, 3.0);
    assert_eq!(weeks[WEEKS as usize - 1].value, 5.0);
    let review = averages(&rows, first, |d| (d.review_seconds, d.approved));
    assert_eq!(review[WEEKS as usize - 1].shown, "2.0 h");
    assert_eq!(review[0].shown, "–");
    let live = averages(&rows, first, |d| (d.live_seconds, d.published));
    assert_eq!(live[WEEKS as usize - 1].shown, "2.0 min");
    assert_eq!(duration_words(42.0), "42 s");
    assert_eq!(duration_words(3.0 * 86400.0), "3.0 days");
}
