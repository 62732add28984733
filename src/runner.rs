//! `entra-source run`: wires config, state, credentials, Graph clients and output together and
//! runs one [`StreamPoller`] task per tenant and stream.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, Resolved};
use crate::graph::GraphClient;
use crate::http::{http_client, RetryPolicy};
use crate::output::{Output, OutputError};
use crate::poll::{Mode, PollError, StreamPoller};
use crate::shutdown::{Shutdown, ShutdownTrigger};
use crate::state::StateStore;

/// After SIGTERM, the longest the run waits for streams to finish their page (the contract
/// promises an exit within 3 s).
const SHUTDOWN_GRACE: Duration = Duration::from_millis(2500);

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every stream completed (`--once`) or the run was stopped by a signal.
    Completed,
    /// stdout was closed by the host.
    OutputClosed,
    /// At least one stream failed; the message is the last stderr line.
    Failed(String),
}

impl RunOutcome {
    /// Logs a failure as the run's last stderr line and returns the exit status.
    /// Exec hosts do not log their child's exit status, so the run says it in its last line.
    pub fn report(self) -> u8 {
        let code = self.exit_code();
        match &self {
            RunOutcome::Failed(msg) => tracing::error!(exit_status = code, "{msg}"),
            RunOutcome::Completed | RunOutcome::OutputClosed => {
                tracing::info!(exit_status = code, "run finished (exit {code})")
            }
        }
        code
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            RunOutcome::Completed | RunOutcome::OutputClosed => 0,
            RunOutcome::Failed(_) => 1,
        }
    }
}

/// Graph's application-wide reports limit, per app registration: each tenant is paced at an
/// equal share of its app's budget over all the app's tenants in the config (every shard's),
/// so the shards of one app together stay under it, and one pacer per app holds this process's
/// tenants under their part.
fn app_budgets(
    config: &Config,
) -> std::collections::HashMap<String, (Arc<crate::graph::Pacer>, crate::graph::Throttle)> {
    let mut tenants: std::collections::BTreeMap<&str, (u32, usize)> = Default::default();
    for t in &config.tenants {
        tenants
            .entry(t.app.name.as_str())
            .or_insert((t.app.reports_per_10s, 0))
            .1 += 1;
    }
    tenants
        .into_iter()
        .map(|(app, (budget, here))| {
            let n = config.app_tenants.get(app).copied().unwrap_or(here).max(here);
            let mut throttle = config.throttle;
            throttle.app_reports_per_10s = budget;
            throttle.reports_per_10s = throttle.reports_share(n);
            if throttle.reports_per_10s < config.throttle.reports_per_10s {
                tracing::info!(
                    app,
                    tenants = n,
                    app_budget = budget,
                    per_tenant = throttle.reports_per_10s,
                    "app {app}: its {n} tenants share its audit and sign-in budget of {budget} requests per 10 s; each is paced at an equal share"
                );
            }
            let part = (throttle.reports_per_10s as usize * here).min(budget as usize);
            let pacer = Arc::new(crate::graph::Pacer::new(
                u32::try_from(part).unwrap_or(budget).max(1),
                std::time::Duration::from_secs(10),
            ));
            (app.to_string(), (pacer, throttle))
        })
        .collect()
}

/// A tenant without a checkpoint starts from `initial_lookback`: normal on a first run, and
/// said loudly when other tenants of the store have one, since it is then a new tenant or one
/// moved here without its state (whose records its old shard emitted come again).
fn announce_missing_checkpoints(state: &StateStore, config: &Config) {
    let polled = |key: &str| {
        state.data().tenants.get(key).is_some_and(|t| {
            t.streams
                .values()
                .any(|s| s.cursor.is_some() || s.delta_link.is_some() || s.snapshot.is_some())
        })
    };
    // A store that gave tenants away (state export --remove) is not new either.
    let others = state.data().tenants.keys().any(|k| polled(k)) || !state.data().moved.is_empty();
    let missing: Vec<&str> = config
        .tenants
        .iter()
        .map(|t| t.id.as_str())
        .filter(|id| !polled(&state.tenant_key(id)))
        // A tenant moved away is refused by its pollers, with the fix (poll/claim.rs).
        .filter(|id| state.moved(&state.tenant_key(id), id).is_none())
        .collect();
    if !others {
        if !missing.is_empty() {
            tracing::info!(
                tenants = missing.len(),
                "a new state file: every tenant starts from initial_lookback"
            );
        }
        return;
    }
    for id in missing {
        tracing::warn!(
            tenant = %id,
            state_path = %config.state_path.display(),
            "tenant {id} has no checkpoint in {}, though other tenants do: it starts from initial_lookback. If it is a new tenant, that is expected; if it moved here from another shard or host without its state, records its old store already emitted are emitted again, and any it had not read that are older than initial_lookback are never read: stop this run, `entra-source state export --tenant {id} --out FILE --remove` on the old store, `entra-source state import FILE` on this one, then start again",
            config.state_path.display()
        );
    }
}

