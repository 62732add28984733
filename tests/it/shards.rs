//! `--shard INDEX/COUNT` (and `ENTRA_SOURCE_SHARD`, `--shard-from-hostname`): six tenants over
//! three shards, each tenant polled by exactly the shard rendezvous hashing gives it, every
//! record exactly once across the shards; `check` and `state show` see the same subset; bad
//! shards exit 2 with the fix.

use std::collections::{HashMap, HashSet};

use crate::common::*;
use entra_simulator::{Resource, Simulator, CLIENT_ID};
use serde_json::Value;

const TENANTS: [&str; 6] = [
    "10000000-0000-4000-8000-000000000001",
    "20000000-0000-4000-8000-000000000002",
    "30000000-0000-4000-8000-000000000003",
    "40000000-0000-4000-8000-000000000004",
    "50000000-0000-4000-8000-000000000005",
    "60000000-0000-4000-8000-000000000006",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_is_polled_by_its_one_shard_and_every_record_arrives_once() {
    let h = Harness::new("").await;
    let mut sims = Vec::new();
    // The simulators share a seed: ids repeat across tenants, so a record is (tenant, id).
    let mut expected: HashSet<(String, String)> = HashSet::new();
    let secret = h.dir.path().join("secret");
    let mut config = format!(
        "[context]\nenabled = false\n[throttle]\nreports_requests_per_10s = 1000\n[state]\npath = \"{}\"\n\n[streams.directory_audits]\n\n",
        h.state.display()
    );
    for (i, id) in TENANTS.iter().enumerate() {
        let sim = Simulator::start().await.unwrap();
        sim.accept_tenant(id);
        let ids = sim.generate(
            Resource::DirectoryAudits,
            20 + i as u64,
            between_minutes_ago(50, 1),
        );
        expected.extend(ids.into_iter().map(|r| (id.to_string(), r)));
        let base = sim.base_url();
        config.push_str(&format!(
            "[[tenants]]\nid = \"{id}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{}\"\nlogin_url = \"{base}\"\ngraph_url = \"{base}\"\n\n",
            secret.display()
        ));
        sims.push(sim);
    }
    std::fs::write(&h.config, config).unwrap();
    let cfg = h.config.to_str().unwrap();

    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for shard in 0..3u32 {
        let arg = format!("{shard}/3");
        let r = h
            .run_args(&["run", "--config", cfg, "--once", "--shard", &arg])
            .await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        let mine: HashSet<&str> = TENANTS
            .iter()
            .copied()
            .filter(|t| entra_source::shard::owner(t, 3) == shard)
            .collect();
        for e in r.events() {
            let tenant = e["event"]["tenant_id"].as_str().unwrap();
            assert!(mine.contains(tenant), "shard {shard} polled {tenant}");
            let key = (
                tenant.to_string(),
                e["event"]["id"].as_str().unwrap().to_string(),
            );
            *seen.entry(key).or_default() += 1;
        }
        // check and state show see the same subset.
        let c = h
            .run_args(&[
                "check", "--config", cfg, "--shard", &arg, "--output", "json",
            ])
            .await;
        let report: Value = serde_json::from_str(c.stdout.trim()).unwrap();
        let checked: HashSet<&str> = report["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tenant"].as_str().unwrap())
            .collect();
        assert_eq!(checked, mine, "check --shard {arg}");
        let s = h
            .run_args(&[
                "state", "show", "--config", cfg, "--shard", &arg, "--output", "json",
            ])
            .await;
        let shown: Value = serde_json::from_str(s.stdout.trim()).unwrap();
        let shown: HashSet<&str> = shown["tenants"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(shown, mine, "state show --shard {arg}");
    }
    assert_eq!(
        seen.keys().cloned().collect::<HashSet<_>>(),
        expected,
        "every record"
    );
    assert!(seen.values().all(|n| *n == 1), "once");

    // The same subset from the environment and from a StatefulSet pod's host name.
    let check_with = |env: Vec<(&'static str, &'static str)>, extra: Vec<&'static str>| {
        let h = &h;
        async move {
            let mut args = vec!["check", "--config", cfg, "--output", "json"];
            args.extend(extra);
            let mut cmd = h.command(&args);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let r = finish(cmd.spawn().unwrap()).await;
            let report: Value = serde_json::from_str(r.stdout.trim())
                .unwrap_or_else(|e| panic!("{e}: {} {}", r.stdout, r.stderr));
            report["tenants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["tenant"].as_str().unwrap().to_string())
                .collect::<HashSet<String>>()
        }
    };
    let two: HashSet<String> = TENANTS
        .iter()
        .filter(|t| entra_source::shard::owner(t, 3) == 2)
        .map(|t| t.to_string())
        .collect();
    assert_eq!(
        check_with(vec![("ENTRA_SOURCE_SHARD", "2/3")], vec![]).await,
        two
    );
    assert_eq!(
        check_with(
            vec![
                ("HOSTNAME", "entra-source-2"),
                ("ENTRA_SOURCE_SHARD_COUNT", "3")
            ],
            vec!["--shard-from-hostname"]
        )
        .await,
        two
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_shard_exits_2_with_the_fix() {
    let h = Harness::new("").await;
    let cfg = h.config.to_str().unwrap();
    for (args, needle) in [
        (vec!["--shard", "3/3"], "INDEX must be below COUNT"),
        (vec!["--shard", "two"], "INDEX/COUNT"),
        (vec!["--shard-from-hostname"], "--shard-count"),
    ] {
        let mut all = vec!["run", "--config", cfg, "--once"];
        all.extend(args);
        let r = h.run_args(&all).await;
        r.fails_with(2, &[needle]);
    }
}

/// A shard that hashes no tenant of the config: `--once` says so and exits 0 with nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_without_tenants_says_so_and_polls_nothing() {
    let h = Harness::new("").await;
    h.audits(5, between_minutes_ago(10, 1));
    let tenant = entra_simulator::TENANT_ID;
    let empty = (0..2u32)
        .find(|i| entra_source::shard::owner(tenant, 2) != *i)
        .unwrap();
    let arg = format!("{empty}/2");
    let cfg = h.config.to_str().unwrap();
    let r = h
        .run_args(&["run", "--config", cfg, "--once", "--shard", &arg])
        .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.events().is_empty());
    assert!(
        r.stderr.contains("0 of the config's 1 tenants"),
        "{}",
        r.stderr
    );
    assert!(
        h.graph_requests().is_empty(),
        "no request for another shard's tenant"
    );
}
