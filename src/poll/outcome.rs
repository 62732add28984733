//! What a poll's result means: the stream's health in the state file and `/health`, what its
//! budget sustains, the sweeps it learns, and the one line that says what failed and how to fix
//! it.

use std::time::Duration;

use chrono::Utc;

use super::{PollError, PollStats, StreamPoller};
use crate::graph::{ForbiddenKind, GraphError};
use crate::state::Health;

impl StreamPoller {
    /// [`Self::poll_once`], then the stream's health in the state file: `ok`, or `degraded`
    /// / `error` with the failure and its fix.
    pub async fn poll_recorded(&self) -> Result<PollStats, PollError> {
        let r = self.poll_once().await;
        let health = match &r {
            Ok(_) => Some(Health::Ok),
            Err(e) if e.is_shutdown() => None,
            Err(PollError::Output(_) | PollError::State(_)) => None,
            Err(e) if e.is_transient() || self.intermittent_licence_error(e).await => {
                Some(Health::Degraded)
            }
            Err(_) => Some(Health::Error),
        };
        let Some(health) = health else {
            return r;
        };
        let error = r.as_ref().err().map(|e| self.explain(e));
        crate::telemetry::PollDone {
            tenant: self.tenant_id(),
            section: &self.key(),
            health,
            cursor: r.as_ref().ok().and_then(|s| s.cursor),
            error: error.clone(),
        }
        .emit();
        // A tenant whose GUID is still unknown (its token was refused) has no section to
        // record in: the state file is keyed by GUID only.
        if !self.tenant.is_resolved() {
            return r;
        }
        // The change goes into the pipeline before the state records it: a crash between the
        // two repeats the event rather than losing it.
        let previous = self.stream_state(|s| s.and_then(|s| s.health)).await;
        let failure = r.as_ref().err().zip(error.as_deref());
        if let Err(e) = self.health_changed(previous, health, failure).await {
            return if r.is_ok() { Err(e) } else { r };
        }
        let changed = self
            .checkpoint
            .stage(|s| {
                // A healthy stream that stays healthy: the poll's own checkpoint already holds it.
                if error.is_none() && s.health == Some(health) && s.consecutive_failures == 0 {
                    return false;
                }
                s.health = Some(health);
                match error {
                    None => s.consecutive_failures = 0,
                    Some(error) => {
                        s.consecutive_failures = s.consecutive_failures.saturating_add(1);
                        s.last_error = Some(error);
                        s.last_error_at = Some(Utc::now());
                    }
                }
                true
            })
            .await;
        if !changed {
            return r;
        }
        // A failure is recorded even when the write fails; the poll's own error wins.
        let saved = self.checkpoint.commit().await;
        if let (Ok(_), Err(e)) = (&r, saved) {
            return Err(e.into());
        }
        r
    }

    pub(super) async fn intermittent_licence_error(&self, e: &PollError) -> bool {
        matches!(
            e,
            PollError::Graph(GraphError::Forbidden {
                kind: ForbiddenKind::Licence,
                ..
            })
        ) && self
            .stream_state(|s| s.and_then(|s| s.last_success).is_some())
            .await
    }

    /// One line saying what failed and how to fix it.
    pub fn explain(&self, e: &PollError) -> String {
        let kind = self.spec.kind();
        let name = kind.name();
        match e {
            PollError::Graph(GraphError::Forbidden {
                kind: ForbiddenKind::Licence,
                body,
                ..
            }) => format!(
                "stream {name} is disabled for this run: the tenant lacks the licence it needs ({}); Graph answered 403 {}. Assign that licence, or set enabled = false in [streams.{name}]",
                kind.licence().unwrap_or("a premium licence"),
                body.describe()
            ),
            PollError::Graph(GraphError::Forbidden {
                kind: ForbiddenKind::Permission,
                body,
                ..
            }) => format!(
                "stream {name} is disabled for this run: the app lacks the Microsoft Graph application permission {} or its admin consent; Graph answered 403 {}. Add it under App registrations > API permissions > Microsoft Graph > Application permissions, then Grant admin consent",
                kind.permission(),
                body.describe()
            ),
            PollError::Graph(GraphError::Forbidden {
                kind: ForbiddenKind::ConditionalAccess,
                body,
                ..
            }) => format!(
                "stream {name} is disabled for this run: conditional access blocks the app ({}); exclude the app's service principal from the policy",
                body.describe()
            ),
            other => format!("stream {name}: {other}"),
        }
    }
}

