//! The stand-in ingress gateway istioctl adds when it analyzes files without a cluster: a Pod
//! labelled `istio: ingressgateway` and its Service in `istio-system`. Without them every
//! Gateway selecting the default ingress would be reported as selecting nothing. The Service
//! has the ports of istioctl's stand-in and the target ports of Istio's gateway chart
//! (80 to 8080, 443 to 8443), so Gateways written for either resolve.

use weft_config::{LoadOptions, Object, load_str};

/// The file name the stand-ins are loaded as; messages about them are never shown.
pub const FILE: &str = "<default istio-ingressgateway>";

const INGRESS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: istio-ingressgateway-dummypod
  namespace: istio-system
  labels:
    istio: ingressgateway
spec:
  containers:
  - name: istio-proxy
    image: proxyv2
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
spec:
  selector:
    istio: ingressgateway
  ports:
  - name: status-port
    port: 15021
    targetPort: 15021
    protocol: TCP
  - name: http2
    port: 80
    targetPort: 8080
    protocol: TCP
  - name: https
    port: 443
    targetPort: 8443
    protocol: TCP
  - name: tcp
    port: 31400
    targetPort: 31400
    protocol: TCP
  - name: tls
    port: 15443
    targetPort: 15443
    protocol: TCP
"#;

/// The stand-ins that `objects` does not already define (the input's own wins).
pub fn ingress_objects(objects: &[Object]) -> Vec<Object> {
    let loaded = load_str(FILE, INGRESS, &LoadOptions::default());
    loaded
        .objects
        .into_iter()
        .filter(|d| {
            !objects
                .iter()
                .any(|o| o.kind == d.kind && o.namespace() == d.namespace() && o.name() == d.name())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_ins_load_cleanly() {
        let loaded = load_str(FILE, INGRESS, &LoadOptions::default());
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        assert_eq!(loaded.objects.len(), 2);
        assert!(weft_validate::validate_all(&loaded.objects).is_empty());
    }

    #[test]
    fn the_input_overrides_a_stand_in() {
        let mine = load_str(
            "mine.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: istio-ingressgateway\n  \
             namespace: istio-system\n",
            &LoadOptions::default(),
        );
        let got = ingress_objects(&mine.objects);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].kind, "Pod");
    }
}
