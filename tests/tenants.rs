//! `[[tenants]]`: several tenants in one process, each with its own credentials and state
//! section; a failing tenant never stalls the others. One simulator stands for each tenant.

mod common;

use std::collections::HashSet;

use common::*;
use entra_source::simulator::{Resource, Simulator, CLIENT_ID, CLIENT_SECRET};

const A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
const C: &str = "cccccccc-0000-4000-8000-00000000000c";

fn tenant_toml(id: &str, sim: &Simulator, secret_file: &std::path::Path) -> String {
    let base = sim.base_url();
    format!(
        "[[tenants]]\nid = \"{id}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{}\"\nlogin_url = \"{base}\"\ngraph_url = \"{base}\"\n\n",
        secret_file.display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn three_tenants_one_with_a_wrong_secret_the_other_two_deliver_everything() {
    let h = Harness::new("").await;
    let sims = [
        Simulator::start().await.unwrap(),
        Simulator::start().await.unwrap(),
        Simulator::start().await.unwrap(),
    ];
    for (sim, id) in sims.iter().zip([A, B, C]) {
        sim.accept_tenant(id);
    }
    let a: HashSet<String> = sims[0]
        .generate(Resource::DirectoryAudits, 1200, between_minutes_ago(50, 1))
        .into_iter()
        .collect();
    let b: HashSet<String> = sims[1]
        .generate(Resource::DirectoryAudits, 700, between_minutes_ago(50, 1))
        .into_iter()
        .collect();
    let b_detections = sims[1].generate(Resource::RiskDetections, 40, between_minutes_ago(50, 1));
    sims[2].generate(Resource::DirectoryAudits, 300, between_minutes_ago(50, 1));
    // Tenant C's app secret was rotated and the file still holds the old one.
    sims[2].set_secret("a-newer-secret");
    let secret = h.dir.path().join("secret");
    std::fs::write(&secret, CLIENT_SECRET).unwrap();
    let mut config = format!(
        "{FAST}[state]\npath = \"{}\"\n\n[poll]\ninterval_seconds = 1\n\n[streams.directory_audits]\n[streams.risk_detections]\n\n",
        h.state.display()
    );
    for (sim, id) in sims.iter().zip([A, B, C]) {
        config.push_str(&tenant_toml(id, sim, &secret));
    }
    std::fs::write(&h.config, config).unwrap();

    let r = h.run_once().await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let events = r.events();
    let of = |t: &str| -> HashSet<String> {
        events
            .iter()
            .filter(|e| e["event"]["tenant_id"] == t)
            .map(|e| e["event"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(of(A), a, "tenant A complete");
    let got_b = of(B);
    assert_eq!(
        got_b.len(),
        b.len() + b_detections.len(),
        "tenant B complete"
    );
    assert!(b.is_subset(&got_b));
    assert!(of(C).is_empty());
    // Once each (the simulators share a seed, so ids repeat across tenants, not within one).
    let keyed: Vec<String> = events
        .iter()
        .map(|e| format!("{}/{}", e["event"]["tenant_id"], e["event"]["id"]))
        .collect();
    assert_unique(&keyed);
    // The failure names the tenant and the fix.
    let last = r.last_stderr_line();
    assert!(last.contains(C) && last.contains("7000215"), "{last}");
    // One state section per tenant; C's says what is wrong.
    let state = h.state_json();
    for t in [A, B] {
        assert!(state["tenants"][t]["streams"]["directory_audits"]["cursor"].is_string());
        assert_eq!(
            state["tenants"][t]["streams"]["directory_audits"]["health"],
            "ok"
        );
    }
    let c = &state["tenants"][C]["streams"]["directory_audits"];
    assert!(c["cursor"].is_null());
    assert!(c["last_error"].as_str().unwrap().contains("7000215"), "{c}");
    // A second run re-reads nothing for A and B.
    let again = h.run_once().await;
    assert!(again.events().iter().all(|e| e["event"]["tenant_id"] == C));
}

#[test]
fn many_tenants_share_the_apps_reports_budget_equally() {
    let t = entra_source::config::Throttle {
        reports_per_10s: 5,
        app_reports_per_10s: 122,
        identity_protection_per_second: 1,
    };
    assert_eq!(t.reports_share(1), 5);
    assert_eq!(t.reports_share(24), 5);
    assert_eq!(t.reports_share(25), 4); // 25 × 4 = 100 ≤ 122
    assert_eq!(t.reports_share(40), 3);
    assert_eq!(t.reports_share(200), 1);
    for n in 1..=122 {
        assert!(t.reports_share(n) as usize * n <= 122, "{n} tenants");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_are_paced_together_under_the_app_budget_and_fairly() {
    let h = Harness::new("").await;
    let sims = [
        Simulator::start().await.unwrap(),
        Simulator::start().await.unwrap(),
    ];
    for (sim, id) in sims.iter().zip([A, B]) {
        sim.accept_tenant(id);
        // Three pages each: more than the tenant's share of one window.
        sim.generate(Resource::DirectoryAudits, 2500, between_minutes_ago(50, 1));
    }
    let secret = h.dir.path().join("secret");
    let mut config = format!(
        "[throttle]\nreports_requests_per_10s = 5\napp_reports_requests_per_10s = 4\nidentity_protection_requests_per_second = 1000\n\n[state]\npath = \"{}\"\n\n[streams.directory_audits]\n\n",
        h.state.display()
    );
    for (sim, id) in sims.iter().zip([A, B]) {
        config.push_str(&tenant_toml(id, sim, &secret));
    }
    std::fs::write(&h.config, config).unwrap();
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.events().len(), 5000);
    assert!(r.stderr.contains("equal share"), "{}", r.stderr);
    // Every request of both tenants on one clock.
    let mut arrivals: Vec<(std::time::Instant, usize)> = Vec::new();
    for (i, sim) in sims.iter().enumerate() {
        for req in sim.requests().into_iter().filter(|r| r.is_graph()) {
            arrivals.push((req.at, i));
        }
    }
    arrivals.sort();
    assert_eq!(arrivals.len(), 6);
    // In any 10 s: at most 4 together (the app budget) and 2 per tenant (its equal share).
    for (k, (start, _)) in arrivals.iter().enumerate() {
        let window: Vec<usize> = arrivals[k..]
            .iter()
            .take_while(|(t, _)| t.duration_since(*start) < std::time::Duration::from_secs(10))
            .map(|(_, i)| *i)
            .collect();
        assert!(window.len() <= 4, "{} requests within 10 s", window.len());
        for tenant in 0..2 {
            let n = window.iter().filter(|i| **i == tenant).count();
            assert!(n <= 2, "tenant {tenant}: {n} requests within 10 s");
        }
    }
    // Fair: each tenant had its two first requests in the first window.
    let first_four: Vec<usize> = arrivals[..4].iter().map(|(_, i)| *i).collect();
    assert_eq!(
        first_four.iter().filter(|i| **i == 0).count(),
        2,
        "{first_four:?}"
    );
}
