//! Who may act: the rules for the secrets people and clients present.
//!
//! `REVIEWERS` lists the people who review, `name:token` each; `API_TOKEN` is the automation's
//! token. Both are checked here before any request is compared with them: a secret must carry
//! at least 128 bits of randomness in practice, judged from its length and the variety of its
//! characters (a long run of one letter, a short pattern repeated, or a handful of different
//! characters is refused). Errors name the variable and the entry's place in it, never a name
//! or a token: a list written in the wrong order (`token:name`) would otherwise print a token.

use crate::account::AccountRef;
use std::collections::BTreeMap;

/// A secret must carry at least this much randomness.
pub const MIN_SECRET_BITS: u32 = 128;
/// 22 characters of base64 carry 132 bits; nothing shorter can reach `MIN_SECRET_BITS` with
/// the characters people type.
pub const MIN_SECRET_CHARS: usize = 22;
pub const MAX_NAME_CHARS: usize = 40;

/// Why a secret is refused. Says nothing about the secret's characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Weakness {
    #[error("is shorter than {MIN_SECRET_CHARS} characters")]
    TooShort,
    #[error("contains spaces or control characters")]
    Whitespace,
    #[error(
        "has too little variety (one character too often, a short part repeated, or too few different characters)"
    )]
    LowVariety,
    #[error("carries about {bits} bits of randomness; at least {MIN_SECRET_BITS} are needed")]
    TooFewBits { bits: u32 },
}

/// Whether `secret` carries at least [`MIN_SECRET_BITS`] of randomness in practice.
///
/// The estimate is the length of the secret's shortest repeating part times the bits per
/// character of the alphabet its characters come from (hex digits: 4; otherwise by the
/// classes used: lower case, upper case, digits, other). On top, no character may make up
/// more than a quarter of it, and it must use at least a third as many different characters
/// as its length or its alphabet allow, which a random token does with overwhelming probability.
pub fn check_secret(secret: &str) -> Result<(), Weakness> {
    let chars: Vec<char> = secret.chars().collect();
    if chars.iter().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Weakness::Whitespace);
    }
    if chars.len() < MIN_SECRET_CHARS {
        return Err(Weakness::TooShort);
    }
    let period = shortest_period(&chars);
    let mut counts: BTreeMap<char, usize> = BTreeMap::new();
    for c in &chars {
        *counts.entry(*c).or_default() += 1;
    }
    let most = counts.values().copied().max().unwrap_or(0);
    let alphabet = alphabet_size(&chars);
    let distinct = counts.len();
    if period * 2 <= chars.len()
        || most * 4 > chars.len()
        || distinct * 3 < chars.len().min(alphabet)
    {
        return Err(Weakness::LowVariety);
    }
    let bits = (period as f64 * (alphabet as f64).log2()).floor() as u32;
    if bits < MIN_SECRET_BITS {
        return Err(Weakness::TooFewBits { bits });
    }
    Ok(())
}

/// The length of the shortest prefix that, repeated, gives `chars` (`chars.len()` if none).
fn shortest_period(chars: &[char]) -> usize {
    (1..chars.len())
        .find(|&p| (p..chars.len()).all(|i| chars[i] == chars[i - p]))
        .unwrap_or(chars.len())
}

/// How many characters the secret's characters were likely drawn from.
fn alphabet_size(chars: &[char]) -> usize {
    let hex_lower = chars
        .iter()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(c));
    let hex_upper = chars
        .iter()
        .all(|c| c.is_ascii_digit() || ('A'..='F').contains(c));
    if hex_lower || hex_upper {
        return 16;
    }
    let has = |test: fn(&char) -> bool| chars.iter().any(test);
    let mut size = 0;
    if has(char::is_ascii_lowercase) {
        size += 26;
    }
    if has(char::is_ascii_uppercase) {
        size += 26;
    }
    if has(char::is_ascii_digit) {
        size += 10;
    }
    if has(char::is_ascii_punctuation) {
        size += 32;
    }
    if has(|c| !c.is_ascii()) {
        size += 100;
    }
    size
}

/// One person who may review: the name recorded on what they do, and their own token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewer {
    pub name: String,
    pub token: String,
    /// The accounts this reviewer may review; `None`: every account.
    pub accounts: Option<Vec<AccountRef>>,
}

