//! Tables for a terminal, as the DuckDB shell draws them: fitted to the window's width, a
//! capped number of rows, numbers right-aligned, NULL distinct from an empty string, and a
//! footer with the row count (and the time a query took).
//!
//! Without it a queue report printed 487-character lines, `SELECT *` one of 18,000 and
//! `SELECT * FROM contacts` 160 MB into the terminal. Files and pipes keep the full table
//! (`ctrlake_query::render`); only output to a terminal is fitted.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use ctrlake_query::render::RecordBatch;

/// The widest a cell is shown (in terminal columns); longer values end in `…`.
const MAX_CELL_WIDTH: usize = 40;

/// How a terminal table is laid out.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// The terminal's width in columns.
    pub width: usize,
    /// Rows shown at most (the first half and the last half of them), `None` for all.
    pub max_rows: Option<usize>,
}

/// `batches` as a table fitted to `layout`, with a footer line.
pub fn render(
    batches: &[RecordBatch],
    layout: Layout,
    elapsed: Option<Duration>,
) -> Result<String> {
    let Some(first) = batches.first() else {
        return Ok(footer(0, 0, &[], elapsed));
    };
    let schema = first.schema();
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let shown = shown_rows(total, layout.max_rows);
    let options = FormatOptions::default().with_null("NULL");
    // Cells of the shown rows, in order; `None` marks where rows were left out.
    let mut rows: Vec<Option<Vec<String>>> = Vec::new();
    let mut offset = 0;
    let mut gap_written = false;
    for batch in batches {
        let formatters = formatters(batch, &options)?;
        for row in 0..batch.num_rows() {
            let index = offset + row;
            if !shown(index) {
                if !gap_written {
                    rows.push(None);
                    gap_written = true;
                }
                continue;
            }
            let mut cells = Vec::with_capacity(formatters.len());
            for formatter in &formatters {
                cells.push(cell_text(&formatter.value(row).try_to_string()?));
            }
            rows.push(Some(cells));
        }
        offset += batch.num_rows();
    }
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| cell_text(f.name()))
        .collect();
    let right: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().is_numeric())
        .collect();
    let mut widths: Vec<usize> = names.iter().map(|n| text_width(n)).collect();
    for cells in rows.iter().flatten() {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(text_width(cell));
        }
    }
    let visible = fit_columns(&widths, layout.width);
    let hidden: Vec<&str> = (0..names.len())
        .filter(|i| !visible.contains(&Some(*i)))
        .map(|i| schema.field(i).name().as_str())
        .collect();
    let mut out = String::new();
    let column_widths: Vec<usize> = visible.iter().map(|c| c.map_or(1, |i| widths[i])).collect();
    rule(&mut out, &column_widths, ('┌', '┬', '┐'));
    line(&mut out, &visible, &column_widths, |i| {
        (names[i].as_str(), false)
    });
    rule(&mut out, &column_widths, ('├', '┼', '┤'));
    for row in &rows {
        match row {
            Some(cells) => line(&mut out, &visible, &column_widths, |i| {
                (cells[i].as_str(), right[i])
            }),
            None => line(&mut out, &visible, &column_widths, |_| ("·", false)),
        }
    }
    rule(&mut out, &column_widths, ('└', '┴', '┘'));
    let shown_count = rows.iter().flatten().count();
    out.push_str(&footer(total, shown_count, &hidden, elapsed));
    Ok(out)
}

/// Which row indexes a table of `total` rows shows: all, or the first and last halves of
/// `max_rows`.
fn shown_rows(total: usize, max_rows: Option<usize>) -> impl Fn(usize) -> bool {
    let (head, tail) = match max_rows {
        Some(max) if total > max => (max.div_ceil(2), max / 2),
        _ => (total, 0),
    };
    move |index| index < head || index >= total - tail
}

