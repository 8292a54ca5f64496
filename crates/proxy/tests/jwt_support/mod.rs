//! Test tokens: ES256 keys made with ring, their JWKS, signed tokens and claims.
#![allow(dead_code, clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub struct Key(EcdsaKeyPair, &'static str);

impl Key {
    pub fn new(kid: &'static str) -> Self {
        let alg = &sig::ECDSA_P256_SHA256_FIXED_SIGNING;
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        Self(
            EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap(),
            kid,
        )
    }

    pub fn jwks(&self) -> String {
        let p = self.0.public_key().as_ref();
        json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": self.1, "alg": "ES256",
            "x": B64.encode(&p[1..33]), "y": B64.encode(&p[33..])}]})
        .to_string()
    }

    pub fn token(&self, claims: Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.1, "typ": "JWT"});
        let msg = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let s = self.0.sign(&SystemRandom::new(), msg.as_bytes()).unwrap();
        format!("{msg}.{}", B64.encode(s.as_ref()))
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn claims(iss: &str) -> Value {
    json!({"iss": iss, "sub": "alice", "aud": "svc", "exp": now() + 600, "team": "blue"})
}

/// Serves `keys` at any path and counts the fetches.
pub async fn jwks_server(keys: Arc<Mutex<String>>, hits: Arc<AtomicUsize>) -> SocketAddr {
    let sock = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = sock.accept().await {
            let (keys, hits) = (keys.clone(), hits.clone());
            let svc = service_fn(move |_req: Request<hyper::body::Incoming>| {
                hits.fetch_add(1, Ordering::Relaxed);
                let body = keys.lock().unwrap().clone();
                async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
            });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}
