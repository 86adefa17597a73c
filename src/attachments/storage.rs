//! Where attachment bytes live, behind one type: on the local disk under the data
//! directory (content-addressed: `attachments/ab/cd/<sha256>`), or in the database itself
//! (`tbl_chat_blob_chunks`, 256 KiB chunks) so that several nodes serve every file without
//! a shared disk. Both stream: no file is held in memory whole.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use chat_core::store::{BlobStore, Store};
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// The size of one chunk in the database, and of each read from a file.
pub const CHUNK: usize = 256 * 1024;

/// Which storage a node uses.
#[derive(Clone)]
pub enum Files {
    Disk(PathBuf),
    Database(Arc<dyn Store>),
}

fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("attachment storage: {what}: {e}"))
}

/// A content address is 64 lowercase hex digits, nothing else (it becomes a path).
fn checked(key: &str) -> Result<&str, ApiError> {
    if key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(key)
    } else {
        Err(internal("bad content address", key))
    }
}

impl Files {
    /// The storage the settings name (`attachment_storage`), checked against the database.
    pub fn of(state: &AppState) -> Result<Files, ApiError> {
        let s = &state.settings;
        match s.attachment_storage.as_deref() {
            Some("disk") => Ok(Files::Disk(s.data_dir.join("attachments"))),
            Some("database") | None if state.store.blobs().is_some() => {
                Ok(Files::Database(state.store.clone()))
            }
            None => Ok(Files::Disk(s.data_dir.join("attachments"))),
            Some(other) => Err(internal(
                "attachment_storage",
                format!(
                    "`{other}` is not available here (disk, or database on PostgreSQL and MariaDB)"
                ),
            )),
        }
    }

    /// Where uploads are written while they arrive (on the data directory's file system,
    /// so a finished upload is renamed into place).
    pub fn temp_dir(state: &AppState) -> PathBuf {
        state.settings.data_dir.join("uploads-in-progress")
    }

    fn blobs(&self) -> Option<&dyn BlobStore> {
        match self {
            Files::Database(store) => store.blobs(),
            Files::Disk(_) => None,
        }
    }

    fn path(root: &Path, key: &str) -> PathBuf {
        root.join(&key[..2]).join(&key[2..4]).join(key)
    }

    /// Keep the finished file at `temp` (synced) under `key`; `temp` is gone afterwards.
    /// Keeping a key twice is harmless: the content is the same.
    pub async fn put_file(&self, key: &str, temp: &Path, size: u64) -> Result<(), ApiError> {
        let key = checked(key)?;
        match self {
            Files::Disk(root) => {
                let dest = Self::path(root, key);
                if let Some(dir) = dest.parent() {
                    tokio::fs::create_dir_all(dir)
                        .await
                        .map_err(|e| internal("creating its directory", e))?;
                }
                if tokio::fs::try_exists(&dest).await.unwrap_or(false) {
                    let _ = tokio::fs::remove_file(temp).await;
                    return Ok(());
                }
                tokio::fs::rename(temp, &dest)
                    .await
                    .map_err(|e| internal("moving an upload into place", e))?;
                if let Some(dir) = dest.parent()
                    && let Ok(d) = tokio::fs::File::open(dir).await
                {
                    let _ = d.sync_all().await;
                }
                Ok(())
            }
            Files::Database(_) => {
                let blobs = self
                    .blobs()
                    .ok_or_else(|| internal("database", "no blob store"))?;
                let chunks = size.div_ceil(CHUNK as u64) as i64;
                if blobs.chunk_count(key).await? != chunks {
                    let mut f = tokio::fs::File::open(temp)
                        .await
                        .map_err(|e| internal("reading an upload", e))?;
                    let mut buf = vec![0u8; CHUNK];
                    for n in 0..chunks {
                        let mut filled = 0;
                        while filled < CHUNK {
                            let got = f
                                .read(&mut buf[filled..])
                                .await
                                .map_err(|e| internal("reading an upload", e))?;
                            if got == 0 {
                                break;
                            }
                            filled += got;
                        }
                        blobs.put_chunk(key, n, &buf[..filled]).await?;
                    }
                }
                let _ = tokio::fs::remove_file(temp).await;
                Ok(())
            }
        }
    }

