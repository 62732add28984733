//! Credentials beyond a static secret: a secret file rotated while the connector runs.

mod common;

use std::collections::HashSet;

use common::*;
use entra_source::simulator::Spread;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_file_is_picked_up_without_a_restart() {
    let h = Harness::new("").await;
    let before = h.audits(30, between_minutes_ago(10, 1));
    let mut child = h.spawn_run();
    let mut lines = stdout_lines(&mut child);
    let mut got = Vec::new();
    read_lines(&mut lines, 30, &mut got).await;

    // The secret is rotated in Entra and by the secret manager; the old token is revoked.
    let rotated = "rotated~Secret.Value-9876543210";
    h.sim.set_secret(rotated);
    h.sim.expire_tokens();
    std::fs::write(&h.secret_file, format!("{rotated}\n")).unwrap();
    let after = h.audits(12, Spread::Between(seconds_ago(20), seconds_ago(2)));
    read_lines(&mut lines, 42, &mut got).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the rotation ended the process"
    );
    child.kill().await.unwrap();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(
        stderr.contains("client_secret_file holds a new secret"),
        "{stderr}"
    );
    assert!(!stderr.contains(rotated));
    let ids: HashSet<String> = event_ids(&parse_lines(&got.join("\n")))
        .into_iter()
        .collect();
    let expected: HashSet<String> = before.into_iter().chain(after).collect();
    assert_eq!(ids, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_secret_whose_file_was_not_rotated_fails_with_the_fix() {
    let h = Harness::new("").await;
    h.audits(5, between_minutes_ago(10, 1));
    h.sim.set_secret_expired(true);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    let last = r.last_stderr_line();
    assert!(last.contains("AADSTS7000222"), "{last}");
    assert!(last.contains("read again and is unchanged"), "{last}");
}
