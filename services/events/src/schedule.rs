//! Schedule expressions: `rate(value unit)` and AWS's six-field `cron(minutes hours day-of-month
//! month day-of-week year)`, validated as EventBridge validates them, and the next time each fires.
//!
//! Cron fields take `*`, `,` lists, `-` ranges and `/` increments; day-of-month also `L` (the last
//! day), `W` (`15W`, the weekday nearest the 15th; `LW`) and day-of-week `L` (`6L`, the last Friday)
//! and `#` (`2#1`, the first Monday). Days of the week are 1-7 (`SUN`-`SAT`), months 1-12
//! (`JAN`-`DEC`), years 1970-2199. One of day-of-month and day-of-week must be `?`.
//! Times are UTC, in whole minutes.

use time::{Date, OffsetDateTime, Weekday};

/// A schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every `minutes` minutes.
    Rate {
        /// The period in minutes.
        minutes: u64,
    },
    /// A cron expression.
    Cron(Box<Cron>),
}

/// The refusal AWS gives for any bad expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Parameter ScheduleExpression is not valid.")]
pub struct InvalidSchedule;

impl Schedule {
    /// Parses `rate(...)` or `cron(...)`.
    pub fn parse(text: &str) -> Result<Schedule, InvalidSchedule> {
        if let Some(inner) = text.strip_prefix("rate(").and_then(|s| s.strip_suffix(')')) {
            return parse_rate(inner);
        }
        if let Some(inner) = text.strip_prefix("cron(").and_then(|s| s.strip_suffix(')')) {
            return Cron::parse(inner).map(|c| Schedule::Cron(Box::new(c)));
        }
        Err(InvalidSchedule)
    }

    /// The first firing strictly after `after_minute` (minutes since the epoch), for a schedule
    /// first seen at `anchor_minute` (rates count from there); `None` when a cron never fires again.
    pub fn next_after(&self, anchor_minute: i64, after_minute: i64) -> Option<i64> {
        match self {
            Schedule::Rate { minutes } => {
                let period = i64::try_from(*minutes).ok()?.max(1);
                let elapsed = (after_minute - anchor_minute).max(0);
                Some(anchor_minute + (elapsed / period + 1) * period)
            }
            Schedule::Cron(cron) => cron.next_after(after_minute),
        }
    }
}

fn parse_rate(inner: &str) -> Result<Schedule, InvalidSchedule> {
    let mut parts = inner.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(InvalidSchedule);
    };
    let value: u64 = value.parse().map_err(|_| InvalidSchedule)?;
    if value == 0 {
        return Err(InvalidSchedule);
    }
    let (singular, per) = match unit {
        "minute" => (true, 1),
        "minutes" => (false, 1),
        "hour" => (true, 60),
        "hours" => (false, 60),
        "day" => (true, 1440),
        "days" => (false, 1440),
        _ => return Err(InvalidSchedule),
    };
    // AWS: a value of 1 takes the singular unit, larger values the plural.
    if singular != (value == 1) {
        return Err(InvalidSchedule);
    }
    Ok(Schedule::Rate {
        minutes: value.checked_mul(per).ok_or(InvalidSchedule)?,
    })
}

/// A set of allowed values of one field, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Set(u128);

impl Set {
    fn has(self, v: u32) -> bool {
        v < 128 && self.0 & (1u128 << v) != 0
    }
    fn add(&mut self, v: u32) {
        self.0 |= 1u128 << v;
    }
}

/// Day-of-month rules.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfMonth {
    Any,
    Days(Set),
    Last,
    LastWeekday,
    NearestWeekday(u32),
}

/// Day-of-week rules (1 = Sunday).
#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfWeek {
    Any,
    Days(Set),
    Last(u32),
    Nth(u32, u32),
}

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Set,
    hours: Set,
    dom: DayOfMonth,
    months: Set,
    dow: DayOfWeek,
    years: Vec<(u32, u32, u32)>,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn value(text: &str, names: &[&str], first: u32) -> Result<u32, InvalidSchedule> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(first + i as u32);
    }
    text.parse().map_err(|_| InvalidSchedule)
}

/// `*`, lists, ranges and increments within `min..=max` (`?` only where `question` allows).
fn parse_set(text: &str, min: u32, max: u32, names: &[&str]) -> Result<Set, InvalidSchedule> {
    let mut set = Set::default();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| InvalidSchedule)?),
            None => (item, 1),
        };
        if step == 0 {
            return Err(InvalidSchedule);
        }
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, min)?, value(b, names, min)?)
        } else {
            let v = value(range, names, min)?;
            (v, if item.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(InvalidSchedule);
        }
        let mut v = lo;
        while v <= hi {
            set.add(v);
            v += step;
        }
    }
    Ok(set)
}

