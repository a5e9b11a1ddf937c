//! Input sources for a backfill: local files, globs and directories, stdin, and S3 objects.
//!
//! Sources are resolved up front into a sorted, de-duplicated list so that a run is
//! reproducible: the same arguments read the same bytes in the same order, which is what makes
//! the output file names (derived from source and byte range) stable across re-runs.
//! Each source is read as one byte stream; gzip is detected by its magic bytes (multi-member
//! gzip, as `cat a.gz b.gz` makes, is read whole).
//!
//! A plain (not gzip) local file is memory-mapped instead ([`Source::map`]): reading 3.7 GB
//! through `read()` spent ~15% of the whole ingest's CPU copying bytes out of the page cache, on
//! a 2-core machine where decoding and encoding already use every cycle. The one cost is that
//! a file must not be truncated or rewritten in place while it is being ingested (appending is
//! harmless: the map covers the size at open); the README says so.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Buf, Bytes};
use futures::stream::{BoxStream, StreamExt};
use memmap2::Mmap;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use ctrlake_lake::{LakeLocation, s3_store};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{input}: no such file, directory or glob match")]
    NotFound { input: String },
    /// `reason` names the input already.
    #[error("{reason}")]
    Unresolved { input: String, reason: String },
    #[error("{input}: invalid glob pattern: {source}")]
    Glob {
        input: String,
        #[source]
        source: glob::PatternError,
    },
    #[error("{input}: {source}")]
    Io {
        input: String,
        #[source]
        source: io::Error,
    },
    #[error("{input}: {source}")]
    Store {
        input: String,
        #[source]
        source: object_store::Error,
    },
}

/// Where a source's bytes are.
#[derive(Clone)]
pub enum SourceLocation {
    Local(PathBuf),
    Stdin,
    Object {
        store: Arc<dyn ObjectStore>,
        path: Path,
    },
    /// An input that resolved to nothing readable (a missing path, a glob without match, an
    /// S3 prefix that cannot be listed): the backfill dead-letters it and goes on.
    Unresolved(String),
}

/// One input stream of CTRs.
#[derive(Clone)]
pub struct Source {
    /// `file:///abs/path`, `s3://bucket/key` or `stdin`; written into every row's `source_uri`.
    pub uri: String,
    pub location: SourceLocation,
    /// Size in bytes as stored (compressed), when known: used for progress.
    pub size: Option<u64>,
    /// Last-modified time in epoch milliseconds: the rows' `arrival_timestamp`.
    pub modified_ms: Option<i64>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("uri", &self.uri)
            .field("size", &self.size)
            .finish()
    }
}

/// Resolves command-line inputs into sources: `-` is stdin, `s3://bucket/key` one object,
/// `s3://bucket/prefix` every object under it, a directory every file under it (recursively,
/// hidden files skipped), a pattern with `*`, `?` or `[` its glob matches.
///
/// An input that resolves to nothing readable does not stop the others: it becomes a source
/// whose location is [`SourceLocation::Unresolved`], with the reason, which the backfill
/// dead-letters. Local inputs are walked on a blocking thread, S3 listings awaited.
pub async fn resolve_sources(inputs: &[String]) -> Vec<Source> {
    let mut sources = Vec::new();
    for input in inputs {
        let resolved = if input == "-" {
            Ok(vec![Source {
                uri: "stdin".to_owned(),
                location: SourceLocation::Stdin,
                size: None,
                modified_ms: None,
            }])
        } else if let Some(rest) = input.strip_prefix("s3://") {
            resolve_s3(input, rest).await
        } else {
            let owned = input.clone();
            tokio::task::spawn_blocking(move || resolve_local(&owned))
                .await
                .unwrap_or_else(|e| {
                    Err(SourceError::Io {
                        input: input.clone(),
                        source: io::Error::other(e),
                    })
                })
        };
        match resolved {
            Ok(found) => sources.extend(found),
            Err(error) => sources.push(Source {
                uri: unresolved_uri(input),
                location: SourceLocation::Unresolved(error.to_string()),
                size: None,
                modified_ms: None,
            }),
        }
    }
    let mut seen = std::collections::HashSet::new();
    sources.retain(|s| seen.insert(s.uri.clone()));
    sources
}

