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
