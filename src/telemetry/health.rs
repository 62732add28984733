//! `/health` (is every stream polling?) and `/health/ready` (can this process do its job?).
//! A monitor reads `/health`: 503 as soon as one stream of one tenant fails, with the reason
//! per stream and per tenant. A readiness probe reads `/health/ready`: one tenant that revoked
//! consent must not take a pod serving hundreds out of its Service or block a rolling update,
//! so it is 503 only when the process cannot work at all (a shard mismatch) or every tenant is
//! failing, and says why.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use super::{get, lock, split_section, Health, Metrics, StreamStatus};

/// Why this process cannot do its job at all (e.g. a StatefulSet pod whose ordinal is not
/// below the shard count): `/health` and `/health/ready` answer 503 with it.
pub struct Misconfigured {
    pub reason: String,
}

impl Misconfigured {
    pub fn emit(self) {
        tracing::error!("{}", self.reason);
        *lock(&get().misconfigured) = Some(self.reason);
    }
}

/// Why one stream is failing, or `None` while it is healthy.
fn failing_reason(
    s: &StreamStatus,
    now: DateTime<Utc>,
    started: DateTime<Utc>,
    allowance: chrono::Duration,
) -> Option<String> {
    if s.health == Some(Health::Error) {
        return Some(
            s.last_error
                .clone()
                .unwrap_or_else(|| "the last poll failed".into()),
        );
    }
    let since = s.last_success.unwrap_or(started);
    (now - since > allowance).then(|| {
        let secs = (now - since).num_seconds();
        let ago = if secs < 120 {
            format!("{secs} s")
        } else {
            format!("{} min", secs / 60)
        };
        let what = match s.last_success {
            Some(_) => format!("no successful poll for {ago} (allowed: two intervals)"),
            None => {
                format!("no successful poll in the {ago} since the start (allowed: two intervals)")
            }
        };
        match &s.last_error {
            // The last poll went well: one is taking long (a catch-up), the stream is behind.
            _ if s.health == Some(Health::Ok) => {
                let lag = s
                    .cursor
                    .map(|c| {
                        format!(
                            "; its cursor is {} min behind",
                            (now - c).num_minutes().max(0)
                        )
                    })
                    .unwrap_or_default();
                format!("lagging: {what}{lag}")
            }
            Some(e) => format!("{what}; last error: {e}"),
            None => what,
        }
    })
}

fn time(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

impl Metrics {
    /// `/health`: (healthy, JSON body).
    pub(super) fn health(&self) -> (bool, serde_json::Value) {
        let now = Utc::now();
        let (started, interval) = *lock(&self.started);
        let allowance = chrono::Duration::from_std(interval * 2).unwrap_or_default();
        let mut failing = Vec::new();
        let mut streams = serde_json::Map::new();
        // Per tenant: streams, failing streams, the first failing stream's reason.
        let mut tenants: BTreeMap<String, (u32, u32, Option<String>)> = BTreeMap::new();
        for ((tenant, stream), s) in lock(&self.streams).iter() {
            let reason = failing_reason(s, now, started, allowance);
            let (name, sign_in_type) = split_section(stream);
            let v = json!({
                "tenant": tenant,
                "stream": name,
                "sign_in_type": sign_in_type,
                "healthy": reason.is_none(),
                // A stream whose last poll went well but that is overdue is lagging, not ok.
                "health": match (&reason, s.health) {
                    (Some(r), _) if r.starts_with("lagging") => "lagging",
                    (_, h) => h.map_or("starting", Health::as_str),
                },
                "reason": reason,
                "last_success": time(s.last_success),
                "cursor": time(s.cursor),
                "lag_seconds": s.cursor.map(|c| (now - c).num_seconds().max(0)),
                "consecutive_failures": s.consecutive_failures,
                "last_error": s.last_error,
            });
            let t = tenants.entry(tenant.clone()).or_default();
            t.0 += 1;
            if let Some(r) = &reason {
                t.1 += 1;
                t.2.get_or_insert_with(|| format!("{stream}: {r}"));
                failing.push(v.clone());
            }
            streams.insert(format!("{tenant}/{stream}"), v);
        }
        let misconfigured = lock(&self.misconfigured).clone();
        let healthy = failing.is_empty() && misconfigured.is_none();
        let reason = misconfigured.or_else(|| {
            (!failing.is_empty()).then(|| {
                let bad: Vec<String> = tenants
                    .iter()
                    .filter_map(|(t, (_, _, r))| r.as_ref().map(|r| format!("tenant {t} {r}")))
                    .collect();
                format!(
                    "{} of {} streams failing; {}",
                    failing.len(),
                    streams.len(),
                    bad.join("; ")
                )
            })
        });
        let tenants: serde_json::Map<String, serde_json::Value> = tenants
            .into_iter()
            .map(|(t, (n, bad, reason))| {
                let v = json!({"healthy": bad == 0, "streams": n, "failing_streams": bad, "reason": reason});
                (t, v)
            })
            .collect();
        (
            healthy,
            json!({
                "status": if healthy { "ok" } else { "failing" },
                "reason": reason,
                "failing": failing,
                "tenants": tenants,
                "streams": streams,
            }),
        )
    }

    /// `/health/ready`: ready unless misconfigured or every tenant is failing.
    pub(super) fn readiness(&self) -> (bool, serde_json::Value) {
        let (_, health) = self.health();
        let tenants = health["tenants"].as_object().cloned().unwrap_or_default();
        let failing = tenants.values().filter(|t| t["healthy"] != true).count();
        let misconfigured = lock(&self.misconfigured).clone();
        let reason = misconfigured.or_else(|| {
            (failing > 0 && failing == tenants.len()).then(|| {
                format!(
                    "every tenant is failing ({failing} of {failing}); {}",
                    health["reason"].as_str().unwrap_or("")
                )
            })
        });
        let ready = reason.is_none();
        (
            ready,
            json!({
                "status": if ready { "ready" } else { "not_ready" },
                "reason": reason,
                "tenants": tenants.len(),
                "tenants_failing": failing,
            }),
        )
    }
}
