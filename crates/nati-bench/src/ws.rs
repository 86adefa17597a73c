//! WebSocket client side: connect with a bearer token, wait for `ready`, and small helpers
//! to read frames. Sockets use small buffers (4 KiB read, no write buffering) so that
//! thousands of them fit a worker process.

use crate::http::Endpoint;
use anyhow::{Context, Result, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

pub type Ws = WebSocketStream<TcpStream>;

/// Who a socket belongs to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SockSpec {
    pub token: String,
    /// The guest's own chat; none for staff.
    pub chat_id: Option<i64>,
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(Some(1024 * 1024))
        .max_frame_size(Some(1024 * 1024))
}

/// Open a socket and wait for the server's `ready` frame.
pub async fn connect(ep: &Endpoint, token: &str, spread: usize) -> Result<Ws> {
    let tcp = ep.tcp(spread).await?;
    let mut req = format!("ws://{}/api/chat/ws", ep.authority()).into_client_request()?;
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .context("token as a header")?,
    );
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(req, tcp, Some(config()))
        .await
        .context("WebSocket upgrade")?;
    let first = tokio::time::timeout(Duration::from_secs(30), next_json(&mut ws))
        .await
        .map_err(|_| anyhow!("no `ready` within 30 s"))??;
    match first {
        Some(v) if v["type"] == "ready" => Ok(ws),
        Some(v) => bail!("expected `ready` first, got {v}"),
        None => bail!("socket closed before `ready`"),
    }
}

/// Open many sockets, `concurrency` at a time; in the order given.
pub async fn connect_all(
    ep: &Endpoint,
    specs: &[SockSpec],
    concurrency: usize,
    spread_base: usize,
) -> Result<Vec<Ws>> {
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        let ep = ep.clone();
        let token = s.token.clone();
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            connect(&ep, &token, spread_base + i).await
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

/// The next text frame as JSON; `None` when the socket closed. Pings are answered by
/// tungstenite itself.
pub async fn next_json(ws: &mut Ws) -> Result<Option<Value>> {
    loop {
        match ws.next().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(Message::Text(t))) => return Ok(Some(serde_json::from_str(t.as_str())?)),
            Some(Ok(Message::Close(c))) => {
                if let Some(c) = c {
                    bail!("server closed the socket: {} {}", c.code, c.reason);
                }
                return Ok(None);
            }
            Some(Ok(_)) => {}
        }
    }
}

/// The next text frame, unparsed (cheap to filter by substring); `None` when closed.
pub async fn next_text(ws: &mut Ws) -> Result<Option<Utf8Bytes>> {
    loop {
        match ws.next().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(Message::Text(t))) => return Ok(Some(t)),
            Some(Ok(Message::Close(c))) => {
                if let Some(c) = c {
                    bail!("server closed the socket: {} {}", c.code, c.reason);
                }
                return Ok(None);
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Close politely, without waiting long.
pub async fn close(mut ws: Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
}

/// Send one JSON frame.
pub async fn send_json(ws: &mut Ws, v: &Value) -> Result<()> {
    ws.send(Message::Text(v.to_string().into())).await?;
    Ok(())
}

/// A `send` frame.
pub fn send_frame(chat_id: i64, message: &str, client_id: &str) -> Value {
    serde_json::json!({"type": "send", "chat_id": chat_id, "message": message, "client_id": client_id})
}
