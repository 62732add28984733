//! The TOML config file (`CONTRACT.md` § Config): raw serde structs whose doc comments are the
//! reference, and [`Config::load`], which validates them into settings the rest of the program uses.
//!
//! Every error names the key and the fix, and is found before any network call (exit status 2).

mod apps;
mod credential;
mod error;
mod hubs;
mod output;
mod raw;
mod streams;
mod tenant;
mod url;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use apps::App;
pub use credential::{IMDS_HOST, IMDS_TOKEN_URL};
use error::invalid;
pub use error::ConfigError;
use output::{validate_output, validate_target};
pub use raw::*;
use streams::{late_arrival, lookback, tail_check, validate_streams, PollDefaults};
use tenant::validate_tenant;
pub use tenant::{Cloud, TenantSettings};
pub use url::{is_loopback, validate_url};

pub use crate::duration::{format_duration, parse_duration};

use crate::graph::Throttle;
pub use crate::output::{OutputTarget, DEFAULT_LINE_BYTES, MAX_ROTATE_KEEP, MIN_LINE_BYTES};
pub use crate::streams::settings::{
    SignInFilter, SignInOptions, StreamSettings, SIGN_IN_EVENT_TYPES,
};

/// The longest `initial_lookback` accepted: Graph keeps at most 30 days of audit and sign-in logs.
pub const MAX_INITIAL_LOOKBACK: Duration = Duration::from_secs(30 * 86_400);
/// The longest `late_arrival` accepted: Graph's records settle within hours (offline risk
/// detections within 48 h); a longer re-read only re-fetches what was already emitted.
pub const MAX_LATE_ARRIVAL: Duration = Duration::from_secs(7 * 86_400);
/// The most `late_arrival` ages: each is one more read of every record.
pub const MAX_SWEEPS: usize = 4;
/// The longest `poll.interval_seconds` accepted: polls further apart than Graph's shortest
/// retention (7 days, Free tenants) would let records expire unread.
pub const MAX_INTERVAL_SECONDS: i64 = 7 * 86_400;
const DEFAULT_INTERVAL_SECONDS: u64 = 300;
pub(crate) const DEFAULT_INITIAL_LOOKBACK: Duration = Duration::from_secs(3_600);

/// The validated config.
#[derive(Debug)]
pub struct Config {
    pub tenants: Vec<TenantSettings>,
    pub state_path: PathBuf,
    pub interval: Duration,
    pub throttle: Throttle,
    /// `[tls] ca_file`, read and checked by [`Config::resolve`].
    pub tls_ca_file: Option<PathBuf>,
    /// `[output] max_line_bytes`.
    pub max_line_bytes: u64,
    /// `[output] path` and its rotation, an OTLP endpoint, or stdout.
    pub output_target: OutputTarget,
    /// `[output] format`.
    pub format: crate::format::Format,
    /// `[output] keep_null_columns`.
    pub keep_null_columns: bool,
    /// `[metrics] listen`: where `/metrics` and `/health` are served.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `[poll] request_attempts`.
    pub request_attempts: u32,
    /// `[context] enabled` and `refresh`.
    pub context: Option<Duration>,
    /// Tenants per app (by [`App::name`]) in the whole config: a shard keeps fewer tenants but
    /// paces each at its share of the app's budget over all of them, so that the shards of
    /// one app together stay under Graph's limit.
    pub app_tenants: BTreeMap<String, usize>,
    /// Fill the directory cache before the first poll (`demo` only: a collector never holds
    /// records back for context).
    pub context_first: bool,
}

