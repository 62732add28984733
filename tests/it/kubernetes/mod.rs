//! `config-examples/kubernetes/`: the manifests agree with each other and with the
//! entra-source and Vector configs they mount (`manifests`), and the commands they give run
//! against the simulator: each StatefulSet pod's command (the entra-source container's
//! arguments, with the pod's host name) polls only its shard; the re-shard Job's command moves
//! the moved tenants' checkpoints from three shards' volumes to four; every record arrives
//! exactly once across both layouts; a pod answers `/health/live` and `/health/ready` on the
//! annotated port, and one past the shard count says so and is not ready.

mod manifests;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::common::*;
use entra_simulator::{Resource, Simulator, Spread, CLIENT_ID, CLIENT_SECRET};
use entra_source::shard::owner;
use serde::Deserialize;
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config-examples/kubernetes")
}

fn text(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every YAML document of a file.
fn docs(name: &str) -> Vec<Value> {
    let text = text(name);
    yaml_serde::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect()
}

fn doc(name: &str, kind: &str) -> Value {
    docs(name)
        .into_iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("{name}: no {kind}"))
}

fn toml_example() -> Value {
    let v: toml::Value = toml::from_str(&text("entra-source.toml")).unwrap();
    serde_json::to_value(v).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"))
}

fn env_value(container: &Value, name: &str) -> String {
    named(&container["env"], name)["value"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The container's mount at `path`, and the pod volume it mounts.
fn mount_at<'a>(pod: &'a Value, container: &Value, path: &str) -> &'a Value {
    let m = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == path)
        .unwrap_or_else(|| panic!("nothing mounted at {path}"));
    named(&pod["volumes"], m["name"].as_str().unwrap())
}

/// Every container of a pod spec, sidecars (init containers) included.
fn all_containers(pod: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .filter_map(|k| pod[*k].as_array())
        .flatten()
        .collect()
}

