//! `fanout`: a busy admin desk — N admin sockets (spread over a few admin accounts, each
//! account holding many sockets) watch every chat. A customer sends one message per
//! round; every admin socket must get its `message.created`. Per round, the time from the
//! send until the *last* socket has it is the number that counts.

use crate::http::{self, Conn, Endpoint};
use crate::stats::{self, Hist, Wire, ms, row};
use crate::worker::{Link, Workers, slices};
use crate::ws::{self, SockSpec};
use crate::{Common, Outcome};
use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

#[derive(clap::Args, Serialize, Deserialize, Clone, Debug)]
pub struct FanoutArgs {
    /// Admin sockets watching.
    #[arg(long, default_value_t = 2000)]
    pub sockets: usize,
    /// Admin accounts the sockets belong to (extra ones are created through the API).
    #[arg(long, default_value_t = 10)]
    pub admin_accounts: usize,
    /// Messages sent, one per round.
    #[arg(long, default_value_t = 200)]
    pub rounds: usize,
    /// Milliseconds between rounds.
    #[arg(long, default_value_t = 50)]
    pub interval_ms: u64,
}

pub async fn run(c: &Common, a: &FanoutArgs) -> Result<Outcome> {
    let ep = Endpoint::parse(&c.url)?;
    let run = crate::run_id();
    if a.sockets == 0 || a.rounds == 0 {
        bail!("--sockets and --rounds must be positive");
    }
    eprintln!(
        "fanout: {} admin sockets over {} accounts, {} rounds every {} ms",
        a.sockets, a.admin_accounts, a.rounds, a.interval_ms
    );
    let admin = http::login(&ep, &c.admin_email, &c.admin_password).await?;
    let mut tokens = vec![admin.clone()];
    let mut conn = Conn::open(&ep).await?;
    for j in 1..a.admin_accounts.max(1) {
        let email = format!("bench-admin-{run}-{j}@nati.test");
        let password = format!("bench-{run}-password");
        conn.json(
            "POST",
            "/api/admin/accounts",
            Some(&admin),
            Some(&json!({"role": "admin", "email": email, "name": format!("Bench Admin {j}"), "password": password})),
            &[200, 201],
        )
        .await?;
        tokens.push(http::login(&ep, &email, &password).await?);
    }
    let specs: Vec<SockSpec> = (0..a.sockets)
        .map(|i| SockSpec {
            token: tokens[i % tokens.len()].clone(),
            chat_id: None,
        })
        .collect();
    let guest = http::create_guests(&ep, 1, 1)
        .await?
        .pop()
        .ok_or_else(|| anyhow!("no guest"))?;
    let mut sender = ws::connect(&ep, &guest.token, http::next_spread()).await?;

    let parts = slices(specs.len(), c.sockets_per_process);
    let mut w = Workers::spawn(parts.len()).await?;
    let window = a.rounds as f64 * a.interval_ms as f64 / 1000.0;
    for (i, r) in parts.iter().enumerate() {
        w.send(
            i,
            &json!({"scenario": "fanout", "index": i, "run": run, "endpoint": ep,
                "specs": specs[r.clone()], "rounds": a.rounds, "window_s": window,
                "concurrency": c.setup_concurrency}),
        )
        .await?;
    }
    w.recv_all().await?;
    // Let the sockets' opening frames (ready, bell, presence) pass.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let span = stats::CpuSpan::start(c.server_pid);
    w.send_all(&json!({"go": true})).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut acks = Hist::default();
    let t0 = Instant::now();
    for r in 0..a.rounds {
        let at = t0 + Duration::from_millis(a.interval_ms * r as u64);
        tokio::time::sleep_until(at).await;
        let cid = format!("fo-{run}-{r}");
        let quoted = format!("\"{cid}\"");
        let text = format!("fo {run} {r} {}", stats::wall_ns());
        let sent = Instant::now();
        ws::send_json(&mut sender, &ws::send_frame(guest.chat_id, &text, &cid)).await?;
        loop {
            let f = tokio::time::timeout(Duration::from_secs(30), ws::next_text(&mut sender))
                .await
                .map_err(|_| anyhow!("no ack within 30 s"))??
                .ok_or_else(|| anyhow!("the sender's socket closed"))?;
            if f.as_str().contains(&quoted) && f.as_str().contains("\"type\":\"ack\"") {
                break;
            }
            if f.as_str().contains("\"type\":\"error\"") {
                bail!("the server refused a send: {}", f.as_str());
            }
        }
        acks.record(sent.elapsed());
    }
    let done = w.recv_all().await?;
    let cpu = span.finish();
    let workers = w.len();
    w.finish().await?;
    ws::close(sender).await;

    let mut last = vec![0u64; a.rounds];
    let mut count = vec![0u64; a.rounds];
    let mut all = Hist::default();
    let mut errors: Vec<String> = Vec::new();
    let mut worker_cpu = 0.0;
    for d in &done {
        worker_cpu += d["cpu_s"].as_f64().unwrap_or(0.0);
        all.merge_wire(&serde_json::from_value::<Wire>(d["hist"].clone())?);
        let m: Vec<u64> = serde_json::from_value(d["max_ns"].clone())?;
        let n: Vec<u64> = serde_json::from_value(d["count"].clone())?;
        for r in 0..a.rounds {
            last[r] = last[r].max(m.get(r).copied().unwrap_or(0));
            count[r] += n.get(r).copied().unwrap_or(0);
        }
        if let Some(e) = d["errors"].as_array() {
            errors.extend(e.iter().filter_map(|x| x.as_str().map(str::to_owned)));
        }
    }
    let mut last_hist = Hist::default();
    let mut incomplete = 0;
    for r in 0..a.rounds {
        if count[r] == a.sockets as u64 {
            last_hist.record_ns(last[r]);
        } else {
            incomplete += 1;
        }
    }
    let rows = vec![
        row("last delivery p50", ms(last_hist.p(0.5)), ""),
        row("last delivery p99", ms(last_hist.p(0.99)), "< 20 ms"),
        row("last delivery max", ms(last_hist.p(1.0)), ""),
        row("any delivery p50", ms(all.p(0.5)), ""),
        row("any delivery p99", ms(all.p(0.99)), ""),
        row(
            "send -> ack p50 / p99 (stored)",
            format!("{} / {}", ms(acks.p(0.5)), ms(acks.p(0.99))),
            "",
        ),
        row(
            "rounds complete",
            format!("{} / {}", a.rounds - incomplete, a.rounds),
            "all",
        ),
        row("errors", errors.len().to_string(), "0"),
        row(
            "server CPU cores busy",
            cpu["server_cores_busy"]
                .as_f64()
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "n/a (no --server-pid)".into()),
            "",
        ),
        row(
            "sockets / accounts / processes",
            format!("{} / {} / {workers}", a.sockets, tokens.len()),
            "",
        ),
    ];
    Ok(Outcome {
        title: format!("fanout: {} admin sockets, {} rounds", a.sockets, a.rounds),
        rows,
        results: json!({
            "last_delivery": last_hist.summary(),
            "any_delivery": all.summary(),
            "send_to_ack": acks.summary(),
            "rounds": a.rounds,
            "rounds_incomplete": incomplete,
            "admin_accounts": tokens.len(),
            "errors": errors.len(),
            "first_errors": errors.iter().take(10).collect::<Vec<_>>(),
            "worker_processes": workers,
            "cpu": cpu,
            "bench_workers_cpu_s": stats::round3(worker_cpu),
        }),
    })
}

