//! The one door to the checkpoint store. A run holds one [`Checkpoints`] (the store and its
//! checkpointer task); each stream gets a [`StreamCheckpoint`] for its own section: `read` it,
//! `stage` a change for lines already written, `commit` (returns once a version holding the
//! change is durable). Nothing else in the poll loop touches the store, so the promise "only
//! lines already written are checkpointed" is this handle's API, not a convention at a dozen
//! lock sites.

use std::sync::Arc;

use tokio::sync::Mutex;

use super::checkpointer::Checkpointer;
use super::{StateError, StateStore, StreamState};
use crate::tenant::TenantId;

/// The store and its checkpointer, shared by every stream of a run (cheap to clone).
#[derive(Clone)]
pub struct Checkpoints {
    store: Arc<Mutex<StateStore>>,
    checkpointer: Checkpointer,
}

impl Checkpoints {
    /// Takes the store and starts its checkpointer task.
    pub fn new(store: StateStore) -> Checkpoints {
        let store = Arc::new(Mutex::new(store));
        Checkpoints {
            checkpointer: Checkpointer::spawn(store.clone()),
            store,
        }
    }

    /// The door of one stream's section (`sign_ins.nonInteractiveUser`, …) of `tenant`.
    pub fn stream(&self, tenant: Arc<TenantId>, section: String) -> StreamCheckpoint {
        StreamCheckpoint {
            door: self.clone(),
            tenant,
            section,
        }
    }
}

/// One stream's section of the store.
pub struct StreamCheckpoint {
    door: Checkpoints,
    /// Its tenant: the section is kept under the GUID once it is known.
    tenant: Arc<TenantId>,
    section: String,
}

impl StreamCheckpoint {
    /// Reads the section (`None` before its first checkpoint).
    pub async fn read<T>(&self, f: impl FnOnce(Option<&StreamState>) -> T) -> T {
        let st = self.door.store.lock().await;
        f(st.stream(self.tenant.key(), &self.section))
    }

    /// Changes the section in memory, for what is already written (or for the stream's own
    /// bookkeeping: health, learned sweeps); durable at the next [`Self::commit`].
    pub async fn stage<T>(&self, f: impl FnOnce(&mut StreamState) -> T) -> T {
        let mut st = self.door.store.lock().await;
        f(st.stream_mut(self.tenant.key(), &self.section))
    }

    /// Returns once a version of the store holding every change staged before is durable.
    pub async fn commit(&self) -> Result<(), StateError> {
        self.door.checkpointer.checkpoint().await
    }

    /// The whole store, for what concerns the tenant rather than the stream (which entry
    /// polls a GUID, sections kept under a domain moved to the GUID).
    pub async fn tenant<T>(&self, f: impl FnOnce(&mut StateStore) -> T) -> T {
        f(&mut *self.door.store.lock().await)
    }
}
