//! `cargo bench --bench shaping`: what sign-in volume shaping (`[streams.sign_ins.shaping]`)
//! saves, side by side in one run: the simulator's realistic sign-in mix (five service
//! principals from two addresses each, three managed identities, twenty users' token refreshes
//! from three addresses, all every few minutes; on top 2 % failures, 0.5 % risky, 0.5 %
//! conditional-access failures, 1 % from a new address) read by `run --once` with every type in
//! full, then with the three machine types summarized (the recommended policy, 15-minute
//! windows), in each format. Each variant reads the same mix from its own simulator and state,
//! then a second run three hours later (the simulator's clock) closes every summary window.
//!
//! Bytes are what the child wrote to stdout, attributed to the sign-in type of each line (a
//! summary's type is its `signInEventType`; `connector_health` and accounting lines count as
//! "accounting"). `BENCH_HOURS` (the mix's span, default 6), `BENCH_EVERY_MINUTES` (how often
//! each identity signs in from each address, default 5), `BENCH_FORMATS` (default all five).
//! Also the CPU and the state bytes written of the two runs. Prints Markdown.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use entra_simulator::{Simulator, Spread, CLIENT_SECRET};
use serde_json::Value;

mod common;
use common::{children_cpu, env_or, runtime};

const TYPES: [&str; 3] = ["nonInteractiveUser", "servicePrincipal", "managedIdentity"];

/// Bytes and lines per sign-in type (and "accounting").
#[derive(Default)]
struct Tally {
    bytes: BTreeMap<String, u64>,
    lines: BTreeMap<String, u64>,
    summaries: BTreeMap<String, u64>,
    /// CPU seconds of the two runs (the child's user + system).
    cpu: f64,
    /// Bytes the two runs wrote to the state file (their `state_written_bytes`), and writes.
    state_bytes: u64,
    state_writes: u64,
}

fn type_of(line: &str, format: &str) -> (String, bool) {
    let v: Value = serde_json::from_str(line).expect("a JSON line");
    let summary_type = match format {
        "log_analytics" => v["SignInEventType"].as_str(),
        "ecs" => v["azure"]["signinlogs"]["properties"]["sign_in_event_type"].as_str(),
        "ocsf" | "native" => v["unmapped"]["signInEventType"]
            .as_str()
            .or(v["properties"]["signInEventType"].as_str()),
        _ => v["properties"]["signInEventType"].as_str(),
    };
    if let Some(t) = summary_type {
        return (t.to_string(), true);
    }
    let text = line;
    for t in [
        "interactiveUser",
        "nonInteractiveUser",
        "servicePrincipal",
        "managedIdentity",
    ] {
        // Every format carries the record's signInEventTypes somewhere (verbatim, as a
        // column, or in the original record).
        if text.contains(&format!("\"signInEventTypes\":[\"{t}\"]"))
            || text.contains(&format!("\\\"signInEventTypes\\\":[\\\"{t}\\\"]"))
            || text.contains(&format!("\"SignInEventTypes\":[\"{t}\"]"))
            || text.contains(&format!("\"Category\":\"{}\"", category(t)))
            || text.contains(&format!("\"category\":\"{}\"", category(t)))
        {
            return (t.to_string(), false);
        }
    }
    ("accounting".into(), false)
}

fn category(t: &str) -> &'static str {
    match t {
        "nonInteractiveUser" => "NonInteractiveUserSignInLogs",
        "servicePrincipal" => "ServicePrincipalSignInLogs",
        "managedIdentity" => "ManagedIdentitySignInLogs",
        _ => "SignInLogs",
    }
}

