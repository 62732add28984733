//! Collection health as events in the pipeline (`event.type = "connector_health"`): one event
//! when a stream's health changes (ok, degraded, error and back) and one per range Graph dropped
//! before a poll could read it, written through the run's own output so that the SIEM sees a
//! collection gap when it opens. The state file keeps the health and the gaps (`state show`).

use chrono::{DateTime, Utc};

use super::{PollError, StreamPoller};
use crate::event::health::HealthChange;
use crate::graph::{ForbiddenKind, GraphError};
use crate::kind::StreamKind;
use crate::state::{Gap, Health};

/// Whether a move from `previous` to `now` is news: any change, and a stream whose first poll
/// already fails; a stream's first good poll is not.
pub(super) fn is_news(previous: Option<Health>, now: Health) -> bool {
    match previous {
        None => now != Health::Ok,
        Some(p) => p != now,
    }
}

/// What to do about a failure: the part of [`StreamPoller::explain`] a SIEM shows as the fix.
pub(super) fn fix(kind: StreamKind, e: &PollError) -> String {
    match e {
        PollError::Graph(GraphError::Forbidden { kind: f, .. }) => match f {
            ForbiddenKind::Licence => format!(
                "assign the tenant the licence {} (or set enabled = false in [streams.{}])",
                kind.licence().unwrap_or("the stream needs"),
                kind.name()
            ),
            ForbiddenKind::Permission => format!(
                "grant the app the Microsoft Graph application permission {} and admin consent (App registrations > API permissions > Grant admin consent)",
                kind.permission()
            ),
            ForbiddenKind::ConditionalAccess => {
                "exclude the app's service principal from the conditional access policy".into()
            }
            ForbiddenKind::Other => format!(
                "check the app's permission {} and the tenant's licence",
                kind.permission()
            ),
        },
        PollError::Graph(GraphError::Auth(_)) => {
            "check the app's credential and its admin consent (`entra-source check` names what the token endpoint refused)".into()
        }
        PollError::Graph(g) if g.is_transient() => {
            "none needed: the stream retries at every interval; if it lasts, check Microsoft's service health".into()
        }
        _ => "run `entra-source check` and follow what it says".into(),
    }
}

impl StreamPoller {
    /// The change of a stream's health (or a gap) as it goes into the pipeline.
    pub(super) fn change(&self, previous: Option<Health>, state: &'static str) -> HealthChange<'_> {
        HealthChange {
            tenant: self.tenant_id(),
            stream: self.spec.kind().name(),
            sign_in_type: self.spec.sign_in_type(),
            previous: previous.map(Health::as_str),
            state,
            reason: String::new(),
            fix: String::new(),
            gap: None,
            late: None,
            account: None,
            audit: None,
            at: Utc::now(),
        }
    }

    /// Writes one `connector_health` event through the run's output (a line, a record of the
    /// OTLP export), in the configured format.
    async fn write_health(&self, c: &HealthChange<'_>) -> Result<(), PollError> {
        let e = crate::event::health::event(c, Utc::now());
        let mut output = self.output.lock().await;
        let mut page = output.page();
        page.push_value(&e)?;
        output.write_encoded(page).await?;
        tracing::info!(
            tenant = %self.tenant_id(),
            entra_stream = self.name(),
            sign_in_type = self.spec.sign_in_type(),
            health_state = c.state,
            "connector health event written: {}",
            e["event"]["action"].as_str().unwrap_or_default()
        );
        Ok(())
    }

    /// The event of a health change, when it is news ([`is_news`]).
    pub(super) async fn health_changed(
        &self,
        previous: Option<Health>,
        now: Health,
        failure: Option<(&PollError, &str)>,
    ) -> Result<(), PollError> {
        if !is_news(previous, now) {
            return Ok(());
        }
        let mut c = self.change(previous, now.as_str());
        match failure {
            Some((e, explained)) => {
                c.reason = explained.to_string();
                c.fix = fix(self.spec.kind(), e);
            }
            None => c.reason = "polls succeed again; collection resumed where it stopped".into(),
        }
        self.write_health(&c).await
    }

    /// A range Graph dropped before a poll reached it (a checkpoint older than Graph's
    /// retention): recorded in the state file and written as a `gap` event.
    pub(super) async fn collection_gap(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(), PollError> {
        let reason = format!(
            "records from {} to {} were never read: Graph keeps {} records {} days, and the stream's checkpoint was older",
            crate::event::graph_time(from),
            crate::event::graph_time(to),
            self.spec.kind().name(),
            self.spec
                .kind()
                .retention()
                .map_or(0, |r| r.num_days())
        );
        let previous = self.stream_state(|s| s.and_then(|s| s.health)).await;
        let mut c = self.change(previous, "gap");
        c.reason = reason.clone();
        c.fix = "poll at least once within Graph's retention (keep the stream enabled and running); the gap cannot be read back from Graph".into();
        c.gap = Some((from, to));
        self.write_health(&c).await?;
        self.checkpoint
            .stage(|s| {
                s.add_gap(Gap {
                    from,
                    to,
                    found_at: c.at,
                    reason,
                })
            })
            .await;
        Ok(())
    }
}

impl StreamPoller {
    /// The long-age check of `[from, to)` found records Graph showed after the last sweep:
    /// written as a `late_records` event with the counts and the setting that would have
    /// caught them.
    pub(super) async fn late_records(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        found: u64,
        unmatched: u64,
    ) -> Result<(), PollError> {
        let last = self.settings.sweeps.last().copied().unwrap_or_default();
        let previous = self.stream_state(|s| s.and_then(|s| s.health)).await;
        let mut c = self.change(previous, "late_records");
        c.reason = format!(
            "the long-age check of {} to {} found {} records Graph showed after the last sweep ({} old): {found} emitted now, {unmatched} counted but not singled out (more than one late record in one hour)",
            crate::event::graph_time(from),
            crate::event::graph_time(to),
            found + unmatched,
            crate::duration::format_duration(last),
        );
        c.fix = format!(
            "raise the last late_arrival age of [streams.{}] past {} if this recurs (each age is one more read of every record)",
            self.name(),
            crate::duration::format_duration(last)
        );
        c.gap = Some((from, to));
        c.late = Some((found, unmatched));
        self.write_health(&c).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_and_a_first_failure_are_news() {
        assert!(!is_news(None, Health::Ok));
        assert!(is_news(None, Health::Error));
        assert!(is_news(Some(Health::Ok), Health::Degraded));
        assert!(is_news(Some(Health::Error), Health::Ok));
        assert!(!is_news(Some(Health::Degraded), Health::Degraded));
    }
}
