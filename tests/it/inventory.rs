//! The directory inventory by delta query: a baseline round (every object `present`, pages of
//! 999), nothing again while nothing changes, each change once (a user changed or deleted, a
//! member added to or removed from Global Administrator), a resync after Graph's 410, every
//! format valid, and a missing permission named.

use crate::common::*;
use crate::formats::{ecs, ecs_problems, validate_ocsf};
use entra_simulator::DirectoryKind;
use serde_json::{json, Value};

const STREAMS: &str = "[streams.users]\n[streams.devices]\n[streams.role_assignments]\n";

fn by_action<'a>(events: &'a [Value], dataset: &str, action: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event"]["dataset"] == dataset && e["event"]["action"] == action)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_directory_change_is_one_state_event_and_a_410_resyncs() {
    let h = Harness::new("").await;
    h.sim.directory_seed(1200, 20);
    h.write_streams(STREAMS);
    let users = h.sim.directory_ids(DirectoryKind::Users);

    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let events = r.events();
    assert_eq!(by_action(&events, "entra.users", "present").len(), 1200);
    assert_eq!(by_action(&events, "entra.devices", "present").len(), 20);
    let members = by_action(&events, "entra.role_assignments", "present");
    assert_eq!(
        members.len(),
        2,
        "the seeded Global and User Administrators"
    );
    assert_eq!(events.len(), 1222);
    assert_unique(&event_ids(&events));
    // Pages of 999 (Prefer: odata.maxpagesize=999), not Graph's default 100.
    let user_pages = h
        .graph_requests()
        .iter()
        .filter(|q| q.path == "/v1.0/users/delta")
        .count();
    assert_eq!(user_pages, 2);

    let before = h.graph_requests().len();
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.events().is_empty(), "nothing changed: {}", r.stdout);
    assert_eq!(
        h.graph_requests().len() - before,
        3,
        "an unchanged directory: one request per inventory stream"
    );

    let (changed, deleted, promoted, demoted) = (&users[5], &users[6], &users[7], &members[0]);
    assert!(h.sim.directory_update(
        DirectoryKind::Users,
        changed,
        json!({"department": "Treasury"})
    ));
    assert!(h.sim.directory_delete(DirectoryKind::Users, deleted));
    assert!(h
        .sim
        .directory_role_member("Global Administrator", promoted, true));
    let demoted_id = demoted["properties"]["memberId"]
        .as_str()
        .unwrap()
        .to_string();
    let demoted_role = demoted["properties"]["roleDisplayName"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(h
        .sim
        .directory_role_member(&demoted_role, &demoted_id, false));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let events = r.events();
    assert_eq!(events.len(), 4, "{}", r.stdout);
    let c = by_action(&events, "entra.users", "changed");
    assert_eq!(
        (c.len(), c[0]["properties"]["department"].as_str()),
        (1, Some("Treasury"))
    );
    assert_eq!(c[0]["properties"]["id"], changed.as_str());
    let d = by_action(&events, "entra.users", "deleted");
    assert_eq!(d[0]["properties"]["id"], deleted.as_str());
    let added = by_action(&events, "entra.role_assignments", "added");
    assert_eq!(added.len(), 1);
    assert_eq!(added[0]["properties"]["memberId"], promoted.as_str());
    assert_eq!(
        added[0]["properties"]["roleDisplayName"],
        "Global Administrator"
    );
    assert_eq!(
        added[0]["event"]["severity"], "high",
        "a new Global Administrator"
    );
    let removed = by_action(&events, "entra.role_assignments", "removed");
    assert_eq!(removed[0]["properties"]["memberId"], demoted_id.as_str());

    h.sim.directory_expire_delta_tokens();
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("410"), "{}", r.stderr);
    let events = r.events();
    assert_eq!(by_action(&events, "entra.users", "present").len(), 1199);
    assert_eq!(by_action(&events, "entra.devices", "present").len(), 20);
    assert_eq!(
        by_action(&events, "entra.role_assignments", "present").len(),
        2
    );

    // Every format: ECS field by field, OCSF validated.
    let ecs_fields = ecs();
    for format in ["ecs", "ocsf"] {
        h.write_streams(&format!("{STREAMS}[output]\nformat = \"{format}\"\n"));
        let _ = std::fs::remove_file(&h.state);
        let r = h.run_once().await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        let events = r.events();
        assert_eq!(events.len(), 1199 + 20 + 2, "{format}");
        if format == "ecs" {
            for e in &events {
                let p = ecs_problems(e, &ecs_fields);
                assert!(p.is_empty(), "{e}\n{p:#?}");
            }
            assert!(events
                .iter()
                .filter(|e| e["event"]["dataset"] == "entra.devices")
                .all(|e| e["event"]["kind"] == "asset" && e["host"]["name"].is_string()));
        } else {
            let (ok, report) = validate_ocsf(&events, "5001,5003,3005");
            assert!(ok, "{report}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inventory_stream_without_its_permission_names_it() {
    let h = Harness::new("").await;
    h.sim.directory_seed(5, 5);
    h.write_streams("[streams.users]\n[streams.devices]\n");
    let roles: Vec<&str> = entra_simulator::ALL_ROLES
        .iter()
        .copied()
        .filter(|r| !matches!(*r, "User.Read.All" | "Directory.Read.All"))
        .collect();
    h.sim.set_roles(&roles);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("User.Read.All"), "{}", r.stderr);
    assert_eq!(r.events().len(), 5, "the devices still arrive");
}
