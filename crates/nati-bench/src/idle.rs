//! `idle`: open as many authenticated sockets as asked, spread over worker processes, as
//! fast as they open (each counts once `ready` arrived); report connects/s and, with
//! `--server-pid`, the server's resident memory per socket (VmRSS before and after).

use crate::http::{self, Endpoint};
use crate::stats::{self, Hist, Wire, ms, row};
use crate::worker::{Link, Workers, slices};
use crate::ws::{self, SockSpec};
use crate::{Common, Outcome};
use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

#[derive(clap::ValueEnum, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IdleRole {
    /// Each socket is its own guest (customer), created before the clock starts.
    Guest,
    /// Every socket is the same signed-in admin (one login, many panels).
    Admin,
}

#[derive(clap::Args, Serialize, Deserialize, Clone, Debug)]
pub struct IdleArgs {
    /// Sockets to open.
    #[arg(long, default_value_t = 19_000)]
    pub sockets: usize,
    /// Who the sockets belong to.
    #[arg(long, value_enum, default_value_t = IdleRole::Guest)]
    pub role: IdleRole,
    /// Connections being opened at once, per worker process.
    #[arg(long, default_value_t = 128)]
    pub connect_concurrency: usize,
    /// Seconds to hold the sockets open (idle) after the last one opened.
    #[arg(long, default_value_t = 5.0)]
    pub hold: f64,
}

pub async fn run(c: &Common, a: &IdleArgs) -> Result<Outcome> {
    let ep = Endpoint::parse(&c.url)?;
    if a.sockets == 0 {
        bail!("--sockets must be positive");
    }
    eprintln!(
        "idle: {} {:?} sockets, {} connecting at once per process",
        a.sockets, a.role, a.connect_concurrency
    );
    let specs: Vec<SockSpec> = match a.role {
        IdleRole::Guest => {
            let t = Instant::now();
            let g = http::create_guests(&ep, a.sockets, c.setup_concurrency).await?;
            eprintln!(
                "  {} guests created in {:.1}s",
                g.len(),
                t.elapsed().as_secs_f64()
            );
            g.into_iter()
                .map(|g| SockSpec {
                    token: g.token,
                    chat_id: Some(g.chat_id),
                })
                .collect()
        }
        IdleRole::Admin => {
            let t = http::login(&ep, &c.admin_email, &c.admin_password).await?;
            vec![
                SockSpec {
                    token: t,
                    chat_id: None
                };
                a.sockets
            ]
        }
    };
    let parts = slices(specs.len(), c.sockets_per_process);
    let mut w = Workers::spawn(parts.len()).await?;
    for (i, r) in parts.iter().enumerate() {
        w.send(
            i,
            &json!({"scenario": "idle", "index": i, "endpoint": ep, "specs": specs[r.clone()],
                "concurrency": a.connect_concurrency}),
        )
        .await?;
    }
    w.recv_all().await?;
    // Let the server settle after creating the guests, then take the baseline.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss0 = c.server_pid.and_then(stats::rss_kib);
    let span = stats::CpuSpan::start(c.server_pid);
    let t0 = Instant::now();
    w.send_all(&json!({"go": true})).await?;
    let opened = w.recv_all().await?;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = span.finish();
    let mut hist = Hist::default();
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut errors: Vec<String> = Vec::new();
    for o in &opened {
        hist.merge_wire(&serde_json::from_value::<Wire>(o["hist"].clone())?);
        ok += o["opened"].as_u64().unwrap_or(0);
        failed += o["failed"].as_u64().unwrap_or(0);
        if let Some(e) = o["errors"].as_array() {
            errors.extend(e.iter().filter_map(|x| x.as_str().map(str::to_owned)));
        }
    }
    // Memory once every socket is open and quiet.
    tokio::time::sleep(Duration::from_secs_f64(a.hold.clamp(0.0, 600.0) / 2.0)).await;
    let rss1 = c.server_pid.and_then(stats::rss_kib);
    tokio::time::sleep(Duration::from_secs_f64(a.hold.clamp(0.0, 600.0) / 2.0)).await;
    let rss_hold = c.server_pid.and_then(stats::rss_kib);
    w.send_all(&json!({"close": true})).await?;
    let closed = w.recv_all().await?;
    let still_open: u64 = closed
        .iter()
        .map(|c| c["still_open"].as_u64().unwrap_or(0))
        .sum();
    let workers = w.len();
    w.finish().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after_close = c.server_pid.and_then(stats::rss_kib);

    let rate = ok as f64 / elapsed.max(1e-9);
    let per_socket_kb = match (rss0, rss1) {
        (Some(a0), Some(a1)) if ok > 0 => Some(a1.saturating_sub(a0) as f64 * 1.024 / ok as f64),
        _ => None,
    };
    let rows = vec![
        row(
            "sockets open / asked",
            format!("{ok} / {}", a.sockets),
            "19,000",
        ),
        row("authenticated connects/s", format!("{rate:.0}"), ">= 5,000"),
        row(
            "server memory per idle socket",
            per_socket_kb
                .map(|k| format!("{k:.1} KB"))
                .unwrap_or_else(|| "n/a (no --server-pid)".into()),
            "<= 12 KB",
        ),
        row(
            "server VmRSS before / with sockets",
            match (rss0, rss1) {
                (Some(a0), Some(a1)) => format!("{} / {} MiB", a0 / 1024, a1 / 1024),
                _ => "n/a".into(),
            },
            "",
        ),
        row("connect p50", ms(hist.p(0.5)), ""),
        row("connect p99", ms(hist.p(0.99)), ""),
        row("connect failures", failed.to_string(), "0"),
        row(
            "sockets still open at the end of the hold",
            format!("{still_open}"),
            "all",
        ),
        row(
            "bench processes",
            format!("{workers} (<= {} sockets each)", c.sockets_per_process),
            "",
        ),
    ];
    Ok(Outcome {
        title: format!("idle: {} {:?} sockets", a.sockets, a.role).to_lowercase(),
        rows,
        results: json!({
            "role": a.role,
            "sockets_opened": ok,
            "connect_failures": failed,
            "first_errors": errors.iter().take(10).collect::<Vec<_>>(),
            "connect_seconds": stats::round3(elapsed),
            "connects_per_s": stats::round1(rate),
            "connect_latency": hist.summary(),
            "server_rss_kib_before": rss0,
            "server_rss_kib_open": rss1,
            "server_rss_kib_end_of_hold": rss_hold,
            "server_rss_kib_after_close": rss_after_close,
            "server_kb_per_socket": per_socket_kb.map(stats::round1),
            "still_open_at_end": still_open,
            "worker_processes": workers,
            "cpu_during_connect": cpu,
        }),
    })
}

