//! The views over many drafts: the list with its filters and full-text search, paged both
//! ways; "up next" (approved posts in the order they go out); and the calendar (scheduled and
//! published posts in a span of time). Every statement reads a range of an index (migration
//! 0015): the SQL is rendered here apart from D1 so the host tests read it.

use domain::change::Value;
use domain::draft::Status;

use super::db::DraftStore;
use super::sql::bind;
use super::{LAST_TIME, PageCursor, counts_of, page_and_counts};
use crate::d1;
use crate::store::row::DraftRow;

/// Words a search takes at most, and characters a word.
pub const MAX_TERMS: usize = 8;
pub const MAX_TERM_CHARS: usize = 64;
/// A word shorter than three characters ("桜", "東京"), which the trigram index cannot find
/// by itself, is looked up as the indexed trigrams that begin with it (the index's
/// vocabulary, `drafts_search_terms`, migration 0024), when there are at most this many.
pub const MAX_SHORT_WORD_TRIGRAMS: usize = 100;
/// A search whose short words begin more trigrams than that (a common letter), and has no
/// longer word, reads this many of the newest drafts a page, then offers to go on.
pub const SHORT_WINDOW: i64 = 2_000;
/// Posts a calendar span shows at most.
pub const CALENDAR_LIMIT: u32 = 500;

/// The text a search reads: caption, hashtags, alt text and the brief (as the triggers of
/// migration 0015 index it).
const SEARCHED_TEXT: &str = "d.caption || ' ' || COALESCE(d.hashtags, '') || ' ' || COALESCE(d.alt_text, '') || ' ' || COALESCE(CASE WHEN json_valid(d.request) THEN json_extract(d.request, '$.brief') END, '')";

/// What a list shows: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub status: Option<Status>,
    /// `None`: every account; else the account ids, and whether drafts naming no account
    /// (the default account's) are in.
    pub accounts: Option<(Vec<String>, bool)>,
    pub language: Option<String>,
    /// Who approved it.
    pub reviewer: Option<String>,
    /// Created at or after (RFC 3339).
    pub from: Option<String>,
    /// Created before (RFC 3339).
    pub until: Option<String>,
    /// Words, every one of which the text contains.
    pub text: Option<String>,
}

impl Filter {
    /// The search words of `text` (see [`terms`]); none without it.
    pub fn words(&self) -> Vec<String> {
        self.text.as_deref().map(terms).unwrap_or_default()
    }
}

/// Which way a page goes from its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Towards {
    Older,
    Newer,
}

/// A page of a list, and where the pages on either side start (`None`: nothing there).
#[derive(Debug, Default)]
pub struct Found {
    pub rows: Vec<DraftRow>,
    pub older: Option<PageCursor>,
    pub newer: Option<PageCursor>,
    /// Per-status counts, when asked for (see [`DraftStore::find`]).
    pub counts: Vec<(String, i64)>,
    /// A short-word search read only part of the history: the page may be short, and
    /// `older` goes on from where it stopped.
    pub partial: bool,
}

/// The search words: `#` dropped (hashtags are stored without it), at most [`MAX_TERMS`] of
/// at most [`MAX_TERM_CHARS`] characters.
pub fn terms(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|t| t.trim_start_matches('#'))
        .filter(|t| !t.is_empty())
        .take(MAX_TERMS)
        .map(|t| t.chars().take(MAX_TERM_CHARS).collect())
        .collect()
}

/// How rows are ordered and found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// By (created_at, rowid): the plain list.
    Created,
    /// By rowid, through the full-text index.
    Indexed,
    /// By rowid, a window of at most [`SHORT_WINDOW`] rows read in full.
    Window,
}

/// A statement's clauses and the values they bind, numbered as they are added.
#[derive(Default)]
struct Clauses {
    clauses: Vec<String>,
    binds: Vec<Value>,
}

impl Clauses {
    fn param(&mut self, value: Value) -> String {
        self.binds.push(value);
        format!("?{}", self.binds.len())
    }

    fn text(&mut self, value: &str) -> String {
        self.param(Value::Text(value.to_owned()))
    }

    fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }
}

/// Whether a search word is too short for the trigram index by itself.
fn is_short(word: &str) -> bool {
    word.chars().count() < 3
}

/// The search's short words, as the trigram index folds them.
pub fn short_words(filter: &Filter) -> Vec<String> {
    let words = filter.words();
    words
        .iter()
        .filter(|w| is_short(w))
        .map(|w| w.to_lowercase())
        .collect()
}

/// The statement listing the indexed trigrams that begin with a short `word` (folded, see
/// [`short_words`]): one more than [`MAX_SHORT_WORD_TRIGRAMS`] at most, by the vocabulary's
/// order, a range read.
pub fn trigrams_sql(word: &str) -> (String, Vec<Value>) {
    (
        "SELECT term FROM drafts_search_terms WHERE term >= ?1 AND term < ?2 ORDER BY term LIMIT ?3"
            .to_owned(),
        vec![
            Value::Text(word.to_owned()),
            // Above every string that begins with the word.
            Value::Text(format!("{word}\u{10FFFF}")),
            Value::Int(MAX_SHORT_WORD_TRIGRAMS as i64 + 1),
        ],
    )
}

/// What the index's vocabulary says of a search's short words.
enum Trigrams {
    /// No short word, or one that begins too many trigrams to search for them all (a common
    /// letter): the words are checked row by row.
    NoneOrTooMany,
    /// A word no indexed text begins a trigram with: it is in no draft.
    InNoDraft,
    /// For each short word, in order, the trigrams that begin it.
    Each(Vec<Vec<String>>),
}

/// A word as an FTS5 phrase.
fn phrase(word: &str) -> String {
    format!("\"{}\"", word.replace('"', "\"\""))
}

/// The statement for a page of `limit` rows (ask one more to know whether another follows).
/// `trigrams`: for each of the search's short words, in order, the indexed trigrams that
/// begin with it, when every short word has at most [`MAX_SHORT_WORD_TRIGRAMS`] (and at
/// least one); the search then reads the index for them too.
pub fn page_sql(
    filter: &Filter,
    cursor: Option<&PageCursor>,
    towards: Towards,
    limit: u32,
    trigrams: Option<&[Vec<String>]>,
) -> (String, Vec<Value>) {
    let words = filter.words();
    let (mode, trigrams) = reading(&words, trigrams);
    let (long, short): (Vec<&String>, Vec<&String>) = words.iter().partition(|t| !is_short(t));
    let mut sql = Clauses::default();
    sql.push("d.caption IS NOT NULL".to_owned());
    let from = if mode == Mode::Indexed {
        let mut query: Vec<String> = long.iter().map(|t| phrase(t)).collect();
        // A short word: any trigram that begins with it (a draft has the word where one of
        // them is; the word's own check below keeps the match exact).
        for group in trigrams.unwrap_or_default() {
            let any: Vec<String> = group.iter().map(|t| phrase(t)).collect();
            query.push(format!("({})", any.join(" OR ")));
        }
        // An explicit AND: FTS5 reads two phrases side by side as both, not a phrase and a
        // group.
        let query = sql.text(&query.join(" AND "));
        sql.push(format!("drafts_search MATCH {query}"));
        "drafts_search s JOIN drafts d ON d.rowid = s.rowid"
    } else {
        "drafts d"
    };
    let text = if mode == Mode::Indexed {
        "s.body"
    } else {
        SEARCHED_TEXT
    };
    for word in &short {
        let word = sql.text(word);
        sql.push(format!("instr(lower({text}), lower({word})) > 0"));
    }
    let order = cursor_clause(&mut sql, mode, cursor, towards);
    filter_clauses(&mut sql, filter);
    let limit = sql.param(Value::Int(i64::from(limit)));
    (
        format!(
            "SELECT d.rowid AS row_seq, d.* FROM {from} WHERE {} ORDER BY {order} LIMIT {limit}",
            sql.clauses.join(" AND ")
        ),
        sql.binds,
    )
}

