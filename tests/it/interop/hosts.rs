//! The real hosts for the interop suite: each shipped example rewritten only where a test
//! machine differs (the binary and config paths, a temp data dir and sink, a free port, short
//! intervals, and the Kubernetes example's Kafka sink swapped for a file sink with the same
//! buffer and acknowledgements), then started, stopped, killed and restarted as an operator's
//! machine would.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::{free_port, Harness, BIN};

pub struct Bins {
    vector: PathBuf,
    fluent_bit: PathBuf,
}

impl Bins {
    /// `ENTRA_SOURCE_INTEROP_BIN`: a folder holding `vector` and `fluent-bit`.
    pub fn from_env() -> Option<Bins> {
        let dir = PathBuf::from(std::env::var_os("ENTRA_SOURCE_INTEROP_BIN")?);
        let bins = Bins {
            vector: dir.join("vector"),
            fluent_bit: dir.join("fluent-bit"),
        };
        for b in [&bins.vector, &bins.fluent_bit] {
            assert!(b.exists(), "ENTRA_SOURCE_INTEROP_BIN: no {}", b.display());
        }
        Some(bins)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Host {
    Vector,
    FluentBit,
}

pub struct Example {
    /// Its path under config-examples/.
    pub name: &'static str,
    host: Host,
    /// The host runs entra-source (exec); otherwise entra-source pushes to it.
    pub exec: bool,
    /// The sink acknowledges from a disk buffer, so a host SIGKILL must lose nothing.
    pub durable: bool,
}

pub fn examples() -> Vec<Example> {
    vec![
        Example {
            name: "vector-http.toml",
            host: Host::Vector,
            exec: false,
            durable: true,
        },
        Example {
            name: "kubernetes/vector.yaml",
            host: Host::Vector,
            exec: false,
            durable: true,
        },
        Example {
            name: "vector-streaming.toml",
            host: Host::Vector,
            exec: true,
            durable: false,
        },
        Example {
            name: "vector-scheduled.toml",
            host: Host::Vector,
            exec: true,
            durable: false,
        },
        // README's quickstart: acknowledged, but from a console sink's memory.
        Example {
            name: "quickstart/vector.toml",
            host: Host::Vector,
            exec: false,
            durable: false,
        },
        Example {
            name: "fluent-bit.conf",
            host: Host::FluentBit,
            exec: true,
            durable: false,
        },
    ]
}

fn example_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("config-examples")
        .join(name)
}

/// The exec command of an example, pointed at this build and the test's config; a scheduled
/// run's budget shortened with its interval.
fn command(argv: &[String], config: &Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, a) in argv.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| argv[p].as_str());
        out.push(match (i, prev) {
            (0, _) => BIN.to_string(),
            (_, Some("--config")) => config.display().to_string(),
            (_, Some("--max-duration")) => "4s".to_string(),
            _ => a.clone(),
        });
    }
    out
}

/// The Vector config of `ex` for this test, as JSON (Vector reads `.json` configs).
fn vector_config(ex: &Example, dir: &Path, config: &Path, sink: &Path, port: u16) -> PathBuf {
    let path = example_path(ex.name);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut v: Value = if ex.name.ends_with(".toml") {
        serde_json::to_value(toml::from_str::<toml::Value>(&text).unwrap()).unwrap()
    } else {
        Value::deserialize(yaml_serde::Deserializer::from_str(&text)).unwrap()
    };
    let data = dir.join("vector-data");
    std::fs::create_dir_all(&data).unwrap();
    v["data_dir"] = data.display().to_string().into();
    let src = &mut v["sources"]["entra"];
    if src["type"] == "exec" {
        let argv: Vec<String> = src["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        src["command"] = json!(command(&argv, config));
        if src["mode"] == "scheduled" {
            src["scheduled"]["exec_interval_secs"] = 6.into();
        } else {
            src["streaming"]["respawn_interval_secs"] = 1.into();
        }
    } else {
        src["address"] = format!("127.0.0.1:{port}").into();
    }
    let out = sink.join("events.ndjson").display().to_string();
    for (_, s) in v["sinks"].as_object_mut().unwrap().iter_mut() {
        match s["type"].as_str() {
            Some("kafka") => {
                *s = json!({
                    "type": "file",
                    "inputs": s["inputs"].clone(),
                    "path": out,
                    "encoding": {"codec": "json"},
                    "acknowledgements": s["acknowledgements"].clone(),
                    "buffer": s["buffer"].clone(),
                });
            }
            Some("file") => s["path"] = out.clone().into(),
            // README's quickstart shows its events on the console; counted at a file here
            // (the streaming example's console sink is its diagnostics, left alone).
            Some("console") if ex.name.starts_with("quickstart/") => {
                *s = json!({
                    "type": "file",
                    "inputs": s["inputs"].clone(),
                    "path": out,
                    "encoding": {"codec": "json"},
                    "acknowledgements": s["acknowledgements"].clone(),
                });
            }
            _ => {}
        }
    }
    let file = dir.join("vector.json");
    std::fs::write(&file, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    file
}

/// The classic Fluent Bit config of `ex` for this test.
fn fluent_bit_config(ex: &Example, dir: &Path, config: &Path, sink: &Path) -> PathBuf {
    let text = std::fs::read_to_string(example_path(ex.name)).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let key = trimmed.split_whitespace().next().unwrap_or("");
        let indent = &line[..line.len() - trimmed.len()];
        let value = match key {
            "Parsers_File" => Some(example_path("parsers.conf").display().to_string()),
            "storage.path" => Some(dir.join("fb-storage").display().to_string()),
            "Interval_Sec" => Some("6".to_string()),
            "Path" => Some(sink.display().to_string()),
            "Command" => {
                let argv: Vec<String> = trimmed
                    .split_whitespace()
                    .skip(2) // "Command", "exec"
                    .map(str::to_string)
                    .collect();
                Some(format!("exec {}", command(&argv, config).join(" ")))
            }
            _ => None,
        };
        match value {
            Some(v) => out.push_str(&format!("{indent}{key}  {v}\n")),
            None => out.push_str(&format!("{line}\n")),
        }
    }
    let file = dir.join("fluent-bit.conf");
    std::fs::write(&file, out).unwrap();
    file
}

/// Whether `pid` runs (not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit_once(") ").map(|(_, r)| r.chars().next());
            state.flatten() != Some('Z')
        })
        .unwrap_or(false)
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