impl Config {
    /// Reads, parses and validates `path`: what the user wrote, nothing read from the files or
    /// variables it names (credentials and `[tls] ca_file` are read by [`Config::resolve`]).
    /// The environment is consulted only for the defaults AKS and App Service inject.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let raw = raw::parse_raw(path, &text)?;
        Config::validate(path, raw, &|name| std::env::var(name).ok())
    }

    /// Turns the raw file into settings, or names the first problem. `env` looks up the
    /// variables AKS and App Service inject (`AZURE_TENANT_ID`, `IDENTITY_ENDPOINT`, …).
    pub fn validate(
        path: &Path,
        raw: RawConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut tenants_raw = Vec::new();
        match (raw.tenant, raw.tenants) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "tenant",
                    "[tenant] and [[tenants]]",
                    "use either one [tenant] table or [[tenants]] entries, not both",
                ))
            }
            (Some(t), None) => tenants_raw.push(t),
            (None, Some(ts)) if !ts.is_empty() => tenants_raw = ts,
            _ => {
                return Err(ConfigError::Missing {
                    key: "tenant".into(),
                    fix: "add a [tenant] table with id, client_id and client_secret_env".into(),
                })
            }
        }

        let interval_seconds = raw
            .poll
            .interval_seconds
            .unwrap_or(DEFAULT_INTERVAL_SECONDS as i64);
        if !(1..=MAX_INTERVAL_SECONDS).contains(&interval_seconds) {
            return Err(invalid(
                "poll.interval_seconds",
                interval_seconds,
                format!("it must be at least 1 and at most {MAX_INTERVAL_SECONDS} (7 days, Graph's shortest log retention)"),
            ));
        }
        let request_attempts = raw.poll.request_attempts.unwrap_or(8);
        if !(1..=20).contains(&request_attempts) {
            return Err(invalid(
                "poll.request_attempts",
                request_attempts,
                "it must be from 1 to 20 (the default 8 spans about a minute of backoff)",
            ));
        }
        let poll_lookback = lookback("poll.initial_lookback", &raw.poll.initial_lookback)?;
        let poll_late = late_arrival("poll.late_arrival", &raw.poll.late_arrival)?;
        let poll = PollDefaults {
            lookback: poll_lookback,
            late: poll_late,
            settle_only: raw.poll.settle_only.unwrap_or(false),
            learn_sweeps: raw.poll.learn_sweeps.unwrap_or(true),
            tail_check: tail_check("poll.tail_check", &raw.poll.tail_check)?,
            interval: Duration::from_secs(interval_seconds as u64),
        };

        let metrics_listen = match raw.metrics.as_ref().and_then(|m| m.listen.as_deref()) {
            None => None,
            Some(l) => Some(l.parse::<std::net::SocketAddr>().map_err(|_| {
                invalid(
                    "metrics.listen",
                    format!("\"{l}\""),
                    "write an address and port, e.g. \"127.0.0.1:9464\" (or \"0.0.0.0:9464\" for a remote Prometheus)",
                )
            })?),
        };
        let (format, max_line_bytes) = validate_output(&raw.output)?;
        let keep_null_columns = output::validate_columns(&raw.output, format)?;
        let output_target = validate_target(&raw.output)?;

        let app_budget = raw.throttle.app_reports_requests_per_10s.unwrap_or(122);
        let apps = apps::Apps::validate(raw.apps.unwrap_or_default(), app_budget.max(1), env)?;
        let app_of = |client_id: &str| apps.of(client_id, app_budget);
        let mut tenants = Vec::new();
        let multi = tenants_raw.len() > 1;
        for (i, mut t) in tenants_raw.into_iter().enumerate() {
            let prefix = if multi {
                format!("tenants[{i}]")
            } else {
                "tenant".to_string()
            };
            let streams_raw = t.streams.clone().unwrap_or_else(|| raw.streams.clone());
            let streams_prefix = if t.streams.is_some() {
                format!("{prefix}.streams")
            } else {
                "streams".to_string()
            };
            let streams = validate_streams(&streams_prefix, &streams_raw, &poll)?;
            apps.fill(&prefix, &mut t)?;
            let credential = apps.credential(&t);
            let raw_hubs = t.hubs.clone().unwrap_or_default();
            let mut settings = validate_tenant(&prefix, t, streams, &app_of, env)?;
            settings.hubs = hubs::validate_hubs(
                &prefix,
                &raw_hubs,
                settings.graph_url.host_str().unwrap_or_default(),
            )?
            .into_iter()
            .map(std::sync::Arc::new)
            .collect();
            if settings.hubs.is_empty() && settings.streams.is_empty() {
                return Err(ConfigError::Missing {
                    key: format!("{streams_prefix}.*"),
                    fix: "enable at least one stream, e.g. add a [streams.directory_audits] table (or read an Event Hub: [[tenant.hubs]])".into(),
                });
            }
            if settings.hubs.is_empty() {
                if let Some(s) = settings.streams.iter().find(|s| s.audit) {
                    return Err(invalid(
                        format!("{streams_prefix}.{}.audit", s.kind.name()),
                        "true",
                        format!("an auditor checks the tenant's Event Hubs, and [{prefix}] has none: add a [[{prefix}.hubs]] table, or remove audit"),
                    ));
                }
            }
            if let Some(c) = credential {
                settings.credential = c;
            }
            tenants.push(settings);
        }
        // One hub read under two tenants would emit its records under both.
        let mut hub_owner: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (i, t) in tenants.iter().enumerate() {
            for h in &t.hubs {
                for name in &h.hubs {
                    let k = (h.bootstrap.to_lowercase(), name.clone());
                    if let Some(first) = hub_owner.insert(k, i) {
                        if first != i {
                            return Err(invalid(
                                format!("tenants[{i}].hubs"),
                                format!("\"{name}\""),
                                format!("tenants[{first}] reads the same hub of {}: a hub carries one tenant's diagnostic settings; list it under that tenant only", h.bootstrap),
                            ));
                        }
                    }
                }
            }
        }
        let mut seen = BTreeMap::new();
        for (i, t) in tenants.iter().enumerate() {
            if let Some(first) = seen.insert(t.id.to_lowercase(), i) {
                return Err(invalid(
                    format!("tenants[{i}].id"),
                    &t.id,
                    format!("the same tenant as tenants[{first}] is listed twice (both entries would poll it and emit every record twice); list each tenant once"),
                ));
            }
        }

        let mut app_tenants = BTreeMap::new();
        for t in &tenants {
            *app_tenants.entry(t.app.name.clone()).or_insert(0) += 1;
        }
        let state_path = raw.state.path.unwrap_or_else(|| {
            let mut p = path.as_os_str().to_owned();
            p.push(".state.json");
            PathBuf::from(p)
        });
        let throttle = Throttle {
            reports_per_10s: raw.throttle.reports_requests_per_10s.unwrap_or(5),
            app_reports_per_10s: app_budget,
            identity_protection_per_second: raw
                .throttle
                .identity_protection_requests_per_second
                .unwrap_or(1),
            directory_per_second: raw.throttle.directory_requests_per_second.unwrap_or(5),
        };
        for (key, v) in [
            (
                "throttle.reports_requests_per_10s",
                throttle.reports_per_10s,
            ),
            (
                "throttle.app_reports_requests_per_10s",
                throttle.app_reports_per_10s,
            ),
            (
                "throttle.identity_protection_requests_per_second",
                throttle.identity_protection_per_second,
            ),
            (
                "throttle.directory_requests_per_second",
                throttle.directory_per_second,
            ),
        ] {
            if v == 0 {
                return Err(invalid(key, v, "it must be at least 1"));
            }
        }
        let tls_ca_file = raw.tls.ca_file.clone();
        // Microsoft's export and its Log Analytics rows have no place for directory context: it
        // is not fetched for them unless asked for, and asking for it is a mistake.
        let carries_context = format.carries_context();
        if raw.context.enabled == Some(true) && !carries_context {
            return Err(invalid(
                "context.enabled",
                "true",
                format!(
                    "format \"{}\" is Microsoft's own shape, which has no place for directory context: remove [context] enabled, or use format \"native\", \"ecs\" or \"ocsf\"",
                    format.name()
                ),
            ));
        }
        let context = match raw.context.enabled.unwrap_or(carries_context) {
            false => None,
            true => Some(match raw.context.refresh.as_deref() {
                None => Duration::from_secs(15 * 60),
                Some(text) => crate::duration::parse_duration(text)
                    .ok()
                    .filter(|d| (Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(d))
                    .ok_or_else(|| {
                        invalid(
                            "context.refresh",
                            format!("\"{text}\""),
                            "use a duration from \"1s\" to \"1d\", e.g. \"15m\"",
                        )
                    })?,
            }),
        };
        Ok(Config {
            tenants,
            state_path,
            interval: Duration::from_secs(interval_seconds as u64),
            throttle,
            tls_ca_file,
            max_line_bytes,
            output_target,
            format,
            keep_null_columns,
            metrics_listen,
            request_attempts,
            context,
            app_tenants,
            context_first: false,
        })
    }
}

