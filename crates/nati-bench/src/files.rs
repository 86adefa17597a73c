//! `files`: upload and download attachments as the widget and the panels do
//! (`POST /api/chat/attachments`, the file as the body; `GET /api/chat/attachments/{id}`),
//! over `--concurrency` guests, each with its own chat and keep-alive connection. Files
//! are PDFs of `--size-kib` random bytes (random: nothing compresses them). Reports MB/s
//! (of the whole phase; uploading also sends each file in a message) and time per file each way and, with `--server-pid`, the server's resident memory
//! before, at its peak (sampled every 10 ms) and after: the server streams files to and
//! from its storage, so its peak should grow by far less than the bytes in flight.

use crate::http::{self, Conn, Endpoint};
use crate::stats::{self, Hist, Rng, ms, row};
use crate::{Common, Outcome};
use anyhow::{Result, bail};
use hyper::body::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args, Serialize, Deserialize, Clone, Debug)]
pub struct FilesArgs {
    /// Files uploaded (and then downloaded) in all.
    #[arg(long, default_value_t = 12)]
    pub files: usize,
    /// Size of each file in KiB (10240: the default 10 MB limit).
    #[arg(long, default_value_t = 10240)]
    pub size_kib: usize,
    /// Guests uploading at once.
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
}

fn file(size: usize, seed: u64) -> Bytes {
    let mut rng = Rng::new(seed);
    let mut v = b"%PDF-1.4\n".to_vec();
    while v.len() < size {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(size);
    Bytes::from(v)
}

/// Peak resident memory of the server while the returned flag stays false.
fn sample_peak(pid: Option<u32>) -> (Arc<AtomicBool>, Arc<AtomicU64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    if let Some(pid) = pid {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(k) = stats::rss_kib(pid) {
                    peak.fetch_max(k, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
    }
    (stop, peak)
}

pub async fn run(c: &Common, a: &FilesArgs) -> Result<Outcome> {
    let ep = Endpoint::parse(&c.url)?;
    let size = a.size_kib.max(1) * 1024;
    let conc = a.concurrency.clamp(1, a.files.max(1));
    let guests = http::create_guests(&ep, conc, conc).await?;
    let per = a.files.div_ceil(conc);
    let rss0 = c.server_pid.and_then(stats::rss_kib);
    eprintln!(
        "files: {} files of {} KiB, {conc} at once",
        per * conc,
        a.size_kib
    );

    // Upload.
    let (stop, peak_up) = sample_peak(c.server_pid);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for (g, guest) in guests.iter().enumerate() {
        let (ep, guest) = (ep.clone(), guest.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&ep).await?;
            let mut hist = Hist::default();
            let mut ids = Vec::new();
            for i in 0..per {
                let body = file(size, (g * 1000 + i) as u64 + 1);
                let path = format!(
                    "/api/chat/attachments?chat_id={}&client_id=bench-{g}-{i}&name=bench-{i}.pdf",
                    guest.chat_id
                );
                let t = Instant::now();
                let (st, answer) = conn.post_bytes(&path, &guest.token, body).await?;
                hist.record(t.elapsed());
                if st != 201 {
                    bail!("upload: HTTP {st}: {}", String::from_utf8_lossy(&answer));
                }
                let v: Value = serde_json::from_slice(&answer)?;
                let id = v["id"].as_str().unwrap_or_default().to_owned();
                // Sent, as a person would (one file a message: the per-message limit is
                // one file's), so the file is the chat's.
                let send = json!({"chat_id": guest.chat_id, "attachments": [id]});
                conn.json(
                    "POST",
                    "/api/chat/send_message",
                    Some(&guest.token),
                    Some(&send),
                    &[201],
                )
                .await?;
                ids.push(id);
            }
            Ok::<_, anyhow::Error>((hist, ids))
        }));
    }
    let mut up = Hist::default();
    let mut all = Vec::new();
    for (t, guest) in tasks.into_iter().zip(guests.iter()) {
        let (h, ids) = t.await??;
        up.merge(&h);
        all.extend(ids.into_iter().map(|id| (guest.clone(), id)));
    }
    let up_secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let rss_after_up = c.server_pid.and_then(stats::rss_kib);

    // Download, each guest its own files.
    let (stop, peak_down) = sample_peak(c.server_pid);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for chunk in all.chunks(per) {
        let (ep, chunk) = (ep.clone(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&ep).await?;
            let mut hist = Hist::default();
            for (guest, id) in chunk {
                let t = Instant::now();
                let (st, n) = conn
                    .get_counting(&format!("/api/chat/attachments/{id}"), &guest.token)
                    .await?;
                hist.record(t.elapsed());
                if st != 200 || n != size as u64 {
                    bail!("download {id}: HTTP {st}, {n} of {size} bytes");
                }
            }
            Ok::<_, anyhow::Error>(hist)
        }));
    }
    let mut down = Hist::default();
    for t in tasks {
        down.merge(&t.await??);
    }
    let down_secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let rss_end = c.server_pid.and_then(stats::rss_kib);

    let n = all.len();
    let mb = (n * size) as f64 / 1e6;
    let up_mbs = mb / up_secs;
    let down_mbs = mb / down_secs;
    let kib = |v: Option<u64>| {
        v.map(|k| format!("{:.1} MB", k as f64 / 1024.0))
            .unwrap_or_else(|| "n/a (no --server-pid)".into())
    };
    let peak = |p: &AtomicU64| Some(p.load(Ordering::Relaxed)).filter(|k| *k > 0);
    let rows = vec![
        row(
            "upload",
            format!("{up_mbs:.1} MB/s ({n} files, {mb:.1} MB)"),
            "",
        ),
        row(
            "upload per file p50 / p99",
            format!("{} / {}", ms(up.p(0.5)), ms(up.p(0.99))),
            "",
        ),
        row("download", format!("{down_mbs:.1} MB/s"), ""),
        row(
            "download per file p50 / p99",
            format!("{} / {}", ms(down.p(0.5)), ms(down.p(0.99))),
            "",
        ),
        row("server RSS before", kib(rss0), ""),
        row("server RSS peak uploading", kib(peak(&peak_up)), ""),
        row("server RSS peak downloading", kib(peak(&peak_down)), ""),
        row("server RSS after", kib(rss_end), ""),
    ];
    let results = json!({
        "files": n,
        "file_bytes": size,
        "concurrency": conc,
        "upload_mb_per_s": stats::round1(up_mbs),
        "download_mb_per_s": stats::round1(down_mbs),
        "upload_ms": up.summary(),
        "download_ms": down.summary(),
        "server_rss_kib_before": rss0,
        "server_rss_kib_peak_upload": peak(&peak_up),
        "server_rss_kib_after_upload": rss_after_up,
        "server_rss_kib_peak_download": peak(&peak_down),
        "server_rss_kib_after": rss_end,
        "errors": 0,
    });
    Ok(Outcome {
        title: format!("files: {n} × {} KiB, {conc} at once", a.size_kib),
        rows,
        results,
    })
}
