//! Where the lake lives: a local directory (the embedded default) or `s3://bucket/prefix`,
//! both behind `object_store`, so every write takes the same code path.
//!
//! Atomicity comes from the store: `LocalFileSystem::put` writes a temporary file and renames
//! it into place; S3 makes an object visible only when its single PUT completes. A reader
//! therefore never sees a partial file. File names are deterministic (see [`crate::origin`]),
//! so writing the same origin again replaces the object instead of adding a duplicate.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// The table directory under the lake root.
pub const CTR_TABLE: &str = "ctr";
/// Where records that could not be decoded are kept, with their bytes and reason.
pub const DEAD_LETTER_DIR: &str = "_dead_letter";

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("cannot open the lake at {location}: {source}")]
    Open {
        location: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot write {path} in the lake at {location}: {source}")]
    Write {
        location: String,
        path: String,
        #[source]
        source: object_store::Error,
    },
}

/// A lake root: a store plus a human-readable location for messages.
#[derive(Clone, Debug)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    location: String,
}

impl Lake {
    /// Opens `location`: `s3://bucket[/prefix]` or a local directory (created if missing).
    ///
    /// S3 settings come from the environment (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL`,
    /// `AWS_ALLOW_HTTP` for a local S3-compatible server); requests use path-style addressing.
    pub fn open(location: &str) -> Result<Self, LakeError> {
        let open_error = |source: Box<dyn std::error::Error + Send + Sync>| LakeError::Open {
            location: location.to_owned(),
            source,
        };
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let store = s3_store(bucket).map_err(|e| open_error(Box::new(e)))?;
            let prefix = prefix.trim_matches('/');
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                store
            } else {
                Arc::new(PrefixStore::new(store, prefix))
            };
            return Ok(Self {
                store,
                location: format!("s3://{bucket}/{prefix}")
                    .trim_end_matches('/')
                    .to_owned(),
            });
        }
        let dir = local_path(location);
        std::fs::create_dir_all(&dir).map_err(|e| open_error(Box::new(e)))?;
        let dir = std::fs::canonicalize(&dir).map_err(|e| open_error(Box::new(e)))?;
        let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| open_error(Box::new(e)))?;
        Ok(Self {
            store: Arc::new(store),
            location: dir.display().to_string(),
        })
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Writes `bytes` at `path` atomically, replacing any object already there.
    pub async fn put(&self, path: &Path, bytes: Bytes) -> Result<(), LakeError> {
        self.store
            .put(path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|source| LakeError::Write {
                location: self.location.clone(),
                path: path.to_string(),
                source,
            })
    }

    /// `ctr/dt=<date>/<name>.parquet`.
    pub fn ctr_file(dt: &str, name: &str) -> Path {
        Path::from(format!("{CTR_TABLE}/dt={dt}/{name}.parquet"))
    }

    /// `_dead_letter/<name>.ndjson`.
    pub fn dead_letter_file(name: &str) -> Path {
        Path::from(format!("{DEAD_LETTER_DIR}/{name}.ndjson"))
    }
}

/// An S3 store for `bucket`, configured from the environment.
pub fn s3_store(bucket: &str) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    let store = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_virtual_hosted_style_request(false)
        .build()?;
    Ok(Arc::new(store))
}

/// A local path for a `file://` URL (percent-decoded) or a plain path.
pub fn local_path(location: &str) -> PathBuf {
    if location.starts_with("file://")
        && let Some(path) = url::Url::parse(location)
            .ok()
            .and_then(|url| url.to_file_path().ok())
    {
        return path;
    }
    PathBuf::from(location.strip_prefix("file://").unwrap_or(location))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_are_percent_decoded() {
        assert_eq!(
            local_path("file:///tmp/exports%20%231/a.ndjson"),
            PathBuf::from("/tmp/exports #1/a.ndjson")
        );
        assert_eq!(
            local_path("/tmp/plain dir"),
            PathBuf::from("/tmp/plain dir")
        );
        assert_eq!(local_path("relative/dir"), PathBuf::from("relative/dir"));
    }

    #[test]
    fn file_urls_and_plain_paths_open_the_same_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = dir.path().join("lake");
        let url = format!("file://{}", plain.display());
        let by_url = Lake::open(&url).expect("file:// URL");
        let by_path = Lake::open(&plain.display().to_string()).expect("path");
        assert_eq!(by_url.location(), by_path.location());
        assert!(plain.is_dir());
    }

    #[tokio::test]
    async fn puts_replace_atomically_and_create_folders() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::open(&dir.path().display().to_string()).expect("lake");
        let path = Lake::ctr_file("2026-03-02", "x");
        lake.put(&path, Bytes::from_static(b"first"))
            .await
            .expect("put");
        lake.put(&path, Bytes::from_static(b"second"))
            .await
            .expect("put");
        let file = dir.path().join("ctr/dt=2026-03-02/x.parquet");
        assert_eq!(std::fs::read(&file).expect("read"), b"second");
        let leftovers: Vec<_> = std::fs::read_dir(file.parent().expect("parent"))
            .expect("dir")
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
    }
}
