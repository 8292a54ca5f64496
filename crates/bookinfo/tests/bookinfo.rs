//! The Bookinfo services wired together on 127.0.0.1 with ephemeral ports, plus recording
//! upstreams standing in for a service to see what it is sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use weft_bookinfo::client::{self, Policy, Reply, Upstream};
use weft_bookinfo::details::{self, Details};
use weft_bookinfo::headers::PROPAGATED;
use weft_bookinfo::productpage::ProductPage;
use weft_bookinfo::ratings::{self, Ratings};
use weft_bookinfo::reviews::{RATINGS_UNAVAILABLE, Reviews, Version};
use weft_bookinfo::server::{self, Handler, Request, Response};

const LOCAL: &str = "127.0.0.1";
const DETAILS_ERROR: &str = "Error fetching product details";
const REVIEWS_ERROR: &str = "Error fetching product reviews";

fn upstream(addr: SocketAddr) -> Upstream {
    Upstream::parse("test", &format!("http://{addr}")).expect("test address")
}

fn quick() -> Policy {
    Policy {
        timeout: Duration::from_secs(3),
        retries: 1,
    }
}

/// An upstream that records each request's path and headers, optionally answers late, and
/// answers like details, reviews or ratings would.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<(String, HeaderMap)>>>,
    delay: Duration,
}

impl Recorder {
    fn seen(&self) -> Vec<(String, HeaderMap)> {
        self.seen.lock().expect("recorder lock").clone()
    }
}

impl Handler for Recorder {
    async fn handle(self: Arc<Self>, req: Request) -> Response {
        self.seen
            .lock()
            .expect("recorder lock")
            .push((req.path.clone(), req.headers.clone()));
        tokio::time::sleep(self.delay).await;
        let body = match req.path.as_str() {
            "/details/0" => details::book(0),
            "/ratings/0" => ratings::ratings(0),
            "/reviews/0" => serde_json::json!({"id": "0", "version": "recorded", "reviews": []}),
            _ => return server::error(StatusCode::NOT_FOUND, "not recorded"),
        };
        server::json(StatusCode::OK, &body)
    }
}

async fn start<H: Handler>(handler: H) -> SocketAddr {
    server::spawn(LOCAL, 0, handler)
        .await
        .expect("bind 127.0.0.1:0")
}

/// An address where nothing listens.
async fn dead_address() -> SocketAddr {
    let listener = server::bind(LOCAL, 0).await.expect("bind");
    listener.local_addr().expect("address")
}

async fn productpage(details: SocketAddr, reviews: SocketAddr, policy: Policy) -> SocketAddr {
    start(ProductPage {
        details: upstream(details),
        reviews: upstream(reviews),
        policy,
    })
    .await
}

async fn reviews(version: Version, ratings: SocketAddr) -> SocketAddr {
    start(Reviews {
        version,
        ratings: upstream(ratings),
        policy: Policy {
            timeout: Duration::from_secs(3),
            retries: 0,
        },
    })
    .await
}