/// The columns to draw, in order, fitted to `width`: from both ends inwards, with `None` (a
/// `…` column) where columns in the middle are left out. At least the first column is drawn.
fn fit_columns(widths: &[usize], width: usize) -> Vec<Option<usize>> {
    let drawn = |count: usize, sum: usize| sum + 3 * count + 1;
    let total: usize = widths.iter().sum();
    if drawn(widths.len(), total) <= width {
        return (0..widths.len()).map(Some).collect();
    }
    // Room for the `…` column (1 wide) first.
    let budget = width.saturating_sub(4);
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let (mut low, mut high) = (0, widths.len());
    let mut used = 0;
    let mut count = 0;
    let mut from_left = true;
    while low < high {
        let index = if from_left { low } else { high - 1 };
        if drawn(count + 1, used + widths[index]) > budget && !(left.is_empty() && from_left) {
            break;
        }
        used += widths[index];
        count += 1;
        if from_left {
            left.push(index);
            low += 1;
        } else {
            right.push(index);
            high -= 1;
        }
        from_left = !from_left;
    }
    let mut columns: Vec<Option<usize>> = left.into_iter().map(Some).collect();
    if low < high {
        columns.push(None);
    }
    columns.extend(right.into_iter().rev().map(Some));
    columns
}

fn rule(out: &mut String, widths: &[usize], (start, middle, end): (char, char, char)) {
    out.push(start);
    for (i, width) in widths.iter().enumerate() {
        if i > 0 {
            out.push(middle);
        }
        out.push_str(&"─".repeat(width + 2));
    }
    out.push(end);
    out.push('\n');
}

fn line<'a>(
    out: &mut String,
    visible: &[Option<usize>],
    widths: &[usize],
    cell: impl Fn(usize) -> (&'a str, bool),
) {
    out.push('│');
    for (column, width) in visible.iter().zip(widths) {
        let (text, right) = column.map_or(("…", false), &cell);
        let pad = width.saturating_sub(text_width(text));
        if right {
            let _ = write!(out, " {}{text} │", " ".repeat(pad));
        } else {
            let _ = write!(out, " {text}{} │", " ".repeat(pad));
        }
    }
    out.push('\n');
}

fn footer(total: usize, shown: usize, hidden: &[&str], elapsed: Option<Duration>) -> String {
    let mut text = match total {
        1 => "1 row".to_owned(),
        n => format!("{n} rows"),
    };
    if shown < total {
        let _ = write!(text, " ({shown} shown; --max-rows 0 shows all)");
    }
    if !hidden.is_empty() {
        let mut names = hidden[..hidden.len().min(6)].join(", ");
        if hidden.len() > 6 {
            names.push_str(", …");
        }
        let _ = write!(
            text,
            ", {} column{} hidden ({names}; --format line shows all)",
            hidden.len(),
            if hidden.len() == 1 { "" } else { "s" },
        );
    }
    if let Some(elapsed) = elapsed {
        let _ = write!(text, " · {:.3} s", elapsed.as_secs_f64());
    }
    text.push('\n');
    text
}

/// A value as one line, at most [`MAX_CELL_WIDTH`] terminal columns wide.
fn cell_text(value: &str) -> String {
    let one_line: String = value
        .chars()
        .map(|c| match c {
            '\n' | '\r' => '↵',
            '\t' => ' ',
            c if c.is_control() => '?',
            c => c,
        })
        .collect();
    if text_width(&one_line) <= MAX_CELL_WIDTH {
        return one_line;
    }
    console::truncate_str(&one_line, MAX_CELL_WIDTH, "…").into_owned()
}

/// Terminal columns `text` takes (a kanji takes two).
fn text_width(text: &str) -> usize {
    console::measure_text_width(text)
}

/// A formatter for each column of `batch`.
fn formatters<'a>(
    batch: &'a RecordBatch,
    options: &'a FormatOptions<'a>,
) -> Result<Vec<ArrayFormatter<'a>>> {
    Ok(batch
        .columns()
        .iter()
        .map(|column| ArrayFormatter::try_new(column.as_ref(), options))
        .collect::<Result<Vec<_>, _>>()?)
}

/// `batches` one row after another, each column on its own line (`--format line`, DuckDB's
/// `.mode line`): for tables too wide for any terminal.
pub fn render_lines(batches: &[RecordBatch]) -> Result<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = String::new();
    let mut number = 0;
    for batch in batches {
        let schema = batch.schema();
        let width = schema
            .fields()
            .iter()
            .map(|f| text_width(f.name()))
            .max()
            .unwrap_or(0);
        let formatters = formatters(batch, &options)?;
        for row in 0..batch.num_rows() {
            if number > 0 {
                out.push('\n');
            }
            number += 1;
            for (field, formatter) in schema.fields().iter().zip(&formatters) {
                let pad = width - text_width(field.name());
                let _ = writeln!(
                    out,
                    "{}{} = {}",
                    " ".repeat(pad),
                    field.name(),
                    formatter.value(row).try_to_string()?
                );
            }
        }
    }
    Ok(out)
}
