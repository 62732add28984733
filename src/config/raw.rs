//! The file as written: serde structs whose doc comments are the reference for every key
//! (`docs/configuration.md` is generated from them), and the parse step that turns TOML errors
//! into ones naming the line, the key and the fix.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::ConfigError;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The one tenant to read (use `[[tenants]]` for several).
    pub tenant: Option<RawTenant>,
    /// Several tenants, each with the keys of `[tenant]`, its own checkpoints and optionally its
    /// own `streams`; a tenant whose credentials fail is reported (exit 1 with `--once`, `error`
    /// in `state show` and `/health`) while the others deliver everything
    /// (`config-examples/entra-source-multi-tenant.toml`).
    pub tenants: Option<Vec<RawTenant>>,
    /// Several app registrations (`config-examples/entra-source-apps.toml`), each with its own
    /// credential, budget and pacer; a tenant names one with `app = "<name>"`.
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
    /// Client-side request budgets, below Graph's throttling limits.
    #[serde(default)]
    pub throttle: RawThrottle,
    #[serde(default)]
    pub tls: RawTls,
    /// User, device and service-principal context on events, from a directory cache.
    #[serde(default)]
    pub context: RawContext,
}

/// `[tenant]` / `[[tenants]]`: who to read and with which credential (exactly one of
/// `client_secret_env`, `client_secret_file`, `client_secret`, `certificate_file`,
/// `federated_token_file`, `managed_identity`, or `app`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTenant {
    /// Required: the tenant's GUID or a verified domain (never `common`). Events, metrics and
    /// the state always carry the GUID (a domain is resolved once per run from the `tid` of the
    /// tenant's token). With `federated_token_file`, defaults to `AZURE_TENANT_ID`.
    pub id: Option<String>,
    /// The name of an `[[apps]]` entry whose `client_id` and credential read this tenant,
    /// instead of `client_id` and a credential here (setting both is refused).
    pub app: Option<String>,
    /// Required without `app`: the app registration's Application (client) ID. With
    /// `federated_token_file`, defaults to `AZURE_CLIENT_ID`; with `managed_identity`, picks a
    /// user-assigned identity.
    pub client_id: Option<String>,
    /// The name of the environment variable holding the client secret (its *Value*, not its
    /// Secret ID).
    pub client_secret_env: Option<String>,
    /// A file holding the client secret (a trailing newline is ignored); read again when Entra
    /// answers AADSTS7000215 or 7000222, so a rotated secret is picked up without a restart.
    pub client_secret_file: Option<PathBuf>,
    /// The client secret inline: accepted with a warning; prefer the two keys above.
    pub client_secret: Option<String>,
    /// A certificate credential: a PEM file with the certificate and its RSA private key, or a
    /// `.pfx`/`.p12` with its password in `certificate_password_env`. Each token request sends
    /// a fresh client assertion (RFC 7523: `aud` the token endpoint, a new `jti`, a 10-minute
    /// `exp`).
    pub certificate_file: Option<PathBuf>,
    /// The environment variable holding the PFX password.
    pub certificate_password_env: Option<String>,
    /// `ps256` (default: PS256 with the `x5t#S256` thumbprint) or `rs256` (RS256 with `x5t`).
    pub certificate_signature: Option<String>,
    /// Workload identity federation (AKS): the file's token is the client assertion, read again
    /// for every token request (the kubelet rotates it). Default `AZURE_FEDERATED_TOKEN_FILE`.
    pub federated_token_file: Option<PathBuf>,
    /// An Azure managed identity (default false). The endpoint is `managed_identity_endpoint`,
    /// else App Service's `IDENTITY_ENDPOINT` with `IDENTITY_HEADER`, else the VM's IMDS
    /// (`http://169.254.169.254`, the one non-loopback `http://` allowed).
    pub managed_identity: Option<bool>,
    /// Overrides the managed identity endpoint.
    pub managed_identity_endpoint: Option<String>,
    /// `global` (default), `usgov`, `usgov-dod` or `china`: sets the login host, the Graph root
    /// and the `.default` scope together. On `china` the identity-protection and agent streams
    /// are a config error (21Vianet does not offer them); on `usgov`, `usgov-dod` the agent
    /// streams are.
    pub cloud: Option<String>,
    /// Overrides the cloud's login host; `http://` only to loopback.
    pub login_url: Option<String>,
    /// Overrides the cloud's Graph root; `http://` only to loopback.
    pub graph_url: Option<String>,
    /// Replaces the top-level `[streams]` for this tenant.
    pub streams: Option<RawStreams>,
    /// The tenant's Event Hubs: Microsoft's export stream of its diagnostic settings, read
    /// beside (or instead of) Graph.
    pub hubs: Option<Vec<RawHub>>,
}

