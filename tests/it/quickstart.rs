//! README's quickstart, run as written: the blocks after `<!-- quickstart:NAME -->` are the
//! shipped `config-examples/quickstart/` files, the Vector config takes what the entra-source
//! config pushes, and the shell lines (the real `simulate`, the secret, `run`) deliver events
//! into a stand-in for Vector's `http_server` source at the address README gives it. The real
//! Vector runs the same `vector.toml` in the opt-in interop suite.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::Value;

fn readme() -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The fenced block right after `<!-- quickstart:NAME -->`.
fn block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- quickstart:{name} -->\n");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README lost its {marker:?}"))
        + marker.len();
    let rest = &readme[start..];
    assert!(rest.starts_with("```"), "{name}: a fenced block follows");
    let body = &rest[rest.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

/// The words of the shell line starting with `program`, without a trailing `&`.
fn line(shell: &str, program: &str) -> Vec<String> {
    let l = shell
        .lines()
        .find(|l| l.starts_with(program))
        .unwrap_or_else(|| panic!("no `{program}` line in {shell}"));
    l.split_whitespace()
        .filter(|w| *w != "&")
        .map(str::to_string)
        .collect()
}

fn after<'a>(argv: &'a [String], flag: &str) -> &'a str {
    let i = argv.iter().position(|a| a == flag).unwrap();
    &argv[i + 1]
}

#[test]
fn the_quickstart_configs_are_the_shipped_examples() {
    let text = readme();
    for name in ["vector.toml", "entra-source.toml"] {
        let shipped = crate::host_configs::example(&format!("quickstart/{name}"));
        assert_eq!(
            block(&text, name),
            shipped,
            "README's {name} and config-examples/quickstart/{name} differ"
        );
    }
}

/// Datasets of the events the stand-in acknowledged.
type Received = Arc<Mutex<Vec<String>>>;

async fn take(State(r): State<Received>, body: String) -> &'static str {
    let mut r = r.lock().unwrap();
    for l in body.lines() {
        let e: Value = serde_json::from_str(l).expect("one JSON event per line");
        r.push(e["event"]["dataset"].as_str().unwrap_or("").to_string());
    }
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quickstart_delivers_audits_and_sign_ins_into_vector() {
    let text = readme();
    let dir = tempfile::tempdir().unwrap();

    // Vector's side: an acknowledged http_server source where entra-source pushes.
    let vector: Value =
        serde_json::to_value(toml::from_str::<toml::Value>(&block(&text, "vector.toml")).unwrap())
            .unwrap();
    let config = block(&text, "entra-source.toml");
    let raw: toml::Value = toml::from_str(&config).unwrap();
    let endpoint = raw["output"]["http_endpoint"].as_str().unwrap();
    let src = &vector["sources"]["entra"];
    let vector_address = src["address"].as_str().unwrap();
    assert_takes_the_push(src, endpoint);
    assert_eq!(endpoint, format!("http://{vector_address}/"));
    let sink = &vector["sinks"]["out"];
    assert_eq!(sink["acknowledgements"]["enabled"], true);
    assert_eq!(sink["inputs"][0], "entra_trim");
    assert_eq!(vector["transforms"]["entra_trim"]["inputs"][0], "entra");

    // The simulator, as the shell block starts it (on a free port).
    let shell = block(&text, "shell");
    assert!(shell.starts_with("cargo install --path .\n"));
    let simulate = line(&shell, "entra-source simulate");
    let sim_address = after(&simulate, "--listen").to_string();
    let sim_port = free_port();
    let mut sim = tokio::process::Command::new(BIN)
        .args(simulate[1..].iter().map(|a| {
            if *a == sim_address {
                format!("127.0.0.1:{sim_port}")
            } else {
                a.clone()
            }
        }))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", sim_port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The stand-in for Vector, and the config pointed at both.
    let received: Received = Arc::default();
    let app = Router::new()
        .route("/", post(take))
        .layer(axum::extract::DefaultBodyLimit::max(16 << 20))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vector_port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config = config
        .replace(&sim_address, &format!("127.0.0.1:{sim_port}"))
        .replace(vector_address, &format!("127.0.0.1:{vector_port}"));
    let run_block = block(&text, "run");
    let run = line(&run_block, "entra-source run");
    std::fs::write(dir.path().join(after(&run, "--config")), config).unwrap();
    let secret = run_block
        .lines()
        .find_map(|l| l.strip_prefix("export ENTRA_CLIENT_SECRET="))
        .unwrap()
        .trim_matches('\'');

    let mut child = tokio::process::Command::new(BIN)
        .args(&run[1..])
        .current_dir(dir.path())
        .env("ENTRA_CLIENT_SECRET", secret)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let wanted = ["entra.directory_audits", "entra.sign_ins"];
    loop {
        let got = received.lock().unwrap().clone();
        if wanted
            .iter()
            .all(|d| got.iter().filter(|g| g == d).count() >= 20)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the quickstart delivered {} events in 60 s: {:?}",
            got.len(),
            tally(&got)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = sigterm(&mut child).await;
    assert!(status.success(), "{status}");
    assert!(
        dir.path().join("entra-source.toml.state.json").exists(),
        "README names the checkpoint file entra-source.toml.state.json"
    );
    let state = tokio::process::Command::new(BIN)
        .args(["state", "show", "--config", "entra-source.toml"])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(state.status.success());
    assert!(String::from_utf8_lossy(&state.stdout).contains("directory_audits"));
    sim.kill().await.unwrap();
}
