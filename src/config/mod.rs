//! The TOML config file (`CONTRACT.md` § Config): raw serde structs whose doc comments are the
//! reference, and [`Config::load`], which validates them into settings the rest of the program uses.
//!
//! Every error names the key and the fix, and is found before any network call (exit status 2).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

pub use crate::duration::{format_duration, parse_duration};

use crate::auth::{Credential, Secret};
use crate::graph::Throttle;
use crate::kind::StreamKind;
pub use crate::output::{OutputTarget, DEFAULT_LINE_BYTES, MAX_ROTATE_KEEP, MIN_LINE_BYTES};
pub use crate::streams::settings::{
    SignInFilter, SignInOptions, StreamSettings, SIGN_IN_EVENT_TYPES,
};

/// The longest `initial_lookback` accepted: Graph keeps at most 30 days of audit and sign-in logs.
pub const MAX_INITIAL_LOOKBACK: Duration = Duration::from_secs(30 * 86_400);
/// The longest `late_arrival` accepted: Graph's records settle within hours (offline risk
/// detections within 48 h); a longer re-read only re-fetches what was already emitted.
pub const MAX_LATE_ARRIVAL: Duration = Duration::from_secs(7 * 86_400);
/// The longest `poll.interval_seconds` accepted: polls further apart than Graph's shortest
/// retention (7 days, Free tenants) would let records expire unread.
pub const MAX_INTERVAL_SECONDS: i64 = 7 * 86_400;
const DEFAULT_INTERVAL_SECONDS: u64 = 300;
const DEFAULT_INITIAL_LOOKBACK: Duration = Duration::from_secs(3_600);

/// What went wrong with the config, and how to fix it. Displayed as the last stderr line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read config file {path}: {source}; check the --config path and its permissions"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML (line {line}): {message}; fix the syntax at that line")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("config file {path}, line {line}: unknown key `{key}`{suggestion}; valid keys there: {valid}")]
    UnknownKey {
        path: PathBuf,
        line: usize,
        key: String,
        suggestion: String,
        valid: String,
    },
    #[error("config file {path}, line {line}: {message}")]
    Type {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("config: `{key}` is missing; {fix}")]
    Missing { key: String, fix: String },
    #[error("config: `{key}` = {value} is invalid: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    #[error("config: `{key}` is not supported by this version of entra-source: {reason}")]
    Unsupported { key: String, reason: String },
}

fn invalid(key: impl Into<String>, value: impl ToString, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The file as written.

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The one tenant to read (use `[[tenants]]` for several).
    pub tenant: Option<RawTenant>,
    /// Several tenants, each with the keys of `[tenant]`.
    pub tenants: Option<Vec<RawTenant>>,
    #[serde(default)]
    pub state: RawState,
    #[serde(default)]
    pub poll: RawPoll,
    /// Which Graph resources to read; a stream whose table is absent is disabled.
    #[serde(default)]
    pub streams: RawStreams,
    #[serde(default)]
    pub output: RawOutput,
    pub metrics: Option<RawMetrics>,
    /// Client-side request budgets per tenant, below Graph's throttling limits.
    #[serde(default)]
    pub throttle: RawThrottle,
    #[serde(default)]
    pub tls: RawTls,
}

/// `[tls]`: for networks that inspect TLS. (`HTTPS_PROXY` / `NO_PROXY` are read from the
/// environment.)
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM bundle of extra CA certificates to trust (a TLS-inspecting proxy's CA), on top of the
    /// built-in web roots.
    pub ca_file: Option<PathBuf>,
}

/// `[throttle]`: the client paces itself under Graph's documented per-tenant limits instead of
/// learning them from 429s (it still obeys every 429). Lower them if Graph throttles anyway.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThrottle {
    /// Requests per 10 s per tenant to the audit and sign-in logs, shared by both (Graph: 5).
    pub reports_requests_per_10s: Option<u32>,
    /// Requests per second per tenant to identity protection (Graph: 1, for all apps together).
    pub identity_protection_requests_per_second: Option<u32>,
    /// Requests per 10 s to the audit and sign-in logs across every tenant of this app (Graph:
    /// 122). With many `[[tenants]]`, each gets an equal share of it.
    pub app_reports_requests_per_10s: Option<u32>,
}

/// `[tenant]` / `[[tenants]]`: who to read and with which credentials.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTenant {
    /// Tenant GUID or verified domain (never `common`).
    pub id: Option<String>,
    /// The app registration's application (client) id.
    pub client_id: Option<String>,
    /// Name of the environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// File holding the client secret (trailing newline ignored).
    pub client_secret_file: Option<PathBuf>,
    /// The client secret inline: accepted with a warning, prefer the two keys above.
    pub client_secret: Option<String>,
    /// PEM with private key, or PFX (issue: certificate credentials).
    pub certificate_file: Option<PathBuf>,
    /// Environment variable with the PFX password.
    pub certificate_password_env: Option<String>,
    /// `ps256` (default: PS256 with `x5t#S256`) or `rs256` (RS256 with `x5t`).
    pub certificate_signature: Option<String>,
    /// Workload-identity token file.
    pub federated_token_file: Option<PathBuf>,
    /// Use the Azure managed identity endpoint.
    pub managed_identity: Option<bool>,
    /// Overrides the managed identity endpoint.
    pub managed_identity_endpoint: Option<String>,
    /// `global` (default), `usgov`, `usgov-dod` or `china`.
    pub cloud: Option<String>,
    /// Overrides the cloud's login host; `http://` only for loopback.
    pub login_url: Option<String>,
    /// Overrides the cloud's Graph root; `http://` only for loopback.
    pub graph_url: Option<String>,
    /// Replaces the top-level `[streams]` for this tenant.
    pub streams: Option<RawStreams>,
}

