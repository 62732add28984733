//! The Graph simulator: a faithful stand-in for `login.microsoftonline.com` and
//! `graph.microsoft.com` on a loopback port, for tests, `demo` and `simulate`.
//!
//! It serves the token endpoint (with its AADSTS errors) and the log resources with Graph's
//! real response shapes, `$filter`/`$top`/`$orderby` semantics, opaque `@odata.nextLink`
//! paging, and the faults tests inject: 429 with fractional `Retry-After`, 503/504, malformed
//! pages, invalid skip tokens, expired tokens, slow responses, records that become visible late.
//! Tests drive it in-process through [`Simulator`]; `entra-source simulate` exposes the same
//! controls over HTTP under `/_sim/`.

mod agents;
mod appearance;
pub use appearance::{Appearance, DelayProfile};
use server::jwt::RegisteredCertificate;
mod data;
mod directory;
pub mod filter;
mod provisioning;
mod rng;
mod serve;
mod signin_mix;
mod tls;
pub use serve::serve_forever;
pub use signin_mix::Mix;
pub mod graph;
mod resource;
mod server;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub use data::{directory_audit as synthetic_directory_audit, Rng, Spread};
pub use directory::{DirectoryKind, ROLES as DIRECTORY_ROLES};
pub use resource::{Licence, Resource};

/// The simulated tenant, app and secret (not secrets: they only open the simulator).
pub const TENANT_ID: &str = "8f1b6c2e-4f5a-4c3d-9e2b-7a6d5c4b3a21";
pub const TENANT_DOMAIN: &str = "contoso.onmicrosoft.com";
pub const CLIENT_ID: &str = "5d8e7c6b-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
pub const CLIENT_SECRET: &str = "sim~S3cret.Value-do-not-reuse-0123456789";

/// The federated identity credential registered on the simulated app (workload identity).
pub const FEDERATED_ISSUER: &str = "https://oidc.simulator.invalid/cluster";
pub const FEDERATED_SUBJECT: &str = "system:serviceaccount:security:entra-source";
/// A user-assigned managed identity of the simulated host.
pub const MANAGED_IDENTITY_CLIENT_ID: &str = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";
/// App Service's identity header value.
pub const IDENTITY_HEADER: &str = "sim-identity-header-0f1e2d3c";
/// Where the simulator serves the IMDS and App Service identity endpoints.
pub const IMDS_IDENTITY_PATH: &str = "/metadata/identity/oauth2/token";
pub const APP_SERVICE_IDENTITY_PATH: &str = "/msi/token";

/// A failure the simulator answers instead of the real response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Fault {
    /// 429 with Graph's throttling body, and `Retry-After` when given (e.g. "2.128").
    Throttle { retry_after: Option<String> },
    /// 503 "serviceNotAvailable", with `Retry-After` when given.
    Unavailable { retry_after: Option<String> },
    /// 504.
    GatewayTimeout,
    /// 200 with a truncated JSON body.
    MalformedPage,
    /// 401 InvalidAuthenticationToken; the presented token is forgotten.
    TokenExpired,
}

/// One request the simulator received.
#[derive(Debug, Clone, Serialize)]
pub struct RequestLog {
    #[serde(skip)]
    pub at: Instant,
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
    pub method: String,
    pub path: String,
    /// The raw query string.
    pub query: String,
    pub status: u16,
    pub retry_after: Option<String>,
    /// Records in the returned page.
    pub records: usize,
}

