//! `history`: page through stored chats as an admin does when opening a conversation:
//! the newest page (`GET /api/chat/messages?chat_id=&limit=50`) and older pages
//! (`&before=<message_id>`, anywhere in the chat). Closed loop over `--concurrency`
//! keep-alive connections; latency per page and pages/s, for each kind of page.
//!
//! With a million messages, seed them first with `nati-chat bench-seed` (see
//! docs/BENCHMARKS.md); `--prepare-messages N` instead sends N messages through the API
//! into a new chat (the smoke run does that).

use crate::http::{self, Conn, Endpoint};
use crate::stats::{self, Hist, Rng, ms, row};
use crate::ws;
use crate::{Common, Outcome};
use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(clap::Args, Serialize, Deserialize, Clone, Debug)]
pub struct HistoryArgs {
    /// Connections requesting pages at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds measured for each kind of page.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of requests before each measured window.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Messages per page.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Chats to page through (the most recently active ones with enough messages).
    #[arg(long, default_value_t = 100)]
    pub sample_chats: usize,
    /// First send this many messages through the API into a new chat (for small runs).
    #[arg(long, default_value_t = 0)]
    pub prepare_messages: usize,
}

#[derive(Clone, Copy)]
struct Target {
    chat: i64,
    oldest: i64,
    newest: i64,
}

pub async fn run(c: &Common, a: &HistoryArgs) -> Result<Outcome> {
    let ep = Endpoint::parse(&c.url)?;
    let limit = a.limit.clamp(1, 100) as i64;
    let admin = http::login(&ep, &c.admin_email, &c.admin_password).await?;
    if a.prepare_messages > 0 {
        prepare(&ep, a.prepare_messages).await?;
    }
    let targets = discover(&ep, &admin, limit, a.sample_chats.max(1)).await?;
    let stored: i64 = targets.iter().map(|t| t.newest - t.oldest).sum();
    eprintln!(
        "history: {} chats (message ids spanning {stored} in total), {} connections, {} messages a page",
        targets.len(),
        a.concurrency,
        limit
    );
    let targets = Arc::new(targets);
    let mut results = serde_json::Map::new();
    let mut rows = Vec::new();
    for (kind, older) in [("newest page", false), ("older page", true)] {
        let span = stats::CpuSpan::start(c.server_pid);
        let (hist, pages, errors) = phase(&ep, &admin, &targets, a, limit, older).await?;
        let cpu = span.finish();
        let rate = pages as f64 / a.duration;
        rows.push(row(&format!("{kind} p50"), ms(hist.p(0.5)), ""));
        rows.push(row(&format!("{kind} p99"), ms(hist.p(0.99)), "< 1 ms"));
        rows.push(row(&format!("{kind} p99.9"), ms(hist.p(0.999)), ""));
        rows.push(row(
            &format!("{kind} pages/s"),
            format!("{rate:.0}"),
            ">= 20,000",
        ));
        rows.push(row(
            &format!("{kind} errors"),
            errors.len().to_string(),
            "0",
        ));
        if let Some(busy) = cpu["server_cores_busy"].as_f64() {
            rows.push(row(
                &format!("{kind}: server CPU cores busy"),
                format!("{busy:.2}"),
                "",
            ));
        }
        results.insert(
            if older { "older_page" } else { "newest_page" }.to_owned(),
            json!({"latency": hist.summary(), "pages_per_s": stats::round1(rate), "pages": pages,
                "errors": errors.len(), "first_errors": errors.iter().take(10).collect::<Vec<_>>(), "cpu": cpu}),
        );
    }
    results.insert("chats".into(), json!(targets.len()));
    results.insert("message_id_span".into(), json!(stored));
    results.insert("concurrency".into(), json!(a.concurrency));
    results.insert("limit".into(), json!(limit));
    Ok(Outcome {
        title: format!(
            "history: {} chats, {} connections, {limit} a page",
            targets.len(),
            a.concurrency
        ),
        rows,
        results: Value::Object(results),
    })
}

/// A new chat with `n` messages, sent over a socket, each acknowledged.
async fn prepare(ep: &Endpoint, n: usize) -> Result<()> {
    let g = http::create_guests(ep, 1, 1)
        .await?
        .pop()
        .ok_or_else(|| anyhow!("no guest"))?;
    let mut sock = ws::connect(ep, &g.token, http::next_spread()).await?;
    for i in 0..n {
        let cid = format!("hist-{i}");
        let quoted = format!("\"{cid}\"");
        ws::send_json(
            &mut sock,
            &ws::send_frame(g.chat_id, &format!("history message {i}"), &cid),
        )
        .await?;
        loop {
            let f = tokio::time::timeout(Duration::from_secs(30), ws::next_text(&mut sock))
                .await
                .map_err(|_| anyhow!("no ack within 30 s"))??
                .ok_or_else(|| anyhow!("socket closed"))?;
            if f.as_str().contains(&quoted) && f.as_str().contains("\"type\":\"ack\"") {
                break;
            }
            if f.as_str().contains("\"type\":\"error\"") {
                bail!("the server refused a send: {}", f.as_str());
            }
        }
    }
    ws::close(sock).await;
    Ok(())
}

