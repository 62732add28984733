//! What every poller of a run shares.

use std::sync::Arc;

use tokio::sync::Mutex;

use super::claim;
use crate::output::Output;
use crate::shutdown::Shutdown;
use crate::state::StateStore;

/// What every poller of a run shares: the state and its checkpointer, the output, the stop.
#[derive(Clone)]
pub struct Shared {
    pub state: Arc<Mutex<StateStore>>,
    pub checkpointer: crate::checkpointer::Checkpointer,
    pub output: Arc<Mutex<Output>>,
    pub shutdown: Shutdown,
    /// Which entry polls each tenant GUID.
    pub claims: claim::Claims,
}

impl Shared {
    /// Starts the checkpointer task for `state`.
    pub fn new(state: StateStore, output: Output, shutdown: Shutdown) -> Shared {
        let state = Arc::new(Mutex::new(state));
        Shared {
            checkpointer: crate::checkpointer::Checkpointer::spawn(state.clone()),
            state,
            output: Arc::new(Mutex::new(output)),
            shutdown,
            claims: claim::Claims::default(),
        }
    }
}
