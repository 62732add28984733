//! The Graph client: requests, paging, retries and Graph's error bodies.

mod client;
mod error;
mod pacer;
pub mod retry;

pub use client::{
    describe_reqwest_error, http_client, parse_page, tls_problem, unreachable_hint, GraphClient,
    Page,
};
pub use error::{ForbiddenKind, GraphError, GraphErrorBody};
pub use pacer::{Pacer, Throttle};
pub use retry::{parse_retry_after, RetryPolicy};
