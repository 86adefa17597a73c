//! `throughput`: customers (guests, one chat each) and staff (admin sockets, writing into
//! random customer chats) send over WebSockets in a closed loop: each socket sends, waits
//! for its `ack` (the server acknowledges only after the message is stored), and sends the
//! next. Persisted messages/s are the acks that arrive inside the measured window.

use crate::http::{self, Endpoint};
use crate::stats::{self, Hist, Rng, Wire, ms, row};
use crate::worker::{Link, Workers, slices};
use crate::ws::{self, SockSpec};
use crate::{Common, Outcome};
use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

#[derive(clap::Args, Serialize, Deserialize, Clone, Debug)]
pub struct ThroughputArgs {
    /// Customer sockets (guests, each sending into its own chat).
    #[arg(long, default_value_t = 256)]
    pub customers: usize,
    /// Staff sockets (all of the admin account), sending into random customer chats.
    #[arg(long, default_value_t = 4)]
    pub staff: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Seconds of sending before the measured window opens.
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
}

pub async fn run(c: &Common, a: &ThroughputArgs) -> Result<Outcome> {
    let ep = Endpoint::parse(&c.url)?;
    let run = crate::run_id();
    eprintln!(
        "throughput: {} customers + {} staff sockets, {}s warm-up, {}s measured",
        a.customers, a.staff, a.warmup, a.duration
    );
    let guests = http::create_guests(&ep, a.customers.max(1), c.setup_concurrency).await?;
    let chats: Vec<i64> = guests.iter().map(|g| g.chat_id).collect();
    let mut specs: Vec<SockSpec> = guests
        .iter()
        .take(a.customers)
        .map(|g| SockSpec {
            token: g.token.clone(),
            chat_id: Some(g.chat_id),
        })
        .collect();
    if a.staff > 0 {
        let admin = http::login(&ep, &c.admin_email, &c.admin_password).await?;
        specs.extend((0..a.staff).map(|_| SockSpec {
            token: admin.clone(),
            chat_id: None,
        }));
    }
    let parts = slices(specs.len(), c.sockets_per_process);
    let mut w = Workers::spawn(parts.len()).await?;
    for (i, r) in parts.iter().enumerate() {
        w.send(
            i,
            &json!({"scenario": "throughput", "index": i, "run": run, "endpoint": ep,
                "specs": specs[r.clone()], "chats": chats, "warmup": a.warmup, "duration": a.duration,
                "concurrency": c.setup_concurrency}),
        )
        .await?;
    }
    w.recv_all().await?;
    let span = stats::CpuSpan::start(c.server_pid);
    w.send_all(&json!({"go": true})).await?;
    let done = w.recv_all().await?;
    let cpu = span.finish();
    let workers = w.len();
    w.finish().await?;

    let mut hist = Hist::default();
    let (mut window, mut total, mut frames, mut worker_cpu) = (0u64, 0u64, 0u64, 0.0);
    let mut errors: Vec<String> = Vec::new();
    for d in &done {
        hist.merge_wire(&serde_json::from_value::<Wire>(d["hist"].clone())?);
        window += d["acks_window"].as_u64().unwrap_or(0);
        total += d["acks_total"].as_u64().unwrap_or(0);
        frames += d["frames"].as_u64().unwrap_or(0);
        worker_cpu += d["cpu_s"].as_f64().unwrap_or(0.0);
        if let Some(e) = d["errors"].as_array() {
            errors.extend(e.iter().filter_map(|x| x.as_str().map(str::to_owned)));
        }
    }
    let rate = window as f64 / a.duration;
    let s = hist.summary();
    let rows = vec![
        row(
            "persisted messages/s",
            format!("{rate:.0}"),
            ">= 30,000 (stretch 50,000)",
        ),
        row("ack latency p50", ms(hist.p(0.5)), ""),
        row("ack latency p99", ms(hist.p(0.99)), "< 10 ms"),
        row("ack latency p99.9", ms(hist.p(0.999)), ""),
        row("ack latency max", ms(hist.p(1.0)), ""),
        row("acks in window / total", format!("{window} / {total}"), ""),
        row("errors", errors.len().to_string(), "0"),
        row(
            "sockets (customers+staff) / processes",
            format!("{}+{} / {workers}", a.customers, a.staff),
            "",
        ),
        row(
            "server CPU cores busy",
            cpu["server_cores_busy"]
                .as_f64()
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "n/a (no --server-pid)".into()),
            "",
        ),
        row(
            "server CPU per 1,000 messages stored",
            per_1000(
                cpu["server_cpu_s"].as_f64().map(|s| s * 1000.0),
                total,
                "ms",
            ),
            "",
        ),
        row(
            "server bytes written per message stored",
            per_1000(
                cpu["server_write_bytes"].as_f64().map(|b| b / 1000.0),
                total,
                "B",
            ),
            "",
        ),
    ];
    Ok(Outcome {
        title: format!(
            "throughput: {} customers + {} staff, {}s",
            a.customers, a.staff, a.duration
        ),
        rows,
        results: json!({
            "persisted_messages_per_s": stats::round1(rate),
            "ack_latency": s,
            "acks_in_window": window,
            "acks_total": total,
            "frames_received": frames,
            "errors": errors.len(),
            "first_errors": errors.iter().take(10).collect::<Vec<_>>(),
            "worker_processes": workers,
            "cpu": cpu,
            "bench_workers_cpu_s": stats::round3(worker_cpu),
        }),
    })
}