/// `[state]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    /// The checkpoint file; default: the config file's path with `.state.json` appended.
    pub path: Option<PathBuf>,
}

/// `[poll]`: timing shared by every stream.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPoll {
    /// Seconds between two polls of a stream (≥ 1; default 300).
    pub interval_seconds: Option<i64>,
    /// How far back a stream without a checkpoint starts (default "1h", at most "30d").
    pub initial_lookback: Option<String>,
    /// How far behind its cursor every poll re-reads, for records Graph shows late (default "20m").
    pub late_arrival: Option<String>,
    /// Attempts per Graph or token request (the first included) before the poll gives up and
    /// the cursor stays put for the next one (default 8, backing off from 0.5 s to 60 s).
    pub request_attempts: Option<u32>,
}

/// `[streams]`: one optional table per Graph resource.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStreams {
    pub directory_audits: Option<RawStream>,
    pub sign_ins: Option<RawStream>,
    pub risky_users: Option<RawStream>,
    pub risk_detections: Option<RawStream>,
    pub risky_service_principals: Option<RawStream>,
    pub service_principal_risk_detections: Option<RawStream>,
}

/// `[streams.NAME]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStream {
    /// Default true when the table is present.
    pub enabled: Option<bool>,
    /// Overrides `[poll] late_arrival` for this stream.
    pub late_arrival: Option<String>,
    /// Overrides `[poll] initial_lookback` for this stream.
    pub initial_lookback: Option<String>,
    /// sign_ins only: `all`, `risky` or `failures`.
    pub filter: Option<String>,
    /// sign_ins only: `beta` (default) or `v1.0`.
    pub api_version: Option<String>,
    /// sign_ins only, beta: the sign-in event types to read.
    pub event_types: Option<Vec<String>>,
}

/// `[output]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    /// `native` (default), `ecs` or `ocsf`.
    pub format: Option<String>,
    /// Push to an OpenTelemetry Collector instead of stdout: the base URL of its OTLP/HTTP
    /// receiver (`/v1/logs` is appended unless the URL already ends with it). `https://`, or
    /// `http://` to loopback (a Collector sidecar). The checkpoint moves only after a 2xx.
    pub otlp_endpoint: Option<String>,
    /// With `otlp_endpoint`: log records per export request (default 500).
    pub otlp_batch_records: Option<u32>,
    /// With `otlp_endpoint`: how long one export request may take (default 30).
    pub otlp_timeout_seconds: Option<u32>,
    /// With `otlp_endpoint`: how long a batch the Collector does not acknowledge (down,
    /// unreachable, answering 5xx/429) is retried before the run stops with exit 1 (default
    /// "10m"). Nothing past the last acknowledged page is checkpointed; the next run resends.
    pub otlp_give_up_after: Option<String>,
    /// Append to this file instead of stdout (for the Collector's filelog receiver or any
    /// tailer): whole lines, fsynced before the checkpoint moves, rotated by size.
    pub path: Option<PathBuf>,
    /// With `path`: rotate when the file would grow past this many bytes (default 100 MiB).
    pub rotate_size_bytes: Option<u64>,
    /// With `path`: how many rotated files (`path.1` … `path.N`) to keep (default 5).
    pub rotate_keep: Option<u32>,
    /// The longest line written (default 1 MiB, at least 4096): an event that would be longer
    /// has its raw record trimmed, with a marker, instead of a line a host would split or drop.
    pub max_line_bytes: Option<u64>,
}

/// `[metrics]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// Address and port for Prometheus text at `/metrics` and JSON health at `/health`,
    /// e.g. "127.0.0.1:9464".
    pub listen: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Validated settings.

/// The validated config.
#[derive(Debug)]
pub struct Config {
    pub tenants: Vec<TenantSettings>,
    pub state_path: PathBuf,
    pub interval: Duration,
    pub throttle: Throttle,
    /// `[tls] ca_file`, read and checked at start-up.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// `[output] max_line_bytes`.
    pub max_line_bytes: u64,
    /// `[output] path` and its rotation, an OTLP endpoint, or stdout.
    pub output_target: OutputTarget,
    /// `[output] format`.
    pub format: crate::format::Format,
    /// `[metrics] listen`: where `/metrics` and `/health` are served.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `[poll] request_attempts`.
    pub request_attempts: u32,
}

/// One tenant, ready to poll.
#[derive(Debug)]
pub struct TenantSettings {
    pub id: String,
    pub client_id: String,
    pub credential: Credential,
    pub cloud: Cloud,
    pub login_url: Url,
    pub graph_url: Url,
    pub streams: Vec<StreamSettings>,
}

impl TenantSettings {
    /// App-only tokens for this tenant.
    pub fn token_provider(&self, http: &reqwest::Client) -> crate::auth::TokenProvider {
        crate::auth::TokenProvider::new(
            http.clone(),
            &self.login_url,
            &self.graph_url,
            &self.id,
            &self.client_id,
            self.credential.clone(),
        )
    }
}

/// The Microsoft cloud a tenant lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Global,
    UsGov,
    UsGovDod,
    China,
}

impl Cloud {
    fn parse(s: &str) -> Option<Cloud> {
        Some(match s {
            "global" => Cloud::Global,
            "usgov" => Cloud::UsGov,
            "usgov-dod" => Cloud::UsGovDod,
            "china" => Cloud::China,
            _ => return None,
        })
    }

