//! `cargo bench --bench latency`: how soon after Graph shows a record the user has it, under
//! Graph's real appearance delays (issue 27). The simulator makes each record visible some
//! minutes after its timestamp (`Appearance::Delayed`: Microsoft's published figures, or the
//! slow sign-ins third parties observe); records arrive at a steady rate on three streams
//! (directory audits, interactive and non-interactive sign-ins); the real binary runs with each
//! schedule; everything is time-scaled by `BENCH_SCALE` (default 30: the defaults' 300 s poll
//! is 10 s of wall time), and every figure is reported in real terms.
//!
//! Per record: delivery latency = when its line was read from the child − its timestamp, and
//! how long after its appearance it came. Per run: p50 / p90 / p99 / max, the share within 2, 5
//! and 15 minutes, the share delivered within its appearance plus one interval plus a minute,
//! records fetched per record, Graph requests per minute, records never delivered although Graph
//! showed them long before the end (lost), and duplicates. The runs of one profile go side by
//! side. `BENCH_MINUTES` (real-terms minutes of arrivals, default 150), `BENCH_WARMUP` (minutes
//! whose records count for lost and duplicates but not for the latencies, default 60: a new
//! stream learns its sweeps from the last sweep's finds, which come an age late) and
//! `BENCH_RATE` (records a second per stream, wall time, default 8); `BENCH_PROFILES`
//! (`microsoft,slow_sign_ins`) picks the delay profiles. Prints Markdown tables for docs/performance.md.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entra_simulator::{Appearance, DelayProfile, Resource, Simulator, CLIENT_SECRET};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_entra-source");

mod common;
use common::env_or;

/// One schedule, in real terms.
struct Schedule {
    label: &'static str,
    interval_s: u64,
    /// `late_arrival` per stream: audits, sign-ins (written scaled).
    audits: &'static [u64],
    sign_ins: &'static [u64],
    /// `learn_sweeps`.
    learn: bool,
}

/// The first is the baseline (the defaults before issue 27), the second today's defaults
/// (written out, since the bench scales every age).
const SCHEDULES: [Schedule; 4] = [
    Schedule {
        label: "before: 300 s, [20m]",
        interval_s: 300,
        audits: &[1200],
        sign_ins: &[1200],
        learn: false,
    },
    Schedule {
        label: "**defaults**: 300 s, audits [5m, 20m], sign-ins [5m, 40m], learned sweeps",
        interval_s: 300,
        audits: &[300, 1200],
        sign_ins: &[300, 2400],
        learn: true,
    },
    Schedule {
        label: "the same, learn_sweeps = false",
        interval_s: 300,
        audits: &[300, 1200],
        sign_ins: &[300, 2400],
        learn: false,
    },
    Schedule {
        label: "60 s, [2m, 5m, 40m], learn_sweeps = false",
        interval_s: 60,
        audits: &[120, 300, 2400],
        sign_ins: &[120, 300, 2400],
        learn: false,
    },
];

/// A duration in seconds of real terms as the config writes it at `scale`.
fn scaled(real_s: u64, scale: f64) -> String {
    format!("\"{}s\"", ((real_s as f64 / scale).round() as u64).max(1))
}

