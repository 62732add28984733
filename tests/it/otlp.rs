//! `[output] otlp_endpoint`: OTLP/HTTP JSON export to a loopback stand-in for the OpenTelemetry
//! Collector's otlp receiver, which fails requests on command. Delivery is acknowledged: the
//! checkpoint moves only after a 2xx, so nothing is lost to 429s, 503s, a receiver that is down,
//! or a stop while it is down.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

/// What the receiver answers the next requests with; empty = 200.
#[derive(Default)]
pub(crate) struct Receiver {
    /// Answers for the next requests, in order (status, Retry-After).
    script: Vec<(u16, Option<&'static str>)>,
    /// When set, every request gets this answer (a Collector that is down or misconfigured).
    always: Option<u16>,
    pub(crate) requests: Vec<Value>,
    /// event.id of every log record in an acknowledged (2xx) request.
    pub(crate) acknowledged: Vec<String>,
    statuses: Vec<u16>,
    times: Vec<std::time::Instant>,
}

pub(crate) type Shared = Arc<Mutex<Receiver>>;

async fn logs(State(r): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let mut r = r.lock().unwrap();
    r.times.push(std::time::Instant::now());
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/json",
        "OTLP/HTTP JSON"
    );
    let req: Value = serde_json::from_str(&body).expect("ExportLogsServiceRequest JSON");
    let (status, retry_after) = match r.always {
        Some(s) => (s, Some("0.1")),
        None if r.script.is_empty() => (200, None),
        None => r.script.remove(0),
    };
    r.statuses.push(status);
    if status == 200 {
        for rl in req["resourceLogs"].as_array().unwrap() {
            for sl in rl["scopeLogs"].as_array().unwrap() {
                for rec in sl["logRecords"].as_array().unwrap() {
                    let id = rec["attributes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|a| a["key"] == "event.id")
                        .unwrap()["value"]["stringValue"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    r.acknowledged.push(id);
                }
            }
        }
    }
    r.requests.push(req);
    let mut resp = (
        StatusCode::from_u16(status).unwrap(),
        if status == 200 { "{}" } else { "unavailable" },
    )
        .into_response();
    if let Some(ra) = retry_after.filter(|_| status != 200) {
        resp.headers_mut()
            .insert("retry-after", ra.parse().unwrap());
    }
    resp
}

pub(crate) async fn receiver() -> (String, Shared) {
    let shared: Shared = Arc::default();
    let app = Router::new()
        .route("/v1/logs", post(logs))
        // The Collector's otlp receiver accepts bodies up to 20 MiB by default.
        .layer(DefaultBodyLimit::max(20 * 1024 * 1024))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), shared)
}

fn otlp_config(h: &Harness, endpoint: &str, batch: u32) {
    h.write_streams(&format!(
        "[output]\notlp_endpoint = \"{endpoint}\"\notlp_batch_records = {batch}\n\n[streams.directory_audits]\n[streams.risk_detections]\n"
    ));
}

