//! `[output] http_endpoint`: newline-delimited JSON pushed to a loopback stand-in for Vector's
//! `http_server` source with acknowledgements, which fails requests on command. The checkpoint
//! moves only after a 2xx: nothing is lost to 503s, 429s, a 413 (the body is split at a line
//! end), or a stop while the receiver is down.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

#[derive(Default)]
struct Receiver {
    /// Answers for the next requests, in order; then 200.
    script: Vec<u16>,
    /// When set, every request gets this answer.
    always: Option<u16>,
    statuses: Vec<u16>,
    /// Lines per request.
    lines: Vec<usize>,
    /// event.id of every line of an acknowledged request.
    acknowledged: Vec<String>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn push(State(r): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let mut r = r.lock().unwrap();
    assert_eq!(headers.get("content-type").unwrap(), "application/x-ndjson");
    assert!(body.ends_with('\n'), "whole lines");
    let events: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    let status = match r.always {
        Some(s) => s,
        None if r.script.is_empty() => 200,
        None => r.script.remove(0),
    };
    r.statuses.push(status);
    r.lines.push(events.len());
    if status == 200 {
        for e in &events {
            r.acknowledged
                .push(e["event"]["id"].as_str().unwrap().to_string());
        }
    }
    let mut resp = StatusCode::from_u16(status).unwrap().into_response();
    if status == 503 || status == 429 {
        resp.headers_mut()
            .insert("retry-after", "0.1".parse().unwrap());
    }
    resp
}

async fn receiver() -> (String, Shared) {
    let shared: Shared = Arc::default();
    let app = Router::new()
        .route("/", post(push))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/"), shared)
}

fn http_config(h: &Harness, endpoint: &str, extra: &str) {
    h.write_streams(&format!(
        "[output]\nhttp_endpoint = \"{endpoint}\"\n{extra}\n[streams.directory_audits]\n"
    ));
}

fn cursor(h: &Harness) -> Value {
    h.state_json()["tenants"][entra_simulator::TENANT_ID]["streams"]["directory_audits"]["cursor"]
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn pushes_are_retried_split_on_413_and_nothing_is_lost_or_doubled() {
    let h = Harness::new("").await;
    let ids: HashSet<String> = h
        .audits(2500, between_minutes_ago(55, 1))
        .into_iter()
        .collect();
    let (url, rx) = receiver().await;
    rx.lock().unwrap().script = vec![503, 200, 429, 413, 200, 502, 200];
    http_config(&h, &url, "");
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "events go to the receiver, not stdout");
    let rx = rx.lock().unwrap();
    assert_eq!(&rx.statuses[..7], &[503, 200, 429, 413, 200, 502, 200]);
    // The 413'd body went again as two halves, each smaller.
    let refused = rx.lines[3];
    assert!(rx.lines[4] < refused && rx.lines[4] > 0, "{:?}", rx.lines);
    assert_unique(&rx.acknowledged);
    assert_eq!(rx.acknowledged.iter().cloned().collect::<HashSet<_>>(), ids);
    drop(rx);
    assert!(cursor(&h).is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_checkpoint_waits_for_the_receiver_and_a_stop_loses_nothing() {
    let h = Harness::new("").await;
    let ids = h.audits(700, between_minutes_ago(55, 1));
    let (url, rx) = receiver().await;
    rx.lock().unwrap().always = Some(503);
    http_config(&h, &url, "");
    let mut child = h.spawn_run();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rx.lock().unwrap().statuses.len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no push attempts");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, took) = sigterm(&mut child).await;
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(3));
    let before = h.state.exists().then(|| cursor(&h));
    assert!(
        before.as_ref().is_none_or(|c| c.is_null()),
        "the cursor moved without an acknowledgement: {before:?}"
    );
    rx.lock().unwrap().always = None;
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let acked: HashSet<String> = rx.lock().unwrap().acknowledged.iter().cloned().collect();
    assert_eq!(acked, ids.into_iter().collect::<HashSet<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusing_or_absent_receiver_stops_the_run_with_the_fix() {
    let h = Harness::new("").await;
    h.audits(10, between_minutes_ago(55, 1));
    let (url, rx) = receiver().await;
    rx.lock().unwrap().always = Some(400);
    http_config(&h, &url, "");
    h.run_once()
        .await
        .fails_with(1, &["HTTP receiver", "HTTP 400"]);
    http_config(&h, &format!("{url}wrong"), "");
    h.run_once().await.fails_with(1, &["404", "http_endpoint"]);
    let down = format!("http://127.0.0.1:{}/", free_port());
    http_config(&h, &down, "http_give_up_after = \"2s\"\n");
    let r = h.run_once().await;
    r.fails_with(
        1,
        &["has not acknowledged", "http_give_up_after", "next run"],
    );
    assert!(cursor(&h).is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn http_endpoint_is_https_or_loopback_and_one_destination() {
    let h = Harness::new("").await;
    http_config(&h, "http://vector.example.com:8080/", "");
    h.run_once()
        .await
        .fails_with(2, &["http_endpoint", "loopback"]);
    h.write_streams(
        "[output]\nhttp_endpoint = \"http://127.0.0.1:8080/\"\notlp_endpoint = \"http://127.0.0.1:4318\"\n[streams.directory_audits]\n",
    );
    h.run_once()
        .await
        .fails_with(2, &["http_endpoint", "otlp_endpoint", "one destination"]);
    h.write_streams("[output]\nhttp_give_up_after = \"1m\"\n[streams.directory_audits]\n");
    h.run_once()
        .await
        .fails_with(2, &["http_give_up_after", "only with output.http_endpoint"]);
}
