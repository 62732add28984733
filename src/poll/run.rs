//! The loop that serves both `run` (a poll every interval until a stop) and `run --once` (one
//! catch-up pass): what it does after each poll, and how long it waits.

use std::time::Duration;

use super::{log_poll, PollError, StreamPoller};

/// How a stream is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `run --once`: one catch-up pass; any failure but a stop is returned.
    Once,
    /// `run`: every interval until a stop or a failure no later poll can mend.
    Every(Duration),
}

impl StreamPoller {
    /// Polls in `mode` until done or stopped. A transient failure (or a licence 403 on a stream
    /// that worked before: Graph answers it intermittently) is retried at the next interval in
    /// `run`; with `--once` every failure but a stop is returned.
    pub async fn run(&self, mode: Mode) -> Result<(), PollError> {
        let mut failures = 0u32;
        loop {
            let started = std::time::Instant::now();
            let mut pause = None;
            match self.poll_recorded().await {
                Ok(stats) => {
                    failures = 0;
                    log_poll(self, &stats);
                    if !stats.interrupted {
                        pause = self.assess_budget(&stats);
                    }
                    if stats.interrupted || mode == Mode::Once {
                        return Ok(());
                    }
                }
                Err(e) if e.is_shutdown() => return Ok(()),
                Err(e) if mode == Mode::Once => return Err(e),
                Err(e) if e.is_transient() || self.intermittent_licence_error(&e).await => {
                    failures += 1;
                    tracing::warn!(
                        tenant = %self.tenant_id(),
                        entra_stream = self.name(),
                        sign_in_type = self.spec.sign_in_type(),
                        consecutive_failures = failures,
                        "poll failed, retrying at the next interval: {}",
                        self.explain(&e)
                    );
                }
                Err(e) => return Err(e),
            }
            let Mode::Every(interval) = mode else {
                return Ok(());
            };
            // A settle-only stream near its budget polls less often, so that each poll reads
            // many full pages: the last page of each query is partial, and a poll of a few
            // pages would waste up to a third of the budget on them.
            // Otherwise polls start an interval apart, not an interval after the last one
            // ended, so that a slice's reads keep their ages (a sweep read late is a record
            // delivered late); a failed poll waits the whole interval.
            let wait = match pause {
                Some(period) => interval.max(period.saturating_sub(started.elapsed())),
                None if failures == 0 => interval.saturating_sub(started.elapsed()),
                None => interval,
            };
            if !self.shutdown.sleep(wait).await {
                return Ok(());
            }
        }
    }
}
