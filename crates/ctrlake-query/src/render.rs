//! Report output: a terminal table, CSV, JSON (an array of objects) or Parquet.
//!
//! CSV has no place for a map, list or struct (a CTR's `attributes`, `tags`, transfers): such
//! a column is written as JSON text, one JSON value per cell, which DuckDB's `json()` and any
//! JSON parser read back. JSON output names every column in every object, `null` included, so
//! that each row has the same keys.

use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StringBuilder};
use datafusion::arrow::datatypes::{Field, FieldRef, Schema};

pub use datafusion::arrow::datatypes::DataType;
pub use datafusion::arrow::record_batch::RecordBatch;

use crate::QueryError;

/// A numeric column's values as `f64` (what a spreadsheet or a chart takes), `None` for a
/// column of another type.
pub fn numbers(array: &dyn Array) -> Result<Option<Float64Array>, QueryError> {
    if !array.data_type().is_numeric() {
        return Ok(None);
    }
    let numbers = datafusion::arrow::compute::cast(array, &DataType::Float64)?;
    let numbers = numbers
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| QueryError::Invalid("a numeric column did not cast to f64".to_owned()))?;
    Ok(Some(numbers.clone()))
}

/// Output formats of the report, contacts and sql commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    Parquet,
}

/// Writes `batches` to `out` in `format`. Parquet needs a seekable file: use [`write_parquet`].
pub fn write(
    batches: &[RecordBatch],
    format: OutputFormat,
    mut out: impl Write,
) -> Result<(), QueryError> {
    match format {
        OutputFormat::Table => {
            let table = arrow_cast::pretty::pretty_format_batches(batches)?;
            writeln!(out, "{table}")?;
        }
        OutputFormat::Csv => {
            let mut writer = arrow_csv::WriterBuilder::new().with_header(true).build(out);
            for batch in batches {
                writer.write(&nested_as_json(batch)?)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = arrow_json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow_json::writer::JsonArray>(&mut out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            drop(writer);
            writeln!(out)?;
        }
        OutputFormat::Parquet => {
            return Err(QueryError::Invalid(
                "--format parquet needs --out FILE".to_owned(),
            ));
        }
    }
    Ok(())
}

/// `batch` with each column that `replace` gives a new field and array for replaced, the
/// others as they are: the one loop behind the conversions below.
fn replace_columns(
    batch: &RecordBatch,
    mut replace: impl FnMut(&FieldRef, &ArrayRef) -> Result<Option<(Field, ArrayRef)>, QueryError>,
) -> Result<RecordBatch, QueryError> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let (field, column) = match replace(field, column)? {
            Some(replaced) => replaced,
            None => (field.as_ref().clone(), Arc::clone(column)),
        };
        fields.push(field);
        columns.push(column);
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// `batches` with every timestamp that has a zone (the lake's are UTC) shown in `tz`, an IANA
/// name: the instants stay, their zone changes, so CSV and tables print
/// `2026-03-02T09:15:07+09:00` for `--tz Asia/Tokyo`. Timestamps without a zone are left as
/// they are (they name no instant).
pub fn in_time_zone(batches: &[RecordBatch], tz: &str) -> Result<Vec<RecordBatch>, QueryError> {
    batches
        .iter()
        .map(|batch| {
            replace_columns(batch, |field, column| {
                let DataType::Timestamp(unit, Some(_)) = field.data_type() else {
                    return Ok(None);
                };
                let zoned = DataType::Timestamp(*unit, Some(tz.into()));
                let column = datafusion::arrow::compute::cast(column, &zoned)?;
                Ok(Some((field.as_ref().clone().with_data_type(zoned), column)))
            })
        })
        .collect()
}

/// `batch` with every duration column (a number whose name ends in `_s`) as text
/// `h:mm:ss`, with `.mmm` when the value has milliseconds (`95.5` -> `0:01:35.500`); a
/// negative value keeps its sign, null stays null.
pub fn durations_as_hms(batch: &RecordBatch) -> Result<RecordBatch, QueryError> {
    replace_columns(batch, |field, column| {
        if !(field.name().ends_with("_s") && field.data_type().is_numeric()) {
            return Ok(None);
        }
        // As a decimal with 3 places, the stored integer is the milliseconds (exact for the
        // reports' decimals and for integers).
        let millis = datafusion::arrow::compute::cast(column, &DataType::Decimal128(38, 3))?;
        let millis = millis
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Decimal128Array>()
            .ok_or_else(|| QueryError::Invalid(format!("{} is not a duration", field.name())))?;
        let mut text = StringBuilder::with_capacity(millis.len(), millis.len() * 12);
        for value in millis.iter() {
            match value {
                Some(ms) => text.append_value(hms(ms)),
                None => text.append_null(),
            }
        }
        let field = Field::new(field.name(), DataType::Utf8, field.is_nullable());
        Ok(Some((field, Arc::new(text.finish()) as ArrayRef)))
    })
}

/// Milliseconds as `h:mm:ss` (`.mmm` when not whole seconds).
fn hms(ms: i128) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let (hours, minutes, seconds, millis) =
        (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    match millis {
        0 => format!("{sign}{hours}:{minutes:02}:{seconds:02}"),
        _ => format!("{sign}{hours}:{minutes:02}:{seconds:02}.{millis:03}"),
    }
}

/// `batch` with each map, list or struct column as JSON text (see the module's notes).
pub fn nested_as_json(batch: &RecordBatch) -> Result<RecordBatch, QueryError> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(batch.clone());
    }
    let options = arrow_json::writer::EncoderOptions::default().with_explicit_nulls(true);
    replace_columns(batch, |field, column| {
        if !field.data_type().is_nested() {
            return Ok(None);
        }
        let mut encoder = arrow_json::writer::make_encoder(field, column.as_ref(), &options)?;
        let mut text = StringBuilder::with_capacity(column.len(), column.len() * 32);
        let mut value = Vec::new();
        for row in 0..column.len() {
            if encoder.is_null(row) {
                text.append_null();
                continue;
            }
            value.clear();
            encoder.encode(row, &mut value);
            text.append_value(String::from_utf8_lossy(&value));
        }
        let field = Field::new(field.name(), DataType::Utf8, true);
        Ok(Some((field, Arc::new(text.finish()) as ArrayRef)))
    })
}

/// Writes `batches` as a Parquet file to `file` (ZSTD, like the lake).
pub fn write_parquet(batches: &[RecordBatch], file: std::fs::File) -> Result<(), QueryError> {
    let Some(first) = batches.first() else {
        return Err(QueryError::Invalid("nothing to write".to_owned()));
    };
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, first.schema(), Some(props))?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::hms;

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!(hms(0), "0:00:00");
        assert_eq!(hms(95_500), "0:01:35.500");
        assert_eq!(hms(3_600_000), "1:00:00");
        assert_eq!(hms(90_061_001), "25:01:01.001");
        assert_eq!(hms(-1_250), "-0:00:01.250");
    }
}
