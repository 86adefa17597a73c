//! The server's address (loopback only) and a lean keep-alive HTTP/1.1 client on hyper:
//! one connection per task, no pool, so the measuring side costs as little CPU as it can.

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::{TcpSocket, TcpStream};

/// Where the server is: `http://127.0.0.1:PORT`. Anything but a loopback address is
/// refused, so a mistyped URL cannot aim load at another machine.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Endpoint {
    pub addr: SocketAddr,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("--url must start with http:// (got {url})"))?;
        let authority = rest.split('/').next().unwrap_or("");
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| anyhow!("--url needs a port, e.g. http://127.0.0.1:8080"))?;
        let port: u16 = port.parse().context("--url port")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = if host == "localhost" {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse()
                .with_context(|| format!("--url host `{host}` is not an IP address"))?
        };
        if !ip.is_loopback() {
            bail!(
                "refusing to load {ip}: nati-bench only targets loopback addresses (127.0.0.0/8, ::1)"
            );
        }
        Ok(Endpoint {
            addr: SocketAddr::new(ip, port),
        })
    }

    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// Open a TCP connection, from one of several loopback source addresses when the
    /// server is on IPv4 loopback: tens of thousands of sockets (and their TIME_WAIT
    /// leftovers from the run before) do not fit one source address's port range.
    pub async fn tcp(&self, spread: usize) -> Result<TcpStream> {
        let s = match self.addr {
            SocketAddr::V4(_) => {
                let s = TcpSocket::new_v4()?;
                let src = Ipv4Addr::new(127, 0, 1, 1 + (spread % 200) as u8);
                s.bind(SocketAddr::new(IpAddr::V4(src), 0))?;
                s
            }
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        let stream = s
            .connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    send: SendRequest<Full<Bytes>>,
    authority: String,
}

/// Which source address the next connection uses.
static SPREAD: AtomicUsize = AtomicUsize::new(0);

pub fn next_spread() -> usize {
    SPREAD.fetch_add(1, Ordering::Relaxed)
}

impl Conn {
    pub async fn open(ep: &Endpoint) -> Result<Conn> {
        let tcp = ep.tcp(next_spread()).await?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            send,
            authority: ep.authority(),
        })
    }

    /// One request; the body as bytes.
    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Bytes)> {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.authority);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let payload = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(v)?)
            }
            None => Bytes::new(),
        };
        let req = b.body(Full::new(payload))?;
        self.send.ready().await?;
        let resp = self.send.send_request(req).await?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }

    /// POST raw bytes (a file upload); the status and the answer.
    pub async fn post_bytes(
        &mut self,
        path: &str,
        token: &str,
        body: Bytes,
    ) -> Result<(u16, Bytes)> {
        let req = hyper::Request::builder()
            .method("POST")
            .uri(path)
            .header("host", &self.authority)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/octet-stream")
            .body(Full::new(body))?;
        self.send.ready().await?;
        let resp = self.send.send_request(req).await?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }

    /// GET a body without keeping it: the status and how many bytes came.
    pub async fn get_counting(&mut self, path: &str, token: &str) -> Result<(u16, u64)> {
        let req = hyper::Request::builder()
            .method("GET")
            .uri(path)
            .header("host", &self.authority)
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))?;
        self.send.ready().await?;
        let resp = self.send.send_request(req).await?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                n += data.len() as u64;
            }
        }
        Ok((status, n))
    }

    /// A request that must answer `want`; the body parsed as JSON.
    pub async fn json(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        want: &[u16],
    ) -> Result<Value> {
        let (status, bytes) = self.call(method, path, token, body).await?;
        if !want.contains(&status) {
            bail!(
                "{method} {path}: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// Sign in; the bearer token.
pub async fn login(ep: &Endpoint, email: &str, password: &str) -> Result<String> {
    let mut c = Conn::open(ep).await?;
    let v = c
        .json(
            "POST",
            "/api/auth/login",
            None,
            Some(&json!({"email": email, "password": password})),
            &[200],
        )
        .await
        .with_context(|| format!("signing in as {email} (is the server started with --demo, or pass --admin-email/--admin-password?)"))?;
    v["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("login answered without a token"))
}

/// A guest and the chat it started.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Guest {
    pub token: String,
    pub chat_id: i64,
}

/// Create `n` guests, each with its own chat (`POST /api/chat/start` without credentials),
/// over `concurrency` connections. Prints progress to stderr for big numbers.
pub async fn create_guests(ep: &Endpoint, n: usize, concurrency: usize) -> Result<Vec<Guest>> {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let t0 = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.clamp(1, n.max(1)) {
        let ep = ep.clone();
        let next = next.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut c = Conn::open(&ep).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let body =
                    json!({"topic": format!("bench {i}"), "name": format!("Bench guest {i}")});
                let v = c
                    .json("POST", "/api/chat/start", None, Some(&body), &[200, 201])
                    .await
                    .context(
                        "creating a guest (raise NATI_GUEST_START_RATE_PER_MINUTE if this is 429)",
                    )?;
                let token = v["guest_token"]
                    .as_str()
                    .ok_or_else(|| anyhow!("start answered without guest_token"))?
                    .to_owned();
                let chat_id = v["chat"]["chat_id"]
                    .as_i64()
                    .ok_or_else(|| anyhow!("start answered without chat.chat_id"))?;
                out.push((i, Guest { token, chat_id }));
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= 2000 && d.is_multiple_of(2000) {
                    eprintln!(
                        "  {d}/{n} guests ({:.0}/s)",
                        d as f64 / t0.elapsed().as_secs_f64()
                    );
                }
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, g)| g).collect())
}
