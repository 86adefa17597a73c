//! `latency`: N customer sockets are open (guests, one chat each); a fixed total rate of
//! messages is sent across them, round robin, open loop (the schedule does not wait for
//! the server). Each message carries its send instant (wall clock, nanoseconds) in its
//! text, so the latency is measured at whichever socket receives its `message.created`:
//! the admin desk's observer sockets (staff seeing a customer's message, the headline
//! number), and the sending customer's own socket (its copy of the stored event).

use crate::http::{self, Endpoint};
use crate::stats::{self, Hist, Wire, ms, row};
use crate::worker::{Link, Workers, slices};
use crate::ws::{self, SockSpec};
use crate::{Common, Outcome};
use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Args, Serialize, Deserialize, Clone, Debug)]
pub struct LatencyArgs {
    /// Open customer sockets the messages are spread over.
    #[arg(long, default_value_t = 1000)]
    pub sockets: usize,
    /// Messages per second, in total.
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// Admin sockets watching every chat (where the headline latency is measured).
    #[arg(long, default_value_t = 2)]
    pub observers: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Seconds of sending before the measured window opens.
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Connect the observers to this server instead (another node on the same
    /// database): the headline latency is then cross-node delivery.
    #[arg(long)]
    pub observer_url: Option<String>,
}

/// After the last send, how long deliveries may still take before they count as lost.
const DRAIN: Duration = Duration::from_secs(15);

pub async fn run(c: &Common, a: &LatencyArgs) -> Result<Outcome> {
    let ep = Endpoint::parse(&c.url)?;
    let run = crate::run_id();
    if a.sockets == 0 || a.rate <= 0.0 {
        bail!("--sockets and --rate must be positive");
    }
    eprintln!(
        "latency: {} customer sockets, {} msg/s, {} observers, {}s warm-up, {}s measured",
        a.sockets, a.rate, a.observers, a.warmup, a.duration
    );
    let obs_ep = match &a.observer_url {
        Some(u) => Endpoint::parse(u)?,
        None => ep.clone(),
    };
    let guests = http::create_guests(&ep, a.sockets, c.setup_concurrency).await?;
    let admin = if a.observers > 0 {
        Some(http::login(&obs_ep, &c.admin_email, &c.admin_password).await?)
    } else {
        None
    };
    let specs: Vec<SockSpec> = guests
        .iter()
        .map(|g| SockSpec {
            token: g.token.clone(),
            chat_id: Some(g.chat_id),
        })
        .collect();
    let parts = slices(
        specs.len(),
        c.sockets_per_process.saturating_sub(a.observers).max(1),
    );
    let mut w = Workers::spawn(parts.len()).await?;
    for (i, r) in parts.iter().enumerate() {
        let observers: Vec<SockSpec> = (0..a.observers)
            .filter(|j| j % parts.len() == i)
            .map(|_| SockSpec {
                token: admin.clone().unwrap_or_default(),
                chat_id: None,
            })
            .collect();
        let share = a.rate * r.len() as f64 / specs.len() as f64;
        w.send(
            i,
            &json!({"scenario": "latency", "index": i, "run": run, "endpoint": ep, "observer_endpoint": obs_ep,
                "specs": specs[r.clone()], "observers": observers, "rate": share,
                "warmup": a.warmup, "duration": a.duration, "concurrency": c.setup_concurrency}),
        )
        .await?;
    }
    w.recv_all().await?;
    let span = stats::CpuSpan::start(c.server_pid);
    w.send_all(&json!({"go": true})).await?;
    let sent = w.recv_all().await?;
    let total: u64 = sent.iter().map(|s| s["sent"].as_u64().unwrap_or(0)).sum();
    let measured: u64 = sent
        .iter()
        .map(|s| s["sent_measured"].as_u64().unwrap_or(0))
        .sum();
    let skipped: u64 = sent
        .iter()
        .map(|s| s["skipped"].as_u64().unwrap_or(0))
        .sum();
    w.send_all(&json!({"expected": total})).await?;
    let done = w.recv_all().await?;
    let cpu = span.finish();
    let workers = w.len();
    w.finish().await?;

    let (mut obs, mut echo) = (Hist::default(), Hist::default());
    let (mut obs_n, mut echo_n, mut worker_cpu) = (0u64, 0u64, 0.0);
    let mut errors: Vec<String> = Vec::new();
    for d in &done {
        obs.merge_wire(&serde_json::from_value::<Wire>(d["observer_hist"].clone())?);
        echo.merge_wire(&serde_json::from_value::<Wire>(d["echo_hist"].clone())?);
        obs_n += d["observer_deliveries"].as_u64().unwrap_or(0);
        echo_n += d["echo_deliveries"].as_u64().unwrap_or(0);
        worker_cpu += d["cpu_s"].as_f64().unwrap_or(0.0);
        if let Some(e) = d["errors"].as_array() {
            errors.extend(e.iter().filter_map(|x| x.as_str().map(str::to_owned)));
        }
    }
    let expected_obs = total * a.observers as u64;
    let lost = expected_obs.saturating_sub(obs_n) + total.saturating_sub(echo_n);
    let achieved = measured as f64 / a.duration;
    let head = if a.observers > 0 { &obs } else { &echo };
    let rows = vec![
        row(
            "send rate achieved (msg/s)",
            format!("{achieved:.0} of {}", a.rate),
            "",
        ),
        row(
            "send-to-deliver p50 (admin desk)",
            ms(head.p(0.5)),
            "< 0.5 ms",
        ),
        row(
            "send-to-deliver p99 (admin desk)",
            ms(head.p(0.99)),
            "< 2 ms",
        ),
        row(
            "send-to-deliver p99.9 (admin desk)",
            ms(head.p(0.999)),
            "< 10 ms",
        ),
        row("send-to-deliver max (admin desk)", ms(head.p(1.0)), ""),
        row("same, at the sender's socket p50", ms(echo.p(0.5)), ""),
        row("same, at the sender's socket p99", ms(echo.p(0.99)), ""),
        row("same, at the sender's socket p99.9", ms(echo.p(0.999)), ""),
        row("deliveries lost", lost.to_string(), "0"),
        row("errors", errors.len().to_string(), "0"),
        row(
            "sockets / processes",
            format!("{}+{} / {workers}", a.sockets, a.observers),
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
    ];
    Ok(Outcome {
        title: format!(
            "latency: {} sockets, {} msg/s, {}s{}",
            a.sockets,
            a.rate,
            a.duration,
            if a.observer_url.is_some() {
                ", observers on the other node"
            } else {
                ""
            }
        ),
        rows,
        results: json!({
            "observers_on_other_node": a.observer_url.is_some(),
            "sent": total,
            "sent_measured": measured,
            "send_rate_achieved": stats::round1(achieved),
            "sends_skipped_socket_busy": skipped,
            "at_admin_desk": obs.summary(),
            "at_sender_socket": echo.summary(),
            "observer_deliveries": obs_n,
            "observer_deliveries_expected": expected_obs,
            "sender_deliveries": echo_n,
            "lost": lost,
            "errors": errors.len(),
            "first_errors": errors.iter().take(10).collect::<Vec<_>>(),
            "worker_processes": workers,
            "cpu": cpu,
            "bench_workers_cpu_s": stats::round3(worker_cpu),
        }),
    })
}

/// `("m" or "w" measured flag, send instant)` from a `message.created` frame of this run.
fn parse(frame: &str, pat: &str) -> Option<(bool, u64)> {
    let at = frame.find(pat)? + pat.len();
    let rest = frame.get(at..)?;
    let measured = rest.starts_with('m');
    let digits: &str = rest.get(2..)?.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((measured, digits.parse().ok()?))
}

struct Got {
    hist: Hist,
    n: u64,
    error: Option<String>,
}

pub async fn worker(job: &Value, link: &mut Link) -> Result<()> {
    let ep: Endpoint = serde_json::from_value(job["endpoint"].clone())?;
    let specs: Vec<SockSpec> = serde_json::from_value(job["specs"].clone())?;
    let observers: Vec<SockSpec> = serde_json::from_value(job["observers"].clone())?;
    let index = job["index"].as_u64().unwrap_or(0) as usize;
    let run = job["run"].as_str().unwrap_or("r").to_owned();
    let rate = job["rate"].as_f64().unwrap_or(1.0);
    let warmup = job["warmup"].as_f64().unwrap_or(0.0);
    let duration = job["duration"].as_f64().unwrap_or(1.0);
    let conc = job["concurrency"].as_u64().unwrap_or(64) as usize;
    let obs_ep: Endpoint = match job.get("observer_endpoint") {
        Some(v) if !v.is_null() => serde_json::from_value(v.clone())?,
        _ => ep.clone(),
    };
    let socks = ws::connect_all(&ep, &specs, conc, index * 100_000).await?;
    let obs_socks =
        ws::connect_all(&obs_ep, &observers, conc, index * 100_000 + specs.len()).await?;
    link.send(&json!({"ready": socks.len() + obs_socks.len()}))
        .await?;
    link.recv().await?;
    let cpu0 = crate::worker::my_cpu();
    let pat = format!("\"lt {run} ");
    let (exp_tx, exp_rx) = watch::channel::<Option<u64>>(None);

    let mut observers_t = Vec::new();
    for sock in obs_socks {
        let pat = pat.clone();
        let exp = exp_rx.clone();
        observers_t.push(tokio::spawn(observe(sock, pat, exp)));
    }
    let mut senders = Vec::new();
    let mut guests_t = Vec::new();
    for sock in socks {
        let (tx, rx) = mpsc::channel::<String>(64);
        senders.push(tx);
        guests_t.push(tokio::spawn(customer(sock, rx, pat.clone())));
    }

    // The open-loop schedule: every millisecond, send what is due by now.
    let t0 = Instant::now();
    let total = warmup + duration;
    let (mut k, mut measured, mut skipped) = (0u64, 0u64, 0u64);
    let n = senders.len().max(1) as u64;
    loop {
        let el = t0.elapsed().as_secs_f64();
        if el >= total {
            break;
        }
        let due = (el * rate) as u64;
        let m = el >= warmup;
        while k < due {
            let i = (k % n) as usize;
            let chat = specs[i].chat_id.unwrap_or(0);
            let text = format!(
                "lt {run} {} {}",
                if m { 'm' } else { 'w' },
                stats::wall_ns()
            );
            let frame = ws::send_frame(chat, &text, &format!("lt-{run}-{index}-{k}")).to_string();
            match senders[i].try_send(frame) {
                Ok(()) => {
                    if m {
                        measured += 1;
                    }
                }
                Err(_) => skipped += 1,
            }
            k += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(senders);
    link.send(&json!({"sent": k - skipped, "sent_measured": measured, "skipped": skipped}))
        .await?;
    let expected = link.recv().await?["expected"].as_u64().unwrap_or(0);
    let _ = exp_tx.send(Some(expected));

    let (mut echo, mut obs) = (Hist::default(), Hist::default());
    let (mut echo_n, mut obs_n) = (0u64, 0u64);
    let mut errors = Vec::new();
    for t in guests_t {
        let g = t.await?;
        echo.merge(&g.hist);
        echo_n += g.n;
        errors.extend(g.error);
    }
    for t in observers_t {
        let g = t.await?;
        obs.merge(&g.hist);
        obs_n += g.n;
        errors.extend(g.error);
    }
    link.send(
        &json!({"echo_hist": echo.to_wire(), "observer_hist": obs.to_wire(),
        "echo_deliveries": echo_n, "observer_deliveries": obs_n, "errors": errors,
        "cpu_s": crate::worker::my_cpu() - cpu0}),
    )
    .await?;
    Ok(())
}

/// A customer socket: sends what the schedule hands it, records its own messages coming
/// back as `message.created`; ends once every one of them came back (or after [`DRAIN`]).
async fn customer(mut sock: ws::Ws, mut rx: mpsc::Receiver<String>, pat: String) -> Got {
    let mut g = Got {
        hist: Hist::default(),
        n: 0,
        error: None,
    };
    let (mut sent, mut open) = (0u64, true);
    let mut deadline = Instant::now() + Duration::from_secs(24 * 3600);
    let r: Result<()> = async {
        loop {
            if !open && g.n >= sent {
                return Ok(());
            }
            tokio::select! {
                msg = rx.recv(), if open => match msg {
                    Some(f) => {
                        use futures_util::SinkExt;
                        sock.send(Message::Text(f.into())).await?;
                        sent += 1;
                    }
                    None => {
                        open = false;
                        deadline = Instant::now() + DRAIN;
                    }
                },
                f = ws::next_text(&mut sock) => {
                    let f = f?.ok_or_else(|| anyhow!("socket closed"))?;
                    if let Some((m, ns)) = parse(f.as_str(), &pat) {
                        g.n += 1;
                        if m {
                            g.hist.record_ns(stats::wall_ns().saturating_sub(ns));
                        }
                    }
                },
                _ = tokio::time::sleep_until(deadline), if !open => {
                    return Err(anyhow!("{} of {sent} own messages never came back", sent - g.n));
                }
            }
        }
    }
    .await;
    if let Err(e) = r {
        g.error = Some(format!("customer socket: {e:#}"));
    }
    ws::close(sock).await;
    g
}

/// An admin socket: sees every chat's messages; ends once it saw all of them.
async fn observe(mut sock: ws::Ws, pat: String, mut exp: watch::Receiver<Option<u64>>) -> Got {
    let mut g = Got {
        hist: Hist::default(),
        n: 0,
        error: None,
    };
    let mut deadline = Instant::now() + Duration::from_secs(24 * 3600);
    let r: Result<()> = async {
        loop {
            let want = *exp.borrow();
            if let Some(want) = want
                && g.n >= want
            {
                return Ok(());
            }
            tokio::select! {
                f = ws::next_text(&mut sock) => {
                    let f = f?.ok_or_else(|| anyhow!("socket closed"))?;
                    if let Some((m, ns)) = parse(f.as_str(), &pat) {
                        g.n += 1;
                        if m {
                            g.hist.record_ns(stats::wall_ns().saturating_sub(ns));
                        }
                    }
                },
                c = exp.changed() => {
                    if c.is_ok() {
                        deadline = Instant::now() + DRAIN;
                    } else {
                        return Ok(());
                    }
                },
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(anyhow!("observer saw {} messages, fewer than were sent", g.n));
                }
            }
        }
    }
    .await;
    if let Err(e) = r {
        g.error = Some(format!("observer socket: {e:#}"));
    }
    ws::close(sock).await;
    g
}
