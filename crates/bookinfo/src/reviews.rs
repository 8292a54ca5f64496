//! `reviews`: two reader reviews of the book at `GET /reviews/<id>`. v1 shows no ratings; v2
//! and v3 ask `ratings` and show its stars, black (v2) or red (v3).

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{self, Policy, Upstream};
use crate::headers::forward;
use crate::product_id;
use crate::server::{self, Handler, Request, Response};

/// Which reviews version this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Version {
    /// No ratings.
    V1,
    /// Ratings as black stars.
    V2,
    /// Ratings as red stars.
    V3,
}

impl Version {
    pub fn name(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
            Version::V3 => "v3",
        }
    }

    /// The star colour, `None` when this version shows no ratings.
    pub fn star_color(self) -> Option<&'static str> {
        match self {
            Version::V1 => None,
            Version::V2 => Some("black"),
            Version::V3 => Some("red"),
        }
    }
}

/// What a rating shows when `ratings` cannot be reached.
pub const RATINGS_UNAVAILABLE: &str = "Ratings cannot be fetched right now";

const REVIEWS: [(&str, &str); 2] = [
    (
        "Reviewer1",
        "Two sets of twins and one very long day: the confusion builds so fast that I laughed \
         out loud on the train.",
    ),
    (
        "Reviewer2",
        "Lighter than the tragedies, and shorter too. Read it aloud with friends; the mix-ups \
         land better with voices.",
    ),
];

/// The reviews service.
#[derive(Debug, Clone)]
pub struct Reviews {
    pub version: Version,
    pub ratings: Upstream,
    pub policy: Policy,
}

impl Handler for Reviews {
    async fn handle(self: Arc<Self>, req: Request) -> Response {
        if req.method != Method::GET {
            return server::error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served");
        }
        if req.path == "/health" {
            return server::json(StatusCode::OK, &json!({ "status": "reviews is up" }));
        }
        match product_id(&req.path, "/reviews/") {
            Some(Ok(id)) => server::json(StatusCode::OK, &self.reviews(id, &req).await),
            Some(Err(())) => {
                server::error(StatusCode::BAD_REQUEST, "the product id must be a number")
            }
            None => server::error(StatusCode::NOT_FOUND, "no such page"),
        }
    }
}

impl Reviews {
    async fn reviews(&self, id: u64, req: &Request) -> Value {
        let stars = match self.version.star_color() {
            None => None,
            Some(color) => {
                let path = format!("/ratings/{id}");
                let got =
                    client::get_json(&self.ratings, &path, &forward(&req.headers), self.policy)
                        .await;
                if let Err(e) = &got {
                    tracing::warn!("{}{path}: {e}", self.ratings);
                }
                Some((color, got.ok()))
            }
        };
        let reviews: Vec<Value> = REVIEWS
            .iter()
            .map(|(reviewer, text)| {
                let mut review = json!({ "reviewer": reviewer, "text": text });
                if let Some((color, ratings)) = &stars {
                    review["rating"] = rating(ratings.as_ref(), reviewer, color);
                }
                review
            })
            .collect();
        json!({ "id": id.to_string(), "version": self.version.name(), "reviews": reviews })
    }
}

fn rating(ratings: Option<&Value>, reviewer: &str, color: &str) -> Value {
    match ratings.and_then(|r| r["ratings"][reviewer].as_u64()) {
        Some(stars) => json!({ "stars": stars, "color": color }),
        None => json!({ "error": RATINGS_UNAVAILABLE }),
    }
}
