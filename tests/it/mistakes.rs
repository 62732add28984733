//! An operator's mistake never duplicates data: one tenant listed twice, a tenant moved away
//! and still configured, cursors from another clock, and config that reads fine but misleads.

use std::collections::HashSet;

use crate::common::*;
use entra_simulator::{CLIENT_ID, TENANT_ID};

fn entry(h: &Harness, id: &str) -> String {
    let base = h.sim.base_url();
    format!(
        "[[tenants]]\nid = \"{id}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{}\"\nlogin_url = \"{base}\"\ngraph_url = \"{base}\"\n\n",
        h.secret_file.display()
    )
}

/// `state export --out FILE --remove`: the store gives its tenant away.
pub(crate) async fn export_remove(h: &Harness, file: &std::path::Path) {
    let config = h.config.to_str().unwrap();
    let out = file.to_str().unwrap();
    let r = h
        .run_args(&[
            "state", "export", "--config", config, "--out", out, "--remove",
        ])
        .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

/// Listed by domain in one entry and by GUID in another, both tokens carry the same `tid` and
/// both entries wrote the same state section: 4,571 to 5,672 of 6,000 records came twice. The
/// entry that reaches the GUID second is refused, naming both; every record comes once, in
/// either order, run after run.
#[tokio::test(flavor = "multi_thread")]
async fn one_tenant_listed_by_domain_and_by_guid_is_polled_once() {
    for first_domain in [true, false] {
        let h = Harness::new("").await;
        h.sim.accept_tenant("contoso.onmicrosoft.com");
        let ids: HashSet<String> = h
            .audits(3000, between_minutes_ago(50, 1))
            .into_iter()
            .collect();
        let (a, b) = if first_domain {
            ("contoso.onmicrosoft.com", TENANT_ID)
        } else {
            (TENANT_ID, "contoso.onmicrosoft.com")
        };
        std::fs::write(
            &h.config,
            format!(
                "{FAST}[state]\npath = \"{}\"\n\n[context]\nenabled = false\n\n[streams.directory_audits]\n\n{}{}",
                h.state.display(),
                entry(&h, a),
                entry(&h, b)
            ),
        )
        .unwrap();
        let mut seen = Vec::new();
        for run in 0..3 {
            if run > 0 {
                h.audits(50, between_minutes_ago(1, 0));
                h.settle();
            }
            let r = h.run_once().await;
            assert_eq!(r.code, Some(1), "{}", r.stderr);
            let last = r.last_stderr_line();
            assert!(
                last.contains("same tenant")
                    && last.contains("contoso.onmicrosoft.com")
                    && last.contains(TENANT_ID)
                    && last.contains("list the tenant once"),
                "{last}"
            );
            seen.extend(event_ids(&r.events()));
        }
        assert_unique(&seen);
        assert!(ids.iter().all(|i| seen.contains(i)), "every record");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_tenant_listed_twice_by_guid_is_refused_naming_both_entries() {
    let h = Harness::new("").await;
    let upper = TENANT_ID.to_ascii_uppercase();
    std::fs::write(
        &h.config,
        format!(
            "{FAST}[state]\npath = \"{}\"\n\n[streams.directory_audits]\n\n{}{}",
            h.state.display(),
            entry(&h, TENANT_ID),
            entry(&h, &upper)
        ),
    )
    .unwrap();
    let r = h.run_once().await;
    r.fails_with(2, &["tenants[0]", "tenants[1]", "listed twice"]);
}

/// A one-tenant store: after `state export --remove` its next run said "a new state file"
/// and emitted all of the tenant's records again. It is refused, naming the file and the fixes.
#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_moved_away_and_still_configured_is_refused() {
    let h = Harness::new("").await;
    h.audits(8, between_minutes_ago(50, 1));
    let r = h.run_once().await;
    assert_eq!(r.events().len(), 8, "{}", r.stderr);
    let file = h.dir.path().join("moved.json");
    export_remove(&h, &file).await;
    let r = h.run_once().await;
    r.fails_with(
        1,
        &[
            TENANT_ID,
            "moved out of",
            file.to_str().unwrap(),
            "state import",
        ],
    );
    assert!(r.events().is_empty(), "emitted again: {}", r.stdout);
    assert!(!r.stderr.contains("a new state file"), "{}", r.stderr);
}

/// `state import` took a cursor in 2027 without a word (it would skip every record up to it),
/// and `state show` printed its lag as 0s.
#[tokio::test(flavor = "multi_thread")]
async fn cursors_from_another_clock_are_refused_on_import_and_shown_ahead() {
    let h = Harness::new("").await;
    h.audits(5, between_minutes_ago(50, 1));
    assert_eq!(h.run_once().await.code, Some(0));
    let config = h.config.to_str().unwrap();
    let file = h.dir.path().join("t.json");
    export_remove(&h, &file).await;
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let next_year = (chrono::Utc::now() + chrono::Duration::days(400))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    doc["tenants"][TENANT_ID]["streams"]["directory_audits"]["cursor"] = next_year.clone().into();
    std::fs::write(&file, doc.to_string()).unwrap();
    let r = h
        .run_args(&[
            "state",
            "import",
            "--config",
            config,
            file.to_str().unwrap(),
        ])
        .await;
    r.fails_with(
        2,
        &["ahead of this host's clock", &next_year, "nothing imported"],
    );

    // Graph's clock two days ahead of this host's: the checkpoint it leaves is ahead of the
    // host, and state show says so instead of a lag of 0s.
    let h = Harness::new("").await;
    h.advance(chrono::Duration::days(2));
    assert_eq!(h.run_once().await.code, Some(0));
    let r = h
        .run_args(&["state", "show", "--config", h.config.to_str().unwrap()])
        .await;
    assert!(r.stdout.contains("AHEAD"), "{}", r.stdout);
    // Graph's clock back: the run names the clock it compared, Graph's.
    h.advance(chrono::Duration::days(-2) - chrono::Duration::days(1));
    let r = h.run_once().await;
    r.fails_with(1, &["ahead of Graph's clock", "Date", "state reset"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn late_arrival_mistakes_are_named_with_the_fix() {
    let h = Harness::new("").await;
    h.write_streams("[streams.directory_audits]\nlate_arrival = [\"20m\", \"20m\"]\n");
    h.run_once()
        .await
        .fails_with(2, &["late_arrival", "given twice"]);
    h.write_streams("[streams.directory_audits]\nlate_arrival = 1200\n");
    let r = h.run_once().await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("a duration like \"20m\" or a list") && !r.stderr.contains("untagged"),
        "{}",
        r.stderr
    );
}

/// `state --help` said every state command is refused while a run holds the lock; `show` and
/// `export` are not.
#[tokio::test(flavor = "multi_thread")]
async fn state_help_says_which_commands_the_lock_refuses() {
    let h = Harness::new("").await;
    let r = h.run_args(&["state", "--help"]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("`show` and `export` read beside a running run")
            && !r.stdout.contains("(refused while a run holds its lock)"),
        "{}",
        r.stdout
    );
}
