//! A first run with `initial_lookback = "14d"` catches up window by window (one day each),
//! checkpointing each, so a SIGKILL at any point loses nothing and repeats at most the page
//! in flight, even for a stream whose cursor cannot move inside a window (risky sign-ins: three
//! queries share one window).

use std::collections::HashSet;
use std::time::Duration;

use crate::common::*;
use chrono::Utc;
use entra_simulator::{Resource, Spread, TENANT_ID};

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

/// `run --once` with stderr on a pseudo-terminal (util-linux `script`) and events to a file:
/// what the terminal showed, and the events file. `None` where `script` is not installed.
async fn run_once_on_a_terminal(h: &Harness) -> Option<(String, std::path::PathBuf)> {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("util-linux `script` is not installed: no pseudo-terminal, test not run");
        return None;
    }
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
    let tty = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{tty}");
    Some((tty, events))
}

/// 500 audits over the last five days, read with a 5-day initial lookback.
async fn five_day_backfill() -> Harness {
    let h = Harness::new("").await;
    h.write_streams("[streams.directory_audits]\ninitial_lookback = \"5d\"\n");
    let now = Utc::now();
    h.sim.generate(
        Resource::DirectoryAudits,
        500,
        // Inside the lookback even when the run starts a while after this (a loaded machine).
        Spread::Between(
            now - chrono::Duration::days(5) + chrono::Duration::minutes(10),
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
            l.contains("emitted=") && l.contains("behind_seconds="),
            "{l}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_backfill_draws_a_progress_bar_per_stream() {
    // A pseudo-terminal for stderr through util-linux `script`; events still go to a file.
    let h = five_day_backfill().await;
    h.sim.set_delay(Duration::from_millis(60));
    let Some((tty, events)) = run_once_on_a_terminal(&h).await else {
        return;
    };
    // It counts records (the old bar showed a share of the window's time: "99 % … ETA 0s"
    // with most records still to come, when they were recent).
    assert!(
        tty.contains("/directory_audits")
            && tty.contains(" records, ")
            && tty.contains("history read to"),
        "no progress bar on the terminal: {tty}"
    );
    assert!(!tty.contains("ETA"), "{tty}");
    let written = std::fs::read_to_string(&events).unwrap();
    assert_eq!(written.lines().count(), 500);
}

/// The two risk-detection streams re-read 48 h on every poll, which spans several one-day
/// windows: each ordinary poll logged "backfill: window checkpointed … behind_seconds=86402".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordinary_poll_of_a_48_hour_re_read_is_not_called_a_backfill() {
    let h = Harness::new("").await;
    h.write_streams("[streams.risk_detections]\n[streams.service_principal_risk_detections]\n");
    h.sim
        .generate(Resource::RiskDetections, 30, between_minutes_ago(50, 1));
    for _ in 0..2 {
        let r = h.run_once().await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        assert!(!r.stderr.contains("backfill"), "{}", r.stderr);
    }
}

/// A poll cut short by SIGTERM logged `lag_seconds=0`, as if it had caught up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_stopped_by_sigterm_claims_no_lag() {
    let h = Harness::new("").await;
    h.audits(5000, between_minutes_ago(55, 1));
    h.sim.set_delay(Duration::from_millis(300));
    let mut child = h.spawn_run();
    let mut lines = stdout_lines(&mut child);
    let mut got = Vec::new();
    read_lines(&mut lines, 1, &mut got).await;
    // Keep reading, as a host does, so the run is never blocked on a full pipe.
    let reader = tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let (status, _) = sigterm(&mut child).await;
    reader.abort();
    assert_eq!(status.code(), Some(0));
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(!stderr.contains("lag_seconds=0"), "{stderr}");
    assert!(stderr.contains("poll stopped by shutdown"), "{stderr}");
}

/// The bar moved only between one-day windows ("67% 0 records, 0/s" through a whole 40 s
/// catch-up): it now counts the records of every page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backfill_bar_counts_records_within_a_window() {
    let h = Harness::new("").await;
    h.write_streams("[streams.directory_audits]\ninitial_lookback = \"2d\"\n");
    let now = Utc::now();
    // Every record in the first one-day window, read in several pages.
    h.sim.generate(
        Resource::DirectoryAudits,
        3000,
        Spread::Between(
            now - chrono::Duration::hours(47),
            now - chrono::Duration::hours(25),
        ),
    );
    h.sim.set_delay(Duration::from_millis(150));
    let Some((tty, events)) = run_once_on_a_terminal(&h).await else {
        return;
    };
    let before_first_window = tty
        .split("backfill: window checkpointed")
        .next()
        .unwrap_or_default();
    let counted = before_first_window
        .split(" records, ")
        .filter_map(|s| s.rsplit(' ').next()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    assert!(
        counted > 0,
        "no record counted before the first window ended: {before_first_window}"
    );
    assert_eq!(
        std::fs::read_to_string(&events).unwrap().lines().count(),
        3000
    );
}
