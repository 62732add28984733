//! `[poll]` durations and `[streams.*]`: each value checked where it is written, so an error names
//! the key the user wrote.

use std::time::Duration;

use super::error::{invalid, misplaced, ConfigError};
use super::raw::{LateArrival, RawShaping, RawStream, RawStreams};
use super::{
    format_duration, parse_duration, DEFAULT_INITIAL_LOOKBACK, MAX_INITIAL_LOOKBACK,
    MAX_LATE_ARRIVAL, MAX_SWEEPS,
};
use crate::kind::StreamKind;
use crate::streams::settings::{
    Shaping, SignInFilter, SignInOptions, StreamSettings, SIGN_IN_EVENT_TYPES,
};

/// An `initial_lookback`: more than zero, at most Graph's 30-day retention.
pub(crate) fn lookback(key: &str, value: &Option<String>) -> Result<Option<Duration>, ConfigError> {
    let d = opt_duration(key, value)?;
    match d {
        Some(d) if d > MAX_INITIAL_LOOKBACK => Err(invalid(
            key,
            format!("\"{}\"", format_duration(d)),
            "Graph keeps at most 30 days of logs; use \"30d\" or less",
        )),
        Some(d) if d.is_zero() => Err(invalid(
            key,
            format!("\"{}\"", format_duration(d)),
            "it must be more than zero, e.g. \"1h\"",
        )),
        d => Ok(d),
    }
}

/// A `late_arrival`: one age or a list, each more than zero and at most 7 days; returned
/// ascending without repeats.
pub(crate) fn late_arrival(
    key: &str,
    value: &Option<LateArrival>,
) -> Result<Option<Vec<Duration>>, ConfigError> {
    let texts = match value {
        None => return Ok(None),
        Some(LateArrival::One(t)) => vec![t.clone()],
        Some(LateArrival::Many(list)) => list.clone(),
    };
    if texts.is_empty() || texts.len() > MAX_SWEEPS {
        return Err(invalid(
            key,
            format!("{texts:?}"),
            format!("give from 1 to {MAX_SWEEPS} ages, e.g. \"20m\" or [\"5m\", \"20m\"]; each is one more read of every record"),
        ));
    }
    let mut ages = Vec::with_capacity(texts.len());
    for t in &texts {
        let d = opt_duration(key, &Some(t.clone()))?.unwrap_or_default();
        if d > MAX_LATE_ARRIVAL {
            return Err(invalid(
                key,
                format!("\"{}\"", format_duration(d)),
                "records settle within hours (offline risk detections within 48 h), and the last sweep re-reads each slice at this age; use \"7d\" or less (the defaults are [\"5m\", \"20m\"], [\"5m\", \"40m\"] for sign-ins and [\"10m\", \"48h\"] for risk detections)",
            ));
        }
        if d.is_zero() {
            return Err(invalid(
                key,
                "\"0s\"",
                "a sweep at age zero is the fresh read itself; give ages above zero, e.g. \"20m\"",
            ));
        }
        ages.push(d);
    }
    ages.sort();
    let given = ages.len();
    ages.dedup();
    if ages.len() < given {
        return Err(invalid(
            key,
            format!("{texts:?}"),
            "an age is given twice; each age is one more read of every record, so list each once, e.g. [\"5m\", \"20m\"]",
        ));
    }
    Ok(Some(ages))
}

pub(crate) fn opt_duration(
    key: &str,
    value: &Option<String>,
) -> Result<Option<Duration>, ConfigError> {
    value
        .as_deref()
        .map(|v| {
            parse_duration(v).map_err(|reason| {
                invalid(
                    key,
                    format!("\"{v}\""),
                    format!("{reason}; write a whole number and a unit, e.g. \"90s\", \"20m\", \"1h\" or \"14d\""),
                )
            })
        })
        .transpose()
}

/// What `[poll]` says for every stream that does not say otherwise.
#[derive(Debug, Clone)]
pub(crate) struct PollDefaults {
    pub lookback: Option<Duration>,
    pub late: Option<Vec<Duration>>,
    pub settle_only: bool,
    pub learn_sweeps: bool,
    /// `Some(None)`: "off".
    pub tail_check: Option<Option<Duration>>,
    pub interval: Duration,
}

/// `tail_check` unless set: a day's hours once a day.
const DEFAULT_TAIL_CHECK: Duration = Duration::from_secs(86400);

/// The longest `tail_check`: the check lists records this old, which Graph must still keep.
const MAX_TAIL_CHECK: Duration = Duration::from_secs(7 * 86400);

