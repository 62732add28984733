//! Agent identities (Microsoft Entra Agent ID, beta): the sign-in `agent` block in every format
//! with the evolvable enum members that only `Prefer: include-unknown-enum-members` returns,
//! the `risky_agents` and `agent_risk_detections` streams read from `/beta`, and a national-cloud
//! tenant refused with the fix.

use std::collections::HashSet;

use crate::common::*;
use crate::formats::{ecs, ecs_problems, validate_ocsf};
use entra_simulator::Resource;
use serde_json::{json, Value};

const STREAMS: &str = "[streams.sign_ins]\nevent_types = [\"servicePrincipal\"]\n[streams.risky_agents]\n[streams.agent_risk_detections]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agentic_sign_ins_and_agent_risk_arrive_in_every_format_with_new_enum_members() {
    let h = Harness::new("").await;
    let agent = json!({
        "agentType": "agenticAppInstance",
        "agentSubjectType": "agentIDuser",
        "agentSubjectParentId": "3f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
        "parentAppId": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    });
    let sign_ins = h.sim.generate_with(
        Resource::SignIns,
        12,
        between_minutes_ago(30, 2),
        json!({"signInEventTypes": ["servicePrincipal"], "agent": agent}),
        true,
    );
    let agents = h
        .sim
        .generate(Resource::RiskyAgents, 7, between_minutes_ago(30, 2));
    let detections = h
        .sim
        .generate(Resource::AgentRiskDetections, 9, between_minutes_ago(30, 2));
    let ecs_fields = ecs();
    for format in ["native", "ecs", "ocsf"] {
        h.write_streams(&format!("{STREAMS}[output]\nformat = \"{format}\"\n"));
        let _ = std::fs::remove_file(&h.state);
        let r = h.run_once().await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        let events = r.events();
        assert_eq!(
            events.len(),
            sign_ins.len() + agents.len() + detections.len(),
            "{format}"
        );
        let of = |dataset: &str| -> Vec<&Value> {
            events
                .iter()
                .filter(|e| {
                    e["event"]["dataset"] == dataset
                        || e["metadata"]["product"]["feature"]["name"] == dataset
                })
                .collect()
        };
        assert_eq!(of("entra.risky_agents").len(), agents.len(), "{format}");
        assert_eq!(
            of("entra.agent_risk_detections").len(),
            detections.len(),
            "{format}"
        );
        let signins = of("entra.sign_ins");
        assert_eq!(signins.len(), sign_ins.len());
        match format {
            "native" => {
                for e in &signins {
                    // Without the Prefer header Graph says unknownFutureValue here.
                    assert_eq!(e["properties"]["agent"]["agentSubjectType"], "agentIDuser");
                    assert_eq!(e["properties"]["agent"]["agentType"], "agenticAppInstance");
                }
                let kinds: HashSet<&str> = of("entra.risky_agents")
                    .iter()
                    .map(|e| e["event"]["kind"].as_str().unwrap())
                    .collect();
                assert_eq!(kinds, HashSet::from(["state"]));
                assert!(of("entra.agent_risk_detections")
                    .iter()
                    .all(|e| e["event"]["kind"] == "alert"
                        && e["event"]["id"].as_str().unwrap().contains('@')));
            }
            "ecs" => {
                for e in &events {
                    let p = ecs_problems(e, &ecs_fields);
                    assert!(p.is_empty(), "{e}\n{p:#?}");
                }
                for e in &signins {
                    assert_eq!(
                        e["azure"]["signinlogs"]["agent"]["agent_subject_type"],
                        "agentIDuser"
                    );
                }
                assert!(of("entra.agent_risk_detections")
                    .iter()
                    .all(|e| e["rule"]["name"].is_string()));
            }
            _ => {
                let (ok, report) = validate_ocsf(&events, "3002,2004");
                assert!(ok, "{report}");
                for e in &signins {
                    let labels: Vec<&str> = e["metadata"]["labels"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|l| l.as_str().unwrap())
                        .collect();
                    assert!(
                        labels.contains(&"agent_subject_type:agentIDuser"),
                        "{labels:?}"
                    );
                }
                assert!(of("entra.risky_agents")
                    .iter()
                    .all(|e| e["resources"][0]["name"].is_string()));
            }
        }
    }
    let beta = h
        .graph_requests()
        .iter()
        .filter(|q| q.path.contains("/identityProtection/"))
        .all(|q| q.path.starts_with("/beta/"));
    assert!(beta, "agent identities are read from /beta");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_streams_in_a_national_cloud_are_refused_with_the_fix() {
    let h = Harness::new("").await;
    h.write_streams("[streams.risky_agents]\n");
    let text = std::fs::read_to_string(&h.config).unwrap();
    std::fs::write(
        &h.config,
        text.replacen("[tenant]\n", "[tenant]\ncloud = \"usgov\"\n", 1),
    )
    .unwrap();
    let r = h.run_once().await;
    r.fails_with(2, &["streams.risky_agents", "global cloud"]);
    assert!(r.events().is_empty());
}
