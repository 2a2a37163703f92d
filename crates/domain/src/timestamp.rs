//! Reading a time from outside (a request, a query parameter, a queue message, a stored row):
//! RFC 3339 with its UTC offset, and only in years Instagram can use, so no later arithmetic
//! or conversion (to UTC, a year past 9999) can overflow.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Instagram began in 2010: no post, container or request of this system is older.
pub const EARLIEST_YEAR: i32 = 2010;
/// Far enough for any schedule a person means.
pub const LATEST_YEAR: i32 = 2100;

/// 2010-01-01T00:00:00Z and 2101-01-01T00:00:00Z, as Unix seconds.
const EARLIEST_UNIX: i64 = 1_262_304_000;
const END_UNIX: i64 = 4_133_980_800;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("is not an RFC 3339 date-time with a UTC offset")]
    NotRfc3339,
    #[error("is outside the years {EARLIEST_YEAR} to {LATEST_YEAR} (in UTC)")]
    OutOfRange,
}

/// `text` as an instant in UTC, if it is RFC 3339 and its UTC time falls in
/// [`EARLIEST_YEAR`]..=[`LATEST_YEAR`].
pub fn parse_rfc3339(text: &str) -> Result<OffsetDateTime, TimeError> {
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| TimeError::NotRfc3339)?;
    // Compared as Unix seconds, which never overflow, before converting to UTC, which can.
    if !(EARLIEST_UNIX..END_UNIX).contains(&at.unix_timestamp()) {
        return Err(TimeError::OutOfRange);
    }
    Ok(at.to_offset(UtcOffset::UTC))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn bounds_are_the_years_they_name() {
        let earliest = OffsetDateTime::from_unix_timestamp(EARLIEST_UNIX).unwrap();
        assert_eq!((earliest.year(), earliest.ordinal()), (EARLIEST_YEAR, 1));
        let end = OffsetDateTime::from_unix_timestamp(END_UNIX).unwrap();
        assert_eq!((end.year(), end.ordinal()), (LATEST_YEAR + 1, 1));
    }

    #[test]
    fn times() {
        let check = |text: &str, expect: Result<OffsetDateTime, TimeError>| {
            assert_eq!(parse_rfc3339(text), expect, "{text}");
        };
        check(
            "2030-01-31T09:00:00+09:00",
            Ok(datetime!(2030-01-31 00:00 UTC)),
        );
        check("2010-01-01T00:00:00Z", Ok(datetime!(2010-01-01 00:00 UTC)));
        check(
            "2100-12-31T23:59:59Z",
            Ok(datetime!(2100-12-31 23:59:59 UTC)),
        );
        // In UTC it is 2101 already.
        check("2100-12-31T23:30:00-01:00", Err(TimeError::OutOfRange));
        check("9999-12-31T23:30:00-01:00", Err(TimeError::OutOfRange));
        check("0000-01-01T00:30:00+01:00", Err(TimeError::OutOfRange));
        check("2009-12-31T23:59:59Z", Err(TimeError::OutOfRange));
        check("2030-01-31T09:00:00", Err(TimeError::NotRfc3339));
        check("", Err(TimeError::NotRfc3339));
    }
}
