//! Test harness: a temp dir per test, the Graph simulator in-process, and the real binary run
//! against it as a child process.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entra_simulator::{Resource, Simulator, Spread, CLIENT_SECRET};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_entra-source");

/// The simulator enforces no limits unless a test asks it to: pace far above Graph's.
pub const FAST: &str = "[throttle]\nreports_requests_per_10s = 10000\nidentity_protection_requests_per_second = 1000\n\n";

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub sim: Simulator,
    pub config: PathBuf,
    pub state: PathBuf,
    pub secret_file: PathBuf,
}

/// What one finished run printed.
#[derive(Debug)]
pub struct RunResult {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl RunResult {
    /// The events of Graph records on stdout (entra-source's own `connector_health` events
    /// left out: [`Self::health`]).
    pub fn events(&self) -> Vec<Value> {
        records(parse_lines(&self.stdout))
    }

    /// The `connector_health` events on stdout.
    pub fn health(&self) -> Vec<Value> {
        parse_lines(&self.stdout)
            .into_iter()
            .filter(is_health)
            .collect()
    }
    pub fn last_stderr_line(&self) -> &str {
        self.stderr.lines().last().unwrap_or("")
    }

    /// The run exited with `code` and its last stderr line holds every one of `needles`.
    pub fn fails_with(&self, code: i32, needles: &[&str]) {
        assert_eq!(self.code, Some(code), "{}", self.stderr);
        for n in needles {
            assert!(
                self.last_stderr_line().contains(n),
                "last stderr line lacks {n:?}: {}",
                self.stderr
            );
        }
    }
}

pub fn parse_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
        })
        .collect()
}

/// Whether `e` is entra-source's own `connector_health` event (in any format).
pub fn is_health(e: &Value) -> bool {
    e["event"]["type"] == "connector_health"
        || e["event"]["dataset"] == "entra.connector_health"
        || e["metadata"]["product"]["feature"]["name"] == "entra.connector_health"
}

/// `events` without the `connector_health` ones.
pub fn records(events: Vec<Value>) -> Vec<Value> {
    events.into_iter().filter(|e| !is_health(e)).collect()
}

pub fn event_ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"]["id"].as_str().expect("event.id").to_string())
        .collect()
}

/// Counts per id.
pub fn tally(ids: &[String]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for id in ids {
        *m.entry(id.clone()).or_insert(0) += 1;
    }
    m
}

pub fn minutes_ago(m: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::minutes(m)
}

pub fn seconds_ago(s: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::seconds(s)
}

/// Records spread over `[from minutes ago, to minutes ago]`.
pub fn between_minutes_ago(from: i64, to: i64) -> Spread {
    Spread::Between(minutes_ago(from), minutes_ago(to))
}

impl Harness {
    /// A simulator plus a config with `[streams.directory_audits]` and `extra` appended.
    pub async fn new(extra: &str) -> Harness {
        Harness::with(Simulator::start().await.expect("simulator"), extra)
    }