pub async fn worker(job: &Value, link: &mut Link) -> Result<()> {
    let ep: Endpoint = serde_json::from_value(job["endpoint"].clone())?;
    let specs: Vec<SockSpec> = serde_json::from_value(job["specs"].clone())?;
    let index = job["index"].as_u64().unwrap_or(0) as usize;
    let conc = job["concurrency"].as_u64().unwrap_or(128) as usize;
    link.send(&json!({"ready": true})).await?;
    link.recv().await?;
    let sem = Arc::new(Semaphore::new(conc.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (open_tx, mut open_rx) = tokio::sync::mpsc::channel::<Result<Duration, String>>(1024);
    let mut tasks = Vec::with_capacity(specs.len());
    for (i, s) in specs.into_iter().enumerate() {
        let ep = ep.clone();
        let sem = sem.clone();
        let mut stop = stop_rx.clone();
        let open_tx = open_tx.clone();
        tasks.push(tokio::spawn(async move {
            let (sock, took) = {
                let Ok(_permit) = sem.acquire().await else {
                    return false;
                };
                let t = Instant::now();
                let r = ws::connect(&ep, &s.token, index * 100_000 + i).await;
                (r, t.elapsed())
            };
            let mut sock = match sock {
                Ok(sock) => {
                    let _ = open_tx.send(Ok(took)).await;
                    sock
                }
                Err(e) => {
                    let _ = open_tx.send(Err(format!("{e:#}"))).await;
                    return false;
                }
            };
            drop(open_tx);
            // Idle: read (which answers the server's pings) until told to close.
            let alive = loop {
                tokio::select! {
                    f = ws::next_text(&mut sock) => match f {
                        Ok(Some(_)) => continue,
                        _ => break false,
                    },
                    _ = stop.changed() => break true,
                }
            };
            ws::close(sock).await;
            alive
        }));
    }
    drop(open_tx);
    let mut hist = Hist::default();
    let (mut opened, mut failed) = (0u64, 0u64);
    let mut errors = Vec::new();
    let n = tasks.len();
    for _ in 0..n {
        match open_rx.recv().await {
            Some(Ok(d)) => {
                opened += 1;
                hist.record(d);
            }
            Some(Err(e)) => {
                failed += 1;
                if errors.len() < 10 {
                    errors.push(e);
                }
            }
            None => break,
        }
    }
    link.send(
        &json!({"opened": opened, "failed": failed, "hist": hist.to_wire(), "errors": errors}),
    )
    .await?;
    link.recv().await?;
    let _ = stop_tx.send(true);
    let mut still_open = 0u64;
    for t in tasks {
        if t.await? {
            still_open += 1;
        }
    }
    link.send(&json!({"still_open": still_open})).await?;
    Ok(())
}