impl RequestLog {
    pub fn is_token(&self) -> bool {
        self.path.ends_with("/oauth2/v2.0/token")
    }
    pub fn is_graph(&self) -> bool {
        !self.is_token() && !self.path.starts_with("/_sim")
    }
    /// The decoded value of one query option.
    pub fn param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SimRecord {
    time: DateTime<Utc>,
    id: String,
    json: Value,
    visible: bool,
    /// When Graph shows it (its timestamp plus the appearance delay; revealed records and
    /// records inserted as given: at once).
    appears: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct PagePosition {
    /// The query options of the first request, without `$skiptoken`.
    query: String,
    after: (DateTime<Utc>, String),
}

#[derive(Debug)]
pub(crate) struct SimState {
    started: Instant,
    /// The app registration the tenant consented to (default [`CLIENT_ID`]).
    client_id: String,
    secret: String,
    secret_expired: bool,
    tokens: HashMap<String, Instant>,
    issued: Vec<String>,
    /// The `jti` of every federated assertion accepted.
    assertions: Vec<String>,
    /// Certificates registered on the app (keyCredentials).
    certificates: Vec<RegisteredCertificate>,
    token_ttl: Duration,
    records: HashMap<Resource, Vec<SimRecord>>,
    positions: HashMap<String, PagePosition>,
    fault_every: Option<(u64, Fault)>,
    /// `None` lets one request through untouched.
    fault_queue: VecDeque<Option<Fault>>,
    invalid_skiptokens: u32,
    delay: Duration,
    graph_requests: u64,
    requests: Vec<RequestLog>,
    rng: Rng,
    generated: u64,
    licences: HashSet<Licence>,
    /// Tenant ids answered besides TENANT_ID and TENANT_DOMAIN (one simulator per tenant in
    /// multi-tenant tests).
    pub(crate) tenant_aliases: HashSet<String>,
    /// The `tid` its tokens carry: [`TENANT_ID`], or the GUID given to [`Simulator::accept_tenant`].
    pub(crate) tenant_guid: String,
    /// Token scopes accepted besides this simulator's own Graph and Microsoft's.
    pub(crate) extra_scopes: HashSet<String>,
    roles: Vec<String>,
    refused_filters: HashSet<(Resource, String)>,
    /// Enforce Graph's per-tenant limits: arrivals of accepted requests per family.
    enforce_limits: bool,
    /// How far the simulated clock (the `Date` of every answer, changed records' times) runs
    /// ahead of the real one: tests move time instead of sleeping.
    clock_offset: chrono::Duration,
    report_arrivals: VecDeque<Instant>,
    protection_arrivals: VecDeque<Instant>,
    pub(crate) directory: directory::Directory,
    /// When generated records become visible ([`Simulator::set_appearance`]).
    pub(crate) appearance: Appearance,
}

/// Every application permission the simulated app can hold.
pub const ALL_ROLES: [&str; 10] = [
    "AuditLog.Read.All",
    "Directory.Read.All",
    "IdentityRiskyUser.Read.All",
    "IdentityRiskEvent.Read.All",
    "IdentityRiskyServicePrincipal.Read.All",
    "IdentityRiskyAgent.Read.All",
    "User.Read.All",
    "Device.Read.All",
    "RoleManagement.Read.Directory",
    "Application.Read.All",
];

/// A running simulator.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Mutex<SimState>>,
    server: tokio::task::JoinHandle<()>,
    tls: bool,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Simulator {
    /// Starts on an ephemeral loopback port.
    pub async fn start() -> std::io::Result<Simulator> {
        Simulator::start_on("127.0.0.1:0".parse().expect("loopback address")).await
    }

    /// Starts on `addr`, which must be a loopback address.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Simulator> {
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the simulator listens on loopback only; {addr} is not a loopback address"),
            ));
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Simulator::new_state();
        let app = server::router(shared.clone(), format!("http://{addr}"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Simulator {
            addr,
            shared,
            server,
            tls: false,
        })
    }

