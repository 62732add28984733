//! Bad input: a clear message that names the problem and the fix, the contract's exit code,
//! nothing on stdout, the state file untouched, and no secret anywhere.

use crate::common::*;

/// A harness whose state file already holds a checkpoint, and a copy of its bytes.
async fn with_checkpoint() -> (Harness, Vec<u8>) {
    let h = Harness::new("").await;
    h.audits(50, between_minutes_ago(30, 1));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let bytes = std::fs::read(&h.state).unwrap();
    (h, bytes)
}

fn assert_failed_cleanly(h: &Harness, r: &RunResult, code: i32, needle: &str, state: &[u8]) {
    assert_eq!(r.code, Some(code), "{}", r.stderr);
    // No record; at most the stream's health changing, as an event.
    assert!(r.events().is_empty(), "no record was emitted: {}", r.stdout);
    assert!(
        r.last_stderr_line().contains(needle),
        "last stderr line lacks {needle:?}: {}",
        r.stderr
    );
    let now = std::fs::read(&h.state).unwrap();
    if code == 2 || now == state {
        assert_eq!(now, state, "the state file changed");
    } else {
        // A failed poll records the stream's health (and nothing else): the checkpoint itself
        // (cursor, ids) is unchanged.
        assert_eq!(
            checkpoint(&now),
            checkpoint(state),
            "the checkpoint changed"
        );
    }
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

/// The state file without the health each poll records (and without the sections that hold
/// nothing but health, e.g. of a tenant that never got a token).
fn checkpoint(bytes: &[u8]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    std::fs::write(&path, bytes).unwrap();
    let store = entra_source::state::StateStore::read_only(&path).unwrap();
    let mut v = serde_json::to_value(store.data()).unwrap();
    for (tenant, t) in &store.data().tenants {
        for (name, section) in &t.streams {
            let ids: Vec<_> = section.seen.seconds().collect();
            v["tenants"][tenant]["streams"][name]["seen"] = format!("{ids:?}").into();
        }
    }
    v["version"] = 0.into();
    let tenants = v["tenants"].as_object_mut().unwrap();
    for (_, t) in tenants.iter_mut() {
        let streams = t["streams"].as_object_mut().unwrap();
        for (_, s) in streams.iter_mut() {
            let s = s.as_object_mut().unwrap();
            for k in [
                "health",
                "last_error",
                "last_error_at",
                "consecutive_failures",
            ] {
                s.remove(k);
            }
        }
        streams.retain(|_, s| !s["cursor"].is_null() || !s["last_success"].is_null());
    }
    tenants.retain(|_, t| !t["streams"].as_object().unwrap().is_empty());
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_exit_2_before_any_network_call() {
    let (h, state) = with_checkpoint().await;
    let good = std::fs::read_to_string(&h.config).unwrap();
    let cases: Vec<(String, &str)> = vec![
        (good.replace("[state]", "[state"), "not valid TOML (line"),
        (
            good.replace("interval_seconds = 1", "intervl_seconds = 1"),
            "unknown key `intervl_seconds`; did you mean `interval_seconds`?",
        ),
        (
            good.replace(&format!("id = \"{}\"\n", entra_simulator::TENANT_ID), ""),
            "`tenant.id` is missing",
        ),
        (
            good.replace(
                "interval_seconds = 1",
                "interval_seconds = 1\nlate_arrival = \"20 minutes\"",
            ),
            "`poll.late_arrival` = \"20 minutes\" is invalid",
        ),
        (
            good.replace(
                "interval_seconds = 1",
                "interval_seconds = 1\ninitial_lookback = \"45d\"",
            ),
            "Graph keeps at most 30 days",
        ),
        (
            good.replace(
                &format!("graph_url = \"{}\"", h.sim.base_url()),
                "graph_url = \"http://graph.example.com\"",
            ),
            "plain http:// is refused except to loopback",
        ),
        (
            good.replace(
                &format!("client_secret_file = \"{}\"", h.secret_file.display()),
                "client_secret_env = \"ENTRA_TEST_UNSET_VARIABLE\"",
            ),
            "ENTRA_TEST_UNSET_VARIABLE is not set",
        ),
        (
            good.replace("interval_seconds = 1", "interval_seconds = 0"),
            "at least 1",
        ),
    ];
    let before = h.sim.requests().len();
    for (config, needle) in cases {
        std::fs::write(&h.config, config).unwrap();
        let r = h.run_once().await;
        assert_failed_cleanly(&h, &r, 2, needle, &state);
    }
    assert_eq!(
        h.sim.requests().len(),
        before,
        "a config error made a network call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_refusals_exit_1_with_the_fix() {
    let (h, state) = with_checkpoint().await;
    std::fs::write(&h.secret_file, "not-the-secret").unwrap();
    let r = h.run_once().await;
    assert_failed_cleanly(
        &h,
        &r,
        1,
        "AADSTS7000215: the client secret is wrong",
        &state,
    );
    assert!(r.last_stderr_line().contains("client_secret_file"));

    std::fs::write(&h.secret_file, entra_simulator::CLIENT_SECRET).unwrap();
    h.sim.set_secret_expired(true);
    let r = h.run_once().await;
    assert_failed_cleanly(
        &h,
        &r,
        1,
        "AADSTS7000222: the client secret has expired",
        &state,
    );
    h.sim.set_secret_expired(false);

    let good = std::fs::read_to_string(&h.config).unwrap();
    std::fs::write(
        &h.config,
        good.replace(entra_simulator::TENANT_ID, "fabrikam.onmicrosoft.com"),
    )
    .unwrap();
    let r = h.run_once().await;
    assert_eq!(r.code, Some(1));
    assert!(r.last_stderr_line().contains("AADSTS90002"), "{}", r.stderr);
    assert!(r.last_stderr_line().contains("cloud"), "{}", r.stderr);

    std::fs::write(
        &h.config,
        good.replace(
            entra_simulator::CLIENT_ID,
            "11111111-1111-1111-1111-111111111111",
        ),
    )
    .unwrap();
    let r = h.run_once().await;
    assert_failed_cleanly(&h, &r, 1, "AADSTS700016", &state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_stops_the_run_and_is_left_untouched() {
    let h = Harness::new("").await;
    h.audits(10, between_minutes_ago(5, 1));
    for garbage in [
        &b"{\"version\":1,\"tenants\":{"[..],
        b"\x00\x01binary",
        b"{\"tenants\":{}}",
    ] {
        std::fs::write(&h.state, garbage).unwrap();
        let r = h.run_once().await;
        assert_failed_cleanly(&h, &r, 1, "is corrupt", garbage);
        assert!(r.last_stderr_line().contains("left untouched"));
    }
    std::fs::write(&h.state, br#"{"version":10,"tenants":{}}"#).unwrap();
    let r = h.run_once().await;
    assert_failed_cleanly(
        &h,
        &r,
        1,
        "upgrade entra-source",
        br#"{"version":10,"tenants":{}}"#,
    );
    assert!(h.graph_requests().is_empty());

    // The journal (version 5): a damaged frame followed by a whole one, and a future version.
    std::fs::remove_file(&h.state).unwrap();
    assert_eq!(h.run_once().await.code, Some(0));
    h.audits(3, between_minutes_ago(1, 1));
    h.settle();
    assert_eq!(h.run_once().await.code, Some(0));
    let good = std::fs::read(&h.state).unwrap();
    let mut damaged = good.clone();
    damaged[40] ^= 0x55;
    std::fs::write(&h.state, &damaged).unwrap();
    let r = h.run_once().await;
    assert_failed_cleanly(&h, &r, 1, "is corrupt", &damaged);
    assert!(r.last_stderr_line().contains("checksum"), "{}", r.stderr);
    let mut future = good.clone();
    future[19] = 10;
    std::fs::write(&h.state, &future).unwrap();
    let r = h.run_once().await;
    assert_failed_cleanly(&h, &r, 1, "version 10", &future);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_state_file_is_refused_with_the_holder() {
    let h = Harness::new("").await;
    h.audits(10, between_minutes_ago(5, 1));
    let mut first = h.spawn_run();
    let mut lines = stdout_lines(&mut first);
    let mut got = Vec::new();
    read_lines(&mut lines, 10, &mut got).await;
    let pid = first.id().unwrap();
    let r = h.run_once().await;
    let status = first.try_wait().unwrap();
    assert!(status.is_none(), "the first run exited: {status:?}");
    // (The first run may checkpoint meanwhile, so the state file is not compared here.)
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(
        r.last_stderr_line()
            .contains("is locked by another entra-source process"),
        "{}",
        r.stderr
    );
    assert!(
        r.last_stderr_line().contains(&format!("pid {pid}")),
        "{}",
        r.stderr
    );
    first.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_tokens_never_reach_stdout_stderr_or_the_state_file() {
    let h = Harness::new("").await;
    h.audits(2500, between_minutes_ago(30, 1));
    h.sim
        .push_faults_after(1, [entra_simulator::Fault::TokenExpired]);
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let mut cmd = h.command(&["run", "--config", h.config.to_str().unwrap(), "--once"]);
        cmd.env("RUST_LOG", "trace");
        let r = finish(cmd.spawn().unwrap()).await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        outputs.push(r.stdout);
        outputs.push(r.stderr);
    }
    // A refused secret too.
    std::fs::write(&h.secret_file, "wrong-secret-value-123").unwrap();
    let r = h.run_once_json_logs("trace").await;
    assert_eq!(r.code, Some(1));
    outputs.push(r.stdout);
    outputs.push(r.stderr);
    outputs.push(String::from_utf8_lossy(&std::fs::read(&h.state).unwrap()).into_owned());
    outputs.push(serde_json::to_string(&h.state_json()).unwrap());
    // What the state tools print too (the last error of a refused secret included).
    let mut cmd = h.command(&[
        "state",
        "show",
        "--config",
        h.config.to_str().unwrap(),
        "--output",
        "json",
    ]);
    cmd.env("RUST_LOG", "trace");
    let r = finish(cmd.spawn().unwrap()).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("7000215"), "{}", r.stdout);
    outputs.push(r.stdout);
    outputs.push(r.stderr);

    let tokens = h.sim.issued_tokens();
    assert!(tokens.len() >= 3, "{tokens:?}");
    let mut secrets = vec![
        entra_simulator::CLIENT_SECRET.to_string(),
        "wrong-secret-value-123".into(),
    ];
    for t in &tokens {
        secrets.push(t.clone());
        // The signature alone is secret enough to count.
        secrets.push(t.rsplit('.').next().unwrap().to_string());
    }
    for (i, text) in outputs.iter().enumerate() {
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "output {i} contains a secret or token"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_secret_works_with_a_warning_that_does_not_repeat_it() {
    let h = Harness::new("").await;
    h.audits(5, between_minutes_ago(5, 1));
    let config = std::fs::read_to_string(&h.config).unwrap().replace(
        &format!("client_secret_file = \"{}\"", h.secret_file.display()),
        &format!("client_secret = \"{}\"", entra_simulator::CLIENT_SECRET),
    );
    std::fs::write(&h.config, config).unwrap();
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.events().len(), 5);
    assert!(
        r.stderr.contains("tenant.client_secret is written inline"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(entra_simulator::CLIENT_SECRET));
}

/// `--config` had no description in three help screens, and no screen named the exit statuses
/// or RUST_LOG.
#[tokio::test(flavor = "multi_thread")]
async fn every_help_screen_describes_its_options_and_names_exit_codes_and_rust_log() {
    let h = Harness::new("").await;
    for screen in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["check", "--help"],
        vec!["demo", "--help"],
        vec!["simulate", "--help"],
        vec!["state", "--help"],
        vec!["state", "show", "--help"],
        vec!["state", "reset", "--help"],
    ] {
        let r = h.run_args(&screen).await;
        assert_eq!(r.code, Some(0), "{screen:?}: {}", r.stderr);
        for needle in ["Exit status", "RUST_LOG", "2  usage or config error"] {
            assert!(
                r.stdout.contains(needle),
                "{screen:?} lacks {needle}: {}",
                r.stdout
            );
        }
        // Every option line carries a description after its name.
        for line in r
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("--"))
        {
            let described = line
                .trim_start()
                .split_once("  ")
                .is_some_and(|(_, d)| !d.trim().is_empty() && !d.trim().starts_with('['));
            assert!(described, "{screen:?}: no description: {line}");
        }
    }
}
