//! `cargo bench --bench cost`: what one record costs, per format, side by side in one run with a
//! plain Python poller (`benches/python/poller.py`, stdlib only) reading the same records from
//! the same simulator.
//!
//! CPU: each variant is an unpaced `run --once` catch-up of directory audits and v1.0 sign-ins
//! (two streams in flight, what the Python poller reads too); the variants run in interleaved
//! rounds and each figure is the median of its rounds. CPU is the child's user + system time
//! (`getrusage(RUSAGE_CHILDREN)`), so the in-process simulator is not counted; bytes are what the
//! child wrote to stdout; peak RSS is sampled from /proc while it runs.
//!
//! Bytes per stream: one run per format over every main stream (audits, the four sign-in types,
//! provisioning, risky users and service principals and their detections), each line counted
//! against its stream and divided by the Graph record's own bytes (compact JSON).
//! `BENCH_RECORDS` (per stream, default 20000), `BENCH_STREAM_RECORDS` (per stream for the
//! bytes, default 2000), `BENCH_ROUNDS` (default 3). Prints Markdown.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use entra_simulator::{Resource, Simulator, Spread, CLIENT_ID, CLIENT_SECRET, TENANT_ID};

mod common;
use common::rss_kib;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One measured child.
struct Sample {
    cpu: Duration,
    stdout_bytes: u64,
    lines: u64,
    peak_kib: u64,
}

fn children_cpu() -> Duration {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let u = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, u.as_mut_ptr());
        u.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Runs `cmd` to the end, counting its stdout and sampling its RSS.
fn measure(mut cmd: Command) -> Sample {
    let before = children_cpu();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the variant starts");
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    let counter = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let (mut bytes, mut lines) = (0u64, 0u64);
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return (bytes, lines),
                Ok(n) => {
                    bytes += n as u64;
                    lines += memchr_count(&buf[..n]);
                }
            }
        }
    });
    let mut peak_kib = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let Some(kib) = rss_kib(pid) {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(status.success(), "a variant failed: {status}");
    let (stdout_bytes, lines) = counter.join().unwrap();
    Sample {
        cpu: children_cpu() - before,
        stdout_bytes,
        lines,
        peak_kib,
    }
}

fn memchr_count(b: &[u8]) -> u64 {
    b.iter().filter(|c| **c == b'\n').count() as u64
}

struct Variant {
    name: &'static str,
    /// `[output]` lines for entra-source; `None` for the Python poller.
    output: Option<&'static str>,
}

const VARIANTS: [Variant; 6] = [
    Variant {
        name: "Python poller (stdlib)",
        output: None,
    },
    Variant {
        name: "entra-source native",
        output: Some(""),
    },
    Variant {
        name: "entra-source azure_monitor",
        output: Some("format = \"azure_monitor\""),
    },
    Variant {
        name: "entra-source log_analytics",
        output: Some("format = \"log_analytics\""),
    },
    Variant {
        name: "entra-source ecs",
        output: Some("format = \"ecs\""),
    },
    Variant {
        name: "entra-source ocsf",
        output: Some("format = \"ocsf\""),
    },
];

/// The streams the Python poller reads too.
const CPU_STREAMS: &str =
    "[streams.directory_audits]\n[streams.sign_ins]\napi_version = \"v1.0\"\n";

/// Every main stream, for the bytes per stream.
const MAIN_STREAMS: &str = "[streams.directory_audits]\n[streams.sign_ins]\n\
    event_types = [\"interactiveUser\", \"nonInteractiveUser\", \"servicePrincipal\", \"managedIdentity\"]\n\
    [streams.provisioning]\n[streams.risky_users]\n[streams.risk_detections]\n\
    [streams.risky_service_principals]\n[streams.service_principal_risk_detections]\n";

