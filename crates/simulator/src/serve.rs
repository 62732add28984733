//! `entra-source simulate`: the simulator on its own, until a stop, and what it (and `demo`)
//! serve.

use std::net::SocketAddr;

use crate::{Appearance, Resource, Simulator, Spread, CLIENT_ID, CLIENT_SECRET, TENANT_ID};

/// `entra-source simulate`: serves until SIGINT/SIGTERM and prints how to point a config at it.
/// `appearance`: when Graph shows each record (Microsoft's delays by default).
pub async fn serve_forever(
    listen: SocketAddr,
    events: u32,
    rate: u32,
    appearance: Appearance,
) -> u8 {
    let sim = match Simulator::start_on(listen).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(
                "cannot start the simulator on {listen}: {e}; choose another --listen address"
            );
            return 1;
        }
    };
    sim.set_appearance(appearance);
    // A directory first, so that the records are by its users, devices and service principals.
    sim.directory_seed(50, 20);
    sim.populate(u64::from(events), chrono::Duration::hours(1), rate);
    tracing::info!(
        "Graph simulator on {base}: point a config at it with\n[tenant]\nid = \"{TENANT_ID}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_env = \"ENTRA_CLIENT_SECRET\"   # export ENTRA_CLIENT_SECRET='{CLIENT_SECRET}'\nlogin_url = \"{base}\"\ngraph_url = \"{base}\"\nControls: GET {base}/_sim/requests, POST {base}/_sim/records?resource=directory_audits|sign_ins|users|devices|role_assignments&count=N[&hidden=1|&same_second=1], POST {base}/_sim/reveal, POST {base}/_sim/delays?profile=microsoft|slow_sign_ins|none[&scale=N], POST {base}/_sim/clock?advance_seconds=N, POST {base}/_sim/faults?kind=429|503|504|malformed|token_expired[&every=N|&count=N][&retry_after=S]",
        base = sim.base_url()
    );
    // Until SIGINT or SIGTERM.
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    0
}

impl Simulator {
    /// What `demo` and `simulate` serve: `events` records of every resource spread over the
    /// last `span`, then `per_second` new ones a second (none for 0).
    pub fn populate(&self, events: u64, span: chrono::Duration, per_second: u32) {
        let now = chrono::Utc::now();
        let spread = Spread::Between(now - span, now - chrono::Duration::seconds(5));
        for r in Resource::all() {
            if *r == Resource::SignIns {
                // Every sign-in event type, so that beta's per-type cursors have something.
                for t in crate::graph::SIGN_IN_EVENT_TYPES {
                    let overlay = serde_json::json!({ "signInEventTypes": [t] });
                    self.generate_with(*r, events, spread, overlay.clone(), true);
                    if per_second > 0 {
                        self.spawn_producer_with(*r, per_second, overlay);
                    }
                }
                continue;
            }
            self.generate(*r, events, spread);
            if per_second > 0 {
                self.spawn_producer(*r, per_second);
            }
        }
    }
}
