//! The host configs in `config-examples/` (Vector, Fluent Bit, OpenTelemetry Collector) parse,
//! carry the settings their hosts need, and run a command line the binary accepts: each command
//! is executed against the simulator with its config path swapped for a test config.

use std::path::PathBuf;

use crate::common::*;
use entra_simulator::Fault;
use serde_json::Value;

pub(crate) fn example(name: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("config-examples")
            .join(name),
    )
    .unwrap()
}

pub(crate) fn toml_file(name: &str) -> Value {
    let v: toml::Value = toml::from_str(&example(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::to_value(v).unwrap()
}

fn yaml_file(name: &str) -> Value {
    yaml_serde::from_str(&example(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `[SECTION]` blocks of `Key Value` lines (Fluent Bit's classic format).
fn classic(name: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in example(name).lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push((s.to_string(), Vec::new()));
            continue;
        }
        let (k, v) = line
            .split_once(char::is_whitespace)
            .unwrap_or_else(|| panic!("{name}: {line}"));
        sections
            .last_mut()
            .unwrap_or_else(|| panic!("{name}: a key outside a section"))
            .1
            .push((k.to_string(), v.trim().to_string()));
    }
    sections
}

fn bytes(size: &str) -> u64 {
    let size = size.trim().to_ascii_uppercase();
    let (n, mult) = match size.strip_suffix('M') {
        Some(n) => (n, 1 << 20),
        None => match size.strip_suffix('K') {
            Some(n) => (n, 1 << 10),
            None => (size.as_str(), 1),
        },
    };
    n.parse::<u64>().unwrap() * mult
}

/// Runs `argv` (the host's command) with the binary and config path swapped for the test's;
/// `--once` commands run to completion, long-running ones until their first events.
async fn runs_against_the_simulator(h: &Harness, argv: &[String]) {
    assert_eq!(argv[0], "/usr/local/bin/entra-source", "{argv:?}");
    let args: Vec<String> = argv[1..]
        .iter()
        .map(|a| {
            if a == "/etc/entra-source/config.toml" {
                h.config.display().to_string()
            } else {
                a.clone()
            }
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ids = h.audits(3, seconds_ago_spread());
    h.settle();
    if args.contains(&"--once") {
        let r = h.run_args(&args).await;
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
        assert!(
            ids.iter().all(|id| event_ids(&r.events()).contains(id)),
            "{args:?}"
        );
    } else {
        let mut child = h.command(&args).spawn().unwrap();
        let mut lines = stdout_lines(&mut child);
        let mut got = Vec::new();
        read_lines(&mut lines, 3, &mut got).await;
        child.kill().await.unwrap();
    }
    if args.contains(&"json") {
        // --log-format json: every stderr line is a JSON object (Vector decodes stderr as JSON).
        let mut cmd = h.command(&args);
        if !args.contains(&"--once") {
            cmd.arg("--once");
        }
        let r = crate::common::finish(cmd.spawn().unwrap()).await;
        assert!(
            r.stderr
                .lines()
                .all(|l| serde_json::from_str::<Value>(l).is_ok()),
            "{}",
            r.stderr
        );
    }
}

fn seconds_ago_spread() -> entra_simulator::Spread {
    entra_simulator::Spread::Between(seconds_ago(60), seconds_ago(2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vector_configs() {
    let h = Harness::new("").await;
    for (name, mode) in [
        ("vector-streaming.toml", "streaming"),
        ("vector-scheduled.toml", "scheduled"),
    ] {
        let v = toml_file(name);
        let src = &v["sources"]["entra"];
        assert_eq!(
            (src["type"].as_str(), src["mode"].as_str()),
            (Some("exec"), Some(mode)),
            "{name}"
        );
        assert_eq!(src["decoding"]["codec"], "json");
        assert!(
            src["framing"]["newline_delimited"]["max_length"]
                .as_u64()
                .unwrap()
                >= 1 << 20,
            "{name}: max_length below max_line_bytes"
        );
        assert_eq!(src["include_stderr"], true);
        let argv: Vec<String> = src["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        assert!(
            argv.windows(2).any(|w| w == ["--log-format", "json"]),
            "{name}: stderr must be JSON for Vector"
        );
        if mode == "scheduled" {
            assert!(argv.contains(&"--once".to_string()));
            let interval = src["scheduled"]["exec_interval_secs"].as_u64().unwrap();
            assert!(interval >= 60);
            // Vector kills a run at its interval: each run stops itself before that.
            let budget = &argv[argv.iter().position(|a| a == "--max-duration").unwrap() + 1];
            let budget = entra_source::duration::parse_duration(budget).unwrap();
            assert!(
                budget.as_secs() + 30 <= interval,
                "{name}: {budget:?} vs {interval} s"
            );
        } else {
            assert!(src["streaming"]["respawn_interval_secs"].as_u64().unwrap() >= 30);
        }
        assert_eq!(
            v["transforms"]["entra_dedupe"]["fields"]["match"][0],
            "event.id"
        );
        every_output_is_consumed(name, &v);
        // The exec source's own fields are dropped before the sink.
        let trim = v["transforms"]["entra_trim"]["source"].as_str().unwrap();
        for field in ["command", "pid", "source_type", "stream", "timestamp"] {
            assert!(trim.contains(&format!("del(.{field})")), "{name}: {field}");
        }
        assert_eq!(v["sinks"]["entra_events"]["inputs"][0], "entra_trim");
        runs_against_the_simulator(&h, &argv).await;
    }
}

/// Vector warned "has no consumers" for the route's `_unmatched` output and, in the scheduled
/// example, for the diagnostics nobody read: every output of every source and transform (each
/// route of a `route`, `_unmatched` unless turned off) must be some component's input.
fn every_output_is_consumed(name: &str, v: &Value) {
    let inputs: Vec<&str> = ["transforms", "sinks"]
        .iter()
        .filter_map(|k| v[*k].as_object())
        .flat_map(|m| m.values())
        .flat_map(|c| c["inputs"].as_array().unwrap().iter())
        .map(|i| i.as_str().unwrap())
        .collect();
    let mut outputs: Vec<String> = v["sources"].as_object().unwrap().keys().cloned().collect();
    for (id, t) in v["transforms"].as_object().into_iter().flatten() {
        if t["type"] == "route" {
            for route in t["route"].as_object().unwrap().keys() {
                outputs.push(format!("{id}.{route}"));
            }
            if t["reroute_unmatched"] != false {
                outputs.push(format!("{id}._unmatched"));
            }
        } else {
            outputs.push(id.clone());
        }
    }
    for o in outputs {
        assert!(inputs.contains(&o.as_str()), "{name}: {o} has no consumers");
    }
}

/// The acknowledged path into Vector: entra-source-http.toml pushes where vector-http.toml's
/// http_server source listens, and the sink acknowledges from a disk buffer that blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vector_http_config_acknowledges_what_entra_source_pushes() {
    let v = toml_file("vector-http.toml");
    let raw: toml::Value = toml::from_str(&example("entra-source-http.toml")).unwrap();
    assert_acknowledged_push(
        &v["sources"]["entra"],
        &v["sinks"]["entra_events"],
        raw["output"]["http_endpoint"].as_str().unwrap(),
    );
    every_output_is_consumed("vector-http.toml", &v);
    // entra-source-http.toml itself is validated with every example (config_examples.rs).
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fluent_bit_configs() {
    let h = Harness::new("").await;
    // Classic.
    let sections = classic("fluent-bit.conf");
    let input = &sections
        .iter()
        .find(|(s, kv)| s == "INPUT" && kv.iter().any(|(k, v)| k == "Name" && v == "exec"))
        .unwrap()
        .1;
    let get = |k: &str| {
        input
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert!(
        bytes(&get("Buf_Size")) >= 1 << 20,
        "Buf_Size must exceed the longest line"
    );
    assert_eq!(get("Threaded"), "On");
    let parser = get("Parser");
    assert!(classic("parsers.conf")
        .iter()
        .any(|(s, kv)| s == "PARSER" && kv.contains(&("Name".into(), parser.clone()))));
    let command = get("Command");
    let budget = command
        .split_whitespace()
        .skip_while(|a| *a != "--max-duration")
        .nth(1)
        .expect("--max-duration in the scheduled command");
    assert!(
        entra_source::duration::parse_duration(budget)
            .unwrap()
            .as_secs()
            + 30
            <= get("Interval_Sec").parse::<u64>().unwrap()
    );
    let argv: Vec<String> = command
        .strip_prefix("exec ")
        .expect("exec replaces the shell")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    runs_against_the_simulator(&h, &argv).await;
    // YAML.
    let y = yaml_file("fluent-bit.yaml");
    let input = &y["pipeline"]["inputs"][0];
    assert_eq!(input["name"], "exec");
    assert!(bytes(input["buf_size"].as_str().unwrap()) >= 1 << 20);
    assert!(matches!(input["threaded"].as_str(), Some("on")) || input["threaded"] == true);
    assert_eq!(input["command"].as_str().unwrap(), command);
    // A file output without Mkdir into a missing directory dropped 642 records entra-source
    // had already checkpointed.
    let output = &sections
        .iter()
        .find(|(s, kv)| s == "OUTPUT" && kv.iter().any(|(k, v)| k == "Name" && v == "file"))
        .unwrap()
        .1;
    assert!(
        output.contains(&("Mkdir".into(), "On".into())),
        "{output:?}"
    );
    let output = &y["pipeline"]["outputs"][0];
    assert_eq!(output["name"], "file");
    assert!(matches!(output["mkdir"].as_str(), Some("on")) || output["mkdir"] == true);
}

/// OpenTelemetry's default severity preset (pkg/stanza severity): the words it knows.
fn otel_preset(word: &str) -> Option<i64> {
    Some(match word {
        "trace" => 1,
        "debug" => 5,
        "info" => 9,
        "info2" => 10,
        "info3" => 11,
        "info4" => 12,
        "warn" | "warning" => 13,
        "warn2" => 14,
        "error" | "err" => 17,
        "error2" => 18,
        "fatal" => 21,
        _ => return None,
    })
}

/// The severityNumber a filelog `severity` operator gives `word` with this mapping.
fn filelog_severity(mapping: &Value, word: &str) -> Option<i64> {
    let mapped = mapping.as_object()?.iter().find_map(|(level, v)| {
        let hit = match v {
            Value::String(s) => s == word,
            Value::Array(a) => a.iter().any(|x| x == word),
            _ => false,
        };
        hit.then(|| otel_preset(level)).flatten()
    });
    mapped.or_else(|| otel_preset(word))
}

/// The Collector examples kept data only in memory (the `batch` processor) or dropped it
/// (filelog without retry_on_failure, an exporter giving up after 5 minutes), and the filelog
/// example mapped severities to 10/13/17 where the OTLP push sent 13/17/21.
#[test]
fn collector_examples_queue_persistently_and_share_one_severity_scale() {
    for name in ["otel-collector-filelog.yaml", "otel-collector-otlp.yaml"] {
        let y = yaml_file(name);
        let pipeline = &y["service"]["pipelines"]["logs"];
        let processors: Vec<&str> = pipeline["processors"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(
            !processors
                .iter()
                .any(|p| p.split('/').next() == Some("batch")),
            "{name}: the batch processor acknowledges what it holds in memory"
        );
        for exporter in pipeline["exporters"].as_array().unwrap() {
            let e = &y["exporters"][exporter.as_str().unwrap()];
            let storage = e["sending_queue"]["storage"].as_str();
            assert!(
                storage.is_some_and(|s| y["service"]["extensions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == s)),
                "{name}: {exporter} needs a persistent sending_queue"
            );
            assert_eq!(
                e["retry_on_failure"]["max_elapsed_time"], 0,
                "{name}: {exporter} must not drop a batch after an outage"
            );
        }
    }
    let y = yaml_file("otel-collector-filelog.yaml");
    let receiver = &y["receivers"]["filelog/entra"];
    assert_eq!(receiver["retry_on_failure"]["enabled"], true);
    let parser = receiver["operators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "json_parser")
        .unwrap();
    assert_eq!(parser["severity"]["parse_from"], "body.event.severity");
    for word in ["info", "low", "medium", "high"] {
        assert_eq!(
            filelog_severity(&parser["severity"]["mapping"], word),
            Some(entra_source::output::otlp::severity_number(word)),
            "{word}: filelog and OTLP push disagree"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_collector_filelog_config_tails_what_entra_source_writes() {
    let y = yaml_file("otel-collector-filelog.yaml");
    let receiver = &y["receivers"]["filelog/entra"];
    let include = receiver["include"][0].as_str().unwrap();
    let entra = entra_source::config::Config::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config-examples/entra-source-file.toml"),
    );
    // (The example names ENTRA_CLIENT_SECRET; without it the config is refused, which is fine here.)
    let text = example("entra-source-file.toml");
    let raw: toml::Value = toml::from_str(&text).unwrap();
    let path = raw["output"]["path"].as_str().unwrap();
    assert_eq!(
        include,
        format!("{path}*"),
        "the receiver must tail the file and its rotations"
    );
    let max_line = raw["output"]["max_line_bytes"].as_integer().unwrap() as u64;
    assert!(
        bytes(
            &receiver["max_log_size"]
                .as_str()
                .unwrap()
                .replace("MiB", "M")
        ) >= max_line
    );
    assert_eq!(receiver["start_at"], "beginning");
    assert_eq!(receiver["operators"][0]["type"], "json_parser");
    assert_eq!(
        y["service"]["pipelines"]["logs"]["receivers"][0],
        "filelog/entra"
    );
    drop(entra);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_collector_otlp_config_receives_what_entra_source_pushes() {
    let y = yaml_file("otel-collector-otlp.yaml");
    let receiver = &y["receivers"]["otlp/entra"]["protocols"]["http"];
    let listen = receiver["endpoint"].as_str().unwrap();
    let raw: toml::Value = toml::from_str(&example("entra-source-otlp.toml")).unwrap();
    let endpoint = raw["output"]["otlp_endpoint"].as_str().unwrap();
    assert_eq!(
        endpoint,
        format!("http://{listen}"),
        "entra-source must push to the receiver's address"
    );
    let limit = receiver["max_request_body_size"].as_u64().unwrap() as usize;
    assert!(limit > entra_source::output::otlp::MAX_REQUEST_BYTES);
    let pipeline = &y["service"]["pipelines"]["logs"];
    assert_eq!(pipeline["receivers"][0], "otlp/entra");
    assert!(pipeline["processors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "memory_limiter"));
    // The command line the sidecar runs, against the simulator, pushing to a port where no
    // Collector listens: it keeps retrying (nothing acknowledged, nothing checkpointed) and a
    // SIGTERM ends it cleanly.
    let h = Harness::new("").await;
    h.audits(5, between_minutes_ago(30, 1));
    let port = free_port();
    h.write_streams(&format!(
        "[output]\nformat = \"ocsf\"\notlp_endpoint = \"http://127.0.0.1:{port}\"\n[streams.directory_audits]\n"
    ));
    let mut child = h.spawn_run();
    // Until the run has tried the Collector and said it will retry (not a fixed sleep: the
    // check below would pass without testing anything if the run had not got that far).
    {
        use tokio::io::AsyncBufReadExt;
        let mut err = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let line = tokio::time::timeout_at(deadline, err.next_line())
                .await
                .expect("no export attempt within 30 s")
                .unwrap()
                .expect("the run ended early");
            if line.contains("OTLP export not acknowledged") {
                break;
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = err.next_line().await {} });
    }
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(0));
    if h.state.exists() {
        let state = h.state_json();
        let stream = &state["tenants"][entra_simulator::TENANT_ID]["streams"]["directory_audits"];
        assert!(
            stream["cursor"].is_null(),
            "checkpointed without an acknowledgement: {stream}"
        );
    }
}

/// Vector's exec source sets `.stream` (and `pid`, `command`, `host`, `source_type`,
/// `timestamp`) only where a line lacks it: a diagnostic carrying its own `stream` key matched
/// neither branch of the shipped route and was dropped. Every JSON stderr line of a run with
/// faults (throttling, outages, a malformed page, a stream without its licence) must leave
/// those keys, and Fluent Bit's (`time`, `log`, `logtag`, `kubernetes`), to the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_diagnostics_never_carry_a_key_an_exec_host_sets() {
    let h = Harness::new("").await;
    h.write_streams("[streams.directory_audits]\n[streams.sign_ins]\nevent_types = [\"interactiveUser\", \"nonInteractiveUser\"]\n[streams.risky_users]\n");
    h.sim.set_licences(&[entra_simulator::Licence::P1]);
    h.audits(300, between_minutes_ago(30, 1));
    h.sim.push_faults([
        Fault::Throttle {
            retry_after: Some("0.1".into()),
        },
        Fault::Unavailable { retry_after: None },
        Fault::GatewayTimeout,
        Fault::MalformedPage,
    ]);
    let r = h.run_once_json_logs("debug").await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let mut per_stream = 0;
    for line in r.stderr.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {line}"));
        for key in entra_source::logging::HOST_KEYS {
            assert!(v.get(key).is_none(), "top-level {key:?} in {line}");
        }
        assert!(
            v["log_time"].is_string() && v["level"].is_string(),
            "{line}"
        );
        assert!(v["message"].is_string(), "{line}");
        if v.get("entra_stream").is_some() {
            per_stream += 1;
        }
    }
    assert!(
        per_stream >= 3,
        "too few per-stream lines to test anything: {}",
        r.stderr
    );
    // The failing stream's own error line is among them, named by our key.
    assert!(r.stderr.lines().any(|l| {
        let v: Value = serde_json::from_str(l).unwrap();
        v["level"] == "error" && v["entra_stream"] == "risky_users"
    }));
    // A sign-in line names its type in a dimension of its own.
    assert!(r.stderr.lines().any(|l| {
        let v: Value = serde_json::from_str(l).unwrap();
        v["entra_stream"] == "sign_ins" && v["sign_in_type"] == "nonInteractiveUser"
    }));
}
