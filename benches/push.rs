//! `cargo bench --bench push`: what an acknowledged push costs beside stdout. One `run --once`
//! catch-up of a directory-audit backlog against the in-process simulator, to three outputs in
//! turn, repeated: stdout into /dev/null (the baseline: a pipe host that acknowledges nothing),
//! `[output] http_endpoint` to a loopback receiver that answers 200 once it has read the body
//! (as Vector's `http_server` with acknowledgements does once its buffer has the events), and
//! `otlp_endpoint` to a loopback OTLP/HTTP stand-in. Prints the medians as a Markdown table:
//! wall time, entra-source's CPU per record, requests to the receiver.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use entra_simulator::{Resource, Simulator, Spread, CLIENT_SECRET};

mod common;
use common::{children_cpu, env_or};

#[derive(Default)]
struct Received {
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// A receiver on loopback that reads every body and answers 200.
async fn receiver() -> (u16, Arc<Received>) {
    let got = Arc::new(Received::default());
    let seen = got.clone();
    let app = axum::Router::new()
        .fallback(axum::routing::post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                seen.requests.fetch_add(1, Ordering::Relaxed);
                seen.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                "{}"
            }
        }))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, got)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let records: u64 = env_or("BENCH_RECORDS", 50_000);
    let rounds: usize = env_or("BENCH_ROUNDS", 3);
    let rt = common::runtime();
    rt.block_on(async {
        let sim = Simulator::start().await.unwrap();
        let now = Utc::now();
        sim.generate(
            Resource::DirectoryAudits,
            records,
            Spread::Between(now - chrono::Duration::days(2), now - chrono::Duration::seconds(5)),
        );
        let (port, got) = receiver().await;
        let dir = std::env::temp_dir().join(format!("entra-source-push-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, CLIENT_SECRET).unwrap();
        let outputs = [
            ("stdout into /dev/null (baseline)", String::new()),
            (
                "http_endpoint (NDJSON, acknowledged)",
                format!("[output]\nhttp_endpoint = \"http://127.0.0.1:{port}/\"\n"),
            ),
            (
                "otlp_endpoint (OTLP/HTTP JSON, acknowledged)",
                format!("[output]\notlp_endpoint = \"http://127.0.0.1:{port}\"\n"),
            ),
        ];
        // (wall s, CPU s, requests, bytes) per output per round, the outputs interleaved so a
        // noisy neighbour hits them alike.
        let mut runs: Vec<Vec<(f64, f64, u64, u64)>> = vec![Vec::new(); outputs.len()];
        for _ in 0..rounds {
            for (i, (_, output)) in outputs.iter().enumerate() {
                let state = dir.join(format!("state-{i}.json"));
                let _ = std::fs::remove_file(&state);
                let config = dir.join("config.toml");
                std::fs::write(
                    &config,
                    sim.config_toml(
                        &secret,
                        &state,
                        &format!("[throttle]\nreports_requests_per_10s = 100000\n[poll]\ninitial_lookback = \"3d\"\n[context]\nenabled = false\n[streams.directory_audits]\n{output}"),
                    ),
                )
                .unwrap();
                let (r0, b0) = (got.requests.load(Ordering::Relaxed), got.bytes.load(Ordering::Relaxed));
                let cpu0 = children_cpu();
                let started = Instant::now();
                let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_entra-source"))
                    .args(["run", "--once", "--config", config.to_str().unwrap()])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .await
                    .unwrap();
                assert!(status.success(), "run --once failed for output {i}");
                runs[i].push((
                    started.elapsed().as_secs_f64(),
                    children_cpu() - cpu0,
                    got.requests.load(Ordering::Relaxed) - r0,
                    got.bytes.load(Ordering::Relaxed) - b0,
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        let base_wall = median(runs[0].iter().map(|r| r.0).collect());
        let base_cpu = median(runs[0].iter().map(|r| r.1).collect());
        println!("{records} directory audits, {rounds} rounds, medians; this machine, one run:\n");
        println!("| output | wall | × stdout | CPU per record | × stdout | requests | bytes pushed per record |");
        println!("|---|---|---|---|---|---|---|");
        for ((name, _), r) in outputs.iter().zip(&runs) {
            let wall = median(r.iter().map(|x| x.0).collect());
            let cpu = median(r.iter().map(|x| x.1).collect());
            let requests = r[0].2;
            let bytes = r[0].3 as f64 / records as f64;
            println!(
                "| {name} | {wall:.2} s | {:.2} | {:.1} µs | {:.2} | {} | {} |",
                wall / base_wall,
                cpu * 1e6 / records as f64,
                cpu / base_cpu,
                if requests == 0 { "-".to_string() } else { requests.to_string() },
                if requests == 0 { "-".to_string() } else { format!("{bytes:.0}") },
            );
        }
    });
}