impl Reviewer {
    /// Whether this reviewer may see and act on the account with `id` and `username`.
    pub fn may_review(&self, id: &str, username: Option<&str>) -> bool {
        self.accounts
            .as_ref()
            .is_none_or(|refs| refs.iter().any(|r| r.names(id, username)))
    }
}

/// What is wrong with `REVIEWERS`, by the entry's place (counted from 1), never its name or
/// token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewersError {
    #[error("REVIEWERS entry {entry} is not name:token")]
    NotNameToken { entry: usize },
    #[error("REVIEWERS entry {entry}: account {account} is neither @username nor an account id")]
    NotAnAccount { entry: usize, account: usize },
    #[error(
        "REVIEWERS entry {entry}: the name must be 1 to {MAX_NAME_CHARS} letters, digits, spaces, '.', '_' or '-'"
    )]
    BadName { entry: usize },
    #[error("REVIEWERS entry {entry}: the token {weakness}")]
    WeakToken { entry: usize, weakness: Weakness },
    #[error("REVIEWERS entries {first} and {entry} have the same name")]
    SameName { first: usize, entry: usize },
    #[error("REVIEWERS entries {first} and {entry} have the same token")]
    SameToken { first: usize, entry: usize },
    #[error("REVIEWERS lists nobody")]
    Nobody,
}

/// `name:token` pairs, one per line or separated by commas. Names are 1 to 40 letters,
/// digits, spaces, `.`, `_` or `-`, distinct ignoring case (see [`name_key`]); tokens are
/// distinct secrets passing [`check_secret`]. After the token, separated by spaces, an
/// entry may name the accounts the reviewer is limited to (`@username` or the account id,
/// see [`AccountRef`]): `Aiko:<token> @shop_tokyo @shop_osaka`. Without them, every account.
/// An error names the entry by its place, never its name or token.
pub fn parse_reviewers(text: &str) -> Result<Vec<Reviewer>, ReviewersError> {
    let mut reviewers: Vec<Reviewer> = Vec::new();
    for (i, entry) in text
        .split(['\n', ','])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .enumerate()
    {
        let n = i + 1;
        let (name, token) = entry
            .split_once(':')
            .ok_or(ReviewersError::NotNameToken { entry: n })?;
        let (name, rest) = (name.trim(), token.trim());
        let mut words = rest.split_whitespace();
        let token = words.next().unwrap_or("");
        let refs: Vec<&str> = words.collect();
        let accounts = if refs.is_empty() {
            None
        } else {
            let mut parsed = Vec::new();
            for (j, word) in refs.iter().enumerate() {
                let account = AccountRef::parse(word).ok_or(ReviewersError::NotAnAccount {
                    entry: n,
                    account: j + 1,
                })?;
                parsed.push(account);
            }
            Some(parsed)
        };
        let name_ok = !name.is_empty()
            && name.chars().count() <= MAX_NAME_CHARS
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || " ._-".contains(c));
        if !name_ok {
            return Err(ReviewersError::BadName { entry: n });
        }
        check_secret(token).map_err(|weakness| ReviewersError::WeakToken { entry: n, weakness })?;
        if let Some(other) = reviewers
            .iter()
            .position(|r| name_key(&r.name) == name_key(name))
        {
            return Err(ReviewersError::SameName {
                first: other + 1,
                entry: n,
            });
        }
        if let Some(other) = reviewers.iter().position(|r| r.token == token) {
            return Err(ReviewersError::SameToken {
                first: other + 1,
                entry: n,
            });
        }
        reviewers.push(Reviewer {
            name: name.to_owned(),
            token: token.to_owned(),
            accounts,
        });
    }
    if reviewers.is_empty() {
        return Err(ReviewersError::Nobody);
    }
    Ok(reviewers)
}

/// A name as someone gives it (signing in, or `X-Reviewer`), made comparable: trimmed,
/// case-folded, at most [`MAX_NAME_CHARS`] characters. Reviewers are found by it, and failures are
/// counted under it whether or not it is a reviewer's.
pub fn name_key(given: &str) -> String {
    given
        .trim()
        .chars()
        .flat_map(fold_case)
        .take(MAX_NAME_CHARS)
        .collect()
}

