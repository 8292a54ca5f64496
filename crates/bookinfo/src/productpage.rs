//! `productpage`: the book's page (`/productpage`), built from `details` and `reviews`;
//! sign-in (`POST /login`, a `session` cookie) and `/logout`; a JSON API under `/api/v1`.
//! A signed-in user's name goes to details and reviews as `end-user`, which mesh routing can
//! match on.

use std::sync::Arc;

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{self, Policy, Upstream};
use crate::headers::{END_USER, forward};
use crate::page::{self, Product};
use crate::server::{self, Handler, Request, Response};
use crate::{PRODUCT_ID, product_id};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "session";

const PRODUCT: Product = Product {
    id: PRODUCT_ID,
    title: "The Comedy of Errors",
    description: "Shakespeare's shortest comedy: two pairs of twins, separated at sea, turn up in \
                  the same town on the same day, and nobody can tell who is who.",
};

/// The productpage service.
#[derive(Debug, Clone)]
pub struct ProductPage {
    pub details: Upstream,
    pub reviews: Upstream,
    /// Per call to details and to reviews.
    pub policy: Policy,
}

impl Handler for ProductPage {
    async fn handle(self: Arc<Self>, req: Request) -> Response {
        match (&req.method, req.path.as_str()) {
            (&Method::GET, "/") => server::html(StatusCode::OK, page::index()),
            (&Method::GET, "/health") => {
                server::json(StatusCode::OK, &json!({ "status": "productpage is up" }))
            }
            (&Method::GET, "/productpage") => self.product_page(&req).await,
            (&Method::POST, "/login") => login(&req),
            (&Method::GET | &Method::POST, "/logout") => server::redirect(
                "/productpage",
                Some(format!("{SESSION_COOKIE}=; Path=/; Max-Age=0")),
            ),
            (&Method::GET, "/api/v1/products") => server::json(
                StatusCode::OK,
                &json!([{ "id": PRODUCT.id, "title": PRODUCT.title, "descriptionHtml": PRODUCT.description }]),
            ),
            (&Method::GET, path) if path.starts_with("/api/v1/products/") => self.api(&req).await,
            _ => server::error(StatusCode::NOT_FOUND, "no such page"),
        }
    }
}

impl ProductPage {
    async fn product_page(&self, req: &Request) -> Response {
        let user = session_user(&req.headers);
        let headers = outgoing(req, user.as_deref());
        let details_path = format!("/details/{}", PRODUCT.id);
        let reviews_path = format!("/reviews/{}", PRODUCT.id);
        let (details, reviews) = tokio::join!(
            self.call(&self.details, &details_path, &headers),
            self.call(&self.reviews, &reviews_path, &headers),
        );
        let page = page::product_page(
            &PRODUCT,
            user.as_deref(),
            details.as_ref(),
            reviews.as_ref(),
        );
        server::html(StatusCode::OK, page)
    }

    async fn call(&self, upstream: &Upstream, path: &str, headers: &HeaderMap) -> Option<Value> {
        match client::get_json(upstream, path, headers, self.policy).await {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::warn!("{upstream}{path}: {e}");
                None
            }
        }
    }

    /// `/api/v1/products/<id>` (details) and `/api/v1/products/<id>/reviews`.
    async fn api(&self, req: &Request) -> Response {
        let rest = req.path.trim_start_matches("/api/v1/products/");
        let (id, upstream, prefix) = match rest.strip_suffix("/reviews") {
            Some(id) => (id, &self.reviews, "/reviews/"),
            None => (rest, &self.details, "/details/"),
        };
        let Some(Ok(id)) = product_id(id, "") else {
            return server::error(StatusCode::BAD_REQUEST, "the product id must be a number");
        };
        let headers = outgoing(req, session_user(&req.headers).as_deref());
        match self
            .call(upstream, &format!("{prefix}{id}"), &headers)
            .await
        {
            Some(value) => server::json(StatusCode::OK, &value),
            None => server::error(
                StatusCode::BAD_GATEWAY,
                &format!("{upstream} did not answer"),
            ),
        }
    }
}

/// The headers for calls made on behalf of `req`: its propagated headers, and `end-user` set
/// to the signed-in user when there is one.
fn outgoing(req: &Request, user: Option<&str>) -> HeaderMap {
    let mut headers = forward(&req.headers);
    if let Some(value) = user.and_then(|u| HeaderValue::from_str(u).ok()) {
        headers.insert(END_USER, value);
    }
    headers
}

fn login(req: &Request) -> Response {
    let form = String::from_utf8_lossy(&req.body);
    let user = form_value(&form, "user").or_else(|| form_value(&form, "username"));
    match user.filter(|u| valid_user(u)) {
        Some(user) => server::redirect(
            "/productpage",
            Some(format!(
                "{SESSION_COOKIE}={user}; Path=/; HttpOnly; SameSite=Lax"
            )),
        ),
        None => server::error(
            StatusCode::BAD_REQUEST,
            "user: give a name of letters, digits, '.', '_' or '-' (at most 64)",
        ),
    }
}

/// Names are kept to a set that is safe in a cookie and a header without quoting.
fn valid_user(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= 64
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The signed-in user, from the `session` cookie.
pub fn session_user(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|u| valid_user(u))
}

/// The decoded value of `key` in an `application/x-www-form-urlencoded` body.
fn form_value(form: &str, key: &str) -> Option<String> {
    form.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| percent_decode(k) == key)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms() {
        assert_eq!(
            form_value("user=jason&passwd=a%26b", "passwd").as_deref(),
            Some("a&b")
        );
        assert_eq!(
            form_value("username=j+s", "username").as_deref(),
            Some("j s")
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(form_value("a=1", "user"), None);
    }

    #[test]
    fn reads_the_session_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("theme=dark; session=jason"),
        );
        assert_eq!(session_user(&headers).as_deref(), Some("jason"));
        headers.insert(COOKIE, HeaderValue::from_static("session=<script>"));
        assert_eq!(session_user(&headers), None);
    }
}
