//! One checkpointer task for every stream of every tenant: a poller that has written a page
//! asks for a checkpoint and waits; the task serializes the state once for everyone waiting
//! (under the state lock), then writes and fsyncs it off the async worker threads
//! (`spawn_blocking`), and answers them all. Requests that arrive while a write is under way
//! share the next one, so concurrent streams cost one fsync, not one each.
//!
//! The promise is unchanged: a poller mutates the state only for lines already written and
//! flushed, so any version the task writes covers only written lines, and a poller's
//! `checkpoint().await` returns once a version holding its own changes is durable.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use super::{StateError, StateStore};

type Reply = oneshot::Sender<Result<(), StateError>>;

/// A handle to the checkpointer task (cheap to clone).
#[derive(Clone)]
pub struct Checkpointer {
    tx: mpsc::UnboundedSender<Reply>,
    /// Writes made so far (each answers every request waiting for it): what the test of
    /// shared writes counts.
    #[cfg_attr(not(test), allow(dead_code))]
    writes: Arc<std::sync::atomic::AtomicU64>,
}

impl Checkpointer {
    /// Starts the task for `store`; it ends when every handle is dropped.
    pub fn spawn(store: Arc<Mutex<StateStore>>) -> Checkpointer {
        let (tx, mut rx) = mpsc::unbounded_channel::<Reply>();
        let writes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = writes.clone();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut waiting = vec![first];
                while let Ok(more) = rx.try_recv() {
                    waiting.push(more);
                }
                let prepared = store.lock().await.prepare();
                let result = match prepared {
                    Ok(pending) => tokio::task::spawn_blocking(move || pending.write())
                        .await
                        .unwrap_or_else(|e| {
                            Err(StateError::Io {
                                action: "write",
                                path: std::path::PathBuf::from("(state file)"),
                                source: std::io::Error::other(e.to_string()),
                            })
                        }),
                    Err(e) => Err(e),
                };
                if result.is_err() {
                    store.lock().await.write_failed();
                }
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                for w in waiting {
                    let _ = w.send(match &result {
                        Ok(()) => Ok(()),
                        Err(e) => Err(e.duplicate()),
                    });
                }
            }
        });
        Checkpointer { tx, writes }
    }

    /// Writes made so far.
    #[cfg(test)]
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Returns once a version of the state holding every change made before this call is
    /// durable on disk.
    pub async fn checkpoint(&self) -> Result<(), StateError> {
        let answer = self.request()?;
        answer.await.map_err(|_| gone())?
    }

    /// Queues a checkpoint now; the answer comes once it is durable.
    pub fn request(&self) -> Result<oneshot::Receiver<Result<(), StateError>>, StateError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(reply).map_err(|_| gone())?;
        Ok(answer)
    }
}

fn gone() -> StateError {
    StateError::Io {
        action: "write",
        path: std::path::PathBuf::from("(state file)"),
        source: std::io::Error::other("the checkpointer task has stopped"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests that wait while the state is busy share one write, and each answer comes
    /// only once a version holding its change is on disk.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_checkpoints_share_one_write_and_each_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = Arc::new(Mutex::new(StateStore::open(&path).unwrap()));
        let cp = Checkpointer::spawn(store.clone());
        // While a poller holds the state, fifty others change it and ask for checkpoints.
        let answers = {
            let mut st = store.lock().await;
            (0..50)
                .map(|i| {
                    st.stream_mut("t", &format!("s{i}")).consecutive_failures = 1;
                    cp.request().unwrap()
                })
                .collect::<Vec<_>>()
        };
        for a in answers {
            a.await.unwrap().unwrap();
        }
        // The first request's write, then one for everyone who queued behind it.
        assert!(
            cp.writes() <= 2,
            "{} writes for 50 checkpoints",
            cp.writes()
        );
        let back = StateStore::read_only(&path).unwrap();
        assert_eq!(back.data().tenants["t"].streams.len(), 50);
    }
}