/// The stream table's keys: its ages scaled, the learning switch, no long-age check (its
/// shortest age, an hour, would need a 12-hour run at this scale; `poll::delays_tests` tests it).
fn ages(list: &[u64], learn: bool, scale: f64) -> String {
    format!(
        "late_arrival = [{}]\nlearn_sweeps = {learn}\ntail_check = \"off\"\n",
        list.iter()
            .map(|s| scaled(*s, scale))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Each delivered record: its id and when its line arrived, on the simulated clock.
type Delivered = Arc<Mutex<Vec<(String, DateTime<Utc>)>>>;

/// What one run measured, in real-terms seconds.
struct Outcome {
    label: &'static str,
    latency: Vec<f64>,
    after_appearance_ok: f64,
    fetches_per_record: f64,
    requests_per_minute: f64,
    lost: usize,
    duplicates: usize,
    graph_delay: Vec<f64>,
}

async fn run(
    profile: DelayProfile,
    s: &'static Schedule,
    scale: f64,
    minutes: f64,
    warmup: f64,
    rate: u32,
) -> Outcome {
    let sim = Arc::new(Simulator::start().await.unwrap());
    sim.set_appearance(Appearance::Delayed { profile, scale });
    let dir = std::env::temp_dir().join(format!(
        "entra-source-latency-{}-{}-{}",
        std::process::id(),
        profile.name(),
        s.interval_s * 1000
            + s.audits.len() as u64 * 10
            + s.audits[s.audits.len() - 1] / 60
            + u64::from(s.learn) * 7
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("secret"), CLIENT_SECRET).unwrap();
    let config = dir.join("config.toml");
    // Graph's budget on the same scale: 5 requests per 10 s per tenant, 122 per app.
    let extra = format!(
        "[throttle]\nreports_requests_per_10s = {}\napp_reports_requests_per_10s = {}\n\
         [poll]\ninterval_seconds = {}\ninitial_lookback = \"1m\"\n[context]\nenabled = false\n\
         [streams.directory_audits]\n{}[streams.sign_ins]\nevent_types = [\"interactiveUser\", \"nonInteractiveUser\"]\n{}",
        (5.0 * scale).round() as u64,
        (122.0 * scale).round() as u64,
        ((s.interval_s as f64 / scale).round() as u64).max(1),
        ages(s.audits, s.learn, scale),
        ages(s.sign_ins, s.learn, scale),
    );
    std::fs::write(
        &config,
        sim.config_toml(&dir.join("secret"), &dir.join("state"), &extra),
    )
    .unwrap();
    let producers = [
        sim.spawn_producer(Resource::DirectoryAudits, rate),
        sim.spawn_producer_with(
            Resource::SignIns,
            rate,
            json!({"signInEventTypes": ["interactiveUser"]}),
        ),
        sim.spawn_producer_with(
            Resource::SignIns,
            rate,
            json!({"signInEventTypes": ["nonInteractiveUser"]}),
        ),
    ];
    let mut child = tokio::process::Command::new(BIN)
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let delivered: Delivered = Default::default();
    let reader = {
        let (delivered, sim) = (delivered.clone(), sim.clone());
        let stdout = child.stdout.take().unwrap();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let at = sim.now();
                let v: serde_json::Value = serde_json::from_str(&l).unwrap();
                if v["event"]["dataset"] == "entra.connector_health" {
                    continue;
                }
                let id = v["properties"]["id"].as_str().unwrap().to_string();
                delivered.lock().unwrap().push((id, at));
            }
        })
    };
    let started = Instant::now();
    let measured_from =
        sim.now() + chrono::Duration::milliseconds((warmup * 60_000.0 / scale) as i64);
    let arrivals = Duration::from_secs_f64(minutes * 60.0 / scale);
    tokio::time::sleep(arrivals).await;
    producers.iter().for_each(|p| p.abort());
    let stop_arrivals = sim.now();
    // Time for the tails: the longest delay Graph gives here (30 minutes) and the longest
    // sweep this schedule makes, then one more poll.
    let longest = s
        .audits
        .iter()
        .chain(s.sign_ins.iter())
        .copied()
        .max()
        .unwrap_or(1200)
        .max(2400);
    let tail = Duration::from_secs_f64((longest + 2 * s.interval_s) as f64 / scale);
    tokio::time::sleep(tail).await;
    let end = sim.now();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status();
    let _ = child.wait().await;
    let _ = reader.await;
    let wall = started.elapsed();

    let mut by_id: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    for (id, at) in delivered.lock().unwrap().iter() {
        by_id.entry(id.clone()).or_default().push(*at);
    }
    let secs = |d: chrono::Duration| d.num_milliseconds() as f64 / 1000.0 * scale;
    let (mut latency, mut graph_delay) = (Vec::new(), Vec::new());
    let (mut lost, mut measured, mut prompt) = (0usize, 0usize, 0usize);
    let allowed = (s.interval_s + 60) as f64;
    for resource in [Resource::DirectoryAudits, Resource::SignIns] {
        for (id, time, appears) in sim.appearances(resource) {
            let Some(appears) = appears else { continue };
            // Only records that arrived while the run measured, and that Graph showed long
            // enough before the end for the schedule's last read to come.
            if time > stop_arrivals {
                continue;
            }
            let first = by_id.get(&id).and_then(|v| v.iter().min());
            if time < measured_from {
                // The warm-up: the learned sweeps need the last sweep's finds, an age late.
                if first.is_none() && appears < end - chrono::Duration::seconds(2) {
                    lost += 1;
                }
                continue;
            }
            graph_delay.push(secs(appears - time));
            match first {
                Some(first) => {
                    latency.push(secs(*first - time));
                    measured += 1;
                    if secs(*first - appears) <= allowed {
                        prompt += 1;
                    }
                }
                None if appears
                    < end - chrono::Duration::seconds((s.interval_s as f64 / scale) as i64 + 2) =>
                {
                    lost += 1
                }
                None => {}
            }
        }
    }
    let duplicates = by_id.values().map(|v| v.len() - 1).sum();
    let (requests, fetched) = common::graph_requests(&sim);
    let real_minutes = wall.as_secs_f64() * scale / 60.0;
    let _ = std::fs::remove_dir_all(&dir);
    Outcome {
        label: s.label,
        fetches_per_record: fetched as f64 / by_id.len().max(1) as f64,
        requests_per_minute: requests.len() as f64 / real_minutes,
        after_appearance_ok: prompt as f64 / measured.max(1) as f64,
        latency,
        lost,
        duplicates,
        graph_delay,
    }
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn share(sorted: &[f64], limit: f64) -> f64 {
    sorted.iter().filter(|l| **l <= limit).count() as f64 / sorted.len().max(1) as f64 * 100.0
}

fn row(label: &str, mut v: Vec<f64>, rest: &str) {
    v.sort_by(f64::total_cmp);
    let m = |q| pct(&v, q) / 60.0;
    println!(
        "| {label} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} % | {:.0} % | {:.0} % | {rest}",
        m(0.5),
        m(0.9),
        m(0.99),
        v.last().copied().unwrap_or(f64::NAN) / 60.0,
        share(&v, 120.0),
        share(&v, 300.0),
        share(&v, 900.0),
    );
}

fn main() {
    let scale = env_or("BENCH_SCALE", 30) as f64;
    let minutes = env_or("BENCH_MINUTES", 150) as f64;
    let warmup = env_or("BENCH_WARMUP", 60) as f64;
    let rate = env_or("BENCH_RATE", 8) as u32;
    let rt = common::runtime();
    println!(
        "{minutes} minutes of arrivals ({rate} records/s per stream of wall time on audits, interactive and non-interactive sign-ins), time-scaled ×{scale}; latencies of the records after the first {warmup} minutes (lost and duplicates: all); minutes in real terms\n"
    );
    let profiles =
        std::env::var("BENCH_PROFILES").unwrap_or_else(|_| "microsoft,slow_sign_ins".into());
    for profile in profiles
        .split(',')
        .filter_map(|p| DelayProfile::parse(p.trim()))
    {
        let outcomes: Vec<Outcome> = rt.block_on(async {
            // Side by side: every schedule's run is spawned before any is awaited.
            let runs: Vec<_> = SCHEDULES
                .iter()
                .map(|s| tokio::spawn(run(profile, s, scale, minutes, warmup, rate)))
                .collect();
            let mut out = Vec::new();
            for r in runs {
                out.push(r.await.unwrap());
            }
            out
        });
        println!("**{}** delays\n", profile.name());
        println!("| schedule | p50 | p90 | p99 | max | ≤ 2 min | ≤ 5 min | ≤ 15 min | ≤ appearance + interval + 1 min | fetches per record | Graph requests per minute | lost | duplicates |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        row(
            "Graph itself (when each record becomes visible)",
            outcomes[0].graph_delay.clone(),
            "– | – | – | – | – |",
        );
        for o in &outcomes {
            row(
                o.label,
                o.latency.clone(),
                &format!(
                    "{:.1} % | {:.2} | {:.1} | {} | {} |",
                    o.after_appearance_ok * 100.0,
                    o.fetches_per_record,
                    o.requests_per_minute,
                    o.lost,
                    o.duplicates
                ),
            );
        }
        println!();
    }
}
