//! Report output: a terminal table, CSV, JSON (an array of objects) or Parquet.

use std::io::Write;

pub use datafusion::arrow::record_batch::RecordBatch;

use crate::QueryError;

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
                writer.write(batch)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = arrow_json::ArrayWriter::new(&mut out);
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
