//! `cargo bench --bench delivery`: the delivery engine at enterprise scale (issue 12), the real
//! binary against the in-process simulator on loopback.
//!
//! (a) Steady state: records arrive at R a second for `BENCH_SECONDS` (default 60) with
//!     Graph's per-tenant limits enforced by the simulator (5 requests per 10 s, 1,000 records
//!     a page: a ceiling of 500 records/s) and `interval : late_arrival` = 1 : 4, time-scaled
//!     (3 s : 12 s, as the defaults' 300 s : 20 m). The baseline, run side by side, is the old
//!     sliding re-read: a read of `[cursor − 12 s, now]` every 3 s fetches each record five
//!     times, the same as sweeps at 3, 6, 9 and 12 s.
//! (b) Dense window: `BENCH_DENSE` (default 50000) records inside one 20-minute
//!     late-arrival window, `run --once`, Graph's budget lifted (this measures entra-source).
//!
//! `BENCH_ROWS=0,5` runs only those steady-state rows (default 6 and 5: the defaults at 20 % of
//! the ceiling and settle-only at 95 %; rows 1 and 3 are the defaults before issue 27, 6 and 7
//! today's, so that a plain `cargo bench` stays within a few
//! minutes); `BENCH_SECONDS=0` or `BENCH_DENSE=` skips a part. docs/performance.md's tables give
//! the commands of the full runs. Prints Markdown tables for docs/performance.md.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entra_simulator::{Resource, Simulator, Spread, CLIENT_SECRET};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_entra-source");
/// Graph's reports ceiling per tenant: 5 requests per 10 s × 1,000 records.
const CEILING: f64 = 500.0;

mod common;
use common::rss_kib;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn workdir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("entra-source-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("secret"), CLIENT_SECRET).unwrap();
    dir
}

/// The value of a sample (`name{…} value` or `name value`) in Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Every generated id with its record time.
type Generated = Arc<Mutex<Vec<(String, DateTime<Utc>)>>>;

struct Steady {
    label: &'static str,
    rate: u32,
    late: &'static str,
    settle_only: bool,
    /// `learn_sweeps` (the engine's default since issue 27; off for the fixed baselines).
    learn: bool,
}