/// Pod Security "restricted": what the admission controller checks on the pod and on every
/// container.
fn assert_restricted(what: &str, pod: &Value) {
    let psc = &pod["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true, "{what}: runAsNonRoot");
    assert_eq!(
        psc["seccompProfile"]["type"], "RuntimeDefault",
        "{what}: seccompProfile"
    );
    for c in all_containers(pod) {
        let sc = &c["securityContext"];
        let name = &c["name"];
        assert_eq!(
            sc["allowPrivilegeEscalation"], false,
            "{what} {name}: allowPrivilegeEscalation"
        );
        assert!(
            sc["capabilities"]["drop"]
                .as_array()
                .is_some_and(|d| d.iter().any(|x| x == "ALL")),
            "{what} {name}: capabilities.drop [ALL]"
        );
        assert!(
            sc["capabilities"]["add"].is_null(),
            "{what} {name}: adds a capability"
        );
        assert_ne!(sc["privileged"], true, "{what} {name}: privileged");
        assert_ne!(sc["runAsUser"], 0, "{what} {name}: root");
    }
}

/// The entra-source container's arguments.
fn pod_args(set: &Value) -> Vec<String> {
    let pod = &set["spec"]["template"]["spec"];
    strings(&named(&pod["containers"], "entra-source")["args"])
}

const APP2_ID: &str = "6e7f8a9b-0c1d-4e2f-8a3b-4c5d6e7f8a9b";
const APP2_SECRET: &str = "app2~An0ther.Secret-value-9876543210";

/// The example's config with the simulators for tenants and `volume` for its state directory.
fn pod_config(sims: &[(String, Simulator)], volume: &Path, metrics: u16) -> String {
    let mut v: toml::Value = toml::from_str(&text("entra-source.toml")).unwrap();
    let t = v.as_table_mut().unwrap();
    let apps = t["apps"].as_array_mut().unwrap();
    apps[0]["client_id"] = CLIENT_ID.into();
    apps[1]["client_id"] = APP2_ID.into();
    let app_names: Vec<String> = apps
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    let table = |pairs: &[(&str, toml::Value)]| -> toml::Value {
        toml::Value::Table(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    };
    let tenants: Vec<toml::Value> = sims
        .iter()
        .enumerate()
        .map(|(i, (id, sim))| {
            table(&[
                ("id", id.as_str().into()),
                ("app", app_names[i % 2].as_str().into()),
                ("login_url", sim.base_url().into()),
                ("graph_url", sim.base_url().into()),
            ])
        })
        .collect();
    t.insert("tenants".into(), tenants.into());
    let state = Path::new(t["state"]["path"].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_owned();
    t["state"]["path"] = volume.join(state).display().to_string().into();
    t["metrics"]["listen"] = format!("127.0.0.1:{metrics}").into();
    // Counted on stdout here; the push to Vector is the interop suite's.
    t.remove("output");
    t.insert("context".into(), table(&[("enabled", false.into())]));
    t.insert(
        "throttle".into(),
        table(&[
            ("reports_requests_per_10s", 1000.into()),
            ("identity_protection_requests_per_second", 1000.into()),
        ]),
    );
    t.insert("streams".into(), table(&[("directory_audits", table(&[]))]));
    toml::to_string(&v).unwrap()
}

/// The pod's command: the entra-source container's arguments, the config swapped for the
/// test's and the shard count for `count`.
fn pod_command(
    h: &Harness,
    config: &Path,
    ordinal: u32,
    count: &str,
    once: bool,
) -> tokio::process::Command {
    let set = doc("statefulset.yaml", "StatefulSet");
    let mut args: Vec<String> = pod_args(&set)
        .iter()
        .map(|a| {
            if a.ends_with(".toml") {
                config.display().to_string()
            } else if a.starts_with("--shard-count=") {
                format!("--shard-count={count}")
            } else {
                a.clone()
            }
        })
        .collect();
    if once {
        args.push("--once".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = h.command(&args);
    cmd.env("HOSTNAME", format!("entra-source-{ordinal}"))
        .env_remove("ENTRA_SOURCE_SHARD_COUNT")
        .env("ENTRA_APP1_SECRET", CLIENT_SECRET)
        .env("ENTRA_APP2_SECRET", APP2_SECRET);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_pods_and_the_reshard_job_deliver_every_record_once() {
    let h = Harness::new("").await;
    let mut sims = Vec::new();
    let mut expected = HashSet::new();
    for i in 0..8usize {
        let id = format!("{:08x}-1111-4000-8000-{:012x}", i + 1, i + 1);
        let sim = Simulator::start().await.unwrap();
        sim.accept_tenant(&id);
        if i % 2 == 1 {
            sim.set_app(APP2_ID, APP2_SECRET);
        }
        let ids = sim.generate(
            Resource::DirectoryAudits,
            4 + i as u64,
            between_minutes_ago(50, 1),
        );
        expected.extend(ids.into_iter().map(|r| (id.clone(), r)));
        sims.push((id, sim));
    }
    let set = doc("statefulset.yaml", "StatefulSet");
    let replicas = set["spec"]["replicas"].as_u64().unwrap() as u32;
    let volumes = h.dir.path().join("shards");
    let volume = |i: u32| volumes.join(i.to_string());
    let port = free_port();
    let config = |i: u32| {
        std::fs::create_dir_all(volume(i)).unwrap();
        let p = h.dir.path().join(format!("pod-{i}.toml"));
        std::fs::write(&p, pod_config(&sims, &volume(i), port)).unwrap();
        p
    };
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let run_pods = |count: u32| {
        let configs: Vec<PathBuf> = (0..count).map(config).collect();
        let h = &h;
        async move {
            let mut got = Vec::new();
            for (i, cfg) in configs.iter().enumerate() {
                let r = finish(
                    pod_command(h, cfg, i as u32, &count.to_string(), true)
                        .spawn()
                        .unwrap(),
                )
                .await;
                assert_eq!(r.code, Some(0), "pod {i}: {}", r.stderr);
                for e in r.events() {
                    let t = e["event"]["tenant_id"].as_str().unwrap().to_string();
                    assert_eq!(owner(&t, count), i as u32, "pod {i} of {count} polled {t}");
                    got.push((t, e["event"]["id"].as_str().unwrap().to_string()));
                }
            }
            got
        }
    };
    for k in run_pods(replicas).await {
        *seen.entry(k).or_default() += 1;
    }
    assert_eq!(seen.keys().cloned().collect::<HashSet<_>>(), expected);

    // Late records, then the Job's re-shard with every pod stopped.
    for (id, sim) in &sims {
        let now = sim.now();
        let ids = sim.generate(
            Resource::DirectoryAudits,
            3,
            Spread::Between(
                now - chrono::Duration::seconds(50),
                now - chrono::Duration::seconds(2),
            ),
        );
        expected.extend(ids.into_iter().map(|r| (id.clone(), r)));
        sim.advance_clock(chrono::Duration::minutes(21));
    }
    let job = doc("reshard-job.yaml", "Job");
    let jc = &job["spec"]["template"]["spec"]["containers"][0];
    let command = strings(&jc["command"]);
    let args = strings(&jc["args"]);
    let new: u32 = args[1].parse().unwrap();
    let pattern = env_value(jc, "STATE_PATTERN");
    let shards_root = Path::new(&pattern)
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let out = std::process::Command::new(&command[0])
        .arg(dir().join(Path::new(&command[1]).file_name().unwrap()))
        .args(&args)
        .env("CONFIG", config(0))
        .env(
            "STATE_PATTERN",
            pattern.replace(&shards_root, volumes.to_str().unwrap()),
        )
        .env("ENTRA_SOURCE", BIN)
        .env_remove("ENTRA_SOURCE_SHARD")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for k in run_pods(new).await {
        *seen.entry(k).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "emitted twice: {twice:?}");
    assert_eq!(
        seen.keys().cloned().collect::<HashSet<_>>(),
        expected,
        "every record"
    );

    // Long-running pods answer their probes on the annotated port and stop on SIGTERM: one
    // polling tenants, one that no tenant hashes to (it must not restart-loop), and one the
    // StatefulSet was scaled to past the shard count (it says so and is not ready).
    let busy = owner(&sims[0].0, new);
    let idle = (0..new).find(|i| sims.iter().all(|(id, _)| owner(id, new) != *i));
    let past = new;
    for ordinal in [busy].into_iter().chain(idle).chain([past]) {
        let mut pod = pod_command(&h, &config(ordinal), ordinal, &new.to_string(), false)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut answered = HashMap::new();
        while answered.len() < 2 {
            for path in ["/health/live", "/health/ready"] {
                if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}{path}")).await {
                    let code = r.status().as_u16();
                    answered.insert(path, (code, r.json::<Value>().await.unwrap()));
                }
            }
            if std::time::Instant::now() > deadline {
                pod.start_kill().unwrap();
                let r = finish(pod).await;
                panic!("pod {ordinal}: no answer on {port}: {}", r.stderr);
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(answered["/health/live"].0, 200, "pod {ordinal}");
        let (ready, body) = &answered["/health/ready"];
        if ordinal == past {
            assert_eq!(*ready, 503, "pod {ordinal} of {new}: {body}");
            let reason = body["reason"].as_str().unwrap();
            assert!(
                reason.contains("shard mismatch") && reason.contains(&format!("ordinal {past}")),
                "{reason}"
            );
        } else {
            assert_eq!(*ready, 200, "pod {ordinal} is ready: {body}");
        }
        let (status, took) = sigterm(&mut pod).await;
        assert!(
            status.success() && took < std::time::Duration::from_secs(3),
            "pod {ordinal}: {status:?} {took:?}"
        );
        if ordinal == past {
            let r = finish(pod).await;
            assert!(r.stderr.contains("shard mismatch"), "{}", r.stderr);
        }
    }
    assert!(idle.is_some(), "these tenants leave a pod of {new} idle");
}
