//! A cloneable "stop now" flag: set by SIGTERM/SIGINT (or a closed stdout), awaited by every
//! wait and request so that none of them delays the exit.

use tokio::sync::watch;

#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The side that sets the flag.
#[derive(Clone)]
pub struct ShutdownTrigger {
    tx: std::sync::Arc<watch::Sender<bool>>,
}

pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (
        ShutdownTrigger {
            tx: std::sync::Arc::new(tx),
        },
        Shutdown { rx },
    )
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }
}

impl Shutdown {
    pub fn is_set(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once the flag is set.
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Sleeps for `d`, or less if the flag is set meanwhile. Returns false when interrupted.
    pub async fn sleep(&self, d: std::time::Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.wait() => false,
        }
    }
}

/// Sets the flag on SIGTERM or SIGINT.
pub fn install_signal_handlers(trigger: ShutdownTrigger) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                tracing::warn!("cannot install signal handlers; SIGTERM will end the run without a final checkpoint");
                return;
            };
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received: finishing the current page, then exiting"),
                _ = int.recv() => tracing::info!("SIGINT received: finishing the current page, then exiting"),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        trigger.trigger();
    });
}
