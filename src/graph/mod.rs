//! The Graph page client: requests with the pacer and one token renewal, paging (the nextLink
//! check before a token leaves), Graph's error bodies, and the per-family pacer. Generic HTTP
//! (the client builder, retries, failure descriptions) is in [`crate::http`].

mod client;
mod error;
mod pacer;
mod page;
mod pager;

pub use client::GraphClient;
pub use error::{ForbiddenKind, GraphError, GraphErrorBody};
pub use pacer::{Pacer, Throttle};
pub use page::{parse_page, Page, Records};
pub use pager::{Pager, Step};

/// A client of the in-process simulator's tenant with Graph's budget lifted (the directory's
/// kept at 5 a second), stopped by `shutdown`: for the unit tests of the pager and the loop.
#[cfg(test)]
pub(crate) fn test_client(
    sim: &entra_simulator::Simulator,
    shutdown: crate::shutdown::Shutdown,
) -> GraphClient {
    use entra_simulator::{CLIENT_ID, CLIENT_SECRET, TENANT_ID};
    let http = crate::http::http_client(None).unwrap();
    let base = url::Url::parse(&sim.base_url()).unwrap();
    let tokens = std::sync::Arc::new(crate::auth::TokenProvider::new(
        http.clone(),
        &base,
        &base,
        TENANT_ID,
        CLIENT_ID,
        crate::auth::Credential::Secret {
            secret: crate::auth::Secret::new(CLIENT_SECRET.into()),
            file: None,
        },
    ));
    let throttle = Throttle {
        directory_per_second: 5,
        reports_per_10s: 10_000,
        app_reports_per_10s: 10_000,
        identity_protection_per_second: 1000,
    };
    GraphClient::new(
        http,
        base,
        tokens,
        crate::http::RetryPolicy::default(),
        shutdown,
        throttle,
    )
}