/// A `tail_check`: "off" or a duration of at least an hour and at most 7 days.
pub(crate) fn tail_check(
    key: &str,
    value: &Option<String>,
) -> Result<Option<Option<Duration>>, ConfigError> {
    match value.as_deref() {
        None => Ok(None),
        Some("off") => Ok(Some(None)),
        Some(_) => {
            let d = opt_duration(key, value)?.unwrap_or_default();
            if d < Duration::from_secs(3600) || d > MAX_TAIL_CHECK {
                return Err(invalid(
                    key,
                    format!("\"{}\"", format_duration(d)),
                    "the check lists whole hours once they are this old: give from \"1h\" to \"7d\" (default \"1d\"), or \"off\"",
                ));
            }
            Ok(Some(Some(d)))
        }
    }
}

/// An auditor's age when its stream gives none: the export's records of a slice and Graph's
/// both arrive within minutes; two hours leaves each its tail.
const AUDIT_AGE: std::time::Duration = std::time::Duration::from_secs(2 * 3600);

pub(crate) fn validate_streams(
    prefix: &str,
    raw: &RawStreams,
    poll: &PollDefaults,
) -> Result<Vec<StreamSettings>, ConfigError> {
    // Every kind's table, by an exhaustive match: a new stream without its `[streams]` key
    // does not compile (a missing row here once meant its table was silently ignored).
    let tables = StreamKind::all().map(|kind| {
        let table = match kind {
            StreamKind::DirectoryAudits => &raw.directory_audits,
            StreamKind::SignIns => &raw.sign_ins,
            StreamKind::RiskyUsers => &raw.risky_users,
            StreamKind::RiskDetections => &raw.risk_detections,
            StreamKind::RiskyServicePrincipals => &raw.risky_service_principals,
            StreamKind::ServicePrincipalRiskDetections => &raw.service_principal_risk_detections,
            StreamKind::Provisioning => &raw.provisioning,
            StreamKind::RiskyAgents => &raw.risky_agents,
            StreamKind::AgentRiskDetections => &raw.agent_risk_detections,
            StreamKind::Users => &raw.users,
            StreamKind::Devices => &raw.devices,
            StreamKind::RoleAssignments => &raw.role_assignments,
            // Not in `all()`: read from a hub only, never configured as a Graph stream.
            StreamKind::Exported(_) => &None,
        };
        (kind, table)
    });
    let mut out = Vec::new();
    for (kind, table) in tables {
        let Some(s) = table else { continue };
        if s.enabled == Some(false) {
            continue;
        }
        let key = |k: &str| format!("{prefix}.{}.{k}", kind.name());
        for (k, set) in [
            ("filter", s.filter.is_some()),
            ("api_version", s.api_version.is_some()),
            ("event_types", s.event_types.is_some()),
            ("shaping", s.shaping.is_some()),
        ] {
            if set && kind != StreamKind::SignIns {
                return Err(misplaced(
                    key(k),
                    "it applies to [streams.sign_ins] only: remove it here",
                ));
            }
        }
        let sign_ins = if kind == StreamKind::SignIns {
            validate_sign_ins(&key, s)?
        } else {
            SignInOptions::default()
        };
        // Each value is checked where it is written, so an error names the key the user wrote.
        let initial_lookback = lookback(&key("initial_lookback"), &s.initial_lookback)?
            .or(poll.lookback)
            .unwrap_or(DEFAULT_INITIAL_LOOKBACK);
        let audit = s.audit.unwrap_or(false);
        if audit {
            if crate::kind::Exported::carrying(kind).is_none() {
                return Err(invalid(
                    key("audit"),
                    "true",
                    "Entra's diagnostic settings export no category for this stream, so no hub can carry it: remove audit here",
                ));
            }
            if s.settle_only == Some(false) {
                return Err(invalid(
                    key("settle_only"),
                    "false",
                    "an auditor reads each slice once, settled: remove settle_only (audit implies it)",
                ));
            }
        }
        let stream_sweeps = late_arrival(&key("late_arrival"), &s.late_arrival)?;
        if audit && stream_sweeps.as_ref().is_some_and(|s| s.len() != 1) {
            return Err(invalid(
                key("late_arrival"),
                "several ages",
                "an auditor reads each slice once: give one age, e.g. late_arrival = [\"2h\"]",
            ));
        }
        let sweeps = match stream_sweeps {
            Some(s) => s,
            None if audit => vec![AUDIT_AGE],
            None => poll.late.clone().unwrap_or_else(|| kind.default_sweeps()),
        };
        let settle_only = audit || s.settle_only.unwrap_or(poll.settle_only);
        let last = sweeps.last().copied().unwrap_or_default();
        let learn = s.learn_sweeps.unwrap_or(poll.learn_sweeps) && !settle_only;
        let check = match tail_check(&key("tail_check"), &s.tail_check)?.or(poll.tail_check) {
            Some(given) => given,
            None if settle_only => None,
            None => Some(DEFAULT_TAIL_CHECK.max(last * 2)),
        };
        if let Some(c) = check.filter(|c| *c < last * 2) {
            return Err(invalid(
                key("tail_check"),
                format!("\"{}\"", format_duration(c)),
                format!(
                    "the check is for records later than the last late_arrival age ({}): give at least twice it, \"{}\", or \"off\"",
                    format_duration(last),
                    format_duration(last * 2)
                ),
            ));
        }
        out.push(StreamSettings {
            kind,
            sweeps,
            settle_only,
            learn_step: learn.then_some(poll.interval),
            tail_check: check,
            initial_lookback,
            audit,
            sign_ins,
        });
    }
    // None at all is refused by the caller unless the tenant reads an Event Hub.
    Ok(out)
}

