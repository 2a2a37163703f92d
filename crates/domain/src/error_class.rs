//! The classes of a failed Instagram Graph API call, as `publish_logs.error_class` stores
//! them: the one list the publish consumer writes, and the review page's failures view and
//! draft history put in words.

/// Why a Graph call gave no usable result, by what it means to the publish workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// A temporary problem on Meta's side: tried again.
    Transient,
    /// Throttled (rate limits, the publishing quota): waited out without spending attempts.
    RateLimited,
    /// The container is still being processed.
    NotReady,
    /// The container expired or failed: a new one is made.
    NeedsNewContainer,
    /// The access token is expired, revoked or invalid (code 190).
    TokenInvalid,
    /// Meta refused the request for good.
    Permanent,
    /// Meta could not be reached or answered 5xx without an error body.
    Unavailable,
    /// An answer that could not be read.
    Malformed,
    /// No answer at all (a timeout, a dropped connection): whether the call took effect is
    /// unknown.
    NoAnswer,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 9] = [
        ErrorClass::Transient,
        ErrorClass::RateLimited,
        ErrorClass::NotReady,
        ErrorClass::NeedsNewContainer,
        ErrorClass::TokenInvalid,
        ErrorClass::Permanent,
        ErrorClass::Unavailable,
        ErrorClass::Malformed,
        ErrorClass::NoAnswer,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::NotReady => "not_ready",
            ErrorClass::NeedsNewContainer => "needs_new_container",
            ErrorClass::TokenInvalid => "token_invalid",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Unavailable => "unavailable",
            ErrorClass::Malformed => "malformed",
            ErrorClass::NoAnswer => "no_answer",
        }
    }

    /// The class a stored name names, if any.
    pub fn parse(name: &str) -> Option<ErrorClass> {
        ErrorClass::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_own_name_and_is_read_back_from_it() {
        let mut names: Vec<&str> = ErrorClass::ALL.iter().map(|c| c.as_str()).collect();
        for class in ErrorClass::ALL {
            assert_eq!(ErrorClass::parse(class.as_str()), Some(class));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorClass::ALL.len());
        assert_eq!(ErrorClass::parse("quota"), None);
    }
}
