//! `[[tenants]]`: several tenants in one process, each with its own credentials and state
//! section; a failing tenant never stalls the others. One simulator stands for each tenant.

use std::collections::HashSet;

use crate::common::*;
use chrono::Timelike;
use entra_simulator::{Resource, Simulator, CLIENT_ID, CLIENT_SECRET};
use serde_json::{json, Value};

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
    let t = entra_source::graph::Throttle {
        directory_per_second: 5,
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
        "[context]\nenabled = false\n\n[throttle]\nreports_requests_per_10s = 5\napp_reports_requests_per_10s = 4\nidentity_protection_requests_per_second = 1000\n\n[state]\npath = \"{}\"\n\n[streams.directory_audits]\n\n",
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
    let arrivals = graph_arrivals(&sims);
    assert_eq!(arrivals.len(), 6);
    // In any 10 s: at most 4 together (the app budget) and 2 per tenant (its equal share).
    for window in ten_second_windows(&arrivals) {
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

fn set_tenant_id(h: &Harness, id: &str) {
    let text = std::fs::read_to_string(&h.config).unwrap();
    let line = text.lines().find(|l| l.starts_with("id = ")).unwrap();
    let text = text.replace(line, &format!("id = \"{id}\""));
    std::fs::write(&h.config, text).unwrap();
}

/// With `tenant.id` written as a domain (as every example does), events carried the domain
/// where Microsoft's exports carry the GUID, and switching the config to the GUID re-emitted
/// what the domain-keyed checkpoint had already delivered.
#[tokio::test(flavor = "multi_thread")]
async fn a_domain_tenant_id_yields_the_guid_and_switching_forms_re_emits_nothing() {
    use entra_simulator::{TENANT_DOMAIN, TENANT_ID};
    let h = Harness::new("").await;
    h.write_streams("[streams.directory_audits]\n[streams.sign_ins]\n");
    set_tenant_id(&h, TENANT_DOMAIN);
    h.audits(60, between_minutes_ago(30, 2));
    h.sim
        .generate(Resource::SignIns, 40, between_minutes_ago(30, 2));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let events = r.events();
    assert_eq!(events.len(), 100);
    for e in &events {
        assert_eq!(e["event"]["tenant_id"], TENANT_ID, "{e}");
    }
    let state = h.state_json();
    assert_eq!(state["version"], entra_source::state::STATE_VERSION);
    let tenants = state["tenants"].as_object().unwrap();
    assert_eq!(tenants.keys().collect::<Vec<_>>(), vec![TENANT_ID]);
    assert_eq!(tenants[TENANT_ID]["aliases"][0], TENANT_DOMAIN);

    // The same tenant written as its GUID, then as an upper-case domain: only new records.
    for (form, n) in [
        (TENANT_ID.to_string(), 5),
        (TENANT_DOMAIN.to_uppercase(), 3),
    ] {
        set_tenant_id(&h, &form);
        let fresh: HashSet<String> = h.audits(n, between_minutes_ago(1, 1)).into_iter().collect();
        h.settle();
        let r = h.run_once().await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        let got: HashSet<String> = event_ids(&r.events()).into_iter().collect();
        assert_eq!(got, fresh, "tenant.id = {form}");
    }
    assert_eq!(h.state_json()["tenants"].as_object().unwrap().len(), 1);

    // `state show` without a token finds the GUID's section from a config naming the domain.
    let show = h
        .run_args(&[
            "state",
            "show",
            "--config",
            h.config.to_str().unwrap(),
            "--output",
            "json",
        ])
        .await;
    let v: Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(
        v["tenants"][TENANT_ID]["streams"]["directory_audits"]["health"], "ok",
        "{v}"
    );
    // Its sign-ins are found by the stream's name, their event types beneath.
    let s = &v["tenants"][TENANT_ID]["streams"]["sign_ins"];
    assert_eq!(s["health"], "ok", "{v}");
    assert!(
        s["sign_in_types"]["interactiveUser"]["cursor"].is_string(),
        "{v}"
    );
}

/// A version-2 state file keyed by the domain the config names: its checkpoint moves to the
/// GUID and nothing it had delivered is emitted again.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_2_state_keyed_by_domain_is_migrated_without_re_emitting() {
    use entra_simulator::{TENANT_DOMAIN, TENANT_ID};
    let h = Harness::new("").await;
    h.audits(80, between_minutes_ago(30, 2));
    let r = h.run_once().await;
    assert_eq!(r.events().len(), 80);
    // What an older entra-source wrote for `id = "contoso.onmicrosoft.com"`: one JSON
    // document, the emitted ids whole by record second, no settle marks.
    let now = h.state_json();
    let audits = &now["tenants"][TENANT_ID]["streams"]["directory_audits"];
    let mut seen = serde_json::Map::new();
    for e in r.events() {
        let at: chrono::DateTime<chrono::Utc> = e["time"].as_str().unwrap().parse().unwrap();
        let second = at
            .with_nanosecond(0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        seen.entry(second)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .unwrap()
            .push(e["event"]["id"].clone());
    }
    let v2 = json!({"version": 2, "tenants": {TENANT_DOMAIN: {"streams": {"directory_audits": {
        "cursor": audits["cursor"], "last_success": audits["last_success"],
        "health": "ok", "seen": seen,
    }}}}});
    std::fs::write(&h.state, v2.to_string()).unwrap();
    set_tenant_id(&h, TENANT_DOMAIN);
    let fresh = h.audits(4, between_minutes_ago(1, 1));
    // Past the settle sweep, which re-reads the last 20 minutes the v2 file's ids cover.
    h.settle();
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let got: HashSet<String> = event_ids(&r.events()).into_iter().collect();
    assert_eq!(got, fresh.into_iter().collect::<HashSet<_>>());
    let state = h.state_json();
    assert_eq!(state["version"], entra_source::state::STATE_VERSION);
    assert!(state["tenants"].get(TENANT_DOMAIN).is_none(), "{state}");
    assert!(state["tenants"][TENANT_ID]["streams"]["directory_audits"]["cursor"].is_string());
}
