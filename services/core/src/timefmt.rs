//! Timestamps in the formats AWS responses use.

use std::time::SystemTime;

use time::{OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description};

/// ISO 8601 in UTC with seconds, e.g. `2019-11-09T13:34:41Z` (STS `Expiration`, SQS-JSON-free fields).
pub fn iso8601_seconds(at: SystemTime) -> String {
    let at = OffsetDateTime::from(at);
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// ISO 8601 in UTC with milliseconds, e.g. `2019-11-09T13:34:41.123Z` (S3 `LastModified`).
pub fn iso8601_millis(at: SystemTime) -> String {
    let at = OffsetDateTime::from(at);
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

/// RFC 1123 / HTTP date, e.g. `Sat, 28 Nov 2026 10:00:00 GMT`.
pub fn http_date(at: SystemTime) -> String {
    httpdate_fmt(at)
}

fn httpdate_fmt(at: SystemTime) -> String {
    let at = OffsetDateTime::from(at);
    at.format(format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}

/// Parses an RFC 3339 timestamp.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats() {
        let t = UNIX_EPOCH + Duration::from_millis(1_573_306_481_123);
        assert_eq!(iso8601_seconds(t), "2019-11-09T13:34:41Z");
        assert_eq!(iso8601_millis(t), "2019-11-09T13:34:41.123Z");
        assert_eq!(http_date(t), "Sat, 09 Nov 2019 13:34:41 GMT");
        assert_eq!(
            parse_rfc3339("2019-11-09T13:34:41Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_573_306_481))
        );
    }
}
