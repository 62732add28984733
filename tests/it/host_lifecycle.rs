//! The child goes when its host goes, and a scheduled run fits its host's interval. Under
//! Vector's or Fluent Bit's `exec`, a SIGKILLed host left entra-source running for seconds with
//! the state lock held (it noticed only at its next write, and while it waited on Graph's
//! budget it wrote nothing); a scheduled catch-up longer than the host's interval was killed
//! mid-page at every interval.

use std::collections::HashSet;
use std::time::Duration;

use crate::common::*;
use tokio::io::AsyncBufReadExt;

/// One request per 10 s: after its first page the run waits on Graph's budget.
const SLOW: &str = "[throttle]\nreports_requests_per_10s = 1\nidentity_protection_requests_per_second = 1000\n\n[poll]\ninterval_seconds = 300\n\n[streams.directory_audits]\n";

/// Waits for `child` to exit, at most `limit`.
async fn exits_within(
    child: &mut tokio::process::Child,
    limit: Duration,
) -> std::process::ExitStatus {
    tokio::time::timeout(limit, child.wait())
        .await
        .unwrap_or_else(|_| panic!("still running {limit:?} after its host went"))
        .unwrap()
}

/// A second run can take the state lock (the first released it).
async fn lock_is_free(h: &Harness) {
    let r = h
        .run_args(&["state", "show", "--config", h.config.to_str().unwrap()])
        .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "the store is still locked: {}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn child_exits_when_the_host_closes_stdout_while_waiting_on_graphs_budget() {
    let h = Harness::new("").await;
    h.audits(2500, between_minutes_ago(55, 1));
    h.write_config(SLOW);
    let mut child = h.spawn_run();
    // The first page (1000 lines) arrives; the next request waits 10 s for the budget.
    let mut lines = stdout_lines(&mut child);
    let mut got = Vec::new();
    read_lines(&mut lines, 1000, &mut got).await;
    assert_eq!(got.len(), 1000);
    // The host dies: the read end of the pipe closes.
    drop(lines);
    let status = exits_within(&mut child, Duration::from_secs(3)).await;
    assert!(status.success(), "{status:?}");
    let mut err = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut err)
        .await
        .unwrap();
    assert!(err.contains("the host is gone"), "{err}");
    lock_is_free(&h).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn child_exits_when_its_parent_dies_though_stdout_stays_open() {
    let h = Harness::new("").await;
    h.audits(2500, between_minutes_ago(55, 1));
    h.write_config(SLOW);
    // A shell stands in for the host: it starts entra-source and waits for it; the test
    // holds the other end of the pipe, so only the parent's death can tell the child.
    let script = format!(
        "\"{BIN}\" run --config \"{}\"; echo host-done",
        h.config.display()
    );
    let mut host = tokio::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(host.stdout.take().unwrap()).lines();
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got.len() < 1000 {
        match tokio::time::timeout_at(deadline, lines.next_line()).await {
            Ok(Ok(Some(l))) => got.push(l),
            other => panic!("no first page: {other:?}"),
        }
    }
    host.start_kill().unwrap();
    host.wait().await.unwrap();
    // The orphan notices and exits: its (inherited) stdout reaches end of file.
    let rest = tokio::time::timeout(Duration::from_secs(3), async {
        let mut n = 0;
        while let Ok(Some(_)) = lines.next_line().await {
            n += 1;
        }
        n
    })
    .await
    .expect("entra-source outlived its host by 3 s");
    assert_eq!(rest, 0, "it wrote on after its host died");
    let mut err = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut host.stderr.take().unwrap(), &mut err)
        .await
        .unwrap();
    assert!(err.contains("the parent process exited"), "{err}");
    lock_is_free(&h).await;
}

/// `run --once --max-duration`: each run stops at its budget after checkpointing the page in
/// flight, exits 0 saying there is more to do, and the next goes on: every record once.
#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_catch_up_stops_at_max_duration_and_the_next_run_goes_on() {
    let h = Harness::new("").await;
    let ids: HashSet<String> = h
        .audits(3500, between_minutes_ago(55, 1))
        .into_iter()
        .collect();
    // Two requests per 10 s: each run also sweeps the slice that came of settling age
    // meanwhile, and still reads a page of the catch-up.
    h.write_config(&SLOW.replace("per_10s = 1\n", "per_10s = 2\n"));
    let mut seen = Vec::new();
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs <= 8, "no end after {runs} runs");
        let started = std::time::Instant::now();
        let r = h
            .run_args(&[
                "run",
                "--config",
                h.config.to_str().unwrap(),
                "--once",
                "--max-duration",
                "2s",
            ])
            .await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "run {runs} took {:?}",
            started.elapsed()
        );
        seen.extend(
            r.events()
                .iter()
                .map(|e| e["event"]["id"].as_str().unwrap().to_string()),
        );
        if !r.stderr.contains("more to do") {
            break;
        }
    }
    assert!(runs >= 2, "4 pages at two requests per 10 s in {runs} runs");
    assert_unique(&seen);
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), ids);
}

#[tokio::test(flavor = "multi_thread")]
async fn max_duration_needs_once_and_a_duration() {
    let h = Harness::new("").await;
    let config = h.config.to_str().unwrap();
    let r = h
        .run_args(&["run", "--config", config, "--max-duration", "4m"])
        .await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("--once"), "{}", r.stderr);
    for bad in ["0s", "4", "soon"] {
        let r = h
            .run_args(&["run", "--config", config, "--once", "--max-duration", bad])
            .await;
        assert_eq!(r.code, Some(2), "{bad}: {}", r.stderr);
        assert!(r.stderr.contains("--max-duration"), "{}", r.stderr);
    }
}

/// Under Vector, a SIGKILLed host closes both ends: the run's next diagnostic went to a closed
/// stderr, tracing reported that failure with `eprintln!`, which panicked (exit 101), and in
/// the host watch the panic came before the stop, so the orphan ran on until its next page.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_stderr_never_panics_the_run_or_delays_its_stop() {
    let h = Harness::new("").await;
    h.audits(2500, between_minutes_ago(55, 1));
    h.write_config(SLOW);
    let mut child = h
        .command(&[
            "run",
            "--config",
            h.config.to_str().unwrap(),
            "--log-format",
            "json",
        ])
        .spawn()
        .unwrap();
    let mut lines = stdout_lines(&mut child);
    let mut got = Vec::new();
    read_lines(&mut lines, 1000, &mut got).await;
    drop(child.stderr.take());
    drop(lines);
    let status = exits_within(&mut child, Duration::from_secs(3)).await;
    assert_eq!(status.code(), Some(0), "{status:?}");
    lock_is_free(&h).await;
}

/// A shard no tenant hashes to waits for SIGTERM; under an exec host it must go with the host
/// too, not linger.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_shard_goes_when_its_host_closes_stdout() {
    let h = Harness::new("").await;
    let idle = 1 - entra_source::shard::owner(entra_simulator::TENANT_ID, 2);
    let mut child = h
        .command(&[
            "run",
            "--config",
            h.config.to_str().unwrap(),
            "--shard",
            &format!("{idle}/2"),
        ])
        .spawn()
        .unwrap();
    let mut err = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    // Once it has said it polls nothing, the host goes.
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), err.next_line())
            .await
            .expect("no start-up line")
            .unwrap()
            .expect("it exited early");
        if line.contains("0 of the config's 1 tenants") {
            break;
        }
    }
    drop(child.stdout.take());
    let status = exits_within(&mut child, Duration::from_secs(3)).await;
    assert!(status.success(), "{status:?}");
}
