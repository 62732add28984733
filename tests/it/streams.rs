//! Every Entra stream against the simulator: exactly-once delivery across pages, restarts, late
//! arrival and 429s; sign-in filters and event types; state streams that emit each change once;
//! one failing stream never stopping the others; pacing under Graph's per-tenant limits.

use std::collections::HashSet;

use crate::common::*;
use entra_simulator::{Fault, Licence, Resource, Spread, TENANT_ID};
use serde_json::{json, Value};

fn set(ids: &[String]) -> HashSet<String> {
    ids.iter().cloned().collect()
}

/// The `event.id` a generated record gets: `id@lastUpdated` for the mutable resources.
fn expected_ids(h: &Harness, resource: Resource, ids: &[String]) -> HashSet<String> {
    if matches!(
        resource,
        Resource::DirectoryAudits | Resource::SignIns | Resource::Provisioning
    ) {
        return set(ids);
    }
    let wanted = set(ids);
    h.sim
        .records(resource)
        .into_iter()
        .filter(|r| wanted.contains(r["id"].as_str().unwrap()))
        .map(|r| {
            format!(
                "{}@{}",
                r["id"].as_str().unwrap(),
                r[resource.time_field()].as_str().unwrap()
            )
        })
        .collect()
}

/// Pages, a 429 on every fourth request, a restart, and records that show up late: every
/// record of `resource` exactly once.
async fn exactly_once(resource: Resource, table: &str, page: u64) {
    let h = Harness::new("").await;
    h.write_streams(table);
    let first = h
        .sim
        .generate(resource, page * 3 + 17, between_minutes_ago(50, 2));
    h.sim.fault_every(
        4,
        Fault::Throttle {
            retry_after: Some("0.05".into()),
        },
    );
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}: {}", resource.name(), r.stderr);
    let got1 = event_ids(&r.events());
    assert_eq!(
        set(&got1),
        expected_ids(&h, resource, &first),
        "{}",
        resource.name()
    );
    assert_unique(&got1);
    assert!(h.graph_requests().iter().any(|q| q.status == 429));
    let pages = h
        .graph_requests()
        .iter()
        .filter(|q| q.status == 200)
        .count() as u64;
    assert!(pages >= 4, "{}: {pages} pages", resource.name());

    // New records, and late ones stamped inside late_arrival that Graph shows only now.
    let late = h
        .sim
        .generate_with(resource, 40, between_minutes_ago(8, 3), json!({}), false);
    let new = h.sim.generate(
        resource,
        30,
        Spread::Between(seconds_ago(40), seconds_ago(2)),
    );
    h.sim.reveal(None);
    // Past every stream's settle sweep (48 h for the risk detections).
    h.advance(chrono::Duration::hours(49));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}: {}", resource.name(), r.stderr);
    let got2 = event_ids(&r.events());
    let mut expected = expected_ids(&h, resource, &late);
    expected.extend(expected_ids(&h, resource, &new));
    assert_eq!(set(&got2), expected, "{}", resource.name());
    assert_unique(&got1.iter().chain(&got2).cloned().collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_exactly_once() {
    exactly_once(Resource::SignIns, "[streams.sign_ins]\n", 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risky_users_exactly_once() {
    exactly_once(Resource::RiskyUsers, "[streams.risky_users]\n", 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_detections_exactly_once() {
    exactly_once(Resource::RiskDetections, "[streams.risk_detections]\n", 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risky_service_principals_exactly_once() {
    exactly_once(
        Resource::RiskyServicePrincipals,
        "[streams.risky_service_principals]\n",
        500,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_principal_risk_detections_exactly_once() {
    exactly_once(
        Resource::ServicePrincipalRiskDetections,
        "[streams.service_principal_risk_detections]\n",
        500,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risky_agents_exactly_once() {
    exactly_once(Resource::RiskyAgents, "[streams.risky_agents]\n", 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_risk_detections_exactly_once() {
    exactly_once(
        Resource::AgentRiskDetections,
        "[streams.agent_risk_detections]\n",
        500,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_exactly_once() {
    exactly_once(Resource::Provisioning, "[streams.provisioning]\n", 1000).await;
}

/// The provisioning list takes `gt`/`lt` on its time, not `ge`/`le` (Graph answers 400): every
/// request of the stream asks with them, and Graph's 400 on `ge` is what the simulator says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_asks_its_window_with_gt_and_lt() {
    let h = Harness::new("").await;
    h.write_streams("[streams.provisioning]\n");
    h.sim
        .generate(Resource::Provisioning, 25, between_minutes_ago(30, 1));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.events().len(), 25);
    let requests = h.graph_requests();
    let lists: Vec<_> = requests
        .iter()
        .filter(|q| q.path.contains("/auditLogs/provisioning"))
        .collect();
    assert!(!lists.is_empty());
    for q in &lists {
        assert_eq!(q.status, 200, "{q:?}");
        let query = q.query.replace("%20", " ").replace('+', " ");
        assert!(
            query.contains("activityDateTime gt ") && query.contains("activityDateTime lt "),
            "{query}"
        );
        assert!(
            !query.contains(" ge ") && !query.contains(" le "),
            "{query}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beta_event_types_each_have_their_own_cursor_and_category() {
    let h = Harness::new("").await;
    // The export's category names the event type.
    h.write_streams(
        "[output]\nformat = \"azure_monitor\"\n[streams.sign_ins]\nevent_types = [\"interactiveUser\", \"nonInteractiveUser\", \"servicePrincipal\", \"managedIdentity\"]\n",
    );
    let mut expected = Vec::new();
    for (t, n, category) in [
        ("interactiveUser", 1200, "SignInLogs"),
        ("nonInteractiveUser", 2100, "NonInteractiveUserSignInLogs"),
        ("servicePrincipal", 300, "ServicePrincipalSignInLogs"),
        ("managedIdentity", 40, "ManagedIdentitySignInLogs"),
    ] {
        let ids = h.sim.generate_with(
            Resource::SignIns,
            n,
            between_minutes_ago(40, 1),
            json!({"signInEventTypes": [t]}),
            true,
        );
        expected.push((t, category, set(&ids)));
    }
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let events = r.events();
    assert_eq!(events.len(), 1200 + 2100 + 300 + 40);
    for (t, category, ids) in &expected {
        let got: HashSet<String> = events
            .iter()
            .filter(|e| e["category"] == *category)
            .map(|e| e["properties"]["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(&got, ids, "{t}");
    }
    // One cursor per event type, each query on beta with its signInEventTypes clause.
    let state = h.state_json();
    let streams = state["tenants"][TENANT_ID]["streams"].as_object().unwrap();
    for (t, _, _) in &expected {
        assert!(
            streams[&format!("sign_ins.{t}")]["cursor"].is_string(),
            "{t}"
        );
    }
    for q in h
        .graph_requests()
        .iter()
        .filter(|q| q.param("$skiptoken").is_none())
    {
        assert!(q.path.starts_with("/beta/"), "{}", q.path);
        assert!(q
            .param("$filter")
            .unwrap()
            .contains("signInEventTypes/any(t: t eq '"));
    }
    // Advancing one cursor leaves the others untouched.
    let new = h.sim.generate_with(
        Resource::SignIns,
        5,
        Spread::Between(seconds_ago(20), seconds_ago(2)),
        json!({"signInEventTypes": ["servicePrincipal"]}),
        true,
    );
    h.settle();
    let r = h.run_once().await;
    let got: Vec<String> = r
        .events()
        .iter()
        .map(|e| e["properties"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(set(&got), set(&new));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_sign_ins_are_interactive_only_without_beta_fields() {
    let h = Harness::new("").await;
    h.write_streams("[streams.sign_ins]\napi_version = \"v1.0\"\n");
    let interactive = h
        .sim
        .generate(Resource::SignIns, 50, between_minutes_ago(30, 1));
    h.sim.generate_with(
        Resource::SignIns,
        50,
        between_minutes_ago(30, 1),
        json!({"signInEventTypes": ["nonInteractiveUser"]}),
        true,
    );
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let events = r.events();
    assert_eq!(set(&event_ids(&events)), set(&interactive));
    assert!(events
        .iter()
        .all(|e| e["properties"].get("signInEventTypes").is_none()));
    assert!(h
        .graph_requests()
        .iter()
        .all(|q| q.path.starts_with("/v1.0/")));
    assert!(h.state_json()["tenants"][TENANT_ID]["streams"]["sign_ins"]["cursor"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risky_sign_ins_use_only_eq_on_risk_fields_and_keep_remediated_ones() {
    let h = Harness::new("").await;
    h.write_streams("[streams.sign_ins]\nfilter = \"risky\"\n");
    let mut risky = Vec::new();
    for (level, state, n) in [
        ("low", "atRisk", 700),
        ("medium", "remediated", 1300),
        ("high", "dismissed", 20),
    ] {
        risky.extend(h.sim.generate_with(
            Resource::SignIns,
            n,
            between_minutes_ago(40, 1),
            json!({"riskLevelDuringSignIn": level, "riskLevelAggregated": level, "riskState": state}),
            true,
        ));
    }
    h.sim.generate_with(Resource::SignIns, 900, between_minutes_ago(40, 1), json!({"riskLevelDuringSignIn": "none", "riskLevelAggregated": "none", "riskState": "none"}), true);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let got = event_ids(&r.events());
    assert_unique(&got);
    assert_eq!(set(&got), set(&risky));
    // The simulator answers 400 to anything but eq on risk fields, as Graph does; and each
    // first request asks for exactly one level.
    let firsts: Vec<String> = h
        .graph_requests()
        .iter()
        .filter(|q| q.param("$skiptoken").is_none())
        .map(|q| q.param("$filter").unwrap())
        .collect();
    assert_eq!(firsts.len(), 3, "{firsts:?}");
    for (f, level) in firsts.iter().zip(["low", "medium", "high"]) {
        assert!(
            f.contains(&format!("riskLevelDuringSignIn eq '{level}'")),
            "{f}"
        );
    }
    assert!(h.graph_requests().iter().all(|q| q.status == 200));
    // The window advances only when all three are drained; a second run re-reads and drops them.
    let again = h.run_once().await;
    assert!(again.stdout.is_empty(), "{}", again.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_are_filtered_client_side() {
    let h = Harness::new("").await;
    h.write_streams("[streams.sign_ins]\nfilter = \"failures\"\n");
    let failed = h.sim.generate_with(
        Resource::SignIns,
        30,
        between_minutes_ago(20, 1),
        json!({"status": {"errorCode": 50126}}),
        true,
    );
    h.sim.generate_with(
        Resource::SignIns,
        60,
        between_minutes_ago(20, 1),
        json!({"status": {"errorCode": 0}}),
        true,
    );
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(set(&event_ids(&r.events())), set(&failed));
    assert!(r
        .events()
        .iter()
        .all(|e| e["event"]["outcome"] == "failure"));
}

async fn state_stream_emits_each_change_once(refuse_filter: bool) {
    let h = Harness::new("").await;
    h.write_streams("[streams.risky_users]\n");
    if refuse_filter {
        h.sim
            .refuse_filter(Resource::RiskyUsers, "riskLastUpdatedDateTime");
    }
    let ids = h
        .sim
        .generate(Resource::RiskyUsers, 1200, between_minutes_ago(30, 1));
    let first = h.run_once().await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert_eq!(event_ids(&first.events()).len(), 1200);
    // The unchanged list, polled five times, emits nothing.
    for _ in 0..5 {
        let r = h.run_once().await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        assert!(
            r.stdout.is_empty(),
            "an unchanged risky user was emitted again"
        );
    }
    // One change: exactly one event, with a new event.id.
    assert!(h.sim.update(Resource::RiskyUsers, &ids[7], json!({"riskState": "remediated", "riskLevel": "none", "riskDetail": "userPerformedSecuredPasswordReset"})));
    // Stamped two seconds ago, behind the last fresh read: the settle sweep reads it.
    h.settle();
    let r = h.run_once().await;
    let events = r.events();
    assert_eq!(events.len(), 1, "{}", r.stderr);
    assert_eq!(events[0]["properties"]["id"], ids[7].as_str());
    assert_eq!(events[0]["event"]["action"], "remediated");
    assert_eq!(events[0]["event"]["kind"], "state");
    assert!(!event_ids(&first.events())
        .contains(&events[0]["event"]["id"].as_str().unwrap().to_string()));
    let again = h.run_once().await;
    assert!(again.stdout.is_empty());
    if refuse_filter {
        assert!(
            r.stderr.contains("listing everything each poll"),
            "{}",
            r.stderr
        );
    } else {
        let f = h.graph_requests()[0].param("$filter").unwrap();
        assert!(f.starts_with("riskLastUpdatedDateTime ge "), "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risky_users_emit_each_change_once_with_the_time_filter() {
    state_stream_emits_each_change_once(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risky_users_emit_each_change_once_when_graph_refuses_the_time_filter() {
    state_stream_emits_each_change_once(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_detections_emit_state_changes_and_48h_late_offline_detections() {
    let h = Harness::new("").await;
    h.write_streams("[streams.risk_detections]\n");
    let ids = h
        .sim
        .generate(Resource::RiskDetections, 100, between_minutes_ago(30, 1));
    let r = h.run_once().await;
    assert_eq!(r.events().len(), 100, "{}", r.stderr);
    // A detection is remediated later; an offline detection of an activity 40 h ago surfaces now.
    h.sim.update(
        Resource::RiskDetections,
        &ids[3],
        json!({"riskState": "remediated", "riskDetail": "userPerformedSecuredPasswordReset"}),
    );
    let offline = h.sim.generate_with(
        Resource::RiskDetections,
        1,
        Spread::Between(seconds_ago(30), seconds_ago(30)),
        json!({"detectionTimingType": "offline", "activityDateTime": entra_source::event::envelope_time(chrono::Utc::now() - chrono::Duration::hours(40)), "riskEventType": "leakedCredentials"}),
        true,
    );
    // Both are stamped before the last run's fresh read: the 48 h settle sweep reads them.
    h.advance(chrono::Duration::hours(49));
    let r = h.run_once().await;
    let events = r.events();
    assert_eq!(events.len(), 2, "{}", r.stderr);
    let by_id: Vec<&str> = events
        .iter()
        .map(|e| e["properties"]["id"].as_str().unwrap())
        .collect();
    assert!(by_id.contains(&ids[3].as_str()) && by_id.contains(&offline[0].as_str()));
    assert!(events.iter().all(|e| e["event"]["kind"] == "alert"));
    let all: Vec<String> = event_ids(&h.run_once().await.events());
    assert!(all.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_licence_or_permission_disables_one_stream_and_the_others_deliver_everything() {
    let h = Harness::new("").await;
    h.write_streams(
        "[streams.directory_audits]\n[streams.sign_ins]\n[streams.risky_service_principals]\n",
    );
    let audits = h.audits(2500, between_minutes_ago(40, 1));
    let sps = h.sim.generate(
        Resource::RiskyServicePrincipals,
        1100,
        between_minutes_ago(40, 1),
    );
    h.sim
        .generate(Resource::SignIns, 100, between_minutes_ago(40, 1));
    h.sim.set_licences(&[Licence::WorkloadIdentitiesPremium]);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let events = r.events();
    let got = |t: &str| -> HashSet<String> {
        events
            .iter()
            .filter(|e| e["event"]["dataset"] == t)
            .map(|e| e["properties"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(got("entra.directory_audits"), set(&audits));
    assert_eq!(got("entra.risky_service_principals"), set(&sps));
    assert!(got("entra.sign_ins").is_empty());
    let licence_lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("Microsoft Entra ID P1 or P2"))
        .collect();
    assert!(!licence_lines.is_empty(), "{}", r.stderr);
    assert!(
        r.last_stderr_line()
            .contains("stream sign_ins is disabled for this run"),
        "{}",
        r.stderr
    );
    assert!(r
        .last_stderr_line()
        .contains("Authentication_RequestFromNonPremiumTenantOrB2CTenant"));

    // A permission missing: the stream names it; the rest deliver.
    let h = Harness::new("").await;
    h.write_streams(
        "[streams.directory_audits]\n[streams.risky_users]\n[streams.risk_detections]\n",
    );
    let detections = h
        .sim
        .generate(Resource::RiskDetections, 700, between_minutes_ago(40, 1));
    h.sim
        .generate(Resource::RiskyUsers, 10, between_minutes_ago(40, 1));
    let roles = roles_without("IdentityRiskyUser.Read.All");
    h.sim.set_roles(&roles);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(1));
    assert_eq!(
        r.events()
            .iter()
            .filter(|e| e["event"]["dataset"] == "entra.risk_detections")
            .count(),
        detections.len()
    );
    assert!(
        r.last_stderr_line().contains("IdentityRiskyUser.Read.All"),
        "{}",
        r.stderr
    );
    assert!(r.last_stderr_line().contains("Grant admin consent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_run_mode_a_disabled_stream_leaves_the_others_polling() {
    let h = Harness::new("").await;
    h.write_streams("[streams.directory_audits]\n[streams.sign_ins]\n");
    h.sim.set_licences(&[]);
    h.audits(20, between_minutes_ago(10, 1));
    let mut child = h.spawn_run();
    let mut lines = stdout_lines(&mut child);
    let mut got = Vec::new();
    // The 20 audits and the one event saying sign_ins stopped (no licence).
    read_lines(&mut lines, 21, &mut got).await;
    // Later audits still arrive after sign_ins was disabled.
    let later = h.audits(5, Spread::Between(seconds_ago(3), seconds_ago(1)));
    h.settle();
    read_lines(&mut lines, 26, &mut got).await;
    assert!(child.try_wait().unwrap().is_none());
    child.kill().await.unwrap();
    let all = parse_lines(&got.join("\n"));
    let health: Vec<&Value> = all.iter().filter(|e| is_health(e)).collect();
    assert_eq!(health.len(), 1);
    assert_eq!(health[0]["properties"]["stream"], "sign_ins");
    assert_eq!(health[0]["properties"]["state"], "error");
    let ids = event_ids(&records(all));
    assert!(set(&later).is_subset(&set(&ids)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_drains_under_graphs_per_tenant_limits_with_almost_no_429s() {
    let h = Harness::new("").await;
    // Graph's own budgets: the [throttle] defaults.
    std::fs::write(
        &h.config,
        h.sim.config_toml(&h.secret_file, &h.state, "[streams.directory_audits]\n[streams.sign_ins]\n[streams.risk_detections]\n[streams.risky_users]\n"),
    )
    .unwrap();
    h.sim.enforce_graph_limits(true);
    let audits = h.audits(4000, between_minutes_ago(50, 1));
    let sign_ins = h
        .sim
        .generate(Resource::SignIns, 2500, between_minutes_ago(50, 1));
    let detections = h
        .sim
        .generate(Resource::RiskDetections, 2600, between_minutes_ago(50, 1));
    let users = h
        .sim
        .generate(Resource::RiskyUsers, 1200, between_minutes_ago(50, 1));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let events = r.events();
    assert_eq!(
        events.len(),
        audits.len() + sign_ins.len() + detections.len() + users.len()
    );
    assert_unique(&event_ids(&events));
    let reqs = h.graph_requests();
    let throttled = reqs.iter().filter(|q| q.status == 429).count();
    assert!(
        throttled * 100 <= reqs.len(),
        "{throttled} of {} requests answered 429",
        reqs.len()
    );
    // Audits and sign-ins share one budget: 7 report pages need a second 10 s window.
    let reports: Vec<_> = reqs
        .iter()
        .filter(|q| q.path.contains("auditLogs"))
        .collect();
    assert_eq!(reports.len(), 7);
    assert!(reports[5].at.duration_since(reports[0].at) >= std::time::Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_protection_429s_without_retry_after_back_off() {
    let h = Harness::new("").await;
    h.write_streams("[streams.risk_detections]\n");
    let ids = h
        .sim
        .generate(Resource::RiskDetections, 1200, between_minutes_ago(30, 1));
    h.sim.push_faults_after(
        1,
        [
            Fault::Throttle { retry_after: None },
            Fault::Throttle { retry_after: None },
        ],
    );
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        set(&event_ids(&r.events())),
        expected_ids(&h, Resource::RiskDetections, &ids)
    );
    let reqs = h.graph_requests();
    let i = reqs.iter().position(|q| q.status == 429).unwrap();
    assert!(reqs[i].retry_after.is_none());
    let gap = reqs[i + 1].at.duration_since(reqs[i].at);
    assert!(
        gap >= std::time::Duration::from_millis(250),
        "retried after {gap:?} with no Retry-After"
    );
    assert!(
        reqs.iter().all(|q| !q.query.contains("orderby")),
        "identity protection documents no $orderby"
    );
}

/// `simulate --rate` (and `demo --follow`, which uses the same producers) kept producing every
/// resource but sign-ins, the stream users care most about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_with_a_rate_keeps_producing_sign_ins_of_every_type() {
    use tokio::io::AsyncBufReadExt;
    let h = Harness::new("").await;
    let port = free_port();
    let mut sim = h
        .command(&[
            "simulate",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--events",
            "0",
            "--rate",
            "2",
            // Visible at once: this is about what is produced, not when Graph shows it.
            "--delays",
            "none",
        ])
        .spawn()
        .unwrap();
    // Ready once it prints how to point a config at it.
    let mut err = tokio::io::BufReader::new(sim.stderr.take().unwrap()).lines();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let line = tokio::time::timeout_at(deadline, err.next_line())
            .await
            .expect("simulate did not start")
            .unwrap()
            .expect("simulate exited");
        if line.contains("Graph simulator on") {
            break;
        }
    }
    let base = format!("http://127.0.0.1:{port}");
    let own = h.sim.base_url();
    let text = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace(&own, &base);
    std::fs::write(
        &h.config,
        text.replace(
            "[streams.directory_audits]",
            "[streams.sign_ins]\nevent_types = [\"interactiveUser\", \"nonInteractiveUser\", \"servicePrincipal\", \"managedIdentity\"]",
        ),
    )
    .unwrap();
    let mut categories = HashSet::new();
    while categories.len() < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sign-in types produced: {categories:?}"
        );
        let r = h.run_once().await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        for e in r.events() {
            let t = &e["properties"]["signInEventTypes"][0];
            categories.insert(t.as_str().unwrap().to_string());
        }
    }
    sim.kill().await.unwrap();
}
