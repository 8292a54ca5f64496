//! Rules for Sidecar.

use weft_config::model::networking::Sidecar;
use weft_config::{Object, Problem};

use crate::Checker;

pub fn check(_spec: &Sidecar, _c: &mut Checker) {}

/// Istio allows one Sidecar without a workload selector per namespace.
pub fn check_namespace_defaults(_objects: &[Object]) -> Vec<Problem> {
    Vec::new()
}