    /// The same around a given simulator (e.g. one serving HTTPS).
    pub fn with(sim: Simulator, extra: &str) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, CLIENT_SECRET).unwrap();
        let state = dir.path().join("state.json");
        let config = dir.path().join("config.toml");
        let h = Harness {
            dir,
            sim,
            config,
            state,
            secret_file,
        };
        h.write_config(&format!(
            "{FAST}[poll]\ninterval_seconds = 1\n\n[streams.directory_audits]\n{extra}"
        ));
        h
    }

    /// Replaces the config's streams (and anything else) with `body`, keeping the fast pacing.
    pub fn write_streams(&self, body: &str) {
        self.write_config(&format!("{FAST}[poll]\ninterval_seconds = 1\n\n{body}"));
    }

    /// Writes the config. `[context]` (on by default in entra-source) is off unless `body`
    /// sets it: its directory rounds would add requests to every test that counts them
    /// (`tests/it/context.rs` turns it on).
    pub fn write_config(&self, body: &str) {
        let body = if body.contains("[context]") {
            body.to_string()
        } else {
            format!("{body}\n[context]\nenabled = false\n")
        };
        std::fs::write(
            &self.config,
            self.sim.config_toml(&self.secret_file, &self.state, &body),
        )
        .unwrap();
    }

    pub fn audits(&self, count: u64, spread: Spread) -> Vec<String> {
        self.sim.generate(Resource::DirectoryAudits, count, spread)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).env_remove("RUST_LOG");
        // Hermetic: the credential defaults a host may inject (AKS, App Service), and the
        // secret variable the example configs name (a test in this process sets it).
        for var in [
            "ENTRA_CLIENT_SECRET",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_FEDERATED_TOKEN_FILE",
            "IDENTITY_ENDPOINT",
            "IDENTITY_HEADER",
            "ENTRA_SOURCE_SHARD",
            "ENTRA_SOURCE_SHARD_COUNT",
        ] {
            c.env_remove(var);
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    /// `run --config … --once`, to completion.
    pub async fn run_once(&self) -> RunResult {
        self.run_args(&["run", "--config", self.config.to_str().unwrap(), "--once"])
            .await
    }

    /// `run --config … --once --log-format json` with `RUST_LOG=rust_log`, to completion.
    pub async fn run_once_json_logs(&self, rust_log: &str) -> RunResult {
        let mut cmd = self.command(&[
            "run",
            "--config",
            self.config.to_str().unwrap(),
            "--once",
            "--log-format",
            "json",
        ]);
        cmd.env("RUST_LOG", rust_log);
        finish(cmd.spawn().expect("spawn entra-source")).await
    }

    pub async fn run_args(&self, args: &[&str]) -> RunResult {
        let child = self.command(args).spawn().expect("spawn entra-source");
        finish(child).await
    }

    pub fn spawn_run(&self) -> Child {
        self.command(&["run", "--config", self.config.to_str().unwrap()])
            .spawn()
            .expect("spawn entra-source")
    }

    pub fn graph_requests(&self) -> Vec<entra_simulator::RequestLog> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.is_graph())
            .collect()
    }

    /// The whole store as `state export` prints it.
    pub fn state_json(&self) -> Value {
        let out = std::process::Command::new(BIN)
            .args(["state", "export", "--config"])
            .arg(&self.config)
            .output()
            .expect("state export");
        assert!(
            out.status.success(),
            "state export: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("state JSON")
    }

    /// Moves the simulator's clock (the `Date` entra-source plans its reads on) forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.sim.advance_clock(by);
    }

    /// Lets the default 20-minute settle sweep come due: records stamped before the last
    /// run's fresh read (late arrivals) are read by the next run.
    pub fn settle(&self) {
        self.advance(chrono::Duration::minutes(21));
    }
}

/// Waits for the child (at most 120 s) and collects its output.
pub async fn finish(mut child: Child) -> RunResult {
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let io = async {
        let (a, b) = tokio::join!(
            out.read_to_string(&mut stdout),
            err.read_to_string(&mut stderr)
        );
        a.unwrap();
        b.unwrap();
    };
    tokio::time::timeout(Duration::from_secs(120), io)
        .await
        .expect("entra-source did not finish within 120 s");
    let status = child.wait().await.unwrap();
    RunResult {
        code: status.code(),
        stdout,
        stderr,
    }
}

/// Reads stdout lines of a running child until `n` lines arrived (or EOF).
pub async fn read_lines(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    n: usize,
    into: &mut Vec<String>,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while into.len() < n {
        match tokio::time::timeout_at(deadline, lines.next_line()).await {
            Ok(Ok(Some(l))) => into.push(l),
            Ok(_) => return,
            Err(_) => panic!("no more stdout lines within 60 s (have {})", into.len()),
        }
    }
}

pub fn stdout_lines(child: &mut Child) -> tokio::io::Lines<BufReader<tokio::process::ChildStdout>> {
    BufReader::new(child.stdout.take().unwrap()).lines()
}

/// Counts per `event.id`, failing on any duplicate.
pub fn assert_unique(ids: &[String]) {
    let dups: Vec<_> = tally(ids).into_iter().filter(|(_, n)| *n > 1).collect();
    assert!(
        dups.is_empty(),
        "{} ids emitted more than once, e.g. {:?}",
        dups.len(),
        dups.first()
    );
}

