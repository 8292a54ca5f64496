//! IST0144 InvalidApplicationUID: application containers running as UID 1337, the UID the
//! sidecar's traffic capture exempts.

use weft_config::Object;
use weft_config::model::kube::PodSpec;

use super::Analyzer;
use super::port_names::is_control_plane;
use crate::catalogue;
use crate::context::Context;
use crate::message::{Anchor, Message};

const PROXY_UID: i64 = 1337;
/// Containers that may run as the proxy UID.
const EXEMPT: &[&str] = &["istio-proxy", "istio-operator"];

#[derive(Debug)]
pub struct ApplicationUid;

impl Analyzer for ApplicationUid {
    fn name(&self) -> &'static str {
        "applicationUID.Analyzer"
    }

    fn description(&self) -> &'static str {
        "Checks invalid application UID"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        let pods = ctx.pods().map(|(o, p)| (o, &p.spec, "spec"));
        let templates = ctx
            .deployments()
            .map(|(o, d)| (o, &d.spec.template.spec, "spec.template.spec"));
        pods.chain(templates)
            .filter(|(o, _, _)| !is_control_plane(o))
            .flat_map(|(o, spec, path)| check(o, spec, path))
            .collect()
    }
}

fn check(obj: &Object, spec: &PodSpec, path: &str) -> Vec<Message> {
    let mut out = Vec::new();
    if spec.security_context.as_ref().and_then(|s| s.run_as_user) == Some(PROXY_UID) {
        let at = Anchor::at(obj, format!("{path}.securityContext.runAsUser"));
        out.push(catalogue::invalid_application_uid(at));
    }
    for (i, c) in spec.containers.iter().enumerate() {
        let uid = c.security_context.as_ref().and_then(|s| s.run_as_user);
        if uid == Some(PROXY_UID) && !EXEMPT.contains(&c.name.as_str()) {
            let field = format!("{path}.containers[{i}].securityContext.runAsUser");
            out.push(catalogue::invalid_application_uid(Anchor::at(obj, field)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::testing::lines;

    #[test]
    fn pod_and_container_uid_1337() {
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  securityContext:\n    \
                    runAsUser: 1337\n  containers:\n  - name: app\n    image: app\n    \
                    securityContext:\n      runAsUser: 1337\n  - name: istio-proxy\n    image: \
                    proxy\n    securityContext:\n      runAsUser: 1337\n";
        assert_eq!(
            lines(&ApplicationUid, yaml),
            [
                "Warning [IST0144] (Pod default/p test.yaml:7) User ID (UID) 1337 is reserved for \
                 the sidecar proxy.",
                "Warning [IST0144] (Pod default/p test.yaml:12) User ID (UID) 1337 is reserved \
                 for the sidecar proxy."
            ]
        );
    }

    #[test]
    fn deployment_template_and_other_uids() {
        let deployment = |uid: u32| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  \
                 selector:\n    matchLabels:\n      app: d\n  template:\n    metadata:\n      \
                 labels:\n        app: d\n    spec:\n      containers:\n      - name: app\n        \
                 image: app\n        securityContext:\n          runAsUser: {uid}\n"
            )
        };
        assert_eq!(
            lines(&ApplicationUid, &deployment(1337)),
            [
                "Warning [IST0144] (Deployment default/d test.yaml:18) User ID (UID) 1337 is \
              reserved for the sidecar proxy."
            ]
        );
        assert!(lines(&ApplicationUid, &deployment(1000)).is_empty());
    }
}
