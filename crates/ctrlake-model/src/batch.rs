//! Decoded records to an Arrow `RecordBatch` in one pass.
//!
//! One builder per [`crate::schema::COLUMNS`] entry, filled by that column's getter, so the
//! batch always matches [`crate::lake_schema`].

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, Int64Builder, MapBuilder, MapFieldNames, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::ArrowError;

use crate::decode::{ContactRecord, RecordOrigin};
use crate::schema::{COLUMNS, Getter, Row, TIMESTAMP_TZ, lake_schema};

enum ColumnBuilder {
    Text(StringBuilder),
    Timestamp(TimestampMillisecondBuilder),
    Integer(Int64Builder),
    // Boxed: a map builder is several times larger than the other builders.
    StringMap(Box<MapBuilder<StringBuilder, StringBuilder>>),
}

/// Accumulates rows for one batch of the lake schema.
pub struct ContactBatchBuilder {
    builders: Vec<ColumnBuilder>,
    rows: usize,
}

impl Default for ContactBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ContactBatchBuilder {
    pub fn new() -> Self {
        let builders =
            COLUMNS
                .iter()
                .map(|column| match column.getter {
                    Getter::Text(_) => ColumnBuilder::Text(StringBuilder::new()),
                    Getter::Timestamp(_) => ColumnBuilder::Timestamp(
                        TimestampMillisecondBuilder::new().with_timezone(TIMESTAMP_TZ),
                    ),
                    Getter::Integer(_) => ColumnBuilder::Integer(Int64Builder::new()),
                    Getter::StringMap(_) => ColumnBuilder::StringMap(Box::new(
                        MapBuilder::new(
                            Some(MapFieldNames {
                                entry: "key_value".into(),
                                key: "key".into(),
                                value: "value".into(),
                            }),
                            StringBuilder::new(),
                            StringBuilder::new(),
                        )
                        .with_values_field(Arc::new(
                            arrow_schema::Field::new("value", arrow_schema::DataType::Utf8, true),
                        )),
                    )),
                })
                .collect();
        Self { builders, rows: 0 }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one row.
    pub fn append(&mut self, record: &ContactRecord<'_>, origin: &RecordOrigin<'_>) {
        let row = Row { record, origin };
        for (column, builder) in COLUMNS.iter().zip(self.builders.iter_mut()) {
            match (column.getter, builder) {
                (Getter::Text(get), ColumnBuilder::Text(b)) => b.append_option(get(&row)),
                (Getter::Timestamp(get), ColumnBuilder::Timestamp(b)) => b.append_option(get(&row)),
                (Getter::Integer(get), ColumnBuilder::Integer(b)) => b.append_option(get(&row)),
                (Getter::StringMap(get), ColumnBuilder::StringMap(b)) => match get(&row) {
                    None => b.append(false).unwrap_or_default(),
                    Some(entries) => {
                        for (key, value) in entries {
                            b.keys().append_value(key);
                            b.values().append_value(value);
                        }
                        // Keys and values were appended in pairs just above, so the
                        // builder's only failure (unequal lengths) cannot happen.
                        b.append(true).unwrap_or_default();
                    }
                },
                // Builders are created from the same getters in `new`.
                _ => unreachable!("builder kinds follow COLUMNS"),
            }
        }
        self.rows += 1;
    }

    /// Finishes the batch and leaves the builder empty for reuse.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|builder| -> ArrayRef {
                match builder {
                    ColumnBuilder::Text(b) => Arc::new(b.finish()),
                    ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
                    ColumnBuilder::Integer(b) => Arc::new(b.finish()),
                    ColumnBuilder::StringMap(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(lake_schema(), arrays)
    }

    /// Bytes currently held by the builders (an estimate used for flush decisions).
    pub fn buffered_bytes(&self) -> usize {
        self.builders
            .iter()
            .map(|builder| match builder {
                ColumnBuilder::Text(b) => b.values_slice().len() + b.len() * 5,
                ColumnBuilder::Timestamp(b) => b.len() * 9,
                ColumnBuilder::Integer(b) => b.len() * 9,
                ColumnBuilder::StringMap(b) => b.len() * 5,
            })
            .sum()
    }
}