/// Where the page starts, by the mode's order; the ORDER BY that goes with it.
fn cursor_clause(
    sql: &mut Clauses,
    mode: Mode,
    cursor: Option<&PageCursor>,
    towards: Towards,
) -> String {
    let older = towards == Towards::Older;
    let (compare, order) = if older { ("<", "DESC") } else { (">", "ASC") };
    let edge = if older { 1_i64 << 53 } else { -1 };
    let seq = sql.param(Value::Int(cursor.map_or(edge, |c| c.seq)));
    match mode {
        Mode::Created => {
            let at = match cursor {
                Some(c) => c.created_at.as_str(),
                None if older => LAST_TIME,
                None => "",
            };
            let at = sql.text(at);
            sql.push(format!("(d.created_at, d.rowid) {compare} ({at}, {seq})"));
            format!("d.created_at {order}, d.rowid {order}")
        }
        Mode::Indexed => {
            sql.push(format!("s.rowid {compare} {seq}"));
            format!("s.rowid {order}")
        }
        Mode::Window => {
            // From the cursor a window of SHORT_WINDOW rowids.
            sql.push(if older {
                format!("d.rowid < {seq} AND d.rowid >= {seq} - {SHORT_WINDOW}")
            } else {
                format!("d.rowid > {seq} AND d.rowid <= {seq} + {SHORT_WINDOW}")
            });
            format!("d.rowid {order}")
        }
    }
}

/// The filters other than the words.
fn filter_clauses(sql: &mut Clauses, filter: &Filter) {
    if let Some(status) = filter.status {
        let status = sql.text(status.as_str());
        sql.push(format!("d.status = {status}"));
    }
    if let Some(language) = &filter.language {
        let language = sql.text(language);
        sql.push(format!("d.language = {language}"));
    }
    if let Some(reviewer) = &filter.reviewer {
        let reviewer = sql.text(reviewer);
        sql.push(format!("d.approved_by = {reviewer} COLLATE NOCASE"));
    }
    if let Some(from) = &filter.from {
        let from = sql.text(from);
        sql.push(format!("d.created_at >= {from}"));
    }
    if let Some(until) = &filter.until {
        let until = sql.text(until);
        sql.push(format!("d.created_at < {until}"));
    }
    if let Some((ids, default_too)) = &filter.accounts {
        let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned());
        let ids = sql.text(&ids);
        let default = if *default_too {
            " OR d.account_id IS NULL"
        } else {
            ""
        };
        sql.push(format!(
            "(d.account_id IN (SELECT value FROM json_each({ids})){default})"
        ));
    }
}

/// How a search for `words` reads rows, and the trigram groups it reads the index by: the
/// groups count only when there is one for each short word. Only short words without them
/// read a window rather than an index.
fn reading<'t>(
    words: &[String],
    trigrams: Option<&'t [Vec<String>]>,
) -> (Mode, Option<&'t [Vec<String>]>) {
    let short = words.iter().filter(|w| is_short(w)).count();
    let trigrams = trigrams.filter(|t| short > 0 && t.len() == short);
    let mode = if short < words.len() || trigrams.is_some() {
        Mode::Indexed
    } else if short > 0 {
        Mode::Window
    } else {
        Mode::Created
    };
    (mode, trigrams)
}

/// The accounts a view is limited to, as a clause on `drafts` and the value it binds as
/// `?{n}` (`None`: every account, no clause): in the statement, so a page of a reviewer
/// limited to some accounts is filled with their posts, not cut after the fact.
fn accounts_clause(accounts: Option<&(Vec<String>, bool)>, n: usize) -> (String, Vec<Value>) {
    let Some((ids, default_too)) = accounts else {
        return (String::new(), Vec::new());
    };
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned());
    let default = if *default_too {
        " OR account_id IS NULL"
    } else {
        ""
    };
    (
        format!(" AND (account_id IN (SELECT value FROM json_each(?{n})){default})"),
        vec![Value::Text(ids)],
    )
}

