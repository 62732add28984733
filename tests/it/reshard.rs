//! Moving tenants' checkpoints with them (`state export` / `state import`, and
//! `config-examples/kubernetes/reshard.sh`, which the Kubernetes re-shard Job runs): twelve
//! tenants on three shards, then on four with the moved tenants' state carried, every record
//! exactly once across all shards and both layouts. A tenant polled without its checkpoint says
//! so; an import into the wrong shard, over existing checkpoints, or a `--remove` without a file
//! is refused with the fix and changes nothing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::common::*;
use entra_simulator::{Resource, Simulator, Spread, CLIENT_ID};
use entra_source::shard::owner;

fn tenant(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i + 1, i + 1)
}

/// A config polling audits of every tenant, one simulator each, its state at `state`.
fn config(sims: &[(String, Simulator)], secret: &Path, state: &Path) -> String {
    let mut c = format!(
        "[context]\nenabled = false\n[throttle]\nreports_requests_per_10s = 1000\n[state]\npath = \"{}\"\n\n[streams.directory_audits]\n\n",
        state.display()
    );
    for (id, sim) in sims {
        let base = sim.base_url();
        c.push_str(&format!(
            "[[tenants]]\nid = \"{id}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{}\"\nlogin_url = \"{base}\"\ngraph_url = \"{base}\"\n\n",
            secret.display()
        ));
    }
    c
}

struct Fleet {
    h: Harness,
    sims: Vec<(String, Simulator)>,
    expected: HashSet<(String, String)>,
    seen: HashMap<(String, String), usize>,
}

impl Fleet {
    async fn new(tenants: usize) -> Fleet {
        let h = Harness::new("").await;
        let mut sims = Vec::new();
        for i in 0..tenants {
            let id = tenant(i);
            let sim = Simulator::start().await.unwrap();
            sim.accept_tenant(&id);
            sims.push((id, sim));
        }
        Fleet {
            h,
            sims,
            expected: HashSet::new(),
            seen: HashMap::new(),
        }
    }

    fn shard_dir(&self, shard: u32) -> PathBuf {
        self.h.dir.path().join(format!("shards/{shard}"))
    }

    fn state(&self, shard: u32) -> PathBuf {
        self.shard_dir(shard).join("state.bin")
    }

    /// The config one shard's pod sees: the fleet's, its own volume's state path.
    fn shard_config(&self, shard: u32) -> PathBuf {
        std::fs::create_dir_all(self.shard_dir(shard)).unwrap();
        let path = self.shard_dir(shard).join("entra-source.toml");
        let secret = self.h.dir.path().join("secret");
        std::fs::write(&path, config(&self.sims, &secret, &self.state(shard))).unwrap();
        path
    }

    /// New audits in every tenant, `i`-dependent in number, stamped over the simulator's
    /// `[now - from, now - to]`.
    fn audits(&mut self, from: chrono::Duration, to: chrono::Duration) {
        for (i, (id, sim)) in self.sims.iter().enumerate() {
            let now = sim.now();
            let ids = sim.generate(
                Resource::DirectoryAudits,
                5 + i as u64,
                Spread::Between(now - from, now - to),
            );
            self.expected
                .extend(ids.into_iter().map(|r| (id.clone(), r)));
        }
    }

    /// Every shard of `count` runs once; each polls only its tenants.
    async fn run_shards(&mut self, count: u32) -> Vec<RunResult> {
        let mut results = Vec::new();
        for shard in 0..count {
            let cfg = self.shard_config(shard);
            let arg = format!("{shard}/{count}");
            let r = self
                .h
                .run_args(&[
                    "run",
                    "--config",
                    cfg.to_str().unwrap(),
                    "--once",
                    "--shard",
                    &arg,
                ])
                .await;
            assert_eq!(r.code, Some(0), "shard {arg}: {}", r.stderr);
            for e in r.events() {
                let t = e["event"]["tenant_id"].as_str().unwrap().to_string();
                assert_eq!(owner(&t, count), shard, "shard {arg} polled {t}");
                let id = e["event"]["id"].as_str().unwrap().to_string();
                *self.seen.entry((t, id)).or_default() += 1;
            }
            results.push(r);
        }
        results
    }

    /// Records stamped just before the last poll (Graph's late arrivals), then time enough for
    /// the 20-minute settle sweep to read them: the sweep's marks must move with the tenant.
    fn late_audits_then_settle(&mut self) {
        self.audits(chrono::Duration::seconds(50), chrono::Duration::seconds(2));
        for (_, sim) in &self.sims {
            sim.advance_clock(chrono::Duration::minutes(21));
        }
    }

