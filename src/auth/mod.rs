//! App-only tokens: OAuth2 client credentials (RFC 6749 §4.4) at
//! `{login_url}/{tenant}/oauth2/v2.0/token` with scope `{graph_url}/.default`.
//!
//! Tokens are cached until 60 s before they expire, and renewed once after a 401. Secrets and
//! tokens live in [`Secret`], whose `Debug` and `Display` never show the value.

pub mod certificate;
mod source;

pub use source::{CredentialError, CredentialSource};

use std::fmt;
use std::time::{Duration, Instant};

use serde::Deserialize;
use std::path::PathBuf;

use tokio::sync::Mutex;
use url::Url;

/// A value that must never reach stdout, stderr, logs or the state file.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A JWT's claims, decoded but not verified (to read what a token or assertion says).
pub fn jwt_claims(token: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let claims = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// How the app proves who it is.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A client secret, read at start-up (from the environment, a file or inline). From a file,
    /// it is read again when the token endpoint says it is wrong or expired (rotation).
    Secret {
        secret: Secret,
        file: Option<PathBuf>,
    },
    /// A certificate and its key (loaded at start-up); a fresh signed assertion per token.
    Certificate(std::sync::Arc<certificate::ClientCertificate>),
    /// Workload identity federation: the external token in this file (rotated by the kubelet,
    /// so read again for every token request) is the client assertion.
    FederatedToken { file: PathBuf },
    /// An Azure managed identity (`client_id`, when set, picks a user-assigned one).
    ManagedIdentity {
        endpoint: Url,
        /// App Service's `IDENTITY_HEADER`; absent for IMDS.
        app_service_header: Option<Secret>,
    },
}

/// Renew this long before `expires_in` runs out.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token endpoint refused the credentials or the request: retrying will not help,
    /// unless `recheck` (a secret file that may be rotated later): then the next poll tries again.
    #[error("{message}")]
    Rejected {
        code: Option<u64>,
        message: String,
        recheck: bool,
    },
    /// A network failure or a retryable answer (5xx, 429, AADSTS 90033 …).
    #[error("token endpoint {url} unavailable: {reason}")]
    Transient { url: String, reason: String },
}

impl AuthError {
    /// Worth retrying within the same request (after a backoff).
    pub fn is_transient(&self) -> bool {
        matches!(self, AuthError::Transient { .. })
    }

    /// Worth trying again at the next poll.
    pub fn retry_next_poll(&self) -> bool {
        matches!(
            self,
            AuthError::Transient { .. } | AuthError::Rejected { recheck: true, .. }
        )
    }
}

/// A cached access token.
#[derive(Clone)]
pub struct AccessToken {
    pub value: Secret,
    pub expires_at: Instant,
    /// Bumps with each new token, so `refresh` can tell whether someone renewed it already.
    generation: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<serde_json::Value>,
    /// Managed identity endpoints send an epoch instead (often as a string).
    expires_on: Option<serde_json::Value>,
}

impl TokenResponse {
    /// Seconds until expiry, from `expires_in` or `expires_on`, numbers or strings.
    fn lifetime(&self) -> u64 {
        let num = |v: &Option<serde_json::Value>| match v {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        num(&self.expires_in)
            .or_else(|| {
                let on = num(&self.expires_on)?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_secs();
                Some(on.saturating_sub(now))
            })
            .unwrap_or(3599)
    }
}

#[derive(Deserialize, Default)]
struct TokenErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
}

