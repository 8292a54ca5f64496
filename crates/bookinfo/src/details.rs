//! `details`: the book's bibliographic details as JSON at `GET /details/<id>`.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::json;

use crate::product_id;
use crate::server::{self, Handler, Request, Response};

/// The details service.
#[derive(Debug, Default, Clone)]
pub struct Details;

impl Handler for Details {
    async fn handle(self: Arc<Self>, req: Request) -> Response {
        if req.method != Method::GET {
            return server::error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served");
        }
        if req.path == "/health" {
            return server::json(StatusCode::OK, &json!({ "status": "details is up" }));
        }
        match product_id(&req.path, "/details/") {
            Some(Ok(id)) => server::json(StatusCode::OK, &book(id)),
            Some(Err(())) => {
                server::error(StatusCode::BAD_REQUEST, "the product id must be a number")
            }
            None => server::error(StatusCode::NOT_FOUND, "no such page"),
        }
    }
}

/// The details of book `id` (every id names the same book).
pub fn book(id: u64) -> serde_json::Value {
    json!({
        "id": id,
        "author": "William Shakespeare",
        "year": 1595,
        "type": "paperback",
        "pages": 144,
        "publisher": "Weft Press",
        "language": "English",
        "ISBN-10": "0000000000",
        "ISBN-13": "000-0000000000",
    })
}