fn parse_years(text: &str) -> Result<Vec<(u32, u32, u32)>, InvalidSchedule> {
    let mut out = Vec::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| InvalidSchedule)?),
            None => (item, 1),
        };
        if step == 0 {
            return Err(InvalidSchedule);
        }
        let (lo, hi) = if range == "*" {
            (1970, 2199)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                a.parse().map_err(|_| InvalidSchedule)?,
                b.parse().map_err(|_| InvalidSchedule)?,
            )
        } else {
            let v: u32 = range.parse().map_err(|_| InvalidSchedule)?;
            (v, if item.contains('/') { 2199 } else { v })
        };
        if lo < 1970 || hi > 2199 || lo > hi {
            return Err(InvalidSchedule);
        }
        out.push((lo, hi, step));
    }
    Ok(out)
}

impl Cron {
    /// Parses the six fields.
    pub fn parse(text: &str) -> Result<Cron, InvalidSchedule> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = fields[..] else {
            return Err(InvalidSchedule);
        };
        // Exactly one of day-of-month and day-of-week is `?`.
        if (dom == "?") == (dow == "?") {
            return Err(InvalidSchedule);
        }
        let dom = match dom {
            "?" => DayOfMonth::Any,
            "L" => DayOfMonth::Last,
            "LW" => DayOfMonth::LastWeekday,
            d if d.ends_with('W') => {
                let day: u32 = d[..d.len() - 1].parse().map_err(|_| InvalidSchedule)?;
                if !(1..=31).contains(&day) {
                    return Err(InvalidSchedule);
                }
                DayOfMonth::NearestWeekday(day)
            }
            d => DayOfMonth::Days(parse_set(d, 1, 31, &[])?),
        };
        let dow = match dow {
            "?" => DayOfWeek::Any,
            d if d.ends_with('L') => {
                let day = if d == "L" {
                    7
                } else {
                    value(&d[..d.len() - 1], &DAYS, 1)?
                };
                if !(1..=7).contains(&day) {
                    return Err(InvalidSchedule);
                }
                DayOfWeek::Last(day)
            }
            d if d.contains('#') => {
                let (day, nth) = d.split_once('#').ok_or(InvalidSchedule)?;
                let day = value(day, &DAYS, 1)?;
                let nth: u32 = nth.parse().map_err(|_| InvalidSchedule)?;
                if !(1..=7).contains(&day) || !(1..=5).contains(&nth) {
                    return Err(InvalidSchedule);
                }
                DayOfWeek::Nth(day, nth)
            }
            d => DayOfWeek::Days(parse_set(d, 1, 7, &DAYS)?),
        };
        Ok(Cron {
            minutes: parse_set(minutes, 0, 59, &[])?,
            hours: parse_set(hours, 0, 23, &[])?,
            dom,
            months: parse_set(month, 1, 12, &MONTHS)?,
            dow,
            years: parse_years(year)?,
        })
    }

    fn year_matches(&self, year: u32) -> bool {
        self.years
            .iter()
            .any(|&(lo, hi, step)| (lo..=hi).contains(&year) && (year - lo).is_multiple_of(step))
    }

    fn day_matches(&self, date: Date) -> bool {
        let day = u32::from(date.day());
        let last = u32::from(date.month().length(date.year()));
        let weekday = u32::from(date.weekday().number_from_sunday());
        let dom = match &self.dom {
            DayOfMonth::Any => true,
            DayOfMonth::Days(set) => set.has(day),
            DayOfMonth::Last => day == last,
            DayOfMonth::LastWeekday => day == nearest_weekday(date, last),
            DayOfMonth::NearestWeekday(target) => {
                *target <= last && day == nearest_weekday(date, *target)
            }
        };
        let dow = match &self.dow {
            DayOfWeek::Any => true,
            DayOfWeek::Days(set) => set.has(weekday),
            DayOfWeek::Last(d) => weekday == *d && day + 7 > last,
            DayOfWeek::Nth(d, n) => weekday == *d && (day - 1) / 7 + 1 == *n,
        };
        dom && dow
    }

    /// The first matching minute strictly after `after_minute` (minutes since the epoch), looking
    /// up to ten years ahead.
    pub fn next_after(&self, after_minute: i64) -> Option<i64> {
        let start =
            OffsetDateTime::from_unix_timestamp((after_minute + 1).checked_mul(60)?).ok()?;
        let mut date = start.date();
        let first_minute_of_day = u32::from(start.hour()) * 60 + u32::from(start.minute());
        for day_index in 0..3660 {
            let year_ok = u32::try_from(date.year()).is_ok_and(|y| self.year_matches(y));
            if year_ok
                && self.months.has(u32::from(u8::from(date.month())))
                && self.day_matches(date)
            {
                let from = if day_index == 0 {
                    first_minute_of_day
                } else {
                    0
                };
                for minute_of_day in from..1440 {
                    if self.hours.has(minute_of_day / 60) && self.minutes.has(minute_of_day % 60) {
                        let midnight = date.midnight().assume_utc().unix_timestamp() / 60;
                        return Some(midnight + i64::from(minute_of_day));
                    }
                }
            }
            date = date.next_day()?;
        }
        None
    }
}

