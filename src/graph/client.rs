//! One Graph request, retried as `graph/README.md` §4 prescribes: 429/5xx/timeouts after
//! `Retry-After` or backoff on the same URL, one token renewal on 401, 400/403/404 permanent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, RETRY_AFTER};
use serde_json::Value;
use url::Url;

use super::error::{ForbiddenKind, GraphError, GraphErrorBody};
use super::pacer::Pacer;
use super::retry::{parse_retry_after, RetryPolicy};
use crate::auth::TokenProvider;
use crate::graph::pacer::Throttle;
use crate::kind::Family;
use crate::shutdown::Shutdown;

/// Bodies larger than this are refused: far above real pages (a 1000-record sign-in page is a
/// few MiB), low enough to stop a runaway response.
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// One page of a Graph collection.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<Value>,
    pub next_link: Option<Url>,
}

/// Builds the shared HTTP client: rustls with the web roots plus `[tls] ca_file`, gzip,
/// connection reuse, timeouts, and the proxy of `HTTPS_PROXY` / `NO_PROXY`.
pub fn http_client(extra_ca_pem: Option<&[u8]>) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("entra-source/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(120))
        .pool_idle_timeout(Duration::from_secs(90))
        .gzip(true);
    if let Some(pem) = extra_ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build()
}

/// A TLS failure (an untrusted or invalid certificate), said so that it names the host, the
/// certificate problem and the fix. `None` for other failures.
pub fn tls_problem(url: &Url, e: &reqwest::Error) -> Option<String> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = src {
        let text = cause.to_string();
        if cause
            .downcast_ref::<tokio_rustls::rustls::Error>()
            .is_some()
            || text.contains("invalid peer certificate")
        {
            return Some(format!(
                "TLS to {} failed: {text}. If a TLS-inspecting proxy re-signs HTTPS on this network, add its CA certificate (PEM) with [tls] ca_file; otherwise check the host's clock and the server's certificate",
                url.host_str().unwrap_or("the server")
            ));
        }
        src = cause.source();
    }
    None
}