/// `amount` (measured over the run) per 1,000 of `count`, or "n/a".
fn per_1000(amount: Option<f64>, count: u64, unit: &str) -> String {
    match amount {
        Some(a) if count > 0 => format!("{:.1} {unit}", a * 1000.0 / count as f64),
        _ => "n/a (no --server-pid)".into(),
    }
}

struct SockResult {
    hist: Hist,
    window: u64,
    total: u64,
    frames: u64,
    error: Option<String>,
}

pub async fn worker(job: &Value, link: &mut Link) -> Result<()> {
    let ep: Endpoint = serde_json::from_value(job["endpoint"].clone())?;
    let specs: Vec<SockSpec> = serde_json::from_value(job["specs"].clone())?;
    let chats: Vec<i64> = serde_json::from_value(job["chats"].clone())?;
    let index = job["index"].as_u64().unwrap_or(0) as usize;
    let run = job["run"].as_str().unwrap_or("r").to_owned();
    let warmup = Duration::from_secs_f64(job["warmup"].as_f64().unwrap_or(0.0));
    let duration = Duration::from_secs_f64(job["duration"].as_f64().unwrap_or(1.0));
    let conc = job["concurrency"].as_u64().unwrap_or(64) as usize;
    let sockets = ws::connect_all(&ep, &specs, conc, index * 100_000).await?;
    link.send(&json!({"ready": sockets.len()})).await?;
    link.recv().await?;
    let cpu0 = crate::worker::my_cpu();
    let start = Instant::now() + warmup;
    let end = start + duration;
    let chats = std::sync::Arc::new(chats);
    let mut tasks = Vec::new();
    for (i, (sock, spec)) in sockets.into_iter().zip(specs).enumerate() {
        let chats = chats.clone();
        let run = run.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = SockResult {
                hist: Hist::default(),
                window: 0,
                total: 0,
                frames: 0,
                error: None,
            };
            let mut rng = Rng::new((index * 100_000 + i) as u64 + 1);
            if let Err(e) = one_socket(
                sock,
                spec.chat_id,
                &chats,
                &mut rng,
                &run,
                (index, i),
                start,
                end,
                &mut r,
            )
            .await
            {
                r.error = Some(format!("{e:#}"));
            }
            r
        }));
    }
    let mut hist = Hist::default();
    let (mut window, mut total, mut frames) = (0, 0, 0);
    let mut errors = Vec::new();
    for t in tasks {
        let r = t.await?;
        hist.merge(&r.hist);
        window += r.window;
        total += r.total;
        frames += r.frames;
        errors.extend(r.error);
    }
    link.send(
        &json!({"hist": hist.to_wire(), "acks_window": window, "acks_total": total,
        "frames": frames, "errors": errors, "cpu_s": crate::worker::my_cpu() - cpu0}),
    )
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn one_socket(
    mut sock: ws::Ws,
    own_chat: Option<i64>,
    chats: &[i64],
    rng: &mut Rng,
    run: &str,
    (w, s): (usize, usize),
    start: Instant,
    end: Instant,
    r: &mut SockResult,
) -> Result<()> {
    // Bounded: stop sending at `end` (after at least one acknowledged message, so a slow
    // server still shows every socket works), and never later than 60 s after it.
    let hard_end = end + Duration::from_secs(60);
    let mut n: u64 = 0;
    loop {
        let now = Instant::now();
        if (now >= end && n > 0) || now >= hard_end {
            break;
        }
        let chat = match own_chat {
            Some(c) => c,
            None => *chats
                .get(rng.below(chats.len() as u64) as usize)
                .ok_or_else(|| anyhow!("no chats to write into"))?,
        };
        let cid = format!("tp-{run}-{w}-{s}-{n}");
        let text = format!("throughput message {n} from socket {w}.{s}");
        let quoted = format!("\"{cid}\"");
        let t0 = Instant::now();
        ws::send_json(&mut sock, &ws::send_frame(chat, &text, &cid)).await?;
        loop {
            let f = tokio::time::timeout_at(t0 + Duration::from_secs(30), ws::next_text(&mut sock))
                .await
                .map_err(|_| anyhow!("no ack within 30 s"))??
                .ok_or_else(|| anyhow!("socket closed while waiting for an ack"))?;
            r.frames += 1;
            let f = f.as_str();
            if f.contains(&quoted) {
                if f.contains("\"type\":\"ack\"") {
                    break;
                }
                if f.contains("\"type\":\"error\"") {
                    return Err(anyhow!("server refused a send: {f}"));
                }
            }
        }
        let done = Instant::now();
        r.total += 1;
        if done >= start && done < end {
            r.window += 1;
            r.hist.record(done - t0);
        }
        n += 1;
    }
    ws::close(sock).await;
    Ok(())
}