/// `[[tenants.hubs]]` (`[[tenant.hubs]]`): one Event Hubs namespace and the hubs Entra's
/// diagnostic settings stream to. Each hub's records are normalized as their Graph stream's
/// (export-only categories get their own dataset), deduplicated against Graph's by the
/// record id, and checkpointed per partition.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHub {
    /// Required: the namespace's host name, `<namespace>.servicebus.windows.net` (its Kafka
    /// endpoint, port 9093, TLS). A loopback `host:port` (a test broker) is read without TLS.
    pub namespace: Option<String>,
    /// Required: the hubs to read (a diagnostic setting without a hub name makes one per
    /// category: `insights-logs-signinlogs`, `insights-logs-auditlogs`, …).
    pub hubs: Option<Vec<String>>,
    /// `app` (default: the tenant's own credential, a token for Event Hubs sent as OAUTHBEARER;
    /// the app needs the Azure Event Hubs Data Receiver role on the namespace),
    /// `connection_string` (implied by the two keys below: SASL PLAIN, `$ConnectionString`) or
    /// `none` (a loopback broker only).
    pub authentication: Option<String>,
    /// The environment variable holding a connection string (a Listen policy's).
    pub connection_string_env: Option<String>,
    /// A file holding a connection string, read again at each reconnect.
    pub connection_string_file: Option<PathBuf>,
    /// Where a hub with no checkpoint starts: `earliest` (default: the oldest message the hub
    /// keeps), `latest`, or a time (`2026-12-01T00:00:00Z`). Records another path already
    /// emitted are never emitted again.
    pub start: Option<String>,
    /// A larger message is refused and counted (default 1048576, Event Hubs' own limit).
    pub max_message_bytes: Option<u64>,
    /// How long the ids of a category no Graph stream reads are remembered to drop the
    /// export's re-sends (default `2h`).
    pub dedup_window: Option<String>,
}

/// `[[apps]]`: one app registration (a multi-tenant app consented in each of its tenants). Two
/// entries with the same `client_id` are refused (one registration has one budget); `check`
/// prints a line per app: its tenants, budget, per-tenant pace and how many tenants fail.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApp {
    /// What tenants write in `app = "<name>"`.
    pub name: Option<String>,
    /// The app registration's Application (client) ID.
    pub client_id: Option<String>,
    /// The name of the environment variable holding the app's client secret.
    pub client_secret_env: Option<String>,
    /// A file holding the app's client secret (trailing newline ignored).
    pub client_secret_file: Option<PathBuf>,
    /// The app's client secret inline: accepted with a warning; prefer the two keys above.
    pub client_secret: Option<String>,
    /// The app's certificate: PEM with its private key, or PFX.
    pub certificate_file: Option<PathBuf>,
    /// The environment variable holding the PFX password.
    pub certificate_password_env: Option<String>,
    /// `ps256` (default) or `rs256`.
    pub certificate_signature: Option<String>,
    /// Workload-identity token file (the app's federated credential).
    pub federated_token_file: Option<PathBuf>,
    /// Requests per 10 s to the audit and sign-in logs across all of this app's tenants (Graph:
    /// 122 per app; default `[throttle] app_reports_requests_per_10s`).
    pub reports_requests_per_10s: Option<u32>,
}

/// `[state]`: the checkpoint store (docs/design.md § The state store).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    /// The checkpoint file (created `0600`); default: the config file's path with
    /// `.state.json` appended. Directory caches live beside it.
    pub path: Option<PathBuf>,
}

