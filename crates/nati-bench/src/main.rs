//! `nati-bench`: load generator for Nati Chat.
//!
//! It drives a running server through its public HTTP and WebSocket API only (guests from
//! `POST /api/chat/start`, staff from `POST /api/auth/login`, sockets on `/api/chat/ws`),
//! runs one scenario, prints a table and, with `--json FILE`, writes the numbers as JSON.
//! Sockets are spread over worker processes (this binary re-run as `nati-bench worker`),
//! at most `--sockets-per-process` each, because one process may hold at most 20,000
//! open files here. See `docs/BENCHMARKS.md`.
#![forbid(unsafe_code)]

mod fanout;
mod files;
mod history;
mod http;
mod idle;
mod latency;
mod smoke;
mod stats;
mod throughput;
mod worker;
mod ws;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "nati-bench",
    version,
    about = "Load generator and benchmarks for Nati Chat (loopback servers only)"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

/// Options every scenario takes.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// The server, e.g. http://127.0.0.1:8080 (loopback addresses only).
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Also write the results as JSON to this file.
    #[arg(long, global = true)]
    pub json: Option<PathBuf>,
    /// The server's process id: its resident memory (VmRSS) and CPU time are read from
    /// /proc/PID while the scenario runs.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// An admin account to sign in with (the `serve --demo` one by default).
    #[arg(long, global = true, default_value = "admin@nati.test")]
    pub admin_email: String,
    #[arg(
        long,
        global = true,
        env = "NATI_BENCH_ADMIN_PASSWORD",
        default_value = "demo-password",
        hide_env_values = true
    )]
    pub admin_password: String,
    /// Most sockets one process of this tool holds; more sockets mean more worker
    /// processes (a process may hold at most 20,000 open files here).
    #[arg(long, global = true, default_value_t = 5000)]
    pub sockets_per_process: usize,
    /// Parallel requests while creating guests and opening sockets for a scenario.
    #[arg(long, global = true, default_value_t = 64)]
    pub setup_concurrency: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Customers and staff send over WebSockets, each waiting for its `ack` (sent only once
    /// the message is stored): persisted messages/s and ack latency.
    Throughput(throughput::ThroughputArgs),
    /// A fixed send rate across N open customer sockets: send-to-deliver latency measured
    /// where `message.created` arrives.
    Latency(latency::LatencyArgs),
    /// Open as many authenticated sockets as asked: connects/s and server memory per socket.
    Idle(idle::IdleArgs),
    /// One customer message to every socket of a busy admin desk: time until the last has it.
    Fanout(fanout::FanoutArgs),
    /// Page through chat history (newest page, older pages): latency and pages/s.
    History(history::HistoryArgs),
    /// Upload and download attachments (10 MB files by default): MB/s and server memory.
    Files(files::FilesArgs),
    /// Every scenario with tiny sizes, in seconds; fails on any error (not on numbers).
    Smoke,
    /// Internal: one worker process of a scenario (started by the tool itself).
    #[command(hide = true)]
    Worker,
}

/// What a scenario hands back: its table and its numbers.
pub struct Outcome {
    pub title: String,
    pub rows: Vec<stats::Row>,
    pub results: Value,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let c = cli.common;
    let (name, args, outcomes): (&str, Value, Vec<Outcome>) = match cli.command {
        Command::Worker => return worker::main().await,
        Command::Throughput(a) => (
            "throughput",
            serde_json::to_value(&a)?,
            vec![throughput::run(&c, &a).await?],
        ),
        Command::Latency(a) => (
            "latency",
            serde_json::to_value(&a)?,
            vec![latency::run(&c, &a).await?],
        ),
        Command::Idle(a) => (
            "idle",
            serde_json::to_value(&a)?,
            vec![idle::run(&c, &a).await?],
        ),
        Command::Fanout(a) => (
            "fanout",
            serde_json::to_value(&a)?,
            vec![fanout::run(&c, &a).await?],
        ),
        Command::History(a) => (
            "history",
            serde_json::to_value(&a)?,
            vec![history::run(&c, &a).await?],
        ),
        Command::Files(a) => (
            "files",
            serde_json::to_value(&a)?,
            vec![files::run(&c, &a).await?],
        ),
        Command::Smoke => ("smoke", json!({}), smoke::run(&c).await?),
    };
    report(&c, name, args, outcomes)
}

/// Print the tables; write the JSON.
fn report(c: &Common, name: &str, args: Value, outcomes: Vec<Outcome>) -> Result<()> {
    for o in &outcomes {
        stats::print_table(&o.title, &o.rows);
    }
    if let Some(path) = &c.json {
        let results: Vec<Value> = outcomes
            .iter()
            .map(|o| json!({"title": o.title, "results": o.results}))
            .collect();
        let doc = json!({
            "tool": "nati-bench",
            "version": env!("CARGO_PKG_VERSION"),
            "scenario": name,
            "url": c.url,
            "server_pid": c.server_pid,
            "args": args,
            "sockets_per_process": c.sockets_per_process,
            "environment": stats::environment(),
            "finished_at_unix": stats::wall_ns() / 1_000_000_000,
            "runs": results,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}

/// A run id that keeps one run's messages apart from another's in a shared database.
pub fn run_id() -> String {
    format!("{:x}", stats::wall_ns() % 0xFFFF_FFFF)
}