fn config(sim: &Simulator, dir: &Path, secret: &Path, output: &str, streams: &str) -> PathBuf {
    let state = dir.join("state");
    let _ = std::fs::remove_file(&state);
    let path = dir.join("config.toml");
    let extra = format!(
        "[throttle]\nreports_requests_per_10s = 100000\n[poll]\ninitial_lookback = \"7d\"\n\
         [output]\n{output}\n[context]\nenabled = false\n{streams}"
    );
    std::fs::write(&path, sim.config_toml(secret, &state, &extra)).unwrap();
    path
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let per_stream = env("BENCH_RECORDS", 20_000);
    let rounds = env("BENCH_ROUNDS", 3).max(1);
    let rt = common::runtime();
    let sim = rt.block_on(Simulator::start()).unwrap();
    let now = Utc::now();
    let spread = Spread::Between(
        now - chrono::Duration::days(6),
        now - chrono::Duration::seconds(5),
    );
    sim.generate(Resource::DirectoryAudits, per_stream, spread);
    sim.generate(Resource::SignIns, per_stream, spread);
    let dir = std::env::temp_dir().join(format!("entra-source-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret");
    std::fs::write(&secret, CLIENT_SECRET).unwrap();
    let bin = env!("CARGO_BIN_EXE_entra-source");
    let poller = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/python/poller.py");
    let since = entra_source::event::graph_time(now - chrono::Duration::days(7));

    // The records' own bytes: every `properties` of one native run, as compact JSON.
    let out = Command::new(bin)
        .args(["run", "--once", "--config"])
        .arg(config(&sim, &dir, &secret, "", CPU_STREAMS))
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let mut raw_bytes = 0u64;
    let mut records = 0u64;
    for line in out.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let e: serde_json::Value = serde_json::from_slice(line).unwrap();
        raw_bytes += e["properties"].to_string().len() as u64;
        records += 1;
    }

    let mut samples: Vec<Vec<Sample>> = VARIANTS.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for (i, v) in VARIANTS.iter().enumerate() {
            let cmd = match v.output {
                None => {
                    let mut c = Command::new("python3");
                    c.arg(&poller).args([
                        &sim.base_url(),
                        TENANT_ID,
                        CLIENT_ID,
                        CLIENT_SECRET,
                        &since,
                    ]);
                    c
                }
                Some(output) => {
                    let mut c = Command::new(bin);
                    c.args(["run", "--once", "--config"]).arg(config(
                        &sim,
                        &dir,
                        &secret,
                        output,
                        CPU_STREAMS,
                    ));
                    c
                }
            };
            let s = measure(cmd);
            assert_eq!(
                s.lines, records,
                "{} emitted {} of {records}",
                v.name, s.lines
            );
            samples[i].push(s);
        }
    }
    let by_stream = per_stream_bytes(&rt, &dir, &secret);
    let _ = std::fs::remove_dir_all(&dir);

    let us = |s: &[Sample]| {
        median(
            s.iter()
                .map(|s| s.cpu.as_secs_f64() * 1e6 / records as f64)
                .collect(),
        )
    };
    let python = us(&samples[0]);
    println!(
        "{records} records ({per_stream} directory audits + {per_stream} v1.0 sign-ins), {rounds} rounds, median; raw records {:.0} bytes on average\n",
        raw_bytes as f64 / records as f64
    );
    println!("| variant | µs of CPU per record | × less than Python | bytes per event | ÷ raw record bytes | peak RSS |");
    println!("|---|---|---|---|---|---|");
    for (v, s) in VARIANTS.iter().zip(&samples) {
        let bytes = median(
            s.iter()
                .map(|s| s.stdout_bytes as f64 / records as f64)
                .collect(),
        );
        let peak = median(s.iter().map(|s| s.peak_kib as f64 / 1024.0).collect());
        println!(
            "| {} | {:.1} | {:.2} | {:.0} | {:.2} | {:.1} MiB |",
            v.name,
            us(s),
            python / us(s),
            bytes,
            bytes * records as f64 / raw_bytes as f64,
            peak
        );
    }
    print_per_stream(&by_stream);
    let size = std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
    println!("\nbinary: {bin} {:.1} MB", size as f64 / 1e6);
}

