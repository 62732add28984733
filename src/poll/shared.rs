//! What every poller of a run shares.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;

use super::claim;
use crate::output::Output;
use crate::shutdown::Shutdown;
use crate::state::{Checkpoints, StateStore};

/// The gate of each (tenant as configured, section).
type Gates = HashMap<(String, String), Arc<Mutex<()>>>;

/// What every poller of a run shares: the checkpoint store's door, the output, the stop.
#[derive(Clone)]
pub struct Shared {
    pub checkpoints: Checkpoints,
    pub output: Arc<Mutex<Output>>,
    pub shutdown: Shutdown,
    /// Which entry polls each tenant GUID.
    pub claims: claim::Claims,
    /// One gate per tenant and section, shared by its Graph poller and the Event Hubs
    /// partitions feeding it.
    gates: Arc<std::sync::Mutex<Gates>>,
}

impl Shared {
    /// Starts the checkpointer task for `state`.
    pub fn new(state: StateStore, output: Output, shutdown: Shutdown) -> Shared {
        Shared {
            checkpoints: Checkpoints::new(state),
            output: Arc::new(Mutex::new(output)),
            shutdown,
            claims: claim::Claims::default(),
            gates: Default::default(),
        }
    }

    /// The gate of `section` of `tenant` (as the config names it).
    pub fn gate(&self, tenant: &str, section: &str) -> Arc<Mutex<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates
            .entry((tenant.to_string(), section.to_string()))
            .or_default()
            .clone()
    }
}
