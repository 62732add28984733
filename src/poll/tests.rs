//! The loop against the in-process simulator.

use std::collections::HashMap;

use entra_simulator::{Resource, Simulator, Spread, TENANT_ID};

use super::*;
use crate::event::whole_seconds;
use crate::kind::StreamKind;
use crate::state::StateStore;

/// One directory-audits poller against an in-process simulator, writing to a file.
async fn poller(
    sim: &Simulator,
    dir: &std::path::Path,
) -> (StreamPoller, crate::shutdown::ShutdownTrigger) {
    let settings = crate::streams::StreamSettings {
        kind: StreamKind::DirectoryAudits,
        sweeps: vec![std::time::Duration::from_secs(1200)],
        settle_only: false,
        learn_step: None,
        tail_check: None,
        audit: false,
        initial_lookback: std::time::Duration::from_secs(3600),
        sign_ins: Default::default(),
    };
    poller_with(sim, dir, settings).await
}

/// A poller of `settings` against an in-process simulator, writing to a file.
pub(super) async fn poller_with(
    sim: &Simulator,
    dir: &std::path::Path,
    settings: crate::streams::StreamSettings,
) -> (StreamPoller, crate::shutdown::ShutdownTrigger) {
    let (trigger, shutdown) = crate::shutdown::channel();
    let client = Arc::new(crate::graph::test_client(sim, shutdown.clone()));
    let spec = crate::streams::specs(&settings).remove(0);
    let state = StateStore::open(&dir.join("state.json")).unwrap();
    let output = Output::file(&dir.join("events.ndjson"), u64::MAX, 1).unwrap();
    let shared = Shared::new(state, output, shutdown);
    let p = StreamPoller::new(
        Arc::new(TenantId::new(TENANT_ID)),
        spec,
        settings,
        client,
        &shared,
    );
    // The trigger lives as long as the poller: dropping it reads as a stop.
    (p, trigger)
}

pub(super) fn emitted(dir: &std::path::Path) -> HashMap<String, usize> {
    let text = std::fs::read_to_string(dir.join("events.ndjson")).unwrap_or_default();
    let mut m = HashMap::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        *m.entry(v["event"]["id"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    m
}

/// Graph refused a nextLink mid-window: the window restarts once from the advanced cursor,
/// and the id set drops what the restart reads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_next_link_restarts_the_window_once_without_duplicates() {
    let sim = Simulator::start().await.unwrap();
    let now = Utc::now();
    let ids = sim.generate(
        Resource::DirectoryAudits,
        2500,
        Spread::Between(
            now - chrono::Duration::minutes(50),
            now - chrono::Duration::minutes(1),
        ),
    );
    sim.invalid_skiptokens(1);
    let dir = tempfile::tempdir().unwrap();
    let (p, _trigger) = poller(&sim, dir.path()).await;
    let stats = p.poll_once().await.unwrap();
    let got = emitted(dir.path());
    assert_eq!(got.len(), ids.len());
    assert!(got.values().all(|n| *n == 1), "a record was emitted twice");
    assert!(stats.duplicates > 0, "the restart read nothing again");
    // The first request, a refused nextLink, then a fresh first request (no skiptoken).
    let firsts = sim
        .requests()
        .iter()
        .filter(|r| r.is_graph() && r.param("$skiptoken").is_none())
        .count();
    assert_eq!(firsts, 2);
    // The cursor reached the window's end.
    let cursor = p.checkpoint.read(|s| s.and_then(|s| s.cursor)).await;
    assert!(cursor.is_some_and(|c| c >= whole_seconds(now)));
}
