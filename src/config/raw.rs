//! The file as written: serde structs whose doc comments are the reference for every key, and
//! the parse step that turns TOML errors into ones naming the line, the key and the fix.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::ConfigError;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The one tenant to read (use `[[tenants]]` for several).
    pub tenant: Option<RawTenant>,
    /// Several tenants, each with the keys of `[tenant]`.
    pub tenants: Option<Vec<RawTenant>>,
    /// App registrations tenants name with `app = "<name>"`: each its own credential and its
    /// own share of Graph's application-wide budget.
    pub apps: Option<Vec<RawApp>>,
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
    /// User, device and service-principal context on events, from a directory cache.
    #[serde(default)]
    pub context: RawContext,
}

/// `[context]`: the directory cache that puts `context.user`, `context.device` and
/// `context.service_principal` on sign-ins, audits and risk records.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContext {
    /// On by default; each part runs only while the app has its permission (User.Read.All,
    /// Device.Read.All, Application.Read.All, RoleManagement.Read.Directory, or
    /// Directory.Read.All for all).
    pub enabled: Option<bool>,
    /// How often the cache catches up with the directory (a delta round), e.g. "15m".
    pub refresh: Option<String>,
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
    /// Requests per second per tenant to the directory's delta queries (users, devices,
    /// roles): a budget of their own, so an inventory sync never delays the logs (default 5).
    pub directory_requests_per_second: Option<u32>,
}

/// `[[apps]]`: one app registration (a multi-tenant app consented in each of its tenants).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApp {
    /// What tenants write in `app = "<name>"`.
    pub name: Option<String>,
    /// The app registration's application (client) id.
    pub client_id: Option<String>,
    /// Name of the environment variable holding the app's client secret.
    pub client_secret_env: Option<String>,
    /// File holding the app's client secret (trailing newline ignored).
    pub client_secret_file: Option<PathBuf>,
    /// The app's client secret inline: accepted with a warning, prefer the two keys above.
    pub client_secret: Option<String>,
    /// The app's certificate: PEM with its private key, or PFX.
    pub certificate_file: Option<PathBuf>,
    /// Environment variable with the PFX password.
    pub certificate_password_env: Option<String>,
    /// `ps256` (default) or `rs256`.
    pub certificate_signature: Option<String>,
    /// Workload-identity token file (the app's federated credential).
    pub federated_token_file: Option<PathBuf>,
    /// Requests per 10 s to the audit and sign-in logs across all of this app's tenants (Graph:
    /// 122 per app; default `[throttle] app_reports_requests_per_10s`).
    pub reports_requests_per_10s: Option<u32>,
}

/// `[tenant]` / `[[tenants]]`: who to read and with which credentials.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTenant {
    /// Tenant GUID or verified domain (never `common`).
    pub id: Option<String>,
    /// The `[[apps]]` entry whose credential reads this tenant (instead of the keys below).
    pub app: Option<String>,
    /// The app registration's application (client) id.
    pub client_id: Option<String>,
    /// Name of the environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// File holding the client secret (trailing newline ignored).
    pub client_secret_file: Option<PathBuf>,
    /// The client secret inline: accepted with a warning, prefer the two keys above.
    pub client_secret: Option<String>,
    /// A certificate credential: PEM with its private key, or PFX.
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
    /// The ages at which each time slice is read again, for records Graph shows late: one
    /// ("20m") or a list (["5m", "20m"]); default per stream: ["5m", "20m"], sign-ins
    /// ["5m", "40m"], risk detections ["10m", "48h"].
    pub late_arrival: Option<LateArrival>,
    /// Read each slice only once it has settled (at the `late_arrival` ages), never fresh: one
    /// fetch per record, for tenants near Graph's budget (default false).
    pub settle_only: Option<bool>,
    /// Add sweeps an interval apart between the last two `late_arrival` ages while the last
    /// one keeps finding records every earlier read missed, and only while the budget has
    /// room (default true; never in settle-only mode).
    pub learn_sweeps: Option<bool>,
    /// Once per this age, list again the hours this old and emit records every read missed
    /// ("1d", or twice the last `late_arrival` age if longer; "off"; default off in
    /// settle-only mode).
    pub tail_check: Option<String>,
    /// Attempts per Graph or token request (the first included) before the poll gives up and
    /// the cursor stays put for the next one (default 8, backing off from 0.5 s to 60 s).
    pub request_attempts: Option<u32>,
}

/// `late_arrival`: one age or a list of them.
#[derive(Debug, Clone)]
pub enum LateArrival {
    One(String),
    Many(Vec<String>),
}

/// By hand rather than `untagged`, so that `late_arrival = 1200` is answered with what to
/// write instead of "data did not match any variant of untagged enum LateArrival".
impl<'de> Deserialize<'de> for LateArrival {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Ages;
        impl<'de> serde::de::Visitor<'de> for Ages {
            type Value = LateArrival;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration like \"20m\" or a list of them like [\"5m\", \"20m\"]")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LateArrival, E> {
                Ok(LateArrival::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<LateArrival, A::Error> {
                let mut ages = Vec::new();
                while let Some(age) = seq.next_element::<String>()? {
                    ages.push(age);
                }
                Ok(LateArrival::Many(ages))
            }
        }
        d.deserialize_any(Ages)
    }
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
    pub provisioning: Option<RawStream>,
    pub risky_agents: Option<RawStream>,
    pub agent_risk_detections: Option<RawStream>,
    pub users: Option<RawStream>,
    pub devices: Option<RawStream>,
    pub role_assignments: Option<RawStream>,
}

/// `[streams.NAME]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStream {
    /// Default true when the table is present.
    pub enabled: Option<bool>,
    /// Overrides `[poll] late_arrival` for this stream.
    pub late_arrival: Option<LateArrival>,
    /// Overrides `[poll] settle_only` for this stream.
    pub settle_only: Option<bool>,
    /// Overrides `[poll] learn_sweeps` for this stream.
    pub learn_sweeps: Option<bool>,
    /// Overrides `[poll] tail_check` for this stream.
    pub tail_check: Option<String>,
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
    /// `native` (default), `azure_monitor`, `log_analytics`, `ecs` or `ocsf`.
    pub format: Option<String>,
    /// Removed (the native event is one schema now): read only to say what replaced it.
    pub native_profile: Option<String>,
    /// With `format = "log_analytics"`: keep null and empty columns (default false).
    pub keep_null_columns: Option<bool>,
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
    /// Push to an HTTP receiver instead of stdout: each part of a page is POSTed as
    /// newline-delimited JSON (the lines stdout would carry, in the configured format) and the
    /// checkpoint moves only after a 2xx. For Vector's `http_server` source with
    /// acknowledgements on: a host crash then loses nothing. `https://`, or `http://` to
    /// loopback (a sidecar).
    pub http_endpoint: Option<String>,
    /// With `http_endpoint`: how long one POST may take (default 30).
    pub http_timeout_seconds: Option<u32>,
    /// With `http_endpoint`: how long a POST the receiver does not acknowledge (down,
    /// unreachable, answering 5xx/429) is retried before the run stops with exit 1 (default
    /// "10m"). Nothing past the last acknowledged page is checkpointed; the next run resends.
    pub http_give_up_after: Option<String>,
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

pub(crate) fn parse_raw(path: &Path, text: &str) -> Result<RawConfig, ConfigError> {
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
