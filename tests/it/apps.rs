//! `[[apps]]`: several app registrations, each with its own credential and its own share of
//! Graph's application-wide reports budget; tenants name theirs with `app = "..."`. Two apps
//! pace their tenants independently (each under its own budget, neither waiting for the other),
//! and `check` reports per app which of its tenants fail.

use crate::common::*;
use entra_simulator::{Resource, Simulator, CLIENT_ID};
use serde_json::Value;

const A: &str = "a1000000-0000-4000-8000-000000000001";
const B: &str = "b2000000-0000-4000-8000-000000000002";
const C: &str = "c3000000-0000-4000-8000-000000000003";
const SOUTH_ID: &str = "6e7f8a9b-0c1d-4e2f-8a3b-4c5d6e7f8a9b";
const SOUTH_SECRET: &str = "south~An0ther.Secret-value-9876543210";

struct Fleet {
    h: Harness,
    sims: Vec<Simulator>,
}

/// Tenants A (app north, the simulator's default app) and B (app south, another registration),
/// each budget `budget` requests per 10 s; with `c`, a tenant C that consented to south only
/// but is configured with north.
async fn fleet(budget: u32, records: u64, c: bool) -> Fleet {
    let h = Harness::new("").await;
    let north_secret = h.dir.path().join("secret");
    let south_secret = h.dir.path().join("south-secret");
    std::fs::write(&south_secret, SOUTH_SECRET).unwrap();
    let mut config = format!(
        "[context]\nenabled = false\n[throttle]\nidentity_protection_requests_per_second = 1000\n[state]\npath = \"{}\"\n[streams.directory_audits]\n\n\
         [[apps]]\nname = \"north\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{}\"\nreports_requests_per_10s = {budget}\n\n\
         [[apps]]\nname = \"south\"\nclient_id = \"{SOUTH_ID}\"\nclient_secret_file = \"{}\"\nreports_requests_per_10s = {budget}\n\n",
        h.state.display(),
        north_secret.display(),
        south_secret.display()
    );
    let mut sims = Vec::new();
    let tenants: &[(&str, &str, bool)] = if c {
        &[(A, "north", false), (B, "south", true), (C, "north", true)]
    } else {
        &[(A, "north", false), (B, "south", true)]
    };
    for (id, app, south_consented) in tenants {
        let sim = Simulator::start().await.unwrap();
        sim.accept_tenant(id);
        if *south_consented {
            sim.set_app(SOUTH_ID, SOUTH_SECRET);
        }
        sim.generate(
            Resource::DirectoryAudits,
            records,
            between_minutes_ago(50, 1),
        );
        let base = sim.base_url();
        config.push_str(&format!(
            "[[tenants]]\nid = \"{id}\"\napp = \"{app}\"\nlogin_url = \"{base}\"\ngraph_url = \"{base}\"\n\n"
        ));
        sims.push(sim);
    }
    std::fs::write(&h.config, config).unwrap();
    Fleet { h, sims }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_app_paces_its_own_tenants_under_its_own_budget() {
    // Three pages each, two requests per 10 s per app: with one shared budget the first 10 s
    // would hold two requests in all; with a budget each, two per app.
    let f = fleet(2, 2500, false).await;
    let r = f.h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.events().len(), 5000);
    let arrivals = graph_arrivals(&f.sims);
    assert_eq!(arrivals.len(), 6);
    for window in ten_second_windows(&arrivals) {
        for app in 0..2 {
            let n = window.iter().filter(|i| **i == app).count();
            assert!(n <= 2, "app {app}: {n} requests within 10 s");
        }
    }
    let first = arrivals[0].0;
    let in_first = arrivals
        .iter()
        .filter(|(t, _)| t.duration_since(first) < std::time::Duration::from_secs(9))
        .count();
    assert_eq!(
        in_first, 4,
        "both apps used their budget at once: {arrivals:?}"
    );
    // B's simulator refuses north's client id: its 2,500 records came with south's credential.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_each_app_and_which_of_its_tenants_fail() {
    let f = fleet(122, 5, true).await;
    let cfg = f.h.config.to_str().unwrap();
    let r =
        f.h.run_args(&["check", "--config", cfg, "--output", "json"])
            .await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let report: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let apps = report["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 2, "{report}");
    let north = apps.iter().find(|a| a["app"] == "north").unwrap();
    let south = apps.iter().find(|a| a["app"] == "south").unwrap();
    assert_eq!(north["client_id"], CLIENT_ID);
    assert_eq!(north["tenants"], serde_json::json!([A, C]));
    assert_eq!(north["reports_requests_per_10s"], 122);
    assert_eq!(north["per_tenant_requests_per_10s"], 5);
    assert_eq!(north["ok"], false);
    assert_eq!(south["tenants"], serde_json::json!([B]));
    assert_eq!(south["ok"], true);
    // C consented to south only: north's token is refused there, with the reason.
    let c = report["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant"] == C)
        .unwrap();
    assert_eq!(c["token"]["ok"], false);
    assert!(
        c["token"]["error"].as_str().unwrap().contains("700016"),
        "{c}"
    );
    let text = f.h.run_args(&["check", "--config", cfg]).await;
    assert!(
        text.stdout.contains("app north (client ")
            && text.stdout.contains("2 tenant(s), 122 report requests per 10 s, each tenant paced at 5: 1 of 2 tenant(s) failing"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("app south"), "{}", text.stdout);
    // A run delivers the tenants whose app is consented, and names C's problem.
    let run = f.h.run_once().await;
    assert_eq!(run.code, Some(1));
    let tenants: std::collections::HashSet<String> = run
        .events()
        .iter()
        .map(|e| e["event"]["tenant_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        tenants,
        [A.to_string(), B.to_string()].into_iter().collect()
    );
}
