//! The connector's own health in the pipeline: a permission lost and restored, and a range Graph
//! dropped before a poll reached it, each one `connector_health` event in every format, and the
//! ranges read and the gaps in `state show`.

use crate::common::*;
use crate::formats::{ecs, ecs_problems, validate_ocsf};
use serde_json::Value;

/// ok, then the app loses `AuditLog.Read.All` (error), then gets it back (ok): two events, each
/// naming the stream, the old and new state, the reason and the fix; none while nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permission_lost_and_restored_is_one_event_each_way_in_every_format() {
    let ecs_fields = ecs();
    for format in ["native", "ecs", "ocsf"] {
        let h = Harness::new("").await;
        h.write_streams(&format!(
            "[output]\nformat = \"{format}\"\n[streams.directory_audits]\n"
        ));
        h.audits(5, between_minutes_ago(30, 2));
        let r = h.run_once().await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        assert_eq!(
            r.events().len(),
            5,
            "{format}: a first good poll is no news"
        );

        h.sim.set_roles(&roles_without("AuditLog.Read.All"));
        let r = h.run_once().await;
        assert_eq!(r.code, Some(1), "{format}");
        let lost = r.health();
        assert_eq!(lost.len(), 1, "{format}: {}", r.stdout);
        let again = h.run_once().await;
        assert!(
            again.health().is_empty(),
            "{format}: still failing is not news"
        );

        h.sim.set_roles(&entra_simulator::ALL_ROLES);
        let r = h.run_once().await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        let back = r.health();
        assert_eq!(back.len(), 1, "{format}");
        assert!(r.events().is_empty(), "{format}: nothing else was new");

        match format {
            "native" => {
                let (l, b) = (&lost[0], &back[0]);
                assert_eq!(l["event"]["kind"], "state");
                assert_eq!(l["event"]["severity"], "high");
                assert_eq!(l["event"]["outcome"], "failure");
                assert_eq!(l["event"]["tenant_id"], entra_simulator::TENANT_ID);
                let p = &l["properties"];
                assert_eq!(
                    (
                        p["stream"].as_str(),
                        p["previous_state"].as_str(),
                        p["state"].as_str()
                    ),
                    (Some("directory_audits"), Some("ok"), Some("error"))
                );
                assert!(
                    p["reason"].as_str().unwrap().contains("AuditLog.Read.All"),
                    "{p}"
                );
                assert!(p["fix"].as_str().unwrap().contains("admin consent"), "{p}");
                assert_eq!(
                    (
                        b["properties"]["previous_state"].as_str(),
                        b["properties"]["state"].as_str()
                    ),
                    (Some("error"), Some("ok"))
                );
                assert_eq!(b["event"]["outcome"], "success");
            }
            "ecs" => {
                for e in lost.iter().chain(&back) {
                    let p = ecs_problems(e, &ecs_fields);
                    assert!(p.is_empty(), "{e}\n{p:#?}");
                    assert_eq!(e["event"]["kind"], "state");
                }
                assert_eq!(lost[0]["azure"]["connector_health"]["state"], "error");
                assert!(lost[0]["azure"]["connector_health"]["fix"].is_string());
            }
            _ => {
                let all: Vec<Value> = lost.iter().chain(&back).cloned().collect();
                let (ok, report) = validate_ocsf(&all, "6002");
                assert!(ok, "{report}");
                assert_eq!(lost[0]["activity_name"], "Disable");
                assert_eq!(back[0]["activity_name"], "Enable");
                assert_eq!(lost[0]["status_id"], 2);
            }
        }
    }
}

/// A stream off for longer than Graph keeps its records: the range it can no longer read is a
/// `gap` event (high) in the pipeline and a gap in `state show`, and the rest is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_graph_dropped_is_a_gap_event_and_listed_by_state_show() {
    let h = Harness::new("").await;
    h.write_streams("[streams.directory_audits]\n");
    h.audits(4, between_minutes_ago(30, 2));
    // A checkpoint from a run 40 days ago (a state file of an older version, converted).
    let at = chrono::Utc::now() - chrono::Duration::days(40);
    let cursor = entra_source::event::graph_time(at);
    // What was not yet read for good: from the cursor less the 20-minute settle sweep.
    let unsettled = entra_source::event::graph_time(at - chrono::Duration::minutes(20));
    let old = serde_json::json!({"version": 4, "tenants": {entra_simulator::TENANT_ID: {"streams":
        {"directory_audits": {"cursor": cursor, "last_success": cursor}}}}});
    std::fs::write(&h.state, old.to_string()).unwrap();
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let gaps = r.health();
    assert_eq!(gaps.len(), 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.events().len(), 4, "the audits Graph still keeps");
    let g = &gaps[0];
    assert_eq!(g["event"]["severity"], "high");
    assert_eq!(g["properties"]["state"], "gap");
    let from = g["properties"]["gap_from"].as_str().unwrap();
    assert_eq!(
        from, unsettled,
        "the gap starts at the old checkpoint's unsettled edge"
    );
    let to = g["properties"]["gap_to"].as_str().unwrap();
    let edge = chrono::Utc::now() - chrono::Duration::days(30);
    let to_t = entra_source::event::parse_time(to).unwrap();
    assert!(
        (to_t - edge).num_minutes().abs() < 5,
        "{to}: Graph's 30-day edge"
    );
    assert!(g["properties"]["fix"].is_string());
    // In ECS and OCSF too.
    let (ok, report) = validate_ocsf(&[entra_source::format::Format::Ocsf.render(g)], "6008");
    assert!(ok, "{report}");
    let p = ecs_problems(&entra_source::format::Format::Ecs.render(g), &ecs());
    assert!(p.is_empty(), "{p:#?}");

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
    assert_eq!(show.code, Some(0), "{}", show.stderr);
    let v: Value = serde_json::from_str(show.stdout.trim()).unwrap();
    let row = &v["tenants"][entra_simulator::TENANT_ID]["streams"]["directory_audits"];
    assert_eq!(row["gaps"].as_array().unwrap().len(), 1, "{row}");
    assert_eq!(row["gaps"][0]["from"].as_str(), Some(from));
    let read = row["read"].as_array().unwrap();
    assert_eq!(read.len(), 1, "read since Graph's edge: {row}");
    assert_eq!(read[0]["from"], row["gaps"][0]["to"]);
    assert_eq!(read[0]["to"], row["cursor"]);
    let text = h
        .run_args(&["state", "show", "--config", h.config.to_str().unwrap()])
        .await;
    assert!(text.stdout.contains("GAP:"), "{}", text.stdout);
    assert!(text.stdout.contains("read:"), "{}", text.stdout);
}