fn validate_sign_ins(
    key: &dyn Fn(&str) -> String,
    s: &RawStream,
) -> Result<SignInOptions, ConfigError> {
    let filter = match s.filter.as_deref() {
        None | Some("all") => SignInFilter::All,
        Some("risky") => SignInFilter::Risky,
        Some("failures") => SignInFilter::Failures,
        Some(other) => {
            return Err(invalid(
                key("filter"),
                format!("\"{other}\""),
                "use \"all\", \"risky\" or \"failures\"",
            ))
        }
    };
    let beta = match s.api_version.as_deref() {
        None | Some("beta") => true,
        Some("v1.0") => false,
        Some(other) => {
            return Err(invalid(
                key("api_version"),
                format!("\"{other}\""),
                "use \"beta\" (every sign-in type, more fields) or \"v1.0\" (interactive only)",
            ))
        }
    };
    let event_types = match &s.event_types {
        None => SignInOptions::default().event_types,
        Some(_) if !beta => {
            return Err(misplaced(
                key("event_types"),
                "v1.0 returns interactive sign-ins only: remove event_types, or set api_version = \"beta\" to choose them",
            ))
        }
        Some(types) if types.is_empty() => {
            return Err(invalid(
                key("event_types"),
                "[]",
                format!("list at least one of {}", SIGN_IN_EVENT_TYPES.join(", ")),
            ))
        }
        Some(types) => {
            let mut out: Vec<String> = Vec::new();
            for t in types {
                if t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(invalid(
                        key("event_types"),
                        format!("\"{t}\""),
                        format!("use {}", SIGN_IN_EVENT_TYPES.join(", ")),
                    ));
                }
                if !SIGN_IN_EVENT_TYPES.contains(&t.as_str()) {
                    tracing::warn!(
                        "{}: \"{t}\" is not a sign-in event type Graph documents ({}); reading it anyway",
                        key("event_types"),
                        SIGN_IN_EVENT_TYPES.join(", ")
                    );
                }
                if !out.contains(t) {
                    out.push(t.clone());
                }
            }
            out
        }
    };
    let shaping = match &s.shaping {
        None => Shaping::default(),
        Some(r) => shaping(key, r)?,
    };
    for t in &shaping.summarize {
        if !beta {
            return Err(misplaced(
                key(&format!("shaping.{t}")),
                "v1.0 reads interactive sign-ins only, in one cursor: set api_version = \"beta\", or remove the shaping table",
            ));
        }
        if !event_types.contains(t) {
            return Err(misplaced(
                key(&format!("shaping.{t}")),
                format!(
                    "\"{t}\" is not in event_types: add it to event_types, or remove shaping.{t}"
                ),
            ));
        }
    }
    Ok(SignInOptions {
        filter,
        beta,
        event_types,
        shaping,
    })
}

/// `[streams.sign_ins.shaping]`.
fn shaping(key: &dyn Fn(&str) -> String, r: &RawShaping) -> Result<Shaping, ConfigError> {
    let mut out = Shaping::default();
    for (t, policy) in [
        ("interactiveUser", &r.interactiveUser),
        ("nonInteractiveUser", &r.nonInteractiveUser),
        ("servicePrincipal", &r.servicePrincipal),
        ("managedIdentity", &r.managedIdentity),
    ] {
        match policy.as_deref() {
            None | Some("full") => {}
            Some("summarize") => out.summarize.push(t.to_string()),
            Some(other) => {
                return Err(invalid(
                    key(&format!("shaping.{t}")),
                    format!("\"{other}\""),
                    "use \"full\" (every record) or \"summarize\"",
                ))
            }
        }
    }
    let span = |k: &str, v: &Option<String>, min: u64, max: u64, default: Duration| {
        let full = key(&format!("shaping.{k}"));
        match opt_duration(&full, v)? {
            None => Ok(default),
            Some(d) if (min..=max).contains(&d.as_secs()) => Ok(d),
            Some(d) => Err(invalid(
                full,
                format!("\"{}\"", format_duration(d)),
                format!(
                    "use from \"{}\" to \"{}\"",
                    format_duration(Duration::from_secs(min)),
                    format_duration(Duration::from_secs(max))
                ),
            )),
        }
    };
    out.window = span("window", &r.window, 60, 3600, out.window)?;
    out.new_horizon = span(
        "new_horizon",
        &r.new_horizon,
        86_400,
        30 * 86_400,
        out.new_horizon,
    )?;
    Ok(out)
}
