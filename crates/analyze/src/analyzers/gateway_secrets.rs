//! IST0101 ReferencedResourceNotFound for Gateway `credentialName`s: the Secret must exist in
//! the namespace of the gateway workload (not of the Gateway object). Checked when the input
//! has Secrets in that namespace, since TLS secrets are usually kept out of the repository.

use weft_config::Object;
use weft_config::model::networking::Gateway;

use super::Analyzer;
use super::gateway_ports::selector_not_found;
use crate::catalogue;
use crate::context::Context;
use crate::labels;
use crate::message::{Anchor, Message};

#[derive(Debug)]
pub struct GatewaySecrets;

impl Analyzer for GatewaySecrets {
    fn name(&self) -> &'static str {
        "gateway.SecretAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks a gateway's referenced secrets for correctness"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        ctx.gateway_specs()
            .flat_map(|(obj, gw)| check(ctx, obj, gw))
            .collect()
    }
}

fn check(ctx: &Context, obj: &Object, gw: &Gateway) -> Vec<Message> {
    let workload = ctx
        .workloads
        .iter()
        .filter(|w| labels::matches(&gw.selector, w.labels))
        .min_by_key(|w| !w.is_pod);
    let Some(workload) = workload else {
        return vec![selector_not_found(obj, gw)];
    };
    let namespace = workload.namespace;
    if !ctx.has_secrets_in(namespace) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, server) in gw.servers.iter().enumerate() {
        let Some(name) = server
            .tls
            .as_ref()
            .and_then(|t| t.credential_name.as_deref())
        else {
            continue;
        };
        if name.is_empty() || name.contains("://") {
            continue;
        }
        let (ns, secret) = name.split_once('/').unwrap_or((namespace, name));
        if !ctx.secret_exists(ns, secret) {
            let at = Anchor::at(obj, format!("spec.servers[{i}].tls.credentialName"));
            out.push(catalogue::referenced_resource_not_found(
                at,
                "credentialName",
                name,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    const INGRESS: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ingress-1\n  namespace: \
        istio-system\n  labels:\n    istio: ingressgateway\nspec:\n  containers:\n  - name: \
        istio-proxy\n    image: proxyv2\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: \
        shop-cert\n  namespace: istio-system\ntype: kubernetes.io/tls\n---\n";

    fn gateway(credential: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: web\n  \
             namespace: shop\nspec:\n  selector:\n    istio: ingressgateway\n  servers:\n  - \
             port:\n      number: 443\n      name: https\n      protocol: HTTPS\n    tls:\n      \
             mode: SIMPLE\n      credentialName: {credential}\n    hosts:\n    - shop.com\n"
        )
    }

    #[test]
    fn missing_secret_in_the_workload_namespace() {
        let yaml = format!("{INGRESS}{}", gateway("other-cert"));
        assert_eq!(
            lines(&GatewaySecrets, &yaml),
            [
                "Error [IST0101] (Gateway shop/web test.yaml:35) Referenced credentialName not \
              found: \"other-cert\""
            ]
        );
    }

    #[test]
    fn secret_in_the_workload_namespace_is_found() {
        let yaml = format!("{INGRESS}{}", gateway("shop-cert"));
        assert!(lines(&GatewaySecrets, &yaml).is_empty());
    }

    #[test]
    fn without_secrets_in_the_input_nothing_is_checked() {
        let pod_only = INGRESS.split("---\n").next().unwrap_or_default();
        let yaml = format!("{pod_only}---\n{}", gateway("other-cert"));
        assert!(lines(&GatewaySecrets, &yaml).is_empty());
    }
}