/// When a request got no answer at all (no connection, DNS failure, timeout): the likely causes
/// and the keys that choose the host (`keys`, e.g. "`graph_url` and `cloud`").
pub fn unreachable_hint(url: &Url, e: &reqwest::Error, keys: &str) -> Option<String> {
    (e.is_connect() || e.is_timeout()).then(|| {
        format!(
            "{} did not answer: check DNS, firewalls and any proxy on the way (HTTPS_PROXY / NO_PROXY in entra-source's environment), and {keys}",
            url.host_str().map_or_else(|| url.to_string(), |h| match url.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
        )
    })
}

/// What a failure of one error-free reqwest call was, with its cause chain (TLS problems
/// hide there).
pub fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

/// A Graph client for one tenant.
pub struct GraphClient {
    http: reqwest::Client,
    base: Url,
    tokens: Arc<TokenProvider>,
    retry: RetryPolicy,
    shutdown: Shutdown,
    pacers: HashMap<Family, Pacer>,
    /// The app-wide reports budget every tenant's client shares (`[[tenants]]`).
    shared_reports: Option<Arc<Pacer>>,
}

enum Attempt {
    Done(Box<Page>),
    /// Retry after this long; the string says why; the HTTP status, if one came.
    Retry(Option<Duration>, String, Option<u16>),
    Unauthorized(GraphErrorBody),
}

impl GraphClient {
    pub fn new(
        http: reqwest::Client,
        base: Url,
        tokens: Arc<TokenProvider>,
        retry: RetryPolicy,
        shutdown: Shutdown,
        throttle: Throttle,
    ) -> GraphClient {
        let pacers = HashMap::from([
            (
                Family::Reports,
                Pacer::new(throttle.reports_per_10s, Duration::from_secs(10)),
            ),
            (
                Family::IdentityProtection,
                Pacer::new(
                    throttle.identity_protection_per_second,
                    Duration::from_secs(1),
                ),
            ),
        ]);
        GraphClient {
            http,
            base,
            tokens,
            retry,
            shutdown,
            pacers,
            shared_reports: None,
        }
    }

    /// Also paces the reports family under an app-wide budget shared with other tenants.
    pub fn with_shared_reports(mut self, pacer: Arc<Pacer>) -> GraphClient {
        self.shared_reports = Some(pacer);
        self
    }

    /// `{graph_url}/{version}{path}?{query}`.
    pub fn url(&self, version: &str, path: &str, query: &[(String, String)]) -> Url {
        let mut url = self.base.clone();
        let base_path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base_path}/{version}{path}"));
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }

    /// Checks that a nextLink stays on the configured Graph host before the token goes there.
    pub fn check_next_link(&self, link: &str) -> Result<Url, GraphError> {
        let foreign = || GraphError::ForeignNextLink {
            link: link.to_string(),
            base: self.base.to_string(),
        };
        let url = Url::parse(link).map_err(|_| foreign())?;
        if url.scheme() != self.base.scheme()
            || url.host_str() != self.base.host_str()
            || url.port_or_known_default() != self.base.port_or_known_default()
        {
            return Err(foreign());
        }
        Ok(url)
    }

    /// The tenant's GUID: the `tid` claim of its access token (retried like a page's token).
    pub async fn tenant_guid(&self) -> Result<String, GraphError> {
        let mut attempt = 0;
        let token = self.tokens.token_or_retry(self, &mut attempt).await?;
        crate::auth::jwt_claims(token.value.expose())
            .and_then(|c| c.get("tid")?.as_str().map(str::to_string))
            .filter(|t| crate::tenant::is_guid(t))
            .ok_or_else(|| {
                GraphError::Auth(crate::auth::AuthError::Rejected {
                    code: None,
                    message: "the access token carries no tenant GUID (`tid` claim) to key events and the state file by; set tenant.id to the tenant's GUID (Entra admin center > Overview > Tenant ID)".into(),
                    recheck: false,
                })
            })
    }

    /// GETs one page, retrying what may succeed on retry. The URL is never altered.
    /// Every attempt first waits for the family's pacer.
    pub async fn get_page(&self, url: &Url, family: Family) -> Result<Page, GraphError> {
        let mut refreshed = false;
        let mut attempt = 0;
        let mut token = self.tokens.token_or_retry(self, &mut attempt).await?;
        loop {
            attempt += 1;
            let outcome = tokio::select! {
                r = async {
                    let pacer = self.pacers.get(&family);
                    let slot = match pacer {
                        Some(p) => Some(p.acquire().await),
                        None => None,
                    };
                    let shared = self
                        .shared_reports
                        .as_deref()
                        .filter(|_| family == Family::Reports);
                    let shared_slot = match shared {
                        Some(p) => Some(p.acquire().await),
                        None => None,
                    };
                    let r = self.try_once(url, token.value.expose()).await;
                    let done = std::time::Instant::now();
                    if let (Some(p), Some(slot)) = (pacer, slot) {
                        p.complete(slot, done);
                    }
                    if let (Some(p), Some(slot)) = (shared, shared_slot) {
                        p.complete(slot, done);
                    }
                    r
                } => r?,
                _ = self.shutdown.wait() => return Err(GraphError::Shutdown),
            };
            match outcome {
                Attempt::Done(page) => return Ok(*page),
                Attempt::Unauthorized(body) => {
                    if refreshed {
                        return Err(GraphError::Unauthorized {
                            body: Box::new(body),
                        });
                    }
                    refreshed = true;
                    attempt -= 1;
                    tracing::info!("Graph answered 401; renewing the access token once");
                    token = match self.tokens.refresh(&token).await {
                        Ok(t) => t,
                        Err(e) if e.is_transient() => {
                            self.tokens.token_or_retry(self, &mut attempt).await?
                        }
                        Err(e) => return Err(e.into()),
                    };
                }
                Attempt::Retry(wait, why, status) => {
                    if attempt >= self.retry.max_attempts {
                        return Err(GraphError::RetriesExhausted {
                            url: url.to_string(),
                            attempts: attempt,
                            last: why,
                        });
                    }
                    let wait = wait.unwrap_or_else(|| self.retry.backoff(attempt));
                    crate::telemetry::GraphRetry {
                        url,
                        status,
                        attempt,
                        wait,
                        why: &why,
                    }
                    .emit();
                    if !self.shutdown.sleep(wait).await {
                        return Err(GraphError::Shutdown);
                    }
                }
            }
        }
    }

    async fn try_once(&self, url: &Url, token: &str) -> Result<Attempt, GraphError> {
        let mut headers = HeaderMap::new();
        let bearer = HeaderValue::from_str(&format!("Bearer {token}"));
        let Ok(mut bearer) = bearer else {
            return Err(GraphError::Auth(crate::auth::AuthError::Rejected {
                code: None,
                message:
                    "the token endpoint returned an access token that is not a valid header value"
                        .into(),
                recheck: false,
            }));
        };
        bearer.set_sensitive(true);
        headers.insert(AUTHORIZATION, bearer);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(
            "Prefer",
            HeaderValue::from_static("include-unknown-enum-members"),
        );
        let resp = match self.http.get(url.clone()).headers(headers).send().await {
            Ok(r) => r,
            Err(e) => {
                if let Some(problem) = tls_problem(url, &e) {
                    return Err(GraphError::Tls(problem));
                }
                crate::telemetry::GraphResponse { url, status: None }.emit();
                let hint = unreachable_hint(url, &e, "`graph_url` and `cloud` in the config")
                    .map(|h| format!("; {h}"))
                    .unwrap_or_default();
                return Ok(Attempt::Retry(
                    None,
                    format!("request failed: {}{hint}", describe_reqwest_error(&e)),
                    None,
                ));
            }
        };
        let status = resp.status().as_u16();
        crate::telemetry::GraphResponse {
            url,
            status: Some(status),
        }
        .emit();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = match read_body(resp).await {
            Ok(b) => b,
            Err(why) => return Ok(Attempt::Retry(retry_after, why, Some(status))),
        };
        let u = || url.to_string();
        match status {
            200..=299 => match parse_page(&body) {
                Ok(page) => Ok(Attempt::Done(Box::new(page))),
                Err(reason) => Err(GraphError::MalformedPage { url: u(), reason }),
            },
            401 => Ok(Attempt::Unauthorized(GraphErrorBody::parse(&body))),
            400 => Err(GraphError::BadRequest {
                url: u(),
                body: Box::new(GraphErrorBody::parse(&body)),
            }),
            403 => {
                let body = Box::new(GraphErrorBody::parse(&body));
                Err(GraphError::Forbidden {
                    url: u(),
                    kind: ForbiddenKind::classify(&body),
                    body,
                })
            }
            404 => Err(GraphError::NotFound {
                url: u(),
                body: Box::new(GraphErrorBody::parse(&body)),
            }),
            408 | 429 | 500 | 502 | 503 | 504 => Ok(Attempt::Retry(
                retry_after,
                format!(
                    "Graph answered HTTP {status} ({})",
                    GraphErrorBody::parse(&body).describe()
                ),
                Some(status),
            )),
            _ => Err(GraphError::Status {
                url: u(),
                status,
                body: Box::new(GraphErrorBody::parse(&body)),
            }),
        }
    }

    pub(crate) fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }
}

