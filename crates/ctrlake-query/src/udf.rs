//! Time-zone functions the KPI SQL needs and SQL alone cannot express safely.
//!
//! Reports are read in local time (Japan: `Asia/Tokyo`), while the lake stores UTC. The zone is
//! a bound parameter (`$tz`), never text pasted into SQL, so conversion happens in these
//! functions with the IANA database (`chrono-tz`), daylight-saving transitions included:
//! - `local_date(ts, tz)` → `Date32`: the calendar date of `ts` in `tz`;
//! - `local_interval_start(ts, tz, minutes)` → `Utf8`: the start of the `minutes`-long local
//!   interval holding `ts`, as `2026-03-02T09:15:00+09:00`;
//! - `local_timestamp(ts, tz)` → `Utf8`: `ts` in `tz` to the second, with the milliseconds
//!   when the record has them: `2026-03-02T09:15:07+09:00`, `2026-03-02T09:15:07.250+09:00`.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Offset};
use chrono_tz::Tz;
use datafusion::arrow::array::{
    ArrayRef, AsArray, Date32Builder, StringBuilder, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, TimestampMillisecondType};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

const MILLIS_PER_DAY: i64 = 86_400_000;
const MILLIS_PER_QUARTER_HOUR: i64 = 900_000;

/// UTC offsets of one zone, remembered for the last UTC quarter hour looked up.
///
/// A zone lookup searches the zone's transition table for every row; rows of a lake file are
/// sorted by time, so neighbours mostly share a quarter hour. A quarter hour is remembered only
/// when its first and last millisecond have the same offset, so one that holds a transition
/// (at any second, historical ones included) is always looked up row by row.
struct ZoneOffsets {
    tz: Tz,
    quarter_hour: i64,
    offset_ms: Option<i64>,
}

impl ZoneOffsets {
    fn new(tz: Tz) -> Self {
        Self {
            tz,
            quarter_hour: i64::MIN,
            offset_ms: None,
        }
    }

    fn lookup(&self, ms: i64) -> Option<i64> {
        let utc = DateTime::from_timestamp_millis(ms)?;
        Some(i64::from(utc.with_timezone(&self.tz).offset().fix().local_minus_utc()) * 1000)
    }

    /// Local time minus UTC at `ms`, in milliseconds.
    fn offset_ms(&mut self, ms: i64) -> Option<i64> {
        let quarter_hour = ms.div_euclid(MILLIS_PER_QUARTER_HOUR);
        if quarter_hour == self.quarter_hour && self.offset_ms.is_some() {
            return self.offset_ms;
        }
        let offset = self.lookup(ms)?;
        let start = quarter_hour * MILLIS_PER_QUARTER_HOUR;
        let constant = self.lookup(start) == Some(offset)
            && self.lookup(start + MILLIS_PER_QUARTER_HOUR - 1) == Some(offset);
        self.quarter_hour = quarter_hour;
        self.offset_ms = constant.then_some(offset);
        Some(offset)
    }

    /// `ms` as a local date-time carrying its UTC offset.
    fn local_time(&mut self, ms: i64) -> Option<DateTime<FixedOffset>> {
        let offset = FixedOffset::east_opt(i32::try_from(self.offset_ms(ms)? / 1000).ok()?)?;
        Some(DateTime::from_timestamp_millis(ms)?.with_timezone(&offset))
    }

    /// The local calendar date of `ms`, as days since 1970-01-01.
    fn local_day(&mut self, ms: i64) -> Option<i32> {
        let local_ms = ms.checked_add(self.offset_ms(ms)?)?;
        i32::try_from(local_ms.div_euclid(MILLIS_PER_DAY)).ok()
    }
}

/// `local_interval_start` for one zone and interval length: the rendered start of the last
/// interval is kept, since neighbouring rows (files are sorted by time) mostly share it.
struct LocalIntervals {
    offsets: ZoneOffsets,
    interval_ms: i64,
    last: Option<(i64, String)>,
}

impl LocalIntervals {
    fn new(tz: Tz, minutes: i64) -> Self {
        Self {
            offsets: ZoneOffsets::new(tz),
            interval_ms: minutes * 60_000,
            last: None,
        }
    }

    fn start(&mut self, ms: i64) -> Option<String> {
        // Stepping back by the local time's position in its interval lands on the local
        // interval boundary, DST included (`minutes` divides an hour).
        let local_ms = ms.checked_add(self.offsets.offset_ms(ms)?)?;
        let start = ms - local_ms.rem_euclid(self.interval_ms);
        if let Some((last_start, text)) = &self.last
            && *last_start == start
        {
            return Some(text.clone());
        }
        let text = self
            .offsets
            .local_time(start)?
            .format(LOCAL_SECONDS)
            .to_string();
        self.last = Some((start, text.clone()));
        Some(text)
    }
}