/// Checks the shape every native event has (CONTRACT.md § Events): the summary, the time, the
/// record verbatim, and nothing else (no copy of the record, no host-reserved name).
pub fn assert_native_audit_event(e: &Value) {
    let ev = &e["event"];
    assert_eq!(ev["kind"], "event", "{e}");
    assert_eq!(ev["dataset"], "entra.directory_audits");
    assert!(["success", "failure"].contains(&ev["outcome"].as_str().unwrap()));
    assert!(["info", "low", "medium", "high"].contains(&ev["severity"].as_str().unwrap()));
    assert!(ev["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(ev["tenant_id"].as_str().is_some());
    assert_eq!(e["properties"]["id"], ev["id"]);
    assert_eq!(ev["action"], e["properties"]["activityDisplayName"]);
    let time = e["time"].as_str().unwrap();
    assert_eq!(time.len(), "2026-01-01T00:00:00.0000000Z".len(), "{time}");
    let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
    assert!(
        keys == ["event", "time", "properties"]
            || keys == ["event", "time", "context", "properties"],
        "{keys:?}"
    );
}

/// Sends SIGTERM and waits (at most 5 s) for the exit: its status and how long it took.
pub async fn sigterm(child: &mut Child) -> (std::process::ExitStatus, Duration) {
    let pid = child.id().expect("a running child");
    let sent = std::time::Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("no exit within 5 s of SIGTERM")
        .unwrap();
    (status, sent.elapsed())
}

/// Starts a run, reads `n` stdout lines, SIGKILLs it, and returns the ids of every whole event
/// it wrote (a line cut by the kill is not an event; its record comes again after a restart).
pub async fn run_then_kill_9(h: &Harness, n: usize) -> Vec<String> {
    let mut child = h.spawn_run();
    let mut lines = stdout_lines(&mut child);
    let mut got = Vec::new();
    read_lines(&mut lines, n.max(1), &mut got).await;
    event_ids(&kill_9_and_drain(child, lines, got).await)
}

/// SIGKILLs `child`, reads what it had written, and returns the whole events of `got` and that
/// (a line cut by the kill is not an event; its record comes again after a restart).
pub async fn kill_9_and_drain(
    mut child: Child,
    mut lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    mut got: Vec<String>,
) -> Vec<Value> {
    child.kill().await.unwrap();
    while let Ok(Some(l)) = lines.next_line().await {
        got.push(l);
    }
    if got
        .last()
        .is_some_and(|l| serde_json::from_str::<Value>(l).is_err())
    {
        got.pop();
    }
    parse_lines(&got.join("\n"))
}

/// Every application permission the simulator knows but `missing`.
pub fn roles_without(missing: &str) -> Vec<&'static str> {
    entra_simulator::ALL_ROLES
        .iter()
        .copied()
        .filter(|r| *r != missing)
        .collect()
}

/// A loopback port nothing listens on (for a Collector that is down, a metrics endpoint).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every Graph request the simulators received, on one clock, with the index of its simulator.
pub fn graph_arrivals<'a>(
    sims: impl IntoIterator<Item = &'a Simulator>,
) -> Vec<(std::time::Instant, usize)> {
    let mut arrivals: Vec<(std::time::Instant, usize)> = Vec::new();
    for (i, sim) in sims.into_iter().enumerate() {
        for req in sim.requests().into_iter().filter(|r| r.is_graph()) {
            arrivals.push((req.at, i));
        }
    }
    arrivals.sort();
    arrivals
}

/// From each request on: which simulators' requests fall within the next 10 s (Graph's
/// reports window).
pub fn ten_second_windows(arrivals: &[(std::time::Instant, usize)]) -> Vec<Vec<usize>> {
    (0..arrivals.len())
        .map(|k| {
            let start = arrivals[k].0;
            arrivals[k..]
                .iter()
                .take_while(|(t, _)| t.duration_since(start) < Duration::from_secs(10))
                .map(|(_, i)| *i)
                .collect()
        })
        .collect()
}

/// Vector's side of an acknowledged push: `src` is an `http_server` source listening where
/// entra-source's `http_endpoint` points, taking its NDJSON lines whole, and `sink` answers only
/// once its disk buffer (blocking when full) holds the events.
pub fn assert_acknowledged_push(src: &Value, sink: &Value, http_endpoint: &str) {
    assert_takes_the_push(src, http_endpoint);
    assert_eq!(sink["acknowledgements"]["enabled"], true);
    assert_eq!(sink["buffer"]["type"], "disk");
    assert_eq!(sink["buffer"]["when_full"], "block");
}

/// Vector's `http_server` source `src` listens where `http_endpoint` points and takes
/// entra-source's NDJSON lines whole.
pub fn assert_takes_the_push(src: &Value, http_endpoint: &str) {
    let endpoint = url::Url::parse(http_endpoint).unwrap();
    assert_eq!(src["type"], "http_server");
    assert_eq!(
        src["address"].as_str().unwrap(),
        format!(
            "{}:{}",
            endpoint.host_str().unwrap(),
            endpoint.port().unwrap()
        )
    );
    assert_eq!(src["decoding"]["codec"], "json");
    assert_eq!(src["framing"]["method"], "newline_delimited");
    assert!(
        src["framing"]["newline_delimited"]["max_length"]
            .as_u64()
            .unwrap()
            >= 1 << 20,
        "max_length below max_line_bytes"
    );
}