async fn steady(s: &Steady, seconds: u64) {
    let sim = Arc::new(Simulator::start().await.unwrap());
    sim.enforce_graph_limits(true);
    let dir = workdir("steady");
    let port = free_port();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        sim.config_toml(
            &dir.join("secret"),
            &dir.join("state"),
            &format!(
                "[metrics]\nlisten = \"127.0.0.1:{port}\"\n\n[poll]\ninterval_seconds = 3\ninitial_lookback = \"1m\"\n\n[streams.directory_audits]\nlate_arrival = {}\nsettle_only = {}\nlearn_sweeps = {}\n",
                s.late, s.settle_only, s.learn
            ),
        ),
    )
    .unwrap();
    // The producer: `rate` records a second, stamped 1 to 5 s before they show (Graph's
    // ingestion delay), each id with its time.
    let generated: Generated = Default::default();
    let producer = {
        let (sim, generated, rate) = (sim.clone(), generated.clone(), s.rate);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let now = Utc::now();
                let spread = Spread::Between(
                    now - chrono::Duration::seconds(5),
                    now - chrono::Duration::seconds(1),
                );
                let ids = sim.generate(Resource::DirectoryAudits, u64::from(rate), spread);
                let mut g = generated.lock().unwrap();
                for (i, id) in ids.into_iter().enumerate() {
                    g.push((id, spread.time_of(i as u64, u64::from(rate))));
                }
            }
        })
    };
    let mut child = tokio::process::Command::new(BIN)
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let emitted: Arc<Mutex<HashMap<String, u32>>> = Default::default();
    let reader = {
        let emitted = emitted.clone();
        let stdout = child.stdout.take().unwrap();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let v: serde_json::Value = serde_json::from_str(&l).unwrap();
                let id = v["event"]["id"].as_str().unwrap().to_string();
                *emitted.lock().unwrap().entry(id).or_default() += 1;
            }
        })
    };
    // How far behind the stream is at `now`: the age of the oldest record not yet emitted.
    let lag = |now: DateTime<Utc>| {
        let emitted = emitted.lock().unwrap();
        let oldest = generated
            .lock()
            .unwrap()
            .iter()
            .filter(|(id, _)| !emitted.contains_key(id))
            .map(|(_, t)| *t)
            .min();
        oldest.map_or(0.0, |t| (now - t).num_milliseconds() as f64 / 1000.0)
    };
    let started = Instant::now();
    let mut peak = 0u64;
    let mut half_lag = None;
    while started.elapsed() < Duration::from_secs(seconds) {
        peak = peak.max(rss_kib(pid).unwrap_or(0));
        if half_lag.is_none() && started.elapsed() >= Duration::from_secs(seconds / 2) {
            half_lag = Some(lag(Utc::now()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    producer.abort();
    let end = Utc::now();
    let end_lag = lag(end);
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let state_bytes = metric(&text, "entra_source_state_written_bytes_total");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait().await;
    let _ = reader.await;

    let emitted = emitted.lock().unwrap();
    let generated = generated.lock().unwrap();
    let unique = emitted.len() as f64;
    let duplicates: u32 = emitted.values().map(|n| n - 1).sum();
    let (requests, fetched) = common::graph_requests(&sim);
    let throttled = requests.iter().filter(|r| r.status == 429).count();
    println!(
        "| {} | {} ({:.0} %) | {:.2} | {:.1} | {:.0} s → {:.0} s | {} of {} | {} | {} | {:.1} MiB | {:.0} |",
        s.label,
        s.rate,
        f64::from(s.rate) / CEILING * 100.0,
        fetched as f64 / unique.max(1.0),
        requests.len() as f64 * 1000.0 / unique.max(1.0),
        half_lag.unwrap_or(0.0),
        end_lag,
        generated.len() - emitted.len().min(generated.len()),
        generated.len(),
        duplicates,
        throttled,
        peak as f64 / 1024.0,
        state_bytes * 1000.0 / unique.max(1.0),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

async fn dense(records: u64) {
    let sim = Simulator::start().await.unwrap();
    let now = Utc::now();
    sim.generate(
        Resource::DirectoryAudits,
        records,
        Spread::Between(
            now - chrono::Duration::minutes(15),
            now - chrono::Duration::seconds(5),
        ),
    );
    let dir = workdir("dense");
    let config = dir.join("config.toml");
    let state = dir.join("state");
    std::fs::write(
        &config,
        sim.config_toml(
            &dir.join("secret"),
            &state,
            "[throttle]\nreports_requests_per_10s = 100000\n\n[poll]\ninitial_lookback = \"1h\"\n\n[streams.directory_audits]\n",
        ),
    )
    .unwrap();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(BIN)
        .args(["run", "--once", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = tokio::spawn(async move {
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0usize;
        loop {
            match stdout.read(&mut buf).await {
                Ok(0) | Err(_) => return n,
                Ok(k) => n += k,
            }
        }
    });
    let err = tokio::spawn(async move {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s).await;
        s
    });
    let mut peak = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        peak = peak.max(rss_kib(pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let took = started.elapsed();
    let event_bytes = out.await.unwrap();
    let log = err.await.unwrap();
    assert!(status.success(), "{log}");
    let written: f64 = log
        .split("state_written_bytes=")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let size = std::fs::metadata(&state).map(|m| m.len()).unwrap_or(0) as f64;
    let id_bytes = records as f64 * entra_source::state::FINGERPRINT_BYTES as f64;
    println!(
        "| {records} | {:.1} s ({:.0} events/s) | {:.1} MiB | {:.0} KB, {:.2} bytes/id | {:.0} KB, {:.2}× the id bytes | {:.0} MB |",
        took.as_secs_f64(),
        records as f64 / took.as_secs_f64(),
        peak as f64 / 1024.0,
        size / 1000.0,
        size / records as f64,
        written / 1000.0,
        written / id_bytes,
        event_bytes as f64 / 1e6,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let dense_sizes: Vec<u64> = std::env::var("BENCH_DENSE")
        .unwrap_or_else(|_| "50000".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    // `BENCH_ROWS=5` (comma-separated, from 0): only those steady-state rows.
    let rows: Option<Vec<usize>> = Some(
        std::env::var("BENCH_ROWS")
            .unwrap_or_else(|_| "6,5".into())
            .split(',')
            .filter_map(|i| i.trim().parse().ok())
            .collect(),
    );
    let rt = common::runtime();
    rt.block_on(async {
        if seconds > 0 {
            println!("Steady state, {seconds} s each, Graph's limits enforced, interval 3 s : late_arrival 12 s");
            println!();
            println!("| reads | records/s (of the 500/s ceiling) | records fetched per record | requests per 1,000 records | lag at half time → at the end | not emitted at the end | duplicates | 429s | peak RSS | state bytes written per 1,000 records |");
            println!("|---|---|---|---|---|---|---|---|---|---|");
            for (_, s) in [
                Steady { label: "baseline: sliding re-read (≡ sweeps 3, 6, 9, 12 s)", rate: 100, late: "[\"3s\", \"6s\", \"9s\", \"12s\"]", settle_only: false, learn: false },
                Steady { label: "before: fresh + one sweep (the defaults until issue 27)", rate: 100, late: "\"12s\"", settle_only: false, learn: false },
                Steady { label: "baseline: sliding re-read (≡ sweeps 3, 6, 9, 12 s)", rate: 240, late: "[\"3s\", \"6s\", \"9s\", \"12s\"]", settle_only: false, learn: false },
                Steady { label: "before: fresh + one sweep (the defaults until issue 27)", rate: 240, late: "\"12s\"", settle_only: false, learn: false },
                Steady { label: "baseline: sliding re-read (≡ sweeps 3, 6, 9, 12 s)", rate: 475, late: "[\"3s\", \"6s\", \"9s\", \"12s\"]", settle_only: false, learn: false },
                Steady { label: "settle-only, one sweep", rate: 475, late: "\"12s\"", settle_only: true, learn: false },
                Steady { label: "**defaults**: fresh + sweeps at 3 and 12 s (5 and 20 min), learned", rate: 100, late: "[\"3s\", \"12s\"]", settle_only: false, learn: true },
                Steady { label: "**defaults**: fresh + sweeps at 3 and 12 s (5 and 20 min), learned", rate: 240, late: "[\"3s\", \"12s\"]", settle_only: false, learn: true },
            ]
            .into_iter()
            .enumerate()
            .filter(|(i, _)| rows.as_ref().is_none_or(|r| r.contains(i)))
            {
                steady(&s, seconds).await;
            }
            println!();
        }
        if !dense_sizes.is_empty() {
            println!("Dense window: records inside one 20-minute late-arrival window, run --once, unpaced");
            println!();
            println!("| records | wall time | peak RSS | state file | state bytes written | events written |");
            println!("|---|---|---|---|---|---|");
            for n in dense_sizes {
                dense(n).await;
            }
        }
    });
}