/// The URI of an input that could not be resolved: `s3://…` as given, a local path made
/// absolute (not canonical: it may not exist) as a `file://` URL.
fn unresolved_uri(input: &str) -> String {
    if input.starts_with("s3://") || input.starts_with("file://") {
        return input.to_owned();
    }
    std::path::absolute(input)
        .ok()
        .and_then(|path| url::Url::from_file_path(path).ok())
        .map_or_else(|| input.to_owned(), String::from)
}

fn resolve_local(input: &str) -> Result<Vec<Source>, SourceError> {
    let io_error = |source| SourceError::Io {
        input: input.to_owned(),
        source,
    };
    let path = local_path(input);
    let mut files: Vec<PathBuf> = Vec::new();
    if path.is_dir() {
        for entry in walkdir::WalkDir::new(path)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        {
            let entry = entry.map_err(|e| io_error(e.into()))?;
            if entry.file_type().is_file() {
                files.push(entry.into_path());
            }
        }
    } else if path.exists() {
        files.push(path.to_path_buf());
    } else if input.contains(['*', '?', '[']) {
        let matches = glob::glob(input).map_err(|source| SourceError::Glob {
            input: input.to_owned(),
            source,
        })?;
        for entry in matches {
            let file = entry.map_err(|e| io_error(e.into()))?;
            if file.is_file() {
                files.push(file);
            }
        }
        files.sort();
    }
    if files.is_empty() {
        return Err(SourceError::NotFound {
            input: input.to_owned(),
        });
    }
    files
        .into_iter()
        .map(|file| {
            let absolute = std::fs::canonicalize(&file).map_err(io_error)?;
            let metadata = std::fs::metadata(&absolute).map_err(io_error)?;
            let modified_ms = metadata
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_millis()).ok());
            Ok(Source {
                // Percent-encoded, so that a space, `#` or a non-UTF-8 byte in a path keeps the
                // URI valid and two paths never share one.
                uri: url::Url::from_file_path(&absolute)
                    .map(String::from)
                    .unwrap_or_else(|()| format!("file://{}", absolute.display())),
                location: SourceLocation::Local(absolute),
                size: Some(metadata.len()),
                modified_ms,
            })
        })
        .collect()
}

async fn resolve_s3(input: &str, rest: &str) -> Result<Vec<Source>, SourceError> {
    let store_error = |source| SourceError::Store {
        input: input.to_owned(),
        source,
    };
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let store = s3_store(bucket).map_err(store_error)?;
    let source = |meta: object_store::ObjectMeta| Source {
        uri: format!("s3://{bucket}/{}", meta.location),
        location: SourceLocation::Object {
            store: store.clone(),
            path: meta.location.clone(),
        },
        size: Some(meta.size),
        modified_ms: Some(meta.last_modified.timestamp_millis()),
    };
    let key = key.trim_end_matches('/');
    if !key.is_empty()
        && !rest.ends_with('/')
        && let Ok(meta) = store.head(&Path::from(key)).await
    {
        return Ok(vec![source(meta)]);
    }
    let prefix = (!key.is_empty()).then(|| Path::from(key));
    let mut listed: Vec<object_store::ObjectMeta> = store
        .list(prefix.as_ref())
        .map(|r| r.map_err(store_error))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    listed.sort_by(|a, b| a.location.cmp(&b.location));
    if listed.is_empty() {
        return Err(SourceError::NotFound {
            input: input.to_owned(),
        });
    }
    Ok(listed.into_iter().map(source).collect())
}

