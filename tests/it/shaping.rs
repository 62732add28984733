//! Sign-in volume shaping (`[streams.sign_ins.shaping]`, issue 30) on the simulator's realistic
//! mix: every sign-in a detection looks at is emitted in full, every other one is counted into
//! exactly one summary, and the counts reconcile with what Graph served, across SIGKILLs too.

use std::collections::{HashMap, HashSet};

use crate::common::*;
use chrono::{Duration, Utc};
use entra_simulator::{Mix, Spread};
use serde_json::Value;

/// The three machine types summarized, interactive sign-ins in full (the default policy the
/// docs recommend).
pub const SHAPED: &str = "[streams.sign_ins]\ninitial_lookback = \"2h\"\nevent_types = [\"interactiveUser\", \"nonInteractiveUser\", \"servicePrincipal\", \"managedIdentity\"]\n\n[streams.sign_ins.shaping]\nnonInteractiveUser = \"summarize\"\nservicePrincipal = \"summarize\"\nmanagedIdentity = \"summarize\"\n";

pub fn is_summary(e: &Value) -> bool {
    e["event"]["type"] == "sign_in_summary"
}

fn mix(h: &Harness) -> (Mix, HashSet<String>) {
    let now = Utc::now();
    let mix = h.sim.sign_in_mix(
        30,
        Spread::Between(now - Duration::minutes(70), now - Duration::minutes(10)),
    );
    let all: HashSet<String> = mix
        .routine
        .iter()
        .chain(&mix.notable)
        .chain(&mix.new_address)
        .cloned()
        .collect();
    (mix, all)
}

/// What a run's lines say: full sign-ins by id, summaries by id (count, sample), and the
/// `shaped` accounting events.
#[derive(Default)]
struct Seen {
    full: Vec<String>,
    summaries: HashMap<String, (u64, String)>,
    summary_lines: usize,
    accounts: Vec<Value>,
}

impl Seen {
    fn add(&mut self, events: &[Value]) {
        for e in events {
            if is_summary(e) {
                let id = e["event"]["id"].as_str().unwrap().to_string();
                let count = e["summary"]["count"].as_u64().unwrap();
                let sample = e["summary"]["sample_id"].as_str().unwrap().to_string();
                if let Some(before) = self.summaries.insert(id.clone(), (count, sample.clone())) {
                    assert_eq!(
                        before,
                        (count, sample),
                        "summary {id} written again differently"
                    );
                }
                self.summary_lines += 1;
            } else if e["properties"]["state"] == "shaped" {
                self.accounts.push(e["properties"].clone());
            } else if !is_health(e) {
                self.full
                    .push(e["event"]["id"].as_str().unwrap().to_string());
            }
        }
    }