async fn variant(format: &str, shaped: bool, per_identity: u64, hours: i64) -> (Tally, usize) {
    let sim = Simulator::start().await.expect("simulator");
    let now = Utc::now();
    let mix = sim.sign_in_mix(
        per_identity,
        Spread::Between(now - Duration::hours(hours), now - Duration::minutes(10)),
    );
    let served = mix.routine.len() + mix.notable.len() + mix.new_address.len();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, CLIENT_SECRET).unwrap();
    let state = dir.path().join("state");
    let mut body = format!(
        "[throttle]\nreports_requests_per_10s = 10000\n\n[output]\nformat = \"{format}\"\n\n[context]\nenabled = false\n\n[streams.sign_ins]\ninitial_lookback = \"{}h\"\nevent_types = [\"interactiveUser\", \"nonInteractiveUser\", \"servicePrincipal\", \"managedIdentity\"]\n",
        hours + 1
    );
    if shaped {
        body.push_str("\n[streams.sign_ins.shaping]\n");
        for t in TYPES {
            body.push_str(&format!("{t} = \"summarize\"\n"));
        }
    }
    let config = dir.path().join("config.toml");
    std::fs::write(&config, sim.config_toml(&secret, &state, &body)).unwrap();
    let mut tally = Tally::default();
    for round in 0..2 {
        if round == 1 {
            sim.advance_clock(Duration::hours(3));
        }
        let before = children_cpu();
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_entra-source"))
            .args(["run", "--once", "--config"])
            .arg(&config)
            .output()
            .await
            .expect("entra-source runs");
        tally.cpu += children_cpu() - before;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let field = |name: &str| {
            stderr
                .split(name)
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        tally.state_bytes += field("state_written_bytes=");
        tally.state_writes += field("state_writes=");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let (t, summary) = type_of(line, format);
            *tally.bytes.entry(t.clone()).or_default() += line.len() as u64 + 1;
            *tally.lines.entry(t.clone()).or_default() += 1;
            if summary {
                *tally.summaries.entry(t).or_default() += 1;
            }
        }
    }
    (tally, served)
}

fn main() {
    let hours: i64 = env_or("BENCH_HOURS", 6);
    let every: u64 = env_or("BENCH_EVERY_MINUTES", 5);
    let per_identity = (hours as u64 * 60 / every.max(1)) * 2;
    let rt = runtime();
    println!(
        "Sign-in shaping: the simulator's mix over {hours} h, each identity every {every} min per address (`cargo bench --bench shaping`)\n"
    );
    println!("| format | sign-in type | lines in full | lines shaped (summaries) | bytes in full | bytes shaped | cut |");
    println!("|---|---|---|---|---|---|---|");
    let mut cpu = Vec::new();
    let formats: String = env_or(
        "BENCH_FORMATS",
        "native,azure_monitor,log_analytics,ecs,ocsf".to_string(),
    );
    for format in formats.split(',') {
        let (full, served) = rt.block_on(variant(format, false, per_identity, hours));
        let (shaped, served_again) = rt.block_on(variant(format, true, per_identity, hours));
        assert_eq!(served, served_again);
        let mut machine = (0u64, 0u64);
        for t in TYPES.iter().copied().chain(["accounting"]) {
            let b = |x: &Tally| x.bytes.get(t).copied().unwrap_or(0);
            let l = |x: &Tally| x.lines.get(t).copied().unwrap_or(0);
            if t != "accounting" {
                machine.0 += b(&full);
            }
            machine.1 += b(&shaped);
            let cut = if b(&full) > 0 {
                format!(
                    "{:.1} %",
                    100.0 * (1.0 - b(&shaped) as f64 / b(&full) as f64)
                )
            } else {
                "".into()
            };
            println!(
                "| {format} | {t} | {} | {} ({}) | {} | {} | {cut} |",
                l(&full),
                l(&shaped),
                shaped.summaries.get(t).copied().unwrap_or(0),
                b(&full),
                b(&shaped),
            );
        }
        println!(
            "| {format} | **the three machine types, accounting included** | | | {} | {} | **{:.1} %** |",
            machine.0,
            machine.1,
            100.0 * (1.0 - machine.1 as f64 / machine.0.max(1) as f64)
        );
        cpu.push((
            format,
            full.cpu,
            shaped.cpu,
            served,
            (full.state_bytes, full.state_writes),
            (shaped.state_bytes, shaped.state_writes),
        ));
    }
    println!(
        "\nCPU and state writes of the two runs (user + system, every sign-in type read, {} records):\n",
        cpu.first().map_or(0, |c| c.3)
    );
    println!("| format | CPU in full | CPU shaped | µs per record in full → shaped | state bytes written, in full → shaped |");
    println!("|---|---|---|---|---|");
    for (format, full, shaped, served, state_full, state_shaped) in cpu {
        let per = |s: f64| s * 1e6 / served.max(1) as f64;
        println!(
            "| {format} | {full:.3} s | {shaped:.3} s | {:.1} → {:.1} | {} in {} writes → {} in {} |",
            per(full),
            per(shaped),
            state_full.0,
            state_full.1,
            state_shaped.0,
            state_shaped.1
        );
    }
}
