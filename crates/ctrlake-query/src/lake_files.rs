//! Naming the lake file a failed query could not read.
//!
//! DataFusion reports a corrupt footer or a column of the wrong type without saying which of
//! the lake's thousands of files it was reading, and every report over that partition then
//! fails the same way. When a query fails with a Parquet or Arrow error, the files of `ctr/`
//! are checked one by one — footer readable, every column the lake requires present, every
//! column of a type the lake's can be cast from — and the first bad one is named with what is
//! wrong, so an operator can move it away. Only failures pay for this check.

use std::sync::Arc;

use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::Schema;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::metadata::ParquetMetaDataReader;

/// Whether a query error can come from one bad file rather than from the query.
pub fn may_be_a_bad_file(message: &str) -> bool {
    [
        "Parquet error",
        "Arrow error",
        "non-nullable",
        "Corrupt",
        "Invalid Parquet",
    ]
    .iter()
    .any(|sign| message.contains(sign))
}

/// The first `.parquet` file under `prefix` that the lake's schema cannot be read from, with
/// the reason; `None` when every file is readable (or the listing fails).
pub async fn first_unreadable_file(
    store: Arc<dyn ObjectStore>,
    prefix: &Path,
    lake_schema: &Schema,
) -> Option<(Path, String)> {
    let mut files: Vec<object_store::ObjectMeta> =
        store.list(Some(prefix)).try_collect().await.ok()?;
    files.retain(|meta| meta.location.as_ref().ends_with(".parquet"));
    files.sort_by(|a, b| a.location.cmp(&b.location));
    for meta in files {
        if meta.size == 0 {
            // DataFusion skips empty files.
            continue;
        }
        let problem = match file_schema(store.as_ref(), &meta.location, meta.size).await {
            Err(problem) => Some(format!("not a readable Parquet file ({problem})")),
            Ok(schema) => incompatibility(&schema, lake_schema),
        };
        if let Some(problem) = problem {
            return Some((meta.location, problem));
        }
    }
    None
}

/// The Arrow schema in the footer of the Parquet file at `path` (`size` bytes long).
async fn file_schema(store: &dyn ObjectStore, path: &Path, size: u64) -> Result<Schema, String> {
    const MAGIC: &[u8] = b"PAR1";
    if size < 12 {
        return Err(format!("{size} bytes is too short for a Parquet file"));
    }
    let tail = store
        .get_range(path, size - 8..size)
        .await
        .map_err(|e| e.to_string())?;
    if tail.get(4..8) != Some(MAGIC) {
        return Err("it does not end with Parquet's magic bytes PAR1".to_owned());
    }
    let footer_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer_len + 12 > size {
        return Err(format!(
            "its footer claims {footer_len} bytes of a {size}-byte file"
        ));
    }
    let footer = store
        .get_range(path, size - 8 - footer_len..size - 8)
        .await
        .map_err(|e| e.to_string())?;
    let metadata = ParquetMetaDataReader::decode_metadata(&footer).map_err(|e| e.to_string())?;
    let file = metadata.file_metadata();
    parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
        .map_err(|e| e.to_string())
}

/// Why a file with schema `file` cannot be read as the lake's `lake` schema, if it cannot.
fn incompatibility(file: &Schema, lake: &Schema) -> Option<String> {
    for field in lake.fields() {
        match file.field_with_name(field.name()) {
            Err(_) if !field.is_nullable() => {
                return Some(format!(
                    "it has no column {}, which every lake file has",
                    field.name()
                ));
            }
            Err(_) => {}
            Ok(found) if !can_cast_types(found.data_type(), field.data_type()) => {
                return Some(format!(
                    "its column {} is {}, not {}",
                    field.name(),
                    found.data_type(),
                    field.data_type()
                ));
            }
            Ok(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field};

    use super::*;

    #[test]
    fn missing_required_and_uncastable_columns_are_named() {
        let lake = Schema::new(vec![
            Field::new("contact_id", DataType::Utf8, false),
            Field::new("attributes_count", DataType::Int64, true),
        ]);
        let fine = Schema::new(vec![Field::new("contact_id", DataType::Utf8View, true)]);
        assert_eq!(incompatibility(&fine, &lake), None);
        let missing = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
        assert_eq!(
            incompatibility(&missing, &lake).as_deref(),
            Some("it has no column contact_id, which every lake file has")
        );
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int64, true)));
        let wrong = Schema::new(vec![
            Field::new("contact_id", DataType::Utf8, false),
            Field::new("attributes_count", list, true),
        ]);
        assert!(
            incompatibility(&wrong, &lake)
                .is_some_and(|p| p.starts_with("its column attributes_count is List"))
        );
    }
}