/// The stream a line belongs to, in each format.
fn stream_of(format: &str, e: &serde_json::Value) -> String {
    let s = |p: &str| {
        e.pointer(p)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    match format {
        "native" | "ecs" => s("/event/dataset"),
        "ocsf" => s("/metadata/product/feature/name"),
        "azure_monitor" => dataset_of(&s("/category")),
        _ => dataset_of(&s("/Type")),
    }
    .trim_start_matches("entra.")
    .to_string()
}

/// The stream of an export category or a Log Analytics table.
fn dataset_of(name: &str) -> String {
    match name {
        "AuditLogs" => "directory_audits",
        "ProvisioningLogs" | "AADProvisioningLogs" => "provisioning",
        "RiskyUsers" | "AADRiskyUsers" => "risky_users",
        "UserRiskEvents" | "AADUserRiskEvents" => "risk_detections",
        "RiskyServicePrincipals" | "AADRiskyServicePrincipals" => "risky_service_principals",
        "ServicePrincipalRiskEvents" | "AADServicePrincipalRiskEvents" => {
            "service_principal_risk_detections"
        }
        _ => "sign_ins",
    }
    .to_string()
}

const FORMATS: [&str; 5] = ["native", "azure_monitor", "log_analytics", "ecs", "ocsf"];

/// Per format and stream: (bytes of the lines, lines); and per stream the records' bytes.
type PerStream = (
    Vec<std::collections::BTreeMap<String, (u64, u64)>>,
    std::collections::BTreeMap<String, u64>,
);

fn per_stream_bytes(rt: &tokio::runtime::Runtime, dir: &Path, secret: &Path) -> PerStream {
    let n = env("BENCH_STREAM_RECORDS", 2000);
    let sim = rt.block_on(Simulator::start()).unwrap();
    sim.populate(n, chrono::Duration::days(6), 0);
    let bin = env!("CARGO_BIN_EXE_entra-source");
    let mut formats = Vec::new();
    let mut records = std::collections::BTreeMap::new();
    for format in FORMATS {
        let output = format!("format = \"{format}\"");
        let out = Command::new(bin)
            .args(["run", "--once", "--config"])
            .arg(config(&sim, dir, secret, &output, MAIN_STREAMS))
            .stderr(Stdio::null())
            .output()
            .unwrap();
        let mut by = std::collections::BTreeMap::<String, (u64, u64)>::new();
        for line in out.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let e: serde_json::Value = serde_json::from_slice(line).unwrap();
            let stream = stream_of(format, &e);
            let entry = by.entry(stream.clone()).or_default();
            entry.0 += line.len() as u64 + 1;
            entry.1 += 1;
            if format == "native" {
                *records.entry(stream).or_default() += e["properties"].to_string().len() as u64;
            }
        }
        formats.push(by);
    }
    (formats, records)
}

fn print_per_stream((formats, records): &PerStream) {
    println!("\nbytes per event ÷ the Graph record's bytes, per stream (every main stream, one run per format):\n");
    println!("| stream | record bytes | {} |", FORMATS.join(" | "));
    println!("|---|---|{}", "---|".repeat(FORMATS.len()));
    let native = &formats[0];
    for (stream, bytes) in records {
        let n = native.get(stream).map_or(1, |(_, n)| *n).max(1);
        let cells: Vec<String> = formats
            .iter()
            .map(|by| {
                by.get(stream).map_or("–".into(), |(b, _)| {
                    format!("{:.2}", *b as f64 / *bytes as f64)
                })
            })
            .collect();
        println!(
            "| {stream} | {:.0} | {} |",
            *bytes as f64 / n as f64,
            cells.join(" | ")
        );
    }
    let total: u64 = records.values().sum();
    let cells: Vec<String> = formats
        .iter()
        .map(|by| {
            format!(
                "{:.2}",
                by.values().map(|(b, _)| b).sum::<u64>() as f64 / total as f64
            )
        })
        .collect();
    println!("| **all main streams** | | {} |", cells.join(" | "));
}