/// `[poll]`: timing shared by every stream; each `[streams.NAME]` may override it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPoll {
    /// Seconds from the start of one poll to the start of the next (a poll that takes longer is
    /// followed at once), 1 to 604800 (7 days); default 300.
    pub interval_seconds: Option<i64>,
    /// Where a stream without a checkpoint starts: more than zero, at most "30d"; default "1h".
    pub initial_lookback: Option<String>,
    /// The settle sweeps: the ages at which each time slice is read again for records Graph
    /// shows late, one ("20m") or a list (["5m", "20m"], up to 4), each above zero and at most
    /// "7d"; each age is one more read of every record. Default per stream: ["5m", "20m"],
    /// sign-ins ["5m", "40m"], risk detections ["10m", "48h"].
    pub late_arrival: Option<LateArrival>,
    /// Skip the fresh read: each slice is read only once it has settled (at the `late_arrival`
    /// ages), one fetch per record with one age, for tenants near Graph's budget; events arrive
    /// that much later. Default false.
    pub settle_only: Option<bool>,
    /// Add sweeps one interval apart between the last two `late_arrival` ages (at most 8) while
    /// the last one keeps finding more than 1 % of the records every earlier read missed, and
    /// take them away when the top one and the last find under 0.5 %; only while the stream
    /// uses under half its share of the tenant's budget. Default true; never in settle-only
    /// mode; false reads exactly at `late_arrival`.
    pub learn_sweeps: Option<bool>,
    /// The long-age check: once per this age, list again the whole hours this old and emit what
    /// every read missed (found against a 16-byte-an-hour digest of what was emitted), counted
    /// in `state show`, the `entra_source_late_records_*` metrics and a `late_records` health
    /// event. At least twice the last `late_arrival` age, at most "7d", or "off". Default "1d"
    /// (twice the last age when that is longer); off by default in settle-only mode.
    pub tail_check: Option<String>,
    /// Attempts per Graph or token request (the first included), 1 to 20, backing off from
    /// 0.5 s to 60 s, before the poll gives up with the cursor unchanged and the next poll
    /// resumes there. Default 8.
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

/// `[streams]`: one optional table per Graph resource (docs/streams.md); a present table is
/// enabled unless its `enabled` is false.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStreams {
    /// `/v1.0/auditLogs/directoryAudits`: every directory change (`AuditLog.Read.All`; any
    /// licence).
    pub directory_audits: Option<RawStream>,
    /// `/beta` (or `/v1.0`) `auditLogs/signIns`, one cursor per sign-in type
    /// (`AuditLog.Read.All`; Entra ID P1/P2).
    pub sign_ins: Option<RawStream>,
    /// `/v1.0/identityProtection/riskyUsers`: each change of a user's risk (`IdentityRiskyUser.Read.All`; P2).
    pub risky_users: Option<RawStream>,
    /// `/v1.0/identityProtection/riskDetections`: each detection and each change of its state
    /// (`IdentityRiskEvent.Read.All`; P1/P2).
    pub risk_detections: Option<RawStream>,
    /// `/v1.0/identityProtection/riskyServicePrincipals` (`IdentityRiskyServicePrincipal.Read.All`;
    /// Workload ID Premium).
    pub risky_service_principals: Option<RawStream>,
    /// `/v1.0/identityProtection/servicePrincipalRiskDetections` (`IdentityRiskEvent.Read.All`;
    /// Workload ID Premium).
    pub service_principal_risk_detections: Option<RawStream>,
    /// `/v1.0/auditLogs/provisioning`: what the provisioning service did in SaaS apps and HR
    /// systems (`AuditLog.Read.All`; P1/P2).
    pub provisioning: Option<RawStream>,
    /// `/beta/identityProtection/riskyAgents`, global cloud only (`IdentityRiskyAgent.Read.All`; P2).
    pub risky_agents: Option<RawStream>,
    /// `/beta/identityProtection/agentRiskDetections`, global cloud only
    /// (`IdentityRiskEvent.Read.All`; P2).
    pub agent_risk_detections: Option<RawStream>,
    /// `/v1.0/users/delta`: the user inventory, one delta round per poll (`User.Read.All`).
    pub users: Option<RawStream>,
    /// `/v1.0/devices/delta`: the device inventory (`Device.Read.All`).
    pub devices: Option<RawStream>,
    /// `/v1.0/directoryRoles/delta`: directory role members added and removed
    /// (`RoleManagement.Read.Directory`).
    pub role_assignments: Option<RawStream>,
}