/// How a local time to the second is written (`2026-03-02T09:15:00+09:00`): interval starts,
/// timestamps without milliseconds, and whatever must match them (the HTML page's chart axis).
pub const LOCAL_SECONDS: &str = "%Y-%m-%dT%H:%M:%S%:z";

/// Parses an IANA time zone name, with an error that lists what is expected.
pub fn parse_time_zone(name: &str) -> std::result::Result<Tz, String> {
    Tz::from_str(name).map_err(|_| {
        format!("unknown time zone {name:?}: expected an IANA name like Asia/Tokyo or UTC")
    })
}

fn scalar_text(value: &ColumnarValue, what: &str) -> Result<String> {
    match value {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(Some(text))
            | ScalarValue::LargeUtf8(Some(text))
            | ScalarValue::Utf8View(Some(text)),
        ) => Ok(text.clone()),
        other => exec_err!("{what} must be a constant string, got {other:?}"),
    }
}

fn scalar_integer(value: &ColumnarValue, what: &str) -> Result<i64> {
    match value {
        ColumnarValue::Scalar(scalar) => match scalar.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(n)) => Ok(n),
            other => exec_err!("{what} must be a constant integer, got {other:?}"),
        },
        ColumnarValue::Array(_) => exec_err!("{what} must be a constant integer"),
    }
}

fn time_zone(value: &ColumnarValue) -> Result<Tz> {
    let name = scalar_text(value, "the time zone")?;
    parse_time_zone(&name).or_else(|message| exec_err!("{message}"))
}

fn timestamps(value: &ColumnarValue, rows: usize) -> Result<TimestampMillisecondArray> {
    let array = value.to_array(rows)?;
    let array = datafusion::arrow::compute::cast(
        &array,
        &DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Millisecond, None),
    )?;
    Ok(array.as_primitive::<TimestampMillisecondType>().clone())
}