    fn new_state() -> Arc<Mutex<SimState>> {
        Arc::new(Mutex::new(SimState {
            started: Instant::now(),
            client_id: CLIENT_ID.to_string(),
            secret: CLIENT_SECRET.to_string(),
            secret_expired: false,
            tokens: HashMap::new(),
            issued: Vec::new(),
            assertions: Vec::new(),
            certificates: Vec::new(),
            token_ttl: Duration::from_secs(3599),
            records: HashMap::new(),
            positions: HashMap::new(),
            fault_every: None,
            fault_queue: VecDeque::new(),
            invalid_skiptokens: 0,
            delay: Duration::ZERO,
            graph_requests: 0,
            requests: Vec::new(),
            rng: Rng::new(0x5eed),
            generated: 0,
            licences: [Licence::P1, Licence::P2, Licence::WorkloadIdentitiesPremium]
                .into_iter()
                .collect(),
            tenant_aliases: HashSet::new(),
            tenant_guid: TENANT_ID.to_string(),
            extra_scopes: HashSet::new(),
            roles: ALL_ROLES.iter().map(|r| r.to_string()).collect(),
            refused_filters: HashSet::new(),
            enforce_limits: false,
            clock_offset: chrono::Duration::zero(),
            report_arrivals: VecDeque::new(),
            protection_arrivals: VecDeque::new(),
            directory: Default::default(),
            appearance: Appearance::Immediate,
        }))
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, SimState> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: both the login URL and the Graph URL.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// A config for the simulated tenant (secret in a file); `extra` is appended verbatim.
    pub fn config_toml(
        &self,
        secret_file: &std::path::Path,
        state_path: &std::path::Path,
        extra: &str,
    ) -> String {
        format!(
            "[tenant]\nid = \"{TENANT_ID}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{}\"\nlogin_url = \"{base}\"\ngraph_url = \"{base}\"\n\n[state]\npath = \"{}\"\n\n{extra}\n",
            secret_file.display(),
            state_path.display(),
            base = self.base_url(),
        )
    }

    /// Adds `count` synthetic records spread as given, visible at once. Returns their ids.
    pub fn generate(&self, resource: Resource, count: u64, spread: Spread) -> Vec<String> {
        self.state()
            .generate(resource, count, spread, &Value::Null, true)
    }

    /// Adds records that Graph does not show yet (late arrival); [`Simulator::reveal`] shows them.
    pub fn generate_hidden(&self, resource: Resource, count: u64, spread: Spread) -> Vec<String> {
        self.state()
            .generate(resource, count, spread, &Value::Null, false)
    }

    /// Adds synthetic records with `overlay` merged into each (e.g. a sign-in event type, a
    /// rule's scenario). Returns their ids.
    pub fn generate_with(
        &self,
        resource: Resource,
        count: u64,
        spread: Spread,
        overlay: Value,
        visible: bool,
    ) -> Vec<String> {
        self.state()
            .generate(resource, count, spread, &overlay, visible)
    }

    /// Changes a record the way Graph does when a risk state changes: merges `patch` and, unless
    /// the patch sets it, moves the resource's time field to two seconds ago (Graph shows a
    /// change a little after it happens). Returns false if no such id.
    pub fn update(&self, resource: Resource, id: &str, patch: Value) -> bool {
        let mut st = self.state();
        let Some(recs) = st.records.get_mut(&resource) else {
            return false;
        };
        let Some(pos) = recs.iter().position(|r| r.id == id) else {
            return false;
        };
        let old = recs.remove(pos);
        let mut json = old.json;
        json[resource.time_field()] =
            data::graph_timestamp(st.now() - chrono::Duration::seconds(2)).into();
        data::merge(&mut json, &patch);
        st.insert(resource, json, old.visible);
        true
    }

    /// The tenant's licences (default: all of them).
    /// Answers token requests for this tenant id too (this simulator then stands for it); a
    /// GUID also becomes the `tid` of the tokens it issues.
    pub fn accept_tenant(&self, id: &str) {
        let mut st = self.state();
        st.tenant_aliases.insert(id.to_ascii_lowercase());
        if crate::graph::is_guid(id) {
            st.tenant_guid = id.to_ascii_lowercase();
        }
    }

    /// Issues tokens for this Graph root too (`{graph_url}/.default`), as Entra does for
    /// any Graph deployment: a test can then point graph_url where nothing answers.
    pub fn accept_graph(&self, graph_url: &str) {
        self.state()
            .extra_scopes
            .insert(format!("{}/.default", graph_url.trim_end_matches('/')));
    }

    pub fn set_licences(&self, licences: &[Licence]) {
        self.state().licences = licences.iter().copied().collect();
    }

    /// The app's granted application permissions (default: [`ALL_ROLES`]).
    pub fn set_roles(&self, roles: &[&str]) {
        self.state().roles = roles.iter().map(|r| r.to_string()).collect();
    }

    /// Makes Graph answer 400 to any `$filter` on `property` of `resource`.
    pub fn refuse_filter(&self, resource: Resource, property: &str) {
        self.state()
            .refused_filters
            .insert((resource, property.to_string()));
    }

    /// Enforces Graph's per-tenant limits: 5 requests per 10 s to the audit and sign-in logs
    /// (429 with a fractional `Retry-After`), 1 request per second to identity protection (429
    /// without `Retry-After`).
    pub fn enforce_graph_limits(&self, on: bool) {
        self.state().enforce_limits = on;
    }

    /// Adds one record as given (e.g. a fixture), visible or not.
    pub fn insert(&self, resource: Resource, record: Value, visible: bool) {
        self.state().insert(resource, record, visible);
    }

    /// Makes hidden records visible; `None` reveals all.
    pub fn reveal(&self, ids: Option<&[String]>) {
        let mut st = self.state();
        for recs in st.records.values_mut() {
            for r in recs.iter_mut() {
                if ids.is_none_or(|ids| ids.contains(&r.id)) {
                    r.visible = true;
                }
            }
        }
    }

    /// Every record of the resource as stored (visible or not), in time order.
    pub fn records(&self, resource: Resource) -> Vec<Value> {
        self.state()
            .records
            .get(&resource)
            .map(|v| v.iter().map(|r| r.json.clone()).collect())
            .unwrap_or_default()
    }

    /// The ids of every record of the resource, visible or not.
    pub fn ids(&self, resource: Resource) -> Vec<String> {
        self.state()
            .records
            .get(&resource)
            .map(|v| v.iter().map(|r| r.id.clone()).collect())
            .unwrap_or_default()
    }

    /// Answers `fault` to every `n`-th Graph request (token requests do not count).
    pub fn fault_every(&self, n: u64, fault: Fault) {
        self.state().fault_every = (n > 0).then_some((n, fault));
    }

    /// Answers these faults to the next Graph requests, in order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.push_faults_after(0, faults);
    }

