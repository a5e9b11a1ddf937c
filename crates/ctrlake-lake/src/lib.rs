//! Where the lake lives and how files get into it, shared by every writer and by the query
//! engine so that both always mean the same place.
//!
//! - **One parser for lake locations** ([`LakeLocation::parse`]): `s3://bucket/prefix`, a
//!   `file://` URL (percent-decoded), or a plain path taken literally — so `./my lake #1` is
//!   the directory of that name for `ingest` and for `report` alike, and DataFusion is handed a
//!   URL built from the path ([`Lake::url`]), never a string it would re-interpret.
//! - **Durable, atomic writes** ([`Lake::put`]): S3 makes an object visible only when its
//!   single PUT completes. A local file is written under a temporary name that every engine
//!   ignores (a leading `.` and a `.tmp` suffix: pyarrow and Spark skip hidden files, DuckDB's
//!   and DataFusion's `*.parquet` patterns do not match), fsynced, renamed into place, and its
//!   directory fsynced, so that after `put` returns the file survives a crash or power loss —
//!   what a stream checkpoint needs before it moves. A reader never sees a partial file.
//! - **No orphans** ([`Lake::remove_stale_temporaries`]): a process killed between writing a
//!   temporary file and renaming it leaves it behind; the next run removes temporary files
//!   whose writer is gone.
//! - **Layout constants**: the table and side folders under the lake root.

use std::io::Write as _;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};

/// The CTR table's folder under the lake root.
pub const CTR_TABLE: &str = "ctr";
/// The agent event table's folder under the lake root.
pub const AGENT_EVENTS_TABLE: &str = "agent_events";

/// A table of the lake: a folder of `dt=YYYY-MM-DD` partitions of Parquet files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Contact trace records, partitioned by the UTC date of `InitiationTimestamp`.
    Ctr,
    /// Agent events, partitioned by the UTC date of `EventTimestamp`.
    AgentEvents,
}

impl Table {
    pub const ALL: [Table; 2] = [Table::Ctr, Table::AgentEvents];

    /// The table's folder under the lake root.
    pub fn dir(self) -> &'static str {
        match self {
            Table::Ctr => CTR_TABLE,
            Table::AgentEvents => AGENT_EVENTS_TABLE,
        }
    }
}
/// Where records that could not be decoded are kept, with their bytes and reason.
pub const DEAD_LETTER_DIR: &str = "_dead_letter";

/// A temporary file older than this is stale even when a process with its writer's id runs
/// (process ids are reused); no lake file takes anywhere near this long to write.
const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);
/// `object_store`'s own temporary files (`<name>#<n>`, written by ctrlake before it wrote its
/// own) carry no process id: they are stale once this old.
const LEGACY_STALE_AFTER: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("{location:?} is not a lake location: {reason}")]
    Location { location: String, reason: String },
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
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot list or remove {path} in the lake at {location}: {source}")]
    Maintain {
        location: String,
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A lake root as the user gave it, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeLocation {
    /// A local directory (not necessarily existing yet).
    Local(PathBuf),
    /// `s3://bucket/prefix` (`prefix` without leading or trailing `/`, possibly empty).
    S3 { bucket: String, prefix: String },
}

impl LakeLocation {
    /// `s3://bucket[/prefix]`, a `file://` URL (percent-decoded, as URLs are), or anything
    /// else as a literal local path (`%20`, `#`, `?` and spaces are part of the name).
    pub fn parse(text: &str) -> Result<Self, LakeError> {
        let invalid = |reason: &str| LakeError::Location {
            location: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.trim().is_empty() {
            return Err(invalid("it is empty"));
        }
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("it names no bucket (expected s3://bucket/prefix)"));
            }
            if !bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            {
                return Err(invalid(
                    "an S3 bucket name has only lower-case letters, digits, '.' and '-'",
                ));
            }
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        if text.starts_with("file:") {
            let url = url::Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
            let path = url
                .to_file_path()
                .map_err(|()| invalid("a file:// URL must be an absolute local path"))?;
            return Ok(Self::Local(path));
        }
        if let Some((scheme, _)) = text.split_once("://")
            && !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
        {
            return Err(invalid(&format!(
                "{scheme}:// is not supported (a local directory, file:// or s3://)"
            )));
        }
        Ok(Self::Local(PathBuf::from(text)))
    }
}

/// A lake root: a store plus a human-readable location for messages.
#[derive(Clone, Debug)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    location: String,
    /// The root's URL for engines that take one (DataFusion), ending in `/`.
    url: url::Url,
    /// The local directory, for a local lake.
    local_root: Option<PathBuf>,
    /// For an S3 lake: the bucket and a store rooted at it (not at the prefix).
    bucket: Option<(String, Arc<dyn ObjectStore>)>,
}

