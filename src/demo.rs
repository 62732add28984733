//! `entra-source demo`: the built-in simulator on a loopback port, plus a real run of the
//! connector against it with a throwaway config and state file. No tenant needed.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;

use crate::config::Config;
use crate::output::Output;
use crate::runner;
use entra_simulator::{Simulator, CLIENT_SECRET};

/// Every stream, paced for the simulator (which enforces no limits unless asked). With
/// `--follow` the simulator shows records as Graph does, minutes after their time, at
/// [`FOLLOW_SCALE`] times real speed, and the reads follow the same scale: a sweep just past the
/// usual delay, and one past the longest.
fn demo_config(follow: bool) -> String {
    let (sweeps, detections) = if follow {
        (
            "late_arrival = [\"5s\", \"20s\"]\n",
            "late_arrival = [\"12s\", \"48m\"]\n",
        )
    } else {
        ("", "")
    };
    format!(
        r#"[throttle]
reports_requests_per_10s = 1000
identity_protection_requests_per_second = 100

[poll]
interval_seconds = 2
{sweeps}
[streams.directory_audits]
[streams.sign_ins]
event_types = ["interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"]
[streams.risky_users]
[streams.risk_detections]
{detections}[streams.risky_service_principals]
[streams.service_principal_risk_detections]
{detections}[streams.provisioning]
[streams.risky_agents]
[streams.agent_risk_detections]
{detections}[streams.users]
[streams.devices]
[streams.role_assignments]
"#
    )
}

/// How much faster than real time `demo --follow` runs Graph's delays (8 minutes: 8 s).
const FOLLOW_SCALE: f64 = 60.0;

/// Sign-ins by directory users the demo adds, to show `context`.
const DEMO_CONTEXT_SIGN_INS: usize = 5;

/// Removes the throwaway directory however the demo ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn demo(events: u32, follow: bool, format: crate::format::Format) -> u8 {
    let sim = match Simulator::start().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot start the simulator on a loopback port: {e}");
            return 1;
        }
    };
    let now = Utc::now();
    if follow {
        sim.set_appearance(entra_simulator::Appearance::Delayed {
            profile: entra_simulator::DelayProfile::Microsoft,
            scale: FOLLOW_SCALE,
        });
    }
    // The directory first: the records are then by its users, devices and service principals,
    // and their events carry `context`.
    sim.directory_seed(events as usize, events as usize);
    sim.populate(
        u64::from(events),
        chrono::Duration::minutes(50),
        u32::from(follow),
    );
    // A few sign-ins by directory users on directory devices: their events show `context`.
    let users = sim.directory_ids(entra_simulator::DirectoryKind::Users);
    let devices = sim.directory_ids(entra_simulator::DirectoryKind::Devices);
    for (user, device) in users.iter().zip(&devices).take(DEMO_CONTEXT_SIGN_INS) {
        let device_id = sim
            .directory_object(entra_simulator::DirectoryKind::Devices, device)
            .and_then(|d| d["deviceId"].as_str().map(str::to_string));
        sim.generate_with(
            entra_simulator::Resource::SignIns,
            1,
            entra_simulator::Spread::Between(
                now - chrono::Duration::minutes(10),
                now - chrono::Duration::minutes(1),
            ),
            serde_json::json!({"signInEventTypes": ["interactiveUser"], "userId": user,
                "deviceDetail": {"deviceId": device_id}}),
            true,
        );
    }
    let dir = TempDir(std::env::temp_dir().join(format!(
        "entra-source-demo-{}-{}",
        std::process::id(),
        now.timestamp_nanos_opt().unwrap_or_default()
    )));
    let config_path = dir.0.join("config.toml");
    let secret_path = dir.0.join("client-secret");
    let setup = std::fs::create_dir_all(&dir.0)
        .and_then(|_| std::fs::write(&secret_path, CLIENT_SECRET))
        .and_then(|_| {
            std::fs::write(
                &config_path,
                sim.config_toml(
                    &secret_path,
                    &dir.0.join("state.json"),
                    &demo_config(follow),
                ),
            )
        });
    if let Err(e) = setup {
        tracing::error!(
            "cannot write the demo's throwaway config in {}: {e}",
            dir.0.display()
        );
        return 1;
    }
    let (mut config, resolved) = match Config::load(&config_path).and_then(|c| {
        let r = c.resolve()?;
        Ok((c, r))
    }) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return 2;
        }
    };
    config.context_first = true;
    // Microsoft's shapes have no place for directory context: it is not fetched for them.
    if !format.carries_context() {
        config.context = None;
    }
    tracing::info!(
        simulator = %sim.base_url(),
        events,
        follow,
        "demo: the connector reads the built-in Graph simulator; events follow on stdout"
    );
    if follow {
        tracing::info!(
            "demo --follow: the simulator adds a record a second per stream and shows each as Graph does, 10 s to 8 min after its time, here {FOLLOW_SCALE}x faster; new events follow within seconds (Ctrl-C stops)"
        );
    }
    let (trigger, shutdown) = crate::shutdown::channel();
    crate::shutdown::install_signal_handlers(trigger.clone());
    let output = Output::stdout()
        .with_max_line_bytes(config.max_line_bytes)
        .with_format(format)
        .with_keep_null(config.keep_null_columns);
    let outcome = runner::run(config, resolved, !follow, output, trigger, shutdown).await;
    let graph_requests = sim.requests().iter().filter(|r| r.is_graph()).count();
    tracing::info!(graph_requests, "demo finished");
    tokio::time::sleep(Duration::from_millis(10)).await;
    outcome.report()
}
