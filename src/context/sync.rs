//! Keeps a tenant's directory cache in step with Graph: one delta round per collection (users,
//! devices, service principals, directory roles and their members) every `[context] refresh`,
//! on the directory budget of its own (`[throttle] directory_requests_per_second`), so log
//! collection never waits behind a big sync. The first round (and any after Graph's 410) lists
//! every object (`Prefer: odata.maxpagesize=999`); later ones only the changes. Each page is
//! stored as it arrives, and the round's delta link with its last page, in one transaction. A
//! collection whose permission the app lacks is skipped for the run, with one line naming it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::Url;

use super::{Collection, ContextCache, ContextError};
use crate::graph::{ForbiddenKind, GraphClient, GraphError, Pager, Step};
use crate::kind::Family;
use crate::shutdown::Shutdown;

pub struct ContextSync {
    pub cache: Arc<ContextCache>,
    pub client: Arc<GraphClient>,
    pub tenant: String,
    pub shutdown: Shutdown,
    pub refresh: Duration,
    /// Collections the app may not read (403): skipped for the run.
    denied: Mutex<HashSet<&'static str>>,
}

#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Cache(#[from] ContextError),
}

impl ContextSync {
    pub fn new(
        cache: Arc<ContextCache>,
        client: Arc<GraphClient>,
        tenant: String,
        shutdown: Shutdown,
        refresh: Duration,
    ) -> ContextSync {
        ContextSync {
            cache,
            client,
            tenant,
            shutdown,
            refresh,
            denied: Mutex::default(),
        }
    }

    /// Rounds every `refresh` until stopped; with `once`, one round.
    pub async fn run(self, once: bool) {
        loop {
            self.round().await;
            if once || !self.shutdown.sleep(self.refresh).await {
                return;
            }
        }
    }

    /// One delta round of every collection the app may read.
    pub async fn round(&self) {
        for c in Collection::ALL {
            if self.shutdown.is_set() {
                return;
            }
            if self
                .denied
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(c.name())
            {
                continue;
            }
            match self.collection(c).await {
                Ok(()) => {}
                Err(SyncError::Graph(GraphError::Forbidden { kind, .. }))
                    if kind != ForbiddenKind::Licence =>
                {
                    tracing::warn!(
                        tenant = %self.tenant,
                        "context: the app cannot read {} (Graph answered 403): events go without that context; grant the application permission {} (or Directory.Read.All) with admin consent, or set [context] enabled = false",
                        c.name(),
                        c.permission()
                    );
                    self.denied
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(c.name());
                }
                Err(SyncError::Graph(GraphError::Shutdown)) => return,
                Err(e) => tracing::warn!(
                    tenant = %self.tenant,
                    "context: reading {} failed: {e}; events go without the context it would add until the next round",
                    c.name()
                ),
            }
        }
    }

    fn baseline(&self, c: Collection) -> Url {
        self.client.url(
            "v1.0",
            &format!("/{}/delta", c.name()),
            &[("$select".to_string(), c.select().to_string())],
        )
    }

    async fn collection(&self, c: Collection) -> Result<(), SyncError> {
        let saved = self.cache.link(c)?;
        let mut reset = true;
        let mut url = self.baseline(c);
        if let Some(link) = saved
            .as_deref()
            .and_then(|l| self.client.check_next_link(l).ok())
        {
            url = link;
            reset = false;
        }
        let mut pager = Pager::new(&self.client, Family::Directory, url).delta(self.baseline(c));
        while let Some(step) = pager.next().await? {
            match step {
                Step::Page { records, delta, .. } => {
                    // The round's delta link is stored with its last page, in one transaction.
                    self.cache
                        .apply(c, &records, reset, delta.as_ref().map(Url::as_str))?;
                    reset = false;
                }
                Step::Resynced => {
                    tracing::info!(
                        tenant = %self.tenant,
                        "context: Graph no longer has the delta state of {} (410); reading it whole again",
                        c.name()
                    );
                    reset = true;
                }
                // A stop: the cache keeps the previous round's link.
                Step::Stopped => return Ok(()),
                Step::LinkRefused(_) => {}
            }
        }
        Ok(())
    }
}