    /// Lets `n` Graph requests through, then answers these faults to the next ones.
    pub fn push_faults_after(&self, n: usize, faults: impl IntoIterator<Item = Fault>) {
        let mut st = self.state();
        st.fault_queue.extend(std::iter::repeat_n(None, n));
        st.fault_queue.extend(faults.into_iter().map(Some));
    }

    /// The next `n` requests that carry a `$skiptoken` get 400 "Invalid Skip Token".
    pub fn invalid_skiptokens(&self, n: u32) {
        self.state().invalid_skiptokens = n;
    }

    /// Delays every response by `d`.
    /// When records generated from now on become visible: at once (the default) or after a
    /// delay drawn from a profile of Graph's (`POST /_sim/delays`).
    pub fn set_appearance(&self, appearance: Appearance) {
        self.state().appearance = appearance;
    }

    /// Moves the simulated clock forward: every answer's `Date` (which entra-source plans its
    /// windows on), and the stamps of records generated or changed from then on (the times
    /// given to `generate` are read on the real clock and shifted by the advance).
    pub fn advance_clock(&self, by: chrono::Duration) {
        let mut st = self.state();
        st.clock_offset += by;
    }

    /// Now on the simulated clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.state().now()
    }

    pub fn set_delay(&self, d: Duration) {
        self.state().delay = d;
    }

    /// Forgets every issued access token: the next Graph request gets 401.
    pub fn expire_tokens(&self) {
        self.state().tokens.clear();
    }

    /// The lifetime of tokens issued from now on (default 3599 s).
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.state().token_ttl = ttl;
    }

    /// Rotates the app's secret: the old one is refused (AADSTS7000215) from now on.
    pub fn set_secret(&self, secret: &str) {
        let mut st = self.state();
        st.secret = secret.to_string();
        st.secret_expired = false;
    }

    /// Another app (client id, secret) is the one consented here: [`CLIENT_ID`] gets AADSTS700016.
    pub fn set_app(&self, client_id: &str, secret: &str) {
        let mut st = self.state();
        st.client_id = client_id.to_string();
        st.secret = secret.to_string();
    }

    /// Marks the app's secret as expired (AADSTS7000222) or valid.
    pub fn set_secret_expired(&self, expired: bool) {
        self.state().secret_expired = expired;
    }

    /// Every access token issued so far (for tests that check none leaks).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state().issued.clone()
    }

    /// Uploads a certificate (PEM) and its RSA public key (PEM) to the app registration, as
    /// Entra keeps them in `keyCredentials`: assertions signed with its key are accepted.
    pub fn register_certificate(&self, cert_pem: &str, public_key_pem: &str) -> Result<(), String> {
        let der = pem::parse(cert_pem).map_err(|e| e.to_string())?;
        let der = der.contents();
        let key = crate::server::rsa_public_key_pem(public_key_pem)?;
        self.state().certificates.push(RegisteredCertificate {
            sha256: crate::graph::thumbprint_sha256(der),
            sha1: crate::graph::thumbprint_sha1(der),
            key,
        });
        Ok(())
    }

    /// The `jti` of every federated client assertion accepted so far.
    pub fn federated_assertions(&self) -> Vec<String> {
        self.state().assertions.clone()
    }

    /// A workload-identity token as a cluster's OIDC issuer would project it, valid for
    /// `valid_for` (negative: already expired).
    pub fn federated_token(&self, jti: &str, valid_for: chrono::Duration) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let now = Utc::now();
        let claims = serde_json::json!({
            "iss": FEDERATED_ISSUER, "sub": FEDERATED_SUBJECT, "aud": "api://AzureADTokenExchange",
            "iat": (now - chrono::Duration::minutes(1)).timestamp(),
            "nbf": (now - chrono::Duration::minutes(1)).timestamp(),
            "exp": (now + valid_for).timestamp(), "jti": jti
        });
        format!(
            "{}.{}.{}",
            b64.encode(r#"{"alg":"RS256","kid":"cluster"}"#),
            b64.encode(claims.to_string()),
            b64.encode([7u8; 32])
        )
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RequestLog> {
        self.state().requests.clone()
    }

    /// Keeps producing `per_second` records a second (1 to 5 s old) until the simulator stops.
    pub fn spawn_producer(
        &self,
        resource: Resource,
        per_second: u32,
    ) -> tokio::task::JoinHandle<()> {
        self.spawn_producer_with(resource, per_second, Value::Null)
    }

    /// The same, each record merged with `overlay` (a sign-in event type, say).
    pub fn spawn_producer_with(
        &self,
        resource: Resource,
        per_second: u32,
        overlay: Value,
    ) -> tokio::task::JoinHandle<()> {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let now = Utc::now();
                let spread = Spread::Between(
                    now - chrono::Duration::seconds(5),
                    now - chrono::Duration::seconds(1),
                );
                shared.lock().unwrap_or_else(|p| p.into_inner()).generate(
                    resource,
                    u64::from(per_second),
                    spread,
                    &overlay,
                    true,
                );
            }
        })
    }
}
