//! A real WebSocket client (tokio-tungstenite) for the realtime suites.

#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every JSON frame received so far, in order.
    pub seen: Vec<Value>,
}

/// How a socket ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    Code(u16),
    Dropped,
}

pub const WAIT: Duration = Duration::from_secs(10);

impl Ws {
    /// Connect with a bearer token; `query` is appended to the path (e.g. `?after=12`).
    pub async fn connect(base: &str, token: &str, query: &str) -> Ws {
        Self::try_connect(base, Some(token), query, &[])
            .await
            .expect("connect")
    }

    pub async fn try_connect(
        base: &str,
        token: Option<&str>,
        query: &str,
        headers: &[(&str, &str)],
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let url = format!(
            "{}/api/chat/ws{}",
            base.replacen("http://", "ws://", 1),
            query
        );
        let mut req = url.into_client_request()?;
        if let Some(t) = token {
            req.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {t}")).expect("header"),
            );
        }
        for (k, v) in headers {
            req.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())
                    .expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        let (stream, _) = tokio_tungstenite::connect_async(req).await?;
        let mut ws = Ws {
            stream,
            seen: Vec::new(),
        };
        let ready = ws.next().await;
        assert_eq!(ready["type"], "ready", "the server speaks first: {ready}");
        Ok(ws)
    }

    /// The next JSON frame (pings are answered by the library and skipped).
    pub async fn next(&mut self) -> Value {
        match self.try_next(WAIT).await {
            Ok(Some(v)) => v,
            Ok(None) => panic!(
                "no frame within {WAIT:?}; seen: {:?}",
                self.seen
                    .iter()
                    .map(|v| v["type"].clone())
                    .collect::<Vec<_>>()
            ),
            Err(c) => panic!("socket closed ({c:?}) while waiting for a frame"),
        }
    }

    /// The next frame within `wait`: `Ok(None)` on time-out, `Err` when the socket closed.
    pub async fn try_next(&mut self, wait: Duration) -> Result<Option<Value>, Closed> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Ok(None),
                Ok(None) | Ok(Some(Err(_))) => return Err(Closed::Dropped),
                Ok(Some(Ok(m))) => m,
            };
            match msg {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("json frame");
                    self.seen.push(v.clone());
                    return Ok(Some(v));
                }
                Message::Close(Some(f)) => return Err(Closed::Code(f.code.into())),
                Message::Close(None) => return Err(Closed::Dropped),
                _ => {}
            }
        }
    }

    /// Frames until one of type `ty` (returned); the others stay in `seen`.
    pub async fn next_of(&mut self, ty: &str) -> Value {
        loop {
            let v = self.next().await;
            if v["type"] == ty {
                return v;
            }
        }
    }

    /// Read until the stored event with this id has arrived (or panic).
    pub async fn until_event(&mut self, event_id: i64) {
        while !self.seen.iter().any(|v| v["event_id"] == event_id) {
            self.next().await;
        }
    }

    /// Read until the socket closes; the close code.
    pub async fn closed(&mut self) -> Closed {
        loop {
            match self.try_next(WAIT).await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("still open after {WAIT:?}"),
                Err(c) => return c,
            }
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.stream
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
    }

    /// Stored events seen so far.
    pub fn events(&self) -> Vec<&Value> {
        self.seen
            .iter()
            .filter(|v| v["event_id"].is_i64())
            .collect()
    }

    /// Message texts seen, in order, for one chat.
    pub fn texts(&self, chat_id: i64) -> Vec<String> {
        self.seen
            .iter()
            .filter(|v| {
                v["type"] == "message.created"
                    && v["chat_id"] == chat_id
                    && v["data"]["sender_type"] != "system"
            })
            .filter_map(|v| v["data"]["message"].as_str().map(String::from))
            .collect()
    }

    pub fn last_event_id(&self) -> i64 {
        self.events()
            .iter()
            .filter_map(|v| v["event_id"].as_i64())
            .max()
            .unwrap_or(0)
    }
}
