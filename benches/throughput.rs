//! `cargo bench`: end-to-end throughput and memory of one `run --once` catch-up of a large
//! directory-audit backlog against the in-process simulator (events discarded), plus the cost of
//! normalization alone. Prints a Markdown table for docs/performance.md.

use std::time::Instant;

use chrono::Utc;
use entra_simulator::{Resource, Simulator, Spread, CLIENT_SECRET};
use entra_source::streams::{NormalizeContext, StreamKind};

mod common;
use common::run_once_sampled;

fn main() {
    let records: u64 = std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = common::runtime();
    rt.block_on(async {
        let sim = Simulator::start().await.unwrap();
        let now = Utc::now();
        sim.generate(
            Resource::DirectoryAudits,
            records,
            Spread::Between(now - chrono::Duration::days(6), now - chrono::Duration::seconds(5)),
        );
        let dir = std::env::temp_dir().join(format!("entra-source-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, CLIENT_SECRET).unwrap();
        let config_path = dir.join("config.toml");
        std::fs::write(
            &config_path,
            sim.config_toml(
                &secret,
                &dir.join("state.json"),
                // Unpaced, this measures entra-source itself; BENCH_PACED=1 keeps Graph's
                // budget of 5 requests per 10 s (the default [throttle]).
                &format!(
                    "{}[poll]\ninitial_lookback = \"7d\"\n[streams.directory_audits]\n",
                    if std::env::var_os("BENCH_PACED").is_some() {
                        ""
                    } else {
                        "[throttle]\nreports_requests_per_10s = 100000\n"
                    }
                ),
            ),
        )
        .unwrap();
        // The real binary, events to /dev/null, its peak RSS sampled from /proc while it runs.
        let started = Instant::now();
        let peak_kib = run_once_sampled(&config_path).await;
        let took = started.elapsed();
        let requests = sim.requests().iter().filter(|r| r.is_graph()).count();
        let state_bytes = std::fs::metadata(dir.join("state.json")).map(|m| m.len()).unwrap_or(0);
        let _ = std::fs::remove_dir_all(&dir);

        // Normalization alone.
        let spec = entra_source::streams::spec(StreamKind::DirectoryAudits);
        let ctx = NormalizeContext::new("t", Utc::now());
        let mut rng = entra_simulator::Rng::new(7);
        let sample_records: Vec<_> = (0..10_000)
            .map(|i| entra_simulator::synthetic_directory_audit(&mut rng, i, now))
            .collect();
        // As the poll loop does it: each record's text read in place and written as a line.
        let texts: Vec<String> = sample_records.iter().map(|r| r.to_string()).collect();
        let mut line = Vec::with_capacity(1 << 16);
        let mut format_rows = Vec::new();
        for f in entra_source::format::Format::all() {
            let ctx = ctx.clone().with_columns(f.needs_columns());
            let started = Instant::now();
            let mut fbytes = 0usize;
            for t in &texts {
                line.clear();
                let e = spec.event(entra_source::record::Record::new(t), &ctx);
                f.write(&e, false, &mut line);
                fbytes += line.len() + 1;
            }
            format_rows.push((f.name(), started.elapsed(), fbytes));
        }
        // An OTLP log record, from the native event as a tree.
        let natives: Vec<_> = sample_records.iter().map(|r| spec.normalize(r.clone(), &ctx)).collect();
        let started = Instant::now();
        let mut obytes = 0usize;
        for e in &natives {
            obytes += entra_source::output::otlp::log_record(&entra_source::event::View::of_value(e), e).bytes();
        }
        let otlp_took = started.elapsed();

        println!("| measure | value |");
        println!("|---|---|");
        println!("| backlog records (directory audits, 6 days) | {records} |");
        println!("| Graph requests | {requests} ({:.0} records per request) |", records as f64 / requests as f64);
        println!("| end-to-end catch-up (simulator on loopback, events discarded) | {:.2} s, {:.0} events/s |", took.as_secs_f64(), records as f64 / took.as_secs_f64());
        for (name, took, fbytes) in &format_rows {
            println!("| read a record and write its {name} line | {:.1} µs, {:.0} bytes per line |", took.as_secs_f64() * 1e6 / 10_000.0, *fbytes as f64 / 10_000.0);
        }
        println!("| encode one OTLP log record (native body) | {:.1} µs, {:.0} bytes |", otlp_took.as_secs_f64() * 1e6 / 10_000.0, obytes as f64 / 10_000.0);
        println!("| peak RSS of entra-source during the catch-up | {:.1} MiB |", peak_kib as f64 / 1024.0);
        println!("| state file after the run | {state_bytes} bytes |");
    });
}