/// Up next: approved posts by the time they go out (their time, or when approved for "as
/// soon as possible"), after `after` (`(time, rowid)` of the last one shown), of the accounts
/// `accounts` names (`None`: every account).
pub fn up_next_sql(
    after: Option<(&str, i64)>,
    limit: u32,
    accounts: Option<&(Vec<String>, bool)>,
) -> (String, Vec<Value>) {
    let (at, seq) = after.unwrap_or(("", -1));
    let (clause, more) = accounts_clause(accounts, 4);
    let mut binds = vec![
        Value::Text(at.to_owned()),
        Value::Int(seq),
        Value::Int(i64::from(limit)),
    ];
    binds.extend(more);
    (
        format!(
            "SELECT rowid AS row_seq, * FROM drafts INDEXED BY drafts_up_next
             WHERE status = 'approved'
               AND COALESCE(scheduled_at, approved_at) >= ?1
               AND (COALESCE(scheduled_at, approved_at) > ?1 OR rowid > ?2){clause}
             ORDER BY COALESCE(scheduled_at, approved_at), rowid
             LIMIT ?3"
        ),
        binds,
    )
}

/// The calendar: posts scheduled in `[from, until)` (approved or publishing), and posts
/// published in it (by when they were sent), at most [`CALENDAR_LIMIT`], of the accounts
/// `accounts` names (`None`: every account).
pub fn calendar_sql(
    from: &str,
    until: &str,
    accounts: Option<&(Vec<String>, bool)>,
) -> (String, Vec<Value>) {
    let (clause, more) = accounts_clause(accounts, 4);
    let mut binds = vec![
        Value::Text(from.to_owned()),
        Value::Text(until.to_owned()),
        Value::Int(i64::from(CALENDAR_LIMIT)),
    ];
    binds.extend(more);
    (
        format!(
            "SELECT * FROM (
                 SELECT rowid AS row_seq, * FROM drafts
                 WHERE status IN ('approved', 'publishing') AND scheduled_at >= ?1 AND scheduled_at < ?2{clause}
                 UNION ALL
                 SELECT rowid AS row_seq, * FROM drafts
                 WHERE status = 'published' AND publish_sent_at >= ?1 AND publish_sent_at < ?2{clause}
             ) LIMIT ?3"
        ),
        binds,
    )
}

impl DraftStore {
    /// A page of drafts as `filter` says, from `cursor` towards older or newer ones, newest
    /// first either way; with `counts`, the per-status counts of the drafts in scope (kept
    /// counts, not a count of the table) in the same round trip.
    pub async fn find(
        &self,
        filter: &Filter,
        cursor: Option<&PageCursor>,
        towards: Towards,
        limit: u32,
        counts: bool,
    ) -> worker::Result<Found> {
        let trigrams = match self.short_word_trigrams(filter).await? {
            Trigrams::InNoDraft => return self.nothing_found(filter, counts).await,
            Trigrams::Each(trigrams) => Some(trigrams),
            Trigrams::NoneOrTooMany => None,
        };
        let trigrams = trigrams.as_deref();
        // A short-word search reads a window from the newest draft, or from its cursor.
        let top = if reading(&filter.words(), trigrams).0 == Mode::Window {
            Some(self.next_rowid().await?)
        } else {
            None
        };
        let given = cursor;
        let start;
        let cursor = match (cursor, top) {
            (None, Some(top)) if towards == Towards::Older => {
                start = PageCursor {
                    created_at: LAST_TIME.to_owned(),
                    seq: top,
                };
                Some(&start)
            }
            _ => cursor,
        };
        let (sql, binds) = page_sql(filter, cursor, towards, limit + 1, trigrams);
        let mut statements = vec![self.db.prepare(sql).bind(&bind(&binds))?];
        if counts {
            statements.push(self.counts_statement(filter.accounts.as_ref())?);
        }
        let results = d1::batch(&self.db, statements).await?;
        let (mut rows, counts) = page_and_counts(&results)?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        if towards == Towards::Newer {
            rows.reverse();
        }
        let at = |row: Option<&DraftRow>| row.map(PageCursor::after);
        let (mut older, mut newer) = match towards {
            Towards::Older => (
                at(rows.last()).filter(|_| more),
                given.and(at(rows.first())),
            ),
            Towards::Newer => (
                given.and(at(rows.last())),
                at(rows.first()).filter(|_| more),
            ),
        };
        let partial = top.is_some() && !more;
        if let (Some(top), false) = (top, more) {
            // The window ended before the page filled: the next page starts at its edge.
            let start = cursor.map_or(top, |c| c.seq);
            let edge = |seq: i64| PageCursor {
                created_at: LAST_TIME.to_owned(),
                seq,
            };
            match towards {
                Towards::Older => {
                    older = (start - SHORT_WINDOW > 1).then(|| edge(start - SHORT_WINDOW))
                }
                Towards::Newer => {
                    newer = (start + SHORT_WINDOW < top).then(|| edge(start + SHORT_WINDOW))
                }
            }
        }
        Ok(Found {
            rows,
            older,
            newer,
            counts,
            partial,
        })
    }

