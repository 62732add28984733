//! What every poller of a run shares.

use std::sync::Arc;

use tokio::sync::Mutex;

use super::claim;
use crate::output::Output;
use crate::shutdown::Shutdown;
use crate::state::{Checkpoints, StateStore};

/// What every poller of a run shares: the checkpoint store's door, the output, the stop.
#[derive(Clone)]
pub struct Shared {
    pub checkpoints: Checkpoints,
    pub output: Arc<Mutex<Output>>,
    pub shutdown: Shutdown,
    /// Which entry polls each tenant GUID.
    pub claims: claim::Claims,
}

impl Shared {
    /// Starts the checkpointer task for `state`.
    pub fn new(state: StateStore, output: Output, shutdown: Shutdown) -> Shared {
        Shared {
            checkpoints: Checkpoints::new(state),
            output: Arc::new(Mutex::new(output)),
            shutdown,
            claims: claim::Claims::default(),
        }
    }
}
