//! Timestamps the way Connect writes them, formatted without chrono on the hot path.
//!
//! Every record carries up to a dozen timestamps and the generator must write well over
//! 150 MB/s, so formatting is a few integer divisions into a stack buffer. Instants are
//! milliseconds since the Unix epoch (UTC); a timestamp prints `2026-03-02T01:15:07Z`, or
//! `2026-03-02T01:15:07.123Z` when it carries milliseconds (about one record in ten, as in
//! real streams). Years are four digits: `GenConfig` validation keeps instants in 1970..=9000.

use serde::{Serialize, Serializer};

/// Seconds in a day.
pub(crate) const DAY_S: i64 = 86_400;
/// Asia/Tokyo has had no daylight saving time since 1951: a fixed +09:00 is exact.
pub(crate) const TOKYO_OFFSET_S: i64 = 9 * 3_600;

/// One timestamp field of a record: an instant in ms and whether it prints its milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ts {
    pub ms: i64,
    pub with_ms: bool,
}

impl Ts {
    /// Writes the ISO-8601 form into `buf` and returns its length (20 or 24 bytes).
    pub(crate) fn format(self, buf: &mut [u8; 24]) -> usize {
        let secs = self.ms.div_euclid(1000);
        let (y, mo, d) = civil_from_days(secs.div_euclid(DAY_S));
        let sod = secs.rem_euclid(DAY_S);
        write_digits(&mut buf[0..4], y.rem_euclid(10_000) as u32);
        buf[4] = b'-';
        write_digits(&mut buf[5..7], mo);
        buf[7] = b'-';
        write_digits(&mut buf[8..10], d);
        buf[10] = b'T';
        write_digits(&mut buf[11..13], (sod / 3600) as u32);
        buf[13] = b':';
        write_digits(&mut buf[14..16], (sod / 60 % 60) as u32);
        buf[16] = b':';
        write_digits(&mut buf[17..19], (sod % 60) as u32);
        if self.with_ms {
            buf[19] = b'.';
            write_digits(&mut buf[20..23], self.ms.rem_euclid(1000) as u32);
            buf[23] = b'Z';
            24
        } else {
            buf[19] = b'Z';
            20
        }
    }
}

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 24];
        let len = self.format(&mut buf);
        let text = std::str::from_utf8(&buf[..len]).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

/// Fills `out` with the decimal digits of `value`, zero-padded on the left.
pub(crate) fn write_digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// (year, month, day) of a day number counted from 1970-01-01 (proleptic Gregorian).
/// Howard Hinnant's `civil_from_days`, exact for every representable day.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Hour of day (0..24) in Tokyo of an instant in seconds.
pub(crate) fn tokyo_hour(secs: i64) -> usize {
    ((secs + TOKYO_OFFSET_S).rem_euclid(DAY_S) / 3_600) as usize
}

/// Day of week in Tokyo of an instant in seconds, 0 = Sunday.
pub(crate) fn tokyo_weekday(secs: i64) -> u32 {
    // 1970-01-01 was a Thursday.
    ((secs + TOKYO_OFFSET_S).div_euclid(DAY_S) + 4).rem_euclid(7) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ts: Ts) -> String {
        let mut buf = [0u8; 24];
        let len = ts.format(&mut buf);
        String::from_utf8_lossy(&buf[..len]).into_owned()
    }

    #[test]
    fn formats_seconds_and_milliseconds_like_connect() {
        // 2026-03-02T01:15:07Z
        let secs = 1_772_414_107;
        assert_eq!(
            text(Ts {
                ms: secs * 1000,
                with_ms: false
            }),
            "2026-03-02T01:15:07Z"
        );
        assert_eq!(
            text(Ts {
                ms: secs * 1000 + 123,
                with_ms: true
            }),
            "2026-03-02T01:15:07.123Z"
        );
        assert_eq!(
            text(Ts {
                ms: secs * 1000,
                with_ms: true
            }),
            "2026-03-02T01:15:07.000Z"
        );
    }

    #[test]
    fn civil_dates_match_chrono_over_centuries() {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1);
        let Some(epoch) = epoch else {
            panic!("1970-01-01 is a valid date");
        };
        for days in (-1_000..3_000_000).step_by(997) {
            let date = epoch + chrono::Duration::days(days);
            let expected = (
                i64::from(chrono::Datelike::year(&date)),
                chrono::Datelike::month(&date),
                chrono::Datelike::day(&date),
            );
            assert_eq!(civil_from_days(days), expected, "day {days}");
        }
    }

    #[test]
    fn tokyo_day_starts_at_15_utc() {
        // 2026-03-01T15:00:00Z is Monday 2026-03-02 00:00 in Tokyo.
        let secs = 1_772_377_200;
        assert_eq!(tokyo_hour(secs), 0);
        assert_eq!(tokyo_weekday(secs), 1);
        assert_eq!(tokyo_weekday(secs - 1), 0);
    }
}