impl TokenProvider {
    /// A token, retrying transient token-endpoint failures within the request's attempt budget.
    async fn token_or_retry(
        &self,
        client: &GraphClient,
        attempt: &mut u32,
    ) -> Result<crate::auth::AccessToken, GraphError> {
        loop {
            let r = tokio::select! {
                r = self.token() => r,
                _ = client.shutdown().wait() => return Err(GraphError::Shutdown),
            };
            match r {
                Ok(t) => return Ok(t),
                Err(e) if e.is_transient() && *attempt + 1 < client.retry_policy().max_attempts => {
                    *attempt += 1;
                    let wait = client.retry_policy().backoff(*attempt);
                    tracing::warn!(wait_ms = wait.as_millis() as u64, "{e}; retrying");
                    if !client.shutdown().sleep(wait).await {
                        return Err(GraphError::Shutdown);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

async fn read_body(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(format!(
                        "the response is larger than {MAX_BODY_BYTES} bytes, entra-source's safety cap"
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(format!(
                    "reading the response failed: {}",
                    describe_reqwest_error(&e)
                ))
            }
        }
    }
}

/// A collection page: an object with a `value` array and maybe `@odata.nextLink`.
pub fn parse_page(body: &[u8]) -> Result<Page, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
    let Value::Object(mut obj) = v else {
        return Err("the body is not a JSON object".into());
    };
    let records = match obj.remove("value") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err("`value` is not an array".into()),
        None => return Err("the body has no `value` array".into()),
    };
    let next_link = match obj.remove("@odata.nextLink") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(Url::parse(&s).map_err(|e| format!("`@odata.nextLink` is not a URL ({e})"))?)
        }
        Some(_) => return Err("`@odata.nextLink` is not a string".into()),
    };
    Ok(Page { records, next_link })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_signin_fixture_page() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/graph-fixtures/signIn.json"
        ))
        .unwrap();
        let page = parse_page(&body).unwrap();
        assert_eq!(page.records.len(), 1);
        assert!(page.next_link.unwrap().as_str().contains("$skiptoken="));
    }

    #[test]
    fn malformed_pages_say_why() {
        assert!(parse_page(b"{\"value\": [")
            .unwrap_err()
            .contains("not JSON"));
        assert!(parse_page(b"{\"value\": {}}")
            .unwrap_err()
            .contains("not an array"));
        assert!(parse_page(b"[]").unwrap_err().contains("not a JSON object"));
    }
}
