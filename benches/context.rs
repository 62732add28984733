//! `cargo bench --bench context`: what the directory context costs. A simulated tenant with
//! `BENCH_DIRECTORY` users and as many devices (default 200,000 each) and `BENCH_RECORDS`
//! sign-ins by those users on those devices (default 20,000): one `run --once` with
//! `[context] enabled = false` (the baseline), one that builds the cache beside the catch-up,
//! and the same catch-up again (state forgotten) with the cache full, every sign-in gaining
//! `context.user` and `context.device`. Side by side in one run: peak RSS, CPU, the cache file.

use std::time::Instant;

use chrono::Utc;
use entra_simulator::{DirectoryKind, Resource, Simulator, Spread, CLIENT_SECRET};
use serde_json::json;

mod common;
use common::{children_cpu, run_once_sampled};

/// One `run --once`: (peak RSS MiB, CPU s, wall s).
async fn run(config: &std::path::Path) -> (f64, f64, f64) {
    let cpu0 = children_cpu();
    let started = Instant::now();
    let peak = run_once_sampled(config).await;
    (
        peak as f64 / 1024.0,
        children_cpu() - cpu0,
        started.elapsed().as_secs_f64(),
    )
}

fn main() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let directory = env("BENCH_DIRECTORY", 200_000) as usize;
    let records = env("BENCH_RECORDS", 20_000);
    let rt = common::runtime();
    rt.block_on(async {
        let sim = Simulator::start().await.unwrap();
        sim.directory_seed(directory, directory);
        let users = sim.directory_ids(DirectoryKind::Users);
        let devices: Vec<String> = sim
            .directory_ids(DirectoryKind::Devices)
            .iter()
            .take(1000)
            .filter_map(|id| sim.directory_object(DirectoryKind::Devices, id))
            .filter_map(|d| d["deviceId"].as_str().map(str::to_string))
            .collect();
        let sign_ins = |n: u64, from_min: i64, to_min: i64| {
            // One at a time, each with its own user and device.
            let now = Utc::now();
            for i in 0..n {
                let at = now - chrono::Duration::minutes(from_min)
                    + chrono::Duration::milliseconds(
                        ((from_min - to_min) * 60_000 * i as i64) / n.max(1) as i64,
                    );
                sim.generate_with(
                    Resource::SignIns,
                    1,
                    Spread::Between(at, at),
                    json!({"signInEventTypes": ["interactiveUser"],
                        "userId": users[(i as usize * 7919) % users.len()],
                        "deviceDetail": {"deviceId": devices[i as usize % devices.len()]}}),
                    true,
                );
            }
        };
        sign_ins(records, 50, 2);
        let dir = std::env::temp_dir().join(format!("entra-source-context-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, CLIENT_SECRET).unwrap();
        let config = |name: &str, context: bool| {
            let path = dir.join(format!("{name}.toml"));
            let state = dir.join(format!("{name}.state"));
            let body = format!(
                "[throttle]\nreports_requests_per_10s = 100000\ndirectory_requests_per_second = 100000\n[context]\nenabled = {context}\n[streams.sign_ins]\napi_version = \"v1.0\"\n"
            );
            std::fs::write(&path, sim.config_toml(&secret, &state, &body)).unwrap();
            (path, state)
        };
        let (base, _) = config("baseline", false);
        let (with, state) = config("context", true);
        let baseline = run(&base).await;
        let building = run(&with).await;
        // The same sign-ins again (the state forgotten, the cache kept), with the cache full.
        std::fs::remove_file(&state).unwrap();
        let full = run(&with).await;
        if let Some(secs) = std::env::var("BENCH_PROFILE_PAUSE").ok().and_then(|v| v.parse().ok()) {
            // Profiling: the state forgotten again, the simulator kept up for `secs`.
            std::fs::remove_file(&state).unwrap();
            eprintln!("profile: {}", with.display());
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
        }
        let cache = entra_source::context::cache_path(&state, entra_simulator::TENANT_ID);
        let cache_bytes = std::fs::metadata(&cache).map(|m| m.len()).unwrap_or(0);
        let _ = std::fs::remove_dir_all(&dir);
        println!(
            "{directory} users and {directory} devices in the directory, {records} sign-ins per run\n"
        );
        println!("| run --once | peak RSS | CPU | wall |");
        println!("|---|---|---|---|");
        for (name, (rss, cpu, wall)) in [
            ("[context] enabled = false (baseline)", baseline),
            ("context on, cache built beside the catch-up", building),
            ("context on, cache full: every sign-in gains user and device", full),
        ] {
            println!("| {name} | {rss:.1} MiB | {cpu:.2} s | {wall:.1} s |");
        }
        println!(
            "\ncache file: {:.1} MiB ({:.0} bytes per user or device)",
            cache_bytes as f64 / 1048576.0,
            cache_bytes as f64 / (2 * directory) as f64
        );
    });
}