impl Source {
    /// Opens the source as a stream of decompressed bytes (gzip is recognized by the first
    /// read). `read_bytes` counts the bytes taken from storage (before decompression), for
    /// progress.
    ///
    /// Opening awaits (an S3 GET) and never blocks; the reader it returns blocks, like any
    /// `Read`: read it on a plain thread or in `spawn_blocking`. An object's bytes come from a
    /// task on the current runtime through a small bounded channel.
    pub async fn open(
        &self,
        read_bytes: Arc<AtomicU64>,
    ) -> Result<Box<dyn Read + Send>, SourceError> {
        let raw: Box<dyn Read + Send> = match &self.location {
            SourceLocation::Local(path) => {
                Box::new(open_file(path).map_err(|source| SourceError::Io {
                    input: self.uri.clone(),
                    source,
                })?)
            }
            SourceLocation::Stdin => Box::new(io::stdin()),
            SourceLocation::Unresolved(reason) => {
                return Err(SourceError::Unresolved {
                    input: self.uri.clone(),
                    reason: reason.clone(),
                });
            }
            SourceLocation::Object { store, path } => {
                let stream = store
                    .get(path)
                    .await
                    .map_err(|source| SourceError::Store {
                        input: self.uri.clone(),
                        source,
                    })?
                    .into_stream();
                Box::new(ObjectReader::spawn(stream))
            }
        };
        let counted = CountingReader {
            inner: raw,
            count: read_bytes,
        };
        Ok(Box::new(Decompressing::Unknown(Some(
            BufReader::with_capacity(1 << 20, counted),
        ))))
    }

    /// The source's bytes memory-mapped, when it is a non-empty plain (not gzip) local file
    /// that can be mapped; `None` means read it with [`Source::open`].
    pub fn map(&self) -> Result<Option<Arc<Mmap>>, SourceError> {
        let SourceLocation::Local(path) = &self.location else {
            return Ok(None);
        };
        let io_error = |source| SourceError::Io {
            input: self.uri.clone(),
            source,
        };
        let file = open_file(path).map_err(io_error)?;
        let metadata = file.metadata().map_err(io_error)?;
        if !metadata.is_file() || metadata.len() == 0 {
            return Ok(None);
        }
        // SAFETY: the map is read-only. Its bytes stay as they are unless another process
        // truncates or rewrites the file in place during the ingest, which the README documents
        // as unsupported (a truncation ends the process with SIGBUS).
        let Ok(map) = (unsafe { Mmap::map(&file) }) else {
            // A file system that cannot map files (some FUSE ones) can still be read.
            return Ok(None);
        };
        if map.starts_with(&GZIP_MAGIC) {
            return Ok(None);
        }
        // Only a hint: the kernel reads ahead more aggressively; ignoring a failure is safe.
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(Some(Arc::new(map)))
    }
}

/// A local path for a `file://` URL (percent-decoded) or a plain path (taken literally): the
/// lake's one rule for local locations.
fn local_path(input: &str) -> PathBuf {
    match LakeLocation::parse(input) {
        Ok(LakeLocation::Local(path)) => path,
        _ => PathBuf::from(input),
    }
}

fn open_file(path: &FsPath) -> io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// The decompressed bytes of every gzip member in a stream, one after another (as
/// `cat a.gz b.gz` makes), where zero bytes after a member are padding and end the stream:
/// some tape and block-device tools, and files preallocated before a crash, pad archives with
/// zeros, which are not a cut-off record. Anything else after a member is an error.
struct GzipMembers<R: BufRead> {
    /// The member being read; `None` once the stream has ended.
    member: Option<flate2::bufread::GzDecoder<R>>,
}

impl<R: BufRead> GzipMembers<R> {
    fn new(input: R) -> Self {
        Self {
            member: Some(flate2::bufread::GzDecoder::new(input)),
        }
    }
}

impl<R: BufRead> Read for GzipMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(member) = self.member.as_mut() else {
                return Ok(0);
            };
            let n = member.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The member ended: look at what follows it.
            let Some(member) = self.member.take() else {
                return Ok(0);
            };
            let mut input = member.into_inner();
            let mut padding = false;
            loop {
                let rest = input.fill_buf()?;
                if rest.is_empty() {
                    return Ok(0);
                }
                let zeros = rest.iter().take_while(|&&b| b == 0).count();
                if zeros == 0 {
                    break;
                }
                padding = true;
                input.consume(zeros);
            }
            if padding {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "non-zero bytes follow the zero padding after a gzip member",
                ));
            }
            // The first byte only: the buffer may end inside the magic; the decoder checks it.
            if input.fill_buf()?.first() != Some(&GZIP_MAGIC[0]) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "bytes after a gzip member are neither another gzip member nor zero padding",
                ));
            }
            self.member = Some(flate2::bufread::GzDecoder::new(input));
        }
    }
}

struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The first bytes read, then the rest of the source.
type Headed<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// Plain or gzip bytes, told apart by the first two bytes of the source.
enum Decompressing<R: BufRead> {
    /// Not read yet (`None` only after a first read failed).
    Unknown(Option<R>),
    Plain(Headed<R>),
    Gzip(Box<GzipMembers<Headed<R>>>),
}

impl<R: BufRead> Read for Decompressing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Decompressing::Unknown(pending) = self {
            let Some(mut inner) = pending.take() else {
                return Err(io::Error::other("a previous read of this source failed"));
            };
            // Two bytes even when the first chunk of a stream is shorter.
            let mut head = Vec::with_capacity(GZIP_MAGIC.len());
            while head.len() < GZIP_MAGIC.len() {
                let available = inner.fill_buf()?;
                if available.is_empty() {
                    break;
                }
                let take = available.len().min(GZIP_MAGIC.len() - head.len());
                head.extend_from_slice(&available[..take]);
                inner.consume(take);
            }
            let gzip = head.starts_with(&GZIP_MAGIC);
            let headed = Read::chain(io::Cursor::new(head), inner);
            *self = if gzip {
                Decompressing::Gzip(Box::new(GzipMembers::new(headed)))
            } else {
                Decompressing::Plain(headed)
            };
        }
        match self {
            Decompressing::Plain(inner) => inner.read(buf),
            Decompressing::Gzip(inner) => inner.read(buf),
            Decompressing::Unknown(_) => Ok(0),
        }
    }
}

/// What the task reading an object hands to its [`ObjectReader`].
enum ObjectChunk {
    Bytes(Bytes),
    Failed(object_store::Error),
    /// The whole object was read: without it, a closed channel is a cut-off read.
    End,
}

/// A blocking `Read` over an object's bytes. A task on the runtime pulls the object store's
/// stream and hands the chunks over a bounded channel (at most a few chunks are held), so
/// that reading needs no `block_on`; tokio refuses (with a clear panic) only a read on one of
/// its async worker threads, where a blocking read would stall the other tasks.
struct ObjectReader {
    chunks: tokio::sync::mpsc::Receiver<ObjectChunk>,
    current: Bytes,
    ended: bool,
}

