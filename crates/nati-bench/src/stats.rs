//! Latency histograms (HdrHistogram, nanoseconds, 3 significant digits), their exact
//! transport between processes, tables, and the machine facts every report carries.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest latency recorded: anything slower is clamped (and still counted).
const MAX_NS: u64 = 120_000_000_000;

/// A latency histogram in nanoseconds.
#[derive(Clone)]
pub struct Hist(Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist(Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds"))
    }
}

/// A histogram as (value, count) pairs: exact, and merges across processes.
#[derive(Serialize, Deserialize, Default, Clone)]
pub struct Wire(pub Vec<(u64, u64)>);

impl Hist {
    pub fn record(&mut self, d: Duration) {
        self.record_ns(d.as_nanos().min(u128::from(MAX_NS)) as u64);
    }

    pub fn record_ns(&mut self, ns: u64) {
        self.0.saturating_record(ns.clamp(1, MAX_NS));
    }

    pub fn merge(&mut self, other: &Hist) {
        // Same bounds on both sides: cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn merge_wire(&mut self, w: &Wire) {
        for &(v, n) in &w.0 {
            let _ = self.0.record_n(v.clamp(1, MAX_NS), n);
        }
    }

    pub fn to_wire(&self) -> Wire {
        Wire(
            self.0
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    fn ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.value_at_quantile(q) as f64 / 1e6
    }

    /// Percentiles in milliseconds.
    pub fn summary(&self) -> Value {
        json!({
            "count": self.count(),
            "p50_ms": round3(self.ms(0.50)),
            "p90_ms": round3(self.ms(0.90)),
            "p99_ms": round3(self.ms(0.99)),
            "p99_9_ms": round3(self.ms(0.999)),
            "max_ms": round3(if self.0.is_empty() { 0.0 } else { self.0.max() as f64 / 1e6 }),
            "mean_ms": round3(if self.0.is_empty() { 0.0 } else { self.0.mean() / 1e6 }),
        })
    }

    pub fn p(&self, q: f64) -> f64 {
        self.ms(q)
    }
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Wall-clock nanoseconds since the epoch: comparable across the processes of one machine.
pub fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A small, fast, deterministic random generator (xorshift64*), so no extra crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// One row of a printed table: what, measured, target.
pub struct Row {
    pub what: String,
    pub value: String,
    pub target: String,
}

pub fn row(what: &str, value: impl Into<String>, target: &str) -> Row {
    Row {
        what: what.to_owned(),
        value: value.into(),
        target: target.to_owned(),
    }
}

pub fn print_table(title: &str, rows: &[Row]) {
    let w0 = rows.iter().map(|r| r.what.len()).max().unwrap_or(0).max(6);
    let w1 = rows.iter().map(|r| r.value.len()).max().unwrap_or(0).max(8);
    println!();
    println!("== {title} ==");
    println!("{:<w0$}  {:>w1$}  target", "metric", "measured");
    println!("{}  {}  {}", "-".repeat(w0), "-".repeat(w1), "-".repeat(6));
    for r in rows {
        println!("{:<w0$}  {:>w1$}  {}", r.what, r.value, r.target);
    }
}

/// `12.345 ms` style for tables.
pub fn ms(x: f64) -> String {
    format!("{x:.3} ms")
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The machine and its load right now.
pub fn environment() -> Value {
    let cpu = read("/proc/cpuinfo")
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_kb = read("/proc/meminfo")
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    json!({
        "cpu_model": cpu,
        "nproc": nproc,
        "mem_total_gib": round1(mem_kb as f64 / 1024.0 / 1024.0),
        "loadavg": loadavg(),
        "kernel": read("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
    })
}

/// `/proc/loadavg`'s first three numbers.
pub fn loadavg() -> String {
    read("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A process's resident memory in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    read(&format!("/proc/{pid}/status"))?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A process's CPU time so far (user + system), in seconds.
pub fn cpu_secs(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let s = read(&path)?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some((utime + stime) / 100.0)
}

/// Bytes a process has caused to be written to storage so far (`write_bytes` of
/// `/proc/PID/io`: what reached the page cache for files, the WAL included).
pub fn write_bytes(pid: u32) -> Option<u64> {
    read(&format!("/proc/{pid}/io"))?
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))?
        .trim()
        .parse()
        .ok()
}

/// Measures the CPU a server (and this process) spent over a span, and what the server
/// wrote to storage.
pub struct CpuSpan {
    pid: Option<u32>,
    server0: Option<f64>,
    written0: Option<u64>,
    me0: Option<f64>,
    t0: std::time::Instant,
}

impl CpuSpan {
    pub fn start(server_pid: Option<u32>) -> CpuSpan {
        CpuSpan {
            pid: server_pid,
            server0: server_pid.and_then(|p| cpu_secs(Some(p))),
            written0: server_pid.and_then(write_bytes),
            me0: cpu_secs(None),
            t0: std::time::Instant::now(),
        }
    }

    /// `{"wall_s", "server_cpu_s", "server_cores_busy", "server_write_bytes",
    /// "coordinator_cpu_s"}`; workers add theirs.
    pub fn finish(&self) -> Value {
        let wall = self.t0.elapsed().as_secs_f64();
        let server = match (self.pid, self.server0) {
            (Some(p), Some(a)) => cpu_secs(Some(p)).map(|b| b - a),
            _ => None,
        };
        let me = match self.me0 {
            Some(a) => cpu_secs(None).map(|b| b - a),
            None => None,
        };
        let written = match (self.pid, self.written0) {
            (Some(p), Some(a)) => write_bytes(p).map(|b| b.saturating_sub(a)),
            _ => None,
        };
        json!({
            "wall_s": round3(wall),
            "server_cpu_s": server.map(round3),
            "server_write_bytes": written,
            "server_cores_busy": server.map(|s| round3(s / wall.max(1e-9))),
            "coordinator_cpu_s": me.map(round3),
        })
    }
}
