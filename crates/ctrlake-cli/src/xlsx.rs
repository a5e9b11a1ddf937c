//! `--format xlsx`: a report as an Excel workbook, for the managers who open reports in Excel.
//!
//! Numbers (counts, seconds, percentages) are written as numbers, so that Excel sums and
//! charts them, with three decimals where the report has them; text, dates and timestamps as
//! the text CSV holds (a timestamp keeps its zone; maps and lists are JSON text). The header
//! row is bold and frozen, and the columns are fitted to their contents. A worksheet holds at
//! most 1,048,576 rows: a larger result is refused before anything is written.

use anyhow::{Result, bail};
use arrow_array::Array;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use ctrlake_query::render::{DataType, RecordBatch};
use rust_xlsxwriter::{Format, Workbook};

/// Rows a worksheet holds, the header's included.
const MAX_ROWS: usize = 1_048_576;

/// `batches` as the bytes of an xlsx workbook with one worksheet.
pub fn workbook(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if total >= MAX_ROWS {
        bail!(
            "{total} rows do not fit an Excel worksheet ({} at most): write csv or parquet",
            MAX_ROWS - 1
        );
    }
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let bold = Format::new().set_bold();
    let decimals = Format::new().set_num_format("0.000");
    let Some(first) = batches.first() else {
        return Ok(workbook.save_to_buffer()?);
    };
    for (column, field) in first.schema().fields().iter().enumerate() {
        sheet.write_string_with_format(0, column as u16, field.name(), &bold)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    let options = FormatOptions::default();
    let mut row = 1u32;
    for batch in batches {
        let batch = ctrlake_query::render::nested_as_json(batch)?;
        for (column, array) in batch.columns().iter().enumerate() {
            let column = column as u16;
            let data_type = array.data_type();
            if let Some(numbers) = ctrlake_query::render::numbers(array.as_ref())? {
                let decimal = matches!(
                    data_type,
                    DataType::Decimal128(_, s) | DataType::Decimal256(_, s) if *s > 0
                );
                for (offset, value) in numbers.iter().enumerate() {
                    let Some(value) = value else { continue };
                    let at = row + offset as u32;
                    if decimal {
                        sheet.write_number_with_format(at, column, value, &decimals)?;
                    } else {
                        sheet.write_number(at, column, value)?;
                    }
                }
            } else {
                let formatter = ArrayFormatter::try_new(array.as_ref(), &options)?;
                for offset in 0..array.len() {
                    if array.is_null(offset) {
                        continue;
                    }
                    let text = formatter.value(offset).try_to_string()?;
                    sheet.write_string(row + offset as u32, column, &text)?;
                }
            }
        }
        row += batch.num_rows() as u32;
    }
    sheet.autofit();
    Ok(workbook.save_to_buffer()?)
}
