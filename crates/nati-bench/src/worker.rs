//! Spreading sockets over processes. One process here may hold at most 20,000 open files
//! (`ulimit -Hn`), so the coordinator re-executes itself as `nati-bench worker`, each worker
//! holding at most `--sockets-per-process` sockets. They talk in JSON lines: the
//! coordinator writes commands to a worker's stdin, the worker answers on its stdout (its
//! stderr goes straight to the terminal). A worker that fails answers `{"error": ...}`.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// No exchange with a worker waits longer than this.
const REPLY_TIMEOUT: Duration = Duration::from_secs(900);

struct Proc {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

/// The coordinator's handle on its workers.
pub struct Workers {
    procs: Vec<Proc>,
}

/// Split `n` items into slices of at most `per` (at least one slice).
pub fn slices(n: usize, per: usize) -> Vec<std::ops::Range<usize>> {
    let per = per.max(1);
    let count = n.div_ceil(per).max(1);
    // Even slices rather than full ones and a remainder.
    let base = n / count;
    let extra = n % count;
    let mut out = Vec::with_capacity(count);
    let mut start = 0;
    for i in 0..count {
        let len = base + usize::from(i < extra);
        out.push(start..start + len);
        start += len;
    }
    out
}

impl Workers {
    /// Start `n` worker processes (this same binary, `worker` subcommand).
    pub async fn spawn(n: usize) -> Result<Workers> {
        let exe = std::env::current_exe().context("finding this executable to re-run it")?;
        let mut procs = Vec::with_capacity(n);
        for _ in 0..n {
            let mut child = tokio::process::Command::new(&exe)
                .arg("worker")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .context("starting a worker process")?;
            let stdin = child.stdin.take().ok_or_else(|| anyhow!("worker stdin"))?;
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| anyhow!("worker stdout"))?;
            procs.push(Proc {
                child,
                stdin,
                lines: BufReader::new(stdout).lines(),
            });
        }
        Ok(Workers { procs })
    }

    pub fn len(&self) -> usize {
        self.procs.len()
    }

    pub async fn send(&mut self, i: usize, v: &Value) -> Result<()> {
        let p = &mut self.procs[i];
        let mut line = serde_json::to_vec(v)?;
        line.push(b'\n');
        p.stdin
            .write_all(&line)
            .await
            .with_context(|| format!("writing to worker {i}"))?;
        p.stdin.flush().await?;
        Ok(())
    }

    pub async fn send_all(&mut self, v: &Value) -> Result<()> {
        for i in 0..self.procs.len() {
            self.send(i, v).await?;
        }
        Ok(())
    }

    pub async fn recv(&mut self, i: usize) -> Result<Value> {
        let p = &mut self.procs[i];
        let line = tokio::time::timeout(REPLY_TIMEOUT, p.lines.next_line())
            .await
            .map_err(|_| anyhow!("worker {i} said nothing for {REPLY_TIMEOUT:?}"))??
            .ok_or_else(|| anyhow!("worker {i} exited unexpectedly"))?;
        let v: Value = serde_json::from_str(&line)
            .with_context(|| format!("worker {i} wrote something that is not JSON: {line}"))?;
        if let Some(e) = v.get("error") {
            bail!("worker {i}: {}", e.as_str().unwrap_or("failed"));
        }
        Ok(v)
    }

    /// One answer from every worker, in worker order.
    pub async fn recv_all(&mut self) -> Result<Vec<Value>> {
        let mut out = Vec::with_capacity(self.procs.len());
        for i in 0..self.procs.len() {
            out.push(self.recv(i).await?);
        }
        Ok(out)
    }

    /// Wait for every worker to exit.
    pub async fn finish(mut self) -> Result<()> {
        for (i, p) in self.procs.iter_mut().enumerate() {
            let status = tokio::time::timeout(Duration::from_secs(30), p.child.wait())
                .await
                .map_err(|_| anyhow!("worker {i} did not exit"))??;
            if !status.success() {
                bail!("worker {i} exited with {status}");
            }
        }
        Ok(())
    }
}

/// The worker's side: commands on stdin, answers on stdout.
pub struct Link {
    lines: Lines<BufReader<tokio::io::Stdin>>,
    out: tokio::io::Stdout,
}

impl Link {
    pub fn new() -> Link {
        Link {
            lines: BufReader::new(tokio::io::stdin()).lines(),
            out: tokio::io::stdout(),
        }
    }

    pub async fn recv(&mut self) -> Result<Value> {
        let line = self
            .lines
            .next_line()
            .await?
            .ok_or_else(|| anyhow!("the coordinator went away"))?;
        Ok(serde_json::from_str(&line)?)
    }

    pub async fn send(&mut self, v: &Value) -> Result<()> {
        let mut line = serde_json::to_vec(v)?;
        line.push(b'\n');
        self.out.write_all(&line).await?;
        self.out.flush().await?;
        Ok(())
    }
}

/// `nati-bench worker`: read the job, run that scenario's worker side.
pub async fn main() -> Result<()> {
    let mut link = Link::new();
    let job = link.recv().await?;
    let result = match job["scenario"].as_str().unwrap_or("") {
        "throughput" => crate::throughput::worker(&job, &mut link).await,
        "latency" => crate::latency::worker(&job, &mut link).await,
        "idle" => crate::idle::worker(&job, &mut link).await,
        "fanout" => crate::fanout::worker(&job, &mut link).await,
        other => Err(anyhow!("unknown scenario `{other}`")),
    };
    if let Err(e) = &result {
        let _ = link.send(&json!({"error": format!("{e:#}")})).await;
    }
    result
}

/// This process's CPU seconds so far (workers report it so the total client cost is known).
pub fn my_cpu() -> f64 {
    crate::stats::cpu_secs(None).unwrap_or(0.0)
}