/// How the app proves who it is, as the token request needs it.
enum Grant {
    Secret {
        secret: std::sync::Mutex<Secret>,
        /// `client_secret_file`: read again when Entra says the secret is wrong or expired.
        file: Option<PathBuf>,
    },
    /// Workload identity federation: the file's token is the client assertion.
    Federated { file: PathBuf },
    /// A certificate: a fresh assertion signed with its key for every token request.
    Certificate(std::sync::Arc<certificate::ClientCertificate>),
    /// A managed identity endpoint (IMDS, or App Service with its header).
    Managed {
        endpoint: Url,
        app_service_header: Option<Secret>,
    },
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// App-only tokens for one tenant.
pub struct TokenProvider {
    http: reqwest::Client,
    token_url: Url,
    tenant: String,
    client_id: String,
    grant: Grant,
    scope: String,
    /// The Graph root, as managed identity endpoints take it (`resource`, no `/.default`).
    resource: String,
    cache: Mutex<Option<AccessToken>>,
    /// Microsoft's clock, set by the `Date` of every answer (token endpoint and Graph).
    clock: std::sync::Arc<crate::clock::GraphClock>,
}

impl TokenProvider {
    pub fn new(
        http: reqwest::Client,
        login_url: &Url,
        graph_url: &Url,
        tenant: &str,
        client_id: &str,
        credential: Credential,
    ) -> TokenProvider {
        let base = login_url.as_str().trim_end_matches('/');
        let token_url = Url::parse(&format!("{base}/{tenant}/oauth2/v2.0/token"))
            .unwrap_or_else(|_| login_url.clone());
        let resource = graph_url.as_str().trim_end_matches('/').to_string();
        let grant = match credential {
            Credential::Secret { secret, file } => Grant::Secret {
                secret: std::sync::Mutex::new(secret),
                file,
            },
            Credential::FederatedToken { file } => Grant::Federated { file },
            Credential::Certificate(cert) => Grant::Certificate(cert),
            Credential::ManagedIdentity {
                endpoint,
                app_service_header,
            } => Grant::Managed {
                endpoint,
                app_service_header,
            },
        };
        let token_url = match &grant {
            Grant::Managed { endpoint, .. } => endpoint.clone(),
            _ => token_url,
        };
        TokenProvider {
            http,
            token_url,
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
            grant,
            scope: format!("{resource}/.default"),
            resource,
            cache: Mutex::new(None),
            clock: Default::default(),
        }
    }

    /// The tenant's view of Microsoft's clock, shared with its Graph client.
    pub fn clock(&self) -> &crate::clock::GraphClock {
        &self.clock
    }

    /// The `.default` scope of the configured Graph root.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// A token valid for at least another minute, from the cache when it has one.
    pub async fn token(&self) -> Result<AccessToken, AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(t) = cache.as_ref() {
            if t.expires_at > Instant::now() + EXPIRY_MARGIN {
                return Ok(t.clone());
            }
        }
        let generation = cache.as_ref().map_or(0, |t| t.generation) + 1;
        let fresh = self.fetch(generation).await?;
        *cache = Some(fresh.clone());
        Ok(fresh)
    }

    /// A token, retrying transient token-endpoint failures within `retrier`'s budget (shared
    /// with the request the token is for). `None` when a stop came first; after the last try,
    /// its error.
    pub async fn token_retrying(
        &self,
        retrier: &mut crate::http::Retrier<'_>,
    ) -> Result<Option<AccessToken>, AuthError> {
        loop {
            let e = match self.token().await {
                Ok(t) => return Ok(Some(t)),
                Err(e) if e.is_transient() => e,
                Err(e) => return Err(e),
            };
            let waited = retrier
                .failed(None, e, |r| {
                    tracing::warn!(
                        wait_ms = r.wait.as_millis() as u64,
                        "{}; retrying",
                        r.reason
                    )
                })
                .await;
            match waited {
                Ok(()) => {}
                Err(crate::http::Stop::Shutdown) => return Ok(None),
                Err(
                    crate::http::Stop::Exhausted { last, .. }
                    | crate::http::Stop::TimedOut { last, .. },
                ) => return Err(last),
            }
        }
    }

