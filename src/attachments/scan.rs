//! Virus scanning through a running clamd (`clamd_socket`), by its INSTREAM command: the
//! file goes over the local socket in chunks and clamd answers `stream: OK` or
//! `stream: <signature> FOUND`.

use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// What clamd said.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    Infected(String),
}

/// Why no verdict came.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("clamd at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("clamd answered `{0}`")]
    Answer(String),
}

/// Is clamd there? (`PING`, answered `PONG`.)
pub async fn ping(socket: &Path) -> Result<(), ScanError> {
    let io = |source| ScanError::Io {
        path: socket.display().to_string(),
        source,
    };
    let mut conn = UnixStream::connect(socket).await.map_err(io)?;
    conn.write_all(b"zPING\0").await.map_err(io)?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.map_err(io)?;
    let text = String::from_utf8_lossy(&answer)
        .trim_end_matches(['\0', '\n'])
        .to_owned();
    if text == "PONG" {
        Ok(())
    } else {
        Err(ScanError::Answer(text))
    }
}

/// Scan the file at `file` with the clamd listening on `socket`.
pub async fn scan(socket: &Path, file: &Path) -> Result<Verdict, ScanError> {
    let io = |source| ScanError::Io {
        path: socket.display().to_string(),
        source,
    };
    let mut conn = UnixStream::connect(socket).await.map_err(io)?;
    conn.write_all(b"zINSTREAM\0").await.map_err(io)?;
    let mut f = tokio::fs::File::open(file).await.map_err(io)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            break;
        }
        conn.write_all(&(n as u32).to_be_bytes())
            .await
            .map_err(io)?;
        conn.write_all(&buf[..n]).await.map_err(io)?;
    }
    conn.write_all(&0u32.to_be_bytes()).await.map_err(io)?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.map_err(io)?;
    let text = String::from_utf8_lossy(&answer)
        .trim_end_matches(['\0', '\n'])
        .to_owned();
    let verdict = text.strip_prefix("stream: ").unwrap_or(&text);
    if verdict == "OK" {
        Ok(Verdict::Clean)
    } else if let Some(sig) = verdict.strip_suffix(" FOUND") {
        Ok(Verdict::Infected(sig.to_owned()))
    } else {
        Err(ScanError::Answer(text))
    }
}
