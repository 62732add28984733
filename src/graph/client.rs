//! One Graph request, retried as `graph/README.md` §4 prescribes: 429/5xx/timeouts after
//! `Retry-After` or backoff on the same URL, one token renewal on 401, 400/403/404 permanent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, RETRY_AFTER};
use url::Url;

use super::error::{ForbiddenKind, GraphError, GraphErrorBody};
use super::pacer::{Pacer, Slot};
use super::page::{parse_page, Page};
use crate::auth::AccessToken;
use crate::auth::TokenProvider;
use crate::graph::pacer::Throttle;
use crate::http::{
    describe_reqwest_error, parse_retry_after, tls_problem, unreachable_hint, Retrier, RetryPolicy,
    Stop,
};
use crate::kind::Family;
use crate::shutdown::Shutdown;

/// Bodies larger than this are refused: far above real pages (a 1000-record sign-in page is a
/// few MiB), low enough to stop a runaway response.
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

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
    /// Streams of this tenant reading each family (they share its budget).
    streams: std::sync::Mutex<HashMap<Family, u32>>,
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
            (
                Family::Directory,
                Pacer::new(throttle.directory_per_second, Duration::from_secs(1)),
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
            streams: Default::default(),
        }
    }

    /// A stream of this tenant reads `family`: it shares that budget.
    pub fn register_stream(&self, family: Family) {
        *self
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(family)
            .or_default() += 1;
    }

    /// Requests a second the tenant's `family` budget allows, and the streams sharing it.
    pub fn budget(&self, family: Family) -> (f64, u32) {
        let rate = self.pacers.get(&family).map_or(f64::MAX, Pacer::rate);
        let streams = self
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&family)
            .copied()
            .unwrap_or(1);
        (rate, streams)
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

    /// A page's nextLink and deltaLink, each checked ([`Self::check_next_link`]).
    pub fn links(&self, page: &Page) -> Result<(Option<Url>, Option<Url>), GraphError> {
        let check = |l: &Option<Url>| {
            l.as_ref()
                .map(|l| self.check_next_link(l.as_str()))
                .transpose()
        };
        Ok((check(&page.next_link)?, check(&page.delta_link)?))
    }

    /// A stop (SIGTERM) was asked for: paging ends before its next page.
    pub fn stopping(&self) -> bool {
        self.shutdown.is_set()
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
        let mut retrier = Retrier::new(&self.retry, &self.shutdown, 0);
        let token = self.token(&mut retrier).await?;
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

    /// Now on Microsoft's clock ([`crate::clock`]): before the tenant's first answer, a token
    /// is fetched (the request needs one anyway) so that its `Date` sets the clock.
    pub async fn now(&self) -> chrono::DateTime<chrono::Utc> {
        if !self.tokens.clock().is_set() {
            let _ = tokio::select! {
                t = self.tokens.token() => t.ok(),
                _ = self.shutdown.wait() => None,
            };
        }
        self.tokens.clock().now()
    }

    /// GETs one page, retrying what may succeed on retry. The URL is never altered. Every
    /// attempt first waits for the family's pacer. Paging goes through [`super::Pager`].
    pub async fn get_page(&self, url: &Url, family: Family) -> Result<Page, GraphError> {
        // One budget for the token and the page.
        let mut retrier = Retrier::new(&self.retry, &self.shutdown, 0);
        // The token a 401 refused: renewed once, for the next try.
        let mut refused: Option<AccessToken> = None;
        let mut refreshed = false;
        loop {
            // The slot first, then the token: a short-lived token never waits in the pacer's
            // queue and expires there.
            let slots = tokio::select! {
                s = self.slots(family) => s,
                _ = self.shutdown.wait() => return Err(GraphError::Shutdown),
            };
            let token = match refused.take() {
                None => self.token(&mut retrier).await?,
                Some(old) => match self.tokens.refresh(&old).await {
                    Ok(t) => t,
                    Err(e) if e.is_transient() => self.token(&mut retrier).await?,
                    Err(e) => return Err(e.into()),
                },
            };
            let outcome = tokio::select! {
                r = self.try_once(url, token.value.expose(), family == Family::Directory) => r,
                _ = self.shutdown.wait() => return Err(GraphError::Shutdown),
            };
            self.release(slots, std::time::Instant::now());
            match outcome? {
                Attempt::Done(page) => return Ok(*page),
                Attempt::Unauthorized(body) => {
                    if refreshed {
                        return Err(GraphError::Unauthorized {
                            body: Box::new(body),
                        });
                    }
                    refreshed = true;
                    tracing::info!("Graph answered 401; renewing the access token once");
                    refused = Some(token);
                }
                Attempt::Retry(wait, why, status) => {
                    let waited = retrier
                        .failed(wait, why, |r| {
                            crate::telemetry::GraphRetry {
                                url,
                                status,
                                attempt: r.attempt,
                                wait: r.wait,
                                why: r.reason,
                            }
                            .emit()
                        })
                        .await;
                    match waited {
                        Ok(()) => {}
                        Err(Stop::Shutdown) => return Err(GraphError::Shutdown),
                        Err(
                            Stop::Exhausted { attempts, last }
                            | Stop::TimedOut { attempts, last, .. },
                        ) => {
                            return Err(GraphError::RetriesExhausted {
                                url: url.to_string(),
                                attempts,
                                last,
                            })
                        }
                    }
                }
            }
        }
    }

    /// A token within the request's retry budget.
    async fn token(&self, retrier: &mut Retrier<'_>) -> Result<AccessToken, GraphError> {
        let r = tokio::select! {
            r = self.tokens.token_retrying(retrier) => r,
            _ = self.shutdown.wait() => return Err(GraphError::Shutdown),
        };
        match r {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Err(GraphError::Shutdown),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits until the family's budget has a request free, without taking it: a poll plans its
    /// reads after this, so the time a budget-bound stream waits widens its slices (fuller
    /// pages) instead of delaying reads planned before the wait.
    pub async fn ready(&self, family: Family) {
        loop {
            let now = std::time::Instant::now();
            let own = self.pacers.get(&family).map(|p| p.free_in(now));
            let shared = self
                .shared_reports
                .as_deref()
                .filter(|_| family == Family::Reports)
                .map(|p| p.free_in(now));
            let wait = own.into_iter().chain(shared).max().unwrap_or_default();
            if wait.is_zero() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.shutdown.wait() => return,
            }
        }
    }

    /// Waits until the family's pacer (and, for reports, the app-wide pacer) grant a request.
    async fn slots(&self, family: Family) -> [Option<(&Pacer, Slot)>; 2] {
        let own = match self.pacers.get(&family) {
            Some(p) => Some((p, p.acquire().await)),
            None => None,
        };
        let shared = match self
            .shared_reports
            .as_deref()
            .filter(|_| family == Family::Reports)
        {
            Some(p) => Some((p, p.acquire().await)),
            None => None,
        };
        [own, shared]
    }

    /// The request of `slots` is complete: their windows start now.
    fn release(&self, slots: [Option<(&Pacer, Slot)>; 2], done: std::time::Instant) {
        for (p, slot) in slots.into_iter().flatten() {
            p.complete(slot, done);
        }
    }

    async fn try_once(
        &self,
        url: &Url,
        token: &str,
        directory: bool,
    ) -> Result<Attempt, GraphError> {
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
            HeaderValue::from_static(if directory {
                // Delta rounds: Graph's largest page (its default is 100).
                "include-unknown-enum-members, odata.maxpagesize=999"
            } else {
                "include-unknown-enum-members"
            }),
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
        self.tokens.clock().observe(
            resp.headers()
                .get(reqwest::header::DATE)
                .and_then(|v| v.to_str().ok()),
        );
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
            200..=299 => match parse_page(body) {
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
}

async fn read_body(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    // Sized once from Content-Length when Graph sends it (capped), not grown page by page.
    let expected = resp
        .content_length()
        .unwrap_or(0)
        .min(MAX_BODY_BYTES as u64);
    let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
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