impl Lake {
    /// Opens `location` for writing: `s3://bucket[/prefix]` or a local directory (created if
    /// missing).
    ///
    /// S3 settings come from the environment (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL`,
    /// `AWS_ALLOW_HTTP` for a local S3-compatible server); requests use path-style addressing.
    pub fn open(location: &str) -> Result<Self, LakeError> {
        Self::open_parsed(location, true)
    }

    /// Opens `location` for reading: a local lake must exist already.
    pub fn open_existing(location: &str) -> Result<Self, LakeError> {
        Self::open_parsed(location, false)
    }

    fn open_parsed(location: &str, create: bool) -> Result<Self, LakeError> {
        let open_error = |source: Box<dyn std::error::Error + Send + Sync>| LakeError::Open {
            location: location.to_owned(),
            source,
        };
        match LakeLocation::parse(location)? {
            LakeLocation::S3 { bucket, prefix } => {
                let bucket_store = s3_store(&bucket).map_err(|e| open_error(Box::new(e)))?;
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::clone(&bucket_store)
                } else {
                    Arc::new(PrefixStore::new(Arc::clone(&bucket_store), prefix.as_str()))
                };
                let shown = format!("s3://{bucket}/{prefix}")
                    .trim_end_matches('/')
                    .to_owned();
                let mut url = url::Url::parse(&format!("s3://{bucket}/"))
                    .map_err(|e| open_error(Box::new(e)))?;
                if !prefix.is_empty() {
                    url.path_segments_mut()
                        .map_err(|()| open_error("not a hierarchical URL".into()))?
                        .pop_if_empty()
                        .extend(prefix.split('/'))
                        .push("");
                }
                Ok(Self {
                    store,
                    location: shown,
                    url,
                    local_root: None,
                    bucket: Some((bucket, bucket_store)),
                })
            }
            LakeLocation::Local(dir) => {
                if create {
                    std::fs::create_dir_all(&dir).map_err(|e| open_error(Box::new(e)))?;
                }
                let dir = std::fs::canonicalize(&dir).map_err(|e| {
                    if create {
                        open_error(Box::new(e))
                    } else {
                        open_error(format!("{e} (ingest something into it first)").into())
                    }
                })?;
                if !dir.is_dir() {
                    return Err(open_error("it is a file, not a directory".into()));
                }
                let store =
                    LocalFileSystem::new_with_prefix(&dir).map_err(|e| open_error(Box::new(e)))?;
                let url = url::Url::from_directory_path(&dir)
                    .map_err(|()| open_error("not an absolute path".into()))?;
                Ok(Self {
                    store: Arc::new(store),
                    location: dir.display().to_string(),
                    url,
                    local_root: Some(dir),
                    bucket: None,
                })
            }
        }
    }

    /// The lake as shown to people: the absolute local directory or `s3://bucket/prefix`.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The root's URL, ending in `/`: `file:///abs/dir/` (percent-encoded) or
    /// `s3://bucket/prefix/`.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The store, rooted at the lake.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// For an S3 lake, its bucket and a store rooted at the bucket: what an engine that reads
    /// objects by their full URL ([`Lake::url`]) registers for `s3://<bucket>`.
    pub fn s3_bucket(&self) -> Option<(&str, &Arc<dyn ObjectStore>)> {
        self.bucket
            .as_ref()
            .map(|(bucket, store)| (bucket.as_str(), store))
    }

    /// The local directory of a local lake.
    pub fn local_root(&self) -> Option<&FsPath> {
        self.local_root.as_deref()
    }

    /// Writes `bytes` at `path` atomically and durably, replacing any object already there:
    /// when this returns, the file is whole and survives a crash.
    pub async fn put(&self, path: &Path, bytes: Bytes) -> Result<(), LakeError> {
        let write_error = |source: Box<dyn std::error::Error + Send + Sync>| LakeError::Write {
            location: self.location.clone(),
            path: path.to_string(),
            source,
        };
        match &self.local_root {
            Some(root) => {
                let target = local_file(root, path);
                tokio::task::spawn_blocking(move || write_durably(&target, &bytes))
                    .await
                    .map_err(|e| write_error(Box::new(e)))?
                    .map_err(|e| write_error(Box::new(e)))
            }
            None => self
                .store
                .put(path, PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(|e| write_error(Box::new(e))),
        }
    }

    /// Every object under `prefix`, sorted by path.
    pub async fn list(&self, prefix: &Path) -> Result<Vec<ObjectMeta>, LakeError> {
        let mut listed: Vec<ObjectMeta> = self
            .store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(|e| LakeError::Maintain {
                location: self.location.clone(),
                path: prefix.to_string(),
                source: Box::new(e),
            })?;
        listed.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(listed)
    }

    /// Removes the object at `path` (no error when it is already gone).
    pub async fn delete(&self, path: &Path) -> Result<(), LakeError> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(LakeError::Maintain {
                location: self.location.clone(),
                path: path.to_string(),
                source: Box::new(e),
            }),
        }
    }

    /// Removes the temporary files that writers killed before their rename left in a local
    /// lake: ctrlake's (`.<name>.<pid>-<n>.tmp`) whose process is gone or that are a day old,
    /// and `object_store`'s (`<name>#<n>`, from earlier versions) older than 15 minutes.
    /// Returns how many were removed. An S3 lake has none: a PUT is all or nothing.
    pub fn remove_stale_temporaries(&self) -> Result<Vec<PathBuf>, LakeError> {
        let Some(root) = &self.local_root else {
            return Ok(Vec::new());
        };
        let mut removed = Vec::new();
        let mut folders = vec![root.clone()];
        while let Some(folder) = folders.pop() {
            let maintain_error = |e: std::io::Error| LakeError::Maintain {
                location: self.location.clone(),
                path: folder.display().to_string(),
                source: Box::new(e),
            };
            let entries = match std::fs::read_dir(&folder) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(maintain_error(e)),
            };
            for entry in entries {
                let entry = entry.map_err(maintain_error)?;
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                if kind.is_dir() {
                    folders.push(path);
                    continue;
                }
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    continue;
                };
                let age = entry
                    .metadata()
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .unwrap_or_default();
                let stale = match temporary_kind(name) {
                    Some(Temporary::Ours { pid }) => age > STALE_AFTER || !process_alive(pid),
                    Some(Temporary::Legacy) => age > LEGACY_STALE_AFTER,
                    None => false,
                };
                if stale {
                    match std::fs::remove_file(&path) {
                        Ok(()) => removed.push(path),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(maintain_error(e)),
                    }
                }
            }
        }
        removed.sort();
        Ok(removed)
    }

    /// `ctr/dt=<date>/<name>.parquet`.
    pub fn ctr_file(dt: &str, name: &str) -> Path {
        Self::table_file(Table::Ctr, dt, name)
    }

    /// `<table>/dt=<date>/<name>.parquet`.
    pub fn table_file(table: Table, dt: &str, name: &str) -> Path {
        Path::from(format!("{}/dt={dt}/{name}.parquet", table.dir()))
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

/// The local file of lake path `path` (whose parts are plain names: `Path` keeps them as given).
fn local_file(root: &FsPath, path: &Path) -> PathBuf {
    let mut file = root.to_path_buf();
    for part in path.parts() {
        file.push(part.as_ref());
    }
    file
}

/// Numbers the temporary files of this process.
static TEMPORARY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `target` through a temporary file in the same directory: fsync the data, rename,
/// fsync the directory (and a directory this call created, in its parent), so that the rename
/// and the file are both on disk when it returns.
fn write_durably(target: &FsPath, bytes: &[u8]) -> std::io::Result<()> {
    let folder = target
        .parent()
        .ok_or_else(|| std::io::Error::other("a lake file has a folder"))?;
    let created = create_folders(folder)?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other("a lake file name is UTF-8"))?;
    let temporary = folder.join(format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        TEMPORARY_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, target)
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }
    sync_folder(folder)?;
    for folder in created {
        if let Some(parent) = folder.parent() {
            sync_folder(parent)?;
        }
    }
    Ok(())
}