    /// The login host of this cloud.
    pub fn login_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGov | Cloud::UsGovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    /// The Graph root of this cloud.
    pub fn graph_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsGov => "https://graph.microsoft.us",
            Cloud::UsGovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }
}

impl Config {
    /// Reads, parses and validates `path`. The secret is read here too, so a missing one is a
    /// config error (exit 2) found before any network call.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(path, true)
    }

    /// The same without reading credentials (secrets, certificates, tokens): for the `state`
    /// commands, which never authenticate and may run where the secret's variable is unset.
    /// The credential of each tenant is an empty placeholder that must not be used.
    pub fn load_without_credentials(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(path, false)
    }

    fn load_with(path: &Path, credentials: bool) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let raw = parse_raw(path, &text)?;
        Config::validate_with(path, raw, credentials)
    }

    /// Turns the raw file into settings, or names the first problem.
    pub fn validate(path: &Path, raw: RawConfig) -> Result<Config, ConfigError> {
        Config::validate_with(path, raw, true)
    }

    fn validate_with(
        path: &Path,
        raw: RawConfig,
        credentials: bool,
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
        let output_target = validate_target(&raw.output)?;

        let mut tenants = Vec::new();
        let multi = tenants_raw.len() > 1;
        for (i, t) in tenants_raw.into_iter().enumerate() {
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
            let streams =
                validate_streams(&streams_prefix, &streams_raw, poll_lookback, poll_late)?;
            tenants.push(validate_tenant(&prefix, t, streams, credentials)?);
        }
        let mut seen = BTreeMap::new();
        for t in &tenants {
            if seen.insert(t.id.to_lowercase(), ()).is_some() {
                return Err(invalid(
                    "tenants.id",
                    &t.id,
                    "the same tenant is listed twice; list each tenant once",
                ));
            }
        }

        let state_path = raw.state.path.unwrap_or_else(|| {
            let mut p = path.as_os_str().to_owned();
            p.push(".state.json");
            PathBuf::from(p)
        });
        let throttle = Throttle {
            reports_per_10s: raw.throttle.reports_requests_per_10s.unwrap_or(5),
            app_reports_per_10s: raw.throttle.app_reports_requests_per_10s.unwrap_or(122),
            identity_protection_per_second: raw
                .throttle
                .identity_protection_requests_per_second
                .unwrap_or(1),
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
        ] {
            if v == 0 {
                return Err(invalid(key, v, "it must be at least 1"));
            }
        }
        let extra_ca_pem = match &raw.tls.ca_file {
            None => None,
            Some(path) => Some(read_ca_file(path)?),
        };
        Ok(Config {
            tenants,
            state_path,
            interval: Duration::from_secs(interval_seconds as u64),
            throttle,
            extra_ca_pem,
            max_line_bytes,
            output_target,
            format,
            metrics_listen,
            request_attempts,
        })
    }
}

fn parse_raw(path: &Path, text: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(0);
        let message = e.message().trim().replace('\n', "; ");
        if let Some((key, expected)) = parse_unknown_field(&message) {
            let suggestion = nearest(&key, &expected)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return ConfigError::UnknownKey {
                path: path.to_path_buf(),
                line,
                key,
                suggestion,
                valid: expected
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
        }
        if message.starts_with("invalid type") || message.starts_with("missing field") {
            let message = humanize_types(&message);
            let source_line = text.lines().nth(line.saturating_sub(1)).unwrap_or("").trim();
            return ConfigError::Type {
                path: path.to_path_buf(),
                line,
                message: format!(
                    "`{source_line}`: {message}; see config-examples/entra-source.toml for each key's type"
                ),
            };
        }
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            message,
        }
    })
}

/// serde's Rust type names (`expected i64`) in words a config author reads.
fn humanize_types(message: &str) -> String {
    let mut m = message.to_string();
    for (rust, words) in [
        ("expected i64", "expected a whole number (without quotes)"),
        ("expected u64", "expected a whole number (without quotes)"),
        ("expected u32", "expected a whole number (without quotes)"),
        ("expected u16", "expected a whole number (without quotes)"),
        ("expected usize", "expected a whole number (without quotes)"),
        ("expected f64", "expected a number (without quotes)"),
        (
            "expected a boolean",
            "expected true or false (without quotes)",
        ),
        ("expected a string", "expected a string in double quotes"),
        (
            "expected a sequence",
            "expected a list such as [\"a\", \"b\"]",
        ),
    ] {
        m = m.replace(rust, words);
    }
    m
}

/// Reads serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`").
fn parse_unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((key.to_string(), expected))
}

/// The closest valid key, if it is close enough to be a typo.
fn nearest(key: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(key, c), c))
        .filter(|(score, _)| *score > 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.clone())
}

