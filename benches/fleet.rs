//! `cargo bench --bench fleet`: what one shard costs per tenant, for docs/operations.md § Capacity. One
//! `run --once` per fleet size (`BENCH_TENANTS`, default 1,25,100,400), each tenant a quiet one
//! (`BENCH_RECORDS` audits and as many sign-ins each, default 100, spread over the last hour,
//! a 100-user directory), with `[context]` off and on; Graph's budget lifted so the run is the
//! engine's cost alone. Side by side in one run: peak RSS, CPU, and the marginal cost of one
//! more tenant against the one-tenant baseline written into the same table.

use std::time::Instant;

use entra_simulator::{Resource, Simulator, Spread, CLIENT_ID, CLIENT_SECRET};

mod common;
use common::{children_cpu, run_once_sampled};

fn main() {
    let records: u64 = std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let sizes: Vec<usize> = std::env::var("BENCH_TENANTS")
        .unwrap_or_else(|_| "1,25,100,400".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let rt = common::runtime();
    rt.block_on(async {
        // One simulator answers for every tenant (each sees the same records: the cost is the
        // same as for distinct ones).
        let sim = Simulator::start().await.unwrap();
        let now = chrono::Utc::now();
        let hour = Spread::Between(now - chrono::Duration::minutes(60), now - chrono::Duration::minutes(1));
        sim.generate(Resource::DirectoryAudits, records, hour);
        sim.generate(Resource::SignIns, records, hour);
        sim.directory_seed(100, 100);
        let max = sizes.iter().copied().max().unwrap_or(1);
        let ids: Vec<String> = (0..max)
            .map(|i| format!("{:08x}-2222-4000-8000-{:012x}", i + 1, i + 1))
            .collect();
        for id in &ids {
            sim.accept_tenant(id);
        }
        let dir = std::env::temp_dir().join(format!("entra-source-fleet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, CLIENT_SECRET).unwrap();
        let base = sim.base_url();
        println!("{records} audits and {records} sign-ins per tenant (v1.0, every type), Graph's budget lifted\n");
        println!("| tenants | context | peak RSS | CPU | wall | RSS per tenant above one | CPU per tenant |");
        println!("|---|---|---|---|---|---|---|");
        let mut one: [Option<(f64, f64)>; 2] = [None, None];
        for &n in &sizes {
            for (k, context) in [false, true].into_iter().enumerate() {
                let run_dir = dir.join(format!("{n}-{context}"));
                std::fs::create_dir_all(&run_dir).unwrap();
                let mut body = format!(
                    "[throttle]\nreports_requests_per_10s = 100000\napp_reports_requests_per_10s = 1000000\nidentity_protection_requests_per_second = 100000\ndirectory_requests_per_second = 100000\n[context]\nenabled = {context}\n[state]\npath = \"{}\"\n[streams.directory_audits]\n[streams.sign_ins]\napi_version = \"v1.0\"\n\n",
                    run_dir.join("state.bin").display()
                );
                for id in &ids[..n] {
                    body.push_str(&format!(
                        "[[tenants]]\nid = \"{id}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{}\"\nlogin_url = \"{base}\"\ngraph_url = \"{base}\"\n\n",
                        secret.display()
                    ));
                }
                let config = run_dir.join("config.toml");
                std::fs::write(&config, body).unwrap();
                let cpu0 = children_cpu();
                let started = Instant::now();
                let peak = run_once_sampled(&config).await as f64 / 1024.0;
                let cpu = children_cpu() - cpu0;
                let wall = started.elapsed().as_secs_f64();
                let marginal = match one[k] {
                    None => {
                        one[k] = Some((peak, cpu));
                        "baseline".to_string()
                    }
                    Some((rss1, _)) if n > 1 => format!("{:.2} MiB", (peak - rss1) / (n - 1) as f64),
                    Some(_) => "baseline".to_string(),
                };
                println!(
                    "| {n} | {} | {peak:.1} MiB | {cpu:.2} s | {wall:.1} s | {marginal} | {:.1} ms |",
                    if context { "on" } else { "off" },
                    cpu * 1000.0 / n as f64
                );
                let _ = std::fs::remove_dir_all(&run_dir);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    });
}
