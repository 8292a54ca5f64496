//! SDS over ADS: a listener from LDS terminates TLS with a certificate from a `Secret` it
//! names with `sds_config: {ads: {}}`; the proxy subscribes to that name, a bad `Secret` is
//! NACKed by name while the previous one keeps serving, and a new one rotates the certificate.
#![allow(clippy::unwrap_used)]

mod ads_server;
mod common;
mod tls_pki;

use std::time::Duration;

use ads_server::AdsServer;
use ads_server::fixtures::{bootstrap, eds_cluster, listener, route, wait_until};
use prost::Message;
use tls_pki::{Ca, Leaf, client_config};
use weft_xds::pack;
use weft_xds::pb::envoy::config::core::v3 as core;
use weft_xds::pb::envoy::config::listener::v3 as li;
use weft_xds::pb::envoy::extensions::filters::http::router::v3::Router;
use weft_xds::pb::envoy::extensions::transport_sockets::tls::v3 as tls;
use weft_xds::pb::google::protobuf::Any;
use weft_xds::type_url;

const SECRET_NAME: &str = "kubernetes://web-cert";

fn inline(text: &str) -> Option<core::DataSource> {
    Some(core::DataSource {
        specifier: Some(core::data_source::Specifier::InlineString(text.into())),
        ..Default::default()
    })
}

fn secret(chain_pem: &str, key_pem: &str) -> (String, String, Any) {
    let s = tls::Secret {
        name: SECRET_NAME.into(),
        r#type: Some(tls::secret::Type::TlsCertificate(tls::TlsCertificate {
            certificate_chain: inline(chain_pem),
            private_key: inline(key_pem),
            ..Default::default()
        })),
    };
    (type_url::SECRET.into(), SECRET_NAME.into(), pack(&s))
}

/// The fixture listener with a DownstreamTlsContext whose certificate comes over ADS.
fn tls_listener(port: u16) -> (String, String, Any) {
    let (t, name, any) = listener("l1", port, pack(&Router::default()));
    let mut l = li::Listener::decode(any.value.as_slice()).unwrap();
    let ctx = tls::DownstreamTlsContext {
        common_tls_context: Some(tls::CommonTlsContext {
            tls_certificate_sds_secret_configs: vec![tls::SdsSecretConfig {
                name: SECRET_NAME.into(),
                sds_config: Some(core::ConfigSource {
                    config_source_specifier: Some(core::config_source::ConfigSourceSpecifier::Ads(
                        Default::default(),
                    )),
                    ..Default::default()
                }),
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    l.filter_chains[0].transport_socket = Some(core::TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(core::transport_socket::ConfigType::TypedConfig(pack(&ctx))),
    });
    (t, name, pack(&l))
}

/// The serial the listener presents, or why there is none.
async fn served_serial(port: u16, ca: &Ca) -> Result<u8, String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let connect = tokio_rustls::TlsConnector::from(client_config(ca, None, &[]))
        .connect("localhost".try_into().unwrap(), tcp);
    let tls = tokio::time::timeout(Duration::from_secs(2), connect)
        .await
        .map_err(|_| "timeout".to_string())?
        .map_err(|e| e.to_string())?;
    let der = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    Ok(*cert.tbs_certificate.raw_serial().last().unwrap())
}

fn resources(port: u16, leaf: &Leaf, one: std::net::SocketAddr) -> Vec<(String, String, Any)> {
    let mut v = vec![
        tls_listener(port),
        route("c1"),
        secret(&leaf.chain_pem, &leaf.key_pem),
    ];
    v.extend(eds_cluster("c1", one));
    v
}

/// The NACK message of the last Secret request that carried one.
fn secret_nack(server: &AdsServer) -> Option<String> {
    let sotw = server
        .shared
        .requests()
        .into_iter()
        .filter_map(|r| (r.type_url == type_url::SECRET).then_some(r.error_detail?.message));
    let delta = server
        .shared
        .delta_requests()
        .into_iter()
        .filter_map(|r| (r.type_url == type_url::SECRET).then_some(r.error_detail?.message));
    sotw.chain(delta).last()
}

fn subscribed_secret_names(server: &AdsServer) -> Vec<String> {
    let sotw = server
        .shared
        .requests()
        .into_iter()
        .filter(|r| r.type_url == type_url::SECRET)
        .flat_map(|r| r.resource_names);
    let delta = server
        .shared
        .delta_requests()
        .into_iter()
        .filter(|r| r.type_url == type_url::SECRET)
        .flat_map(|r| r.resource_names_subscribe);
    sotw.chain(delta).collect()
}

async fn sds_over_ads(api_type: &str) {
    let ca = Ca::new("ads CA");
    let one = common::backend("one").await;
    let port = common::free_port();
    let server = AdsServer::start(([127, 0, 0, 1], 0).into(), None).await;
    server
        .shared
        .set("1", resources(port, &ca.leaf("web", 1), one));
    let proxy = common::proxy(&bootstrap(server.addr, api_type)).await;
    wait_until("the certificate from ADS", || async {
        served_serial(port, &ca).await == Ok(1)
    })
    .await;
    assert!(subscribed_secret_names(&server).contains(&SECRET_NAME.to_string()));
    // A bad Secret: NACKed with its name, the previous certificate keeps serving.
    let mut bad = resources(port, &ca.leaf("web", 9), one);
    bad[2] = secret(
        "not a certificate",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    server.shared.set("2", bad);
    wait_until("the NACK of the bad secret", || async {
        secret_nack(&server).is_some()
    })
    .await;
    let nack = secret_nack(&server).unwrap();
    assert!(
        nack.starts_with(&format!(
            "Secret {SECRET_NAME}: tls_certificate.certificate_chain: "
        )),
        "{nack}"
    );
    assert!(
        !nack.contains("AAAA"),
        "a NACK never quotes key material: {nack}"
    );
    assert_eq!(served_serial(port, &ca).await, Ok(1));
    // A good new version rotates.
    server
        .shared
        .set("3", resources(port, &ca.leaf("web", 2), one));
    wait_until("the rotated certificate", || async {
        served_serial(port, &ca).await == Ok(2)
    })
    .await;
    let dump = common::admin(&proxy, "/config_dump").await.body;
    assert!(
        dump.contains(SECRET_NAME) && !dump.contains("PRIVATE KEY"),
        "{dump}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sds_over_sotw_ads_serves_nacks_and_rotates() {
    sds_over_ads("GRPC").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sds_over_delta_ads_serves_nacks_and_rotates() {
    sds_over_ads("DELTA_GRPC").await;
}
