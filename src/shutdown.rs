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

/// How often the host watch looks at stdout and the parent.
const HOST_WATCH_EVERY_MS: i32 = 200;

/// The child goes when its host goes. When stdout is a pipe or a socket (a host such as
/// Vector's or Fluent Bit's `exec` reads it), sets the flag as soon as the reading end closes
/// (the host died: `POLLERR`/`POLLHUP` on fd 1) or the parent process exits (we were reparented),
/// even while every stream waits on Graph's budget and writes nothing: the run stops without
/// checkpointing past the last written page and releases the state lock, instead of holding it
/// until its next write fails. With stdout on a file or a terminal (a supervisor, a shell)
/// nothing is watched.
pub fn watch_host(trigger: ShutdownTrigger) {
    #[cfg(unix)]
    {
        // SAFETY: fstat fills the zeroed struct it is given; fd 1 is only read.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(1, &mut st) } != 0 {
            return;
        }
        let kind = st.st_mode & libc::S_IFMT;
        if kind != libc::S_IFIFO && kind != libc::S_IFSOCK {
            return;
        }
        // SAFETY: getppid has no preconditions.
        let parent = unsafe { libc::getppid() };
        let spawned = std::thread::Builder::new()
            .name("host-watch".into())
            .spawn(move || loop {
                let mut fd = libc::pollfd {
                    fd: 1,
                    events: 0,
                    revents: 0,
                };
                // SAFETY: one valid pollfd; POLLERR/POLLHUP are reported even with events 0.
                let n = unsafe { libc::poll(&mut fd, 1, HOST_WATCH_EVERY_MS) };
                let hung_up = n > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0;
                // SAFETY: as above.
                let orphaned = parent > 1 && unsafe { libc::getppid() } != parent;
                if hung_up || orphaned {
                    // First: the log line below may go nowhere (stderr died with the host).
                    trigger.trigger();
                    tracing::warn!(
                        stdout_closed = hung_up,
                        parent_exited = orphaned,
                        "the host is gone ({}): stopping without checkpointing past the last written page",
                        if hung_up {
                            "stdout was closed"
                        } else {
                            "the parent process exited"
                        }
                    );
                    return;
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot watch the host ({e}); a dead host is noticed at the next write");
        }
    }
}

/// `run --once --max-duration`: sets the flag after `limit` unless the run ended before. The
/// streams then finish the page in flight, checkpoint it and the run exits 0; the next run goes
/// on from there.
pub fn stop_after(limit: std::time::Duration, trigger: ShutdownTrigger, shutdown: Shutdown) {
    tokio::spawn(async move {
        if shutdown.sleep(limit).await {
            tracing::info!(
                max_duration = %crate::duration::format_duration(limit),
                "--max-duration reached with more to do: finishing the page in flight and checkpointing; the next run goes on from there"
            );
            trigger.trigger();
        }
    });
}