impl ObjectReader {
    fn spawn(mut stream: BoxStream<'static, object_store::Result<Bytes>>) -> Self {
        let (tx, chunks) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                let chunk = match stream.next().await {
                    Some(Ok(bytes)) => ObjectChunk::Bytes(bytes),
                    Some(Err(error)) => ObjectChunk::Failed(error),
                    None => ObjectChunk::End,
                };
                let last = !matches!(chunk, ObjectChunk::Bytes(_));
                // The reader was dropped (the source is abandoned), or this was the last.
                if tx.send(chunk).await.is_err() || last {
                    return;
                }
            }
        });
        Self {
            chunks,
            current: Bytes::new(),
            ended: false,
        }
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.chunks.blocking_recv() {
                Some(ObjectChunk::Bytes(bytes)) => self.current = bytes,
                Some(ObjectChunk::End) => self.ended = true,
                Some(ObjectChunk::Failed(error)) => return Err(io::Error::other(error)),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the object's download stopped before its end",
                    ));
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text).expect("compress");
        encoder.finish().expect("compress")
    }

    fn decompress(bytes: Vec<u8>) -> io::Result<Vec<u8>> {
        // A small buffer, so that members and padding straddle its refills.
        let mut reader = GzipMembers::new(BufReader::with_capacity(7, io::Cursor::new(bytes)));
        let mut out = Vec::new();
        reader.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Opening an object source from async code awaits its GET (before, `open` called
    /// `block_on`, which panics on a runtime thread); its reader works on a blocking thread and
    /// recognizes gzip by its first bytes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn object_sources_open_in_async_code_and_read_on_blocking_threads() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let text = b"{\"ContactId\":\"a\"}\n".repeat(50_000);
        store
            .put(&Path::from("plain.ndjson"), text.clone().into())
            .await
            .expect("put");
        store
            .put(&Path::from("x.gz"), gzip(&text).into())
            .await
            .expect("put");
        for name in ["plain.ndjson", "x.gz", "missing"] {
            let source = Source {
                uri: format!("memory:///{name}"),
                location: SourceLocation::Object {
                    store: Arc::clone(&store),
                    path: Path::from(name),
                },
                size: None,
                modified_ms: None,
            };
            let counted = Arc::new(AtomicU64::new(0));
            let opened = source.open(Arc::clone(&counted)).await;
            if name == "missing" {
                let error = opened.err().expect("a missing object fails to open");
                assert!(
                    error.to_string().starts_with("memory:///missing: "),
                    "{error}"
                );
                continue;
            }
            let mut reader = opened.expect("opens");
            let read = tokio::task::spawn_blocking(move || {
                let mut all = Vec::new();
                reader.read_to_end(&mut all).map(|_| all)
            })
            .await
            .expect("task")
            .expect("reads");
            assert_eq!(read, text, "{name}");
            let stored = store.head(&Path::from(name)).await.expect("head").size;
            assert_eq!(
                counted.load(Ordering::Relaxed),
                stored,
                "{name}: stored bytes"
            );
        }
    }

    #[test]
    fn gzip_is_recognised_when_the_first_read_returns_one_byte() {
        let text = b"{\"ContactId\":\"a\"}\n".repeat(100);
        for bytes in [gzip(&text), text.clone(), b"{".to_vec(), Vec::new()] {
            let one_at_a_time = BufReader::with_capacity(1, io::Cursor::new(bytes.clone()));
            let mut reader = Decompressing::Unknown(Some(one_at_a_time));
            let mut read = Vec::new();
            reader.read_to_end(&mut read).expect("reads");
            let expected = if bytes.starts_with(&GZIP_MAGIC) {
                &text
            } else {
                &bytes
            };
            assert_eq!(&read, expected);
        }
    }

    #[test]
    fn an_object_download_that_stops_early_is_an_error_not_an_end() {
        let (tx, chunks) = tokio::sync::mpsc::channel(2);
        tx.try_send(ObjectChunk::Bytes(Bytes::from_static(b"abc")))
            .expect("send");
        drop(tx);
        let mut reader = ObjectReader {
            chunks,
            current: Bytes::new(),
            ended: false,
        };
        let mut read = Vec::new();
        let error = reader.read_to_end(&mut read).expect_err("cut off");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(read, b"abc");
    }

    #[test]
    fn gzip_members_are_read_one_after_another_and_zero_padding_ends_them() {
        let mut bytes = gzip(b"{\"a\":1}\n");
        bytes.extend(gzip(b"{\"b\":2}\n"));
        assert_eq!(
            decompress(bytes.clone()).expect("two members"),
            b"{\"a\":1}\n{\"b\":2}\n"
        );
        bytes.extend([0u8; 4096]);
        assert_eq!(
            decompress(bytes).expect("padded"),
            b"{\"a\":1}\n{\"b\":2}\n"
        );
    }

    #[test]
    fn other_bytes_after_a_gzip_member_are_an_error() {
        let mut garbage = gzip(b"{\"a\":1}\n");
        garbage.extend(b"not gzip");
        let error = decompress(garbage).expect_err("garbage after the member");
        assert!(
            error.to_string().contains("neither another gzip member"),
            "{error}"
        );
        let mut after_padding = gzip(b"{\"a\":1}\n");
        after_padding.extend([0, 0, 0, 7]);
        let error = decompress(after_padding).expect_err("bytes after the padding");
        assert!(error.to_string().contains("zero padding"), "{error}");
    }
}