impl StreamPoller {
    /// Measures the poll's arrival rate against the stream's budget: a metric always, and a
    /// warning (at most every 10 minutes) with the rates and the setting that helps when
    /// records arrive faster than the budget sustains.
    ///
    /// Returns the poll period a stream near its budget should keep (see [`Self::run`]).
    pub(super) fn assess_budget(&self, stats: &PollStats) -> Option<Duration> {
        let budget = self.budget(stats.sweeps);
        let requests_per_second = budget.requests_per_second;
        let streams = budget.streams;
        let v = super::budget::assess(stats.emitted, stats.covered_seconds, &budget)?;
        let pause = super::budget::pacing(&v, &budget);
        crate::telemetry::BudgetAssessed {
            tenant: self.tenant_id(),
            section: &self.key(),
            arriving: v.arriving,
            sustainable: v.sustainable,
            behind: v.behind,
        }
        .emit();
        if !v.behind {
            return pause;
        }
        let mut warned = self.budget_warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.is_some_and(|w| w.elapsed() < Duration::from_secs(600)) {
            return pause;
        }
        *warned = Some(std::time::Instant::now());
        tracing::warn!(
            tenant = %self.tenant_id(),
            entra_stream = self.name(),
            sign_in_type = self.spec.sign_in_type(),
            arriving_per_second = v.arriving.round() as u64,
            sustainable_per_second = v.sustainable.round() as u64,
            reads_per_record = budget.reads_per_record(),
            "records arrive at about {:.0}/s, but this stream's share of the tenant's Graph budget ({:.2} requests/s over {} streams, {} records a page, {} reads a record) sustains about {:.0}/s: it will fall behind and records past Graph's retention are lost. To keep up, {}",
            v.arriving,
            requests_per_second,
            streams,
            budget.page,
            budget.reads_per_record(),
            v.sustainable,
            super::budget::advice(&budget)
        );
        pause
    }
}

impl StreamPoller {
    /// The stream's share of its tenant's budget with `sweeps` sweeps.
    fn budget(&self, sweeps: u32) -> super::budget::Budget {
        let (requests_per_second, streams) = self.client.budget(self.spec.family());
        super::budget::Budget {
            requests_per_second,
            page: self.spec.max_top(),
            // A poll that planned no sweep (a snapshot, a delta round): the configured ages.
            sweeps: if sweeps == 0 {
                self.settings.sweeps.len() as u32
            } else {
                sweeps
            },
            settle_only: self.settings.settle_only,
            streams,
        }
    }

    /// What the stream's share of the budget allows after `stats`' poll, with `configured` ages.
    pub(super) fn room(&self, stats: &PollStats, configured: usize) -> super::ladder::Room {
        let budget = self.budget(stats.sweeps);
        let with = |sweeps: usize| super::budget::Budget {
            sweeps: sweeps as u32,
            ..budget
        };
        match super::budget::assess(stats.emitted, stats.covered_seconds, &budget) {
            Some(v) => super::ladder::Room {
                fits: (1..=super::ladder::MAX_RUNGS)
                    .take_while(|k| {
                        v.arriving <= 0.5 * with(stats.sweeps as usize + *k as usize).sustainable()
                    })
                    .count() as u32,
                shed: v.arriving > 0.5 * budget.sustainable(),
                restore: v.arriving <= 0.5 * with(configured).sustainable(),
            },
            None => super::ladder::Room {
                fits: super::ladder::MAX_RUNGS,
                shed: false,
                restore: true,
            },
        }
    }

    /// Adds the poll's evidence to the learned sweeps ([`super::ladder`]) and says when they
    /// change.
    pub(super) async fn learn_delays(&self, stats: &PollStats) {
        let (configured, Some(step)) = super::ladder::configured(&self.settings) else {
            return;
        };
        let max = super::ladder::max_rungs(&configured, Some(step));
        if max == 0 && configured.len() < 2 {
            return;
        }
        let room = self.room(stats, configured.len());
        let learned = self
            .checkpoint
            .stage(|s| {
                let change =
                    super::ladder::learn(&mut s.ladder, &stats.found, room, max, configured.len())?;
                Some((
                    change,
                    super::ladder::ages(&configured, Some(step), &s.ladder),
                ))
            })
            .await;
        let Some((change, ages)) = learned else {
            return;
        };
        crate::telemetry::SweepsLearned {
            tenant: self.tenant_id(),
            section: &self.key(),
            change,
            ages: &ages,
        }
        .emit();
    }
}

pub fn log_poll(p: &StreamPoller, stats: &PollStats) {
    if stats.interrupted {
        // Cut short by a stop: the checkpoint holds what was written; no lag to speak of.
        tracing::info!(
            tenant = %p.tenant_id(),
            entra_stream = p.name(),
            sign_in_type = p.spec.sign_in_type(),
            pages = stats.pages,
            emitted = stats.emitted,
            "poll stopped by shutdown; the next run resumes from the last checkpointed page"
        );
        return;
    }
    let now = stats.now.unwrap_or_else(Utc::now);
    let lag = stats.cursor.map(|c| (now - c).num_seconds().max(0));
    tracing::info!(
        tenant = %p.tenant_id(),
        entra_stream = p.name(),
        sign_in_type = p.spec.sign_in_type(),
        pages = stats.pages,
        emitted = stats.emitted,
        duplicates_dropped = stats.duplicates,
        lag_seconds = lag,
        "poll complete"
    );
}