/// Runs every enabled stream of every tenant until done (`once`) or stopped.
pub async fn run(
    config: Config,
    resolved: Resolved,
    once: bool,
    output: Output,
    trigger: ShutdownTrigger,
    shutdown: Shutdown,
) -> RunOutcome {
    let state = match StateStore::open(&config.state_path) {
        Ok(s) => s,
        Err(e) => return RunOutcome::Failed(e.to_string()),
    };
    announce_missing_checkpoints(&state, &config);
    let http = match http_client(resolved.extra_ca_pem.as_deref()) {
        Ok(h) => h,
        Err(e) => return RunOutcome::Failed(format!("cannot build the HTTP client: {e}")),
    };
    let shared = crate::poll::Shared::new(state, output, shutdown.clone());
    crate::telemetry::RunStarted {
        interval: config.interval,
    }
    .emit();
    if let Some(listen) = config.metrics_listen {
        if let Err(e) = crate::metrics::serve(listen, shutdown.clone()).await {
            return RunOutcome::Failed(format!(
                "cannot serve metrics on {listen} ([metrics] listen): {e}; choose a free port"
            ));
        }
    }

    let budgets = app_budgets(&config);
    let mut pollers = Vec::new();
    let mut readers = Vec::new();
    let hub_tls = if config.tenants.iter().any(|t| t.hubs.iter().any(|h| h.tls)) {
        match crate::hub::partition::tls_config(resolved.extra_ca_pem.as_deref()) {
            Ok(t) => Some(t),
            Err(e) => return RunOutcome::Failed(format!("cannot set up TLS for Event Hubs: {e}")),
        }
    } else {
        None
    };
    let mut syncs = tokio::task::JoinSet::new();
    for (tenant, credential) in config.tenants.into_iter().zip(resolved.credentials) {
        let Some((shared_reports, throttle)) = budgets.get(&tenant.app.name).cloned() else {
            continue;
        };
        let id = Arc::new(crate::tenant::TenantId::new(&tenant.id));
        let hub_credential = credential.clone();
        let tokens = Arc::new(tenant.token_provider(&http, credential));
        let client = Arc::new(
            GraphClient::new(
                http.clone(),
                tenant.graph_url.clone(),
                tokens,
                RetryPolicy {
                    max_attempts: config.request_attempts,
                    ..RetryPolicy::default()
                },
                shutdown.clone(),
                throttle,
            )
            .with_shared_reports(shared_reports.clone()),
        );
        let cache = match config.context {
            None => None,
            Some(refresh) => {
                let path = crate::context::cache_path(&config.state_path, &tenant.id);
                let cache = match crate::context::ContextCache::open(&path) {
                    Ok(c) => Arc::new(c),
                    Err(e) => return RunOutcome::Failed(e.to_string()),
                };
                let sync = crate::context::sync::ContextSync::new(
                    cache.clone(),
                    client.clone(),
                    tenant.id.clone(),
                    shutdown.clone(),
                    refresh,
                );
                if config.context_first {
                    sync.round().await;
                }
                syncs.spawn(sync.run(once));
                Some(cache)
            }
        };
        for hub in &tenant.hubs {
            // The tenant's own app, with a token for the cloud's Event Hubs resource.
            let hub_tokens = matches!(hub.auth, crate::hub::HubAuth::App).then(|| {
                Arc::new(crate::auth::TokenProvider::new(
                    http.clone(),
                    &tenant.login_url,
                    &hub.token_resource,
                    &tenant.id,
                    &tenant.client_id,
                    hub_credential.clone(),
                ))
            });
            for name in &hub.hubs {
                let reader = crate::hub::reader::HubReader::new(
                    id.clone(),
                    name,
                    hub.clone(),
                    client.clone(),
                    hub_tokens.clone(),
                    hub_tls.clone(),
                    &tenant.streams,
                    &shared,
                )
                .with_context(cache.clone());
                readers.push(Arc::new(reader));
            }
        }
        for settings in tenant.streams {
            for spec in crate::streams::specs(&settings) {
                let poller =
                    StreamPoller::new(id.clone(), spec, settings.clone(), client.clone(), &shared)
                        .with_context(cache.clone());
                pollers.push(Arc::new(poller));
            }
        }
    }

    let mut tasks = tokio::task::JoinSet::new();
    for p in pollers {
        let interval = config.interval;
        let trigger = trigger.clone();
        tasks.spawn(async move {
            let r = p
                .run(if once {
                    Mode::Once
                } else {
                    Mode::Every(interval)
                })
                .await;
            if let Err(e) = &r {
                // A closed stdout or an unwritable state file stops every stream.
                if matches!(e, PollError::Output(_) | PollError::State(_)) {
                    trigger.trigger();
                } else {
                    tracing::error!(tenant = %p.tenant_id(), entra_stream = p.name(), sign_in_type = p.sign_in_type(), "{}", p.explain(e));
                }
            }
            let message = r.as_ref().err().map(|e| p.explain(e));
            (p.configured_tenant().to_string(), message, r)
        });
    }

    for reader in readers {
        let trigger = trigger.clone();
        tasks.spawn(async move {
            let r = reader.clone().run(once).await;
            if let Err(e) = &r {
                if matches!(e, PollError::Output(_) | PollError::State(_)) {
                    trigger.trigger();
                } else {
                    tracing::error!(tenant = %reader.configured_tenant(), hub = %reader.hub(), "hub {}: {e}", reader.hub());
                }
            }
            let message = r.as_ref().err().map(|e| format!("hub {}: {e}", reader.hub()));
            (reader.configured_tenant().to_string(), message, r)
        });
    }

    let mut failures = Vec::new();
    let mut output_closed = false;
    loop {
        let next = if shutdown.is_set() {
            match tokio::time::timeout(SHUTDOWN_GRACE, tasks.join_next()).await {
                Ok(n) => n,
                Err(_) => {
                    tracing::warn!("streams did not finish their page within the shutdown grace; exiting with the last saved checkpoints");
                    break;
                }
            }
        } else {
            tokio::select! {
                n = tasks.join_next() => n,
                _ = shutdown.wait() => continue,
            }
        };
        let Some(joined) = next else { break };
        match joined {
            Ok((_, _, Ok(()))) => {}
            Ok((_, _, Err(PollError::Output(OutputError::Closed)))) => output_closed = true,
            Ok((tenant, message, Err(e))) => failures.push(format!(
                "tenant {tenant}: {}",
                message.unwrap_or_else(|| e.to_string())
            )),
            Err(e) => failures.push(format!("a stream task crashed: {e}")),
        }
    }
    // `--once`: the directory round finishes (its cache and links saved for the next run).
    if once && !shutdown.is_set() {
        while syncs.join_next().await.is_some() {}
    }
    syncs.abort_all();
    let (writes, bytes) = crate::telemetry::state_totals();
    tracing::info!(
        state_writes = writes,
        state_written_bytes = bytes,
        "state: {writes} checkpoint writes, {bytes} bytes written to the store"
    );
    if output_closed {
        tracing::info!("stdout was closed by the host; exiting without checkpointing past the last written page");
        return RunOutcome::OutputClosed;
    }
    match failures.len() {
        0 => RunOutcome::Completed,
        1 => RunOutcome::Failed(failures.remove(0)),
        n => RunOutcome::Failed(format!("{n} streams failed; {}", failures.join("; "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 30 tenants of one app (122 per 10 s) and 2 of another, over three shards.
    fn fleet() -> Config {
        let mut text = String::from(
            "[[apps]]\nname = \"big\"\nclient_id = \"11111111-1111-4111-8111-111111111111\"\nclient_secret_env = \"S\"\n\n[streams.directory_audits]\n",
        );
        for i in 0..32 {
            let app = if i < 30 {
                "app = \"big\"".to_string()
            } else {
                "client_id = \"22222222-2222-4222-8222-222222222222\"\nclient_secret_env = \"T\""
                    .to_string()
            };
            text.push_str(&format!(
                "[[tenants]]\nid = \"{i:08x}-0000-4000-8000-000000000000\"\n{app}\n"
            ));
        }
        let path = std::path::Path::new("/etc/entra-source/fleet.toml");
        Config::validate(
            path,
            crate::config::parse_raw(path, &text).unwrap(),
            &|_| None,
        )
        .unwrap()
    }

    #[test]
    fn each_shard_paces_an_apps_tenants_at_their_share_of_the_whole_fleet() {
        let whole = app_budgets(&fleet());
        assert_eq!(whole["big"].1.reports_per_10s, 4, "122 / 30");
        assert_eq!(
            whole["22222222-2222-4222-8222-222222222222"]
                .1
                .reports_per_10s,
            5
        );
        let mut total = 0;
        for index in 0..3 {
            let shard = crate::shard::Shard::new(index, 3).unwrap();
            let mut config = fleet();
            config.tenants.retain(|t| shard.owns(&t.id));
            let here = config
                .tenants
                .iter()
                .filter(|t| t.app.name == "big")
                .count();
            let budgets = app_budgets(&config);
            if here > 0 {
                // Not 122 / here: every shard of the app together stays under 122.
                assert_eq!(budgets["big"].1.reports_per_10s, 4, "shard {index}");
            }
            total += here * 4;
        }
        assert!(total <= 122, "{total}");
    }
}