    fn counted(&self) -> u64 {
        self.summaries.values().map(|(c, _)| c).sum()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_notable_sign_in_is_emitted_in_full_and_the_rest_counted_once() {
    let h = Harness::new("").await;
    h.write_streams(SHAPED);
    let (mix, all) = mix(&h);
    let mut seen = Seen::default();
    // A run, then one after every read has passed every window: the summaries close.
    seen.add(&shaped_lines(&h).await);

    let full: HashSet<&String> = seen.full.iter().collect();
    assert_eq!(full.len(), seen.full.len(), "a sign-in emitted twice");
    for id in &mix.notable {
        assert!(
            full.contains(id),
            "notable sign-in {id} not emitted in full"
        );
    }
    // The managed identity's first sign-in from a new address is kept; its repeats are not.
    let new_kept = mix
        .new_address
        .iter()
        .filter(|id| full.contains(id))
        .count();
    assert_eq!(new_kept, 1, "first-seen address: {new_kept} kept in full");
    // Exact accounting: every record served is in full or in exactly one summary.
    assert_eq!(
        seen.full.len() as u64 + seen.counted(),
        all.len() as u64,
        "full {} + counted {} != served {}",
        seen.full.len(),
        seen.counted(),
        all.len()
    );
    for (count, sample) in seen.summaries.values() {
        assert!(*count >= 1 && all.contains(sample) && !full.contains(sample));
    }
    // The cut: most machine sign-ins go into summaries.
    assert!(
        seen.counted() > 6 * seen.full.len() as u64,
        "only {} of {} counted",
        seen.counted(),
        all.len()
    );
    // The accounting events add up to the same, window by window.
    let sum = |k: &str| {
        seen.accounts
            .iter()
            .map(|a| a[k].as_u64().unwrap())
            .sum::<u64>()
    };
    assert!(seen.accounts.iter().all(|a| a["reconciled"] == true));
    assert_eq!(sum("fetched"), all.len() as u64);
    assert_eq!(sum("summarized"), seen.counted());
    assert_eq!(sum("summaries") as usize, seen.summaries.len());
    // `state show` says the same, reconciled.
    let show = h
        .run_args(&["state", "show", "--config", h.config.to_str().unwrap()])
        .await;
    let shaped: Vec<&str> = show
        .stdout
        .lines()
        .filter(|l| l.contains("SHAPED:"))
        .collect();
    assert_eq!(shaped.len(), 3, "{}", show.stdout);
    assert!(
        shaped.iter().all(|l| l.contains("(reconciled)")),
        "{}",
        show.stdout
    );
    assert!(!show.stdout.contains("NOT RECONCILED"), "{}", show.stdout);
}

/// Killed while counting and while writing summaries, then restarted: nothing is lost, no
/// record is both emitted and counted, and a summary written again is the same event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_while_counting_or_closing_keeps_the_accounting_exact() {
    let h = Harness::new("").await;
    h.write_streams(SHAPED);
    let (mix, all) = mix(&h);
    h.sim.set_delay(std::time::Duration::from_millis(20));
    let mut events: Vec<Value> = Vec::new();
    for (advance, n) in [(false, 5), (false, 20), (true, 10), (false, 10)] {
        if advance {
            h.advance(Duration::hours(3));
        }
        let got = run_then_kill_9_events(&h, n).await;
        events.extend(got);
    }
    let last = h.run_once().await;
    assert_eq!(last.code, Some(0), "{}", last.stderr);
    events.extend(parse_lines(&last.stdout));

    let mut seen = Seen::default();
    seen.add(&events);
    let full: HashSet<&String> = seen.full.iter().collect();
    let lost: Vec<&String> = mix.notable.iter().filter(|id| !full.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "{} notable sign-ins lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    assert_eq!(
        full.len() as u64 + seen.counted(),
        all.len() as u64,
        "distinct full {} + counted {} (in {} summaries, {} lines) != served {}",
        full.len(),
        seen.counted(),
        seen.summaries.len(),
        seen.summary_lines,
        all.len()
    );
    let state = h.state_json();
    for t in ["nonInteractiveUser", "servicePrincipal", "managedIdentity"] {
        let s = &state["tenants"][entra_simulator::TENANT_ID]["streams"][format!("sign_ins.{t}")]
            ["shaping"];
        assert_eq!(
            s["totals"]["fetched"].as_u64(),
            Some(
                s["totals"]["full"].as_u64().unwrap() + s["totals"]["summarized"].as_u64().unwrap()
            ),
            "{t}: {s}"
        );
    }
}

/// [`run_then_kill_9`], returning the whole events; killed after `n` lines, or once the run
/// has written everything it had (no line for 10 s: a bound, not a wait the test relies on).
async fn run_then_kill_9_events(h: &Harness, n: usize) -> Vec<Value> {
    let mut child = h.spawn_run();
    let mut lines = stdout_lines(&mut child);
    let mut got = Vec::new();
    while got.len() < n {
        match tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line()).await {
            Ok(Ok(Some(l))) => got.push(l),
            _ => break,
        }
    }
    kill_9_and_drain(child, lines, got).await
}

/// Runs the mix to its summaries' close in `format` and returns every line.
async fn shaped_lines(h: &Harness) -> Vec<Value> {
    let mut lines = Vec::new();
    for advance in [false, true] {
        if advance {
            h.advance(Duration::hours(3));
        }
        let r = h.run_once().await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        lines.extend(parse_lines(&r.stdout));
    }
    lines
}

/// Each format says "N sign-ins like this" its own way, and in each the counts add up to what
/// Graph served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_say_how_many_in_every_format() {
    type Probe = fn(&Value) -> Option<u64>;
    let formats: [(&str, Probe); 5] = [
        ("native", |e| {
            (e["event"]["type"] == "sign_in_summary")
                .then(|| e["summary"]["count"].as_u64().unwrap())
        }),
        ("azure_monitor", |e| {
            (e["category"] == "EntraSignInSummaries")
                .then(|| e["properties"]["count"].as_u64().unwrap())
        }),
        ("log_analytics", |e| {
            (e["Type"] == "EntraSignInSummaries_CL").then(|| e["SignInCount"].as_u64().unwrap())
        }),
        ("ecs", |e| {
            e["azure"]["signinlogs"]["summary"]["count"]
                .as_u64()
                .inspect(|_| {
                    assert!(e["event"]["start"].is_string() && e["event"]["end"].is_string());
                    assert_eq!(e["event"]["kind"], "event");
                })
        }),
        ("ocsf", |e| {
            (e["class_uid"] == 3002 && e["count"].is_u64()).then(|| {
                assert!(e["start_time"].is_i64() && e["end_time"].is_i64());
                e["count"].as_u64().unwrap()
            })
        }),
    ];
    for (format, probe) in formats {
        let h = Harness::new("").await;
        h.write_streams(&format!("[output]\nformat = \"{format}\"\n\n{SHAPED}"));
        let (_, all) = mix(&h);
        let lines = shaped_lines(&h).await;
        let counted: u64 = lines.iter().filter_map(probe).sum();
        let summaries = lines.iter().filter(|e| probe(e).is_some()).count();
        let health = lines.iter().filter(|e| is_health(e)).count();
        let full = lines.len() - summaries - health;
        assert!(summaries > 0, "{format}: no summary");
        assert_eq!(
            full as u64 + counted,
            all.len() as u64,
            "{format}: {full} in full + {counted} counted"
        );
    }
}