fn log_file(dir: &Path, name: &str) -> (Stdio, Stdio) {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .unwrap();
    (f.try_clone().unwrap().into(), f.into())
}

/// One example running: its host, and entra-source beside it when it pushes.
pub struct Running {
    host: tokio::process::Child,
    source: Option<tokio::process::Child>,
    host_config: PathBuf,
    kind: Host,
    dir: PathBuf,
}

impl Running {
    pub async fn start(ex: &Example, bins: &Bins, h: &Harness, sink: &Path) -> Running {
        let dir = h.dir.path().to_path_buf();
        std::fs::create_dir_all(sink).unwrap();
        let port = if ex.exec { 0 } else { push_port(h) };
        let host_config = match ex.host {
            Host::Vector => vector_config(ex, &dir, &h.config, sink, port),
            Host::FluentBit => fluent_bit_config(ex, &dir, &h.config, sink),
        };
        let host = spawn_host(ex.host, bins, &host_config, &dir);
        let mut run = Running {
            host,
            source: None,
            host_config,
            kind: ex.host,
            dir: dir.clone(),
        };
        if !ex.exec {
            listening(port).await;
            let (out, err) = log_file(&dir, "entra-source.log");
            run.source = Some(
                tokio::process::Command::new(BIN)
                    .args(["run", "--config", h.config.to_str().unwrap()])
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(err)
                    .kill_on_drop(true)
                    .spawn()
                    .unwrap(),
            );
        }
        run
    }

    /// SIGKILLs the host (not entra-source beside it); returns the host's children then.
    pub fn kill_host(&mut self) -> Vec<u32> {
        let pid = self.host.id().unwrap();
        let kids = children(pid);
        let _ = self.host.start_kill();
        kids
    }

    /// Starts the host again with the same config (entra-source beside it keeps retrying).
    pub async fn restart_host(&mut self, ex: &Example, bins: &Bins, h: &Harness, _sink: &Path) {
        let _ = self.host.wait().await;
        self.host = spawn_host(self.kind, bins, &self.host_config, &self.dir);
        if !ex.exec {
            listening(push_port(h)).await;
        }
    }

    /// SIGTERM: entra-source first (it finishes its page), then the host (it flushes).
    pub async fn stop(&mut self) {
        if let Some(s) = &mut self.source {
            term(s, Duration::from_secs(10)).await;
        }
        term(&mut self.host, Duration::from_secs(60)).await;
    }

    /// What the host printed (its own log and, for exec, what it forwards of the child's).
    pub fn host_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("host.log")).unwrap_or_default()
    }
}

/// The port entra-source pushes to: the config's `http_endpoint`, added on first use.
fn push_port(h: &Harness) -> u16 {
    let text = std::fs::read_to_string(&h.config).unwrap();
    if let Some(at) = text.find("http_endpoint = \"http://127.0.0.1:") {
        let rest = &text[at + "http_endpoint = \"http://127.0.0.1:".len()..];
        return rest[..rest.find('/').unwrap()].parse().unwrap();
    }
    let port = free_port();
    std::fs::write(
        &h.config,
        format!("{text}\n[output]\nhttp_endpoint = \"http://127.0.0.1:{port}/\"\nhttp_give_up_after = \"1h\"\n"),
    )
    .unwrap();
    port
}

fn spawn_host(kind: Host, bins: &Bins, config: &Path, dir: &Path) -> tokio::process::Child {
    let (out, err) = log_file(dir, "host.log");
    let mut cmd = match kind {
        Host::Vector => {
            let mut c = tokio::process::Command::new(&bins.vector);
            c.arg("--config")
                .arg(config)
                .env("VECTOR_LOG", "warn")
                .env("VECTOR_GRACEFUL_SHUTDOWN_LIMIT_SECS", "20");
            c
        }
        Host::FluentBit => {
            let mut c = tokio::process::Command::new(&bins.fluent_bit);
            c.arg("-c").arg(config);
            c
        }
    };
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Waits until something accepts connections on `port`.
async fn listening(port: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing listens on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn term(child: &mut tokio::process::Child, limit: Duration) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        if tokio::time::timeout(limit, child.wait()).await.is_err() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}
