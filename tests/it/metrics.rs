//! `[metrics] listen`: `/metrics` (Prometheus text) and `/health` reflect a throttled stream, a
//! failing stream and its recovery, driven by the simulator's fault controls.

use std::time::{Duration, Instant};

use crate::common::*;
use entra_simulator::{Fault, TENANT_ID};
use serde_json::Value;

fn with_metrics(h: &Harness, port: u16, streams: &str) {
    h.write_streams(&format!(
        "[metrics]\nlisten = \"127.0.0.1:{port}\"\n\n{streams}"
    ));
}

pub(crate) async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let r = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().await.ok()?))
}

/// The value of the first sample whose line starts with `prefix` (name and labels).
pub(crate) fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Polls `/health` until `want` holds (the run moves on its own interval; no fixed sleeps).
async fn health_until(port: u16, what: &str, want: impl Fn(u16, &Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((status, body)) = get(port, "/health").await {
            let v: Value = serde_json::from_str(&body).unwrap();
            if want(status, &v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: last /health {status} {v}"
            );
        }
        assert!(Instant::now() < deadline, "{what}: /health never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_events_requests_and_throttling() {
    let h = Harness::new("").await;
    let port = free_port();
    with_metrics(&h, port, "[streams.directory_audits]\n");
    h.audits(2500, between_minutes_ago(50, 1));
    h.sim.fault_every(
        3,
        Fault::Throttle {
            retry_after: Some("0.2".into()),
        },
    );
    let mut child = h.spawn_run();
    let mut lines = stdout_lines(&mut child);
    let mut got = Vec::new();
    read_lines(&mut lines, 2500, &mut got).await;
    let key = format!("{TENANT_ID}/directory_audits");
    health_until(port, "healthy after the catch-up", |s, v| {
        s == 200 && v["streams"][&key]["health"] == "ok"
    })
    .await;
    let (status, text) = get(port, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    let stream = format!("tenant=\"{TENANT_ID}\",stream=\"directory_audits\",sign_in_type=\"\"");
    assert_eq!(
        sample(
            &text,
            &format!("entra_source_events_total{{{stream},format=\"native\"}}")
        ),
        Some(2500.0),
        "{text}"
    );
    let ok = sample(
        &text,
        "entra_source_graph_requests_total{resource=\"auditLogs/directoryAudits\",status=\"200\"}",
    )
    .unwrap();
    let throttled = sample(
        &text,
        "entra_source_graph_requests_total{resource=\"auditLogs/directoryAudits\",status=\"429\"}",
    )
    .unwrap();
    assert!(ok >= 3.0 && throttled >= 1.0, "{text}");
    assert_eq!(
        sample(
            &text,
            "entra_source_graph_throttled_total{resource=\"auditLogs/directoryAudits\"}"
        ),
        Some(throttled)
    );
    let waited = sample(
        &text,
        "entra_source_graph_throttle_wait_seconds_total{resource=\"auditLogs/directoryAudits\"}",
    )
    .unwrap();
    assert!(
        waited >= 0.2 * throttled - 1e-9,
        "{waited} for {throttled} 429s"
    );
    assert!(sample(&text, &format!("entra_source_pages_total{{{stream}}}")).unwrap() >= 3.0);
    assert!(sample(&text, "entra_source_token_requests_total{").unwrap() >= 1.0);
    assert!(sample(&text, "entra_source_state_writes_total").unwrap() >= 1.0);
    let lag = sample(
        &text,
        &format!("entra_source_stream_lag_seconds{{{stream}}}"),
    )
    .unwrap();
    assert!((0.0..60.0).contains(&lag), "lag {lag}");
    assert!(
        sample(
            &text,
            &format!("entra_source_stream_last_success_timestamp_seconds{{{stream}}}")
        )
        .unwrap()
            > 1.7e9
    );
    assert_eq!(
        sample(&text, &format!("entra_source_stream_healthy{{{stream}}}")),
        Some(1.0)
    );
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn health_turns_503_while_a_stream_fails_and_200_when_it_recovers() {
    let h = Harness::new("").await;
    let port = free_port();
    with_metrics(&h, port, "[streams.directory_audits]\n");
    h.audits(50, between_minutes_ago(50, 1));
    // Five malformed pages in a row: five failed polls, one a second, longer than two intervals.
    h.sim
        .push_faults(std::iter::repeat_n(Fault::MalformedPage, 5));
    let mut child = h.spawn_run();
    // Drain stdout meanwhile: a full pipe would stall the run.
    let mut lines = stdout_lines(&mut child);
    // The 50 audits and two connector_health events: degraded, then ok again. The reader
    // hands back its end of the pipe: closing it would tell the run its host is gone.
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        read_lines(&mut lines, 52, &mut got).await;
        (got, lines)
    });
    let failing = health_until(port, "503 while failing", |s, _| s == 503).await;
    let f = &failing["failing"][0];
    assert_eq!(f["stream"], "directory_audits");
    assert_eq!(f["health"], "degraded");
    assert!(
        f["last_error"].as_str().unwrap().contains("malformed"),
        "{f}"
    );
    let (_, text) = get(port, "/metrics").await.unwrap();
    assert!(sample(&text, "entra_source_polls_failed_total{").unwrap() >= 2.0);
    // The faults run out: the next poll succeeds and health recovers.
    let ok = health_until(port, "200 after recovery", |s, _| s == 200).await;
    assert_eq!(ok["status"], "ok");
    let (got, _pipe) = reader.await.unwrap();
    let events = parse_lines(&got.join("\n"));
    let health: Vec<&str> = events
        .iter()
        .filter(|e| e["event"]["dataset"] == "entra.connector_health")
        .map(|e| e["properties"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(health, ["degraded", "ok"]);
    assert_eq!(events.len() - health.len(), 50, "every record, once");
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn health_names_a_stream_stopped_by_a_missing_permission() {
    let h = Harness::new("").await;
    let port = free_port();
    with_metrics(
        &h,
        port,
        "[streams.directory_audits]\n[streams.risky_users]\n",
    );
    h.audits(20, between_minutes_ago(50, 1));
    let roles = roles_without("IdentityRiskyUser.Read.All");
    h.sim.set_roles(&roles);
    let mut child = h.spawn_run();
    let v = health_until(port, "503 naming risky_users", |s, v| {
        s == 503 && v["failing"][0]["health"] == "error"
    })
    .await;
    let failing = v["failing"].as_array().unwrap();
    assert_eq!(failing.len(), 1, "{v}");
    assert_eq!(failing[0]["stream"], "risky_users");
    let err = failing[0]["last_error"].as_str().unwrap();
    assert!(err.contains("IdentityRiskyUser.Read.All"), "{err}");
    assert_eq!(
        v["streams"][format!("{TENANT_ID}/directory_audits")]["healthy"],
        true
    );
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_stuck_failing_logs_one_line_per_poll_not_one_per_retry() {
    let h = Harness::new("").await;
    h.audits(10, between_minutes_ago(50, 1));
    // Every request answers 503 (Retry-After 0.01 s): each poll exhausts its 8 attempts.
    h.sim.fault_every(
        1,
        Fault::Unavailable {
            retry_after: Some("0.01".into()),
        },
    );
    let child = h.spawn_run();
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.graph_requests().len() < 8 * 3 + 1 {
        assert!(Instant::now() < deadline, "polls never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    let r = finish(child).await;
    let failed = r
        .stderr
        .lines()
        .filter(|l| l.contains("poll failed"))
        .count();
    let requests = h.graph_requests().len();
    assert!(failed >= 3, "{}", r.stderr);
    // One line per failed poll (each of 8 requests), none per retry.
    assert!(
        failed <= requests / 8 + 1,
        "{failed} lines for {requests} requests"
    );
    assert!(!r.stderr.contains("retrying the same URL"), "{}", r.stderr);
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("poll failed"))
        .unwrap();
    assert!(line.contains("503") && line.contains('8'), "{line}");
}

/// Readiness was `/health`, so one tenant that revoked consent took a pod serving many out of
/// its Service (and blocked rolling updates), with no reason in the answer. `/health/ready`
/// stays 200 while any tenant works; `/health` says which tenant fails and why.
#[tokio::test(flavor = "multi_thread")]
async fn one_failing_tenant_leaves_the_process_ready_and_health_names_it() {
    use entra_simulator::{Simulator, CLIENT_ID, CLIENT_SECRET};
    const GOOD: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
    const BAD: &str = "cccccccc-0000-4000-8000-00000000000c";
    let h = Harness::new("").await;
    let sims = [
        Simulator::start().await.unwrap(),
        Simulator::start().await.unwrap(),
    ];
    for (sim, id) in sims.iter().zip([GOOD, BAD]) {
        sim.accept_tenant(id);
        sim.generate(
            entra_simulator::Resource::DirectoryAudits,
            20,
            between_minutes_ago(50, 1),
        );
    }
    // The bad tenant's secret was rotated; the file holds the old one.
    sims[1].set_secret("a-newer-secret");
    std::fs::write(&h.secret_file, CLIENT_SECRET).unwrap();
    let port = free_port();
    let write = |ids: &[&str]| {
        let mut config = format!(
            "{FAST}[state]\npath = \"{}\"\n\n[poll]\ninterval_seconds = 1\n\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n\n[context]\nenabled = false\n\n[streams.directory_audits]\n\n",
            h.state.display()
        );
        for (sim, id) in sims.iter().zip(ids) {
            let base = sim.base_url();
            config.push_str(&format!(
                "[[tenants]]\nid = \"{id}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{}\"\nlogin_url = \"{base}\"\ngraph_url = \"{base}\"\n\n",
                h.secret_file.display()
            ));
        }
        std::fs::write(&h.config, config).unwrap();
    };
    write(&[GOOD, BAD]);
    let mut child = h.spawn_run();
    let mut lines = stdout_lines(&mut child);
    let mut got = Vec::new();
    read_lines(&mut lines, 20, &mut got).await;
    let health = health_until(port, "the bad tenant failing", |s, v| {
        s == 503 && v["tenants"][BAD]["healthy"] == false
    })
    .await;
    let reason = health["reason"].as_str().unwrap();
    assert!(
        reason.contains("1 of 2 streams failing") && reason.contains(BAD),
        "{reason}"
    );
    assert_eq!(health["tenants"][GOOD]["healthy"], true, "{health}");
    assert!(
        health["tenants"][BAD]["reason"]
            .as_str()
            .unwrap()
            .contains("AADSTS7000215"),
        "{health}"
    );
    let (ready, body) = get(port, "/health/ready").await.unwrap();
    assert_eq!(ready, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["tenants_failing"], 1);
    sigterm(&mut child).await;
    drop(lines);

    // Every tenant failing: not ready, and it says why.
    sims[0].set_secret("a-newer-secret");
    let _ = std::fs::remove_file(&h.state);
    write(&[GOOD, BAD]);
    let mut child = h.spawn_run();
    let _lines = stdout_lines(&mut child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        if let Some((503, body)) = get(port, "/health/ready").await {
            break serde_json::from_str::<Value>(&body).unwrap();
        }
        assert!(Instant::now() < deadline, "/health/ready never 503");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["status"], "not_ready");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("every tenant is failing (2 of 2)"),
        "{body}"
    );
    sigterm(&mut child).await;
}

/// The lag gauge rose during a paced catch-up and never came down before the poll finished: it
/// moved only when a whole poll ended. It now follows each checkpointed page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lag_falls_page_by_page_during_a_catch_up() {
    let h = Harness::new("").await;
    let port = free_port();
    with_metrics(
        &h,
        port,
        "[streams.directory_audits]\ninitial_lookback = \"10h\"\n",
    );
    h.audits(6000, between_minutes_ago(590, 2));
    // Six pages, each answered slowly: the poll lasts some seconds.
    h.sim.set_delay(Duration::from_millis(600));
    let mut child = h.spawn_run();
    // Drain stdout, or the run blocks on a full pipe.
    let mut lines = stdout_lines(&mut child);
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let lag = "entra_source_stream_lag_seconds{";
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen: Vec<f64> = Vec::new();
    // Until the first poll has finished (its last-success timestamp appears).
    loop {
        if Instant::now() >= deadline {
            let m = get(port, "/metrics").await;
            let _ = child.kill().await;
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "lags seen: {seen:?}; metrics {m:?}; stderr {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if let Some((_, text)) = get(port, "/metrics").await {
            if let Some(v) = sample(&text, lag) {
                if seen.last() != Some(&v) {
                    seen.push(v);
                }
            }
            if sample(&text, "entra_source_stream_last_success_timestamp_seconds{").is_some() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill().await;
    drain.abort();
    // Several values on the way down, from hours behind to minutes.
    assert!(seen.len() >= 3, "lags seen: {seen:?}");
    assert!(
        seen.windows(2).any(|w| w[1] < w[0] - 600.0),
        "lags seen: {seen:?}"
    );
    assert!(seen[0] > 3.0 * 3600.0, "lags seen: {seen:?}");
}
