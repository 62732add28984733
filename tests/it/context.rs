//! `context` on events from the directory cache: a sign-in of a cached Global Administrator on a
//! cached device, an audit by and about cached users, a service principal's sign-in, and a
//! sign-in by a user the cache does not know (emitted at once, without context); in ECS and
//! OCSF too; `[context] enabled = false` keeps no cache.

use crate::common::*;
use crate::formats::{ecs, ecs_problems, validate_ocsf};
use entra_simulator::{DirectoryKind, Resource};
use serde_json::{json, Value};

const STREAMS: &str = "[streams.sign_ins]\nevent_types = [\"interactiveUser\", \"servicePrincipal\"]\n[streams.directory_audits]\n[context]\nrefresh = \"1m\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_carry_the_directory_context_of_their_subjects_in_every_format() {
    let h = Harness::new("").await;
    h.sim.directory_seed(30, 10);
    let users = h.sim.directory_ids(DirectoryKind::Users);
    let device_id = h.sim.directory_ids(DirectoryKind::Devices)[3].clone();
    let device = h
        .sim
        .directory_object(DirectoryKind::Devices, &device_id)
        .unwrap();
    let sp = h.sim.directory_ids(DirectoryKind::ServicePrincipals)[0].clone();
    h.write_streams(STREAMS);
    // The first run fills the cache (and has nothing to emit).
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.events().is_empty());

    let recent = between_minutes_ago(10, 1);
    let admin_signin = h.sim.generate_with(
        Resource::SignIns,
        1,
        recent,
        json!({"signInEventTypes": ["interactiveUser"], "userId": users[0],
            "deviceDetail": {"deviceId": device["deviceId"]}}),
        true,
    );
    let unknown = h.sim.generate_with(
        Resource::SignIns,
        1,
        recent,
        json!({"signInEventTypes": ["interactiveUser"], "userId": "00000000-0000-0000-0000-0000000000aa",
            "deviceDetail": {"deviceId": null}}),
        true,
    );
    h.sim.generate_with(
        Resource::SignIns,
        1,
        recent,
        json!({"signInEventTypes": ["servicePrincipal"], "servicePrincipalId": sp}),
        true,
    );
    let audit = h.sim.generate_with(
        Resource::DirectoryAudits,
        1,
        recent,
        json!({"initiatedBy": {"app": null, "user": {"id": users[1], "displayName": "x", "userPrincipalName": "x@contoso.com"}},
            "targetResources": [{"id": users[2], "displayName": "t", "type": "User", "userPrincipalName": "t@contoso.com", "modifiedProperties": []}]}),
        true,
    );
    let run = |format: &'static str| {
        let h = &h;
        async move {
            h.write_streams(&format!("{STREAMS}[output]\nformat = \"{format}\"\n"));
            let _ = std::fs::remove_file(&h.state);
            let r = h.run_once().await;
            assert_eq!(r.code, Some(0), "{}", r.stderr);
            r.events()
        }
    };
    let events = run("native").await;
    assert_eq!(events.len(), 4);
    let by_id = |id: &str| -> &Value {
        events
            .iter()
            .find(|e| e["properties"]["id"] == id)
            .unwrap_or_else(|| panic!("{id} not emitted"))
    };
    let admin = &by_id(&admin_signin[0])["context"];
    assert_eq!(admin["user"]["id"], users[0].as_str());
    assert_eq!(
        admin["user"]["admin_roles"],
        json!(["Global Administrator"])
    );
    assert!(admin["user"]["department"].is_string());
    assert_eq!(admin["device"]["name"], device["displayName"]);
    assert_eq!(
        admin["device"]["operating_system"],
        device["operatingSystem"]
    );
    assert!(
        by_id(&unknown[0]).get("context").is_none(),
        "an unknown user: no context, no delay"
    );
    let sp_signin = events
        .iter()
        .find(|e| e["properties"]["servicePrincipalId"] == sp.as_str())
        .unwrap();
    assert_eq!(
        sp_signin["context"]["service_principal"]["display_name"],
        "contoso-automation"
    );
    let a = &by_id(&audit[0])["context"];
    assert_eq!(a["user"]["id"], users[1].as_str());
    assert_eq!(a["target_user"]["id"], users[2].as_str());

    let events = run("ecs").await;
    let ecs_fields = ecs();
    for e in &events {
        let p = ecs_problems(e, &ecs_fields);
        assert!(p.is_empty(), "{e}\n{p:#?}");
    }
    let admin = events
        .iter()
        .find(|e| e["azure"]["context"]["user"]["id"] == users[0].as_str())
        .expect("the admin's sign-in");
    assert_eq!(admin["host"]["name"], device["displayName"]);
    assert_eq!(admin["user"]["roles"], json!(["Global Administrator"]));
    assert_eq!(admin["host"]["os"]["name"], device["operatingSystem"]);

    let events = run("ocsf").await;
    let (ok, report) = validate_ocsf(&events, "3002");
    assert!(ok, "{report}");
    let admin = events
        .iter()
        .find(|e| e["user"]["uid"] == users[0].as_str())
        .expect("the admin's sign-in");
    assert_eq!(admin["user"]["type"], "Admin", "a Global Administrator");
    assert!(admin["user"]["org"]["ou_name"].is_string());
    let audit = events
        .iter()
        .find(|e| e["actor"]["user"]["uid"] == users[1].as_str())
        .expect("the audit");
    assert!(audit["actor"]["user"]["org"]["ou_name"].is_string());
    assert!(events
        .iter()
        .any(|e| e["src_endpoint"]["name"] == device["displayName"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_disabled_keeps_no_cache_and_adds_nothing() {
    let h = Harness::new("").await;
    h.sim.directory_seed(5, 2);
    let users = h.sim.directory_ids(DirectoryKind::Users);
    h.write_streams(
        "[streams.sign_ins]\nevent_types = [\"interactiveUser\"]\n[context]\nenabled = false\n",
    );
    h.sim.generate_with(
        Resource::SignIns,
        2,
        between_minutes_ago(10, 1),
        json!({"signInEventTypes": ["interactiveUser"], "userId": users[0]}),
        true,
    );
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.events().iter().all(|e| e.get("context").is_none()));
    assert!(h
        .graph_requests()
        .iter()
        .all(|q| !q.path.ends_with("/delta")));
    let dir = h.state.parent().unwrap();
    let caches = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().contains(".context-"))
        })
        .count();
    assert_eq!(caches, 0);
}
