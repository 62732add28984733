//! Exactly-once delivery of directory audits across pages, restarts, late arrival, 429s,
//! outages and crashes, with the real binary against the simulator.

use std::collections::HashSet;
use std::time::Duration;

use crate::common::*;
use entra_simulator::{Fault, Spread};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_records_over_many_pages_each_exactly_once_with_full_pages() {
    let h = Harness::new("").await;
    let ids = h.audits(5000, between_minutes_ago(50, 1));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let events = r.events();
    for e in &events {
        assert_native_audit_event(e);
    }
    let got = event_ids(&events);
    assert_eq!(got.len(), 5000);
    assert_eq!(
        got.iter().collect::<HashSet<_>>(),
        ids.iter().collect::<HashSet<_>>()
    );

    // A backlog is read in full pages: one request per $top (1000) records.
    let reqs = h.graph_requests();
    assert_eq!(reqs.len(), 5, "{reqs:#?}");
    assert!(reqs.iter().all(|r| r.status == 200));
    assert_eq!(reqs[0].param("$top").as_deref(), Some("1000"));
    assert_eq!(
        reqs[0].param("$orderby").as_deref(),
        Some("activityDateTime asc")
    );
    let filter = reqs[0].param("$filter").unwrap();
    assert!(
        filter.starts_with("activityDateTime ge ") && filter.contains(" and activityDateTime le "),
        "{filter}"
    );
    // nextLinks are followed verbatim: they carry the original query options.
    assert!(reqs[1..]
        .iter()
        .all(|r| r.param("$skiptoken").is_some() && r.param("$filter") == Some(filter.clone())));
    assert!(reqs
        .iter()
        .all(|r| r.path == "/v1.0/auditLogs/directoryAudits"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_emits_only_the_new_records() {
    let h = Harness::new("").await;
    h.audits(300, between_minutes_ago(40, 2));
    let first = h.run_once().await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert_eq!(first.events().len(), 300);

    let new = h.audits(120, Spread::Between(seconds_ago(50), seconds_ago(2)));

    h.settle();
    let second = h.run_once().await;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let got = event_ids(&second.events());
    assert_eq!(got.len(), 120, "{}", second.stderr);
    assert_eq!(
        got.into_iter().collect::<HashSet<_>>(),
        new.into_iter().collect::<HashSet<_>>()
    );

    // Nothing new: nothing emitted.
    let third = h.run_once().await;
    assert_eq!(third.code, Some(0));
    assert!(third.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_records_inside_late_arrival_are_emitted_exactly_once() {
    let h = Harness::new("late_arrival = \"20m\"\n").await;
    let on_time = h.audits(500, between_minutes_ago(30, 1));
    // Records stamped 10 to 2 minutes ago that Graph shows only after the first run.
    let late = h.sim.generate_hidden(
        entra_simulator::Resource::DirectoryAudits,
        200,
        between_minutes_ago(10, 2),
    );
    let first = h.run_once().await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert_eq!(event_ids(&first.events()).len(), 500);

    h.sim.reveal(None);
    // The 20-minute settle sweep reads the slice they were stamped in.
    h.settle();
    let second = h.run_once().await;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let got = event_ids(&second.events());
    assert_eq!(
        got.iter().collect::<HashSet<_>>(),
        late.iter().collect::<HashSet<_>>()
    );
    assert_eq!(
        got.len(),
        200,
        "the re-read window re-emitted already emitted records"
    );

    let all: Vec<String> = event_ids(&first.events()).into_iter().chain(got).collect();
    assert!(tally(&all).values().all(|n| *n == 1));
    assert_eq!(all.len(), on_time.len() + late.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_records_in_one_second_split_across_pages_and_runs_all_arrive() {
    let h = Harness::new("").await;
    let second = seconds_ago(30);
    let visible = h.audits(3000, Spread::SameSecond(second));
    // More records in the same second that show up only later: the cursor must not skip them.
    let late = h.sim.generate_hidden(
        entra_simulator::Resource::DirectoryAudits,
        500,
        Spread::SameSecond(second),
    );
    let first = h.run_once().await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let got1 = event_ids(&first.events());
    assert_eq!(got1.len(), 3000);
    assert_eq!(
        got1.iter().collect::<HashSet<_>>(),
        visible.iter().collect::<HashSet<_>>()
    );
    assert_eq!(h.graph_requests().len(), 3);

    h.sim.reveal(None);
    h.settle();
    let second_run = h.run_once().await;
    let got2 = event_ids(&second_run.events());
    assert_eq!(
        got2.iter().collect::<HashSet<_>>(),
        late.iter().collect::<HashSet<_>>()
    );
    assert_eq!(got2.len(), 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_every_third_request_loses_and_duplicates_nothing_and_waits_retry_after() {
    let h = Harness::new("").await;
    let ids = h.audits(5000, between_minutes_ago(50, 1));
    h.sim.fault_every(
        3,
        Fault::Throttle {
            retry_after: Some("0.35".into()),
        },
    );
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let got = event_ids(&r.events());
    assert_eq!(got.len(), 5000);
    assert_eq!(
        got.iter().collect::<HashSet<_>>(),
        ids.iter().collect::<HashSet<_>>()
    );

    let reqs = h.graph_requests();
    let throttled: Vec<usize> = (0..reqs.len()).filter(|i| reqs[*i].status == 429).collect();
    assert!(throttled.len() >= 2, "{reqs:#?}");
    for i in throttled {
        let (t, next) = (&reqs[i], &reqs[i + 1]);
        assert_eq!(t.retry_after.as_deref(), Some("0.35"));
        let gap = next.at.duration_since(t.at);
        assert!(
            gap >= Duration::from_millis(350),
            "retried after {gap:?}, before Retry-After"
        );
        assert_eq!(next.query, t.query, "the retry must use the same URL");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_expired_tokens_and_bad_skip_tokens_lose_nothing() {
    let h = Harness::new("").await;
    let ids = h.audits(2500, between_minutes_ago(50, 1));
    h.sim.push_faults([
        Fault::Unavailable {
            retry_after: Some("0.1".into()),
        },
        Fault::GatewayTimeout,
        Fault::Unavailable { retry_after: None },
    ]);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        event_ids(&r.events()).into_iter().collect::<HashSet<_>>(),
        ids.iter().cloned().collect()
    );

    // A token that expires mid-paging is renewed once; paging continues on the same nextLink.
    let more = h.audits(2500, Spread::Between(seconds_ago(50), seconds_ago(1)));
    h.settle();
    let before = h.sim.requests().len();
    h.sim.push_faults_after(1, [Fault::TokenExpired]);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let got = event_ids(&r.events());
    assert_eq!(got.len(), 2500);
    assert_eq!(
        got.iter().collect::<HashSet<_>>(),
        more.iter().collect::<HashSet<_>>()
    );
    let reqs: Vec<_> = h.sim.requests().into_iter().skip(before).collect();
    let graph: Vec<_> = reqs.iter().filter(|r| r.is_graph()).collect();
    assert_eq!(graph[1].status, 401);
    assert_eq!(
        graph[2].query, graph[1].query,
        "the same nextLink after the renewal"
    );
    assert_eq!(
        graph
            .iter()
            .filter(|r| r.param("$skiptoken").is_none())
            .count(),
        1,
        "no window restart"
    );
    assert_eq!(
        reqs.iter().filter(|r| r.is_token()).count(),
        2,
        "one token, one renewal"
    );

    // Graph refuses a nextLink ("Invalid Skip Token"): the window restarts from the cursor once
    // and the id set drops what the first attempt already emitted.
    let third = h.audits(2500, Spread::Between(seconds_ago(40), seconds_ago(1)));
    h.settle();
    h.sim.invalid_skiptokens(1);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let got = event_ids(&r.events());
    assert_eq!(got.len(), 2500, "{}", r.stderr);
    assert_eq!(
        got.iter().collect::<HashSet<_>>(),
        third.iter().collect::<HashSet<_>>()
    );
    assert!(r.stderr.contains("restarting the window"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_page_fails_the_run_clearly_and_the_next_run_delivers_it() {
    let h = Harness::new("").await;
    let ids = h.audits(2500, between_minutes_ago(50, 1));
    // The second page arrives truncated.
    h.sim.push_faults_after(1, [Fault::MalformedPage]);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.last_stderr_line().contains("malformed"), "{}", r.stderr);
    let first = event_ids(&r.events());
    assert_eq!(first.len(), 1000, "only the good page is emitted");

    let again = h.run_once().await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    let all: Vec<String> = first
        .into_iter()
        .chain(event_ids(&again.events()))
        .collect();
    assert_eq!(all.len(), 2500);
    assert_eq!(
        all.iter().collect::<HashSet<_>>(),
        ids.iter().collect::<HashSet<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_many_points_then_restart_loses_nothing_and_repeats_at_most_the_page_in_flight() {
    let h = Harness::new("").await;
    let ids = h.audits(12_000, between_minutes_ago(55, 1));
    // Slow pages so that kills land mid-run.
    h.sim.set_delay(Duration::from_millis(40));
    let mut delivered: Vec<String> = Vec::new();
    // Kill points, in stdout lines read before the SIGKILL (fixed, varied, mid-page ones too).
    let kill_after: [usize; 5] = [1, 1700, 2999, 5234, 8000];
    let mut kills = 0;
    for target in kill_after {
        // What the process wrote before it died is delivered too.
        let got = run_then_kill_9(&h, target.saturating_sub(delivered.len())).await;
        kills += 1;
        delivered.extend(got);
    }
    let last = h.run_once().await;
    assert_eq!(last.code, Some(0), "{}", last.stderr);
    delivered.extend(event_ids(&last.events()));

    let counts = tally(&delivered);
    let missing: Vec<_> = ids.iter().filter(|id| !counts.contains_key(*id)).collect();
    assert!(missing.is_empty(), "{} records lost", missing.len());
    let extra = delivered.len() - ids.len();
    assert!(
        extra <= kills * 1000,
        "{extra} duplicates for {kills} kills: more than the page in flight each"
    );
    assert!(counts.keys().all(|k| ids.contains(k)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_page_saves_and_exits_zero_within_three_seconds() {
    let h = Harness::new("").await;
    h.audits(6000, between_minutes_ago(55, 1));
    h.sim.set_delay(Duration::from_millis(300));
    let mut child = h.spawn_run();
    let mut lines = stdout_lines(&mut child);
    let mut got = Vec::new();
    read_lines(&mut lines, 1000, &mut got).await;
    let (status, took) = sigterm(&mut child).await;
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(3), "took {took:?}");
    while let Ok(Some(l)) = lines.next_line().await {
        got.push(l);
    }
    // The checkpoint covers every id written: its fingerprint is kept, or every mark (the
    // fresh cursor and the sweep's) is past its record, so that no read returns it.
    let state = h.state_json();
    let stream = &state["tenants"][entra_simulator::TENANT_ID]["streams"]["directory_audits"];
    let floor: chrono::DateTime<chrono::Utc> = stream["settled"]
        .as_object()
        .unwrap()
        .values()
        .chain([&stream["cursor"]])
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .min()
        .unwrap();
    let seen: HashSet<String> = stream["seen_fingerprints"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
        })
        .collect();
    for event in parse_lines(&got.join("\n")) {
        use base64::Engine;
        let id = event["event"]["id"].as_str().unwrap();
        let fp = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(entra_source::state::fingerprint(id));
        let at: chrono::DateTime<chrono::Utc> = event["time"].as_str().unwrap().parse().unwrap();
        assert!(
            seen.contains(&fp) || at < floor,
            "{id} was written but not checkpointed"
        );
    }
    // And the restart continues without repeating them.
    h.sim.set_delay(Duration::ZERO);
    let rest = h.run_once().await;
    let all: Vec<String> = event_ids(&parse_lines(&got.join("\n")))
        .into_iter()
        .chain(event_ids(&rest.events()))
        .collect();
    assert_eq!(all.len(), 6000);
    assert!(tally(&all).values().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_the_run_quietly_and_the_restart_loses_nothing() {
    let h = Harness::new("").await;
    let ids = h.audits(4000, between_minutes_ago(50, 1));
    h.sim.set_delay(Duration::from_millis(100));
    let mut child = h.spawn_run();
    let mut lines = stdout_lines(&mut child);
    let mut got = Vec::new();
    read_lines(&mut lines, 10, &mut got).await;
    drop(lines); // the host goes away
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exit")
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("closed"), "{stderr}");

    h.sim.set_delay(Duration::ZERO);
    let rest = h.run_once().await;
    let all: HashSet<String> = event_ids(&parse_lines(&got.join("\n")))
        .into_iter()
        .chain(event_ids(&rest.events()))
        .collect();
    assert_eq!(all, ids.into_iter().collect::<HashSet<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_run_mode_an_outage_longer_than_the_retry_budget_is_retried_at_the_next_poll() {
    let h = Harness::new("").await;
    let ids = h.audits(1500, between_minutes_ago(30, 1));
    // Eight 503s in a row spend one request's whole retry budget: the poll fails, the process
    // stays up, and the next poll (interval 1 s) delivers everything.
    h.sim.push_faults(std::iter::repeat_n(
        Fault::Unavailable {
            retry_after: Some("0.01".into()),
        },
        8,
    ));
    let mut child = h.spawn_run();
    let mut lines = stdout_lines(&mut child);
    let mut got = Vec::new();
    // The records, and the stream's health: degraded, then ok again.
    read_lines(&mut lines, 1502, &mut got).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "a transient failure ended the process"
    );
    child.kill().await.unwrap();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(stderr.contains("retrying at the next interval"), "{stderr}");
    let all = parse_lines(&got.join("\n"));
    let states: Vec<&str> = all
        .iter()
        .filter(|e| is_health(e))
        .map(|e| e["properties"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["degraded", "ok"]);
    let delivered = event_ids(&records(all));
    assert_eq!(
        delivered.iter().collect::<HashSet<_>>(),
        ids.iter().collect::<HashSet<_>>()
    );
    assert_eq!(delivered.len(), 1500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_renewed_a_minute_before_it_expires_without_waiting_for_a_401() {
    let h = Harness::new("").await;
    let ids = h.audits(3000, between_minutes_ago(50, 1));
    // Tokens live 61 s: at most 1 s of use before the 60 s margin makes the cache renew them.
    h.sim.set_token_ttl(Duration::from_secs(61));
    h.sim.set_delay(Duration::from_millis(700));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        event_ids(&r.events()).into_iter().collect::<HashSet<_>>(),
        ids.into_iter().collect::<HashSet<_>>()
    );
    let reqs = h.sim.requests();
    assert!(
        reqs.iter().all(|r| r.status != 401),
        "a request went out with an expiring token"
    );
    assert!(reqs.iter().filter(|r| r.is_token()).count() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_longer_than_max_line_bytes_is_trimmed_and_marked_never_split() {
    let h = Harness::new("").await;
    h.write_streams("[output]\nmax_line_bytes = 16384\n\n[streams.sign_ins]\n");
    // A sign-in that lists many conditional-access policies, as real ones do.
    let policies: Vec<serde_json::Value> = (0..200)
        .map(|i| serde_json::json!({"id": format!("policy-{i}"), "displayName": format!("Policy number {i} with a long name"), "enforcedGrantControls": ["Mfa"], "enforcedSessionControls": [], "result": "notApplied"}))
        .collect();
    let big = h.sim.generate_with(
        entra_simulator::Resource::SignIns,
        1,
        between_minutes_ago(5, 5),
        serde_json::json!({"appliedConditionalAccessPolicies": policies}),
        true,
    );
    let small = h.sim.generate(
        entra_simulator::Resource::SignIns,
        3,
        between_minutes_ago(4, 1),
    );
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.lines().all(|l| l.len() < 16384));
    let events = r.events();
    assert_eq!(events.len(), 4);
    let trimmed: Vec<_> = events
        .iter()
        .filter(|e| e.get("entra_source").is_some())
        .collect();
    assert_eq!(trimmed.len(), 1);
    assert_eq!(trimmed[0]["event"]["id"], big[0].as_str());
    assert_eq!(trimmed[0]["entra_source"]["truncated"], true);
    assert!(
        trimmed[0]["entra_source"]["original_bytes"]
            .as_u64()
            .unwrap()
            > 16384
    );
    assert!(small.iter().all(|id| events
        .iter()
        .any(|e| e["event"]["id"] == id.as_str() && e["properties"]["id"] == id.as_str())));
    assert!(
        r.stderr.contains("longer than max_line_bytes"),
        "{}",
        r.stderr
    );

    h.write_streams("[output]\nmax_line_bytes = 100\n\n[streams.sign_ins]\n");
    let r = h.run_once().await;
    assert_eq!(r.code, Some(2));
    assert!(
        r.last_stderr_line().contains("at least 4096"),
        "{}",
        r.stderr
    );
}

/// The token was taken before the pacer's wait, so a short-lived token expired in the queue
/// and its request came back 401 (with 5 s tokens, 2 requests carried an expired one). The
/// slot is now granted first, then the token taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_lived_token_never_waits_in_the_pacer_queue() {
    let h = Harness::new("").await;
    h.write_config(
        "[throttle]\nreports_requests_per_10s = 2\n\n[poll]\ninterval_seconds = 1\n\n[streams.directory_audits]\n",
    );
    let ids = h.audits(2500, between_minutes_ago(50, 1));
    // Shorter than the pacer's wait for the third page (about 10 s).
    h.sim.set_token_ttl(Duration::from_secs(3));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        event_ids(&r.events()).into_iter().collect::<HashSet<_>>(),
        ids.into_iter().collect::<HashSet<_>>()
    );
    let graph = h.graph_requests();
    assert!(graph.len() >= 3, "{graph:?}");
    assert!(
        graph.iter().all(|q| q.status != 401),
        "a request carried an expired token: {:?}",
        graph.iter().map(|q| q.status).collect::<Vec<_>>()
    );
}