/// Creates `folder` and its missing ancestors; returns those created, deepest first.
fn create_folders(folder: &FsPath) -> std::io::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut next = Some(folder);
    while let Some(candidate) = next {
        if candidate.is_dir() {
            break;
        }
        missing.push(candidate.to_path_buf());
        next = candidate.parent();
    }
    std::fs::create_dir_all(folder)?;
    Ok(missing)
}

fn sync_folder(folder: &FsPath) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(folder)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = folder;
    Ok(())
}

enum Temporary {
    /// `.<name>.<pid>-<n>.tmp`, written by [`write_durably`].
    Ours { pid: u32 },
    /// `<name>#<digits>`, written by `object_store`'s `LocalFileSystem::put`.
    Legacy,
}

fn temporary_kind(name: &str) -> Option<Temporary> {
    if let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) {
        let (_, tag) = inner.rsplit_once('.')?;
        let (pid, counter) = tag.split_once('-')?;
        if counter.bytes().all(|b| b.is_ascii_digit()) {
            return pid.parse().ok().map(|pid| Temporary::Ours { pid });
        }
        return None;
    }
    let (_, suffix) = name.rsplit_once('#')?;
    (!suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())).then_some(Temporary::Legacy)
}

/// Whether process `pid` runs on this machine (Linux: its `/proc` entry; elsewhere assumed,
/// leaving the age rule).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc = FsPath::new("/proc");
    if proc.join("self").exists() {
        proc.join(pid.to_string()).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests;
