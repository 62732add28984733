//! `cargo bench --bench cost`: what one record costs the binary, per format and native profile,
//! side by side in one run with a plain Python poller (`benches/python/poller.py`, stdlib only)
//! reading the same records from the same simulator. Each variant is an unpaced `run --once`
//! catch-up of directory audits and sign-ins (two streams in flight); the variants run in
//! interleaved rounds and each figure is the median of its rounds. CPU is the child's user +
//! system time (`getrusage(RUSAGE_CHILDREN)`), so the in-process simulator is not counted; bytes
//! are what the child wrote to stdout; peak RSS is sampled from /proc while it runs.
//! `BENCH_RECORDS` (per stream, default 20000), `BENCH_ROUNDS` (default 3). Prints Markdown.

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

const VARIANTS: [Variant; 5] = [
    Variant {
        name: "Python poller (stdlib)",
        output: None,
    },
    Variant {
        name: "entra-source native, full",
        output: Some(""),
    },
    Variant {
        name: "entra-source native, lean",
        output: Some("native_profile = \"lean\""),
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

fn config(sim: &Simulator, dir: &Path, secret: &Path, output: &str) -> PathBuf {
    let state = dir.join("state");
    let _ = std::fs::remove_file(&state);
    let path = dir.join("config.toml");
    let extra = format!(
        "[throttle]\nreports_requests_per_10s = 100000\n[poll]\ninitial_lookback = \"7d\"\n\
         [output]\n{output}\n[streams.directory_audits]\n[streams.sign_ins]\napi_version = \"v1.0\"\n"
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
        .arg(config(&sim, &dir, &secret, ""))
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
                    c.args(["run", "--once", "--config"])
                        .arg(config(&sim, &dir, &secret, output));
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
    println!("| variant | µs of CPU per record | ÷ Python's | bytes per event | ÷ raw record bytes | peak RSS |");
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
            us(s) / python,
            bytes,
            bytes * records as f64 / raw_bytes as f64,
            peak
        );
    }
    let size = std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
    println!("\nbinary: {bin} {:.1} MB", size as f64 / 1e6);
}
