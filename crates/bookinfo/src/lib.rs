//! The Bookinfo demo application as four small programs, the services Istio's tasks route
//! between: `productpage` (HTML page, login, JSON API) calls `details` and `reviews`;
//! `reviews` v2 and v3 call `ratings`. Each service copies the tracing headers and `end-user`
//! of the request it serves to the calls it makes ([`headers::PROPAGATED`]).
//!
//! This crate owns the demo application only: it knows nothing of the mesh, which sees it as
//! ordinary workloads. Texts and pages are weft's own.

pub mod client;
pub mod details;
pub mod headers;
mod page;
pub mod productpage;
pub mod ratings;
pub mod reviews;
pub mod server;

use thiserror::Error;

/// The product every service knows about (the demo has one book).
pub const PRODUCT_ID: u64 = 0;

/// A service cannot start.
#[derive(Debug, Error)]
pub enum Error {
    #[error("{flag}: {value:?}: {reason}")]
    Url {
        flag: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// The product id at the end of `path` after `prefix` (`/details/0` → 0).
pub(crate) fn product_id(path: &str, prefix: &str) -> Option<Result<u64, ()>> {
    let rest = path.strip_prefix(prefix)?;
    Some(rest.parse::<u64>().map_err(|_| ()))
}