/// The weekday nearest day `target` of `date`'s month, without leaving the month.
fn nearest_weekday(date: Date, target: u32) -> u32 {
    let Ok(day) = Date::from_calendar_date(date.year(), date.month(), target as u8) else {
        return 0;
    };
    let last = u32::from(date.month().length(date.year()));
    match day.weekday() {
        Weekday::Saturday if target == 1 => 3,
        Weekday::Saturday => target - 1,
        Weekday::Sunday if target == last => target - 2,
        Weekday::Sunday => target + 1,
        _ => target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(text: &str) -> i64 {
        let t =
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
        t.unix_timestamp() / 60
    }

    #[test]
    fn rates_need_the_right_unit() {
        assert_eq!(
            Schedule::parse("rate(1 minute)"),
            Ok(Schedule::Rate { minutes: 1 })
        );
        assert_eq!(
            Schedule::parse("rate(5 minutes)"),
            Ok(Schedule::Rate { minutes: 5 })
        );
        assert_eq!(
            Schedule::parse("rate(2 hours)"),
            Ok(Schedule::Rate { minutes: 120 })
        );
        assert_eq!(
            Schedule::parse("rate(1 day)"),
            Ok(Schedule::Rate { minutes: 1440 })
        );
        for bad in [
            "rate(1 minutes)",
            "rate(2 minute)",
            "rate(0 minutes)",
            "rate(x minutes)",
            "rate(1 week)",
            "rate(1)",
            "every 5 minutes",
            "rate(-1 minutes)",
        ] {
            assert_eq!(Schedule::parse(bad), Err(InvalidSchedule), "{bad}");
        }
    }

    #[test]
    fn rates_fire_each_period_from_their_anchor() {
        let s = Schedule::parse("rate(5 minutes)").unwrap();
        assert_eq!(s.next_after(100, 100), Some(105));
        assert_eq!(s.next_after(100, 104), Some(105));
        assert_eq!(s.next_after(100, 105), Some(110));
    }

    #[test]
    fn cron_validation_follows_aws() {
        for good in [
            "0 10 * * ? *",
            "15 12 * * ? *",
            "0 18 ? * MON-FRI *",
            "0 8 1 * ? *",
            "0/15 * * * ? *",
            "0/10 * ? * MON-FRI *",
            "0/5 8-17 ? * MON-FRI *",
            "0 9 ? * 2#1 *",
            "0 0 L * ? *",
            "0 0 15W * ? *",
            "0 0 ? * 6L 2030",
            "0 0 LW JAN,JUL ? 2026-2030",
        ] {
            assert!(Cron::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "0 10 * * * *",
            "0 10 ? * ? *",
            "0 10 * *",
            "60 * * * ? *",
            "0 24 * * ? *",
            "0 0 32 * ? *",
            "0 0 ? * 8 *",
            "0 0 ? * 2#6 *",
            "0 0 1 13 ? *",
            "0 0 1 * ? 1969",
            "*/0 * * * ? *",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cron_next_times() {
        let c = Cron::parse("0 10 * * ? *").unwrap();
        assert_eq!(
            c.next_after(minute("2026-12-07T09:00:00Z")),
            Some(minute("2026-12-07T10:00:00Z"))
        );
        assert_eq!(
            c.next_after(minute("2026-12-07T10:00:00Z")),
            Some(minute("2026-12-08T10:00:00Z"))
        );
        let c = Cron::parse("0/15 * * * ? *").unwrap();
        assert_eq!(
            c.next_after(minute("2026-12-07T09:01:00Z")),
            Some(minute("2026-12-07T09:15:00Z"))
        );
        // 2026-12-07 is a Monday; the first Monday of January 2027 is the 4th.
        let c = Cron::parse("0 9 ? * 2#1 *").unwrap();
        assert_eq!(
            c.next_after(minute("2026-12-07T10:00:00Z")),
            Some(minute("2027-01-04T09:00:00Z"))
        );
        let c = Cron::parse("0 0 L * ? *").unwrap();
        assert_eq!(
            c.next_after(minute("2027-02-01T00:00:00Z")),
            Some(minute("2027-02-28T00:00:00Z"))
        );
        // The last Friday of December 2026 is the 25th.
        let c = Cron::parse("30 6 ? * 6L *").unwrap();
        assert_eq!(
            c.next_after(minute("2026-12-07T00:00:00Z")),
            Some(minute("2026-12-25T06:30:00Z"))
        );
        // 2027-05-15 is a Saturday: the nearest weekday is Friday the 14th.
        let c = Cron::parse("0 0 15W 5 ? 2027").unwrap();
        assert_eq!(
            c.next_after(minute("2027-01-01T00:00:00Z")),
            Some(minute("2027-05-14T00:00:00Z"))
        );
        let c = Cron::parse("0 0 1 1 ? 2020").unwrap();
        assert_eq!(c.next_after(minute("2026-01-01T00:00:00Z")), None);
    }
}
