//! A first run with `initial_lookback = "14d"` catches up window by window (one day each),
//! checkpointing each, so a SIGKILL at any point loses nothing and repeats at most the page
//! in flight, even for a stream whose cursor cannot move inside a window (risky sign-ins: three
//! queries share one window).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use common::*;
use entra_source::simulator::{Resource, Spread, TENANT_ID};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_14_day_backfill_checkpoints_as_it_goes_and_a_kill_loses_nothing() {
    let h = Harness::new("").await;
    h.write_streams(
        "[streams.directory_audits]\ninitial_lookback = \"14d\"\n[streams.sign_ins]\ninitial_lookback = \"14d\"\nfilter = \"risky\"\napi_version = \"v1.0\"\n",
    );
    let now = Utc::now();
    let span = Spread::Between(
        now - chrono::Duration::days(14) + chrono::Duration::hours(1),
        now - chrono::Duration::minutes(1),
    );
    let audits = h.sim.generate(Resource::DirectoryAudits, 7000, span);
    let signins = h.sim.generate_with(
        Resource::SignIns,
        4200,
        span,
        serde_json::json!({ "riskLevelDuringSignIn": "medium" }),
        true,
    );
    let all: HashSet<String> = audits.iter().chain(&signins).cloned().collect();
    h.sim.set_delay(Duration::from_millis(30));

    let mut delivered: Vec<String> = Vec::new();
    let mut kills = 0;
    for target in [1500usize, 4000, 7300] {
        delivered.extend(run_then_kill_9(&h, target.saturating_sub(delivered.len())).await);
        kills += 1;
        // The non-advancing stream checkpointed whole windows while the run was alive.
        if kills == 3 {
            let state = h.state_json();
            let cursor = state["tenants"][TENANT_ID]["streams"]["sign_ins"]["cursor"]
                .as_str()
                .map(|c| c.parse::<chrono::DateTime<Utc>>().unwrap());
            assert!(
                cursor.is_some_and(|c| c > now - chrono::Duration::days(13)),
                "risky sign-ins checkpointed no window: {cursor:?}"
            );
        }
    }
    let last = h.run_once().await;
    assert_eq!(last.code, Some(0), "{}", last.stderr);
    delivered.extend(event_ids(&last.events()));

    let counts = tally(&delivered);
    let missing = all.iter().filter(|id| !counts.contains_key(*id)).count();
    assert_eq!(missing, 0, "records lost");
    let extra = delivered.len() - all.len();
    assert!(
        extra <= kills * 1000,
        "{extra} duplicates for {kills} kills: more than the page in flight each"
    );
}

/// 500 audits over the last five days, read with a 5-day initial lookback.
async fn five_day_backfill() -> Harness {
    let h = Harness::new("").await;
    h.write_streams("[streams.directory_audits]\ninitial_lookback = \"5d\"\n");
    let now = Utc::now();
    h.sim.generate(
        Resource::DirectoryAudits,
        500,
        Spread::Between(
            now - chrono::Duration::days(5),
            now - chrono::Duration::minutes(1),
        ),
    );
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_progress_is_logged_per_window() {
    let h = five_day_backfill().await;
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.events().len(), 500);
    let progress: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("backfill: window checkpointed"))
        .collect();
    // Five one-day windows: four checkpoints before the last, which ends the poll.
    assert_eq!(progress.len(), 4, "{}", r.stderr);
    for (i, l) in progress.iter().enumerate() {
        assert!(
            l.contains(&format!("window={}", i + 1)) && l.contains("windows=5"),
            "{l}"
        );
        assert!(
            l.contains("eta_seconds=") && l.contains("behind_seconds="),
            "{l}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_backfill_draws_a_progress_bar_per_stream() {
    // A pseudo-terminal for stderr through util-linux `script`; events still go to a file.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("util-linux `script` is not installed: no pseudo-terminal, test not run");
        return;
    }
    let h = five_day_backfill().await;
    h.sim.set_delay(Duration::from_millis(60));
    let events = h.dir.path().join("events.ndjson");
    let cmd = format!(
        "{} run --config {} --once > {}",
        env!("CARGO_BIN_EXE_entra-source"),
        h.config.display(),
        events.display()
    );
    let out = tokio::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{tty}");
    assert!(
        tty.contains("/directory_audits") && tty.contains("ETA") && tty.contains("records"),
        "no progress bar on the terminal: {tty}"
    );
    let written = std::fs::read_to_string(&events).unwrap();
    assert_eq!(written.lines().count(), 500);
}