pub async fn worker(job: &Value, link: &mut Link) -> Result<()> {
    let ep: Endpoint = serde_json::from_value(job["endpoint"].clone())?;
    let specs: Vec<SockSpec> = serde_json::from_value(job["specs"].clone())?;
    let index = job["index"].as_u64().unwrap_or(0) as usize;
    let run = job["run"].as_str().unwrap_or("r").to_owned();
    let rounds = job["rounds"].as_u64().unwrap_or(1) as usize;
    let window = job["window_s"].as_f64().unwrap_or(10.0);
    let conc = job["concurrency"].as_u64().unwrap_or(64) as usize;
    let socks = ws::connect_all(&ep, &specs, conc, index * 100_000).await?;
    link.send(&json!({"ready": socks.len()})).await?;
    link.recv().await?;
    let cpu0 = crate::worker::my_cpu();
    let deadline = Instant::now() + Duration::from_secs_f64(window + 30.0);
    let pat = format!("\"fo {run} ");
    let mut tasks = Vec::new();
    for mut sock in socks {
        let pat = pat.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = vec![0u64; rounds];
            let mut seen = 0;
            let r: Result<()> = async {
                while seen < rounds {
                    let f = tokio::time::timeout_at(deadline, ws::next_text(&mut sock))
                        .await
                        .map_err(|_| anyhow!("saw {seen} of {rounds} rounds"))??
                        .ok_or_else(|| anyhow!("socket closed"))?;
                    let now = stats::wall_ns();
                    let f = f.as_str();
                    let Some(at) = f.find(&pat) else { continue };
                    let mut it = f[at + pat.len()..]
                        .split(|c: char| !c.is_ascii_digit())
                        .filter(|s| !s.is_empty());
                    let round: usize = it.next().and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
                    let ns: u64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(now);
                    if round < rounds && got[round] == 0 {
                        got[round] = now.saturating_sub(ns).max(1);
                        seen += 1;
                    }
                }
                Ok(())
            }
            .await;
            ws::close(sock).await;
            (got, r.err().map(|e| format!("{e:#}")))
        }));
    }
    let mut max_ns = vec![0u64; rounds];
    let mut count = vec![0u64; rounds];
    let mut hist = Hist::default();
    let mut errors = Vec::new();
    for t in tasks {
        let (got, err) = t.await?;
        for (r, &ns) in got.iter().enumerate() {
            if ns > 0 {
                max_ns[r] = max_ns[r].max(ns);
                count[r] += 1;
                hist.record_ns(ns);
            }
        }
        errors.extend(err);
    }
    link.send(
        &json!({"max_ns": max_ns, "count": count, "hist": hist.to_wire(), "errors": errors,
        "cpu_s": crate::worker::my_cpu() - cpu0}),
    )
    .await?;
    Ok(())
}