/// One character case-folded: upper case, then lower, repeated until nothing changes, so `µ`
/// and `μ`, `ß`, `ẞ` and `SS` become alike and a folded name folds to itself. (`ẞ` lowers to
/// `ß`, which only a second round turns into `ss`.)
fn fold_case(c: char) -> Vec<char> {
    let mut folded = vec![c];
    // Three rounds reach the fixed point of every character Unicode has; the bound keeps
    // the cost fixed whatever comes in.
    for _ in 0..3 {
        let next: Vec<char> = folded
            .iter()
            .flat_map(|c| c.to_uppercase())
            .flat_map(char::to_lowercase)
            .collect();
        if next == folded {
            break;
        }
        folded = next;
    }
    folded
}

/// The given name as a log line may show it: its [`name_key`] with every character a reviewer's
/// name cannot hold replaced by `?`, so no control, direction or markup character reaches
/// the log. `None` when the name could be a token ([`check_secret`] accepts it, as every
/// token does): someone who typed their token into the name field is not logged.
pub fn name_for_log(given: &str) -> Option<String> {
    if check_secret(given.trim()).is_ok() {
        return None;
    }
    Some(
        name_key(given)
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || " ._-".contains(c) {
                    c
                } else {
                    '?'
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX_32: &str = "5d41402abc4b2a76b9719d911017c592";
    const HEX_48: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c";
    const BASE64_22: &str = "q3Jx_8Lw-Zt0PbN4mYc1Ae";

    #[test]
    fn every_character_folds_to_a_fixed_point() {
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let once: String = fold_case(c).into_iter().collect();
            let twice: String = once.chars().flat_map(fold_case).collect();
            assert_eq!(once, twice, "{c:?} (U+{:04X})", u32::from(c));
            let upper: String = c.to_uppercase().flat_map(fold_case).collect();
            let lower: String = c.to_lowercase().flat_map(fold_case).collect();
            assert_eq!(upper, lower, "{c:?} (U+{:04X})", u32::from(c));
        }
        assert_eq!(name_key("ẞ"), name_key("ss"));
    }

    fn check(secret: &str, expected: Result<(), &str>) {
        let got = check_secret(secret);
        match expected {
            Ok(()) => assert_eq!(got, Ok(()), "{secret}"),
            Err(reason) => {
                let error = got.expect_err(secret).to_string();
                assert!(error.contains(reason), "{secret}: {error}");
                assert!(!error.contains(secret), "the reason quotes the secret");
            }
        }
    }

    #[test]
    fn secrets_need_128_bits_in_practice() {
        check(HEX_32, Ok(()));
        check(HEX_48, Ok(()));
        check(&HEX_48.to_uppercase(), Ok(()));
        check(BASE64_22, Ok(()));
        check("test-token-5d41402abc4b2a76b9719d911017c592", Ok(()));
        check("aaaaaaaaaaaaaaaa", Err("shorter than 22"));
        check(&"a".repeat(64), Err("too little variety"));
        check(&"ab".repeat(32), Err("too little variety"));
        check(&"0123456789abcdef".repeat(2), Err("too little variety"));
        check(&format!("{}b", "a".repeat(40)), Err("too little variety"));
        // Four letters drawn at random: 80 bits, however long it looks.
        check(
            "abdcbadcabcdbdacdbcaabdcbdacdbcadbacbdca",
            Err("too little variety"),
        );
        // 25 hex digits: 100 bits.
        check(&HEX_32[..25], Err("about 100 bits"));
        check("5d41402abc4b 2a76b9719d911017c592", Err("spaces"));
        check(&format!("{HEX_32}\u{7}"), Err("control"));
    }

    #[test]
    fn reviewers_limited_to_accounts() {
        let text = format!("Aiko:{HEX_32} @Shop_Tokyo 17841400000000002\nBen:{HEX_48}");
        let people = parse_reviewers(&text).unwrap();
        assert_eq!(
            people[0].accounts,
            Some(vec![
                AccountRef::Username("shop_tokyo".into()),
                AccountRef::Id("17841400000000002".into())
            ])
        );
        assert_eq!(people[0].token, HEX_32);
        assert!(people[0].may_review("1", Some("shop_tokyo")));
        assert!(people[0].may_review("17841400000000002", None));
        assert!(!people[0].may_review("2", Some("founder")));
        assert_eq!(people[1].accounts, None);
        assert!(people[1].may_review("2", Some("founder")));
        let error = parse_reviewers(&format!("Aiko:{HEX_32} @shop a-b")).unwrap_err();
        assert_eq!(
            error,
            ReviewersError::NotAnAccount {
                entry: 1,
                account: 2
            }
        );
        let error = error.to_string();
        assert!(error.contains("entry 1: account 2"), "{error}");
        assert!(!error.contains(HEX_32));
    }

    #[test]
    fn reviewer_lists() {
        let token_a = HEX_32;
        let token_b = HEX_48;
        let check = |text: &str, expected: Result<&[(&str, &str)], &str>| {
            let got = parse_reviewers(text);
            match expected {
                Ok(pairs) => {
                    let pairs: Vec<Reviewer> = pairs
                        .iter()
                        .map(|(name, token)| Reviewer {
                            name: name.to_string(),
                            token: token.to_string(),
                            accounts: None,
                        })
                        .collect();
                    assert_eq!(got, Ok(pairs), "{text}");
                }
                Err(reason) => {
                    let error = got.expect_err(text).to_string();
                    assert!(error.contains(reason), "{text}: {error}");
                    for secret in [token_a, token_b] {
                        assert!(!error.contains(secret), "{error} quotes a token");
                    }
                }
            }
        };
        check(
            &format!("Aiko Tanaka:{token_a}\nbob:{token_b}"),
            Ok(&[("Aiko Tanaka", token_a), ("bob", token_b)]),
        );
        check(
            &format!(" 佐藤 : {token_a} , x:{token_b} "),
            Ok(&[("佐藤", token_a), ("x", token_b)]),
        );
        check("", Err("lists nobody"));
        check("alice", Err("not name:token"));
        check("alice:short", Err("entry 1: the token is shorter"));
        check(
            "alice:aaaaaaaaaaaaaaaa",
            Err("entry 1: the token is shorter"),
        );
        check(&format!("<b>:{token_a}"), Err("the name must be"));
        check(
            &format!("a:{token_a},a:{token_b}"),
            Err("entries 1 and 2 have the same name"),
        );
        check(
            &format!("Aiko:{token_a},aiko :{token_b}"),
            Err("entries 1 and 2 have the same name"),
        );
        check(
            &format!("a:{token_a},b:{token_a}"),
            Err("entries 1 and 2 have the same token"),
        );
        // Written the wrong way round: the error must not print the token as a "name".
        check(
            &format!("{token_a}:Aiko"),
            Err("entry 1: the token is shorter"),
        );
        check(
            &format!("{}:Aiko", &token_b[..40]),
            Err("entry 1: the token is shorter"),
        );
    }

    #[test]
    fn names_compare_trimmed_bounded_and_in_lower_case() {
        assert_eq!(name_key("  Aiko Tanaka "), "aiko tanaka");
        assert_eq!(name_key("AIKO"), name_key("aiko"));
        assert_eq!(name_key("ÉLODIE"), "élodie");
        assert_eq!(name_key("Strauß"), name_key("STRAUSS"));
        // A capital that is two letters in lower case still leaves the key bounded.
        assert_eq!(name_key(&"İ".repeat(40)).chars().count(), MAX_NAME_CHARS);
        assert_eq!(name_key(""), "");
        let long = "x".repeat(10_000);
        assert_eq!(name_key(&long).chars().count(), MAX_NAME_CHARS);
        // Two names alike in their first 40 characters share a key; no reviewer's name is longer.
        assert_eq!(name_key(&format!("{long}a")), name_key(&format!("{long}b")));
    }

    #[test]
    fn a_logged_name_is_plain_and_never_token_shaped() {
        assert_eq!(name_for_log(" Aiko ").as_deref(), Some("aiko"));
        assert_eq!(
            name_for_log("a\nb\u{202e}<script>").as_deref(),
            Some("a?b??script?")
        );
        assert_eq!(name_for_log(&"y".repeat(500)).unwrap().chars().count(), 40);
        // Typed into the name field, a token is not logged.
        for token in [HEX_32, HEX_48, BASE64_22] {
            assert_eq!(name_for_log(token), None, "{token}");
            assert_eq!(name_for_log(&format!(" {token} ")), None, "{token}");
        }
    }
}