/// OTLP: a summary is a log record like any event, its body the native summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_reach_an_otlp_collector() {
    let (endpoint, receiver) = crate::otlp::receiver().await;
    let h = Harness::new("").await;
    h.write_streams(&format!(
        "[output]\notlp_endpoint = \"{endpoint}\"\n\n{SHAPED}"
    ));
    let (_, all) = mix(&h);
    shaped_lines(&h).await;
    let r = receiver.lock().unwrap();
    let summaries: Vec<&String> = r
        .acknowledged
        .iter()
        .filter(|id| id.starts_with("sign_in_summary:"))
        .collect();
    assert!(!summaries.is_empty());
    let body = serde_json::to_string(&r.requests).unwrap();
    assert!(body.contains("\"sample_id\""));
    let full = r.acknowledged.iter().filter(|id| all.contains(*id)).count();
    assert!(
        full > 0 && full < all.len() / 4,
        "{full} of {} in full",
        all.len()
    );
}

/// A policy set back to `full` while summaries are open: the next run writes them at once (they
/// never wait for a window that no longer closes), so nothing counted is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_open_when_the_policy_goes_back_to_full_are_written_at_once() {
    let h = Harness::new("").await;
    h.write_streams(SHAPED);
    let (_, all) = mix(&h);
    let mut seen = Seen::default();
    let first = h.run_once().await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    seen.add(&parse_lines(&first.stdout));
    let counted_before = seen.counted();
    let head = SHAPED.split("\n[streams.sign_ins.shaping]").next().unwrap();
    h.write_streams(head);
    let second = h.run_once().await;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    seen.add(&parse_lines(&second.stdout));
    assert!(
        seen.counted() > counted_before,
        "nothing was written when the policy changed"
    );
    assert_eq!(seen.full.len() as u64 + seen.counted(), all.len() as u64);
    let state = h.state_json();
    let s = &state["tenants"][entra_simulator::TENANT_ID]["streams"]["sign_ins.servicePrincipal"]
        ["shaping"];
    assert!(s.get("open").is_none(), "{s}");
}

/// `/metrics` counts the sign-ins summarized, per type, equal to what the summaries say once the
/// windows closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summarized_count_is_a_metric() {
    let h = Harness::new("").await;
    let port = free_port();
    h.write_streams(&format!(
        "[metrics]\nlisten = \"127.0.0.1:{port}\"\n\n{SHAPED}"
    ));
    mix(&h);
    let mut child = h.spawn_run();
    let mut lines = stdout_lines(&mut child);
    let mut seen = Seen::default();
    let mut got: Vec<String> = Vec::new();
    // Once it is reading, every read passes every window.
    read_lines(&mut lines, 1, &mut got).await;
    h.advance(Duration::hours(3));
    // Until every summarized type has closed a window (its `shaped` accounting event).
    while seen
        .accounts
        .iter()
        .map(|a| a["sign_in_type"].clone())
        .collect::<HashSet<_>>()
        .len()
        < 3
    {
        read_lines(&mut lines, got.len() + 1, &mut got).await;
        seen = Seen::default();
        seen.add(&parse_lines(&got.join("\n")));
    }
    let (_, text) = crate::metrics::get(port, "/metrics").await.unwrap();
    let total: f64 = ["nonInteractiveUser", "servicePrincipal", "managedIdentity"]
        .iter()
        .map(|t| {
            crate::metrics::sample(
                &text,
                &format!("entra_source_sign_ins_summarized_total{{tenant=\"{}\",stream=\"sign_ins\",sign_in_type=\"{t}\"}}", entra_simulator::TENANT_ID),
            )
            .unwrap_or_else(|| panic!("no {t} sample: {text}"))
        })
        .sum();
    assert!(
        total >= seen.counted() as f64 && total > 0.0,
        "{total} < {}",
        seen.counted()
    );
    let _ = sigterm(&mut child).await;
}