/// Percent-encode a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The most recently active chats with at least three pages of events, and each one's
/// oldest and newest message id.
async fn discover(ep: &Endpoint, admin: &str, limit: i64, want: usize) -> Result<Vec<Target>> {
    let mut c = Conn::open(ep).await?;
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let path = match &cursor {
            Some(k) => format!("/api/chat/list?limit=100&cursor={}", encode(k)),
            None => "/api/chat/list?limit=100".to_owned(),
        };
        let v = c.json("GET", &path, Some(admin), None, &[200]).await?;
        for ch in v["chats"].as_array().into_iter().flatten() {
            if ch["last_seq"].as_i64().unwrap_or(0) >= 3 * limit
                && let Some(id) = ch["chat_id"].as_i64()
            {
                ids.push(id);
            }
        }
        cursor = v["next_cursor"].as_str().map(str::to_owned);
        if ids.len() >= want || cursor.is_none() {
            break;
        }
    }
    ids.truncate(want);
    if ids.is_empty() {
        bail!(
            "no chat has {} messages or more: seed with `nati-chat bench-seed` or pass --prepare-messages",
            3 * limit
        );
    }
    let mut out = Vec::new();
    for id in ids {
        let newest = c
            .json(
                "GET",
                &format!("/api/chat/messages?chat_id={id}&limit={limit}"),
                Some(admin),
                None,
                &[200],
            )
            .await?;
        let page = newest["messages"]
            .as_array()
            .ok_or_else(|| anyhow!("no messages array"))?;
        if page.len() as i64 != limit {
            bail!(
                "chat {id}: newest page has {} messages, not {limit}",
                page.len()
            );
        }
        let newest_id = page
            .last()
            .and_then(|m| m["message_id"].as_i64())
            .ok_or_else(|| anyhow!("no message_id"))?;
        let oldest = c
            .json(
                "GET",
                &format!("/api/chat/messages?chat_id={id}&after=0&limit=1"),
                Some(admin),
                None,
                &[200],
            )
            .await?;
        let oldest_id = oldest["messages"][0]["message_id"]
            .as_i64()
            .ok_or_else(|| anyhow!("chat {id}: no oldest message"))?;
        out.push(Target {
            chat: id,
            oldest: oldest_id,
            newest: newest_id,
        });
    }
    Ok(out)
}

async fn phase(
    ep: &Endpoint,
    admin: &str,
    targets: &Arc<Vec<Target>>,
    a: &HistoryArgs,
    limit: i64,
    older: bool,
) -> Result<(Hist, u64, Vec<String>)> {
    let start = Instant::now() + Duration::from_secs_f64(a.warmup);
    let end = start + Duration::from_secs_f64(a.duration);
    let mut tasks = Vec::new();
    for i in 0..a.concurrency.max(1) {
        let ep = ep.clone();
        let admin = admin.to_owned();
        let targets = targets.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Hist::default();
            let mut pages = 0u64;
            let mut errors = Vec::new();
            let mut rng = Rng::new(i as u64 + 7);
            let mut conn = Conn::open(&ep).await?;
            let mut checked = false;
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let t = targets[rng.below(targets.len() as u64) as usize];
                let path = if older {
                    // Anywhere from the second page back to the first message.
                    let lo = t.oldest + limit;
                    let hi = (t.newest - limit).max(lo + 1);
                    let before = lo + rng.below((hi - lo) as u64) as i64;
                    format!(
                        "/api/chat/messages?chat_id={}&before={before}&limit={limit}",
                        t.chat
                    )
                } else {
                    format!("/api/chat/messages?chat_id={}&limit={limit}", t.chat)
                };
                let t0 = Instant::now();
                let (status, body) = conn.call("GET", &path, Some(&admin), None).await?;
                let took = t0.elapsed();
                if status != 200 {
                    if errors.len() < 10 {
                        errors.push(format!(
                            "GET {path}: HTTP {status}: {}",
                            String::from_utf8_lossy(&body)
                        ));
                    }
                    continue;
                }
                if !checked {
                    // Once per connection: the page is what was asked for.
                    let v: Value = serde_json::from_slice(&body)?;
                    let n = v["messages"].as_array().map(Vec::len).unwrap_or(0);
                    if n == 0 {
                        errors.push(format!("GET {path}: an empty page"));
                    }
                    checked = true;
                }
                if t0 >= start {
                    hist.record(took);
                    pages += 1;
                }
            }
            anyhow::Ok((hist, pages, errors))
        }));
    }
    let mut hist = Hist::default();
    let mut pages = 0;
    let mut errors = Vec::new();
    for t in tasks {
        let (h, p, e) = t.await??;
        hist.merge(&h);
        pages += p;
        errors.extend(e);
    }
    Ok((hist, pages, errors))
}