/// `[streams.NAME]`: one stream; the timing keys override `[poll]` for it.
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
    /// Audits the tenant's Event Hubs (`[[tenants.hubs]]`, default false): the stream reads
    /// each slice once, settled (`late_arrival`, default `["2h"]`, one age), compares what
    /// Graph lists with what the hub delivered, and emits only what the hub lost
    /// (`event.collected_from = "graph_audit"`); per hour both counts go to `state show` and a
    /// `connector_health` event (`state = "audited"`).
    pub audit: Option<bool>,
    /// sign_ins only: `all` (default), `risky` (risk level low, medium or high during the
    /// sign-in: three queries per sign-in type, P2 needed, or Graph reports every level as
    /// `hidden`) or `failures` (`status.errorCode` ≠ 0: read as `all`, filtered here).
    pub filter: Option<String>,
    /// sign_ins only: `beta` (default: every sign-in type, `userAgent`,
    /// `authenticationRequirement` …) or `v1.0` (interactive only, fewer fields).
    pub api_version: Option<String>,
    /// sign_ins only, beta: `interactiveUser` (default), `nonInteractiveUser`,
    /// `servicePrincipal`, `managedIdentity`; one cursor each.
    pub event_types: Option<Vec<String>>,
    /// sign_ins only: which sign-in types are summarized rather than emitted whole.
    pub shaping: Option<RawShaping>,
}

/// `[streams.sign_ins.shaping]`: per sign-in type, `"full"` (the default: every record) or
/// `"summarize"` (failures, risk, conditional access that failed or did not apply, agentic
/// sign-ins and the first sign-in from a new IP, autonomous system, country, app, resource,
/// device or client are kept in full; the rest counted into one summary per window and key).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct RawShaping {
    /// `"full"` or `"summarize"` for interactive sign-ins.
    pub interactiveUser: Option<String>,
    /// `"full"` or `"summarize"` for non-interactive sign-ins (token refreshes).
    pub nonInteractiveUser: Option<String>,
    /// `"full"` or `"summarize"` for service principals' sign-ins.
    pub servicePrincipal: Option<String>,
    /// `"full"` or `"summarize"` for managed identities' sign-ins.
    pub managedIdentity: Option<String>,
    /// The span of record time one summary covers, "1m" to "1h" (default "15m").
    pub window: Option<String>,
    /// How long a value (IP, autonomous system, country, app, resource, device, client) first
    /// kept in full stays known for an identity; after it, the next sign-in showing it is kept in
    /// full again. "1d" to "30d" (default "14d"), counted in whole days.
    pub new_horizon: Option<String>,
}

/// `[output]`: where the events go (stdout by default) and in which schema.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    /// `native` (default: entra-source's summary and the Graph record), `azure_monitor`
    /// (Microsoft's export shape), `log_analytics` (the Log Analytics table's row), `ecs` or
    /// `ocsf` (docs/events.md). With the two Microsoft shapes no directory context is fetched
    /// and `[context] enabled = true` is refused.
    pub format: Option<String>,
    /// Removed (the native event is one schema now): refused with its replacement (`full` →
    /// `format = "log_analytics"` or `"azure_monitor"`; `lean` → remove it).
    pub native_profile: Option<String>,
    /// With `format = "log_analytics"`: keep the row's null and empty columns (every column of
    /// the table) instead of leaving them out. Default false.
    pub keep_null_columns: Option<bool>,
    /// Push to an OpenTelemetry Collector's OTLP/HTTP receiver instead of stdout: JSON
    /// `ExportLogsServiceRequest`s to `<endpoint>/v1/logs` (appended unless the URL ends with
    /// it), one `resourceLogs` per tenant, each record's body the event in `format` as a kvlist,
    /// `severityNumber` 9/10/13/17. The checkpoint moves only after a 2xx; 429/502/503/504 and
    /// an unreachable Collector are retried (obeying `Retry-After`), 413 halves the batch,
    /// other answers stop the run with the status and fix. `https://`, or `http://` to
    /// loopback only; one destination of `path`, `otlp_endpoint`, `http_endpoint`.
    pub otlp_endpoint: Option<String>,
    /// With `otlp_endpoint`: log records per export request (default 500; requests also stay
    /// under 8 MiB).
    pub otlp_batch_records: Option<u32>,
    /// With `otlp_endpoint`: seconds one export request may take (default 30).
    pub otlp_timeout_seconds: Option<u32>,
    /// With `otlp_endpoint`: how long a batch the Collector does not acknowledge (down,
    /// unreachable, answering 5xx/429) is retried before the run stops with exit 1 (default
    /// "10m", at most "7d"). Nothing past the last acknowledged page is checkpointed; the next
    /// run resends it.
    pub otlp_give_up_after: Option<String>,
    /// Push to an HTTP receiver instead of stdout: each part of a page (about 256 KiB of lines)
    /// is POSTed as newline-delimited JSON (`application/x-ndjson`), the lines stdout would
    /// carry, and the checkpoint moves only after a 2xx. For Vector's `http_server` source with
    /// acknowledgements on its sink (`config-examples/vector-http.toml`): a host crash then
    /// loses nothing. Retried as `otlp_endpoint`; 413 splits the body at a line end.
    /// `https://`, or `http://` to loopback only.
    pub http_endpoint: Option<String>,
    /// With `http_endpoint`: seconds one POST may take (default 30).
    pub http_timeout_seconds: Option<u32>,
    /// With `http_endpoint`: how long a POST the receiver does not acknowledge (down,
    /// unreachable, answering 5xx/429) is retried before the run stops with exit 1 (default
    /// "10m", at most "7d"). Nothing past the last acknowledged page is checkpointed; the next
    /// run resends it.
    pub http_give_up_after: Option<String>,
    /// Append to this file instead of stdout (for the Collector's filelog receiver or any
    /// tailer): whole lines only, fsynced before the checkpoint moves; a partial last line left
    /// by a crash is cut on the next start. Created `0600` (it holds UPNs and IP addresses).
    pub path: Option<PathBuf>,
    /// With `path`: rotate to `path.1` … when the file would grow past this many bytes (default
    /// 100 MiB, at least `max_line_bytes`).
    pub rotate_size_bytes: Option<u64>,
    /// With `path`: how many rotated files to keep, 1 to 1000 (default 5).
    pub rotate_keep: Option<u32>,
    /// The longest line written (default 1048576, at least 4096): an event that would be longer
    /// loses its raw record first, marked `entra_source.truncated`, and is logged. Match it to
    /// the host's line limit (Fluent Bit `Buf_Size`, Vector's `max_length`).
    pub max_line_bytes: Option<u64>,
}

