//! Points in time from the command line: `--since` and `--until`.
//!
//! Accepted forms, all resolved against a reference instant (`--until` for
//! `--since`, the current time for `--until`), in UTC so that a replay gives
//! the same window on every machine:
//!
//! - RFC 3339 (`2024-05-04T12:00:00Z`) and plain dates (`2024-05-04`, midnight UTC);
//! - compact durations before the reference (`36h`, `2d`, `1w 2d`), via `humantime`;
//! - git-style phrases (`2 days ago`, `yesterday`, `last week`), via `parse_datetime`.

use crate::error::input;
use jiff::{tz::TimeZone, Timestamp};

/// Seconds since the Unix epoch.
pub type Seconds = i64;

/// Parses `text` relative to `reference` (seconds since the epoch).
pub fn parse(text: &str, reference: Seconds) -> Result<Seconds, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty date".into());
    }
    if trimmed.eq_ignore_ascii_case("now") {
        return Ok(reference);
    }
    if let Ok(duration) = humantime::parse_duration(trimmed) {
        let secs = i64::try_from(duration.as_secs()).map_err(|_| "duration too large")?;
        return reference
            .checked_sub(secs)
            .ok_or_else(|| "duration too large".into());
    }
    let reference_zoned = Timestamp::from_second(reference)
        .map_err(|e| e.to_string())?
        .to_zoned(TimeZone::UTC);
    // Plain dates and zone-less date-times are read in UTC, not in the local
    // zone, so the window does not depend on the machine's TZ.
    let input = if trimmed.len() == 10 && trimmed.as_bytes()[4] == b'-' {
        format!("{trimmed} 00:00:00 UTC")
    } else {
        trimmed.to_owned()
    };
    match parse_datetime::parse_datetime_at_date(reference_zoned, input.as_str()) {
        Ok(parse_datetime::ParsedDateTime::InRange(zoned)) => Ok(zoned.timestamp().as_second()),
        Ok(parse_datetime::ParsedDateTime::Extended(_)) => Err(format!("date out of range: {text:?}")),
        Err(_) => Err(format!(
            "cannot read {text:?} as a date (try 2024-05-04, 2024-05-04T12:00:00Z, 36h, \"2 days ago\" or yesterday)"
        )),
    }
}

/// The current time in seconds since the epoch.
/// The `[since, until)` of a `--since`/`--until` pair: `until` defaults to
/// now, `since` to `default_length` before it, and a relative `since`
/// counts back from `until`. Errors are one-line input errors.
pub fn period(
    since: Option<&str>,
    until: Option<&str>,
    default_length: Seconds,
) -> anyhow::Result<(Seconds, Seconds)> {
    let until = match until {
        Some(text) => parse(text, now()).map_err(|e| input(format!("--until: {e}")))?,
        None => now(),
    };
    let since = match since {
        Some(text) => parse(text, until).map_err(|e| input(format!("--since: {e}")))?,
        None => until - default_length,
    };
    if since >= until {
        return Err(input(format!(
            "--since {} is not before --until {}",
            rfc3339(since),
            rfc3339(until)
        )));
    }
    Ok((since, until))
}

pub fn now() -> Seconds {
    Timestamp::now().as_second()
}

/// Formats seconds since the epoch as RFC 3339 in UTC.
pub fn rfc3339(seconds: Seconds) -> String {
    match Timestamp::from_second(seconds) {
        Ok(ts) => ts
            .to_zoned(TimeZone::UTC)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        Err(_) => seconds.to_string(),
    }
}

/// A short human age such as `3h`, `2d` or `5w`.
pub fn age(seconds: Seconds) -> String {
    let s = seconds.max(0);
    match s {
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s if s < 14 * 86400 => format!("{}d", s / 86400),
        s => format!("{}w", s / (7 * 86400)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: Seconds = 1_714_824_000; // 2024-05-04T12:00:00Z

    #[test]
    fn absolute_forms() {
        assert_eq!(parse("2024-05-04T12:00:00Z", 0).unwrap(), REF);
        assert_eq!(parse("2024-05-04", 0).unwrap(), REF - 12 * 3600);
    }

    #[test]
    fn relative_forms() {
        assert_eq!(parse("36h", REF).unwrap(), REF - 36 * 3600);
        assert_eq!(parse("2d", REF).unwrap(), REF - 2 * 86400);
        assert_eq!(parse("2 days ago", REF).unwrap(), REF - 2 * 86400);
        assert_eq!(parse("yesterday", REF).unwrap(), REF - 86400);
        assert_eq!(parse("now", REF).unwrap(), REF);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse("the day after the incident", REF).is_err());
        assert!(parse("", REF).is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(rfc3339(REF), "2024-05-04T12:00:00Z");
        assert_eq!(age(3 * 86400 + 5), "3d");
    }
}