fn cursor(h: &Harness, stream: &str) -> Value {
    h.state_json()["tenants"][entra_simulator::TENANT_ID]["streams"][stream]["cursor"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_exports_are_retried_and_nothing_is_lost() {
    let h = Harness::new("").await;
    let mut expected: HashSet<String> = h
        .audits(1500, between_minutes_ago(55, 1))
        .into_iter()
        .collect();
    let detections = h.sim.generate(
        entra_simulator::Resource::RiskDetections,
        300,
        between_minutes_ago(55, 1),
    );
    let (url, rx) = receiver().await;
    // 503, 429 and 502 with fractional Retry-After, and a 413, spread over the run.
    rx.lock().unwrap().script = vec![
        (503, Some("0.3")),
        (200, None),
        (429, Some("0.25")),
        (200, None),
        (413, None),
        (200, None),
        (502, None),
        (503, Some("0.2")),
    ];
    otlp_config(&h, &url, 400);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.is_empty(),
        "events go to the Collector, not stdout"
    );
    let rx = rx.lock().unwrap();
    assert_eq!(
        rx.statuses.iter().filter(|s| **s != 200).count(),
        5,
        "{:?}",
        rx.statuses
    );
    // Every failed request was sent again, after at least its Retry-After.
    for (i, s) in rx.statuses.iter().enumerate() {
        if *s == 503 || *s == 429 {
            let gap = rx.times[i + 1] - rx.times[i];
            assert!(gap >= Duration::from_millis(190), "retry after {gap:?}");
        }
    }
    let acked: HashSet<String> = rx.acknowledged.iter().cloned().collect();
    let audit_ids: HashSet<String> = acked.iter().filter(|i| !i.contains('@')).cloned().collect();
    assert_eq!(audit_ids.len(), 1500);
    expected.retain(|i| !audit_ids.contains(i));
    assert!(
        expected.is_empty(),
        "{} audits never acknowledged",
        expected.len()
    );
    let detections_acked = acked.iter().filter(|i| i.contains('@')).count();
    assert_eq!(detections_acked, detections.len());
    assert_unique(&rx.acknowledged);
    // Batches of at most otlp_batch_records, one resource per tenant with its attributes.
    for req in &rx.requests {
        let rl = req["resourceLogs"].as_array().unwrap();
        assert_eq!(rl.len(), 1);
        let attrs = rl[0]["resource"]["attributes"].to_string();
        assert!(attrs.contains("\"service.name\"") && attrs.contains("\"entra-source\""));
        assert!(attrs.contains(entra_simulator::TENANT_ID));
        let recs = rl[0]["scopeLogs"][0]["logRecords"].as_array().unwrap();
        assert!(!recs.is_empty() && recs.len() <= 400, "{}", recs.len());
        for rec in recs {
            let sev = rec["severityNumber"].as_i64().unwrap();
            let text = rec["severityText"].as_str().unwrap();
            let want = match text {
                "info" => 9,
                "low" => 10,
                "medium" => 13,
                "high" => 17,
                other => panic!("severityText {other}"),
            };
            assert_eq!(sev, want);
            assert!(rec["timeUnixNano"].as_str().unwrap().parse::<u64>().is_ok());
            // The body is the whole event (native here), as an OTLP kvlist.
            let keys: Vec<&str> = rec["body"]["kvlistValue"]["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|kv| kv["key"].as_str().unwrap())
                .collect();
            assert!(keys.contains(&"event") && keys.contains(&"properties"));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_checkpoint_waits_for_the_collector_and_a_stop_loses_nothing() {
    let h = Harness::new("").await;
    let ids = h.audits(700, between_minutes_ago(55, 1));
    let (url, rx) = receiver().await;
    rx.lock().unwrap().always = Some(503);
    otlp_config(&h, &url, 500);
    // Collector down: the run keeps retrying; SIGTERM stops it promptly, nothing checkpointed.
    let mut child = h.spawn_run();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rx.lock().unwrap().statuses.len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no export attempts");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, took) = sigterm(&mut child).await;
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(3));
    assert!(rx.lock().unwrap().acknowledged.is_empty());
    let before = h.state.exists().then(|| cursor(&h, "directory_audits"));
    assert!(
        before.as_ref().is_none_or(|c| c.is_null()),
        "the cursor moved without an acknowledgement: {before:?}"
    );
    // Collector back: the next run delivers every record.
    rx.lock().unwrap().always = None;
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let acked: HashSet<String> = rx.lock().unwrap().acknowledged.iter().cloned().collect();
    assert_eq!(acked, ids.into_iter().collect::<HashSet<_>>());
    assert!(cursor(&h, "directory_audits").is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusing_collector_stops_the_run_with_the_fix() {
    let h = Harness::new("").await;
    h.audits(10, between_minutes_ago(55, 1));
    let (url, rx) = receiver().await;
    rx.lock().unwrap().always = Some(400);
    otlp_config(&h, &url, 500);
    let r = h.run_once().await;
    r.fails_with(1, &["Collector", "HTTP 400", "receiver"]);
    // Wrong path: 404 names otlp_endpoint.
    otlp_config(&h, &format!("{url}/wrong"), 500);
    let r = h.run_once().await;
    r.fails_with(1, &["404", "otlp_endpoint"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn otlp_endpoint_must_be_https_or_loopback() {
    let h = Harness::new("").await;
    otlp_config(&h, "http://collector.example.com:4318", 500);
    let r = h.run_once().await;
    r.fails_with(2, &["otlp_endpoint", "loopback"]);
    h.write_streams(
        "[output]\notlp_endpoint = \"http://127.0.0.1:4318\"\npath = \"/tmp/x\"\n[streams.directory_audits]\n",
    );
    let r = h.run_once().await;
    r.fails_with(2, &["otlp_endpoint", "output.path"]);
}

/// With the Collector unreachable, `run --once` retried forever after one warning. It now
/// warns at the first failure (and at least every 30 s), gives up after
/// `otlp_give_up_after` with exit 1 and the fix, and checkpoints nothing unacknowledged.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_collector_is_given_up_on_in_bounded_time_without_a_checkpoint() {
    let h = Harness::new("").await;
    let ids = h.audits(120, between_minutes_ago(55, 1));
    let url = format!("http://127.0.0.1:{}", free_port());
    h.write_streams(&format!(
        "[output]\notlp_endpoint = \"{url}\"\notlp_give_up_after = \"2s\"\n\n[streams.directory_audits]\n"
    ));
    let started = std::time::Instant::now();
    let r = h.run_once().await;
    r.fails_with(
        1,
        &[
            "has not acknowledged",
            "otlp_give_up_after",
            &url,
            "next run",
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        r.stderr.contains("not acknowledged") && r.stderr.contains("retrying"),
        "{}",
        r.stderr
    );
    let c = h.state.exists().then(|| cursor(&h, "directory_audits"));
    assert!(c.as_ref().is_none_or(|c| c.is_null()), "{c:?}");
    // The Collector comes up there: everything is delivered.
    let (up, rx) = receiver().await;
    otlp_config(&h, &up, 500);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let acked: HashSet<String> = rx.lock().unwrap().acknowledged.iter().cloned().collect();
    assert_eq!(acked, ids.into_iter().collect::<HashSet<_>>());
}
