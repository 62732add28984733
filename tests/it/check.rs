//! `entra-source check` against the simulator: a verdict per stream and the exit status.

use crate::common::*;
use entra_simulator::{Licence, ALL_ROLES, TENANT_ID};
use serde_json::Value;

const ALL_STREAMS: &str = "[streams.directory_audits]\n[streams.sign_ins]\n[streams.risky_users]\n[streams.risk_detections]\n[streams.risky_service_principals]\n[streams.service_principal_risk_detections]\n[streams.provisioning]\n[streams.risky_agents]\n[streams.agent_risk_detections]\n[streams.users]\n[streams.devices]\n[streams.role_assignments]\n";

/// `entra-source check` with `extra` arguments.
async fn run_check(h: &Harness, extra: &[&str]) -> RunResult {
    let mut args = vec!["check", "--config", h.config.to_str().unwrap()];
    args.extend_from_slice(extra);
    h.run_args(&args).await
}

async fn check(h: &Harness) -> (RunResult, Value) {
    let text = run_check(h, &[]).await;
    let json = run_check(h, &["--output", "json"]).await;
    assert_eq!(text.code, json.code);
    let report =
        serde_json::from_str(json.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", json.stdout));
    (text, report)
}

fn verdicts(report: &Value) -> Vec<(String, String)> {
    report["tenants"][0]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stream"].as_str().unwrap().to_string(),
                s["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_ok_then_a_permission_then_a_licence_missing() {
    let h = Harness::new("").await;
    h.write_streams(&format!("{ALL_STREAMS}[context]\n"));
    let (text, report) = check(&h).await;
    assert_eq!(text.code, Some(0), "{}{}", text.stdout, text.stderr);
    assert_eq!(report["ok"], true);
    assert!(verdicts(&report).iter().all(|(_, v)| v == "ok"));
    assert_eq!(verdicts(&report).len(), 12);
    assert!(text
        .stdout
        .contains(&format!("tenant {TENANT_ID}: token ok, expires ")));
    assert!(text.stdout.contains("IdentityRiskyUser.Read.All"));
    assert!(!h.state.exists(), "check must not write a state file");
    // [context] (on by default): each part of the directory cache and its permission.
    let context = report["tenants"][0]["context"].as_array().unwrap();
    assert_eq!(context.len(), 4);
    assert!(context.iter().all(|c| c["granted"] == true), "{context:?}");
    assert!(text.stdout.contains("context: devices"), "{}", text.stdout);
    // Exactly one $top=1 request per enabled stream, per check run (text and JSON).
    let graph = h.graph_requests();
    assert_eq!(graph.len(), 24);
    assert!(graph.iter().all(|q| q.query == "%24top=1"));

    let roles = roles_without("IdentityRiskyUser.Read.All");
    h.sim.set_roles(&roles);
    let (text, report) = check(&h).await;
    assert_eq!(text.code, Some(1));
    for (stream, verdict) in verdicts(&report) {
        let expected = if stream == "risky_users" {
            "permission_missing"
        } else {
            "ok"
        };
        assert_eq!(verdict, expected, "{stream}");
    }
    let line = text
        .stdout
        .lines()
        .find(|l| l.contains("risky_users"))
        .unwrap();
    assert!(
        line.contains("permission missing") && line.contains("IdentityRiskyUser.Read.All"),
        "{line}"
    );

    h.sim.set_roles(&ALL_ROLES);
    h.sim.set_licences(&[Licence::WorkloadIdentitiesPremium]);
    h.write_streams("[streams.directory_audits]\n[streams.sign_ins]\n[streams.provisioning]\n");
    let (text, report) = check(&h).await;
    assert_eq!(text.code, Some(1));
    assert_eq!(
        verdicts(&report),
        vec![
            ("directory_audits".into(), "ok".into()),
            ("sign_ins".into(), "licence_missing".into()),
            ("provisioning".into(), "licence_missing".into())
        ]
    );
    assert!(
        text.stdout.contains("Microsoft Entra ID P1 or P2"),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_consent_missing_wrong_secret_and_unknown_tenant() {
    let h = Harness::new("").await;
    h.sim.set_roles(&[]);
    let (text, report) = check(&h).await;
    assert_eq!(text.code, Some(1));
    assert_eq!(
        verdicts(&report),
        vec![("directory_audits".into(), "admin_consent_missing".into())]
    );
    assert!(
        text.stdout.contains("grant admin consent"),
        "{}",
        text.stdout
    );
    h.sim.set_roles(&ALL_ROLES);

    std::fs::write(&h.secret_file, "wrong").unwrap();
    let before = h.graph_requests().len();
    let (text, report) = check(&h).await;
    assert_eq!(text.code, Some(1));
    assert_eq!(report["tenants"][0]["token"]["ok"], false);
    assert!(
        text.last_stderr_line()
            .contains("AADSTS7000215: the client secret is wrong"),
        "{}",
        text.stderr
    );
    assert_eq!(text.stdout.lines().count(), 1, "one line: {}", text.stdout);
    assert_eq!(
        h.graph_requests().len(),
        before,
        "no Graph request without a token"
    );

    std::fs::write(&h.secret_file, entra_simulator::CLIENT_SECRET).unwrap();
    let config = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace(TENANT_ID, "fabrikam.onmicrosoft.com");
    std::fs::write(&h.config, config).unwrap();
    let (text, report) = check(&h).await;
    assert_eq!(text.code, Some(1));
    assert!(report["tenants"][0]["token"]["error"]
        .as_str()
        .unwrap()
        .contains("AADSTS90002"));
    assert!(
        text.last_stderr_line().contains("AADSTS90002")
            && text.last_stderr_line().contains("cloud")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_and_unreachable_streams_are_reported_as_such() {
    let h = Harness::new("").await;
    h.write_streams("[streams.directory_audits]\n[streams.risk_detections]\n");
    // The first Graph request of the check is throttled; the second hits a 503.
    h.sim.push_faults([
        entra_simulator::Fault::Throttle {
            retry_after: Some("30".into()),
        },
        entra_simulator::Fault::Unavailable { retry_after: None },
    ]);
    let r = run_check(&h, &["--output", "json"]).await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let report: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(
        verdicts(&report),
        vec![
            ("directory_audits".into(), "throttled".into()),
            ("risk_detections".into(), "unreachable".into())
        ]
    );
}

/// The shipped example's `filter = "risky"` found nothing on a tenant without P2 (risk fields
/// read `hidden`), and `check` still said ok: a feed silently empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_risk_filter_that_cannot_match_on_a_p1_tenant_is_reported() {
    let h = Harness::new("").await;
    h.sim.set_licences(&[Licence::P1]);
    h.sim.generate(
        entra_simulator::Resource::SignIns,
        20,
        between_minutes_ago(30, 1),
    );
    h.write_streams("[streams.sign_ins]\nfilter = \"risky\"\n");
    let (text, report) = check(&h).await;
    assert_ne!(text.code, Some(0), "{}", text.stdout);
    assert_eq!(
        verdicts(&report),
        vec![("sign_ins".to_string(), "filter_cannot_match".to_string())]
    );
    let detail = report["tenants"][0]["streams"][0]["detail"]
        .as_str()
        .unwrap();
    for needle in ["hidden", "P2", "filter = \"all\""] {
        assert!(detail.contains(needle), "{detail}");
    }
    assert!(
        text.stdout.contains("filter cannot match"),
        "{}",
        text.stdout
    );
    // The same run selects nothing, as check said.
    assert!(h.run_once().await.events().is_empty());
    // filter = "all" (what the example now ships) works on P1 and delivers.
    h.write_streams("[streams.sign_ins]\nfilter = \"all\"\n");
    let (text, _) = check(&h).await;
    assert_eq!(text.code, Some(0), "{}", text.stdout);
    // The risky run read those sign-ins (and kept none); the settle sweep reads them again.
    h.settle();
    assert!(!h.run_once().await.events().is_empty());
    // A P2 tenant's risk filter is fine.
    h.sim.set_licences(&[Licence::P1, Licence::P2]);
    h.write_streams("[streams.sign_ins]\nfilter = \"risky\"\n");
    assert_eq!(check(&h).await.0.code, Some(0));
}

/// The shipped example, run on a tenant with P1 only: its sign-in feed is not empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_config_reads_sign_ins_on_a_p1_tenant() {
    let h = Harness::new("").await;
    h.sim.set_licences(&[Licence::P1]);
    let ids = h.sim.generate(
        entra_simulator::Resource::SignIns,
        30,
        between_minutes_ago(30, 1),
    );
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config-examples/entra-source.toml"
    ))
    .unwrap();
    let start = example.find("[streams.").unwrap();
    let end = example.find("[output]").unwrap();
    h.write_streams(&example[start..end]);
    let r = h.run_once().await;
    let got: Vec<String> = r
        .events()
        .iter()
        .filter(|e| e["event"]["dataset"] == "entra.sign_ins")
        .map(|e| e["event"]["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ids.iter().all(|id| got.contains(id)),
        "{} of {} sign-ins: {}",
        got.len(),
        ids.len(),
        r.stderr
    );
}