    /// `reshard.sh OLD NEW` over the shards' volumes, as the Kubernetes Job runs it; its stderr.
    fn reshard(&self, old: u32, new: u32) -> String {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config-examples/kubernetes/reshard.sh");
        let out = std::process::Command::new("sh")
            .arg(&script)
            .args([old.to_string(), new.to_string()])
            .env("CONFIG", self.shard_config(0))
            .env(
                "STATE_PATTERN",
                self.h.dir.path().join("shards/%d/state.bin"),
            )
            .env("ENTRA_SOURCE", env!("CARGO_BIN_EXE_entra-source"))
            .env_remove("ENTRA_SOURCE_SHARD")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "reshard.sh {old} {new}: {stderr}");
        stderr
    }

    fn assert_every_record_once(&self) {
        let twice: Vec<_> = self.seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "emitted more than once: {twice:?}");
        let got: HashSet<_> = self.seen.keys().cloned().collect();
        let missing: Vec<_> = self.expected.difference(&got).collect();
        assert!(missing.is_empty(), "never emitted: {missing:?}");
        assert_eq!(got, self.expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_tenants_resharded_from_three_to_four_emit_every_record_once() {
    let mut f = Fleet::new(12).await;
    let moved: Vec<String> = f
        .sims
        .iter()
        .map(|(id, _)| id.clone())
        .filter(|id| owner(id, 3) != owner(id, 4))
        .collect();
    assert!(!moved.is_empty(), "some tenant moves to the fourth shard");
    assert!(
        moved.iter().all(|id| owner(id, 4) == 3),
        "rendezvous moves only to the new shard"
    );

    f.audits(chrono::Duration::minutes(50), chrono::Duration::minutes(1));
    f.run_shards(3).await;
    f.assert_every_record_once();

    // Records arrive while the fleet is re-sharded (every shard stopped).
    f.late_audits_then_settle();
    let stderr = f.reshard(3, 4);
    for id in &moved {
        assert!(
            stderr.contains(&format!("imported tenant {id}")),
            "{id}: {stderr}"
        );
    }
    let leftovers: Vec<_> = (0..4)
        .flat_map(|s| std::fs::read_dir(f.shard_dir(s)).unwrap())
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("import-from"))
        .collect();
    assert!(leftovers.is_empty(), "hand-off files deleted once imported");
    // Each store now holds exactly the tenants its shard polls.
    for shard in 0..4u32 {
        let show =
            f.h.run_args(&[
                "state",
                "export",
                "--config",
                f.shard_config(shard).to_str().unwrap(),
            ])
            .await;
        let doc: serde_json::Value = serde_json::from_str(show.stdout.trim()).unwrap();
        let held: HashSet<&str> = doc["tenants"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let owned: HashSet<&str> = f
            .sims
            .iter()
            .map(|(id, _)| id.as_str())
            .filter(|id| owner(id, 4) == shard && (shard < 3 || moved.iter().any(|m| m == id)))
            .collect();
        assert_eq!(held, owned, "store of shard {shard}/4");
    }

    let runs = f.run_shards(4).await;
    f.assert_every_record_once();
    // Nothing was polled from initial_lookback: no tenant is announced as without checkpoint.
    for r in &runs {
        assert!(!r.stderr.contains("has no checkpoint"), "{}", r.stderr);
    }
    // And the way back (4 -> 3) loses and repeats nothing either.
    f.late_audits_then_settle();
    f.reshard(4, 3);
    f.run_shards(3).await;
    f.assert_every_record_once();
}

/// A store remembers the tenants `state export --remove` took out of it: a run whose config
/// still names one refused it only after re-emitting every record the new store had already
/// emitted ("a new state file"). It is now refused with the file and the two fixes, the other
/// tenants go on, and importing it back makes it poll again without repeating a record. A
/// tenant that simply has no checkpoint in a store holding others is announced and read from
/// `initial_lookback`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_moved_away_is_refused_by_its_old_store_and_one_without_state_is_announced() {
    let mut f = Fleet::new(4).await;
    f.audits(chrono::Duration::minutes(50), chrono::Duration::minutes(1));
    let moving = f
        .sims
        .iter()
        .map(|(id, _)| id.clone())
        .find(|id| owner(id, 2) == 1)
        .unwrap();
    f.run_shards(1).await;
    // Shard 1 of 2 starts on an empty store without importing: a new state file, said quietly.
    let r = f.run_shards(2).await;
    assert!(r[1].stderr.contains("a new state file"), "{}", r[1].stderr);
    // Shard 0's store gives the moved tenant away; its config (unsharded here) still names it.
    let cfg = f.shard_config(0);
    let cfg = cfg.to_str().unwrap();
    let file = f.h.dir.path().join("moving.json");
    let file = file.to_str().unwrap();
    let gone =
        f.h.run_args(&[
            "state", "export", "--config", cfg, "--tenant", &moving, "--out", file, "--remove",
        ])
        .await;
    assert_eq!(gone.code, Some(0), "{}", gone.stderr);
    let r = f.h.run_args(&["run", "--config", cfg, "--once"]).await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    for needle in [
        moving.as_str(),
        "moved out of",
        file,
        "Take it out of this config",
        "state import",
    ] {
        assert!(
            r.last_stderr_line().contains(needle),
            "{needle}: {}",
            r.stderr
        );
    }
    assert!(!r.stderr.contains("a new state file"), "{}", r.stderr);
    assert!(
        r.events()
            .iter()
            .all(|e| e["event"]["tenant_id"] != moving.as_str()),
        "the moved tenant's records again"
    );
    // Brought back: it polls again, and repeats nothing.
    let back =
        f.h.run_args(&["state", "import", "--config", cfg, file])
            .await;
    assert_eq!(back.code, Some(0), "{}", back.stderr);
    let r = f.h.run_args(&["run", "--config", cfg, "--once"]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.events().len(), 0, "{}", r.stderr);

    // Shard 1's store, run for every tenant: shard 0's tenants have no checkpoint there while
    // others do: each is announced, and read again from initial_lookback.
    let cfg = f.shard_config(1);
    let cfg = cfg.to_str().unwrap();
    let r = f.h.run_args(&["run", "--config", cfg, "--once"]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let stranger = f
        .sims
        .iter()
        .map(|(id, _)| id.clone())
        .find(|id| owner(id, 2) == 0)
        .unwrap();
    assert!(
        r.stderr
            .contains(&format!("tenant {stranger} has no checkpoint"))
            && r.stderr.contains("state import"),
        "{}",
        r.stderr
    );
    let again = r
        .events()
        .iter()
        .filter(|e| e["event"]["tenant_id"] == stranger.as_str())
        .count();
    let all = f.expected.iter().filter(|(t, _)| *t == stranger).count();
    assert_eq!(again, all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_that_would_lose_or_repeat_records_are_refused_and_change_nothing() {
    let mut f = Fleet::new(4).await;
    f.audits(chrono::Duration::minutes(30), chrono::Duration::minutes(1));
    f.run_shards(1).await;
    let cfg = f.shard_config(0);
    let cfg = cfg.to_str().unwrap();
    let file = f.h.dir.path().join("all.json");
    let file = file.to_str().unwrap();

    let r =
        f.h.run_args(&["state", "export", "--config", cfg, "--remove"])
            .await;
    r.fails_with(2, &["--remove needs --out FILE"]);

    let r =
        f.h.run_args(&["state", "export", "--config", cfg, "--out", file])
            .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r =
        f.h.run_args(&["state", "export", "--config", cfg, "--out", file])
            .await;
    r.fails_with(2, &["exists", "state import"]);

    // Into a store that already has them: refused unless --replace.
    let before = std::fs::read(f.state(0)).unwrap();
    let r =
        f.h.run_args(&["state", "import", "--config", cfg, file])
            .await;
    r.fails_with(2, &["already has checkpoints", "--replace"]);
    assert_eq!(
        std::fs::read(f.state(0)).unwrap(),
        before,
        "nothing changed"
    );

    // Into the wrong shard: refused, naming the right one.
    let other = f.shard_config(1);
    let some = f
        .sims
        .iter()
        .map(|(id, _)| id.clone())
        .find(|id| owner(id, 2) == 0)
        .unwrap();
    let r =
        f.h.run_args(&[
            "state",
            "import",
            "--config",
            other.to_str().unwrap(),
            "--shard",
            "1/2",
            file,
        ])
        .await;
    r.fails_with(2, &[&format!("tenant {some} belongs to shard 0/2")]);
    assert!(!f.state(1).exists(), "nothing imported");

    // A bad file says what is wrong with it.
    let junk = f.h.dir.path().join("junk.json");
    std::fs::write(&junk, "{\"version\": 99, \"tenants\": {}}").unwrap();
    let r =
        f.h.run_args(&[
            "state",
            "import",
            "--config",
            other.to_str().unwrap(),
            junk.to_str().unwrap(),
        ])
        .await;
    r.fails_with(1, &["version 99", "upgrade"]);

    // Imported into an empty store, every tenant resumes there: nothing is emitted again.
    let r =
        f.h.run_args(&["state", "import", "--config", other.to_str().unwrap(), file])
            .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r =
        f.h.run_args(&["run", "--config", other.to_str().unwrap(), "--once"])
            .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.events().is_empty(), "{:?}", r.events());
    assert!(!r.stderr.contains("no checkpoint"));
}
