//! CTR timestamps to epoch milliseconds.
//!
//! Connect writes `2022-01-05T17:12:59Z`, sometimes with a fraction (`...59.123Z`). The fast path
//! parses exactly that shape without allocation; anything else RFC 3339 allows (an explicit
//! offset, a space instead of `T`, a leap second) goes through chrono. Sub-millisecond digits are
//! truncated towards the past, so `...59.9999Z` stays in second 59.

use chrono::DateTime;

/// Parses an ISO-8601 / RFC 3339 date-time into milliseconds since the Unix epoch (UTC).
/// Returns `None` when the text is not such a date-time.
pub fn parse_millis(text: &str) -> Option<i64> {
    parse_utc_fast(text.as_bytes()).or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

fn digits(bytes: &[u8]) -> Option<i64> {
    let mut value = 0i64;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(b - b'0');
    }
    Some(value)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` only; `None` sends the caller to the general parser.
fn parse_utc_fast(b: &[u8]) -> Option<i64> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let millis = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', fraction @ ..] if !fraction.is_empty() && fraction.len() <= 9 => {
            let kept = &fraction[..fraction.len().min(3)];
            let scale = [100, 10, 1][kept.len() - 1];
            // Digits beyond the third must still be digits.
            digits(&fraction[kept.len()..])?;
            digits(kept)? * scale
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC calendar date (`YYYY-MM-DD`) of an epoch-millisecond instant: the lake partition.
pub fn utc_date(millis: i64) -> String {
    match DateTime::from_timestamp_millis(millis) {
        Some(t) => t.format("%Y-%m-%d").to_string(),
        // Outside chrono's ±262,000-year range; parse_millis never yields such values.
        None => "invalid".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono_millis(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .expect("test input is RFC 3339")
            .timestamp_millis()
    }

    #[test]
    fn fast_path_agrees_with_chrono() {
        for text in [
            "2022-01-05T17:12:59Z",
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59Z",
            "2026-03-02T14:59:50.250Z",
            "2026-03-02T14:59:50.2Z",
            "2026-03-02T14:59:50.123456789Z",
            "1969-12-31T23:59:59.999Z",
            "2100-12-31T00:00:00Z",
        ] {
            assert_eq!(
                parse_utc_fast(text.as_bytes()),
                Some(chrono_millis(text)),
                "{text}"
            );
        }
    }

    #[test]
    fn sub_millisecond_digits_truncate() {
        assert_eq!(
            parse_millis("2026-03-02T00:00:00.9999Z"),
            Some(chrono_millis("2026-03-02T00:00:00.999Z"))
        );
    }

    #[test]
    fn offsets_and_spaces_use_the_general_parser() {
        assert_eq!(
            parse_millis("2026-03-02T09:00:00+09:00"),
            Some(chrono_millis("2026-03-02T00:00:00Z"))
        );
        assert_eq!(
            parse_millis("2026-03-02 00:00:00Z"),
            Some(chrono_millis("2026-03-02T00:00:00Z"))
        );
    }

    #[test]
    fn rejects_what_is_not_a_date_time() {
        for text in [
            "",
            "yesterday",
            "2026-03-02 25:99",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-03-02T24:00:00Z",
            "2026-03-02T00:00:00.Z",
            "2026-03-02T00:00:00.12aZ",
            "2026-03-02",
        ] {
            assert_eq!(parse_millis(text), None, "{text}");
        }
    }

    #[test]
    fn utc_date_is_the_partition_day() {
        assert_eq!(
            utc_date(chrono_millis("2026-03-02T23:59:59.999Z")),
            "2026-03-02"
        );
        assert_eq!(
            utc_date(chrono_millis("2026-03-03T00:00:00Z")),
            "2026-03-03"
        );
        assert_eq!(utc_date(-1), "1969-12-31");
    }
}
