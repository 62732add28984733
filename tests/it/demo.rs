//! `entra-source demo`: the events a newcomer sees first, from the built-in simulator, in every
//! format.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_valid_events_and_exits_zero() {
    let h = Harness::new("").await;
    let r = h.run_args(&["demo", "--events", "25"]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let events = r.events();
    // 25 records of each of the nine resources, sign-ins of each of the four event types,
    // the directory's 25 users, 25 devices and two role members, and five sign-ins by
    // directory users, which carry their `context`.
    assert_eq!(events.len(), 25 * 12 + 25 + 25 + 2 + 5, "{}", r.stderr);
    // The simulator's records are by its directory's users, devices and service principals:
    // every sign-in, audit and risk detection carries its context (before, 5 of 125 sign-ins).
    for dataset in [
        "entra.sign_ins",
        "entra.directory_audits",
        "entra.risk_detections",
        "entra.service_principal_risk_detections",
    ] {
        let of: Vec<_> = events
            .iter()
            .filter(|e| e["event"]["dataset"] == dataset)
            .collect();
        assert!(!of.is_empty(), "{dataset}");
        assert!(
            of.iter().all(|e| e["context"].is_object()),
            "{dataset}: an event without context"
        );
    }
    let user_context = events
        .iter()
        .filter(|e| e["context"]["user"]["user_principal_name"].is_string())
        .count();
    assert!(
        user_context >= 25 * 4 + 5,
        "the demo shows user context: {user_context}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"]["dataset"] == "entra.provisioning")
            .count(),
        25,
        "the demo shows provisioning"
    );
    let audits: Vec<_> = events
        .iter()
        .filter(|e| e["event"]["dataset"] == "entra.directory_audits")
        .collect();
    assert_eq!(audits.len(), 25);
    audits.into_iter().for_each(assert_native_audit_event);
    for sign_in_type in [
        "interactiveUser",
        "nonInteractiveUser",
        "servicePrincipal",
        "managedIdentity",
    ] {
        // The five sign-ins by directory users are interactive.
        let extra = if sign_in_type == "interactiveUser" {
            5
        } else {
            0
        };
        assert_eq!(
            events
                .iter()
                .filter(|e| e["properties"]["signInEventTypes"][0] == sign_in_type)
                .count(),
            25 + extra,
            "{sign_in_type}"
        );
    }
    for dataset in [
        "entra.risky_users",
        "entra.risk_detections",
        "entra.risky_service_principals",
        "entra.service_principal_risk_detections",
    ] {
        assert_eq!(
            events
                .iter()
                .filter(|e| e["event"]["dataset"] == dataset)
                .count(),
            25,
            "{dataset}"
        );
    }
}

/// `demo --format` shows every format, each with what makes it that schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_shows_every_format() {
    let h = Harness::new("").await;
    for (format, key) in [
        ("azure_monitor", "/category"),
        ("log_analytics", "/Type"),
        ("ecs", "/ecs/version"),
        ("ocsf", "/metadata/version"),
    ] {
        let r = h
            .run_args(&["demo", "--events", "5", "--format", format])
            .await;
        assert_eq!(r.code, Some(0), "{format}: {}", r.stderr);
        let events = records(r.events());
        assert!(events.len() >= 5 * 12, "{format}: {}", events.len());
        for e in &events {
            assert!(e.pointer(key).is_some(), "{format}: no {key} in {e}");
            assert!(e.get("context").is_none() || format == "ecs" || format == "ocsf");
        }
    }
    let r = h.run_args(&["demo", "--format", "cef"]).await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
}

/// `demo --follow` printed nothing new for 30 seconds: the simulator stamped records in the
/// past and they waited for the 20-minute sweep. Now Graph's delays run 60× faster there and
/// the reads follow them: a record made after the start is printed within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_follow_prints_records_as_the_simulator_makes_them() {
    let h = Harness::new("").await;
    let started = chrono::Utc::now();
    let mut child = h
        .command(&["demo", "--events", "2", "--follow"])
        .spawn()
        .unwrap();
    let mut lines = stdout_lines(&mut child);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut fresh = 0;
    while fresh < 5 {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .expect("five records made after the start within a minute")
            .unwrap()
            .expect("demo --follow keeps running");
        let e: serde_json::Value = serde_json::from_str(&line).unwrap();
        let time = e["time"]
            .as_str()
            .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok());
        if time.is_some_and(|t| t > started) {
            fresh += 1;
        }
    }
    let _ = child.kill().await;
}
