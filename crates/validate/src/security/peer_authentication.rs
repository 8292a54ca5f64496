//! Rules for PeerAuthentication.

use weft_config::model::security::{MtlsMode, PeerAuthentication};

use super::shared::{Attachment, check_attachment};
use crate::Checker;
use crate::common::check_port;

pub fn check(spec: &PeerAuthentication, c: &mut Checker) {
    let attachment = Attachment {
        selector: spec.selector.as_ref(),
        target_ref: None,
        target_refs: &[],
    };
    check_attachment(attachment, c);
    let Some(ports) = &spec.port_level_mtls else {
        return;
    };
    if !attachment.has_selector_labels() {
        c.error(
            "spec.portLevelMtls",
            "portLevelMtls requires a selector with labels: mesh- and namespace-wide \
             PeerAuthentications cannot set per-port mTLS",
        );
    }
    if ports.is_empty() {
        c.error(
            "spec.portLevelMtls",
            "portLevelMtls must list at least one port when set",
        );
    }
    for (port, mtls) in ports {
        let path = format!("spec.portLevelMtls.{port}");
        if let Err(e) = check_port(*port) {
            c.error(&path, e);
        }
        if mtls.mode.unwrap_or_default() == MtlsMode::Unset {
            c.warn(
                format!("{path}.mode"),
                format!("port {port} has mode UNSET, so it inherits the workload's mode and the entry has no effect"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_clean, only_error, warnings};

    const HEAD: &str = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
                        metadata: {name: p, namespace: foo}\nspec:\n";

    fn pa(spec: &str) -> String {
        format!("{HEAD}{spec}")
    }

    #[test]
    fn port_level_mtls_with_selector_is_valid() {
        assert_clean(&pa(
            "  selector:\n    matchLabels: {app: finance}\n  mtls: {mode: STRICT}\n  \
                          portLevelMtls:\n    8080: {mode: DISABLE}\n",
        ));
    }

    #[test]
    fn port_level_mtls_needs_a_selector() {
        let (field, msg) = only_error(&pa(
            "  mtls: {mode: STRICT}\n  portLevelMtls:\n    8080: {mode: DISABLE}\n",
        ));
        assert_eq!(field, "spec.portLevelMtls");
        assert_eq!(
            msg,
            "portLevelMtls requires a selector with labels: mesh- and namespace-wide \
             PeerAuthentications cannot set per-port mTLS"
        );
    }

    #[test]
    fn port_level_mtls_must_not_be_empty() {
        let (field, msg) = only_error(&pa(
            "  selector:\n    matchLabels: {app: a}\n  portLevelMtls: {}\n",
        ));
        assert_eq!(field, "spec.portLevelMtls");
        assert_eq!(msg, "portLevelMtls must list at least one port when set");
    }

    #[test]
    fn port_keys_must_be_in_range() {
        let (field, msg) = only_error(&pa(
            "  selector:\n    matchLabels: {app: a}\n  portLevelMtls:\n    70000: {mode: STRICT}\n",
        ));
        assert_eq!(field, "spec.portLevelMtls.70000");
        assert_eq!(msg, "port 70000 is out of range 1-65535");
        let (field, _) = only_error(&pa(
            "  selector:\n    matchLabels: {app: a}\n  portLevelMtls:\n    0: {mode: STRICT}\n",
        ));
        assert_eq!(field, "spec.portLevelMtls.0");
    }

    #[test]
    fn unset_port_mode_is_a_warning() {
        let w = warnings(&pa(
            "  selector:\n    matchLabels: {app: a}\n  portLevelMtls:\n    9000: {}\n",
        ));
        assert_eq!(
            w,
            [(
                "spec.portLevelMtls.9000.mode".to_string(),
                "port 9000 has mode UNSET, so it inherits the workload's mode and the entry has no effect".to_string()
            )]
        );
        assert_clean(&pa(
            "  selector:\n    matchLabels: {app: a}\n  portLevelMtls:\n    9000: {mode: PERMISSIVE}\n",
        ));
    }

    #[test]
    fn unknown_mode_is_refused_when_loading() {
        let loaded = weft_config::load_str(
            "test.yaml",
            &pa("  mtls: {mode: strict}\n"),
            &Default::default(),
        );
        assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
        assert_eq!(loaded.problems[0].field, "spec.mtls.mode");
        assert_eq!(
            loaded.problems[0].message,
            "unknown value \"strict\" (did you mean \"STRICT\"?)"
        );
    }

    #[test]
    fn selector_labels_are_checked() {
        let (field, msg) = only_error(&pa(
            "  selector:\n    matchLabels: {app: \"*\"}\n  mtls: {mode: STRICT}\n",
        ));
        assert_eq!(field, "spec.selector.matchLabels");
        assert_eq!(
            msg,
            "wildcards are not supported in selectors (found app=*)"
        );
        let w = warnings(&pa("  selector: {}\n  mtls: {mode: STRICT}\n"));
        assert_eq!(
            w,
            [(
                "spec.selector.matchLabels".to_string(),
                "selector has no labels, so it selects every workload in the namespace".to_string()
            )]
        );
    }
}
