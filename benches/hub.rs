//! `cargo bench --bench hub` (issue 31): the same sign-ins read through each path, side by side
//! in one run — from an Event Hub (a real Kafka-protocol broker, tansu, on loopback: messages of
//! 100 export records on 4 partitions, as diagnostic settings batch them) and from Graph (the
//! simulator on loopback, unpaced, then at Graph's own budget as arithmetic) — each a whole
//! `entra-source run --once` with events discarded: wall time, CPU of the process (user +
//! system) per record, peak RSS, and the state written. Rounds alternate the two paths, and the
//! table gives each measure's median, so a noisy machine slows both alike.
//!
//! Needs `ENTRA_SOURCE_TANSU` (the broker `.ci/run` installs); says so and exits without it.
//! `BENCH_RECORDS` (default 50000), `BENCH_ROUNDS` (default 3).

use std::time::Instant;

use chrono::Utc;
use entra_simulator::{Resource, Simulator, Spread, CLIENT_SECRET};
use entra_source::format::Format;
use entra_source::kind::StreamKind;

mod common;
use common::{children_cpu, env_or, run_once_sampled};

/// The hub tests' broker (one file, included by both).
#[path = "../tests/it/hub/tansu.rs"]
#[allow(dead_code)] // the bench stops it by dropping it
mod tansu;

const TOPIC: &str = "insights-logs-signinlogs";
const PARTITIONS: i32 = 4;
const PER_MESSAGE: usize = 100;

struct Measure {
    seconds: f64,
    cpu: f64,
    peak_kib: u64,
    state_bytes: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn measure(config: &std::path::Path, state: &std::path::Path) -> Measure {
    let _ = std::fs::remove_file(state);
    let cpu = children_cpu();
    let started = Instant::now();
    let peak_kib = run_once_sampled(config).await;
    Measure {
        seconds: started.elapsed().as_secs_f64(),
        cpu: children_cpu() - cpu,
        peak_kib,
        state_bytes: std::fs::metadata(state).map(|m| m.len()).unwrap_or(0),
    }
}

fn main() {
    let records: u64 = env_or("BENCH_RECORDS", 50_000);
    let rounds: usize = env_or("BENCH_ROUNDS", 3);
    common::runtime().block_on(async {
        let Some(broker) = tansu::Broker::start_if_available().await else {
            return;
        };
        let bootstrap = broker.bootstrap();
        let dir = tempfile::tempdir().unwrap();

        let sim = Simulator::start().await.unwrap();
        let now = Utc::now();
        sim.generate(
            Resource::SignIns,
            records,
            Spread::Between(now - chrono::Duration::hours(6), now - chrono::Duration::minutes(10)),
        );
        // The same records as Microsoft's export writes them, produced once.
        let spec = entra_source::streams::spec(StreamKind::SignIns);
        let ctx = entra_source::event::NormalizeContext::new(entra_simulator::TENANT_ID, now);
        let export: Vec<String> = sim
            .records(Resource::SignIns)
            .into_iter()
            .map(|r| spec.render(r, &ctx, Format::AzureMonitor).to_string())
            .collect();
        let export_bytes: usize = export.iter().map(|e| e.len()).sum();
        broker.create(TOPIC, PARTITIONS).await;
        let mut bodies: Vec<Vec<Vec<u8>>> = vec![Vec::new(); PARTITIONS as usize];
        for (i, chunk) in export.chunks(PER_MESSAGE).enumerate() {
            bodies[i % PARTITIONS as usize]
                .push(format!("{{\"records\": [{}]}}", chunk.join(",")).into_bytes());
        }
        for (p, b) in bodies.into_iter().enumerate() {
            broker.produce(TOPIC, p as i32, b).await;
        }

        let secret = dir.path().join("secret");
        std::fs::write(&secret, CLIENT_SECRET).unwrap();
        let unpaced = "[throttle]\nreports_requests_per_10s = 100000\n[context]\nenabled = false\n";
        let hub_state = dir.path().join("hub.state");
        let hub_config = dir.path().join("hub.toml");
        std::fs::write(
            &hub_config,
            sim.config_toml(
                &secret,
                &hub_state,
                &format!("{unpaced}[[tenant.hubs]]\nnamespace = \"{bootstrap}\"\nhubs = [\"{TOPIC}\"]\nauthentication = \"none\"\n"),
            ),
        )
        .unwrap();
        let graph_state = dir.path().join("graph.state");
        let graph_config = dir.path().join("graph.toml");
        std::fs::write(
            &graph_config,
            sim.config_toml(
                &secret,
                &graph_state,
                &format!("{unpaced}[poll]\ninitial_lookback = \"7h\"\n[streams.sign_ins]\n"),
            ),
        )
        .unwrap();

        let (mut hub, mut graph) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            hub.push(measure(&hub_config, &hub_state).await);
            graph.push(measure(&graph_config, &graph_state).await);
        }
        let requests = sim.requests().iter().filter(|r| r.is_graph()).count() / rounds;
        drop(broker);

        let n = records as f64;
        let row = |name: &str, m: &[Measure]| {
            let secs = median(m.iter().map(|x| x.seconds).collect());
            let cpu = median(m.iter().map(|x| x.cpu).collect());
            let rss = median(m.iter().map(|x| x.peak_kib as f64).collect());
            let state = median(m.iter().map(|x| x.state_bytes as f64).collect());
            println!(
                "| {name} | {:.2} s | {:.0} | {:.1} µs | {:.1} MiB | {:.0} KB |",
                secs,
                n / secs,
                cpu * 1e6 / n,
                rss / 1024.0,
                state / 1000.0
            );
        };
        println!(
            "{records} sign-ins ({:.0} bytes each as exported), {PARTITIONS} partitions of messages of {PER_MESSAGE}; median of {rounds} alternating rounds",
            export_bytes as f64 / n
        );
        println!();
        println!("| path | wall time | records/s | CPU per record | peak RSS | state written |");
        println!("|---|---|---|---|---|---|");
        row("Event Hub (tansu on loopback)", &hub);
        row("Graph (simulator on loopback, unpaced)", &graph);
        println!(
            "| Graph at its budget (5 requests per 10 s, {} requests of ≤1000) | {:.0} s | 500 | as above | | |",
            requests,
            n / 500.0
        );
    });
}
