//! Settle sweeps (issue 12): each slice is read once fresh and once per `late_arrival` age, so
//! a record is fetched at most `1 + sweeps` times (settle-only: once per sweep), and records
//! Graph shows late are still emitted exactly once. Time is the simulator's clock, moved by
//! the test: each step is one minute of a steady tenant.

use std::collections::HashSet;

use crate::common::*;
use entra_simulator::Resource;

/// Records Graph returned for the stream's queries so far.
fn fetched(h: &Harness) -> usize {
    h.graph_requests()
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.records)
        .sum()
}

/// `steps` one-minute steps: 40 new records a minute, a run after each. Returns every id
/// emitted, in order.
async fn steady(h: &Harness, steps: usize, mut each: impl FnMut(usize)) -> Vec<String> {
    let mut emitted = Vec::new();
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    for step in 0..steps {
        h.advance(chrono::Duration::minutes(1));
        h.audits(40, between_seconds_ago(59, 1));
        each(step);
        let r = h.run_once().await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        emitted.extend(event_ids(&r.events()));
    }
    emitted
}

fn between_seconds_ago(from: i64, to: i64) -> entra_simulator::Spread {
    entra_simulator::Spread::Between(seconds_ago(from), seconds_ago(to))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_record_is_fetched_once_fresh_and_once_settled_and_late_ones_arrive_once() {
    let h = Harness::new("late_arrival = \"20m\"\n").await;
    let mut late = Vec::new();
    let emitted = steady(&h, 40, |step| {
        if step == 10 {
            // Stamped two to three minutes ago, shown by Graph only two steps later.
            late =
                h.sim
                    .generate_hidden(Resource::DirectoryAudits, 25, between_seconds_ago(180, 120));
        }
        if step == 12 {
            h.sim.reveal(None);
        }
    })
    .await;
    let unique: HashSet<&String> = emitted.iter().collect();
    assert_eq!(unique.len(), emitted.len(), "a record was emitted twice");
    assert_eq!(emitted.len(), 40 * 40 + 25);
    assert!(
        late.iter().all(|id| unique.contains(id)),
        "a late record was lost"
    );
    // 40 minutes of records, the first 20 of them swept: 1.5 fetches per record; never
    // more than two (the sliding re-read of 20 minutes every minute fetched each 21 times).
    let ratio = fetched(&h) as f64 / emitted.len() as f64;
    assert!(
        (1.4..=2.0).contains(&ratio),
        "{ratio:.2} records fetched per record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settle_only_reads_each_record_once_after_it_settled() {
    let h = Harness::new("late_arrival = \"20m\"\nsettle_only = true\n").await;
    let first = h.audits(30, between_minutes_ago(50, 30));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(set(&event_ids(&r.events())), set(&first));
    // A record of a minute ago is not read until its slice is 20 minutes old.
    let fresh = h.audits(5, between_seconds_ago(60, 2));
    let r = h.run_once().await;
    assert!(r.events().is_empty(), "read before it settled");
    h.settle();
    let r = h.run_once().await;
    assert_eq!(set(&event_ids(&r.events())), set(&fresh));
    assert_eq!(fetched(&h), 35, "each record fetched exactly once");
    let state = h.state_json();
    let s = &state["tenants"][entra_simulator::TENANT_ID]["streams"]["directory_audits"];
    assert_eq!(s["cursor"], s["settled"]["1200"], "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_sweep_catches_a_late_record_before_the_last_one() {
    let h = Harness::new("late_arrival = [\"5m\", \"20m\"]\n").await;
    h.audits(10, between_minutes_ago(30, 1));
    assert_eq!(h.run_once().await.events().len(), 10);
    let late = h
        .sim
        .generate_hidden(Resource::DirectoryAudits, 4, between_seconds_ago(100, 40));
    h.sim.reveal(None);
    h.advance(chrono::Duration::minutes(6));
    let r = h.run_once().await;
    assert_eq!(set(&event_ids(&r.events())), set(&late), "{}", r.stderr);
    // The 20-minute sweep reads them again and emits nothing.
    h.settle();
    let r = h.run_once().await;
    assert!(r.events().is_empty(), "{}", r.stdout);
    let state = h.state_json();
    let s = &state["tenants"][entra_simulator::TENANT_ID]["streams"]["directory_audits"];
    assert!(
        s["settled"]["300"].is_string() && s["settled"]["1200"].is_string(),
        "{s}"
    );
}

fn set(ids: &[String]) -> HashSet<String> {
    ids.iter().cloned().collect()
}

/// A tenant whose records arrive faster than its Graph budget sustains is told so, with the
/// rates and the setting that helps; settle-only (one read per record) then keeps up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_its_budget_cannot_keep_up_with_says_so_with_the_sustainable_rate() {
    let h = Harness::new("").await;
    // One identity-protection request a second, 500 records a page, fresh + one sweep:
    // 250 records/s sustained; 300 a second arrive.
    let body = |extra: &str| {
        format!("[throttle]\nidentity_protection_requests_per_second = 1\n\n[poll]\ninterval_seconds = 1\n\n[streams.risk_detections]\nlate_arrival = \"20m\"\n{extra}")
    };
    h.write_config(&body(""));
    assert_eq!(h.run_once().await.code, Some(0));
    h.advance(chrono::Duration::seconds(10));
    h.sim
        .generate(Resource::RiskDetections, 3000, between_seconds_ago(9, 1));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.events().len(), 3000);
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("will fall behind"))
        .unwrap_or_else(|| panic!("no budget warning: {}", r.stderr));
    let arriving: u64 = line
        .split("arriving_per_second=")
        .nth(1)
        .and_then(|v| v.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    // 3,000 over the ten seconds moved and the real one or two the runs took.
    assert!((250..=300).contains(&arriving), "{line}");
    for needle in [
        "sustains about 250/s",
        "settle_only = true",
        "about 500 records/s",
    ] {
        assert!(line.contains(needle), "{needle}: {line}");
    }
    // Settle-only: 500 records/s sustained, no warning.
    h.write_config(&body("settle_only = true\n"));
    h.advance(chrono::Duration::seconds(10));
    h.sim
        .generate(Resource::RiskDetections, 3000, between_seconds_ago(9, 1));
    h.settle();
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!r.stderr.contains("will fall behind"), "{}", r.stderr);
}