/// A string per timestamp (null stays null), for the functions that render local times.
fn strings_from(
    times: &TimestampMillisecondArray,
    bytes_per_value: usize,
    mut render: impl FnMut(i64) -> Option<String>,
) -> ColumnarValue {
    let mut out = StringBuilder::with_capacity(times.len(), times.len() * bytes_per_value);
    for millis in times.iter() {
        out.append_option(millis.and_then(&mut render));
    }
    ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct LocalDate {
    signature: Signature,
}

impl ScalarUDFImpl for LocalDate {
    fn name(&self) -> &str {
        "local_date"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [ts, tz] = args.args.as_slice() else {
            return exec_err!("local_date(timestamp, time_zone) takes two arguments");
        };
        let mut offsets = ZoneOffsets::new(time_zone(tz)?);
        let times = timestamps(ts, args.number_rows)?;
        let mut out = Date32Builder::with_capacity(times.len());
        for millis in times.iter() {
            out.append_option(millis.and_then(|ms| offsets.local_day(ms)));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct LocalIntervalStart {
    signature: Signature,
}

impl ScalarUDFImpl for LocalIntervalStart {
    fn name(&self) -> &str {
        "local_interval_start"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [ts, tz, minutes] = args.args.as_slice() else {
            return exec_err!(
                "local_interval_start(timestamp, time_zone, minutes) takes three arguments"
            );
        };
        let tz = time_zone(tz)?;
        let minutes = scalar_integer(minutes, "the interval length in minutes")?;
        if minutes < 1 || 60 % minutes != 0 {
            return exec_err!("the interval must be a divisor of 60 minutes, got {minutes}");
        }
        let times = timestamps(ts, args.number_rows)?;
        let mut intervals = LocalIntervals::new(tz, minutes);
        Ok(strings_from(&times, 25, |ms| intervals.start(ms)))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct LocalTimestamp {
    signature: Signature,
}

impl ScalarUDFImpl for LocalTimestamp {
    fn name(&self) -> &str {
        "local_timestamp"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [ts, tz] = args.args.as_slice() else {
            return exec_err!("local_timestamp(timestamp, time_zone) takes two arguments");
        };
        let mut offsets = ZoneOffsets::new(time_zone(tz)?);
        let times = timestamps(ts, args.number_rows)?;
        Ok(strings_from(&times, 29, |ms| {
            let local = offsets.local_time(ms)?;
            let format = if ms.rem_euclid(1000) == 0 {
                LOCAL_SECONDS
            } else {
                "%Y-%m-%dT%H:%M:%S%.3f%:z"
            };
            Some(local.format(format).to_string())
        }))
    }
}

/// The functions to register on a `SessionContext`.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(LocalDate {
            signature: Signature::any(2, Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(LocalIntervalStart {
            signature: Signature::any(3, Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(LocalTimestamp {
            signature: Signature::any(2, Volatility::Immutable),
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    /// The local date and UTC offset straight from chrono-tz, row by row.
    fn direct(tz: Tz, ms: i64) -> (Option<i32>, i64) {
        let local = DateTime::from_timestamp_millis(ms)
            .expect("in range")
            .with_timezone(&tz);
        let local_ms = local.naive_local().and_utc().timestamp_millis();
        (
            i32::try_from(local_ms.div_euclid(MILLIS_PER_DAY)).ok(),
            local_ms - ms,
        )
    }

    /// Walks across zone transitions: DST (New York, March 8 and November 1 2026), a 30-minute
    /// shift (Lord Howe), a 45-minute offset (Kathmandu), and transitions at odd seconds inside
    /// a quarter hour (Kolkata +05:21:10 -> +05:30 at 1905-12-31T18:38:50Z, Dublin at
    /// 1916-05-21T02:25:21Z); forwards, backwards and by odd steps: (zone, from, step ms, rows).
    const WALKS: [(&str, &str, i64, i64); 8] = [
        ("America/New_York", "2026-03-08T06:00:00Z", 60_000, 600),
        ("America/New_York", "2026-11-01T05:00:00Z", 7_919, 2_000),
        ("Australia/Lord_Howe", "2026-04-04T14:00:00Z", 61_001, 600),
        ("Australia/Lord_Howe", "2026-10-03T15:00:00Z", -59_999, 600),
        ("Asia/Kathmandu", "2026-03-01T18:00:00Z", 299_999, 300),
        ("Asia/Kolkata", "1905-12-31T18:30:00Z", 1_001, 1_000),
        ("Europe/Dublin", "1916-05-21T02:15:00Z", 997, 1_000),
        ("UTC", "2026-03-01T23:00:00Z", 1_000, 7_200),
    ];

    /// Each walk: its zone name, the zone and its timestamps in walking order.
    fn walks() -> impl Iterator<Item = (&'static str, Tz, Vec<i64>)> {
        WALKS.into_iter().map(|(zone, from, step, count)| {
            let start = DateTime::parse_from_rfc3339(from)
                .expect("time")
                .timestamp_millis();
            let times = (0..count).map(|i| start + i * step).collect();
            (zone, parse_time_zone(zone).expect("zone"), times)
        })
    }

    #[test]
    fn remembered_offsets_give_the_dates_and_times_of_a_direct_lookup() {
        let format = "%Y-%m-%dT%H:%M:%S%.3f%:z";
        for (zone, tz, times) in walks() {
            let mut offsets = ZoneOffsets::new(tz);
            for ms in times {
                let (day, offset) = direct(tz, ms);
                assert_eq!(offsets.offset_ms(ms), Some(offset), "{zone} at {ms}");
                assert_eq!(offsets.local_day(ms), day, "{zone} at {ms}");
                let expected = DateTime::from_timestamp_millis(ms)
                    .expect("in range")
                    .with_timezone(&tz)
                    .format(format)
                    .to_string();
                let local = offsets.local_time(ms).expect("in range");
                assert_eq!(local.format(format).to_string(), expected, "{zone} at {ms}");
            }
        }
    }

    /// The interval start straight from chrono-tz, row by row (the former implementation).
    fn direct_interval_start(tz: Tz, minutes: u32, ms: i64) -> Option<String> {
        let local = DateTime::from_timestamp_millis(ms)?.with_timezone(&tz);
        let back = i64::from(local.minute() % minutes) * 60_000
            + i64::from(local.second()) * 1000
            + i64::from(local.timestamp_subsec_millis());
        let start = DateTime::from_timestamp_millis(ms - back)?.with_timezone(&tz);
        Some(start.format(LOCAL_SECONDS).to_string())
    }

    #[test]
    fn remembered_intervals_match_a_direct_lookup() {
        for minutes in [1, 5, 15, 30, 60] {
            for (zone, tz, times) in walks() {
                let mut intervals = LocalIntervals::new(tz, i64::from(minutes));
                for ms in times {
                    assert_eq!(
                        intervals.start(ms),
                        direct_interval_start(tz, minutes, ms),
                        "{zone} {minutes} min at {ms}"
                    );
                }
            }
        }
    }

    #[test]
    fn unknown_zones_are_named() {
        assert!(parse_time_zone("Asia/Tokyo").is_ok());
        let message = parse_time_zone("Asia/Tokio").expect_err("unknown");
        assert!(message.contains("Asia/Tokio"), "{message}");
    }
}
