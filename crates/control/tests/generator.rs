//! Sharing of generated resources between proxies, and push reasons.

use std::sync::Arc;

use weft_config::model::mesh::MeshConfig;
use weft_config::{LoadOptions, load_str};
use weft_control::Generator;
use weft_control::PushReason;
use weft_control::pipeline::{Generation, push_reason};
use weft_registry::RegistryOptions;
use weft_store::ConfigSnapshot;
use weft_translate::{NodeMetadata, Proxy};
use weft_xds::type_url::{CLUSTER, CLUSTER_LOAD_ASSIGNMENT};

fn pod(name: &str, ip: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default, labels: {{app: reviews}}}}\nspec: {{containers: [{{name: app}}]}}\nstatus: {{phase: Running, podIP: {ip}}}\n"
    )
}

fn generation(extra: &str) -> Generation {
    let text = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: reviews, namespace: default}}\nspec:\n  selector: {{app: reviews}}\n  ports: [{{name: http, port: 9080}}]\n{}{}{extra}",
        pod("r1", "10.0.0.1"),
        pod("r2", "10.0.0.2"),
    );
    let loaded = load_str("mesh.yaml", &text, &LoadOptions::default());
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let snapshot = Arc::new(ConfigSnapshot::from_objects(loaded.objects));
    Generation::build(
        snapshot,
        &MeshConfig::default(),
        &RegistryOptions::default(),
    )
}

fn proxy(ip: &str, ns: &str) -> Proxy {
    let meta = NodeMetadata {
        labels: [("app".to_string(), "reviews".to_string())]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    Proxy::parse(
        &format!("sidecar~{ip}~r.{ns}~{ns}.svc.cluster.local"),
        &meta,
    )
    .expect("proxy")
}

#[test]
fn identical_views_share_one_generation() {
    let g = generation("");
    let a = g.generator.generate(&proxy("10.0.0.1", "default"));
    let b = g.generator.generate(&proxy("10.0.0.2", "default"));
    assert!(
        Arc::ptr_eq(&a, &b),
        "two replicas of one workload share their resources"
    );
    assert_eq!(g.generator.views(), 1);

    // Another namespace is another view, but identical clusters are stored once.
    let c = g.generator.generate(&proxy("10.9.0.1", "other"));
    assert!(!Arc::ptr_eq(&a, &c));
    let name = "outbound|9080||reviews.default.svc.cluster.local";
    let ca = &a.get(CLUSTER).expect("cds").items[name];
    let cc = &c.get(CLUSTER).expect("cds").items[name];
    assert!(Arc::ptr_eq(ca, cc));

    // Many proxies, still one view each.
    for i in 0..200 {
        g.generator
            .generate(&proxy(&format!("10.0.1.{}", i % 250), "default"));
    }
    assert_eq!(
        g.generator.views(),
        3,
        "the non-workload IPs form one more view"
    );
}

#[test]
fn endpoint_changes_are_eds_only() {
    let before = generation("");
    let after = generation(&pod("r3", "10.0.0.3"));
    assert_eq!(push_reason(&before, &after), Some(PushReason::Endpoints));
    let p = proxy("10.9.0.9", "default");
    let (x, y) = (before.generator.generate(&p), after.generator.generate(&p));
    assert_eq!(x.get(CLUSTER), y.get(CLUSTER));
    assert_ne!(
        x.get(CLUSTER_LOAD_ASSIGNMENT),
        y.get(CLUSTER_LOAD_ASSIGNMENT)
    );

    let same = generation("");
    assert_eq!(push_reason(&before, &same), None);
    let vs = "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, namespace: default}\nspec: {hosts: [reviews], http: [{route: [{destination: {host: reviews}}]}]}\n";
    assert_eq!(
        push_reason(&before, &generation(vs)),
        Some(PushReason::Config)
    );
}

#[test]
fn route_versions_do_not_depend_on_map_order() {
    let vs = "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, namespace: default}\nspec:\n  hosts: [reviews]\n  http:\n  - fault: {abort: {httpStatus: 503, percentage: {value: 1}}}\n    corsPolicy: {allowOrigins: [{exact: 'https://a'}]}\n    route: [{destination: {host: reviews}}]\n";
    let p = proxy("10.9.0.9", "default");
    let versions: Vec<String> = (0..8)
        .map(|_| {
            let g = generation(vs);
            let r = g.generator.generate(&p);
            r.get(weft_xds::type_url::ROUTE_CONFIGURATION)
                .expect("rds")
                .version
                .clone()
        })
        .collect();
    assert!(versions.windows(2).all(|w| w[0] == w[1]), "{versions:?}");
}

#[test]
fn labels_are_part_of_the_view_and_a_config_change_regenerates() {
    let g = generation("");
    let with_labels = |app: &str| {
        let meta = NodeMetadata {
            labels: [("app".to_string(), app.to_string())].into_iter().collect(),
            ..Default::default()
        };
        Proxy::parse(
            "sidecar~10.9.0.9~x.default~default.svc.cluster.local",
            &meta,
        )
        .expect("proxy")
    };
    let reviews = g.generator.generate(&with_labels("reviews"));
    let ratings = g.generator.generate(&with_labels("ratings"));
    assert!(!Arc::ptr_eq(&reviews, &ratings), "other labels, other view");
    assert_eq!(g.generator.views(), 2);
    assert!(Arc::ptr_eq(
        &reviews,
        &g.generator.generate(&with_labels("reviews"))
    ));

    let vs = "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, namespace: default}\nspec: {hosts: [reviews], http: [{timeout: 3s, route: [{destination: {host: reviews}}]}]}\n";
    let next = generation(vs);
    let regenerated = next.generator.generate(&with_labels("reviews"));
    assert!(!Arc::ptr_eq(&reviews, &regenerated));
    let rds = weft_xds::type_url::ROUTE_CONFIGURATION;
    assert_ne!(
        reviews.get(rds).map(|r| &r.version),
        regenerated.get(rds).map(|r| &r.version),
        "the route change is in the new generation"
    );
    assert_eq!(reviews.get(CLUSTER), regenerated.get(CLUSTER));
}