/// An `initial_lookback`: more than zero, at most Graph's 30-day retention.
fn lookback(key: &str, value: &Option<String>) -> Result<Option<Duration>, ConfigError> {
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

/// A `late_arrival`: at most 7 days.
fn late_arrival(key: &str, value: &Option<String>) -> Result<Option<Duration>, ConfigError> {
    let d = opt_duration(key, value)?;
    match d {
        Some(d) if d > MAX_LATE_ARRIVAL => Err(invalid(
            key,
            format!("\"{}\"", format_duration(d)),
            "records settle within hours (offline risk detections within 48 h), and each poll re-reads this far back; use \"7d\" or less (the defaults are 20m, and 48h for risk detections)",
        )),
        d => Ok(d),
    }
}

fn opt_duration(key: &str, value: &Option<String>) -> Result<Option<Duration>, ConfigError> {
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

fn validate_target(o: &RawOutput) -> Result<OutputTarget, ConfigError> {
    if o.path.is_none() {
        for (key, set) in [
            ("output.rotate_size_bytes", o.rotate_size_bytes.is_some()),
            ("output.rotate_keep", o.rotate_keep.is_some()),
        ] {
            if set {
                return Err(invalid(key, "a value", "it applies only with output.path"));
            }
        }
    }
    if o.otlp_endpoint.is_none() {
        for (key, set) in [
            ("output.otlp_batch_records", o.otlp_batch_records.is_some()),
            (
                "output.otlp_timeout_seconds",
                o.otlp_timeout_seconds.is_some(),
            ),
            ("output.otlp_give_up_after", o.otlp_give_up_after.is_some()),
        ] {
            if set {
                return Err(invalid(
                    key,
                    "a value",
                    "it applies only with output.otlp_endpoint",
                ));
            }
        }
    }
    if let Some(endpoint) = &o.otlp_endpoint {
        if o.path.is_some() {
            return Err(invalid(
                "output.otlp_endpoint",
                format!("\"{endpoint}\""),
                "it cannot be combined with output.path; choose one destination",
            ));
        }
        let mut url = validate_url("output.otlp_endpoint", endpoint)?;
        if !url.path().ends_with("/v1/logs") {
            let base = url.path().trim_end_matches('/').to_string();
            url.set_path(&format!("{base}/v1/logs"));
        }
        let batch = o.otlp_batch_records.unwrap_or(500);
        if batch == 0 {
            return Err(invalid(
                "output.otlp_batch_records",
                batch,
                "it must be at least 1",
            ));
        }
        let timeout = o.otlp_timeout_seconds.unwrap_or(30);
        if timeout == 0 {
            return Err(invalid(
                "output.otlp_timeout_seconds",
                timeout,
                "it must be at least 1",
            ));
        }
        let give_up_after = opt_duration("output.otlp_give_up_after", &o.otlp_give_up_after)?
            .unwrap_or(Duration::from_secs(600));
        if give_up_after.is_zero() || give_up_after > MAX_LATE_ARRIVAL {
            return Err(invalid(
                "output.otlp_give_up_after",
                format!("\"{}\"", format_duration(give_up_after)),
                "it must be more than zero and at most \"7d\", e.g. \"10m\"",
            ));
        }
        return Ok(OutputTarget::Otlp {
            url,
            batch_records: batch as usize,
            timeout: Duration::from_secs(u64::from(timeout)),
            give_up_after,
        });
    }
    let Some(path) = &o.path else {
        return Ok(OutputTarget::Stdout);
    };
    let rotate_size_bytes = o.rotate_size_bytes.unwrap_or(100 * 1024 * 1024);
    let max_line = o.max_line_bytes.unwrap_or(DEFAULT_LINE_BYTES);
    if rotate_size_bytes < max_line {
        return Err(invalid(
            "output.rotate_size_bytes",
            rotate_size_bytes,
            format!(
                "it must be at least max_line_bytes ({max_line}), so that every line fits a file"
            ),
        ));
    }
    let rotate_keep = o.rotate_keep.unwrap_or(5);
    if !(1..=MAX_ROTATE_KEEP).contains(&rotate_keep) {
        return Err(invalid(
            "output.rotate_keep",
            rotate_keep,
            format!("it must be from 1 to {MAX_ROTATE_KEEP}: with 0 each rotation would delete the events written so far, before a tailer has read them"),
        ));
    }
    Ok(OutputTarget::File {
        path: path.clone(),
        rotate_size_bytes,
        rotate_keep,
    })
}

fn validate_output(o: &RawOutput) -> Result<(crate::format::Format, u64), ConfigError> {
    let format = match o.format.as_deref() {
        None => crate::format::Format::Native,
        Some(f) => crate::format::Format::parse(f).ok_or_else(|| {
            invalid(
                "output.format",
                format!("\"{f}\""),
                "use \"native\", \"ecs\" or \"ocsf\"",
            )
        })?,
    };
    let max = o.max_line_bytes.unwrap_or(DEFAULT_LINE_BYTES);
    if max < MIN_LINE_BYTES {
        return Err(invalid(
            "output.max_line_bytes",
            max,
            format!("it must be at least {MIN_LINE_BYTES}; for Fluent Bit raise Buf_Size instead of lowering this"),
        ));
    }
    Ok((format, max))
}

fn validate_streams(
    prefix: &str,
    raw: &RawStreams,
    poll_lookback: Option<Duration>,
    poll_late: Option<Duration>,
) -> Result<Vec<StreamSettings>, ConfigError> {
    let tables = [
        (StreamKind::DirectoryAudits, &raw.directory_audits),
        (StreamKind::SignIns, &raw.sign_ins),
        (StreamKind::RiskyUsers, &raw.risky_users),
        (StreamKind::RiskDetections, &raw.risk_detections),
        (
            StreamKind::RiskyServicePrincipals,
            &raw.risky_service_principals,
        ),
        (
            StreamKind::ServicePrincipalRiskDetections,
            &raw.service_principal_risk_detections,
        ),
    ];
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
        ] {
            if set && kind != StreamKind::SignIns {
                return Err(invalid(
                    key(k),
                    "a value",
                    format!("`{k}` applies to sign_ins only; remove it"),
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
            .or(poll_lookback)
            .unwrap_or(DEFAULT_INITIAL_LOOKBACK);
        let late_arrival = late_arrival(&key("late_arrival"), &s.late_arrival)?
            .or(poll_late)
            .unwrap_or_else(|| kind.default_late_arrival());
        out.push(StreamSettings {
            kind,
            late_arrival,
            initial_lookback,
            sign_ins,
        });
    }
    if out.is_empty() {
        return Err(ConfigError::Missing {
            key: format!("{prefix}.*"),
            fix: "enable at least one stream, e.g. add a [streams.directory_audits] table".into(),
        });
    }
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
            return Err(invalid(
                key("event_types"),
                "a list",
                "v1.0 returns interactive sign-ins only; set api_version = \"beta\" to choose event types",
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
    Ok(SignInOptions {
        filter,
        beta,
        event_types,
    })
}

fn validate_tenant(
    prefix: &str,
    t: RawTenant,
    streams: Vec<StreamSettings>,
    credentials: bool,
) -> Result<TenantSettings, ConfigError> {
    let key = |k: &str| format!("{prefix}.{k}");
    // AKS workload identity injects these; explicit keys win.
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let id = t
        .id
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| env("AZURE_TENANT_ID"))
        .ok_or_else(|| ConfigError::Missing {
            key: key("id"),
            fix: format!(
                "set id = \"<tenant GUID or domain>\" in [{prefix}] (Entra admin center > Overview > Tenant ID)"
            ),
        })?;
    if id.contains('/') || id.contains(char::is_whitespace) {
        return Err(invalid(
            key("id"),
            format!("\"{id}\""),
            "write the tenant GUID or a verified domain such as contoso.onmicrosoft.com",
        ));
    }
    if ["common", "organizations", "consumers"].contains(&id.to_lowercase().as_str()) {
        return Err(invalid(
            key("id"),
            format!("\"{id}\""),
            "app-only tokens need a specific tenant: write the tenant GUID or a verified domain",
        ));
    }
    let client_id = t
        .client_id
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| env("AZURE_CLIENT_ID"));
    let credential = if credentials {
        validate_credential(prefix, &t, &env)?
    } else {
        Credential::Secret {
            secret: Secret::new(String::new()),
            file: None,
        }
    };
    let client_id = match (&credential, client_id) {
        (_, Some(c)) => c,
        // A system-assigned managed identity needs no client id.
        (Credential::ManagedIdentity { .. }, None) => String::new(),
        (_, None) => {
            return Err(ConfigError::Missing {
                key: key("client_id"),
                fix: format!("set client_id = \"<application (client) id>\" in [{prefix}]"),
            })
        }
    };

    let cloud_name = t.cloud.as_deref().unwrap_or("global");
    let cloud = Cloud::parse(cloud_name).ok_or_else(|| {
        invalid(
            key("cloud"),
            format!("\"{cloud_name}\""),
            "use \"global\", \"usgov\", \"usgov-dod\" or \"china\"",
        )
    })?;
    if cloud == Cloud::China {
        if let Some(s) = streams
            .iter()
            .find(|s| s.kind.family() == crate::kind::Family::IdentityProtection)
        {
            return Err(invalid(
                format!("streams.{}", s.kind.name()),
                "enabled",
                "identity protection is not offered in the china cloud (21Vianet); disable this stream",
            ));
        }
    }
    let login_url = validate_url(
        &key("login_url"),
        t.login_url.as_deref().unwrap_or(cloud.login_url()),
    )?;
    let graph_url = validate_url(
        &key("graph_url"),
        t.graph_url.as_deref().unwrap_or(cloud.graph_url()),
    )?;

    Ok(TenantSettings {
        id,
        client_id,
        credential,
        cloud,
        login_url,
        graph_url,
        streams,
    })
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

/// Exactly one credential: a client secret (env, file or inline), a federated token file, or a
/// managed identity.
fn validate_credential(
    prefix: &str,
    t: &RawTenant,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credential, ConfigError> {
    let key = |k: &str| format!("{prefix}.{k}");
    let pfx = t.certificate_file.as_ref().is_some_and(|f| {
        let ext = f
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        ext == "pfx" || ext == "p12"
    });
    if t.certificate_password_env.is_some() && !pfx {
        return Err(invalid(
            key("certificate_password_env"),
            "a value",
            "it applies only to a .pfx or .p12 certificate_file",
        ));
    }
    if t.certificate_signature.is_some() && t.certificate_file.is_none() {
        return Err(invalid(
            key("certificate_signature"),
            "a value",
            "it applies only with certificate_file",
        ));
    }
    let managed = t.managed_identity.unwrap_or(false);
    if t.managed_identity_endpoint.is_some() && !managed {
        return Err(invalid(
            key("managed_identity_endpoint"),
            "a value",
            "it applies only with managed_identity = true",
        ));
    }
    let chosen = [
        ("client_secret_env", t.client_secret_env.is_some()),
        ("client_secret_file", t.client_secret_file.is_some()),
        ("client_secret", t.client_secret.is_some()),
        ("federated_token_file", t.federated_token_file.is_some()),
        ("managed_identity", managed),
        ("certificate_file", t.certificate_file.is_some()),
    ];
    let set: Vec<&str> = chosen.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect();
    if set.len() > 1 {
        return Err(invalid(
            key(set[0]),
            format!("together with {}", set[1..].join(", ")),
            "set exactly one credential: client_secret_env, client_secret_file, client_secret, certificate_file, federated_token_file or managed_identity = true",
        ));
    }
    if managed {
        return managed_identity(&key, t, env);
    }
    if let Some(file) = &t.certificate_file {
        use crate::auth::certificate::{ClientCertificate, Signature};
        let signature = match t
            .certificate_signature
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("ps256") => Signature::Ps256,
            Some("rs256") => Signature::Rs256,
            Some(other) => {
                return Err(invalid(
                    key("certificate_signature"),
                    format!("\"{other}\""),
                    "use \"ps256\" (the default) or \"rs256\"",
                ))
            }
        };
        let text = std::fs::read(file).map_err(|e| {
            invalid(
                key("certificate_file"),
                file.display(),
                format!("cannot read it ({e}); check the path and its permissions"),
            )
        })?;
        let cert = if pfx {
            let var = t.certificate_password_env.as_deref().unwrap_or("");
            let password = if var.is_empty() {
                String::new()
            } else {
                std::env::var(var).map_err(|_| {
                    invalid(
                        key("certificate_password_env"),
                        format!("\"{var}\""),
                        format!("the environment variable {var} is not set; export the PFX password in it"),
                    )
                })?
            };
            ClientCertificate::from_pfx(&text, &password, signature).map_err(|reason| {
                invalid(
                    key("certificate_file"),
                    file.display(),
                    format!("{reason}; check certificate_password_env, or export the PFX as PEM"),
                )
            })?
        } else {
            ClientCertificate::from_pem(&text, signature).map_err(|reason| {
                invalid(
                    key("certificate_file"),
                    file.display(),
                    format!(
                        "{reason}; give a PEM file with the certificate and its RSA private key"
                    ),
                )
            })?
        };
        return Ok(Credential::Certificate(std::sync::Arc::new(cert)));
    }
    if let Some(file) = t.federated_token_file.clone().or_else(|| {
        set.is_empty()
            .then(|| env("AZURE_FEDERATED_TOKEN_FILE"))
            .flatten()
            .map(PathBuf::from)
    }) {
        return Ok(Credential::FederatedToken { file });
    }
    let secret = if let Some(var) = &t.client_secret_env {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Secret::new(v.trim().to_string()),
            _ => {
                return Err(invalid(
                    key("client_secret_env"),
                    format!("\"{var}\""),
                    format!("the environment variable {var} is not set or empty; export it before starting entra-source"),
                ))
            }
        }
    } else if let Some(file) = &t.client_secret_file {
        match std::fs::read_to_string(file) {
            Ok(v) if !v.trim().is_empty() => Secret::new(v.trim().to_string()),
            Ok(_) => {
                return Err(invalid(
                    key("client_secret_file"),
                    file.display(),
                    "the file is empty; write the client secret into it",
                ))
            }
            Err(e) => {
                return Err(invalid(
                    key("client_secret_file"),
                    file.display(),
                    format!("cannot read it ({e}); check the path and its permissions"),
                ))
            }
        }
    } else if let Some(inline) = &t.client_secret {
        tracing::warn!(
            "{} is written inline in the config file; move it to client_secret_env or client_secret_file",
            key("client_secret")
        );
        Secret::new(inline.clone())
    } else {
        return Err(ConfigError::Missing {
            key: key("client_secret_env"),
            fix: format!(
                "set client_secret_env = \"ENTRA_CLIENT_SECRET\" (or client_secret_file, federated_token_file, managed_identity = true) in [{prefix}]"
            ),
        });
    };
    Ok(Credential::Secret {
        secret,
        file: t.client_secret_file.clone(),
    })
}

/// Azure's identity endpoint: `managed_identity_endpoint`, else App Service's
/// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, else the VM's IMDS. The App Service protocol is used
/// whenever `IDENTITY_HEADER` is set.
fn managed_identity(
    key: &dyn Fn(&str) -> String,
    t: &RawTenant,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credential, ConfigError> {
    let header = env("IDENTITY_HEADER").map(Secret::new);
    let (name, raw) = match (&t.managed_identity_endpoint, env("IDENTITY_ENDPOINT")) {
        (Some(e), _) => (key("managed_identity_endpoint"), e.clone()),
        (None, Some(e)) if header.is_some() => ("IDENTITY_ENDPOINT".to_string(), e),
        _ => (key("managed_identity_endpoint"), IMDS_TOKEN_URL.to_string()),
    };
    let url = Url::parse(&raw)
        .map_err(|e| invalid(&name, format!("\"{raw}\""), format!("not a URL ({e})")))?;
    let imds = url.host_str() == Some(IMDS_HOST);
    if url.scheme() == "http" && !imds && !is_loopback(&url) {
        return Err(invalid(
            &name,
            format!("\"{raw}\""),
            "plain http:// is refused except to loopback and the Azure IMDS address 169.254.169.254",
        ));
    }
    Ok(Credential::ManagedIdentity {
        endpoint: url,
        app_service_header: header,
    })
}

/// Azure Instance Metadata Service: plain HTTP by design, link-local.
pub const IMDS_HOST: &str = "169.254.169.254";
pub const IMDS_TOKEN_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// `https://` anywhere; `http://` only to a loopback address.
pub fn validate_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim_end_matches('/'))
        .map_err(|e| invalid(key, format!("\"{value}\""), format!("not a URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(invalid(
            key,
            format!("\"{value}\""),
            "plain http:// is refused except to loopback (127.0.0.1, ::1, localhost); use https://",
        )),
        other => {
            return Err(invalid(
                key,
                format!("\"{value}\""),
                format!("scheme {other}:// is not supported; use https://"),
            ))
        }
    }
    if url.host_str().is_none() {
        return Err(invalid(key, format!("\"{value}\""), "the URL has no host"));
    }
    Ok(url)
}

/// Whether the URL's host is a loopback address.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<Config, ConfigError> {
        let path = Path::new("/etc/entra-source/config.toml");
        Config::validate(path, parse_raw(path, text)?)
    }

    const MINIMAL: &str = r#"
[tenant]
id = "contoso.onmicrosoft.com"
client_id = "00000000-0000-0000-0000-000000000000"
client_secret = "s3cret"
[streams.directory_audits]
"#;

    #[test]
    fn defaults_follow_the_contract() {
        let c = load_str(MINIMAL).unwrap();
        assert_eq!(c.interval, Duration::from_secs(300));
        assert_eq!(
            c.state_path,
            PathBuf::from("/etc/entra-source/config.toml.state.json")
        );
        let t = &c.tenants[0];
        assert_eq!(t.login_url.as_str(), "https://login.microsoftonline.com/");
        assert_eq!(t.graph_url.as_str(), "https://graph.microsoft.com/");
        assert_eq!(t.streams.len(), 1);
        assert_eq!(t.streams[0].late_arrival, Duration::from_secs(1200));
        assert_eq!(t.streams[0].initial_lookback, Duration::from_secs(3600));
    }

    #[test]
    fn output_formats_and_otlp_endpoint() {
        let with = |output: &str| load_str(&format!("{MINIMAL}[output]\n{output}\n"));
        assert_eq!(
            with("format = \"ecs\"").unwrap().format,
            crate::format::Format::Ecs
        );
        assert_eq!(
            with("format = \"ocsf\"").unwrap().format,
            crate::format::Format::Ocsf
        );
        let e = with("format = \"cef\"").unwrap_err().to_string();
        assert!(e.contains("output.format") && e.contains("\"ocsf\""), "{e}");
        for (endpoint, url) in [
            ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/logs"),
            (
                "https://otel.example.com:4318/",
                "https://otel.example.com:4318/v1/logs",
            ),
            (
                "https://otel.example.com/v1/logs",
                "https://otel.example.com/v1/logs",
            ),
        ] {
            let c = with(&format!("otlp_endpoint = \"{endpoint}\"")).unwrap();
            match c.output_target {
                OutputTarget::Otlp {
                    url: u,
                    batch_records,
                    ..
                } => {
                    assert_eq!(u.as_str(), url);
                    assert_eq!(batch_records, 500);
                }
                other => panic!("{other:?}"),
            }
        }
        let e = with("otlp_endpoint = \"http://collector:4318\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("loopback"), "{e}");
        let e = with("otlp_batch_records = 10").unwrap_err().to_string();
        assert!(e.contains("only with output.otlp_endpoint"), "{e}");
    }

    #[test]
    fn unknown_key_suggests_the_nearest() {
        let text = MINIMAL.replace(
            "[streams.directory_audits]",
            "[poll]\nintervl_seconds = 5\n[streams.directory_audits]",
        );
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("unknown key `intervl_seconds`"), "{err}");
        assert!(err.contains("did you mean `interval_seconds`?"), "{err}");
    }

    #[test]
    fn a_wrong_type_names_the_line() {
        let text = MINIMAL.replace("[streams", "[poll]\ninterval_seconds = \"5\"\n[streams");
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("`interval_seconds = \"5\"`"), "{err}");
    }

    #[test]
    fn clouds_set_both_hosts() {
        for (cloud, login, graph) in [
            (
                "global",
                "https://login.microsoftonline.com/",
                "https://graph.microsoft.com/",
            ),
            (
                "usgov",
                "https://login.microsoftonline.us/",
                "https://graph.microsoft.us/",
            ),
            (
                "usgov-dod",
                "https://login.microsoftonline.us/",
                "https://dod-graph.microsoft.us/",
            ),
            (
                "china",
                "https://login.chinacloudapi.cn/",
                "https://microsoftgraph.chinacloudapi.cn/",
            ),
        ] {
            let text = MINIMAL.replace("[streams", &format!("cloud = \"{cloud}\"\n[streams"));
            let t = &load_str(&text).unwrap().tenants[0];
            assert_eq!(
                (t.login_url.as_str(), t.graph_url.as_str()),
                (login, graph),
                "{cloud}"
            );
            // The token scope is the cloud's Graph root + /.default.
            let tokens = crate::auth::TokenProvider::new(
                reqwest::Client::new(),
                &t.login_url,
                &t.graph_url,
                &t.id,
                &t.client_id,
                Credential::Secret {
                    secret: Secret::new("s".into()),
                    file: None,
                },
            );
            assert_eq!(tokens.scope(), format!("{}.default", graph), "{cloud}");
        }
        let err =
            load_str(&MINIMAL.replace("[streams", "cloud = \"azure\"\n[streams")).unwrap_err();
        assert!(err.to_string().contains("\"usgov-dod\""), "{err}");
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(validate_url("k", "http://127.0.0.1:8080").is_ok());
        assert!(validate_url("k", "http://[::1]:8080").is_ok());
        assert!(validate_url("k", "http://localhost:1").is_ok());
        let err = validate_url("k", "http://graph.example.com")
            .unwrap_err()
            .to_string();
        assert!(err.contains("loopback"), "{err}");
    }

    /// `late_arrival = "100000d"` was accepted and the next poll walked 100,001 one-day windows.
    #[test]
    fn absurd_durations_are_refused_naming_the_key_written() {
        for (table, key, value, needle) in [
            ("poll", "late_arrival", "\"100000d\"", "7d"),
            ("poll", "late_arrival", "\"8d\"", "7d"),
            (
                "streams.directory_audits",
                "late_arrival",
                "\"99999999h\"",
                "7d",
            ),
            ("poll", "initial_lookback", "\"1000000000d\"", "30 days"),
            ("poll", "initial_lookback", "\"0s\"", "more than zero"),
            (
                "poll",
                "interval_seconds",
                "9223372036854775807",
                "at most 604800",
            ),
            ("poll", "interval_seconds", "-5", "at least 1"),
            (
                "poll",
                "late_arrival",
                "\"99999999999999999999d\"",
                "too large",
            ),
        ] {
            let text = if table == "poll" {
                MINIMAL.replace(
                    "[streams.directory_audits]",
                    &format!("[poll]\n{key} = {value}\n[streams.directory_audits]"),
                )
            } else {
                format!("{MINIMAL}{key} = {value}\n")
            };
            let err = load_str(&text).unwrap_err().to_string();
            assert!(err.contains(&format!("`{table}.{key}`")), "{err}");
            assert!(err.contains(needle), "{err}");
        }
        let ok = MINIMAL.replace(
            "[streams.directory_audits]",
            "[poll]\nlate_arrival = \"7d\"\ninterval_seconds = 604800\n[streams.directory_audits]",
        );
        assert!(load_str(&ok).is_ok());
    }

    /// A `[poll] initial_lookback` error named `streams.directory_audits.initial_lookback`.
    #[test]
    fn a_poll_value_error_names_the_poll_key() {
        let text = MINIMAL.replace(
            "[streams.directory_audits]",
            "[poll]\ninitial_lookback = \"31d\"\n[streams.directory_audits]",
        );
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("`poll.initial_lookback`"), "{err}");
        assert!(!err.contains("streams."), "{err}");
    }

    /// "expected i64" read badly.
    #[test]
    fn type_errors_use_words_not_rust_types() {
        let text = MINIMAL.replace(
            "[streams.directory_audits]",
            "[poll]\ninterval_seconds = \"300\"\n[streams.directory_audits]",
        );
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("a whole number (without quotes)"), "{err}");
        assert!(!err.contains("i64"), "{err}");
    }

    #[test]
    fn lookback_is_capped_at_thirty_days() {
        let text = MINIMAL.replace(
            "[streams.directory_audits]",
            "[poll]\ninitial_lookback = \"31d\"\n[streams.directory_audits]",
        );
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("30 days"), "{err}");
        let ok = text.replace("31d", "30d");
        assert!(load_str(&ok).is_ok());
    }

    #[test]
    fn per_stream_late_arrival_overrides_poll() {
        let text = MINIMAL.replace(
            "[streams.directory_audits]",
            "[poll]\nlate_arrival = \"5m\"\n[streams.directory_audits]\nlate_arrival = \"1h\"",
        );
        assert_eq!(
            load_str(&text).unwrap().tenants[0].streams[0].late_arrival,
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn several_tenants_each_with_their_own_streams() {
        let text = r#"
[[tenants]]
id = "contoso.onmicrosoft.com"
client_id = "a"
client_secret = "s"
[[tenants]]
id = "fabrikam.onmicrosoft.com"
client_id = "b"
client_secret = "s"
cloud = "usgov"
[tenants.streams.directory_audits]
late_arrival = "1h"
[streams.directory_audits]
"#;
        let c = load_str(text).unwrap();
        assert_eq!(c.tenants.len(), 2);
        assert_eq!(
            c.tenants[0].streams[0].late_arrival,
            Duration::from_secs(1200)
        );
        assert_eq!(
            c.tenants[1].streams[0].late_arrival,
            Duration::from_secs(3600)
        );
        assert_eq!(
            c.tenants[1].graph_url.as_str(),
            "https://graph.microsoft.us/"
        );
        let both = format!(
            "{}\n{text}",
            MINIMAL.replace("[streams.directory_audits]\n", "")
        );
        let err = load_str(&both).unwrap_err().to_string();
        assert!(err.contains("not both"), "{err}");
    }

    #[test]
    fn sign_in_options() {
        let t = |extra: &str| {
            MINIMAL.replace(
                "[streams.directory_audits]",
                &format!("[streams.sign_ins]\n{extra}"),
            )
        };
        let c = load_str(&t("")).unwrap();
        assert_eq!(c.tenants[0].streams[0].sign_ins, SignInOptions::default());
        let c = load_str(&t(
            "filter = \"risky\"\nevent_types = [\"interactiveUser\", \"nonInteractiveUser\"]",
        ))
        .unwrap();
        let o = &c.tenants[0].streams[0].sign_ins;
        assert_eq!(
            (o.filter, o.beta, o.event_types.len()),
            (SignInFilter::Risky, true, 2)
        );
        let err = load_str(&t(
            "api_version = \"v1.0\"\nevent_types = [\"servicePrincipal\"]",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("set api_version = \"beta\""), "{err}");
        let err = load_str(&t("filter = \"risk\"")).unwrap_err().to_string();
        assert!(err.contains("\"risky\""), "{err}");
        let disabled = MINIMAL.replace(
            "[streams.directory_audits]",
            "[streams.directory_audits]\n[streams.sign_ins]\nenabled = false",
        );
        assert_eq!(load_str(&disabled).unwrap().tenants[0].streams.len(), 1);
    }

    #[test]
    fn identity_protection_is_refused_in_china() {
        let text = MINIMAL.replace(
            "[streams",
            "cloud = \"china\"\n[streams.risky_users]\n[streams",
        );
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("not offered in the china cloud"), "{err}");
    }

    #[test]
    fn missing_tenant_id_names_the_key() {
        let text = MINIMAL.replace("id = \"contoso.onmicrosoft.com\"\n", "");
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("`tenant.id` is missing"), "{err}");
    }
}
