//! Uploaded files (`POST /api/plugins`): the body streamed to a staging file on the plugins
//! directory's filesystem instead of into memory, through the pipeline's one collector
//! ([`pipeline::collect_into`]), one upload at a time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use warp::Buf;

use super::error::ApiError;
use super::pipeline;

/// The most an upload may weigh unless the administrator sets `max_upload_bytes`: plugins are
/// single executables, a statically linked Rust plugin with an embedded dashboard view is a few
/// MiB and a bundled Python or Node.js runtime well under 100 MiB, so 256 MiB leaves room for
/// anything real while bounding the disk an upload (admins only, one at a time) can take.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 256 * 1024 * 1024;

/// How long an upload's whole body may take, instead of the listener's 10 s body time: 256 MiB
/// at 0.5 MiB/s, a slow link. An upload is an administrator's, and one at a time.
pub const UPLOAD_BODY_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Where and how much the daemon accepts as uploads. Shared by every listener.
#[derive(Debug)]
pub struct Uploads {
    /// The staging directory (`<plugins dir>/.staging`), absolute.
    dir: PathBuf,
    /// The most bytes one upload may have.
    limit: u64,
    /// One permit: an upload holds it from before its body is read until it is installed or
    /// refused, so a second upload meanwhile is refused at once instead of filling the disk.
    one_at_a_time: Arc<Semaphore>,
}

/// An upload received in full, in the staging directory; deleted when dropped unless the
/// handler installs it. Holds the one upload permit.
#[derive(Debug)]
pub struct StagedUpload {
    /// The staged file.
    pub file: TempPath,
    /// The one upload permit, held until the upload is installed or refused.
    pub permit: OwnedSemaphorePermit,
}

impl Uploads {
    /// Uploads staged in `dir`, at most `limit` bytes each.
    pub fn new(dir: PathBuf, limit: u64) -> Self {
        Uploads {
            dir: std::path::absolute(&dir).unwrap_or(dir),
            limit,
            one_at_a_time: Arc::new(Semaphore::new(1)),
        }
    }

    /// Streams `body` to a new file in the staging directory: 409 `install_in_progress` while
    /// another upload holds the permit, 413 past the limit (from a declared `Content-Length`
    /// before anything is read), 408 past [`UPLOAD_BODY_TIMEOUT`]. A refused upload's file is
    /// deleted.
    pub async fn receive<S, B, E>(
        &self,
        headers: &HeaderMap,
        body: S,
    ) -> Result<StagedUpload, ApiError>
    where
        S: futures::Stream<Item = Result<B, E>>,
        B: Buf,
        E: std::fmt::Display,
    {
        let permit = Arc::clone(&self.one_at_a_time)
            .try_acquire_owned()
            .map_err(|_| ApiError::install_in_progress())?;
        let declared = pipeline::declared_length(headers);
        if declared.is_some_and(|length| length > self.limit) {
            return Err(ApiError::payload_too_large(self.limit_usize()));
        }
        let (file, path) = self.create().await.map_err(|e| ApiError::internal(&e))?;
        let mut file = tokio::fs::File::from_std(file);
        pipeline::collect_into(declared, body, self.limit, UPLOAD_BODY_TIMEOUT, &mut file).await?;
        let written = async {
            file.flush().await?;
            file.sync_all().await
        };
        written.await.map_err(|e| ApiError::internal(&e))?;
        Ok(StagedUpload { file: path, permit })
    }

    /// A new, empty staging file (mode 0600 until it is checked), the directory created first.
    async fn create(&self) -> std::io::Result<(std::fs::File, TempPath)> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            crate::plugins::install::create_shared_dir(&dir)?;
            let file = tempfile::Builder::new()
                .prefix("upload-")
                .tempfile_in(&dir)?;
            Ok(file.into_parts())
        })
        .await
        .map_err(std::io::Error::other)?
    }

    fn limit_usize(&self) -> usize {
        usize::try_from(self.limit).unwrap_or(usize::MAX)
    }
}
