//! How people and requests name an Instagram account: `@username` or the account's numeric
//! id. Used by `REVIEWERS` (the accounts a reviewer may review), `account` on generate and
//! `?account=` on the drafts list.

use std::fmt;

/// The longest Instagram username.
pub const MAX_USERNAME_CHARS: usize = 30;
/// The longest account id accepted (Instagram's are 17 digits today).
pub const MAX_ID_DIGITS: usize = 30;

/// An account as named: by username (without `@`, in lower case, as Instagram compares
/// them) or by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountRef {
    Username(String),
    Id(String),
}

impl AccountRef {
    /// `@name` or `name` (1 to 30 letters, digits, `.` or `_`) or an id (1 to 30 digits).
    /// Digits alone are an id; `@` before digits makes them a username.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Some(name) = text.strip_prefix('@') {
            return is_username(name).then(|| Self::Username(name.to_ascii_lowercase()));
        }
        if !text.is_empty()
            && text.len() <= MAX_ID_DIGITS
            && text.bytes().all(|b| b.is_ascii_digit())
        {
            return Some(Self::Id(text.to_owned()));
        }
        is_username(text).then(|| Self::Username(text.to_ascii_lowercase()))
    }

    /// Whether this names the account with `id` and `username`.
    pub fn names(&self, id: &str, username: Option<&str>) -> bool {
        match self {
            Self::Id(wanted) => wanted == id,
            Self::Username(wanted) => username.is_some_and(|u| u.eq_ignore_ascii_case(wanted)),
        }
    }
}

impl fmt::Display for AccountRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Username(name) => write!(f, "@{name}"),
            Self::Id(id) => f.write_str(id),
        }
    }
}

/// An Instagram username: 1 to 30 ASCII letters, digits, `.` or `_`.
pub fn is_username(text: &str) -> bool {
    (1..=MAX_USERNAME_CHARS).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        assert_eq!(
            AccountRef::parse("@Shop_Tokyo"),
            Some(AccountRef::Username("shop_tokyo".into()))
        );
        assert_eq!(
            AccountRef::parse("shop.tokyo"),
            Some(AccountRef::Username("shop.tokyo".into()))
        );
        assert_eq!(
            AccountRef::parse("17841405822304914"),
            Some(AccountRef::Id("17841405822304914".into()))
        );
        assert_eq!(
            AccountRef::parse("@123"),
            Some(AccountRef::Username("123".into()))
        );
        for bad in ["", "@", "a b", "@a-b", "x".repeat(31).as_str(), "é"] {
            assert_eq!(AccountRef::parse(bad), None, "{bad}");
        }
        let shop = AccountRef::parse("@SHOP").unwrap();
        assert!(shop.names("1", Some("shop")));
        assert!(!shop.names("1", None));
        assert!(AccountRef::parse("1").unwrap().names("1", None));
        assert_eq!(shop.to_string(), "@shop");
    }
}