    /// An empty page, with the counts when asked for.
    async fn nothing_found(&self, filter: &Filter, counts: bool) -> worker::Result<Found> {
        let counts = if counts {
            let statement = self.counts_statement(filter.accounts.as_ref())?;
            counts_of(&d1::all(statement).await?)?
        } else {
            Vec::new()
        };
        Ok(Found {
            counts,
            ..Found::default()
        })
    }

    /// What the index holds for the search's short words.
    async fn short_word_trigrams(&self, filter: &Filter) -> worker::Result<Trigrams> {
        let short = short_words(filter);
        if short.is_empty() {
            return Ok(Trigrams::NoneOrTooMany);
        }
        let found = self.trigrams(&short).await?;
        Ok(if found.iter().any(Vec::is_empty) {
            Trigrams::InNoDraft
        } else if found.iter().all(|t| t.len() <= MAX_SHORT_WORD_TRIGRAMS) {
            Trigrams::Each(found)
        } else {
            Trigrams::NoneOrTooMany
        })
    }

    /// For each short word, the indexed trigrams that begin with it (see [`trigrams_sql`]),
    /// in one round trip.
    async fn trigrams(&self, words: &[String]) -> worker::Result<Vec<Vec<String>>> {
        #[derive(serde::Deserialize)]
        struct Term {
            term: String,
        }
        let statements = words
            .iter()
            .map(|word| {
                let (sql, binds) = trigrams_sql(word);
                self.db.prepare(sql).bind(&bind(&binds))
            })
            .collect::<worker::Result<Vec<_>>>()?;
        let results = d1::batch(&self.db, statements).await?;
        results
            .iter()
            .map(|r| Ok(r.all::<Term>()?.into_iter().map(|t| t.term).collect()))
            .collect()
    }

    /// The rowid after the newest draft's: where a window of the newest drafts ends.
    async fn next_rowid(&self) -> worker::Result<i64> {
        #[derive(serde::Deserialize)]
        struct Top {
            top: Option<i64>,
        }
        let statement = self.db.prepare("SELECT MAX(rowid) + 1 AS top FROM drafts");
        let top = d1::all(statement).await?.first::<Top>()?;
        Ok(top.and_then(|t| t.top).unwrap_or(1))
    }

    /// Approved posts in the order they go out, `limit` of them after `after`, of the
    /// accounts `accounts` names (`None`: every account).
    pub async fn up_next(
        &self,
        after: Option<(&str, i64)>,
        limit: u32,
        accounts: Option<&(Vec<String>, bool)>,
    ) -> worker::Result<Vec<DraftRow>> {
        let (sql, binds) = up_next_sql(after, limit, accounts);
        d1::all(self.db.prepare(sql).bind(&bind(&binds))?)
            .await?
            .all()
    }

    /// Scheduled and published posts in `[from, until)`, of the accounts `accounts` names.
    pub async fn calendar(
        &self,
        from: &str,
        until: &str,
        accounts: Option<&(Vec<String>, bool)>,
    ) -> worker::Result<Vec<DraftRow>> {
        let (sql, binds) = calendar_sql(from, until, accounts);
        d1::all(self.db.prepare(sql).bind(&bind(&binds))?)
            .await?
            .all()
    }
}

#[cfg(test)]
mod tests;