/// `[metrics]`: the Prometheus and health server (docs/operations.md § Metrics and health).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// Address and port for Prometheus text at `/metrics` and JSON health at `/health`,
    /// `/health/ready` and `/health/live`, e.g. "127.0.0.1:9464". Default: no server.
    pub listen: Option<String>,
}

/// `[throttle]`: the client paces itself under Graph's documented limits instead of learning
/// them from 429s (it still obeys every 429). Lower them if Graph throttles anyway.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThrottle {
    /// Requests per 10 s per tenant to the audit, sign-in and provisioning logs together
    /// (Graph: 5; default 5).
    pub reports_requests_per_10s: Option<u32>,
    /// Requests per second per tenant to identity protection (Graph: 1, shared with every other
    /// app; default 1).
    pub identity_protection_requests_per_second: Option<u32>,
    /// Requests per 10 s to the audit and sign-in logs across every tenant of one app (Graph:
    /// 122; default 122). With more tenants than it covers at 5 each, each tenant is paced at an
    /// equal share, and one pacer per app holds them all under it. Tenants are grouped by app:
    /// their `[[apps]]` entry, else their `client_id`.
    pub app_reports_requests_per_10s: Option<u32>,
    /// Requests per second per tenant to the directory's delta queries (users, devices, roles,
    /// the directory context): a budget of their own, so an inventory sync never delays the logs
    /// (default 5).
    pub directory_requests_per_second: Option<u32>,
}

/// `[tls]`: for networks that inspect TLS. (`HTTPS_PROXY` / `NO_PROXY` are read from the
/// environment.)
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// A PEM bundle of extra CA certificates to trust (a TLS-inspecting proxy's CA), on top of
    /// the built-in web roots. A TLS failure names the host, the certificate problem (e.g.
    /// `UnknownIssuer`) and this key.
    pub ca_file: Option<PathBuf>,
}

/// `[context]`: the directory cache that puts `context.user`, `context.device` and
/// `context.service_principal` on sign-ins, audits and risk records (docs/events.md § Directory
/// context).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContext {
    /// Default true; each part runs only while the app has its permission (`User.Read.All`,
    /// `Device.Read.All`, `Application.Read.All`, `RoleManagement.Read.Directory`, or
    /// `Directory.Read.All` for all); false makes no request and no cache file.
    pub enabled: Option<bool>,
    /// How often the cache catches up with the directory (one delta round), default "15m".
    pub refresh: Option<String>,
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
