//! `entra-source state show|reset` and the health each poll records in the state file.

use std::collections::HashSet;

use crate::common::*;
use entra_simulator::{Resource, TENANT_ID};
use serde_json::Value;

const TWO_STREAMS: &str = "[streams.directory_audits]\n[streams.risk_detections]\n";

fn state_args<'a>(h: &'a Harness, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["state"];
    v.extend_from_slice(args);
    v.extend_from_slice(&["--config", h.config.to_str().unwrap()]);
    v
}

/// The record time of every audit in the simulator, by id.
fn audit_times(h: &Harness) -> Vec<(String, chrono::DateTime<chrono::Utc>)> {
    h.sim
        .records(Resource::DirectoryAudits)
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["activityDateTime"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_rewinds_one_stream_and_the_next_run_re_emits_exactly_that_range() {
    let h = Harness::new("").await;
    h.write_streams(TWO_STREAMS);
    h.audits(600, between_minutes_ago(50, 1));
    h.sim
        .generate(Resource::RiskDetections, 50, between_minutes_ago(50, 1));
    let first = h.run_once().await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert_eq!(first.events().len(), 650);
    let before: Value = h.state_json();

    // Rewind the audits to 20 minutes ago (a whole second).
    let since = chrono::DateTime::from_timestamp(minutes_ago(20).timestamp(), 0).unwrap();
    let since_s = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = h
        .run_args(&state_args(
            &h,
            &["reset", "--stream", "directory_audits", "--since", &since_s],
        ))
        .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("directory_audits"), "{}", r.stderr);
    let after = h.state_json();
    let detections = |v: &Value| v["tenants"][TENANT_ID]["streams"]["risk_detections"].clone();
    assert_eq!(
        detections(&before),
        detections(&after),
        "other streams untouched"
    );

    let second = h.run_once().await;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let got: HashSet<String> = event_ids(&second.events()).into_iter().collect();
    let want: HashSet<String> = audit_times(&h)
        .into_iter()
        .filter(|(_, t)| *t >= since)
        .map(|(id, _)| id)
        .collect();
    assert!(!want.is_empty() && want.len() < 600);
    assert_eq!(
        got, want,
        "exactly the audits from --since on, and no detection"
    );
    // And then nothing again.
    assert!(h.run_once().await.events().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn show_reports_health_beside_a_running_run_and_reset_refuses_while_it_holds_the_lock() {
    let h = Harness::new("").await;
    h.write_streams("[streams.directory_audits]\n[streams.risky_users]\n");
    h.audits(20, between_minutes_ago(30, 1));
    // Risky users need P2: without it that stream fails with the licence named.
    h.sim.set_licences(&[entra_simulator::Licence::P1]);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(1));
    let show = h
        .run_args(&state_args(&h, &["show", "--output", "json"]))
        .await;
    assert_eq!(show.code, Some(0), "{}", show.stderr);
    let v: Value = serde_json::from_str(show.stdout.trim()).unwrap();
    let streams = &v["tenants"][TENANT_ID]["streams"];
    assert_eq!(streams["directory_audits"]["health"], "ok");
    assert!(streams["directory_audits"]["cursor"].is_string());
    assert!(streams["directory_audits"]["lag_seconds"].as_i64().unwrap() < 120);
    assert_eq!(streams["risky_users"]["health"], "error");
    let err = streams["risky_users"]["last_error"].as_str().unwrap();
    assert!(
        err.contains("P2") && err.contains("enabled = false"),
        "{err}"
    );
    assert_eq!(streams["risky_users"]["consecutive_failures"], 1);
    // The table says the same.
    let table = h.run_args(&state_args(&h, &["show"])).await;
    assert_eq!(table.code, Some(0));
    let line = table
        .stdout
        .lines()
        .find(|l| l.contains("risky_users"))
        .unwrap();
    assert!(line.contains("error") && line.contains("P2"), "{line}");

    // A run holds the lock: `show` reads the file beside it (read-only), `reset` refuses,
    // naming the pid.
    h.write_streams("[streams.directory_audits]\n");
    h.sim.set_delay(std::time::Duration::from_millis(300));
    let mut child = h.spawn_run();
    let pid = child.id().unwrap().to_string();
    let lock = {
        let mut p = h.state.as_os_str().to_owned();
        p.push(".lock");
        std::path::PathBuf::from(p)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(&lock).unwrap_or_default().trim() != pid {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never took the lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let before = std::fs::read(&h.state).unwrap();
    let show = h
        .run_args(&state_args(&h, &["show", "--output", "json"]))
        .await;
    assert_eq!(show.code, Some(0), "{}", show.stderr);
    let v: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    assert!(
        v["tenants"][TENANT_ID]["streams"]["directory_audits"].is_object(),
        "{v}"
    );
    let r = h
        .run_args(&state_args(
            &h,
            &[
                "reset",
                "--stream",
                "directory_audits",
                "--since",
                &(chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339(),
            ],
        ))
        .await;
    r.fails_with(1, &["locked", &pid, "stop the run"]);
    child.kill().await.unwrap();
    let _ = child.wait().await;
    assert_eq!(std::fs::read(&h.state).unwrap(), before, "nothing written");
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_errors_name_the_problem() {
    let h = Harness::new("").await;
    let r = h
        .run_args(&state_args(&h, &["reset", "--stream", "sign_in"]))
        .await;
    r.fails_with(2, &["sign_in", "directory_audits"]);
    let r = h
        .run_args(&state_args(
            &h,
            &[
                "reset",
                "--stream",
                "directory_audits",
                "--since",
                "yesterday",
            ],
        ))
        .await;
    r.fails_with(2, &["RFC 3339"]);
    // Older than Graph keeps the stream's records: nothing there can be read again.
    let long_ago = (chrono::Utc::now() - chrono::Duration::days(31)).to_rfc3339();
    let r = h
        .run_args(&state_args(
            &h,
            &[
                "reset",
                "--stream",
                "directory_audits",
                "--since",
                &long_ago,
            ],
        ))
        .await;
    r.fails_with(2, &["30 days", "--since"]);
    let r = h
        .run_args(&state_args(&h, &["reset", "--stream", "risky_users"]))
        .await;
    r.fails_with(2, &["risky_users", "enabled"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn state_commands_need_no_credential_in_the_shell() {
    let h = Harness::new("").await;
    h.audits(5, between_minutes_ago(30, 1));
    assert_eq!(h.run_once().await.code, Some(0));
    // The operator's shell lacks the service's secret variable: state commands still work.
    let text = std::fs::read_to_string(&h.config).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("client_secret_file"))
        .unwrap()
        .to_string();
    std::fs::write(
        &h.config,
        text.replace(
            &line,
            "client_secret_env = \"ENTRA_SOURCE_UNSET_IN_THIS_SHELL\"",
        ),
    )
    .unwrap();
    let show = h.run_args(&state_args(&h, &["show"])).await;
    assert_eq!(show.code, Some(0), "{}", show.stderr);
    assert!(show.stdout.contains("directory_audits") && show.stdout.contains(" ok "));
    let reset = h
        .run_args(&state_args(&h, &["reset", "--stream", "directory_audits"]))
        .await;
    assert_eq!(reset.code, Some(0), "{}", reset.stderr);
    // A run still needs it, and says so before any network call.
    h.run_once()
        .await
        .fails_with(2, &["ENTRA_SOURCE_UNSET_IN_THIS_SHELL"]);
}

/// A checkpoint a year old walked 365 empty one-day windows; one far in the future made the
/// window arithmetic absurd. The first resumes at Graph's retention edge, the second stops with
/// the clock named.
#[tokio::test(flavor = "multi_thread")]
async fn absurd_checkpoints_neither_walk_empty_windows_nor_panic() {
    let h = Harness::new("").await;
    let ids = h.audits(30, between_minutes_ago(60 * 24 * 3, 1));
    let write_cursor = |cursor: &str| {
        let state = serde_json::json!({"version": 3, "tenants": {TENANT_ID: {"streams": {
            "directory_audits": {"cursor": cursor, "seen": {}, "last_success": null}}}}});
        std::fs::write(&h.state, state.to_string()).unwrap();
    };
    write_cursor("2025-01-01T00:00:00Z");
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        event_ids(&r.events()).into_iter().collect::<HashSet<_>>(),
        ids.into_iter().collect::<HashSet<_>>()
    );
    assert!(r.stderr.contains("older than Graph keeps"), "{}", r.stderr);
    // 30 one-day windows at most, not one per day since the checkpoint.
    assert!(
        h.graph_requests().len() <= 31,
        "{}",
        h.graph_requests().len()
    );

    for cursor in ["+262000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"] {
        write_cursor(cursor);
        let r = h.run_once().await;
        assert_eq!(r.code, Some(1), "{cursor}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    let r = h.run_once().await;
    r.fails_with(1, &["ahead of Graph's clock", "state reset"]);
}
