//! `smoke`: every scenario with tiny sizes, a few seconds in all, so the tool cannot rot.
//! It fails on any error, lost delivery or missing answer — never on how fast anything
//! was. Sockets per process are kept tiny so the multi-process path runs too.

use crate::fanout::FanoutArgs;
use crate::history::HistoryArgs;
use crate::idle::{IdleArgs, IdleRole};
use crate::latency::LatencyArgs;
use crate::throughput::ThroughputArgs;
use crate::{Common, Outcome};
use anyhow::{Result, bail};
use serde_json::Value;

fn num(v: &Value, path: &[&str]) -> u64 {
    let mut v = v;
    for p in path {
        v = &v[*p];
    }
    v.as_u64().unwrap_or(u64::MAX)
}

fn check(name: &str, ok: bool, o: &Outcome) -> Result<()> {
    if !ok {
        bail!(
            "smoke: {name} failed: {}",
            serde_json::to_string(&o.results).unwrap_or_default()
        );
    }
    eprintln!("smoke: {name} ok");
    Ok(())
}

pub async fn run(c: &Common) -> Result<Vec<Outcome>> {
    let mut c = c.clone();
    c.sockets_per_process = c.sockets_per_process.min(5);
    c.setup_concurrency = c.setup_concurrency.min(8);
    let mut out = Vec::new();

    let o = crate::throughput::run(
        &c,
        &ThroughputArgs {
            customers: 6,
            staff: 2,
            duration: 1.0,
            warmup: 0.2,
        },
    )
    .await?;
    let r = &o.results;
    check(
        "throughput",
        num(r, &["errors"]) == 0
            && num(r, &["acks_total"]) >= 8
            && num(r, &["worker_processes"]) >= 2,
        &o,
    )?;
    out.push(o);

    let o = crate::latency::run(
        &c,
        &LatencyArgs {
            sockets: 12,
            rate: 60.0,
            observers: 2,
            duration: 1.0,
            warmup: 0.2,
            observer_url: None,
        },
    )
    .await?;
    let r = &o.results;
    check(
        "latency",
        num(r, &["errors"]) == 0 && num(r, &["lost"]) == 0 && num(r, &["sent"]) > 0,
        &o,
    )?;
    out.push(o);

    let o = crate::idle::run(
        &c,
        &IdleArgs {
            sockets: 20,
            role: IdleRole::Guest,
            connect_concurrency: 8,
            hold: 0.4,
        },
    )
    .await?;
    let r = &o.results;
    check(
        "idle (guests)",
        num(r, &["sockets_opened"]) == 20
            && num(r, &["connect_failures"]) == 0
            && num(r, &["still_open_at_end"]) == 20,
        &o,
    )?;
    out.push(o);

    let o = crate::idle::run(
        &c,
        &IdleArgs {
            sockets: 10,
            role: IdleRole::Admin,
            connect_concurrency: 8,
            hold: 0.2,
        },
    )
    .await?;
    let r = &o.results;
    check(
        "idle (admin)",
        num(r, &["sockets_opened"]) == 10 && num(r, &["still_open_at_end"]) == 10,
        &o,
    )?;
    out.push(o);

    let o = crate::fanout::run(
        &c,
        &FanoutArgs {
            sockets: 12,
            admin_accounts: 2,
            rounds: 5,
            interval_ms: 20,
        },
    )
    .await?;
    let r = &o.results;
    check(
        "fanout",
        num(r, &["errors"]) == 0 && num(r, &["rounds_incomplete"]) == 0,
        &o,
    )?;
    out.push(o);

    let o = crate::history::run(
        &c,
        &HistoryArgs {
            concurrency: 2,
            duration: 0.5,
            warmup: 0.1,
            limit: 20,
            sample_chats: 1,
            prepare_messages: 70,
        },
    )
    .await?;
    let r = &o.results;
    check(
        "history",
        num(r, &["newest_page", "errors"]) == 0
            && num(r, &["older_page", "errors"]) == 0
            && num(r, &["newest_page", "pages"]) > 0
            && num(r, &["older_page", "pages"]) > 0,
        &o,
    )?;
    out.push(o);

    let o = crate::files::run(
        &c,
        &crate::files::FilesArgs {
            files: 2,
            size_kib: 300,
            concurrency: 2,
        },
    )
    .await?;
    check("files", num(&o.results, &["files"]) == 2, &o)?;
    out.push(o);
    Ok(out)
}
