//! The learned sweeps and the long-age check against the in-process simulator, its clock
//! moved by hand and its records shown after Graph's delays (issue 27).

use std::time::Duration as StdDuration;

use chrono::Duration;
use entra_simulator::{Appearance, DelayProfile, Resource, Simulator, Spread};
use serde_json::json;

use super::tests::{emitted, poller_with};
use crate::kind::StreamKind;
use crate::streams::StreamSettings;

fn minutes(m: u64) -> StdDuration {
    StdDuration::from_secs(m * 60)
}

fn settings(kind: StreamKind, sweeps: &[u64], learn: bool, tail: Option<u64>) -> StreamSettings {
    let sweeps: Vec<_> = sweeps.iter().map(|m| minutes(*m)).collect();
    StreamSettings {
        kind,
        sweeps,
        settle_only: false,
        learn_step: learn.then_some(minutes(5)),
        tail_check: tail.map(minutes),
        audit: false,
        initial_lookback: minutes(10),
        sign_ins: Default::default(),
    }
}

/// Slow sign-ins (median 8 minutes, up to 21): with sweeps at 5 and 40 minutes the last one
/// found half of them, 40 minutes late. The stream adds sweeps until a record is read within
/// an interval of Graph showing it, and takes them away again once Graph is fast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_sign_ins_grow_the_sweeps_and_fast_ones_shrink_them_back() {
    let sim = Simulator::start().await.unwrap();
    sim.set_appearance(Appearance::Delayed {
        profile: DelayProfile::SlowSignIns,
        scale: 1.0,
    });
    let dir = tempfile::tempdir().unwrap();
    let (p, _trigger) = poller_with(
        &sim,
        dir.path(),
        settings(StreamKind::SignIns, &[5, 40], true, None),
    )
    .await;
    let interactive = json!({"signInEventTypes": ["interactiveUser"], "isInteractive": true});
    let rungs = async || p.checkpoint.read(|s| s.map_or(0, |s| s.ladder.rungs)).await;
    let mut ids = Vec::new();
    let poll = async |ids: &mut Vec<String>, n: u64| {
        sim.advance_clock(Duration::minutes(5));
        // `generate` shifts times read on the real clock by the simulated clock's advance.
        let now = chrono::Utc::now();
        ids.extend(sim.generate_with(
            Resource::SignIns,
            n,
            Spread::Between(now - Duration::minutes(5), now),
            interactive.clone(),
            true,
        ));
        p.poll_once().await.unwrap();
    };
    for _ in 0..60 {
        poll(&mut ids, 60).await;
    }
    let grown = rungs().await;
    // Interactive sign-ins are all shown within 21 minutes: sweeps up to 15 or 20 minutes.
    assert!(
        grown >= 2,
        "slow sign-ins grew the ladder to {grown} rungs only"
    );
    // Graph is fast again: the added sweeps find nothing and go.
    sim.set_appearance(Appearance::Immediate);
    // A rung goes once some 800 records prove the top one and the last find under 0.5 %.
    for _ in 0..150 {
        poll(&mut ids, 60).await;
    }
    assert_eq!(rungs().await, 0, "the sweeps stayed when Graph was fast");
    // Past the last sweep every record is out, once.
    for _ in 0..10 {
        poll(&mut ids, 0).await;
    }
    let got = emitted(dir.path());
    assert_eq!(got.len(), ids.len(), "a record was lost");
    assert!(got.values().all(|n| *n == 1), "a record was emitted twice");
}

/// Under Microsoft's delays the last sweep finds a fraction of a percent: no sweep is added,
/// so a record costs at most three fetches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsofts_delays_add_no_sweep() {
    let sim = Simulator::start().await.unwrap();
    sim.set_appearance(Appearance::Delayed {
        profile: DelayProfile::Microsoft,
        scale: 1.0,
    });
    let dir = tempfile::tempdir().unwrap();
    let (p, _trigger) = poller_with(
        &sim,
        dir.path(),
        settings(StreamKind::DirectoryAudits, &[5, 20], true, None),
    )
    .await;
    for _ in 0..60 {
        sim.advance_clock(Duration::minutes(5));
        // `generate` shifts times read on the real clock by the simulated clock's advance.
        let now = chrono::Utc::now();
        sim.generate(
            Resource::DirectoryAudits,
            60,
            Spread::Between(now - Duration::minutes(5), now),
        );
        p.poll_once().await.unwrap();
    }
    let rungs = p.checkpoint.read(|s| s.unwrap().ladder.rungs).await;
    assert_eq!(rungs, 0);
}

/// Records Graph showed only after the last sweep had passed their hour: the long-age check
/// emits the one an hour's digest names, counts the two it cannot tell apart, reports both,
/// and a later check emits nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_age_check_emits_what_every_read_missed_and_counts_the_rest() {
    let sim = Simulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (p, _trigger) = poller_with(
        &sim,
        dir.path(),
        settings(StreamKind::DirectoryAudits, &[5, 20], false, Some(60)),
    )
    .await;
    let t0 = sim.now();
    let start = |h: i64| {
        let at = t0 + Duration::hours(h);
        chrono::DateTime::from_timestamp(crate::state::hour_of(at.timestamp()), 0).unwrap()
    };
    let hour = |h: i64| {
        Spread::Between(
            start(h) + Duration::minutes(1),
            start(h) + Duration::minutes(59),
        )
    };
    let mut shown = Vec::new();
    for h in 1..=4 {
        shown.extend(sim.generate(Resource::DirectoryAudits, 50, hour(h)));
    }
    let one = sim.generate_hidden(Resource::DirectoryAudits, 1, hour(2));
    let two = sim.generate_hidden(Resource::DirectoryAudits, 2, hour(3));
    let until = async |t: chrono::DateTime<chrono::Utc>| {
        while sim.now() < t {
            sim.advance_clock(Duration::minutes(5));
            p.poll_once().await.unwrap();
        }
    };
    // Graph shows them after the last sweep (20 minutes) passed their hour, before the check
    // (an hour's hours once they are an hour old) lists it.
    until(start(3) + Duration::minutes(30)).await;
    sim.reveal(Some(&one));
    until(start(4) + Duration::minutes(30)).await;
    sim.reveal(Some(&two));
    until(start(7)).await;
    let got = emitted(dir.path());
    for id in &shown {
        assert_eq!(got.get(id), Some(&1), "{id}");
    }
    assert_eq!(
        got.get(&one[0]),
        Some(&1),
        "the one late record was not emitted"
    );
    assert!(
        two.iter().all(|id| !got.contains_key(id)),
        "a guess was emitted"
    );
    let (found, unmatched) = p
        .checkpoint
        .read(|s| s.map(|s| (s.tail.found, s.tail.unmatched)).unwrap())
        .await;
    assert_eq!((found, unmatched), (1, 2));
    let text = std::fs::read_to_string(dir.path().join("events.ndjson")).unwrap();
    let health: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["properties"]["state"] == "late_records")
        .collect();
    assert!(!health.is_empty(), "no late_records event");
    assert_eq!(health[0]["event"]["severity"], "medium");
    // More checks: nothing emitted twice.
    until(start(10)).await;
    let again = emitted(dir.path());
    assert!(
        again.values().all(|n| *n == 1),
        "a record was emitted twice"
    );
}