async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: HeaderMap,
    body: &'static str,
) -> Reply {
    client::fetch(
        &upstream(addr),
        method,
        path,
        headers,
        Bytes::from_static(body.as_bytes()),
        Duration::from_secs(10),
    )
    .await
    .unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn get(addr: SocketAddr, path: &str, headers: HeaderMap) -> (StatusCode, String) {
    let reply = request(addr, Method::GET, path, headers, "").await;
    (
        reply.status,
        String::from_utf8_lossy(&reply.body).into_owned(),
    )
}

#[tokio::test]
async fn productpage_shows_stars_per_reviews_version() {
    let ratings = start(Ratings).await;
    let details = start(Details).await;
    for version in [Version::V1, Version::V2, Version::V3] {
        let page = productpage(details, reviews(version, ratings).await, quick()).await;
        let (status, html) = get(page, "/productpage", HeaderMap::new()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Weft Press"), "details missing:\n{html}");
        assert!(
            html.contains("Two sets of twins"),
            "reviews missing:\n{html}"
        );
        assert!(
            !html.contains(DETAILS_ERROR) && !html.contains(REVIEWS_ERROR),
            "{html}"
        );
        assert!(
            html.contains(&format!("served by reviews {}", version.name())),
            "{html}"
        );
        let black = html.matches("class=\"stars black\"").count();
        let red = html.matches("class=\"stars red\"").count();
        match version {
            Version::V1 => assert_eq!((black, red), (0, 0), "v1 shows no stars:\n{html}"),
            Version::V2 => assert_eq!((black, red), (2, 0), "v2 shows black stars:\n{html}"),
            Version::V3 => assert_eq!((black, red), (0, 2), "v3 shows red stars:\n{html}"),
        }
        if version != Version::V1 {
            assert!(html.contains("title=\"5 of 5 stars\">★★★★★<"), "{html}");
            assert!(html.contains("title=\"4 of 5 stars\">★★★★☆<"), "{html}");
        }
    }
}

fn tracing_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in PROPAGATED.iter().filter(|n| **n != "end-user") {
        headers.insert(
            *name,
            HeaderValue::from_str(&format!("value-of-{name}")).expect("value"),
        );
    }
    headers
}

fn assert_propagated(seen: &HeaderMap, end_user: &str, context: &str) {
    for name in PROPAGATED.iter().filter(|n| **n != "end-user") {
        assert_eq!(
            seen.get(*name).and_then(|v| v.to_str().ok()),
            Some(format!("value-of-{name}").as_str()),
            "{context}: {name} not propagated"
        );
    }
    assert_eq!(
        seen.get("end-user").map(|v| v.as_bytes()),
        Some(end_user.as_bytes()),
        "{context}"
    );
}

#[tokio::test]
async fn headers_are_propagated_to_every_call() {
    let recorder = Recorder::default();
    let rec = start(recorder.clone()).await;
    let page = productpage(rec, rec, quick()).await;

    let mut signed_in = tracing_headers();
    signed_in.insert("cookie", HeaderValue::from_static("session=jason"));
    let (status, html) = get(page, "/productpage", signed_in).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<strong class=\"user\">jason</strong>"),
        "{html}"
    );
    let mut anonymous = tracing_headers();
    anonymous.insert("end-user", HeaderValue::from_static("from-upstream"));
    get(page, "/productpage", anonymous).await;

    let mut seen = recorder.seen();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["/details/0", "/details/0", "/reviews/0", "/reviews/0"]
    );
    for (path, headers) in &seen {
        let user = headers
            .get("end-user")
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        assert!(
            user == b"jason" || user == b"from-upstream",
            "{path}: end-user {user:?}"
        );
        assert_propagated(headers, std::str::from_utf8(&user).expect("utf-8"), path);
        assert!(
            headers.get("cookie").is_none(),
            "{path}: the cookie must not leak upstream"
        );
    }
    assert_eq!(
        seen.iter()
            .filter(|(_, h)| h["end-user"] == "jason")
            .count(),
        2
    );

    // reviews passes them on to ratings.
    let ratings = Recorder::default();
    let reviews = reviews(Version::V3, start(ratings.clone()).await).await;
    let mut headers = tracing_headers();
    headers.insert("end-user", HeaderValue::from_static("jason"));
    let (status, _) = get(reviews, "/reviews/0", headers).await;
    assert_eq!(status, StatusCode::OK);
    let seen = ratings.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "/ratings/0");
    assert_propagated(&seen[0].1, "jason", "reviews -> ratings");
}