    /// Keep small bytes (a thumbnail) under `key`.
    pub async fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<(), ApiError> {
        let key = checked(key)?;
        match self {
            Files::Disk(root) => {
                let dest = Self::path(root, key);
                if tokio::fs::try_exists(&dest).await.unwrap_or(false) {
                    return Ok(());
                }
                if let Some(dir) = dest.parent() {
                    tokio::fs::create_dir_all(dir)
                        .await
                        .map_err(|e| internal("creating its directory", e))?;
                }
                let tmp = dest.with_extension("part");
                tokio::fs::write(&tmp, bytes)
                    .await
                    .map_err(|e| internal("writing a thumbnail", e))?;
                tokio::fs::rename(&tmp, &dest)
                    .await
                    .map_err(|e| internal("moving a thumbnail into place", e))
            }
            Files::Database(_) => {
                let blobs = self
                    .blobs()
                    .ok_or_else(|| internal("database", "no blob store"))?;
                for (n, piece) in bytes.chunks(CHUNK).enumerate() {
                    blobs.put_chunk(key, n as i64, piece).await?;
                }
                Ok(())
            }
        }
    }

    /// Bytes `start..start + len` of `key`, as a stream.
    pub async fn read(&self, key: &str, start: u64, len: u64) -> Result<Body, ApiError> {
        let key = checked(key)?.to_owned();
        match self {
            Files::Disk(root) => {
                let mut f = tokio::fs::File::open(Self::path(root, &key))
                    .await
                    .map_err(|e| internal("opening a stored file", e))?;
                f.seek(SeekFrom::Start(start))
                    .await
                    .map_err(|e| internal("seeking", e))?;
                let stream = futures_util::stream::unfold((f, len), |(mut f, left)| async move {
                    if left == 0 {
                        return None;
                    }
                    let mut buf = vec![0u8; CHUNK.min(left as usize)];
                    match f.read(&mut buf).await {
                        Ok(0) => None,
                        Ok(n) => {
                            buf.truncate(n);
                            Some((
                                Ok::<_, std::io::Error>(Bytes::from(buf)),
                                (f, left - n as u64),
                            ))
                        }
                        Err(e) => Some((Err(e), (f, 0))),
                    }
                });
                Ok(Body::from_stream(stream))
            }
            Files::Database(store) => {
                let store = store.clone();
                let first = start / CHUNK as u64;
                let state = (store, key, first, start - first * CHUNK as u64, len);
                let stream =
                    futures_util::stream::unfold(state, |(store, key, n, skip, left)| async move {
                        if left == 0 {
                            return None;
                        }
                        let blobs = store.blobs()?;
                        match blobs.chunk(&key, n as i64).await {
                            Ok(Some(bytes)) => {
                                let from = (skip as usize).min(bytes.len());
                                let take = (bytes.len() - from).min(left as usize);
                                if take == 0 {
                                    return None;
                                }
                                let piece = Bytes::copy_from_slice(&bytes[from..from + take]);
                                Some((
                                    Ok::<_, std::io::Error>(piece),
                                    (store, key, n + 1, 0, left - take as u64),
                                ))
                            }
                            Ok(None) => None,
                            Err(e) => Some((
                                Err(std::io::Error::other(e.to_string())),
                                (store, key, n, 0, 0),
                            )),
                        }
                    });
                Ok(Body::from_stream(stream))
            }
        }
    }

    /// Remove the bytes of `key` (no record uses it any more).
    pub async fn delete(&self, key: &str) -> Result<(), ApiError> {
        let key = checked(key)?;
        match self {
            Files::Disk(root) => match tokio::fs::remove_file(Self::path(root, key)).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(internal("removing a file", e)),
            },
            Files::Database(_) => {
                let blobs = self
                    .blobs()
                    .ok_or_else(|| internal("database", "no blob store"))?;
                blobs.delete_blob(key).await?;
                Ok(())
            }
        }
    }
}

/// Where `nati-chat backup FILE` puts the files of the disk storage: `FILE.attachments/`.
pub fn backup_dir(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".attachments");
    PathBuf::from(name)
}

/// Copy the stored files under `from` to `to` (a file already there is the same content:
/// its name is its SHA-256). Returns how many files were copied. Files are never changed
/// in place, so copying the tree while the server runs, after the database backup, holds
/// every file that backup refers to.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<u64> {
    let mut copied = 0;
    if !from.is_dir() {
        return Ok(0);
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            copied += copy_tree(&src, &dst)?;
        } else if src.extension().is_none_or(|e| e != "part") && !dst.exists() {
            let partial = dst.with_extension("part");
            std::fs::copy(&src, &partial)?;
            std::fs::File::open(&partial)?.sync_all()?;
            std::fs::rename(&partial, &dst)?;
            copied += 1;
        }
    }
    Ok(copied)
}