/// What [`Config::resolve`] read: each tenant's credential (in `tenants` order) and the extra
/// CA certificates.
#[derive(Debug)]
pub struct Resolved {
    pub credentials: Vec<crate::auth::Credential>,
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl Config {
    /// Reads the secrets, certificates and CA file the config names: for `run`, `check` and
    /// `demo`, right after [`Config::load`] and before any network call (a failure is a config
    /// error, exit 2).
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        let credentials = self
            .tenants
            .iter()
            .map(|t| {
                t.credential.resolve().map_err(|e| ConfigError::Invalid {
                    key: e.key,
                    value: e.value,
                    reason: e.reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let extra_ca_pem = self.tls_ca_file.as_deref().map(read_ca_file).transpose()?;
        Ok(Resolved {
            credentials,
            extra_ca_pem,
        })
    }
}

/// `[tls] ca_file`: must hold at least one PEM certificate.
fn read_ca_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| {
        invalid(
            "tls.ca_file",
            path.display(),
            format!("cannot read it ({e}); check the path and its permissions"),
        )
    })?;
    match reqwest::Certificate::from_pem_bundle(&bytes) {
        Ok(certs) if !certs.is_empty() => Ok(bytes),
        _ => Err(invalid(
            "tls.ca_file",
            path.display(),
            "it holds no PEM certificate (-----BEGIN CERTIFICATE-----); export the CA as PEM",
        )),
    }
}

#[cfg(test)]
mod tests;