    /// After Graph answered 401 to `stale`: a new token, unless another task renewed it already.
    pub async fn refresh(&self, stale: &AccessToken) -> Result<AccessToken, AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(t) = cache.as_ref() {
            if t.generation != stale.generation {
                return Ok(t.clone());
            }
        }
        let fresh = self.fetch(stale.generation + 1).await?;
        *cache = Some(fresh.clone());
        Ok(fresh)
    }

    /// Requests a token; after AADSTS7000215/7000222 with a secret file, reads the file again
    /// and, if it holds a new secret (rotated without a restart), tries once more with it.
    async fn fetch(&self, generation: u64) -> Result<AccessToken, AuthError> {
        match self.request(generation).await {
            Err(AuthError::Rejected {
                code: Some(code @ (7000215 | 7000222)),
                message,
                ..
            }) if matches!(self.grant, Grant::Secret { file: Some(_), .. }) => {
                if self.reread_secret() {
                    tracing::info!(
                        "client_secret_file holds a new secret; requesting a token with it"
                    );
                    return self.request(generation).await;
                }
                Err(AuthError::Rejected {
                    code: Some(code),
                    message: format!(
                        "{message}; client_secret_file was read again and is unchanged (entra-source keeps re-reading it at each poll)"
                    ),
                    recheck: true,
                })
            }
            other => other,
        }
    }

    /// Whether the secret file now holds a different secret (which then replaces the old one).
    fn reread_secret(&self) -> bool {
        let Grant::Secret {
            secret,
            file: Some(path),
        } = &self.grant
        else {
            return false;
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            tracing::warn!(path = %path.display(), "cannot read client_secret_file again");
            return false;
        };
        let fresh = text.trim();
        let mut current = secret.lock().unwrap_or_else(|p| p.into_inner());
        if fresh.is_empty() || fresh == current.expose() {
            return false;
        }
        *current = Secret::new(fresh.to_string());
        true
    }

    /// The HTTP request of one token acquisition.
    fn build(&self) -> Result<reqwest::RequestBuilder, AuthError> {
        let mut form: Vec<(&str, String)> = vec![
            ("client_id", self.client_id.clone()),
            ("scope", self.scope.clone()),
            ("grant_type", "client_credentials".into()),
        ];
        match &self.grant {
            Grant::Secret { secret, .. } => {
                let secret = secret.lock().unwrap_or_else(|p| p.into_inner()).clone();
                form.push(("client_secret", secret.expose().to_string()));
            }
            Grant::Federated { file } => {
                // Read at every request: the kubelet rotates the file.
                let assertion = std::fs::read_to_string(file).map_err(|e| AuthError::Rejected {
                    code: None,
                    message: format!(
                        "cannot read federated_token_file {} ({e}); check the workload identity token projection",
                        file.display()
                    ),
                    recheck: true,
                })?;
                form.push(("client_assertion_type", JWT_BEARER.into()));
                form.push(("client_assertion", assertion.trim().to_string()));
            }
            Grant::Certificate(cert) => {
                let assertion = cert
                    .assertion(&self.client_id, self.token_url.as_str())
                    .map_err(|message| AuthError::Rejected {
                        code: None,
                        message,
                        recheck: false,
                    })?;
                form.push(("client_assertion_type", JWT_BEARER.into()));
                form.push(("client_assertion", assertion));
            }
            Grant::Managed {
                endpoint,
                app_service_header,
            } => {
                let mut query: Vec<(&str, &str)> = vec![("resource", &self.resource)];
                if !self.client_id.is_empty() {
                    query.push(("client_id", &self.client_id));
                }
                let req = match app_service_header {
                    Some(h) => self
                        .http
                        .get(endpoint.clone())
                        .query(&[("api-version", "2019-08-01")])
                        .header("X-IDENTITY-HEADER", h.expose()),
                    None => self
                        .http
                        .get(endpoint.clone())
                        .query(&[("api-version", "2018-02-01")])
                        .header("Metadata", "true"),
                };
                return Ok(req.query(&query));
            }
        }
        Ok(self.http.post(self.token_url.clone()).form(&form))
    }

    async fn request(&self, generation: u64) -> Result<AccessToken, AuthError> {
        let r = self.request_uncounted(generation).await;
        crate::telemetry::TokenRequested {
            tenant: &self.tenant,
            ok: r.is_ok(),
        }
        .emit();
        r
    }

    async fn request_uncounted(&self, generation: u64) -> Result<AccessToken, AuthError> {
        let transient = |reason: String| AuthError::Transient {
            url: self.token_url.to_string(),
            reason,
        };
        let started = Instant::now();
        let resp = self.build()?.send().await.map_err(|e| {
            match crate::http::tls_problem(&self.token_url, &e) {
                Some(problem) => AuthError::Rejected {
                    code: None,
                    message: problem,
                    recheck: false,
                },
                None => transient(
                    match crate::http::unreachable_hint(
                        &self.token_url,
                        &e,
                        "tenant `login_url` and `cloud` in the config",
                    ) {
                        Some(hint) => {
                            format!("{}; {hint}", crate::http::describe_reqwest_error(&e))
                        }
                        None => crate::http::describe_reqwest_error(&e),
                    },
                ),
            }
        })?;
        let status = resp.status();
        self.clock.observe(
            resp.headers()
                .get(reqwest::header::DATE)
                .and_then(|v| v.to_str().ok()),
        );
        let body = resp
            .bytes()
            .await
            .map_err(|e| transient(crate::http::describe_reqwest_error(&e)))?;
        if status.is_success() {
            let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
                transient(format!("the token response is not the expected JSON ({e})"))
            })?;
            let secs = t.lifetime();
            tracing::debug!(expires_in = secs, "obtained an access token");
            return Ok(AccessToken {
                value: Secret::new(t.access_token),
                expires_at: started + Duration::from_secs(secs),
                generation,
            });
        }
        let err: TokenErrorBody = serde_json::from_slice(&body).unwrap_or_default();
        let code = err.error_codes.first().copied().or_else(|| {
            let d = err.error_description.strip_prefix("AADSTS")?;
            d.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        });
        if status.is_server_error()
            || status.as_u16() == 429
            || err.error == "temporarily_unavailable"
            || matches!(code, Some(90033 | 90006 | 90024 | 50033 | 90055))
        {
            return Err(transient(format!(
                "HTTP {status}{}",
                code.map(|c| format!(", AADSTS{c}")).unwrap_or_default()
            )));
        }
        Err(AuthError::Rejected {
            code,
            message: self.explain(code, &err, status.as_u16()),
            recheck: matches!(self.grant, Grant::Federated { .. }),
        })
    }

    /// One line that says what the token endpoint refused and what to do about it.
    fn explain(&self, code: Option<u64>, err: &TokenErrorBody, status: u16) -> String {
        let tenant = &self.tenant;
        let app = &self.client_id;
        match code {
            Some(7000215) => "AADSTS7000215: the client secret is wrong; copy the secret's Value (not its Secret ID) from the app registration > Certificates & secrets into client_secret_env or client_secret_file".to_string(),
            Some(7000222) => "AADSTS7000222: the client secret has expired; create a new secret under the app registration > Certificates & secrets and update client_secret_env or client_secret_file".to_string(),
            Some(700016) => format!("AADSTS700016: application {app} was not found in tenant {tenant}; check tenant.id and client_id, and that the app is registered or consented in this tenant"),
            Some(90002) => format!("AADSTS90002: tenant {tenant} was not found; check tenant.id, and `cloud`: a tenant of another Microsoft cloud (usgov, china) is not found in this one"),
            Some(65001) => format!("AADSTS65001: admin consent is missing for application {app}; an administrator must grant consent under the app registration > API permissions"),
            Some(70011) | Some(700022) | Some(700023) => format!("AADSTS{}: the scope {} was refused; check graph_url", code.unwrap_or_default(), self.scope),
            Some(700011) | Some(7000112) | Some(70001) => format!("AADSTS{}: application {app} is not found or disabled in tenant {tenant}; check client_id and that the app is enabled", code.unwrap_or_default()),
            Some(9001023) => "AADSTS9001023: app-only tokens need a specific tenant, not common; set tenant.id to the tenant GUID or domain".to_string(),
            Some(700027) | Some(50012) => format!("AADSTS{}: Entra did not accept the signature of the client assertion: the certificate in certificate_file is not registered on application {app}, or the key in the file is not its key; upload the certificate (public part) under the app registration > Certificates & secrets", code.unwrap_or_default()),
            Some(50013) | Some(500133) => format!("AADSTS{}: Entra refused the client assertion's claims (audience or validity time); check this host's clock", code.unwrap_or_default()),
            Some(700024) => "AADSTS700024: the token in federated_token_file is expired or not yet valid; check that the workload identity projection refreshes the file (entra-source reads it again at each token request)".to_string(),
            Some(70021) => format!("AADSTS70021: no federated identity credential of application {app} matches the issuer and subject of the token in federated_token_file; add one under the app registration > Certificates & secrets > Federated credentials"),
            _ if matches!(self.grant, Grant::Managed { .. }) => format!(
                "the managed identity endpoint {} refused the request (HTTP {status}, {}): {}; check that a managed identity is assigned to this host{}",
                self.token_url,
                if err.error.is_empty() { "no error code" } else { err.error.as_str() },
                err.error_description.lines().next().unwrap_or("no description").trim(),
                if self.client_id.is_empty() { "" } else { " and that client_id names a user-assigned identity of it" }
            ),
            _ => {
                let first_line = err.error_description.lines().next().unwrap_or("").trim();
                format!(
                    "the token endpoint refused the request (HTTP {status}, {}): {}; check tenant.id, client_id and the credential",
                    if err.error.is_empty() { "no error code" } else { err.error.as_str() },
                    if first_line.is_empty() { "no description" } else { first_line }
                )
            }
        }
    }
}
