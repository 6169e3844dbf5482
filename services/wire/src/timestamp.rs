//! Timestamps in the three wire formats of the AWS protocols, written as AWS writes them and read in
//! every variant clients send.

use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::model::TimestampFormat;
use crate::value::Timestamp;

/// `2026-12-06T10:00:00Z`, with milliseconds (`.123Z`) when the value has them.
pub fn iso8601(t: Timestamp) -> String {
    let at = t.to_offset();
    let millis = t.nanos / 1_000_000;
    let base = at
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap_or_else(|_| "1970-01-01T00:00:00".to_owned());
    if millis == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{millis:03}Z")
    }
}

/// `Sun, 06 Dec 2026 10:00:00 GMT`.
pub fn rfc822(t: Timestamp) -> String {
    t.to_offset()
        .format(format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ))
        .unwrap_or_default()
}

/// Seconds since the epoch as JSON writes them: an integer, or with up to three decimals.
pub fn epoch_json(t: Timestamp) -> serde_json::Value {
    let millis = t.nanos / 1_000_000;
    if millis == 0 {
        serde_json::Value::from(t.secs)
    } else {
        serde_json::Number::from_f64(t.secs as f64 + f64::from(millis) / 1000.0)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::from(t.secs))
    }
}

/// Seconds since the epoch as text (headers and query strings).
pub fn epoch_text(t: Timestamp) -> String {
    let millis = t.nanos / 1_000_000;
    if millis == 0 {
        t.secs.to_string()
    } else {
        let text = format!("{}.{millis:03}", t.secs);
        text.trim_end_matches('0').to_owned()
    }
}

/// Formats `t` as text in `format`.
pub fn format_text(t: Timestamp, format: TimestampFormat) -> String {
    match format {
        TimestampFormat::Iso8601 => iso8601(t),
        TimestampFormat::Rfc822 => rfc822(t),
        TimestampFormat::UnixTimestamp => epoch_text(t),
    }
}

/// Reads a timestamp written in `format`; accepts the other formats too, as AWS's services do.
pub fn parse_text(text: &str, format: TimestampFormat) -> Option<Timestamp> {
    let text = text.trim();
    let first = match format {
        TimestampFormat::Iso8601 => parse_iso8601(text),
        TimestampFormat::Rfc822 => parse_rfc822(text),
        TimestampFormat::UnixTimestamp => parse_epoch(text),
    };
    first
        .or_else(|| parse_iso8601(text))
        .or_else(|| parse_epoch(text))
        .or_else(|| parse_rfc822(text))
}

fn parse_epoch(text: &str) -> Option<Timestamp> {
    let secs: f64 = text.parse().ok()?;
    secs.is_finite().then(|| Timestamp::from_f64(secs))
}

fn parse_iso8601(text: &str) -> Option<Timestamp> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(from_offset(t));
    }
    // Without a zone (taken as UTC), or with a lower-case `t`/`z`.
    let upper = text.to_ascii_uppercase();
    if let Ok(t) = OffsetDateTime::parse(&upper, &Rfc3339) {
        return Some(from_offset(t));
    }
    let bare = upper.trim_end_matches('Z');
    let formats = [
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        format_description!("[year][month][day]T[hour][minute][second]"),
    ];
    formats.iter().find_map(|f| {
        PrimitiveDateTime::parse(bare, f)
            .ok()
            .map(|t| from_offset(t.assume_utc()))
    })
}

fn parse_rfc822(text: &str) -> Option<Timestamp> {
    if let Ok(t) = httpdate::parse_http_date(text) {
        return Some(Timestamp::from(t));
    }
    OffsetDateTime::parse(text, &Rfc2822).ok().map(from_offset)
}

fn from_offset(t: OffsetDateTime) -> Timestamp {
    Timestamp {
        secs: t.unix_timestamp(),
        nanos: t.nanosecond(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_aws_does() {
        let t = Timestamp::from_millis(1_398_796_238_000);
        assert_eq!(iso8601(t), "2014-04-29T18:30:38Z");
        assert_eq!(rfc822(t), "Tue, 29 Apr 2014 18:30:38 GMT");
        assert_eq!(epoch_text(t), "1398796238");
        assert_eq!(epoch_json(t), serde_json::json!(1398796238));
        let f = Timestamp::from_millis(1_398_796_238_123);
        assert_eq!(iso8601(f), "2014-04-29T18:30:38.123Z");
        assert_eq!(epoch_text(f), "1398796238.123");
        assert_eq!(epoch_json(f), serde_json::json!(1398796238.123));
        assert_eq!(epoch_text(Timestamp::from_millis(1_500)), "1.5");
    }

    #[test]
    fn reads_every_variant() {
        let t = Timestamp::from_millis(1_398_796_238_000);
        for text in [
            "2014-04-29T18:30:38Z",
            "2014-04-29T18:30:38.000Z",
            "2014-04-29T18:30:38+00:00",
            "2014-04-29T20:30:38+02:00",
            "2014-04-29T18:30:38",
            "2014-04-29t18:30:38z",
            "Tue, 29 Apr 2014 18:30:38 GMT",
            "1398796238",
            "1398796238.0",
        ] {
            assert_eq!(
                parse_text(text, TimestampFormat::Iso8601),
                Some(t),
                "{text}"
            );
        }
        assert_eq!(parse_text("nope", TimestampFormat::Rfc822), None);
    }
}
