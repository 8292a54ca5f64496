//! `ratings`: the stars each reviewer gave, as JSON at `GET /ratings/<id>`.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::json;

use crate::product_id;
use crate::server::{self, Handler, Request, Response};

/// The ratings service.
#[derive(Debug, Default, Clone)]
pub struct Ratings;

impl Handler for Ratings {
    async fn handle(self: Arc<Self>, req: Request) -> Response {
        if req.method != Method::GET {
            return server::error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served");
        }
        if req.path == "/health" {
            return server::json(StatusCode::OK, &json!({ "status": "ratings is up" }));
        }
        match product_id(&req.path, "/ratings/") {
            Some(Ok(id)) => server::json(StatusCode::OK, &ratings(id)),
            Some(Err(())) => {
                server::error(StatusCode::BAD_REQUEST, "the product id must be a number")
            }
            None => server::error(StatusCode::NOT_FOUND, "no such page"),
        }
    }
}

/// Stars per reviewer for product `id`.
pub fn ratings(id: u64) -> serde_json::Value {
    json!({ "id": id, "ratings": { "Reviewer1": 5, "Reviewer2": 4 } })
}