#[tokio::test]
async fn dead_upstreams_show_error_text() {
    let dead = dead_address().await;
    let page = productpage(dead, dead, quick()).await;
    let (status, html) = get(page, "/productpage", HeaderMap::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(DETAILS_ERROR), "{html}");
    assert!(html.contains(REVIEWS_ERROR), "{html}");
    let (status, body) = get(page, "/api/v1/products/0/reviews", HeaderMap::new()).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");

    // reviews v2 without ratings: reviews still shown, ratings marked unavailable.
    let page = productpage(
        start(Details).await,
        reviews(Version::V2, dead).await,
        quick(),
    )
    .await;
    let (_, html) = get(page, "/productpage", HeaderMap::new()).await;
    assert!(
        !html.contains(REVIEWS_ERROR) && !html.contains(DETAILS_ERROR),
        "{html}"
    );
    assert!(html.contains(RATINGS_UNAVAILABLE), "{html}");
    assert!(!html.contains("class=\"stars"), "{html}");
}

#[tokio::test]
async fn slow_reviews_time_out_after_one_retry() {
    let slow = Recorder {
        delay: Duration::from_secs(5),
        ..Recorder::default()
    };
    let page = productpage(
        start(Details).await,
        start(slow.clone()).await,
        Policy {
            timeout: Duration::from_millis(250),
            retries: 1,
        },
    )
    .await;
    let started = Instant::now();
    let (status, html) = get(page, "/productpage", HeaderMap::new()).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(REVIEWS_ERROR), "{html}");
    assert!(
        html.contains("Weft Press"),
        "details should still show:\n{html}"
    );
    assert_eq!(slow.seen().len(), 2, "one call and one retry");
    assert!(
        took >= Duration::from_millis(500),
        "two timeouts take 2 x 250 ms, took {took:?}"
    );
    assert!(
        took < Duration::from_secs(4),
        "should not wait for the slow answer: {took:?}"
    );
}

#[tokio::test]
async fn login_and_logout() {
    let page = productpage(start(Details).await, dead_address().await, quick()).await;
    let mut form = HeaderMap::new();
    form.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let reply = request(
        page,
        Method::POST,
        "/login",
        form.clone(),
        "user=jason&passwd=secret",
    )
    .await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert_eq!(reply.headers["location"], "/productpage");
    let cookie = reply.headers["set-cookie"].to_str().expect("ascii");
    assert!(cookie.starts_with("session=jason;"), "{cookie}");

    let reply = request(page, Method::POST, "/login", form, "user=%3Cscript%3E").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    let reply = request(page, Method::POST, "/logout", HeaderMap::new(), "").await;
    assert_eq!(reply.status, StatusCode::FOUND);
    let cookie = reply.headers["set-cookie"].to_str().expect("ascii");
    assert!(
        cookie.starts_with("session=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    let (_, html) = get(page, "/productpage", HeaderMap::new()).await;
    assert!(
        html.contains("action=\"/login\""),
        "signed out page offers sign-in:\n{html}"
    );
}

#[tokio::test]
async fn api_and_health() {
    let ratings = start(Ratings).await;
    let details = start(Details).await;
    let reviews = reviews(Version::V2, ratings).await;
    let page = productpage(details, reviews, quick()).await;

    let (status, body) = get(page, "/api/v1/products", HeaderMap::new()).await;
    assert_eq!(status, StatusCode::OK);
    let products: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(products[0]["id"], 0);
    assert_eq!(products[0]["title"], "The Comedy of Errors");
    let (_, body) = get(page, "/api/v1/products/0", HeaderMap::new()).await;
    let book: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(book["publisher"], "Weft Press");
    let (_, body) = get(page, "/api/v1/products/0/reviews", HeaderMap::new()).await;
    let list: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(list["reviews"][0]["rating"]["stars"], 5);
    assert_eq!(
        list["reviews"][1]["rating"],
        serde_json::json!({"stars": 4, "color": "black"})
    );
    let (_, body) = get(ratings, "/ratings/0", HeaderMap::new()).await;
    assert_eq!(body, r#"{"id":0,"ratings":{"Reviewer1":5,"Reviewer2":4}}"#);

    for service in [page, details, reviews, ratings] {
        let (status, _) = get(service, "/health", HeaderMap::new()).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = get(service, "/nothing-here", HeaderMap::new()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = get(details, "/details/abc", HeaderMap::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
